import type Database from 'better-sqlite3';
/** better-sqlite3 on first use: its native addon loads in ~10–40 ms that a CLI command without a store need not pay (issue 16). */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load of the native addon
const sqlite = (): typeof Database => require('better-sqlite3') as typeof Database;
import { closeSync, openSync, readSync } from 'node:fs';
import { KNOWN_MLFLOW_REVISIONS, NEWEST_KNOWN_MLFLOW_REVISION } from './schemaRevisions';
import {
  MLFLOW_RUN_STATUSES,
  MlflowSourceError,
  type MlflowRunStatus,
  type MlflowSource,
  type SourceExperiment,
  type SourceMetricPoint,
  type SourceModel,
  type SourceModelVersion,
  type SourceRun,
  type SourceRunData,
} from './source';

type Db = Database.Database;

const METRIC_CHUNK = 10_000;
const REQUIRED_TABLES = ['experiments', 'runs', 'params', 'metrics', 'tags'];

/**
 * MLflow's SQL store in a SQLite file (`mlflow.db`), opened read-only: the import never writes to it.
 * Its layout follows MLflow's alembic revision; a revision newer than the ones this mloop knows is refused.
 * Columns added over MLflow's history (step, is_nan, workspace, registry, aliases) are detected, not assumed.
 */
