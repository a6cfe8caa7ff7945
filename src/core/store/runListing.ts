import type { Store } from './store';
import type { RunStatus } from './runs';

/** A run as a listing shows it: enough for a tree row, nothing that costs a query per row. */
export interface RunListItem {
  readonly runId: string;
  readonly experimentId: number;
  readonly name: string;
  readonly status: RunStatus;
  readonly pipeline: string | null;
  readonly startTime: number;
  readonly endTime: number | null;
}

export interface ExperimentRunCount {
  readonly experimentId: number;
  readonly name: string;
  readonly runs: number;
  readonly running: number;
  readonly lastStart: number;
}

/** Experiments that have runs, most recently active first, with their counts in one query. */
export function experimentsWithRuns(store: Store): ExperimentRunCount[] {
  return store.db
    .prepare(
      `SELECT e.experiment_id AS experimentId, e.name AS name, count(r.run_id) AS runs,
              sum(r.status = 'RUNNING') AS running, max(r.start_time) AS lastStart
       FROM experiment e JOIN run r ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'
       WHERE e.lifecycle_stage = 'active'
       GROUP BY e.experiment_id ORDER BY lastStart DESC`,
    )
    .all() as ExperimentRunCount[];
}

/** One page of an experiment's runs, newest first (uses the run_by_experiment index). */
export function runPage(store: Store, experimentId: number, offset: number, limit: number): RunListItem[] {
  return store.db
    .prepare(
      `SELECT run_id AS runId, experiment_id AS experimentId, name, status, pipeline, start_time AS startTime, end_time AS endTime
       FROM run WHERE experiment_id = ? AND lifecycle_stage = 'active'
       ORDER BY start_time DESC, run_id LIMIT ? OFFSET ?`,
    )
    .all(experimentId, limit, offset) as RunListItem[];
}

/**
 * The latest value (highest step, then newest) of one metric key for many runs at once,
 * so a page of tree rows costs one query, not one per row.
 */
export function latestMetricValues(store: Store, runIds: readonly string[], key: string): Map<string, number> {
  const result = new Map<string, number>();
  if (runIds.length === 0) return result;
  // metric_series keeps each series' latest point: one indexed row per run, in one query
  const rows = store.db
    .prepare('SELECT run_id, latest_value FROM metric_series WHERE key = ? AND count > 0 AND run_id IN (SELECT value FROM json_each(?))')
    .raw()
    .all(key, JSON.stringify(runIds)) as [string, number | null][];
  for (const [runId, value] of rows) result.set(runId, value ?? Number.NaN);
  return result;
}
