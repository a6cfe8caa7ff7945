import { isAbsolute, relative, resolve } from 'node:path';
import type { Store } from '../store/store';

/** A model version trained from a file (through the runs that used it). */
export interface TrainedModel {
  readonly modelName: string;
  readonly version: number;
  readonly modelVersionId: number;
  readonly aliases: readonly string[];
  readonly sourceRunId: string;
}

export interface EntryScriptUsage {
  /** The file as the store records it (relative to the project when inside it). */
  readonly file: string;
  readonly runs: number;
  readonly lastRun:
    | {
        readonly runId: string;
        readonly name: string;
        readonly status: string;
        readonly startTime: number;
        readonly gitCommit: string | null;
        readonly gitDirty: boolean | null;
      }
    | undefined;
  /** The best final value of the metric asked for among these runs. */
  readonly best: { readonly metric: string; readonly value: number; readonly runId: string; readonly runName: string } | undefined;
  /** Newest version first. */
  readonly models: TrainedModel[];
}

/** Metrics where smaller is better, by the names people give losses and errors. */
const LOWER_IS_BETTER = /loss|err|mse|mae|rmse|perplexity|latency|cost/i;

/** How a path may be written in the store: relative to the project (launcher) or absolute (mlflow.source.name). */
function pathForms(projectRoot: string, file: string): string[] {
  const absolute = isAbsolute(file) ? file : resolve(projectRoot, file);
  const rel = relative(projectRoot, absolute);
  const forms = [absolute];
  if (!rel.startsWith('..') && !isAbsolute(rel)) forms.push(rel, rel.split('\\').join('/'), `./${rel}`);
  return [...new Set(forms)];
}

/**
 * What the store knows about a training script: the runs whose entry file it was, the best final
 * value of `metric`, and the model versions registered from those runs. `file` is absolute or relative to `projectRoot`.
 */
export function entryScriptUsage(store: Store, projectRoot: string, file: string, metric?: MetricChoice): EntryScriptUsage {
  const forms = pathForms(projectRoot, file);
  const usage = runsUsage(store, `entry_file IN (${forms.map(() => '?').join(', ')})`, forms, metric);
  return { file: usage.runs ? relative(projectRoot, resolve(projectRoot, file)) : file, ...usage };
}

/** The same summary for a pipeline of mloop.yaml: its runs, best metric and the versions they registered. */
export function pipelineUsage(store: Store, pipeline: string, metric?: MetricChoice): Omit<EntryScriptUsage, 'file'> {
  return runsUsage(store, 'pipeline = ?', [pipeline], metric);
}

type MetricChoice = { readonly name: string; readonly goal?: 'maximize' | 'minimize' };

/** `where` filters table run (no alias); runs in the bin (lifecycle 'deleted') do not count. */
function runsUsage(store: Store, where: string, params: readonly unknown[], metric?: MetricChoice): Omit<EntryScriptUsage, 'file'> {
  const db = store.db;
  const runs = db
    .prepare(
      `SELECT run_id, name, status, start_time, git_commit, git_dirty FROM run WHERE (${where}) AND lifecycle_stage = 'active' ORDER BY start_time DESC, run_id`,
    )
    .all(...params) as { run_id: string; name: string; status: string; start_time: number; git_commit: string | null; git_dirty: number | null }[];
  const last = runs[0];
  let best: EntryScriptUsage['best'];
  if (metric && runs.length) {
    const minimize = metric.goal ? metric.goal === 'minimize' : LOWER_IS_BETTER.test(metric.name);
    const row = db
      .prepare(
        `SELECT s.run_id, r.name, s.latest_value AS value FROM metric_series s JOIN (SELECT * FROM run WHERE (${where}) AND lifecycle_stage = 'active') r USING (run_id)
         WHERE s.key = ? AND s.latest_value IS NOT NULL AND s.latest_value = s.latest_value
         ORDER BY s.latest_value ${minimize ? 'ASC' : 'DESC'}, r.start_time DESC LIMIT 1`,
      )
      .get(...params, metric.name) as { run_id: string; name: string; value: number } | undefined;
    if (row) best = { metric: metric.name, value: row.value, runId: row.run_id, runName: row.name };
  }
  return {
    runs: runs.length,
    lastRun: last && {
      runId: last.run_id,
      name: last.name,
      status: last.status,
      startTime: last.start_time,
      gitCommit: last.git_commit,
      gitDirty: last.git_dirty === null ? null : last.git_dirty === 1,
    },
    best,
    models: trainedModels(store, `SELECT run_id FROM run WHERE ${where}`, params),
  };
}

function trainedModels(store: Store, runSubquery: string, params: readonly unknown[]): TrainedModel[] {
  const rows = store.db
    .prepare(
      `SELECT m.name, v.version, v.model_version_id, v.source_run_id,
         (SELECT group_concat(a.alias, char(31)) FROM alias a WHERE a.model_version_id = v.model_version_id) AS aliases
       FROM model_version v JOIN model m USING (model_id)
       WHERE v.source_run_id IN (${runSubquery}) ORDER BY v.created_at DESC, v.model_version_id DESC`,
    )
    .all(...params) as { name: string; version: number; model_version_id: number; source_run_id: string; aliases: string | null }[];
  return rows.map((r) => ({
    modelName: r.name,
    version: r.version,
    modelVersionId: r.model_version_id,
    sourceRunId: r.source_run_id,
    aliases: r.aliases ? r.aliases.split('\u001f').sort() : [],
  }));
}