export function openSqliteSource(path: string): MlflowSource {
  assertSqliteFile(path);
  let db: Db;
  try {
    db = new (sqlite())(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new MlflowSourceError('UNREADABLE', path, `Cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return new SqliteSource(path, db);
  } catch (error) {
    db.close();
    throw error;
  }
}

function assertSqliteFile(path: string): void {
  const header = Buffer.alloc(16);
  let read = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      read = readSync(fd, header, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new MlflowSourceError('NOT_FOUND', path, `Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (read < 16 || header.toString('latin1') !== 'SQLite format 3\u0000') {
    throw new MlflowSourceError('NOT_MLFLOW', path, `${path} is not an MLflow database: it is not a SQLite file at all.`);
  }
}

class SqliteSource implements MlflowSource {
  readonly kind = 'sqlite' as const;
  readonly schema: string;
  private readonly columns = new Map<string, Set<string>>();
  private readonly tables: Set<string>;

  constructor(
    readonly location: string,
    private readonly db: Db,
  ) {
    let tables: string[];
    try {
      tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    } catch (error) {
      throw new MlflowSourceError('UNREADABLE', location, `${location} could not be read as a SQLite database: ${(error as Error).message}`, { cause: error });
    }
    this.tables = new Set(tables);
    const missing = REQUIRED_TABLES.filter((t) => !this.tables.has(t));
    if (missing.length > 0) {
      const isMloop = this.tables.has('schema_version') && this.tables.has('run');
      throw new MlflowSourceError(
        'NOT_MLFLOW',
        location,
        `${location} is a SQLite database but not an MLflow tracking database (missing table${missing.length > 1 ? 's' : ''} ${missing.join(', ')})` +
          (isMloop ? '; it is an mloop store — open it with --store instead of importing it.' : '.'),
      );
    }
    const revisions = this.tables.has('alembic_version') ? (db.prepare('SELECT version_num FROM alembic_version').pluck().all() as string[]) : [];
    if (revisions.length > 1) {
      throw new MlflowSourceError(
        'SCHEMA_UNKNOWN',
        location,
        `${location} has ${revisions.length} MLflow schema revisions at once (${revisions.join(', ')}); MLflow itself never leaves a database like that.`,
      );
    }
    const revision = revisions[0];
    if (revision !== undefined && !KNOWN_MLFLOW_REVISIONS.includes(revision)) {
      throw new MlflowSourceError(
        'SCHEMA_UNKNOWN',
        location,
        `${location} is at MLflow schema revision ${revision}, which this mloop does not know (it reads revisions up to ${NEWEST_KNOWN_MLFLOW_REVISION}, MLflow 3.17). ` +
          'It was probably written by a newer MLflow: update mloop, or export the runs with that MLflow. Nothing was imported.',
      );
    }
    this.schema = revision ?? 'initial';
  }

  private has(table: string, column: string): boolean {
    let set = this.columns.get(table);
    if (!set) {
      set = new Set(this.tables.has(table) ? (this.db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]) : []);
      this.columns.set(table, set);
    }
    return set.has(column);
  }

  /** Rows of the default workspace only when the database has workspaces (MLflow 3.17+). */
  private workspaceFilter(table: string, alias = ''): string {
    return this.has(table, 'workspace') ? ` AND ${alias}workspace = 'default'` : '';
  }

  experiments(): SourceExperiment[] {
    const created = this.has('experiments', 'creation_time') ? 'creation_time' : 'NULL';
    const updated = this.has('experiments', 'last_update_time') ? 'last_update_time' : 'NULL';
    const rows = this.db
      .prepare(
        `SELECT CAST(experiment_id AS TEXT) AS id, name, artifact_location, lifecycle_stage, ${created} AS created, ${updated} AS updated
         FROM experiments WHERE 1 = 1${this.workspaceFilter('experiments')} ORDER BY experiment_id`,
      )
      .all() as {
      id: string;
      name: string;
      artifact_location: string | null;
      lifecycle_stage: string | null;
      created: number | null;
      updated: number | null;
    }[];
    const tagsOf = this.tables.has('experiment_tags')
      ? this.db.prepare('SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key')
      : undefined;
    return rows.map((r) => ({
      mlflowId: r.id,
      name: r.name,
      artifactLocation: r.artifact_location,
      lifecycleStage: r.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
      createdAt: r.created,
      updatedAt: r.updated,
      tags: tagsOf ? toRecord(tagsOf.all(Number(r.id)) as { key: string; value: string | null }[]) : {},
    }));
  }

  runs(): SourceRun[] {
    const col = (name: string): string => (this.has('runs', name) ? name : 'NULL');
    const experimentIds = new Set(this.experiments().map((e) => e.mlflowId));
    const rows = this.db
      .prepare(
        `SELECT run_uuid, CAST(experiment_id AS TEXT) AS experiment_id, ${col('name')} AS name, status, start_time, end_time, user_id,
                source_name, source_version, artifact_uri, lifecycle_stage
         FROM runs ORDER BY start_time, run_uuid`,
      )
      .all() as {
      run_uuid: string;
      experiment_id: string;
      name: string | null;
      status: string | null;
      start_time: number | null;
      end_time: number | null;
      user_id: string | null;
      source_name: string | null;
      source_version: string | null;
      artifact_uri: string | null;
      lifecycle_stage: string | null;
    }[];
    return rows
      .filter((r) => experimentIds.has(r.experiment_id))
      .map((r) => ({
        runId: r.run_uuid,
        mlflowExperimentId: r.experiment_id,
        name: r.name,
        status: runStatus(this.location, r.run_uuid, r.status),
        startTime: r.start_time,
        endTime: r.end_time,
        user: r.user_id || null,
        sourceName: r.source_name || null,
        sourceVersion: r.source_version || null,
        artifactUri: r.artifact_uri,
        lifecycleStage: r.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
      }));
  }

  runData(run: SourceRun): SourceRunData {
    const params = toRecord(
      this.db.prepare('SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key').all(run.runId) as { key: string; value: string | null }[],
    );
    const tags = toRecord(
      this.db.prepare('SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY key').all(run.runId) as { key: string; value: string | null }[],
    );
    const metricCount = this.db.prepare('SELECT count(*) FROM metrics WHERE run_uuid = ?').pluck().get(run.runId) as number;
    const step = this.has('metrics', 'step') ? 'step' : '0';
    const isNan = this.has('metrics', 'is_nan') ? 'is_nan' : '0';
    // rowid order is the order MLflow inserted the points: the order they were logged
    const page = this.db
      .prepare(`SELECT rowid, key, value, timestamp, ${step} AS step, ${isNan} AS is_nan FROM metrics WHERE run_uuid = ? AND rowid > ? ORDER BY rowid LIMIT ?`)
      .raw();
    const runId = run.runId;
    return {
      params,
      tags,
      metricCount,
      *metricChunks(): Iterable<SourceMetricPoint[]> {
        let after = -1;
        for (;;) {
          const rows = page.all(runId, after, METRIC_CHUNK) as [number, string, number | null, number, number, number][];
          if (rows.length === 0) return;
          yield rows.map(([, key, value, timestamp, s, nan]) => ({ key, value: nan === 1 || value === null ? Number.NaN : value, step: s, timestamp }));
          after = rows[rows.length - 1]![0];
          if (rows.length < METRIC_CHUNK) return;
        }
      },
    };
  }

  models(): SourceModel[] {
    if (!this.tables.has('registered_models')) return [];
    const ws = this.workspaceFilter('registered_models');
    const models = this.db
      .prepare(`SELECT name, description, creation_time, last_updated_time FROM registered_models WHERE 1 = 1${ws} ORDER BY name`)
      .all() as {
      name: string;
      description: string | null;
      creation_time: number | null;
      last_updated_time: number | null;
    }[];
    const mws = this.workspaceFilter('model_versions');
    const versionsOf = this.db.prepare(
      `SELECT version, run_id, source, current_stage, description, creation_time FROM model_versions WHERE name = ?${mws} ORDER BY version`,
    );
    const modelTags = this.tables.has('registered_model_tags')
      ? this.db.prepare(`SELECT key, value FROM registered_model_tags WHERE name = ?${this.workspaceFilter('registered_model_tags')}`)
      : undefined;
    const versionTags = this.tables.has('model_version_tags')
      ? this.db.prepare(`SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?${this.workspaceFilter('model_version_tags')}`)
      : undefined;
    const aliases = this.tables.has('registered_model_aliases')
      ? this.db.prepare(`SELECT alias, version FROM registered_model_aliases WHERE name = ?${this.workspaceFilter('registered_model_aliases')} ORDER BY alias`)
      : undefined;
    return models.map((m) => {
      const versions = (
        versionsOf.all(m.name) as {
          version: number;
          run_id: string | null;
          source: string | null;
          current_stage: string | null;
          description: string | null;
          creation_time: number | null;
        }[]
      ).map(
        (v): SourceModelVersion => ({
          version: v.version,
          runId: v.run_id || null,
          source: v.source,
          stage: v.current_stage,
          description: v.description,
          createdAt: v.creation_time,
          tags: versionTags ? toRecord(versionTags.all(m.name, v.version) as { key: string; value: string | null }[]) : {},
        }),
      );
      return {
        name: m.name,
        description: m.description,
        createdAt: m.creation_time,
        updatedAt: m.last_updated_time,
        tags: modelTags ? toRecord(modelTags.all(m.name) as { key: string; value: string | null }[]) : {},
        versions,
        aliases: aliases ? Object.fromEntries((aliases.all(m.name) as { alias: string; version: number }[]).map((a) => [a.alias, a.version])) : {},
      };
    });
  }

  notImported(): string[] {
    const out: string[] = [];
    const count = (sql: string): number => this.db.prepare(sql).pluck().get() as number;
    if (this.has('experiments', 'workspace')) {
      const other = count("SELECT count(*) FROM experiments WHERE workspace <> 'default'");
      if (other) out.push(`${other} experiment(s) in MLflow workspaces other than "default"`);
    }
    if (this.tables.has('logged_models')) {
      const n = count('SELECT count(*) FROM logged_models');
      if (n) out.push(`${n} logged model record(s) (MLflow 3 LoggedModel; the registered versions that point at them are imported)`);
    }
    if (this.tables.has('inputs')) {
      const n = count('SELECT count(*) FROM inputs');
      if (n) out.push(`${n} dataset/model input link(s)`);
    }
    if (this.tables.has('trace_info')) {
      const n = count('SELECT count(*) FROM trace_info');
      if (n) out.push(`${n} trace(s) (GenAI tracing)`);
    }
    return out;
  }

  close(): void {
    this.db.close();
  }
}

function runStatus(file: string, runId: string, status: string | null): MlflowRunStatus {
  if (status && (MLFLOW_RUN_STATUSES as readonly string[]).includes(status)) return status as MlflowRunStatus;
  throw new MlflowSourceError(
    'BAD_FILE',
    file,
    `${file}: run ${runId} has status "${status ?? ''}" (field runs.status); MLflow uses ${MLFLOW_RUN_STATUSES.join(', ')}.`,
  );
}

function toRecord(rows: readonly { key: string; value: string | null }[]): Record<string, string> {
  return Object.fromEntries(rows.map((r) => [r.key, r.value ?? '']));
}
