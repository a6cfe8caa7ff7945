import type Database from 'better-sqlite3';
import { appendMetricPoints, type MetricPointInput } from '../metricPoints';
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
      appendMetricPoints(db, runId, points);
      after = rows[rows.length - 1]![0];
      if (rows.length < COPY_PAGE) break;
    }
  }
  db.exec('DROP TABLE metric');
}
