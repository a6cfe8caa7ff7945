// A 1M-point metric history → chart series: mloop's metricHistory (maxPoints 2000) against the naive
// peer "read every point, then downsample in JS", same store, same run. Median of RUNS timings each.
// Optional: MLflow's get_metric_history for the same 1M points (MLOOP_BENCH_MLFLOW=1, needs python3 + mlflow).
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { metricHistory } from '../../src/core/metrics/history';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository, type MetricPoint } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';

const POINTS = Number(process.env.MLOOP_BENCH_POINTS ?? 1_000_000);
const RUNS = 7;

function median(fn: () => unknown): { medianMs: number; allMs: number[] } {
  fn(); // warm the page cache and statement cache, as a panel that is opened twice would
  const allMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    fn();
    allMs.push(performance.now() - started);
  }
  const sorted = [...allMs].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)]!, allMs };
}

/** The peer: what a client of a "give me the whole history" API has to do. */
function naive(store: Store, runId: string, key: string, maxPoints: number): number {
  const rows = store.db
    .prepare('SELECT step, timestamp, value, is_nan FROM metric WHERE run_id = ? AND key = ? ORDER BY step, timestamp')
    .all(runId, key) as { step: number; timestamp: number; value: number | null; is_nan: number }[];
  const buckets = Math.floor(maxPoints / 4);
  const size = Math.ceil(rows.length / buckets);
  const out: typeof rows = [];
  for (let b = 0; b < rows.length; b += size) {
    const chunk = rows.slice(b, b + size);
    let lo = chunk[0]!;
    let hi = chunk[0]!;
    for (const r of chunk) {
      if ((r.value ?? Infinity) < (lo.value ?? Infinity)) lo = r;
      if ((r.value ?? -Infinity) > (hi.value ?? -Infinity)) hi = r;
    }
    out.push(...new Set([chunk[0]!, lo, hi, chunk.at(-1)!]));
  }
  return out.length;
}

const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-metrics-'));
try {
  const store = openStore({ path: join(dir, 'mloop.db') });
  const experimentId = new ExperimentRepository(store).ensure('bench').experimentId;
  const runs = new RunRepository(store);
  const runId = runs.create({ experimentId }).runId;
  const other = runs.create({ experimentId }).runId;
  const t0 = Date.now();
  const built = performance.now();
  for (let start = 0; start < POINTS; start += 100_000) {
    const batch: MetricPoint[] = [];
    for (let i = start; i < Math.min(POINTS, start + 100_000); i++) {
      batch.push({ key: 'loss', step: i, timestamp: t0 + i, value: Math.exp(-i / POINTS) + (i === 654_321 ? 50 : Math.sin(i) * 0.01) });
      if (i % 10 === 0) batch.push({ key: 'acc', step: i, timestamp: t0 + i, value: i / POINTS });
    }
    runs.logMetrics(runId, batch);
  }
  runs.logMetrics(other, [{ key: 'loss', step: 0, timestamp: t0, value: 1 }]);
  const buildMs = performance.now() - built;

  const check = metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
  const mloop = median(() => metricHistory(store, { runId, key: 'loss', maxPoints: 2000 }));
  const live = median(() => metricHistory(store, { runId, key: 'loss', maxPoints: 2000, since: { step: POINTS - 50, timestamp: t0 + POINTS - 50 } }));
  const peer = median(() => naive(store, runId, 'loss', 2000));
  const result = {
    points: POINTS,
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    storeBuildMs: Math.round(buildMs),
    seriesPoints: check.points.length,
    spikeKept: check.points.some((p) => p.value !== null && p.value > 40),
    mloopMetricHistoryMs: Math.round(mloop.medianMs * 10) / 10,
    mloopRuns: mloop.allMs.map((m) => Math.round(m)),
    liveAppendSinceMs: Math.round(live.medianMs * 100) / 100,
    naiveReadAllThenDownsampleMs: Math.round(peer.medianMs * 10) / 10,
    naiveRuns: peer.allMs.map((m) => Math.round(m)),
  };
  console.log(JSON.stringify(result, null, 2));
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
