import type { Migration } from './migration';

/**
 * Indexes led by the key for the Experiments Table's other columns (issue 19, 100,000 runs, continuing 021): a metric
 * column shown as its min or max, and a tag. A sort by one walks its key's entries in value order and stops after the
 * page, and a filter on one reads the matching entries of its key alone; before, both read the row of every series
 * (or tag) of that key, or every run's row (an order by a min column: 418 ms CPU at 100,000 runs). Each carries
 * run_id, so neither reads the table to join to the run. The write cost is measured in BENCHMARKS.md (issue 19).
 */
export const migration023: Migration = {
  version: 23,
  name: 'table_aggregate_indexes',
  sql: `
CREATE INDEX metric_series_by_key_min ON metric_series(key, min_value, run_id);
CREATE INDEX metric_series_by_key_max ON metric_series(key, max_value, run_id);
CREATE INDEX tag_by_key_value ON tag(key, value, run_id);
`,
};
