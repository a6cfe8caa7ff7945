import assert from 'node:assert/strict';
import { join } from 'node:path';
import { metricHistory, metricKeys, type MetricHistoryPoint } from '../../src/core/metrics/history';
import { metricSummary } from '../../src/core/metrics/summary';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository, type MetricPoint } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

/** The obvious implementation the real one must agree with: read everything, bucket by ordinal, keep M4 + first NaN. */
function bruteForce(store: Store, runId: string, key: string, maxPoints: number): MetricHistoryPoint[] {
  // every stored point as the MLflow client's get-history sees it (checked against the real client in tracking.mlflow.test)
  const rows = new RunRepository(store)
    .metricHistory(runId, key)
    .map((p) => ({ step: p.step, timestamp: p.timestamp, value: Number.isNaN(p.value) ? null : p.value, is_nan: Number.isNaN(p.value) ? 1 : 0 }));
  const point = (r: (typeof rows)[number]): MetricHistoryPoint => ({ step: r.step, timestamp: r.timestamp, value: r.is_nan ? null : r.value });
  if (rows.length <= maxPoints) return rows.map(point);
  // equal runs of ceil(n / buckets) points, rounded up to whole 256-point store blocks once they span one
  const buckets = Math.floor(maxPoints / 5);
  let size = Math.ceil(rows.length / buckets);
  if (size >= 256) size = Math.ceil(size / 256) * 256;
  const members: number[][] = Array.from({ length: Math.ceil(rows.length / size) }, () => []);
  rows.forEach((_, i) => members[Math.floor(i / size)]!.push(i));
  const out: MetricHistoryPoint[] = [];
  for (const bucket of members) {
    const numbers = bucket.filter((i) => !rows[i]!.is_nan);
    const values = numbers.map((i) => rows[i]!.value as number);
    const keep = new Set<number>([bucket[0]!, bucket.at(-1)!]);
    if (numbers.length) {
      keep.add(numbers[values.indexOf(Math.min(...values))]!);
      keep.add(numbers[values.indexOf(Math.max(...values))]!);
    }
    const nan = bucket.find((i) => rows[i]!.is_nan);
    if (nan !== undefined) keep.add(nan);
    for (const i of [...keep].sort((a, c) => a - c)) out.push(point(rows[i]!));
  }
  return out;
}

