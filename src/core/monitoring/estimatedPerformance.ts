import type { CellValue } from '../datasets/readers';
import type { EstimatedPerformanceConfig } from './configSchema';
import { ESTIMATED_METRICS, type EstimatedMetric } from './metricNames';
import {
  calibratedProbabilities,
  CbpeWindowSums,
  estimateWindows,
  fitCbpe,
  type CbpeEstimate,
  type CbpeModel,
  type CbpeReference,
  type CbpeWindowEstimate,
  type ScoredPredictions,
} from './cbpe';
import { MonitoringInputError, readPredictionLog, type PredictionLog, type PredictionLogOptions } from './labels';
import { classIndices, classKey, sortClasses, type MonitoringAlert, type PerformanceReport } from './performance';

export interface EstimatedWindow {
  /** YYYY-MM-DD, or 'all' without windows. */
  readonly start: string;
  readonly n: number;
  readonly status: 'ok' | 'not_enough_data';
  readonly metrics: Partial<Record<EstimatedMetric, CbpeEstimate>>;
  /** The realised value of the same window once its labels arrived (from the performance check), for the side-by-side view. */
  readonly realised?: Partial<Record<EstimatedMetric, number>>;
  readonly realised_n?: number;
}

/** Estimated performance per window of the predictions log, with what the reference taught and the alerts. */
export interface EstimatedPerformanceReport {
  readonly method: 'cbpe';
  readonly classes: readonly string[];
  readonly calibration: CbpeModel['calibration'];
  readonly reference: CbpeModel['reference'];
  readonly min_rows: number;
  readonly windows: readonly EstimatedWindow[];
  readonly notes: readonly string[];
  readonly alerts: readonly MonitoringAlert[];
}

export interface EstimatedPerformanceOptions {
  /** Where and how the predictions log is read (the reference file is read with the same columns plus the label). */
  readonly log: Omit<PredictionLogOptions, 'labelColumn' | 'idColumn' | 'predictions'> & { readonly predictions: string; readonly idColumn: string };
  readonly reference: string;
  readonly labelColumn: string;
  readonly config: EstimatedPerformanceConfig;
  readonly minRows: number;
  /** The calibrate-or-not decision per calibrated class instead of the check's (tests comparing with NannyML). */
  readonly calibrate?: readonly boolean[];
  /** The performance report of the same check, when labels are configured: its windows' values are shown beside the estimates. */
  readonly realised?: PerformanceReport;
  /** The predictions log, when the caller has read it already (with at least these columns). */
  readonly read?: PredictionLog;
  /** The reference, when the caller has read it already (with its label column): the compute-only benchmark. */
  readonly referenceRead?: PredictionLog;
}

/** CBPE over every window of the predictions log, fitted on the labelled reference predictions. */
export async function computeEstimatedPerformance(options: EstimatedPerformanceOptions): Promise<EstimatedPerformanceReport> {
  const { log: logOptions } = options;
  // the reference is read by position: its own format, no ids, times or groups needed
  const reference = options.referenceRead ?? (await readReference(referenceReadOptions(options), logOptions.signal));
  // CBPE needs no ids: read alone, the log is read without its id column (no uniqueness check, no id index)
  const { idColumn: _ids, ...withoutIds } = logOptions;
  const log = options.read ?? (await readPredictionLog(withoutIds));
  const fitted = fitReference(reference, options.reference, options.calibrate ?? options.config.calibration ?? 'auto');
  return withRealised(estimateFromFit(fitted, scoreLog(log), estimateSettings(options)), options.realised);
}

/** What reading the reference needs (plain data: it crosses to the worker thread). */
export interface ReferenceReadOptions {
  readonly reference: string;
  readonly predictionColumn: string;
  readonly probabilityPrefix: string;
  readonly labelColumn: string;
  readonly baseDir: string;
}

export function referenceReadOptions(options: EstimatedPerformanceOptions): ReferenceReadOptions {
  return {
    reference: options.reference,
    predictionColumn: options.log.predictionColumn,
    probabilityPrefix: options.log.probabilityPrefix,
    labelColumn: options.labelColumn,
    baseDir: options.log.baseDir,
  };
}

