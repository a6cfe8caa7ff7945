import { createHash } from 'node:crypto';
import { stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Config, DatasetDeclaration, Pipeline } from '../config/schema';
import { AuditRepository, osUser } from '../store/audit';
import { DatasetRepository, type Dataset, type DatasetVersion, type DatasetVersionOrigin } from '../store/datasets';
import type { Store } from '../store/store';
import { cacheRootOf, cacheVersion, type CacheOutcome } from '../cache/contentStore';
import { commonBase, digestDataset, type DatasetDigest, type DigestOptions } from './digest';
import { isGlob } from './files';
import { profileDataset, type DatasetProfile } from './profile';
import { datasetRulesSchema } from './rulesSchema';
import type { DatasetSchema } from './readers';
import { formatValidationReport, validateDataset, type ValidationReport } from './validate';

/** Progress of long dataset work: a message, and bytes or rows done when known. */
export type DatasetProgress = (message: string) => void;

export interface SnapshotOptions {
  readonly name: string;
  readonly declaration: DatasetDeclaration;
  /** Folder of mloop.yaml: relative dataset paths start here, and DVC metadata is searched up to it. */
  readonly projectRoot: string;
  readonly origin?: DatasetVersionOrigin;
  readonly signal?: AbortSignal;
  readonly onProgress?: DatasetProgress;
}

export interface Snapshot {
  readonly dataset: Dataset;
  readonly version: DatasetVersion;
  /** False when the content was already a version (nothing was re-read beyond the digest). */
  readonly created: boolean;
  readonly digest: DatasetDigest;
  /** What putting the version's bytes into the content store did (see cacheVersion). */
  readonly cache: CacheOutcome;
}

export const datasetPath = (projectRoot: string, declaration: DatasetDeclaration): string =>
  isAbsolute(declaration.path) ? declaration.path : resolve(projectRoot, declaration.path);

/**
 * Digests a declared dataset and records a version when its content is new (profile and schema
 * computed in the same call, written in one transaction after all reading succeeded, so a read
 * error leaves nothing behind). The same content again returns the existing version.
 */
export async function snapshotDataset(store: Store, options: SnapshotOptions): Promise<Snapshot> {
  const enabled = options.declaration.cache !== false;
  // a file that has to be read anyway is copied into the cache in the same pass, unless a cached object of its size
  // exists (then it is most likely that content again, and a copy would be written only to be thrown away)
  const stage = enabled ? { folder: join(cacheRootOf(options.projectRoot), 'tmp'), when: (size: number) => !cachedObjectOfSize(store, size) } : undefined;
  const recorded = await recordVersion(store, options, stage);
  const staged = recorded.digest.staged;
  try {
    const path = datasetPath(options.projectRoot, options.declaration);
    const files = recorded.digest.files;
    const layout = files.length === 1 && !isGlob(path) && !(await stat(path).catch(() => undefined))?.isDirectory() ? 'file' : 'files';
    const cache = await cacheVersion({
      store,
      projectRoot: options.projectRoot,
      version: recorded.version,
      files,
      layout,
      base: layout === 'file' ? dirname(files[0]!) : commonBase(path, files),
      enabled,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(staged ? { staged } : {}),
    });
    if (cache.status === 'failed') options.onProgress?.(`${options.name}: version recorded, but its bytes were not cached: ${cache.reason}`);
    return { ...recorded, cache };
  } finally {
    // renamed into the store, or not needed (the object was there already, caching stopped): never left behind
    if (staged) await unlink(staged.tmp).catch(() => undefined);
  }
}

/** Whether the content store holds a cached object of exactly this many bytes. */
export function cachedObjectOfSize(store: Store, sizeBytes: number): boolean {
  return (
    store.db
      .prepare(
        `SELECT 1 FROM dataset_version_file f JOIN dataset_version_cache c ON c.dataset_version_id = f.dataset_version_id
         WHERE f.size_bytes = ? AND c.status = 'cached' LIMIT 1`,
      )
      .get(sizeBytes) !== undefined
  );
}

async function recordVersion(store: Store, options: SnapshotOptions, stage?: DigestOptions['stage']): Promise<Omit<Snapshot, 'cache'>> {
  const { name, declaration, projectRoot, signal, onProgress } = options;
  const path = datasetPath(projectRoot, declaration);
  onProgress?.(`${name}: hashing ${declaration.path}`);
  const digest = await digestDataset(path, {
    ...(declaration.format ? { format: declaration.format } : {}),
    dvcRoot: projectRoot,
    // an unchanged file (same size, mtime, ctime, inode) is not read again
    statMemo: join(cacheRootOf(projectRoot), 'stat'),
    ...(signal ? { signal } : {}),
    ...(stage ? { stage } : {}),
  });
  try {
    return await describeVersion(store, options, digest);
  } catch (error) {
    // a profile that cannot be read records nothing: the staged copy goes too
    if (digest.staged) await unlink(digest.staged.tmp).catch(() => undefined);
    throw error;
  }
}

