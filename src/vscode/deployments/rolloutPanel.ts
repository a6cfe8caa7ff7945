import type { Config } from '../../core/config/schema';
import {
  rolloutViewStateSchema,
  rolloutWebviewMessageSchema,
  type RolloutHostMessage,
  type RolloutView,
  type RolloutWebviewMessage,
} from '../../protocol/rolloutMessages';
import { definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

/** What the Rollout panel asks of the extension beyond the store: mloop.yaml, and the existing commands its buttons run. */
export interface RolloutPanelDeps extends PanelDeps {
  readonly project: () => { config: Config; projectRoot: string } | undefined;
  readonly promote: (target: string, kind: 'winner' | 'shadow') => Promise<void>;
  readonly rollback: (target: string) => Promise<void>;
  readonly stop: (target: string, kind: 'ab' | 'shadow') => Promise<void>;
}

export interface RolloutTarget {
  readonly target: string;
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

  constructor(
    private readonly host: PanelHost<RolloutHostMessage>,
    private readonly deps: RolloutPanelDeps,
    private target: string,
  ) {
    RolloutPanel.active = this;
    host.register(deps.onDidChangeStore(() => void (host.ready && host.reload())));
    const timer = setInterval(() => void (host.ready && host.visible && host.reload()), LIVE_MS);
    host.register({ dispose: () => clearInterval(timer) });
    host.register({ dispose: () => RolloutPanel.active === this && (RolloutPanel.active = undefined) });
  }

  private get actions(): RolloutView['actions'] | undefined {
    return this.lastView?.target === this.target ? this.lastView.actions : undefined;
  }

  readonly handlers: PageHandlers<RolloutWebviewMessage> = {
    promote: async () => {
      const kind = this.actions?.promote;
      if (kind) await this.deps.promote(this.target, kind);
    },
    rollback: () => this.deps.rollback(this.target),
    stop: async () => {
      const kind = this.actions?.stop;
      if (kind) await this.deps.stop(this.target, kind);
    },
    refresh: () => this.host.reload(),
  };

  retarget(target: RolloutTarget): void {
    this.target = target.target;
  }

  async load(): Promise<RolloutHostMessage> {
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
}

export const rolloutPanel = definePanel({
  kind: 'rollout',
  pageMessages: rolloutWebviewMessageSchema,
  problem: 'Cannot read the rollout: ',
  revive: (state): RolloutTarget | undefined => {
    const parsed = rolloutViewStateSchema.safeParse(state);
    return parsed.success ? { target: parsed.data.target } : undefined;
  },
  create: (host: PanelHost<RolloutHostMessage>, deps: RolloutPanelDeps, target: RolloutTarget) => new RolloutPanel(host, deps, target.target),
});

export function openRolloutPanel(deps: RolloutPanelDeps, target: string): RolloutPanel {
  return showPanel(rolloutPanel, deps, { target });
}
