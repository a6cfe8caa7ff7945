import type { MlflowBackend } from '../core/backends/mlflowBackend';
import type { showRemoteRun } from './remoteBackend';
import { type Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { REGISTER_POLICIES, type Config, type RegisterPolicy } from '../core/config/schema';
import { CONFIG_FILE } from '../core/project/init';
import { launchRun, type OutputStream, type RunHandle, type TrackingEndpoint } from '../core/runs/launcher';
import { reapOrphanedRuns } from '../core/runs/reap';
import { ParamError, parseParamOverrides } from '../core/runs/resolveCommand';
import { openStore, type Store } from '../core/store/store';
import { startTrackingServer } from '../core/tracking/server';
import { CliExit, CliFailure, ExitCode, type CliIo } from './cliIo';
import { describeRegistration, registerAfterRun } from './registryCommands';
import { snapshotInputs } from './datasetsCommand';
import { artifactRootOf } from '../core/store/artifactRoot';

/** What a subcommand needs from the program: where the project and store are, and how commands are made. */
export interface CommandContext {
  readonly io: CliIo;
  projectRoot(): string;
  storePath(root: string): string;
  /** A subcommand configured like the others (exit override, output to io); `path` is e.g. "runs show". */
  child(path: string, description: string): Command;
  /** The MLflow server named by --backend mlflow / MLOOP_BACKEND, or undefined for the store. */
  remote?(): MlflowBackend | undefined;
  showRemoteRun?: typeof showRemoteRun;
}

interface TrainOptions {
  param: string[];
  json?: boolean;
  overrideValidation?: string;
  register?: RegisterPolicy;
}

/**
 * `mloop train <pipeline> [--param k=v …] [--json]`: runs a pipeline as a recorded run; exit 0 when it finished (and
 * its model, if registered, passed the gate), 1 when it did not finish, 4 when its registered version failed the gate.
 */
export function registerTrainCommand(program: Command, context: CommandContext): void {
  program.addCommand(
    context
      .child(
        'train',
        'run a pipeline from mloop.yaml as a recorded run (output streams here; Ctrl-C stops it). Exit codes: 0 the run finished (and the model it registered passed its gate), 1 the run failed or was stopped, 4 the run finished but the version it registered failed its release gate',
      )
      .argument('<pipeline>', 'pipeline name in mloop.yaml')
      .option(
        '-p, --param <name=value>',
        'override a param for this run (repeatable)',
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option('--json', "print the outcome as JSON on stdout (the run's output goes to stderr)")
      .option('--override-validation <reason>', 'start even if an input dataset fails its validation rules (the reason is audited)')
      .addOption(
        new Option(
          '--register <policy>',
          "this run's registration policy instead of the pipeline's register: (always: every finished run gets a gated version, as in CI)",
        ).choices(REGISTER_POLICIES),
      )
      .action((pipelineName: string, options: TrainOptions) => train(context, pipelineName, options)),
  );
}

/** The project's mloop.yaml, parsed; its problems go to stderr and stop the command (`verb`: what it was about to do). */
export function requireProjectConfig(context: CommandContext, verb: string): { root: string; config: Config; shownPath: string } {
  const { io } = context;
  const root = context.projectRoot();
  const configPath = join(root, CONFIG_FILE);
  if (!existsSync(configPath)) throw new CliFailure(`no ${CONFIG_FILE} in ${root}: run "mloop init" to write one`);
  const shownPath = relative(io.cwd, configPath) || CONFIG_FILE;
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shownPath);
  for (const problem of problems) io.stderr.write(`${formatProblem(problem)}\n`);
  if (!config) throw new CliFailure(`${shownPath} has errors (above); fix them to ${verb}`);
  return { root, config, shownPath };
}

async function train(context: CommandContext, pipelineName: string, options: TrainOptions): Promise<void> {
  const { io } = context;
  const { root, config, shownPath } = requireProjectConfig(context, 'train');
  const pipeline = config.pipelines[pipelineName];
  if (!pipeline) {
    const names = Object.keys(config.pipelines);
    throw new CliFailure(`no pipeline "${pipelineName}" in ${shownPath}${names.length ? `; pipelines: ${names.join(', ')}` : ': it declares no pipelines'}`);
  }
  let overrides: Record<string, string>;
  try {
    overrides = parseParamOverrides(options.param, pipeline.params);
  } catch (error) {
    if (error instanceof ParamError) throw new CliFailure(`${error.message} (pipeline "${pipelineName}" in ${shownPath})`);
    throw error;
  }

  const storeFile = context.storePath(root);
  const store = openStore({ path: storeFile });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let handle: RunHandle | undefined;
  let stopRequests = 0;
  const onSignal = (): void => {
    stopRequests++;
    io.stderr.write(stopRequests === 1 ? '\nmloop: stopping the run (Ctrl-C again to kill it at once)…\n' : '\nmloop: killing the run\n');
    handle?.stop();
  };
  let tracking: { endpoint: TrackingEndpoint; close(): Promise<void> } | undefined;
  try {
    const reaped = reapOrphanedRuns(store);
    if (reaped.length) io.stderr.write(`mloop: marked ${reaped.length} run(s) left RUNNING by a crashed session as KILLED\n`);
    const artifactRoot = artifactRootOf(storeFile);
    tracking = await startTracking(store, artifactRoot, (line) => void io.stderr.write(`mloop tracking: ${line}\n`));
    const inputs = await snapshotInputs(store, { config, pipelineName, pipeline, projectRoot: root, override: options.overrideValidation, io });
    const target = options.json ? io.stderr : io.stdout;
    const stream = asOutputStream(target);
    for (const signal of signals) process.on(signal, onSignal);
    handle = await launchRun({
      store,
      projectRoot: root,
      pipelineName,
      pipeline,
      overrides,
      trusted: true, // the user typed this command in their own terminal
      tracking: tracking.endpoint,
      artifactRoot,
      inputVersionIds: inputs,
      ...(stream ? { output: stream } : { onOutput: (text: string) => void target.write(text) }),
    });
    if (stopRequests > 0) handle.stop();
    if (!options.json) io.stdout.write(`mloop: run ${handle.runId} started · pipeline ${pipelineName}\n`);
    const outcome = await handle.done;
    const summary = `run ${outcome.runId} ${outcome.status}${outcome.exitCode !== null ? ` (exit code ${outcome.exitCode})` : outcome.signal ? ` (${outcome.signal})` : ''}`;
    const registered = await registerAfterRun({
      store,
      artifactRoot,
      root,
      config,
      pipelineName,
      runId: outcome.runId,
      status: outcome.status,
      ...(options.register ? { policy: options.register } : {}),
    });
    if (options.json) {
      const registration = registered.result
        ? { model: registered.result.modelName, version: registered.result.version.version, gatePassed: registered.result.version.gatePassed }
        : undefined;
      io.stdout.write(
        `${JSON.stringify({ runId: outcome.runId, pipeline: pipelineName, status: outcome.status, exitCode: outcome.exitCode, signal: outcome.signal, logPath: outcome.logPath, ...(registration ? { registered: registration } : {}), ...(registered.skipped ? { notRegistered: registered.skipped.skipped } : {}) }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(`mloop: ${summary} · log ${relative(io.cwd, outcome.logPath)}\n`);
      if (registered.result) io.stdout.write(`mloop: ${describeRegistration(registered.result)}\n`);
      if (registered.skipped)
        io.stdout.write(
          `mloop: ${registered.skipped.modelName} not registered: ${registered.skipped.skipped} · register it anyway: mloop models register ${outcome.runId.slice(0, 8)}\n`,
        );
    }
    if (registered.error) throw new CliFailure(`${summary}, but its model was not registered: ${registered.error}`);
    if (outcome.status !== 'FINISHED') throw new CliFailure(outcome.error ? `${summary}: ${outcome.error}` : summary);
    const gate = registered.result?.gate;
    if (gate && !gate.passed) {
      io.stderr.write(`mloop: ${registered.result!.modelName} v${registered.result!.version.version} failed its release gate (exit ${ExitCode.GateFailed})\n`);
      throw new CliExit(ExitCode.GateFailed);
    }
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    await tracking?.close();
    store.close();
  }
}

/**
 * The in-process MLflow endpoint for the run's duration, so the unchanged `mlflow` client in the
 * script logs into this store.
 */
export async function startTracking(
  store: Store,
  artifactRoot: string,
  log: (line: string) => void,
): Promise<{ endpoint: TrackingEndpoint; close(): Promise<void> }> {
  const server = await startTrackingServer({ store, artifactRoot, log });
  return { endpoint: { uri: server.uri, token: server.token }, close: () => server.close() };
}

/** process.stdout and other Writables report when they are full; the launcher then pauses the run's output. */
function asOutputStream(target: CliIo['stdout']): OutputStream | undefined {
  const candidate = target as Partial<OutputStream> & { writableLength?: unknown };
  return typeof candidate.once === 'function' && typeof candidate.writableLength === 'number' ? (candidate as OutputStream) : undefined;
}
