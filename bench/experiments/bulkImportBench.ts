// `mloop import mlflow` of many runs, with the key indexes set aside during the bulk (the default from
// BULK_IMPORT_RUNS runs: deferredIndexes.ts) against the same import maintaining them per row (bulkRuns: Infinity),
// into fresh stores, interleaved (deferred, maintained, deferred, …), CPU and wall of the whole import.
// The source: an mlruns folder written here, MLOOP_BENCH_RUNS runs (2,000) × 20 params × 40 metrics (3 points each) ×
// 5 tags, in MLflow's folder layout (as test/fixtures/mlflow/mlruns, made by the real client).
//   bash scripts/with-node.sh node out/bench/experiments/bulkImportBench.js      # MLOOP_BENCH_REPEAT (3)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { importMlflow } from '../../src/core/mlflow/importStore';
import { openStore } from '../../src/core/store/store';

const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 2000);
const REPEAT = Number(process.env.MLOOP_BENCH_REPEAT ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function writeSource(root: string): string {
  const mlruns = join(root, 'mlruns');
  const experiment = join(mlruns, '123456789');
  mkdirSync(experiment, { recursive: true });
  writeFileSync(
    join(experiment, 'meta.yaml'),
    `artifact_location: file://${experiment}\ncreation_time: 1795382278113\nexperiment_id: '123456789'\nlast_update_time: 1795382278113\nlifecycle_stage: active\nname: bulk\n`,
  );
  for (let n = 0; n < RUNS; n++) {
    const runId = (n * 2654435761 + 1).toString(16).padStart(32, '0').slice(-32);
    const run = join(experiment, runId);
    for (const sub of ['params', 'metrics', 'tags']) mkdirSync(join(run, sub), { recursive: true });
    const start = 1_795_000_000_000 + n * 1000;
    writeFileSync(
      join(run, 'meta.yaml'),
      `artifact_uri: file://${run}/artifacts\nend_time: ${start + 500}\nentry_point_name: ''\nexperiment_id: '123456789'\nlifecycle_stage: active\nrun_id: '${runId}'\nrun_name: run-${n}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: ${start}\nstatus: 3\ntags: []\nuser_id: bench\n`,
    );
    for (let k = 0; k < 20; k++) writeFileSync(join(run, 'params', `p${k}`), `v${(n * (k + 3) + k) % 10}`);
    for (let k = 0; k < 40; k++) {
      const v = ((n * 7919 + k * 104729) % 100_003) / 100_003;
      writeFileSync(join(run, 'metrics', `m${k}`), `${start} ${v / 2} 0\n${start + 1} ${(1 + v) / 2} 1\n${start + 2} ${v} 2\n`);
    }
    for (let k = 0; k < 5; k++) writeFileSync(join(run, 'tags', `t${k}`), `v${(n * (k + 3)) % 11}`);
  }
  return mlruns;
}

async function once(root: string, source: string, deferred: boolean, i: number): Promise<{ cpuMs: number; wallMs: number }> {
  const path = join(root, `${deferred ? 'deferred' : 'maintained'}-${i}`, '.mloop', 'mloop.db');
  const store = openStore({ path });
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const report = await importMlflow(store, { source, actor: 'bench', ...(deferred ? {} : { bulkRuns: Number.POSITIVE_INFINITY }) });
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    if (report.written.runsNew !== RUNS) throw new Error(`imported ${report.written.runsNew} runs, not ${RUNS}`);
    const indexes = store.db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE '%by_key%'").pluck().get();
    if (indexes !== 5) throw new Error(`${indexes} key indexes after the import, not 5`);
    return { cpuMs: (used.user + used.system) / 1000, wallMs };
  } finally {
    store.close();
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'mloop-bulk-import-'));
  try {
    let t = performance.now();
    const source = writeSource(root);
    console.error(`mlruns with ${RUNS} runs written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const sides = { deferred: [] as { cpuMs: number; wallMs: number }[], maintained: [] as { cpuMs: number; wallMs: number }[] };
    for (let i = 0; i < REPEAT; i++)
      for (const deferred of [true, false]) {
        t = performance.now();
        const r = await once(root, source, deferred, i);
        (deferred ? sides.deferred : sides.maintained).push(r);
        console.error(
          `${deferred ? 'deferred  ' : 'maintained'} ${i + 1}: ${r.cpuMs.toFixed(0)} ms CPU, ${r.wallMs.toFixed(0)} ms wall, load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
    const m = (xs: { cpuMs: number }[]): number => median(xs.map((x) => x.cpuMs));
    console.log(
      `median of ${REPEAT}: import of ${RUNS} runs, CPU ${m(sides.maintained).toFixed(0)} ms with the key indexes maintained → ${m(sides.deferred).toFixed(0)} ms set aside and created after (${(m(sides.maintained) / m(sides.deferred)).toFixed(2)}×); wall ${median(sides.maintained.map((x) => x.wallMs)).toFixed(0)} → ${median(sides.deferred.map((x) => x.wallMs)).toFixed(0)} ms; load ${loadavg()[0]!.toFixed(1)}`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main();
