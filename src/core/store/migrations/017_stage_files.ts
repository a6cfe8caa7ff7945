import type { Migration } from './migration';

/**
 * Lineage through stage outs (issue 19): each successful stage run records the digests of the deps it read and
 * the outs it wrote, so a run that read a file is linked to the stage run that wrote those exact bytes
 * (raw data → prepare → features → train → model version).
 */
export const migration017: Migration = {
  version: 17,
  name: 'stage_files',
  sql: `
CREATE TABLE stage_file (
  run_id TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
  role   TEXT NOT NULL CHECK (role IN ('dep', 'out')),
  path   TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (run_id, role, path)
);
CREATE INDEX stage_file_by_content ON stage_file(path, digest, role);
`,
};
