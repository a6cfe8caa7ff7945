import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ColumnCollector, CombineScratch, combineCollectors, packInts, unpackInts, type ColumnSample } from '../../src/core/drift/columnSample';
import { sortInts } from '../../src/core/drift/sortNumbers';

/**
 * A column's numbers are held as exact decimals (Int32 m, value = m / 10^s) while every value has that form
 * (src/core/drift/columnSample.ts). The samples must be bit for bit what plain doubles sorted by the engine's
 * independent reference give: here Float64Array#sort of the same values, compared by their bytes.
 */

function sameBits(actual: ColumnSample, values: readonly number[], label: string): void {
  assert.equal(actual.kind, 'numeric', label);
  const sorted = (actual as Extract<ColumnSample, { kind: 'numeric' }>).sorted;
  const expected = Float64Array.from(values.filter((v) => Number.isFinite(v))).sort();
  assert.equal(sorted.length, expected.length, `${label}: count`);
  const a = new Uint8Array(sorted.buffer, sorted.byteOffset, sorted.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i])
      assert.fail(`${label}: value ${Math.floor(i / 8)} is ${show(sorted[Math.floor(i / 8)]!)}, expected ${show(expected[Math.floor(i / 8)]!)}`);
}

/** A number as text, −0 as −0. */
const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/** Whether the collector still holds its numbers in the exact decimal form (white box: the path this file tests). */
function holdsScaled(c: ColumnCollector): boolean {
  return (c as unknown as { scaled: Int32Array | undefined }).scaled !== undefined;
}

/** Seattle-weather's numeric columns, repeated to pass the radix sort's threshold: real values, 17,532 a column. */
function seattleColumns(): Map<string, number[]> {
  const [header, ...lines] = readFileSync(resolve(__dirname, '../../../examples/weather/data/seattle-weather.csv'), 'utf8').trim().split('\n');
  const names = header!.split(',');
  const columns = new Map<string, number[]>();
  for (const column of ['precipitation', 'temp_max', 'temp_min', 'wind']) {
    const at = names.indexOf(column);
    const once = lines.map((line) => Number(line.split(',')[at]));
    columns.set(column, Array.from({ length: 12 }, () => once).flat());
  }
  return columns;
}

