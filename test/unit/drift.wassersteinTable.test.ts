import assert from 'node:assert/strict';
import { ColumnCollector, CombineScratch, combineCollectors, plainOf, SCALES, tabledCollectors, type ColumnSample } from '../../src/core/drift/columnSample';
import { populationStd, ScaledReferenceTable, wasserstein1Scaled } from '../../src/core/drift/distances';
import { columnDrift, WassersteinTables, type DriftOptions } from '../../src/core/drift/report';

/**
 * A windowed check's comparison without merging (src/core/drift/distances.ts ScaledReferenceTable,
 * columnSample.ts ColumnCollector.tabled, report.ts WassersteinTables): each window's Wasserstein distance summed at
 * its own values from the reference's areas, the whole column counted by value from its (packed) windows. Checked
 * bit for bit against the definition summed here in BigInts and against the merge (wasserstein1Scaled, what main
 * computes), and every column's report against the one the merged column gives: ties, one-value columns, stretches
 * too wide for doubles, offsets near 2^31, windows of other scales, −0, empty windows, spans too wide for a table.
 */

type Numeric = Extract<ColumnSample, { kind: 'numeric' }>;

/** Σ_{lo ≤ t < hi} |nv·#{u ≤ t} − nu·#{v ≤ t}| in BigInts over the distinct points, rounded once and divided as the merge divides. */
function definition(u: Int32Array, v: Int32Array, power: number): number {
  const points = [...new Set([...u, ...v])].sort((a, b) => a - b);
  let total = 0n;
  let i = 0;
  let j = 0;
  for (let p = 0; p + 1 < points.length; p++) {
    const a = points[p]!;
    while (i < u.length && u[i]! <= a) i++;
    while (j < v.length && v[j]! <= a) j++;
    const d = BigInt(i) * BigInt(v.length) - BigInt(j) * BigInt(u.length);
    total += (d < 0n ? -d : d) * BigInt(points[p + 1]! - a);
  }
  return Number(total) / (u.length * v.length) / power;
}

