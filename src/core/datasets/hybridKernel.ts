import { HybridDecodeError, MAX_FAST_WIDTH } from './rleHybrid';
import { assembleWat, type WatModule } from './wat';

// Pieces of the kernel that stand at more than one place in it.

/** With the run's value count on the stack (i64): n = min(n, it). */
const AT_MOST_RUN = `
  local.tee $run
  local.get $n
  i64.extend_i32_u
  i64.lt_u
  if
    local.get $run
    i32.wrap_i64
    local.set $n
  end`;

/** With the index on the stack: index ≥ size returns HYBRID_INDEX (the index in `detail`). */
const CHECK_INDEX = `
  local.get $size
  i32.ge_u
  if
    local.get $value
    f64.convert_i32_u
    global.set $detail
    i32.const -4
    return
  end`;

/** counts[value] += the `n` the given instruction pushes; a first count appends value to order[]. */
const tally = (n: string): string => `
  local.get $counts
  local.get $value
  i32.const 2
  i32.shl
  i32.add
  local.tee $at
  i32.load
  local.tee $c
  i32.eqz
  if
    local.get $order
    local.get $distinct
    i32.const 2
    i32.shl
    i32.add
    local.get $value
    i32.store
    local.get $distinct
    i32.const 1
    i32.add
    local.set $distinct
  end
  local.get $at
  local.get $c
  ${n}
  i32.add
  i32.store`;

/** The value of `width` bits at bit $bit of the run at $pos, pushed (one unaligned 32-bit load). */
const UNPACK = `
  local.get $pos
  local.get $bit
  i32.const 3
  i32.shr_u
  i32.add
  i32.load
  local.get $bit
  i32.const 7
  i32.and
  i32.shr_u
  local.get $mask
  i32.and`;

/** While the next asked position is below `upTo` (pushed by the given instructions), picked[p] = the value `value` pushes. */
const pickWhile = (upTo: string, value: string): string => `
  block $picked
  loop $pick
    local.get $pickAt
    ${upTo}
    i32.ge_u
    br_if $picked
    local.get $picks
    local.get $p
    i32.const 2
    i32.shl
    i32.add
    ${value}
    i32.store
    local.get $p
    i32.const 1
    i32.add
    local.tee $p
    local.get $pickCount
    i32.lt_u
    if i32
      local.get $positions
      local.get $p
      i32.const 2
      i32.shl
      i32.add
      i32.load
    else
      local.get $count
    end
    local.set $pickAt
    br $pick
  end
  end`;

/**
 * The kernel: a page's dictionary indices (Parquet's RLE / bit-packed hybrid, as rleHybrid.ts decodes it) counted per
 * index instead of written out, an index seen for the first time appended to `order`, and the indices at asked
 * positions written out. It replaces a JS loop: Liftoff compiles it when the module is instantiated, so it runs compiled
 * from the first page of a cold process, where the JS loop started in V8's interpreter and was compiled while it ran
 * (issue 16; docs/decisions/hyparquet.md).
 *
 * Addresses are byte offsets into the module's memory: the page bytes at [pos, end) with at least 4 readable bytes
 * after `end` (a value is read with one unaligned 32-bit load), counts[] and order[] as 32-bit integers, the positions
 * and picked indices likewise. Returns the new number of distinct indices, or a negative code (HYBRID_*) with the
 * detail in the global `detail`.
 */
