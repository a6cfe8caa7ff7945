import { stableOrder } from '../drift/sortNumbers';
import { rocAucInOrder } from './statistics';

/** x values closer than this are one point, as scikit-learn's isotonic fit treats them (float64 resolution). */
const X_RESOLUTION = 1e-15;
/** Equal-count bins of the expected calibration error. */
const ECE_BINS = 10;
/** Folds of the calibrate-or-not check. */
const CHECK_FOLDS = 10;

/**
 * A fitted isotonic (monotone increasing) map from a score to a probability, clipped outside the fitted range:
 * the same fit and prediction as scikit-learn's `IsotonicRegression(out_of_bounds="clip", increasing=True)`.
 */
export interface IsotonicCalibrator {
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** Pool-adjacent-violators over points sorted by score (duplicates merged first, weighted by their count). */
export function fitIsotonic(scores: ArrayLike<number>, outcomes: ArrayLike<number>): IsotonicCalibrator {
  const n = scores.length;
  if (n === 0) throw new Error('isotonic calibration needs at least one row');
  // 0/1 outcomes (CBPE's): a point's outcome sum does not depend on the order of its tied rows, so any stable order
  // of the scores will do; other outcomes are summed in a fixed order (by outcome within a score)
  const order = zeroOne(outcomes)
    ? scoreOrder(scores)
    : Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || outcomes[a]! - outcomes[b]!);
  const sortedScores = new Float64Array(n);
  const sortedOutcomes = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    sortedScores[k] = scores[order[k]!]!;
    sortedOutcomes[k] = outcomes[order[k]!]!;
  }
  return new IsotonicFitter(n).fit(sortedScores, sortedOutcomes, undefined, -1);
}

function zeroOne(outcomes: ArrayLike<number>): boolean {
  for (let i = 0; i < outcomes.length; i++) if (outcomes[i] !== 0 && outcomes[i] !== 1) return false;
  return true;
}

/** The positions of `values` in ascending order, ties in position order (a stable sort). */
function scoreOrder(values: ArrayLike<number>): ArrayLike<number> {
  return stableOrder(values) ?? Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
}

/**
 * Isotonic fits of rows already sorted by score, with scratch space for up to `capacity` rows reused from fit to fit
 * (the calibration check makes eleven on the same rows).
 */
class IsotonicFitter {
  // the pooled blocks of pool-adjacent-violators, a stack: value, weight, how many points and the first and last
  // point's score
  private readonly blockValue: Float64Array;
  private readonly blockWeight: Float64Array;
  private readonly blockPoints: Int32Array;
  private readonly blockFirst: Float64Array;
  private readonly blockLast: Float64Array;
  private top = -1;

  constructor(capacity: number) {
    this.blockValue = new Float64Array(capacity);
    this.blockWeight = new Float64Array(capacity);
    this.blockPoints = new Int32Array(capacity);
    this.blockFirst = new Float64Array(capacity);
    this.blockLast = new Float64Array(capacity);
  }

  /**
   * The fit of the sorted rows whose fold is not `skip` (every row without folds). Equal scores are one point (their
   * mean outcome, weighted by how many), pooled as soon as it is complete.
   */
  fit(scores: Float64Array, outcomes: Float64Array, folds: Uint8Array | undefined, skip: number): IsotonicCalibrator {
    this.top = -1;
    let x = Number.NaN;
    let sum = 0;
    let weight = 0;
    for (let k = 0; k < scores.length; k++) {
      if (folds !== undefined && folds[k] === skip) continue;
      const score = scores[k]!;
      if (weight > 0 && score - x < X_RESOLUTION) {
        sum += outcomes[k]!;
        weight += 1;
      } else {
        if (weight > 0) this.pool(x, sum, weight);
        x = score;
        sum = outcomes[k]!;
        weight = 1;
      }
    }
    if (weight === 0) throw new Error('isotonic calibration needs at least one row');
    this.pool(x, sum, weight);
    // the blocks' values rise strictly: keeping each block's first and last point gives the same line for
    // interpolation with fewer points
    const { blockValue, blockPoints, blockFirst, blockLast, top } = this;
    let kept = 0;
    for (let b = 0; b <= top; b++) kept += blockPoints[b]! > 1 ? 2 : 1;
    const fittedX = new Float64Array(kept);
    const fittedY = new Float64Array(kept);
    let at = 0;
    for (let b = 0; b <= top; b++) {
      fittedX[at] = blockFirst[b]!;
      fittedY[at++] = blockValue[b]!;
      if (blockPoints[b]! > 1) {
        fittedX[at] = blockLast[b]!;
        fittedY[at++] = blockValue[b]!;
      }
    }
    return { x: fittedX, y: fittedY };
  }

