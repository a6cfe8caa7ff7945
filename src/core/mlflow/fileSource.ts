import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
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

/** MLflow's RunStatus enum as the folder store writes it in meta.yaml. */
const STATUS_BY_NUMBER: Record<number, MlflowRunStatus> = { 1: 'RUNNING', 2: 'SCHEDULED', 3: 'FINISHED', 4: 'FAILED', 5: 'KILLED' };
const RUN_ID = /^[0-9a-f]{32}$/;
const METRIC_CHUNK = 10_000;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The legacy folder store (`./mlruns`): experiments as `<id>/meta.yaml`, runs as `<id>/<run>/meta.yaml`
 * with `params/<key>`, `tags/<key>` (a key with "/" is a sub-folder) and `metrics/<key>` holding one
 * `timestamp value step` line per point; deleted experiments under `.trash/`; the registry under `models/`.
 */
export function openFolderSource(root: string): MlflowSource {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new MlflowSourceError('NOT_FOUND', root, `${root} is not a folder.`);
  const hasExperiment = readdirSync(root).some((name) => existsSync(join(root, name, 'meta.yaml')) && name !== 'models');
  if (!hasExperiment) {
    throw new MlflowSourceError('NOT_MLFLOW', root, `${root} is not an MLflow mlruns folder: no experiment folder with a meta.yaml in it.`);
  }
  return new FolderSource(root);
}

class FolderSource implements MlflowSource {
  readonly kind = 'folder' as const;
  readonly schema = 'folder';
  private experimentList: (SourceExperiment & { dir: string })[] | undefined;
  private readonly runDirs = new Map<string, string>();

  constructor(readonly location: string) {}

  experiments(): SourceExperiment[] {
    if (this.experimentList) return this.experimentList;
    const found: (SourceExperiment & { dir: string })[] = [];
    const scan = (parent: string, deleted: boolean): void => {
      if (!existsSync(parent)) return;
      for (const name of readdirSync(parent).sort()) {
        const dir = join(parent, name);
        const metaPath = join(dir, 'meta.yaml');
        if (name === 'models' || name.startsWith('.') || !existsSync(metaPath)) continue;
        const meta = readMeta(metaPath);
        const id = String(meta.experiment_id ?? name);
        const stage = meta.lifecycle_stage === 'deleted' || deleted ? 'deleted' : 'active';
        found.push({
          dir,
          mlflowId: id,
          name: requireText(metaPath, meta, 'name'),
          artifactLocation: optionalText(meta.artifact_location),
          lifecycleStage: stage,
          createdAt: optionalNumber(meta.creation_time),
          updatedAt: optionalNumber(meta.last_update_time),
          tags: readKeyValueFolder(join(dir, 'tags')),
        });
      }
    };
    scan(this.location, false);
    scan(join(this.location, '.trash'), true);
    this.experimentList = found;
    return found;
  }

  runs(): SourceRun[] {
    const runs: SourceRun[] = [];
    for (const experiment of this.experiments() as (SourceExperiment & { dir: string })[]) {
      for (const name of readdirSync(experiment.dir).sort()) {
        const dir = join(experiment.dir, name);
        const metaPath = join(dir, 'meta.yaml');
        if (!RUN_ID.test(name) || !existsSync(metaPath)) continue;
        const meta = readMeta(metaPath);
        const runId = String(meta.run_id ?? meta.run_uuid ?? name);
        this.runDirs.set(runId, dir);
        runs.push({
          runId,
          mlflowExperimentId: experiment.mlflowId,
          name: optionalText(meta.run_name),
          status: folderStatus(metaPath, meta.status),
          startTime: optionalNumber(meta.start_time),
          endTime: optionalNumber(meta.end_time),
          user: optionalText(meta.user_id),
          sourceName: optionalText(meta.source_name),
          sourceVersion: optionalText(meta.source_version),
          artifactUri: optionalText(meta.artifact_uri),
          lifecycleStage: meta.lifecycle_stage === 'deleted' || experiment.lifecycleStage === 'deleted' ? 'deleted' : 'active',
        });
      }
    }
    return runs.sort((a, b) => (a.startTime ?? 0) - (b.startTime ?? 0) || a.runId.localeCompare(b.runId));
  }

