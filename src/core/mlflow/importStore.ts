import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditRepository } from '../store/audit';
import { deferKeyIndexes, restoreDeferredIndexes } from '../store/deferredIndexes';
import { GOVERNANCE_EXPERIMENT } from '../backends/teamLedger';
import { DEFAULT_EXPERIMENT } from '../store/experiments';
import { appendMetricPoints } from '../store/metricPoints';
import type { Store } from '../store/store';
import { openFolderSource } from './fileSource';
import { MlflowSourceError, type MlflowSource, type SourceExperiment, type SourceRun } from './source';
import { openSqliteSource } from './sqliteSource';

/** What an MLflow store holds (found) or what the mloop store holds of it after the import. */
export interface MlflowCounts {
  experiments: number;
  runs: number;
  params: number;
  tags: number;
  metricPoints: number;
  models: number;
  modelVersions: number;
  aliases: number;
}

export interface MlflowImportReport {
  readonly source: { readonly kind: 'sqlite' | 'folder'; readonly location: string; readonly schema: string };
  /** Everything read from the source (active and deleted). */
  readonly found: MlflowCounts;
  /** What this import wrote: new rows, and runs whose content changed since an earlier import. */
  readonly written: {
    experiments: number;
    runsNew: number;
    runsUpdated: number;
    runsUnchanged: number;
    models: number;
    modelVersions: number;
    aliases: number;
  };
  readonly warnings: readonly string[];
  /** What the source holds that mloop does not import. */
  readonly notImported: readonly string[];
}

export interface MlflowImportProgress {
  readonly phase: 'experiments' | 'runs' | 'registry';
  readonly done: number;
  readonly total: number;
}

export interface MlflowImportOptions {
  /** A path to mlflow.db or an mlruns folder (or a folder holding one), or a sqlite:/// or file:/// URI. */
  readonly source: string;
  /** Resolves relative paths (default: process.cwd()). */
  readonly cwd?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: MlflowImportProgress) => void;
  /** Who imported, for the audit row. */
  readonly actor: string;
  readonly now?: number;
  /** No audit row when the import wrote nothing (a watcher re-importing an unchanged store). */
  readonly auditOnlyChanges?: boolean;
  /**
   * Runs from which an import sets the indexes led by a key aside while it writes (when they are also at least as
   * many as the store holds), creating them again at its end: default BULK_IMPORT_RUNS.
   */
  readonly bulkRuns?: number;
}

/**
 * An import of this many runs, or more, into a store holding no more runs than that, writes them with the key indexes
 * set aside (deferredIndexes.ts) and creates them once at its end: 2.7× less index work per row than maintaining
 * them, and a rebuild over at most twice the rows imported.
 */
export const BULK_IMPORT_RUNS = 1000;

/**
 * Opens an MLflow store for reading: `sqlite:///relative.db`, `sqlite:////absolute.db`, `file:///…/mlruns`,
 * a path to a SQLite file, to an mlruns folder, or to a project folder that holds `mlflow.db` or `mlruns/`.
 */
export function openMlflowSource(input: string, cwd: string = process.cwd()): MlflowSource {
  if (/^https?:\/\//i.test(input)) {
    throw new MlflowSourceError(
      'NOT_MLFLOW',
      input,
      `${input} is a tracking server. mloop does not copy a server's runs: set "mloop.backend": "mlflow" and "mloop.mlflow.trackingUri" to work against it directly.`,
    );
  }
  let path: string;
  if (/^sqlite:\/\/\//i.test(input)) {
    const rest = input.slice('sqlite:///'.length);
    path = rest.startsWith('/') ? rest : resolve(cwd, rest);
  } else if (/^file:/i.test(input)) {
    path = fileURLToPath(input);
  } else {
    path = isAbsolute(input) ? input : resolve(cwd, input);
  }
  if (!existsSync(path)) throw new MlflowSourceError('NOT_FOUND', path, `${path} does not exist.`);
  if (statSync(path).isFile()) return openSqliteSource(path);
  const entries = readdirSync(path);
  const isMlruns = entries.some((name) => name !== 'models' && existsSync(join(path, name, 'meta.yaml')));
  if (isMlruns) return openFolderSource(path);
  if (entries.includes('mlflow.db')) return openSqliteSource(join(path, 'mlflow.db'));
  if (entries.includes('mlruns')) return openFolderSource(join(path, 'mlruns'));
  throw new MlflowSourceError('NOT_MLFLOW', path, `${path} holds no MLflow store: no mlflow.db, no mlruns/ folder, and no experiment folders with meta.yaml.`);
}

/** The stores MLflow's client writes to when no tracking URI is set, that exist in `root`: `mlflow.db` (MLflow 3) and `mlruns/`. */
export function workspaceMlflowStores(root: string): string[] {
  return [join(root, 'mlflow.db'), join(root, 'mlruns')].filter((path) => existsSync(path));
}

