import { seededRandom } from '../sampling/seededRandom';
import { sortNumbersCarrying, stableOrder } from '../drift/sortNumbers';

/**
 * Performance statistics on labelled predictions, with the definitions scikit-learn uses (checked against it in
 * test/unit/monitoring.performance.test.ts), and their 95% intervals: Wilson for proportions, a seeded
 * percentile bootstrap for the rest.
 */

/** The 97.5% quantile of the standard normal: a two-sided 95% interval. */
export const Z_95 = 1.959963984540054;
/** Resamples of the percentile bootstrap; with the fixed seed, a check gives the same interval every time. */
export const BOOTSTRAP_RESAMPLES = 200;
export const BOOTSTRAP_SEED = 17;
/** float64 machine epsilon: scikit-learn clips probabilities to [eps, 1 - eps] before the log. */
const EPS = 2.220446049250313e-16;

/** A value with its sample size and 95% interval (null bounds when they cannot be computed). */
export interface Estimate {
  readonly value: number;
  readonly n: number;
  readonly lower: number | null;
  readonly upper: number | null;
  readonly interval: 'wilson' | 'bootstrap' | 'normal';
}

/** Wilson score interval for `successes` of `n` (statsmodels proportion_confint(method='wilson')). */
export function wilsonInterval(successes: number, n: number, z = Z_95): { lower: number; upper: number } {
  if (n === 0) return { lower: 0, upper: 1 };
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

export function proportion(successes: number, n: number): Estimate {
  const { lower, upper } = wilsonInterval(successes, n);
  return { value: n === 0 ? Number.NaN : successes / n, n, lower, upper, interval: 'wilson' };
}

/** numpy's default (linear) quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * `statistic` on `n` rows with a percentile-bootstrap 95% interval: BOOTSTRAP_RESAMPLES resamples of the row
 * indices with replacement (seeded), resamples where the statistic is undefined (NaN) left out.
 */
export function bootstrap(n: number, statistic: (rows: Uint32Array) => number): Estimate {
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  const value = statistic(all);
  if (n === 0 || !Number.isFinite(value)) return { value, n, lower: null, upper: null, interval: 'bootstrap' };
  const random = seededRandom(BOOTSTRAP_SEED);
  const values: number[] = [];
  const rows = new Uint32Array(n);
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    for (let i = 0; i < n; i++) rows[i] = Math.floor(random() * n);
    const v = statistic(rows);
    if (Number.isFinite(v)) values.push(v);
  }
  if (values.length < BOOTSTRAP_RESAMPLES / 2) return { value, n, lower: null, upper: null, interval: 'bootstrap' };
  values.sort((a, b) => a - b);
  return { value, n, lower: quantile(values, 0.025), upper: quantile(values, 0.975), interval: 'bootstrap' };
}

/** Labels as class indices into `classes` (sorted as scikit-learn sorts them). */
export interface ClassificationData {
  readonly classes: readonly string[];
  readonly truth: Int32Array;
  readonly predicted: Int32Array;
  /** Per class (same order as `classes`), the logged probability of each row; absent when not logged. */
  readonly proba?: readonly Float64Array[];
}

/** Macro precision, recall and F1 over the classes present in truth or prediction (zero division = 0, as scikit-learn). */
export function macroScores(data: ClassificationData, rows: Uint32Array): { precision: number; recall: number; f1: number } {
  return macroScoresCounted(data, rows, null);
}

/** Area under the ROC curve of `scores` for the rows where `positive` is true (Mann–Whitney, ties count half); NaN with one class only. */
export function rocAuc(scores: Float64Array, positive: (row: number) => boolean, rows: Uint32Array): number {
  // a stable radix order of the rows by score where it can (the same tie runs as the comparator sort's)
  const gathered = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) gathered[i] = scores[rows[i]!]!;
  const byScore = stableOrder(gathered);
  let order: ArrayLike<number>;
  if (byScore) {
    for (let i = 0; i < byScore.length; i++) byScore[i] = rows[byScore[i]!]!;
    order = byScore;
  } else order = Array.from(rows).sort((a, b) => scores[a]! - scores[b]!);
  return rocAucInOrder(scores, positive, order);
}

