/** Below this length the native sort is as fast (the radix passes have a fixed cost of their count tables): ~14k measured. */
const RADIX_MIN = 1 << 14;

/**
 * Sorts a Float64Array in place into exactly the order of `Float64Array.prototype.sort()` (ascending, −0 before +0,
 * NaN last) and returns it: an LSD radix sort over the IEEE-754 bit patterns (a digit every value shares skipped).
 * Below WIDE_MIN values, six digits of 11, 11 and 10 bits per 32-bit word: six passes over 2^11-count tables beat four
 * over 2^16 ones there (a 64k table per pass is 256 KB of counts scattered into, as much memory traffic as a 67k-value
 * window itself, where 2^11 counts stay in the first-level cache); from WIDE_MIN on, four 16-bit digits. A short array, or one holding NaN (any payload), goes to the native sort,
 * which puts every NaN last whatever its sign bit.
 */
export function sortNumbers(values: Float64Array): Float64Array {
  if (!radixSort(values, undefined)) values.sort();
  return values;
}

/**
 * sortNumbers that moves `carried[i]` with `values[i]` (ties keep their order: the sort is stable), for an index
 * sort. False, with nothing moved, when the values are too few or hold NaN: the caller sorts its own way then.
 */
export function sortNumbersCarrying(values: Float64Array, carried: Uint32Array): boolean {
  return carried.length === values.length && radixSort(values, carried);
}

/** From this length on, four passes of 16-bit digits: each digit's run is long enough that the 1 MB of counts pays. */
const WIDE_MIN = 1 << 18;
/**
 * A digit layout: each pass's word (0: the low one), shift and mask. Narrow: 11, 11 and 10 bits of each word (no digit
 * spans two words), 2^11 counts per pass; wide: 16 and 16 bits.
 */
interface Layout {
  digit: number;
  word: number[];
  shift: number[];
  mask: number[];
}
const NARROW: Layout = { digit: 1 << 11, word: [0, 0, 0, 1, 1, 1], shift: [0, 11, 22, 0, 11, 22], mask: [0x7ff, 0x7ff, 0x3ff, 0x7ff, 0x7ff, 0x3ff] };
const WIDE: Layout = { digit: 1 << 16, word: [0, 0, 1, 1], shift: [0, 16, 0, 16], mask: [0xffff, 0xffff, 0xffff, 0xffff] };
/** The narrow layout's counts (48 KB), made once: every call zeroes and reuses them. */
const narrowCounts = new Uint32Array(6 * NARROW.digit);

/**
 * Radix-sorts `values` (with `carried`) and returns true; false, with the values as they were, when they are fewer
 * than RADIX_MIN or hold a NaN. The keys are made, checked for NaN and counted in one read; the last pass that moves
 * anything writes the values back from their keys.
 */
