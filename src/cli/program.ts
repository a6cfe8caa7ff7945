import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describeStorageFailure, StoreError } from '../core/store/errors';
import type { Store } from '../core/store/store';
import type { CiSetup } from '../core/project/ciTemplate';
import { findProjectRoot } from '../core/project/locate';
import { resolveStorePath } from '../core/project/projectFiles';
import { CliExit, CliFailure, type CliIo, ExitCode, openExistingStore } from './cliIo';
import { formatTable } from './format';
import type * as AuditSigning from '../core/governance/auditSigning';
import type { RunsListOptions } from './runsListCommand';
import type { CommandContext } from './trainCommand';
import type * as RemoteBackend from './remoteBackend';

interface GlobalOptions {
  dir?: string;
  store?: string;
  backend?: string;
  trackingUri?: string;
}

/** Parses argv and runs one command; resolves to the process exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = await buildProgram(io, commandNameOf(argv), argv);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return ExitCode.Usage;
  }
  // with --backend mlflow (or MLOOP_BACKEND) what the command adds to the store is published to the team's server
  // when it ends; without, none of that code loads
  const publishing = mayUseRemote(argv)
    ? await Promise.all([import('./teamPublish'), import('./remoteBackend')]).then(([{ publishAfterCommand }, remote]) =>
        publishAfterCommand(program, io, () => teamTarget(remote, program.opts<GlobalOptions>(), io)),
      )
    : undefined;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    await publishing?.done();
    return ExitCode.Ok;
  } catch (error) {
    await publishing?.done();
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
async function writeGithubCi(
  root: string,
  options: { force?: boolean; pipeline?: string; mloopPackage?: string },
): Promise<{ setup: CiSetup; written: readonly string[] }> {
  const [{ CONFIG_FILE }, { formatProblem, loadConfig }, { CiSetupError, ciSetupFrom, writeCiFiles }] = await Promise.all([
    import('../core/project/init'),
    import('../core/config/loadConfig'),
    import('../core/project/ciTemplate'),
  ]);
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
function teamTarget(
  remote: typeof RemoteBackend,
  globals: GlobalOptions,
  io: CliIo,
): { backend: ReturnType<typeof RemoteBackend.remoteBackendFor>; storePath: string; root: string } | undefined {
  const backend = remote.remoteBackendFor(globals);
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

/** The commands program.ts defines itself (their code is small; what they run is imported when they run). */
const INLINE_COMMANDS = ['init', 'status', 'runs', 'datasets', 'models', 'deployments'] as const;

type ProgramContext = CommandContext & { withExistingStore<T>(fn: (store: Store, root: string) => T): T };
interface Parents {
  readonly runs: Command;
  readonly datasets: Command;
  readonly models: Command;
}

/**
 * The other commands, in the order the help lists them: each group's module is imported only when one of the top-level
 * commands it registers (`names`) runs, so `mloop drift` neither compiles nor initialises the code of `mloop deploy`
 * (issue 16). A command missing here still works (registered for every run): test/unit/cli.lazy.test.ts names it.
 */
