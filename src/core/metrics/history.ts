import type { Store } from '../store/store';

/** One logged value; `value` is null where the run logged NaN, so charts draw a gap there. */
export interface MetricHistoryPoint {
  readonly step: number;
  readonly timestamp: number;
  readonly value: number | null;
}

/** A position in a history's (step, timestamp) order; `since` returns points strictly after it. */
export interface HistoryPosition {
  readonly step: number;
  readonly timestamp: number;
}

export interface MetricSeries {
  readonly runId: string;
  readonly key: string;
  /** In (step, timestamp) order. */
  readonly points: MetricHistoryPoint[];
  /** How many points the store holds for this query (after `since`), before downsampling. */
  readonly total: number;
  readonly downsampled: boolean;
}

export interface MetricHistoryQuery {
  readonly runId: string;
  readonly key: string;
  /** Upper bound on `points.length`; at least 5. */
  readonly maxPoints?: number;
  readonly since?: HistoryPosition;
}

export const DEFAULT_MAX_POINTS = 2000;
/** A bucket contributes at most its first, min, max, last and first NaN point. */
const POINTS_PER_BUCKET = 5;
/** Rows fetched per keyset page: bounds memory on a history of any length. */
const PAGE_ROWS = 65_536;

type Row = [step: number, timestamp: number, value: number | null, isNan: 0 | 1, rowid?: number];

/** The distinct metric keys logged by any of these runs, sorted. */
export function metricKeys(store: Store, runIds: readonly string[]): string[] {
  // A skip scan over metric_history: one index seek per distinct key instead of reading every point.
  const next = store.db.prepare('SELECT key FROM metric WHERE run_id = ? AND key > ? ORDER BY key LIMIT 1').pluck();
  const keys = new Set<string>();
  for (const runId of new Set(runIds)) {
    let key = next.get(runId, '') as string | undefined;
    while (key !== undefined) {
      keys.add(key);
      key = next.get(runId, key) as string | undefined;
    }
  }
  return [...keys].sort();
}

/**
 * The history of one metric of one run, downsampled to at most `maxPoints` so that a chart of it
 * looks like a chart of every point: the history is cut into equal runs of consecutive points
 * (buckets) and each bucket keeps its first, minimum, maximum and last point (M4), plus its first
 * NaN so gaps survive. A spike is therefore never lost. With `total <= maxPoints` every point is returned.
 * One pass over the metric_history index in (step, timestamp) order, paged, so memory stays bounded.
 */
export function metricHistory(store: Store, query: MetricHistoryQuery): MetricSeries {
  const { runId, key } = query;
  const maxPoints = Math.max(POINTS_PER_BUCKET, Math.floor(query.maxPoints ?? DEFAULT_MAX_POINTS));
  const since = query.since;
  const after = since ? 'AND (step, timestamp) > (?, ?)' : '';
  const sinceArgs = since ? [since.step, since.timestamp] : [];
  const total = store.db
    .prepare(`SELECT count(*) FROM metric WHERE run_id = ? AND key = ? ${after}`)
    .pluck()
    .get(runId, key, ...sinceArgs) as number;

  if (total <= maxPoints) {
    const rows = store.db
      .prepare(`SELECT step, timestamp, value, is_nan FROM metric WHERE run_id = ? AND key = ? ${after} ORDER BY step, timestamp, rowid`)
      .raw()
      .all(runId, key, ...sinceArgs) as Row[];
    return { runId, key, points: rows.map(toPoint), total, downsampled: false };
  }

  const buckets = Math.floor(maxPoints / POINTS_PER_BUCKET);
  const reducer = new BucketReducer(total, buckets);
  const page = store.db
    .prepare(
      `SELECT step, timestamp, value, is_nan, rowid FROM metric
       WHERE run_id = ? AND key = ? AND (step, timestamp, rowid) > (?, ?, ?)
       ORDER BY step, timestamp, rowid LIMIT ${PAGE_ROWS}`,
    )
    .raw();
  // rowid breaks ties between points logged at the same step and timestamp; -1 is before every rowid
  let cursor: [number, number, number] = since ? [since.step, since.timestamp, Number.MAX_SAFE_INTEGER] : [-Infinity, -Infinity, -1];
  for (;;) {
    const rows = page.all(runId, key, ...cursor) as Row[];
    for (const row of rows) reducer.add(row);
    if (rows.length < PAGE_ROWS) break;
    const last = rows[rows.length - 1]!;
    cursor = [last[0], last[1], last[4]!];
  }
  return { runId, key, points: reducer.finish(), total, downsampled: true };
}

const toPoint = (row: Row): MetricHistoryPoint => ({ step: row[0], timestamp: row[1], value: row[3] ? null : row[2] });

/** Streams rows in order, `total` known up front, and keeps first/min/max/last/first-NaN per bucket. */
class BucketReducer {
  private readonly out: MetricHistoryPoint[] = [];
  private ordinal = 0;
  private bucket = -1;
  // each kept row with its ordinal, so the kept points come out in history order
  private first: Row | undefined;
  private firstAt = 0;
  private last: Row | undefined;
  private lastAt = 0;
  private min: Row | undefined;
  private minAt = 0;
  private max: Row | undefined;
  private maxAt = 0;
  private nan: Row | undefined;
  private nanAt = 0;

  constructor(
    private readonly total: number,
    private readonly buckets: number,
  ) {}

  add(row: Row): void {
    const at = this.ordinal++;
    const bucket = Math.floor((at * this.buckets) / this.total);
    if (bucket !== this.bucket) {
      this.flush();
      this.bucket = bucket;
      this.first = row;
      this.firstAt = at;
    }
    this.last = row;
    this.lastAt = at;
    if (row[3]) {
      if (this.nan === undefined) {
        this.nan = row;
        this.nanAt = at;
      }
      return;
    }
    const value = row[2] as number;
    if (this.min === undefined || value < (this.min[2] as number)) {
      this.min = row;
      this.minAt = at;
    }
    if (this.max === undefined || value > (this.max[2] as number)) {
      this.max = row;
      this.maxAt = at;
    }
  }

  finish(): MetricHistoryPoint[] {
    this.flush();
    return this.out;
  }

  private flush(): void {
    if (this.first === undefined) return;
    const kept: [number, Row][] = [[this.firstAt, this.first]];
    for (const [at, row] of [
      [this.minAt, this.min],
      [this.maxAt, this.max],
      [this.nanAt, this.nan],
      [this.lastAt, this.last],
    ] as [number, Row | undefined][]) {
      if (row !== undefined && !kept.some(([a]) => a === at)) kept.push([at, row]);
    }
    kept.sort((a, b) => a[0] - b[0]);
    for (const [, row] of kept) this.out.push(toPoint(row));
    this.first = this.last = this.min = this.max = this.nan = undefined;
  }
}
