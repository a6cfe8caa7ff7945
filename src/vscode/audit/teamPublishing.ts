import * as vscode from 'vscode';
import type { LiveRolloutPublisher } from '../../core/backends/teamLiveRollout';
import type { TeamPublisher, TeamPublishState } from '../../core/backends/teamPublisher';
import { registryActor } from '../../core/registry/actor';
import type { ExtensionServices } from '../base/services';

/** A running rollout's live state goes to the team's server at most this often (only when it changed). */
const LIVE_ROLLOUT_MS = 5_000;

/**
 * With `mloop.backend = mlflow`, whatever this workspace writes to its store's audit trail, deployments and
 * monitoring reports (from VS Code, the CLI or a task) is published to the team's server as it happens: the store's
 * change event starts a publish; an unreachable server is retried with a doubling delay and nothing is lost (the
 * store is the queue). A failure is logged and said once in a warning; the next success says so in the log.
 */
export class TeamPublishing implements vscode.Disposable {
  private publisher: Promise<TeamPublisher | undefined> | undefined;
  /** While a rollout of this workspace runs: its live state for teammates every few seconds (teamLiveRollout.ts). */
  private live: LiveRolloutPublisher | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private warned = false;

  constructor(private readonly services: ExtensionServices) {
    this.disposables.push(
      services.workspaceStore.onDidChange(() => void this.notify()),
      services.backends.onDidChange(() => this.reset()),
    );
    // a rollout already running when the window opens is published live without waiting for a change of the store
    void this.current().catch(() => undefined);
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
    const [{ TeamLedger }, { TeamPublisher }, { teamIdentity }, { LiveRolloutPublisher }, { publishedRollout }] = await Promise.all([
      import('../../core/backends/teamLedger'),
      import('../../core/backends/teamPublisher'),
      import('../../core/governance/teamApprovals'),
      import('../../core/backends/teamLiveRollout'),
      import('../../core/gateway/rolloutView'),
    ]);
    const ledger = new TeamLedger(backend);
    const root = services.workspaceStore.folder?.uri.fsPath ?? process.cwd();
    this.live?.dispose();
    let liveWarned = false;
    this.live = new LiveRolloutPublisher({
      store,
      ledger,
      actor: async () => (await teamIdentity(ledger, registryActor(root))).actor,
      rollout: (target) => publishedRollout(store, root, target),
      intervalMs: LIVE_ROLLOUT_MS,
      // the rollout goes on whatever the server does; a failed snapshot is superseded by the next tick's
      onError: (target, error) => {
        if (liveWarned) return;
        liveWarned = true;
        services.log.warn(
          `team publishing: the live rollout of ${target} could not be published to ${ledger.location} (the next state is sent when it answers): ${error.message}`,
        );
      },
      onPublished: () => {
        if (liveWarned) services.log.info(`team publishing: live rollouts reach ${ledger.location} again`);
        liveWarned = false;
      },
    });
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
    this.live?.dispose();
    this.live = undefined;
    void this.publisher?.then((p) => p?.dispose()).catch(() => undefined);
    this.publisher = undefined;
  }

  dispose(): void {
    this.reset();
    for (const d of this.disposables) d.dispose();
  }
}
