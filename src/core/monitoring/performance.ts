import type { CellValue } from '../datasets/readers';
import type { Bound, PerformanceThresholds } from './configSchema';
import { LOWER_IS_BETTER, PERFORMANCE_METRICS, type PerformanceMetric } from './metricNames';
import { MonitoringInputError, ValueCodes, type CodedLabelled, type LabelledPredictions } from './labels';
import {
  accuracyCount,
  aucInfluence,
  aucSquares,
  AucScratch,
  bootstrapAll,
  influenceInterval,
  macroScoresSquares,
  meanSquares,
  oneVsRest,
  NORMAL_INTERVAL_ROWS,
  regressionInfluence,
  logLosses,
  macroScoresCounted,
  meanCounted,
  proportion,
  r2Counted,
  rankScores,
  rocAucCounted,
  squaresInterval,
  type ClassificationData,
  type DrawCounts,
  type Estimate,
  type RegressionData,
} from './statistics';

/** Labels that are numbers with more distinct values than this are a regression target (unless `task:` says). */
const REGRESSION_DISTINCT = 20;
export const DEFAULT_MIN_ROWS = 30;

export type MonitoringTask = 'classification' | 'regression';

/** A threshold crossed: what, where, and the numbers that decided it. */
export interface MonitoringAlert {
  readonly check: 'drift' | 'performance' | 'fairness';
  readonly metric: string;
  readonly window?: string;
  /** Fairness: the group column, and the group when a group's own rate crossed its bound. */
  readonly column?: string;
  readonly group?: string;
  readonly value: number;
  readonly message: string;
}

export interface WindowPerformanceReport {
  /** YYYY-MM-DD, 'all' without windows, or 'overall'. */
  readonly start: string;
  readonly n: number;
  readonly status: 'ok' | 'not_enough_data';
  /** Each metric of the task; null with a reason in `missing` when it cannot be computed on this window. */
  readonly metrics: Partial<Record<PerformanceMetric, Estimate | null>>;
  readonly missing?: Partial<Record<PerformanceMetric, string>>;
}

/** The model version's own validation metric that max_drop compares with. */
export interface ValidationBaseline {
  readonly metric: PerformanceMetric;
  readonly key: string;
  readonly value: number;
  readonly version: number;
  readonly runId: string;
}

export interface PerformanceReport {
  readonly task: MonitoringTask;
  readonly classes?: readonly string[];
  readonly counts: LabelledPredictions['counts'];
  readonly unmatched_label_ids: readonly string[];
  readonly min_rows: number;
  readonly windows: readonly WindowPerformanceReport[];
  readonly overall: WindowPerformanceReport;
  readonly baseline?: ValidationBaseline;
  readonly notes: readonly string[];
  readonly alerts: readonly MonitoringAlert[];
}

export interface PerformanceOptions {
  readonly task?: MonitoringTask;
  readonly minRows?: number;
  readonly thresholds?: PerformanceThresholds;
  readonly baseline?: ValidationBaseline;
}

/** Classes in scikit-learn's order: numerically when every class is a number, else by code point. */
export function sortClasses(classes: Iterable<string>): string[] {
  const all = [...new Set(classes)];
  const numeric = all.every((c) => c.trim() !== '' && Number.isFinite(Number(c)));
  return numeric ? all.sort((a, b) => Number(a) - Number(b)) : all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function classKey(cell: CellValue): string {
  return cell === null ? '' : String(cell);
}

/** classKey of every cell, each distinct cell converted once (a million labels are a few distinct classes). */
export function classKeys(cells: readonly CellValue[]): string[] {
  const known = new Map<CellValue, string>();
  const out = new Array<string>(cells.length);
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
    let key = known.get(cell);
    if (key === undefined) known.set(cell, (key = classKey(cell)));
    out[i] = key;
  }
  return out;
}

/** Indices into `classes` of each cell's classKey (-1: none of them), each distinct cell looked up once. */
export function classIndices(cells: readonly CellValue[], classes: readonly string[]): Int32Array {
  const index = new Map(classes.map((c, i) => [c, i]));
  const known = new Map<CellValue, number>();
  const out = new Int32Array(cells.length);
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
    let at = known.get(cell);
    if (at === undefined) known.set(cell, (at = index.get(classKey(cell)) ?? -1));
    out[i] = at;
  }
  return out;
}

/** The distinct values of each list, in order of first appearance over the lists one after the other (a Set over their concatenation). */
function distinctInOrder(...lists: readonly (readonly string[])[]): string[] {
  const seen = new Set<string>();
  for (const list of lists) for (const v of list) seen.add(v);
  return [...seen];
}

