// `mloop import mlflow` on a large MLflow SQLite store (default 20 runs × 50,000 points = 1M points, plus one
// run logged by the real client), against a peer measured on the same file in the same run: MLflow's own
// SqlAlchemyStore reading every run and every metric history (what any MLflow-side export has to do).
// Median of RUNS timings each; every mloop timing imports into a fresh store.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importMlflow } from '../../src/core/mlflow/importStore';
import { openStore } from '../../src/core/store/store';

const RUNS = Number(process.env.MLOOP_BENCH_REPEAT ?? 5);
const MLFLOW_RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 20);
const PER_RUN = Number(process.env.MLOOP_BENCH_POINTS_PER_RUN ?? 50_000);
const PYTHON = process.env.MLOOP_TEST_PYTHON ?? 'python3';
const SCRIPT = resolve(__dirname, '../../../bench/mlflowImport/make_big_store.py');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function python(args: string[]): { points: number; mlflow_read_s: number } {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`make_big_store.py failed:\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { points: number; mlflow_read_s: number };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-import-'));
  try {
    const db = join(dir, 'mlflow.db');
    const made = python([db, String(MLFLOW_RUNS), String(PER_RUN)]);
    const peer: number[] = [];
    for (let i = 0; i < RUNS; i++) peer.push(python(['--read', db]).mlflow_read_s * 1000);
    const ours: number[] = [];
    let imported = 0;
    for (let i = 0; i < RUNS; i++) {
      const store = openStore({ path: join(dir, `mloop-${i}`, 'mloop.db') });
      const started = performance.now();
      const report = await importMlflow(store, { source: db, actor: 'bench' });
      ours.push(performance.now() - started);
      imported = report.found.metricPoints;
      store.close();
    }
    if (imported !== made.points) throw new Error(`imported ${imported} points, MLflow read ${made.points}`);
    const ms = (x: number): string => `${Math.round(x)} ms`;
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`);
    console.log(`store: ${MLFLOW_RUNS + 1} runs, ${made.points.toLocaleString('en-US')} metric points; median of ${RUNS}`);
    console.log(`| mloop import mlflow (read + write a fresh mloop store) | ${ms(median(ours))} | runs ${ours.map(ms).join(', ')} |`);
    console.log(`| peer: MLflow SqlAlchemyStore reads every run + history | ${ms(median(peer))} | runs ${peer.map(ms).join(', ')} |`);
    console.log(`ratio mloop/peer: ${(median(ours) / median(peer)).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
