import type { Command } from 'commander';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { isMap, parseDocument, type YAMLMap } from 'yaml';
import { formatProblem, loadConfig } from '../core/config/loadConfig';
import { DATASET_FORMATS, type Config, type DatasetDeclaration, type Pipeline } from '../core/config/schema';
import { describeColumn, profileDataset, type DatasetProfile } from '../core/datasets/profile';
import { DatasetReadError, detectFormat, type DatasetFileFormat } from '../core/datasets/readers';
import { formatValidationReport, type ValidationReport } from '../core/datasets/validate';
import { DatasetGateError, gateRunInputs, snapshotDataset, storedProfile, validateVersion, type Snapshot } from '../core/datasets/versions';
import { CONFIG_FILE } from '../core/project/init';
import { DatasetCacheRepository } from '../core/store/datasetCache';
import { DatasetRepository } from '../core/store/datasets';
import { openStore, type Store } from '../core/store/store';
import { CliFailure, type CliIo, openExistingStore } from './cliIo';
import { formatTable, formatTime } from './format';
import type { CommandContext } from './trainCommand';

/**
 * The run-start gate for `mloop train`: snapshots and validates the pipeline's inputs; a failing rule
 * stops the start unless `override` gives a reason (audited). Returns the version ids to pin to the run.
 */
export async function snapshotInputs(
  store: Store,
  options: { config: Config; pipelineName: string; pipeline: Pipeline; projectRoot: string; override: string | undefined; io: CliIo },
): Promise<number[]> {
  try {
    return await gateRunInputs(store, {
      config: options.config,
      pipelineName: options.pipelineName,
      pipeline: options.pipeline,
      projectRoot: options.projectRoot,
      ...(options.override !== undefined ? { override: { reason: options.override } } : {}),
      onProgress: (message) => void options.io.stderr.write(`mloop: ${message}\n`),
    });
  } catch (error) {
    throw asCliFailure(error);
  }
}

const shortDigest = (digest: string): string => digest.slice(0, 12);

function asCliFailure(error: unknown): unknown {
  if (error instanceof DatasetGateError) return new CliFailure(error.message);
  if (error instanceof DatasetReadError) return new CliFailure(error.message);
  if (error instanceof Error && error.name === 'UndeclaredInputError') return new CliFailure(error.message);
  return error;
}

interface Project {
  readonly root: string;
  readonly configPath: string;
  readonly shownPath: string;
  readonly config: Config;
}

function loadProject(context: CommandContext): Project {
  const root = context.projectRoot();
  const configPath = join(root, CONFIG_FILE);
  if (!existsSync(configPath)) throw new CliFailure(`no ${CONFIG_FILE} in ${root}: run "mloop init" to write one`);
  const shownPath = relative(context.io.cwd, configPath) || CONFIG_FILE;
  const { config, problems } = loadConfig(readFileSync(configPath, 'utf8'), shownPath);
  for (const problem of problems) context.io.stderr.write(`${formatProblem(problem)}\n`);
  if (!config) throw new CliFailure(`${shownPath} has errors (above); fix them first`);
  return { root, configPath, shownPath, config };
}

/** The project when there is one with a mloop.yaml (a plain path works without). */
function optionalProject(context: CommandContext): Project | undefined {
  let root: string;
  try {
    root = context.projectRoot();
  } catch {
    return undefined;
  }
  return existsSync(join(root, CONFIG_FILE)) ? loadProject(context) : undefined;
}

function declared(project: Project, name: string): DatasetDeclaration {
  const declaration = project.config.datasets[name];
  if (declaration) return declaration;
  const names = Object.keys(project.config.datasets);
  throw new CliFailure(`no dataset "${name}" in ${project.shownPath}${names.length ? `; datasets: ${names.join(', ')}` : ': it declares no datasets'}`);
}

async function withStore<T>(context: CommandContext, root: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore({ path: context.storePath(root) });
  try {
    return await fn(store);
  } catch (error) {
    throw asCliFailure(error);
  } finally {
    store.close();
  }
}

/** Ctrl-C cancels a long read cleanly (nothing half-written: versions are written after reading). */
function cancellable(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  return { signal: controller.signal, dispose: () => void process.off('SIGINT', onSignal) };
}

function printProfile(out: (text: string) => void, title: string, profile: DatasetProfile): void {
  out(`${title}: ${profile.rows.toLocaleString('en-US')} rows, ${profile.columns.length} columns`);
  out(
    formatTable(
      ['column', 'type', 'nulls', 'profile'],
      profile.columns.map((c) => [c.name, c.type, String(c.nulls), describeColumn(c)]),
    ),
  );
}