/** rocAuc of the rows in `order`, sorted by score already. */
export function rocAucInOrder(scores: ArrayLike<number>, positive: (row: number) => boolean, order: ArrayLike<number>): number {
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let m = i; m <= j; m++)
      if (positive(order[m]!)) {
        positives++;
        rankSum += averageRank;
      }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * ROC AUC as scikit-learn's roc_auc_score: with two classes, the probability of the second (sorted) class;
 * with more, the macro one-vs-rest mean, NaN when a class is absent from the truth.
 */
export function classificationAuc(data: ClassificationData, rows: Uint32Array): number {
  const proba = data.proba!;
  if (data.classes.length === 2) return rocAuc(proba[1]!, (r) => data.truth[r] === 1, rows);
  let sum = 0;
  for (let c = 0; c < data.classes.length; c++) {
    const auc = rocAuc(proba[c]!, (r) => data.truth[r] === c, rows);
    if (Number.isNaN(auc)) return Number.NaN;
    sum += auc;
  }
  return sum / data.classes.length;
}

/**
 * The scores and classes whose ROC AUCs scikit-learn's roc_auc_score averages: the second class's probability
 * with two classes, else each class's probability against the rest (the macro one-vs-rest mean).
 */
export function oneVsRest(data: ClassificationData): { scores: Float64Array; positive: (row: number) => boolean }[] {
  const proba = data.proba!;
  if (data.classes.length === 2) return [{ scores: proba[1]!, positive: (r) => data.truth[r] === 1 }];
  return data.classes.map((_, c) => ({ scores: proba[c]!, positive: (r: number) => data.truth[r] === c }));
}

/** Mean negative log probability of the true class, probabilities clipped to [eps, 1 - eps] as scikit-learn. */
export function logLoss(data: ClassificationData, rows: Uint32Array): number {
  const proba = data.proba!;
  let sum = 0;
  for (const i of rows) sum -= Math.log(Math.min(Math.max(proba[data.truth[i]!]![i]!, EPS), 1 - EPS));
  return rows.length === 0 ? Number.NaN : sum / rows.length;
}

export function accuracyCount(data: ClassificationData, rows: Uint32Array): number {
  let correct = 0;
  for (const i of rows) if (data.truth[i] === data.predicted[i]) correct++;
  return correct;
}

export interface RegressionData {
  readonly truth: Float64Array;
  readonly predicted: Float64Array;
}

export function rmse(data: RegressionData, rows: Uint32Array): number {
  let sum = 0;
  for (const i of rows) sum += (data.truth[i]! - data.predicted[i]!) ** 2;
  return Math.sqrt(sum / rows.length);
}

export function mae(data: RegressionData, rows: Uint32Array): number {
  let sum = 0;
  for (const i of rows) sum += Math.abs(data.truth[i]! - data.predicted[i]!);
  return sum / rows.length;
}

/** Coefficient of determination; NaN when the truth is constant (scikit-learn returns a convention there, not a statistic). */
export function r2(data: RegressionData, rows: Uint32Array): number {
  let mean = 0;
  for (const i of rows) mean += data.truth[i]!;
  mean /= rows.length;
  let residual = 0;
  let total = 0;
  for (const i of rows) {
    residual += (data.truth[i]! - data.predicted[i]!) ** 2;
    total += (data.truth[i]! - mean) ** 2;
  }
  return total === 0 ? Number.NaN : 1 - residual / total;
}

/** How many times a resample drew each position of a window (null: the window itself, each position once). */
export type DrawCounts = Uint32Array | null;

const countAt = (counts: DrawCounts, position: number): number => (counts === null ? 1 : counts[position]!);

/**
 * Several statistics of the same `n` rows, each with a percentile-bootstrap 95% interval, from ONE set of
 * resamples: exactly the resamples `bootstrap` draws (same seed, same draws, so the same multisets and the same
 * intervals), handed to every statistic as draw counts per position. A resample costs n draws and one weighted
 * pass per statistic, instead of a copied index array (and a sort, for ROC AUC) per statistic. `resample` is the
 * resample's number (-1: the window itself), for statistics that share work within one resample.
 */
