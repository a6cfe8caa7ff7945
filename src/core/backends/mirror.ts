import { appendMetricPoints, type MetricPointInput } from '../store/metricPoints';
import type { Store } from '../store/store';
import type { Backend } from './backend';

/** Points asked for per get-history request. */
const HISTORY_PAGE = 25_000;

/**
 * Copies runs (with every metric point, paged) from a backend into a store, replacing what the store
 * held of them. The metric charts and Compare read a store; with backend = mlflow they read a
 * session-only mirror of the runs being looked at, so downsampling and the page are the same code.
 * Each run commits in one transaction: a failure or cancel leaves whole runs.
 */
export async function mirrorRuns(
  backend: Backend,
  store: Store,
  runIds: readonly string[],
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ runs: number; points: number }> {
  const db = store.db;
  let points = 0;
  let done = 0;
  const experimentNames = new Map((await backend.listExperiments({ includeDeleted: true })).map((e) => [e.experimentId, e.name]));
  for (const runId of new Set(runIds)) {
    options.signal?.throwIfAborted();
    const run = await backend.getRun(runId);
    if (!run) continue;
    const history = new Map<string, MetricPointInput[]>();
    for (const key of Object.keys(run.metrics)) {
      const list: MetricPointInput[] = [];
      let pageToken: string | undefined;
      do {
        options.signal?.throwIfAborted();
        const page = await backend.metricHistory(runId, key, { maxResults: HISTORY_PAGE, ...(pageToken ? { pageToken } : {}) });
        for (const p of page.items) list.push({ key, step: p.step, timestamp: p.timestamp, value: p.value });
        pageToken = page.nextPageToken;
      } while (pageToken);
      history.set(key, list);
      points += list.length;
    }
    const experimentName = experimentNames.get(run.experimentId) ?? `MLflow experiment ${run.experimentId}`;
    store.transaction(() => {
      const now = Date.now();
      db.prepare('INSERT INTO experiment (name, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(experimentName, now, now);
      const experimentId = db.prepare('SELECT experiment_id FROM experiment WHERE name = ?').pluck().get(experimentName) as number;
      db.prepare(
        `INSERT INTO run (run_id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET experiment_id = excluded.experiment_id, name = excluded.name, status = excluded.status,
           start_time = excluded.start_time, end_time = excluded.end_time`,
      ).run(run.runId, experimentId, run.name, run.status, run.startTime, run.endTime);
      for (const table of ['param', 'tag', 'metric_series']) db.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(run.runId);
      const insertParam = db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
      for (const [key, value] of Object.entries(run.params)) insertParam.run(run.runId, key, value);
      const insertTag = db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?)');
      for (const [key, value] of Object.entries(run.tags)) insertTag.run(run.runId, key, value);
      for (const list of history.values()) appendMetricPoints(db, run.runId, list);
    });
    done++;
    options.onProgress?.(done, runIds.length);
  }
  return { runs: done, points };
}
