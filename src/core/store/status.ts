import type { Store } from './store';

export interface StoreCounts {
  readonly datasets: number;
  readonly datasetVersions: number;
  readonly experiments: number;
  readonly runs: number;
  readonly runningRuns: number;
  readonly models: number;
  readonly modelVersions: number;
  readonly deployments: number;
}

/** One query for the headline numbers shown by `mloop status` and the status bar. */
export function storeCounts(store: Store): StoreCounts {
  return store.db
    .prepare(
      `SELECT
        (SELECT count(*) FROM dataset) AS datasets,
        (SELECT count(*) FROM dataset_version) AS datasetVersions,
        (SELECT count(*) FROM experiment WHERE lifecycle_stage = 'active') AS experiments,
        (SELECT count(*) FROM run WHERE lifecycle_stage = 'active') AS runs,
        (SELECT count(*) FROM run WHERE status = 'RUNNING') AS runningRuns,
        (SELECT count(*) FROM model) AS models,
        (SELECT count(*) FROM model_version) AS modelVersions,
        (SELECT count(*) FROM deployment) AS deployments`,
    )
    .get() as StoreCounts;
}