export function detectTask(joined: LabelledPredictions, task?: MonitoringTask): MonitoringTask {
  if (task) return task;
  const coded = joined.coded;
  if (coded) {
    if (coded.proba.length > 0) return 'classification';
    const labels = usedValues(coded.truth, coded.truthValues);
    if (!labels.every((y) => typeof y === 'number')) return 'classification';
    return labels.length > REGRESSION_DISTINCT ? 'regression' : 'classification';
  }
  if (joined.proba.size > 0) return 'classification';
  if (!joined.truth.every((y) => typeof y === 'number')) return 'classification';
  return new Set(joined.truth).size > REGRESSION_DISTINCT ? 'regression' : 'classification';
}

/** Each row's window: an index into `names` (a coded join's codes, else the windowOf strings numbered). */
export function windowIndices(joined: LabelledPredictions): { codes: Int32Array; names: readonly string[] } {
  if (joined.coded) return { codes: joined.coded.windows, names: joined.coded.windowNames };
  const book = new ValueCodes<string>();
  const codes = Int32Array.from(joined.windowOf, (w) => book.code(w));
  return { codes, names: book.values };
}

/**
 * The rows of each window (in row order), keyed by its start: the windows of `joined.windows` first, empty when no row
 * has them. `all` is every row in order (0, 1, …): a window whose rows are one run of rows (a log written in time
 * order) is a view of it, not a copy.
 */
export function rowsByWindow(joined: LabelledPredictions, all?: Uint32Array): Map<string, Uint32Array> {
  const { codes, names } = windowIndices(joined);
  const counts = new Int32Array(names.length);
  const first = new Int32Array(names.length).fill(-1);
  const last = new Int32Array(names.length);
  for (let i = 0; i < codes.length; i++) {
    const w = codes[i]!;
    counts[w]!++;
    if (first[w]! < 0) first[w] = i;
    last[w] = i;
  }
  const run = (w: number): boolean => all !== undefined && counts[w]! > 0 && last[w]! - first[w]! + 1 === counts[w]!;
  const rows = names.map((_, w) => (run(w) ? all!.subarray(first[w]!, last[w]! + 1) : new Uint32Array(counts[w]!)));
  if (!names.every((_, w) => run(w))) {
    const filled = new Int32Array(names.length);
    for (let i = 0; i < codes.length; i++) {
      const w = codes[i]!;
      if (!run(w)) rows[w]![filled[w]!++] = i;
    }
  }
  const out = new Map<string, Uint32Array>(joined.windows.map((w) => [w, new Uint32Array(0)]));
  names.forEach((name, w) => {
    if (counts[w]! > 0) out.set(name, rows[w]!);
  });
  return out;
}

/** Per window (and over everything) the task's metrics with n and 95% intervals, and the alerts the thresholds raise. */
export function computePerformance(joined: LabelledPredictions, options: PerformanceOptions = {}): PerformanceReport {
  const task = detectTask(joined, options.task);
  const minRows = options.minRows ?? DEFAULT_MIN_ROWS;
  const notes: string[] = [];
  if (joined.labelsMissing) notes.push(joined.labelsMissing);
  if (joined.counts.unmatchedLabels > 0)
    notes.push(`${joined.counts.unmatchedLabels} label(s) with an id never predicted (e.g. ${joined.unmatchedSample.join(', ')}): not used`);
  if (joined.counts.withoutTime > 0) notes.push(`${joined.counts.withoutTime} labelled prediction(s) without a usable time: left out of the windows`);
  const everything = new Uint32Array(joinedRows(joined));
  for (let i = 0; i < everything.length; i++) everything[i] = i;
  const byWindow = rowsByWindow(joined, everything);
  let measure: (rows: Uint32Array) => Pick<WindowPerformanceReport, 'metrics' | 'missing'>;
  let classes: string[] | undefined;
  if (task === 'classification') {
    const data = classificationData(joined, notes);
    classes = [...data.classes];
    // the windows' ROC AUC arrays, at the largest window's size; the overall one makes its own at the end: the check's
    // memory peaks while the windows are measured (the other threads still at work), not then
    const largest = Math.max(0, ...[...byWindow.values()].map((rows) => rows.length));
    let scratch: AucScratch | undefined;
    measure = (rows) => classificationMetrics(data, rows, rows.length <= largest ? () => (scratch ??= new AucScratch(largest)) : () => undefined);
  } else {
    const data = regressionData(joined);
    measure = (rows) => regressionMetrics(data, rows);
  }
  const report = (start: string, rows: Uint32Array): WindowPerformanceReport =>
    rows.length < minRows || rows.length === 0
      ? { start, n: rows.length, status: 'not_enough_data', metrics: {} }
      : { start, n: rows.length, status: 'ok', ...measure(rows) };
  const windows = [...byWindow.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([start, rows]) => report(start, rows));
  const overall = report('overall', everything);
  const alerts = windows.flatMap((w) => windowAlerts(w, options));
  return {
    task,
    ...(classes ? { classes } : {}),
    counts: joined.counts,
    unmatched_label_ids: joined.unmatchedSample,
    min_rows: minRows,
    windows,
    overall,
    ...(options.baseline ? { baseline: options.baseline } : {}),
    notes,
    alerts,
  };
}

