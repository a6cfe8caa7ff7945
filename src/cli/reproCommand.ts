import type { Command } from 'commander';
import { relative } from 'node:path';
import { formatProblem } from '../core/config/loadConfig';
import { repro, ReproConfigError, UnknownStageError, type StageOutcome } from '../core/experiments/repro';
import { loadProjectStages } from '../core/experiments/stages';
import { reapOrphanedRuns } from '../core/runs/reap';
import { artifactRootOf } from '../core/store/artifactRoot';
import { openStore } from '../core/store/store';
import { startTrackingServer } from '../core/tracking/server';
import { CliFailure } from './cliIo';
import type { CommandContext } from './trainCommand';

interface ReproOptions {
  dryRun?: boolean;
  json?: boolean;
}

const LABEL: Record<StageOutcome['outcome'], string> = {
  skipped: 'skipped',
  ran: 'ran',
  failed: 'FAILED',
  'not-run': 'not run',
  'would-run': 'would run',
};

/** `mloop repro [stage] [--dry-run] [--json]`: runs the project's stages in order, skipping the unchanged ones. */
export function registerReproCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'repro',
        'run the stages of mloop.yaml and dvc.yaml in dependency order; a stage whose command, deps, params and outs are unchanged since its last successful run is skipped; the first failure stops the rest (exit 1)',
      )
      .argument('[stage]', 'run this stage and the stages it reads from (default: every stage)')
      .option('-n, --dry-run', 'say what would run and why; start nothing')
      .option('--json', "print the outcome of each stage as JSON on stdout (the stages' output goes to stderr)")
      .action((stage: string | undefined, options: ReproOptions) => reproAction(context, stage, options)),
  );
}

async function reproAction(context: CommandContext, target: string | undefined, options: ReproOptions): Promise<void> {
  const { io } = context;
  const root = context.projectRoot();
  const project = loadProjectStages(root, (path) => relative(io.cwd, path));
  for (const problem of project.problems.filter((p) => p.severity === 'warning')) io.stderr.write(`${formatProblem(problem)}\n`);
  const storeFile = context.storePath(root);
  const store = openStore({ path: storeFile });
  const controller = new AbortController();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const onSignal = (): void => {
    io.stderr.write('\nmloop: stopping the pipeline…\n');
    controller.abort();
  };
  const artifactRoot = artifactRootOf(storeFile);
  let tracking: Awaited<ReturnType<typeof startTrackingServer>> | undefined;
  const say = (text: string): void => void (options.json ? io.stderr : io.stdout).write(text);
  try {
    if (!options.dryRun) reapOrphanedRuns(store);
    for (const signal of signals) process.on(signal, onSignal);
    const result = await repro({
      store,
      project,
      ...(target !== undefined ? { target } : {}),
      dryRun: options.dryRun === true,
      trusted: true, // the user typed this command in their own terminal
      signal: controller.signal,
      artifactRoot,
      // started when the first stage runs: a pipeline with nothing to do opens no port
      tracking: async () => {
        tracking ??= await startTrackingServer({ store, artifactRoot, log: (line) => void io.stderr.write(`mloop tracking: ${line}\n`) });
        return { uri: tracking.uri, token: tracking.token };
      },
      onOutput: (_stage, text) => say(text),
      onStage: ({ stage, index, total, outcome }) => {
        const step = `[${index + 1}/${total}]`;
        if (!outcome) say(`mloop: ${step} ${stage}: running\n`);
        else if (outcome.outcome === 'skipped') say(`mloop: ${step} ${stage}: skipped (unchanged)\n`);
        else say(`mloop: ${step} ${stage}: ${LABEL[outcome.outcome]} (${outcome.reason})${outcome.runId ? ` · run ${outcome.runId.slice(0, 8)}` : ''}\n`);
      },
    });
    if (options.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (!options.dryRun) {
      const ran = result.stages.filter((s) => s.outcome === 'ran').length;
      const skipped = result.stages.filter((s) => s.outcome === 'skipped').length;
      io.stdout.write(
        `mloop: pipeline ${result.status.toLowerCase()} · ${ran} ran, ${skipped} skipped${result.pipelineRunId ? ` · run ${result.pipelineRunId.slice(0, 8)}` : ''}\n`,
      );
    }
    if (result.status !== 'FINISHED') {
      const failed = result.stages.find((s) => s.outcome === 'failed');
      throw new CliFailure(failed ? `stage "${failed.stage}" ${failed.reason}; later stages were not run` : 'the pipeline was stopped');
    }
  } catch (error) {
    if (error instanceof ReproConfigError) {
      for (const problem of error.problems) io.stderr.write(`${formatProblem(problem)}\n`);
      throw new CliFailure(error.message);
    }
    if (error instanceof UnknownStageError) throw new CliFailure(error.message);
    throw error;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    await tracking?.close();
    store.close();
  }
}
