import type { Migration } from './migration';

/**
 * Permutation importance of a model version on each labelled monitoring window (issue 21, importance across the
 * monitoring windows): one row per computation, its windows in result_json.
 */
export const migration020: Migration = {
  version: 20,
  name: 'window_importance',
  sql: `
CREATE TABLE window_importance (
  window_importance_id INTEGER PRIMARY KEY,
  model_version_id     INTEGER NOT NULL REFERENCES model_version(model_version_id),
  model_name           TEXT NOT NULL,
  result_json          TEXT NOT NULL,
  created_at           INTEGER NOT NULL
);
CREATE INDEX window_importance_by_model ON window_importance(model_name, created_at DESC);
`,
};
