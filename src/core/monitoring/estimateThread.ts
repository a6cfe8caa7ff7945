import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { EstimatedPerformanceConfig } from './configSchema';
import { detachBeforeReads, freeNow } from '../drift/freeNow';
import {
  estimateFromFit,
  fitReference,
  readReference,
  scoredBuffers,
  scoredRowsBuffers,
  scoreLog,
  StreamedEstimate,
  type EstimatedPerformanceReport,
  type EstimateSettings,
  type FittedReference,
  type ReferenceReadOptions,
  type ScoredLog,
  type ScoredRows,
  type StreamedLog,
} from './estimatedPerformance';
import { adoptSpare, ESTIMATE_YOUNG_GENERATION_MB } from '../drift/spareWorkers';
import { MonitoringInputError, type LogRowsFeed, type LogRowsRead, type PredictionLog } from './labels';

/** The bundle that runs this thread (dist/driftWorker.js: its entry dispatches on `mode`), next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';

export interface EstimateWorkerData {
  readonly mode: 'estimate';
  readonly read: ReferenceReadOptions;
  readonly calibration: EstimatedPerformanceConfig['calibration'];
}
/** A batch of the log's rows as it is read; then the estimate of the log, from those batches or from the whole log moved. */
type EstimateMessage =
  | { readonly kind: 'rows'; readonly rows: ScoredRows }
  | { readonly kind: 'estimate'; readonly log: ScoredLog; readonly settings: EstimateSettings }
  | { readonly kind: 'estimate'; readonly streamed: StreamedLog; readonly settings: EstimateSettings };
type EstimateReply =
  | { readonly ok: true; readonly report: EstimatedPerformanceReport }
  | { readonly ok: false; readonly message: string; readonly name: string };
/** The thread's word that the reference is fitted (summing: rows given from now on are summed as they come), then its reply. */
type ThreadMessage = { readonly kind: 'fitted'; readonly summing: boolean } | { readonly kind: 'reply'; readonly reply: EstimateReply };

/**
 * CBPE on a thread of its own: the reference is read and CBPE fitted on it from the start (while the calling thread
 * reads the predictions log); once fitted, the log's rows go to it batch by batch as they are read (rowsFeed; the
 * rows read before go with the next batch) and are calibrated and summed into their windows there meanwhile, and the
 * report is made from the sums once the log is read. A log read without the feed, or before the fit was done, moves
 * over whole and is estimated then. The report is the one computeEstimatedPerformance gives (without the realised
 * values: withRealised adds them). Bad input keeps its message (a MonitoringInputError on this side); cancellation
 * and stop() terminate the thread.
 */
export class EstimateThread {
  private readonly worker: Worker;
  private readonly reply: Promise<EstimateReply>;
  private asked = false;
  /** Whether the thread said it sums rows as they come (its fit is done and did not fail). */
  private summing = false;
  /** The rows the feed was given (-1: not every row in order: the log moves over whole at the end). */
  private read = 0;
  /** The rows sent to the thread (they wait in the log's own columns until the thread can sum them). */
  private streamed = 0;
  private windowNamesSent = 0;
  private predictionsSent = 0;
  /** Pass to readPredictionLog: each batch's probability, window and prediction columns go to the thread as copies. */
  readonly rowsFeed: LogRowsFeed = { push: (read, from, to) => this.pushRows(read, from, to) };
  /** Resolves when the reference is fitted (true: rows given from then on are summed as they come). */
  readonly fitted: Promise<boolean>;

