import type { Migration } from './migration';

/**
 * Service health after deploy (issue 17): every scheduled check of a target's serving version — the process and
 * health check verdict, and the serving log's latency, errors and request rate over the check's window. Uptime is
 * read from these rows; a check that rolled back names the deployment it rolled back.
 */
export const migration017: Migration = {
  version: 17,
  name: 'service_checks',
  sql: `
CREATE TABLE service_check (
  service_check_id INTEGER PRIMARY KEY,
  target           TEXT NOT NULL,
  deployment_id    INTEGER REFERENCES deployment(deployment_id) ON DELETE SET NULL,
  model_name       TEXT NOT NULL,
  version          INTEGER NOT NULL,
  up               INTEGER NOT NULL CHECK (up IN (0, 1)),
  alert            INTEGER NOT NULL CHECK (alert IN (0, 1)),
  detail           TEXT NOT NULL,
  result_json      TEXT NOT NULL,
  checked_at       INTEGER NOT NULL
);
CREATE INDEX service_check_by_target ON service_check(target, checked_at DESC);
`,
};
