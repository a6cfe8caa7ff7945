import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DatasetReadError, type DatasetReadErrorDetails } from '../datasets/readErrors';
import type { CellValue } from '../datasets/readers';
import { MonitoringInputError, readLabelColumns, type LabelChunk, type LabelColumns, type LabelsReadOptions } from './labels';

/** The bundle that runs this thread (dist/driftWorker.js: its entry dispatches on `mode`), next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';
/** Its heap holds a batch's cells at a time (the ids and codes are typed arrays outside it). */
const LABELS_YOUNG_GENERATION_MB = 8;
/** Rows a batch of the thread's read. */
const LABELS_BATCH_ROWS = 1 << 16;

export interface LabelsWorkerData {
  readonly mode: 'labels';
  readonly read: Omit<LabelsReadOptions, 'signal'>;
}
/** An error of the thread, to be thrown again on the calling thread as what it was (a read error with its details). */
interface Failure {
  readonly message: string;
  readonly name: string;
  readonly read?: Omit<DatasetReadErrorDetails, 'cause' | 'message'>;
}
/** The labels as read: one chunk a file (until the first bad row), then what stopped the read, if anything. */
type LabelsReply =
  | {
      readonly ok: true;
      readonly missing?: string;
      readonly files: readonly string[];
      readonly values: readonly CellValue[];
      readonly chunks: readonly LabelChunk[];
      readonly stop?: Failure;
    }
  | { readonly ok: false; readonly failure: Failure };

/**
 * The labels files read and parsed on a thread of their own while the calling thread reads the predictions log: their
 * ids and label codes come back as typed arrays (moved, not copied), and only the join is left for after the read.
 * The join throws what the read on the calling thread would, in the same order (an empty id, a missing column, a read
 * error after the rows before it). Cancellation and stop() terminate the thread.
 */
export class LabelsThread {
  private readonly worker: Worker;
  /** The labels, for joinLabels. */
  readonly columns: Promise<LabelColumns>;

  private constructor(file: string, data: LabelsWorkerData, signal: AbortSignal | undefined) {
    this.worker = new Worker(file, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: LABELS_YOUNG_GENERATION_MB } });
    const reply = new Promise<LabelsReply>((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(signal?.aborted ? signal.reason : new Error(`the labels worker stopped (exit ${code}) before answering`)));
    });
    this.columns = reply.then((r) => {
      if (!r.ok) throw thrown(r.failure);
      return replied(r);
    });
    this.columns.catch(() => undefined); // awaited by joinLabels; never an unhandled rejection meanwhile
    void reply.finally(() => this.stop()).catch(() => undefined); // answered: the thread's work is done
    if (signal) {
      const abort = (): void => this.stop();
      signal.addEventListener('abort', abort, { once: true });
      void reply.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
  }

  /** Starts the thread, or undefined when its bundle is not there (the caller reads the labels itself). */
  static start(read: LabelsReadOptions, file = join(__dirname, WORKER_FILE)): LabelsThread | undefined {
    if (read.signal?.aborted || !existsSync(file)) return undefined;
    const { signal, ...plain } = read;
    return new LabelsThread(file, { mode: 'labels', read: plain }, signal);
  }

  /** Ends the thread (answered, or the check is over, failed or was cancelled). */
  stop(): void {
    void this.worker.terminate();
  }
}

/** The reply as joinLabels reads labels: its chunks, then the error that stopped the read. */
function replied(r: Extract<LabelsReply, { ok: true }>): LabelColumns {
  const { stop } = r;
  // each chunk let go once it is joined (they would otherwise be held through the checks after the join, the run's peak)
  const list = r.chunks as LabelChunk[];
  async function* chunks(): AsyncGenerator<LabelChunk> {
    for (let chunk = list.shift(); chunk; chunk = list.shift()) yield chunk;
    if (stop) throw thrown(stop);
  }
  return { ...(r.missing !== undefined ? { missing: r.missing } : {}), files: r.files, values: r.values, chunks: chunks() };
}