export function readReference(options: ReferenceReadOptions, signal?: AbortSignal): Promise<PredictionLog> {
  return readPredictionLog({
    predictions: options.reference,
    predictionColumn: options.predictionColumn,
    probabilityPrefix: options.probabilityPrefix,
    labelColumn: options.labelColumn,
    baseDir: options.baseDir,
    ...(signal ? { signal } : {}),
  });
}

/** The reference and CBPE fitted on it, or the error fitting raised (reported only after the checks that come first). */
export interface FittedReference {
  readonly referenceClasses: readonly string[];
  readonly fit: { readonly ok: true; readonly model: CbpeModel; readonly notes: readonly string[] } | { readonly ok: false; readonly error: unknown };
}

export function fitReference(
  reference: PredictionLog,
  file: string,
  calibrate: EstimatedPerformanceOptions['calibrate'] | EstimatedPerformanceConfig['calibration'] | 'auto',
): FittedReference {
  const referenceClasses = reference.classes;
  if (referenceClasses.length < 2) return { referenceClasses, fit: { ok: false, error: undefined } };
  try {
    const notes: string[] = [];
    const model = fitCbpe(referenceData(reference, sortClasses(referenceClasses), file, notes), calibrate ?? 'auto');
    return { referenceClasses, fit: { ok: true, model, notes } };
  } catch (error) {
    return { referenceClasses, fit: { ok: false, error } };
  }
}

/** The predictions log as CBPE reads it: typed columns only, classes in sorted order (they cross to the worker thread moved, not copied). */
export interface ScoredLog {
  /** The log's classes in the file's order (compared with the reference's). */
  readonly classes: readonly string[];
  readonly rows: number;
  /** Each row's predicted class as an index of sortClasses(classes), -1: no probability column. */
  readonly predicted: Int32Array;
  /** Per class of sortClasses(classes), the probability of each row (a copy, or the log's own when moved). */
  readonly proba: readonly Float64Array[];
  /** Window per row as a code of `windowNames` (a copy, or the log's own when moved). */
  readonly windowCodes: Int32Array;
  readonly windowNames: readonly string[];
  readonly windows: readonly string[];
}

export function scoreLog(log: PredictionLog, options: { readonly moved?: boolean } = {}): ScoredLog {
  const sorted = sortClasses(log.classes);
  // the class of each distinct prediction found once, then read by its code: no million-cell array of predictions made
  const { codes, values } = log.predictedCodes;
  const classOfCode = classIndices(values, sorted);
  const predicted = new Int32Array(log.rows);
  for (let row = 0; row < log.rows; row++) predicted[row] = classOfCode[codes[row]!]!;
  const windowCodes = log.windowOf.codes;
  return {
    classes: log.classes,
    rows: log.rows,
    predicted,
    // moved: the log's own columns go (the caller reads them no more), not copies of them
    proba: options.moved ? sorted.map((c) => log.proba[log.classes.indexOf(c)]!) : probaColumns(log, sorted),
    windowCodes: options.moved && windowCodes.length === log.rows ? windowCodes : windowCodes.slice(0, log.rows),
    windowNames: log.windowOf.names,
    windows: log.windows,
  };
}

/** The buffers of a ScoredLog, to move it to another thread. */
export function scoredBuffers(scored: ScoredLog): ArrayBuffer[] {
  return [scored.predicted, scored.windowCodes, ...scored.proba].map((a) => a.buffer as ArrayBuffer);
}

export interface EstimateSettings {
  readonly reference: string;
  readonly probabilityPrefix: string;
  readonly config: EstimatedPerformanceConfig;
  readonly minRows: number;
}

function estimateSettings(options: EstimatedPerformanceOptions): EstimateSettings {
  return { reference: options.reference, probabilityPrefix: options.log.probabilityPrefix, config: options.config, minRows: options.minRows };
}