const COUNT_HYBRID = `
  i32.const 1
  local.get $width
  i32.shl
  i32.const 1
  i32.sub
  local.set $mask
  local.get $width
  i32.const 7
  i32.add
  i32.const 3
  i32.shr_u
  local.set $valueBytes
  local.get $count
  local.set $pickAt
  local.get $pickCount
  if
    local.get $positions
    i32.load
    local.set $pickAt
  end
  block $done
  loop $runs
    local.get $seen
    local.get $count
    i32.ge_u
    br_if $done
    ;; the run's ULEB128 header
    i64.const 0
    local.set $header
    i64.const 0
    local.set $shift
    loop $uleb
      local.get $pos
      local.get $end
      i32.ge_u
      if
        local.get $seen
        f64.convert_i32_u
        global.set $detail
        i32.const -1
        return
      end
      local.get $pos
      i32.load8_u
      local.set $b
      local.get $pos
      i32.const 1
      i32.add
      local.set $pos
      local.get $header
      local.get $b
      i32.const 127
      i32.and
      i64.extend_i32_u
      local.get $shift
      i64.shl
      i64.or
      local.set $header
      local.get $b
      i32.const 128
      i32.ge_u
      if
        local.get $shift
        i64.const 7
        i64.add
        local.tee $shift
        i64.const 35
        i64.gt_u
        if
          i32.const -2
          return
        end
        br $uleb
      end
    end
    ;; n = min(values in the run, values left)
    local.get $count
    local.get $seen
    i32.sub
    local.set $n
    local.get $header
    i64.const 1
    i64.and
    i64.eqz
    if
      ;; repeated: one value of valueBytes little-endian bytes
      local.get $header
      i64.const 1
      i64.shr_u
      ${AT_MOST_RUN}
      local.get $pos
      local.get $valueBytes
      i32.add
      local.get $end
      i32.gt_u
      if
        i32.const -3
        return
      end
      local.get $pos
      i32.load
      local.set $value
      local.get $valueBytes
      i32.const 4
      i32.lt_u
      if
        local.get $value
        i32.const 1
        local.get $valueBytes
        i32.const 3
        i32.shl
        i32.shl
        i32.const 1
        i32.sub
        i32.and
        local.set $value
      end
      local.get $pos
      local.get $valueBytes
      i32.add
      local.set $pos
      local.get $n
      if
        local.get $value
        ${CHECK_INDEX}
        ${tally('local.get $n')}
      end
      local.get $seen
      local.get $n
      i32.add
      local.set $seen
      ${pickWhile('local.get $seen', 'local.get $value')}
    else
      ;; bit-packed: (header >> 1) groups of 8 values, width bytes a group
      local.get $header
      i64.const 1
      i64.shr_u
      local.get $width
      i64.extend_i32_u
      i64.mul
      local.set $runBytes
      local.get $pos
      i64.extend_i32_u
      local.get $runBytes
      i64.add
      local.get $end
      i64.extend_i32_u
      i64.gt_u
      if
        local.get $runBytes
        f64.convert_i64_u
        global.set $detail
        i32.const -5
        return
      end
      local.get $header
      i64.const 1
      i64.shr_u
      i64.const 3
      i64.shl
      ${AT_MOST_RUN}
      i32.const 0
      local.set $i
      i32.const 0
      local.set $bit
      block $counted
      loop $value
        local.get $i
        local.get $n
        i32.ge_u
        br_if $counted
        ${UNPACK}
        local.tee $value
        ${CHECK_INDEX}
        ${tally('i32.const 1')}
        local.get $bit
        local.get $width
        i32.add
        local.set $bit
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $value
      end
      end
      ${pickWhile(
        `local.get $seen
        local.get $n
        i32.add`,
        `local.get $pickAt
        local.get $seen
        i32.sub
        local.get $width
        i32.mul
        local.set $bit
        ${UNPACK}`,
      )}
      local.get $seen
      local.get $n
      i32.add
      local.set $seen
      local.get $pos
      local.get $runBytes
      i32.wrap_i64
      i32.add
      local.set $pos
    end
    br $runs
  end
  end
  local.get $distinct
`;

/**
 * Time stamps of an INT64 dictionary (raw values at `dictionary`, 8 bytes each) at the indices order[0..distinct), each
 * divided by `divisor` truncated toward zero (BigInt division, as hyparquet converts them to epoch milliseconds): the
 * least and greatest valid one (|ms| ≤ 8.64e15, a Date's range) into the globals minMs / maxMs (anyValid 1 when there is
 * one), and the count of values whose Date would be invalid (counts[] per index) returned. A JS loop over the ~20,000
 * distinct time stamps of each flights-3m page ran in V8's interpreter in a cold process, its doubles boxed (issue 16).
 */
