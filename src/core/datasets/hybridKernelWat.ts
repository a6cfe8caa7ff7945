import { GROUP_WIDTHS } from './hybridKernel';
import type { WatFunction, WatModule } from './wat';

// The counting kernel's source, in the text format wat.ts assembles. The product loads its assembled bytes
// (hybridKernelWasm.ts, written by scripts/wasm-kernels.mjs; a unit test checks they are this module assembled),
// so a cold process neither builds these strings nor runs the assembler.

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

/** counts[$k], pushed. */
const COUNT_OF_K = `
  local.get $counts
  local.get $k
  i32.const 2
  i32.shl
  i32.add
  i32.load`;

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
 * and picked indices likewise (counts[] with room for 2^width indices where width ≤ GROUP_WIDTHS: the groups' counts
 * are not checked). Returns the new number of distinct indices, or a negative code (HYBRID_*) with the detail in the
 * global `detail`; countHybrid (COUNT_HYBRID_CHECKED) calls it and checks the groups' indices.
 */
const COUNT_RUNS = `
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
      ;; whole groups of 8 at the widths with code of their own (countGroups), the rest value by value below
      i32.const 0
      local.set $i
      local.get $width
      i32.const ${GROUP_WIDTHS}
      i32.le_u
      local.get $n
      i32.const 8
      i32.ge_u
      i32.and
      if
        local.get $width
        local.get $pos
        local.get $n
        i32.const 3
        i32.shr_u
        local.get $counts
        local.get $order
        local.get $distinct
        call $countGroups
        local.set $distinct
        local.get $n
        i32.const -8
        i32.and
        local.set $i
      end
      local.get $i
      local.get $width
      i32.mul
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

/** The value of `width` bits at bit `bit` of the group at $pos, pushed: offsets, shift and mask are constants. */
function groupValue(width: number, bit: number): string {
  const offset = `offset=${bit >> 3}`;
  if ((width === 8 || width === 16) && (bit & 7) === 0) return `local.get $pos\n  i32.load${width}_u ${offset}`;
  const shift = bit & 7 ? `\n  i32.const ${bit & 7}\n  i32.shr_u` : '';
  return `local.get $pos\n  i32.load ${offset}${shift}\n  i32.const ${2 ** width - 1}\n  i32.and`;
}

/** groups<width>'s parameters, countGroups' after its width. */
const GROUPS_PARAMS: WatFunction['params'] = [
  ['pos', 'i32'],
  ['groups', 'i32'],
  ['counts', 'i32'],
  ['order', 'i32'],
  ['distinct', 'i32'],
];

/**
 * `groups` (≥ 1) bit-packed groups of 8 indices of `width` bits at $pos counted as countRuns counts them; returns the
 * new number of distinct indices. One function a width: the 8 values' byte offsets, shifts and mask are constants,
 * where countRuns' loop works out each value's bit position and loads at a computed address, and no index is checked
 * against the dictionary's size: counts[] has room for every index of `width` bits, and countHybrid looks there for
 * one past the dictionary afterwards (about half the instructions a value; flights-3m's 12M bit-packed indices are most
 * of the kernel's time, issue 16).
 */
function groupsOfWidth(width: number): WatFunction {
  const values = Array.from({ length: 8 }, (_, i) => `${groupValue(width, i * width)}\n  local.set $value\n  ${tally('i32.const 1')}`);
  return {
    name: `groups${width}`,
    params: GROUPS_PARAMS,
    result: 'i32',
    locals: [
      ['value', 'i32'],
      ['at', 'i32'],
      ['c', 'i32'],
    ],
    body: `
  loop $group
  ${values.join('\n  ')}
  local.get $pos
  i32.const ${width}
  i32.add
  local.set $pos
  local.get $groups
  i32.const 1
  i32.sub
  local.tee $groups
  br_if $group
  end
  local.get $distinct`,
  };
}

/** groups<width>(…) for width ≤ GROUP_WIDTHS, chosen by halving the range of widths. */
function callGroups(low: number, high: number): string {
  if (low === high) return `local.get $pos\n  local.get $groups\n  local.get $counts\n  local.get $order\n  local.get $distinct\n  call $groups${low}`;
  const middle = (low + high) >> 1;
  return `local.get $width\n  i32.const ${middle}\n  i32.le_u\n  if i32\n  ${callGroups(low, middle)}\n  else\n  ${callGroups(middle + 1, high)}\n  end`;
}

const COUNT_GROUPS: WatFunction = {
  name: 'countGroups',
  params: [['width', 'i32'], ...GROUPS_PARAMS],
  result: 'i32',
  body: callGroups(1, GROUP_WIDTHS),
};

/**
 * Time stamps of an INT64 dictionary (raw values at `dictionary`, 8 bytes each) at the indices order[0..distinct), each
 * divided by `divisor` truncated toward zero (BigInt division, as hyparquet converts them to epoch milliseconds): the
 * least and greatest valid one (|ms| ≤ 8.64e15, a Date's range) into the globals minMs / maxMs (anyValid 1 when there is
 * one), and the count of values whose Date would be invalid (counts[] per index) returned. A JS loop over the ~20,000
 * distinct time stamps of each flights-3m page ran in V8's interpreter in a cold process, its doubles boxed (issue 16).
 * The quotient never varies inversely with the raw value (divisor ≥ 1), so the valid raw values are those in [low,
 * high] (timeStampBounds) and the extremes' quotients are the quotients of the raw extremes: two divisions a page, not
 * one a distinct time stamp (~40 cycles each).
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
    local.tee $x
    local.get $low
    i64.lt_s
    local.get $x
    local.get $high
    i64.gt_s
    i32.or
    if
      local.get $invalid
      ${COUNT_OF_K}
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
  local.get $divisor
  i64.div_s
  f64.convert_i64_s
  global.set $minMs
  local.get $hi
  local.get $divisor
  i64.div_s
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

/**
 * countRuns, then the index check the groups left out: a count at an index in [size, 2^width) came from a group (the
 * value-by-value paths check before they count), and the first such index in order[] is the first one met, so the
 * result is what a check of every value would give: HYBRID_INDEX with that index, whatever countRuns went on to find.
 */
const COUNT_HYBRID_CHECKED = `
  local.get $pos
  local.get $end
  local.get $width
  local.get $count
  local.get $counts
  local.get $size
  local.get $order
  local.get $distinct
  local.get $positions
  local.get $pickCount
  local.get $picks
  call $countRuns
  local.set $result
  local.get $width
  i32.const ${GROUP_WIDTHS}
  i32.le_u
  if
    i32.const 1
    local.get $width
    i32.shl
    local.set $limit
    local.get $size
    local.set $k
    block $clean
    loop $scan
      local.get $k
      local.get $limit
      i32.ge_u
      br_if $clean
      ${COUNT_OF_K}
      if
        i32.const 0
        local.set $k
        loop $first
          local.get $order
          local.get $k
          i32.const 2
          i32.shl
          i32.add
          i32.load
          local.tee $index
          local.get $size
          i32.lt_u
          if
            local.get $k
            i32.const 1
            i32.add
            local.set $k
            br $first
          end
        end
        local.get $index
        f64.convert_i32_u
        global.set $detail
        i32.const -4
        return
      end
      local.get $k
      i32.const 1
      i32.add
      local.set $k
      br $scan
    end
    end
  end
  local.get $result
`;

/** countHybrid's parameters, countRuns' too. */
const COUNT_PARAMS: WatFunction['params'] = [
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
];

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
      params: COUNT_PARAMS,
      result: 'i32',
      locals: [
        ['result', 'i32'],
        ['limit', 'i32'],
        ['k', 'i32'],
        ['index', 'i32'],
      ],
      body: COUNT_HYBRID_CHECKED,
    },
    {
      name: 'countRuns',
      params: COUNT_PARAMS,
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
      body: COUNT_RUNS,
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
        ['low', 'i64'],
        ['high', 'i64'],
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
    COUNT_GROUPS,
    ...Array.from({ length: GROUP_WIDTHS }, (_, i) => groupsOfWidth(i + 1)),
  ],
};
