import type { Migration } from './migration';

/**
 * What the MLflow 3 client logs beyond runs: logged models (with params, tags and the runs that
 * output them), tags on registered models and versions, and the source type of an MLflow dataset.
 */
export const migration005: Migration = {
  version: 5,
  name: 'logged_models',
  sql: `
CREATE TABLE logged_model (
  model_id        TEXT PRIMARY KEY,
  experiment_id   INTEGER NOT NULL REFERENCES experiment(experiment_id),
  name            TEXT NOT NULL,
  source_run_id   TEXT REFERENCES run(run_id) ON DELETE SET NULL,
  model_type      TEXT,
  status          TEXT NOT NULL CHECK (status IN ('PENDING', 'READY', 'UPLOAD_FAILED')),
  status_message  TEXT,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX logged_model_by_experiment ON logged_model(experiment_id, created_at DESC);
CREATE INDEX logged_model_by_run ON logged_model(source_run_id);
CREATE TABLE logged_model_param (
  model_id TEXT NOT NULL REFERENCES logged_model(model_id) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_tag (
  model_id TEXT NOT NULL REFERENCES logged_model(model_id) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE TABLE run_output (
  run_id   TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  model_id TEXT NOT NULL REFERENCES logged_model(model_id) ON DELETE CASCADE,
  step     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, model_id)
);
CREATE TABLE model_tag (
  model_id INTEGER NOT NULL REFERENCES model(model_id) ON DELETE CASCADE,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE TABLE model_version_tag (
  model_version_id INTEGER NOT NULL REFERENCES model_version(model_version_id) ON DELETE CASCADE,
  key              TEXT NOT NULL,
  value            TEXT NOT NULL,
  PRIMARY KEY (model_version_id, key)
);
ALTER TABLE dataset_version ADD COLUMN source_type TEXT;
`,
};
