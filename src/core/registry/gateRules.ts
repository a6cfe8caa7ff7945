import { z } from 'zod';
import { FAIRNESS_METRICS, GROUP_METRICS, type FairnessMetric, type GroupMetric } from '../monitoring/configSchema';

// The release gate of a model, as written in mloop.yaml `models.<name>.gate`. Each rule is a short
// text or the equivalent mapping:
//   accuracy >= 0.8                      { metric: accuracy, min: 0.8 }       (also >, <=, <, ==)
//   accuracy >= champion - 0.02          { metric: accuracy, max_drop_vs_champion: 0.02 }
//   log_loss <= champion + 0.05          { metric: log_loss, max_drop_vs_champion: 0.05, goal: minimize }
//   accuracy gap by season <= 0.15       { metric: accuracy, slice: season, max_gap: 0.15 }   (or groups: season)
//   true_positive_rate by sex >= 0.7     { groups: sex, true_positive_rate: { min: 0.7 } }  each group's rate
//   demographic_parity_difference by sex <= 0.1   { groups: sex, demographic_parity_difference: { max: 0.1 } }
// With intervals (each group's rate needs its counts: n, and positives for TPR/FPR — see docs/registry.md):
//   lower(true_positive_rate) by sex >= 0.7       { groups: sex, true_positive_rate: { min: 0.7 }, interval: true }
//   upper(accuracy gap) by sex <= 0.15             { groups: sex, metric: accuracy, max_gap: 0.15, interval: true }

export const GATE_OPERATORS = ['>=', '>', '<=', '<', '=='] as const;
export type GateOperator = (typeof GATE_OPERATORS)[number];

export type GateRule =
  | { readonly kind: 'threshold'; readonly text: string; readonly metric: string; readonly op: GateOperator; readonly value: number }
  | { readonly kind: 'champion'; readonly text: string; readonly metric: string; readonly goal: 'maximize' | 'minimize'; readonly tolerance: number }
  | {
      readonly kind: 'slice';
      readonly text: string;
      readonly metric: string;
      readonly column: string;
      readonly maxGap: number;
      /** 'upper': the upper bound of the gap's 95% interval (Newcombe's) must be within maxGap, not only the gap. */
      readonly bound?: 'upper';
    }
  | {
      readonly kind: 'group';
      readonly text: string;
      /** A rate judged for each group, or a disparity between the groups (fairlearn's definitions). */
      readonly metric: GroupMetric | FairnessMetric;
      readonly column: string;
      readonly op: '>=' | '<=';
      readonly value: number;
      /** Judge this bound of each group's 95% Wilson interval instead of its value (rates only). */
      readonly bound?: 'lower' | 'upper';
    };

const METRIC = String.raw`[A-Za-z_][\w.\-/:]*`;
const NUMBER = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const THRESHOLD = new RegExp(String.raw`^(${METRIC})\s*(>=|>|<=|<|==)\s*(${NUMBER})$`);
const CHAMPION = new RegExp(String.raw`^(${METRIC})\s*(>=|<=)\s*champion(?:\s*([-+])\s*(${NUMBER}))?$`);
const SLICE = new RegExp(String.raw`^(${METRIC})\s+gap\s+by\s+(${METRIC})\s*<=\s*(${NUMBER})$`);
const GROUP_RULE_METRICS: readonly string[] = [...GROUP_METRICS, ...FAIRNESS_METRICS];
const GROUP = new RegExp(String.raw`^(${GROUP_RULE_METRICS.join('|')})\s+by\s+(${METRIC})\s*(>=|<=)\s*(${NUMBER})$`);
const GROUP_BOUND = new RegExp(String.raw`^(lower|upper)\((${GROUP_METRICS.join('|')})\)\s+by\s+(${METRIC})\s*(>=|<=)\s*(${NUMBER})$`);
const GAP_BOUND = new RegExp(String.raw`^upper\((${GROUP_METRICS.join('|')})\s+gap\)\s+by\s+(${METRIC})\s*<=\s*(${NUMBER})$`);

