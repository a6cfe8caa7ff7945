import type { Evaluation } from './evaluationFile';
import type { GateRule } from './gateRules';

export interface GateCheck {
  readonly rule: string;
  readonly passed: boolean;
  /** What was compared, for people: "accuracy 0.84 >= 0.8". */
  readonly detail: string;
}

export interface GateResult {
  readonly passed: boolean;
  readonly checks: readonly GateCheck[];
  /** The champion version compared against, if a rule needed one and there was one. */
  readonly championVersion: number | null;
  readonly evaluatedAt: number;
  /** Where slice metrics came from, when an evaluation file was read. */
  readonly evaluationFile?: string;
}

export interface GateEvidence {
  /** The candidate's metrics: the run's latest values, overridden by the evaluation file's. */
  readonly metrics: Readonly<Record<string, number>>;
  /** column -> value -> metrics. */
  readonly slices: Evaluation['slices'];
  readonly champion?: { readonly version: number; readonly metrics: Readonly<Record<string, number>> };
  readonly evaluationFile?: string;
}

/** Slices the run logged as metrics named `<metric>/<column>/<value>` (e.g. accuracy/season/winter). */
export function slicesFromMetrics(metrics: Readonly<Record<string, number>>, metric: string, column: string): Record<string, number> {
  const prefix = `${metric}/${column}/`;
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(metrics)) if (key.startsWith(prefix) && key.length > prefix.length) out[key.slice(prefix.length)] = value;
  return out;
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString());

function compare(actual: number, op: GateRule & { kind: 'threshold' }): boolean {
  switch (op.op) {
    case '>=':
      return actual >= op.value;
    case '>':
      return actual > op.value;
    case '<=':
      return actual <= op.value;
    case '<':
      return actual < op.value;
    case '==':
      return actual === op.value;
  }
}