const TIME_EXTREMES = `
  block $done
  loop $each
    local.get $d
    local.get $distinct
    i32.ge_u
    br_if $done
    local.get $order
    local.get $d
    i32.const 2
    i32.shl
    i32.add
    i32.load
    local.set $k
    local.get $dictionary
    local.get $k
    i32.const 3
    i32.shl
    i32.add
    i64.load
    local.get $divisor
    i64.div_s
    local.tee $x
    i64.const -8640000000000000
    i64.lt_s
    local.get $x
    i64.const 8640000000000000
    i64.gt_s
    i32.or
    if
      local.get $invalid
      local.get $counts
      local.get $k
      i32.const 2
      i32.shl
      i32.add
      i32.load
      i32.add
      local.set $invalid
    else
      local.get $any
      i32.eqz
      if
        local.get $x
        local.set $lo
        local.get $x
        local.set $hi
        i32.const 1
        local.set $any
      end
      local.get $x
      local.get $lo
      i64.lt_s
      if
        local.get $x
        local.set $lo
      end
      local.get $x
      local.get $hi
      i64.gt_s
      if
        local.get $x
        local.set $hi
      end
    end
    local.get $d
    i32.const 1
    i32.add
    local.set $d
    br $each
  end
  end
  local.get $lo
  f64.convert_i64_s
  global.set $minMs
  local.get $hi
  f64.convert_i64_s
  global.set $maxMs
  local.get $any
  f64.convert_i32_u
  global.set $anyValid
  local.get $invalid
`;

/** The generator's next 32 bits (mulberry32, as SeededRandom), as an i64 on the stack; its state in $a. */
const NEXT32 = `
  local.get $a
  i32.const 1831565813
  i32.add
  local.tee $a
  local.get $a
  i32.const 15
  i32.shr_u
  i32.xor
  local.get $a
  i32.const 1
  i32.or
  i32.mul
  local.tee $r
  local.get $r
  local.get $r
  i32.const 7
  i32.shr_u
  i32.xor
  local.get $r
  i32.const 61
  i32.or
  i32.mul
  i32.add
  local.get $r
  i32.xor
  local.tee $r
  local.get $r
  i32.const 14
  i32.shr_u
  i32.xor
  i64.extend_i32_u`;

/** The slot of position $t in the table (Fibonacci hashing: the product's top $bits bits), into $slot. */
const SLOT_OF_T = `
  local.get $t
  i32.const -1640531535
  i32.mul
  i32.const 32
  local.get $bits
  i32.sub
  i32.shr_u
  local.set $slot`;

/**
 * k distinct positions below n (< 2^31) drawn uniformly (Floyd's algorithm) into out[0..k), in the order drawn: for j
 * from n − k to n − 1, t uniform in [0, j] (the top of a 64-bit draw times j + 1), or j when t was chosen before. The
 * chosen positions sit in an open-addressed table of 2^bits slots (all −1 on entry) at `table`. The JS loop ran in the
 * interpreter in a cold process: ~9 ms for the first column of flights-3m (issue 16).
 */
const FLOYD = `
  local.get $n
  local.get $k
  i32.sub
  local.set $j
  block $done
  loop $draw
    local.get $j
    local.get $n
    i32.ge_u
    br_if $done
    ;; t = floor((hi · 2^32 + lo) · (j + 1) / 2^64), exactly: (hi·m + (lo·m >> 32)) >> 32 with m = j + 1 < 2^32
    local.get $j
    i32.const 1
    i32.add
    i64.extend_i32_u
    local.set $m
    ${NEXT32}
    local.get $m
    i64.mul
    ${NEXT32}
    local.get $m
    i64.mul
    i64.const 32
    i64.shr_u
    i64.add
    i64.const 32
    i64.shr_u
    i32.wrap_i64
    local.set $t
    ${SLOT_OF_T}
    block $found
    loop $probe
      local.get $table
      local.get $slot
      i32.const 2
      i32.shl
      i32.add
      i32.load
      local.tee $at
      i32.const -1
      i32.eq
      br_if $found
      local.get $at
      local.get $t
      i32.eq
      if
        ;; t was chosen before: j instead (never chosen: every earlier draw was below j)
        local.get $j
        local.set $t
        ${SLOT_OF_T}
        br $probe
      end
      local.get $slot
      i32.const 1
      i32.add
      i32.const 1
      local.get $bits
      i32.shl
      i32.const 1
      i32.sub
      i32.and
      local.set $slot
      br $probe
    end
    end
    local.get $table
    local.get $slot
    i32.const 2
    i32.shl
    i32.add
    local.get $t
    i32.store
    local.get $out
    local.get $c
    i32.const 2
    i32.shl
    i32.add
    local.get $t
    i32.store
    local.get $c
    i32.const 1
    i32.add
    local.set $c
    local.get $j
    i32.const 1
    i32.add
    local.set $j
    br $draw
  end
  end`;

/** The kernel's error codes (its negative results). */
export const HYBRID_END = -1;
export const HYBRID_LONG_HEADER = -2;
export const HYBRID_REPEATED_PAST_END = -3;
export const HYBRID_INDEX = -4;
export const HYBRID_PACKED_PAST_END = -5;