const COMMAND_GROUPS: readonly {
  readonly names: readonly string[];
  /** Not registered for these `<name> <subcommand>` runs (another group registers that subcommand and its parent's help is not asked). */
  readonly notFor?: { readonly name: string; readonly subcommands: ReadonlySet<string> };
  register(program: Command, parents: Parents, context: ProgramContext): Promise<void>;
}[] = [
  { names: ['audit'], register: async (program, _, c) => (await import('./auditCommands')).registerAuditCommands(program, c) },
  { names: ['requests', 'approve', 'reject'], register: async (program, _, c) => (await import('./approvalCommands')).registerApprovalCommands(program, c) },
  { names: ['team'], register: async (program, _, c) => (await import('./teamCommands')).registerTeamCommands(program, c) },
  { names: ['card'], register: async (program, _, c) => (await import('./cardCommand')).registerCardCommand(program, c) },
  { names: ['evaluate', 'explain', 'importance'], register: async (program, _, c) => (await import('./evaluateCommand')).registerEvaluateCommands(program, c) },
  { names: ['train'], register: async (program, _, c) => (await import('./trainCommand')).registerTrainCommand(program, c) },
  { names: ['repro'], register: async (program, _, c) => (await import('./reproCommand')).registerReproCommand(program, c) },
  { names: ['rerun'], register: async (program, _, c) => (await import('./rerunCommand')).registerRerunCommand(program, c) },
  { names: ['sweep'], register: async (program, _, c) => (await import('./sweepCommand')).registerSweepCommand(program, c) },
  {
    names: ['runs'],
    register: async (_, { runs }, c) => {
      const m = await import('./runsShowCommand');
      m.registerRunsShowCommand(runs, c);
      m.registerRunsDiffCommand(runs, c);
    },
  },
  { names: ['models'], register: async (_, { models }, c) => (await import('./registryCommands')).registerRegistryCommands(models, c) },
  { names: ['server'], register: async (program, _, c) => (await import('./serverCommand')).registerServerCommand(program, c) },
  {
    names: ['datasets', 'validate'],
    // cacheCommands.ts's own subcommands: a checkout does not load the readers, profiles and version recording
    notFor: { name: 'datasets', subcommands: new Set(['checkout', 'push', 'pull']) },
    register: async (program, { datasets }, c) => (await import('./datasetsCommand')).registerDatasetsCommands(datasets, program, c),
  },
  { names: ['datasets', 'gc'], register: async (program, { datasets }, c) => (await import('./cacheCommands')).registerCacheCommands(datasets, program, c) },
  { names: ['lineage'], register: async (program, _, c) => (await import('./lineageCommand')).registerLineageCommand(program, c) },
  {
    names: ['ab', 'deploy', 'rollback', 'restart', 'health', 'shadow', 'undeploy', 'retrain', 'publish'],
    register: async (program, _, c) => (await import('./deployCommands')).registerDeployCommands(program, c),
  },
  { names: ['import'], register: async (program, _, c) => (await import('./importCommand')).registerImportCommand(program, c) },
  { names: ['drift'], register: async (program, _, c) => (await import('./driftCommand')).registerDriftCommand(program, c) },
  { names: ['monitor'], register: async (program, _, c) => (await import('./monitorCommand')).registerMonitorCommand(program, c) },
];

/** Every top-level command name program.ts knows how to load on its own. */
export const LAZY_COMMAND_NAMES: ReadonlySet<string> = new Set([...INLINE_COMMANDS, ...COMMAND_GROUPS.flatMap((g) => g.names)]);

/** Global options that take a value (their value is not the command's name). */
const GLOBAL_VALUE_OPTIONS = new Set(['-C', '--dir', '--store', '--backend', '--tracking-uri']);

/**
 * The word after the top-level command `name` in argv (its subcommand), when no help is asked; undefined otherwise.
 */
export function subcommandOf(argv: readonly string[], name: string): string | undefined {
  if (argv.some((a) => a === '-h' || a === '--help')) return undefined;
  let seen = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (seen) return arg;
    if (arg !== name) return undefined;
    seen = true;
  }
  return undefined;
}

/**
 * The top-level command argv runs, when it is one program.ts can load alone; undefined (load every command) for
 * none, `help`, or an unknown name (commander's "did you mean" needs them all).
 */
export function commandNameOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue; // a flag, --opt=value or -Cfolder
    return LAZY_COMMAND_NAMES.has(arg) ? arg : undefined;
  }
  return undefined;
}

/** `--backend` / MLOOP_BACKEND anywhere: only then can a command read from a tracking server (remoteBackend.ts loads). */
function mayUseRemote(argv: readonly string[]): boolean {
  return process.env.MLOOP_BACKEND !== undefined || argv.some((a) => a === '--backend' || a.startsWith('--backend='));
}

