import type { Migration } from './migration';

/**
 * Two steps for the Experiments Table at 100,000 runs (issue 19).
 * - The runs of a commit: a page grouped by commit reads the runs of each group on the page from this index (clean
 *   and dirty apart), instead of ordering every match by its group. It carries run_id, so the group's runs are read
 *   without the table. One entry per run written.
 * - The indexes a bulk import set aside: an import of many runs drops the indexes led by a metric, param or tag key
 *   (021, 023; maintained per row they cost 2.7× its writes) and creates them again at its end. Each dropped index's
 *   CREATE statement is kept here, in the transaction that drops it, with the importing process's id, so a store whose
 *   import was killed gets them back when it is next opened (deferredIndexes.ts).
 */
export const migration025: Migration = {
  version: 25,
  name: 'run_commit_index',
  sql: `
CREATE INDEX run_by_commit ON run(git_commit, git_dirty, run_id);
CREATE TABLE deferred_index (
  name TEXT PRIMARY KEY,
  sql  TEXT NOT NULL,
  pid  INTEGER NOT NULL
);
`,
};