const HELP =
  'write e.g. "accuracy >= 0.8", "accuracy >= champion - 0.02", "accuracy gap by season <= 0.15", "true_positive_rate by sex >= 0.7", "lower(true_positive_rate) by sex >= 0.7", "upper(accuracy gap) by sex <= 0.15" or "demographic_parity_difference by sex <= 0.1"';

const mappingSchema = z.union([
  z
    .strictObject({ metric: z.string().min(1), min: z.number().optional(), max: z.number().optional() })
    .refine((m) => m.min !== undefined || m.max !== undefined, {
      message: 'a threshold rule needs min or max',
    }),
  z.strictObject({ metric: z.string().min(1), max_drop_vs_champion: z.number().min(0), goal: z.enum(['maximize', 'minimize']).optional() }),
  z.strictObject({ metric: z.string().min(1), slice: z.string().min(1), max_gap: z.number().min(0) }),
  z.strictObject({ groups: z.string().min(1), metric: z.string().min(1), max_gap: z.number().min(0), interval: z.boolean().optional() }),
  z
    .strictObject({
      groups: z.string().min(1),
      interval: z.boolean().optional(),
      ...Object.fromEntries(GROUP_RULE_METRICS.map((m) => [m, z.strictObject({ min: z.number().optional(), max: z.number().optional() }).optional()])),
    })
    .refine((m) => GROUP_RULE_METRICS.some((k) => (m as Record<string, unknown>)[k] !== undefined), {
      message: 'a groups rule needs a bound such as true_positive_rate: { min: 0.7 }',
    }),
]);

