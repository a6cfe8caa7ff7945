import type { WatModule } from './wat';

// The record kernel's source, in the text format wat.ts assembles: the typed CSV reader's walk over whole records of a
// quote-free chunk (scanKernel.ts). The product loads its assembled bytes (scanKernelWasm.ts, written by
// scripts/scan-kernel-wasm.mjs; a unit test checks they are this module assembled).
//
// Memory, laid out by scanKernel.ts: POW10[0..22] as f64 at 0, DECIMAL_SCALES[0..9] as i64 at 192, the field table at
// 512 (16 bytes a field: kind, the address of its output for the call's row 0, the decimal scale, the largest |m|),
// then each field's output (a row's f64, its i32 decimal, or the field's [start, end) in the chunk as two i32), then
// the chunk's bytes.
//
// Kinds: 0 a field stepped over; 1 a number (the Clinger fast path of scanNumeralInto); 2 a decimal at the column's
// scale (ColumnBuilder.decimal); 3 an identifier (scanIdInto); 4 any other cell, whose bounds the JS side types
// (ColumnBuilder.unquoted). A record the kernel would type otherwise than the JS walk — an empty line, a CR not before
// an LF, a field count other than the header's, a numeral beyond the fast path, a decimal finer than the batch's scale,
// a cell that is no numeral in a column of numbers — stops it before that record: the JS walk takes it (and throws
// the error, if it is one), then calls the kernel again. So every cell the kernel writes is the JS walk's own.

/** Back to the record's start and out: the JS walk takes this record. */
const BAIL = `
  local.get $rowStart
  local.set $pos
  br $done`;

/** pos++ */
const NEXT = `
  local.get $pos
  i32.const 1
  i32.add
  local.set $pos`;

/** With a byte on the stack: stops (BAIL) unless it ends a field — the delimiter, an LF, or a CR right before an LF. */
const MUST_END_FIELD = `
  local.tee $b
  local.get $delim
  i32.ne
  local.get $b
  i32.const 10
  i32.ne
  i32.and
  if
    local.get $b
    i32.const 13
    i32.ne
    local.get $pos
    i32.load8_u offset=1
    i32.const 10
    i32.ne
    i32.or
    if
      ${BAIL}
    end
  end`;

/** The field's output address for this row on the stack: out + rows × 8 (a decimal's: out + rows × 4). */
const outAt = (shift: 2 | 3): string => `
  local.get $entry
  i32.load offset=4
  local.get $rows
  i32.const ${shift}
  i32.shl
  i32.add`;
const OUT_AT = outAt(3);

/** A '-' (the named local set to 1) or '+' at pos stepped over. */
const sign = (flag: string): string => `
  local.get $pos
  i32.load8_u
  local.tee $b
  i32.const 45
  i32.eq
  if
    i32.const 1
    local.set $${flag}
    ${NEXT}
  else
    local.get $b
    i32.const 43
    i32.eq
    if
      ${NEXT}
    end
  end`;

/** d = the byte at pos − '0'; out to the named label unless it is a digit. */
const digitOrLeave = (label: string): string => `
  local.get $pos
  i32.load8_u
  i32.const 48
  i32.sub
  local.tee $d
  i32.const 9
  i32.gt_u
  br_if $${label}`;

/** Digits from pos into mant (i64, exact up to 18 digits), counted in the named local; d ends as the first non-digit − '0'. */
const digits = (counter: string, label: string): string => `
  block $${label}Done
    loop $${label}
      ${digitOrLeave(`${label}Done`)}
      local.get $mant
      i64.const 10
      i64.mul
      local.get $d
      i64.extend_i32_u
      i64.add
      local.set $mant
      local.get $${counter}
      i32.const 1
      i32.add
      local.set $${counter}
      ${NEXT}
      br $${label}
    end
  end`;