export function bootstrapAll<K extends string>(n: number, statistics: Record<K, (counts: DrawCounts, resample: number) => number>): Record<K, Estimate> {
  const keys = Object.keys(statistics) as K[];
  const values = new Map<K, number>(keys.map((k) => [k, statistics[k](null, -1)]));
  const live = keys.filter((k) => n > 0 && Number.isFinite(values.get(k)!));
  const resampled = new Map<K, number[]>(live.map((k) => [k, []]));
  if (live.length > 0) {
    const random = seededRandom(BOOTSTRAP_SEED);
    const counts = new Uint32Array(n);
    for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
      counts.fill(0);
      for (let i = 0; i < n; i++) counts[Math.floor(random() * n)]!++;
      for (const k of live) {
        const v = statistics[k](counts, b);
        if (Number.isFinite(v)) resampled.get(k)!.push(v);
      }
    }
  }
  const out = {} as Record<K, Estimate>;
  for (const k of keys) {
    const value = values.get(k)!;
    const vs = resampled.get(k);
    if (!vs || vs.length < BOOTSTRAP_RESAMPLES / 2) out[k] = { value, n, lower: null, upper: null, interval: 'bootstrap' };
    else {
      vs.sort((a, b) => a - b);
      out[k] = { value, n, lower: quantile(vs, 0.025), upper: quantile(vs, 0.975), interval: 'bootstrap' };
    }
  }
  return out;
}

/** macroScores over a window's rows, each position counted as often as the resample drew it. */
export function macroScoresCounted(data: ClassificationData, rows: Uint32Array, counts: DrawCounts): { precision: number; recall: number; f1: number } {
  const k = data.classes.length;
  const tp = new Float64Array(k);
  const truthCount = new Float64Array(k);
  const predCount = new Float64Array(k);
  for (let position = 0; position < rows.length; position++) {
    const c = countAt(counts, position);
    if (c === 0) continue;
    const i = rows[position]!;
    const t = data.truth[i]!;
    const p = data.predicted[i]!;
    truthCount[t]! += c;
    predCount[p]! += c;
    if (t === p) tp[t]! += c;
  }
  let precision = 0;
  let recall = 0;
  let f1 = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    if (truthCount[c] === 0 && predCount[c] === 0) continue;
    present++;
    precision += predCount[c]! === 0 ? 0 : tp[c]! / predCount[c]!;
    recall += truthCount[c]! === 0 ? 0 : tp[c]! / truthCount[c]!;
    const denominator = truthCount[c]! + predCount[c]!;
    f1 += denominator === 0 ? 0 : (2 * tp[c]!) / denominator;
  }
  return present === 0
    ? { precision: Number.NaN, recall: Number.NaN, f1: Number.NaN }
    : { precision: precision / present, recall: recall / present, f1: f1 / present };
}

/** A window's positions sorted by score once, with where each run of tied scores ends: ROC AUC of any resample in one pass. */
export interface RankedScores {
  readonly order: Uint32Array;
  /** groupEnd[g] is one past the last position (in `order`) of tied group g. */
  readonly groupEnd: Uint32Array;
  readonly positive: Uint8Array;
}

export function rankScores(scores: Float64Array, rows: Uint32Array, positive: (row: number) => boolean): RankedScores {
  const order = Uint32Array.from({ length: rows.length }, (_, i) => i).sort((a, b) => scores[rows[a]!]! - scores[rows[b]!]!);
  const ends: number[] = [];
  for (let i = 1; i <= order.length; i++) if (i === order.length || scores[rows[order[i]!]!] !== scores[rows[order[i - 1]!]!]) ends.push(i);
  return { order, groupEnd: Uint32Array.from(ends), positive: Uint8Array.from(rows, (r) => (positive(r) ? 1 : 0)) };
}

