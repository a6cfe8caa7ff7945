import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { listDatasetFiles } from '../datasets/files';
import { DatasetReadError, detectFormat, readSchema, type DatasetFileFormat, type DatasetSchema } from '../datasets/readers';
import { DriftInputError } from '../drift/collect';
import { checkAndStore, checkOptionsFromMonitoring, driftHeadline } from '../drift/monitor';
import { runDriftCheck, type DriftCheckOptions } from '../drift/check';
import { DriftFeed, sideColumns } from '../drift/fedSide';
import { detachBeforeReads } from '../drift/freeNow';
import { releaseSpares } from '../drift/spareWorkers';
import type { ModelMonitoring } from '../drift/monitoringSchema';
import { ModelRepository } from '../store/models';
import { MonitoringReportRepository, type MonitoringReportKind } from '../store/monitoringReports';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';
import { computeEstimatedPerformance, withRealised, type EstimatedPerformanceReport } from './estimatedPerformance';
import { EstimateThread } from './estimateThread';
import { computeFairness, type FairnessReport } from './fairness';
import { joinLabels, MonitoringInputError, readPredictionLog, type PredictionLog } from './labels';
import { deliverAlert, type AlertDelivery } from './onAlert';
import {
  comparedMetric,
  computePerformance,
  DEFAULT_MIN_ROWS,
  detectTask,
  type MonitoringAlert,
  type PerformanceReport,
  type ValidationBaseline,
} from './performance';

export type MonitorCheck = 'drift' | 'performance' | 'fairness' | 'estimated_performance';

/** What one `mloop monitor --once` found for one model: each check's result or its error, and every alert. */
export interface ModelMonitorResult {
  readonly model: string;
  readonly drift?: { readonly dataset_drift: boolean; readonly drift_share: number; readonly headline: string; readonly report_id?: number };
  readonly performance?: PerformanceReport & { readonly report_id?: number };
  readonly fairness?: FairnessReport & { readonly report_id?: number };
  readonly estimated_performance?: EstimatedPerformanceReport & { readonly report_id?: number };
  readonly alerts: readonly MonitoringAlert[];
  readonly errors: readonly { readonly check: MonitorCheck; readonly message: string }[];
}

export interface MonitorModelOptions {
  readonly model: string;
  readonly monitoring: ModelMonitoring;
  /** Relative paths of mloop.yaml start here. */
  readonly baseDir: string;
  /** Reports are stored here when given (and the validation baseline is read from it). */
  readonly store?: Store;
  /** Run the drift check too (default true; the editor's Check Model Performance… leaves it to Check Drift…). */
  readonly drift?: boolean;
  readonly signal?: AbortSignal;
  /** CBPE on a thread of its own when its bundle is there (default true); false: on this thread, one check after the other. */
  readonly inThread?: boolean;
  /** The bundle that runs CBPE's thread (tests; default dist/driftWorker.js next to the running bundle). */
  readonly estimateWorkerFile?: string;
}

/** Input problems a user can fix become an error of that check; anything else is a bug and propagates. */
function userError(error: unknown): string | undefined {
  if (error instanceof MonitoringInputError || error instanceof DriftInputError || error instanceof DatasetReadError) return error.message;
  return undefined;
}