/** The number of joined rows. */
export function joinedRows(joined: LabelledPredictions): number {
  return joined.coded ? joined.coded.truth.length : joined.windowOf.length;
}

/**
 * A coded column's distinct cells as class keys: `keys` in order of first appearance over the rows (what sortClasses
 * and a Set over every row's key see) and each code's key.
 */
export function codedKeys(codes: Int32Array, values: readonly CellValue[]): { keys: string[]; keyOf: string[] } {
  return { keys: usedValues(codes, values).map(classKey), keyOf: values.map(classKey) };
}

/** The values some row's code points at, in order of first appearance over the rows. */
function usedValues<T>(codes: Int32Array, values: readonly T[]): T[] {
  const seen = new Uint8Array(values.length);
  const used: T[] = [];
  for (let i = 0; i < codes.length && used.length < values.length; i++) {
    const code = codes[i]!;
    if (seen[code]) continue;
    seen[code] = 1;
    used.push(values[code]!);
  }
  return used;
}

function classificationData(joined: LabelledPredictions, notes: string[]): ClassificationData {
  if (joined.coded) return codedClassificationData(joined.coded, notes);
  const truthKeys = classKeys(joined.truth);
  const predictedKeys = classKeys(joined.predicted);
  const probaClasses = [...joined.proba.keys()];
  // sortClasses sees the distinct keys in the order of their first appearance, as it would the concatenation
  const classes = sortClasses(distinctInOrder(truthKeys, predictedKeys, probaClasses));
  const truth = classIndices(joined.truth, classes);
  const predicted = classIndices(joined.predicted, classes);
  let proba: Float64Array[] | undefined;
  if (probaClasses.length > 0) {
    const without = classes.filter((c) => !joined.proba.has(c));
    if (without.length === 0) proba = classes.map((c) => Float64Array.from(joined.proba.get(c)!));
    else notes.push(`class ${without.map((c) => `"${c}"`).join(', ')} has no probability column (never seen by the model): ROC AUC and log loss are left out`);
  }
  return { classes, truth, predicted, ...(proba ? { proba } : {}) };
}

/** classificationData of a coded join: the same classes and indices, from each distinct cell once. */
function codedClassificationData(coded: CodedLabelled, notes: string[]): ClassificationData {
  const truthKeys = codedKeys(coded.truth, coded.truthValues);
  const predictedKeys = codedKeys(coded.predicted, coded.predictedValues);
  const probaClasses = coded.probaClasses;
  const classes = sortClasses(distinctInOrder(truthKeys.keys, predictedKeys.keys, probaClasses));
  const index = new Map(classes.map((c, i) => [c, i]));
  const indices = (codes: Int32Array, keyOf: readonly string[]): Int32Array => {
    const of = Int32Array.from(keyOf, (key) => index.get(key) ?? -1);
    const out = new Int32Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = of[codes[i]!]!;
    return out;
  };
  let proba: Float64Array[] | undefined;
  if (probaClasses.length > 0) {
    const without = classes.filter((c) => !probaClasses.includes(c));
    if (without.length === 0) proba = classes.map((c) => coded.proba[probaClasses.indexOf(c)]!);
    else notes.push(`class ${without.map((c) => `"${c}"`).join(', ')} has no probability column (never seen by the model): ROC AUC and log loss are left out`);
  }
  return { classes, truth: indices(coded.truth, truthKeys.keyOf), predicted: indices(coded.predicted, predictedKeys.keyOf), ...(proba ? { proba } : {}) };
}

