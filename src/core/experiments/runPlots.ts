import type { RunTable } from './runTable';

// Plots across runs: the params and metrics of a set of runs as axes (parallel coordinates, scatter),
// and how strongly each param goes with a chosen metric. Numeric params use Spearman's rank correlation
// (monotone, robust to scale; ties get average ranks as in scipy.stats.spearmanr); categorical params use
// the correlation ratio η = sqrt(SS_between / SS_total) of the metric grouped by the param's value
// (0: the groups' means are equal, 1: the value decides the metric). η has no sign.

/** One param or metric over the plotted runs: numbers, or category indices into `categories`; null where absent. */
export interface PlotAxis {
  readonly key: string;
  readonly kind: 'numeric' | 'categorical';
  readonly values: readonly (number | null)[];
  /** For a categorical axis: the values in sorted order (an index in `values` points here). */
  readonly categories?: readonly string[];
}

export interface RunPlotData {
  readonly runIds: readonly string[];
  readonly names: readonly string[];
  readonly params: readonly PlotAxis[];
  readonly metrics: readonly PlotAxis[];
}

export interface ParamImportance {
  readonly param: string;
  readonly method: 'spearman' | 'eta';
  /** Spearman's ρ in [-1, 1], or η in [0, 1]. */
  readonly value: number;
  /** Runs with both the param and a finite metric value. */
  readonly runs: number;
}

const isNumberText = (v: string): boolean => v.trim() !== '' && Number.isFinite(Number(v));

/** A param is numeric when every value it has parses as a finite number ("0.1", "8"); otherwise categorical. */
function paramAxis(key: string, column: readonly (string | undefined)[], rows: ArrayLike<number>): PlotAxis {
  const raw: (string | undefined)[] = Array.from(rows as ArrayLike<number>, (i) => column[i]);
  const present = raw.filter((v): v is string => v !== undefined);
  if (present.length > 0 && present.every(isNumberText)) return { key, kind: 'numeric', values: raw.map((v) => (v === undefined ? null : Number(v))) };
  const categories = [...new Set(present)].sort((a, b) => a.localeCompare(b));
  const index = new Map(categories.map((c, n) => [c, n]));
  return { key, kind: 'categorical', values: raw.map((v) => (v === undefined ? null : index.get(v)!)), categories };
}

/** The axes of the given rows of a table (every param and metric any of them has), in the rows' order. */
export function runPlotData(table: RunTable, rows: ArrayLike<number>): RunPlotData {
  const list = Array.from(rows);
  const has = (present: (i: number) => boolean): boolean => list.some(present);
  const keys = (map: ReadonlyMap<string, unknown>): string[] => [...map.keys()].sort((a, b) => a.localeCompare(b));
  return {
    runIds: list.map((i) => table.runIds[i]!),
    names: list.map((i) => table.names[i]!),
    params: keys(table.params)
      .filter((k) => has((i) => table.params.get(k)![i] !== undefined))
      .map((k) => paramAxis(k, table.params.get(k)!, list)),
    metrics: keys(table.metrics)
      .filter((k) => has((i) => table.metrics.get(k)!.present[i] === 1))
      .map((k) => {
        const column = table.metrics.get(k)!;
        // NaN and infinities cannot be placed on an axis: absent, like a run without the metric
        return {
          key: k,
          kind: 'numeric' as const,
          values: list.map((i) => (column.present[i] && Number.isFinite(column.values[i]!) ? column.values[i]! : null)),
        };
      }),
  };
}

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata's 'average'). */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!] = rank;
    start = end + 1;
  }
  return ranks;
}

/** Pearson's r; NaN when either side is constant. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's ρ: Pearson's r of the average ranks. */
export const spearman = (x: readonly number[], y: readonly number[]): number => pearson(averageRanks(x), averageRanks(y));

/** The correlation ratio η of y grouped by `groups`: sqrt(Σ n_g (ȳ_g − ȳ)² / Σ (y − ȳ)²); NaN when y is constant. */
export function correlationRatio(groups: readonly number[], y: readonly number[]): number {
  const sums = new Map<number, { n: number; sum: number }>();
  let mean = 0;
  y.forEach((v, i) => {
    mean += v;
    const g = sums.get(groups[i]!) ?? { n: 0, sum: 0 };
    g.n++;
    g.sum += v;
    sums.set(groups[i]!, g);
  });
  mean /= y.length;
  let total = 0;
  for (const v of y) total += (v - mean) ** 2;
  let between = 0;
  for (const g of sums.values()) between += g.n * (g.sum / g.n - mean) ** 2;
  return total === 0 ? Number.NaN : Math.sqrt(Math.min(1, between / total));
}

/**
 * How strongly each param goes with `metric` over the runs having both: Spearman's ρ for numeric params,
 * η for categorical ones; params with fewer than 3 such runs, or constant over them, are left out.
 * Strongest first (by |value|).
 */
export function paramImportance(data: RunPlotData, metric: string): ParamImportance[] {
  const target = data.metrics.find((m) => m.key === metric);
  if (!target) return [];
  const out: ParamImportance[] = [];
  for (const param of data.params) {
    const x: number[] = [];
    const y: number[] = [];
    param.values.forEach((v, i) => {
      const m = target.values[i];
      if (v !== null && m !== null && m !== undefined) {
        x.push(v);
        y.push(m);
      }
    });
    if (x.length < 3) continue;
    const method = param.kind === 'numeric' ? 'spearman' : 'eta';
    const value = method === 'spearman' ? spearman(x, y) : correlationRatio(x, y);
    if (Number.isNaN(value)) continue;
    out.push({ param: param.key, method, value, runs: x.length });
  }
  return out.sort((a, b) => Math.abs(b.value) - Math.abs(a.value) || a.param.localeCompare(b.param));
}
