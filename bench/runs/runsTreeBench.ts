// The Runs tree with 10,000 runs in 100 experiments: what the tree reads from the store to show its
// roots (experimentsWithRuns) and to expand one experiment (experimentRunRows: the first page of 200
// runs and each one's primary metric, exactly the call the tree's children() makes), and what a hover
// costs (the tooltip's run, params and latest metrics). Each run has 5 params and a `loss` and an `acc`
// metric of MLOOP_BENCH_TREE_POINTS points. A second store puts all 10,000 runs in one experiment
// (first page, and the page a user reaches after clicking "Show more" four times).
// Peer: the real MLflow client's search_runs for one experiment, newest first, one page of 200, on a
// sqlite store holding the same runs (bench/runs/mlflowSearchRuns.py, same run; MLOOP_BENCH_SKIP_MLFLOW=1 skips).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { experimentRunRows, experimentsWithRuns } from '../../src/core/store/runListing';
import { RunRepository, type MetricPoint } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';

const EXPERIMENTS = 100;
const RUNS_TOTAL = 10_000;
const POINTS = Number(process.env.MLOOP_BENCH_TREE_POINTS ?? 20);
const PAGE = 200; // RUNS_PAGE_SIZE of the tree (src/vscode/runs/tree.ts)
const REPEAT = 21;
const T0 = 1_700_000_000_000;
const primaryMetric = (pipeline: string | null): string | undefined => (pipeline === 'train' ? 'loss' : undefined);

/** Wall-clock median and max, and the median CPU time of the same calls (the machine is shared). */
function timeIt(fn: (i: number) => unknown): { medianMs: number; maxMs: number; cpuMedianMs: number } {
  fn(0); // warm: statements prepared, pages cached, as on a second expand
  const all: number[] = [];
  const cpu: number[] = [];
  for (let i = 1; i <= REPEAT; i++) {
    const before = process.cpuUsage();
    const started = performance.now();
    fn(i);
    all.push(performance.now() - started);
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / 1000);
  }
  all.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 100) / 100;
  return { medianMs: round(all[Math.floor(all.length / 2)]!), maxMs: round(all.at(-1)!), cpuMedianMs: round(cpu[Math.floor(cpu.length / 2)]!) };
}

/** 10,000 runs spread over `experiments` experiments, newest last; returns the experiment ids. */
function build(store: Store, experiments: number): number[] {
  const experimentRepo = new ExperimentRepository(store);
  const runs = new RunRepository(store);
  const ids = Array.from({ length: experiments }, (_, e) => experimentRepo.ensure(`exp-${String(e).padStart(3, '0')}`).experimentId);
  store.transaction(() => {
    for (let n = 0; n < RUNS_TOTAL; n++) {
      const start = T0 + n * 1000;
      const runId = runs.create({
        experimentId: ids[n % experiments]!,
        name: `run-${String(n).padStart(5, '0')}`,
        pipeline: n % 4 === 3 ? 'evaluate' : 'train',
        startTime: start,
        params: Object.fromEntries(Array.from({ length: 5 }, (_, k) => [`p${k}`, String(n * k)])),
      }).runId;
      const points: MetricPoint[] = [];
      for (let s = 0; s < POINTS; s++) {
        points.push({ key: 'loss', step: s, timestamp: start + s, value: 1 / (s + 1) });
        points.push({ key: 'acc', step: s, timestamp: start + s, value: s / POINTS });
      }
      runs.logMetrics(runId, points);
      runs.finish(runId, { status: 'FINISHED', exitCode: 0, endTime: start + 500 });
    }
  });
  return ids;
}

function mlflowPeer(dir: string): { mlflow: string; medianMs: number; allMs: number[] } | string {
  if (process.env.MLOOP_BENCH_SKIP_MLFLOW) return 'skipped (MLOOP_BENCH_SKIP_MLFLOW)';
  const script = resolve(__dirname, '../../../bench/runs/mlflowSearchRuns.py');
  const mlflowDir = join(dir, 'mlflow');
  mkdirSync(mlflowDir);
  const args = [script, mlflowDir, String(EXPERIMENTS), String(RUNS_TOTAL / EXPERIMENTS), String(POINTS), String(PAGE), '7'];
  const result = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`MLflow peer failed (${result.status}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { mlflow: string; medianMs: number; allMs: number[] };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-tree-'));
  try {
    const store = openStore({ path: join(dir, 'spread', 'mloop.db') });
    const built = performance.now();
    const experimentIds = build(store, EXPERIMENTS);
    const buildMs = Math.round(performance.now() - built);
    const roots = experimentsWithRuns(store);
    if (roots.length !== EXPERIMENTS || roots.some((r) => r.runs !== RUNS_TOTAL / EXPERIMENTS)) throw new Error('wrong experiment counts');
    const check = experimentRunRows(store, experimentIds[0]!, PAGE, primaryMetric);
    const trainRuns = check.runs.filter((r) => r.pipeline === 'train').length;
    if (check.runs.length !== RUNS_TOTAL / EXPERIMENTS || check.primaryValues.size !== trainRuns || check.more) throw new Error('wrong expand result');
    const runIds = check.runs.map((r) => r.runId);
    const repo = new RunRepository(store);

    const rootsTiming = timeIt(() => experimentsWithRuns(store));
    const expand = timeIt((i) => experimentRunRows(store, experimentIds[(i * 37) % EXPERIMENTS]!, PAGE, primaryMetric));
    const hover = timeIt((i) => {
      const runId = runIds[i % runIds.length]!;
      return [repo.get(runId), repo.params(runId), repo.latestMetrics(runId)];
    });
    store.close();

    const single = openStore({ path: join(dir, 'single', 'mloop.db') });
    const [only] = build(single, 1);
    const firstPage = timeIt(() => experimentRunRows(single, only!, PAGE, primaryMetric));
    const fifthPage = timeIt(() => experimentRunRows(single, only!, 5 * PAGE, primaryMetric));
    const singleRoots = timeIt(() => experimentsWithRuns(single));
    single.close();

    const mlflow = mlflowPeer(dir);
    const result = {
      machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`,
      loadAverage: loadavg().map((l) => Math.round(l * 10) / 10),
      runs: RUNS_TOTAL,
      experiments: EXPERIMENTS,
      metricPointsPerRun: 2 * POINTS,
      storeBuildMs: buildMs,
      rootsExperimentsWithRunsMs: rootsTiming,
      expandExperimentFirst200Ms: expand,
      hoverTooltipMs: hover,
      oneExperimentOf10000: { rootsMs: singleRoots, expandFirst200Ms: firstPage, expandAfter4ShowMore1000Ms: fifthPage },
      mlflowSearchRunsOneExperiment200: mlflow,
      ratioMlflowToMloopExpand: typeof mlflow === 'string' ? undefined : Math.round(mlflow.medianMs / expand.medianMs),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
