/**
 * Histogram bins for PSI and Jensen–Shannon on numbers.
 *
 * - `quantiles` (PSI's default): edges at the reference's quantiles 0, 1/k, …, 1 (numpy's 'linear'
 *   method), duplicates removed (ties), so each bin holds about 1/k of the reference.
 * - `sturges`: ⌈log2 n_ref⌉ + 1 equal-width bins over the reference's range (numpy's 'sturges').
 * - `width`: `count` equal-width bins over the range of reference and current together
 *   (np.histogram_bin_edges(concat, count); Jensen–Shannon's default; Evidently 0.7 bins by Sturges over both).
 * - `edges`: fixed, ascending edges given by the user.
 *
 * Bins are [e_i, e_{i+1}); values outside the edges are counted in the first or last bin (the outer
 * bins are open), so no current value is ever dropped. With `width` the last bin is closed, as numpy's.
 */
export type Binning =
  | { readonly kind: 'quantiles'; readonly count: number }
  | { readonly kind: 'sturges' }
  | { readonly kind: 'width'; readonly count: number }
  | { readonly kind: 'edges'; readonly edges: readonly number[] };

export const DEFAULT_PSI_BINNING: Binning = { kind: 'quantiles', count: 10 };
export const DEFAULT_JS_BINNING: Binning = { kind: 'width', count: 30 };

/** Ascending bin edges (at least two) for ascending, finite reference and current samples. */
export function binEdges(binning: Binning, reference: Float64Array, current: Float64Array): number[] {
  switch (binning.kind) {
    case 'quantiles': {
      const edges: number[] = [];
      for (let i = 0; i <= binning.count; i++) {
        const q = quantileSorted(reference, i === binning.count ? 1 : i * (1 / binning.count)); // np.linspace's points
        if (edges.length === 0 || q > edges[edges.length - 1]!) edges.push(q);
      }
      return edges.length >= 2 ? edges : [edges[0]!, edges[0]!];
    }
    case 'sturges': {
      const lo = reference[0]!;
      const hi = reference[reference.length - 1]!;
      const width = (hi - lo) / (Math.log2(reference.length) + 1);
      return linspaceEdges(lo, hi, width > 0 ? Math.ceil((hi - lo) / width) : 1);
    }
    case 'width': {
      const lo = Math.min(reference[0]!, current[0] ?? Infinity);
      const hi = Math.max(reference[reference.length - 1]!, current[current.length - 1] ?? -Infinity);
      return linspaceEdges(lo, hi, binning.count);
    }
    case 'edges':
      return [...binning.edges];
  }
}

/** numpy's histogram_bin_edges for equal widths: a degenerate range is widened by ±0.5. */
function linspaceEdges(lo: number, hi: number, count: number): number[] {
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = (hi - lo) / count;
  const edges: number[] = [];
  for (let i = 0; i < count; i++) edges.push(i * step + lo);
  edges.push(hi);
  return edges;
}

/** numpy.quantile(sorted, q) with the default 'linear' method (and numpy's two-sided lerp). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const virtual = (n - 1) * q;
  const lo = Math.floor(virtual);
  const hi = Math.min(lo + 1, n - 1);
  const t = virtual - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * Counts per bin for an ascending sample: bin i holds edges[i] ≤ v < edges[i+1], outer bins open. Each inner
 * edge's position is found by bisection (the first value ≥ the edge), so the cost is bins × log n, not n. A sample of
 * scaled integers (values m / power) is counted from them: m / power is the very double its plain form holds.
 */
export function binCounts(sortedValues: Float64Array | Int32Array, edges: readonly number[], power = 1): number[] {
  const bins = Math.max(1, edges.length - 1);
  const counts = new Array<number>(bins).fill(0);
  let start = 0;
  for (let b = 0; b < bins - 1; b++) {
    const end = Math.max(start, lowerBound(sortedValues, edges[b + 1]!, power));
    counts[b] = end - start;
    start = end;
  }
  counts[bins - 1] = sortedValues.length - start;
  return counts;
}

/**
 * binCounts of the sample that holds counts[i] of each values[i] (ascending, distinct), without expanding it: the
 * number of values below an edge is the sum of the counts of the distinct values below it, so every bin is the one
 * binCounts gives on the expanded sample.
 */
export function countedBinCounts(values: Float64Array, counts: Float64Array, total: number, edges: readonly number[]): number[] {
  const below = new Float64Array(values.length + 1); // below[i]: how many values are smaller than values[i]
  for (let i = 0; i < values.length; i++) below[i + 1] = below[i]! + counts[i]!;
  const bins = Math.max(1, edges.length - 1);
  const out = new Array<number>(bins).fill(0);
  let start = 0;
  for (let b = 0; b < bins - 1; b++) {
    const end = Math.max(start, below[lowerBound(values, edges[b + 1]!)]!);
    out[b] = end - start;
    start = end;
  }
  out[bins - 1] = total - start;
  return out;
}

/** The first index with sorted[i] / power >= x (or the length). */
function lowerBound(sorted: Float64Array | Int32Array, x: number, power = 1): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! / power < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