/** `only`: the one top-level command to register (see commandNameOf); undefined registers them all. */
async function buildProgram(io: CliIo, only: string | undefined, argv: readonly string[]): Promise<Command> {
  const wants = (name: string): boolean => only === undefined || only === name;
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
  // audit.sign_with of mloop.yaml: every audit entry a command writes is signed as it is written. The signing code
  // (and the config reader it needs) loads before the action only when mloop.yaml mentions sign_with, so commands of
  // projects that do not sign load none of it.
  let signing: typeof AuditSigning | undefined;
  program.hook('preAction', async () => {
    let root: string;
    try {
      root = projectRoot();
    } catch {
      return; // no project: nothing to sign
    }
    const yaml = ['mloop.yaml', 'mloop.yml'].map((name) => join(root, name)).find((file) => existsSync(file));
    if (yaml && readFileSync(yaml, 'utf8').includes('sign_with')) {
      const [module, config] = await Promise.all([import('../core/governance/auditSigning'), import('../core/config/loadConfig')]);
      module.provideConfigModule(config);
      signing = module;
    }
  });
  const storePath = (root: string): string => {
    const { store } = globals();
    const path = store ? resolve(io.cwd, store) : resolveStorePath(root, process.env.MLOOP_STORE);
    const sign = signing;
    if (sign) sign.signAuditWritesOf(path, () => sign.projectAuditSigner(root));
    return path;
  };
  /** Listings never create a store: they open an existing one read-only. */
  const withExistingStore = <T>(fn: (store: Store, root: string) => T): T => {
    const { store, root } = openExistingStore({ projectRoot, storePath }, { readonly: true });
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

  if (wants('init'))
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
        .action(async (folder: string | undefined, options: { force?: boolean; ci?: 'github'; pipeline?: string; mloopPackage?: string; json?: boolean }) => {
          const root = resolve(io.cwd, folder ?? globals().dir ?? '.');
          if (!existsSync(root)) throw new CliFailure(`cannot initialise ${root}: the folder does not exist`);
          const [{ initProject }, { latestSchemaVersion }] = await Promise.all([import('../core/project/init'), import('../core/store/migrations/list')]);
          const result = initProject(root, { force: options.force && !options.ci, storePath: storePath(root) });
          const ci = options.ci ? await writeGithubCi(root, options) : undefined;
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

  if (wants('status'))
    program.addCommand(
      child('status', 'counts of datasets, runs, models and deployments in the store')
        .option('--json', 'print as JSON')
        .action(async (options: { json?: boolean }) => {
          const { storeCounts } = await import('../core/store/status');
          return withExistingStore((store, root) => {
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
          });
        }),
    );

  // the remote reads' module loads only when a command may ask a tracking server (--backend or MLOOP_BACKEND)
  const remoteModule = mayUseRemote(argv) ? await import('./remoteBackend') : undefined;
  const remote = (): ReturnType<NonNullable<typeof remoteModule>['remoteBackendFor']> => remoteModule?.remoteBackendFor(globals());

  const runs = child('runs', 'training runs');
  if (wants('runs'))
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
          const backend = remote();
          if (backend) return remoteModule!.listRemoteRuns(backend, options, out);
          const { listStoreRuns } = await import('./runsListCommand');
          return withExistingStore((store) => listStoreRuns(store, options, out));
        }),
    );
  if (wants('runs')) program.addCommand(runs);

  const datasets = child('datasets', 'datasets and their versions');
  if (wants('datasets'))
    datasets.addCommand(
      child('datasets list', 'list datasets with their latest version')
        .option('--json', 'print as JSON')
        .action(async (options: { json?: boolean }) => {
          const { DatasetRepository } = await import('../core/store/datasets');
          return withExistingStore((store) => {
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
          });
        }),
    );
  if (wants('datasets')) program.addCommand(datasets);

  const models = child('models', 'registered models and versions');
  if (wants('models'))
    models.addCommand(
      child('models list', 'list models with their versions and aliases')
        .option('--json', 'print as JSON')
        .action(async (options: { json?: boolean }) => {
          const backend = remote();
          if (backend) return remoteModule!.listRemoteModels(backend, options, out);
          const { ModelRepository } = await import('../core/store/models');
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
  if (wants('models')) program.addCommand(models);

  if (wants('deployments')) {
    const deployments = child('deployments', 'deployments of model versions to targets');
    deployments.addCommand(
      child('deployments list', 'list deployments, newest first')
        .option('--json', 'print as JSON')
        .action(async (options: { json?: boolean }) => {
          const { DeploymentRepository } = await import('../core/store/deployments');
          return withExistingStore((store) => {
            const list = new DeploymentRepository(store).list();
            if (options.json) return json(list);
            if (list.length === 0) return out('no deployments yet');
            out(
              formatTable(
                ['id', 'model', 'target', 'strategy', 'traffic', 'status'],
                list.map((d) => [String(d.deploymentId), `${d.modelName} v${d.version}`, d.target, d.strategy, `${d.trafficPercent}%`, d.status]),
              ),
            );
          });
        }),
    );
    program.addCommand(deployments);
  }

  const context: ProgramContext = {
    io,
    child,
    projectRoot,
    storePath,
    remote,
    ...(remoteModule ? { showRemoteRun: remoteModule.showRemoteRun } : {}),
    withExistingStore,
  };
  for (const group of COMMAND_GROUPS) {
    if (!group.names.some(wants)) continue;
    if (group.notFor && only === group.notFor.name && group.notFor.subcommands.has(subcommandOf(argv, only) ?? '')) continue;
    await group.register(program, { runs, datasets, models }, context);
  }
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