  runData(run: SourceRun): SourceRunData {
    const dir = this.runDirs.get(run.runId);
    if (!dir) throw new Error(`run ${run.runId} was not listed by runs()`);
    const metricFiles = listFiles(join(dir, 'metrics'));
    // parse every file up front: a truncated line fails the run before anything of it is written
    const parsed = metricFiles.map(({ key, path }) => ({ key, points: parseMetricFile(path, key) }));
    const metricCount = parsed.reduce((n, p) => n + p.points.length, 0);
    return {
      params: readKeyValueFolder(join(dir, 'params')),
      tags: readKeyValueFolder(join(dir, 'tags')),
      metricCount,
      *metricChunks(): Iterable<readonly SourceMetricPoint[]> {
        for (const { points } of parsed) {
          for (let i = 0; i < points.length; i += METRIC_CHUNK) yield points.slice(i, i + METRIC_CHUNK);
        }
      },
    };
  }

  models(): SourceModel[] {
    const modelsDir = join(this.location, 'models');
    if (!existsSync(modelsDir)) return [];
    const models: SourceModel[] = [];
    for (const folder of readdirSync(modelsDir).sort()) {
      const dir = join(modelsDir, folder);
      const metaPath = join(dir, 'meta.yaml');
      if (!existsSync(metaPath)) continue;
      const meta = readMeta(metaPath);
      const versions: SourceModelVersion[] = [];
      for (const entry of readdirSync(dir).sort()) {
        const versionMetaPath = join(dir, entry, 'meta.yaml');
        if (!/^version-\d+$/.test(entry) || !existsSync(versionMetaPath)) continue;
        const v = readMeta(versionMetaPath);
        const version = Number(v.version ?? entry.slice('version-'.length));
        if (!Number.isInteger(version) || version < 1)
          throw new MlflowSourceError(
            'BAD_FILE',
            versionMetaPath,
            `${versionMetaPath}: field "version" must be a whole number ≥ 1 (got ${JSON.stringify(v.version)}).`,
          );
        versions.push({
          version,
          runId: optionalText(v.run_id),
          source: optionalText(v.source),
          stage: optionalText(v.current_stage),
          description: optionalText(v.description),
          createdAt: optionalNumber(v.creation_timestamp),
          tags: readKeyValueFolder(join(dir, entry, 'tags')),
        });
      }
      const aliases: Record<string, number> = {};
      const declared = meta.aliases;
      if (declared && typeof declared === 'object') {
        for (const [alias, version] of Object.entries(declared as Record<string, unknown>)) aliases[alias] = Number(version);
      }
      for (const { key, path } of listFiles(join(dir, 'aliases'))) aliases[key] ??= Number(readFileSync(path, 'utf8').trim());
      models.push({
        name: requireText(metaPath, meta, 'name'),
        description: optionalText(meta.description),
        createdAt: optionalNumber(meta.creation_timestamp),
        updatedAt: optionalNumber(meta.last_updated_timestamp),
        tags: readKeyValueFolder(join(dir, 'tags')),
        versions: versions.sort((a, b) => a.version - b.version),
        aliases,
      });
    }
    return models;
  }

  notImported(): string[] {
    let loggedModels = 0;
    for (const experiment of this.experiments() as (SourceExperiment & { dir: string })[]) {
      const dir = join(experiment.dir, 'models');
      if (existsSync(dir)) loggedModels += readdirSync(dir).length;
    }
    return loggedModels ? [`${loggedModels} logged model record(s) (MLflow 3 LoggedModel; the registered versions that point at them are imported)`] : [];
  }

  close(): void {
    // nothing held open
  }
}

type Meta = Record<string, unknown>;