/** CBPE per window of the scored log (without the realised values beside: withRealised adds them). */
export function estimateFromFit(fitted: FittedReference, log: ScoredLog, settings: EstimateSettings): EstimatedPerformanceReport {
  const { model, notes } = checkedModel(fitted, log.classes, settings);
  let unknown = 0;
  for (let row = 0; row < log.rows; row++) if (log.predicted[row]! < 0) unknown++;
  const scored: ScoredPredictions = { predicted: log.predicted, proba: log.proba as Float64Array[] };
  // every window in one pass over the rows
  const starts = windowStarts(log.windows);
  const windowIndex = new Map(starts.map((start, w) => [start, w]));
  const windowOfCode = Int32Array.from(log.windowNames, (name) => windowIndex.get(name) ?? -1);
  const estimates = estimateWindows(model, scored, log.windowCodes, windowOfCode, starts.length);
  return estimatedReport(model, notes, unknown, starts, estimates, settings);
}

/** CBPE's model and the fit's notes, once the log's classes are checked against the reference's (the errors in the order the report gives them). */
function checkedModel(
  fitted: FittedReference,
  logClasses: readonly string[],
  settings: EstimateSettings,
): { readonly model: CbpeModel; readonly notes: readonly string[] } {
  const referenceClasses = fitted.referenceClasses;
  if (referenceClasses.length < 2)
    throw new MonitoringInputError(
      `estimated_performance.reference ${settings.reference}: no probability columns (${settings.probabilityPrefix}<class>): CBPE estimates from the logged class probabilities`,
    );
  if (logClasses.join('\u0000') !== referenceClasses.join('\u0000'))
    throw new MonitoringInputError(
      `the predictions log's probability columns (${logClasses.join(', ') || 'none'}) differ from the reference's (${referenceClasses.join(', ')})`,
    );
  if (!fitted.fit.ok) throw fitted.fit.error;
  return fitted.fit;
}

