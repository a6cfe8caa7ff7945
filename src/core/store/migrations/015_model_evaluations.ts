import type { Migration } from './migration';

/**
 * Evaluations of a model version on a dataset version (issue 21): what `mloop evaluate` computed (metrics with
 * intervals, curves, group metrics, permutation importance, SHAP values) as one JSON document per evaluation.
 */
export const migration015: Migration = {
  version: 15,
  name: 'model_evaluations',
  sql: `
CREATE TABLE model_evaluation (
  model_evaluation_id INTEGER PRIMARY KEY,
  model_version_id    INTEGER NOT NULL REFERENCES model_version(model_version_id) ON DELETE CASCADE,
  dataset_name        TEXT NOT NULL,
  dataset_digest      TEXT NOT NULL,
  dataset_version_id  INTEGER REFERENCES dataset_version(dataset_version_id) ON DELETE SET NULL,
  actor               TEXT NOT NULL,
  result_json         TEXT NOT NULL,
  created_at          INTEGER NOT NULL
);
CREATE INDEX model_evaluation_by_version ON model_evaluation(model_version_id, created_at DESC);
`,
};
