import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { DatasetRepository } from '../core/store/datasets';
import { DeploymentRepository } from '../core/store/deployments';
import { describeStorageFailure, StoreError } from '../core/store/errors';
import { ModelRepository } from '../core/store/models';
import { storeCounts } from '../core/store/status';
import { openStore, type Store } from '../core/store/store';
import { latestSchemaVersion } from '../core/store/migrations/list';
import { CONFIG_FILE, initProject } from '../core/project/init';
import { CiSetupError, ciSetupFrom, writeCiFiles, type CiSetup } from '../core/project/ciTemplate';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { findProjectRoot, resolveStorePath } from '../core/project/locate';
import { CliExit, CliFailure, ExitCode, type CliIo } from './cliIo';
import { formatTable } from './format';
import { registerRegistryCommands } from './registryCommands';
import { registerDatasetsCommands } from './datasetsCommand';
import { registerCacheCommands } from './cacheCommands';
import { registerLineageCommand } from './lineageCommand';
import { registerDriftCommand } from './driftCommand';
import { registerMonitorCommand } from './monitorCommand';
import { registerRunsDiffCommand, registerRunsShowCommand } from './runsShowCommand';
import { listStoreRuns, type RunsListOptions } from './runsListCommand';
import { registerServerCommand } from './serverCommand';
import { registerTrainCommand } from './trainCommand';
import { registerAuditCommands } from './auditCommands';
import { registerApprovalCommands } from './approvalCommands';
import { registerCardCommand } from './cardCommand';
import { registerEvaluateCommands } from './evaluateCommand';
import { registerReproCommand } from './reproCommand';
import { registerRerunCommand } from './rerunCommand';
import { registerSweepCommand } from './sweepCommand';
import { registerDeployCommands } from './deployCommands';
import { registerImportCommand } from './importCommand';
import { registerTeamCommands } from './teamCommands';
import { publishAfterCommand } from './teamPublish';
import { listRemoteModels, listRemoteRuns, remoteBackendFor, showRemoteRun } from './remoteBackend';

interface GlobalOptions {
  dir?: string;
  store?: string;
  backend?: string;
  trackingUri?: string;
}

/** Parses argv and runs one command; resolves to the process exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return ExitCode.Usage;
  }
  const publishing = publishAfterCommand(program, io, () => teamTarget(program.opts<GlobalOptions>(), io));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    await publishing.done();
    return ExitCode.Ok;
  } catch (error) {
    await publishing.done();
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every parse problem (and help shown for a missing subcommand) is a usage error
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? ExitCode.Ok : ExitCode.Usage;
    }
    if (error instanceof CliExit) return error.code;
    if (error instanceof CliFailure || error instanceof StoreError) {
      io.stderr.write(`mloop: ${error.message}\n`);
      return ExitCode.Failure;
    }
    // a full, read-only or damaged disk is the user's to fix, not an internal error with a stack trace
    const failure = describeStorageFailure(error, storeFileFor(program.opts<GlobalOptions>(), io));
    if (failure) {
      io.stderr.write(`mloop: ${failure.problem}: ${(error as Error).message}. ${failure.remedy.charAt(0).toUpperCase()}${failure.remedy.slice(1)}.\n`);
      return ExitCode.Failure;
    }
    throw error;
  }
}

/** `mloop init --ci github`: the CI files for the pipeline mloop.yaml declares; refuses to overwrite without --force. */
function writeGithubCi(root: string, options: { force?: boolean; pipeline?: string; mloopPackage?: string }): { setup: CiSetup; written: readonly string[] } {
  const configPath = resolve(root, CONFIG_FILE);
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), configPath);
  if (!config) throw new CliFailure(`${configPath} has errors; fix them before writing CI files:\n${problems.map(formatProblem).join('\n')}`);
  try {
    const setup = ciSetupFrom(config, configPath, options.pipeline);
    return {
      setup,
      ...writeCiFiles(root, setup, {
        force: options.force,
        mloopVersion: MLOOP_VERSION,
        ...(options.mloopPackage ? { mloopPackage: options.mloopPackage } : {}),
      }),
    };
  } catch (error) {
    if (error instanceof CiSetupError) throw new CliFailure(error.message);
    throw error;
  }
}

