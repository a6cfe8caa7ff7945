import type { Migration } from './migration';

/** Registered models, their versions (each pinned to a source run) and aliases with history. */
export const migration003: Migration = {
  version: 3,
  name: 'registry',
  sql: `
CREATE TABLE model (
  model_id    INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE TABLE model_version (
  model_version_id INTEGER PRIMARY KEY,
  model_id         INTEGER NOT NULL REFERENCES model(model_id) ON DELETE CASCADE,
  version          INTEGER NOT NULL CHECK (version >= 1),
  source_run_id    TEXT REFERENCES run(run_id),
  artifact_path    TEXT,
  artifact_digest  TEXT,
  metrics_json     TEXT,
  signature_json   TEXT,
  gate_json        TEXT,
  gate_passed      INTEGER CHECK (gate_passed IN (0, 1)),
  stage            TEXT,
  description      TEXT,
  created_at       INTEGER NOT NULL,
  UNIQUE (model_id, version)
);
CREATE INDEX model_version_by_run ON model_version(source_run_id);
CREATE TABLE alias (
  model_id         INTEGER NOT NULL REFERENCES model(model_id) ON DELETE CASCADE,
  alias            TEXT NOT NULL CHECK (length(alias) BETWEEN 1 AND 255),
  model_version_id INTEGER NOT NULL REFERENCES model_version(model_version_id),
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias)
);
CREATE TABLE alias_history (
  alias_history_id      INTEGER PRIMARY KEY,
  model_id              INTEGER NOT NULL REFERENCES model(model_id) ON DELETE CASCADE,
  alias                 TEXT NOT NULL,
  from_model_version_id INTEGER REFERENCES model_version(model_version_id),
  to_model_version_id   INTEGER REFERENCES model_version(model_version_id),
  changed_at            INTEGER NOT NULL
);
CREATE INDEX alias_history_by_alias ON alias_history(model_id, alias, changed_at);
`,
};
