import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { appendMetricPoints, findSeries, historyPage, seriesOfRuns } from './metricPoints';
import { type RunStatus } from '../../shared/runStatus';
import type { Store } from './store';

export type { RunStatus };

export interface Run {
  readonly runId: string;
  readonly experimentId: number;
  readonly name: string;
  readonly status: RunStatus;
  readonly pipeline: string | null;
  readonly command: string | null;
  readonly gitCommit: string | null;
  readonly gitDirty: boolean | null;
  readonly entryFile: string | null;
  readonly entryDigest: string | null;
  readonly user: string | null;
  readonly pid: number | null;
  readonly startTime: number;
  readonly endTime: number | null;
  readonly exitCode: number | null;
  readonly artifactUri: string | null;
}

export interface NewRun {
  /** An id given by someone else (a remote MLflow server made the run first); default: a new one. */
  readonly runId?: string;
  readonly experimentId: number;
  readonly name?: string;
  readonly status?: RunStatus;
  readonly pipeline?: string;
  readonly command?: string;
  readonly gitCommit?: string;
  readonly gitDirty?: boolean;
  readonly entryFile?: string;
  readonly entryDigest?: string;
  readonly user?: string;
  readonly pid?: number;
  readonly startTime?: number;
  readonly params?: Readonly<Record<string, string>>;
  readonly tags?: Readonly<Record<string, string>>;
  /** Where the run's artifacts live, e.g. `mlflow-artifacts:/<experiment>/<run>/artifacts`; `{runId}` is replaced. */
  readonly artifactUri?: string;
}

export interface MetricPoint {
  readonly key: string;
  readonly value: number;
  readonly step: number;
  readonly timestamp: number;
}

export type RunLifecycleStage = 'active' | 'deleted';

interface RunRow {
  run_id: string;
  experiment_id: number;
  name: string;
  status: RunStatus;
  pipeline: string | null;
  command: string | null;
  git_commit: string | null;
  git_dirty: 0 | 1 | null;
  entry_file: string | null;
  entry_digest: string | null;
  user: string | null;
  pid: number | null;
  start_time: number;
  end_time: number | null;
  exit_code: number | null;
  artifact_uri: string | null;
}

const toRun = (row: RunRow): Run => ({
  runId: row.run_id,
  experimentId: row.experiment_id,
  name: row.name,
  status: row.status,
  pipeline: row.pipeline,
  command: row.command,
  gitCommit: row.git_commit,
  gitDirty: row.git_dirty === null ? null : row.git_dirty === 1,
  entryFile: row.entry_file,
  entryDigest: row.entry_digest,
  user: row.user,
  pid: row.pid,
  startTime: row.start_time,
  endTime: row.end_time,
  exitCode: row.exit_code,
  artifactUri: row.artifact_uri,
});

/** A run id in MLflow's format: 32 lowercase hex characters. */
export const newRunId = (): string => randomUUID().replaceAll('-', '');

export class RunRepository {
  // prepared once per repository: the ingest path looks a run up on every request
  private selectRun: Database.Statement<unknown[], unknown> | undefined;
  private selectLifecycleStage: Database.Statement<unknown[], unknown> | undefined;

  constructor(private readonly store: Store) {}

