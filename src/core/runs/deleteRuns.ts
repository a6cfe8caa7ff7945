import type { Backend } from '../backends/backend';
import { AuditRepository } from '../store/audit';
import { RunRepository } from '../store/runs';
import type { Store } from '../store/store';

export interface DeleteRunsInput {
  /** Where the runs live: the workspace store or an MLflow server. */
  readonly backend: Backend;
  /** The store the audit rows go to (the workspace's, also for a server's runs: MLflow keeps no audit). */
  readonly store: Store;
  readonly runIds: readonly string[];
  readonly actor: string;
  readonly reason?: string;
}

/**
 * Deletes runs through the backend the way MLflow does (marked deleted; metrics and artifacts stay) and records
 * one `run.delete` audit row per run. On the embedded store each run's change and its audit row commit together;
 * on a server the audit row follows the server's answer, so a refused delete leaves no row.
 */
export async function deleteRuns(input: DeleteRunsInput): Promise<number> {
  const audit = new AuditRepository(input.store);
  const embedded = input.backend.kind === 'embedded';
  let deleted = 0;
  for (const runId of input.runIds) {
    const record = (): void =>
      void audit.record({
        actor: input.actor,
        action: 'run.delete',
        entityType: 'run',
        entityId: runId,
        fromValue: 'active',
        toValue: 'deleted',
        reason: input.reason ?? null,
        details: { backend: input.backend.kind, location: input.backend.location },
      });
    if (embedded) {
      if (new RunRepository(input.store).lifecycleStage(runId) === undefined) throw new Error(`no run ${runId} in ${input.store.path}`);
      // better-sqlite3 is synchronous: the backend's UPDATE runs inside this transaction
      input.store.transaction(() => {
        void input.backend.deleteRun(runId);
        record();
      });
    } else {
      await input.backend.deleteRun(runId);
      record();
    }
    deleted++;
  }
  return deleted;
}
