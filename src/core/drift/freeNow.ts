/**
 * Gives a typed array's memory back now (its buffer detached: transfer(0)) instead of at its thread's next garbage
 * collection. The drift feed's thread makes few JS objects, so it collects seldom — in practice when the array
 * buffers it has dropped add up to V8's external-memory allowance (~64 MB over what the last collection kept) — and
 * those dead buffers were ~100 MB of that thread's share of `mloop monitor --once`'s 1M-row peak (issue 17). Only for
 * an array whose buffer nobody else holds: every other view of it reads as empty afterwards.
 */
export function freeNow(array: ArrayBufferView): void {
  (array.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}
