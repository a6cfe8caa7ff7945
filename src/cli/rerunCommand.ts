import { InvalidArgumentError, type Command } from 'commander';
import { ContentStoreError } from '../core/cache/contentStore';
import { reapOrphanedRuns } from '../core/runs/reap';
import { DEFAULT_REPRODUCE_TOLERANCE, ReproduceError, reproduceRun, type ReproduceResult } from '../core/runs/reproduce';
import { findRunByPrefix } from '../core/runs/runDetails';
import { artifactRootOf } from '../core/store/artifactRoot';
import { describeVerdict } from '../core/store/reproductions';
import { formatEnvironmentChange } from '../shared/environmentFacts';
import { CliExit, CliFailure, ExitCode, openExistingStore } from './cliIo';
import { readConfig } from './registryCommands';
import { startTracking, type CommandContext } from './trainCommand';

interface RerunOptions {
  exact?: boolean;
  env?: string;
  tolerance?: number;
  json?: boolean;
}

/** `mloop rerun <run> --exact [--env recreate] [--tolerance x] [--json]`: the run again, exactly, and whether its metrics came back. */
export function registerRerunCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'rerun',
        'run a run again exactly: its commit in a temporary git worktree (your work tree is not touched) with its uncommitted diff, its dataset versions restored from the cache, its params; then every metric is compared with the original. Exit codes: 0 reproduced, 1 it could not be re-run or the rerun failed, 7 a metric differs beyond the tolerance',
      )
      .argument('<run-id>', 'the run id, or a unique prefix of it')
      .option('--exact', 'required: the exact code, data and params of the run (the only kind of rerun this command makes)')
      .option(
        '--env <mode>',
        'current: the Python the run would find today, differences reported (default); recreate: a new venv with the recorded packages from the package index',
        parseEnvMode,
      )
      .option(
        '--tolerance <relative>',
        `largest relative difference of a metric still counted equal (default: reproduces.tolerance in mloop.yaml, else ${DEFAULT_REPRODUCE_TOLERANCE})`,
        parseTolerance,
      )
      .option('--json', "print the verdict as JSON on stdout (the run's output goes to stderr)")
      .action((runIdPrefix: string, options: RerunOptions) => rerun(context, runIdPrefix, options)),
  );
}

async function rerun(context: CommandContext, runIdPrefix: string, options: RerunOptions): Promise<void> {
  const { io } = context;
  if (!options.exact) throw new CliFailure('mloop rerun needs --exact (to run with today\'s code and data, use "mloop train <pipeline> --param …")');
  const root = context.projectRoot();
  const tolerance = options.tolerance ?? readConfig(root)?.reproduces?.tolerance ?? DEFAULT_REPRODUCE_TOLERANCE;
  const { store } = openExistingStore(context, { root });
  const say = (line: string): void => void io.stderr.write(`mloop: ${line}\n`);
  const controller = new AbortController();
  let stop: (() => void) | undefined;
  const onSignal = (): void => {
    say('stopping the rerun');
    controller.abort();
    stop?.();
  };
  let tracking: Awaited<ReturnType<typeof startTracking>> | undefined;
  try {
    const found = findRunByPrefix(store, runIdPrefix);
    if ('problem' in found) throw new CliFailure(found.problem);
    reapOrphanedRuns(store);
    tracking = await startTracking(store, artifactRootOf(store.path), (line) => say(`tracking: ${line}`));
    process.on('SIGINT', onSignal);
    const target = options.json ? io.stderr : io.stdout;
    const result = await reproduceRun({
      store,
      projectRoot: root,
      runId: found.runId,
      trusted: true, // the user typed this command in their own terminal
      tolerance,
      env: options.env === 'recreate' ? 'recreate' : 'current',
      tracking: tracking.endpoint,
      onOutput: (text) => void target.write(text),
      onProgress: say,
      onStarted: (handle) => (stop = () => handle.stop()),
      signal: controller.signal,
    });
    if (options.json) io.stdout.write(`${JSON.stringify(toJson(result), null, 2)}\n`);
    else io.stdout.write(`${formatResult(result)}\n`);
    if (result.reproduction.verdict === 'failed') throw new CliExit(ExitCode.Failure);
    if (result.reproduction.verdict === 'differs') throw new CliExit(ExitCode.NotReproduced);
  } catch (error) {
    if (error instanceof ReproduceError || error instanceof ContentStoreError) throw new CliFailure(error.message);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    await tracking?.close();
    store.close();
  }
}

function toJson(r: ReproduceResult): unknown {
  const { reproduction } = r;
  return {
    originalRunId: reproduction.originalRunId,
    runId: reproduction.runId,
    status: r.outcome.status,
    verdict: reproduction.verdict,
    reproduced: reproduction.verdict === 'reproduced',
    tolerance: reproduction.tolerance,
    commit: r.commit,
    diffApplied: r.diffApplied,
    restored: r.restored,
    metrics: reproduction.metrics,
    differing: reproduction.metrics.filter((m) => !m.within).map((m) => m.key),
    environmentChanges: reproduction.environment.map((c) => ({ ...c, text: formatEnvironmentChange(c) })),
    notes: reproduction.notes,
    logPath: r.outcome.logPath,
  };
}

function formatResult(r: ReproduceResult): string {
  const { reproduction } = r;
  const lines = [`run ${reproduction.runId} reproduces ${reproduction.originalRunId.slice(0, 8)}: ${describeVerdict(reproduction)}`];
  for (const m of reproduction.metrics) {
    const diff = m.relativeDifference === null ? 'missing on one side' : `relative difference ${m.relativeDifference.toExponential(2)}`;
    lines.push(`  ${m.within ? '✓' : '✗'} ${m.key}: ${m.original ?? '—'} → ${m.rerun ?? '—'} (${diff})`);
  }
  if (reproduction.environment.length)
    lines.push(
      `environment differences: ${reproduction.environment.slice(0, 20).map(formatEnvironmentChange).join('; ')}${reproduction.environment.length > 20 ? '; …' : ''}`,
    );
  for (const note of reproduction.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function parseEnvMode(value: string): string {
  if (value !== 'current' && value !== 'recreate') throw new InvalidArgumentError('expected current or recreate.');
  return value;
}

function parseTolerance(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of at least 0, e.g. 1e-6.');
  return n;
}