/**
 * Copies an MLflow store into the mloop store. Idempotent: experiments and models are matched by name,
 * runs by run id, versions by number; a run already imported is rewritten only when its content changed
 * (status, end time, or the number of params, tags or metric points). Each run commits in its own
 * transaction, so a cancelled or failed import leaves whole runs only, and running it again resumes.
 * The registry (models, versions, tags, aliases) and the audit row commit together at the end.
 */
export async function importMlflow(store: Store, options: MlflowImportOptions): Promise<MlflowImportReport> {
  const source = openMlflowSource(options.source, options.cwd);
  try {
    return await importFrom(store, source, options);
  } finally {
    source.close();
  }
}

export async function importFrom(store: Store, source: MlflowSource, options: Omit<MlflowImportOptions, 'source' | 'cwd'>): Promise<MlflowImportReport> {
  const { signal, onProgress } = options;
  const now = options.now ?? Date.now();
  const db = store.db;
  const found: MlflowCounts = { experiments: 0, runs: 0, params: 0, tags: 0, metricPoints: 0, models: 0, modelVersions: 0, aliases: 0 };
  const written = { experiments: 0, runsNew: 0, runsUpdated: 0, runsUnchanged: 0, models: 0, modelVersions: 0, aliases: 0 };
  const warnings: string[] = [];
  signal?.throwIfAborted();

  // experiments: matched by name; MLflow's Default keeps id 0 when the store has none. mloop's own team records
  // (the experiment mloop-governance and its claims mloop-governance/…) are a ledger, not experiments: left out
  const isLedger = (name: string): boolean => name === GOVERNANCE_EXPERIMENT || name.startsWith(`${GOVERNANCE_EXPERIMENT}/`);
  const allExperiments = source.experiments();
  const ledgerIds = new Set(allExperiments.filter((e) => isLedger(e.name)).map((e) => e.mlflowId));
  const experiments = allExperiments.filter((e) => !ledgerIds.has(e.mlflowId));
  found.experiments = experiments.length;
  onProgress?.({ phase: 'experiments', done: 0, total: experiments.length });
  const experimentIds = new Map<string, number>();
  store.transaction(() => {
    for (const e of experiments) {
      experimentIds.set(
        e.mlflowId,
        ensureExperiment(store, e, now, () => written.experiments++),
      );
    }
  });
  onProgress?.({ phase: 'experiments', done: experiments.length, total: experiments.length });

  const everyRun = source.runs();
  const runs = everyRun.filter((r) => !ledgerIds.has(r.mlflowExperimentId));
  const ledgerRuns = everyRun.length - runs.length;
  found.runs = runs.length;
  // a bulk: the key indexes set aside until the runs are written (created again below, or, if this process is
  // killed meanwhile, by the next open of the store)
  const bulk = runs.length >= (options.bulkRuns ?? BULK_IMPORT_RUNS) && runs.length >= (db.prepare('SELECT count(*) FROM run').pluck().get() as number);
  const deferred = bulk ? deferKeyIndexes(db) : 0;
  try {
    await importRuns();
  } finally {
    if (deferred > 0) restoreDeferredIndexes(db);
  }
  async function importRuns(): Promise<void> {
    const runStatements = prepareRunStatements(store);
    for (let i = 0; i < runs.length; i++) {
      signal?.throwIfAborted();
      const run = runs[i]!;
      const data = source.runData(run);
      found.params += Object.keys(data.params).length;
      found.tags += Object.keys(data.tags).length;
      found.metricPoints += data.metricCount;
      const experimentId = experimentIds.get(run.mlflowExperimentId);
      if (experimentId === undefined)
        throw new MlflowSourceError(
          'BAD_FILE',
          source.location,
          `${source.location}: run ${run.runId} belongs to experiment ${run.mlflowExperimentId}, which the store does not list.`,
        );
      if (!/^[0-9a-f]{32}$/.test(run.runId))
        throw new MlflowSourceError(
          'BAD_FILE',
          source.location,
          `${source.location}: run id "${run.runId}" is not 32 hexadecimal characters (field run_uuid).`,
        );
      const existing = runStatements.existing.get(run.runId) as ExistingRun | undefined;
      if (existing && unchanged(existing, run, data, experimentId)) {
        written.runsUnchanged++;
      } else {
        store.transaction(() => writeRun(store, runStatements, run, data, experimentId, existing !== undefined));
        if (existing) written.runsUpdated++;
        else written.runsNew++;
      }
      onProgress?.({ phase: 'runs', done: i + 1, total: runs.length });
      if (i % 25 === 24) await new Promise<void>((done) => setImmediate(done)); // lets a cancel (SIGINT, the editor) arrive
    }
  }

  signal?.throwIfAborted();
  const models = source.models();
  found.models = models.length;
  onProgress?.({ phase: 'registry', done: 0, total: models.length });
  store.transaction(() => {
    for (const m of models) {
      found.modelVersions += m.versions.length;
      found.aliases += Object.keys(m.aliases).length;
      let modelId = db.prepare('SELECT model_id FROM model WHERE name = ?').pluck().get(m.name) as number | undefined;
      if (modelId === undefined) {
        modelId = Number(
          db
            .prepare('INSERT INTO model (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)')
            .run(m.name, m.description, m.createdAt ?? now, m.updatedAt ?? m.createdAt ?? now).lastInsertRowid,
        );
        written.models++;
      }
      const upsertModelTag = db.prepare(
        'INSERT INTO model_tag (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value',
      );
      for (const [key, value] of Object.entries(m.tags)) upsertModelTag.run(modelId, key, value);
      const versionIds = new Map<number, number>();
      for (const v of m.versions) {
        let id = db.prepare('SELECT model_version_id FROM model_version WHERE model_id = ? AND version = ?').pluck().get(modelId, v.version) as
          | number
          | undefined;
        if (id === undefined) {
          const runExists = v.runId !== null && db.prepare('SELECT 1 FROM run WHERE run_id = ?').get(v.runId) !== undefined;
          if (v.runId !== null && !runExists)
            warnings.push(
              `${m.name} v${v.version}: its source run ${v.runId} is not in the MLflow store; the version keeps its source ${v.source ?? '(none)'} without a run link`,
            );
          id = Number(
            db
              .prepare(
                'INSERT INTO model_version (model_id, version, source_run_id, artifact_path, stage, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
              )
              .run(modelId, v.version, runExists ? v.runId : null, v.source, v.stage, v.description, v.createdAt ?? now).lastInsertRowid,
          );
          written.modelVersions++;
        } else {
          const kept = db.prepare('SELECT source_run_id FROM model_version WHERE model_version_id = ?').pluck().get(id) as string | null;
          if (v.runId !== null && kept !== v.runId)
            warnings.push(
              `${m.name} v${v.version} already exists in mloop from run ${kept ?? '(none)'}; MLflow's v${v.version} (run ${v.runId}) was not imported`,
            );
        }
        versionIds.set(v.version, id);
        const upsertVersionTag = db.prepare(
          'INSERT INTO model_version_tag (model_version_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_version_id, key) DO UPDATE SET value = excluded.value',
        );
        for (const [key, value] of Object.entries(v.tags)) upsertVersionTag.run(id, key, value);
      }
      for (const [alias, version] of Object.entries(m.aliases)) {
        const target = versionIds.get(version);
        if (target === undefined) {
          warnings.push(`${m.name}@${alias} points at v${version}, which the MLflow store does not hold; alias not imported`);
          continue;
        }
        const current = db.prepare('SELECT model_version_id FROM alias WHERE model_id = ? AND alias = ?').pluck().get(modelId, alias) as number | undefined;
        if (current === target) continue;
        if (current !== undefined) {
          const currentVersion = db.prepare('SELECT version FROM model_version WHERE model_version_id = ?').pluck().get(current) as number;
          warnings.push(
            `${m.name}@${alias} is v${currentVersion} in mloop and v${version} in MLflow; mloop's alias was kept (change it with "mloop models alias")`,
          );
          continue;
        }
        db.prepare('INSERT INTO alias (model_id, alias, model_version_id, updated_at) VALUES (?, ?, ?, ?)').run(modelId, alias, target, now);
        db.prepare('INSERT INTO alias_history (model_id, alias, from_model_version_id, to_model_version_id, changed_at) VALUES (?, ?, NULL, ?, ?)').run(
          modelId,
          alias,
          target,
          now,
        );
        written.aliases++;
      }
    }
    const wroteNothing = written.experiments + written.runsNew + written.runsUpdated + written.models + written.modelVersions + written.aliases === 0;
    if (!(options.auditOnlyChanges && wroteNothing))
      new AuditRepository(store).record({
        actor: options.actor,
        action: 'import.mlflow',
        entityType: 'store',
        entityId: source.location,
        toValue: `${written.runsNew} new, ${written.runsUpdated} updated runs; ${written.modelVersions} versions`,
        details: { found, written, schema: source.schema },
        at: now,
      });
  });
  onProgress?.({ phase: 'registry', done: models.length, total: models.length });

  const notImported = [
    ...source.notImported(),
    ...(ledgerIds.size
      ? [
          `mloop's team records (${ledgerRuns.toLocaleString('en-US')} runs in ${GOVERNANCE_EXPERIMENT}): they are the team's ledger on the server (mloop team, the Audit view), not experiments`,
        ]
      : []),
    'artifacts are not copied: imported runs and versions keep their artifact_uri/source pointing at the MLflow artifact store',
  ];
  return { source: { kind: source.kind, location: source.location, schema: source.schema }, found, written, warnings, notImported };
}

