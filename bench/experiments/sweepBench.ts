// A sweep's overhead per trial (issue 19): queueing, launch and recording beyond the trial's own command.
// `mloop sweep noop --grid i=1..N` whose command is the shell's `true`, against the same N `sh -c true` spawned
// one after another, and `mloop --version` (Node start + loading the CLI, paid once per sweep). Interleaved
// (sweep, baseline, version, …) after one warm-up each; wall and CPU (children's user + system, from /usr/bin/time).
// overhead per trial = (sweep − N × trial − CLI start) / N.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const TRIALS = Number(process.env.MLOOP_BENCH_TRIALS ?? 20);
const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall and CPU seconds of a command, as /usr/bin/time reports them (children included). */
function timed(args: string[], cwd: string): { wall: number; cpu: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', ...args], { cwd, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-1000)}`);
  const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: wall! * 1000, cpu: (user! + sys!) * 1000 };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-sweep-bench-'));
  try {
    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\npipelines:\n  noop:\n    command: "true"\n    params: { i: 0 }\n    sweep:\n      max_trials: 1000\n');
    mkdirSync(join(dir, '.mloop'));
    const grid = `i=${Array.from({ length: TRIALS }, (_, k) => k + 1).join(',')}`;
    const loop = `for k in $(seq ${TRIALS}); do sh -c true; done`;
    const samples = { sweep: [] as { wall: number; cpu: number }[], trials: [] as { wall: number; cpu: number }[], cli: [] as { wall: number; cpu: number }[] };
    const loads: number[] = [];
    for (let r = 0; r <= RUNS; r++) {
      const sweep = timed([process.execPath, CLI, 'sweep', 'noop', '--grid', grid, '--json'], dir);
      const trials = timed(['bash', '-c', loop], dir);
      const cli = timed([process.execPath, CLI, '--version'], dir);
      loads.push(loadavg()[0]!);
      if (r === 0) continue; // warm-up
      samples.sweep.push(sweep);
      samples.trials.push(trials);
      samples.cli.push(cli);
    }
    const per = (k: 'wall' | 'cpu'): number =>
      (median(samples.sweep.map((s) => s[k])) - median(samples.trials.map((s) => s[k])) - median(samples.cli.map((s) => s[k]))) / TRIALS;
    const fmt = (xs: { wall: number; cpu: number }[]): string =>
      `wall ${median(xs.map((s) => s.wall)).toFixed(0)} ms, CPU ${median(xs.map((s) => s.cpu)).toFixed(0)} ms`;
    console.log(`${TRIALS} trials, medians of ${RUNS} after one warm-up; load average (1 min) per run: ${loads.map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`mloop sweep (${TRIALS} trials of \`true\`): ${fmt(samples.sweep)}`);
    console.log(`${TRIALS} × sh -c true: ${fmt(samples.trials)}`);
    console.log(`mloop --version: ${fmt(samples.cli)}`);
    console.log(`overhead per trial: wall ${per('wall').toFixed(1)} ms, CPU ${per('cpu').toFixed(1)} ms (target ≤ 50 ms)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
