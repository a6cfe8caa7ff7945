import { assertComparable } from './ks';
/** Distances between two samples or two distributions; all pure, all O(n). */

/** Empty bins are given this proportion before PSI takes logarithms (Evidently's value); not renormalized. */
export const PSI_EMPTY_BIN_PROPORTION = 1e-4;

/**
 * The first index j ≥ from with sorted[j] > x in an ascending sample (or its length), galloping from `from`
 * (1, 2, 4, … steps, then bisecting): a column of a few hundred distinct values over millions of rows costs a few
 * hundred logarithmic searches instead of a pass over every value, and a run of one costs one comparison.
 */
export function upperBoundFrom(sorted: Float64Array, from: number, x: number): number {
  const n = sorted.length;
  if (from >= n || sorted[from]! > x) return from;
  let lo = from; // sorted[lo] <= x
  let step = 1;
  let hi = from + 1;
  while (hi < n && sorted[hi]! <= x) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  if (hi > n) hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The end of the run of values equal to sorted[i] in an ascending sample. */
export function runEnd(sorted: Float64Array, i: number): number {
  return upperBoundFrom(sorted, i, sorted[i]!);
}

/**
 * Wasserstein-1 distance between two ascending samples: ∫ |F_u − F_v| (scipy.stats.wasserstein_distance). One merge
 * pass: at each distinct value x (ascending), both sides step past their values equal to x — the same terms in the
 * same order whichever way they step.
 */
export function wasserstein1(u: Float64Array, v: Float64Array): number {
  const nu = u.length;
  const nv = v.length;
  assertComparable(u, v, 'the Wasserstein distance');
  let i = 0;
  let j = 0;
  let total = 0;
  let previous = Math.min(u[0]!, v[0]!);
  while (i < nu || j < nv) {
    const x = j >= nv || (i < nu && u[i]! <= v[j]!) ? u[i]! : v[j]!;
    total += Math.abs(i / nu - j / nv) * (x - previous);
    previous = x;
    const before = i + j;
    i = stepPast(u, i, x);
    j = stepPast(v, j, x);
    // NaN is never <= anything: a NaN inside an otherwise ascending sample would stop both walks for good
    if (i + j === before) throw new RangeError('the Wasserstein distance needs numbers; a sample holds NaN or an infinity');
  }
  return total;
}

/**
 * upperBoundFrom(sorted, from, x) for x ≥ sorted[from − 1]: a few single steps first (a run of one, the usual case of a
 * continuous column, costs one comparison and no search), then galloping (a long run of one value, a column of few
 * distinct values).
 */
function stepPast(sorted: Float64Array, from: number, x: number): number {
  const n = sorted.length;
  const stop = Math.min(n, from + 4);
  let k = from;
  while (k < stop && sorted[k]! <= x) k++;
  return k < stop || k >= n ? k : upperBoundFrom(sorted, k, x);
}

/** Population standard deviation (ddof = 0) of an ascending sample, two-pass for accuracy; each run of equal values counted at once. */
export function populationStd(values: Float64Array): number {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; ) {
    const j = runEnd(values, i);
    sum += values[i]! * (j - i);
    i = j;
  }
  const mean = sum / n;
  let squares = 0;
  let compensation = 0;
  for (let i = 0; i < n; ) {
    const j = runEnd(values, i);
    const d = values[i]! - mean;
    squares += d * d * (j - i);
    compensation += d * (j - i);
    i = j;
  }
  return Math.sqrt((squares - (compensation * compensation) / n) / n);
}

/** Proportions of each count in its total; an all-zero vector stays zero. */
export function proportions(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/**
 * Population stability index Σ (c − r) · ln(c / r) over bins, where a zero proportion on either side is
 * replaced by PSI_EMPTY_BIN_PROPORTION first (so an empty bin adds a large but finite term).
 */
export function populationStabilityIndex(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  const r = proportions(referenceCounts);
  const c = proportions(currentCounts);
  let psi = 0;
  for (let i = 0; i < r.length; i++) {
    const ri = r[i] === 0 ? PSI_EMPTY_BIN_PROPORTION : r[i]!;
    const ci = c[i] === 0 ? PSI_EMPTY_BIN_PROPORTION : c[i]!;
    psi += (ci - ri) * Math.log(ci / ri);
  }
  return psi;
}

/**
 * Jensen–Shannon distance in natural log, scipy's default base (scipy.spatial.distance.jensenshannon(p, q)),
 * because Evidently's `jensenshannon` test and its 0.1 threshold use that scale (docs/decisions/drift-js-base.md):
 * the square root of the mean Kullback–Leibler divergence of p and q from their mixture; 0 = same,
 * √ln 2 ≈ 0.8326 = disjoint. Empty bins need no smoothing.
 */
export function jensenShannonDistance(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  const p = proportions(referenceCounts);
  const q = proportions(currentCounts);
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i]! + q[i]!) / 2;
    if (p[i]! > 0) divergence += p[i]! * Math.log(p[i]! / m);
    if (q[i]! > 0) divergence += q[i]! * Math.log(q[i]! / m);
  }
  return Math.sqrt(Math.max(0, divergence / 2));
}

/**
 * Pearson's chi-square test of independence on the 2 × k table [reference counts; current counts]
 * (scipy.stats.chi2_contingency(table, correction=False)): categories absent from both sides must
 * not be passed. Returns the statistic and degrees of freedom k − 1.
 */
export function chiSquareContingency(referenceCounts: readonly number[], currentCounts: readonly number[]): { statistic: number; dof: number } {
  const k = referenceCounts.length;
  const nRef = referenceCounts.reduce((a, b) => a + b, 0);
  const nCur = currentCounts.reduce((a, b) => a + b, 0);
  const total = nRef + nCur;
  let statistic = 0;
  for (let i = 0; i < k; i++) {
    const column = referenceCounts[i]! + currentCounts[i]!;
    const expectedRef = (nRef * column) / total;
    const expectedCur = (nCur * column) / total;
    statistic += (referenceCounts[i]! - expectedRef) ** 2 / expectedRef + (currentCounts[i]! - expectedCur) ** 2 / expectedCur;
  }
  return { statistic, dof: k - 1 };
}
