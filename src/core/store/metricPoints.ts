import type Database from 'better-sqlite3';
import { endianness } from 'node:os';

// Metric storage (store schema 6). One `metric_series` row per (run, key) holds what listings ask for
// (count, latest point, min, max); its points, in the order they were logged (seq 0, 1, 2, …), are
// packed as little-endian float64 triples (step, timestamp, value; NaN stays NaN) in sealed `metric_block`
// rows of exactly POINTS_PER_BLOCK points, then (schema 22) the `metric_tail` rows after the last sealed
// block: fewer than POINTS_PER_BLOCK points, one row per append, never rewritten (see appendMetricPoints).
// Every sealed block also carries its rollup: the first, min, max, first-NaN and last point, so a chart of
// a long history reads one small row per block instead of every point; the tail is read as one more
// block (the open one) whose rollup is computed on read. A series is `ordered` while every point arrived at or after the previous one in
// (step, timestamp) order; then logging order is history order and the rollups are exact for charts.
// A series that ever went back in order is sorted on read (correct, only slower).

type Db = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

export const POINTS_PER_BLOCK = 256;
/** step, timestamp, value */
export const FIELDS_PER_POINT = 3;

/** Roles of a rollup (and of a downsampling bucket): each slot is [ordinal, step, timestamp, value], ordinal -1 when empty. */
export const ROLE = { first: 0, min: 1, max: 2, nan: 3, last: 4 } as const;
export const ROLLUP_LENGTH = 5 * 4;

if (endianness() !== 'LE') throw new Error('mloop stores metric points as little-endian float64 and needs a little-endian machine.');

/** One point to append. `value` may be NaN or ±Infinity, as MLflow allows. */
export interface MetricPointInput {
  readonly key: string;
  readonly step: number;
  readonly timestamp: number;
  readonly value: number;
}

export interface MetricSeriesRow {
  readonly seriesId: number;
  readonly runId: string;
  readonly key: string;
  readonly count: number;
  readonly ordered: boolean;
  readonly latestStep: number;
  readonly latestTimestamp: number;
  /** NaN where the latest point was NaN. */
  readonly latestValue: number;
  /** Over the non-NaN points; null when every point was NaN. */
  readonly minValue: number | null;
  readonly maxValue: number | null;
}

/** Points as interleaved (step, timestamp, value) triples; `length / 3` points. */
export type PointTriples = Float64Array;

interface Statements {
  series: Statement;
  insertSeries: Statement;
  updateSeries: Statement;
  updateSeriesSameRange: Statement;
  blockPoints: Statement;
  insertBlock: Statement;
  /** Prepared on first use (see tailStatements): a schema-21 store opened read-only has no metric_tail table. */
  tail: TailStatements | null;
  /** The schema_version (SQLite's schema cookie) at which metric_tail was last found missing. */
  tailMissingAt: number;
  blocksFrom: Statement;
  allBlocks: Statement;
  rollups: Statement;
  tailBlocks: Statement;
  blocksWithStep: Statement;
}

interface TailStatements {
  insertTail: Statement;
  tailPoints: Statement;
  deleteTail: Statement;
}

const cache = new WeakMap<Db, Statements>();

const SERIES_COLUMNS = `series_id AS seriesId, run_id AS runId, key, count, ordered, latest_step AS latestStep,
  latest_timestamp AS latestTimestamp, latest_value AS latestValue, min_value AS minValue, max_value AS maxValue,
  tail_step AS tailStep, tail_timestamp AS tailTimestamp`;

