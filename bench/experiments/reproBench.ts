// `mloop repro` with nothing changed (issue 19): a 10-stage chain reading MLOOP_BENCH_BYTES (default 1 GiB) of deps,
// run once to record every stage, then timed warm — in-process (load mloop.yaml, plan, stat every dep and out,
// look each digest up in the store) and as a whole `mloop repro` CLI process. Target: ≤ 200 ms warm.
// Peer: `dvc status` and `dvc repro` (nothing changed) on the same pipeline, when DVC is found (MLOOP_BENCH_DVC=<path to dvc>,
// or `dvc` on PATH; it is not on the CI machine): the same 10 stages and commands in a dvc.yaml of a folder of its own
// whose deps are hard links to the same files, recorded by one `dvc repro` first. Whole processes on both sides,
// interleaved run by run (mloop repro, dvc status, dvc repro, …), wall and CPU (user + system, /usr/bin/time).
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    const dvcBin = process.env.MLOOP_BENCH_DVC ?? 'dvc';
    const dvc = spawnSync(dvcBin, ['--version'], { encoding: 'utf8' });
    console.log(`repro bench: ${STAGES} stages, ${perStage * STAGES} MiB of deps, load ${loadavg()[0]!.toFixed(1)}`);
    console.log(`  first repro (hash everything, run 10 stages): ${Math.round(coldMs)} ms`);
    console.log(
      `  warm, in-process: median ${median(inProcess).toFixed(1)} ms wall, ${median(cpu).toFixed(1)} ms CPU (runs ${inProcess.map((x) => Math.round(x)).join(', ')})`,
    );
    console.log(`  warm, mloop repro process: median ${Math.round(median(cliRuns))} ms (runs ${cliRuns.map((x) => Math.round(x)).join(', ')})`);
    console.log(`  baseline, mloop --version process (Node start + loading the CLI): median ${Math.round(median(baseline))} ms`);
    if (dvc.status !== 0) {
      console.log('  peer: dvc is not installed here, not measured');
      return;
    }
    // the same pipeline for DVC: its own folder (mloop reads a dvc.yaml next to mloop.yaml as stages too), the same bytes
    const dvcDir = join(dir, 'dvc');
    mkdirSync(join(dvcDir, 'data'), { recursive: true });
    let dvcYaml = 'stages:\n';
    for (let i = 0; i < STAGES; i++) {
      linkSync(join(dir, 'data', `part${i}.bin`), join(dvcDir, 'data', `part${i}.bin`));
      const deps = [`data/part${i}.bin`, ...(i > 0 ? [`out${i - 1}.txt`] : [])];
      dvcYaml += `  s${i}:\n    cmd: ${JSON.stringify(`${process.execPath} -e "require('fs').writeFileSync('out${i}.txt', '${i}')"`)}\n    deps: [${deps.join(', ')}]\n    outs: [out${i}.txt]\n`;
    }
    writeFileSync(join(dvcDir, 'dvc.yaml'), dvcYaml);
    const env = { ...process.env, DVC_NO_ANALYTICS: '1' };
    const run = (cwd: string, argv: string[]): { wallMs: number; cpuMs: number; stdout: string; status: number | null } => {
      const started = performance.now();
      const out = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S', ...argv], { cwd, encoding: 'utf8', env });
      const wallMs = performance.now() - started;
      const times = /TIME ([\d.]+) ([\d.]+)/.exec(out.stderr);
      return { wallMs, cpuMs: times ? (Number(times[1]) + Number(times[2])) * 1000 : Number.NaN, stdout: out.stdout + out.stderr, status: out.status };
    };
    const init = run(dvcDir, [dvcBin, 'init', '--no-scm']);
    if (init.status !== 0) throw new Error(`dvc init: ${init.stdout}`);
    const first = run(dvcDir, [dvcBin, 'repro']);
    if (first.status !== 0) throw new Error(`dvc repro: ${first.stdout}`);
    console.log(`  first dvc repro (hash everything, run 10 stages): ${Math.round(first.wallMs)} ms`);
    const sides = {
      'mloop repro': { cwd: dir, argv: [process.execPath, CLI, 'repro'], ok: (o: string) => o.includes('0 ran, 10 skipped') },
      'dvc status': { cwd: dvcDir, argv: [dvcBin, 'status'], ok: (o: string) => /up to date/i.test(o) },
      'dvc repro': { cwd: dvcDir, argv: [dvcBin, 'repro'], ok: (o: string) => /didn't change, skipping/i.test(o) && !/Running stage/.test(o) },
    };
    const results = Object.fromEntries(Object.keys(sides).map((k) => [k, { wall: [] as number[], cpu: [] as number[] }]));
    const loads: number[] = [];
    for (let r = 0; r <= RUNS; r++) {
      for (const [name, side] of Object.entries(sides)) {
        const out = run(side.cwd, side.argv);
        if (out.status !== 0 || !side.ok(out.stdout)) throw new Error(`${name} did not report nothing to do: ${out.stdout.slice(-1500)}`);
        if (r === 0) continue; // warm-up
        results[name]!.wall.push(out.wallMs);
        results[name]!.cpu.push(out.cpuMs);
      }
      if (r > 0) loads.push(loadavg()[0]!);
    }
    console.log(
      `  interleaved, whole processes, ${RUNS} runs after one warm-up each, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (${dvc.stdout.trim()}):`,
    );
    for (const [name, r] of Object.entries(results))
      console.log(
        `    ${name.padEnd(12)} median ${Math.round(median(r.wall))} ms wall, ${Math.round(median(r.cpu))} ms CPU (wall runs ${r.wall.map((x) => Math.round(x)).join(', ')})`,
      );
    const m = results['mloop repro']!;
    for (const peer of ['dvc status', 'dvc repro'])
      console.log(
        `    ${peer} / mloop repro: ${(median(results[peer]!.wall) / median(m.wall)).toFixed(1)}x wall, ${(median(results[peer]!.cpu) / median(m.cpu)).toFixed(1)}x CPU`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
