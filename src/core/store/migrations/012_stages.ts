import type { Migration } from './migration';

/**
 * Pipelines with cached stages (issue 19): the digest of each file a stage reads or writes, kept with the size,
 * mtime and inode it was taken at (re-hashed only when one of them changes), and per stage what its last
 * successful run saw (command, dep digests, params, out digests) and its last attempt.
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
`,
};
