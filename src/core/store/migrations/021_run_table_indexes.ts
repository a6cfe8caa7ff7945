import type { Migration } from './migration';

/**
 * Indexes led by the metric or param key (issue 19, the Experiments Table at 100,000 runs): a sort by a metric's
 * latest value or a param walks its key's entries in value order and stops after the page, and a filter on a metric or
 * param reads the matching entries of its key alone, instead of seeking each run's row. Both carry run_id, so neither
 * reads the table to join to the run. Each adds one index entry per series or param written (see BENCHMARKS.md,
 * issue 19, for the ingest cost and for how long this step takes on a 100,000-run store).
 */
export const migration021: Migration = {
  version: 21,
  name: 'run_table_indexes',
  sql: `
CREATE INDEX metric_series_by_key_value ON metric_series(key, latest_value, run_id);
CREATE INDEX param_by_key_value ON param(key, value, run_id);
`,
};
