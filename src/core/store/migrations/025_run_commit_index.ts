import type { Migration } from './migration';

/**
 * The runs of a commit (issue 19, the Experiments Table grouped by commit at 100,000 runs): a page grouped by commit
 * reads the runs of each group on the page from this index (clean and dirty apart), instead of ordering every match
 * by its group. It carries run_id, so the group's runs are read without the table. One entry per run written.
 */
export const migration025: Migration = {
  version: 25,
  name: 'run_commit_index',
  sql: `
CREATE INDEX run_by_commit ON run(git_commit, git_dirty, run_id);
`,
};
