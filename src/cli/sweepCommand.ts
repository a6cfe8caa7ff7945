import type { Command } from 'commander';
import { primaryMetricOf } from '../core/config/schema';
import { runSweep, SweepError, sweepTrials } from '../core/experiments/sweeps';
import { launchRun } from '../core/runs/launcher';
import { reapOrphanedRuns } from '../core/runs/reap';
import { artifactRootOf } from '../core/store/artifactRoot';
import { openStore } from '../core/store/store';
import { SweepRepository } from '../core/store/sweeps';
import { startTrackingServer } from '../core/tracking/server';
import { CliFailure } from './cliIo';
import { snapshotInputs } from './datasetsCommand';
import { requireProjectConfig, type CommandContext } from './trainCommand';

interface SweepOptions {
  grid: string[];
  random?: string;
  seed?: string;
  parallel?: string;
  resume?: string;
  json?: boolean;
}

const positiveInt = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliFailure(`${flag} expects a whole number ≥ 1, got "${value}"`);
  return n;
};

/** `mloop sweep <pipeline> [--grid k=a,b …] [--random N] [--parallel N] [--json]`: trials queued in the store, each a run tagged with the sweep id. */
export function registerSweepCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'sweep',
        'run a pipeline once per trial of its sweep (mloop.yaml sweep: grid, random or list, or --grid/--random here); trials are queued in the store, each a run tagged mloop.sweep; Ctrl-C cancels (running trials stop, queued ones never start)',
      )
      .argument('<pipeline>', 'pipeline name in mloop.yaml')
      .option(
        '-g, --grid <name=a,b>',
        "a grid over a param instead of the pipeline's sweep (repeatable: every combination)",
        (v: string, p: string[]) => [...p, v],
        [] as string[],
      )
      .option('--random <n>', "draw n trials (from the sweep's random space, or at random from the grid)")
      .option('--seed <n>', "seed of the random draw (default: the sweep's seed, else 0)")
      .option('--parallel <n>', "trials running at once (default: the sweep's max_parallel, else 1)")
      .option('--resume <sweep>', 'run the trials still queued in this sweep (after a restart)')
      .option('--json', 'print the sweep and its trials as JSON on stdout')
      .action((pipelineName: string, options: SweepOptions) => sweep(context, pipelineName, options)),
  );
}

async function sweep(context: CommandContext, pipelineName: string, options: SweepOptions): Promise<void> {
  const { io } = context;
  const { root, config, shownPath } = requireProjectConfig(context, 'sweep');
  const pipeline = config.pipelines[pipelineName];
  if (!pipeline) throw new CliFailure(`no pipeline "${pipelineName}" in ${shownPath}; pipelines: ${Object.keys(config.pipelines).join(', ') || 'none'}`);
  const random = positiveInt('--random', options.random);
  const parallel = positiveInt('--parallel', options.parallel);
  const seed = options.seed === undefined ? undefined : Number(options.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new CliFailure(`--seed expects a whole number, got "${options.seed}"`);

  const storeFile = context.storePath(root);
  const store = openStore({ path: storeFile });
  const controller = new AbortController();
  const onSignal = (): void => {
    io.stderr.write('\nmloop: cancelling the sweep: running trials stop, queued ones will not start…\n');
    controller.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let tracking: Awaited<ReturnType<typeof startTrackingServer>> | undefined;
  try {
    const sweeps = new SweepRepository(store);
    let sweepId: string;
    if (options.resume) {
      const existing = sweeps.get(options.resume);
      if (!existing || existing.pipeline !== pipelineName) throw new CliFailure(`no sweep ${options.resume} of pipeline "${pipelineName}" in the store`);
      sweepId = existing.sweepId;
    } else {
      let trials: Record<string, string>[];
      try {
        trials = sweepTrials(pipelineName, pipeline, {
          grid: options.grid,
          ...(random !== undefined ? { random } : {}),
          ...(seed !== undefined ? { seed } : {}),
        });
      } catch (error) {
        if (error instanceof SweepError) throw new CliFailure(error.message);
        throw error;
      }
      sweepId = sweeps.create(pipelineName, trials, parallel ?? pipeline.sweep?.max_parallel ?? 1).sweepId;
    }
    reapOrphanedRuns(store);
    const total = sweeps.trials(sweepId).length;
    const say = (text: string): void => void (options.json ? io.stderr : io.stdout).write(text);
    say(`mloop: sweep ${sweepId} · pipeline ${pipelineName} · ${total} trials · ${sweeps.get(sweepId)!.maxParallel} at a time\n`);
    const artifactRoot = artifactRootOf(storeFile);
    tracking = await startTrackingServer({ store, artifactRoot, log: (line) => void io.stderr.write(`mloop tracking: ${line}\n`) });
    const endpoint = { uri: tracking.uri, token: tracking.token };
    const inputs = await snapshotInputs(store, { config, pipelineName, pipeline, projectRoot: root, override: undefined, io });
    for (const signal of signals) process.on(signal, onSignal);
    const metric = primaryMetricOf(pipeline);
    const ended = await runSweep({
      store,
      sweepId,
      signal: controller.signal,
      ...(metric ? { primaryMetric: metric } : {}),
      launch: (overrides, tags) =>
        launchRun({
          store,
          projectRoot: root,
          pipelineName,
          pipeline,
          overrides,
          trusted: true, // the user typed this command in their own terminal
          tracking: endpoint,
          artifactRoot,
          inputVersionIds: inputs,
          tags,
          captureEnvironment: false,
        }),
      onTrial: (trial) => {
        const params = Object.entries(trial.params)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        say(`mloop: trial ${trial.ordinal}/${total} ${trial.status.toLowerCase()} · ${params}${trial.runId ? ` · run ${trial.runId.slice(0, 8)}` : ''}\n`);
      },
    });
    const trials = sweeps.trials(sweepId);
    if (options.json) io.stdout.write(`${JSON.stringify({ ...ended, trials }, null, 2)}\n`);
    else say(`mloop: sweep ${sweepId} ${ended.status.toLowerCase()} · ${trials.filter((t) => t.status === 'FINISHED').length}/${total} trials finished\n`);
    if (ended.status !== 'FINISHED') throw new CliFailure(`sweep ${sweepId} ${ended.status.toLowerCase()}`);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    await tracking?.close();
    store.close();
  }
}