/** rocAuc of the resample: each tied group's weight gets its average rank (Mann–Whitney, ties count half). */
export function rocAucCounted(ranked: RankedScores, counts: DrawCounts): number {
  let below = 0;
  let positives = 0;
  let rankSum = 0;
  let start = 0;
  for (const end of ranked.groupEnd) {
    let weight = 0;
    let positiveWeight = 0;
    for (let m = start; m < end; m++) {
      const position = ranked.order[m]!;
      const c = countAt(counts, position);
      weight += c;
      if (ranked.positive[position]) positiveWeight += c;
    }
    rankSum += positiveWeight * (below + (weight + 1) / 2);
    positives += positiveWeight;
    below += weight;
    start = end;
  }
  const negatives = below - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The weighted mean of per-position values (log loss, squared or absolute errors) over a resample. */
export function meanCounted(values: Float64Array, counts: DrawCounts): number {
  let sum = 0;
  let n = 0;
  for (let position = 0; position < values.length; position++) {
    const c = countAt(counts, position);
    if (c === 0) continue;
    sum += c * values[position]!;
    n += c;
  }
  return n === 0 ? Number.NaN : sum / n;
}

/** Negative log probability of the true class per position, clipped as scikit-learn: logLoss is its mean. */
export function logLosses(data: ClassificationData, rows: Uint32Array): Float64Array {
  const proba = data.proba!;
  const out = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k]!;
    out[k] = -Math.log(Math.min(Math.max(proba[data.truth[i]!]![i]!, EPS), 1 - EPS));
  }
  return out;
}

/** r2 of a resample: 1 − residual / total sum of squares around the resample's own mean. */
export function r2Counted(data: RegressionData, rows: Uint32Array, counts: DrawCounts): number {
  let n = 0;
  let mean = 0;
  for (let position = 0; position < rows.length; position++) {
    const c = countAt(counts, position);
    n += c;
    mean += c * data.truth[rows[position]!]!;
  }
  mean /= n;
  let residual = 0;
  let total = 0;
  for (let position = 0; position < rows.length; position++) {
    const c = countAt(counts, position);
    if (c === 0) continue;
    const i = rows[position]!;
    residual += c * (data.truth[i]! - data.predicted[i]!) ** 2;
    total += c * (data.truth[i]! - mean) ** 2;
  }
  return total === 0 ? Number.NaN : 1 - residual / total;
}

/**
 * Windows with at least this many labelled rows get normal 95% intervals from each statistic's influence values
 * (the delta method; DeLong's variance for ROC AUC) instead of the percentile bootstrap: at this size the two agree
 * (checked in test/unit/monitoring.performance.test.ts) and a bootstrap would cost 200 passes over every row.
 */
export const NORMAL_INTERVAL_ROWS = 20_000;

/**
 * value ± z · sqrt(Σ ψᵢ²) / n, from the influence value ψᵢ of each of the n rows (how much row i moves the
 * statistic, scaled so that Σψᵢ²/n² is the statistic's variance), clipped to the statistic's range.
 */
export function influenceInterval(
  value: number,
  psi: Float64Array,
  range: readonly [number, number] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
): Estimate {
  const n = psi.length;
  let sum = 0;
  if (n >= 2 && Number.isFinite(value)) for (let i = 0; i < n; i++) sum += psi[i]! * psi[i]!;
  return squaresInterval(value, n, sum, range);
}

/**
 * influenceInterval from Σψᵢ² summed in row order as it sums it (the same number), where the ψᵢ were made one at a
 * time and never kept: on a million rows each kept array of them is 8 MB more at the check's peak, and one more pass.
 */
export function squaresInterval(
  value: number,
  n: number,
  squares: number,
  range: readonly [number, number] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
): Estimate {
  if (n < 2 || !Number.isFinite(value)) return { value, n, lower: null, upper: null, interval: 'normal' };
  const half = (Z_95 * Math.sqrt(squares)) / n;
  return { value, n, lower: Math.max(range[0], value - half), upper: Math.min(range[1], value + half), interval: 'normal' };
}

/** Influence values of a mean: each value minus the mean. */
export function meanInfluence(values: Float64Array): { value: number; psi: Float64Array } {
  const value = meanOf(values);
  const psi = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) psi[i] = values[i]! - value;
  return { value, psi };
}

/** meanInfluence's value and the sum of its influence values' squares (in row order), without an array of them. */
export function meanSquares(values: Float64Array): { value: number; squares: number } {
  const value = meanOf(values);
  return { value, squares: squaresAround(values, value) };
}

function meanOf(values: Float64Array): number {
  return values.length === 0 ? Number.NaN : sumOf(values) / values.length;
}

// the loops alone, returning what they summed: no code after them that V8 compiled on the stack without type feedback
// (it threw that code away at the loop's exit, call after call)

function sumOf(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum;
}

