import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { runDriftCheck } from '../../src/core/drift/check';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { computeDriftReport, DRIFT_METHODS, type ColumnDrift, type DriftMethod } from '../../src/core/drift/report';
import { tempDir } from './fixtures';
import { WEATHER } from './datasetFixtures';

const sample = (values: readonly unknown[]): ColumnSample => {
  const c = new ColumnCollector();
  for (const v of values) c.add(v);
  return c.finish();
};

function compare(reference: Record<string, unknown[]>, current: Record<string, unknown[]>, options: Parameters<typeof computeDriftReport>[1] = {}) {
  const rows = (t: Record<string, unknown[]>): number => Math.max(0, ...Object.values(t).map((v) => v.length));
  return computeDriftReport(
    {
      reference: new Map(Object.entries(reference).map(([k, v]) => [k, sample(v)])),
      current: new Map(Object.entries(current).map(([k, v]) => [k, sample(v)])),
      referenceRows: rows(reference),
      currentRows: rows(current),
    },
    options,
  );
}

const column = (r: { columns: readonly ColumnDrift[] }, name: string): ColumnDrift => {
  const c = r.columns.find((x) => x.column === name);
  assert.ok(c, `column ${name} is in the report`);
  return c;
};

/** Deterministic normal-ish values (sum of uniforms) so tests never flake. */
function normals(n: number, seed: number, mean = 0, sd = 1): number[] {
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => mean + sd * (next() + next() + next() + next() + next() + next() - 3) * Math.SQRT2);
}

