import { seriesOfRuns } from '../store/metricPoints';
import type { Store } from '../store/store';

/** What the Compare panel shows for one metric of one run. NaN values count but are never min/max. */
export interface MetricSummary {
  readonly runId: string;
  readonly key: string;
  /** The value at the highest (step, timestamp); null when that point was NaN. */
  readonly last: number | null;
  readonly lastStep: number;
  /** null when every point was NaN. */
  readonly min: number | null;
  readonly max: number | null;
  readonly count: number;
}

/** last / min / max / count of every metric of these runs, ordered by run (as given) then key. */
export function metricSummary(store: Store, runIds: readonly string[]): MetricSummary[] {
  const unique = [...new Set(runIds)];
  const runOrder = new Map(unique.map((id, i) => [id, i]));
  return seriesOfRuns(store.db, unique)
    .map((s) => ({
      runId: s.runId,
      key: s.key,
      last: Number.isNaN(s.latestValue) ? null : s.latestValue,
      lastStep: s.latestStep,
      min: s.minValue,
      max: s.maxValue,
      count: s.count,
    }))
    .sort((a, b) => runOrder.get(a.runId)! - runOrder.get(b.runId)! || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
