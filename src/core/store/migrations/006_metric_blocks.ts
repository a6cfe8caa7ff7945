import type Database from 'better-sqlite3';
import { computeRollup, decodePoints, FIELDS_PER_POINT, type MetricPointInput, POINTS_PER_BLOCK } from '../metricPoints';
import type { Migration } from './migration';

/** Points copied per statement while upgrading: bounds memory on a history of any length. */
const COPY_PAGE = 65_536;

/**
 * Metric points move from one row per point (`metric`) to per-(run, key) series of packed blocks with
 * rollups (see metricPoints.ts): ingest writes a few rows per batch instead of one per point, and a
 * chart of a 1M-point history reads ~4k small rollup rows. Every existing point is copied, in the
 * order it was logged (rowid), so history order, ties and latest values stay exactly as they were.
 */
export const migration006: Migration = {
  version: 6,
  name: 'metric_blocks',
  sql: `
CREATE TABLE metric_series (
  series_id        INTEGER PRIMARY KEY,
  run_id           TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  key              TEXT NOT NULL,
  count            INTEGER NOT NULL DEFAULT 0,
  ordered          INTEGER NOT NULL DEFAULT 1 CHECK (ordered IN (0, 1)),
  tail_step        INTEGER,
  tail_timestamp   INTEGER,
  latest_step      INTEGER,
  latest_timestamp INTEGER,
  latest_value     REAL,
  min_value        REAL,
  max_value        REAL,
  UNIQUE (run_id, key)
);
CREATE TABLE metric_block (
  block_id INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL REFERENCES metric_series(series_id) ON DELETE CASCADE,
  block_no  INTEGER NOT NULL,
  count     INTEGER NOT NULL CHECK (count BETWEEN 1 AND 256),
  min_step  INTEGER NOT NULL,
  max_step  INTEGER NOT NULL,
  rollup    BLOB NOT NULL,
  points    BLOB NOT NULL CHECK (length(points) = count * 24),
  UNIQUE (series_id, block_no)
);
`,
  up: copyMetricRows,
};

function copyMetricRows(db: Database.Database): void {
  // entries of an index on (run_id, key) are ordered by (run_id, key, rowid): logging order per series
  db.exec('CREATE INDEX metric_by_series ON metric(run_id, key)');
  const series = db.prepare('SELECT DISTINCT run_id, key FROM metric ORDER BY run_id, key').raw().all() as [string, string][];
  const page = db.prepare('SELECT rowid, step, timestamp, value, is_nan FROM metric WHERE run_id = ? AND key = ? AND rowid > ? ORDER BY rowid LIMIT ?').raw();
  for (const [runId, key] of series) {
    let after = -1;
    for (;;) {
      const rows = page.all(runId, key, after, COPY_PAGE) as [number, number, number, number | null, 0 | 1][];
      if (rows.length === 0) break;
      const points: MetricPointInput[] = rows.map(([, step, timestamp, value, isNan]) => ({
        key,
        step,
        timestamp,
        value: isNan || value === null ? Number.NaN : value,
      }));
      appendSchema6Points(db, runId, points);
      after = rows[rows.length - 1]![0];
      if (rows.length < COPY_PAGE) break;
    }
  }
  db.exec('DROP TABLE metric');
}

type Db = Database.Database;

function prepareSchema6(db: Db) {
  return {
    series: db.prepare(
      'SELECT series_id AS seriesId, count, ordered, latest_step AS latestStep, latest_timestamp AS latestTimestamp, latest_value AS latestValue, min_value AS minValue, max_value AS maxValue, tail_step AS tailStep, tail_timestamp AS tailTimestamp FROM metric_series WHERE run_id = ? AND key = ?',
    ),
    insertSeries: db.prepare('INSERT INTO metric_series (run_id, key) VALUES (?, ?)'),
    blockPoints: db.prepare('SELECT points FROM metric_block WHERE series_id = ? AND block_no = ?').pluck(),
    upsertBlock: db.prepare(
      `INSERT INTO metric_block (series_id, block_no, count, min_step, max_step, rollup, points) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (series_id, block_no) DO UPDATE SET count = excluded.count, min_step = excluded.min_step,
       max_step = excluded.max_step, rollup = excluded.rollup, points = excluded.points`,
    ),
    updateSeries: db.prepare(
      `UPDATE metric_series SET count = ?, ordered = ?, tail_step = ?, tail_timestamp = ?, latest_step = ?, latest_timestamp = ?,
       latest_value = ?, min_value = ?, max_value = ? WHERE series_id = ?`,
    ),
  };
}

