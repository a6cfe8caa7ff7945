import type { ColumnType } from './readers';
import type { CategoricalProfile, DatasetProfile, NumericProfile } from './profile';
import { compareSchemas } from './validate';

/** How one column moved between two versions, from their stored profiles (no data is re-read). */
export interface ColumnShift {
  readonly column: string;
  readonly type: ColumnType;
  readonly nullRate: { readonly before: number; readonly after: number };
  /**
   * `ks`: two-sample Kolmogorov–Smirnov statistic estimated from the stored percentiles (within about 0.01 of
   * the exact one); `tvd`: total variation distance of the category frequencies; `none`: not comparable.
   */
  readonly measure: 'ks' | 'tvd' | 'none';
  /** 0 = same distribution, 1 = disjoint; null when the column is missing on one side. */
  readonly shift: number | null;
  readonly mean?: { readonly before: number; readonly after: number };
}

export interface VersionComparison {
  readonly rows: { readonly before: number; readonly after: number };
  readonly schemaChanges: string[];
  /** Columns of the newer version (then removed ones), largest shift first. */
  readonly columns: ColumnShift[];
}

const schemaOf = (p: DatasetProfile): { columns: { name: string; type: ColumnType }[] } => ({ columns: p.columns.map((c) => ({ name: c.name, type: c.type })) });

/** Schema changes and per-column distribution shift from `before` to `after`. */
export function compareProfiles(before: DatasetProfile, after: DatasetProfile): VersionComparison {
  const old = new Map(before.columns.map((c) => [c.name, c]));
  const columns: ColumnShift[] = [];
  const nullRate = (nulls: number, rows: number): number => (rows === 0 ? 0 : nulls / rows);
  for (const b of after.columns) {
    const a = old.get(b.name);
    const rates = { before: a ? nullRate(a.nulls, before.rows) : 0, after: nullRate(b.nulls, after.rows) };
    if (!a) {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'none', shift: null });
    } else if (a.numeric && b.numeric) {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'ks', shift: approxKs(a.numeric, b.numeric), mean: { before: a.numeric.mean, after: b.numeric.mean } });
    } else if (a.categorical && b.categorical) {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'tvd', shift: totalVariation(a.categorical, b.categorical) });
    } else {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'none', shift: null });
    }
  }
  for (const a of before.columns) {
    if (!after.columns.some((c) => c.name === a.name)) columns.push({ column: a.name, type: a.type, nullRate: { before: nullRate(a.nulls, before.rows), after: 0 }, measure: 'none', shift: null });
  }
  columns.sort((x, y) => (y.shift ?? -1) - (x.shift ?? -1));
  return { rows: { before: before.rows, after: after.rows }, schemaChanges: compareSchemas(schemaOf(before), schemaOf(after)), columns };
}

/** sup |F_a − F_b| with each CDF read off its percentile table (linear between percentiles, flat on ties). */
export function approxKs(a: NumericProfile, b: NumericProfile): number {
  const points = [...a.quantiles.values, ...b.quantiles.values];
  let d = 0;
  for (const x of points) d = Math.max(d, Math.abs(cdfAt(a, x) - cdfAt(b, x)));
  return d;
}

/** Fraction of values ≤ x, from the percentile table. */
function cdfAt(profile: NumericProfile, x: number): number {
  const { values, probs } = profile.quantiles;
  if (x < values[0]!) return 0;
  if (x >= values[values.length - 1]!) return 1;
  // the last percentile at or below x: ties (many equal values) count wholly, as in an empirical CDF
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  const next = values[lo + 1]!;
  const span = next - values[lo]!;
  return span > 0 ? probs[lo]! + ((x - values[lo]!) / span) * (probs[lo + 1]! - probs[lo]!) : probs[lo]!;
}

/** ½ Σ |p_a(v) − p_b(v)| over the tracked values (values beyond the cap form one "other" bucket). */
export function totalVariation(a: CategoricalProfile, b: CategoricalProfile): number {
  const total = (c: CategoricalProfile): number => Object.values(c.counts).reduce((s, n) => s + n, 0) + c.otherCount;
  const ta = total(a);
  const tb = total(b);
  if (ta === 0 || tb === 0) return ta === tb ? 0 : 1;
  let sum = Math.abs(a.otherCount / ta - b.otherCount / tb);
  for (const key of new Set([...Object.keys(a.counts), ...Object.keys(b.counts)])) sum += Math.abs((a.counts[key] ?? 0) / ta - (b.counts[key] ?? 0) / tb);
  return sum / 2;
}

/** The comparison as a Markdown report. */
export function formatComparison(title: string, c: VersionComparison): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const lines = [`# ${title}`, '', `rows: ${c.rows.before.toLocaleString('en-US')} → ${c.rows.after.toLocaleString('en-US')}`, ''];
  lines.push('## Schema', '', ...(c.schemaChanges.length ? c.schemaChanges.map((s) => `- ${s}`) : ['unchanged']), '');
  lines.push('## Distribution shift per column', '', '| column | type | shift | measure | nulls | mean |', '|---|---|---:|---|---:|---:|');
  for (const s of c.columns) {
    const mean = s.mean ? `${s.mean.before.toPrecision(5)} → ${s.mean.after.toPrecision(5)}` : '';
    const measure = s.measure === 'ks' ? 'KS (from percentiles)' : s.measure === 'tvd' ? 'total variation' : '—';
    lines.push(`| ${s.column} | ${s.type} | ${s.shift === null ? '—' : s.shift.toFixed(3)} | ${measure} | ${pct(s.nullRate.before)} → ${pct(s.nullRate.after)} | ${mean} |`);
  }
  return `${lines.join('\n')}\n`;
}
