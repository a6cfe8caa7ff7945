import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isGlob } from '../datasets/files';
import { readBatches, type DatasetFileFormat } from '../datasets/readers';
import type { storedProfile } from '../datasets/storedProfile';
import type { DatasetRepository, DatasetVersion } from '../store/datasets';
import type { ModelRepository } from '../store/models';
import type { Store } from '../store/store';
import { collectSide, DriftInputError, sideFromProfile, windowStart, type DriftSide, type DriftWindow } from './collect';
import { compareSides, type CompareSpec, type WindowComparison } from './compare';
import type { FedCurrent } from './fedSide';
import { collectSideInWorker, WORKER_MIN_BYTES } from './collectWorker';
import type { DriftOptions, DriftReport } from './report';

/** Where the reference came from: a file read in full, or a stored dataset version (its file, or its profile when the file changed). */
export interface ReferenceSource {
  readonly kind: 'file' | 'dataset-version' | 'dataset-profile';
  readonly path: string;
  readonly dataset?: string;
  readonly datasetVersionId?: number;
  readonly digest?: string;
}

/** A window's drift as compareSides gives it, and the model's performance on it when the check names the label and prediction columns. */
export interface WindowDrift extends WindowComparison {
  readonly performance?: WindowPerformance;
}

export interface WindowPerformance {
  readonly rows: number;
  readonly accuracy?: number;
  readonly f1_macro?: number;
  readonly rmse?: number;
}

export interface DriftCheckResult {
  readonly report: DriftReport;
  readonly reference: ReferenceSource;
  readonly current: { readonly path: string; readonly digest: string | null };
  readonly windows: readonly WindowDrift[];
}

export interface DriftCheckOptions {
  /** A file/glob/folder, or `dataset[@version]` (a digest prefix, or v1 = the oldest version). Default: the model's training data. */
  readonly reference?: string;
  readonly current: string;
  /** Relative paths start here. */
  readonly baseDir: string;
  readonly store?: Store;
  /** A registered model: without `reference`, the dataset version that trained its champion (else its newest version). */
  readonly model?: string;
  readonly columns?: readonly string[];
  readonly format?: DatasetFileFormat;
  readonly timeColumn?: string;
  readonly window?: DriftWindow;
  readonly labelColumn?: string;
  readonly predictionColumn?: string;
  readonly drift?: DriftOptions;
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
  /** Read the current data in a worker thread too, leaving this thread free for other work meanwhile (mloop monitor). */
  readonly currentInWorker?: boolean;
  /**
   * The current side from a read someone else does (`mloop monitor` reads the predictions log once for every check,
   * src/core/drift/fedSide.ts), compared in the feed's thread; undefined from it: the check reads the current data itself.
   */
  readonly fedCurrent?: FedCurrent;
  /** Digest the current data for `current.digest` (default true; false gives null: a check whose report is not stored). */
  readonly digestCurrent?: boolean;
}

/**
 * The store's modules, imported only by a check that has a store (a check of two files needs none of them); the
 * registry's only when the reference is found through a model's lineage.
 */
async function storeModules(options: DriftCheckOptions): Promise<StoreModules> {
  const [{ DatasetRepository }, models, { storedProfile }] = await Promise.all([
    import('../store/datasets'),
    options.reference ? undefined : import('../store/models'),
    import('../datasets/storedProfile'),
  ]);
  return { DatasetRepository, ...(models ? { ModelRepository: models.ModelRepository } : {}), storedProfile };
}
type StoreModules = {
  readonly DatasetRepository: typeof DatasetRepository;
  readonly ModelRepository?: typeof ModelRepository;
  readonly storedProfile: typeof storedProfile;
};