describe('drift report: method choice, verdicts and bad input', () => {
  it('auto chooses like Evidently: KS / chi-square up to 1,000 reference rows, Wasserstein / Jensen–Shannon above; ≤ 5 distinct numbers are categorical', () => {
    const small = compare(
      { x: normals(500, 1), c: Array.from({ length: 500 }, (_, i) => 'abc'[i % 3]), k: Array.from({ length: 500 }, (_, i) => i % 4) },
      { x: normals(400, 2), c: Array.from({ length: 400 }, (_, i) => 'abc'[i % 3]), k: Array.from({ length: 400 }, (_, i) => i % 4) },
    );
    assert.equal(column(small, 'x').method, 'ks');
    assert.equal(column(small, 'c').method, 'chisquare');
    assert.equal(column(small, 'k').method, 'chisquare');
    assert.equal(column(small, 'k').type, 'numerical');
    const large = compare(
      { x: normals(1001, 1), c: Array.from({ length: 1001 }, (_, i) => 'abc'[i % 3]) },
      { x: normals(400, 2), c: Array.from({ length: 400 }, (_, i) => 'abc'[i % 3]) },
    );
    assert.equal(column(large, 'x').method, 'wasserstein');
    assert.equal(column(large, 'c').method, 'jensenshannon');
    assert.equal(column(large, 'x').threshold, 0.1);
  });

  it('dataset drift at a share of drifted columns ≥ 0.5 (configurable), thresholds configurable per method', () => {
    const ref = { a: normals(300, 1), b: normals(300, 2), c: normals(300, 3), d: normals(300, 4) };
    const cur = { a: normals(300, 5, 2), b: normals(300, 6, 2), c: normals(300, 7), d: normals(300, 8) };
    const r = compare(ref, cur);
    assert.deepEqual([column(r, 'a').drifted, column(r, 'b').drifted, column(r, 'c').drifted, column(r, 'd').drifted], [true, true, false, false]);
    assert.equal(r.drift_share, 0.5);
    assert.equal(r.dataset_drift, true);
    assert.equal(compare(ref, cur, { driftShare: 0.6 }).dataset_drift, false);
    const strict = compare(ref, cur, { thresholds: { ks: 1e-300 } });
    assert.equal(strict.drifted_columns, 0, 'a tiny p-value threshold flags nothing');
    assert.equal(column(compare(ref, cur, { method: 'psi', threshold: 0.05 }), 'a').threshold, 0.05);
    assert.equal(r.columns[0]!.score >= r.columns[1]!.score, true, 'sorted by score');
  });

  it('property: identical inputs give zero drift for every method', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(...DRIFT_METHODS),
        (values, method) => {
          const r = compare({ x: values }, { x: [...values].reverse() }, { method });
          const c = column(r, 'x');
          assert.equal(c.status, 'ok');
          assert.equal(c.drifted, false, `${method} on identical data`);
          if (c.p_value === null) assert.ok(Math.abs(c.statistic!) < 1e-12, `${method} statistic ${c.statistic}`);
          else assert.equal(c.p_value, 1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: a larger shift never gives a smaller score (KS D, Wasserstein, JS, PSI)', () => {
    const base = normals(2000, 11);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.constantFrom<DriftMethod>('ks', 'wasserstein', 'jensenshannon', 'psi'),
        (s1, s2, method) => {
          const [lo, hi] = s1 <= s2 ? [s1, s2] : [s2, s1];
          const at = (shift: number): number =>
            column(
              compare(
                { x: base },
                { x: base.map((v) => v + shift) },
                { method, jsBinning: { kind: 'edges', edges: [-20, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 20] } },
              ),
              'x',
            ).statistic!;
          assert.ok(at(hi) >= at(lo) - 1e-12, `${method}: shift ${hi} gives ${at(hi)} < ${at(lo)} at ${lo}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('bad input: each column reports skipped with a reason, never a crash', () => {
    const r = compare(
      {
        gone: [1, 2, 3],
        nulls: [null, null, null],
        mixed: [1, 2, 3],
        inf: [1, 2, 3, Infinity],
        cats: [...'abababaaab'.repeat(5)],
        text: ['x', 'y', 'z'],
        c: [5, 5, 5],
      },
      { nulls: [1, 2, 3], mixed: [1, 'two', 3], extra: [1, 2, 3], inf: [2, -Infinity, 3, 4], cats: [...'ccdcdccdcc'.repeat(5)], text: [1, 2, 3], c: [5, 5, 5] },
    );
    assert.match(column(r, 'gone').reason!, /not in the current data/);
    assert.match(column(r, 'extra').reason!, /not in the reference/);
    assert.match(column(r, 'nulls').reason!, /reference has no values/);
    assert.match(column(r, 'mixed').reason!, /mixed types: 2 numbers and 1 text values \(e.g. "two"\)/);
    assert.match(column(r, 'text').reason!, /type differs: text in the reference, numbers in the current data/);
    assert.equal(column(r, 'inf').status, 'ok', 'infinities are left out, the rest compared');
    assert.equal(column(r, 'inf').current_count, 3);
    assert.deepEqual(column(r, 'cats').unseen_categories, ['c', 'd']);
    assert.equal(column(r, 'cats').drifted, true);
    assert.equal(column(r, 'c').status, 'ok');
    assert.equal(column(r, 'c').drifted, false, 'a constant column equal on both sides does not drift');
    const shifted = compare({ c: [5, 5, 5, 5, 5, 5] }, { c: [6, 6, 6] }, { method: 'wasserstein' });
    assert.ok(Number.isFinite(column(shifted, 'c').statistic!), 'a constant reference: std floor keeps Wasserstein finite');
    assert.equal(column(compare({ t: ['a', 'b'] }, { t: ['a'] }, { method: 'ks' }), 't').status, 'skipped');
  });

  it('files: an empty current file, a reference with a different schema, a missing time column', async () => {
    const { dir, cleanup } = tempDir('mloop-drift-');
    try {
      writeFileSync(join(dir, 'empty.csv'), 'date,temp_max\n');
      writeFileSync(join(dir, 'other.csv'), 'a,b\n1,x\n2,y\n');
      await assert.rejects(runDriftCheck({ reference: WEATHER, current: 'empty.csv', baseDir: dir }), /empty\.csv has a header \(2 columns\) but no data rows/);
      const other = await runDriftCheck({ reference: WEATHER, current: 'other.csv', baseDir: dir });
      assert.equal(other.report.compared_columns, 0);
      assert.equal(other.report.dataset_drift, false);
      assert.ok(other.report.columns.every((c) => c.status === 'skipped' && c.reason));
      await assert.rejects(runDriftCheck({ reference: WEATHER, current: WEATHER, baseDir: dir, timeColumn: 'when', window: 'daily' }), /no time column "when"/);
      await assert.rejects(runDriftCheck({ reference: 'missing.csv', current: WEATHER, baseDir: dir }), /reference missing\.csv: no such file/);
    } finally {
      cleanup();
    }
  });

  it('windows: weekly drift per window and accuracy/F1 per window once labels arrive', async () => {
    const { dir, cleanup } = tempDir('mloop-drift-');
    try {
      const lines = ['date,temp_max,actual,predicted'];
      for (let d = 1; d <= 28; d++) {
        const day = `2015-02-${String(d).padStart(2, '0')}`;
        for (let k = 0; k < 10; k++) lines.push(`${day},${d > 14 ? 30 + k : 10 + k},${k % 2 ? 'sun' : 'rain'},${d > 14 || k % 2 ? 'sun' : 'rain'}`);
      }
      writeFileSync(join(dir, 'log.csv'), `${lines.join('\n')}\n`);
      const ref = ['date,temp_max', ...Array.from({ length: 200 }, (_, i) => `2014-01-01,${10 + (i % 10)}`)];
      writeFileSync(join(dir, 'ref.csv'), `${ref.join('\n')}\n`);
      const r = await runDriftCheck({
        reference: 'ref.csv',
        current: 'log.csv',
        baseDir: dir,
        timeColumn: 'date',
        window: 'weekly',
        labelColumn: 'actual',
        predictionColumn: 'predicted',
        columns: ['temp_max'],
      });
      assert.deepEqual(
        r.windows.map((w) => w.start),
        ['2015-01-26', '2015-02-02', '2015-02-09', '2015-02-16', '2015-02-23'],
      );
      assert.deepEqual(
        r.windows.map((w) => w.rows),
        [10, 70, 70, 70, 60],
      );
      assert.deepEqual(
        r.windows.map((w) => w.dataset_drift),
        [false, false, false, true, true],
      ); // one shifted day of seven is not enough
      assert.equal(r.windows[0]!.performance!.accuracy, 1);
      assert.equal(r.windows[4]!.performance!.accuracy, 0.5);
      assert.equal(r.windows[4]!.performance!.f1_macro, (0 + 2 / 3) / 2);
    } finally {
      cleanup();
    }
  });

  it('against a stored histogram, a counted sample is compared without expanding it; NaN/infinite ends still stop the check', () => {
    // the counted form of current numbers as Parquet dictionaries give it; reading `sorted` throws (issue 16: expanding
    // it cost a stored-profile check ~10 ms and 8 bytes a row)
    const counted = (values: number[], counts: number[]): ColumnSample => ({
      kind: 'numeric',
      get sorted(): Float64Array {
        throw new Error('the counted sample was expanded');
      },
      missing: 0,
      infinite: 0,
      counted: { values: Float64Array.from(values), counts: Float64Array.from(counts), total: counts.reduce((a, b) => a + b, 0) },
    });
    const expanded = (values: number[], counts: number[]): ColumnSample => ({
      kind: 'numeric',
      sorted: Float64Array.from(values.flatMap((v, i) => Array<number>(counts[i]!).fill(v))),
      missing: 0,
      infinite: 0,
    });
    const histogram: ColumnSample = { kind: 'histogram', edges: [0, 10, 20, 30, 40], counts: [400, 300, 200, 100], missing: 0 };
    const values = [1, 5, 12, 18, 25, 33, 39];
    const counts = [50, 150, 220, 180, 160, 140, 100];
    for (const method of ['psi', 'jensenshannon'] as const) {
      const report = (current: ColumnSample): ReturnType<typeof computeDriftReport> =>
        computeDriftReport({ reference: new Map([['x', histogram]]), current: new Map([['x', current]]), referenceRows: 1000, currentRows: 1000 }, { method });
      const fromCounts = column(report(counted(values, counts)), 'x');
      assert.equal(fromCounts.status, 'ok', `${method}: ${fromCounts.reason}`);
      assert.deepEqual(fromCounts, column(report(expanded(values, counts)), 'x'), `${method}: the counted sample gives what its expanded form gives`);
    }
    for (const ends of [
      [-Infinity, 1, 5],
      [1, 5, Number.NaN],
    ])
      assert.throws(
        () =>
          computeDriftReport({ reference: new Map([['x', histogram]]), current: new Map([['x', counted(ends, [1, 1, 1])]]), referenceRows: 3, currentRows: 3 }),
        (e: Error) => e.name === 'DriftInputError' && /column "x": the current data's values hold NaN or an infinity/.test(e.message),
      );
  });
});
