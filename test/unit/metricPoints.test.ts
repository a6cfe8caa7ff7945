import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { metricHistory, type MetricHistoryPoint } from '../../src/core/metrics/history';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { blockRollups, containsPoint, findSeries, POINTS_PER_BLOCK } from '../../src/core/store/metricPoints';
import { appendSchema6Points } from '../../src/core/store/migrations/006_metric_blocks';
import { latestSchemaVersion } from '../../src/core/store/migrations/list';
import { RunRepository, type MetricPoint } from '../../src/core/store/runs';
import { createStoreAtSchemaVersion, openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

type Raw = { step: number; timestamp: number; value: number };

/** A deterministic pseudo-random source (the same data every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

/** Equal-count buckets (the last may be shorter), each keeps first, min, max, first NaN and last — written independently of src/. */
function referenceDownsample(points: readonly Raw[], maxPoints: number): MetricHistoryPoint[] {
  const asPoint = (p: Raw): MetricHistoryPoint => ({ step: p.step, timestamp: p.timestamp, value: Number.isNaN(p.value) ? null : p.value });
  if (points.length <= maxPoints) return points.map(asPoint);
  const buckets = Math.floor(maxPoints / 5);
  // runs of ceil(n / buckets) points; once a run spans a 256-point store block, whole blocks
  let size = Math.ceil(points.length / buckets);
  if (size >= 256) size = 256 * Math.ceil(size / 256);
  const out: MetricHistoryPoint[] = [];
  for (let start = 0; start < points.length; start += size) {
    const end = Math.min(points.length, start + size);
    const idx = Array.from({ length: end - start }, (_, i) => start + i);
    const numbers = idx.filter((i) => !Number.isNaN(points[i]!.value));
    const keep = new Set([start, end - 1]);
    if (numbers.length) {
      keep.add(numbers.reduce((m, i) => (points[i]!.value < points[m]!.value ? i : m)));
      keep.add(numbers.reduce((m, i) => (points[i]!.value > points[m]!.value ? i : m)));
    }
    const nan = idx.find((i) => Number.isNaN(points[i]!.value));
    if (nan !== undefined) keep.add(nan);
    for (const i of [...keep].sort((x, y) => x - y)) out.push(asPoint(points[i]!));
  }
  return out;
}

/** Sorted as MLflow's get-history orders a history: step, then timestamp, then logging order. */
const historyOrder = (points: readonly Raw[]): Raw[] =>
  points
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.step - b.p.step || a.p.timestamp - b.p.timestamp || a.i - b.i)
    .map((x) => x.p);

const sameValue = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

