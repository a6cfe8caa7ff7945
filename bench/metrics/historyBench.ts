// A 1M-point metric history → chart series: mloop's metricHistory (maxPoints 2000) against MLflow's own
// chart path, the store's get_metric_history_bulk_interval (max_results 2000) on a sqlite store holding
// the same points, run by bench/metrics/mlflowHistory.py as a long-lived child so the two are timed
// interleaved, call by call, with the load average after each (MLOOP_BENCH_SKIP_MLFLOW=1 skips it).
// Also: the naive "decode every point, then downsample" on mloop's store, and (MLOOP_BENCH_MLFLOW_FULL=N)
// N calls of MLflow's get_metric_history, which returns every point.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { metricHistory } from '../../src/core/metrics/history';
import { allPointsInOrder, findSeries } from '../../src/core/store/metricPoints';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository, type MetricPoint } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';

const POINTS = Number(process.env.MLOOP_BENCH_POINTS ?? 1_000_000);
const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 7);

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

interface PeerCall {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly points: number;
  readonly spikeKept: boolean;
}

/** The MLflow child: answers one JSON line per request line ('bulk' or 'full'). */
class MlflowPeer {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(dir: string, t0: number): Promise<{ peer: MlflowPeer; version: string }> {
    const script = resolve(__dirname, '../../../bench/metrics/mlflowHistory.py');
    const mlflowDir = join(dir, 'mlflow');
    mkdirSync(mlflowDir);
    const child = spawn('python3', [script, mlflowDir, String(POINTS), String(SPIKE_STEP), String(t0)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const peer = new MlflowPeer(child);
    const ready = JSON.parse(await peer.next()) as { mlflow: string };
    return { peer, version: ready.mlflow };
  }

  private async next(): Promise<string> {
    const line = await this.lines.next();
    if (line.done) throw new Error(`MLflow peer exited (${this.child.exitCode})`);
    return line.value;
  }

  async call(what: 'bulk' | 'full'): Promise<PeerCall> {
    this.child.stdin.write(`${what}\n`);
    return JSON.parse(await this.next()) as PeerCall;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** One timed call of fn: wall and CPU milliseconds. */
function timed(fn: () => unknown): { wallMs: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  fn();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

const mid = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const h = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[h]! : (sorted[h - 1]! + sorted[h]!) / 2;
};
const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
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

    const chart = () => metricHistory(store, { runId, key: 'loss', maxPoints: 2000 });
    const check = chart();
    const spikeKept = check.points.some((p) => p.value !== null && p.value > 40);
    const mlflow = process.env.MLOOP_BENCH_SKIP_MLFLOW ? undefined : await MlflowPeer.start(dir, t0);
    // one warm-up each (page cache, prepared statements, SQLAlchemy's compiled queries), then interleaved
    chart();
    await mlflow?.peer.call('bulk');
    const table: { run: number; mloop: { wallMs: number; cpuMs: number }; mloopLoad: number; peer?: PeerCall; peerLoad?: number }[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const mloop = timed(chart);
      const mloopLoad = loadavg()[0]!;
      const peer = await mlflow?.peer.call('bulk');
      table.push({ run, mloop, mloopLoad, peer, peerLoad: peer ? loadavg()[0]! : undefined });
      console.error(
        `run ${run}: mloop ${mloop.wallMs.toFixed(1)} ms (CPU ${mloop.cpuMs.toFixed(1)}) load ${mloopLoad.toFixed(1)}` +
          (peer ? ` | MLflow bulk ${peer.wallMs.toFixed(0)} ms (CPU ${peer.cpuMs.toFixed(0)}), ${peer.points} points, spike kept ${peer.spikeKept}` : ''),
      );
    }
    const full: PeerCall[] = [];
    for (let i = 0; mlflow && i < Number(process.env.MLOOP_BENCH_MLFLOW_FULL ?? 0); i++) full.push(await mlflow.peer.call('full'));
    mlflow?.peer.close();
    const live = timed(() => metricHistory(store, { runId, key: 'loss', maxPoints: 2000, since: { step: POINTS - 50, timestamp: t0 + POINTS - 50 } }));
    const naiveRuns = Array.from({ length: 3 }, () => timed(() => naive(store, runId, 'loss', 2000)));
    const mloopWall = mid(table.map((r) => r.mloop.wallMs));
    const mloopCpu = mid(table.map((r) => r.mloop.cpuMs));
    const peers = table.flatMap((r) => (r.peer ? [r.peer] : []));
    const result = {
      points: POINTS,
      node: process.version,
      mlflow: mlflow?.version ?? 'skipped (MLOOP_BENCH_SKIP_MLFLOW)',
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      storeBuildMs: Math.round(buildMs),
      mloopPointsOut: check.points.length,
      mloopSpikeKept: spikeKept,
      runs: table.map((r) => ({
        run: r.run,
        mloopMs: round(r.mloop.wallMs),
        mloopCpuMs: round(r.mloop.cpuMs),
        loadAfterMloop: round(r.mloopLoad),
        mlflowBulkMs: r.peer && Math.round(r.peer.wallMs),
        mlflowBulkCpuMs: r.peer && Math.round(r.peer.cpuMs),
        loadAfterMlflow: r.peerLoad && round(r.peerLoad),
      })),
      mloopMedianMs: round(mloopWall),
      mloopCpuMedianMs: round(mloopCpu),
      mlflowBulkMedianMs: peers.length ? Math.round(mid(peers.map((p) => p.wallMs))) : undefined,
      mlflowBulkCpuMedianMs: peers.length ? Math.round(mid(peers.map((p) => p.cpuMs))) : undefined,
      mlflowBulkPointsOut: peers[0]?.points,
      mlflowBulkSpikeKept: peers.length ? peers.every((p) => p.spikeKept) : undefined,
      ratioWall: peers.length ? round(mid(peers.map((p) => p.wallMs)) / mloopWall, 0) : undefined,
      ratioCpu: peers.length ? round(mid(peers.map((p) => p.cpuMs)) / mloopCpu, 0) : undefined,
      liveAppendSinceMs: round(live.wallMs, 2),
      noRollupsDecodeEveryPointMs: naiveRuns.map((r) => Math.round(r.wallMs)),
      mlflowGetMetricHistoryFull: full.length
        ? full.map((p) => ({ wallMs: Math.round(p.wallMs), cpuMs: Math.round(p.cpuMs), points: p.points, spikeKept: p.spikeKept }))
        : 'not run (MLOOP_BENCH_MLFLOW_FULL=N runs it N times)',
    };
    console.log(JSON.stringify(result, null, 2));
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