/** Runs every check configured for one model: drift, then performance from late labels and fairness per group (one join). */
export async function monitorModel(options: MonitorModelOptions): Promise<ModelMonitorResult> {
  // the caller's signal, and this check's own: a bug in one check stops the threads of the others at once (the drift
  // thread would otherwise compare, or read the whole log again, before the process could exit)
  const stop = new AbortController();
  const passOn = (): void => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) passOn();
  else options.signal?.addEventListener('abort', passOn, { once: true });
  const { signal } = stop;
  const { model, monitoring, baseDir, store } = options;
  let drift: ModelMonitorResult['drift'];
  const driftAlerts: MonitoringAlert[] = [];
  const driftErrors: { check: MonitorCheck; message: string }[] = [];
  // the predictions log as the label join, CBPE, the groups and the drift check's current side read it: read once
  // here, its drift columns fed batch by batch to a worker that collects and sorts them while this thread goes on
  const logOptions = {
    predictions: resolvePath(baseDir, monitoring.current),
    ...(monitoring.format ? { predictionsFormat: monitoring.format as DatasetFileFormat } : {}),
    predictionColumn: monitoring.prediction!,
    probabilityPrefix: monitoring.probabilities ?? 'proba_',
    ...(monitoring.time_column && monitoring.window ? { timeColumn: monitoring.time_column, window: monitoring.window } : {}),
    baseDir,
    signal,
  };
  const idColumn = monitoring.id_column ?? 'id';
  // CBPE on a thread of its own (when its bundle is there), started first: its start-up and its reference's read and
  // fit use the second core while this thread finds the drift columns; the log's rows are calibrated and summed there
  // as this thread reads them, so only the report is left to make once the log is read
  const estimator =
    monitoring.estimated_performance && monitoring.prediction !== undefined && options.inThread !== false
      ? EstimateThread.start(
          {
            reference: resolvePath(baseDir, monitoring.estimated_performance.reference),
            predictionColumn: logOptions.predictionColumn,
            probabilityPrefix: logOptions.probabilityPrefix,
            labelColumn: monitoring.label ?? 'label',
            baseDir,
          },
          monitoring.estimated_performance.calibration,
          signal,
          options.estimateWorkerFile,
        )
      : undefined;
  let feed: Started['feed'];
  try {
    const driftOn = options.drift !== false;
    const checkOptions = driftOn ? checkOptionsFromMonitoring(model, monitoring, baseDir) : undefined;
    feed =
      checkOptions && (monitoring.labels || monitoring.estimated_performance) ? await startDriftFeed(checkOptions, logOptions.predictions, signal) : undefined;
    releaseSpares(); // the threads this check needs are started: a spare it did not take would only hold memory
    const fedBy = feed;
    const driftDone = !checkOptions
      ? Promise.resolve()
      : (async (): Promise<void> => {
          try {
            const check = {
              ...checkOptions,
              currentInWorker: true,
              // the current data's digest goes with a stored report only
              digestCurrent: store !== undefined,
              ...(fedBy ? { fedCurrent: fedBy.feed } : {}),
              signal,
            };
            const done = store ? await checkAndStore(store, check) : { result: await runDriftCheck(check), stored: undefined };
            const r = done.result.report;
            drift = {
              dataset_drift: r.dataset_drift,
              drift_share: r.drift_share,
              headline: driftHeadline(done.result, model),
              ...(done.stored ? { report_id: done.stored.driftReportId } : {}),
            };
            if (r.dataset_drift) driftAlerts.push({ check: 'drift', metric: 'drift_share', value: r.drift_share, message: drift.headline });
          } catch (error) {
            const message = userError(error);
            if (message === undefined) throw error;
            driftErrors.push({ check: 'drift', message });
          }
        })();
    driftDone.catch(() => undefined); // awaited below, after the other checks; never an unhandled rejection meanwhile
    return await checkModel(options, { logOptions, idColumn, feed, driftDone, driftAlerts, driftErrors, drift: () => drift, estimator });
  } catch (error) {
    // a bug (bad input is a check's error, not thrown): nothing else of this check may keep the process alive
    stop.abort(error);
    feed?.feed.abandon();
    throw error;
  } finally {
    estimator?.stop();
    options.signal?.removeEventListener('abort', passOn);
  }
}

interface Started {
  readonly logOptions: LogOptions;
  readonly idColumn: string;
  readonly feed: StartedFeed | undefined;
  readonly driftDone: Promise<void>;
  readonly driftAlerts: MonitoringAlert[];
  readonly driftErrors: { check: MonitorCheck; message: string }[];
  readonly drift: () => ModelMonitorResult['drift'];
  readonly estimator: EstimateThread | undefined;
}

type LogOptions = {
  predictions: string;
  predictionsFormat?: DatasetFileFormat;
  predictionColumn: string;
  probabilityPrefix: string;
  timeColumn?: string;
  window?: NonNullable<ModelMonitoring['window']>;
  baseDir: string;
  signal: AbortSignal;
};

