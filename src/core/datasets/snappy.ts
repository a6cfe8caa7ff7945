/**
 * Snappy's raw block format (what a Parquet SNAPPY page holds) decoded into a buffer the caller reuses. The generic
 * decoder it replaced (hysnappy's wasm; the test's reference) copied each page into wasm memory and returned a fresh
 * copy of its output: on flights-3m's current half that is ~8 MB of new ArrayBuffers per drift check, enough external
 * memory to start a full mark-compact GC in a process that otherwise needs none (issue 16). Here a page is written
 * straight into `out`, literals and long non-overlapping copies with one memcpy each (`set`, `copyWithin`).
 */

export class SnappyError extends Error {}

/** Decodes the Snappy block `input` into out[0, length); `length` is what the page header says it holds. */
export function snappyInto(input: Uint8Array, out: Uint8Array, length: number): void {
  if (out.length < length) throw new RangeError(`snappyInto: ${out.length} bytes of room for ${length}`);
  const n = input.length;
  let pos = 0;
  let declared = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= n || shift > 28) throw new SnappyError('a Snappy block without its length');
    const b = input[pos++]!;
    declared += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (declared !== length) throw new SnappyError(`a Snappy block of ${declared} bytes in a page of ${length}`);
  let o = 0;
  while (pos < n) {
    const tag = input[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      // a literal: its length - 1 in the tag's upper 6 bits, or in the next 1-4 bytes (tag value 60-63)
      let len = tag >>> 2;
      if (len >= 60) {
        const k = len - 59;
        if (pos + k > n) throw new SnappyError('a literal length runs past the block');
        len = 0;
        for (let i = 0; i < k; i++) len += input[pos + i]! * 2 ** (8 * i);
        pos += k;
      }
      len += 1;
      if (len > n - pos) throw new SnappyError(`a literal of ${len} bytes runs past the block`);
      if (len > length - o) throw new SnappyError(`more than the ${length} bytes the block says it holds`);
      if (len > 32) out.set(input.subarray(pos, pos + len), o);
      else for (let i = 0; i < len; i++) out[o + i] = input[pos + i]!;
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (pos >= n) throw new SnappyError('a copy runs past the block');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | input[pos++]!;
    } else if (kind === 2) {
      if (pos + 2 > n) throw new SnappyError('a copy runs past the block');
      len = (tag >>> 2) + 1;
      offset = input[pos]! | (input[pos + 1]! << 8);
      pos += 2;
    } else {
      if (pos + 4 > n) throw new SnappyError('a copy runs past the block');
      len = (tag >>> 2) + 1;
      offset = (input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16) | (input[pos + 3]! << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > o) throw new SnappyError(`a copy from ${offset} bytes back at byte ${o}`);
    if (len > length - o) throw new SnappyError(`more than the ${length} bytes the block says it holds`);
    const from = o - offset;
    if (offset >= len && len > 32) out.copyWithin(o, from, from + len);
    else for (let i = 0; i < len; i++) out[o + i] = out[from + i]!; // overlapping: a repeated pattern, byte by byte
    o += len;
  }
  if (o !== length) throw new SnappyError(`a Snappy block of ${o} bytes in a page of ${length}`);
}