  create(run: NewRun): Run {
    const runId = run.runId ?? newRunId();
    const startTime = run.startTime ?? Date.now();
    this.store.transaction(() => {
      this.store.db
        .prepare(
          `INSERT INTO run (run_id, experiment_id, name, status, pipeline, command, git_commit, git_dirty,
             entry_file, entry_digest, user, pid, start_time, artifact_uri)
           VALUES (@runId, @experimentId, @name, @status, @pipeline, @command, @gitCommit, @gitDirty,
             @entryFile, @entryDigest, @user, @pid, @startTime, @artifactUri)`,
        )
        .run({
          runId,
          experimentId: run.experimentId,
          name: run.name ?? `run-${runId.slice(0, 8)}`,
          status: run.status ?? 'RUNNING',
          pipeline: run.pipeline ?? null,
          command: run.command ?? null,
          gitCommit: run.gitCommit ?? null,
          gitDirty: run.gitDirty === undefined ? null : run.gitDirty ? 1 : 0,
          entryFile: run.entryFile ?? null,
          entryDigest: run.entryDigest ?? null,
          user: run.user ?? null,
          pid: run.pid ?? null,
          startTime,
          artifactUri: run.artifactUri?.replaceAll('{runId}', runId) ?? null,
        });
      const insertParam = this.store.db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
      for (const [key, value] of Object.entries(run.params ?? {})) insertParam.run(runId, key, value);
      const insertTag = this.store.db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?)');
      for (const [key, value] of Object.entries(run.tags ?? {})) insertTag.run(runId, key, value);
    });
    return this.get(runId)!;
  }

  get(runId: string): Run | undefined {
    this.selectRun ??= this.store.db.prepare('SELECT * FROM run WHERE run_id = ?');
    const row = this.selectRun.get(runId) as RunRow | undefined;
    return row && toRun(row);
  }

  /** Newest first. */
  list(options: { experimentId?: number; limit?: number } = {}): Run[] {
    const where = options.experimentId === undefined ? "WHERE lifecycle_stage = 'active'" : "WHERE lifecycle_stage = 'active' AND experiment_id = ?";
    const args = options.experimentId === undefined ? [] : [options.experimentId];
    const rows = this.store.db.prepare(`SELECT * FROM run ${where} ORDER BY start_time DESC, run_id LIMIT ?`).all(...args, options.limit ?? -1) as RunRow[];
    return rows.map(toRun);
  }

  finish(runId: string, outcome: { status: Exclude<RunStatus, 'SCHEDULED' | 'RUNNING'>; exitCode?: number | null; endTime?: number }): void {
    this.store.db
      .prepare('UPDATE run SET status = ?, exit_code = ?, end_time = ?, pid = NULL WHERE run_id = ?')
      .run(outcome.status, outcome.exitCode ?? null, outcome.endTime ?? Date.now(), runId);
  }

  params(runId: string): Record<string, string> {
    const rows = this.store.db.prepare('SELECT key, value FROM param WHERE run_id = ? ORDER BY key').all(runId) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  tags(runId: string): Record<string, string> {
    const rows = this.store.db.prepare('SELECT key, value FROM tag WHERE run_id = ? ORDER BY key').all(runId) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  logMetrics(runId: string, points: readonly MetricPoint[]): void {
    this.store.transaction(() => appendMetricPoints(this.store.db, runId, points));
  }

  /** Changes what MLflow's runs/update may change; fields left out stay as they are. */
  update(runId: string, changes: { status?: RunStatus; endTime?: number | null; name?: string }): void {
    this.store.db
      .prepare(
        `UPDATE run SET status = coalesce(@status, status), end_time = CASE WHEN @setEnd THEN @endTime ELSE end_time END,
           name = coalesce(@name, name) WHERE run_id = @runId`,
      )
      .run({
        runId,
        status: changes.status ?? null,
        setEnd: changes.endTime === undefined ? 0 : 1,
        endTime: changes.endTime ?? null,
        name: changes.name ?? null,
      });
  }

  /** Renames a run, with the mlflow.runName tag MLflow clients read the name from. */
  rename(runId: string, name: string): void {
    this.store.transaction(() => {
      this.update(runId, { name });
      this.store.db
        .prepare("INSERT INTO tag (run_id, key, value) VALUES (?, 'mlflow.runName', ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value")
        .run(runId, name);
    });
  }

  lifecycleStage(runId: string): RunLifecycleStage | undefined {
    this.selectLifecycleStage ??= this.store.db.prepare('SELECT lifecycle_stage FROM run WHERE run_id = ?').pluck();
    return this.selectLifecycleStage.get(runId) as RunLifecycleStage | undefined;
  }

  /** Soft delete and restore, as MLflow's runs/delete and runs/restore. */
  setLifecycleStage(runId: string, stage: RunLifecycleStage): void {
    this.store.db.prepare('UPDATE run SET lifecycle_stage = ? WHERE run_id = ?').run(stage, runId);
  }

  /** The last logged point of each metric (highest step, then newest timestamp), with its step and time. */
  latestMetricPoints(runId: string): MetricPoint[] {
    return seriesOfRuns(this.store.db, [runId]).map((s) => ({ key: s.key, value: s.latestValue, step: s.latestStep, timestamp: s.latestTimestamp }));
  }

  /** Every point of one metric in logging order (step, then time), a page at a time. */
  metricHistory(runId: string, key: string, options: { offset?: number; limit?: number } = {}): MetricPoint[] {
    const series = findSeries(this.store.db, runId, key);
    if (!series) return [];
    const offset = options.offset ?? 0;
    const limit = options.limit === undefined || options.limit < 0 ? series.count : options.limit;
    const points = historyPage(this.store.db, series, offset, limit);
    const out: MetricPoint[] = new Array(points.length / 3);
    for (let i = 0; i < out.length; i++) out[i] = { key, value: points[i * 3 + 2]!, step: points[i * 3]!, timestamp: points[i * 3 + 1]! };
    return out;
  }

  /** The last logged value of each metric (highest step, then newest timestamp), as MLflow reports it. */
  latestMetrics(runId: string): Record<string, number> {
    return Object.fromEntries(seriesOfRuns(this.store.db, [runId]).map((s) => [s.key, s.latestValue]));
  }

  /**
   * Marks runs left RUNNING by a process that no longer exists (an editor or CLI that crashed) as KILLED.
   * `isAlive` is injected so the check can be tested and so callers decide what "alive" means.
   */
  reapOrphans(isAlive: (pid: number) => boolean, now: number = Date.now()): string[] {
    const running = this.store.db.prepare("SELECT run_id, pid FROM run WHERE status = 'RUNNING'").all() as { run_id: string; pid: number | null }[];
    const orphans = running.filter((r) => r.pid !== null && !isAlive(r.pid)).map((r) => r.run_id);
    this.store.transaction(() => {
      for (const runId of orphans) this.finish(runId, { status: 'KILLED', endTime: now });
    });
    return orphans;
  }
}
