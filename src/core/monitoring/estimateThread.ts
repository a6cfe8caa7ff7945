import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { EstimatedPerformanceConfig } from './configSchema';
import {
  estimateFromFit,
  fitReference,
  readReference,
  scoredBuffers,
  scoreLog,
  type EstimatedPerformanceReport,
  type EstimateSettings,
  type FittedReference,
  type ReferenceReadOptions,
  type ScoredLog,
} from './estimatedPerformance';
import { adoptSpare, ESTIMATE_YOUNG_GENERATION_MB } from '../drift/spareWorkers';
import { MonitoringInputError, type PredictionLog } from './labels';

/** The bundle that runs this thread (dist/driftWorker.js: its entry dispatches on `mode`), next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';

export interface EstimateWorkerData {
  readonly mode: 'estimate';
  readonly read: ReferenceReadOptions;
  readonly calibration: EstimatedPerformanceConfig['calibration'];
}
type EstimateRequest = { readonly log: ScoredLog; readonly settings: EstimateSettings };
type EstimateReply =
  | { readonly ok: true; readonly report: EstimatedPerformanceReport }
  | { readonly ok: false; readonly message: string; readonly name: string };

/**
 * CBPE on a thread of its own: the reference is read and CBPE fitted on it from the start (while the calling thread
 * reads the predictions log), then the log's typed columns move over and the windows are estimated while the calling
 * thread joins the labels and measures performance and groups. The report is the one computeEstimatedPerformance
 * gives (without the realised values: withRealised adds them). Bad input keeps its message (a MonitoringInputError
 * on this side); cancellation and stop() terminate the thread.
 */
export class EstimateThread {
  private readonly worker: Worker;
  private readonly reply: Promise<EstimateReply>;
  private asked = false;

  private constructor(file: string, data: EstimateWorkerData, signal: AbortSignal | undefined) {
    // a spare started with the process (its start-up done while the CLI loaded), else a new one
    this.worker =
      adoptSpare('estimate', file, ESTIMATE_YOUNG_GENERATION_MB, data) ??
      new Worker(file, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: ESTIMATE_YOUNG_GENERATION_MB } });
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
    return new EstimateThread(file, { mode: 'estimate', read, calibration }, signal);
  }

  /**
   * The report for this log. Its probability and window columns move to the thread: the log reads as empty there
   * after (the caller has joined the labels by then); the rest is made from its codes.
   */
  async estimate(log: PredictionLog, settings: EstimateSettings): Promise<EstimatedPerformanceReport> {
    if (this.asked) throw new Error('EstimateThread.estimate: asked twice');
    this.asked = true;
    const scored = scoreLog(log, { moved: true });
    this.worker.postMessage({ log: scored, settings } satisfies EstimateRequest, scoredBuffers(scored));
    try {
      const reply = await this.reply;
      if (!reply.ok)
        throw reply.name === 'MonitoringInputError' || reply.name === 'DatasetReadError' ? new MonitoringInputError(reply.message) : new Error(reply.message);
      return reply.report;
    } finally {
      this.stop();
    }
  }

  /** Ends the thread (the check is over, failed or was cancelled). */
  stop(): void {
    void this.worker.terminate();
  }
}

/** The thread's side (see driftWorkerMain.ts): read and fit at once, estimate when the log comes. */
export function runEstimateWorker(given: unknown = workerData): void {
  if (isMainThread || !parentPort) return;
  const data = given as EstimateWorkerData;
  const port = parentPort;
  const fitted: Promise<FittedReference> = readReference(data.read).then((reference) =>
    fitReference(reference, data.read.reference, data.calibration ?? 'auto'),
  );
  fitted.catch(() => undefined); // answered when the log comes
  port.once('message', (request: EstimateRequest) => {
    fitted
      .then((fit) => estimateFromFit(fit, request.log, request.settings))
      .then(
        (report) => port.postMessage({ ok: true, report } satisfies EstimateReply),
        (error: Error) =>
          port.postMessage({
            ok: false,
            message: error instanceof Error ? error.message : String(error),
            name: error instanceof Error ? error.name : 'Error',
          } satisfies EstimateReply),
      );
  });
}
