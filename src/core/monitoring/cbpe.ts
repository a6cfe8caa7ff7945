import { calibrateAll, checkAndFit, type CalibrationCheck, type IsotonicCalibrator } from './calibration';
import type { EstimatedMetric } from './configSchema';

/**
 * Confidence-based performance estimation (CBPE): a classifier's accuracy, precision, recall and F1 on predictions
 * whose labels have not arrived, from its own (calibrated) class probabilities — the algorithm of NannyML's CBPE,
 * checked against NannyML in test/unit/monitoring.cbpe.test.ts. Calibration and the sampling error are fitted on a
 * reference period with labels.
 */

type CbpeMetric = EstimatedMetric;
/** The band is the estimate ± this many sampling errors (NannyML's SAMPLING_ERROR_RANGE), clipped to [0, 1]. */
export const SAMPLING_ERROR_RANGE = 3;

export type CalibrationMode = 'auto' | 'isotonic' | 'none';

/** Predictions as class indices into `classes` (-1: a class the probabilities do not cover) with one probability column per class. */
export interface ScoredPredictions {
  readonly predicted: Int32Array;
  /** proba[c][row]: the logged probability of classes[c]. */
  readonly proba: readonly Float64Array[];
}

export interface CbpeReference extends ScoredPredictions {
  /** Sorted as scikit-learn sorts labels; with two, the second is the positive class. */
  readonly classes: readonly string[];
  readonly truth: Int32Array;
}

interface ClassComponent {
  readonly variance: number;
  readonly fraction: number;
}

/** What the reference taught: the calibrators, and the spread of each metric's per-row terms for the sampling error. */
export interface CbpeModel {
  readonly classes: readonly string[];
  /** Per class: its isotonic calibrator, or null when calibration does not help (or is off). Binary: one, for the positive class. */
  readonly calibrators: readonly (IsotonicCalibrator | null)[];
  readonly calibration: readonly (CalibrationCheck & { readonly class: string; readonly applied: boolean })[];
  readonly accuracyStd: number;
  readonly precision: readonly ClassComponent[];
  readonly recall: readonly ClassComponent[];
  readonly f1: readonly ClassComponent[];
  /** The metrics realised on the reference (its labels): what an estimate is compared with. */
  readonly reference: Readonly<Record<CbpeMetric, number>> & { readonly n: number };
}

export interface CbpeEstimate {
  readonly value: number;
  readonly sampling_error: number | null;
  readonly lower: number | null;
  readonly upper: number | null;
}

export interface CbpeWindowEstimate {
  readonly n: number;
  readonly metrics: Readonly<Record<CbpeMetric, CbpeEstimate>>;
  /** Per class (one-vs-rest): estimated precision, recall and F1. */
  readonly per_class: readonly { readonly class: string; readonly precision: number; readonly recall: number; readonly f1: number }[];
}

/**
 * Fits calibration and sampling-error components on labelled reference predictions. `mode` may instead give the
 * decision per calibrated class (binary: the positive class only), as the NannyML comparison does.
 */
