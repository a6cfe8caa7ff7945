// `mloop repro` with nothing changed (issue 19): a 10-stage chain reading MLOOP_BENCH_BYTES (default 1 GiB) of deps,
// run once to record every stage, then timed warm — in-process (load mloop.yaml, plan, stat every dep and out,
// look each digest up in the store) and as a whole `mloop repro` CLI process. Target: ≤ 200 ms warm.
// Peer: `dvc repro` / `dvc status` on the same pipeline, when `dvc` is on PATH (it is not installed on the CI machine).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repro } from '../../src/core/experiments/repro';
import { loadProjectStages } from '../../src/core/experiments/stages';
import { openStore } from '../../src/core/store/store';

const ROOT = resolve(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const STAGES = 10;
const BYTES = Number(process.env.MLOOP_BENCH_BYTES ?? 1 << 30);
const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 7);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-repro-bench-'));
  try {
    mkdirSync(join(dir, 'data'));
    const chunk = Buffer.alloc(1 << 20, 7);
    const perStage = Math.floor(BYTES / STAGES / chunk.length);
    let yaml = 'version: 1\nstages:\n';
    for (let i = 0; i < STAGES; i++) {
      const parts = Buffer.concat(Array.from({ length: perStage }, (_, k) => (k === 0 ? Buffer.from(`stage ${i}\n`) : chunk)));
      writeFileSync(join(dir, 'data', `part${i}.bin`), parts);
      const deps = [`data/part${i}.bin`, ...(i > 0 ? [`out${i - 1}.txt`] : [])];
      yaml += `  s${i}:\n    command: [${JSON.stringify(process.execPath)}, -e, "require('fs').writeFileSync('out${i}.txt', '${i}')"]\n    deps: [${deps.join(', ')}]\n    outs: [out${i}.txt]\n`;
    }
    writeFileSync(join(dir, 'mloop.yaml'), yaml);
    mkdirSync(join(dir, '.mloop'));
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    let t0 = performance.now();
    const cold = await repro({ store, project: loadProjectStages(dir), trusted: true });
    const coldMs = performance.now() - t0;
    if (cold.stages.some((s) => s.outcome !== 'ran')) throw new Error(`the first repro did not run every stage: ${JSON.stringify(cold.stages)}`);
    const inProcess: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < RUNS + 1; r++) {
      const c0 = process.cpuUsage();
      t0 = performance.now();
      const warm = await repro({ store, project: loadProjectStages(dir), trusted: true });
      const ms = performance.now() - t0;
      const used = process.cpuUsage(c0);
      if (warm.stages.some((s) => s.outcome !== 'skipped')) throw new Error('a warm repro ran a stage');
      if (r > 0) {
        inProcess.push(ms);
        cpu.push((used.user + used.system) / 1000);
      }
    }
    store.close();
    const cliRuns: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      t0 = performance.now();
      const out = spawnSync(process.execPath, [CLI, 'repro'], { cwd: dir, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
      cliRuns.push(performance.now() - t0);
      if (out.status !== 0 || !out.stdout.includes('0 ran, 10 skipped')) throw new Error(`mloop repro: ${out.stderr}${out.stdout}`);
    }
    const baseline: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      t0 = performance.now();
      spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
      baseline.push(performance.now() - t0);
    }
    const dvc = spawnSync('dvc', ['--version'], { encoding: 'utf8' });
    console.log(`repro bench: ${STAGES} stages, ${perStage * STAGES} MiB of deps, load ${loadavg()[0]!.toFixed(1)}`);
    console.log(`  first repro (hash everything, run 10 stages): ${Math.round(coldMs)} ms`);
    console.log(
      `  warm, in-process: median ${median(inProcess).toFixed(1)} ms wall, ${median(cpu).toFixed(1)} ms CPU (runs ${inProcess.map((x) => Math.round(x)).join(', ')})`,
    );
    console.log(`  warm, mloop repro process: median ${Math.round(median(cliRuns))} ms (runs ${cliRuns.map((x) => Math.round(x)).join(', ')})`);
    console.log(`  baseline, mloop --version process (Node start + loading the CLI): median ${Math.round(median(baseline))} ms`);
    console.log(dvc.status === 0 ? `  dvc ${dvc.stdout.trim()} found: not measured by this bench yet` : '  peer: dvc is not installed here, not measured');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