function classificationMetrics(
  data: ClassificationData,
  rows: Uint32Array,
  scratch: () => AucScratch | undefined,
): Pick<WindowPerformanceReport, 'metrics' | 'missing'> {
  if (rows.length >= NORMAL_INTERVAL_ROWS) return classificationMetricsNormal(data, rows, scratch());
  // one set of resamples for every interval (the same draws bootstrap() makes), each statistic a weighted pass
  let scores: { resample: number; value: ReturnType<typeof macroScoresCounted> } | undefined;
  const macro = (counts: DrawCounts, resample: number): ReturnType<typeof macroScoresCounted> => {
    if (scores?.resample !== resample) scores = { resample, value: macroScoresCounted(data, rows, counts) };
    return scores.value;
  };
  const statistics: Record<string, (counts: DrawCounts, resample: number) => number> = {
    // precision, recall and F1 come from one confusion count per resample
    precision_macro: (c, b) => macro(c, b).precision,
    recall_macro: (c, b) => macro(c, b).recall,
    f1_macro: (c, b) => macro(c, b).f1,
  };
  if (data.proba) {
    const ranked = oneVsRest(data).map((t) => rankScores(t.scores, rows, t.positive));
    statistics.roc_auc = (counts) => {
      let sum = 0;
      for (const r of ranked) {
        const auc = rocAucCounted(r, counts);
        if (Number.isNaN(auc)) return Number.NaN;
        sum += auc;
      }
      return sum / ranked.length;
    };
    const losses = logLosses(data, rows);
    statistics.log_loss = (counts) => meanCounted(losses, counts);
  }
  const e = bootstrapAll(rows.length, statistics);
  const metrics: Partial<Record<PerformanceMetric, Estimate | null>> = {
    accuracy: proportion(accuracyCount(data, rows), rows.length),
    precision_macro: e.precision_macro!,
    recall_macro: e.recall_macro!,
    f1_macro: e.f1_macro!,
  };
  return withProbabilityMetrics(metrics, data.proba ? { roc_auc: e.roc_auc!, log_loss: e.log_loss! } : undefined);
}

/** ROC AUC and log loss beside the other metrics, or null with the reason when they cannot be computed. */
function withProbabilityMetrics(
  metrics: Partial<Record<PerformanceMetric, Estimate | null>>,
  probability: { roc_auc: Estimate; log_loss: Estimate } | undefined,
): Pick<WindowPerformanceReport, 'metrics' | 'missing'> {
  if (!probability) {
    const why = 'no class probabilities for every class';
    return { metrics: { ...metrics, roc_auc: null, log_loss: null }, missing: { roc_auc: why, log_loss: why } };
  }
  if (Number.isNaN(probability.roc_auc.value))
    return {
      metrics: { ...metrics, roc_auc: null, log_loss: probability.log_loss },
      missing: { roc_auc: 'a class is missing from the labels of this window' },
    };
  return { metrics: { ...metrics, ...probability } };
}

/** classificationMetrics of a large window: the same values, normal intervals from the influence values. */
function classificationMetricsNormal(
  data: ClassificationData,
  rows: Uint32Array,
  scratch: AucScratch | undefined,
): Pick<WindowPerformanceReport, 'metrics' | 'missing'> {
  const unit = [0, 1] as const;
  const n = rows.length;
  // each interval from the sum of its influence values' squares, the values made row by row and not kept
  const macro = macroScoresSquares(data, rows);
  const metrics: Partial<Record<PerformanceMetric, Estimate | null>> = {
    accuracy: proportion(macro.correct, n),
    precision_macro: squaresInterval(macro.precision.value, n, macro.precision.squares, unit),
    recall_macro: squaresInterval(macro.recall.value, n, macro.recall.squares, unit),
    f1_macro: squaresInterval(macro.f1.value, n, macro.f1.squares, unit),
  };
  if (!data.proba) return withProbabilityMetrics(metrics, undefined);
  const rocAuc = macroAucInterval(data, rows, unit, scratch);
  const losses = meanSquares(logLosses(data, rows));
  return withProbabilityMetrics(metrics, {
    roc_auc: rocAuc,
    log_loss: squaresInterval(losses.value, n, losses.squares, [0, Number.POSITIVE_INFINITY]),
  });
}

/** The macro one-vs-rest ROC AUC with its interval: the mean of each class's value and of each class's influence values. */
function macroAucInterval(data: ClassificationData, rows: Uint32Array, range: readonly [number, number], scratch: AucScratch | undefined): Estimate {
  const classes = oneVsRest(data);
  // one class (binary): its own influence values are the mean's (x / 1 is x, and 0 + x is x but for −0, whose square
  // is the same), their squares summed as they are made
  if (classes.length === 1) {
    const auc = aucSquares(classes[0]!.scores, rows, classes[0]!.positive, scratch);
    return squaresInterval(auc.value, rows.length, auc.squares, range);
  }
  const aucs = classes.map((t) => aucInfluence(t.scores, rows, t.positive, scratch));
  const psi = new Float64Array(rows.length);
  for (const a of aucs) for (let i = 0; i < psi.length; i++) psi[i]! += a.psi[i]! / aucs.length;
  return influenceInterval(aucs.reduce((sum, a) => sum + a.value, 0) / aucs.length, psi, range);
}