/** Each group's value of one metric: the evaluation file's slices over the run's `<metric>/<column>/<value>` metrics. */
function perGroup(evidence: GateEvidence, metric: string, column: string): [string, number][] {
  const values = { ...slicesFromMetrics(evidence.metrics, metric, column) };
  for (const [value, metrics] of Object.entries(evidence.slices[column] ?? {})) {
    const v = metrics[metric];
    if (v !== undefined) values[value] = v;
  }
  return Object.entries(values)
    .filter(([, v]) => !Number.isNaN(v))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A group rule: a rate every group must meet (each group named when it fails), or a disparity between the groups
 * as fairlearn defines it — demographic parity difference max − min selection rate, ratio min / max, equalized
 * odds difference the larger of the TPR and FPR differences.
 */
function groupCheck(rule: GateRule & { kind: 'group' }, evidence: GateEvidence): GateCheck {
  const within = (v: number): boolean => (rule.op === '>=' ? v >= rule.value - 1e-12 : v <= rule.value + 1e-12);
  const needs = (metric: string, found: number): GateCheck => ({
    rule: rule.text,
    passed: false,
    detail: `needs ${metric} for at least two groups of ${rule.column} (found ${found}): log ${metric}/${rule.column}/<group> or give them in the evaluation file`,
  });
  if (rule.metric === 'demographic_parity_difference' || rule.metric === 'demographic_parity_ratio' || rule.metric === 'equalized_odds_difference') {
    const spread = (metric: string): { min: number; max: number; n: number } | undefined => {
      const xs = perGroup(evidence, metric, rule.column).map(([, v]) => v);
      return xs.length < 2 ? undefined : { min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
    };
    let value: number;
    let groups: number;
    if (rule.metric === 'equalized_odds_difference') {
      const tpr = spread('true_positive_rate');
      const fpr = spread('false_positive_rate');
      if (!tpr || !fpr) return needs('true_positive_rate and false_positive_rate', Math.min(tpr?.n ?? 0, fpr?.n ?? 0));
      value = Math.max(tpr.max - tpr.min, fpr.max - fpr.min);
      groups = tpr.n;
    } else {
      const selection = spread('selection_rate');
      if (!selection) return needs('selection_rate', perGroup(evidence, 'selection_rate', rule.column).length);
      if (rule.metric === 'demographic_parity_ratio' && selection.max === 0)
        return { rule: rule.text, passed: false, detail: `every group of ${rule.column} has selection rate 0: the ratio is undefined` };
      value = rule.metric === 'demographic_parity_difference' ? selection.max - selection.min : selection.min / selection.max;
      groups = selection.n;
    }
    return {
      rule: rule.text,
      passed: within(value),
      detail: `${rule.metric} across ${rule.column} ${fmt(value)} ${rule.op} ${fmt(rule.value)} (${groups} groups)`,
    };
  }
  const entries = perGroup(evidence, rule.metric, rule.column);
  if (entries.length < 2) return needs(rule.metric, entries.length);
  const failing = entries.filter(([, v]) => !within(v));
  return {
    rule: rule.text,
    passed: failing.length === 0,
    detail: failing.length
      ? `${rule.metric} of ${failing.map(([g, v]) => `${rule.column} = ${g} ${fmt(v)}`).join(', ')} not ${rule.op} ${fmt(rule.value)}`
      : `${rule.metric} of every group of ${rule.column} ${rule.op} ${fmt(rule.value)} (${entries.map(([g, v]) => `${g} ${fmt(v)}`).join(', ')})`,
  };
}

/** Checks every rule; a metric the run did not report fails its rule (a gate never passes by omission). */
export function evaluateGate(rules: readonly GateRule[], evidence: GateEvidence, now: number = Date.now()): GateResult {
  let championUsed = false;
  const checks = rules.map((rule): GateCheck => {
    const actual = evidence.metrics[rule.metric];
    if (rule.kind === 'threshold') {
      if (actual === undefined || Number.isNaN(actual)) return { rule: rule.text, passed: false, detail: `${rule.metric} was not reported by the run` };
      return { rule: rule.text, passed: compare(actual, rule), detail: `${rule.metric} ${fmt(actual)} ${rule.op} ${fmt(rule.value)}` };
    }
    if (rule.kind === 'champion') {
      if (actual === undefined || Number.isNaN(actual)) return { rule: rule.text, passed: false, detail: `${rule.metric} was not reported by the run` };
      if (!evidence.champion) return { rule: rule.text, passed: true, detail: 'no champion yet: nothing to compare with' };
      championUsed = true;
      const reference = evidence.champion.metrics[rule.metric];
      if (reference === undefined || Number.isNaN(reference)) {
        return { rule: rule.text, passed: true, detail: `champion v${evidence.champion.version} has no ${rule.metric}: nothing to compare with` };
      }
      const bound = rule.goal === 'maximize' ? reference - rule.tolerance : reference + rule.tolerance;
      const passed = rule.goal === 'maximize' ? actual >= bound - 1e-12 : actual <= bound + 1e-12;
      return {
        rule: rule.text,
        passed,
        detail: `${rule.metric} ${fmt(actual)} vs champion v${evidence.champion.version} ${fmt(reference)} (${rule.goal === 'maximize' ? 'at least' : 'at most'} ${fmt(bound)})`,
      };
    }
    if (rule.kind === 'group') return groupCheck(rule, evidence);
    const perValue = { ...slicesFromMetrics(evidence.metrics, rule.metric, rule.column) };
    for (const [value, metrics] of Object.entries(evidence.slices[rule.column] ?? {})) {
      const v = metrics[rule.metric];
      if (v !== undefined) perValue[value] = v;
    }
    const entries = Object.entries(perValue).filter(([, v]) => !Number.isNaN(v));
    if (entries.length < 2) {
      return { rule: rule.text, passed: false, detail: `needs ${rule.metric} for at least two values of ${rule.column} (found ${entries.length})` };
    }
    entries.sort((a, b) => a[1] - b[1]);
    const [lowName, low] = entries[0]!;
    const [highName, high] = entries[entries.length - 1]!;
    const gap = high - low;
    return {
      rule: rule.text,
      passed: gap <= rule.maxGap + 1e-12,
      detail: `${rule.metric} by ${rule.column}: ${highName} ${fmt(high)} − ${lowName} ${fmt(low)} = gap ${fmt(gap)} (max ${fmt(rule.maxGap)}, ${entries.length} groups)`,
    };
  });
  return {
    passed: checks.every((c) => c.passed),
    checks,
    championVersion: championUsed && evidence.champion ? evidence.champion.version : null,
    evaluatedAt: now,
    ...(evidence.evaluationFile ? { evaluationFile: evidence.evaluationFile } : {}),
  };
}