/** The error the read threw, made again on this side: bad input keeps its class (and a read error its details), a bug is an Error. */
function thrown(failure: Failure): Error {
  if (failure.read) return new DatasetReadError({ ...failure.read, message: failure.message });
  return failure.name === 'MonitoringInputError' ? new MonitoringInputError(failure.message) : new Error(failure.message);
}

/** An error as posted back: its message and class, and a read error's details. */
function failed(error: unknown): Failure {
  if (error instanceof DatasetReadError) {
    const { code, file, line, row, byteOffset } = error;
    const read = {
      code,
      file,
      ...(line !== undefined ? { line } : {}),
      ...(row !== undefined ? { row } : {}),
      ...(byteOffset !== undefined ? { byteOffset } : {}),
    };
    return { message: error.message, name: error.name, read };
  }
  return { message: error instanceof Error ? error.message : String(error), name: error instanceof Error ? error.name : 'Error' };
}

/** The thread's side (see driftWorkerMain.ts): read every labels file, post its rows as one chunk a file. */
export function runLabelsWorker(given: unknown = workerData): void {
  if (isMainThread || !parentPort) return;
  const port = parentPort;
  const data = given as LabelsWorkerData;
  (async (): Promise<LabelsReply> => {
    // batches of 2^16 rows: each of their arrays (≥ 256 KB) is mapped on its own and given back when freed; smaller
    // ones come from the malloc arena the drift and CBPE threads share, and freed there they stayed in the peak
    const read = await readLabelColumns({ ...data.read, batchRows: LABELS_BATCH_ROWS });
    const batches: LabelChunk[] = [];
    let stop: Failure | undefined;
    try {
      for await (const chunk of read.chunks) batches.push(chunk);
    } catch (error) {
      stop = failed(error);
    }
    const chunks = byFile(batches, read.values.length);
    return {
      ok: true,
      ...(read.missing !== undefined ? { missing: read.missing } : {}),
      files: read.files,
      values: read.values,
      chunks,
      ...(stop ? { stop } : {}),
    };
  })().then(
    (reply) => port.postMessage(reply, reply.ok ? reply.chunks.flatMap((c) => [c.ids.buffer as ArrayBuffer, c.labels.buffer as ArrayBuffer]) : []),
    (error: unknown) => port.postMessage({ ok: false, failure: failed(error) } satisfies LabelsReply),
  );
}

/**
 * A file's batches as one chunk: its ids as Int32Array while every one is an integer, the label codes in the
 * narrowest array that holds them (a million 0/1 labels: 1 MB, where the main thread holds them until the join).
 */
function byFile(batches: readonly LabelChunk[], distinct: number): LabelChunk[] {
  const out: LabelChunk[] = [];
  for (let start = 0; start < batches.length; ) {
    let end = start;
    while (end < batches.length && batches[end]!.file === batches[start]!.file) end++;
    const part = batches.slice(start, end);
    const rows = part.reduce((n, c) => n + c.rows, 0);
    const integers = part.every((c) => c.ids instanceof Int32Array);
    const ids = integers ? new Int32Array(rows) : new Float64Array(rows);
    const labels = distinct < 0xff ? new Uint8Array(rows) : distinct < 0xffff ? new Uint16Array(rows) : new Int32Array(rows);
    let texts: (string | undefined)[] | undefined;
    let at = 0;
    for (const c of part) {
      ids.set(c.ids, at);
      labels.set(c.labels, at);
      if (c.texts) {
        texts ??= [];
        for (let i = 0; i < c.rows; i++) if (c.texts[i] !== undefined) texts[at + i] = c.texts[i];
      }
      at += c.rows;
    }
    out.push({ file: part[0]!.file, rowOffset: part[0]!.rowOffset, rows, ids, ...(texts ? { texts } : {}), labels });
    start = end;
  }
  return out;
}
