import { randomBytes } from 'node:crypto';
import type { Store } from './store';

export type SweepStatus = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED' | 'CANCELLED';
export type TrialStatus = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED' | 'CANCELLED';

export interface Sweep {
  readonly sweepId: string;
  readonly pipeline: string;
  readonly status: SweepStatus;
  readonly maxParallel: number;
  readonly createdAt: number;
  readonly endedAt: number | null;
}

export interface SweepTrial {
  readonly sweepId: string;
  readonly ordinal: number;
  readonly params: Readonly<Record<string, string>>;
  readonly status: TrialStatus;
  readonly runId: string | null;
}

interface SweepRow {
  sweep_id: string;
  pipeline: string;
  status: SweepStatus;
  max_parallel: number;
  created_at: number;
  ended_at: number | null;
}
interface TrialRow {
  sweep_id: string;
  ordinal: number;
  params_json: string;
  status: TrialStatus;
  run_id: string | null;
}

const toSweep = (r: SweepRow): Sweep => ({
  sweepId: r.sweep_id,
  pipeline: r.pipeline,
  status: r.status,
  maxParallel: r.max_parallel,
  createdAt: r.created_at,
  endedAt: r.ended_at,
});
const toTrial = (r: TrialRow): SweepTrial => ({
  sweepId: r.sweep_id,
  ordinal: r.ordinal,
  params: JSON.parse(r.params_json) as Record<string, string>,
  status: r.status,
  runId: r.run_id,
});

/** The sweep queue: each trial's params, status and run, kept in the store. */
export class SweepRepository {
  constructor(private readonly store: Store) {}

  /** Queues every trial of a new sweep in one transaction; returns its id (12 hex characters). */
  create(pipeline: string, trials: readonly Readonly<Record<string, string>>[], maxParallel: number): Sweep {
    const sweepId = randomBytes(6).toString('hex');
    this.store.transaction(() => {
      this.store.db
        .prepare("INSERT INTO sweep (sweep_id, pipeline, status, max_parallel, created_at) VALUES (?, ?, 'QUEUED', ?, ?)")
        .run(sweepId, pipeline, maxParallel, Date.now());
      const insert = this.store.db.prepare("INSERT INTO sweep_trial (sweep_id, ordinal, params_json, status) VALUES (?, ?, ?, 'QUEUED')");
      trials.forEach((params, i) => insert.run(sweepId, i + 1, JSON.stringify(params)));
    });
    return this.get(sweepId)!;
  }

  get(sweepId: string): Sweep | undefined {
    const row = this.store.db.prepare('SELECT * FROM sweep WHERE sweep_id = ?').get(sweepId) as SweepRow | undefined;
    return row && toSweep(row);
  }

  /** Sweeps with trials still queued or running (to resume after a restart), oldest first. */
  unfinished(): Sweep[] {
    return (this.store.db.prepare("SELECT * FROM sweep WHERE status IN ('QUEUED', 'RUNNING') ORDER BY created_at").all() as SweepRow[]).map(toSweep);
  }

  trials(sweepId: string): SweepTrial[] {
    return (this.store.db.prepare('SELECT * FROM sweep_trial WHERE sweep_id = ? ORDER BY ordinal').all(sweepId) as TrialRow[]).map(toTrial);
  }

  /** Takes the next queued trial (marks it RUNNING) unless the sweep was cancelled; undefined when none is left. */
  claimNext(sweepId: string): SweepTrial | undefined {
    return this.store.transaction(() => {
      const sweep = this.get(sweepId);
      if (!sweep || sweep.status === 'CANCELLED') return undefined;
      const row = this.store.db.prepare("SELECT * FROM sweep_trial WHERE sweep_id = ? AND status = 'QUEUED' ORDER BY ordinal LIMIT 1").get(sweepId) as
        | TrialRow
        | undefined;
      if (!row) return undefined;
      this.store.db.prepare("UPDATE sweep_trial SET status = 'RUNNING' WHERE sweep_id = ? AND ordinal = ?").run(sweepId, row.ordinal);
      if (sweep.status === 'QUEUED') this.store.db.prepare("UPDATE sweep SET status = 'RUNNING' WHERE sweep_id = ?").run(sweepId);
      return { ...toTrial(row), status: 'RUNNING' as const };
    });
  }

  setTrial(sweepId: string, ordinal: number, changes: { status: TrialStatus; runId?: string }): void {
    this.store.db
      .prepare('UPDATE sweep_trial SET status = ?, run_id = coalesce(?, run_id) WHERE sweep_id = ? AND ordinal = ?')
      .run(changes.status, changes.runId ?? null, sweepId, ordinal);
  }

  /** Cancel: no queued trial starts any more (running ones are stopped by whoever runs them). */
  cancel(sweepId: string): void {
    this.store.transaction(() => {
      this.store.db
        .prepare("UPDATE sweep SET status = 'CANCELLED', ended_at = coalesce(ended_at, ?) WHERE sweep_id = ? AND status IN ('QUEUED', 'RUNNING')")
        .run(Date.now(), sweepId);
      this.store.db.prepare("UPDATE sweep_trial SET status = 'CANCELLED' WHERE sweep_id = ? AND status = 'QUEUED'").run(sweepId);
    });
  }

  finish(sweepId: string, status: Exclude<SweepStatus, 'QUEUED' | 'RUNNING'>): void {
    this.store.db.prepare("UPDATE sweep SET status = ?, ended_at = ? WHERE sweep_id = ? AND status IN ('QUEUED', 'RUNNING')").run(status, Date.now(), sweepId);
  }
}