async function describeVersion(store: Store, options: SnapshotOptions, digest: DatasetDigest): Promise<Omit<Snapshot, 'cache'>> {
  const { name, declaration, projectRoot, signal, onProgress } = options;
  const path = datasetPath(projectRoot, declaration);
  const repo = new DatasetRepository(store);
  const known = repo.byName(name);
  const existing = known && repo.versionByDigest(known.datasetId, digest.digest);
  if (known && existing && known.uri === declaration.path) return { dataset: known, version: existing, created: false, digest };
  let profile: DatasetProfile | undefined;
  if (!existing) {
    onProgress?.(`${name}: profiling ${declaration.path}`);
    profile = await profileDataset(path, { ...(declaration.format ? { format: declaration.format } : {}), ...(signal ? { signal } : {}) });
  }
  return store.transaction(() => {
    const dataset = repo.upsert({ name, uri: declaration.path, ...(declaration.format ? { format: declaration.format } : {}) });
    if (existing) return { dataset, version: existing, created: false, digest };
    const schema: DatasetSchema = { columns: profile!.columns.map((c) => ({ name: c.name, type: c.type })) };
    const { version, created } = repo.addVersion({
      datasetId: dataset.datasetId,
      digest: digest.digest,
      digestAlgorithm: digest.algorithm,
      path: declaration.path,
      sizeBytes: digest.sizeBytes,
      rowCount: profile!.rows,
      schemaJson: JSON.stringify(schema),
      profileJson: JSON.stringify(profile),
      origin: digest.algorithm === 'md5-dvc' ? 'dvc' : (options.origin ?? 'snapshot'),
    });
    return { dataset, version, created, digest };
  });
}

export { storedProfile } from './storedProfile';

function storedSchema(store: Store, datasetVersionId: number): DatasetSchema | undefined {
  const json = new DatasetRepository(store).versionDocuments(datasetVersionId)?.schemaJson;
  if (!json) return undefined;
  try {
    const parsed = JSON.parse(json) as Partial<DatasetSchema>;
    return Array.isArray(parsed.columns) ? (parsed as DatasetSchema) : undefined;
  } catch {
    return undefined;
  }
}

export interface VersionValidation {
  readonly report: ValidationReport;
  /** True when an earlier check of this version against the same rules was reused. */
  readonly reused: boolean;
}

/**
 * Checks a version against the dataset's rules (reading its files once) and records the outcome in
 * the audit trail. A version already checked against identical rules reuses that outcome.
 */