function radixSort(values: Float64Array, carried: Uint32Array | undefined): boolean {
  const n = values.length;
  if (n < RADIX_MIN || (values.byteOffset & 7) !== 0) return false;
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  const wide = n >= WIDE_MIN;
  const layout = wide ? WIDE : NARROW;
  const digit = layout.digit;
  const passes = layout.word.length;
  const counts = wide ? new Uint32Array(4 * digit) : narrowCounts.fill(0);
  // the order-preserving key: a positive number's sign bit set, a negative number's every bit flipped (little-endian:
  // the high word of value i is words[2i + 1])
  for (let i = 0; i < n; i++) {
    let hi = words[2 * i + 1]!;
    let lo = words[2 * i]!;
    if ((hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) | lo) !== 0) {
      unkey(words, 0, i); // a NaN: the keys made so far back to their values
      return false;
    }
    if (hi & 0x80000000) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
      words[2 * i] = lo;
    } else hi = (hi | 0x80000000) >>> 0;
    words[2 * i + 1] = hi;
    if (wide) {
      counts[lo & 0xffff]!++;
      counts[65536 + (lo >>> 16)]!++;
      counts[131072 + (hi & 0xffff)]!++;
      counts[196608 + (hi >>> 16)]!++;
    } else {
      counts[lo & 0x7ff]!++;
      counts[2048 + ((lo >>> 11) & 0x7ff)]!++;
      counts[4096 + (lo >>> 22)]!++;
      counts[6144 + (hi & 0x7ff)]!++;
      counts[8192 + ((hi >>> 11) & 0x7ff)]!++;
      counts[10240 + (hi >>> 22)]!++;
    }
  }
  let last = -1; // the last pass whose digit is not the same in every key
  for (let pass = 0; pass < passes; pass++) {
    const base = pass * digit;
    let sum = 0;
    let shared = false;
    for (let d = 0; d < digit; d++) {
      const c = counts[base + d]!;
      if (c === n) shared = true;
      counts[base + d] = sum;
      sum += c;
    }
    if (shared) counts[base] = n; // marks the pass skipped: a count table's first offset is 0 otherwise
    else last = pass;
  }
  let from: Uint32Array = words;
  let to: Uint32Array = new Uint32Array(n * 2);
  let carriedFrom: Uint32Array | undefined = carried;
  let carriedTo: Uint32Array | undefined = carried ? new Uint32Array(n) : undefined;
  for (let pass = 0; pass <= last; pass++) {
    const base = pass * digit;
    if (counts[base] === n) continue; // every key has this digit: the order stays
    const word = layout.word[pass]!;
    const shift = layout.shift[pass]!;
    const mask = layout.mask[pass]!;
    if (pass === last) {
      // the values written back from their keys as they are moved
      for (let i = 0; i < n; i++) {
        const lo = from[2 * i]!;
        const hi = from[2 * i + 1]!;
        const at = counts[base + (((word === 0 ? lo : hi) >>> shift) & mask)]!++;
        if (hi & 0x80000000) {
          to[2 * at] = lo;
          to[2 * at + 1] = hi & 0x7fffffff;
        } else {
          to[2 * at] = ~lo;
          to[2 * at + 1] = ~hi;
        }
        if (carriedTo) carriedTo[at] = carriedFrom![i]!;
      }
    } else if (carriedFrom && carriedTo)
      for (let i = 0; i < n; i++) {
        const lo = from[2 * i]!;
        const hi = from[2 * i + 1]!;
        const at = counts[base + (((word === 0 ? lo : hi) >>> shift) & mask)]!++;
        to[2 * at] = lo;
        to[2 * at + 1] = hi;
        carriedTo[at] = carriedFrom[i]!;
      }
    else
      for (let i = 0; i < n; i++) {
        const lo = from[2 * i]!;
        const hi = from[2 * i + 1]!;
        const at = counts[base + (((word === 0 ? lo : hi) >>> shift) & mask)]!++;
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
  if (last < 0) unkey(words, 0, n); // every key the same: nothing moved, the values still keys
  if (from !== words) words.set(from);
  if (carried && carriedFrom !== carried) carried.set(carriedFrom!);
  return true;
}

/** The values of keys from..to−1 written back in place. */
function unkey(words: Uint32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
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

/** Integers spanning fewer than this many times their count are sorted by counting (a table of span + 1 counts). */
const COUNTING_SPAN = 2;

/**
 * Sorts integers ascending in place (what Int32Array#sort does), from RADIX_MIN values on by their offsets from the
 * smallest (a first read finds both ends): a span below COUNTING_SPAN · n by counting — a monthly column's merged
 * windows, ages, anything of few distinct values — else an LSD radix sort of the offsets in two passes of half the
 * span's bits each (11-bit digits for 83k five-decimal values of ±5: 2^11 counts stay in the first-level cache, where
 * 16-bit digits of the raw bits scanned two 64k-count tables), both passes' counts taken in one read, a pass all keys
 * share skipped.
 */
export function sortInts(values: Int32Array): Int32Array {
  const n = values.length;
  if (n < RADIX_MIN) return values.sort();
  const [min, max] = intEnds(values, n);
  const span = max - min; // below 2^32: the offsets are read as unsigned 32-bit keys
  if (span === 0) return values;
  if (span < COUNTING_SPAN * n) return countingSort(values, min, span);
  // two passes (a span of 2n or more is wider than one pass's digit: n ≥ RADIX_MIN), each of half the span's bits
  const bits = Math.ceil((32 - Math.clz32(span)) / 2);
  const size = 1 << bits;
  const mask = size - 1;
  const counts = new Uint32Array(2 * size);
  for (let i = 0; i < n; i++) {
    const key = (values[i]! - min) >>> 0;
    counts[key & mask]!++;
    counts[size + (key >>> bits)]!++;
  }
  let from: Int32Array = values;
  let to: Int32Array = new Int32Array(n);
  for (let pass = 0; pass < 2; pass++) {
    const base = pass * size;
    const shift = pass * bits;
    let sum = 0;
    let shared = false;
    for (let d = 0; d < size; d++) {
      const c = counts[base + d]!;
      if (c === n) shared = true;
      counts[base + d] = sum;
      sum += c;
    }
    if (shared) continue; // every key has this digit: the order stays
    for (let i = 0; i < n; i++) {
      const v = from[i]!;
      to[counts[base + (((v - min) >>> shift) & mask)]!++] = v;
    }
    const swap = from;
    from = to;
    to = swap;
  }
  if (from !== values) values.set(from);
  return values;
}

/** The smallest and largest of the first n (≥ 1) integers. */
export function intEnds(values: Int32Array, n: number): [number, number] {
  let min = values[0]!;
  let max = min;
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  return [min, max];
}

/** Sorts integers in [min, min + span] in place: how many of each offset, then each written that many times. */
function countingSort(values: Int32Array, min: number, span: number): Int32Array {
  const n = values.length;
  const counts = new Int32Array(span + 1);
  for (let i = 0; i < n; i++) counts[values[i]! - min]!++;
  let at = 0;
  for (let k = 0; k <= span; k++) {
    const c = counts[k]!;
    const x = k + min;
    // two written whatever the count (no branch on it for the usual 0, 1 or 2): a next value's writes overwrite the
    // extra ones, and a write past the end of a typed array does nothing
    values[at] = x;
    values[at + 1] = x;
    for (let t = 2; t < c; t++) values[at + t] = x;
    at += c;
  }
  return values;
}
