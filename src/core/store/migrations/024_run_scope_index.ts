import type { Migration } from './migration';

/**
 * The runs of an experiment that are not deleted, in the table's default order (issue 19, the Experiments Table at
 * 100,000 runs): counting the runs in scope, which every search answered with SQL does, reads this index alone
 * instead of every run's row (the lifecycle stage is not in run_by_experiment: 19 ms of a filter's 90 under load), and
 * the first screen's page (start_time DESC, run_id) is read from it in order, ties included, with no sort. One entry
 * per run written.
 */
export const migration024: Migration = {
  version: 24,
  name: 'run_scope_index',
  sql: `
CREATE INDEX run_by_experiment_stage ON run(experiment_id, lifecycle_stage, start_time DESC, run_id);
`,
};
