// A 1M-point metric history → chart series: mloop's metricHistory (maxPoints 2000) against the naive
// peer "read every point, then downsample in JS", same store, same run. Median of RUNS timings each.
// Peer: the real MLflow client's get_metric_history for the same 1M points on a sqlite store, run by
// bench/metrics/mlflowHistory.py in the same run (MLOOP_BENCH_SKIP_MLFLOW=1 skips it; needs python3 + mlflow).
import { spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { metricHistory } from '../../src/core/metrics/history';
import { allPointsInOrder, findSeries } from '../../src/core/store/metricPoints';
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

/**
 * Without rollups: decode every stored point and reduce it (first/min/max/last per bucket), which is
 * what any design that reads the whole history once has to do.
 */
function naive(store: Store, runId: string, key: string, maxPoints: number): number {
  const points = allPointsInOrder(store.db, findSeries(store.db, runId, key)!);
  const total = points.length / 3;
  const buckets = Math.floor(maxPoints / 4);
  let out = 0;
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * total) / buckets);
    const to = Math.floor(((b + 1) * total) / buckets);
    if (from >= to) continue;
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      const v = points[i * 3 + 2]!;
      if (v < points[lo * 3 + 2]!) lo = i;
      if (v > points[hi * 3 + 2]!) hi = i;
    }
    out += new Set([from, lo, hi, to - 1]).size;
  }
  return out;
}

const SPIKE_STEP = 654_321;

/** MLflow's get_metric_history over the same points, through the real client (a python child process). */
function mlflowPeer(dir: string, t0: number): { mlflow: string; medianMs: number; allMs: number[] } | string {
  if (process.env.MLOOP_BENCH_SKIP_MLFLOW) return 'skipped (MLOOP_BENCH_SKIP_MLFLOW)';
  const script = resolve(__dirname, '../../../bench/metrics/mlflowHistory.py');
  const mlflowDir = join(dir, 'mlflow');
  mkdirSync(mlflowDir);
  const result = spawnSync('python3', [script, mlflowDir, String(POINTS), String(SPIKE_STEP), String(t0), '3'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`MLflow peer failed (${result.status}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { mlflow: string; medianMs: number; allMs: number[] };
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
      batch.push({ key: 'loss', step: i, timestamp: t0 + i, value: Math.exp(-i / POINTS) + (i === SPIKE_STEP ? 50 : Math.sin(i) * 0.01) });
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
  const mlflow = mlflowPeer(dir, t0);
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
    noRollupsDecodeEveryPointMs: Math.round(peer.medianMs * 10) / 10,
    naiveRuns: peer.allMs.map((m) => Math.round(m)),
    mlflowGetMetricHistory: typeof mlflow === 'string' ? mlflow : { ...mlflow, medianMs: Math.round(mlflow.medianMs), allMs: mlflow.allMs.map((m) => Math.round(m)) },
    ratioMlflowToMloop: typeof mlflow === 'string' ? undefined : Math.round(mlflow.medianMs / mloop.medianMs),
  };
  console.log(JSON.stringify(result, null, 2));
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
