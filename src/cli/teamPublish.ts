import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { BackendUnreachableError } from '../core/backends/backend';
import type { MlflowBackend } from '../core/backends/mlflowBackend';
import { TeamLedger } from '../core/backends/teamLedger';
import { TeamPublisher } from '../core/backends/teamPublisher';
import { type TeamContext, teamIdentity } from '../core/governance/teamApprovals';
import { registryActor } from '../core/registry/actor';
import type { PublishedRollout } from '../core/gateway/rolloutView';
import { openStore, type Store } from '../core/store/store';
import type { CliIo } from './cliIo';
import { asking } from './remoteBackend';

/** The team on the server for a command that writes the store: who acts there (its authenticated user, else git's). */
export async function teamContextFor(
  backend: MlflowBackend | undefined,
  store: Store,
  root: string,
  /** The command can wait for the server (a deploy's approval request is queued in the store): no error when it is down. */
  options: { offline?: boolean } = {},
): Promise<TeamContext | undefined> {
  if (!backend) return undefined;
  const ledger = new TeamLedger(backend);
  const who = await asking(() => teamIdentity(ledger, registryActor(root), options));
  return { ledger, store, actor: who.actor, identityProven: who.proven, ...(who.unreachable ? { unreachable: true } : {}) };
}

/** What publishing would send changed: the audit head, the deployments' states, the monitoring reports, the drift checks. */
function publishable(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const store = openStore({ path, readonly: true });
  try {
    const row = store.db
      .prepare(
        `SELECT (SELECT coalesce(max(audit_id), 0) FROM audit) || ':' ||
                (SELECT count(*) || '/' || coalesce(max(updated_at), 0) FROM deployment) || ':' ||
                (SELECT coalesce(max(monitoring_report_id), 0) FROM monitoring_report) || ':' ||
                (SELECT coalesce(max(drift_report_id), 0) FROM drift_report)`,
      )
      .pluck()
      .get() as string;
    return row;
  } catch {
    return undefined; // an older or damaged store: the command itself reports it
  } finally {
    store.close();
  }
}

/** A target's rollout as this workspace sees it now, published with its deployment's newest state. */
export const rolloutOf =
  (store: Store, root: string) =>
  async (target: string): Promise<PublishedRollout> =>
    (await import('../core/gateway/rolloutView')).publishedRollout(store, root, target);

/**
 * With the MLflow backend, whatever a command adds to the store's audit trail, deployments or monitoring reports is
 * published to the team's server when the command ends — also when it failed (a refused or rolled-back deployment
 * is audited too). An unreachable server loses nothing: the store is the queue, and the next command against the
 * server (or `mloop team sync`, or VS Code) publishes what the server lacks.
 */
export function publishAfterCommand(
  program: Command,
  io: CliIo,
  resolve: () => { backend: MlflowBackend | undefined; storePath: string; root: string } | undefined,
): { done(): Promise<void> } {
  let before: { path: string; fingerprint: string | undefined } | undefined;
  program.hook('preAction', () => {
    try {
      const where = resolve();
      if (where?.backend) before = { path: where.storePath, fingerprint: publishable(where.storePath) };
    } catch {
      before = undefined; // no project or a bad --backend: the command says so itself
    }
  });
  return {
    async done() {
      if (!before) return;
      const after = publishable(before.path);
      if (after === undefined || after === before.fingerprint) return;
      const where = resolve()!;
      const store = openStore({ path: before.path });
      try {
        const ledger = new TeamLedger(where.backend!);
        const publisher = new TeamPublisher({
          store,
          ledger,
          actor: async () => (await teamIdentity(ledger, registryActor(where.root))).actor,
          rollout: rolloutOf(store, where.root),
        });
        const state = await publisher.flush();
        publisher.dispose();
        if (state.lastError)
          io.stderr.write(
            `mloop: not published to ${ledger.location} yet (${state.lastError.replace(/^MLflow backend unreachable at [^:]+: /, '')}); nothing is lost: the next command against the server, "mloop team sync" or VS Code publishes it\n`,
          );
      } catch (error) {
        if (!(error instanceof BackendUnreachableError)) io.stderr.write(`mloop: publishing to the team server failed: ${(error as Error).message}\n`);
      } finally {
        store.close();
      }
    },
  };
}