/** `mloop datasets add|versions|profile` and `mloop validate`. */
export function registerDatasetsCommands(datasets: Command, program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));
  const progress = (message: string): void => void io.stderr.write(`mloop: ${message}\n`);

  datasets.addCommand(
    context
      .child('datasets add', 'record the current content of a dataset as a version (declaring it in mloop.yaml when a path is given)')
      .argument('<name>', 'dataset name')
      .argument('[path]', 'file, directory or glob, relative to mloop.yaml (required when the dataset is not declared yet)')
      .option('--format <format>', `file format (${DATASET_FORMATS.join(', ')}); detected from the extension when omitted`)
      .option('--json', 'print the version as JSON')
      .action(async (name: string, path: string | undefined, options: { format?: string; json?: boolean }) => {
        let project = loadProject(context);
        if (options.format !== undefined && !(DATASET_FORMATS as readonly string[]).includes(options.format)) {
          throw new CliFailure(`--format must be one of ${DATASET_FORMATS.join(', ')} (got "${options.format}")`);
        }
        if (path !== undefined) {
          const existing = project.config.datasets[name];
          if (existing && existing.path !== path)
            throw new CliFailure(`dataset "${name}" is already declared in ${project.shownPath} with path ${existing.path}`);
          if (!existing) {
            const full = isAbsolute(path) ? path : resolve(project.root, path);
            if (!/[*?[\]{}]/.test(path) && !existsSync(full)) throw new CliFailure(`${full} does not exist`);
            if (!options.format && !/[*?[\]{}]/.test(path) && statSync(full).isFile() && !detectFormat(full)) {
              throw new CliFailure(`cannot tell the format of ${path} from its extension; pass --format (${DATASET_FORMATS.join(', ')})`);
            }
            declareInConfig(project.configPath, name, path, options.format as DatasetFileFormat | undefined);
            project = loadProject(context);
          }
        }
        const declaration = declared(project, name);
        const abort = cancellable();
        try {
          const snapshot = await withStore(context, project.root, (store) =>
            snapshotDataset(store, { name, declaration, projectRoot: project.root, origin: 'manual', signal: abort.signal, onProgress: progress }),
          );
          if (options.json) return json(versionJson(snapshot));
          out(
            `${snapshot.created ? 'new version' : 'unchanged'} ${name} @ ${shortDigest(snapshot.version.digest)} · ${snapshot.version.rowCount ?? '?'} rows · ${snapshot.version.sizeBytes ?? '?'} bytes${snapshot.digest.dvcSource ? ` · DVC md5 from ${relative(io.cwd, snapshot.digest.dvcSource)}` : ''}`,
          );
        } finally {
          abort.dispose();
        }
      }),
  );

  datasets.addCommand(
    context
      .child('datasets versions', 'list the versions of a dataset, newest first')
      .argument('<name>', 'dataset name')
      .option('--json', 'print as JSON')
      .action((name: string, options: { json?: boolean }) => {
        const { store } = openExistingStore(context, { readonly: true });
        try {
          const repo = new DatasetRepository(store);
          const dataset = repo.byName(name);
          if (!dataset)
            throw new CliFailure(
              `no dataset "${name}" in the store (datasets: ${
                repo
                  .list()
                  .map((d) => d.name)
                  .join(', ') || 'none'
              }); "mloop datasets add ${name}" records one`,
            );
          const cache = new DatasetCacheRepository(store);
          const versions = repo.versions(dataset.datasetId).map((v) => {
            const validation = repo.latestValidation(v.datasetVersionId);
            return {
              ...v,
              validation: validation ? (validation.passed ? 'passed' : 'failed') : null,
              cache: cache.state(v.datasetVersionId)?.status ?? 'none',
            };
          });
          if (options.json) return json({ dataset, versions });
          if (versions.length === 0) return out(`${name} has no versions yet`);
          out(
            formatTable(
              ['version', 'digest', 'rows', 'bytes', 'created', 'origin', 'runs', 'restorable', 'valid'],
              versions.map((v, i) => [
                String(versions.length - i),
                shortDigest(v.digest),
                String(v.rowCount ?? ''),
                String(v.sizeBytes ?? ''),
                formatTime(v.createdAt),
                v.origin,
                String(v.usedByRuns),
                v.cache === 'cached' ? 'yes' : 'no',
                v.validation === null ? '' : v.validation === 'passed' ? '✓' : '✗',
              ]),
            ),
          );
        } finally {
          store.close();
        }
      }),
  );

  datasets.addCommand(
    context
      .child('datasets profile', 'profile a declared dataset (stored with its version) or any data file (nothing stored)')
      .argument('<dataset-or-path>', 'a dataset name from mloop.yaml, or a path to a CSV/TSV/JSONL/Parquet file or folder')
      .option('--format <format>', 'file format of a path; detected from the extension when omitted')
      .option('--json', 'print the profile as JSON')
      .action(async (target: string, options: { format?: string; json?: boolean }) => {
        const abort = cancellable();
        try {
          const project = existsSync(resolve(io.cwd, target)) ? undefined : optionalProject(context);
          const declaration = project?.config.datasets[target];
          if (project && declaration) {
            const result = await withStore(context, project.root, async (store) => {
              const snapshot = await snapshotDataset(store, {
                name: target,
                declaration,
                projectRoot: project.root,
                signal: abort.signal,
                onProgress: progress,
              });
              return { snapshot, profile: storedProfile(store, snapshot.version.datasetVersionId) };
            });
            if (!result.profile) throw new CliFailure(`version ${shortDigest(result.snapshot.version.digest)} of ${target} has no mloop profile`);
            if (options.json) return json({ dataset: target, version: versionJson(result.snapshot), profile: result.profile });
            return printProfile(out, `${target} @ ${shortDigest(result.snapshot.version.digest)}`, result.profile);
          }
          const path = resolve(io.cwd, target);
          if (!existsSync(path) && !/[*?[\]{}]/.test(target)) {
            throw new CliFailure(`"${target}" is neither a dataset declared in mloop.yaml nor an existing path`);
          }
          let profile: DatasetProfile;
          try {
            profile = await profileDataset(path, { ...(options.format ? { format: options.format as DatasetFileFormat } : {}), signal: abort.signal });
          } catch (error) {
            throw asCliFailure(error);
          }
          if (options.json) return json({ path, profile });
          printProfile(out, relative(io.cwd, path) || path, profile);
        } finally {
          abort.dispose();
        }
      }),
  );

  program.addCommand(
    context
      .child('validate', 'check datasets against their rules in mloop.yaml (records a version of each; exit 1 when a rule fails)')
      .argument('[dataset]', 'one dataset (default: every dataset that declares rules)')
      .option('--json', 'print the reports as JSON')
      .action(async (name: string | undefined, options: { json?: boolean }) => {
        const project = loadProject(context);
        const names = name !== undefined ? [name] : Object.keys(project.config.datasets).filter((n) => project.config.datasets[n]!.rules);
        for (const n of names) declared(project, n);
        if (names.length === 0) throw new CliFailure(`no dataset in ${project.shownPath} declares rules: nothing to validate`);
        const abort = cancellable();
        try {
          const results = await withStore(context, project.root, async (store) => {
            const list: { dataset: string; version: ReturnType<typeof versionJson>; report: ValidationReport }[] = [];
            for (const n of names) {
              const declaration = declared(project, n);
              const common = { name: n, declaration, projectRoot: project.root, signal: abort.signal, onProgress: progress };
              const snapshot = await snapshotDataset(store, common);
              const { report } = await validateVersion(store, { ...common, version: snapshot.version });
              list.push({ dataset: n, version: versionJson(snapshot), report });
            }
            return list;
          });
          if (options.json) json(results);
          else for (const r of results) out(formatValidationReport(`${r.dataset} @ ${shortDigest(r.version.digest)}`, r.report));
          const failed = results.filter((r) => !r.report.passed).map((r) => r.dataset);
          if (failed.length) throw new CliFailure(`validation failed: ${failed.join(', ')}`);
        } finally {
          abort.dispose();
        }
      }),
  );
}

