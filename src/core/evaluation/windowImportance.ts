import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema';
import { listDatasetFiles } from '../datasets/files';
import { detectFormat, readTypedBatches, type CellValue, type DatasetFileFormat } from '../datasets/readers';
import { cellAt } from '../datasets/typedCsv';
import { idKey, joinLabels, MonitoringInputError, readPredictionLog, windowAt, type IdKey } from '../monitoring/labels';
import { DEFAULT_MIN_ROWS } from '../monitoring/performance';
import { ModelRepository, type Model, type ModelVersion } from '../store/models';
import type { Store } from '../store/store';
import { WindowImportanceRepository } from '../store/windowImportance';
import { DEFAULT_REPEATS, DEFAULT_SEED } from './evaluate';
import { EvaluationError, runEvaluator, type EvaluatorProgress } from './evaluatorProcess';
import { findModelVersion, versionArtifact, type VersionSelector } from './target';

/** Permutation importance of one version on each labelled monitoring window, as stored and shown. */
export interface WindowImportanceReport {
  readonly model: string;
  readonly version: number;
  /** How the version was chosen: the one a live deployment serves, or the one asked for. */
  readonly chosen: 'deployed' | 'champion' | 'asked';
  readonly seed: number;
  readonly nRepeats: number;
  readonly scoring: string;
  readonly features: readonly string[];
  /** In window order; each feature's mean drop of the score and its std over the repeats, in `features` order. */
  readonly windows: readonly { window: string; rows: number; score: number | null; mean: readonly number[]; std: readonly number[] }[];
  /** Windows with fewer labelled rows than min_rows. */
  readonly skipped: readonly { window: string; rows: number }[];
}

const helperSchema = z.object({
  features: z.array(z.string()),
  seed: z.number(),
  n_repeats: z.number(),
  scoring: z.string(),
  windows: z.array(z.object({ window: z.string(), rows: z.number(), score: z.number().nullable(), mean: z.array(z.number()), std: z.array(z.number()) })),
});

export interface WindowImportanceOptions {
  readonly store: Store;
  readonly artifactRoot: string;
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly modelName: string;
  /** A version or alias; default the version a live deployment serves, else the champion. */
  readonly model?: VersionSelector;
  readonly python: string;
  readonly seed?: number;
  readonly repeats?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluatorProgress) => void;
  readonly now?: number;
}

/** The version the newest live deployment of the model serves, if any. */
export function deployedVersion(store: Store, modelName: string): { model: Model; version: ModelVersion } | undefined {
  const models = new ModelRepository(store);
  const model = models.byName(modelName);
  if (!model) return undefined;
  const number = store.db
    .prepare(
      `SELECT v.version FROM deployment d JOIN model_version v USING (model_version_id)
       WHERE v.model_id = ? AND d.status IN ('healthy', 'in_progress', 'unhealthy') ORDER BY d.created_at DESC, d.deployment_id DESC LIMIT 1`,
    )
    .pluck()
    .get(model.modelId) as number | undefined;
  const version = number === undefined ? undefined : models.version(model.modelId, number);
  return version && { model, version };
}

const absolute = (root: string, path: string): string => (isAbsolute(path) ? path : resolve(root, path));

/**
 * Follows the deployed version's permutation importance across the monitoring windows that have labels: the
 * predictions log joined with the late labels by id (the monitoring join and its checks), each window's labelled
 * rows scored by the shipped helper with the same seed and repeats as `mloop evaluate`. Stored with the version.
 */
