import type { Migration } from './migration';

/**
 * Reproducibility: where each dataset version's bytes are in the content store (`.mloop/cache/`), and the
 * environment each run started in, stored once per distinct environment (digest) and pointed to by runs.
 */
export const migration007: Migration = {
  version: 7,
  name: 'reproducibility',
  sql: `
CREATE TABLE dataset_version_cache (
  dataset_version_id INTEGER PRIMARY KEY REFERENCES dataset_version(dataset_version_id) ON DELETE CASCADE,
  status             TEXT NOT NULL CHECK (status IN ('cached', 'pending', 'disabled', 'failed', 'evicted')),
  layout             TEXT CHECK (layout IN ('file', 'files')),
  reason             TEXT,
  updated_at         INTEGER NOT NULL
);
CREATE TABLE dataset_version_file (
  dataset_version_id INTEGER NOT NULL REFERENCES dataset_version(dataset_version_id) ON DELETE CASCADE,
  rel_path           TEXT NOT NULL,
  object_digest      TEXT NOT NULL CHECK (length(object_digest) = 64),
  size_bytes         INTEGER NOT NULL,
  ordinal            INTEGER NOT NULL,
  PRIMARY KEY (dataset_version_id, rel_path)
);
CREATE INDEX dataset_version_file_by_object ON dataset_version_file(object_digest);
CREATE TABLE environment (
  environment_id INTEGER PRIMARY KEY,
  digest         TEXT NOT NULL UNIQUE CHECK (length(digest) = 64),
  document_json  TEXT NOT NULL,
  created_at     INTEGER NOT NULL
);
CREATE TABLE run_environment (
  run_id         TEXT PRIMARY KEY REFERENCES run(run_id) ON DELETE CASCADE,
  environment_id INTEGER NOT NULL REFERENCES environment(environment_id),
  captured_ms    INTEGER
);
CREATE INDEX run_environment_by_environment ON run_environment(environment_id);
CREATE TABLE run_code (
  run_id        TEXT PRIMARY KEY REFERENCES run(run_id) ON DELETE CASCADE,
  git_commit    TEXT NOT NULL,
  diff          BLOB,
  diff_bytes    INTEGER NOT NULL,
  truncated     INTEGER NOT NULL CHECK (truncated IN (0, 1)),
  untracked_json TEXT NOT NULL
);
`,
};
