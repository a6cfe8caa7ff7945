import type { Store } from '../store/store';

/** What the Compare panel shows for one metric of one run. NaN values count but are never min/max. */
export interface MetricSummary {
  readonly runId: string;
  readonly key: string;
  /** The value at the highest (step, timestamp); null when that point was NaN. */
  readonly last: number | null;
  readonly lastStep: number;
  /** null when every point was NaN. */
  readonly min: number | null;
  readonly max: number | null;
  readonly count: number;
}

/** last / min / max / count of every metric of these runs, ordered by run (as given) then key. */
export function metricSummary(store: Store, runIds: readonly string[]): MetricSummary[] {
  const unique = [...new Set(runIds)];
  if (unique.length === 0) return [];
  const rows = store.db
    .prepare(
      `WITH wanted(run_id) AS (SELECT value FROM json_each(?)),
       agg AS (
         SELECT m.run_id, m.key, count(*) AS n, min(m.value) AS lo, max(m.value) AS hi
         FROM metric m JOIN wanted w ON m.run_id = w.run_id
         GROUP BY m.run_id, m.key)
       SELECT agg.run_id, agg.key, agg.n, agg.lo, agg.hi, l.step AS last_step, l.value AS last_value, l.is_nan AS last_nan
       FROM agg JOIN metric l ON l.rowid = (
         SELECT rowid FROM metric WHERE run_id = agg.run_id AND key = agg.key
         ORDER BY step DESC, timestamp DESC, rowid DESC LIMIT 1)`,
    )
    .all(JSON.stringify(unique)) as {
    run_id: string;
    key: string;
    n: number;
    lo: number | null;
    hi: number | null;
    last_step: number;
    last_value: number | null;
    last_nan: 0 | 1;
  }[];
  const runOrder = new Map(unique.map((id, i) => [id, i]));
  return rows
    .map((r) => ({
      runId: r.run_id,
      key: r.key,
      last: r.last_nan ? null : r.last_value,
      lastStep: r.last_step,
      min: r.lo,
      max: r.hi,
      count: r.n,
    }))
    .sort((a, b) => runOrder.get(a.runId)! - runOrder.get(b.runId)! || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