const schema6Statements = new WeakMap<Db, ReturnType<typeof prepareSchema6>>();

/**
 * The writer of schema 6 to 21, kept as it was so that this step writes the layout it creates (migration 022 then
 * moves each series' open block to metric_tail) and tests can write a store the way those releases did: every
 * touched block, the open one included, is rewritten whole in metric_block with its rollup.
 */
export function appendSchema6Points(db: Db, runId: string, points: readonly MetricPointInput[]): void {
  const byKey = new Map<string, MetricPointInput[]>();
  for (const p of points) {
    const list = byKey.get(p.key);
    if (list) list.push(p);
    else byKey.set(p.key, [p]);
  }
  let st = schema6Statements.get(db);
  if (!st) schema6Statements.set(db, (st = prepareSchema6(db)));
  const { series, insertSeries, blockPoints, upsertBlock, updateSeries } = st;
  const after = (step: number, timestamp: number, refStep: number, refTimestamp: number): boolean =>
    step > refStep || (step === refStep && timestamp >= refTimestamp);
  const asBlob = (values: Float64Array): Buffer => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  for (const [key, list] of byKey) {
    type Row = { seriesId: number; count: number; ordered: number; latestStep: number | null; latestTimestamp: number | null };
    type Values = { latestValue: number | null; minValue: number | null; maxValue: number | null; tailStep: number | null; tailTimestamp: number | null };
    const raw = (series.get(runId, key) as (Row & Values) | undefined) ?? {
      seriesId: Number(insertSeries.run(runId, key).lastInsertRowid),
      count: 0,
      ordered: 1,
      latestStep: null,
      latestTimestamp: null,
      latestValue: null,
      minValue: null,
      maxValue: null,
      tailStep: null,
      tailTimestamp: null,
    };
    let count = raw.count;
    let ordered = raw.ordered === 1;
    let hasLatest = count > 0;
    let latestStep = raw.latestStep ?? 0;
    let latestTimestamp = raw.latestTimestamp ?? 0;
    let latestValue = raw.latestValue ?? Number.NaN;
    let tailStep = raw.tailStep ?? 0;
    let tailTimestamp = raw.tailTimestamp ?? 0;
    let min = raw.minValue;
    let max = raw.maxValue;
    let i = 0;
    while (i < list.length) {
      const blockNo = Math.floor(count / POINTS_PER_BLOCK);
      const offset = count % POINTS_PER_BLOCK;
      const n = Math.min(POINTS_PER_BLOCK - offset, list.length - i);
      const data = new Float64Array((offset + n) * FIELDS_PER_POINT);
      if (offset > 0) data.set(decodePoints(blockPoints.get(raw.seriesId, blockNo) as Buffer));
      let minStep = Infinity;
      let maxStep = -Infinity;
      for (let k = 0; k < n; k++) {
        const p = list[i + k]!;
        const at = (offset + k) * FIELDS_PER_POINT;
        data[at] = p.step;
        data[at + 1] = p.timestamp;
        data[at + 2] = p.value;
        if (count + k > 0 && !after(p.step, p.timestamp, tailStep, tailTimestamp)) ordered = false;
        tailStep = p.step;
        tailTimestamp = p.timestamp;
        if (!hasLatest || after(p.step, p.timestamp, latestStep, latestTimestamp)) {
          hasLatest = true;
          latestStep = p.step;
          latestTimestamp = p.timestamp;
          latestValue = p.value;
        }
        if (!Number.isNaN(p.value)) {
          if (min === null || p.value < min) min = p.value;
          if (max === null || p.value > max) max = p.value;
        }
      }
      for (let k = 0; k < offset + n; k++) {
        minStep = Math.min(minStep, data[k * FIELDS_PER_POINT]!);
        maxStep = Math.max(maxStep, data[k * FIELDS_PER_POINT]!);
      }
      upsertBlock.run(raw.seriesId, blockNo, offset + n, minStep, maxStep, asBlob(computeRollup(data, offset + n)), asBlob(data));
      count += n;
      i += n;
    }
    updateSeries.run(
      count,
      ordered ? 1 : 0,
      tailStep,
      tailTimestamp,
      latestStep,
      latestTimestamp,
      Number.isNaN(latestValue) ? null : latestValue,
      min,
      max,
      raw.seriesId,
    );
  }
}
