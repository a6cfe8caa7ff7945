import type { CodeChanges } from '../runs/codeVersion';
import type { Store } from './store';

/** A run's uncommitted changes as stored (see captureCodeChanges). */
export interface StoredCodeChanges {
  readonly commit: string;
  readonly diff: Buffer | null;
  readonly diffBytes: number;
  readonly truncated: boolean;
  readonly untracked: string[];
}

/** The uncommitted code of runs that started in a dirty work tree. */
export class RunCodeRepository {
  constructor(private readonly store: Store) {}

  record(runId: string, changes: CodeChanges): void {
    this.store.db
      .prepare(
        `INSERT INTO run_code (run_id, git_commit, diff, diff_bytes, truncated, untracked_json) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET git_commit = excluded.git_commit, diff = excluded.diff, diff_bytes = excluded.diff_bytes,
           truncated = excluded.truncated, untracked_json = excluded.untracked_json`,
      )
      .run(runId, changes.commit, changes.diff ?? null, changes.diffBytes, changes.truncated ? 1 : 0, JSON.stringify(changes.untracked));
  }

  forRun(runId: string): StoredCodeChanges | undefined {
    const row = this.store.db.prepare('SELECT git_commit, diff, diff_bytes, truncated, untracked_json FROM run_code WHERE run_id = ?').get(runId) as
      | { git_commit: string; diff: Buffer | null; diff_bytes: number; truncated: 0 | 1; untracked_json: string }
      | undefined;
    return (
      row && {
        commit: row.git_commit,
        diff: row.diff,
        diffBytes: row.diff_bytes,
        truncated: row.truncated === 1,
        untracked: JSON.parse(row.untracked_json) as string[],
      }
    );
  }
}
