import type { Migration } from './migration';

/**
 * Pipelines with cached stages (issue 19): the digest of each file a stage reads or writes, kept with the size,
 * mtime and inode it was taken at (re-hashed only when one of them changes), and per stage what its last
 * successful run saw (command, dep digests, params, out digests) and its last attempt. Sweeps: the trials of a
 * sweep queued in the store, so a queue survives a restart and a cancel reaches trials not yet started.
 */
export const migration012: Migration = {
  version: 12,
  name: 'stages',
  sql: `
CREATE TABLE file_digest (
  path      TEXT PRIMARY KEY,
  size      INTEGER NOT NULL,
  mtime_ns  TEXT NOT NULL,
  inode     TEXT NOT NULL,
  digest    TEXT NOT NULL,
  hashed_at INTEGER NOT NULL
);
CREATE TABLE stage_state (
  stage          TEXT PRIMARY KEY,
  last_run_id    TEXT REFERENCES run(run_id) ON DELETE SET NULL,
  success_run_id TEXT REFERENCES run(run_id) ON DELETE SET NULL,
  signature_json TEXT,
  outs_json      TEXT,
  updated_at     INTEGER NOT NULL
);
CREATE TABLE sweep (
  sweep_id     TEXT PRIMARY KEY,
  pipeline     TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED')),
  max_parallel INTEGER NOT NULL CHECK (max_parallel >= 1),
  created_at   INTEGER NOT NULL,
  ended_at     INTEGER
);
CREATE TABLE sweep_trial (
  sweep_id    TEXT NOT NULL REFERENCES sweep(sweep_id) ON DELETE CASCADE,
  ordinal     INTEGER NOT NULL,
  params_json TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'CANCELLED')),
  run_id      TEXT REFERENCES run(run_id) ON DELETE SET NULL,
  PRIMARY KEY (sweep_id, ordinal)
);
`,
};