/** Performance, groups and estimated performance over the shared read, then the drift check's end. */
async function checkModel(options: MonitorModelOptions, started: Started): Promise<ModelMonitorResult> {
  const { model, monitoring, baseDir, store } = options;
  const { logOptions, idColumn, feed, driftDone, driftAlerts, driftErrors, estimator } = started;
  const alerts: MonitoringAlert[] = [];
  const errors: { check: MonitorCheck; message: string }[] = [];
  if (!monitoring.labels && !monitoring.estimated_performance && options.drift === false)
    errors.push({ check: 'performance', message: `monitoring.${model} has no labels: (a file or glob of id,label) to measure performance with` });
  let performance: ModelMonitorResult['performance'];
  let fairness: ModelMonitorResult['fairness'];
  let shared: Promise<PredictionLog> | undefined;
  let estimating: Promise<EstimatedPerformanceReport> | undefined;
  const sharedLog = (): Promise<PredictionLog> | undefined =>
    monitoring.labels || monitoring.estimated_performance
      ? (shared ??= readPredictionLog({
          ...logOptions,
          ...(monitoring.labels ? { idColumn } : {}),
          ...(monitoring.groups ? { groups: monitoring.groups } : {}),
          ...(feed ? { feed: feed.feed, schemas: feed.schemas } : {}),
          ...(estimator && monitoring.estimated_performance ? { rowsFeed: estimator.rowsFeed } : {}),
        }).then(
          (log) => {
            feed?.feed.end(feed.schema, feed.dates);
            return log;
          },
          (error: unknown) => {
            feed?.feed.abandon(); // the drift check reads the log itself, and reports what it finds there
            throw error;
          },
        ))
      : undefined;
  /**
   * The estimating thread was given the log's rows batch by batch as they were read (rowsFeed) and has summed them:
   * asked once the labels are joined (the join reads the log's probability and window columns; they go then).
   */
  const startEstimate = (log: PredictionLog | undefined): void => {
    if (!estimator || !monitoring.estimated_performance || !log || estimating) return;
    estimating = estimator.estimate(log, {
      reference: resolvePath(baseDir, monitoring.estimated_performance.reference),
      probabilityPrefix: logOptions.probabilityPrefix,
      config: monitoring.estimated_performance,
      minRows: monitoring.min_rows ?? DEFAULT_MIN_ROWS,
    });
    estimating.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  };
  if (monitoring.labels) {
    try {
      const joined = await joinLabels(
        {
          ...logOptions,
          idColumn,
          labels: resolvePath(baseDir, monitoring.labels),
          labelColumn: monitoring.label ?? 'label',
          ...(monitoring.groups ? { groups: monitoring.groups } : {}),
        },
        await sharedLog(),
      );
      startEstimate(await sharedLog());
      const task = detectTask(joined, monitoring.task);
      const thresholds = monitoring.performance;
      const baseline =
        thresholds?.max_drop !== undefined ? validationBaseline(store, model, comparedMetric(task, thresholds), thresholds.validation_metric) : undefined;
      const report = computePerformance(joined, {
        task,
        ...(monitoring.min_rows !== undefined ? { minRows: monitoring.min_rows } : {}),
        ...(thresholds ? { thresholds } : {}),
        ...(baseline ? { baseline } : {}),
      });
      performance = { ...report, ...storeReport(store, model, 'performance', report.alerts.length > 0, performanceSummary(report), report) };
      alerts.push(...report.alerts);
      if (monitoring.groups) {
        try {
          const groups = computeFairness(joined, {
            ...(monitoring.positive_class !== undefined ? { positiveClass: monitoring.positive_class } : {}),
            ...(monitoring.fairness ? { thresholds: monitoring.fairness } : {}),
            ...(monitoring.min_rows !== undefined ? { minRows: monitoring.min_rows } : {}),
          });
          fairness = { ...groups, ...storeReport(store, model, 'fairness', groups.alerts.length > 0, fairnessSummary(groups), groups) };
          alerts.push(...groups.alerts);
        } catch (error) {
          const message = userError(error);
          if (message === undefined) throw error;
          errors.push({ check: 'fairness', message });
        }
      }
    } catch (error) {
      const message = userError(error);
      if (message === undefined) throw error;
      errors.push({ check: 'performance', message });
    }
  }
  let estimated: ModelMonitorResult['estimated_performance'];
  if (monitoring.estimated_performance) {
    try {
      const read = await sharedLog();
      startEstimate(read); // not started yet: no labels, or their join failed
      const report = estimating
        ? withRealised(await estimating, performance)
        : await computeEstimatedPerformance({
            log: { ...logOptions, idColumn },
            ...(read ? { read } : {}),
            reference: resolvePath(baseDir, monitoring.estimated_performance.reference),
            labelColumn: monitoring.label ?? 'label',
            config: monitoring.estimated_performance,
            minRows: monitoring.min_rows ?? DEFAULT_MIN_ROWS,
            ...(performance ? { realised: performance } : {}),
          });
      estimated = {
        ...report,
        ...storeReport(store, model, 'estimated_performance', report.alerts.length > 0, estimatedSummary(report), report),
      };
      alerts.push(...report.alerts);
    } catch (error) {
      const message = userError(error);
      if (message === undefined) throw error;
      errors.push({ check: 'estimated_performance', message });
    }
  }
  if (feed && !shared) feed.feed.abandon(); // never read (a check stopped before): the drift check reads the log itself
  await driftDone.finally(() => feed?.feed.abandon()); // the drift check is over: its worker stops
  alerts.unshift(...driftAlerts);
  errors.unshift(...driftErrors);
  const drift = started.drift();
  return {
    model,
    ...(drift ? { drift } : {}),
    ...(performance ? { performance } : {}),
    ...(fairness ? { fairness } : {}),
    ...(estimated ? { estimated_performance: estimated } : {}),
    alerts,
    errors,
  };
}