function statements(db: Db): Statements {
  let s = cache.get(db);
  if (!s) {
    s = {
      series: db.prepare(`SELECT ${SERIES_COLUMNS} FROM metric_series WHERE run_id = ? AND key = ?`),
      insertSeries: db.prepare('INSERT INTO metric_series (run_id, key) VALUES (?, ?)'),
      updateSeries: db.prepare(
        `UPDATE metric_series SET count = ?, ordered = ?, tail_step = ?, tail_timestamp = ?, latest_step = ?, latest_timestamp = ?,
           latest_value = ?, min_value = ?, max_value = ? WHERE series_id = ?`,
      ),
      // min and max are indexed (the runs table sorts by them): SQLite rewrites an index entry whenever its column is
      // in the SET list, even with the same value, so an append that moves neither leaves them out (two index pages
      // fewer per series and commit in a store of many runs)
      updateSeriesSameRange: db.prepare(
        `UPDATE metric_series SET count = ?, ordered = ?, tail_step = ?, tail_timestamp = ?, latest_step = ?, latest_timestamp = ?,
           latest_value = ? WHERE series_id = ?`,
      ),
      blockPoints: db.prepare('SELECT points FROM metric_block WHERE series_id = ? AND block_no = ?').pluck(),
      insertBlock: db.prepare('INSERT INTO metric_block (series_id, block_no, count, min_step, max_step, rollup, points) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      tail: null,
      tailMissingAt: Number.NaN,
      blocksFrom: db.prepare('SELECT points FROM metric_block WHERE series_id = ? AND block_no BETWEEN ? AND ? ORDER BY block_no').pluck(),
      allBlocks: db.prepare('SELECT points FROM metric_block WHERE series_id = ? ORDER BY block_no').pluck(),
      rollups: db.prepare('SELECT block_no, count, rollup FROM metric_block WHERE series_id = ? ORDER BY block_no').raw(),
      tailBlocks: db.prepare('SELECT max_step, points FROM metric_block WHERE series_id = ? ORDER BY block_no DESC').raw(),
      blocksWithStep: db.prepare('SELECT points FROM metric_block WHERE series_id = ? AND min_step <= ? AND max_step >= ? ORDER BY block_no').pluck(),
    };
    cache.set(db, s);
  }
  return s;
}

/**
 * The metric_tail statements, or null on a store without the table: a schema-21 store (before migration 022) opened
 * read-only is not upgraded, and there every point, the open block's too, is in metric_block, so its tail is empty.
 * The check is repeated only when the schema changes (another connection may upgrade the store while this one reads).
 */
function tailStatements(db: Db, s: Statements): TailStatements | null {
  if (s.tail) return s.tail;
  const schema = db.pragma('schema_version', { simple: true }) as number;
  if (schema === s.tailMissingAt) return null;
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metric_tail'").get() === undefined) {
    s.tailMissingAt = schema;
    return null;
  }
  s.tail = {
    insertTail: db.prepare('INSERT INTO metric_tail (series_id, seq, count, points) VALUES (?, ?, ?, ?)'),
    // `+?`: a plain `?` here has SQLite re-prepare the statement on every call (its planner marks the parameter as one
    // whose value may change the plan, and better-sqlite3 clears the bindings after each call), a third of the cost
    tailPoints: db.prepare('SELECT points FROM metric_tail WHERE series_id = +? ORDER BY seq').pluck(),
    deleteTail: db.prepare('DELETE FROM metric_tail WHERE series_id = ?'),
  };
  return s.tail;
}

/** The tail rows' points of a series in logging order (none on a store without metric_tail). */
function tailBlobs(db: Db, s: Statements, seriesId: number): Buffer[] {
  const tail = tailStatements(db, s);
  return tail ? (tail.tailPoints.all(seriesId) as Buffer[]) : [];
}

/** The tail statements for a write: a writable store is always migrated, so a missing table is a damaged store. */
function writableTail(db: Db, s: Statements): TailStatements {
  const tail = tailStatements(db, s);
  if (!tail) throw new Error('metric store is older than schema 22 (no metric_tail table): open it writable to upgrade it before appending points');
  return tail;
}

interface RawSeries {
  seriesId: number;
  runId: string;
  key: string;
  count: number;
  ordered: 0 | 1;
  latestStep: number | null;
  latestTimestamp: number | null;
  latestValue: number | null;
  minValue: number | null;
  maxValue: number | null;
  tailStep: number | null;
  tailTimestamp: number | null;
}

function toSeries(raw: RawSeries): MetricSeriesRow {
  return {
    seriesId: raw.seriesId,
    runId: raw.runId,
    key: raw.key,
    count: raw.count,
    ordered: raw.ordered === 1,
    latestStep: raw.latestStep ?? 0,
    latestTimestamp: raw.latestTimestamp ?? 0,
    latestValue: raw.latestValue ?? Number.NaN,
    minValue: raw.minValue,
    maxValue: raw.maxValue,
  };
}

/** The series of one metric of one run, or undefined when the run never logged it. */
export function findSeries(db: Db, runId: string, key: string): MetricSeriesRow | undefined {
  const raw = statements(db).series.get(runId, key) as RawSeries | undefined;
  return raw && raw.count > 0 ? toSeries(raw) : undefined;
}

