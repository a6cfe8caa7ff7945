import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestDataset } from '../../src/core/datasets/digest';
import {
  AlignedHistogram,
  byCountThenValue,
  ProfileBuilder,
  profileDataset,
  QUANTILE_PROBS,
  samplePositions,
  type DatasetProfile,
} from '../../src/core/datasets/profile';
import { SeededRandom } from '../../src/core/sampling/seededRandom';
import { DatasetReadError } from '../../src/core/datasets/readers';
import { tempDir } from './fixtures';
import { FLIGHTS, penguinsJsonl, PYTHON_REFERENCE as REFERENCE, WEATHER } from './datasetFixtures';
import { pythonJsonSync } from '../support/python';

interface Reference {
  rows: number;
  columns: Record<
    string,
    {
      nulls: number;
      count: number;
      min?: number;
      max?: number;
      mean?: number;
      std?: number;
      quantiles?: Record<string, number>;
      histogram?: number[];
      ranks?: [number, number][];
      distinct?: number;
      top?: Record<string, number>;
    }
  >;
}

/** pandas/numpy's profile of the same file (python child process). */
function reference(file: string, format: 'csv' | 'jsonl' | 'parquet', profile: DatasetProfile, dir: string): Reference {
  const ours = join(dir, 'profile.json');
  writeFileSync(ours, JSON.stringify(profile));
  return pythonJsonSync<Reference>({ args: [REFERENCE, file, format, ours] });
}

const close = (actual: number | null | undefined, expected: number, what: string, rel = 1e-9): void => {
  assert.ok(actual !== null && actual !== undefined, `${what}: missing`);
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);
};

/** Checks every column of our profile against pandas; quantiles exact when the profile says so. */
function compare(profile: DatasetProfile, ref: Reference): void {
  assert.equal(profile.rows, ref.rows, 'rows');
  for (const column of profile.columns) {
    const expected = ref.columns[column.name];
    assert.ok(expected, `pandas has column ${column.name}`);
    assert.equal(column.nulls, expected.nulls, `${column.name} nulls`);
    assert.equal(column.count, expected.count, `${column.name} count`);
    if (column.numeric) {
      const n = column.numeric;
      close(n.min, expected.min!, `${column.name} min`);
      close(n.max, expected.max!, `${column.name} max`);
      close(n.mean, expected.mean!, `${column.name} mean`);
      close(n.std, expected.std!, `${column.name} std`);
      assert.deepEqual(n.histogram.counts, expected.histogram, `${column.name} histogram = numpy.histogram on the same edges`);
      assert.equal(
        n.histogram.counts.reduce((a, b) => a + b, 0),
        column.count,
      );
      if (n.quantiles.method === 'exact') {
        for (const [p, q] of Object.entries(expected.quantiles!)) close(n.quantiles.values[QUANTILE_PROBS.indexOf(Number(p))], q, `${column.name} q${p}`);
      } else {
        // A reservoir quantile is right when its rank in the full data is within the DKW bound of p.
        n.quantiles.values.forEach((_, i) => {
          const [below, atOrBelow] = expected.ranks![i]!;
          const p = QUANTILE_PROBS[i]!;
          assert.ok(below - 0.0127 <= p && p <= atOrBelow + 0.0127, `${column.name} q${p}: rank in [${below}, ${atOrBelow}]`);
        });
      }
    } else if (column.categorical) {
      assert.equal(column.categorical.distinct, expected.distinct, `${column.name} distinct`);
      assert.deepEqual(Object.fromEntries(column.categorical.top.map((t) => [t.value, t.count])), expected.top, `${column.name} top-k`);
    }
  }
}

