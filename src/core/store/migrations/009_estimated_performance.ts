import type { Migration } from './migration';

/**
 * Estimated performance (CBPE) reports join the monitoring reports: SQLite cannot widen a CHECK in place, so the
 * table is rebuilt with the same rows.
 */
export const migration009: Migration = {
  version: 9,
  name: 'estimated_performance',
  sql: `
CREATE TABLE monitoring_report_new (
  monitoring_report_id INTEGER PRIMARY KEY,
  model_id             INTEGER REFERENCES model(model_id) ON DELETE SET NULL,
  model_name           TEXT NOT NULL,
  kind                 TEXT NOT NULL CHECK (kind IN ('performance', 'fairness', 'estimated_performance')),
  alert                INTEGER NOT NULL CHECK (alert IN (0, 1)),
  summary              TEXT NOT NULL,
  result_json          TEXT NOT NULL,
  created_at           INTEGER NOT NULL
);
INSERT INTO monitoring_report_new SELECT monitoring_report_id, model_id, model_name, kind, alert, summary, result_json, created_at FROM monitoring_report;
DROP TABLE monitoring_report;
ALTER TABLE monitoring_report_new RENAME TO monitoring_report;
CREATE INDEX monitoring_report_by_model ON monitoring_report(model_name, kind, created_at DESC);
`,
};