/** Reads both sides (streamed) and compares them; per-window drift and performance when a time column and window are set. */
export async function runDriftCheck(options: DriftCheckOptions): Promise<DriftCheckResult> {
  const { signal } = options;
  const modules = options.store ? await storeModules(options) : undefined;
  const reference = await referenceReadable(resolveReference(options, modules), options.baseDir, signal);
  const excluded = new Set([options.timeColumn, options.predictionColumn].filter((c): c is string => c !== undefined));
  const columns = options.columns?.filter((c) => !excluded.has(c));
  const currentPath = resolvePath(options.baseDir, options.current);
  const spec: CompareSpec = {
    referencePath: reference.path,
    currentName: options.current,
    excluded: [...excluded],
    ...(columns ? { columns } : {}),
    ...(options.drift ? { drift: options.drift } : {}),
  };
  const profileSide = (): DriftSide => {
    const profile = options.store && modules?.storedProfile(options.store, reference.datasetVersionId!);
    if (!profile)
      throw new DriftInputError(
        `dataset ${reference.dataset} version ${reference.digest?.slice(0, 12)}: its file changed and no profile was stored, so there is no reference to compare with`,
      );
    return sideFromProfile(profile, columns);
  };
  const readable = reference.kind === 'dataset-version' || reference.kind === 'file';
  // fed from a read someone else does: the feed's thread reads the reference meanwhile and compares
  const fed = options.fedCurrent
    ? await options.fedCurrent.compare(
        readable
          ? {
              kind: 'read',
              path: reference.path,
              options: { ...(reference.kind === 'file' && options.format ? { format: options.format } : {}), ...(columns ? { columns } : {}) },
            }
          : { kind: 'side', side: profileSide() },
        spec,
      )
    : undefined;
  const compared = fed ?? (await readAndCompare(options, reference, readable ? undefined : profileSide, columns, spec, currentPath));
  const performance = options.labelColumn && options.predictionColumn ? await windowPerformance(currentPath, options) : undefined;
  const report = compared.report;
  const windows = compared.windows.map((w) => {
    const perf = performance?.get(w.start);
    return { ...w, ...(perf ? { performance: perf } : {}) };
  });
  let digest: string | null = null;
  try {
    if (options.digestCurrent !== false) {
      const { digestDataset } = await import('../datasets/digest');
      digest = (await digestDataset(currentPath, { ...(options.format ? { format: options.format } : {}), ...(signal ? { signal } : {}) })).digest;
    }
  } catch (error) {
    if (signal?.aborted) throw error;
  }
  return { report, reference, current: { path: options.current, digest }, windows };
}

/** Reads both sides (the reference in a worker thread when it is large, the current data here or in a worker) and compares them. */
async function readAndCompare(
  options: DriftCheckOptions,
  reference: ReferenceSource,
  profileSide: (() => DriftSide) | undefined,
  columns: readonly string[] | undefined,
  spec: CompareSpec,
  currentPath: string,
): Promise<{ report: DriftReport; windows: WindowComparison[] }> {
  const { signal, onProgress } = options;
  // the two sides are read at the same time: the reference in a worker thread, the current data here
  const stopReference = new AbortController();
  signal?.addEventListener('abort', () => stopReference.abort(signal.reason), { once: true });
  const referenceRead: Promise<DriftSide> = profileSide
    ? Promise.resolve().then(profileSide)
    : collectSideInWorker(
        reference.path,
        {
          ...(reference.kind === 'file' && options.format ? { format: options.format } : {}),
          ...(columns ? { columns } : {}),
          signal: stopReference.signal,
        },
        WORKER_MIN_BYTES,
      );
  referenceRead.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  onProgress?.(`reading ${reference.path} and ${options.current}`);
  const current = await (options.currentInWorker ? collectSideInWorker : collectSide)(currentPath, {
    ...(options.format ? { format: options.format } : {}),
    ...(columns ? { columns } : {}),
    ...(options.timeColumn ? { timeColumn: options.timeColumn } : {}),
    ...(options.window ? { window: options.window } : {}),
    ...(signal ? { signal } : {}),
    // grouped by hand: the first toLocaleString call loads ICU data (~25 ms of a sub-second check)
    onProgress: (rows) => onProgress?.(`read ${String(rows).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} rows of ${options.current}`),
  }).catch((error: unknown) => {
    stopReference.abort(error); // the other side's work is useless now
    throw error;
  });
  return compareSides(await referenceRead, current, spec);
}

