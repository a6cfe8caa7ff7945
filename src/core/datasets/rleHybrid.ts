/**
 * Parquet's RLE / bit-packed hybrid encoding (dictionary indices, definition levels), decoded from the
 * page's bytes into an Int32Array. hyparquet's readRleBitPackedHybrid does the same one byte at a time
 * through a DataView (≈ 40 % of a drift check's CPU on flights-3m, issue 16); this reads each value with one
 * 32-bit window over the bytes (widths ≤ 25) and reports the largest value, so the caller's bounds check
 * needs no second pass. Equal to hyparquet's output for every width (test/unit/datasets.rleHybrid.test.ts);
 * widths above 25 go to hyparquet's decoder.
 */

/** The encoded runs end before `count` values were read, or a run claims bytes past `end`. */
export class HybridDecodeError extends Error {
  override readonly name = 'HybridDecodeError';
}

/** The widest values the 32-bit window decodes (bit offset within a byte ≤ 7, + 25 ≤ 32). */
export const MAX_FAST_WIDTH = 25;

/**
 * Decodes `count` values of `width` bits (1…25) from bytes[pos..end) into out[0..count); returns the
 * largest value. Runs past `count` (a bit-packed run's padding to a multiple of 8) are ignored, as in
 * hyparquet.
 */
export function decodeHybrid(bytes: Uint8Array, pos: number, end: number, width: number, out: Int32Array, count: number): number {
  if (!(width >= 1 && width <= MAX_FAST_WIDTH)) throw new RangeError(`decodeHybrid: width ${width}`);
  const mask = (1 << width) - 1;
  const valueBytes = (width + 7) >> 3;
  // one little-endian 32-bit read a value instead of four byte reads (~15 % of the decode on flights-3m)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let seen = 0;
  let max = 0;
  while (seen < count) {
    const header = runHeader(bytes, pos, end, seen, count);
    pos = headerEnd;
    if (header % 2 === 0) {
      // RLE: one value of `valueBytes` little-endian bytes, repeated header / 2 times
      const n = Math.min(header / 2, count - seen);
      if (pos + valueBytes > end) throw new HybridDecodeError('a repeated value runs past the page');
      let value = 0;
      for (let i = 0; i < valueBytes; i++) value |= bytes[pos + i]! << (8 * i);
      value >>>= 0; // as hyparquet: not masked to `width` (callers check the range)
      pos += valueBytes;
      out.fill(value, seen, seen + n);
      if (n > 0 && value > max) max = value;
      seen += n;
    } else {
      // bit-packed: (header >> 1) groups of 8 values, `width` bytes a group, least significant bit first
      const groups = (header - 1) / 2;
      const runBytes = groups * width;
      if (pos + runBytes > end) throw new HybridDecodeError(`a bit-packed run of ${runBytes} bytes runs past the page`);
      const n = Math.min(groups * 8, count - seen);
      max = unpackRun(bytes, view, pos, n, width, mask, out, seen, max);
      seen += n;
      pos += runBytes;
    }
  }
  return max;
}

/**
 * One bit-packed run of decodeHybrid: n values of `width` bits from bytes[pos…) into out[seen…); returns the new
 * maximum. A function of its own, not a loop inside decodeHybrid's loop over runs: V8 compiles a hot loop nested in
 * another on the stack (on-stack replacement) for that inner loop only and drops back to the interpreter each time it
 * exits (`--trace-deopt`: "exit from OSR'd inner loop", once per run of a cold process's first pages, ~120 times on
 * flights-3m); a call is optimised as a whole and stays optimised.
 */
function unpackRun(bytes: Uint8Array, view: DataView, pos: number, n: number, width: number, mask: number, out: Int32Array, seen: number, max: number): number {
  // the 32-bit window reads 3 bytes past a value's first byte: values whose window stays inside `bytes` take
  // the fast loop (an out-of-bounds typed-array read would deoptimise it), the last few read byte by byte
  const inside = Math.max(0, Math.min(n, Math.floor(((bytes.length - 3 - pos) * 8) / width)));
  let bit = 0; // relative to pos: a page's run stays far below 2^31 bits
  let i = 0;
  if (width === 8) {
    // byte-aligned (dictionaries of 129–256 values): one byte a value
    for (; i < n; i++) {
      const v = bytes[pos + i]!;
      out[seen + i] = v;
      if (v > max) max = v;
    }
  } else {
    for (; i < inside; i++) {
      const v = (view.getUint32(pos + (bit >>> 3), true) >>> (bit & 7)) & mask;
      out[seen + i] = v;
      if (v > max) max = v;
      bit += width;
    }
  }
  for (; i < n; i++) {
    const v = tailValue(bytes, pos + (bit >>> 3), bit & 7, mask); // bytes past `end` only fill bits above the value
    out[seen + i] = v;
    if (v > max) max = v;
    bit += width;
  }
  return max;
}

/** The value at bit `shift` of bytes[k…], read byte by byte where a 32-bit window would pass the end of `bytes`. */
function tailValue(bytes: Uint8Array, k: number, shift: number, mask: number): number {
  let window = 0;
  for (let b = 0; b < 4 && k + b < bytes.length; b++) window |= bytes[k + b]! << (8 * b);
  return (window >>> shift) & mask;
}

const ONES = new Uint8Array(256).map(
  (_, b) => (b & 1) + ((b >> 1) & 1) + ((b >> 2) & 1) + ((b >> 3) & 1) + ((b >> 4) & 1) + ((b >> 5) & 1) + ((b >> 6) & 1) + (b >> 7),
);

/**
 * How many of `count` one-bit values (a flat column's definition levels) in bytes[pos..end) are 1, without
 * writing them out: a repeated run adds its length at once, a bit-packed run counts its bytes' set bits.
 * A repeated value above 1 throws (a definition level a flat column cannot have).
 */
export function countHybridOnes(bytes: Uint8Array, pos: number, end: number, count: number): number {
  let seen = 0;
  let ones = 0;
  while (seen < count) {
    const header = runHeader(bytes, pos, end, seen, count);
    pos = headerEnd;
    if (header % 2 === 0) {
      const n = Math.min(header / 2, count - seen);
      if (pos >= end) throw new HybridDecodeError('a repeated value runs past the page');
      const value = bytes[pos++]!;
      if (value > 1) throw new HybridDecodeError(`a repeated value ${value} where one bit was expected`);
      ones += value * n;
      seen += n;
    } else {
      const groups = (header - 1) / 2; // one byte a group of 8 one-bit values
      if (pos + groups > end) throw new HybridDecodeError(`a bit-packed run of ${groups} bytes runs past the page`);
      const n = Math.min(groups * 8, count - seen);
      const whole = n >>> 3;
      for (let i = 0; i < whole; i++) ones += ONES[bytes[pos + i]!]!;
      if (n & 7) ones += ONES[bytes[pos + whole]! & ((1 << (n & 7)) - 1)]!;
      seen += n;
      pos += groups;
    }
  }
  return ones;
}

/** Where the last runHeader() call's header ended (a module variable: no object per run on the hot path). */
let headerEnd = 0;

/** The ULEB128 header of the run at bytes[pos] (value count × 2, + 1 for bit-packed); sets headerEnd past it. */
function runHeader(bytes: Uint8Array, pos: number, end: number, seen: number, count: number): number {
  let header = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end) throw new HybridDecodeError(`the encoded values end after ${seen} of ${count}`);
    const b = bytes[pos++]!;
    header += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
    if (shift > 35) throw new HybridDecodeError('a run header longer than 5 bytes');
  }
  headerEnd = pos;
  return header;
}