  /** Pushes a point on the stack and pools the top blocks while they violate the order (weighted least squares). */
  private pool(x: number, sum: number, weight: number): void {
    const { blockValue, blockWeight, blockPoints, blockFirst, blockLast } = this;
    let top = ++this.top;
    blockValue[top] = sum / weight;
    blockWeight[top] = weight;
    blockPoints[top] = 1;
    blockFirst[top] = x;
    blockLast[top] = x;
    while (top > 0 && blockValue[top - 1]! >= blockValue[top]!) {
      const v = blockValue[top]!;
      const w = blockWeight[top]!;
      top--;
      const merged = blockWeight[top]! + w;
      blockValue[top] = (blockValue[top]! * blockWeight[top]! + v * w) / merged;
      blockWeight[top] = merged;
      blockPoints[top]! += blockPoints[top + 1]!;
      blockLast[top] = blockLast[top + 1]!;
    }
    this.top = top;
  }
}

/** Calibrated probability of one score: linear between fitted points, clipped to the fitted range. */
export function calibrate(calibrator: IsotonicCalibrator, score: number): number {
  const { x, y } = calibrator;
  if (x.length === 1 || score <= x[0]!) return y[0]!;
  const last = x.length - 1;
  if (score >= x[last]!) return y[last]!;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= score) lo = mid;
    else hi = mid;
  }
  return interpolate(calibrator, lo, score);
}

/** The fitted line at `score`, on the segment from point `lo` to the next (x[lo] ≤ score < x[lo + 1]). */
function interpolate({ x, y }: IsotonicCalibrator, lo: number, score: number): number {
  const t = (score - x[lo]!) / (x[lo + 1]! - x[lo]!);
  return y[lo]! + t * (y[lo + 1]! - y[lo]!);
}

/**
 * calibrate() of every score, the same values: the segment of a score inside the fitted range is found from a table
 * of where equal-width buckets of the range start, a step or two instead of a bisection of the fitted points.
 */
export function calibrateAll(calibrator: IsotonicCalibrator, scores: Float64Array): Float64Array {
  const { x } = calibrator;
  const n = scores.length;
  const out = new Float64Array(n);
  const last = x.length - 1;
  let increasing = last >= 2 && Number.isFinite(x[0]) && Number.isFinite(x[last]);
  for (let p = 1; increasing && p <= last; p++) increasing = x[p - 1]! < x[p]!;
  if (!increasing || n < 4 * x.length) {
    for (let i = 0; i < n; i++) out[i] = calibrate(calibrator, scores[i]!);
    return out;
  }
  const first = x[0]!;
  const end = x[last]!;
  const buckets = Math.min(1 << 16, 2 * x.length);
  const scale = buckets / (end - first);
  // start[b]: the last point at or below the bucket's left edge (a guess the walks below correct if rounding missed)
  const start = new Int32Array(buckets);
  for (let b = 0, lo = 0; b < buckets; b++) {
    const edge = first + b / scale;
    while (lo + 1 < last && x[lo + 1]! <= edge) lo++;
    start[b] = lo;
  }
  for (let i = 0; i < n; i++) {
    const score = scores[i]!;
    if (!(score > first && score < end)) {
      out[i] = calibrate(calibrator, score);
      continue;
    }
    let lo = start[Math.min(buckets - 1, Math.floor((score - first) * scale))]!;
    while (x[lo + 1]! <= score) lo++;
    while (x[lo]! > score) lo--;
    out[i] = interpolate(calibrator, lo, score);
  }
  return out;
}

