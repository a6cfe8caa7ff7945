import type { Config } from '../../core/config/schema';
import {
  rolloutViewStateSchema,
  rolloutWebviewMessageSchema,
  type RolloutHostMessage,
  type RolloutView,
  type RolloutWebviewMessage,
  type TeammateRolloutView,
} from '../../protocol/rolloutMessages';
import type { TeamDeployment } from '../../core/backends/teamOperations';
import type { LiveRolloutRecord } from '../../core/backends/teamLiveRollout';
import { definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

/** What the Rollout panel asks of the extension beyond the store: mloop.yaml, and the existing commands its buttons run. */
export interface RolloutPanelDeps extends PanelDeps {
  readonly project: () => { config: Config; projectRoot: string } | undefined;
  readonly promote: (target: string, kind: 'winner' | 'shadow') => Promise<void>;
  readonly rollback: (target: string) => Promise<void>;
  readonly stop: (target: string, kind: 'ab' | 'shadow') => Promise<void>;
  /** With the MLflow backend: teammates' deployments as the Deployments view last read them from the server. */
  readonly team?: {
    current(): { readonly rows: readonly TeamDeployment[]; readonly location: string | undefined; readonly problem: string | undefined };
    readonly onDidChange: (listener: () => void) => { dispose(): void };
    /** Their newest live snapshot of the target's rollout while it runs (teamLiveRollout.ts). */
    readonly live?: (writer: string, target: string) => Promise<LiveRolloutRecord | undefined>;
  };
}

export interface RolloutTarget {
  readonly target: string;
  /** A teammate's workspace (writer id): its rollout of the target, read-only, instead of this workspace's. */
  readonly writer?: string;
}

/** While visible, the serving log is read again this often (reads only: the store is never written for it). */
const LIVE_MS = 5000;

/**
 * One target's rollout (issue 18): the split in use, per-version traffic, latency and errors from the serving log,
 * the canary analysis per step, the A/B report and the bandit's allocation over time; Promote, Roll Back and Stop
 * run the commands of the Deployments view. Follows the store, and re-reads the log while shown.
 */
export class RolloutPanel implements PanelContent<RolloutHostMessage, RolloutWebviewMessage, RolloutTarget> {
  static active: RolloutPanel | undefined;
  lastView: RolloutView | undefined;
  /** What the panel last showed of a teammate's rollout (tests read it). */
  lastTeammate: TeammateRolloutView | undefined;

  constructor(
    private readonly host: PanelHost<RolloutHostMessage>,
    private readonly deps: RolloutPanelDeps,
    private target: string,
    private writer?: string,
  ) {
    RolloutPanel.active = this;
    host.register(deps.onDidChangeStore(() => void (host.ready && host.reload())));
    if (deps.team) host.register(deps.team.onDidChange(() => void (host.ready && this.writer && host.reload())));
    const timer = setInterval(() => void (host.ready && host.visible && host.reload()), LIVE_MS);
    host.register({ dispose: () => clearInterval(timer) });
    host.register({ dispose: () => RolloutPanel.active === this && (RolloutPanel.active = undefined) });
  }

  private get actions(): RolloutView['actions'] | undefined {
    return this.lastView?.target === this.target ? this.lastView.actions : undefined;
  }

  // a teammate's rollout is read-only: its buttons are not drawn, and a stray message does nothing
  readonly handlers: PageHandlers<RolloutWebviewMessage> = {
    promote: async () => {
      if (this.writer) return;
      const kind = this.actions?.promote;
      if (kind) await this.deps.promote(this.target, kind);
    },
    rollback: async () => (this.writer ? undefined : this.deps.rollback(this.target)),
    stop: async () => {
      if (this.writer) return;
      const kind = this.actions?.stop;
      if (kind) await this.deps.stop(this.target, kind);
    },
    refresh: () => this.host.reload(),
  };

  /** The target shown and what was last drawn for it (tests read it). */
  get state(): { target: string; own: RolloutView | undefined; teammate: TeammateRolloutView | undefined } {
    return {
      target: this.target,
      own: this.writer ? undefined : this.lastView?.target === this.target ? this.lastView : undefined,
      teammate: this.writer && this.lastTeammate?.target === this.target && this.lastTeammate.writer === this.writer ? this.lastTeammate : undefined,
    };
  }

  retarget(target: RolloutTarget): void {
    this.target = target.target;
    this.writer = target.writer;
  }

  async load(): Promise<RolloutHostMessage> {
    if (this.writer) return this.loadTeammate(this.writer);
    this.lastTeammate = undefined;
    this.host.title = `Rollout: ${this.target}`;
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const project = this.deps.project();
    if (!project) return { type: 'problem', message: 'There is no mloop.yaml in this workspace.' };
    const { rolloutView } = await import('../../core/gateway/rolloutView');
    const view: RolloutView = await rolloutView({ store, ...project }, this.target);
    this.lastView = view;
    return { type: 'load', view };
  }

  /**
   * A teammate's deployments to the target, from the server records the Deployments view reads, and their rollout: the
   * newer of the one published with their newest state and their live snapshot while it runs (re-read every 5 s while shown).
   */
  private async loadTeammate(writer: string): Promise<RolloutHostMessage> {
    const target = this.target;
    const live = await this.deps.team?.live?.(writer, target);
    if (this.writer !== writer || this.target !== target) return this.load(); // retargeted meanwhile
    const team = this.deps.team?.current();
    const rows = (team?.rows ?? []).filter((d) => d.writer === writer && d.target === this.target).sort((a, b) => b.updatedAt - a.updatedAt);
    const by = rows[0]?.publishedBy;
    this.host.title = `Rollout: ${this.target} (${by ?? 'teammate'}, read-only)`;
    if (rows.length === 0) {
      this.lastTeammate = undefined;
      return {
        type: 'problem',
        message: `No deployment of workspace ${writer.slice(0, 8)} to ${this.target} on ${team?.location ?? 'the team server'}${team?.problem ? ` (${team.problem})` : ''}.`,
      };
    }
    const view: TeammateRolloutView = {
      target: this.target,
      writer,
      publishedBy: by!,
      server: team?.location ?? null,
      deployments: rows.map((d) => ({
        modelName: d.modelName,
        version: d.version,
        strategy: d.strategy,
        trafficPercent: d.trafficPercent,
        status: d.status,
        createdAt: d.createdAt,
        updatedAt: d.updatedAt,
      })),
      problem: team?.problem ?? null,
      rollout: null,
      live: false,
    };
    // the newest rollout they published: with a state of this target, or live while it runs
    const published = rows.find((d) => d.rollout)?.rollout;
    if (live && (!published || live.rollout.at > published.at)) {
      view.rollout = live.rollout;
      view.live = true;
    } else if (published) view.rollout = published;
    this.lastTeammate = view;
    return { type: 'teammate', view };
  }
}

export const rolloutPanel = definePanel({
  kind: 'rollout',
  pageMessages: rolloutWebviewMessageSchema,
  problem: 'Cannot read the rollout: ',
  revive: (state): RolloutTarget | undefined => {
    const parsed = rolloutViewStateSchema.safeParse(state);
    return parsed.success ? { target: parsed.data.target, ...(parsed.data.writer ? { writer: parsed.data.writer } : {}) } : undefined;
  },
  create: (host: PanelHost<RolloutHostMessage>, deps: RolloutPanelDeps, target: RolloutTarget) => new RolloutPanel(host, deps, target.target, target.writer),
});

/** This workspace's rollout of a target, or (`writer`) a teammate's of the same-named target, read-only. */
export function openRolloutPanel(deps: RolloutPanelDeps, target: string, writer?: string): RolloutPanel {
  return showPanel(rolloutPanel, deps, { target, ...(writer ? { writer } : {}) });
}