function regressionData(joined: LabelledPredictions): RegressionData {
  const numbers = (cells: CellValue[], what: string): Float64Array =>
    Float64Array.from(cells, (c) => {
      const x = typeof c === 'number' ? c : Number.NaN;
      if (!Number.isFinite(x))
        throw new MonitoringInputError(`task regression: a ${what} is ${typeof c === 'number' ? String(c) : JSON.stringify(c)}, not a finite number`); // JSON would print ±Infinity and NaN as null
      return x;
    });
  return { truth: numbers(joined.truth, 'label'), predicted: numbers(joined.predicted, 'prediction') };
}

function regressionMetrics(data: RegressionData, rows: Uint32Array): Pick<WindowPerformanceReport, 'metrics' | 'missing'> {
  if (rows.length >= NORMAL_INTERVAL_ROWS) {
    const e = regressionInfluence(data, rows);
    const positive = [0, Number.POSITIVE_INFINITY] as const;
    const metrics = { rmse: influenceInterval(e.rmse.value, e.rmse.psi, positive), mae: influenceInterval(e.mae.value, e.mae.psi, positive) };
    if (Number.isNaN(e.r2.value)) return { metrics: { ...metrics, r2: null }, missing: { r2: 'the labels of this window are constant' } };
    return { metrics: { ...metrics, r2: influenceInterval(e.r2.value, e.r2.psi, [Number.NEGATIVE_INFINITY, 1]) } };
  }
  const squared = Float64Array.from(rows, (i) => (data.truth[i]! - data.predicted[i]!) ** 2);
  const absolute = Float64Array.from(rows, (i) => Math.abs(data.truth[i]! - data.predicted[i]!));
  const e = bootstrapAll(rows.length, {
    rmse: (counts) => Math.sqrt(meanCounted(squared, counts)),
    mae: (counts) => meanCounted(absolute, counts),
    r2: (counts) => r2Counted(data, rows, counts),
  });
  const metrics = { rmse: e.rmse, mae: e.mae };
  if (Number.isNaN(e.r2.value)) return { metrics: { ...metrics, r2: null }, missing: { r2: 'the labels of this window are constant' } };
  return { metrics: { ...metrics, r2: e.r2 } };
}

export function boundBroken(value: number, bound: Bound): string | undefined {
  if (bound.min !== undefined && value < bound.min) return `below ${bound.min}`;
  if (bound.max !== undefined && value > bound.max) return `above ${bound.max}`;
  return undefined;
}

function windowAlerts(w: WindowPerformanceReport, options: PerformanceOptions): MonitoringAlert[] {
  if (w.status !== 'ok') return [];
  const alerts: MonitoringAlert[] = [];
  const thresholds = options.thresholds ?? {};
  for (const metric of PERFORMANCE_METRICS) {
    const bound = thresholds[metric];
    const estimate = w.metrics[metric];
    if (!bound || !estimate) continue;
    const broken = boundBroken(estimate.value, bound);
    if (broken)
      alerts.push({
        check: 'performance',
        metric,
        window: w.start,
        value: estimate.value,
        message: `${metric} ${estimate.value.toFixed(3)} in window ${w.start} (n = ${w.n}) is ${broken}`,
      });
  }
  const baseline = options.baseline;
  if (thresholds.max_drop !== undefined && baseline) {
    const estimate = w.metrics[baseline.metric];
    if (estimate) {
      const drop = LOWER_IS_BETTER.has(baseline.metric) ? estimate.value - baseline.value : baseline.value - estimate.value;
      if (drop > thresholds.max_drop)
        alerts.push({
          check: 'performance',
          metric: `${baseline.metric}_drop`,
          window: w.start,
          value: drop,
          message: `${baseline.metric} ${estimate.value.toFixed(3)} in window ${w.start} (n = ${w.n}) is ${drop.toFixed(3)} worse than v${baseline.version}'s ${baseline.key} ${baseline.value.toFixed(3)} (max_drop ${thresholds.max_drop})`,
        });
    }
  }
  return alerts;
}

/** The metric max_drop compares: performance.compare, else accuracy (classification) or rmse (regression). */
export function comparedMetric(task: MonitoringTask, thresholds?: PerformanceThresholds): PerformanceMetric {
  return thresholds?.compare ?? (task === 'classification' ? 'accuracy' : 'rmse');
}