/** One model's checks and, when one raised an alert, its `on_alert` delivered — what `mloop monitor` and the editor's schedule both run. */
export async function monitorAndAlert(
  options: MonitorModelOptions & { readonly checkedAt?: string; readonly env?: NodeJS.ProcessEnv },
): Promise<ModelMonitorResult & { readonly on_alert?: readonly AlertDelivery[] }> {
  const result = await monitorModel(options);
  const onAlert = options.monitoring.on_alert;
  if (!onAlert || result.alerts.length === 0) return result;
  const delivered = await deliverAlert(onAlert, {
    model: options.model,
    alertCount: result.alerts.length,
    payload: { checked_at: options.checkedAt ?? new Date().toISOString(), ...result },
    cwd: options.baseDir,
    ...(options.env ? { env: options.env } : {}),
  });
  return { ...result, on_alert: delivered };
}

/**
 * What a model's checks read, as a string that changes when any of it does: the monitoring entry, each input file's
 * path, size and mtime (predictions, labels, the drift and CBPE references), and the champion version (the default
 * drift reference). A scheduled check whose signature did not change would store the same reports again.
 */
export async function monitorInputsSignature(options: Pick<MonitorModelOptions, 'model' | 'monitoring' | 'baseDir' | 'store'>): Promise<string> {
  const { monitoring, baseDir } = options;
  const paths = [monitoring.current, monitoring.labels, monitoring.reference, monitoring.estimated_performance?.reference].filter(
    (p): p is string => typeof p === 'string',
  );
  const parts: string[] = [JSON.stringify(monitoring)];
  for (const path of paths) {
    const files = await listDatasetFiles(resolvePath(baseDir, path)).catch((error: unknown) => [`! ${String(error)}`]);
    for (const file of files) {
      const s = file.startsWith('! ') ? undefined : await stat(file).catch(() => undefined);
      parts.push(s ? `${file}:${s.size}:${s.mtimeMs}` : file);
    }
  }
  if (options.store) {
    const models = new ModelRepository(options.store);
    const found = models.byName(options.model);
    const champion = found && models.versionByAlias(found.modelId, 'champion');
    parts.push(`champion:${champion?.modelVersionId ?? '-'}`);
  }
  return parts.join('\n');
}

function storeReport(
  store: Store | undefined,
  model: string,
  kind: MonitoringReportKind,
  alert: boolean,
  summary: string,
  result: unknown,
): { report_id?: number } {
  if (!store) return {};
  return { report_id: new MonitoringReportRepository(store).add({ modelName: model, kind, alert, summary, result }).monitoringReportId };
}

/**
 * The model version's own validation metric (its champion, else its newest version): the training run's
 * `validation_metric`, else val_<metric>, validation_<metric>, then <metric>.
 */
export function validationBaseline(store: Store | undefined, model: string, metric: ValidationBaseline['metric'], key?: string): ValidationBaseline {
  const fail = (why: string): never => {
    throw new MonitoringInputError(`performance.max_drop of ${model}: ${why}`);
  };
  if (!store) return fail('no store to read the training run from');
  const models = new ModelRepository(store);
  const found = models.byName(model) ?? fail(`no registered model ${model}`);
  const version = models.versionByAlias(found.modelId, 'champion') ?? models.versions(found.modelId)[0] ?? fail('the model has no versions yet');
  const runId = version.sourceRunId ?? fail(`v${version.version} was not registered from a run, so it has no validation metric`);
  const logged = new RunRepository(store).latestMetrics(runId);
  const candidates = key ? [key] : [`val_${metric}`, `validation_${metric}`, metric];
  const hit = candidates.find((k) => typeof logged[k] === 'number' && Number.isFinite(logged[k]));
  if (!hit)
    return fail(
      `run ${runId.slice(0, 8)} that trained v${version.version} logged no ${candidates.join(' / ')} (it logged: ${Object.keys(logged).join(', ') || 'nothing'}); set performance.validation_metric`,
    );
  return { metric, key: hit, value: logged[hit]!, version: version.version, runId };
}