/** Σ (value − mean)² in order. */
function squaresAround(values: Float64Array, mean: number): number {
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    const psi = values[i]! - mean;
    squares += psi * psi;
  }
  return squares;
}

/**
 * ROC AUC of `scores` over a window's rows with DeLong's structural components: V10 of a positive is the share of
 * negatives scored below it (ties half), V01 of a negative the share of positives above it. The influence values
 * are scaled so that Σψ²/n² is DeLong's variance S10/m + S01/(n − m). NaN with one class only. The scores are
 * grouped by scoreGroups (a radix sort carrying the positions; no comparator sort of the rows).
 */
export function aucInfluence(
  scores: Float64Array,
  rows: Uint32Array,
  positive: (row: number) => boolean,
  scratch?: AucScratch,
): { value: number; psi: Float64Array } {
  const psi = new Float64Array(rows.length);
  return { value: aucSquares(scores, rows, positive, scratch, psi).value, psi };
}

/**
 * The row-sized arrays of aucInfluence, made once at the size of the largest window and reused by every window (a
 * window's own would be garbage by the dozen megabytes before a collection frees them).
 */
export class AucScratch {
  readonly isPositive: Uint8Array;
  readonly sorted: Float64Array;
  readonly position: Uint32Array;
  readonly groupOf: Uint32Array;

  constructor(rows: number) {
    this.isPositive = new Uint8Array(rows);
    this.sorted = new Float64Array(rows);
    this.position = new Uint32Array(rows);
    this.groupOf = new Uint32Array(rows);
  }
}

/**
 * aucInfluence's value and the sum of its influence values' squares in row order (as influenceInterval sums them, when
 * the value is a number), each value written to `psi` when given: without it, no array of them (on the overall window
 * of a million-row check that array is 6.4 MB more at its peak).
 */
export function aucSquares(
  scores: Float64Array,
  rows: Uint32Array,
  positive: (row: number) => boolean,
  scratch?: AucScratch,
  psi?: Float64Array,
): { value: number; squares: number } {
  const n = rows.length;
  const isPositive = scratch ? scratch.isPositive.subarray(0, n) : new Uint8Array(n);
  const positives = markPositives(rows, positive, isPositive);
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return { value: Number.NaN, squares: 0 };
  const sorted = scratch ? scratch.sorted.subarray(0, n) : new Float64Array(n);
  gatherScores(scores, rows, sorted);
  const { distinct, groupOf, positivesIn, negativesIn } = scoreGroups(scores, rows, isPositive, sorted, scratch);
  const v10 = new Float64Array(distinct);
  const v01 = new Float64Array(distinct);
  const value = groupComponents({ positivesIn, negativesIn, positives, negatives, v10, v01 }) / positives;
  const positiveScale = positives > 1 ? n / Math.sqrt(positives * (positives - 1)) : 0;
  const negativeScale = negatives > 1 ? n / Math.sqrt(negatives * (negatives - 1)) : 0;
  const squares = aucInfluenceSquares({ groupOf, isPositive, v10, v01, value, positiveScale, negativeScale }, psi);
  return { value, squares };
}

// aucSquares' and scoreGroups' row loops, each in a function of its own: V8 compiled such a loop of a long function on
// the stack and threw that code away at the loop's exit (the code after it without type feedback), window after window

/** Marks each position of the window positive (1) or not (0); the number of positives. */
function markPositives(rows: Uint32Array, positive: (row: number) => boolean, isPositive: Uint8Array): number {
  let positives = 0;
  for (let i = 0; i < rows.length; i++)
    if (positive(rows[i]!)) {
      isPositive[i] = 1;
      positives++;
    } else isPositive[i] = 0;
  return positives;
}

/** The window's scores in position order (an explicit gather: Float64Array.from with a map function is ~10× slower). */
function gatherScores(scores: Float64Array, rows: Uint32Array, sorted: Float64Array): void {
  for (let i = 0; i < rows.length; i++) sorted[i] = scores[rows[i]!]!;
}

/** A window's groups of equal scores (ascending) and the arrays of DeLong's structural components to fill. */
interface AucGroups {
  readonly positivesIn: Uint32Array;
  readonly negativesIn: Uint32Array;
  readonly positives: number;
  readonly negatives: number;
  readonly v10: Float64Array;
  readonly v01: Float64Array;
}