function ensureExperiment(store: Store, e: SourceExperiment, now: number, onCreated: () => void): number {
  const db = store.db;
  const byName = db.prepare('SELECT experiment_id FROM experiment WHERE name = ?').pluck().get(e.name) as number | undefined;
  let id = byName;
  if (id === undefined) {
    const useZero = e.mlflowId === '0' && e.name === DEFAULT_EXPERIMENT && db.prepare('SELECT 1 FROM experiment WHERE experiment_id = 0').get() === undefined;
    const info = db
      .prepare('INSERT INTO experiment (experiment_id, name, artifact_location, lifecycle_stage, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(useZero ? 0 : null, e.name, e.artifactLocation, e.lifecycleStage, e.createdAt ?? now, e.updatedAt ?? e.createdAt ?? now);
    id = useZero ? 0 : Number(info.lastInsertRowid);
    onCreated();
  }
  const upsertTag = db.prepare(
    'INSERT INTO experiment_tag (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value',
  );
  for (const [key, value] of Object.entries(e.tags)) upsertTag.run(id, key, value);
  return id;
}

interface ExistingRun {
  experiment_id: number;
  status: string;
  end_time: number | null;
  lifecycle_stage: string;
  params: number;
  tags: number;
  points: number;
}

function prepareRunStatements(store: Store) {
  const db = store.db;
  return {
    existing: db.prepare(
      `SELECT experiment_id, status, end_time, lifecycle_stage,
         (SELECT count(*) FROM param p WHERE p.run_id = r.run_id) AS params,
         (SELECT count(*) FROM tag t WHERE t.run_id = r.run_id) AS tags,
         (SELECT coalesce(sum(count), 0) FROM metric_series s WHERE s.run_id = r.run_id) AS points
       FROM run r WHERE run_id = ?`,
    ),
    insert: db.prepare(
      `INSERT INTO run (run_id, experiment_id, name, status, git_commit, entry_file, user, start_time, end_time, artifact_uri, lifecycle_stage)
       VALUES (@runId, @experimentId, @name, @status, @gitCommit, @entryFile, @user, @startTime, @endTime, @artifactUri, @lifecycleStage)`,
    ),
    update: db.prepare(
      `UPDATE run SET experiment_id = @experimentId, name = @name, status = @status, git_commit = @gitCommit, entry_file = @entryFile,
         user = @user, start_time = @startTime, end_time = @endTime, artifact_uri = @artifactUri, lifecycle_stage = @lifecycleStage
       WHERE run_id = @runId`,
    ),
    clearParams: db.prepare('DELETE FROM param WHERE run_id = ?'),
    clearTags: db.prepare('DELETE FROM tag WHERE run_id = ?'),
    clearMetrics: db.prepare('DELETE FROM metric_series WHERE run_id = ?'),
    insertParam: db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)'),
    insertTag: db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?)'),
  };
}

