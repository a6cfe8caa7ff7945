import { HybridDecodeError, MAX_FAST_WIDTH } from './rleHybrid';
import { HYBRID_KERNEL_WASM } from './hybridKernelWasm';
import { kernelInstances, WASM_PAGE, type KernelMemory } from './wasmKernels';

/** The kernel's error codes (its negative results). */
export const HYBRID_END = -1;
export const HYBRID_LONG_HEADER = -2;
export const HYBRID_REPEATED_PAST_END = -3;
export const HYBRID_INDEX = -4;
export const HYBRID_PACKED_PAST_END = -5;

/**
 * Up to this width the kernel counts whole bit-packed groups with code of its own and checks their indices against the
 * dictionary's size afterwards, so counts[] must have room for every index of the width (2^16 at most: 256 KiB).
 */
export const GROUP_WIDTHS = 16;

interface KernelExports {
  readonly memory: KernelMemory;
  readonly detail: { readonly value: number };
  readonly minMs: { readonly value: number };
  readonly maxMs: { readonly value: number };
  readonly anyValid: { readonly value: number };
  readonly timeExtremes: (dictionary: number, order: number, counts: number, distinct: number, divisor: bigint, low: bigint, high: bigint) => number;
  readonly floyd: (n: number, k: number, seed: number, table: number, bits: number, out: number) => void;
  readonly countHybrid: (
    pos: number,
    end: number,
    width: number,
    count: number,
    counts: number,
    size: number,
    order: number,
    distinct: number,
    positions: number,
    pickCount: number,
    picks: number,
  ) => number;
}

// the kernel's source is hybridKernelWat.ts
const instantiateKernel = kernelInstances<KernelExports>(HYBRID_KERNEL_WASM);

let sampler: KernelExports | undefined;

/**
 * k distinct positions below n (n < 2^31) drawn uniformly without replacement (Floyd's algorithm; every k-subset
 * equally likely), ascending; the draws from mulberry32 seeded with `seed` (64 bits a draw).
 */
export function floydPositions(n: number, k: number, seed: number): Int32Array {
  if (!(n < 2 ** 31 && k >= 0 && k <= n)) throw new RangeError(`floydPositions: ${k} positions below ${n}`);
  sampler ??= instantiateKernel();
  let bits = 1;
  while (2 ** bits < 2 * k) bits++;
  const tableBytes = 4 * 2 ** bits;
  const needed = tableBytes + 4 * k;
  const memory = sampler.memory;
  if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / WASM_PAGE));
  new Int32Array(memory.buffer, 0, 2 ** bits).fill(-1);
  sampler.floyd(n, k, seed | 0, 0, bits, tableBytes);
  return new Int32Array(memory.buffer, tableBytes, k).slice().sort();
}

/** A Date's range in epoch milliseconds, either side of 0. */
const DATE_LIMIT_MS = 8_640_000_000_000_000n;

/**
 * The least and greatest int64 whose quotient by `divisor` (≥ 1), truncated toward zero, lies in a Date's range
 * (±8.64e15 ms), clamped to int64: the quotient is within ±M exactly when the raw value is within ±((M + 1)·divisor − 1).
 */
export function timeStampBounds(divisor: number): { low: bigint; high: bigint } {
  const bound = (DATE_LIMIT_MS + 1n) * BigInt(divisor) - 1n;
  return { low: -bound > -(2n ** 63n) ? -bound : -(2n ** 63n), high: bound < 2n ** 63n - 1n ? bound : 2n ** 63n - 1n };
}

/**
 * Counts pages of dictionary indices with the kernel. Its memory holds, in this order: counts[sizeCap] (all 0 between
 * pages; room for 2^width indices up to GROUP_WIDTHS), order[sizeCap], the positions asked for and the indices picked there, and the page's bytes (+ 4: the last
 * value's 32-bit load). counts, order and picked are views of that memory, valid until the next count() (which may
 * grow it); the caller sets counts back to 0 (counts[order[d]] for d < distinct) before the next count().
 */
export class HybridCounter {
  private readonly kernel: KernelExports;
  counts = new Int32Array(0);
  order = new Int32Array(0);
  picked = new Int32Array(0);
  /** Capacities (in values and bytes) of the current layout. */
  private sizeCap = 0;
  private picksCap = 0;
  private pageCap = 0;
  private positionsAt = 0;
  private pickedAt = 0;
  private pageAt = 0;

  constructor() {
    this.kernel = instantiateKernel();
  }