describe('metrics: history and downsampling', () => {
  let cleanup: () => void;
  let store: Store;
  let runs: RunRepository;
  let experimentId: number;

  beforeEach(() => {
    const t = tempDir('mloop-metrics-');
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    runs = new RunRepository(store);
    experimentId = new ExperimentRepository(store).ensure('Default').experimentId;
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const newRun = (): string => runs.create({ experimentId }).runId;
  const series = (n: number, f: (i: number) => number, key = 'loss', t0 = 1_700_000_000_000): MetricPoint[] =>
    Array.from({ length: n }, (_, i) => ({ key, step: i, timestamp: t0 + i, value: f(i) }));

  it('keeps a single spike among 1,000,000 points, and every bucket min and max', function () {
    this.timeout(120_000);
    const runId = newRun();
    const spikeAt = 612_345;
    const dipAt = 77_777;
    runs.logMetrics(
      runId,
      series(1_000_000, (i) => (i === spikeAt ? 1e6 : i === dipAt ? -1e6 : Math.sin(i / 5000))),
    );
    const s = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
    assert.equal(s.total, 1_000_000);
    assert.equal(s.downsampled, true);
    assert.ok(s.points.length <= 2000, `${s.points.length} points`);
    // buckets of ceil(1e6 / 400) = 2,500 points rounded up to 10 whole blocks (2,560): 391 buckets
    assert.ok(s.points.length >= 2 * 391, 'each of the 391 buckets contributes at least its first and last point');
    assert.deepEqual(
      s.points.find((p) => p.value === 1e6),
      { step: spikeAt, timestamp: 1_700_000_000_000 + spikeAt, value: 1e6 },
    );
    assert.ok(s.points.some((p) => p.step === dipAt && p.value === -1e6));
    assert.deepEqual(s.points[0], { step: 0, timestamp: 1_700_000_000_000, value: 0 });
    assert.equal(s.points.at(-1)?.step, 999_999);
    assert.deepEqual(s.points, bruteForce(store, runId, 'loss', 2000), 'every bucket keeps its first, min, max and last');
    for (let i = 1; i < s.points.length; i++) assert.ok(s.points[i]!.step > s.points[i - 1]!.step, 'points stay in step order');
  });

  it('agrees exactly with a brute-force M4 on noisy data with NaNs and repeated steps', () => {
    const runId = newRun();
    let seed = 42;
    const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const points: MetricPoint[] = [];
    for (let i = 0; i < 20_000; i++) {
      const step = Math.floor(i / 3); // three points share each step, told apart by timestamp
      points.push({ key: 'acc', step, timestamp: 1000 + (i % 3), value: random() < 0.01 ? Number.NaN : random() * 100 - 50 });
    }
    runs.logMetrics(runId, points);
    for (const maxPoints of [5, 7, 100, 999, 2000, 19_999]) {
      const s = metricHistory(store, { runId, key: 'acc', maxPoints });
      assert.ok(s.points.length <= maxPoints, `maxPoints ${maxPoints}: got ${s.points.length}`);
      assert.deepEqual(s.points, bruteForce(store, runId, 'acc', maxPoints), `maxPoints ${maxPoints}`);
    }
  });

  it('returns exactly every point when the history fits, and exactly maxPoints-bounded otherwise', () => {
    const runId = newRun();
    runs.logMetrics(
      runId,
      series(2000, (i) => i * 0.5),
    );
    const all = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
    assert.equal(all.downsampled, false);
    assert.equal(all.total, 2000);
    assert.equal(all.points.length, 2000);
    assert.deepEqual(all.points[1999], { step: 1999, timestamp: 1_700_000_000_000 + 1999, value: 999.5 });
    runs.logMetrics(
      runId,
      series(1, () => 5000, 'loss', 1_800_000_000_000).map((p) => ({ ...p, step: 2000 })),
    );
    const over = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
    assert.equal(over.total, 2001);
    assert.equal(over.downsampled, true);
    assert.ok(over.points.length <= 2000);
    assert.equal(over.points.at(-1)?.value, 5000);
    // a monotone series: each bucket's first=min and last=max, so exactly 2 points per bucket
    // (buckets of ceil(2001 / 400) = 6 points: 334 buckets, the last one holding 3)
    assert.equal(over.points.length, 2 * Math.ceil(2001 / 6));
  });

  it('keeps NaN as a null gap, in place', () => {
    const runId = newRun();
    runs.logMetrics(
      runId,
      series(10, (i) => (i === 4 ? Number.NaN : i)),
    );
    const s = metricHistory(store, { runId, key: 'loss' });
    assert.deepEqual(
      s.points.map((p) => p.value),
      [0, 1, 2, 3, null, 5, 6, 7, 8, 9],
    );
    const down = metricHistory(store, { runId, key: 'loss', maxPoints: 5 });
    assert.ok(
      down.points.some((p) => p.value === null && p.step === 4),
      'the gap survives downsampling',
    );
  });

  it('since returns only points after the given (step, timestamp)', () => {
    const runId = newRun();
    runs.logMetrics(
      runId,
      series(100, (i) => i),
    );
    const first = metricHistory(store, { runId, key: 'loss' });
    const last = first.points.at(-1)!;
    assert.deepEqual(metricHistory(store, { runId, key: 'loss', since: last }).points, []);
    runs.logMetrics(runId, series(105, (i) => i * 10).slice(100));
    const fresh = metricHistory(store, { runId, key: 'loss', since: last });
    assert.equal(fresh.total, 5);
    assert.deepEqual(
      fresh.points.map((p) => [p.step, p.value]),
      [
        [100, 1000],
        [101, 1010],
        [102, 1020],
        [103, 1030],
        [104, 1040],
      ],
    );
    const downsampledSince = metricHistory(store, { runId, key: 'loss', since: { step: 49, timestamp: 1_700_000_000_049 }, maxPoints: 10 });
    assert.equal(downsampledSince.total, 55);
    assert.ok(downsampledSince.points.every((p) => p.step >= 50));
    assert.equal(downsampledSince.points[0]?.step, 50);
  });

  it('lists the keys of several runs once, sorted, and nothing for an unknown run', () => {
    const a = newRun();
    const b = newRun();
    runs.logMetrics(a, [...series(3, (i) => i, 'loss'), ...series(2, (i) => i, 'val/acc')]);
    runs.logMetrics(b, [...series(3, (i) => i, 'loss'), ...series(1, (i) => i, 'épsilon ∆')]);
    assert.deepEqual(metricKeys(store, [a, b]), ['loss', 'val/acc', 'épsilon ∆']);
    assert.deepEqual(metricKeys(store, ['0'.repeat(32)]), []);
  });

  it('summarises last / min / max / count exactly, NaN counted but never an extreme', () => {
    const a = newRun();
    const b = newRun();
    runs.logMetrics(a, [
      { key: 'loss', step: 0, timestamp: 10, value: 3 },
      { key: 'loss', step: 2, timestamp: 5, value: 0.125 },
      { key: 'loss', step: 1, timestamp: 20, value: -4.5 },
      { key: 'acc', step: 0, timestamp: 1, value: Number.NaN },
    ]);
    runs.logMetrics(b, [
      { key: 'loss', step: 7, timestamp: 1, value: 9 },
      { key: 'loss', step: 7, timestamp: 2, value: Number.NaN },
    ]);
    assert.deepEqual(metricSummary(store, [b, a, b]), [
      { runId: b, key: 'loss', last: null, lastStep: 7, min: 9, max: 9, count: 2 },
      { runId: a, key: 'acc', last: null, lastStep: 0, min: null, max: null, count: 1 },
      { runId: a, key: 'loss', last: 0.125, lastStep: 2, min: -4.5, max: 3, count: 3 },
    ]);
    assert.deepEqual(metricSummary(store, []), []);
  });
});
