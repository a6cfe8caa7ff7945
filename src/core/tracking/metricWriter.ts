import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { type MessagePort, parentPort, Worker, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { MAX_WRITES_PER_COMMIT } from '../store/groupCommit';
import { appendMetricTriples } from '../store/metricPoints';
import { openStore } from '../store/store';
import { createContext, findWritableRun } from './context';
import { MlflowApiError, type MlflowErrorCode } from './errors';

// The tracking server's metric writes on a thread of their own (issue 16, ingest): the thread that reads requests,
// parses their JSON bodies and answers them hands each plain log-batch, packed as numbers, to this writer, which has
// its own connection to the store and commits the batches that arrive together in one transaction, each series'
// points of the group appended at once (see flush below). A batch is acknowledged only after the commit that holds it, as before; the server's
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

type WriteReply = { readonly id: number; readonly failure?: WriteFailure };
/** The thread answers a commit's batches in one message, or says once that it could not start. */
type ThreadMessage = WriteReply[] | { readonly id: 0; readonly fatal: string };

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
  private readonly outbox: WriteRequest[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly log: (line: string) => void,
  ) {
    worker.on('message', (message: ThreadMessage) => {
      if (!Array.isArray(message)) {
        this.fail(new Error(`the metric writer thread could not start: ${message.fatal}`));
        return;
      }
      for (const reply of message) {
        const waiting = this.pending.get(reply.id);
        if (!waiting) continue;
        this.pending.delete(reply.id);
        if (reply.failure) waiting.reject(revive(reply.failure));
        else waiting.resolve();
      }
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
      this.outbox.push({ id, runId, metrics });
      if (this.outbox.length === 1) setImmediate(() => this.post());
    });
  }

  /** The batches of one turn of the event loop (the requests read together) go to the thread in one message. */
  private post(): void {
    const batches = this.outbox.splice(0);
    if (batches.length === 0) return;
    if (this.dead) {
      for (const { id } of batches) this.pending.get(id)?.reject(this.dead);
      return;
    }
    // the numbers move to the thread without a copy
    this.worker.postMessage(
      batches,
      batches.flatMap(({ metrics }) => [metrics.triples.buffer as ArrayBuffer, metrics.starts.buffer as ArrayBuffer]),
    );
  }

  /** Lets the writes in flight commit, then stops the thread and closes its connection. */
  async close(): Promise<void> {
    this.closing = true;
    this.post();
    // the thread is unref'd while it serves (it must not keep a process alive on its own), but a close awaits its
    // exit: without a ref the event loop can empty first and the process end (exit 0) before the caller resumes,
    // losing the CLI's exit code (train's 1 and 4 were lost this way)
    if (!this.dead) {
      this.worker.ref();
      this.worker.postMessage({ id: -1 });
    }
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

/** The thread's side: its own connection, one commit for the batches that arrive together, one reply message per commit. */
export function runMetricWriterWorker(): void {
  const port = parentPort;
  if (!port) return;
  if ((workerData as { checkpointer?: boolean }).checkpointer) return runCheckpointThread(port, (workerData as { storePath: string }).storePath);
  let ctx: ReturnType<typeof createContext>;
  try {
    const store = openStore({ path: (workerData as { storePath: string }).storePath });
    ctx = createContext({ store, artifactRoot: '' });
  } catch (error) {
    port.postMessage({ id: 0, fatal: (error as Error).message } satisfies ThreadMessage);
    process.exit(1);
  }
  const db = ctx.store.db;
  const checkpoints = new CheckpointAfterReplies(ctx.store.path, (sql) => db.pragma(sql), endianness(), CheckpointThread.start(ctx.store.path));
  const queue: WriteRequest[] = [];
  let scheduled = false;
  let closing = false;

  /** Each batch alone in its own transaction: the way back when a group's shared write failed. */
  const writeAlone = (request: WriteRequest): WriteReply => {
    try {
      ctx.store.transaction(() => {
        const run = findWritableRun(ctx, request.runId);
        appendMetricTriples(db, run.runId, request.metrics.keys, request.metrics.starts, request.metrics.triples);
      });
      return { id: request.id };
    } catch (error) {
      return { id: request.id, failure: describe(error) };
    }
  };

  /**
   * One transaction for the group: a batch whose run is missing or deleted is refused (nothing of it written), the
   * others' points are appended together, each series once, in queue order: the same points in the same order as one
   * append per batch, with one tail row or sealed block per series and commit instead of one per batch. If that write
   * fails, nothing of the group was written and each batch is tried again alone; if BEGIN or COMMIT fails, every
   * batch of the group is refused with that error.
   */
  const flush = (): void => {
    const group = queue.splice(0, MAX_WRITES_PER_COMMIT);
    if (queue.length > 0) setImmediate(flush);
    else scheduled = false;
    const replies: WriteReply[] = [];
    let writeFailed = false;
    try {
      ctx.store.transaction(() => {
        const byRun = new Map<string, Map<string, Float64Array[]>>();
        for (const request of group) {
          let runId: string;
          try {
            runId = findWritableRun(ctx, request.runId).runId;
          } catch (error) {
            if (!(error instanceof MlflowApiError)) throw error;
            replies.push({ id: request.id, failure: describe(error) });
            continue;
          }
          replies.push({ id: request.id });
          let series = byRun.get(runId);
          if (!series) byRun.set(runId, (series = new Map()));
          const { keys, starts, triples } = request.metrics;
          for (let k = 0; k < keys.length; k++) {
            const part = triples.subarray(starts[k]! * 3, starts[k + 1]! * 3);
            const parts = series.get(keys[k]!);
            if (parts) parts.push(part);
            else series.set(keys[k]!, [part]);
          }
        }
        try {
          for (const [runId, series] of byRun) appendMetricTriples(db, runId, ...merge(series));
        } catch (error) {
          writeFailed = true;
          throw error;
        }
      });
    } catch (error) {
      replies.length = 0;
      if (writeFailed) for (const request of group) replies.push(writeAlone(request));
      else for (const request of group) replies.push({ id: request.id, failure: describe(error) });
    }
    port.postMessage(replies);
    checkpoints.afterReplies();
    if (closing && !scheduled) finish();
  };
  const finish = (): void => {
    checkpoints.close();
    ctx.store.close();
    port.close();
  };
  port.on('message', (message: WriteRequest[] | { id: -1 }) => {
    if (!Array.isArray(message)) {
      closing = true;
      if (!scheduled) finish();
      return;
    }
    queue.push(...message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
}

/** SQLite's own autocheckpoint threshold (pages in the write-ahead log), kept. */
const CHECKPOINT_FRAMES = 1000;
/** The wal-index header's first field, iVersion (SQLite's WALINDEX_MAX_VERSION), the same on every host since 3.7.0. */
const WAL_INDEX_VERSION = 3007000;
/** Where the wal-index header (https://www.sqlite.org/walformat.html, the store's "-shm" file) keeps mxFrame, the log's last frame. */
const MX_FRAME_OFFSET = 16;
/** The header's bytes read: iVersion through mxFrame. */
export const WAL_INDEX_HEADER_BYTES = MX_FRAME_OFFSET + 4;
/**
 * Where the checkpoint information after the header's two 48-byte copies keeps nBackfill, the frames already copied
 * into the store file (same byte order as the header).
 */
const N_BACKFILL_OFFSET = 96;
/** The bytes read for both: iVersion through nBackfill. */
export const WAL_INDEX_CHECKPOINT_BYTES = N_BACKFILL_OFFSET + 4;
/**
 * With checkpoints on their own thread, the log's length at which the writer copies what is left itself. SQLite
 * starts the log over from its first frame only at a write that finds every frame copied, which a checkpoint running
 * beside the writer's commits never leaves; the writer's own checkpoint here does, so the log stays this short.
 */
export const LOG_LIMIT_FRAMES = 4 * 1000;

/**
 * mxFrame from the start of a wal-index header, or undefined when the header does not read as one. SQLite writes that
 * header as in-memory structs, in the byte order of the host that wrote it (unlike the log's own big-endian headers),
 * so it is read in `order`; iVersion read in the same order tells a wrong order or a foreign file from a real header.
 */
export function walIndexFrames(header: Buffer, order: 'BE' | 'LE'): number | undefined {
  if (header.length < WAL_INDEX_HEADER_BYTES) return undefined;
  const read = (at: number): number => (order === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));
  return read(0) === WAL_INDEX_VERSION ? read(MX_FRAME_OFFSET) : undefined;
}

/** nBackfill from the start of a -shm file whose header walIndexFrames read in `order`: the frames already in the store file. */
export const walIndexCopied = (shm: Buffer, order: 'BE' | 'LE'): number =>
  order === 'LE' ? shm.readUInt32LE(N_BACKFILL_OFFSET) : shm.readUInt32BE(N_BACKFILL_OFFSET);

/**
 * The writer's checkpoints, moved from inside COMMIT to after the replies. SQLite's autocheckpoint runs in the COMMIT
 * that takes the log past 1,000 pages, so the batches of that commit were acknowledged only after the checkpoint's
 * two fsyncs (milliseconds, while every client waited on its answer). Here the writer's connection has no
 * autocheckpoint; after it has posted a commit's replies, it reads the log's length from the wal-index header and, at
 * 1,000 pages or more, runs the same PASSIVE checkpoint SQLite would have run, while the clients already send their
 * next batches. What a commit guarantees is unchanged (WAL, synchronous = NORMAL: a commit survives a crash of the
 * process; only an OS crash can lose the last commits, as before); only the moment of the checkpoint moves. When the
 * header cannot be read, or does not read as a wal-index header in this host's byte order, the connection goes back
 * to SQLite's autocheckpoint.
 * With a `background` (the writer's checkpoint thread), the checkpoint at 1,000 pages not yet copied (mxFrame less
 * nBackfill) runs there, while the writer goes on committing: the fsyncs had it wait 5–40 ms a checkpoint (~30–40 % of
 * its wall time, measured in process), with every client waiting on it. The writer copies what is left itself only at
 * LOG_LIMIT_FRAMES, so the log starts over; when the thread cannot run, at 1,000 pages as above.
 */
export class CheckpointAfterReplies {
  private fd: number | undefined;
  private readonly header = Buffer.alloc(WAL_INDEX_CHECKPOINT_BYTES);
  /** Whether the checkpoint thread is copying now. */
  private copying = false;

  constructor(
    storePath: string,
    private readonly pragma: (sql: string) => unknown,
    private readonly order: 'BE' | 'LE' = endianness(),
    private background?: BackgroundCheckpoint,
  ) {
    try {
      this.fd = openSync(`${storePath}-shm`, 'r');
      this.pragma('wal_autocheckpoint = 0');
    } catch {
      this.fd = undefined;
    }
  }

  afterReplies(): void {
    if (this.fd === undefined) return;
    let frames: number | undefined;
    let copied = 0;
    try {
      const read = readSync(this.fd, this.header, 0, WAL_INDEX_CHECKPOINT_BYTES, 0);
      if (read >= WAL_INDEX_HEADER_BYTES) frames = walIndexFrames(this.header, this.order);
      if (read === WAL_INDEX_CHECKPOINT_BYTES && frames !== undefined) copied = walIndexCopied(this.header, this.order);
    } catch {
      frames = undefined;
    }
    if (frames === undefined) {
      this.close();
      this.pragma(`wal_autocheckpoint = ${CHECKPOINT_FRAMES}`);
      return;
    }
    if (this.copying) return;
    // the checkpoint thread copies (its fsyncs wait on the disk for milliseconds, which the writer's commits no longer
    // wait on); the writer copies what is left itself only when the log reaches its limit, so that the log starts over
    if (this.background && frames < LOG_LIMIT_FRAMES) {
      // a frame count below what was copied: the log started over and the header was read between the two fields
      if (frames - Math.min(copied, frames) >= CHECKPOINT_FRAMES) this.startBackground();
    } else if (frames >= CHECKPOINT_FRAMES) this.pragma('wal_checkpoint(PASSIVE)');
  }

  private startBackground(): void {
    this.copying = true;
    const started = this.background!.start((ok) => {
      this.copying = false;
      if (!ok) this.background = undefined;
    });
    if (!started) {
      this.copying = false;
      this.background = undefined;
      this.pragma('wal_checkpoint(PASSIVE)');
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.background?.close();
    this.background = undefined;
  }
}

/** A PASSIVE checkpoint run elsewhere: `start` returns false when it cannot run; `done(false)`: it failed and will not run again. */
export interface BackgroundCheckpoint {
  start(done: (ok: boolean) => void): boolean;
  close(): void;
}

/**
 * The writer's checkpoints on a thread and connection of their own (this same bundle, started by the writer thread).
 * A PASSIVE checkpoint takes no lock that a commit needs, so the writer keeps committing while it copies the log into
 * the store file and waits on its two fsyncs (each ~5–40 ms on this project's 2-core machine, most of a checkpoint). The same
 * checkpoint as SQLite's (synchronous = NORMAL, the same fsyncs in the same order): what a commit guarantees is unchanged.
 */
class CheckpointThread implements BackgroundCheckpoint {
  private done: ((ok: boolean) => void) | undefined;
  private dead = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (ok: boolean) => this.finish(ok === true));
    worker.on('error', () => this.finish(false));
    worker.once('exit', () => this.finish(false));
    worker.unref();
  }

  static start(storePath: string): CheckpointThread | undefined {
    try {
      return new CheckpointThread(new Worker(__filename, { workerData: { storePath, checkpointer: true } }));
    } catch {
      return undefined;
    }
  }

  start(done: (ok: boolean) => void): boolean {
    if (this.dead) return false;
    this.done = done;
    this.worker.postMessage(0);
    return true;
  }

  private finish(ok: boolean): void {
    if (!ok) this.dead = true;
    const done = this.done;
    this.done = undefined;
    done?.(ok);
  }

  close(): void {
    this.dead = true;
    void this.worker.terminate();
  }
}

/** The checkpoint thread: one PASSIVE checkpoint per message, answered true, or false once it failed (then it stops). */
function runCheckpointThread(port: MessagePort, storePath: string): void {
  let db: Database.Database;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the native addon loaded here only, as store.ts defers it
    db = new (require('better-sqlite3') as typeof Database)(storePath, { fileMustExist: true });
    db.pragma('synchronous = NORMAL');
  } catch {
    port.postMessage(false);
    return;
  }
  port.on('message', () => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
      port.postMessage(true);
    } catch {
      port.postMessage(false);
      db.close();
      port.close();
    }
  });
}

/** A run's series, each a list of point runs in queue order, as appendMetricTriples' arguments. */
function merge(series: Map<string, Float64Array[]>): [string[], Uint32Array, Float64Array] {
  const keys = [...series.keys()];
  const starts = new Uint32Array(keys.length + 1);
  let total = 0;
  keys.forEach((key, k) => {
    for (const part of series.get(key)!) total += part.length;
    starts[k + 1] = total / 3;
  });
  const triples = new Float64Array(total);
  let at = 0;
  for (const key of keys) {
    for (const part of series.get(key)!) {
      triples.set(part, at);
      at += part.length;
    }
  }
  return [keys, starts, triples];
}