/** Every series of these runs (all keys), ordered by run then key. */
export function seriesOfRuns(db: Db, runIds: readonly string[]): MetricSeriesRow[] {
  if (runIds.length === 0) return [];
  const rows = db
    .prepare(`SELECT ${SERIES_COLUMNS} FROM metric_series WHERE run_id IN (SELECT value FROM json_each(?)) AND count > 0 ORDER BY run_id, key`)
    .all(JSON.stringify([...new Set(runIds)])) as RawSeries[];
  return rows.map(toSeries);
}

/** Copies a stored blob into an aligned Float64Array (SQLite blobs are not 8-byte aligned). */
export function decodePoints(blob: Buffer): PointTriples {
  const out = new Float64Array(blob.length / 8);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

const asBlob = (values: Float64Array): Buffer => Buffer.from(values.buffer, values.byteOffset, values.byteLength);

/** Adds one point at `ordinal` to a rollup/bucket accumulator (layout: see ROLE). */
export function accumulate(acc: Float64Array, ordinal: number, step: number, timestamp: number, value: number): void {
  if (acc[ROLE.first * 4]! < 0) setRole(acc, ROLE.first, ordinal, step, timestamp, value);
  setRole(acc, ROLE.last, ordinal, step, timestamp, value);
  if (Number.isNaN(value)) {
    if (acc[ROLE.nan * 4]! < 0) setRole(acc, ROLE.nan, ordinal, step, timestamp, value);
    return;
  }
  if (acc[ROLE.min * 4]! < 0 || value < acc[ROLE.min * 4 + 3]!) setRole(acc, ROLE.min, ordinal, step, timestamp, value);
  if (acc[ROLE.max * 4]! < 0 || value > acc[ROLE.max * 4 + 3]!) setRole(acc, ROLE.max, ordinal, step, timestamp, value);
}

/**
 * Adds a run of consecutive points, summarised by `rollup` (ordinals relative to `base`), to an accumulator.
 * The result equals accumulating its points one by one: min/max keep their earliest occurrence.
 */
export function accumulateRollup(acc: Float64Array, rollup: Float64Array, base: number): void {
  const take = (role: number): void => {
    const o = role * 4;
    acc[o] = rollup[o]! + base;
    acc[o + 1] = rollup[o + 1]!;
    acc[o + 2] = rollup[o + 2]!;
    acc[o + 3] = rollup[o + 3]!;
  };
  if (rollup[ROLE.first * 4]! < 0) return;
  if (acc[ROLE.first * 4]! < 0) take(ROLE.first);
  take(ROLE.last);
  if (rollup[ROLE.nan * 4]! >= 0 && acc[ROLE.nan * 4]! < 0) take(ROLE.nan);
  if (rollup[ROLE.min * 4]! >= 0 && (acc[ROLE.min * 4]! < 0 || rollup[ROLE.min * 4 + 3]! < acc[ROLE.min * 4 + 3]!)) take(ROLE.min);
  if (rollup[ROLE.max * 4]! >= 0 && (acc[ROLE.max * 4]! < 0 || rollup[ROLE.max * 4 + 3]! > acc[ROLE.max * 4 + 3]!)) take(ROLE.max);
}

function setRole(acc: Float64Array, role: number, ordinal: number, step: number, timestamp: number, value: number): void {
  const o = role * 4;
  acc[o] = ordinal;
  acc[o + 1] = step;
  acc[o + 2] = timestamp;
  acc[o + 3] = value;
}

export const emptyRollup = (): Float64Array => new Float64Array(ROLLUP_LENGTH).fill(-1);

/** The rollup of `count` points (ordinals 0…count-1 within the block). */
export function computeRollup(points: PointTriples, count: number): Float64Array {
  const acc = emptyRollup();
  for (let i = 0; i < count; i++) accumulate(acc, i, points[i * 3]!, points[i * 3 + 1]!, points[i * 3 + 2]!);
  return acc;
}

const after = (step: number, timestamp: number, refStep: number, refTimestamp: number): boolean =>
  step > refStep || (step === refStep && timestamp >= refTimestamp);

/**
 * Appends points to their (run, key) series: the caller holds the transaction. Points of one key keep
 * their order. The new points of a key are one metric_tail row, inserted; an append that brings the
 * series' tail to a whole block seals it (one metric_block row with its rollup, tail rows deleted), so a
 * point is written twice at most, and no stored row is ever rewritten.
 */
export function appendMetricPoints(db: Db, runId: string, points: readonly MetricPointInput[]): void {
  if (points.length === 0) return;
  const s = statements(db);
  const t = writableTail(db, s);
  let key0: string | undefined = points[0]!.key;
  for (const p of points) {
    if (p.key !== key0) {
      key0 = undefined;
      break;
    }
  }
  if (key0 !== undefined) return appendSeries(s, t, runId, key0, toTriples(points));
  const byKey = new Map<string, MetricPointInput[]>();
  for (const p of points) {
    const list = byKey.get(p.key);
    if (list) list.push(p);
    else byKey.set(p.key, [p]);
  }
  for (const [key, list] of byKey) appendSeries(s, t, runId, key, toTriples(list));
}

/**
 * appendMetricPoints for points already grouped by key (the tracking server's plain log-batch, packed off the parsed
 * body): key k's points, in logging order, are the triples [3 * starts[k], 3 * starts[k + 1]); starts has one more
 * entry than keys, and every key appears once.
 */
export function appendMetricTriples(db: Db, runId: string, keys: readonly string[], starts: Uint32Array, triples: PointTriples): void {
  const s = statements(db);
  const t = writableTail(db, s);
  for (let k = 0; k < keys.length; k++) {
    const from = starts[k]!;
    const to = starts[k + 1]!;
    if (to > from) appendSeries(s, t, runId, keys[k]!, triples.subarray(from * FIELDS_PER_POINT, to * FIELDS_PER_POINT));
  }
}

function toTriples(points: readonly MetricPointInput[]): PointTriples {
  const out = new Float64Array(points.length * FIELDS_PER_POINT);
  for (let k = 0, at = 0; k < points.length; k++, at += FIELDS_PER_POINT) {
    const p = points[k]!;
    out[at] = p.step;
    out[at + 1] = p.timestamp;
    out[at + 2] = p.value;
  }
  return out;
}

/** Appends one key's new points (triples in logging order) to its series. */
function appendSeries(s: Statements, t: TailStatements, runId: string, key: string, fresh: PointTriples): void {
  const raw = s.series.get(runId, key) as RawSeries | undefined;
  const seriesId = raw ? raw.seriesId : Number(s.insertSeries.run(runId, key).lastInsertRowid);
  let count = raw?.count ?? 0;
  let ordered = raw ? raw.ordered === 1 : true;
  let hasLatest = count > 0;
  let latestStep = raw?.latestStep ?? 0;
  let latestTimestamp = raw?.latestTimestamp ?? 0;
  let latestValue = raw?.latestValue ?? Number.NaN;
  let tailStep = raw?.tailStep ?? 0;
  let tailTimestamp = raw?.tailTimestamp ?? 0;
  let min = raw?.minValue ?? null;
  let max = raw?.maxValue ?? null;
  const n = fresh.length / FIELDS_PER_POINT;
  for (let k = 0; k < n; k++) {
    const at = k * FIELDS_PER_POINT;
    const step = fresh[at]!;
    const timestamp = fresh[at + 1]!;
    const value = fresh[at + 2]!;
    if (count + k > 0 && !after(step, timestamp, tailStep, tailTimestamp)) ordered = false;
    tailStep = step;
    tailTimestamp = timestamp;
    if (!hasLatest || after(step, timestamp, latestStep, latestTimestamp)) {
      hasLatest = true;
      latestStep = step;
      latestTimestamp = timestamp;
      latestValue = value;
    }
    if (value === value) {
      if (min === null || value < min) min = value;
      if (max === null || value > max) max = value;
    }
  }
  const sealed = Math.floor(count / POINTS_PER_BLOCK);
  const inTail = count - sealed * POINTS_PER_BLOCK;
  if (inTail + n < POINTS_PER_BLOCK) {
    t.insertTail.run(seriesId, count, n, asBlob(fresh));
  } else {
    // the tail and the new points: whole blocks are sealed, the rest is the new tail
    let all = fresh;
    if (inTail > 0) {
      const tail = concat(t.tailPoints.all(seriesId) as Buffer[], 0, Number.MAX_SAFE_INTEGER);
      if (tail.length !== inTail * FIELDS_PER_POINT) {
        throw new Error(`metric store damaged: series ${seriesId} (${runId}/${key}) has ${tail.length / 3} tail points where its count says ${inTail}`);
      }
      all = new Float64Array(tail.length + fresh.length);
      all.set(tail);
      all.set(fresh, tail.length);
      t.deleteTail.run(seriesId);
    }
    const total = all.length / FIELDS_PER_POINT;
    let at = 0;
    let blockNo = sealed;
    for (; total - at >= POINTS_PER_BLOCK; at += POINTS_PER_BLOCK, blockNo++) {
      const block = all.subarray(at * FIELDS_PER_POINT, (at + POINTS_PER_BLOCK) * FIELDS_PER_POINT);
      let minStep = Infinity;
      let maxStep = -Infinity;
      for (let k = 0; k < block.length; k += FIELDS_PER_POINT) {
        const step = block[k]!;
        if (step < minStep) minStep = step;
        if (step > maxStep) maxStep = step;
      }
      s.insertBlock.run(seriesId, blockNo, POINTS_PER_BLOCK, minStep, maxStep, asBlob(computeRollup(block, POINTS_PER_BLOCK)), asBlob(block));
    }
    if (at < total) t.insertTail.run(seriesId, blockNo * POINTS_PER_BLOCK, total - at, asBlob(all.subarray(at * FIELDS_PER_POINT)));
  }
  count += n;
  const latest = Number.isNaN(latestValue) ? null : latestValue;
  if (raw !== undefined && min === raw.minValue && max === raw.maxValue) {
    s.updateSeriesSameRange.run(count, ordered ? 1 : 0, tailStep, tailTimestamp, latestStep, latestTimestamp, latest, seriesId);
  } else s.updateSeries.run(count, ordered ? 1 : 0, tailStep, tailTimestamp, latestStep, latestTimestamp, latest, min, max, seriesId);
}

/** Whether the series already holds this exact point (NaN equals NaN). */
export function containsPoint(db: Db, series: MetricSeriesRow, point: { step: number; timestamp: number; value: number }): boolean {
  const s = statements(db);
  const blobs = [...(s.blocksWithStep.all(series.seriesId, point.step, point.step) as Buffer[]), ...tailBlobs(db, s, series.seriesId)];
  for (const blob of blobs) {
    const p = decodePoints(blob);
    for (let i = 0; i < p.length; i += 3) {
      if (p[i] === point.step && p[i + 1] === point.timestamp && (p[i + 2] === point.value || (Number.isNaN(p[i + 2]!) && Number.isNaN(point.value))))
        return true;
    }
  }
  return false;
}

function concat(blobs: readonly Buffer[], skip: number, take: number): PointTriples {
  let stored = 0;
  for (const blob of blobs) stored += blob.length / (FIELDS_PER_POINT * 8);
  const out = new Float64Array(Math.max(0, Math.min(take, stored - skip)) * FIELDS_PER_POINT);
  let filled = 0;
  let skipBytes = skip * FIELDS_PER_POINT * 8;
  const view = new Uint8Array(out.buffer);
  for (const blob of blobs) {
    if (filled >= view.length) break;
    let part = blob;
    if (skipBytes > 0) {
      const drop = Math.min(skipBytes, part.length);
      part = part.subarray(drop);
      skipBytes -= drop;
    }
    const n = Math.min(part.length, view.length - filled);
    view.set(part.subarray(0, n), filled);
    filled += n;
  }
  return filled === view.length ? out : out.subarray(0, filled / 8);
}

/**
 * Runs reads of sealed blocks and tail rows in one read transaction (unless the caller holds one), so that a writer
 * on another connection that seals the tail between the two reads cannot make a point appear twice or not at all.
 * While the caller iterates another statement on this connection SQLite refuses BEGIN: then the reads run as they are.
 */
function consistent<T>(db: Db, read: () => T): T {
  if (db.inTransaction) return read();
  let started = false;
  try {
    return db.transaction(() => {
      started = true;
      return read();
    })();
  } catch (error) {
    // a caller iterating another statement on this connection: BEGIN is refused there, plain reads are not
    if (!started && error instanceof TypeError && /busy executing a query/.test(error.message)) return read();
    throw error;
  }
}

/** Points at logging positions [from, to) in logging order. */
export function pointsInLoggingOrder(db: Db, series: MetricSeriesRow, from: number, to: number): PointTriples {
  const end = Math.min(to, series.count);
  if (from >= end) return new Float64Array(0);
  const first = Math.floor(from / POINTS_PER_BLOCK);
  const last = Math.floor((end - 1) / POINTS_PER_BLOCK);
  const blobs = consistent(db, () => {
    const s = statements(db);
    const sealed = s.blocksFrom.all(series.seriesId, first, last) as Buffer[];
    // sealed blocks are numbered 0, 1, …: fewer than asked means the range reaches into the tail
    return sealed.length < last - first + 1 ? [...sealed, ...tailBlobs(db, s, series.seriesId)] : sealed;
  });
  return concat(blobs, from - first * POINTS_PER_BLOCK, end - from);
}

/** Every point in history order: (step, timestamp), ties in logging order. */
export function allPointsInOrder(db: Db, series: MetricSeriesRow): PointTriples {
  const blobs = consistent(db, () => {
    const s = statements(db);
    return [...(s.allBlocks.all(series.seriesId) as Buffer[]), ...tailBlobs(db, s, series.seriesId)];
  });
  const points = concat(blobs, 0, series.count);
  return series.ordered ? points : sortTriples(points);
}

/** Stable sort by (step, timestamp): equal positions keep logging order. */
function sortTriples(points: PointTriples): PointTriples {
  const n = points.length / 3;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const sorted = Array.from(order).sort((a, b) => points[a * 3]! - points[b * 3]! || points[a * 3 + 1]! - points[b * 3 + 1]! || a - b);
  const out = new Float64Array(points.length);
  sorted.forEach((from, to) => {
    out[to * 3] = points[from * 3]!;
    out[to * 3 + 1] = points[from * 3 + 1]!;
    out[to * 3 + 2] = points[from * 3 + 2]!;
  });
  return out;
}

/** Points [offset, offset + limit) of the history order (get-history paging). */
export function historyPage(db: Db, series: MetricSeriesRow, offset: number, limit: number): PointTriples {
  if (series.ordered) return pointsInLoggingOrder(db, series, offset, offset + limit);
  const all = allPointsInOrder(db, series);
  return all.subarray(Math.min(offset * 3, all.length), Math.min((offset + limit) * 3, all.length));
}

/** Points strictly after (step, timestamp) in history order; reads only the tail blocks of an ordered series. */
export function pointsAfter(db: Db, series: MetricSeriesRow, step: number, timestamp: number): PointTriples {
  const isAfter = (s: number, t: number): boolean => s > step || (s === step && t > timestamp);
  let points: PointTriples;
  if (series.ordered) {
    const blobs = consistent(db, () => {
      const s = statements(db);
      const found = tailBlobs(db, s, series.seriesId).reverse();
      for (const [maxStep, blob] of s.tailBlocks.iterate(series.seriesId) as Iterable<[number, Buffer]>) {
        if (maxStep < step) break;
        found.push(blob);
      }
      return found;
    });
    points = concat(blobs.reverse(), 0, Number.MAX_SAFE_INTEGER);
    // the ordered series' blocks before these end at or before `step`; filter the rest below
  } else {
    points = allPointsInOrder(db, series);
  }
  let start = 0;
  while (start < points.length && !isAfter(points[start]!, points[start + 1]!)) start += 3;
  return points.subarray(start);
}

/** Block rollups of a series in logging order: [block_no, count, rollup]. */
export function blockRollups(db: Db, series: MetricSeriesRow): [number, number, Float64Array][] {
  const { rows, tail } = consistent(db, () => {
    const s = statements(db);
    return { rows: s.rollups.all(series.seriesId) as [number, number, Buffer][], tail: tailBlobs(db, s, series.seriesId) };
  });
  const out: [number, number, Float64Array][] = rows.map(([blockNo, count, rollup]) => [blockNo, count, decodePoints(rollup)]);
  if (tail.length > 0) {
    // the open block: the tail's points after the sealed blocks, its rollup computed here
    const points = concat(tail, 0, Number.MAX_SAFE_INTEGER);
    const count = points.length / FIELDS_PER_POINT;
    out.push([rows.length, count, computeRollup(points, count)]);
  }
  return out;
}

/** One block's points (for buckets that start or end inside it). */
export function blockPoints(db: Db, series: MetricSeriesRow, blockNo: number): PointTriples {
  const s = statements(db);
  const blob = s.blockPoints.get(series.seriesId, blockNo) as Buffer | undefined;
  if (blob) return decodePoints(blob);
  // not sealed: the open block is the tail
  return concat(tailBlobs(db, s, series.seriesId), 0, Number.MAX_SAFE_INTEGER);
}
