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
  const statement = store.db.prepare(
    `SELECT value, is_nan FROM metric WHERE run_id = ? AND key = ? ORDER BY step DESC, timestamp DESC, rowid DESC LIMIT 1`,
  );
  for (const runId of runIds) {
    const row = statement.get(runId, key) as { value: number | null; is_nan: 0 | 1 } | undefined;
    if (row) result.set(runId, row.is_nan ? Number.NaN : (row.value ?? Number.NaN));
  }
  return result;
}