function readMeta(path: string): Meta {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MlflowSourceError('UNREADABLE', path, `Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const value: unknown = parseYaml(text);
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new MlflowSourceError(
        'BAD_FILE',
        path,
        `${path}:1: expected a YAML mapping of fields (MLflow meta.yaml), got ${value === null ? 'an empty file' : typeof value}.`,
        { line: 1 },
      );
    return value as Meta;
  } catch (error) {
    if (error instanceof MlflowSourceError) throw error;
    const line = error instanceof YAMLParseError ? error.linePos?.[0].line : undefined;
    throw new MlflowSourceError('BAD_FILE', path, `${path}${line ? `:${line}` : ''}: not valid YAML: ${(error as Error).message.split('\n')[0]}`, {
      line,
      cause: error,
    });
  }
}

function requireText(path: string, meta: Meta, field: string): string {
  const value = meta[field];
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number') return String(value);
  throw new MlflowSourceError('BAD_FILE', path, `${path}: field "${field}" is missing or empty.`);
}

const optionalText = (value: unknown): string | null =>
  typeof value === 'string' && value.length > 0 ? value : typeof value === 'number' ? String(value) : null;
const optionalNumber = (value: unknown): number | null => {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value !== '' ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : null;
};

function folderStatus(path: string, status: unknown): MlflowRunStatus {
  if (typeof status === 'number' && STATUS_BY_NUMBER[status]) return STATUS_BY_NUMBER[status];
  if (typeof status === 'string' && (MLFLOW_RUN_STATUSES as readonly string[]).includes(status)) return status as MlflowRunStatus;
  throw new MlflowSourceError(
    'BAD_FILE',
    path,
    `${path}: field "status" is ${JSON.stringify(status)}; MLflow writes 1–5 (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED).`,
  );
}

/** Files under `dir`, recursively, keyed by their path relative to it with "/" (MLflow keys may contain "/"). */
function listFiles(dir: string): { key: string; path: string }[] {
  if (!existsSync(dir)) return [];
  const out: { key: string; path: string }[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) out.push({ key: relative(dir, path).split(/[\\/]/).join('/'), path });
    }
  };
  walk(dir);
  return out;
}

function readKeyValueFolder(dir: string): Record<string, string> {
  return Object.fromEntries(listFiles(dir).map(({ key, path }) => [key, readFileSync(path, 'utf8')]));
}

/** Python's float text: nan, inf, -inf, or a decimal number. Anything else is not a value. */
function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan' || lower === '-nan') return Number.NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  return NUMBER.test(text) ? Number(text) : undefined;
}

/**
 * One metric file: `timestamp value step` per line (very old MLflow wrote `timestamp value`). MLflow
 * ends every line with a newline, so a last line without one was cut off mid-write and is refused.
 */
export function parseMetricFile(path: string, key: string): SourceMetricPoint[] {
  const text = readFileSync(path, 'utf8');
  if (text.length === 0) return [];
  const lines = text.split('\n');
  const complete = lines[lines.length - 1] === '';
  if (complete) lines.pop();
  const points: SourceMetricPoint[] = new Array(lines.length);
  let fields: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    const parts = line.split(/\s+/);
    const where = `${path}:${lineNo}`;
    if (!complete && i === lines.length - 1) {
      throw new MlflowSourceError(
        'BAD_FILE',
        path,
        `${where}: truncated metric line "${line}" (the file does not end with a newline: it was cut off while MLflow wrote it). Expected "timestamp value step".`,
        { line: lineNo },
      );
    }
    if (parts.length !== 2 && parts.length !== 3) {
      throw new MlflowSourceError(
        'BAD_FILE',
        path,
        `${where}: metric line "${line}" has ${line === '' ? 'no' : parts.length} field(s); expected "timestamp value step".`,
        { line: lineNo },
      );
    }
    fields ??= parts.length;
    if (parts.length !== fields) {
      throw new MlflowSourceError(
        'BAD_FILE',
        path,
        `${where}: metric line "${line}" has ${parts.length} fields but line 1 has ${fields}; the file is damaged (a truncated write?). Expected "timestamp value step".`,
        { line: lineNo },
      );
    }
    const timestamp = Number(parts[0]);
    const value = parseValue(parts[1]!);
    const step = parts.length === 3 ? Number(parts[2]) : 0;
    if (!Number.isSafeInteger(timestamp) || !/^-?\d+$/.test(parts[0]!))
      throw new MlflowSourceError('BAD_FILE', path, `${where}: timestamp "${parts[0]}" is not a whole number of milliseconds.`, { line: lineNo });
    if (value === undefined) throw new MlflowSourceError('BAD_FILE', path, `${where}: value "${parts[1]}" is not a number.`, { line: lineNo });
    if (!Number.isSafeInteger(step) || (parts.length === 3 && !/^-?\d+$/.test(parts[2]!)))
      throw new MlflowSourceError('BAD_FILE', path, `${where}: step "${parts[2]}" is not a whole number.`, { line: lineNo });
    points[i] = { key, value, step, timestamp };
  }
  return points;
}
