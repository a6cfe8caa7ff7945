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

/** The tables whose counts the status shows: each one's own b-tree is read (its first row) besides the counts. */
const TABLES = ['dataset', 'dataset_version', 'experiment', 'run', 'model', 'model_version', 'deployment'] as const;

/**
 * One query for the headline numbers shown by `mloop status` and the status bar. Most counts are answered from an
 * index alone, so each table's first row is read from the table itself too (a few pages, whatever the store's size):
 * a damaged table (its root page overwritten, say) is reported as SQLITE_CORRUPT, not counted from an intact index.
 */
export function storeCounts(store: Store): StoreCounts {
  for (const table of TABLES) store.db.prepare(`SELECT 1 FROM ${table} NOT INDEXED LIMIT 1`).get();
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