/** Expected calibration error over equal-count bins of the rows sorted by score (NannyML's definition). */
export function expectedCalibrationError(scores: ArrayLike<number>, outcomes: ArrayLike<number>, bins = ECE_BINS): number {
  return binnedError(scores, outcomes, scoreOrder(scores), bins);
}

/** The expected calibration error of the rows taken in `order` (ascending scores). */
function binnedError(scores: ArrayLike<number>, outcomes: ArrayLike<number>, order: ArrayLike<number>, bins = ECE_BINS): number {
  const n = scores.length;
  let count = bins;
  if (n <= 2 * count) count = Math.floor(n / 2);
  if (count < 2) return Number.NaN;
  const width = Math.floor(n / count);
  let ece = 0;
  for (let b = 0; b < count; b++) {
    const from = b * width;
    const to = b === count - 1 ? n : (b + 1) * width;
    let sumScore = 0;
    let sumOutcome = 0;
    for (let k = from; k < to; k++) {
      sumScore += scores[order[k]!]!;
      sumOutcome += outcomes[order[k]!]!;
    }
    const size = to - from;
    ece += (size / n) * Math.abs(sumScore / size - sumOutcome / size);
  }
  return ece;
}

export interface CalibrationCheck {
  /** Whether isotonic calibration lowered the held-out expected calibration error. */
  readonly helps: boolean;
  readonly ece_before: number;
  readonly ece_after: number;
  readonly reason?: string;
}

/**
 * Does calibrating these scores help? Held-out ECE before and after an isotonic fit, over stratified folds.
 * NannyML asks the same question with ten random 90/10 shuffle splits (seed 42); mloop uses ten deterministic
 * stratified folds (row k of each class goes to fold k mod 10), so the answer does not depend on a random generator.
 */
export function checkCalibration(scores: ArrayLike<number>, outcomes: ArrayLike<number>): CalibrationCheck {
  return checkAndFit(scores, outcomes, () => false).check;
}

/**
 * checkCalibration, and the isotonic fit on every row when `fit` says so given the check: one sort of the scores
 * serves the ROC AUC, the held-out ECE before, the ten folds' fits and their held-out calibration, and the last fit.
 */
