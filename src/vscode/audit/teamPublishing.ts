import * as vscode from 'vscode';
import type { TeamPublisher, TeamPublishState } from '../../core/backends/teamPublisher';
import { registryActor } from '../../core/registry/actor';
import type { ExtensionServices } from '../base/services';

/**
 * With `mloop.backend = mlflow`, whatever this workspace writes to its store's audit trail, deployments and
 * monitoring reports (from VS Code, the CLI or a task) is published to the team's server as it happens: the store's
 * change event starts a publish; an unreachable server is retried with a doubling delay and nothing is lost (the
 * store is the queue). A failure is logged and said once in a warning; the next success says so in the log.
 */
export class TeamPublishing implements vscode.Disposable {
  private publisher: Promise<TeamPublisher | undefined> | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private warned = false;

  constructor(private readonly services: ExtensionServices) {
    this.disposables.push(
      services.workspaceStore.onDidChange(() => void this.notify()),
      services.backends.onDidChange(() => this.reset()),
    );
  }

  /** The state of the last attempt (undefined: the embedded backend, or nothing published yet). */
  async state(): Promise<TeamPublishState | undefined> {
    return (await this.publisher)?.state;
  }

  /** Publishes now and waits (tests; Refresh). */
  async flush(): Promise<TeamPublishState | undefined> {
    const publisher = await this.current();
    return publisher?.flush();
  }

  private async notify(): Promise<void> {
    try {
      (await this.current())?.notify();
    } catch (error) {
      this.services.log.warn(`team publishing: ${(error as Error).message}`);
    }
  }

  private current(): Promise<TeamPublisher | undefined> {
    if (this.services.backends.kind !== 'mlflow' || !vscode.workspace.isTrusted) return Promise.resolve(undefined);
    this.publisher ??= this.create().catch((error: unknown) => {
      this.publisher = undefined;
      throw error;
    });
    return this.publisher;
  }

  private async create(): Promise<TeamPublisher | undefined> {
    const { services } = this;
    const backend = await services.backends.remote();
    const store = await services.workspaceStore.get();
    if (!backend || !store) {
      this.publisher = undefined; // no store yet: the next change tries again
      return undefined;
    }
    const [{ TeamLedger }, { TeamPublisher }, { teamIdentity }] = await Promise.all([
      import('../../core/backends/teamLedger'),
      import('../../core/backends/teamPublisher'),
      import('../../core/governance/teamApprovals'),
    ]);
    const ledger = new TeamLedger(backend);
    const root = services.workspaceStore.folder?.uri.fsPath ?? process.cwd();
    return new TeamPublisher({
      store,
      ledger,
      actor: async () => (await teamIdentity(ledger, registryActor(root))).actor,
      // the rollout of a target (split, traffic, latency, canary analysis) goes with its newest deployment state
      rollout: async (target) => (await import('../../core/gateway/rolloutView')).publishedRollout(store, root, target),
      onState: (s) => {
        if (s.lastError && s.failures === 1) {
          services.log.warn(`team publishing to ${ledger.location} failed (retrying; nothing is lost): ${s.lastError}`);
          if (!this.warned) {
            this.warned = true;
            void vscode.window.showWarningMessage(
              `mloop: could not publish this workspace's audit trail, deployments and reports to ${ledger.location}: ${s.lastError}. mloop retries in the background; nothing is lost.`,
            );
          }
        } else if (
          !s.pending &&
          !s.lastError &&
          s.last &&
          s.last.auditEntries + s.last.deployments + s.last.reports + (s.last.driftReports ?? 0) + (s.last.requests ?? 0) > 0
        ) {
          if (s.last.requests)
            void vscode.window.showInformationMessage(
              `mloop: ${s.last.requests} approval request${s.last.requests === 1 ? '' : 's'} made while ${ledger.location} was unreachable ${s.last.requests === 1 ? 'is' : 'are'} now on the server, for a reviewer to decide.`,
            );
          this.warned = false;
          services.log.info(
            `team publishing: ${s.last.auditEntries} audit entr${s.last.auditEntries === 1 ? 'y' : 'ies'}, ${s.last.deployments} deployment state(s), ${s.last.reports} report(s), ${s.last.driftReports ?? 0} drift check(s) published to ${ledger.location}`,
          );
        }
      },
    });
  }

  private reset(): void {
    void this.publisher?.then((p) => p?.dispose()).catch(() => undefined);
    this.publisher = undefined;
  }

  dispose(): void {
    this.reset();
    for (const d of this.disposables) d.dispose();
  }
}
