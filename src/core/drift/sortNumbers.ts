/** Below this length the native sort is as fast (the radix passes have a fixed cost of their count tables): ~14k measured. */
const RADIX_MIN = 1 << 14;

/**
 * Sorts a Float64Array in place into exactly the order of `Float64Array.prototype.sort()` (ascending, −0 before +0,
 * NaN last) and returns it: an LSD radix sort over the IEEE-754 bit patterns (four 16-bit digits, a digit every
 * value shares skipped), 1.3× as fast as V8's native typed-array sort at 20k values, 2.5× from 80k up. A short array, or
 * one holding NaN (any payload), goes to the native sort, which puts every NaN last whatever its sign bit.
 */
export function sortNumbers(values: Float64Array): Float64Array {
  if (!radixSortable(values)) return values.sort();
  radixSort(values, undefined);
  return values;
}

/**
 * sortNumbers that moves `carried[i]` with `values[i]` (ties keep their order: the sort is stable), for an index
 * sort. False, with nothing moved, when the values are too few or hold NaN: the caller sorts its own way then.
 */
export function sortNumbersCarrying(values: Float64Array, carried: Uint32Array): boolean {
  if (carried.length !== values.length || !radixSortable(values)) return false;
  radixSort(values, carried);
  return true;
}

function radixSortable(values: Float64Array): boolean {
  const n = values.length;
  if (n < RADIX_MIN || (values.byteOffset & 7) !== 0) return false;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v !== v) return false;
  }
  return true;
}

function radixSort(values: Float64Array, carried: Uint32Array | undefined): void {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  // the order-preserving key: a positive number's sign bit set, a negative number's every bit flipped (little-endian:
  // the high word of value i is words[2i + 1])
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1]!;
    if (hi & 0x80000000) {
      words[2 * i + 1] = ~hi;
      words[2 * i] = ~words[2 * i]!;
    } else words[2 * i + 1] = (hi | 0x80000000) >>> 0;
  }
  const counts = new Uint32Array(4 * 65536);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    counts[lo & 0xffff]!++;
    counts[65536 + (lo >>> 16)]!++;
    counts[131072 + (hi & 0xffff)]!++;
    counts[196608 + (hi >>> 16)]!++;
  }
  let from: Uint32Array = words;
  let to: Uint32Array = new Uint32Array(n * 2);
  let carriedFrom: Uint32Array | undefined = carried;
  let carriedTo: Uint32Array | undefined = carried ? new Uint32Array(n) : undefined;
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 65536;
    let sum = 0;
    let shared = false;
    for (let d = 0; d < 65536; d++) {
      const c = counts[base + d]!;
      if (c === n) shared = true;
      counts[base + d] = sum;
      sum += c;
    }
    if (shared) continue; // every key has this digit: the order stays
    const word = pass >> 1;
    const shift = (pass & 1) * 16;
    if (carriedFrom && carriedTo)
      for (let i = 0; i < n; i++) {
        const lo = from[2 * i]!;
        const hi = from[2 * i + 1]!;
        const at = counts[base + ((((word === 0 ? lo : hi) >>> shift) & 0xffff) >>> 0)]!++;
        to[2 * at] = lo;
        to[2 * at + 1] = hi;
        carriedTo[at] = carriedFrom[i]!;
      }
    else
      for (let i = 0; i < n; i++) {
        const lo = from[2 * i]!;
        const hi = from[2 * i + 1]!;
        const at = counts[base + (((word === 0 ? lo : hi) >>> shift) & 0xffff)]!++;
        to[2 * at] = lo;
        to[2 * at + 1] = hi;
      }
    const swap = from;
    from = to;
    to = swap;
    if (carriedFrom && carriedTo) {
      const carriedSwap = carriedFrom;
      carriedFrom = carriedTo;
      carriedTo = carriedSwap;
    }
  }
  if (from !== words) words.set(from);
  if (carried && carriedFrom !== carried) carried.set(carriedFrom!);
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1]!;
    if (hi & 0x80000000) words[2 * i + 1] = hi & 0x7fffffff;
    else {
      words[2 * i + 1] = ~hi;
      words[2 * i] = ~words[2 * i]!;
    }
  }
}

/**
 * The positions 0..n−1 of `values` in the order a stable comparator sort by `a − b` puts them (equal values, −0 and
 * +0 included, keep their order), by the radix sort; undefined when it cannot take it (fewer than 16k values, or a
 * value that is not finite, where `a − b` is no order): the caller sorts with its comparator then.
 */
export function stableOrder(values: ArrayLike<number>): Uint32Array | undefined {
  const n = values.length;
  if (n < RADIX_MIN) return undefined;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) return undefined;
    keys[i] = v === 0 ? 0 : v; // −0 as +0: one key, as a − b sees them
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return sortNumbersCarrying(keys, order) ? order : undefined;
}

/**
 * Sorts integers ascending in place (what Int32Array#sort does): a radix sort of two 16-bit passes from RADIX_MIN
 * values on, the native sort below that.
 */
export function sortInts(values: Int32Array): Int32Array {
  const n = values.length;
  if (n < RADIX_MIN) return values.sort();
  // the order-preserving key of an int32 is its bits with the sign bit flipped, read unsigned
  const counts = new Uint32Array(2 * 65536);
  for (let i = 0; i < n; i++) {
    const key = (values[i]! ^ 0x80000000) >>> 0;
    counts[key & 0xffff]!++;
    counts[65536 + (key >>> 16)]!++;
  }
  let from: Int32Array = values;
  let to: Int32Array = new Int32Array(n);
  for (let pass = 0; pass < 2; pass++) {
    const base = pass * 65536;
    const shift = pass * 16;
    let sum = 0;
    let shared = false;
    for (let d = 0; d < 65536; d++) {
      const c = counts[base + d]!;
      if (c === n) shared = true;
      counts[base + d] = sum;
      sum += c;
    }
    if (shared) continue; // every key has this digit: the order stays
    for (let i = 0; i < n; i++) {
      const v = from[i]!;
      to[counts[base + ((((v ^ 0x80000000) >>> shift) & 0xffff) >>> 0)]!++] = v;
    }
    const swap = from;
    from = to;
    to = swap;
  }
  if (from !== values) values.set(from);
  return values;
}