function windowStarts(windows: readonly string[]): string[] {
  return [...new Set(windows)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function estimatedReport(
  model: CbpeModel,
  fitNotes: readonly string[],
  unknown: number,
  starts: readonly string[],
  estimates: readonly CbpeWindowEstimate[],
  settings: EstimateSettings,
): EstimatedPerformanceReport {
  const notes: string[] = [...fitNotes];
  if (unknown > 0) notes.push(`${unknown} prediction(s) name a class without a probability column: counted as wrong in the estimated accuracy`);
  const windows: EstimatedWindow[] = starts.map((start, w) => {
    const { n, metrics } = estimates[w]!;
    if (n < settings.minRows || n === 0) return { start, n, status: 'not_enough_data' as const, metrics: {} };
    return { start, n, status: 'ok' as const, metrics };
  });
  return {
    method: 'cbpe',
    classes: model.classes,
    calibration: model.calibration,
    reference: model.reference,
    min_rows: settings.minRows,
    windows,
    notes,
    alerts: windows.flatMap((w) => windowAlerts(w, settings.config, model)),
  };
}

/**
 * One batch of the predictions log's rows as it is read (the CBPE thread's share of the read: they cross to it moved,
 * and its per-row work is done while the log's read goes on).
 */
export interface ScoredRows {
  /** The log's classes in the file's order. */
  readonly classes: readonly string[];
  /** Per class of `classes`, the probability of each of the batch's rows. */
  readonly proba: readonly Float64Array[];
  /** Per row, its window as a code of the log's window names (-1: no usable time). */
  readonly windowCodes: Int32Array;
  /** The window names first seen in this batch: their codes follow those of the batches before. */
  readonly newWindowNames: readonly string[];
  /** Per row, its prediction as a code of the log's distinct predictions. */
  readonly predictedCodes: Int32Array;
  /** The distinct predictions first seen in this batch: their codes follow those of the batches before. */
  readonly newPredictedValues: readonly CellValue[];
}

/** The buffers of a ScoredRows, to move it to another thread. */
export function scoredRowsBuffers(rows: ScoredRows): ArrayBuffer[] {
  return [rows.windowCodes, rows.predictedCodes, ...rows.proba].map((a) => a.buffer as ArrayBuffer);
}

/** What estimating a log batch by batch needs to know of the whole log once it is read. */
export interface StreamedLog {
  readonly classes: readonly string[];
  readonly rows: number;
  readonly windows: readonly string[];
}

/**
 * estimateFromFit of a log given batch by batch as it is read, the same report: each row calibrated and added to its
 * window's sums as it comes, in row order, so each sum is added in the order estimateFromFit adds it; the report is
 * made from the sums once the whole log is read. Rows of a log that estimateFromFit would refuse (other classes than
 * the reference's, CBPE not fitted) are not summed: report() gives its error.
 */
export class StreamedEstimate {
  private readonly sums: CbpeWindowSums | undefined;
  /** Per sorted class, its probability column in the log's (file) order. */
  private readonly columnOf: readonly number[] = [];
  private readonly classIndex: ReadonlyMap<string, number> = new Map();
  private readonly windowNames: string[] = [];
  /** Window code → its sums (the code itself: one window a name). */
  private windowOfCode = new Int32Array(0);
  private readonly classOfPrediction: number[] = [];
  private rows = 0;
  private unknown = 0;
  private failure: { readonly error: unknown } | undefined;

  /** `release`: called with each typed array of a batch (its own and those made for it) once the batch is summed. */
  constructor(
    private readonly fitted: FittedReference,
    private readonly release: (array: ArrayBufferView) => void = () => undefined,
  ) {
    if (!fitted.fit.ok) return;
    const { classes } = fitted.fit.model;
    this.sums = new CbpeWindowSums(classes.length);
    this.columnOf = classes.map((c) => fitted.referenceClasses.indexOf(c));
    this.classIndex = new Map(classes.map((c, i) => [c, i]));
  }

  add(batch: ScoredRows): void {
    const rows = batch.windowCodes.length;
    this.rows += rows;
    const { fitted, sums } = this;
    if (sums && fitted.fit.ok && batch.classes.join('\u0000') === fitted.referenceClasses.join('\u0000') && this.failure === undefined)
      try {
        this.sum(fitted.fit.model, sums, batch, rows);
      } catch (error) {
        this.failure = { error };
      }
    for (const array of [batch.windowCodes, batch.predictedCodes, ...batch.proba]) this.release(array);
  }

  private sum(model: CbpeModel, sums: CbpeWindowSums, batch: ScoredRows, rows: number): void {
    for (const value of batch.newPredictedValues) this.classOfPrediction.push(this.classIndex.get(classKey(value)) ?? -1);
    this.windowNames.push(...batch.newWindowNames);
    if (this.windowOfCode.length < this.windowNames.length) this.windowOfCode = Int32Array.from(this.windowNames, (_, code) => code);
    const predicted = new Int32Array(rows);
    const codes = batch.predictedCodes;
    const classOf = this.classOfPrediction;
    for (let row = 0; row < rows; row++) if ((predicted[row] = classOf[codes[row]!]!) < 0) this.unknown++;
    const proba = calibratedProbabilities(model, { predicted, proba: this.columnOf.map((at) => batch.proba[at]!) });
    sums.add(proba, predicted, batch.windowCodes, this.windowOfCode);
    for (const array of [predicted, ...proba]) this.release(array);
  }

  /** The report (estimateFromFit's of the whole log) once every batch of the log was added. */
  report(log: StreamedLog, settings: EstimateSettings): EstimatedPerformanceReport {
    const { model, notes } = checkedModel(this.fitted, log.classes, settings);
    if (this.failure) throw this.failure.error;
    if (this.rows !== log.rows) throw new Error(`CBPE was given ${this.rows} of the log's ${log.rows} rows`);
    const starts = windowStarts(log.windows);
    const codeOf = new Map(this.windowNames.map((name, code) => [name, code]));
    const estimates = this.sums!.estimates(
      model,
      starts.map((start) => codeOf.get(start) ?? -1),
    );
    return estimatedReport(model, notes, this.unknown, starts, estimates, settings);
  }
}

/** The realised value of each window once its labels arrived (the performance check of the same run), beside the estimate. */
export function withRealised(report: EstimatedPerformanceReport, realised: PerformanceReport | undefined): EstimatedPerformanceReport {
  const realisedByWindow = new Map((realised?.windows ?? []).map((w) => [w.start, w]));
  const windows = report.windows.map((w): EstimatedWindow => {
    const r = realisedByWindow.get(w.start);
    if (r?.status !== 'ok') return w;
    return {
      ...w,
      realised: Object.fromEntries(
        ESTIMATED_METRICS.flatMap((m) => {
          const e = r.metrics[m];
          return e ? [[m, e.value]] : [];
        }),
      ),
      realised_n: r.n,
    };
  });
  return { ...report, windows };
}

function classIndex(classes: readonly string[]): (cell: CellValue) => number {
  const index = new Map(classes.map((c, i) => [c, i]));
  return (cell) => index.get(classKey(cell)) ?? -1;
}

/** Probability columns reordered to the sorted classes. */
function probaColumns(log: PredictionLog, classes: readonly string[]): Float64Array[] {
  return classes.map((c) => log.proba[log.classes.indexOf(c)]!.slice());
}

function scoredData(log: PredictionLog, classes: readonly string[], notes: string[]): ScoredPredictions {
  const predicted = classIndices(log.predicted, classes);
  const unknown = predicted.filter((p) => p < 0).length;
  if (unknown > 0) notes.push(`${unknown} prediction(s) name a class without a probability column: counted as wrong in the estimated accuracy`);
  return { predicted, proba: probaColumns(log, classes) };
}

function referenceData(log: PredictionLog, classes: readonly string[], file: string, notes: string[]): CbpeReference {
  const index = classIndex(classes);
  const truth = new Int32Array(log.rows);
  let unknown = 0;
  for (let row = 0; row < log.rows; row++) {
    const label = log.labels?.[row] ?? null;
    if (label === null || label === '') throw new MonitoringInputError(`${file} data row ${row + 1}: empty label: the reference needs every label`);
    truth[row] = index(label);
    if (truth[row]! < 0) unknown++;
  }
  if (unknown > 0) notes.push(`${unknown} reference label(s) name a class without a probability column`);
  return { classes, truth, ...scoredData(log, classes, []) };
}

function windowAlerts(w: EstimatedWindow, config: EstimatedPerformanceConfig, model: CbpeModel): MonitoringAlert[] {
  if (w.status !== 'ok') return [];
  const alerts: MonitoringAlert[] = [];
  for (const metric of ESTIMATED_METRICS) {
    const e = w.metrics[metric];
    if (!e || !Number.isFinite(e.value)) continue;
    const bound = config[metric];
    if (bound?.min !== undefined && e.value < bound.min)
      alerts.push({
        check: 'performance',
        metric: `estimated ${metric}`,
        window: w.start,
        value: e.value,
        message: `estimated ${metric} ${e.value.toFixed(3)} < ${bound.min} in window ${w.start} (n = ${w.n}, no labels needed)`,
      });
    if (bound?.max !== undefined && e.value > bound.max)
      alerts.push({
        check: 'performance',
        metric: `estimated ${metric}`,
        window: w.start,
        value: e.value,
        message: `estimated ${metric} ${e.value.toFixed(3)} > ${bound.max} in window ${w.start} (n = ${w.n})`,
      });
    if (config.max_drop !== undefined && model.reference[metric] - e.value > config.max_drop)
      alerts.push({
        check: 'performance',
        metric: `estimated ${metric}`,
        window: w.start,
        value: e.value,
        message: `estimated ${metric} ${e.value.toFixed(3)} in window ${w.start} is ${(model.reference[metric] - e.value).toFixed(3)} below the reference's ${model.reference[metric].toFixed(3)} (max_drop ${config.max_drop})`,
      });
  }
  return alerts;
}
