import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, Worker } from 'node:worker_threads';
import { adoptSpare, SCAN_YOUNG_GENERATION_MB } from '../drift/spareWorkers';
import { detachBeforeReads, freeNow } from '../drift/freeNow';
import { DatasetReadError, toReadError, type DatasetReadErrorCode } from './readErrors';
import { detectFormat, readTypedBatches, type ReadOptions } from './readers';
import type { TypedBatch, TypedColumn } from './typedCsv';

/** The bundle that runs the scan's thread (src/core/datasets/scanWorkerMain.ts), next to dist/cli.js and dist/extension.js. */
export const SCAN_WORKER_FILE = 'scanWorker.js';

/**
 * A file this large or larger is scanned on a spare thread (one started with the process, src/cli/launcher.ts): the
 * scan is ~80 % of the calling thread's read of a predictions log (its bytes to typed columns, ~120 MB/s), and with
 * the thread already started the handing over costs ~0.1 ms a batch, so the thread pays from a few batches on.
 */
export const SPARE_THREAD_MIN_BYTES = 4 << 20;
/**
 * Without a spare, a new thread first compiles its bundle (~100 ms of a core before its first batch): it pays only
 * when the scan it takes over is a few times longer than that.
 */
export const NEW_THREAD_MIN_BYTES = 32 << 20;
/**
 * Batches posted and not yet taken by the calling thread: enough for the thread to scan on while a batch is worked on,
 * few enough that the peak memory does not rise (a 10 000-row batch of a 20-feature log is ~2.5 MB).
 */
const BATCHES_IN_FLIGHT = Number(process.env.DEBUG_IN_FLIGHT ?? 3);

export type TypedReadOptions = ReadOptions & {
  readonly prefixes?: Readonly<Record<string, number>>;
  readonly decimals?: readonly string[];
  readonly ids?: readonly string[];
};

export interface ScanWorkerData {
  readonly mode: 'scan';
  readonly file: string;
  readonly options: Omit<TypedReadOptions, 'signal'>;
  readonly inFlight: number;
}

/** A batch as posted: each prefix column's codes with the entries its file-wide dictionary gained since the last batch. */
type PostedColumn = TypedColumn | { readonly kind: 'prefixes'; readonly codes: Int32Array; readonly added: readonly string[] };
type ScanMessage =
  | { readonly kind: 'batch'; readonly rowOffset: number; readonly rows: number; readonly columns: Record<string, PostedColumn> }
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly error: PostedError };
interface PostedError {
  readonly name: string;
  readonly message: string;
  readonly code?: DatasetReadErrorCode;
  readonly file?: string;
  readonly line?: number;
  readonly row?: number;
  readonly byteOffset?: number;
}

export interface ThreadReadOptions {
  /** The worker bundle (tests; default dist/scanWorker.js next to the running bundle). */
  readonly workerFile?: string;
  /** The smallest file scanned on a spare thread / a new thread (tests; default SPARE_THREAD_MIN_BYTES, NEW_THREAD_MIN_BYTES). */
  readonly spareMinBytes?: number;
  readonly newMinBytes?: number;
  /**
   * The caller keeps none of a batch's arrays past its turn (it copies what it keeps): a batch from the thread has its
   * arrays freed when the next is asked for. The calling thread allocates little while it waits for batches, so it
   * collects seldom, and the arrays it dropped held ~30–50 MB more than the read on one thread did.
   */
  readonly release?: boolean;
}

/**
 * readTypedBatches with the scan (bytes to typed columns) on a thread of its own: the thread posts each batch (its
 * arrays moved, not copied) in file order, a few ahead at most, while the calling thread works on the batch before —
 * the same batches, the same errors (class, code, message). Only for a CSV or TSV file large enough to pay (see
 * SPARE_THREAD_MIN_BYTES); otherwise, with MLOOP_NO_READ_THREAD=1 or without the worker bundle, readTypedBatches
 * itself. A thread that cannot start or stops without its answer leaves the read to this thread, from the batch it
 * did not give. Cancellation terminates the thread.
 */