export async function importanceOverWindows(options: WindowImportanceOptions): Promise<{ id: number; report: WindowImportanceReport }> {
  const { store, config, projectRoot } = options;
  const monitoring = config?.monitoring?.[options.modelName];
  if (!monitoring) throw new EvaluationError(`mloop.yaml has no monitoring.${options.modelName}: importance per window reads its predictions log and labels`);
  if (!monitoring.labels || !monitoring.prediction)
    throw new EvaluationError(`monitoring.${options.modelName} has no labels: (and prediction:): importance per window needs the true labels of the windows`);
  const deployed = options.model ? undefined : deployedVersion(store, options.modelName);
  const { model, version } = deployed ?? findModelVersion(store, options.model ?? { modelName: options.modelName, alias: 'champion' });
  const chosen = deployed ? 'deployed' : options.model ? 'asked' : 'champion';
  const artifact = versionArtifact(store, options.artifactRoot, model, version);
  const predictions = absolute(projectRoot, monitoring.current);
  const format = (monitoring.format as DatasetFileFormat | undefined) ?? undefined;
  const idColumn = monitoring.id_column ?? 'id';
  const labelColumn = monitoring.label ?? 'label';
  const logOptions = {
    predictions,
    ...(format ? { predictionsFormat: format } : {}),
    idColumn,
    predictionColumn: monitoring.prediction,
    probabilityPrefix: monitoring.probabilities ?? 'proba_',
    ...(monitoring.time_column && monitoring.window ? { timeColumn: monitoring.time_column, window: monitoring.window } : {}),
    baseDir: projectRoot,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const labelsPath = absolute(projectRoot, monitoring.labels);
  const log = await readPredictionLog(logOptions);
  // the monitoring join, for its checks (an id labelled twice, a missing column): its errors name the file and row
  const joined = await joinLabels({ ...logOptions, labels: labelsPath, labelColumn }, log);
  if (joined.labelsMissing) throw new EvaluationError(joined.labelsMissing);
  const labelOf = new Map<IdKey, CellValue>();
  for (const file of await listDatasetFiles(labelsPath)) {
    // the ids read as the join reads them (an id such as 8144173e-5 is its text, not a number: TypedScanOptions.ids)
    for await (const batch of readTypedBatches(file, {
      columns: [idColumn, labelColumn],
      ids: [idColumn],
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      const ids = batch.columns[idColumn];
      const values = batch.columns[labelColumn];
      if (!ids || ids.kind === 'absent' || !values || values.kind === 'absent') continue; // joinLabels named a missing column
      for (let i = 0; i < batch.rows; i++) {
        const value = cellAt(values, i);
        const id = cellAt(ids, i);
        if (value !== null && value !== '' && id !== null) labelOf.set(idKey(id), value);
      }
    }
  }
  // the labelled rows of each window, in log order (the rows joinLabels joined)
  const byWindow = new Map<string, { rows: number[]; labels: CellValue[] }>(log.windows.map((w) => [w, { rows: [], labels: [] }]));
  // (each window's rows are put in log order below)
  for (const [id, label] of labelOf) {
    const row = log.rowOf.get(id);
    const window = row === undefined ? undefined : windowAt(log.windowOf, row);
    if (row === undefined || window === undefined) continue;
    const entry = byWindow.get(window) ?? { rows: [], labels: [] };
    entry.rows.push(row);
    entry.labels.push(label);
    byWindow.set(window, entry);
  }
  const minRows = monitoring.min_rows ?? DEFAULT_MIN_ROWS;
  const windows = [...byWindow.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([window, w]) => {
      const order = w.rows.map((r, i) => [r, i] as const).sort((a, b) => a[0] - b[0]);
      return { window, rows: order.map(([r]) => r), labels: order.map(([, i]) => w.labels[i]!) };
    });
  const usable = windows.filter((w) => w.rows.length >= minRows);
  const skipped = windows.filter((w) => w.rows.length < minRows).map((w) => ({ window: w.window, rows: w.rows.length }));
  if (usable.length === 0)
    throw new EvaluationError(
      `no monitoring window of ${options.modelName} has ${minRows} labelled rows yet (${windows.map((w) => `${w.window}: ${w.rows.length}`).join(', ') || 'no labelled rows'})`,
    );
  const files = await listDatasetFiles(predictions, format);
  const fileFormat = format ?? detectFormat(files[0]!);
  if (!fileFormat) throw new MonitoringInputError(`${files[0]}: cannot tell the format; set monitoring.${options.modelName}.format`);
  const folder = mkdtempSync(join(tmpdir(), 'mloop-window-importance-'));
  try {
    // the rows and labels go in a file: a request argument is limited in size
    const windowsPath = join(folder, 'windows.json');
    writeFileSync(windowsPath, JSON.stringify(usable.map((w) => ({ window: w.window, rows: w.rows, labels: w.labels }))));
    const seed = options.seed ?? DEFAULT_SEED;
    const repeats = options.repeats ?? DEFAULT_REPEATS;
    const raw = await runEvaluator({
      python: options.python,
      cwd: projectRoot,
      ...(options.env ? { env: options.env } : {}),
      request: {
        mode: 'window_importance',
        model_path: artifact,
        data_paths: files,
        data_name: monitoring.current,
        format: fileFormat,
        windows_path: windowsPath,
        label: labelColumn,
        seed,
        n_repeats: repeats,
        prepare: config?.models?.[model.name]?.prepare,
        project_root: projectRoot,
      },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const parsed = helperSchema.safeParse(raw);
    if (!parsed.success) throw new EvaluationError(`the evaluator answered something unexpected: ${parsed.error.issues[0]?.message ?? ''}`, 'crashed');
    const h = parsed.data;
    const report: WindowImportanceReport = {
      model: model.name,
      version: version.version,
      chosen,
      seed: h.seed,
      nRepeats: h.n_repeats,
      scoring: h.scoring,
      features: h.features,
      windows: h.windows,
      skipped,
    };
    const id = new WindowImportanceRepository(store).add({
      modelVersionId: version.modelVersionId,
      modelName: model.name,
      result: report,
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    return { id, report };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The newest stored importance per window of a model, if any. */
export function latestWindowImportance(store: Store, modelName: string): (WindowImportanceReport & { createdAt: number }) | undefined {
  const row = new WindowImportanceRepository(store).latest(modelName);
  return row && { ...(JSON.parse(row.resultJson) as WindowImportanceReport), createdAt: row.createdAt };
}