export interface DataPathUsage {
  readonly datasetId: number;
  readonly name: string;
  readonly uri: string;
  readonly versions: number;
  readonly latest:
    | {
        readonly datasetVersionId: number;
        readonly digest: string;
        readonly rowCount: number | null;
        readonly createdAt: number;
        readonly profileLine: string | undefined;
      }
    | undefined;
  /** Runs that read any version of it. */
  readonly runs: number;
  /** Model versions registered from those runs, newest first. */
  readonly models: TrainedModel[];
}

/**
 * The datasets stored for a path written in code (`"data/weather.csv"`): matched against each
 * dataset's uri and version paths, resolved from `projectRoot` and from each of `baseFolders`
 * (the folder of the file the string is in). `file://` URIs are accepted.
 */
export function dataPathUsage(store: Store, projectRoot: string, written: string, baseFolders: readonly string[] = []): DataPathUsage[] {
  const text = written.startsWith('file://') ? decodeURIComponent(written.slice('file://'.length)) : written;
  if (text.trim() === '' || text.length > 4096) return [];
  const targets = new Set<string>([projectRoot, ...baseFolders].map((base) => resolve(base, text)));
  const db = store.db;
  const candidates = db.prepare('SELECT d.dataset_id, d.name, d.uri FROM dataset d').all() as { dataset_id: number; name: string; uri: string }[];
  const matches = new Set<number>();
  const resolves = (path: string): boolean => {
    const plain = path.startsWith('file://') ? decodeURIComponent(path.slice('file://'.length)) : path;
    return plain === text || targets.has(resolve(projectRoot, plain));
  };
  for (const d of candidates) if (resolves(d.uri)) matches.add(d.dataset_id);
  const versionPaths = db.prepare('SELECT DISTINCT dataset_id, path FROM dataset_version').all() as { dataset_id: number; path: string }[];
  for (const v of versionPaths) if (!matches.has(v.dataset_id) && resolves(v.path)) matches.add(v.dataset_id);
  return candidates
    .filter((d) => matches.has(d.dataset_id))
    .map((d) => {
      const latest = db
        .prepare(
          'SELECT dataset_version_id, digest, row_count, created_at, profile_json FROM dataset_version WHERE dataset_id = ? ORDER BY created_at DESC, dataset_version_id DESC LIMIT 1',
        )
        .get(d.dataset_id) as
        | { dataset_version_id: number; digest: string; row_count: number | null; created_at: number; profile_json: string | null }
        | undefined;
      const versions = db.prepare('SELECT count(*) FROM dataset_version WHERE dataset_id = ?').pluck().get(d.dataset_id) as number;
      const runSubquery = 'SELECT i.run_id FROM run_input i JOIN dataset_version v USING (dataset_version_id) WHERE v.dataset_id = ?';
      const runs = db.prepare(`SELECT count(DISTINCT run_id) FROM (${runSubquery})`).pluck().get(d.dataset_id) as number;
      return {
        datasetId: d.dataset_id,
        name: d.name,
        uri: d.uri,
        versions,
        latest: latest && {
          datasetVersionId: latest.dataset_version_id,
          digest: latest.digest,
          rowCount: latest.row_count,
          createdAt: latest.created_at,
          profileLine: profileLine(latest.profile_json),
        },
        runs,
        models: trainedModels(store, runSubquery, [d.dataset_id]),
      };
    });
}

/** One line from a stored profile: rows × columns, then each column's name and type. */
export function profileLine(profileJson: string | null): string | undefined {
  if (!profileJson) return undefined;
  try {
    const profile = JSON.parse(profileJson) as { rows?: unknown; columns?: { name?: unknown; type?: unknown; nulls?: unknown }[] };
    if (typeof profile.rows !== 'number' || !Array.isArray(profile.columns)) return undefined;
    const columns = profile.columns.map((c) => `${String(c.name)}: ${String(c.type)}${typeof c.nulls === 'number' && c.nulls > 0 ? ` (${c.nulls} null)` : ''}`);
    return `${profile.rows.toLocaleString('en-US')} rows × ${columns.length} columns — ${columns.slice(0, 12).join(', ')}${columns.length > 12 ? ', …' : ''}`;
  } catch {
    return undefined;
  }
}

/** The CodeLens line: "4 runs · best accuracy 0.91 · weather-clf v3 (champion)". */
export function usageSummary(usage: Omit<EntryScriptUsage, 'file'>): string {
  const parts = [`${usage.runs} run${usage.runs === 1 ? '' : 's'}`];
  if (usage.best) parts.push(`best ${usage.best.metric} ${Number(usage.best.value.toPrecision(4))}`);
  const shown = usage.models.find((m) => m.aliases.includes('champion')) ?? usage.models[0];
  if (shown) parts.push(`${shown.modelName} v${shown.version}${shown.aliases.length ? ` (${shown.aliases.join(', ')})` : ''}`);
  return parts.join(' · ');
}
