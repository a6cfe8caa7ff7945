/**
 * Gives a typed array's memory back now (its buffer detached: transfer(0)) instead of at its thread's next garbage
 * collection. The drift feed's thread makes few JS objects, so it collects seldom — in practice when the array
 * buffers it has dropped add up to V8's external-memory allowance (~64 MB over what the last collection kept) — and
 * those dead buffers were ~100 MB of that thread's share of `mloop monitor --once`'s 1M-row peak (issue 17). Only for
 * an array whose buffer nobody else holds: every other view of it reads as empty afterwards.
 */
export function freeNow(array: ArrayBufferView | ArrayBuffer): void {
  const buffer = ArrayBuffer.isView(array) ? array.buffer : array;
  (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}

/**
 * Detaches an empty ArrayBuffer (once is enough for a thread). V8 throws away every optimized function that reads typed
 * arrays the first time its thread detaches a buffer (its detaching protector): the thread that feeds a DriftFeed first
 * does so with its first batch (a transfer), after the log's schema read and that batch had the CSV reader compiled —
 * ~25 functions then compiled again. Called before those reads, it leaves nothing compiled to throw away.
 */
export function detachBeforeReads(): void {
  freeNow(new ArrayBuffer(0));
}
