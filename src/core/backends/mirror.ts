import { appendMetricPoints, type MetricPointInput } from '../store/metricPoints';
import type { Store } from '../store/store';
import type { Backend, BackendRun, BackendRunStatus } from './backend';

/** Points asked for per get-history request. */
const HISTORY_PAGE = 10_000;

/**
 * How far the mirror has read one (run, metric) history: the points it holds and the server's page
 * token for the start of each page of `pageSize` points (MLflow's get-history tokens are stateless
 * offsets). A live poll re-reads only the last, partly held page and what follows it.
 */
export interface HistoryCursor {
  count: number;
  /** tokens[k] starts page k; tokens[0] is undefined (the first page needs none). */
  readonly tokens: (string | undefined)[];
}

export type HistoryCursors = Map<string, HistoryCursor>;

const cursorId = (runId: string, key: string): string => `${runId}\u0000${key}`;

export interface MirrorOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  /** Filled with where each history was read to, so `pollRuns` can append what comes after. */
  readonly cursors?: HistoryCursors;
  /** Points per get-history request (default 10 000). */
  readonly pageSize?: number;
}

/** Reads the points of `key` after those `cursor` holds, page by page, advancing the cursor. */
async function newPoints(
  backend: Backend,
  runId: string,
  key: string,
  cursor: HistoryCursor,
  pageSize: number,
  signal?: AbortSignal,
): Promise<MetricPointInput[]> {
  const out: MetricPointInput[] = [];
  let page = Math.floor(cursor.count / pageSize);
  // a page whose token we never saw (cannot happen unless the page size changed): read from the start
  if (page >= cursor.tokens.length) page = 0;
  let token = cursor.tokens[page];
  let start = page * pageSize;
  for (;;) {
    signal?.throwIfAborted();
    const result = await backend.metricHistory(runId, key, { maxResults: pageSize, ...(token ? { pageToken: token } : {}) });
    const skip = Math.max(0, cursor.count - start);
    for (const p of result.items.slice(skip)) out.push({ key, step: p.step, timestamp: p.timestamp, value: p.value });
    cursor.count = Math.max(cursor.count, start + result.items.length);
    if (!result.nextPageToken) break;
    page++;
    start += pageSize;
    cursor.tokens[page] = result.nextPageToken;
    token = result.nextPageToken;
  }
  return out;
}

function writeRun(store: Store, run: BackendRun, experimentName: string, points: readonly MetricPointInput[], replace: boolean): void {
  const db = store.db;
  store.transaction(() => {
    const now = Date.now();
    db.prepare('INSERT INTO experiment (name, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(experimentName, now, now);
    const experimentId = db.prepare('SELECT experiment_id FROM experiment WHERE name = ?').pluck().get(experimentName) as number;
    db.prepare(
      `INSERT INTO run (run_id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET experiment_id = excluded.experiment_id, name = excluded.name, status = excluded.status,
         start_time = excluded.start_time, end_time = excluded.end_time`,
    ).run(run.runId, experimentId, run.name, run.status, run.startTime, run.endTime);
    for (const table of replace ? ['param', 'tag', 'metric_series'] : ['param', 'tag']) db.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(run.runId);
    const insertParam = db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
    for (const [key, value] of Object.entries(run.params)) insertParam.run(run.runId, key, value);
    const insertTag = db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?)');
    for (const [key, value] of Object.entries(run.tags)) insertTag.run(run.runId, key, value);
    if (points.length) appendMetricPoints(db, run.runId, points);
  });
}

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
  options: MirrorOptions = {},
): Promise<{ runs: number; points: number }> {
  const pageSize = options.pageSize ?? HISTORY_PAGE;
  let points = 0;
  let done = 0;
  const experimentNames = new Map((await backend.listExperiments({ includeDeleted: true })).map((e) => [e.experimentId, e.name]));
  for (const runId of new Set(runIds)) {
    options.signal?.throwIfAborted();
    const run = await backend.getRun(runId);
    if (!run) continue;
    const list: MetricPointInput[] = [];
    const cursors: [string, HistoryCursor][] = [];
    for (const key of Object.keys(run.metrics)) {
      const cursor: HistoryCursor = { count: 0, tokens: [undefined] };
      list.push(...(await newPoints(backend, runId, key, cursor, pageSize, options.signal)));
      cursors.push([cursorId(runId, key), cursor]);
    }
    points += list.length;
    writeRun(store, run, experimentNames.get(run.experimentId) ?? `MLflow experiment ${run.experimentId}`, list, true);
    for (const [id, cursor] of cursors) options.cursors?.set(id, cursor);
    done++;
    options.onProgress?.(done, runIds.length);
  }
  return { runs: done, points };
}

/**
 * One live pass over runs already mirrored: their status, params and tags again, and only the metric
 * points logged since the last pass (new keys from their first point). Appends; never rewrites what
 * the store holds, so an open chart only receives the new points.
 */
export async function pollRuns(
  backend: Backend,
  store: Store,
  runIds: readonly string[],
  cursors: HistoryCursors,
  options: { signal?: AbortSignal; pageSize?: number } = {},
): Promise<{ runs: { runId: string; status: BackendRunStatus }[]; points: number }> {
  const pageSize = options.pageSize ?? HISTORY_PAGE;
  const seen: { runId: string; status: BackendRunStatus }[] = [];
  let points = 0;
  for (const runId of new Set(runIds)) {
    options.signal?.throwIfAborted();
    const run = await backend.getRun(runId);
    if (!run) continue;
    const list: MetricPointInput[] = [];
    // advanced on copies, kept only once the points are written
    const advanced: [string, HistoryCursor][] = [];
    for (const key of Object.keys(run.metrics)) {
      const id = cursorId(runId, key);
      const held = cursors.get(id);
      const cursor: HistoryCursor = held ? { count: held.count, tokens: [...held.tokens] } : { count: 0, tokens: [undefined] };
      list.push(...(await newPoints(backend, runId, key, cursor, pageSize, options.signal)));
      advanced.push([id, cursor]);
    }
    const experimentName = store.db.prepare('SELECT e.name FROM run r JOIN experiment e USING (experiment_id) WHERE r.run_id = ?').pluck().get(runId) as
      | string
      | undefined;
    writeRun(store, run, experimentName ?? `MLflow experiment ${run.experimentId}`, list, false);
    for (const [id, cursor] of advanced) cursors.set(id, cursor);
    points += list.length;
    seen.push({ runId, status: run.status });
  }
  return { runs: seen, points };
}