export const HYBRID_KERNEL: WatModule = {
  memoryPages: 1,
  globals: [
    ['detail', 'f64'],
    ['minMs', 'f64'],
    ['maxMs', 'f64'],
    ['anyValid', 'f64'],
  ],
  functions: [
    {
      name: 'countHybrid',
      exported: true,
      params: [
        ['pos', 'i32'],
        ['end', 'i32'],
        ['width', 'i32'],
        ['count', 'i32'],
        ['counts', 'i32'],
        ['size', 'i32'],
        ['order', 'i32'],
        ['distinct', 'i32'],
        ['positions', 'i32'],
        ['pickCount', 'i32'],
        ['picks', 'i32'],
      ],
      result: 'i32',
      locals: [
        ['seen', 'i32'],
        ['header', 'i64'],
        ['shift', 'i64'],
        ['b', 'i32'],
        ['n', 'i32'],
        ['value', 'i32'],
        ['mask', 'i32'],
        ['valueBytes', 'i32'],
        ['runBytes', 'i64'],
        ['run', 'i64'],
        ['bit', 'i32'],
        ['i', 'i32'],
        ['p', 'i32'],
        ['pickAt', 'i32'],
        ['at', 'i32'],
        ['c', 'i32'],
      ],
      body: COUNT_HYBRID,
    },
    {
      name: 'timeExtremes',
      exported: true,
      params: [
        ['dictionary', 'i32'],
        ['order', 'i32'],
        ['counts', 'i32'],
        ['distinct', 'i32'],
        ['divisor', 'i64'],
      ],
      result: 'i32',
      locals: [
        ['d', 'i32'],
        ['k', 'i32'],
        ['x', 'i64'],
        ['lo', 'i64'],
        ['hi', 'i64'],
        ['any', 'i32'],
        ['invalid', 'i32'],
      ],
      body: TIME_EXTREMES,
    },
    {
      name: 'floyd',
      exported: true,
      params: [
        ['n', 'i32'],
        ['k', 'i32'],
        ['a', 'i32'],
        ['table', 'i32'],
        ['bits', 'i32'],
        ['out', 'i32'],
      ],
      locals: [
        ['j', 'i32'],
        ['m', 'i64'],
        ['r', 'i32'],
        ['t', 'i32'],
        ['slot', 'i32'],
        ['at', 'i32'],
        ['c', 'i32'],
      ],
      body: FLOYD,
    },
  ],
};

/** What is used of the WebAssembly API (the project's type libraries, ES2023 and Node's, do not declare it). */
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
};

interface KernelExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly detail: { readonly value: number };
  readonly minMs: { readonly value: number };
  readonly maxMs: { readonly value: number };
  readonly anyValid: { readonly value: number };
  readonly timeExtremes: (dictionary: number, order: number, counts: number, distinct: number, divisor: bigint) => number;
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

let kernelModule: object | undefined;

function instantiateKernel(): KernelExports {
  kernelModule ??= new WebAssembly.Module(assembleWat(HYBRID_KERNEL));
  return new WebAssembly.Instance(kernelModule).exports as unknown as KernelExports;
}

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

const WASM_PAGE = 65536;

/**
 * Counts pages of dictionary indices with the kernel. Its memory holds, in this order: counts[size] (all 0 between
 * pages), order[size], the positions asked for and the indices picked there, and the page's bytes (+ 4: the last
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
    this.layout(size, pickCount, end - pos);
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
    // counts[] back to 0 for the next page: the counted indices are in order[] up to where it stopped, unknown here
    this.counts.fill(0);
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
    const invalid = this.kernel.timeExtremes(at, this.sizeCap * 4, 0, distinct, BigInt(divisor));
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

  /** Room for this page; a new layout starts with counts[] all 0 (grown memory is zeroed, the old region is cleared). */
  private layout(size: number, picks: number, pageBytes: number): void {
    if (size <= this.sizeCap && picks <= this.picksCap && pageBytes <= this.pageCap) {
      if (this.counts.length !== size) {
        this.counts = new Int32Array(this.kernel.memory.buffer, 0, size);
        this.order = new Int32Array(this.kernel.memory.buffer, this.sizeCap * 4, size);
      }
      return;
    }
    this.sizeCap = Math.max(size, this.sizeCap * 2);
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
