import type { Migration } from './migration';

/**
 * Monitoring reports beyond drift (issue 17): one row per check of one model — performance from late labels or
 * fairness per group — with its verdict (alert or not) and the whole result for the editor and `mloop monitor`.
 */
export const migration008: Migration = {
  version: 8,
  name: 'monitoring',
  sql: `
CREATE TABLE monitoring_report (
  monitoring_report_id INTEGER PRIMARY KEY,
  model_id             INTEGER REFERENCES model(model_id) ON DELETE SET NULL,
  model_name           TEXT NOT NULL,
  kind                 TEXT NOT NULL CHECK (kind IN ('performance', 'fairness')),
  alert                INTEGER NOT NULL CHECK (alert IN (0, 1)),
  summary              TEXT NOT NULL,
  result_json          TEXT NOT NULL,
  created_at           INTEGER NOT NULL
);
CREATE INDEX monitoring_report_by_model ON monitoring_report(model_name, kind, created_at DESC);
`,
};