type RunStatements = ReturnType<typeof prepareRunStatements>;

function unchanged(existing: ExistingRun, run: SourceRun, data: { params: object; tags: object; metricCount: number }, experimentId: number): boolean {
  return (
    existing.experiment_id === experimentId &&
    existing.status === run.status &&
    existing.end_time === run.endTime &&
    existing.lifecycle_stage === run.lifecycleStage &&
    existing.params === Object.keys(data.params).length &&
    existing.tags === Object.keys(data.tags).length &&
    existing.points === data.metricCount
  );
}

function writeRun(store: Store, s: RunStatements, run: SourceRun, data: ReturnType<MlflowSource['runData']>, experimentId: number, exists: boolean): void {
  const row = {
    runId: run.runId,
    experimentId,
    name: run.name || data.tags['mlflow.runName'] || `run-${run.runId.slice(0, 8)}`,
    status: run.status,
    gitCommit: data.tags['mlflow.source.git.commit'] ?? run.sourceVersion,
    entryFile: data.tags['mlflow.source.name'] ?? run.sourceName,
    user: run.user ?? data.tags['mlflow.user'] ?? null,
    startTime: run.startTime ?? run.endTime ?? 0,
    endTime: run.endTime,
    artifactUri: run.artifactUri,
    lifecycleStage: run.lifecycleStage,
  };
  if (exists) {
    s.update.run(row);
    s.clearParams.run(run.runId);
    s.clearTags.run(run.runId);
    s.clearMetrics.run(run.runId);
  } else {
    s.insert.run(row);
  }
  for (const [key, value] of Object.entries(data.params)) s.insertParam.run(run.runId, key, value);
  for (const [key, value] of Object.entries(data.tags)) s.insertTag.run(run.runId, key, value);
  for (const chunk of data.metricChunks()) appendMetricPoints(store.db, run.runId, chunk);
}