/** A seeded generator (the cases are the same every run). */
function generator(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function sortedInts(n: number, draw: () => number): Int32Array {
  return Int32Array.from({ length: n }, draw).sort();
}

describe('drift: Wasserstein from reference tables and counted columns', () => {
  it('window() and counted() equal the definition and the merge to the bit: ties, one value, disjoint, ends, wide stretches, offsets near 2^31', () => {
    const r = generator(7);
    const cases: { label: string; u: Int32Array; windows: Int32Array[] }[] = [
      {
        label: 'many ties (21 values)',
        u: sortedInts(500, () => Math.floor(r() * 21)),
        windows: [sortedInts(300, () => Math.floor(r() * 21)), sortedInts(700, () => Math.floor(r() * 15) + 6), sortedInts(1, () => 3)],
      },
      {
        label: 'one value each side',
        u: new Int32Array(50).fill(5),
        windows: [new Int32Array(20).fill(5), new Int32Array(30).fill(9), new Int32Array(30).fill(-4)],
      },
      {
        label: 'normal-ish, five decimals, one window shifted and one past both ends',
        u: sortedInts(4000, () => Math.round((r() + r() + r() - 1.5) * 1e5)),
        windows: [
          sortedInts(3000, () => Math.round((r() + r() + r() - 1.5) * 1e5)),
          sortedInts(3000, () => Math.round((r() + r() + r() - 1.2) * 1e5)),
          sortedInts(2000, () => Math.round((r() * 6 - 3) * 1e5)),
        ],
      },
      {
        // nu·nv = 2^32: a stretch of 2^21 is past what doubles hold exactly (BigInts), and the sum is carried many times
        label: 'stretches too wide for doubles',
        u: sortedInts(65536, () => Math.floor(r() * 3000)),
        windows: [Int32Array.from({ length: 65536 }, (_, i) => (i === 65535 ? 2 ** 21 : Math.floor(r() * 3000))).sort()],
      },
      {
        // nu·nv ≈ 2^36 (odd counts: terms that are no multiples of a power of two): stretches of ~4 add ~2^35 each, past 2^53 in all
        label: 'a sum far past 2^53',
        u: sortedInts(2 ** 18 - 1, () => Math.floor(r() * 2 ** 20)),
        windows: [sortedInts(2 ** 18 + 3, () => Math.floor(r() * 2 ** 20) + 2 ** 19)],
      },
      {
        // a stretch wider than 2^16 at nu·nv = 2^36 (BigInts), with the reference's CDF crossing the window's inside it
        label: 'a wide stretch crossed inside',
        u: Int32Array.from({ length: 2 ** 18 }, (_, i) => (i < 2 ** 15 ? i % 100 : 2 ** 16 + (i % 100))).sort(),
        windows: [Int32Array.from({ length: 2 ** 18 }, (_, i) => (i < 2 ** 16 ? i % 100 : 3 * 2 ** 16 + (i % 100))).sort()],
      },
      {
        label: 'offsets near 2^31',
        u: sortedInts(1000, () => 2 ** 31 - 4 - Math.floor(r() * 5000)),
        windows: [sortedInts(800, () => 2 ** 31 - 4 - Math.floor(r() * 6000)), sortedInts(800, () => 2 ** 31 - 4 - Math.floor(r() * 50))],
      },
      {
        label: 'a span of 2^31 or more',
        u: sortedInts(1000, () => 2 ** 31 - 1 - Math.floor(r() * 5000)),
        windows: [sortedInts(800, () => -(2 ** 31) + 1 + Math.floor(r() * 10))],
      },
    ];
    for (const { label, u, windows } of cases) {
      for (const power of [1, 1e5]) {
        let lo = u[0]!;
        let hi = u[u.length - 1]!;
        for (const w of windows) {
          lo = Math.min(lo, w[0]!);
          hi = Math.max(hi, w[w.length - 1]!);
        }
        if (hi - lo >= 2 ** 31) {
          assert.equal(ScaledReferenceTable.build(u, lo, hi), undefined, `${label}: a span of 2^31 or more has no table`);
          continue;
        }
        // a table a little wider than the values: stretches outside both samples add nothing
        const table = ScaledReferenceTable.build(u, lo - 3, hi + 2)!;
        assert.ok(table, label);
        const counts = new Int32Array(hi - lo + 1);
        let whole = 0;
        for (const w of windows) {
          assert.ok(table.covers(w[0]!, w[w.length - 1]!, w.length), label);
          const expected = definition(u, w, power);
          assert.equal(table.window(w, power), expected, `${label}, a window of ${w.length}, power ${power}: the definition`);
          assert.equal(wasserstein1Scaled(u, w, power), expected, `${label}: the merge agrees`);
          for (const x of w) counts[x - lo]!++;
          whole += w.length;
        }
        const all = Int32Array.from(windows.flatMap((w) => [...w])).sort();
        assert.equal(table.counted(counts, lo, whole, power), definition(u, all, power), `${label}, the whole column counted, power ${power}`);
      }
    }
    assert.throws(() => ScaledReferenceTable.build(Int32Array.of(1, 2), 0, 3)!.window(new Int32Array(0), 1), RangeError, 'an empty window');
  });

  it('a column counted from its windows (packed, unsorted, empty, other scales, −0) reports as the merged column, whole and per window', () => {
    // the windows of one column, made twice: the merged and the counted paths each change their parts
    const windowsOf = (): ColumnCollector[] => {
      const r = generator(11);
      const parts = [0, 1, 2, 3, 4].map(() => new ColumnCollector());
      parts[0]!.addNumbers(
        Float64Array.from({ length: 3000 }, () => Math.round((r() - 0.5) * 1e4) / 1e3),
        0,
        3000,
      );
      // integers only: a coarser scale, moved to the column's finer one as the merge moves it
      parts[1]!.addNumbers(
        Float64Array.from({ length: 2000 }, () => Math.round((r() - 0.5) * 8)),
        0,
        2000,
      );
      parts[2]!.addNumbers(Float64Array.of(NaN, NaN, Infinity), 0, 3); // no numbers: an empty window
      parts[3]!.addNumbers(
        Float64Array.from({ length: 2500 }, (_, i) => (i % 97 === 0 ? -0 : Math.round((r() - 0.4) * 1e4) / 1e3)),
        0,
        2500,
      );
      parts[4]!.addNumbers(
        Float64Array.from({ length: 1500 }, () => Math.round((r() - 0.5) * 1e4) / 1e3),
        0,
        1500,
      ); // left unsorted
      for (const part of parts.slice(0, 4)) {
        part.settle();
        part.pack();
      }
      return parts;
    };
    const reference = new ColumnCollector();
    const r = generator(3);
    reference.addNumbers(
      Float64Array.from({ length: 4000 }, () => Math.round((r() - 0.5) * 1.1e3) / 1e2),
      0,
      4000,
    );
    const referenceSample = reference.finish();
    const options: DriftOptions[] = [{}, { method: 'wasserstein' }, { method: 'psi' }];
    for (const option of options) {
      const merged = windowsOf();
      const counted = windowsOf();
      const scratch = new CombineScratch();
      scratch.reserve(2 * 9003);
      const tables = new WassersteinTables();
      const tabled = tabledCollectors(counted, scratch) as Numeric;
      assert.ok(tabled?.table, 'counted, not merged');
      const expectedWhole = columnDrift('x', referenceSample, combineCollectors(merged), 4000, option);
      assert.deepEqual(columnDrift('x', referenceSample, tabled, 4000, option, tables), expectedWhole, `the whole column, ${JSON.stringify(option)}`);
      merged.forEach((part, w) => {
        const expected = columnDrift('x', referenceSample, part.finish(), 4000, option);
        assert.deepEqual(columnDrift('x', referenceSample, counted[w]!.finish(), 4000, option, tables), expected, `window ${w}, ${JSON.stringify(option)}`);
      });
      // read as the other checks read it: the same numbers laid out
      assert.deepEqual([...tabled.sorted], [...(combineCollectors(windowsOf()) as Numeric).sorted], 'its numbers, −0 first among the zeros');
    }
  });

  it("the reference's std from its scaled integers equals the std of its doubles to the bit: ties, −0, one value, several scales", () => {
    const r = generator(13);
    const samples: number[][] = [
      Array.from({ length: 5000 }, () => Math.round((r() - 0.5) * 2e5) / 1e5),
      Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? -0 : Math.round((r() - 0.5) * 40) / 10)),
      Array.from({ length: 200 }, () => 4.25),
      Array.from({ length: 4000 }, () => Math.round(r() * 90) + 18),
      Array.from({ length: 1000 }, () => Math.round((r() + 1000) * 1e3) / 1e3),
    ];
    for (const values of samples) {
      const c = new ColumnCollector();
      c.addNumbers(Float64Array.from(values), 0, values.length);
      const sample = c.finish() as Numeric;
      const scaled = sample.scaled!;
      assert.ok(scaled, 'held as scaled integers');
      const doubles = plainOf(scaled);
      assert.deepEqual(doubles, Float64Array.from(values).sort(), 'the doubles the plain sample holds');
      assert.equal(populationStd(scaled.values, SCALES[scaled.scale]!), populationStd(doubles), `std of ${values.length} values at scale ${scaled.scale}`);
    }
  });

  it('falls back to the merge where a table would be too wide: an outlier in the column or in the reference', () => {
    const r = generator(5);
    const parts = [new ColumnCollector(), new ColumnCollector()];
    parts[0]!.addNumbers(
      Float64Array.from({ length: 1000 }, () => Math.round(r() * 500)),
      0,
      1000,
    );
    parts[1]!.addNumbers(Float64Array.of(...Array.from({ length: 999 }, () => Math.round(r() * 500)), 2 ** 30), 0, 1000);
    assert.equal(tabledCollectors(parts, new CombineScratch()), undefined, 'the column spans more than twice its count');
    const columnOf = (): ColumnCollector[] => {
      const again = generator(9);
      const part = new ColumnCollector();
      part.addNumbers(
        Float64Array.from({ length: 3000 }, () => Math.round(again() * 500)),
        0,
        3000,
      );
      return [part];
    };
    const reference = new ColumnCollector();
    reference.addNumbers(Float64Array.of(...Array.from({ length: 1999 }, () => Math.round(r() * 400)), -(2 ** 29)), 0, 2000);
    const referenceSample = reference.finish();
    const scratch = new CombineScratch();
    scratch.reserve(6000);
    const tabled = tabledCollectors(columnOf(), scratch) as Numeric;
    assert.ok(tabled?.table, 'the column alone is counted');
    const expected = columnDrift('x', referenceSample, combineCollectors(columnOf()), 2000, {});
    assert.deepEqual(columnDrift('x', referenceSample, tabled, 2000, {}, new WassersteinTables()), expected, 'the reference far off: merged');
  });
});