/** Kinds 0 and 4: the field's bytes to its delimiter or LF; kind 4 writes [s, e) (e before a CR that ends the line). */
const PLAIN_FIELD = `
  block $scanned
    loop $bytes
      local.get $pos
      i32.load8_u
      local.tee $b
      local.get $delim
      i32.eq
      br_if $scanned
      local.get $b
      i32.const 10
      i32.eq
      br_if $scanned
      ${NEXT}
      br $bytes
    end
  end
  local.get $kind
  i32.const 4
  i32.eq
  if
    local.get $pos
    local.set $e
    local.get $b
    i32.const 10
    i32.eq
    local.get $pos
    local.get $s
    i32.gt_u
    i32.and
    if
      local.get $pos
      i32.const 1
      i32.sub
      i32.load8_u
      i32.const 13
      i32.eq
      if
        local.get $pos
        i32.const 1
        i32.sub
        local.set $e
      end
    end
    ${OUT_AT}
    local.tee $out
    local.get $s
    local.get $base
    i32.sub
    i32.store
    local.get $out
    local.get $e
    local.get $base
    i32.sub
    i32.store offset=4
  end`;

/** An empty field of kinds 1–3: NaN (the bits of V8's NaN) or EMPTY_DECIMAL, as the JS walk writes it. */
const EMPTY_CELL = `
  local.get $kind
  i32.const 2
  i32.eq
  if
    ${outAt(2)}
    i32.const -2147483648
    i32.store
  else
    ${OUT_AT}
    i64.const 9221120237041090560
    i64.store
  end`;

/** Kind 3: a canonical integer of at most 15 digits (scanIdInto), an empty field as NaN; anything else stops. */
const ID_FIELD = `
  local.get $pos
  i32.load8_u
  i32.const 45
  i32.eq
  if
    i32.const 1
    local.set $neg
    ${NEXT}
  end
  ${digits('digits', 'idDigits')}
  local.get $pos
  i32.load8_u
  ${MUST_END_FIELD}
  local.get $digits
  i32.eqz
  if
    local.get $neg
    if
      ${BAIL}
    end
    ${EMPTY_CELL}
  else
    ;; at most 15 digits, no leading zero (but 0 itself, and not -0)
    local.get $digits
    i32.const 15
    i32.gt_u
    if
      ${BAIL}
    end
    local.get $s
    local.get $neg
    i32.add
    i32.load8_u
    i32.const 48
    i32.eq
    local.get $digits
    i32.const 1
    i32.gt_u
    local.get $neg
    i32.or
    i32.and
    if
      ${BAIL}
    end
    ${OUT_AT}
    local.get $mant
    f64.convert_i64_u
    local.set $value
    local.get $neg
    if
      local.get $value
      f64.neg
      local.set $value
    end
    local.get $value
    f64.store
  end`;