export function fitCbpe(reference: CbpeReference, mode: CalibrationMode | readonly boolean[] = 'auto'): CbpeModel {
  const { classes, truth, predicted } = reference;
  const k = classes.length;
  if (k < 2) throw new Error(`CBPE needs at least two classes; the reference has ${k}`);
  const n = truth.length;
  if (n === 0) throw new Error('CBPE needs a reference with labelled predictions; it has no rows');
  const binary = k === 2;
  const calibrated = binary ? [1] : classes.map((_, c) => c);
  const calibrators: (IsotonicCalibrator | null)[] = [];
  const calibration: CbpeModel['calibration'][number][] = [];
  for (const [at, c] of calibrated.entries()) {
    const scores = reference.proba[c]!;
    const outcomes = new Float64Array(n);
    for (let i = 0; i < n; i++) outcomes[i] = truth[i] === c ? 1 : 0;
    const { check, calibrator } = checkAndFit(scores, outcomes, (check) =>
      typeof mode === 'object' ? mode[at] === true : mode === 'isotonic' || (mode === 'auto' && check.helps),
    );
    calibrators[c] = calibrator;
    calibration.push({ ...check, class: classes[c]!, applied: calibrator !== null });
  }
  if (binary) calibrators[0] = null;
  let correct = 0;
  for (let i = 0; i < n; i++) if (truth[i] === predicted[i]) correct++;
  const accuracy = correct / n;
  const precision: ClassComponent[] = [];
  const recall: ClassComponent[] = [];
  const f1: ClassComponent[] = [];
  const realised = { precision: 0, recall: 0, f1: 0 };
  for (let c = 0; c < k; c++) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < n; i++) {
      const isTrue = truth[i] === c;
      const isPred = predicted[i] === c;
      if (isTrue && isPred) tp++;
      else if (isPred) fp++;
      else if (isTrue) fn++;
    }
    // the per-row terms are 1 for a true positive and 0 for the errors that metric counts
    precision.push({ variance: bernoulliVariance(tp, tp + fp), fraction: (tp + fp) / n });
    recall.push({ variance: bernoulliVariance(tp, tp + fn), fraction: (tp + fn) / n });
    f1.push({ variance: bernoulliVariance(tp, tp + fp + fn), fraction: (tp + fp + fn) / n });
    realised.precision += tp + fp === 0 ? 0 : tp / (tp + fp);
    realised.recall += tp + fn === 0 ? 0 : tp / (tp + fn);
    realised.f1 += tp + fp + fn === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  }
  return {
    classes,
    calibrators,
    calibration,
    accuracyStd: Math.sqrt(accuracy * (1 - accuracy)),
    precision,
    recall,
    f1,
    reference: { n, accuracy, precision_macro: realised.precision / k, recall_macro: realised.recall / k, f1_macro: realised.f1 / k },
  };
}

/** Population variance of `ones` ones among `count` terms (NaN without terms). */
function bernoulliVariance(ones: number, count: number): number {
  if (count === 0) return Number.NaN;
  const p = ones / count;
  return p * (1 - p);
}

/** The calibrated probability columns of these predictions (multiclass: each class calibrated, rows renormalised). */
export function calibratedProbabilities(model: CbpeModel, scored: ScoredPredictions): Float64Array[] {
  const k = model.classes.length;
  const n = scored.predicted.length;
  const calibratedColumn = (c: number): Float64Array => {
    const calibrator = model.calibrators[c];
    const column = scored.proba[c]!;
    return calibrator ? calibrateAll(calibrator, column) : Float64Array.from(column);
  };
  if (k === 2) {
    const p1 = calibratedColumn(1);
    const p0 = new Float64Array(n);
    for (let i = 0; i < n; i++) p0[i] = 1 - p1[i]!;
    return [p0, p1];
  }
  const columns = model.classes.map((_, c) => calibratedColumn(c));
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < k; c++) sum += columns[c]![i]!;
    for (let c = 0; c < k; c++) columns[c]![i] = sum === 0 ? 1 / k : columns[c]![i]! / sum;
  }
  return columns;
}

/** Estimated metrics of one window of predictions, each with its sampling error and band. */
export function estimateWindow(model: CbpeModel, scored: ScoredPredictions): CbpeWindowEstimate {
  return estimateWindows(model, scored, new Int32Array(scored.predicted.length), Int32Array.of(0), 1)[0]!;
}

/**
 * estimateWindow of each of `windows` windows, in one pass over the rows: row i belongs to window
 * windowOfCode[codes[i]] (none when the code is negative or maps to -1). Each window's sums are added in row order,
 * as estimateWindow on that window's rows alone adds them.
 */
export function estimateWindows(
  model: CbpeModel,
  scored: ScoredPredictions,
  codes: Int32Array,
  windowOfCode: Int32Array,
  windows: number,
): CbpeWindowEstimate[] {
  const sums = new CbpeWindowSums(model.classes.length);
  sums.add(calibratedProbabilities(model, scored), scored.predicted, codes, windowOfCode);
  return sums.estimates(
    model,
    Array.from({ length: windows }, (_, w) => w),
  );
}

/**
 * The sums CBPE's estimates of windows are made of (per window: rows, expected correct, per class the expected true
 * positives, false positives and false negatives), added row by row as rows come: rows added batch after batch in
 * row order make the same sums, in the same order of addition, as the rows added at once.
 */
export class CbpeWindowSums {
  private rows = new Float64Array(0);
  private expectedCorrect = new Float64Array(0);
  // per window w and class c at w * k + c
  private tp = new Float64Array(0);
  private fp = new Float64Array(0);
  private fn = new Float64Array(0);

  constructor(private readonly k: number) {}

