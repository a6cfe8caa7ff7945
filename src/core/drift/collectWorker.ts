import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { collectSide, DriftInputError, type CollectOptions, type WindowedSide } from './collect';
import type { ColumnSample } from './columnSample';
import { FeedEngine, type FeedMessage, type FeedTaken, type FeedWorkerData } from './fedSide';

/** The bundle built from this file (dist/driftWorker.js), next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';

type WorkerRequest = { readonly path: string; readonly options: Omit<CollectOptions, 'signal' | 'onProgress'> };
type WorkerReply = { readonly ok: true; readonly side: WindowedSide } | { readonly ok: false; readonly message: string; readonly name: string };

/**
 * Reads one side in a worker thread when the worker bundle is there (the other side is read meanwhile
 * on the calling thread: two cores, half the wall time); otherwise on this thread. Cancellation
 * terminates the worker. `minBytes`: a single file smaller than this is read on this thread instead (see
 * WORKER_MIN_BYTES); folders and globs always go to the worker.
 */
export async function collectSideInWorker(path: string, options: CollectOptions, minBytes = 0): Promise<WindowedSide> {
  const file = join(__dirname, WORKER_FILE);
  if (!existsSync(file) || (minBytes > 0 && fileSmallerThan(path, minBytes))) return collectSide(path, options);
  const { signal, onProgress: _ignored, ...plain } = options;
  signal?.throwIfAborted();
  const worker = new Worker(file, { workerData: { path, options: plain } satisfies WorkerRequest });
  const abort = (): void => void worker.terminate();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(signal?.aborted ? signal.reason : new Error(`the drift worker stopped (exit ${code}) before reading ${path}`)));
    });
    // bad input keeps its meaning across the thread (the CLI prints it as a user error, exit 1)
    if (!reply.ok) throw reply.name === 'DatasetReadError' || reply.name === 'DriftInputError' ? new DriftInputError(reply.message) : new Error(reply.message);
    return reply.side;
  } finally {
    signal?.removeEventListener('abort', abort);
    void worker.terminate();
  }
}

/**
 * Below this size a side is cheaper to read on the calling thread: a worker costs ~0.1 s of CPU to start (a Node
 * environment, the worker bundle compiled, its decoders warmed up again), about what reading 16 MB of Parquet costs
 * (flights-3m's half, 8 MB: ~0.1 s), so a CLI check of two such files took 0.5 s CPU with the worker, 0.37 s without
 * it, and no longer on a loaded machine (issue 16). Above it the worker halves the wall time on two idle cores.
 */
export const WORKER_MIN_BYTES = 32 * 1024 * 1024;

function fileSmallerThan(path: string, bytes: number): boolean {
  try {
    const s = statSync(path);
    return s.isFile() && s.size < bytes;
  } catch {
    return false; // a glob or a missing file: the worker reports it as before
  }
}

/** Worker side: read, then hand back the samples (numbers move without a copy). */
export function runCollectWorker(given: unknown = workerData): void {
  if (isMainThread || !parentPort) return;
  if ((given as { mode?: string }).mode === 'feed') {
    runFeedWorker(given as FeedWorkerData);
    return;
  }
  const request = given as WorkerRequest;
  collectSide(request.path, request.options).then(
    (side) => {
      // scaled integers go as the doubles they stand for (a posted copy of both would hold each number twice)
      const plain = (samples: ReadonlyMap<string, ColumnSample>): Map<string, ColumnSample> =>
        new Map(
          [...samples].map(([name, s]) => [
            name,
            s.kind === 'numeric' && s.scaled ? { kind: 'numeric', sorted: s.sorted, missing: s.missing, infinite: s.infinite } : s,
          ]),
        );
      const posted: WindowedSide = {
        ...side,
        samples: plain(side.samples),
        windows: side.windows.map((w) => ({ start: w.start, side: { ...w.side, samples: plain(w.side.samples) } })),
      };
      // every window's numbers move too, not only the whole column's (a copy of them all would double the peak)
      const samples = [posted.samples, ...posted.windows.map((w) => w.side.samples)].flatMap((m) => [...m.values()]);
      const buffers = [...new Set(samples.flatMap((s: ColumnSample) => (s.kind === 'numeric' ? [s.sorted.buffer as ArrayBuffer] : [])))];
      parentPort!.postMessage({ ok: true, side: posted } satisfies WorkerReply, buffers);
    },
    (error: Error) => parentPort!.postMessage({ ok: false, message: error.message, name: error.name } satisfies WorkerReply),
  );
}

/** Worker side of a fed drift side (fedSide.ts): collect each batch as it comes, read the reference meanwhile, compare at the end. */
function runFeedWorker(data: FeedWorkerData): void {
  const engine = new FeedEngine(
    data.read,
    data.windowed,
    (reply) => {
      parentPort!.postMessage(reply);
      // the reply is the worker's last word: it ends now, its memory (every collected batch, the reference) with it,
      // not when the reading thread next turns to its events — busy with the check's other statistics, that was after
      // them, and the two held their memory at once, at the check's peak
      process.exit(0);
    },
    true,
    true,
  );
  parentPort!.on('message', (message: FeedMessage) => {
    engine.message(message);
    if ('batch' in message) parentPort!.postMessage({ taken: true } satisfies FeedTaken);
  });
}