  private constructor(file: string, data: EstimateWorkerData, signal: AbortSignal | undefined) {
    // a spare started with the process (its start-up done while the CLI loaded), else a new one
    this.worker =
      adoptSpare('estimate', file, ESTIMATE_YOUNG_GENERATION_MB, data) ??
      new Worker(file, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: ESTIMATE_YOUNG_GENERATION_MB } });
    let sayFitted: (summing: boolean) => void = () => undefined;
    this.fitted = new Promise<boolean>((resolve) => (sayFitted = resolve));
    this.reply = new Promise<EstimateReply>((resolve, reject) => {
      this.worker.on('message', (message: ThreadMessage) => {
        if (message.kind === 'reply') return resolve(message.reply);
        this.summing = message.summing;
        sayFitted(message.summing);
      });
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => {
        sayFitted(false);
        reject(signal?.aborted ? signal.reason : new Error(`the estimated-performance worker stopped (exit ${code}) before answering`));
      });
    });
    this.reply.catch(() => undefined); // awaited by estimate(); never an unhandled rejection meanwhile
    if (signal) {
      const abort = (): void => this.stop();
      signal.addEventListener('abort', abort, { once: true });
      void this.reply.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
  }

  /** Starts the thread, or undefined when its bundle is not there (the caller estimates on its own thread). */
  static start(
    read: ReferenceReadOptions,
    calibration: EstimatedPerformanceConfig['calibration'],
    signal?: AbortSignal,
    file = join(__dirname, WORKER_FILE),
  ): EstimateThread | undefined {
    if (signal?.aborted || !existsSync(file)) return undefined;
    detachBeforeReads(); // the rows' transfers would otherwise have the reads' compiled code thrown away at the first batch
    return new EstimateThread(file, { mode: 'estimate', read, calibration }, signal);
  }

  /**
   * The report for this log. Given batch by batch (rowsFeed), only what the report needs of the whole log goes; else
   * its probability and window columns move to the thread, the rest made from its codes. Either way the log's
   * probability and window columns read as empty after (the caller has joined the labels by then).
   */
  async estimate(log: PredictionLog, settings: EstimateSettings): Promise<EstimatedPerformanceReport> {
    if (this.asked) throw new Error('EstimateThread.estimate: asked twice');
    this.asked = true;
    if (this.summing && this.read === log.rows) {
      this.send({ classes: log.classes, proba: log.proba, windows: log.windowOf, predicted: log.predictedCodes }, log.rows);
      const streamed: StreamedLog = { classes: log.classes, rows: log.rows, windows: log.windows };
      this.worker.postMessage({ kind: 'estimate', streamed, settings } satisfies EstimateMessage);
      for (const column of [...log.proba, log.windowOf.codes]) freeNow(column); // as when moved: their memory goes now
    } else {
      const scored = scoreLog(log, { moved: true });
      this.worker.postMessage({ kind: 'estimate', log: scored, settings } satisfies EstimateMessage, scoredBuffers(scored));
    }
    try {
      const reply = await this.reply;
      if (!reply.ok)
        throw reply.name === 'MonitoringInputError' || reply.name === 'DatasetReadError' ? new MonitoringInputError(reply.message) : new Error(reply.message);
      return reply.report;
    } finally {
      this.stop();
    }
  }

  private pushRows(read: LogRowsRead, from: number, to: number): void {
    if (this.asked) return;
    this.read = this.read >= 0 && from === this.read ? to : -1;
    if (this.summing && this.read >= 0) this.send(read, to);
  }

  /** The rows read since the last sent, as copies. */
  private send(read: LogRowsRead, to: number): void {
    const from = this.streamed;
    if (to === from) return;
    const rows: ScoredRows = {
      classes: read.classes,
      proba: read.proba.map((column) => column.slice(from, to)),
      windowCodes: read.windows.codes.slice(from, to),
      newWindowNames: read.windows.names.slice(this.windowNamesSent),
      predictedCodes: read.predicted.codes.slice(from, to),
      newPredictedValues: read.predicted.values.slice(this.predictionsSent),
    };
    this.windowNamesSent = read.windows.names.length;
    this.predictionsSent = read.predicted.values.length;
    this.streamed = to;
    this.worker.postMessage({ kind: 'rows', rows } satisfies EstimateMessage, scoredRowsBuffers(rows));
  }

  /** Ends the thread (the check is over, failed or was cancelled). */
  stop(): void {
    void this.worker.terminate();
  }
}

/**
 * The thread's side (see driftWorkerMain.ts): read and fit at once and say so; sum each batch of the log's rows as it
 * comes, and answer with the report when asked (a message that came before the fit waits for it). `given`: a spare's
 * work, its first message (spareWorkers.ts), else the worker's data.
 */
export function runEstimateWorker(given: unknown = workerData): void {
  if (isMainThread || !parentPort) return;
  detachBeforeReads(); // freeing each summed batch at once would otherwise throw away the reference read's compiled code
  const data = given as EstimateWorkerData;
  const port = parentPort;
  /** The reference fitted (and the sums of the rows given since), or why it could not be read. */
  let reference: { readonly ok: true; readonly fit: FittedReference; stream?: StreamedEstimate } | { readonly ok: false; readonly error: unknown } | undefined;
  const waiting: EstimateMessage[] = [];
  const answer = (message: Extract<EstimateMessage, { kind: 'estimate' }>): void => {
    let reply: EstimateReply;
    try {
      if (!reference!.ok) throw reference!.error;
      const { fit } = reference!;
      const report =
        'log' in message
          ? estimateFromFit(fit, message.log, message.settings)
          : (reference!.stream ?? new StreamedEstimate(fit)).report(message.streamed, message.settings);
      reply = { ok: true, report };
    } catch (error) {
      reply = { ok: false, message: error instanceof Error ? error.message : String(error), name: error instanceof Error ? error.name : 'Error' };
    }
    port.postMessage({ kind: 'reply', reply } satisfies ThreadMessage);
  };
  const handle = (message: EstimateMessage): void => {
    if (message.kind === 'estimate') return answer(message);
    if (!reference!.ok) return; // the estimate answers with the reference's error
    (reference!.stream ??= new StreamedEstimate(reference!.fit, freeNow)).add(message.rows);
  };
  port.on('message', (message: EstimateMessage) => {
    if (reference) handle(message);
    else waiting.push(message);
  });
  readReference(data.read)
    .then((read) => fitReference(read, data.read.reference, data.calibration ?? 'auto'))
    .then(
      (fit) => (reference = { ok: true, fit }),
      (error: unknown) => (reference = { ok: false, error }),
    )
    .then(() => {
      port.postMessage({ kind: 'fitted', summing: reference!.ok && reference!.fit.fit.ok } satisfies ThreadMessage);
      for (const message of waiting.splice(0)) handle(message);
    });
}