function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function resolveReference(options: DriftCheckOptions, modules: StoreModules | undefined): ReferenceSource {
  const { store } = options;
  if (options.reference === undefined) {
    if (!options.model) throw new DriftInputError('no reference: pass --reference <file|dataset[@version]> or a model whose training data mloop recorded');
    if (!store || !modules?.ModelRepository)
      throw new DriftInputError(`no store: the reference of model ${options.model} is found through the store's lineage`);
    return { ...lineageReferenceWith(modules.ModelRepository, store, options.model), kind: 'dataset-version' };
  }
  const { DatasetRepository } = modules ?? {};
  const spec = options.reference;
  const at = spec.lastIndexOf('@');
  const [name, selector] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
  const dataset = store && DatasetRepository && !isGlob(spec) ? new DatasetRepository(store).byName(name) : undefined;
  if (dataset && store && DatasetRepository) {
    const versions = new DatasetRepository(store).versions(dataset.datasetId);
    const version = pickVersion(versions, selector, name);
    return { kind: 'dataset-version', path: version.path, dataset: name, datasetVersionId: version.datasetVersionId, digest: version.digest };
  }
  const path = resolvePath(options.baseDir, spec);
  if (!isGlob(spec) && !existsSync(path)) {
    throw new DriftInputError(`reference ${spec}: no such file${store ? ' and no dataset of that name in the store' : ''}`);
  }
  return { kind: 'file', path };
}

function pickVersion(versions: readonly DatasetVersion[], selector: string | undefined, name: string): DatasetVersion {
  if (versions.length === 0) throw new DriftInputError(`dataset ${name} has no versions yet: run "mloop datasets add ${name}" first`);
  if (selector === undefined || selector === 'latest') return versions[0]!;
  const numbered = /^v(\d+)$/.exec(selector);
  if (numbered) {
    const version = versions[versions.length - Number(numbered[1])];
    if (!version) throw new DriftInputError(`dataset ${name} has ${versions.length} versions: v${numbered[1]} does not exist`);
    return version;
  }
  const matches = versions.filter((v) => v.digest.startsWith(selector));
  if (matches.length === 1) return matches[0]!;
  throw new DriftInputError(
    `dataset ${name}: ${matches.length === 0 ? 'no version' : `${matches.length} versions`} with a digest starting ${selector} (use more characters, vN, or latest)`,
  );
}

/** The dataset version the model's champion (else newest version) was trained on, through run_input. */
export async function lineageReference(store: Store, modelName: string): Promise<Omit<ReferenceSource, 'kind'> & { modelId: number; modelVersion: number }> {
  return lineageReferenceWith((await import('../store/models')).ModelRepository, store, modelName);
}

function lineageReferenceWith(
  Models: typeof ModelRepository,
  store: Store,
  modelName: string,
): Omit<ReferenceSource, 'kind'> & { modelId: number; modelVersion: number } {
  const models = new Models(store);
  const model = models.byName(modelName);
  if (!model) throw new DriftInputError(`no registered model ${modelName}`);
  const version = models.versionByAlias(model.modelId, 'champion') ?? models.versions(model.modelId)[0];
  if (!version) throw new DriftInputError(`model ${modelName} has no versions yet`);
  if (!version.sourceRunId)
    throw new DriftInputError(`model ${modelName} v${version.version} was not registered from a run, so its training data is unknown: pass --reference`);
  const row = store.db
    .prepare(
      `SELECT v.dataset_version_id AS id, v.path, v.digest, d.name FROM run_input i JOIN dataset_version v USING (dataset_version_id)
       JOIN dataset d ON d.dataset_id = v.dataset_id WHERE i.run_id = ? ORDER BY i.rowid LIMIT 1`,
    )
    .get(version.sourceRunId) as { id: number; path: string; digest: string; name: string } | undefined;
  if (!row)
    throw new DriftInputError(
      `run ${version.sourceRunId.slice(0, 8)} that trained ${modelName} v${version.version} recorded no input dataset: pass --reference`,
    );
  return { path: row.path, dataset: row.name, datasetVersionId: row.id, digest: row.digest, modelId: model.modelId, modelVersion: version.version };
}

