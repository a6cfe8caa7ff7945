import type { Migration } from './migration';

/** Experiments and runs with everything they log (MLflow's tracking model, plus code version). */
export const migration001: Migration = {
  version: 1,
  name: 'tracking',
  sql: `
CREATE TABLE experiment (
  experiment_id     INTEGER PRIMARY KEY,
  name              TEXT NOT NULL UNIQUE,
  artifact_location TEXT,
  lifecycle_stage   TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE TABLE experiment_tag (
  experiment_id INTEGER NOT NULL REFERENCES experiment(experiment_id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key)
);
CREATE TABLE run (
  run_id          TEXT PRIMARY KEY CHECK (length(run_id) = 32),
  experiment_id   INTEGER NOT NULL REFERENCES experiment(experiment_id),
  name            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('SCHEDULED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
  pipeline        TEXT,
  command         TEXT,
  git_commit      TEXT,
  git_dirty       INTEGER CHECK (git_dirty IN (0, 1)),
  entry_file      TEXT,
  entry_digest    TEXT,
  user            TEXT,
  pid             INTEGER,
  start_time      INTEGER NOT NULL,
  end_time        INTEGER,
  exit_code       INTEGER,
  artifact_uri    TEXT,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted'))
);
CREATE INDEX run_by_experiment ON run(experiment_id, start_time DESC);
CREATE INDEX run_by_status ON run(status);
CREATE TABLE param (
  run_id TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE metric (
  run_id    TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  step      INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL,
  value     REAL,
  is_nan    INTEGER NOT NULL DEFAULT 0 CHECK (is_nan IN (0, 1))
);
CREATE INDEX metric_history ON metric(run_id, key, step, timestamp);
CREATE TABLE tag (
  run_id TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE artifact (
  artifact_id INTEGER PRIMARY KEY,
  run_id      TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  path        TEXT NOT NULL,
  digest      TEXT,
  size        INTEGER,
  created_at  INTEGER NOT NULL,
  UNIQUE (run_id, path)
);
`,
};