export async function* readTypedBatchesInThread(file: string, options: TypedReadOptions, thread: ThreadReadOptions = {}): AsyncGenerator<TypedBatch> {
  const worker = await scanWorker(file, options, thread);
  if (!worker) {
    yield* readTypedBatches(file, options);
    return;
  }
  // the batches' arrays freed here (release) detach buffers: before the caller's code that reads them is compiled (freeNow.ts)
  if (thread.release) detachBeforeReads();
  const { signal } = options;
  const queue: ScanMessage[] = [];
  let wake: (() => void) | undefined;
  let failed = false;
  const rouse = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (message: ScanMessage) => {
    queue.push(message);
    rouse();
  });
  worker.on('error', () => {
    failed = true;
    rouse();
  });
  worker.on('exit', () => {
    failed = true;
    rouse();
  });
  signal?.addEventListener('abort', rouse);
  /** Each prefix column's file-wide dictionary, the same array batch after batch (as the scanner's). */
  const dictionaries = new Map<string, string[]>();
  let rowsGiven = 0;
  try {
    for (;;) {
      while (queue.length === 0 && !failed && !signal?.aborted) await new Promise<void>((resolve) => (wake = resolve));
      if (signal?.aborted) throw toReadError(signal.reason, file);
      const message = queue.shift();
      if (!message) break; // the thread stopped without its answer
      if (message.kind === 'end') return;
      if (message.kind === 'error') throw receivedError(message.error);
      worker.postMessage(1); // one more batch may be scanned ahead
      const batch = receivedBatch(message, dictionaries);
      rowsGiven = batch.rowOffset + batch.rows;
      yield batch;
      if (thread.release) releaseBatch(batch);
      signal?.throwIfAborted();
    }
  } catch (error) {
    throw toReadError(error, file);
  } finally {
    signal?.removeEventListener('abort', rouse);
    void worker.terminate();
  }
  // the batches not given, read here: the scanner cuts the same batches and numbers the same prefixes
  for await (const batch of readTypedBatches(file, options)) if (batch.rowOffset >= rowsGiven) yield batch;
}

/** The thread that scans this read, or undefined when it is read on the calling thread. */
async function scanWorker(file: string, options: TypedReadOptions, thread: ThreadReadOptions): Promise<Worker | undefined> {
  const format = options.format ?? detectFormat(file);
  const workerFile = thread.workerFile ?? join(__dirname, SCAN_WORKER_FILE);
  if (process.env.MLOOP_NO_READ_THREAD === '1' || (format !== 'csv' && format !== 'tsv') || options.maxRows !== undefined || !existsSync(workerFile))
    return undefined;
  const size = await stat(file).then(
    (s) => (s.isFile() ? s.size : 0),
    () => 0, // the read on this thread says why it cannot be read
  );
  if (size < (thread.spareMinBytes ?? SPARE_THREAD_MIN_BYTES)) return undefined;
  const { signal: _signal, ...plain } = options;
  const data: ScanWorkerData = { mode: 'scan', file, options: plain, inFlight: BATCHES_IN_FLIGHT };
  const spare = adoptSpare('scan', workerFile, SCAN_YOUNG_GENERATION_MB, data);
  if (spare) return spare;
  if (size < (thread.newMinBytes ?? NEW_THREAD_MIN_BYTES)) return undefined;
  try {
    return new Worker(workerFile, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: SCAN_YOUNG_GENERATION_MB } });
  } catch {
    return undefined;
  }
}

function receivedBatch(message: Extract<ScanMessage, { kind: 'batch' }>, dictionaries: Map<string, string[]>): TypedBatch {
  const columns: Record<string, TypedColumn> = {};
  for (const [name, column] of Object.entries(message.columns)) {
    if ('added' in column) {
      let dictionary = dictionaries.get(name);
      if (!dictionary) dictionaries.set(name, (dictionary = []));
      for (const prefix of column.added) dictionary.push(prefix);
      columns[name] = { kind: 'prefixes', codes: column.codes, dictionary };
    } else columns[name] = column;
  }
  return { rowOffset: message.rowOffset, rows: message.rows, columns };
}

