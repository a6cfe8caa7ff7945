import type { Migration } from './migration';

/**
 * Metric points are appended, not rewritten (issue 16, ingest): schema 6 to 21 kept each series' open block (its last,
 * partial 256-point block) in metric_block and rewrote it whole on every append, so a point reached the write-ahead
 * log several times over (a 6 KB row across overflow pages per key and request). From this step, metric_block holds
 * sealed blocks only (exactly 256 points) and the points after the last sealed block are metric_tail rows, one per
 * append, inserted and never updated. An append that fills a block seals it: the tail rows and the new points become
 * one metric_block row and the tail rows are deleted (see metricPoints.ts). This step moves every open block, as it
 * is, to one tail row starting at its first point's logging ordinal; no point is decoded or reordered.
 */
export const migration022: Migration = {
  version: 22,
  name: 'metric_tail',
  sql: `
CREATE TABLE metric_tail (
  tail_id   INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL REFERENCES metric_series(series_id) ON DELETE CASCADE,
  seq       INTEGER NOT NULL,
  count     INTEGER NOT NULL CHECK (count BETWEEN 1 AND 255),
  points    BLOB NOT NULL CHECK (length(points) = count * 24)
);
CREATE INDEX metric_tail_by_series ON metric_tail(series_id, seq);
INSERT INTO metric_tail (series_id, seq, count, points)
  SELECT series_id, block_no * 256, count, points FROM metric_block WHERE count < 256 ORDER BY series_id;
DELETE FROM metric_block WHERE count < 256;
`,
};
