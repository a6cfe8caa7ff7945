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
import { MonitoringInputError, type LogRowsFeed, type LogRowsRead, type PredictionLog } from './labels';

/** The bundle that runs this thread (dist/driftWorker.js: its entry dispatches on `mode`), next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';
/** Its heap holds the reference's cells and small objects (the log's numbers arrive in typed arrays). */
const ESTIMATE_YOUNG_GENERATION_MB = 8;

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

/**
 * CBPE on a thread of its own: the reference is read and CBPE fitted on it from the start (while the calling thread
 * reads the predictions log); the log's rows come batch by batch as they are read (rowsFeed: each row calibrated and
 * summed into its window there meanwhile), and the report is made from the sums once the log is read. A log read
 * without the feed moves over whole and is estimated then. The report is the one computeEstimatedPerformance
 * gives (without the realised values: withRealised adds them). Bad input keeps its message (a MonitoringInputError
 * on this side); cancellation and stop() terminate the thread.
 */
export class EstimateThread {
  private readonly worker: Worker;
  private readonly reply: Promise<EstimateReply>;
  private asked = false;
  /** The rows given to the thread batch by batch so far (-1: not every row in order: the log moves over whole). */
  private streamed = 0;
  private windowNamesSent = 0;
  private predictionsSent = 0;
  /** Pass to readPredictionLog: each batch's probability, window and prediction columns go to the thread as copies. */
  readonly rowsFeed: LogRowsFeed = { push: (read, from, to) => this.pushRows(read, from, to) };

  private constructor(file: string, data: EstimateWorkerData, signal: AbortSignal | undefined) {
    this.worker = new Worker(file, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: ESTIMATE_YOUNG_GENERATION_MB } });
    this.reply = new Promise<EstimateReply>((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) =>
        reject(signal?.aborted ? signal.reason : new Error(`the estimated-performance worker stopped (exit ${code}) before answering`)),
      );
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
    if (this.streamed === log.rows) {
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
    if (this.asked || from !== this.streamed) {
      this.streamed = -1;
      return;
    }
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
 * The thread's side (see driftWorkerMain.ts): read and fit at once; sum each batch of the log's rows as it comes (once
 * fitted: batches that come before wait), and answer with the report when asked.
 */
export function runEstimateWorker(): void {
  if (isMainThread || !parentPort) return;
  detachBeforeReads(); // freeing each summed batch at once would otherwise throw away the reference read's compiled code
  const data = workerData as EstimateWorkerData;
  const port = parentPort;
  let fitted: { readonly ok: true; readonly fit: FittedReference; stream?: StreamedEstimate } | { readonly ok: false; readonly error: unknown } | undefined;
  const waiting: EstimateMessage[] = [];
  const answer = (message: Extract<EstimateMessage, { kind: 'estimate' }>): void => {
    let reply: EstimateReply;
    try {
      if (!fitted!.ok) throw fitted!.error;
      const { fit } = fitted!;
      const report =
        'log' in message ? estimateFromFit(fit, message.log, message.settings) : (fitted!.stream ?? new StreamedEstimate(fit)).report(message.streamed, message.settings);
      reply = { ok: true, report };
    } catch (error) {
      reply = { ok: false, message: error instanceof Error ? error.message : String(error), name: error instanceof Error ? error.name : 'Error' };
    }
    port.postMessage(reply);
  };
  const handle = (message: EstimateMessage): void => {
    if (message.kind === 'estimate') return answer(message);
    if (!fitted!.ok) return; // the estimate answers with the reference's error
    (fitted!.stream ??= new StreamedEstimate(fitted!.fit, freeNow)).add(message.rows);
  };
  port.on('message', (message: EstimateMessage) => {
    if (fitted) handle(message);
    else waiting.push(message);
  });
  readReference(data.read)
    .then((reference) => fitReference(reference, data.read.reference, data.calibration ?? 'auto'))
    .then(
      (fit) => (fitted = { ok: true, fit }),
      (error: unknown) => (fitted = { ok: false, error }),
    )
    .then(() => {
      for (const message of waiting.splice(0)) handle(message);
    });
}