/** Fills each group's V10 and V01; the sum of the positives' V10 (the AUC times the positives). */
function groupComponents(groups: AucGroups): number {
  const { positivesIn, negativesIn, positives, negatives, v10, v01 } = groups;
  let negativesBelow = 0;
  let positivesBelow = 0;
  let sum = 0;
  for (let g = 0; g < positivesIn.length; g++) {
    const p = positivesIn[g]!;
    const q = negativesIn[g]!;
    v10[g] = (negativesBelow + q / 2) / negatives;
    v01[g] = (positives - positivesBelow - p / 2) / positives;
    sum += p * v10[g]!;
    negativesBelow += q;
    positivesBelow += p;
  }
  return sum;
}

/** Each position's influence value on the AUC, written to `psi` when given; the sum of their squares in row order. */
function aucInfluenceSquares(
  components: {
    readonly groupOf: Uint32Array;
    readonly isPositive: Uint8Array;
    readonly v10: Float64Array;
    readonly v01: Float64Array;
    readonly value: number;
    readonly positiveScale: number;
    readonly negativeScale: number;
  },
  psi: Float64Array | undefined,
): number {
  const { groupOf, isPositive, v10, v01, value, positiveScale, negativeScale } = components;
  let squares = 0;
  for (let i = 0; i < groupOf.length; i++) {
    const g = groupOf[i]!;
    const influence = isPositive[i] ? (v10[g]! - value) * positiveScale : (v01[g]! - value) * negativeScale;
    squares += influence * influence;
    if (psi) psi[i] = influence;
  }
  return squares;
}

/**
 * The groups of equal scores of a window (ascending, −0 and +0 one group) as aucInfluence needs them: each position's
 * group and each group's positives and negatives. `sorted` holds the window's scores in position order and is used
 * up. Large windows: a radix sort carrying the positions, the groups the runs of equal values; otherwise (or with a
 * NaN) the native sort and a search of each position's score — the same groups either way.
 */
function scoreGroups(
  scores: Float64Array,
  rows: Uint32Array,
  isPositive: Uint8Array,
  sorted: Float64Array,
  scratch: AucScratch | undefined,
): { distinct: number; groupOf: Uint32Array; positivesIn: Uint32Array; negativesIn: Uint32Array } {
  const n = rows.length;
  const groupOf = scratch ? scratch.groupOf.subarray(0, n) : new Uint32Array(n);
  const position = scratch ? scratch.position.subarray(0, n) : new Uint32Array(n);
  numberPositions(position);
  if (sortNumbersCarrying(sorted, position)) {
    const distinct = groupRuns(sorted, position, groupOf);
    const positivesIn = new Uint32Array(distinct);
    const negativesIn = new Uint32Array(distinct);
    countByGroup(groupOf, isPositive, positivesIn, negativesIn);
    return { distinct, groupOf, positivesIn, negativesIn };
  }
  sorted.sort();
  let distinct = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[distinct++] = sorted[i]!;
  const values = sorted.subarray(0, distinct);
  const positivesIn = new Uint32Array(distinct);
  const negativesIn = new Uint32Array(distinct);
  // a row's group is searched among the groups of its bucket only: bucket(v) is monotone in v (a subtraction and a
  // product by a positive constant, then floor), so each bucket's values are one run of `values`, and a row's score —
  // one of `values` — is in its own bucket's run: the same group as a search of them all, in a step or two
  const buckets = Math.max(1, Math.min(distinct, 1 << 20));
  const low = values[0]!;
  const span = values[distinct - 1]! - low;
  const scale = span > 0 && Number.isFinite(span) ? buckets / span : 0;
  const bucketOf = (v: number): number => Math.min(buckets - 1, Math.floor((v - low) * scale));
  const bucketEnd = new Uint32Array(buckets + 1);
  for (let g = 0; g < distinct; g++) bucketEnd[bucketOf(values[g]!) + 1]!++;
  for (let b = 0; b < buckets; b++) bucketEnd[b + 1]! += bucketEnd[b]!;
  for (let i = 0; i < n; i++) {
    const x = scores[rows[i]!]!;
    const b = bucketOf(x);
    let lo = bucketEnd[b]!;
    let hi = bucketEnd[b + 1]! - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    groupOf[i] = lo;
    if (isPositive[i]) positivesIn[lo]!++;
    else negativesIn[lo]!++;
  }
  return { distinct, groupOf, positivesIn, negativesIn };
}