  /**
   * Counts `count` indices of `width` bits (1…25) in bytes[pos..end) into counts[0..size): a repeated run adds its length
   * at once, a bit-packed run one per value (its padding past `count` ignored); the indices at positions[0..pickCount)
   * (ascending, each < count) go to picked[]. Returns the number of distinct indices, in order of first appearance in
   * order[] (as a value-by-value pass meets them). Throws HybridDecodeError where the runs end early, run past `end`, or
   * hold an index ≥ size.
   */
  count(bytes: Uint8Array, pos: number, end: number, width: number, count: number, size: number, positions?: Int32Array, pickCount = 0): number {
    if (!(width >= 1 && width <= MAX_FAST_WIDTH)) throw new RangeError(`HybridCounter.count: width ${width}`);
    this.layout(size, width <= GROUP_WIDTHS ? Math.max(size, 2 ** width) : size, pickCount, end - pos);
    const memory = this.kernel.memory.buffer;
    new Uint8Array(memory, this.pageAt, end - pos).set(bytes.subarray(pos, end));
    if (pickCount > 0) new Int32Array(memory, this.positionsAt, pickCount).set(positions!.subarray(0, pickCount));
    const distinct = this.kernel.countHybrid(
      this.pageAt,
      this.pageAt + end - pos,
      width,
      count,
      0,
      size,
      this.sizeCap * 4,
      0,
      this.positionsAt,
      pickCount,
      this.pickedAt,
    );
    if (distinct >= 0) return distinct;
    // counts[] back to 0 for the next page: the counted indices are in order[] up to where it stopped, unknown here, and
    // may lie past the dictionary (a group's, below 2^width)
    new Int32Array(memory, 0, this.sizeCap).fill(0);
    const detail = this.kernel.detail.value;
    if (distinct === HYBRID_END) throw new HybridDecodeError(`the encoded values end after ${detail} of ${count}`);
    if (distinct === HYBRID_LONG_HEADER) throw new HybridDecodeError('a run header longer than 5 bytes');
    if (distinct === HYBRID_REPEATED_PAST_END) throw new HybridDecodeError('a repeated value runs past the page');
    if (distinct === HYBRID_INDEX) throw new HybridDecodeError(`dictionary index ${detail} in a dictionary of ${size}`);
    throw new HybridDecodeError(`a bit-packed run of ${detail} bytes runs past the page`);
  }

  /**
   * After count(), with its order[] and counts[]: the earliest and latest valid epoch milliseconds among the counted
   * indices of `raw` (an INT64 dictionary of time stamps, divided by `divisor` truncated toward zero; NaN when none is
   * valid) and how many counted values would be invalid Dates. May grow the memory: read counts/order/picked after it.
   */
  timeExtremes(raw: BigInt64Array, distinct: number, divisor: number): { min: number; max: number; invalid: number } {
    const at = (this.pageAt + this.pageCap + 4 + 7) & ~7;
    const needed = at + raw.length * 8;
    const memory = this.kernel.memory;
    if (needed > memory.buffer.byteLength) {
      const size = this.counts.length; // before the grow: it detaches the views (length 0)
      memory.grow(Math.ceil((needed - memory.buffer.byteLength) / WASM_PAGE));
      this.views(size);
    }
    new BigInt64Array(memory.buffer, at, raw.length).set(raw);
    const bounds = timeStampBounds(divisor);
    const invalid = this.kernel.timeExtremes(at, this.sizeCap * 4, 0, distinct, BigInt(divisor), bounds.low, bounds.high);
    const any = this.kernel.anyValid.value === 1;
    return { min: any ? this.kernel.minMs.value : Number.NaN, max: any ? this.kernel.maxMs.value : Number.NaN, invalid };
  }

  /** counts, order and picked as views of the memory's current buffer (a grown memory has a new one). */
  private views(size: number): void {
    const buffer = this.kernel.memory.buffer;
    this.counts = new Int32Array(buffer, 0, size);
    this.order = new Int32Array(buffer, this.sizeCap * 4, size);
    this.picked = new Int32Array(buffer, this.pickedAt, this.picksCap);
  }

  /**
   * Room for this page (counts[] for `table` indices, `size` of them in view); a new layout starts with counts[] all 0
   * (grown memory is zeroed, the old region is cleared).
   */
  private layout(size: number, table: number, picks: number, pageBytes: number): void {
    if (table <= this.sizeCap && picks <= this.picksCap && pageBytes <= this.pageCap) {
      if (this.counts.length !== size) {
        this.counts = new Int32Array(this.kernel.memory.buffer, 0, size);
        this.order = new Int32Array(this.kernel.memory.buffer, this.sizeCap * 4, size);
      }
      return;
    }
    this.sizeCap = Math.max(table, this.sizeCap * 2);
    this.picksCap = Math.max(picks, this.picksCap * 2);
    this.pageCap = Math.max(pageBytes, this.pageCap * 2);
    this.positionsAt = this.sizeCap * 8;
    this.pickedAt = this.positionsAt + this.picksCap * 4;
    this.pageAt = this.pickedAt + this.picksCap * 4;
    const needed = this.pageAt + this.pageCap + 4;
    const memory = this.kernel.memory;
    if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / WASM_PAGE));
    new Int32Array(memory.buffer, 0, this.sizeCap).fill(0);
    this.counts = new Int32Array(memory.buffer, 0, size);
    this.order = new Int32Array(memory.buffer, this.sizeCap * 4, size);
    this.picked = new Int32Array(memory.buffer, this.pickedAt, this.picksCap);
  }
}