describe('metric storage: blocks, rollups and migration 006', () => {
  let cleanup: () => void;
  let dir: string;
  let store: Store;
  let runs: RunRepository;
  let experimentId: number;

  beforeEach(() => {
    const t = tempDir('mloop-points-');
    dir = t.dir;
    cleanup = t.cleanup;
    store = openStore({ path: join(dir, 'mloop.db') });
    runs = new RunRepository(store);
    experimentId = new ExperimentRepository(store).ensure('Default').experimentId;
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  /** Logs `points` in batches of the given sizes (cycled), as a training loop or log-batch would. */
  function logInBatches(runId: string, key: string, points: readonly Raw[], sizes: readonly number[]): void {
    for (let at = 0, b = 0; at < points.length; b++) {
      const n = sizes[b % sizes.length]!;
      runs.logMetrics(
        runId,
        points.slice(at, at + n).map((p): MetricPoint => ({ key, ...p })),
      );
      at += n;
    }
  }

  function noisy(n: number, seed: number): Raw[] {
    const random = lcg(seed);
    return Array.from({ length: n }, (_, i) => {
      const r = random();
      const value =
        r < 0.005 ? Number.NaN : r < 0.006 ? 1e9 * (random() < 0.5 ? -1 : 1) : r < 0.0065 ? Number.POSITIVE_INFINITY : Math.sin(i / 300) + random() * 0.01;
      return { step: Math.floor(i / 2), timestamp: 1_700_000_000_000 + i, value };
    });
  }

  it('every block rollup (sealed or open) equals first/min/max/first-NaN/last computed from that block’s raw points', () => {
    const runId = runs.create({ experimentId }).runId;
    const points = noisy(5_000, 7);
    logInBatches(runId, 'loss', points, [1, 7, 300, 1000, 255, 256, 2]);
    const series = findSeries(store.db, runId, 'loss')!;
    assert.equal(series.count, points.length);
    assert.equal(series.ordered, true);
    type Block = { block_no: number; count: number; min_step: number; max_step: number; rollup: Buffer; points: Buffer };
    const blocks = store.db
      .prepare('SELECT block_no, count, min_step, max_step, rollup, points FROM metric_block WHERE series_id = ? ORDER BY block_no')
      .all(series.seriesId) as Block[];
    // sealed blocks are whole; the rest (5,000 = 19 × 256 + 136) is the tail, read as the open block with its rollup computed
    assert.equal(blocks.length, Math.floor(points.length / POINTS_PER_BLOCK));
    const tail = store.db.prepare('SELECT seq, count, points FROM metric_tail WHERE series_id = ? ORDER BY seq').all(series.seriesId) as {
      seq: number;
      count: number;
      points: Buffer;
    }[];
    assert.equal(
      tail.reduce((n, t) => n + t.count, 0),
      points.length % POINTS_PER_BLOCK,
    );
    assert.equal(tail[0]!.seq, blocks.length * POINTS_PER_BLOCK);
    const tailPoints = Buffer.concat(tail.map((t) => t.points));
    const tailRaw = points.slice(blocks.length * POINTS_PER_BLOCK);
    const open = blockRollups(store.db, series).at(-1)!;
    assert.deepEqual([open[0], open[1]], [blocks.length, tailRaw.length]);
    blocks.push({
      block_no: blocks.length,
      count: tailRaw.length,
      min_step: Math.min(...tailRaw.map((p) => p.step)),
      max_step: Math.max(...tailRaw.map((p) => p.step)),
      rollup: Buffer.from(open[2].buffer, open[2].byteOffset, open[2].byteLength),
      points: tailPoints,
    });
    for (const b of blocks) {
      const raw = points.slice(b.block_no * POINTS_PER_BLOCK, b.block_no * POINTS_PER_BLOCK + b.count);
      assert.equal(b.count, Math.min(POINTS_PER_BLOCK, points.length - b.block_no * POINTS_PER_BLOCK));
      // the stored points, read with DataView (independent of the code under test)
      const view = new DataView(b.points.buffer, b.points.byteOffset, b.points.byteLength);
      raw.forEach((p, i) => {
        assert.equal(view.getFloat64(i * 24, true), p.step);
        assert.equal(view.getFloat64(i * 24 + 8, true), p.timestamp);
        assert.ok(sameValue(view.getFloat64(i * 24 + 16, true), p.value));
      });
      assert.equal(b.min_step, Math.min(...raw.map((p) => p.step)));
      assert.equal(b.max_step, Math.max(...raw.map((p) => p.step)));
      const r = new DataView(b.rollup.buffer, b.rollup.byteOffset, b.rollup.byteLength);
      const role = (k: number): [number, number, number, number] =>
        [0, 1, 2, 3].map((f) => r.getFloat64((k * 4 + f) * 8, true)) as [number, number, number, number];
      const expectRole = (k: number, i: number | undefined, what: string): void => {
        const got = role(k);
        if (i === undefined) return assert.equal(got[0], -1, `${what} absent in block ${b.block_no}`);
        assert.equal(got[0], i, `${what} ordinal in block ${b.block_no}`);
        assert.deepEqual([got[1], got[2]], [raw[i]!.step, raw[i]!.timestamp], `${what} position in block ${b.block_no}`);
        assert.ok(sameValue(got[3], raw[i]!.value), `${what} value in block ${b.block_no}`);
      };
      const numbers = raw.map((p, i) => ({ p, i })).filter((x) => !Number.isNaN(x.p.value));
      const firstIndexOf = (v: number): number | undefined => numbers.find((x) => x.p.value === v)?.i;
      expectRole(0, 0, 'first');
      expectRole(1, numbers.length ? firstIndexOf(Math.min(...numbers.map((x) => x.p.value))) : undefined, 'min');
      expectRole(2, numbers.length ? firstIndexOf(Math.max(...numbers.map((x) => x.p.value))) : undefined, 'max');
      const nan = raw.findIndex((p) => Number.isNaN(p.value));
      expectRole(3, nan < 0 ? undefined : nan, 'first NaN');
      expectRole(4, raw.length - 1, 'last');
    }
  });

  it('a chart read from rollups equals a downsample of the raw points: spikes, dips, NaN gaps and Infinity kept', function () {
    this.timeout(60_000);
    const runId = runs.create({ experimentId }).runId;
    const points = noisy(250_000, 11);
    points[123_457] = { ...points[123_457]!, value: 5e12 }; // a lone spike
    for (let i = 200_000; i < 200_600; i++) points[i] = { ...points[i]!, value: Number.NaN }; // a long gap across blocks
    logInBatches(runId, 'loss', points, [1000, 333, 17]);
    for (const maxPoints of [5, 64, 500, 2000, 10_000]) {
      const s = metricHistory(store, { runId, key: 'loss', maxPoints });
      assert.equal(s.total, points.length);
      assert.equal(s.downsampled, true);
      assert.ok(s.points.length <= maxPoints);
      assert.deepEqual(s.points, referenceDownsample(points, maxPoints), `maxPoints ${maxPoints}`);
    }
    const chart = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 }).points;
    assert.ok(
      chart.some((p) => p.value === 5e12),
      'the spike is on the chart',
    );
    assert.ok(
      chart.some((p) => p.value === null && p.step >= 100_000 && p.step < 100_300),
      'the gap is on the chart',
    );
    assert.ok(chart.some((p) => p.value === Number.POSITIVE_INFINITY));
  });

  it('a long history’s chart is read from block rollups alone: with every block’s points blanked it is unchanged', function () {
    this.timeout(60_000);
    const runId = runs.create({ experimentId }).runId;
    const points = noisy(200_000, 5); // buckets of 500 points, rounded up to 2 whole blocks
    logInBatches(runId, 'loss', points, [1000]);
    const before = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
    assert.deepEqual(before.points, referenceDownsample(points, 2000));
    const series = findSeries(store.db, runId, 'loss')!;
    // same lengths (the table's checks hold), every stored point now zero: only rollups still tell the truth
    const blanked = store.db.prepare('UPDATE metric_block SET points = zeroblob(length(points)) WHERE series_id = ?').run(series.seriesId).changes;
    assert.equal(blanked, Math.floor(points.length / POINTS_PER_BLOCK)); // the 64 tail points are the last bucket's, read from the tail
    assert.deepEqual(metricHistory(store, { runId, key: 'loss', maxPoints: 2000 }).points, before.points);
    // a short history's buckets cut blocks, so its chart does read points (and would see the blanking)
    assert.notDeepEqual(metricHistory(store, { runId, key: 'loss', maxPoints: 100_000 }).points, referenceDownsample(points, 100_000));
  });

  it('points logged out of (step, timestamp) order: get-history, charts and latest values still follow history order', () => {
    const runId = runs.create({ experimentId }).runId;
    const random = lcg(3);
    const points: Raw[] = Array.from({ length: 3_000 }, (_, i) => ({
      step: Math.floor(random() * 500),
      timestamp: 1000 + (i % 4),
      value: random() < 0.02 ? Number.NaN : random(),
    }));
    logInBatches(runId, 'acc', points, [100, 1, 999]);
    const series = findSeries(store.db, runId, 'acc')!;
    assert.equal(series.ordered, false);
    const expected = historyOrder(points);
    const history = runs.metricHistory(runId, 'acc');
    assert.equal(history.length, points.length);
    history.forEach((p, i) => {
      assert.deepEqual([p.step, p.timestamp], [expected[i]!.step, expected[i]!.timestamp]);
      assert.ok(sameValue(p.value, expected[i]!.value), `point ${i}`);
    });
    const paged = [0, 1000, 2000].flatMap((offset) => runs.metricHistory(runId, 'acc', { offset, limit: 1000 }));
    assert.deepEqual(
      paged.map((p) => [p.step, p.timestamp]),
      history.map((p) => [p.step, p.timestamp]),
    );
    for (const maxPoints of [5, 100, 2999])
      assert.deepEqual(metricHistory(store, { runId, key: 'acc', maxPoints }).points, referenceDownsample(expected, maxPoints));
    const latest = expected.at(-1)!;
    const [point] = runs.latestMetricPoints(runId);
    assert.deepEqual([point!.step, point!.timestamp], [latest.step, latest.timestamp]);
    assert.ok(sameValue(point!.value, latest.value));
  });

  it('history reads (sealed blocks + tail) also work while the connection iterates another query', () => {
    const runId = runs.create({ experimentId }).runId;
    const points = noisy(600, 21); // 2 sealed blocks + 88 tail points
    logInBatches(runId, 'loss', points, [250, 350]);
    let keys = 0;
    for (const [key] of store.db.prepare('SELECT key FROM metric_series WHERE run_id = ?').raw().iterate(runId) as Iterable<[string]>) {
      const history = runs.metricHistory(runId, key);
      assert.equal(history.length, points.length);
      history.forEach((p, i) => assert.ok(sameValue(p.value, points[i]!.value), `point ${i}`));
      assert.deepEqual(metricHistory(store, { runId, key, maxPoints: 5 }).points, referenceDownsample(points, 5));
      keys++;
    }
    assert.equal(keys, 1);
  });

  it('equal (step, timestamp) points keep their logging order; the last one logged is the latest', () => {
    const runId = runs.create({ experimentId }).runId;
    runs.logMetrics(runId, [
      { key: 'k', step: 1, timestamp: 5, value: 3 },
      { key: 'k', step: 1, timestamp: 5, value: 1 },
    ]);
    runs.logMetrics(runId, [{ key: 'k', step: 1, timestamp: 5, value: 2 }]);
    assert.deepEqual(
      runs.metricHistory(runId, 'k').map((p) => p.value),
      [3, 1, 2],
    );
    assert.deepEqual(runs.latestMetrics(runId), { k: 2 });
    assert.equal(findSeries(store.db, runId, 'k')!.ordered, true);
  });

  it('migration 006 copies every point of a schema-5 store: counts, values, order and latest values equal', function () {
    this.timeout(60_000);
    const path = join(dir, 'old.db');
    createStoreAtSchemaVersion(path, 5);
    const old = new Database(path);
    old.prepare("INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'e', 1, 1)").run();
    const runIds = ['a', 'b', 'c'].map((c) => c.repeat(32));
    for (const id of runIds)
      old.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, ?, 'FINISHED', 1)").run(id, id.slice(0, 3));
    const insert = old.prepare('INSERT INTO metric (run_id, key, step, timestamp, value, is_nan) VALUES (?, ?, ?, ?, ?, ?)');
    const random = lcg(5);
    old.transaction(() => {
      // a long ordered history (crosses the 65,536-row copy page), a shuffled one with NaN and ties, a tiny one
      for (let i = 0; i < 70_000; i++) insert.run(runIds[0], 'loss', i, 10 * i, Math.cos(i), 0);
      for (let i = 0; i < 2_000; i++) {
        const nan = random() < 0.05;
        insert.run(runIds[1], 'val/acc ∆', Math.floor(random() * 100), Math.floor(random() * 3), nan ? null : random() * 2 - 1, nan ? 1 : 0);
      }
      insert.run(runIds[2], 'once', 0, 0, Number.NEGATIVE_INFINITY, 0);
      insert.run(runIds[1], 'loss', 3, 3, null, 1);
    })();
    const before = new Map<string, { count: number; rows: [number, number, number | null, number][]; latest: unknown }>();
    for (const [runId, key] of old.prepare('SELECT DISTINCT run_id, key FROM metric').raw().all() as [string, string][]) {
      before.set(`${runId}/${key}`, {
        count: old.prepare('SELECT count(*) FROM metric WHERE run_id = ? AND key = ?').pluck().get(runId, key) as number,
        rows: old
          .prepare('SELECT step, timestamp, value, is_nan FROM metric WHERE run_id = ? AND key = ? ORDER BY step, timestamp, rowid')
          .raw()
          .all(runId, key) as [number, number, number | null, number][],
        latest: old
          .prepare('SELECT step, timestamp, value, is_nan FROM metric WHERE run_id = ? AND key = ? ORDER BY step DESC, timestamp DESC, rowid DESC LIMIT 1')
          .raw()
          .get(runId, key),
      });
    }
    const total = old.prepare('SELECT count(*) FROM metric').pluck().get() as number;
    old.close();

    const upgraded = openStore({ path });
    try {
      assert.equal(upgraded.db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'metric'").pluck().get(), 0, 'the old table is gone');
      assert.equal(upgraded.db.prepare('SELECT sum(count) FROM metric_series').pluck().get(), total);
      assert.equal(
        upgraded.db.prepare('SELECT (SELECT sum(length(points)) / 24 FROM metric_block) + (SELECT sum(length(points)) / 24 FROM metric_tail)').pluck().get(),
        total,
      );
      const repo = new RunRepository(upgraded);
      assert.equal(before.size, 4);
      for (const [id, expected] of before) {
        const [runId, key] = [id.slice(0, 32), id.slice(33)];
        const history = repo.metricHistory(runId, key);
        assert.equal(history.length, expected.count, id);
        history.forEach((p, i) => {
          const [step, timestamp, value, isNan] = expected.rows[i]!;
          assert.deepEqual([p.step, p.timestamp], [step, timestamp], `${id} point ${i}`);
          assert.ok(sameValue(p.value, isNan ? Number.NaN : value!), `${id} point ${i}: ${p.value} vs ${value}`);
        });
        const latest = expected.latest as [number, number, number | null, number];
        const got = repo.latestMetricPoints(runId).find((m) => m.key === key)!;
        assert.deepEqual([got.step, got.timestamp], [latest[0], latest[1]], id);
        assert.ok(sameValue(got.value, latest[3] ? Number.NaN : latest[2]!), id);
      }
      assert.equal((upgraded.db.pragma('foreign_key_check') as unknown[]).length, 0);
    } finally {
      upgraded.close();
    }
  });

  it('migration 022: a schema-21 store’s open blocks become tail rows; every read (history, pages, since, charts, latest/min/max, the runs table’s index, duplicate check) equals the points written, before and after more appends', function () {
    this.timeout(60_000);
    const path = join(dir, 'v21.db');
    createStoreAtSchemaVersion(path, 21);
    const old = new Database(path);
    old.pragma('foreign_keys = ON');
    old.prepare("INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'e', 1, 1)").run();
    const [a, b, c] = ['a', 'b', 'c'].map((ch) => ch.repeat(32)) as [string, string, string];
    for (const id of [a, b, c])
      old.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, ?, 'FINISHED', 1)").run(id, id.slice(0, 3));
    const random = lcg(9);
    const written = new Map<string, Raw[]>();
    /** Writes with the schema-6 writer (what releases up to schema 21 stored) in the given batch sizes, and remembers the points. */
    const write = (db: Database.Database, runId: string, key: string, points: Raw[], sizes: readonly number[], writer: typeof appendSchema6Points): void => {
      for (let at = 0, k = 0; at < points.length; k++) {
        const n = sizes[k % sizes.length]!;
        writer(
          db,
          runId,
          points.slice(at, at + n).map((p) => ({ key, ...p })),
        );
        at += n;
      }
      written.set(`${runId}/${key}`, [...(written.get(`${runId}/${key}`) ?? []), ...points]);
    };
    old.transaction(() => {
      write(old, a, 'loss', noisy(1_000, 13), [1, 7, 300, 255], appendSchema6Points); // 3 sealed blocks + 232 open
      write(old, a, 'exact', noisy(512, 17), [512], appendSchema6Points); // no open block
      const shuffled = Array.from({ length: 700 }, (_, i) => ({
        step: Math.floor(random() * 90),
        timestamp: 1000 + (i % 3),
        value: random() < 0.05 ? Number.NaN : random(),
      }));
      write(old, b, 'acc', shuffled, [100, 1, 599], appendSchema6Points);
      write(old, c, 'once', [{ step: 0, timestamp: 0, value: Number.NEGATIVE_INFINITY }], [1], appendSchema6Points);
      write(old, a, 'score', [{ step: 0, timestamp: 5, value: 0.7 }], [1], appendSchema6Points);
      write(old, b, 'score', [{ step: 0, timestamp: 5, value: 0.2 }], [1], appendSchema6Points);
      write(old, c, 'score', [{ step: 0, timestamp: 5, value: 0.9 }], [1], appendSchema6Points);
    })();
    // before: the schema-21 blocks hold exactly the points written, read with DataView (independent of src/)
    const storedBefore = (db: Database.Database, runId: string, key: string): Raw[] => {
      const blobs = db
        .prepare('SELECT b.points FROM metric_block b JOIN metric_series s ON s.series_id = b.series_id WHERE s.run_id = ? AND s.key = ? ORDER BY b.block_no')
        .pluck()
        .all(runId, key) as Buffer[];
      const all = Buffer.concat(blobs);
      const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
      return Array.from({ length: all.length / 24 }, (_, i) => ({
        step: view.getFloat64(i * 24, true),
        timestamp: view.getFloat64(i * 24 + 8, true),
        value: view.getFloat64(i * 24 + 16, true),
      }));
    };
    const same = (got: readonly Raw[], expected: readonly Raw[], what: string): void => {
      assert.equal(got.length, expected.length, `${what}: count`);
      got.forEach((p, i) => {
        assert.deepEqual([p.step, p.timestamp], [expected[i]!.step, expected[i]!.timestamp], `${what} point ${i}`);
        assert.ok(sameValue(p.value, expected[i]!.value), `${what} point ${i}: ${p.value} vs ${expected[i]!.value}`);
      });
    };
    for (const [id, points] of written) same(storedBefore(old, id.slice(0, 32), id.slice(33)), points, `before ${id}`);
    old.close();

    const upgraded = openStore({ path });
    try {
      const db = upgraded.db;
      const repo = new RunRepository(upgraded);
      const check = (when: string): void => {
        for (const [id, logged] of written) {
          const [runId, key] = [id.slice(0, 32), id.slice(33)];
          const what = `${when} ${id}`;
          const series = findSeries(db, runId, key)!;
          assert.equal(series.count, logged.length, what);
          // the layout: whole sealed blocks, the rest in tail rows that start where the sealed blocks end
          const sealed = db
            .prepare('SELECT count(*), coalesce(min(count), 256), coalesce(max(block_no), -1) FROM metric_block WHERE series_id = ?')
            .raw()
            .get(series.seriesId);
          const whole = Math.floor(logged.length / POINTS_PER_BLOCK);
          assert.deepEqual(sealed, [whole, POINTS_PER_BLOCK, whole - 1], `${what}: sealed blocks`);
          const tail = db.prepare('SELECT coalesce(sum(count), 0), min(seq) FROM metric_tail WHERE series_id = ?').raw().get(series.seriesId) as [
            number,
            number | null,
          ];
          assert.deepEqual(tail, [logged.length % POINTS_PER_BLOCK, logged.length % POINTS_PER_BLOCK ? whole * POINTS_PER_BLOCK : null], `${what}: tail`);
          // get-history (whole and paged), history order
          const expected = historyOrder(logged);
          same(repo.metricHistory(runId, key), expected, `${what} history`);
          const paged = Array.from({ length: Math.ceil(expected.length / 300) }, (_, k) =>
            repo.metricHistory(runId, key, { offset: k * 300, limit: 300 }),
          ).flat();
          same(paged, expected, `${what} pages`);
          // charts: every point when short, rollups (the open block's computed) when long
          for (const maxPoints of [5, 50, 400, 5000])
            assert.deepEqual(metricHistory(upgraded, { runId, key, maxPoints }).points, referenceDownsample(expected, maxPoints), `${what} chart ${maxPoints}`);
          // points after a position (live charts)
          const mid = expected[Math.floor(expected.length / 2)]!;
          const after = expected.filter((p) => p.step > mid.step || (p.step === mid.step && p.timestamp > mid.timestamp));
          const since = metricHistory(upgraded, { runId, key, maxPoints: 100_000, since: { step: mid.step, timestamp: mid.timestamp } });
          same(
            since.points.map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value ?? Number.NaN })),
            after,
            `${what} since`,
          );
          // latest (history order's last), min and max over the numbers
          const latest = expected.at(-1)!;
          assert.deepEqual([series.latestStep, series.latestTimestamp], [latest.step, latest.timestamp], what);
          assert.ok(sameValue(series.latestValue, latest.value), what);
          const numbers = logged.map((p) => p.value).filter((v) => !Number.isNaN(v));
          assert.equal(series.minValue, numbers.length ? Math.min(...numbers) : null, what);
          assert.equal(series.maxValue, numbers.length ? Math.max(...numbers) : null, what);
          // the duplicate check of MLflow 3's re-sent points finds a sealed point and a tail point, not a changed one
          for (const p of [logged[0]!, logged.at(-1)!]) assert.equal(containsPoint(db, series, p), true, `${what} contains`);
          assert.equal(containsPoint(db, series, { ...logged.at(-1)!, value: 12_345.5 }), false, `${what} contains`);
        }
        // the runs table's index on (key, latest_value, run_id)
        assert.deepEqual(
          db.prepare("SELECT run_id FROM metric_series INDEXED BY metric_series_by_key_value WHERE key = 'score' ORDER BY latest_value").pluck().all(),
          [b, a, c],
        );
        assert.deepEqual(db.pragma('foreign_key_check'), []);
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      };
      check('after the upgrade');
      // appends continue the moved open blocks: a few points (a tail row inserted, the earlier ones untouched), then a block's worth
      const tailRows = (): unknown[] =>
        db
          .prepare(
            "SELECT t.tail_id, t.seq, t.count, hex(t.points) FROM metric_tail t JOIN metric_series s USING (series_id) WHERE s.run_id = ? AND s.key = 'loss'",
          )
          .raw()
          .all(a);
      const rowsBefore = tailRows();
      const appendNow = (
        database: Database.Database,
        runId: string,
        points: readonly { key: string; step: number; timestamp: number; value: number }[],
      ): void => repo.logMetrics(runId, points as MetricPoint[]);
      write(db, a, 'loss', noisy(1_010, 13).slice(1_000), [10], appendNow);
      assert.deepEqual(tailRows().slice(0, rowsBefore.length), rowsBefore, 'an append leaves the earlier tail rows as they were');
      assert.equal(tailRows().length, rowsBefore.length + 1);
      write(db, a, 'loss', noisy(1_400, 13).slice(1_010), [1, 389], appendNow);
      write(db, a, 'exact', noisy(900, 17).slice(512), [300, 88], appendNow);
      write(
        db,
        b,
        'acc',
        [{ step: 3, timestamp: 1, value: 0.5 }, ...Array.from({ length: 300 }, (_, i) => ({ step: 50 + i, timestamp: 0, value: i % 7 }))],
        [150, 151],
        appendNow,
      );
      write(db, c, 'once', [{ step: 1, timestamp: 0, value: Number.NaN }], [1], appendNow);
      check('after more appends');
    } finally {
      upgraded.close();
    }
  });

  it('a schema-21 store (no metric_tail) opened read-only reads its points, open blocks included, and still reads them after another connection upgrades it', function () {
    this.timeout(60_000);
    const path = join(dir, 'v21-readonly.db');
    createStoreAtSchemaVersion(path, 21);
    const old = new Database(path);
    old.pragma('foreign_keys = ON');
    old.prepare("INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'e', 1, 1)").run();
    const runId = 'd'.repeat(32);
    old.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, 'ro', 'FINISHED', 1)").run(runId);
    const random = lcg(21);
    const logged = new Map<string, Raw[]>([
      ['loss', noisy(700, 23)], // 2 sealed blocks + an open one of 188 points
      ['short', noisy(5, 29)], // only an open block
      [
        'shuffled',
        Array.from({ length: 300 }, (_, i) => ({ step: Math.floor(random() * 40), timestamp: 7 + (i % 2), value: random() < 0.05 ? Number.NaN : random() })),
      ],
    ]);
    old.transaction(() => {
      for (const [key, points] of logged)
        for (let at = 0, k = 0; at < points.length; k++) {
          const n = [1, 99, 200][k % 3]!;
          appendSchema6Points(
            old,
            runId,
            points.slice(at, at + n).map((p) => ({ key, ...p })),
          );
          at += n;
        }
    })();
    old.close();
    const same = (got: readonly Raw[], expected: readonly Raw[], what: string): void => {
      assert.equal(got.length, expected.length, `${what}: count`);
      got.forEach((p, i) => {
        assert.deepEqual([p.step, p.timestamp], [expected[i]!.step, expected[i]!.timestamp], `${what} point ${i}`);
        assert.ok(sameValue(p.value, expected[i]!.value), `${what} point ${i}: ${p.value} vs ${expected[i]!.value}`);
      });
    };
    const reader = openStore({ path, readonly: true });
    try {
      assert.equal(reader.schemaVersion, 21);
      const repo = new RunRepository(reader);
      const check = (when: string): void => {
        for (const [key, points] of logged) {
          const what = `${when} ${key}`;
          const expected = historyOrder(points);
          const series = findSeries(reader.db, runId, key)!;
          assert.equal(series.count, points.length, what);
          same(repo.metricHistory(runId, key), expected, `${what} history`);
          const paged = Array.from({ length: Math.ceil(expected.length / 150) }, (_, k) =>
            repo.metricHistory(runId, key, { offset: k * 150, limit: 150 }),
          ).flat();
          same(paged, expected, `${what} pages`);
          for (const maxPoints of [5, 50, 5000])
            assert.deepEqual(metricHistory(reader, { runId, key, maxPoints }).points, referenceDownsample(expected, maxPoints), `${what} chart ${maxPoints}`);
          const mid = expected[Math.floor(expected.length / 2)]!;
          const since = metricHistory(reader, { runId, key, maxPoints: 100_000, since: { step: mid.step, timestamp: mid.timestamp } });
          same(
            since.points.map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value ?? Number.NaN })),
            expected.filter((p) => p.step > mid.step || (p.step === mid.step && p.timestamp > mid.timestamp)),
            `${what} since`,
          );
          assert.equal(containsPoint(reader.db, series, points.at(-1)!), true, `${what} contains the last point`);
          assert.equal(containsPoint(reader.db, series, { ...points.at(-1)!, value: 12_345.5 }), false, `${what} contains`);
        }
      };
      check('schema 21, read-only');
      // the read-only open changed nothing: still schema 21, no metric_tail table
      assert.equal(reader.db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'metric_tail'").pluck().get(), 0);
      // another connection upgrades the store (the open blocks move to tail rows) and appends: this reader sees both
      const writer = openStore({ path });
      try {
        assert.equal(writer.schemaVersion, latestSchemaVersion);
        const more = noisy(760, 23).slice(700);
        new RunRepository(writer).logMetrics(
          runId,
          more.map((p): MetricPoint => ({ key: 'loss', ...p })),
        );
        logged.set('loss', [...logged.get('loss')!, ...more]);
      } finally {
        writer.close();
      }
      check('after another connection upgraded the store');
    } finally {
      reader.close();
    }
  });
});