export async function validateVersion(
  store: Store,
  options: { name: string; declaration: DatasetDeclaration; projectRoot: string; version: DatasetVersion; signal?: AbortSignal; onProgress?: DatasetProgress },
): Promise<VersionValidation> {
  const { declaration, version } = options;
  const rules = datasetRulesSchema.parse(declaration.rules ?? {});
  const rulesDigest = createHash('sha256').update(JSON.stringify(rules)).digest('hex').slice(0, 16);
  const repo = new DatasetRepository(store);
  const latest = repo.latestValidation(version.datasetVersionId);
  if (latest?.detailsJson) {
    const details = JSON.parse(latest.detailsJson) as { rulesDigest?: string; report?: ValidationReport };
    if (details.rulesDigest === rulesDigest && details.report) return { report: details.report, reused: true };
  }
  // The version before this one, for `schema: match_previous`.
  const previous = repo
    .versions(version.datasetId)
    .find((v) => v.datasetVersionId !== version.datasetVersionId && v.createdAt <= version.createdAt && v.datasetVersionId < version.datasetVersionId);
  const previousSchema = previous && storedSchema(store, previous.datasetVersionId);
  const schema = storedSchema(store, version.datasetVersionId);
  options.onProgress?.(`${options.name}: validating`);
  const report = await validateDataset(datasetPath(options.projectRoot, declaration), rules, {
    ...(declaration.format ? { format: declaration.format } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(previousSchema ? { previousSchema } : {}),
    ...(schema ? { schema } : {}),
  });
  store.transaction(() => repo.recordValidation({ datasetVersionId: version.datasetVersionId, passed: report.passed, details: { rulesDigest, report } }));
  return { report, reused: false };
}

export interface PreparedInput {
  readonly name: string;
  readonly snapshot: Snapshot;
  /** Absent when the dataset declares no rules. */
  readonly validation?: VersionValidation;
}

/** One declared input as a run (or a retrain recipe) reads it: snapshotted, then validated when it has rules. */
export async function prepareInput(
  store: Store,
  name: string,
  declaration: DatasetDeclaration,
  options: { readonly projectRoot: string; readonly signal?: AbortSignal; readonly onProgress?: DatasetProgress },
): Promise<PreparedInput> {
  const common = {
    name,
    declaration,
    projectRoot: options.projectRoot,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  const snapshot = await snapshotDataset(store, common);
  const validation = declaration.rules ? await validateVersion(store, { ...common, version: snapshot.version }) : undefined;
  return { name, snapshot, ...(validation ? { validation } : {}) };
}

/** A pipeline's inputs failed validation and no override was given; the message is the reports. */
export class DatasetGateError extends Error {
  override readonly name = 'DatasetGateError';
  constructor(
    readonly pipelineName: string,
    readonly failed: readonly PreparedInput[],
  ) {
    super(
      `pipeline "${pipelineName}" did not start: ${failed.length === 1 ? 'its input' : `${failed.length} inputs`} failed validation ` +
        `(override with a reason to start anyway)\n${failed.map((f) => formatValidationReport(f.name, f.validation!.report)).join('\n')}`,
    );
  }
}

/** A dataset a pipeline lists in `inputs:` that mloop.yaml does not declare (loadConfig reports it too). */
export class UndeclaredInputError extends Error {
  override readonly name = 'UndeclaredInputError';
}

export interface PrepareInputsOptions {
  readonly config: Config;
  readonly pipelineName: string;
  readonly pipeline: Pipeline;
  readonly projectRoot: string;
  /** Start even though validation failed; recorded in the audit trail with the reason. */
  readonly override?: { readonly reason: string; readonly actor?: string };
  readonly signal?: AbortSignal;
  readonly onProgress?: DatasetProgress;
}

/**
 * The run-start gate: snapshots every input of the pipeline (a new version only when content changed),
 * validates those with rules, and throws DatasetGateError when one fails without an override.
 * Link the returned versions to the run with linkRunInputs once the run exists.
 */
export async function prepareRunInputs(store: Store, options: PrepareInputsOptions): Promise<PreparedInput[]> {
  const prepared: PreparedInput[] = [];
  for (const name of options.pipeline.inputs) {
    const declaration = options.config.datasets[name];
    if (!declaration)
      throw new UndeclaredInputError(`pipeline "${options.pipelineName}" reads dataset "${name}", which mloop.yaml does not declare under datasets:`);
    prepared.push(await prepareInput(store, name, declaration, options));
  }
  const failed = prepared.filter((p) => p.validation && !p.validation.report.passed);
  if (failed.length) {
    const reason = options.override?.reason.trim();
    if (!reason) throw new DatasetGateError(options.pipelineName, failed);
    const audit = new AuditRepository(store);
    store.transaction(() => {
      for (const f of failed) {
        audit.record({
          actor: options.override?.actor ?? osUser(),
          action: 'dataset.validation_override',
          entityType: 'dataset_version',
          entityId: String(f.snapshot.version.datasetVersionId),
          fromValue: 'failed',
          toValue: 'overridden',
          reason,
          details: {
            pipeline: options.pipelineName,
            dataset: f.name,
            failures: f.validation!.report.failures.map((x) => ({ column: x.column, rule: x.rule, offendingRows: x.offendingRows })),
          },
        });
      }
    });
  }
  return prepared;
}

/** The version ids to pin to the run (LaunchOptions.inputVersionIds). */
export const inputVersionIds = (inputs: readonly PreparedInput[]): number[] => inputs.map((i) => i.snapshot.version.datasetVersionId);

/**
 * The run-start gate as a start command runs it (`mloop train`, `mloop sweep`, the editor's Train): prepareRunInputs, then
 * one line per input through onProgress (its version, new or unchanged, its rows, the validation verdict); the ids to pin.
 */
export async function gateRunInputs(store: Store, options: PrepareInputsOptions & { readonly onProgress: DatasetProgress }): Promise<number[]> {
  const inputs = await prepareRunInputs(store, options);
  for (const input of inputs) {
    const v = input.snapshot.version;
    const check = input.validation ? (input.validation.report.passed ? ' ✓' : ' ✗ (overridden)') : '';
    options.onProgress(
      `input ${input.name} @ ${v.digest.slice(0, 12)} (${input.snapshot.created ? 'new version' : 'unchanged'}, ${v.rowCount ?? '?'} rows)${check}`,
    );
  }
  return inputVersionIds(inputs);
}

/** Pins the versions a run read (run_input), in one transaction. */
export function linkRunInputs(store: Store, runId: string, datasetVersionIds: readonly number[]): void {
  const repo = new DatasetRepository(store);
  store.transaction(() => {
    for (const id of datasetVersionIds) repo.linkRunInput(runId, id);
  });
}
