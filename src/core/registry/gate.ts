import { proportion } from '../monitoring/statistics';
import type { Evaluation } from './evaluationFile';
import type { GateRule } from './gateRules';

/** One group's value of a group rule's metric; with the group's counts, the 95% Wilson interval monitoring gives it and the count it divides by. */
export interface GateGroupValue {
  readonly group: string;
  readonly value: number;
  /** What the rate divides by: the group's rows (selection rate, accuracy), its positives (TPR) or negatives (FPR). */
  readonly n?: number;
  readonly lower?: number;
  readonly upper?: number;
}

export interface GateCheck {
  readonly rule: string;
  readonly passed: boolean;
  /** What was compared, for people: "accuracy 0.84 >= 0.8". */
  readonly detail: string;
  /** A group or gap rule: each group's value (with its interval and n when the evidence has the group's counts). */
  readonly groups?: readonly GateGroupValue[];
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

/** The counts a rate divides by, from a group's `n` (rows) and `positives` (rows whose label is the positive class). */
function denominator(metric: string, n: number | undefined, positives: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (metric === 'selection_rate' || metric === 'accuracy') return n;
  if (positives === undefined) return undefined;
  if (metric === 'true_positive_rate') return positives;
  if (metric === 'false_positive_rate') return n - positives;
  return undefined;
}

/**
 * Each group's value of a metric and, for a rate whose group counts are in the evidence (slices' `n` and `positives`,
 * or run metrics `n/<column>/<group>` and `positives/<column>/<group>`), its 95% Wilson interval — the same
 * `proportion` the monitoring reports use. A value that is not a whole count over its denominator gets no interval.
 */
export function groupValues(evidence: GateEvidence, metric: string, column: string): GateGroupValue[] {
  const ns = new Map(perGroup(evidence, 'n', column));
  const positives = new Map(perGroup(evidence, 'positives', column));
  return perGroup(evidence, metric, column).map(([group, value]) => {
    const d = denominator(metric, ns.get(group), positives.get(group));
    if (d === undefined || !Number.isInteger(d) || d < 0) return { group, value };
    const successes = value * d;
    const count = Math.round(successes);
    if (Math.abs(successes - count) > 1e-6 * Math.max(1, d) || count < 0 || count > d) return { group, value };
    const e = proportion(count, d);
    return { group, value, n: d, lower: e.lower!, upper: e.upper! };
  });
}

const shown = (g: GateGroupValue): string =>
  g.lower === undefined ? `${g.group} ${fmt(g.value)}` : `${g.group} ${fmt(g.value)} [${fmt(g.lower)}, ${fmt(g.upper!)}] (n ${g.n})`;

const countsHelp = (column: string): string =>
  `give each group's n (and positives, for TPR/FPR) in the evaluation file's slices.${column}.<group> or as run metrics n/${column}/<group>`;

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
  const groups = groupValues(evidence, rule.metric, rule.column);
  if (groups.length < 2) return needs(rule.metric, groups.length);
  if (rule.bound) {
    const without = groups.filter((g) => g.lower === undefined).map((g) => g.group);
    if (without.length > 0)
      return {
        rule: rule.text,
        passed: false,
        detail: `${rule.text} needs each group's interval; no counts for ${rule.column} = ${without.join(', ')}: ${countsHelp(rule.column)}`,
        groups,
      };
  }
  // the bound of the interval the rule names, else the value
  const judged = (g: GateGroupValue): number => (rule.bound === 'lower' ? g.lower! : rule.bound === 'upper' ? g.upper! : g.value);
  const what = rule.bound ? `${rule.bound}(${rule.metric})` : rule.metric;
  const failing = groups.filter((g) => !within(judged(g)));
  return {
    rule: rule.text,
    passed: failing.length === 0,
    detail: failing.length
      ? `${what} of ${failing.map((g) => `${rule.column} = ${shown(g)}`).join(', ')} not ${rule.op} ${fmt(rule.value)}`
      : `${what} of every group of ${rule.column} ${rule.op} ${fmt(rule.value)} (${groups.map(shown).join(', ')})`,
    groups,
  };
}

/**
 * The gap rule: the highest group's value minus the lowest's. With `bound: 'upper'` the upper end of that
 * difference's 95% interval (Newcombe's hybrid score interval from the two Wilson intervals) must be within the
 * limit — the interval of the difference between the two groups found at the extremes, not adjusted for picking them.
 */
function gapCheck(rule: GateRule & { kind: 'slice' }, evidence: GateEvidence): GateCheck {
  const groups = groupValues(evidence, rule.metric, rule.column);
  if (groups.length < 2) {
    return { rule: rule.text, passed: false, detail: `needs ${rule.metric} for at least two values of ${rule.column} (found ${groups.length})` };
  }
  const ordered = [...groups].sort((a, b) => a.value - b.value);
  const low = ordered[0]!;
  const high = ordered[ordered.length - 1]!;
  const gap = high.value - low.value;
  const base = `${rule.metric} by ${rule.column}: ${shown(high)} − ${shown(low)} = gap ${fmt(gap)}`;
  if (rule.bound === 'upper') {
    if (high.lower === undefined || low.lower === undefined)
      return { rule: rule.text, passed: false, detail: `${base}; the gap's interval needs both groups' counts: ${countsHelp(rule.column)}`, groups };
    const upper = gap + Math.sqrt((high.upper! - high.value) ** 2 + (low.value - low.lower) ** 2);
    const lower = gap - Math.sqrt((high.value - high.lower) ** 2 + (low.upper! - low.value) ** 2);
    return {
      rule: rule.text,
      passed: upper <= rule.maxGap + 1e-12,
      detail: `${base} [${fmt(lower)}, ${fmt(upper)}]: upper ${fmt(upper)} ${upper <= rule.maxGap + 1e-12 ? '<=' : '>'} ${fmt(rule.maxGap)} (${groups.length} groups)`,
      groups,
    };
  }
  return {
    rule: rule.text,
    passed: gap <= rule.maxGap + 1e-12,
    detail: `${base} (max ${fmt(rule.maxGap)}, ${groups.length} groups)`,
    groups,
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
    return gapCheck(rule, evidence);
  });
  return {
    passed: checks.every((c) => c.passed),
    checks,
    championVersion: championUsed && evidence.champion ? evidence.champion.version : null,
    evaluatedAt: now,
    ...(evidence.evaluationFile ? { evaluationFile: evidence.evaluationFile } : {}),
  };
}
