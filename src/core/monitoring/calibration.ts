import { sortNumbers, sortNumbersCarrying, stableOrder } from '../drift/sortNumbers';
import { rocAuc } from './statistics';

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
  const split = splitByOutcome(scores, outcomes);
  if (split) return isotonicOfSplit(split[0], split[1]);
  const points = new IsotonicPoints(n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || outcomes[a]! - outcomes[b]!);
  for (const i of order) points.add(scores[i]!, outcomes[i]!);
  return points.fit();
}

/**
 * The isotonic fit of 0/1 outcomes (CBPE's) from the scores of each outcome, each sorted: walked together they give
 * the points in the same order as sorting the rows by score, and a point's outcome sum does not depend on the order
 * within it.
 */
function isotonicOfSplit(zeros: Float64Array, ones: Float64Array): IsotonicCalibrator {
  if (zeros.length + ones.length === 0) throw new Error('isotonic calibration needs at least one row');
  const points = new IsotonicPoints(zeros.length + ones.length);
  let i = 0;
  let j = 0;
  while (i < zeros.length || j < ones.length) {
    if (j >= ones.length || (i < zeros.length && zeros[i]! <= ones[j]!)) points.add(zeros[i++]!, 0);
    else points.add(ones[j++]!, 1);
  }
  return points.fit();
}

/** The points of an isotonic fit, added in score order: equal scores merged (their mean outcome, weighted by how many). */
class IsotonicPoints {
  private readonly ux: Float64Array;
  private readonly uy: Float64Array;
  private readonly uw: Float64Array;
  private points = 0;

  constructor(n: number) {
    this.ux = new Float64Array(n);
    this.uy = new Float64Array(n);
    this.uw = new Float64Array(n);
  }

  add(x: number, outcome: number): void {
    const last = this.points - 1;
    if (last >= 0 && x - this.ux[last]! < X_RESOLUTION) {
      this.uy[last]! += outcome;
      this.uw[last]! += 1;
    } else {
      this.ux[this.points] = x;
      this.uy[this.points] = outcome;
      this.uw[this.points] = 1;
      this.points++;
    }
  }

  fit(): IsotonicCalibrator {
    const { ux, uy, uw, points } = this;
    for (let k = 0; k < points; k++) uy[k] = uy[k]! / uw[k]!;
    const fitted = poolAdjacentViolators(uy.subarray(0, points), uw.subarray(0, points));
    // keep only the ends of each constant run: the same line for interpolation, fewer points
    const keepX: number[] = [];
    const keepY: number[] = [];
    for (let k = 0; k < fitted.length; k++) {
      const interior = k > 0 && k < fitted.length - 1;
      if (!interior || fitted[k] !== fitted[k - 1] || fitted[k] !== fitted[k + 1]) {
        keepX.push(ux[k]!);
        keepY.push(fitted[k]!);
      }
    }
    return { x: Float64Array.from(keepX), y: Float64Array.from(keepY) };
  }
}

/**
 * The scores of each outcome sorted once with the fold of each score, for the check's ten fits: a fold's training
 * scores are the sorted scores without that fold's — sorted already, and the very arrays sorting the training rows'
 * scores would give (a sort's result depends on the values only). Undefined when an outcome is not 0/1, a score is
 * NaN or the scores are too few for the radix sort: each fold is then fitted from its rows.
 */
function sortedWithFolds(
  scores: ArrayLike<number>,
  outcomes: ArrayLike<number>,
  fold: Uint8Array,
): { zeros: Float64Array; zeroFolds: Uint32Array; ones: Float64Array; oneFolds: Uint32Array } | undefined {
  const n = scores.length;
  let ones = 0;
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    if (o === 1) ones++;
    else if (o !== 0) return undefined;
  }
  const zero = new Float64Array(n - ones);
  const one = new Float64Array(ones);
  const zeroFolds = new Uint32Array(n - ones);
  const oneFolds = new Uint32Array(ones);
  let z = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (outcomes[i] === 1) {
      oneFolds[k] = fold[i]!;
      one[k++] = scores[i]!;
    } else {
      zeroFolds[z] = fold[i]!;
      zero[z++] = scores[i]!;
    }
  }
  if (!sortNumbersCarrying(zero, zeroFolds) || !sortNumbersCarrying(one, oneFolds)) return undefined;
  return { zeros: zero, zeroFolds, ones: one, oneFolds };
}

/** The values whose fold is not f, in order. */
function withoutFold(values: Float64Array, folds: Uint32Array, f: number, size: number): Float64Array {
  const out = new Float64Array(size);
  let at = 0;
  for (let i = 0; i < values.length; i++) if (folds[i] !== f) out[at++] = values[i]!;
  return out;
}

/** The scores of the rows whose outcome is 0 and of those whose outcome is 1, each sorted; undefined when an outcome is neither or a score is NaN. */
function splitByOutcome(scores: ArrayLike<number>, outcomes: ArrayLike<number>): [Float64Array, Float64Array] | undefined {
  const n = scores.length;
  let ones = 0;
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    if (o === 1) ones++;
    else if (o !== 0) return undefined;
    if (Number.isNaN(scores[i])) return undefined;
  }
  const zero = new Float64Array(n - ones);
  const one = new Float64Array(ones);
  let z = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (outcomes[i] === 1) one[k++] = scores[i]!;
    else zero[z++] = scores[i]!;
  }
  return [sortNumbers(zero), sortNumbers(one)];
}

