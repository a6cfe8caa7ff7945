import type { Migration } from './migration';

/**
 * Exact re-runs: which run reproduces which, the verdict of comparing their metrics, and what differed
 * (metrics, environment). The pair is lineage's "reproduces" edge.
 */
export const migration014: Migration = {
  version: 14,
  name: 'reproductions',
  sql: `
CREATE TABLE run_reproduction (
  run_id            TEXT PRIMARY KEY REFERENCES run(run_id) ON DELETE CASCADE,
  original_run_id   TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  verdict           TEXT NOT NULL CHECK (verdict IN ('reproduced', 'differs', 'failed')),
  tolerance         REAL NOT NULL,
  metrics_json      TEXT NOT NULL,
  environment_json  TEXT NOT NULL,
  notes_json        TEXT NOT NULL,
  created_at        INTEGER NOT NULL
);
CREATE INDEX run_reproduction_by_original ON run_reproduction(original_run_id, created_at DESC);
`,
};