/** With --backend mlflow: the server and the store whose changes a command publishes to it. */
function teamTarget(globals: GlobalOptions, io: CliIo): { backend: ReturnType<typeof remoteBackendFor>; storePath: string; root: string } | undefined {
  const backend = remoteBackendFor(globals);
  const root = globals.dir ? resolve(io.cwd, globals.dir) : findProjectRoot(io.cwd);
  if (!backend || !root) return undefined;
  return { backend, root, storePath: globals.store ? resolve(io.cwd, globals.store) : resolveStorePath(root, process.env.MLOOP_STORE) };
}

/** The store a command was working on, for an error message (best effort: the command may have named another). */
function storeFileFor(globals: GlobalOptions, io: CliIo): string {
  if (globals.store) return resolve(io.cwd, globals.store);
  const root = globals.dir ? resolve(io.cwd, globals.dir) : findProjectRoot(io.cwd);
  return root ? resolveStorePath(root, process.env.MLOOP_STORE) : 'the mloop store';
}

function buildProgram(io: CliIo): Command {
  const out = (text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

  const program = new Command('mloop')
    .description('The ML lifecycle from the terminal: the same store and core as the mloop VS Code extension.')
    .version(MLOOP_VERSION, '-V, --version')
    .option('-C, --dir <folder>', 'project folder (default: the nearest folder with mloop.yaml or .mloop/ at or above the current one)')
    .option('--store <file>', 'store file (default: <project>/.mloop/mloop.db)')
    .option(
      '--backend <kind>',
      'embedded (the store) or mlflow (a tracking server) for runs list/show, models list and lineage (default: MLOOP_BACKEND or embedded)',
    )
    .option('--tracking-uri <uri>', 'the MLflow tracking server with --backend mlflow (default: MLFLOW_TRACKING_URI; token: MLFLOW_TRACKING_TOKEN)')
    .showHelpAfterError('(run "mloop --help" or "mloop <command> --help" for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const projectRoot = (): string => {
    const { dir } = globals();
    if (dir) return resolve(io.cwd, dir);
    const found = findProjectRoot(io.cwd);
    if (!found) throw new CliFailure(`no mloop project at or above ${io.cwd} (no mloop.yaml or .mloop/). Run "mloop init" first, or pass --dir.`);
    return found;
  };
  const storePath = (root: string): string => {
    const { store } = globals();
    return store ? resolve(io.cwd, store) : resolveStorePath(root, process.env.MLOOP_STORE);
  };
  /** Listings never create a store: they open an existing one read-only. */
  const withExistingStore = <T>(fn: (store: Store, root: string) => T): T => {
    const root = projectRoot();
    const path = storePath(root);
    if (!existsSync(path)) throw new CliFailure(`no store at ${path}. Run "mloop init" in ${root} to create it.`);
    const store = openStore({ path, readonly: true });
    try {
      return fn(store, root);
    } finally {
      store.close();
    }
  };
  /** `path` is the full command path ("runs list") so error hints name the exact command. */
  const child = (path: string, description: string): Command =>
    new Command(path.split(' ').pop()!)
      .description(description)
      .exitOverride()
      .showHelpAfterError(`(run "mloop ${path} --help" for usage)`)
      .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });

  program.addCommand(
    child(
      'init',
      'write a commented mloop.yaml and create the store in .mloop/; with --ci github, also a GitHub Actions workflow and the script it runs (validate, train, release gate, prediction tests, drift, model card diff)',
    )
      .argument('[folder]', 'project folder (default: --dir or the current folder)')
      .option('-f, --force', 'overwrite an existing mloop.yaml (with --ci: overwrite the CI files instead; mloop.yaml is kept)')
      .addOption(new Option('--ci <provider>', 'write .github/workflows/mloop.yml (at the git repository root) and scripts/mloop-ci.sh').choices(['github']))
      .option('--pipeline <name>', 'with --ci: the pipeline CI trains (default: the first with a model: section)')
      .option(
        '--mloop-package <spec>',
        'with --ci: the npm install spec CI installs the mloop CLI from (e.g. ./mloop-0.1.0.tgz from npm pack; mloop is not on the public registry); else the repository variable MLOOP_PACKAGE',
      )
      .option('--json', 'print the result as JSON')
      .action((folder: string | undefined, options: { force?: boolean; ci?: 'github'; pipeline?: string; mloopPackage?: string; json?: boolean }) => {
        const root = resolve(io.cwd, folder ?? globals().dir ?? '.');
        if (!existsSync(root)) throw new CliFailure(`cannot initialise ${root}: the folder does not exist`);
        const result = initProject(root, { force: options.force && !options.ci, storePath: storePath(root) });
        const ci = options.ci ? writeGithubCi(root, options) : undefined;
        if (options.json) return json(ci ? { ...result, ci } : result);
        const rel = (p: string): string => relative(io.cwd, p) || '.';
        out(
          result.configWritten
            ? `wrote ${rel(result.configPath)}`
            : `kept existing ${rel(result.configPath)}${options.ci ? '' : ' (use --force to overwrite)'}`,
        );
        out(`store ready at ${rel(result.storePath)} (schema ${latestSchemaVersion})`);
        if (ci) {
          for (const file of ci.written) out(`wrote ${rel(file)}`);
          if (!options.mloopPackage)
            out(
              'CI installs the mloop CLI from the repository variable MLOOP_PACKAGE (an npm install spec, e.g. a tarball from npm pack): set it, or re-run with --mloop-package <spec> --force',
            );
          out(
            `CI trains pipeline "${ci.setup.pipeline}", gates ${ci.setup.model}${ci.setup.current ? ` and checks ${ci.setup.current} for drift against the champion's data` : ''}`,
          );
        }
      }),
  );

  program.addCommand(
    child('status', 'counts of datasets, runs, models and deployments in the store')
      .option('--json', 'print as JSON')
      .action((options: { json?: boolean }) =>
        withExistingStore((store, root) => {
          const counts = storeCounts(store);
          if (options.json) return json({ project: root, store: store.path, schemaVersion: store.schemaVersion, ...counts });
          out(`project   ${root}\nstore     ${store.path} (schema ${store.schemaVersion})`);
          out(
            formatTable(
              ['what', 'count'],
              [
                ['datasets', `${counts.datasets} (${counts.datasetVersions} versions)`],
                ['runs', `${counts.runs} (${counts.runningRuns} running) in ${counts.experiments} experiments`],
                ['models', `${counts.models} (${counts.modelVersions} versions)`],
                ['deployments', String(counts.deployments)],
              ],
            ),
          );
        }),
      ),
  );

  const runs = child('runs', 'training runs');
  runs.addCommand(
    child('runs list', 'list runs, newest first, or filtered and ordered with MLflow search syntax')
      .option('--json', 'print as JSON')
      .option('-e, --experiment <name>', 'only the runs of this experiment')
      .option('-f, --filter <filter>', 'an MLflow filter, e.g. "metrics.accuracy > 0.8 and params.max_depth = \'8\'"')
      .option('-o, --order-by <keys>', 'order keys separated by commas, e.g. "metrics.accuracy DESC, params.lr" (default: newest first)')
      .option('-c, --columns <names>', 'columns to show, e.g. metrics.accuracy,params.max_depth (default: those the filter and order use)')
      .option('-m, --max <count>', 'at most this many runs', parseCount)
      .option('-n, --limit <count>', 'the same as --max', parseCount)
      .action(async (options: RunsListOptions) => {
        const remote = remoteBackendFor(globals());
        if (remote) return listRemoteRuns(remote, options, out);
        return withExistingStore((store) => listStoreRuns(store, options, out));
      }),
  );
  program.addCommand(runs);

  const datasets = child('datasets', 'datasets and their versions');
  datasets.addCommand(
    child('datasets list', 'list datasets with their latest version')
      .option('--json', 'print as JSON')
      .action((options: { json?: boolean }) =>
        withExistingStore((store) => {
          const repo = new DatasetRepository(store);
          const list = repo.list().map((d) => ({ ...d, versions: repo.versions(d.datasetId) }));
          if (options.json) return json(list);
          if (list.length === 0) return out('no datasets yet');
          out(
            formatTable(
              ['dataset', 'uri', 'versions', 'latest', 'rows'],
              list.map((d) => [d.name, d.uri, String(d.versions.length), d.versions[0]?.digest.slice(0, 12) ?? '', String(d.versions[0]?.rowCount ?? '')]),
            ),
          );
        }),
      ),
  );
  program.addCommand(datasets);

  const models = child('models', 'registered models and versions');
  models.addCommand(
    child('models list', 'list models with their versions and aliases')
      .option('--json', 'print as JSON')
      .action(async (options: { json?: boolean }) => {
        const remote = remoteBackendFor(globals());
        if (remote) return listRemoteModels(remote, options, out);
        return withExistingStore((store) => {
          const repo = new ModelRepository(store);
          const list = repo.list().map((m) => ({ ...m, versions: repo.versions(m.modelId) }));
          if (options.json) return json(list);
          if (list.length === 0) return out('no models yet');
          out(
            formatTable(
              ['model', 'versions', 'aliases'],
              list.map((m) => [m.name, String(m.versions.length), m.versions.flatMap((v) => v.aliases.map((a) => `${a}→v${v.version}`)).join(' ')]),
            ),
          );
        });
      }),
  );
  program.addCommand(models);

  const deployments = child('deployments', 'deployments of model versions to targets');
  deployments.addCommand(
    child('deployments list', 'list deployments, newest first')
      .option('--json', 'print as JSON')
      .action((options: { json?: boolean }) =>
        withExistingStore((store) => {
          const list = new DeploymentRepository(store).list();
          if (options.json) return json(list);
          if (list.length === 0) return out('no deployments yet');
          out(
            formatTable(
              ['id', 'model', 'target', 'strategy', 'traffic', 'status'],
              list.map((d) => [String(d.deploymentId), `${d.modelName} v${d.version}`, d.target, d.strategy, `${d.trafficPercent}%`, d.status]),
            ),
          );
        }),
      ),
  );
  program.addCommand(deployments);

  const context = { io, child, projectRoot, storePath, remote: () => remoteBackendFor(globals()), showRemoteRun };
  registerAuditCommands(program, { ...context, withExistingStore });
  registerApprovalCommands(program, context);
  registerTeamCommands(program, context);
  registerCardCommand(program, { ...context, withExistingStore });
  registerEvaluateCommands(program, context);
  registerTrainCommand(program, context);
  registerReproCommand(program, context);
  registerRerunCommand(program, context);
  registerSweepCommand(program, context);
  registerRunsShowCommand(runs, context);
  registerRunsDiffCommand(runs, context);
  registerRegistryCommands(models, context);
  registerServerCommand(program, context);
  registerDatasetsCommands(datasets, program, context);
  registerCacheCommands(datasets, program, context);
  registerLineageCommand(program, context);
  registerDeployCommands(program, context);
  registerImportCommand(program, context);
  registerDriftCommand(program, context);
  registerMonitorCommand(program, context);
  return program;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  }
  return n;
}

declare const MLOOP_VERSION_DEFINE: string | undefined;
/** Injected by the bundler from package.json; "dev" when running unbundled. */
const MLOOP_VERSION: string = typeof MLOOP_VERSION_DEFINE === 'string' ? MLOOP_VERSION_DEFINE : 'dev';