/**
 * Resolves a stored dataset version to something readable: the file itself when its content still has
 * the stored digest, else the stored profile (the caller then compares against histograms).
 */
export async function referenceReadable(reference: ReferenceSource, baseDir: string, signal?: AbortSignal): Promise<ReferenceSource> {
  if (reference.kind !== 'dataset-version') return reference;
  const path = resolvePath(baseDir, reference.path);
  const { digestDataset } = await import('../datasets/digest');
  try {
    const digest = await digestDataset(path, { dvcRoot: baseDir, ...(signal ? { signal } : {}) });
    if (digest.digest === reference.digest) return { ...reference, path };
  } catch (error) {
    if (signal?.aborted) throw error;
  }
  return { ...reference, path, kind: 'dataset-profile' };
}

interface Tally {
  rows: number;
  correct: number;
  squared: number;
  numeric: boolean;
  perClass: Map<string, { tp: number; fp: number; fn: number }>;
}

/** Accuracy and macro F1 (labels that are text or few numbers) or RMSE (numeric labels), per window, as labels arrive. */
async function windowPerformance(path: string, options: DriftCheckOptions): Promise<Map<string, WindowPerformance>> {
  const label = options.labelColumn!;
  const prediction = options.predictionColumn!;
  const tallies = new Map<string, Tally>();
  const distinctLabels = new Set<string>();
  for await (const batch of readBatches(path, {
    columns: [options.timeColumn!, label, prediction],
    ...(options.format ? { format: options.format } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })) {
    const times = batch.columns[options.timeColumn!] ?? [];
    const labels = batch.columns[label] ?? [];
    const predictions = batch.columns[prediction] ?? [];
    for (let i = 0; i < batch.rows; i++) {
      const y = labels[i];
      const p = predictions[i];
      const start = windowStart(times[i], options.window!);
      if (y === null || y === undefined || p === null || p === undefined || start === undefined) continue; // the label has not arrived yet
      let t = tallies.get(start);
      if (!t) tallies.set(start, (t = { rows: 0, correct: 0, squared: 0, numeric: true, perClass: new Map() }));
      t.rows++;
      const ys = String(y);
      const ps = String(p);
      if (distinctLabels.size <= 20) distinctLabels.add(ys);
      if (ys === ps) t.correct++;
      if (typeof y === 'number' && typeof p === 'number') t.squared += (y - p) ** 2;
      else t.numeric = false;
      const cy = t.perClass.get(ys) ?? { tp: 0, fp: 0, fn: 0 };
      const cp = t.perClass.get(ps) ?? { tp: 0, fp: 0, fn: 0 };
      t.perClass.set(ys, cy);
      t.perClass.set(ps, cp);
      if (ys === ps) cy.tp++;
      else {
        cy.fn++;
        cp.fp++;
      }
    }
  }
  const regression = [...tallies.values()].every((t) => t.numeric) && distinctLabels.size > 20;
  return new Map<string, WindowPerformance>(
    [...tallies].map(([start, t]): [string, WindowPerformance] => {
      if (regression) return [start, { rows: t.rows, rmse: Math.sqrt(t.squared / t.rows) }];
      const f1s = [...t.perClass.values()].map((c) => (c.tp === 0 ? 0 : (2 * c.tp) / (2 * c.tp + c.fp + c.fn)));
      return [start, { rows: t.rows, accuracy: t.correct / t.rows, f1_macro: f1s.reduce((a, b) => a + b, 0) / f1s.length }];
    }),
  );
}
