import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { GroupCommit } from '../store/groupCommit';
import { appendMetricTriples } from '../store/metricPoints';
import { openStore } from '../store/store';
import { createContext, findWritableRun } from './context';
import { MlflowApiError, type MlflowErrorCode } from './errors';

// The tracking server's metric writes on a thread of their own (issue 16, ingest): the thread that reads requests,
// parses their JSON bodies and answers them hands each plain log-batch, packed as numbers, to this writer, which has
// its own connection to the store and commits the batches that arrive together in one transaction (GroupCommit, as
// on the server's thread). A batch is acknowledged only after the commit that holds it, as before; the server's
// thread meanwhile parses the next requests, so on two cores parsing and writing overlap.

/** The bundle built from metricWriterMain.ts (dist/metricWriter.js), next to dist/extension.js and dist/cli/. */
export const METRIC_WRITER_FILE = 'metricWriter.js';

/** A plain numeric log-batch, grouped by key: key k's points are triples [3 * starts[k], 3 * starts[k + 1]) (step, timestamp, value). */
export interface PackedMetrics {
  readonly keys: string[];
  readonly starts: Uint32Array;
  readonly triples: Float64Array;
}

interface WriteRequest {
  readonly id: number;
  readonly runId: string;
  readonly metrics: PackedMetrics;
}

/** A failure crosses the thread as data: an MLflow error keeps its code, a storage error its SQLite/errno code. */
interface WriteFailure {
  readonly api?: MlflowErrorCode;
  readonly code?: string;
  readonly name: string;
  readonly message: string;
}

type WriteReply = { readonly id: number; readonly failure?: WriteFailure } | { readonly id: 0; readonly fatal: string };

const describe = (error: unknown): WriteFailure =>
  error instanceof MlflowApiError
    ? { api: error.code, name: error.name, message: error.message }
    : {
        name: (error as Error)?.name ?? 'Error',
        message: (error as Error)?.message ?? String(error),
        code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined,
      };

function revive(failure: WriteFailure): Error {
  if (failure.api) return new MlflowApiError(failure.api, failure.message);
  const error = new Error(failure.message) as Error & { code?: string };
  error.name = failure.name;
  if (failure.code) error.code = failure.code;
  return error;
}

/**
 * The server's side of the writer thread. `start` returns undefined when the worker bundle is not there (the
 * caller then writes on its own thread). If the thread dies, the writes in flight are rejected (nothing of a
 * rejected batch was acknowledged) and `alive` turns false, so the caller goes back to writing on its own thread.
 */
export class MetricWriterThread {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private dead: Error | undefined;
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly log: (line: string) => void,
  ) {
    worker.on('message', (reply: WriteReply) => {
      if ('fatal' in reply) {
        this.fail(new Error(`the metric writer thread could not start: ${reply.fatal}`));
        return;
      }
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.failure) waiting.reject(revive(reply.failure));
      else waiting.resolve();
    });
    worker.on('error', (error) => this.fail(error));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.fail(new Error(`the metric writer thread stopped (exit ${code})`));
        resolve();
      }),
    );
    worker.unref();
  }

  static start(storePath: string, file: string, log: (line: string) => void): MetricWriterThread | undefined {
    if (!existsSync(file)) return undefined;
    return new MetricWriterThread(new Worker(file, { workerData: { storePath } }), log);
  }

  /** Whether writes can go to the thread (false once it stopped). */
  get alive(): boolean {
    return this.dead === undefined;
  }

  /** Appends the batch to the run's series; resolves once committed, rejects with the MLflow or storage error otherwise. */
  write(runId: string, metrics: PackedMetrics): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // the numbers move to the thread without a copy
      this.worker.postMessage({ id, runId, metrics } satisfies WriteRequest, [metrics.triples.buffer as ArrayBuffer, metrics.starts.buffer as ArrayBuffer]);
    });
  }

  /** Lets the writes in flight commit, then stops the thread and closes its connection. */
  async close(): Promise<void> {
    this.closing = true;
    if (!this.dead) this.worker.postMessage({ id: -1 });
    await this.exited;
  }

  private fail(error: Error): void {
    if (this.dead) return;
    this.dead = error;
    if (!this.closing) this.log(`metric writer thread: ${error.message}; metric writes go on on the server's thread`);
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

/** Default location of the worker bundle: beside the running bundle (dist/). */
export const defaultMetricWriterFile = (): string => join(__dirname, METRIC_WRITER_FILE);

/** The thread's side: its own connection, group commits of the batches that arrive together, one reply per batch. */
export function runMetricWriterWorker(): void {
  const port = parentPort;
  if (!port) return;
  let ctx: ReturnType<typeof createContext>;
  try {
    const store = openStore({ path: (workerData as { storePath: string }).storePath });
    ctx = createContext({ store, artifactRoot: '' });
  } catch (error) {
    port.postMessage({ id: 0, fatal: (error as Error).message } satisfies WriteReply);
    process.exit(1);
  }
  const writes = new GroupCommit(ctx.store);
  let inFlight = 0;
  let closing = false;
  const finish = (): void => {
    if (closing && inFlight === 0) {
      ctx.store.close();
      port.close();
    }
  };
  port.on('message', (request: WriteRequest) => {
    if (request.id === -1) {
      closing = true;
      finish();
      return;
    }
    inFlight++;
    const { id, runId, metrics } = request;
    writes
      .run(() => {
        const run = findWritableRun(ctx, runId);
        appendMetricTriples(ctx.store.db, run.runId, metrics.keys, metrics.starts, metrics.triples);
      })
      .then(
        () => port.postMessage({ id } satisfies WriteReply),
        (error: unknown) => port.postMessage({ id, failure: describe(error) } satisfies WriteReply),
      )
      .finally(() => {
        inFlight--;
        finish();
      });
  });
}
