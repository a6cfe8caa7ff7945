import * as vscode from 'vscode';
import type { LiveRolloutRecord } from '../../core/backends/teamLiveRollout';
import type { TeamDeployment } from '../../core/backends/teamOperations';
import type { BackendService } from '../backend/backendService';
import type { WorkspaceStore } from '../base/workspaceStore';

/** How often the Deployments view re-reads the team's deployments from the server (as the Runs and Models views do). */
const POLL_MS = 15_000;
const LIVE_REREAD_MS = 2_000;

/**
 * With `mloop.backend = mlflow`: the deployments other workspaces published to the team's server, newest state of
 * each, for the Deployments view to show next to this workspace's own (which it reads from the store). Re-read every
 * 15 s, when the backend changes and on Refresh; a failure keeps the last rows and remembers the problem.
 */
export class TeamDeploymentRows implements vscode.Disposable {
  private rows: readonly TeamDeployment[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAt = 0;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.changed];
  /** Where the rows came from, and the last error reading them (cleared by the next success). */
  location: string | undefined;
  problem: string | undefined;
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly backends: BackendService,
    private readonly workspaceStore: WorkspaceStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(backends.onDidChange(() => void this.refresh()));
    this.schedule();
  }

  /**
   * Other workspaces' deployments as last read (empty with the embedded backend). `rereadAfterMs`: when the last read
   * is older, a new one starts (the view is being redrawn: Refresh, a store change); its rows arrive by onDidChange.
   */
  current(options: { rereadAfterMs?: number } = {}): readonly TeamDeployment[] {
    if (this.backends.kind !== 'mlflow') return [];
    if (options.rereadAfterMs !== undefined && Date.now() - this.readAt > options.rereadAfterMs) void this.refresh();
    return this.rows;
  }

  /** Reads the server now (one read at a time); resolves when the rows are up to date. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule());
    }, POLL_MS);
    this.timer.unref?.();
  }

  private async read(): Promise<void> {
    this.readAt = Date.now();
    if (this.backends.kind !== 'mlflow' || !vscode.workspace.isTrusted) {
      if (this.rows.length) {
        this.rows = [];
        this.changed.fire();
      }
      return;
    }
    try {
      const [{ TeamLedger }, { listTeamDeployments }, { workspaceWriter }] = await Promise.all([
        import('../../core/backends/teamLedger'),
        import('../../core/backends/teamOperations'),
        import('../../core/governance/teamTrail'),
      ]);
      const { rows, location } = await this.backends.use(async (backend) => {
        const ledger = new TeamLedger(backend);
        return { rows: await listTeamDeployments(ledger), location: ledger.location };
      });
      const store = await this.workspaceStore.get();
      // this workspace's own deployments are the store's rows already
      const own = store ? workspaceWriter(store) : undefined;
      const others = rows.filter((d) => d.writer !== own);
      const before = JSON.stringify(this.rows);
      this.rows = others;
      this.location = location;
      this.problem = undefined;
      if (JSON.stringify(others) !== before) this.changed.fire();
    } catch (error) {
      const message = (error as Error).message;
      if (this.problem !== message) this.log.warn(`Deployments view: the team's deployments on the server could not be read: ${message}`);
      this.problem = message;
    }
  }

  /**
   * A teammate's live snapshot of a target's rollout (teamLiveRollout.ts), read from the server at most every 2 s per
   * workspace and target (an open Rollout page asks every 5 s); undefined when there is none or the server does not answer.
   */
  live(writer: string, target: string): Promise<LiveRolloutRecord | undefined> {
    if (this.backends.kind !== 'mlflow' || !vscode.workspace.isTrusted) return Promise.resolve(undefined);
    const key = `${writer}\u0000${target}`;
    const held = this.liveRead.get(key);
    if (held && Date.now() - held.at < LIVE_REREAD_MS) return held.record;
    const record = (async () => {
      const [{ TeamLedger }, { readLiveRollout }] = await Promise.all([
        import('../../core/backends/teamLedger'),
        import('../../core/backends/teamLiveRollout'),
      ]);
      return this.backends.use((backend) => readLiveRollout(new TeamLedger(backend), writer, target));
    })().catch((error: unknown) => {
      this.log.warn(`Rollout panel: the live rollout of ${target} could not be read: ${(error as Error).message}`);
      return undefined;
    });
    this.liveRead.set(key, { at: Date.now(), record });
    return record;
  }

  private readonly liveRead = new Map<string, { at: number; record: Promise<LiveRolloutRecord | undefined> }>();

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
