import { metricSummary } from '../../core/metrics/summary';
import { environmentFacts } from '../../core/runs/environment';
import { EnvironmentRepository } from '../../core/store/environments';
import { RunRepository } from '../../core/store/runs';
import {
  compareViewStateSchema,
  compareWebviewMessageSchema,
  type CompareHostMessage,
  type CompareRun,
  type CompareWebviewMessage,
  type MetricStats,
} from '../../protocol/compareMessages';
import { definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import { runInfos } from '../base/panelData';
import type { PanelDeps } from '../base/webviewHtml';
import { openMetricsPanel } from './metricsPanel';

/** The runs side by side; the baseline (absent: none) is the run deltas are measured against. */
export interface CompareTarget {
  readonly runIds: readonly string[];
  readonly baselineRunId: string | undefined;
}

/** Params side by side and last/min/max of every metric with deltas against a baseline run. */
export class ComparePanel implements PanelContent<CompareHostMessage, CompareWebviewMessage, CompareTarget> {
  constructor(
    private readonly host: PanelHost<CompareHostMessage>,
    private readonly deps: PanelDeps,
    private target: CompareTarget,
  ) {
    // finished runs change rarely; a cheap summary query per store change keeps last values current
    host.register(deps.onDidChangeStore(() => void (host.ready && host.reload())));
  }

  readonly handlers: PageHandlers<CompareWebviewMessage> = {
    openMetrics: (message) => openMetricsPanel(this.deps, message.runIds),
  };

  retarget(target: CompareTarget): void {
    this.target = { runIds: [...new Set(target.runIds)], baselineRunId: target.baselineRunId };
  }

  async load(): Promise<CompareHostMessage> {
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const repo = new RunRepository(store);
    const infos = runInfos(store, this.target.runIds);
    const stats = new Map<string, Record<string, MetricStats>>(infos.map((r) => [r.runId, {}]));
    for (const s of metricSummary(
      store,
      infos.map((r) => r.runId),
    )) {
      stats.get(s.runId)![s.key] = { last: s.last, lastStep: s.lastStep, min: s.min, max: s.max, count: s.count };
    }
    const environments = new EnvironmentRepository(store);
    const runs: CompareRun[] = infos.map((r) => {
      const env = environments.forRun(r.runId);
      return { ...r, params: repo.params(r.runId), metrics: stats.get(r.runId)!, environment: env ? environmentFacts(env.document) : null };
    });
    this.host.title = `Compare ${runs.length} Run${runs.length === 1 ? '' : 's'}`;
    const baselineRunId = runs.some((r) => r.runId === this.target.baselineRunId) ? this.target.baselineRunId : undefined;
    return { type: 'load', runs, ...(baselineRunId ? { baselineRunId } : {}) };
  }
}

export const comparePanel = definePanel({
  kind: 'compare',
  pageMessages: compareWebviewMessageSchema,
  problem: 'Cannot read the mloop store: ',
  revive: (state, deps: PanelDeps): CompareTarget => {
    const parsed = compareViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('compare panel: saved state was unreadable; showing no runs');
    return parsed.success ? { runIds: parsed.data.runIds, baselineRunId: parsed.data.baselineRunId } : { runIds: [], baselineRunId: undefined };
  },
  create: (host: PanelHost<CompareHostMessage>, deps, target) => new ComparePanel(host, deps, target),
});

/** Opens (or re-targets) the Compare panel; the baseline defaults to the first run. */
export function openComparePanel(deps: PanelDeps, runIds: string[], baselineRunId?: string): ComparePanel {
  return showPanel(comparePanel, deps, { runIds, baselineRunId });
}