function numberPositions(position: Uint32Array): void {
  for (let i = 0; i < position.length; i++) position[i] = i;
}

/** Each position's group, the runs of equal values of `sorted` (carried along by `position`); the number of groups. */
function groupRuns(sorted: Float64Array, position: Uint32Array, groupOf: Uint32Array): number {
  let distinct = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct++;
    groupOf[position[i]!] = distinct - 1;
  }
  return distinct;
}

function countByGroup(groupOf: Uint32Array, isPositive: Uint8Array, positivesIn: Uint32Array, negativesIn: Uint32Array): void {
  for (let i = 0; i < groupOf.length; i++)
    if (isPositive[i]) positivesIn[groupOf[i]!]!++;
    else negativesIn[groupOf[i]!]!++;
}

/** Macro precision, recall and F1 with their influence values (delta method on each class's ratio of counts). */
export function macroScoresInfluence(
  data: ClassificationData,
  rows: Uint32Array,
): { precision: { value: number; psi: Float64Array }; recall: { value: number; psi: Float64Array }; f1: { value: number; psi: Float64Array } } {
  const n = rows.length;
  const psi = { precision: new Float64Array(n), recall: new Float64Array(n), f1: new Float64Array(n) };
  const m = macroScoresWalk(data, rows, psi);
  return {
    precision: { value: m.precision.value, psi: psi.precision },
    recall: { value: m.recall.value, psi: psi.recall },
    f1: { value: m.f1.value, psi: psi.f1 },
  };
}

/**
 * Macro precision, recall and F1 with the sums of their influence values' squares (for squaresInterval), no arrays
 * kept; and the rows whose prediction is their label (accuracyCount, from the same count).
 */
export function macroScoresSquares(
  data: ClassificationData,
  rows: Uint32Array,
): Record<'precision' | 'recall' | 'f1', { value: number; squares: number }> & { correct: number } {
  return macroScoresWalk(data, rows, undefined);
}

/**
 * Macro precision, recall and F1, and each row's influence value on each: summed as squares in row order, and written
 * to `psi` when given.
 */
function macroScoresWalk(
  data: ClassificationData,
  rows: Uint32Array,
  psi: Record<'precision' | 'recall' | 'f1', Float64Array> | undefined,
): Record<'precision' | 'recall' | 'f1', { value: number; squares: number }> & { correct: number } {
  const k = data.classes.length;
  const tp = new Float64Array(k);
  const truthCount = new Float64Array(k);
  const predCount = new Float64Array(k);
  countConfusion(data, rows, { tp, truthCount, predCount });
  const precisionOf = new Float64Array(k);
  const recallOf = new Float64Array(k);
  const f1Of = new Float64Array(k);
  let present = 0;
  let correct = 0;
  for (let c = 0; c < k; c++) {
    correct += tp[c]!;
    if (truthCount[c] === 0 && predCount[c] === 0) continue;
    present++;
    precisionOf[c] = predCount[c] === 0 ? 0 : tp[c]! / predCount[c]!;
    recallOf[c] = truthCount[c] === 0 ? 0 : tp[c]! / truthCount[c]!;
    f1Of[c] = (2 * tp[c]!) / (truthCount[c]! + predCount[c]!);
  }
  const mean = (xs: Float64Array): number => (present === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / present);
  const squares = new Float64Array(3);
  macroInfluenceSquares(data, rows, { truthCount, predCount, precisionOf, recallOf, f1Of, present }, squares, psi);
  return {
    precision: { value: mean(precisionOf), squares: squares[0]! },
    recall: { value: mean(recallOf), squares: squares[1]! },
    f1: { value: mean(f1Of), squares: squares[2]! },
    correct,
  };
}

// macroScoresWalk's two row loops, each in a function of its own: as one function, V8 compiled each loop on the stack
// and threw that code away at the loop's exit (the code after it without type feedback), window after window

/** A window's confusion counts by class: true positives, rows of each true class, rows of each predicted class. */
interface ConfusionCounts {
  readonly tp: Float64Array;
  readonly truthCount: Float64Array;
  readonly predCount: Float64Array;
}

