import type { Store } from './store';

/** What a stage's last successful run saw: rerun when any of it differs. */
export interface StageSignature {
  readonly command: string;
  /** Dep path → digest ('missing' when absent). */
  readonly deps: Readonly<Record<string, string>>;
  /** Param label → value as text. */
  readonly params: Readonly<Record<string, string>>;
}

export interface StageState {
  readonly stage: string;
  /** The latest attempt, whatever its outcome. */
  readonly lastRunId: string | null;
  readonly successRunId: string | null;
  readonly signature: StageSignature | null;
  /** Out path → digest after the last successful run. */
  readonly outs: Readonly<Record<string, string>> | null;
  readonly updatedAt: number;
}

interface StageStateRow {
  stage: string;
  last_run_id: string | null;
  success_run_id: string | null;
  signature_json: string | null;
  outs_json: string | null;
  updated_at: number;
}

export class StageStateRepository {
  constructor(private readonly store: Store) {}

  get(stage: string): StageState | undefined {
    const row = this.store.db.prepare('SELECT * FROM stage_state WHERE stage = ?').get(stage) as StageStateRow | undefined;
    return (
      row && {
        stage: row.stage,
        lastRunId: row.last_run_id,
        successRunId: row.success_run_id,
        signature: row.signature_json ? (JSON.parse(row.signature_json) as StageSignature) : null,
        outs: row.outs_json ? (JSON.parse(row.outs_json) as Record<string, string>) : null,
        updatedAt: row.updated_at,
      }
    );
  }

  /** A run of the stage started: it is the latest attempt (the last success is kept). */
  started(stage: string, runId: string): void {
    this.store.db
      .prepare(
        `INSERT INTO stage_state (stage, last_run_id, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (stage) DO UPDATE SET last_run_id = excluded.last_run_id, updated_at = excluded.updated_at`,
      )
      .run(stage, runId, Date.now());
  }

  succeeded(stage: string, runId: string, signature: StageSignature, outs: Readonly<Record<string, string>>): void {
    this.store.db
      .prepare(
        `INSERT INTO stage_state (stage, last_run_id, success_run_id, signature_json, outs_json, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (stage) DO UPDATE SET last_run_id = excluded.last_run_id, success_run_id = excluded.success_run_id,
           signature_json = excluded.signature_json, outs_json = excluded.outs_json, updated_at = excluded.updated_at`,
      )
      .run(stage, runId, runId, JSON.stringify(signature), JSON.stringify(outs), Date.now());
    // the bytes it read and wrote, for lineage between stage runs (a missing dep links to nothing)
    const insert = this.store.db.prepare('INSERT OR REPLACE INTO stage_file (run_id, role, path, digest) VALUES (?, ?, ?, ?)');
    for (const [path, digest] of Object.entries(signature.deps)) if (digest !== 'missing') insert.run(runId, 'dep', path, digest);
    for (const [path, digest] of Object.entries(outs)) if (digest !== 'missing') insert.run(runId, 'out', path, digest);
  }
}