/** One rule from mloop.yaml, or why it cannot be read. */
export function parseGateRule(raw: unknown): { rule: GateRule[] } | { error: string } {
  if (typeof raw === 'string') {
    const text = raw.trim().replace(/\s+/g, ' ');
    let m = CHAMPION.exec(text);
    if (m) {
      const goal = m[2] === '>=' ? 'maximize' : 'minimize';
      const sign = m[3];
      const amount = m[4] === undefined ? 0 : Number(m[4]);
      if ((goal === 'maximize' && sign === '+') || (goal === 'minimize' && sign === '-')) {
        return { error: `"${text}": the tolerance loosens the check, so it is "${m[1]} ${m[2]} champion ${goal === 'maximize' ? '-' : '+'} ${amount}"` };
      }
      return { rule: [{ kind: 'champion', text, metric: m[1]!, goal, tolerance: amount }] };
    }
    m = SLICE.exec(text);
    if (m) return { rule: [{ kind: 'slice', text, metric: m[1]!, column: m[2]!, maxGap: Number(m[3]) }] };
    m = GAP_BOUND.exec(text);
    if (m) return { rule: [{ kind: 'slice', text, metric: m[1]!, column: m[2]!, maxGap: Number(m[3]), bound: 'upper' }] };
    m = GROUP_BOUND.exec(text);
    if (m)
      return {
        rule: [
          {
            kind: 'group',
            text,
            metric: m[2] as GroupMetric,
            column: m[3]!,
            op: m[4] as '>=' | '<=',
            value: Number(m[5]),
            bound: m[1] as 'lower' | 'upper',
          },
        ],
      };
    if (/^(lower|upper)\(/.test(text))
      return {
        error: `"${text}": intervals are judged for the per-group rates (${GROUP_METRICS.join(', ')}) and the upper bound of a rate's gap: ${HELP}`,
      };
    m = GROUP.exec(text);
    if (m)
      return { rule: [{ kind: 'group', text, metric: m[1] as GroupMetric | FairnessMetric, column: m[2]!, op: m[3] as '>=' | '<=', value: Number(m[4]) }] };
    m = THRESHOLD.exec(text);
    if (m) return { rule: [{ kind: 'threshold', text, metric: m[1]!, op: m[2] as GateOperator, value: Number(m[3]) }] };
    return { error: `cannot read the gate rule "${text}": ${HELP}` };
  }
  const parsed = mappingSchema.safeParse(raw);
  if (!parsed.success)
    return {
      error: `cannot read the gate rule ${JSON.stringify(raw)}: ${HELP}, or a mapping { metric, min | max | max_drop_vs_champion | slice + max_gap } or { groups: <column>, <rate or disparity>: { min | max } }`,
    };
  const m = parsed.data;
  if ('groups' in m) {
    const g = m as Record<string, unknown> & { groups: string; interval?: boolean };
    const column = g.groups;
    const rates: readonly string[] = GROUP_METRICS;
    if (typeof g.metric === 'string' && typeof g.max_gap === 'number') {
      if (g.interval && !rates.includes(g.metric))
        return { error: `${JSON.stringify(raw)}: an interval of the gap needs a per-group rate (${GROUP_METRICS.join(', ')}), not ${g.metric}` };
      return {
        rule: [
          g.interval
            ? { kind: 'slice', text: `upper(${g.metric} gap) by ${column} <= ${g.max_gap}`, metric: g.metric, column, maxGap: g.max_gap, bound: 'upper' }
            : { kind: 'slice', text: `${g.metric} gap by ${column} <= ${g.max_gap}`, metric: g.metric, column, maxGap: g.max_gap },
        ],
      };
    }
    const rules: GateRule[] = [];
    for (const metric of GROUP_RULE_METRICS) {
      const bound = g[metric] as { min?: number; max?: number } | undefined;
      if (bound === undefined) continue;
      if (g.interval && !rates.includes(metric))
        return { error: `${JSON.stringify(raw)}: intervals are judged for the per-group rates (${GROUP_METRICS.join(', ')}), not ${metric}` };
      const rule = (op: '>=' | '<=', value: number): GateRule => {
        const side = op === '>=' ? 'lower' : 'upper';
        return g.interval
          ? { kind: 'group', text: `${side}(${metric}) by ${column} ${op} ${value}`, metric: metric as GroupMetric, column, op, value, bound: side }
          : { kind: 'group', text: `${metric} by ${column} ${op} ${value}`, metric: metric as GroupMetric, column, op, value };
      };
      if (bound.min !== undefined) rules.push(rule('>=', bound.min));
      if (bound.max !== undefined) rules.push(rule('<=', bound.max));
    }
    return { rule: rules };
  }
  if ('slice' in m)
    return { rule: [{ kind: 'slice', text: `${m.metric} gap by ${m.slice} <= ${m.max_gap}`, metric: m.metric, column: m.slice, maxGap: m.max_gap }] };
  if ('max_drop_vs_champion' in m) {
    const goal = m.goal ?? 'maximize';
    return {
      rule: [
        {
          kind: 'champion',
          text: `${m.metric} ${goal === 'maximize' ? '>=' : '<='} champion ${goal === 'maximize' ? '-' : '+'} ${m.max_drop_vs_champion}`,
          metric: m.metric,
          goal,
          tolerance: m.max_drop_vs_champion,
        },
      ],
    };
  }
  const rules: GateRule[] = [];
  if (m.min !== undefined) rules.push({ kind: 'threshold', text: `${m.metric} >= ${m.min}`, metric: m.metric, op: '>=', value: m.min });
  if (m.max !== undefined) rules.push({ kind: 'threshold', text: `${m.metric} <= ${m.max}`, metric: m.metric, op: '<=', value: m.max });
  return { rule: rules };
}

/** Every rule of a gate; throws on the first unreadable one (the config loader reports them with positions first). */
export function parseGate(raw: readonly unknown[] | undefined): GateRule[] {
  return (raw ?? []).flatMap((r, i) => {
    const parsed = parseGateRule(r);
    if ('error' in parsed) throw new Error(`gate rule ${i + 1}: ${parsed.error}`);
    return parsed.rule;
  });
}
