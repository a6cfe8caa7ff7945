// mloop monitor at scale (issue 17), on a project bench/monitoring/make_data.py writes:
//  1. `mloop monitor --once --no-store --json` as a child process (whole process: start, every check, exit) —
//     wall, user + system CPU and peak RSS from /usr/bin/time;
//  2. in process, interleaved run by run with the peers of bench/monitoring/peers.py (a long-lived Python child,
//     imports done before the first request, so both sides are timed with their code loaded):
//     - CBPE: mloop's computeEstimatedPerformance reading reference.csv and the predictions log, against
//       NannyML's CBPE after pandas reads the same two files (both: read + fit + estimate per month);
//     - groups: mloop's joinLabels + computeFairness reading the predictions and labels, against pandas reading
//       and merging them and fairlearn's MetricFrame per month and overall, for sex and island.
// usage: node out/bench/monitoring/monitorBench.js <project> [runs=3]   (MLOOP_BENCH_SKIP_CLI=1 skips part 1, MLOOP_BENCH_SKIP_PEERS=1 part 2,
//        MLOOP_BENCH_ONLY=cbpe, cbpeCompute or groups runs one comparison of part 2; cbpeCompute is CBPE's fit and
//        estimate alone on both sides, the inputs read before the clock starts; MLOOP_BENCH_COMPUTE_RUNS: its runs,
//        default `runs`; MLOOP_BENCH_WARMUPS: its warm-up calls on each side, default 3). cbpeCompute also times the
//        fit and the estimate apart on both sides (mloop's halves in a second pass after the timed whole): NannyML's
//        fit also estimates the reference's own chunks and their realised metrics for its alert thresholds, work
//        mloop's fit does not do, so the estimate alone is the part where both sides do exactly the same work.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { computeEstimatedPerformance, estimateFromFit, fitReference, scoreLog } from '../../src/core/monitoring/estimatedPerformance';
import { computeFairness } from '../../src/core/monitoring/fairness';
import { joinLabels, readPredictionLog, type PredictionLog } from '../../src/core/monitoring/labels';

const project = resolve(process.argv[2] ?? '.');
const RUNS = Number(process.argv[3] ?? 3);
const cli = resolve(__dirname, '../../../dist/cli.js');

type Comparison = 'cbpe' | 'cbpeCompute' | 'groups';

interface Timing {
  readonly wallMs: number;
  readonly cpuMs: number;
}

const mid = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) / 2;
  return (sorted[Math.floor(h)]! + sorted[Math.ceil(h)]!) / 2;
};

async function timed(fn: () => Promise<unknown>): Promise<Timing & { result: unknown }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await fn();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, result };
}

const logOptions = {
  predictions: join(project, 'logs/predictions.csv'),
  idColumn: 'id',
  predictionColumn: 'predicted',
  probabilityPrefix: 'proba_',
  timeColumn: 'time',
  window: 'monthly' as const,
  baseDir: project,
};

const part = (t: Timing): Timing => ({ wallMs: t.wallMs, cpuMs: t.cpuMs });

let computeInputs: { log: PredictionLog; reference: PredictionLog } | undefined;

const mloop = {
  cbpe: () =>
    computeEstimatedPerformance({
      log: logOptions,
      reference: join(project, 'reference.csv'),
      labelColumn: 'label',
      config: { reference: 'reference.csv' },
      minRows: 30,
    }),
  /** CBPE alone: fit and estimate on the log and reference read before the clock starts (the peer's cbpeCompute likewise). */
  cbpeCompute: async () => {
    const read = (computeInputs ??= {
      log: await readPredictionLog(logOptions),
      reference: await readPredictionLog({
        ...logOptions,
        predictions: join(project, 'reference.csv'),
        labelColumn: 'label',
        timeColumn: undefined,
        window: undefined,
      }),
    });
    const whole = await timed(() =>
      computeEstimatedPerformance({
        log: logOptions,
        read: read.log,
        referenceRead: read.reference,
        reference: join(project, 'reference.csv'),
        labelColumn: 'label',
        config: { reference: 'reference.csv' },
        minRows: 30,
      }),
    );
    // the two halves computeEstimatedPerformance runs, timed apart (without labels there are no realised values to add)
    let fitted: ReturnType<typeof fitReference> | undefined;
    const fit = await timed(async () => (fitted = fitReference(read.reference, join(project, 'reference.csv'), 'auto')));
    const estimate = await timed(async () =>
      estimateFromFit(fitted!, scoreLog(read.log), {
        reference: join(project, 'reference.csv'),
        probabilityPrefix: 'proba_',
        config: { reference: 'reference.csv' },
        minRows: 30,
      }),
    );
    return { ...whole, parts: { fit: part(fit), estimate: part(estimate) } };
  },
  groups: async () => {
    const joined = await joinLabels({ ...logOptions, labels: join(project, 'logs/labels.csv'), labelColumn: 'label', groups: ['sex', 'island'] });
    return computeFairness(joined, {});
  },
};

