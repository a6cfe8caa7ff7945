import {
  accumulate,
  accumulateRollup,
  allPointsInOrder,
  blockPoints,
  blockRollups,
  emptyRollup,
  findSeries,
  POINTS_PER_BLOCK,
  pointsAfter,
  ROLE,
  type MetricSeriesRow,
  type PointTriples,
} from '../store/metricPoints';
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

/**
 * Points per downsampling bucket for a history of `total` points cut into at most `buckets` buckets:
 * ceil(total / buckets), rounded up to a whole number of store blocks once a bucket spans a block, so
 * that every bucket of a long history is made of whole blocks and is read from their rollups alone.
 * Bucket b holds the points at history positions [b·size, (b+1)·size).
 */
export function bucketSize(total: number, buckets: number): number {
  const size = Math.max(1, Math.ceil(total / buckets));
  return size >= POINTS_PER_BLOCK ? Math.ceil(size / POINTS_PER_BLOCK) * POINTS_PER_BLOCK : size;
}

/** The distinct metric keys logged by any of these runs, sorted. */
export function metricKeys(store: Store, runIds: readonly string[]): string[] {
  const statement = store.db.prepare('SELECT key FROM metric_series WHERE run_id = ? AND count > 0').pluck();
  const keys = new Set<string>();
  for (const runId of new Set(runIds)) for (const key of statement.all(runId) as string[]) keys.add(key);
  return [...keys].sort();
}

/**
 * The history of one metric of one run, downsampled to at most `maxPoints` so that a chart of it
 * looks like a chart of every point: the history is cut into equal runs of consecutive points
 * (buckets, see bucketSize) and each bucket keeps its first, minimum, maximum and last point (M4), plus
 * its first NaN so gaps survive. A spike is therefore never lost. With `total <= maxPoints` every point
 * is returned. A long history is read from the store's block rollups: its buckets are whole blocks, so
 * a chart of 1M points reads ~4k small rollups and no point; a block a bucket boundary cuts (shorter
 * histories) is read point by point. The result is the same as reducing every point.
 */
export function metricHistory(store: Store, query: MetricHistoryQuery): MetricSeries {
  const { runId, key } = query;
  const maxPoints = Math.max(POINTS_PER_BUCKET, Math.floor(query.maxPoints ?? DEFAULT_MAX_POINTS));
  const series = findSeries(store.db, runId, key);
  if (!series) return { runId, key, points: [], total: 0, downsampled: false };
  const buckets = Math.floor(maxPoints / POINTS_PER_BUCKET);

  if (query.since || !series.ordered || series.count <= maxPoints) {
    const points = query.since ? pointsAfter(store.db, series, query.since.step, query.since.timestamp) : allPointsInOrder(store.db, series);
    const total = points.length / 3;
    if (total <= maxPoints) return { runId, key, points: toPoints(points), total, downsampled: false };
    const reducer = new BucketReducer(total, buckets);
    for (let i = 0; i < total; i++) reducer.addPoint(i, points[i * 3]!, points[i * 3 + 1]!, points[i * 3 + 2]!);
    return { runId, key, points: reducer.finish(), total, downsampled: true };
  }
  return { runId, key, points: fromRollups(store, series, buckets), total: series.count, downsampled: true };
}

function fromRollups(store: Store, series: MetricSeriesRow, buckets: number): MetricHistoryPoint[] {
  const total = series.count;
  const reducer = new BucketReducer(total, buckets);
  for (const [blockNo, count, rollup] of blockRollups(store.db, series)) {
    const base = blockNo * POINTS_PER_BLOCK;
    const bucket = reducer.bucketOf(base);
    if (bucket === reducer.bucketOf(base + count - 1)) {
      reducer.addRollup(bucket, rollup, base);
      continue;
    }
    const points = blockPoints(store.db, series, blockNo);
    for (let i = 0; i < count; i++) reducer.addPoint(base + i, points[i * 3]!, points[i * 3 + 1]!, points[i * 3 + 2]!);
  }
  return reducer.finish();
}

function toPoints(points: PointTriples): MetricHistoryPoint[] {
  const out: MetricHistoryPoint[] = new Array(points.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = point(points[i * 3]!, points[i * 3 + 1]!, points[i * 3 + 2]!);
  return out;
}

const point = (step: number, timestamp: number, value: number): MetricHistoryPoint => ({ step, timestamp, value: Number.isNaN(value) ? null : value });

/** Points (or block rollups) in history order, `total` known up front; keeps first/min/max/last/first-NaN per bucket. */
class BucketReducer {
  private readonly out: MetricHistoryPoint[] = [];
  private bucket = -1;
  private readonly acc = emptyRollup();

  private readonly size: number;

  constructor(total: number, buckets: number) {
    this.size = bucketSize(total, buckets);
  }

  bucketOf(ordinal: number): number {
    return Math.floor(ordinal / this.size);
  }

  addPoint(ordinal: number, step: number, timestamp: number, value: number): void {
    this.enter(this.bucketOf(ordinal));
    accumulate(this.acc, ordinal, step, timestamp, value);
  }

  addRollup(bucket: number, rollup: Float64Array, base: number): void {
    this.enter(bucket);
    accumulateRollup(this.acc, rollup, base);
  }

  finish(): MetricHistoryPoint[] {
    this.flush();
    return this.out;
  }

  private enter(bucket: number): void {
    if (bucket === this.bucket) return;
    this.flush();
    this.bucket = bucket;
  }

  private flush(): void {
    const acc = this.acc;
    if (acc[ROLE.first * 4]! < 0) return;
    const kept: number[] = [];
    for (const role of [ROLE.first, ROLE.min, ROLE.max, ROLE.nan, ROLE.last]) {
      const o = role * 4;
      if (acc[o]! >= 0 && !kept.some((k) => acc[k * 4] === acc[o])) kept.push(role);
    }
    kept.sort((a, b) => acc[a * 4]! - acc[b * 4]!);
    for (const role of kept) this.out.push(point(acc[role * 4 + 1]!, acc[role * 4 + 2]!, acc[role * 4 + 3]!));
    acc.fill(-1);
  }
}
