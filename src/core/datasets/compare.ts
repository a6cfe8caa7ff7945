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
   * the exact one); `tvd`: total variation distance of the category frequencies; `range`: a datetime column's
   * time range moved (1 − overlap / union of the [min, max] ranges; the stored profile keeps only the range
   * of a datetime column, not its distribution); `none`: not comparable.
   */
  readonly measure: 'ks' | 'tvd' | 'range' | 'none';
  /** 0 = same distribution, 1 = disjoint; null when the column is missing on one side. */
  readonly shift: number | null;
  readonly mean?: { readonly before: number; readonly after: number };
  /** For `range`: the two time ranges and how they moved. */
  readonly range?: TimeRangeShift;
}

export interface TimeRangeShift {
  readonly before: { readonly min: string; readonly max: string };
  readonly after: { readonly min: string; readonly max: string };
  /** How far the start and the end moved, in days (positive: later). */
  readonly startDays: number;
  readonly endDays: number;
  /** Length of each range in days. */
  readonly spanDays: { readonly before: number; readonly after: number };
  /** Share of the newer range that lies inside the older one (0 = all new time, 1 = none). */
  readonly afterInsideBefore: number;
}

export interface VersionComparison {
  readonly rows: { readonly before: number; readonly after: number };
  readonly schemaChanges: string[];
  /** Columns of the newer version (then removed ones), largest shift first. */
  readonly columns: ColumnShift[];
}

const schemaOf = (p: DatasetProfile): { columns: { name: string; type: ColumnType }[] } => ({
  columns: p.columns.map((c) => ({ name: c.name, type: c.type })),
});

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
      columns.push({
        column: b.name,
        type: b.type,
        nullRate: rates,
        measure: 'ks',
        shift: approxKs(a.numeric, b.numeric),
        mean: { before: a.numeric.mean, after: b.numeric.mean },
      });
    } else if (a.categorical && b.categorical) {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'tvd', shift: totalVariation(a.categorical, b.categorical) });
    } else if (a.datetime && b.datetime && a.type === 'datetime' && b.type === 'datetime' && timeRangeShift(a.datetime, b.datetime)) {
      const range = timeRangeShift(a.datetime, b.datetime)!;
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'range', shift: rangeDistance(range), range });
    } else {
      columns.push({ column: b.name, type: b.type, nullRate: rates, measure: 'none', shift: null });
    }
  }
  for (const a of before.columns) {
    if (!after.columns.some((c) => c.name === a.name))
      columns.push({ column: a.name, type: a.type, nullRate: { before: nullRate(a.nulls, before.rows), after: 0 }, measure: 'none', shift: null });
  }
  // distribution shifts first (largest first); a time range that moved (new data appended) after them
  const rank = (c: ColumnShift): number => (c.measure === 'range' ? 1 : 0);
  columns.sort((x, y) => rank(x) - rank(y) || (y.shift ?? -1) - (x.shift ?? -1));
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

const DAY_MS = 86_400_000;

/** How a datetime column's [min, max] moved; undefined when a bound does not parse as a date. */
export function timeRangeShift(before: { min: string; max: string }, after: { min: string; max: string }): TimeRangeShift | undefined {
  const [b0, b1, a0, a1] = [before.min, before.max, after.min, after.max].map(parseTime);
  if ([b0, b1, a0, a1].some((t) => t === undefined || Number.isNaN(t))) return undefined;
  const inside = Math.max(0, Math.min(a1!, b1!) - Math.max(a0!, b0!));
  const span = a1! - a0!;
  const share = span > 0 ? inside / span : a0! >= b0! && a0! <= b1! ? 1 : 0;
  return {
    before: { min: before.min, max: before.max },
    after: { min: after.min, max: after.max },
    startDays: (a0! - b0!) / DAY_MS,
    endDays: (a1! - b1!) / DAY_MS,
    spanDays: { before: (b1! - b0!) / DAY_MS, after: span / DAY_MS },
    afterInsideBefore: share,
  };
}

/** 1 − |overlap| / |union| of the two ranges: 0 = the same range, 1 = disjoint. */
function rangeDistance(r: TimeRangeShift): number {
  const [b0, b1, a0, a1] = [r.before.min, r.before.max, r.after.min, r.after.max].map((s) => parseTime(s)!) as [number, number, number, number];
  const union = Math.max(a1, b1) - Math.min(a0, b0);
  if (union === 0) return 0; // both the same single instant
  const overlap = Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
  return 1 - overlap / union;
}

/** Milliseconds of an ISO date or date-time (a bare date is midnight UTC). */
function parseTime(s: string): number | undefined {
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
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
    const measure =
      s.measure === 'ks' ? 'KS (from percentiles)' : s.measure === 'tvd' ? 'total variation' : s.measure === 'range' ? 'time range (1 − overlap/union)' : '—';
    lines.push(
      `| ${s.column} | ${s.type} | ${s.shift === null ? '—' : s.shift.toFixed(3)} | ${measure} | ${pct(s.nullRate.before)} → ${pct(s.nullRate.after)} | ${mean} |`,
    );
  }
  const ranges = c.columns.filter((s) => s.range);
  if (ranges.length) {
    const days = (d: number): string => `${d > 0 ? '+' : ''}${Number.isInteger(d) ? d : d.toFixed(2)} d`;
    lines.push(
      '',
      '## Time ranges',
      '',
      '| column | before | after | start moved | end moved | span | newer range inside older |',
      '|---|---|---|---:|---:|---:|---:|',
    );
    for (const s of ranges) {
      const r = s.range!;
      lines.push(
        `| ${s.column} | ${r.before.min} → ${r.before.max} | ${r.after.min} → ${r.after.max} | ${days(r.startDays)} | ${days(r.endDays)} | ${Math.round(r.spanDays.before)} d → ${Math.round(r.spanDays.after)} d | ${pct(r.afterInsideBefore)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
