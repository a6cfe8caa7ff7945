import type { EnvironmentChange } from '../../shared/environmentFacts';
import type { Store } from './store';

export type ReproductionVerdict = 'reproduced' | 'differs' | 'failed';

/** One metric of the original run next to the rerun's value. */
export interface MetricComparison {
  readonly key: string;
  /** null: the run has no such metric. NaN and infinities are kept as text. */
  readonly original: number | string | null;
  readonly rerun: number | string | null;
  /** |a − b| / max(|a|, |b|); 0 when both are equal (NaN = NaN included), null when one side is missing. */
  readonly relativeDifference: number | null;
  readonly within: boolean;
}

export interface Reproduction {
  readonly runId: string;
  readonly originalRunId: string;
  readonly verdict: ReproductionVerdict;
  readonly tolerance: number;
  readonly metrics: MetricComparison[];
  readonly environment: EnvironmentChange[];
  /** What could not be made exactly as it was (untracked files not kept, an environment not recorded…). */
  readonly notes: string[];
  readonly createdAt: number;
}

interface Row {
  run_id: string;
  original_run_id: string;
  verdict: ReproductionVerdict;
  tolerance: number;
  metrics_json: string;
  environment_json: string;
  notes_json: string;
  created_at: number;
}

const fromRow = (r: Row): Reproduction => ({
  runId: r.run_id,
  originalRunId: r.original_run_id,
  verdict: r.verdict,
  tolerance: r.tolerance,
  metrics: JSON.parse(r.metrics_json) as MetricComparison[],
  environment: JSON.parse(r.environment_json) as EnvironmentChange[],
  notes: JSON.parse(r.notes_json) as string[],
  createdAt: r.created_at,
});

/** Exact re-runs and their verdicts (`mloop rerun --exact`). */
export class ReproductionRepository {
  constructor(private readonly store: Store) {}

  record(r: Omit<Reproduction, 'createdAt'>, now: number = Date.now()): void {
    this.store.db
      .prepare(
        `INSERT INTO run_reproduction (run_id, original_run_id, verdict, tolerance, metrics_json, environment_json, notes_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.runId, r.originalRunId, r.verdict, r.tolerance, JSON.stringify(r.metrics), JSON.stringify(r.environment), JSON.stringify(r.notes), now);
  }

  /** The reproduction this run is (it re-ran another), if any. */
  ofRun(runId: string): Reproduction | undefined {
    const row = this.store.db.prepare('SELECT * FROM run_reproduction WHERE run_id = ?').get(runId) as Row | undefined;
    return row && fromRow(row);
  }

  /** The reruns of this run, newest first. */
  reproductionsOf(originalRunId: string): Reproduction[] {
    return (this.store.db.prepare('SELECT * FROM run_reproduction WHERE original_run_id = ? ORDER BY created_at DESC, run_id').all(originalRunId) as Row[]).map(
      fromRow,
    );
  }
}

/** "reproduced ✓", "differs: accuracy, loss", "rerun failed". */
export function describeVerdict(r: Pick<Reproduction, 'verdict' | 'metrics'>): string {
  if (r.verdict === 'reproduced') return 'reproduced ✓';
  if (r.verdict === 'failed') return 'rerun failed ✗';
  return `differs ✗: ${r.metrics
    .filter((m) => !m.within)
    .map((m) => m.key)
    .join(', ')}`;
}