export function checkAndFit(
  scores: ArrayLike<number>,
  outcomes: ArrayLike<number>,
  fit: (check: CalibrationCheck) => boolean,
): { check: CalibrationCheck; calibrator: IsotonicCalibrator | null } {
  const n = scores.length;
  const fitted = (check: CalibrationCheck, sorted?: SortedRows): { check: CalibrationCheck; calibrator: IsotonicCalibrator | null } => ({
    check,
    calibrator: !fit(check) ? null : sorted ? new IsotonicFitter(n).fit(sorted.scores, sorted.outcomes, undefined, -1) : fitIsotonic(scores, outcomes),
  });
  let positives = 0;
  for (let i = 0; i < n; i++) if (outcomes[i] === 1) positives++;
  if (positives === 0 || positives === n)
    return fitted({ helps: false, ece_before: Number.NaN, ece_after: Number.NaN, reason: 'one class only in the reference' });
  const sorted = sortHeldOut(scores, outcomes);
  const auc = rocAucInOrder(sorted.heldScores, (at) => sorted.heldOutcomes[at] === 1, sorted.order);
  if (auc > 0.999)
    return fitted({ helps: false, ece_before: Number.NaN, ece_after: Number.NaN, reason: `ROC AUC ${auc.toFixed(4)} > 0.999: nothing to calibrate` }, sorted);
  const { heldScores, heldOutcomes, order, folds, foldSize } = sorted;
  // every row is held out once; each fold's rows come in ascending score in the sorted rows, so the segment of the
  // fitted line a score falls on is found by walking forward (the bisection of calibrate() finds the same segment)
  const heldCalibrated = new Float64Array(n);
  const fitter = new IsotonicFitter(n);
  for (let f = 0; f < CHECK_FOLDS; f++) {
    if (foldSize[f] === 0) continue;
    if (foldSize[f] === n) return fitted({ helps: false, ece_before: Number.NaN, ece_after: Number.NaN, reason: 'too few rows to check' }, sorted);
    const calibrator = fitter.fit(sorted.scores, sorted.outcomes, folds, f);
    const { x, y } = calibrator;
    const last = x.length - 1;
    let lo = 0;
    for (let k = 0; k < n; k++) {
      if (folds[k] !== f) continue;
      const score = sorted.scores[k]!;
      let value: number;
      if (last === 0 || score <= x[0]!) value = y[0]!;
      else if (score >= x[last]!) value = y[last]!;
      else {
        while (x[lo + 1]! <= score) lo++;
        value = interpolate(calibrator, lo, score);
      }
      heldCalibrated[order[k]!] = value;
    }
  }
  const before = binnedError(heldScores, heldOutcomes, order);
  const after = expectedCalibrationError(heldCalibrated, heldOutcomes);
  const check =
    !Number.isFinite(before) || !Number.isFinite(after)
      ? { helps: false, ece_before: before, ece_after: after, reason: 'too few rows to check' }
      : { helps: before > after, ece_before: before, ece_after: after };
  return fitted(check, sorted);
}

/** The rows held out fold by fold (rows in order within a fold), and the same rows sorted by score, stably. */
interface SortedRows {
  /** Per held-out position: the row's score and outcome. */
  readonly heldScores: Float64Array;
  readonly heldOutcomes: Float64Array;
  /** order[k]: the held-out position of the k-th smallest score. */
  readonly order: ArrayLike<number>;
  /** Per sorted position: score, outcome and fold. */
  readonly scores: Float64Array;
  readonly outcomes: Float64Array;
  readonly folds: Uint8Array;
  readonly foldSize: Uint32Array;
}

function sortHeldOut(scores: ArrayLike<number>, outcomes: ArrayLike<number>): SortedRows {
  const n = scores.length;
  const fold = new Uint8Array(n);
  const seen = [0, 0];
  const foldSize = new Uint32Array(CHECK_FOLDS);
  for (let i = 0; i < n; i++) {
    const cls = outcomes[i] === 1 ? 1 : 0;
    fold[i] = seen[cls]! % CHECK_FOLDS;
    seen[cls]!++;
    foldSize[fold[i]!]!++;
  }
  const next = new Uint32Array(CHECK_FOLDS);
  for (let f = 1; f < CHECK_FOLDS; f++) next[f] = next[f - 1]! + foldSize[f - 1]!;
  const heldScores = new Float64Array(n);
  const heldOutcomes = new Float64Array(n);
  const heldFolds = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = next[fold[i]!]!++;
    heldScores[at] = scores[i]!;
    heldOutcomes[at] = outcomes[i]!;
    heldFolds[at] = fold[i]!;
  }
  // stable in held-out order: the order expectedCalibrationError gives the held-out rows, for the ECE before
  const order = scoreOrder(heldScores);
  const sortedScores = new Float64Array(n);
  const sortedOutcomes = new Float64Array(n);
  const folds = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const at = order[k]!;
    sortedScores[k] = heldScores[at]!;
    sortedOutcomes[k] = heldOutcomes[at]!;
    folds[k] = heldFolds[at]!;
  }
  return { heldScores, heldOutcomes, order, scores: sortedScores, outcomes: sortedOutcomes, folds, foldSize };
}