function countConfusion(data: ClassificationData, rows: Uint32Array, counts: ConfusionCounts): void {
  const { truth, predicted } = data;
  const { tp, truthCount, predCount } = counts;
  for (let position = 0; position < rows.length; position++) {
    const i = rows[position]!;
    const t = truth[i]!;
    const p = predicted[i]!;
    truthCount[t]!++;
    predCount[p]!++;
    if (t === p) tp[t]!++;
  }
}

/** Each class's precision, recall and F1 over a window's rows, their counts, and the number of classes present. */
interface ClassScores {
  readonly truthCount: Float64Array;
  readonly predCount: Float64Array;
  readonly precisionOf: Float64Array;
  readonly recallOf: Float64Array;
  readonly f1Of: Float64Array;
  readonly present: number;
}

/**
 * Each row's influence values on macro precision, recall and F1: their squares summed in row order into `squares`
 * (0, 1, 2), the values written to `psi` when given.
 */
function macroInfluenceSquares(
  data: ClassificationData,
  rows: Uint32Array,
  scores: ClassScores,
  squares: Float64Array,
  psi: Record<'precision' | 'recall' | 'f1', Float64Array> | undefined,
): void {
  const { truth, predicted } = data;
  const { truthCount, predCount, precisionOf, recallOf, f1Of, present } = scores;
  const n = rows.length;
  let precisionSquares = 0;
  let recallSquares = 0;
  let f1Squares = 0;
  for (let position = 0; position < n; position++) {
    const i = rows[position]!;
    const t = truth[i]!;
    const p = predicted[i]!;
    const hit = t === p ? 1 : 0;
    // a row moves the precision of its predicted class, the recall of its true class, and the F1 of both
    const precision = ((hit - precisionOf[p]!) * (n / predCount[p]!)) / present;
    const recall = ((hit - recallOf[t]!) * (n / truthCount[t]!)) / present;
    const f1 =
      (t === p
        ? (2 - 2 * f1Of[t]!) * (n / (truthCount[t]! + predCount[t]!))
        : -f1Of[t]! * (n / (truthCount[t]! + predCount[t]!)) - f1Of[p]! * (n / (truthCount[p]! + predCount[p]!))) / present;
    precisionSquares += precision * precision;
    recallSquares += recall * recall;
    f1Squares += f1 * f1;
    if (psi) {
      psi.precision[position] = precision;
      psi.recall[position] = recall;
      psi.f1[position] = f1;
    }
  }
  squares[0] = precisionSquares;
  squares[1] = recallSquares;
  squares[2] = f1Squares;
}

/** RMSE, MAE and R² of a regression window with their influence values (delta method). */
export function regressionInfluence(data: RegressionData, rows: Uint32Array): Record<'rmse' | 'mae' | 'r2', { value: number; psi: Float64Array }> {
  const n = rows.length;
  const squared = Float64Array.from(rows, (i) => (data.truth[i]! - data.predicted[i]!) ** 2);
  const absolute = Float64Array.from(rows, (i) => Math.abs(data.truth[i]! - data.predicted[i]!));
  const mse = meanInfluence(squared);
  const rmseValue = Math.sqrt(mse.value);
  let mean = 0;
  for (const i of rows) mean += data.truth[i]!;
  mean /= n;
  const deviation = Float64Array.from(rows, (i) => (data.truth[i]! - mean) ** 2);
  const variance = meanInfluence(deviation);
  const r2Value = variance.value === 0 ? Number.NaN : 1 - mse.value / variance.value;
  // R² = 1 − MSE / Var(y): ψ = −(ψ_MSE − (MSE / Var) ψ_Var) / Var (the mean's own estimate moves Var only at second order)
  const r2Psi = new Float64Array(n);
  if (variance.value > 0) for (let k = 0; k < n; k++) r2Psi[k] = -(mse.psi[k]! - (mse.value / variance.value) * variance.psi[k]!) / variance.value;
  return {
    rmse: { value: rmseValue, psi: rmseValue === 0 ? new Float64Array(n) : mse.psi.map((v) => v / (2 * rmseValue)) },
    mae: meanInfluence(absolute),
    r2: { value: r2Value, psi: r2Psi },
  };
}