/** Frees a batch's typed arrays now (those not moved on to another thread meanwhile: the drift feed's). */
function releaseBatch(batch: TypedBatch): void {
  for (const column of Object.values(batch.columns)) {
    const array = column.kind === 'numbers' || column.kind === 'decimals' ? column.values : 'codes' in column ? column.codes : undefined;
    if (array && !(array.buffer as ArrayBuffer & { readonly detached: boolean }).detached) freeNow(array);
  }
}

function receivedError(error: PostedError): Error {
  if (error.code === undefined || error.file === undefined) {
    const made = new Error(error.message);
    made.name = error.name;
    return made;
  }
  return new DatasetReadError({
    code: error.code,
    file: error.file,
    message: error.message,
    ...(error.line !== undefined ? { line: error.line } : {}),
    ...(error.row !== undefined ? { row: error.row } : {}),
    ...(error.byteOffset !== undefined ? { byteOffset: error.byteOffset } : {}),
  });
}

/** The scan's side (dist/scanWorker.js): the file's batches posted in order, at most `inFlight` not yet taken. */
export function runScanWorker(data: ScanWorkerData): void {
  const port = parentPort!;
  // the batches' arrays are moved (their buffers detached here): detached before the reader is compiled, not after (freeNow.ts)
  detachBeforeReads();
  let credits = data.inFlight;
  let wake: (() => void) | undefined;
  port.on('message', (more: number) => {
    credits += more;
    const w = wake;
    wake = undefined;
    w?.();
  });
  void (async (): Promise<void> => {
    try {
      const sent = new Map<string, number>();
      for await (const batch of readTypedBatches(data.file, data.options)) {
        while (credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
        credits--;
        const transfer: ArrayBuffer[] = [];
        const columns: Record<string, PostedColumn> = {};
        for (const [name, column] of Object.entries(batch.columns)) columns[name] = postedColumn(name, column, sent, transfer);
        port.postMessage({ kind: 'batch', rowOffset: batch.rowOffset, rows: batch.rows, columns } satisfies ScanMessage, transfer);
      }
      if (process.env.DEBUG_CPU) { const u = (process as any).threadCpuUsage(); process.stderr.write(`scan cpu ${Math.round((u.user + u.system) / 1000)} ms at ${Math.round(performance.timeOrigin + performance.now()) % 100000}\n`); }
      port.postMessage({ kind: 'end' } satisfies ScanMessage);
    } catch (error) {
      const e = error as Partial<DatasetReadError>;
      const posted: PostedError =
        error instanceof DatasetReadError
          ? {
              name: error.name,
              message: error.message,
              code: error.code,
              file: error.file,
              ...(e.line !== undefined ? { line: e.line } : {}),
              ...(e.row !== undefined ? { row: e.row } : {}),
              ...(e.byteOffset !== undefined ? { byteOffset: e.byteOffset } : {}),
            }
          : { name: (error as Error)?.name ?? 'Error', message: (error as Error)?.message ?? String(error) };
      port.postMessage({ kind: 'error', error: posted } satisfies ScanMessage);
    }
  })();
}

/** A column as posted: its arrays moved when they own their buffers (else copied), a prefix column's new dictionary entries. */
function postedColumn(name: string, column: TypedColumn, sent: Map<string, number>, transfer: ArrayBuffer[]): PostedColumn {
  const move = (array: Int32Array | Float64Array): void => {
    const buffer = array.buffer as ArrayBuffer;
    if (array.byteOffset === 0 && array.byteLength === buffer.byteLength && !transfer.includes(buffer)) transfer.push(buffer);
  };
  switch (column.kind) {
    case 'numbers':
    case 'decimals':
      move(column.values);
      return column;
    case 'texts':
      move(column.codes);
      return column;
    case 'prefixes': {
      move(column.codes);
      const from = sent.get(name) ?? 0;
      sent.set(name, column.dictionary.length);
      return { kind: 'prefixes', codes: column.codes, added: column.dictionary.slice(from) };
    }
    default:
      return column;
  }
}
