import type { Migration } from './migration';

/** Datasets, their content-addressed versions (with profile) and which run read which version. */
export const migration002: Migration = {
  version: 2,
  name: 'datasets',
  sql: `
CREATE TABLE dataset (
  dataset_id INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  uri        TEXT NOT NULL,
  format     TEXT CHECK (format IN ('csv', 'tsv', 'jsonl', 'parquet', 'other')),
  source     TEXT NOT NULL DEFAULT 'declared' CHECK (source IN ('declared', 'mlflow', 'imported')),
  created_at INTEGER NOT NULL
);
CREATE TABLE dataset_version (
  dataset_version_id INTEGER PRIMARY KEY,
  dataset_id         INTEGER NOT NULL REFERENCES dataset(dataset_id) ON DELETE CASCADE,
  digest             TEXT NOT NULL,
  digest_algorithm   TEXT NOT NULL DEFAULT 'sha256',
  path               TEXT NOT NULL,
  size_bytes         INTEGER,
  row_count          INTEGER,
  schema_json        TEXT,
  profile_json       TEXT,
  origin             TEXT NOT NULL DEFAULT 'snapshot' CHECK (origin IN ('snapshot', 'watcher', 'dvc', 'mlflow', 'manual', 'imported')),
  created_at         INTEGER NOT NULL,
  UNIQUE (dataset_id, digest)
);
CREATE TABLE run_input (
  run_id             TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  dataset_version_id INTEGER NOT NULL REFERENCES dataset_version(dataset_version_id),
  context            TEXT NOT NULL DEFAULT 'training',
  PRIMARY KEY (run_id, dataset_version_id)
);
CREATE INDEX run_input_by_version ON run_input(dataset_version_id);
`,
};