class Peers {
  private readonly lines: AsyncIterator<string>;
  constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }
  async next(): Promise<Record<string, unknown>> {
    const line = await this.lines.next();
    if (line.done) throw new Error(`the peers exited (${this.child.exitCode})`);
    return JSON.parse(line.value) as Record<string, unknown>;
  }
  async call(what: Comparison): Promise<Timing & Record<string, unknown>> {
    this.child.stdin.write(`${what}\n`);
    return (await this.next()) as Timing & Record<string, unknown>;
  }
  close(): void {
    this.child.stdin.end();
  }
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { project, cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, runs: RUNS };
  if (process.env.MLOOP_BENCH_SKIP_CLI !== '1') {
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, cli, 'monitor', '--once', '--no-store', '--json'], {
        cwd: project,
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      const [wall, user, system, rssKb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
      const json = JSON.parse(r.stdout) as { models: { errors: unknown[] }[] };
      if (json.models.some((m) => m.errors.length > 0)) throw new Error(`mloop monitor reported errors: ${JSON.stringify(json.models.map((m) => m.errors))}`);
      runs.push({ wallS: wall!, cpuS: user! + system!, peakMb: rssKb! / 1024, exit: r.status, load: loadavg()[0] });
      console.error(`cli run ${run + 1}: ${JSON.stringify(runs.at(-1))}`);
    }
    out.cli = { runs, median: { wallS: mid(runs.map((r) => r.wallS)), cpuS: mid(runs.map((r) => r.cpuS)), peakMb: mid(runs.map((r) => r.peakMb)) } };
  }
  if (process.env.MLOOP_BENCH_SKIP_PEERS === '1') {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  const child = spawn('python3', [resolve(__dirname, '../../../bench/monitoring/peers.py'), project], { stdio: ['pipe', 'pipe', 'inherit'] });
  const peers = new Peers(child);
  out.peerVersions = await peers.next();
  const only = process.env.MLOOP_BENCH_ONLY;
  for (const what of (['cbpe', 'cbpeCompute', 'groups'] as const).filter((w) => !only || w === only)) {
    // warm-ups, each side in turn: one for the comparisons with reads; CBPE's compute alone, a few tens of ms, is
    // still paying V8's optimizing compiles (on its background threads, in the process's CPU time) in its first
    // calls, so it gets MLOOP_BENCH_WARMUPS (default 3) on both sides
    const warmups = what === 'cbpeCompute' ? Number(process.env.MLOOP_BENCH_WARMUPS ?? 3) : 1;
    for (let w = 0; w < warmups; w++) {
      await mloop[what]();
      await peers.call(what);
    }
    const runs = [];
    const count = what === 'cbpeCompute' ? Number(process.env.MLOOP_BENCH_COMPUTE_RUNS ?? RUNS) : RUNS;
    for (let run = 0; run < count; run++) {
      // cbpeCompute times itself (its inputs are read before its clock starts)
      const ours = what === 'cbpeCompute' ? ((await mloop.cbpeCompute()) as Timing & { result: unknown }) : await timed(mloop[what]);
      const oursLoad = loadavg()[0]!;
      const theirs = await peers.call(what);
      const oursParts = (ours as { parts?: unknown }).parts;
      runs.push({
        mloop: { wallMs: ours.wallMs, cpuMs: ours.cpuMs, load: oursLoad, ...(oursParts ? { parts: oursParts as Record<'fit' | 'estimate', Timing> } : {}) },
        peer: {
          wallMs: theirs.wallMs,
          cpuMs: theirs.cpuMs,
          load: loadavg()[0]!,
          ...(theirs.parts ? { parts: theirs.parts as Record<'fit' | 'estimate', Timing> } : {}),
        },
      });
      console.error(`${what} run ${run + 1}: ${JSON.stringify(runs.at(-1))}`);
      if (run === 0) out[`${what}Check`] = { mloop: summary(what, ours.result), peer: { ...theirs, wallMs: undefined, cpuMs: undefined, parts: undefined } };
    }
    const m = { wallMs: mid(runs.map((r) => r.mloop.wallMs)), cpuMs: mid(runs.map((r) => r.mloop.cpuMs)) };
    const p = { wallMs: mid(runs.map((r) => r.peer.wallMs)), cpuMs: mid(runs.map((r) => r.peer.cpuMs)) };
    out[what] = { runs, median: { mloop: m, peer: p, ratioWall: p.wallMs / m.wallMs, ratioCpu: p.cpuMs / m.cpuMs } };
    if (what === 'cbpeCompute') {
      const partMedian = (name: 'fit' | 'estimate') => {
        const of = (who: 'mloop' | 'peer', clock: keyof Timing) => mid(runs.map((r) => r[who].parts![name][clock]));
        const [mw, mc, pw, pc] = [of('mloop', 'wallMs'), of('mloop', 'cpuMs'), of('peer', 'wallMs'), of('peer', 'cpuMs')];
        return { mloop: { wallMs: mw, cpuMs: mc }, peer: { wallMs: pw, cpuMs: pc }, ratioWall: pw / mw, ratioCpu: pc / mc };
      };
      out.cbpeComputeParts = { fit: partMedian('fit'), estimate: partMedian('estimate') };
      console.error(`cbpeCompute parts (medians): ${JSON.stringify(out.cbpeComputeParts)}`);
    }
  }
  peers.close();
  console.log(JSON.stringify(out, null, 2));
}

/** What mloop computed, in the shape the peer prints, to check both did the same work. */
function summary(what: Comparison, result: unknown): unknown {
  if (what === 'cbpe' || what === 'cbpeCompute') {
    const r = result as Awaited<ReturnType<typeof mloop.cbpe>>;
    return { windows: r.windows.length, accuracy: r.windows.map((w) => w.metrics.accuracy?.value) };
  }
  const r = result as Awaited<ReturnType<typeof mloop.groups>>;
  const sex = r.columns.find((c) => c.column === 'sex')!;
  return {
    windows: (r as unknown as { windows?: unknown[] }).windows?.length,
    overall_sex: { demographic_parity_difference: sex.demographic_parity_difference, equalized_odds_difference: sex.equalized_odds_difference },
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