describe('datasets: profiles checked against pandas, digests, DVC', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-ds-')));
  afterEach(() => cleanup());

  it('seattle-weather.csv: rows, nulls, min/max/mean/std, exact quantiles, histograms and top-k equal pandas', async () => {
    const profile = await profileDataset(WEATHER);
    assert.deepEqual(
      profile.columns.map((c) => [c.name, c.type]),
      [
        ['date', 'datetime'],
        ['precipitation', 'number'],
        ['temp_max', 'number'],
        ['temp_min', 'number'],
        ['wind', 'number'],
        ['weather', 'string'],
      ],
    );
    assert.deepEqual(profile.columns[0]!.datetime, { min: '2012-01-01', max: '2015-12-31' });
    compare(profile, reference(WEATHER, 'csv', profile, dir));
  });

  it('penguins (JSONL, with nulls): the same statistics equal pandas', async () => {
    const file = penguinsJsonl(dir);
    const profile = await profileDataset(file);
    assert.equal(profile.columns.find((c) => c.name === 'Sex')!.nulls, 10);
    compare(profile, reference(file, 'jsonl', profile, dir));
  });

  it('flights-3m.parquet: exact moments and histograms, reservoir quantiles within their stated rank error', async () => {
    const profile = await profileDataset(FLIGHTS);
    assert.equal(profile.columns.find((c) => c.name === 'delay')!.numeric!.quantiles.method, 'reservoir');
    compare(profile, reference(FLIGHTS, 'parquet', profile, dir));
  });

  it('moments: integers from exact sums (the same bits in any order, value by value or by dictionary counts); the switch to Welford at the same value on both paths', () => {
    // 300,000 values in three dictionary pages, as the Parquet scanner hands them, and the same values as cells
    // ints (and ±2^26, whose squares overflow the exact double sums into the BigInt totals), NaN as a null; the mixed
    // dictionary also holds 2^27 (past the exact integers: the switch to Welford) and 0.5
    const ints = [...Array.from({ length: 2001 }, (_, i) => i - 1000), Number.NaN, 2 ** 26, -(2 ** 26)];
    const random = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const next = random(7);
    const page = (n: number, pick: (i: number) => number): Int32Array => Int32Array.from({ length: n }, (_, i) => pick(i));
    const small = (i: number): number => (i % 1009 === 0 ? 2002 + (i % 2) : Math.floor(next() * 2001));
    const pages = (mixed: boolean): Int32Array[] => [
      page(150_000, small),
      page(100_000, (i) => (mixed && i === 40_000 ? 2004 : i % 997 === 0 ? 2001 : small(i))),
      page(50_000, (i) => (mixed && i % 3 === 0 ? 2005 : small(i))),
    ];
    for (const mixed of [false, true]) {
      const dictionary = Float64Array.from(mixed ? [...ints, 2 ** 27, 0.5] : ints);
      const indices = pages(mixed);
      const scanned = new ProfileBuilder({ x: 'number' });
      scanned.declare(['x']);
      for (const p of indices) scanned.addPiece('x', { kind: 'number-dict', dictionary, indices: p, count: p.length, nulls: 0 });
      scanned.addRows(300_000, new Set(['x']));
      const cells = indices.flatMap((p) => Array.from(p, (k) => (Number.isNaN(dictionary[k]!) ? null : dictionary[k]!)));
      const generic = new ProfileBuilder({ x: 'number' });
      generic.add({ rowOffset: 0, rows: cells.length, columns: { x: cells } });
      assert.deepStrictEqual(scanned.result(), generic.result(), `${mixed ? 'ints, then 2^27 and floats' : 'ints'}: the scanner's profile is the generic one`);
      const a = generic.result().columns[0]!.numeric!;
      const values = cells.filter((v) => v !== null);
      const py = pythonJsonSync<{ mean: number; std: number }>({
        args: ['-c', 'import json,statistics,sys; v=json.load(sys.stdin); print(json.dumps({"mean": statistics.fmean(v), "std": statistics.stdev(v)}))'],
        input: JSON.stringify(values),
      });
      if (mixed) {
        // exact sums up to 2^27, Welford from there: as close to the exact fractions as Welford gets
        close(a.mean, py.mean, 'mixed: mean = statistics.fmean', 1e-12);
        close(a.std, py.std, 'mixed: std = statistics.stdev', 1e-12);
        continue;
      }
      // exact sums: the same moments for the values in another order, equal to Python's statistics (exact fractions)
      const shuffled = [...cells].sort(() => next() - 0.5);
      const other = new ProfileBuilder({ x: 'number' });
      other.add({ rowOffset: 0, rows: shuffled.length, columns: { x: shuffled } });
      const b = other.result().columns[0]!.numeric!;
      assert.equal(b.mean, a.mean, 'mean: the same bits in another order');
      assert.equal(b.std, a.std, 'std: the same bits in another order');
      assert.equal(a.mean, py.mean, 'mean = fsum / n, correctly rounded');
      close(a.std, py.std, 'std = statistics.stdev (exact fractions)', 1e-15);
    }
  });

  for (const announce of [false, true])
    it(`dictionary pages${announce ? ", the count announced (the sample's positions drawn up front)" : ' past the exact values'}: counts and the sample's picks by position give the value-by-value profile`, () => {
      // integers only (0, ±2^26: terms past the exact double sums), pages that keep the exact values (10,000), fill the
      // reservoir part-way (95,000: its first values one by one, then replacements) and only replace (150,000; 60,000)
      const dictionary = Float64Array.from([...Array.from({ length: 1500 }, (_, i) => i - 700), 2 ** 26, -(2 ** 26), 0]);
      const random = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const next = random(11);
      const pages = [10_000, 95_000, 150_000, 60_000].map((n) =>
        Int32Array.from({ length: n }, (_, i) => (i % 5000 < 40 ? 1500 + (i % 3) : Math.floor(next() * next() * 1500))),
      );
      const cells = pages.flatMap((p) => Array.from(p, (k) => dictionary[k]!));
      const builder = (): ProfileBuilder => {
        const b = new ProfileBuilder({ x: 'number' });
        if (announce) b.expectValues('x', cells.length);
        return b;
      };
      const generic = builder();
      generic.add({ rowOffset: 0, rows: cells.length, columns: { x: cells } });
      const expected = generic.result();
      assert.equal(expected.columns[0]!.numeric!.quantiles.method, 'reservoir');
      // as the scanner's decoded indices (addPiece) and as its counted pages (numberPositions, then addCounts)
      const pieces = builder();
      const counted = builder();
      let countedPages = 0;
      for (const page of pages) {
        pieces.addPiece('x', { kind: 'number-dict', dictionary, indices: page, count: page.length, nulls: 0 });
        const wanted = counted.numberPositions('x', dictionary, page.length);
        if (!wanted) {
          counted.addPiece('x', { kind: 'number-dict', dictionary, indices: page, count: page.length, nulls: 0 });
          continue;
        }
        countedPages++;
        const counts = new Int32Array(dictionary.length);
        const order = new Int32Array(dictionary.length);
        let distinct = 0;
        for (const k of page) if (counts[k]!++ === 0) order[distinct++] = k;
        const picked = Int32Array.from({ length: wanted.count }, (_, j) => page[wanted.positions[j]!]!);
        counted.addCounts('x', { kind: 'number-dict', dictionary, order, counts, distinct, nulls: 0, picked });
      }
      assert.equal(countedPages, announce ? 4 : 3, announce ? 'every page came as counts' : 'every page after the first came as counts');
      for (const b of [pieces, counted]) b.addRows(cells.length, new Set(['x']));
      assert.deepStrictEqual(pieces.result(), expected, 'decoded indices');
      assert.deepStrictEqual(counted.result(), expected, 'counts and picks');
    });

  it("the sample's positions drawn up front: k distinct positions, every one equally likely; quantiles within the DKW bound; a wrong count refused", () => {
    const random = new SeededRandom(5);
    const inclusions = new Float64Array(1000);
    for (let r = 0; r < 4000; r++) {
      const positions = samplePositions(random, 1000, 100);
      assert.equal(positions.length, 100);
      for (let j = 0; j < positions.length; j++) {
        assert.ok(Number.isInteger(positions[j]) && positions[j]! >= 0 && positions[j]! < 1000 && (j === 0 || positions[j]! > positions[j - 1]!));
        inclusions[positions[j]!]!++;
      }
    }
    // each position is in a sample with probability 1/10: 400 of 4000 expected, sd 19; chi-square over the 1000 positions
    const chi = inclusions.reduce((sum, c) => sum + (c - 400) ** 2 / (400 * 0.9), 0);
    assert.ok(chi < 1000 + 4 * Math.sqrt(2000), `chi-square ${chi.toFixed(0)} on 999 degrees of freedom`);
    for (const [from, to] of [
      [0, 100],
      [450, 550],
      [900, 1000],
    ] as const) {
      const share = inclusions.slice(from, to).reduce((a, b) => a + b, 0) / 400_000;
      assert.ok(Math.abs(share - 0.1) < 0.005, `positions ${from}–${to}: ${share}`);
    }
    // far past 2^32 the positions still spread over the whole range
    const far = samplePositions(new SeededRandom(9), 2 ** 40, 1000);
    assert.ok(far[0]! < 2 ** 33 && far.at(-1)! > 2 ** 40 - 2 ** 33 && far.every((p) => Number.isInteger(p)));

    // 300,000 skewed values announced: the sample's quantiles sit within the DKW bound of their ranks in the full data
    const next = (
      (seed: number) => () =>
        (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    )(3);
    const values = Array.from({ length: 300_000 }, () => Math.floor(next() * next() * 5000));
    const b = new ProfileBuilder({ x: 'number' });
    b.expectValues('x', values.length);
    b.add({ rowOffset: 0, rows: values.length, columns: { x: values } });
    const q = b.result().columns[0]!.numeric!.quantiles;
    assert.equal(q.sampleSize, 16_384);
    const sorted = Float64Array.from(values).sort();
    const rank = (v: number, strict: boolean): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (strict ? sorted[mid]! < v : sorted[mid]! <= v) lo = mid + 1;
        else hi = mid;
      }
      return lo / sorted.length;
    };
    q.values.forEach((v, i) => {
      const p = QUANTILE_PROBS[i]!;
      assert.ok(rank(v, true) - 0.0127 <= p && p <= rank(v, false) + 0.0127, `q${p} = ${v}: rank [${rank(v, true)}, ${rank(v, false)}]`);
    });
    const short = new ProfileBuilder({ x: 'number' });
    short.expectValues('x', values.length + 1);
    short.add({ rowOffset: 0, rows: values.length, columns: { x: values } });
    assert.throws(() => short.result(), /300000 numbers where 300001 were announced/);
  });

  it('histogram: aligned power-of-two bins stay within the bin cap whatever the order of values', () => {
    const h = new AlignedHistogram(8);
    const values = [0.5, 1000, -3, ...Array.from({ length: 3000 }, (_, i) => (i * 7919) % 997)];
    for (const v of values) h.add(v);
    const { edges, counts } = h.result();
    assert.ok(counts.length <= 8 && counts.length >= 2, `${counts.length} bins`);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      values.length,
    );
    assert.ok(edges[0]! <= -3 && edges.at(-1)! > 1000);
    for (const v of values) {
      const i = edges.findIndex((e, k) => v >= e && v < edges[k + 1]!);
      assert.ok(i >= 0, `${v} falls in a bin`);
    }
  });

  it('histogram: each bin counts the values within its edges (the first 1,024 values spread or at the two ends, then more)', () => {
    for (const first of [
      Array.from({ length: 1024 }, (_, i) => (i * 37) % 500), // within 32 bins of the starting width
      Array.from({ length: 1024 }, (_, i) => (i % 2 === 0 ? -1e6 : 1e6) + i), // the first and the 32nd bin
    ]) {
      const h = new AlignedHistogram();
      const values = [...first, ...Array.from({ length: 500 }, (_, i) => i * 3 - 700)];
      for (const v of values) h.add(v);
      const { edges, counts } = h.result();
      assert.ok(counts.length <= 32, `${counts.length} bins`);
      const expected = counts.map((_, k) => values.filter((v) => v >= edges[k]! && v < edges[k + 1]!).length);
      assert.deepEqual(counts, expected);
    }
  });

  it('categories: by count (most first), then value in UTF-16 order, as a comparator sort gives them', () => {
    const random = new SeededRandom(7);
    const comparator = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const pool = ['SEA', 'sea', 'Zürich', '東京', '', ' ', '10', '9', 'a\u{1F600}', 'a\uFFFF', 'B', 'b', 'NA'];
    for (let round = 0; round < 30; round++) {
      const m = new Map<string, number>();
      const n = 1 + Math.floor(random.next() * 300);
      for (let i = 0; i < n; i++) {
        const key = random.next() < 0.3 ? pool[Math.floor(random.next() * pool.length)]! : `v${Math.floor(random.next() * 1000)}`;
        m.set(key, 1 + Math.floor(random.next() * 5)); // few distinct counts: many ties broken by value
      }
      assert.deepEqual(byCountThenValue(m), comparator(m));
    }
    assert.deepEqual(byCountThenValue(new Map()), []);
    // counts too large for exact keys: the comparator's order still
    const big = new Map([
      ['b', 2 ** 52],
      ['a', 2 ** 52],
      ['c', 3],
    ]);
    assert.deepEqual(byCountThenValue(big), [
      ['a', 2 ** 52],
      ['b', 2 ** 52],
      ['c', 3],
    ]);
  });

  it('digest: one file equals sha256sum; a cancelled digest stops', async () => {
    const d = await digestDataset(WEATHER);
    const r = spawnSync('sha256sum', [WEATHER], { encoding: 'utf8' });
    assert.equal(d.digest, r.stdout.split(' ')[0]);
    assert.equal(d.algorithm, 'sha256');
    assert.equal(d.sizeBytes, 48219);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(digestDataset(FLIGHTS, { signal: controller.signal }), (e: unknown) => e instanceof DatasetReadError && e.code === 'ABORTED');
  });

  it('digest: a directory hashes its sorted files; equal content → equal digest, a rename or an edit → a new one', async () => {
    const make = (name: string, files: [string, string][]): string => {
      const d = join(dir, name);
      mkdirSync(d);
      for (const [f, text] of files) writeFileSync(join(d, f), text);
      return d;
    };
    const a = await digestDataset(
      make('a', [
        ['1.csv', 'x\n1\n'],
        ['2.csv', 'x\n2\n'],
      ]),
    );
    const b = await digestDataset(
      make('b', [
        ['2.csv', 'x\n2\n'],
        ['1.csv', 'x\n1\n'],
      ]),
    );
    assert.equal(a.digest, b.digest, 'creation order does not matter');
    assert.equal(a.files.length, 2);
    renameSync(join(dir, 'b', '2.csv'), join(dir, 'b', '3.csv'));
    assert.notEqual((await digestDataset(join(dir, 'b'))).digest, a.digest, 'a renamed file changes the digest');
    writeFileSync(join(dir, 'a', '1.csv'), 'x\n9\n');
    assert.notEqual((await digestDataset(join(dir, 'a'))).digest, a.digest, 'an edit changes the digest');
  });

  it('DVC: the md5 from a .dvc file or dvc.lock is reused when its size agrees; a stale one is ignored', async () => {
    mkdirSync(join(dir, 'data'));
    const file = join(dir, 'data', 'w.csv');
    writeFileSync(file, 'x\n1\n');
    writeFileSync(`${file}.dvc`, 'outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 4\n  hash: md5\n  path: w.csv\n');
    const fromDvc = await digestDataset(file, { dvcRoot: dir });
    assert.deepEqual([fromDvc.digest, fromDvc.algorithm, fromDvc.dvcSource], ['0123456789abcdef0123456789abcdef', 'md5-dvc', `${file}.dvc`]);
    writeFileSync(file, 'x\n1\n2\n'); // changed after `dvc add`: size no longer agrees
    const stale = await digestDataset(file, { dvcRoot: dir });
    assert.equal(stale.algorithm, 'sha256');

    const other = join(dir, 'data', 'p.csv');
    writeFileSync(other, 'y\n5\n');
    writeFileSync(
      join(dir, 'dvc.lock'),
      'schema: "2.0"\nstages:\n  prep:\n    cmd: python prep.py\n    outs:\n    - path: data/p.csv\n      md5: fedcba9876543210fedcba9876543210\n      size: 4\n',
    );
    const fromLock = await digestDataset(other, { dvcRoot: dir });
    assert.deepEqual([fromLock.digest, fromLock.dvcSource], ['fedcba9876543210fedcba9876543210', join(dir, 'dvc.lock')]);
    assert.equal((await digestDataset(other)).algorithm, 'sha256', 'without dvcRoot the data is hashed');
  });
});