  /**
   * Rows with their calibrated probabilities (calibratedProbabilities) and predicted classes: row i goes to window
   * windowOfCode[codes[i]] (none when the code is negative or maps to -1).
   */
  add(proba: readonly Float64Array[], predicted: Int32Array, codes: Int32Array, windowOfCode: Int32Array): void {
    const { k } = this;
    let last = -1;
    for (let code = 0; code < windowOfCode.length; code++) last = Math.max(last, windowOfCode[code]!);
    this.reserve(last + 1);
    const { rows, expectedCorrect, tp, fp, fn } = this;
    for (let i = 0; i < predicted.length; i++) {
      const code = codes[i]!;
      const w = code < 0 ? -1 : (windowOfCode[code] ?? -1);
      if (w < 0) continue;
      rows[w]!++;
      const predictedClass = predicted[i]!;
      if (predictedClass >= 0) expectedCorrect[w]! += proba[predictedClass]![i]!;
      for (let c = 0, at = w * k; c < k; c++, at++) {
        const p = proba[c]![i]!;
        if (predictedClass === c) {
          tp[at]! += p;
          fp[at]! += 1 - p;
        } else fn[at]! += p;
      }
    }
  }

  /** Room for the sums of windows 0 … windows - 1 (their number grows as a log's windows are first seen). */
  private reserve(windows: number): void {
    if (windows <= this.rows.length) return;
    const grown = (from: Float64Array, length: number): Float64Array<ArrayBuffer> => {
      const to = new Float64Array(length);
      to.set(from);
      return to;
    };
    this.rows = grown(this.rows, windows);
    this.expectedCorrect = grown(this.expectedCorrect, windows);
    this.tp = grown(this.tp, windows * this.k);
    this.fp = grown(this.fp, windows * this.k);
    this.fn = grown(this.fn, windows * this.k);
  }

  /** The estimates of these windows (a window no row went to: n 0). */
  estimates(model: CbpeModel, windows: readonly number[]): CbpeWindowEstimate[] {
    const { k } = this;
    this.reserve(Math.max(0, ...windows.map((w) => w + 1)));
    const { rows, expectedCorrect, tp, fp, fn } = this;
    const band = (value: number, error: number | null): CbpeEstimate => ({
      value,
      sampling_error: error,
      lower: error === null ? null : Math.max(0, value - SAMPLING_ERROR_RANGE * error),
      upper: error === null ? null : Math.min(1, value + SAMPLING_ERROR_RANGE * error),
    });
    return windows.map((w): CbpeWindowEstimate => {
      const n = w < 0 ? 0 : rows[w]!;
      const perClass: { class: string; precision: number; recall: number; f1: number }[] = [];
      for (let c = 0, at = w * k; c < k; c++, at++) {
        const [t, f, m] = w < 0 ? [0, 0, 0] : [tp[at]!, fp[at]!, fn[at]!];
        perClass.push({
          class: model.classes[c]!,
          precision: t + f === 0 ? 0 : t / (t + f),
          recall: t + m === 0 ? 0 : t / (t + m),
          f1: t + 0.5 * (f + m) === 0 ? 0 : t / (t + 0.5 * (f + m)),
        });
      }
      const mean = (pick: (r: (typeof perClass)[number]) => number): number => perClass.reduce((s, r) => s + pick(r), 0) / k;
      return {
        n,
        metrics: {
          accuracy: band(n === 0 ? Number.NaN : expectedCorrect[w]! / n, n === 0 ? null : model.accuracyStd / Math.sqrt(n)),
          precision_macro: band(
            mean((r) => r.precision),
            macroSamplingError(model.precision, n),
          ),
          recall_macro: band(
            mean((r) => r.recall),
            macroSamplingError(model.recall, n),
          ),
          f1_macro: band(
            mean((r) => r.f1),
            macroSamplingError(model.f1, n),
          ),
        },
        per_class: perClass,
      };
    });
  }
}

/** NannyML's standard error of a macro mean: √(Σ_c var_c / (n · fraction_c)) / k; null when a class has no terms. */
function macroSamplingError(components: readonly ClassComponent[], n: number): number | null {
  if (n === 0) return null;
  let sum = 0;
  for (const c of components) {
    if (!Number.isFinite(c.variance) || c.fraction === 0) return null;
    sum += c.variance / (n * c.fraction);
  }
  return Math.sqrt(sum) / components.length;
}
