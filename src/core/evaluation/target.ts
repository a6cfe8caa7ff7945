import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { resolveVersionRef, restoreVersion, ContentStoreError } from '../cache/contentStore';
import type { Config } from '../config/schema';
import { digestDataset } from '../datasets/digest';
import { isGlob } from '../datasets/files';
import { detectFormat, type DatasetFileFormat } from '../datasets/readers';
import { artifactLocation } from '../registry/modelArtifact';
import { DatasetRepository } from '../store/datasets';
import { ModelRepository, type Model, type ModelVersion } from '../store/models';
import type { Store } from '../store/store';
import { EvaluationError, runEvaluator, type EvaluatorProgress } from './evaluatorProcess';

/** `model@3`, `model/3`, `model@alias`, or `model` (its champion). */
export interface VersionSelector {
  readonly modelName: string;
  readonly version?: number;
  readonly alias?: string;
}

export function parseVersionSelector(text: string): VersionSelector {
  const m = /^([^@/]+)(?:([@/])(.+))?$/.exec(text);
  const wrong = (): never => {
    throw new EvaluationError(`"${text}" is not a model version: write model@champion, model/3, model@3 or model (its champion)`);
  };
  if (!m) return wrong();
  const [, modelName, separator, rest] = m;
  if (rest === undefined) return { modelName: modelName!, alias: 'champion' };
  const number = /^v?(\d+)$/i.exec(rest);
  if (number) return { modelName: modelName!, version: Number(number[1]) };
  if (separator === '@' && /^[\w-]+$/.test(rest)) return { modelName: modelName!, alias: rest };
  return wrong();
}

export function findModelVersion(store: Store, ref: VersionSelector): { model: Model; version: ModelVersion } {
  const models = new ModelRepository(store);
  const model = models.byName(ref.modelName);
  if (!model) throw new EvaluationError(`no registered model "${ref.modelName}" (mloop models list)`);
  const version = ref.version !== undefined ? models.version(model.modelId, ref.version) : models.versionByAlias(model.modelId, ref.alias ?? 'champion');
  if (!version)
    throw new EvaluationError(
      ref.version !== undefined
        ? `${model.name} has no version ${ref.version}`
        : `${model.name} has no alias @${ref.alias ?? 'champion'}: give a version (model/3)`,
    );
  return { model, version };
}

/** The registered artifact of a version, on disk. */
export function versionArtifact(store: Store, artifactRoot: string, model: Model, version: ModelVersion): string {
  const location = artifactLocation(store, artifactRoot, version.artifactPath);
  if (!location || !existsSync(location))
    throw new EvaluationError(
      `${model.name} v${version.version}: its artifact ${version.artifactPath ?? '(none recorded)'} is not here${location ? ` (${location})` : ''}`,
    );
  return location;
}

/** One file of a dataset version to evaluate on; `release` removes a copy restored from the cache. */
export interface EvaluationData {
  readonly name: string;
  readonly digest: string;
  readonly path: string;
  readonly format: DatasetFileFormat;
  readonly datasetVersionId: number | null;
  release(): void;
}

/**
 * `name` (the file mloop.yaml declares, as it is now) or `name@digest-prefix` (that recorded version: its own file
 * when the bytes still match, else restored from mloop's cache into a temporary folder).
 */
export async function resolveEvaluationData(options: {
  store: Store;
  projectRoot: string;
  config: Config | undefined;
  ref: string;
  signal?: AbortSignal;
}): Promise<EvaluationData> {
  const { store, projectRoot, config, ref } = options;
  const at = ref.lastIndexOf('@');
  const repo = new DatasetRepository(store);
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(projectRoot, p));
  const oneFile = (path: string, name: string, mustExist = true): DatasetFileFormat => {
    if (isGlob(path)) throw new EvaluationError(`dataset "${name}" is a glob (${path}): evaluate reads one file`);
    const format = detectFormat(path);
    if (!format) throw new EvaluationError(`dataset "${name}": ${path} is not CSV, TSV, JSONL or Parquet`);
    if (mustExist && !existsSync(path)) throw new EvaluationError(`dataset "${name}": ${path} does not exist`);
    return format;
  };
  if (at <= 0) {
    const declared = config?.datasets[ref]?.path;
    const stored = repo.byName(ref);
    const latest = stored ? repo.versions(stored.datasetId)[0] : undefined;
    const path = declared ? absolute(declared) : latest ? absolute(latest.path) : undefined;
    if (!path)
      throw new EvaluationError(
        `no dataset "${ref}" in mloop.yaml or the store (datasets: ${[...new Set([...Object.keys(config?.datasets ?? {}), ...repo.list().map((d) => d.name)])].join(', ') || 'none'})`,
      );
    const format = oneFile(path, ref);
    const { digest } = await digestDataset(path, options.signal ? { signal: options.signal } : {});
    const version = stored ? repo.versionByDigest(stored.datasetId, digest) : undefined;
    return { name: ref, digest, path, format, datasetVersionId: version?.datasetVersionId ?? null, release: () => undefined };
  }
  let resolved;
  try {
    resolved = resolveVersionRef(store, ref);
  } catch (error) {
    if (error instanceof ContentStoreError) throw new EvaluationError(error.message);
    throw error;
  }
  const { dataset, version } = resolved;
  const own = absolute(version.path);
  const format = oneFile(own, dataset.name, false);
  const base = { name: dataset.name, digest: version.digest, format, datasetVersionId: version.datasetVersionId };
  if (existsSync(own) && (await digestDataset(own)).digest === version.digest) return { ...base, path: own, release: () => undefined };
  const folder = mkdtempSync(join(tmpdir(), 'mloop-evaluate-'));
  const release = (): void => rmSync(folder, { recursive: true, force: true });
  try {
    const restored = await restoreVersion({
      store,
      projectRoot,
      version,
      target: join(folder, basename(own)),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { ...base, path: restored.files[0]!, release };
  } catch (error) {
    release();
    if (error instanceof ContentStoreError) throw new EvaluationError(`${dataset.name}@${version.digest.slice(0, 12)}: ${error.message}`);
    throw error;
  }
}

/** What running the helper on a model version and a dataset version needs (evaluate and explain alike). */
export interface HelperRunOptions {
  readonly store: Store;
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly python: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluatorProgress) => void;
}

/**
 * Resolves the data, runs the helper on the version's artifact with the request fields of `mode` (plus the model's
 * `prepare:` from mloop.yaml), and releases a restored copy of the data afterwards.
 */
export async function runHelperOnData(
  options: HelperRunOptions,
  target: { readonly model: Model; readonly artifact: string; readonly dataRef: string },
  fields: Readonly<Record<string, unknown>> & { readonly mode: 'evaluate' | 'explain' },
): Promise<{ raw: unknown; data: { name: string; digest: string; path: string; datasetVersionId: number | null } }> {
  const data = await resolveEvaluationData({
    store: options.store,
    projectRoot: options.projectRoot,
    config: options.config,
    ref: target.dataRef,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const raw = await runEvaluator({
      python: options.python,
      cwd: options.projectRoot,
      ...(options.env ? { env: options.env } : {}),
      request: {
        ...fields,
        model_path: target.artifact,
        data_path: data.path,
        data_name: `${data.name}@${data.digest.slice(0, 12)}`,
        format: data.format,
        prepare: options.config?.models?.[target.model.name]?.prepare,
        project_root: options.projectRoot,
      },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { raw, data: { name: data.name, digest: data.digest, path: data.path, datasetVersionId: data.datasetVersionId } };
  } finally {
    data.release();
  }
}