export function performanceSummary(r: PerformanceReport): string {
  const main = r.task === 'classification' ? 'accuracy' : 'rmse';
  const latest = [...r.windows].reverse().find((w) => w.status === 'ok');
  const value = latest?.metrics[main];
  const where = latest
    ? `${main} ${value ? value.value.toFixed(3) : '—'} in ${latest.start === 'all' ? 'all labelled rows' : `window ${latest.start}`} (n = ${latest.n})`
    : 'not enough data';
  return `${where} · ${r.counts.joined} of ${r.counts.predictions} predictions labelled${r.counts.unmatchedLabels ? ` · ${r.counts.unmatchedLabels} label(s) match no prediction` : ''} · ${r.alerts.length} alert(s)`;
}

export function estimatedSummary(r: EstimatedPerformanceReport): string {
  const latest = [...r.windows].reverse().find((w) => w.status === 'ok');
  const accuracy = latest?.metrics.accuracy;
  const where =
    latest && accuracy
      ? `estimated accuracy ${accuracy.value.toFixed(3)} [${accuracy.lower?.toFixed(3) ?? '—'}, ${accuracy.upper?.toFixed(3) ?? '—'}] in ${latest.start === 'all' ? 'all predictions' : `window ${latest.start}`} (n = ${latest.n})`
      : 'not enough data';
  return `${where} · reference accuracy ${r.reference.accuracy.toFixed(3)} (n = ${r.reference.n}) · ${r.alerts.length} alert(s)`;
}

export function fairnessSummary(r: FairnessReport): string {
  const judged = r.windows.filter((w) => w.status === 'ok').length;
  return `${r.columns
    .map(
      (c) =>
        `${c.column}: parity difference ${c.demographic_parity_difference.toFixed(3)}, equalized odds difference ${c.equalized_odds_difference.toFixed(3)}`,
    )
    .join(' · ')} over all labelled rows · ${judged} of ${r.windows.length} window(s) judged · ${r.alerts.length} alert(s)`;
}

/** The drift feed with what it was made from: the log's schema, its date columns, and the schema by file for the shared read. */
interface StartedFeed {
  readonly feed: DriftFeed;
  readonly schema: DatasetSchema;
  readonly dates: string[];
  readonly schemas: ReadonlyMap<string, DatasetSchema>;
}

/**
 * The drift check's current side fed from the shared read of the predictions log, when the log is text (CSV, TSV,
 * JSON lines; Parquet is scanned column by column by the drift check itself) and its schema reads; else undefined
 * and the drift check reads the log itself.
 */
async function startDriftFeed(check: DriftCheckOptions, path: string, signal: AbortSignal | undefined): Promise<StartedFeed | undefined> {
  detachBeforeReads(); // the feed's transfers would otherwise have the reads' compiled code thrown away at its first batch
  try {
    const files = await listDatasetFiles(path, check.format);
    if (files.length === 0 || !files.every((f) => ['csv', 'tsv', 'jsonl'].includes(check.format ?? detectFormat(f) ?? ''))) return undefined;
    const schema = await readSchema(path, { ...(check.format ? { format: check.format } : {}), ...(signal ? { signal } : {}) });
    // the columns runDriftCheck compares: the configured ones but the time and prediction columns
    const excluded = new Set([check.timeColumn, check.predictionColumn].filter((c): c is string => c !== undefined));
    const { read, dates } = sideColumns(
      schema,
      check.columns?.filter((c) => !excluded.has(c)),
      check.timeColumn,
    );
    // the log's one file: its schema is the one the shared read needs (~40 ms of this thread before the read, not twice)
    const schemas = new Map(files.length === 1 ? [[files[0]!, schema]] : []);
    return { feed: new DriftFeed(read, Boolean(check.timeColumn && check.window)), schema, dates, schemas };
  } catch {
    return undefined; // the drift check reads the log itself and reports what is wrong with it
  }
}

function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