/** Kinds 1 and 2: a numeral (scanNumeralParts' grammar), written as a number or a decimal; an empty field as EMPTY_CELL. */
const NUMERAL_FIELD = `
 block $numeralDone
  ${sign('neg')}
  ${digits('digits', 'intDigits')}
  local.get $d
  i32.const -2
  i32.eq
  if
    ${NEXT}
    ${digits('fraction', 'fracDigits')}
    local.get $digits
    local.get $fraction
    i32.add
    local.set $digits
  end
  local.get $digits
  i32.eqz
  if
    ;; no digit: an empty field is empty; a sign or a dot alone, or a text, is the JS walk's
    local.get $pos
    local.get $s
    i32.ne
    if
      ${BAIL}
    end
    local.get $pos
    i32.load8_u
    ${MUST_END_FIELD}
    ${EMPTY_CELL}
  else
    ;;  the exponent (capped as scanNumeralParts caps it)
    local.get $pos
    i32.load8_u
    i32.const 32
    i32.or
    i32.const 101
    i32.eq
    if
      ${NEXT}
      i32.const 0
      local.set $expNeg
      ${sign('expNeg')}
      i32.const 0
      local.set $expDigits
      block $expDone
        loop $exp
          ${digitOrLeave('expDone')}
          local.get $exponent
          i32.const 100000
          i32.lt_s
          if
            local.get $exponent
            i32.const 10
            i32.mul
            local.get $d
            i32.add
            local.set $exponent
          end
          local.get $expDigits
          i32.const 1
          i32.add
          local.set $expDigits
          ${NEXT}
          br $exp
        end
      end
      local.get $expDigits
      i32.eqz
      if
        ${BAIL}
      end
      local.get $expNeg
      if
        i32.const 0
        local.get $exponent
        i32.sub
        local.set $exponent
      end
    end
    local.get $pos
    i32.load8_u
    ${MUST_END_FIELD}
    local.get $exponent
    local.get $fraction
    i32.sub
    local.set $power
    local.get $kind
    i32.const 1
    i32.eq
    if
      ;; Clinger's fast path; a numeral beyond it (more than 18 digits, an integer of them from 2^53, a power of ten
      ;; past ±22) goes to the list of those the JS side reads with Number() (writeNumeral's own way), while it has room
      local.get $digits
      i32.const 18
      i32.gt_u
      local.get $mant
      i64.const 9007199254740992
      i64.ge_u
      i32.or
      local.get $power
      i32.const 22
      i32.add
      i32.const 44
      i32.gt_u
      i32.or
      if
        global.get $slow
        local.get $slowCap
        i32.ge_u
        if
          ${BAIL}
        end
        global.get $slow
        i32.const 12
        i32.mul
        local.get $slowAt
        i32.add
        local.tee $out
        ${OUT_AT}
        i32.store
        local.get $out
        local.get $s
        local.get $base
        i32.sub
        i32.store offset=4
        local.get $out
        local.get $pos
        local.get $base
        i32.sub
        i32.store offset=8
        global.get $slow
        i32.const 1
        i32.add
        global.set $slow
        br $numeralDone
      end
      local.get $mant
      f64.convert_i64_u
      local.set $value
      local.get $power
      i32.const 0
      i32.ge_s
      if
        local.get $value
        local.get $power
        i32.const 3
        i32.shl
        f64.load
        f64.mul
        local.set $value
      else
        local.get $value
        i32.const 0
        local.get $power
        i32.sub
        i32.const 3
        i32.shl
        f64.load
        f64.div
        local.set $value
      end
      local.get $neg
      if
        local.get $value
        f64.neg
        local.set $value
      end
      ${OUT_AT}
      local.get $value
      f64.store
    else
      ;; a decimal at the column's scale: m = mant × 10^(scale + power) within 2^31 − 1, and not −0
      local.get $digits
      i32.const 18
      i32.gt_u
      if
        ${BAIL}
      end
      local.get $entry
      i32.load offset=8
      local.get $power
      i32.add
      local.tee $shift
      i32.const 9
      i32.gt_u
      local.get $mant
      i64.const 2147483647
      i64.gt_u
      i32.or
      if
        ${BAIL}
      end
      local.get $mant
      local.get $shift
      i32.const 3
      i32.shl
      i64.load offset=192
      i64.mul
      local.tee $m
      i64.const 2147483647
      i64.gt_u
      local.get $m
      i64.eqz
      local.get $neg
      i32.and
      i32.or
      if
        ${BAIL}
      end
      local.get $m
      i32.wrap_i64
      local.set $d
      local.get $d
      local.get $entry
      i32.load offset=12
      i32.gt_u
      if
        local.get $entry
        local.get $d
        i32.store offset=12
      end
      ${outAt(2)}
      local.get $neg
      if i32
        i32.const 0
        local.get $d
        i32.sub
      else
        local.get $d
      end
      i32.store
    end
  end
 end`;