/** The weighted least-squares increasing fit of `values` (blocks pooled until no adjacent pair violates the order). */
function poolAdjacentViolators(values: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const blockValue: number[] = [];
  const blockWeight: number[] = [];
  const blockSize: number[] = [];
  for (let i = 0; i < values.length; i++) {
    blockValue.push(values[i]!);
    blockWeight.push(weights[i]!);
    blockSize.push(1);
    while (blockValue.length > 1 && blockValue[blockValue.length - 2]! >= blockValue[blockValue.length - 1]!) {
      const v = blockValue.pop()!;
      const w = blockWeight.pop()!;
      const s = blockSize.pop()!;
      const top = blockValue.length - 1;
      const merged = blockWeight[top]! + w;
      blockValue[top] = (blockValue[top]! * blockWeight[top]! + v * w) / merged;
      blockWeight[top] = merged;
      blockSize[top]! += s;
    }
  }
  const out = new Float64Array(values.length);
  let at = 0;
  for (let b = 0; b < blockValue.length; b++) for (let s = 0; s < blockSize[b]!; s++) out[at++] = blockValue[b]!;
  return out;
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
  const t = (score - x[lo]!) / (x[hi]! - x[lo]!);
  return y[lo]! + t * (y[hi]! - y[lo]!);
}

/** Expected calibration error over equal-count bins of the rows sorted by score (NannyML's definition). */
export function expectedCalibrationError(scores: ArrayLike<number>, outcomes: ArrayLike<number>, bins = ECE_BINS): number {
  const n = scores.length;
  let count = bins;
  if (n <= 2 * count) count = Math.floor(n / 2);
  if (count < 2) return Number.NaN;
  const order = stableOrder(scores) ?? Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
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
  const n = scores.length;
  const positives = Array.from(outcomes).filter((o) => o === 1).length;
  if (positives === 0 || positives === n) return { helps: false, ece_before: Number.NaN, ece_after: Number.NaN, reason: 'one class only in the reference' };
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  const auc = rocAuc(Float64Array.from(scores), (row) => outcomes[row] === 1, all);
  if (auc > 0.999) return { helps: false, ece_before: Number.NaN, ece_after: Number.NaN, reason: `ROC AUC ${auc.toFixed(4)} > 0.999: nothing to calibrate` };
  const fold = new Uint8Array(n);
  const seen = [0, 0];
  for (let i = 0; i < n; i++) {
    const cls = outcomes[i] === 1 ? 1 : 0;
    fold[i] = seen[cls]! % CHECK_FOLDS;
    seen[cls]!++;
  }
  const foldSize = new Uint32Array(CHECK_FOLDS);
  for (let i = 0; i < n; i++) foldSize[fold[i]!]!++;
  // every row is held out once: typed arrays filled in the order the folds hold them out
  const heldScores = new Float64Array(n);
  const heldOutcomes = new Float64Array(n);
  const heldCalibrated = new Float64Array(n);
  let held = 0;
  const sorted = sortedWithFolds(scores, outcomes, fold);
  // each fold's training rows per outcome (the fold sizes per outcome, for the sorted path)
  const foldOnes = new Uint32Array(CHECK_FOLDS);
  for (let i = 0; i < n; i++) if (outcomes[i] === 1) foldOnes[fold[i]!]!++;
  for (let f = 0; f < CHECK_FOLDS; f++) {
    const testSize = foldSize[f]!;
    const test = new Uint32Array(testSize);
    let tested = 0;
    for (let i = 0; i < n; i++) if (fold[i] === f) test[tested++] = i;
    if (test.length === 0 || n - testSize === 0) continue;
    let fitted: IsotonicCalibrator;
    if (sorted) {
      const ones = sorted.ones.length - foldOnes[f]!;
      fitted = isotonicOfSplit(withoutFold(sorted.zeros, sorted.zeroFolds, f, n - testSize - ones), withoutFold(sorted.ones, sorted.oneFolds, f, ones));
    } else {
      const trainScores = new Float64Array(n - testSize);
      const trainOutcomes = new Float64Array(n - testSize);
      let trained = 0;
      for (let i = 0; i < n; i++)
        if (fold[i] !== f) {
          trainScores[trained] = scores[i]!;
          trainOutcomes[trained++] = outcomes[i]!;
        }
      fitted = fitIsotonic(trainScores, trainOutcomes);
    }
    for (const i of test) {
      heldScores[held] = scores[i]!;
      heldOutcomes[held] = outcomes[i]!;
      heldCalibrated[held++] = calibrate(fitted, scores[i]!);
    }
  }
  const before = expectedCalibrationError(heldScores.subarray(0, held), heldOutcomes.subarray(0, held));
  const after = expectedCalibrationError(heldCalibrated.subarray(0, held), heldOutcomes.subarray(0, held));
  if (!Number.isFinite(before) || !Number.isFinite(after)) return { helps: false, ece_before: before, ece_after: after, reason: 'too few rows to check' };
  return { helps: before > after, ece_before: before, ece_after: after };
}