describe('drift: numbers held as exact decimals', () => {
  it('seattle-weather: each column finished, and combined from windows settled on the way, equals plain doubles sorted, bit for bit', () => {
    for (const [column, values] of seattleColumns()) {
      const one = new ColumnCollector();
      for (const v of values) one.addNumber(v);
      assert.ok(holdsScaled(one), `${column}: held as decimals`);
      sameBits(one.finish(), values, `${column} whole`);

      // twelve windows (as fedSide.ts makes them): reserve, add, settle some on the way, then combine and finish each
      const size = Math.ceil(values.length / 12);
      const parts = Array.from({ length: 12 }, () => new ColumnCollector());
      parts.forEach((part, w) => {
        const slice = values.slice(w * size, (w + 1) * size);
        part.reserve(slice.length);
        for (const v of slice) part.addNumber(v);
        if (w % 2 === 0) part.settle();
      });
      assert.ok(parts.every(holdsScaled), `${column}: windows held as decimals`);
      sameBits(combineCollectors(parts), values, `${column} combined`);
      parts.forEach((part, w) => sameBits(part.finish(), values.slice(w * size, (w + 1) * size), `${column} window ${w}`));
    }
  });

  it('values without a decimal form of 9 places, a growing scale, −0 (alone and merged) and windows of different scales: still the plain samples', () => {
    const growing = [3, -2, 0.5, 1.25, -0.125, 7.0625, 100]; // scale 0 → 1 → 2 → 3 → 4
    const c = new ColumnCollector();
    for (const v of growing) c.addNumber(v);
    assert.ok(holdsScaled(c), 'rescaled, still decimals');
    sameBits(c.finish(), growing, 'growing scale');

    for (const odd of [0.7273000000000001, 1 / 3, 1e300, 3e9, 1e-12, -1e-12, Math.PI]) {
      const values = [0.5, -1.75, odd, 2, 0.1];
      const d = new ColumnCollector();
      for (const v of values) d.addNumber(v);
      assert.ok(!holdsScaled(d), `${odd} turns the column plain`);
      sameBits(d.finish(), values, `with ${odd}`);
    }

    // −0 (make_data.py writes "-0.0"): held as a decimal, given back as −0 where the plain path puts it
    const zeros = [1.5, -0, 0, -0.25, -0, 0, 2];
    const z = new ColumnCollector();
    for (const v of zeros) z.addNumber(v);
    assert.ok(holdsScaled(z), '−0 keeps the decimal form');
    sameBits(z.finish(), zeros, 'with −0');
    // windows with −0 and +0 merged: what one collector given all their values holds (Float64Array#sort: every −0 first)
    const zeroWindows = [
      Array.from({ length: 20_000 }, (_, i) => [0, -0, 0.5, -1.25][i % 4]!),
      Array.from({ length: 300 }, (_, i) => [-0, 3, 0][i % 3]!),
      Array.from({ length: 20_000 }, (_, i) => [0, 0.75, -0][i % 3]!),
    ];
    const zeroParts = zeroWindows.map((w) => {
      const part = new ColumnCollector();
      for (const v of w) part.addNumber(v);
      return part;
    });
    assert.ok(zeroParts.every(holdsScaled));
    sameBits(combineCollectors(zeroParts), zeroWindows.flat(), 'zeros merged as one sort orders them');
    zeroWindows.forEach((w, k) => sameBits(zeroParts[k]!.finish(), w, `zero window ${k}`));

    // windows at scales 0, 2 and 5 (merged at 5), then one plain window: both merges equal the plain sort
    const windows = [
      Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 1000),
      Array.from({ length: 20_000 }, (_, i) => (((i * 104729) % 100_000) - 30_000) / 100),
      Array.from({ length: 20_000 }, (_, i) => (((i * 15485863) % 2_000_000) - 1_000_000) / 100_000),
    ];
    const parts = windows.map((w) => {
      const part = new ColumnCollector();
      for (const v of w) part.addNumber(v);
      return part;
    });
    parts[1]!.settle();
    assert.ok(parts.every(holdsScaled));
    sameBits(combineCollectors(parts), windows.flat(), 'scales 0, 2, 5 merged');
    windows.forEach((w, k) => sameBits(parts[k]!.finish(), w, `window ${k}`));

    // integers up to 10^8 (scale 0) beside a window at scale 5: no common scale fits 32 bits, merged plain
    const large = windows[0]!.map((v) => v * 100_000);
    const big = [new ColumnCollector(), new ColumnCollector()];
    for (const v of large) big[0]!.addNumber(v);
    for (const v of windows[2]!) big[1]!.addNumber(v);
    assert.ok(big.every(holdsScaled));
    sameBits(combineCollectors(big), [...large, ...windows[2]!], 'no common scale');
    sameBits(big[0]!.finish(), large, 'the large window');
  });

  it('addNumbers over runs leaves the collector addNumber value by value leaves: missing, infinities, −0, a growing scale, going plain mid-run', () => {
    let seed = 777;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const odd = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 0.125, 12.5, 1e-12, 1 / 3, 3e9, 2147483647, -2147483647];
    const streams = [
      // decimals at scale 5 with missing cells, infinities and −0 among them (stays scaled)
      Array.from({ length: 30_000 }, (_, i) => (i % 997 === 0 ? odd[i % 5]! : Math.round((next() - 0.5) * 2e5) / 1e5)),
      // integers, then a growing scale, then a value without a decimal form part way through: plain from there
      Array.from({ length: 30_000 }, (_, i) =>
        i < 10_000 ? Math.round(next() * 1000) : i < 20_000 ? Math.round(next() * 1e6) / 1e3 : i === 25_000 ? 1 / 3 : next(),
      ),
      // the odd values alone, repeated
      Array.from({ length: 3_000 }, (_, i) => odd[i % odd.length]!),
    ];
    for (const [k, values] of streams.entries()) {
      const one = new ColumnCollector();
      for (const v of values) one.addNumber(v);
      const runs = new ColumnCollector();
      const f64 = Float64Array.from(values);
      for (let i = 0; i < f64.length; ) {
        const end = Math.min(f64.length, i + 1 + Math.floor(next() * 5000));
        if (next() < 0.5) runs.reserve(end - i); // as fedSide.ts does, or not
        runs.addNumbers(f64, i, end);
        i = end;
      }
      assert.equal(holdsScaled(runs), holdsScaled(one), `stream ${k}: the same form`);
      const a = one.finish();
      const b = runs.finish();
      assert.equal(a.kind, 'numeric');
      assert.equal(b.kind, 'numeric');
      const [x, y] = [a, b] as Extract<ColumnSample, { kind: 'numeric' }>[];
      assert.deepEqual([y!.missing, y!.infinite], [x!.missing, x!.infinite], `stream ${k}: missing and infinite counts`);
      assert.deepEqual(Array.from(y!.sorted, show), Array.from(x!.sorted, show), `stream ${k}: the same numbers, −0 where addNumber puts it`);
      sameBits(b, values, `stream ${k} against the plain sort`);
    }
  });

  it('sortInts sorts as Int32Array#sort does, through the radix sort and below its threshold', () => {
    let seed = 12345;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (const n of [0, 1, 100, 16_383, 16_384, 100_000]) {
      const values = new Int32Array(n);
      for (let i = 0; i < n; i++) values[i] = next() | 0;
      if (n > 10) {
        values[0] = -2147483648;
        values[1] = 2147483647;
        values[2] = 0;
      }
      const expected = values.slice().sort();
      assert.deepEqual(sortInts(values), expected, `n = ${n}`);
    }
    const small = Int32Array.from({ length: 50_000 }, (_, i) => (i * 31) % 7); // one shared upper digit
    assert.deepEqual(sortInts(small.slice()), small.slice().sort());
    // each path by the span of the values: counted (below 2n; sorted windows end to end too), two passes of 10-bit
    // digits, two of 16-bit digits, all one value
    const spans = [
      ['counted', 30_000, 50_000],
      ['counted, many of each', 30_000, 40],
      ['two narrow passes', 20_000, 1_000_000],
      ['two wide passes', 20_000, 2 ** 31],
      ['one value', 20_000, 0],
    ] as const;
    for (const [path, n, span] of spans) {
      const values = Int32Array.from({ length: n }, () => Math.floor((next() / 2 ** 32) * (span + 1)) - Math.floor(span / 2) - 7);
      assert.deepEqual(sortInts(values.slice()), values.slice().sort(), path);
    }
    const windows = Array.from({ length: 12 }, (_, w) => Int32Array.from({ length: 3_000 }, () => (next() % 5_000) - 2_500 + w).sort());
    const joined = new Int32Array(36_000);
    windows.forEach((w, k) => joined.set(w, k * 3_000));
    assert.deepEqual(sortInts(joined.slice()), joined.slice().sort(), 'sorted windows end to end');
  });

  it('windows packed once settled (fedSide.ts): gaps of every width up to 2^32 − 1, late numbers after packing, then combined and finished: still the plain samples', () => {
    // gaps of 1 to 5 bytes, repeats (gap 0), both int32 ends in one array (a gap of 2^32 − 2)
    const ints = Int32Array.from([-2147483647, -2147483647, -1e9, -3, 0, 0, 1, 127, 128, 16_511, 2_113_663, 270_549_119, 2147483647]);
    assert.deepEqual([...unpackInts(packInts(ints), ints.length)], [...ints], 'unpacked as packed');
    assert.deepEqual([...unpackInts(packInts(Int32Array.of(-5)), 1)], [-5], 'a single value');

    const isPacked = (c: ColumnCollector): boolean => (c as unknown as { packed: unknown }).packed !== undefined;
    let seed = 99;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const windows = [
      // dense decimals at scale 5 with −0, missing and infinite cells (a fixture's feature)
      Array.from({ length: 20_000 }, (_, i) => (i % 4001 === 0 ? [-0, Number.NaN, Number.POSITIVE_INFINITY][i % 3]! : Math.round((next() - 0.5) * 4e5) / 1e5)),
      // integers at scale 0 (merged at scale 5 with the first)
      Array.from({ length: 20_000 }, () => Math.round(next() * 90)),
      // sparse: gaps of 5·10^8, five bytes each (packing would not save anything: left as it is)
      Array.from({ length: 9 }, (_, i) => -2e9 + i * 5e8),
    ];
    const late = [
      [0.5, -1.25, 3.14159], // fit the packed window's scale
      [7.5, 0.001], // a larger scale for the packed integers
      [1 / 3], // no decimal form: the window goes plain
    ];
    const parts = windows.map((w) => {
      const part = new ColumnCollector();
      for (const v of w) part.addNumber(v);
      part.settle();
      part.pack();
      return part;
    });
    assert.deepEqual(parts.map(isPacked), [true, true, false], 'dense windows packed, the sparse one not');
    const combined = windows.map((w, k) => [...w, ...late[k]!]);
    sameBits(
      combineCollectors(
        parts.map((part, k) => {
          const copy = new ColumnCollector();
          for (const v of windows[k]!) copy.addNumber(v);
          copy.settle();
          copy.pack();
          return copy;
        }),
      ),
      windows.flat(),
      'packed windows merged',
    );
    parts.forEach((part, k) => {
      for (const v of late[k]!) part.addNumber(v);
      assert.ok(!isPacked(part), `window ${k} unpacked by a late number`);
      part.settle();
      part.pack();
    });
    sameBits(combineCollectors(parts), combined.flat(), 'windows with late numbers merged');
    combined.forEach((w, k) => sameBits(parts[k]!.finish(), w, `window ${k} finished`));

    // column after column through one scratch (fedSide.ts's comparison): each column's whole and windows as without it,
    // checked before the next column reuses the memory; a scratch too small for a column falls back to new arrays
    const columnOf = (sign: number): ColumnCollector[] =>
      windows.slice(0, 2).map((w) => {
        const part = new ColumnCollector();
        for (const v of w) part.addNumber(sign * v);
        part.settle();
        part.pack();
        return part;
      });
    for (const room of [2 * 40_000, 1000]) {
      const scratch = new CombineScratch();
      scratch.reserve(room);
      for (const sign of [1, -1, 1]) {
        const column = columnOf(sign);
        const expected = windows.slice(0, 2).map((w) => w.map((v) => sign * v));
        sameBits(combineCollectors(column, scratch), expected.flat(), `room ${room}, column ×${sign} merged`);
        expected.forEach((w, k) => sameBits(column[k]!.finish(), w, `room ${room}, column ×${sign} window ${k}`));
      }
    }
  });
});