const SCAN_ROWS = `
  block $done
    loop $rows
      local.get $rows
      local.get $maxRows
      i32.ge_u
      br_if $done
      local.get $pos
      local.get $end
      i32.ge_u
      br_if $done
      local.get $pos
      local.set $rowStart
      ;; an empty line, or a line starting with a CR: the JS walk's
      local.get $pos
      i32.load8_u
      local.tee $b
      i32.const 10
      i32.eq
      local.get $b
      i32.const 13
      i32.eq
      i32.or
      br_if $done
      i32.const 0
      local.set $f
      local.get $table
      local.set $entry
      loop $fields
        local.get $entry
        i32.load
        local.set $kind
        local.get $pos
        local.set $s
        local.get $kind
        i32.eqz
        local.get $kind
        i32.const 4
        i32.eq
        i32.or
        if
          ${PLAIN_FIELD}
        else
          i32.const 0
          local.set $neg
          i64.const 0
          local.set $mant
          i32.const 0
          local.set $digits
          i32.const 0
          local.set $fraction
          i32.const 0
          local.set $exponent
          local.get $kind
          i32.const 3
          i32.eq
          if
            ${ID_FIELD}
          else
            ${NUMERAL_FIELD}
          end
        end
        ;; pos is at the field's end: a delimiter (the next field), an LF or the CR of a CR LF (the record's end)
        local.get $pos
        i32.load8_u
        local.tee $b
        local.get $delim
        i32.eq
        if
          local.get $f
          i32.const 1
          i32.add
          local.tee $f
          local.get $fields
          i32.ge_u
          if
            ${BAIL}
          end
          ${NEXT}
          local.get $entry
          i32.const 16
          i32.add
          local.set $entry
          br $fields
        end
      end
      ;; the record's end: as many fields as the header
      local.get $f
      i32.const 1
      i32.add
      local.get $fields
      i32.ne
      if
        ${BAIL}
      end
      ;; past the LF, or the CR LF
      local.get $pos
      local.get $b
      i32.const 13
      i32.eq
      i32.add
      i32.const 1
      i32.add
      local.set $pos
      local.get $rows
      i32.const 1
      i32.add
      local.set $rows
      br $rows
    end
  end
  local.get $pos
  global.set $at
  local.get $rows`;

/**
 * scanRows(pos, end, maxRows, fields, table, delim, base, slowAt, slowCap): whole records from pos while a record starts before end (the
 * chunk's last LF), at most maxRows; returns the records typed, with `at` set to where it stopped (the next record's
 * start). Field f's cell of the call's row r goes to its output + 8r (a decimal's to + 4r); kind 4 writes the bounds
 * less `base` (their indices in the chunk). A number beyond the fast path is listed at slowAt (12 bytes: its output's
 * address, its bounds less base) for the JS side, at most slowCap of them; `slow` counts them (the caller zeroes it).
 */
export const SCAN_KERNEL: WatModule = {
  memoryPages: 1,
  globals: [
    ['at', 'i32'],
    ['slow', 'i32'],
  ],
  functions: [
    {
      name: 'scanRows',
      exported: true,
      params: [
        ['pos', 'i32'],
        ['end', 'i32'],
        ['maxRows', 'i32'],
        ['fields', 'i32'],
        ['table', 'i32'],
        ['delim', 'i32'],
        ['base', 'i32'],
        ['slowAt', 'i32'],
        ['slowCap', 'i32'],
      ],
      result: 'i32',
      locals: [
        ['rows', 'i32'],
        ['rowStart', 'i32'],
        ['f', 'i32'],
        ['entry', 'i32'],
        ['kind', 'i32'],
        ['s', 'i32'],
        ['e', 'i32'],
        ['b', 'i32'],
        ['d', 'i32'],
        ['out', 'i32'],
        ['neg', 'i32'],
        ['digits', 'i32'],
        ['fraction', 'i32'],
        ['exponent', 'i32'],
        ['expNeg', 'i32'],
        ['expDigits', 'i32'],
        ['power', 'i32'],
        ['shift', 'i32'],
        ['mant', 'i64'],
        ['m', 'i64'],
        ['value', 'f64'],
      ],
      body: SCAN_ROWS,
    },
  ],
};
