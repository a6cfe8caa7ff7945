import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Worker threads of dist/driftWorker.js started before their work is known: `mloop monitor --once`'s relaunched child
 * starts them first thing (src/cli/launcher.ts), so that their start-up (~100 ms of compiling each) runs on the
 * second core while the main thread loads the CLI and reads mloop.yaml (~160 ms on one core, the other idle), instead
 * of after it. The monitoring check then hands each its work (its workerData, as the first message) and uses it as
 * the worker it would have started. One spare of each kind; an unused one ends when the check has started its own.
 */
export type SpareKind = 'estimate' | 'feed';

/** The young generation of CBPE's thread: its heap holds the reference's cells and small objects. */
export const ESTIMATE_YOUNG_GENERATION_MB = 8;
/** The young generation of the drift feed's thread: its heap holds few objects (the numbers are in typed arrays). */
export const FEED_YOUNG_GENERATION_MB = 8;

interface Spare {
  readonly worker: Worker;
  readonly file: string;
  readonly youngMb: number;
  exited: boolean;
}

/** Shared through globalThis: the launcher's bundle (dist/cli.js) and the CLI's have a copy of this module each. */
const SPARES = Symbol.for('mloop.spareWorkers');
const registry = globalThis as { [SPARES]?: Map<SpareKind, Spare> };

/** The message that gives a spare its work: its workerData. */
export interface StandbyStart {
  readonly standby: unknown;
}

/** Starts one spare of each kind, waiting for its work (they do not keep the process alive meanwhile). */
export function startSpares(file: string, kinds: readonly { kind: SpareKind; youngMb: number }[]): void {
  const spares = new Map<SpareKind, Spare>();
  for (const { kind, youngMb } of kinds) {
    const worker = new Worker(file, { workerData: { mode: 'standby' }, resourceLimits: { maxYoungGenerationSizeMb: youngMb } });
    const spare: Spare = { worker, file: resolve(file), youngMb, exited: false };
    worker.once('exit', () => (spare.exited = true));
    worker.on('error', () => undefined); // a spare that fails is not used (its exit marks it); its user sees its own errors
    worker.unref();
    spares.set(kind, spare);
  }
  registry[SPARES] = spares;
}

/** The spare of this kind given its work, when one runs the same bundle with the same limits; else undefined (start one). */
export function adoptSpare(kind: SpareKind, file: string, youngMb: number, workerData: unknown): Worker | undefined {
  const spare = registry[SPARES]?.get(kind);
  if (!spare) return undefined;
  registry[SPARES]!.delete(kind);
  if (spare.exited || spare.file !== resolve(file) || spare.youngMb !== youngMb) {
    void spare.worker.terminate();
    return undefined;
  }
  spare.worker.ref();
  spare.worker.postMessage({ standby: workerData } satisfies StandbyStart);
  return spare.worker;
}

/** Ends the spares nobody took (a check without CBPE or without the drift feed). */
export function releaseSpares(): void {
  const spares = registry[SPARES];
  if (!spares) return;
  for (const spare of spares.values()) void spare.worker.terminate();
  spares.clear();
}