function versionJson(snapshot: Snapshot): {
  dataset: string;
  datasetVersionId: number;
  digest: string;
  digestAlgorithm: string;
  created: boolean;
  rows: number | null;
  sizeBytes: number | null;
  path: string;
  origin: string;
  dvcSource: string | null;
  cache: string;
} {
  const v = snapshot.version;
  return {
    dataset: snapshot.dataset.name,
    datasetVersionId: v.datasetVersionId,
    digest: v.digest,
    digestAlgorithm: v.digestAlgorithm,
    created: snapshot.created,
    rows: v.rowCount,
    sizeBytes: v.sizeBytes,
    path: v.path,
    origin: v.origin,
    dvcSource: snapshot.digest.dvcSource ?? null,
    cache: snapshot.cache.status,
  };
}

/** Adds `name: { path, format? }` under `datasets:` in mloop.yaml, keeping its comments and layout. */
function declareInConfig(configPath: string, name: string, path: string, format: DatasetFileFormat | undefined): void {
  const doc = parseDocument(readFileSync(configPath, 'utf8'));
  const datasets = doc.get('datasets');
  const entry = doc.createNode(format ? { path, format } : { path }) as YAMLMap;
  entry.flow = true;
  if (isMap(datasets)) datasets.set(name, entry);
  else doc.set('datasets', doc.createNode({ [name]: entry }));
  writeFileSync(configPath, doc.toString());
}
