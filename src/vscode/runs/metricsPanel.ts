import { DEFAULT_MAX_POINTS, metricHistory, metricKeys, type HistoryPosition } from '../../core/metrics/history';
import type { RunInfo } from '../../protocol/common';
import {
  metricsViewStateSchema,
  metricsWebviewMessageSchema,
  type MetricSeriesMessage,
  type MetricsHostMessage,
  type MetricsWebviewMessage,
} from '../../protocol/metricsMessages';
import { isLiveRunStatus } from '../../shared/runStatus';
import { activePanel, definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import { runInfos } from '../base/panelData';
import type { PanelDeps } from '../base/webviewHtml';
import { openComparePanel } from './comparePanel';

/** What the page has of one series, so a live refresh asks the store only for what came after. */
interface SentSeries {
  last: HistoryPosition | undefined;
  /** Points the page holds: past 2 × maxPoints we resend a freshly downsampled history instead. */
  held: number;
}

/**
 * One chart per metric key over a selection of runs. The page draws; this side reads the store,
 * downsamples, and while a run is RUNNING appends only the points logged since the last post.
 */
export class MetricsPanel implements PanelContent<MetricsHostMessage, MetricsWebviewMessage, readonly string[]> {
  private runs: RunInfo[] = [];
  private keys: string[] = [];
  private readonly sent = new Map<string, SentSeries>();
  private refreshing: Promise<void> | undefined;

  /** The open Metrics panel, if any (tests read its state). */
  static get active(): MetricsPanel | undefined {
    return activePanel(metricsPanel);
  }

  constructor(
    private readonly host: PanelHost<MetricsHostMessage>,
    private readonly deps: PanelDeps,
    private runIds: readonly string[],
  ) {
    host.title = metricsTitle(runIds);
    host.register(deps.onDidChangeStore(() => void this.liveRefresh()));
  }

  get visible(): boolean {
    return this.host.visible;
  }

  get disposed(): boolean {
    return this.host.disposed;
  }

  /** What the page was sent: its runs and, per `runId/key`, how many points it holds. */
  snapshot(): { ready: boolean; runs: readonly RunInfo[]; points: Record<string, number> } {
    const points: Record<string, number> = {};
    for (const [id, s] of this.sent) points[id.replace('\u0000', '/')] = s.held;
    return { ready: this.host.ready, runs: this.runs, points };
  }

  readonly handlers: PageHandlers<MetricsWebviewMessage> = {
    openCompare: (message) => openComparePanel(this.deps, message.runIds),
  };

  retarget(runIds: readonly string[]): void {
    this.runIds = [...new Set(runIds)];
    this.host.title = metricsTitle(this.runIds);
  }

  async load(): Promise<MetricsHostMessage> {
    const started = performance.now();
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    this.runs = runInfos(store, this.runIds);
    const ids = this.runs.map((r) => r.runId);
    this.keys = metricKeys(store, ids);
    this.sent.clear();
    const series: MetricSeriesMessage[] = [];
    for (const key of this.keys) {
      for (const runId of ids) {
        const s = metricHistory(store, { runId, key, maxPoints: DEFAULT_MAX_POINTS });
        if (s.total === 0) continue;
        series.push(s);
        this.sent.set(seriesId(runId, key), { last: s.points.at(-1), held: s.points.length });
      }
    }
    const points = series.reduce((n, s) => n + s.points.length, 0);
    this.deps.log.debug(`metrics panel: ${series.length} series, ${points} points in ${Math.round(performance.now() - started)} ms`);
    return { type: 'load', runs: this.runs, keys: this.keys, series, maxPoints: DEFAULT_MAX_POINTS };
  }

  /** New points of runs that were running at the last look (and the final ones of runs that just ended). */
  private async liveRefresh(): Promise<void> {
    if (!this.host.ready || !this.runs.some((r) => isLiveRunStatus(r.status))) return;
    if (this.refreshing) return; // the store fires again for anything this pass misses
    this.refreshing = (async () => {
      const message = await this.newPoints().catch((error: Error): MetricsHostMessage => {
        this.deps.log.error(`metrics panel: ${error.message}`);
        return { type: 'problem', message: `${STORE_PROBLEM}${error.message}` };
      });
      if (message) void this.host.post(message);
    })().finally(() => (this.refreshing = undefined));
    await this.refreshing;
  }

  /** The points logged since the last post, or the whole history again when the page would hold too many. */
  private async newPoints(): Promise<MetricsHostMessage | undefined> {
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const live = new Set(this.runs.filter((r) => isLiveRunStatus(r.status)).map((r) => r.runId));
    this.runs = runInfos(store, this.runIds);
    this.keys = metricKeys(
      store,
      this.runs.map((r) => r.runId),
    );
    const series: MetricSeriesMessage[] = [];
    for (const runId of live) {
      for (const key of this.keys) {
        const id = seriesId(runId, key);
        const before = this.sent.get(id) ?? { last: undefined, held: 0 };
        const s = metricHistory(store, { runId, key, maxPoints: DEFAULT_MAX_POINTS, since: before.last });
        if (s.total === 0) continue;
        const held = before.held + s.points.length;
        if (held > 2 * DEFAULT_MAX_POINTS || s.downsampled) return this.load();
        this.sent.set(id, { last: s.points.at(-1), held });
        series.push(s);
      }
    }
    return { type: 'append', series, runs: this.runs, keys: this.keys };
  }
}

const seriesId = (runId: string, key: string): string => `${runId}\u0000${key}`;

const metricsTitle = (runIds: readonly string[]): string => (runIds.length === 1 ? 'Metrics' : `Metrics (${runIds.length} runs)`);

const STORE_PROBLEM = 'Cannot read the mloop store: ';

export const metricsPanel = definePanel({
  kind: 'metrics',
  pageMessages: metricsWebviewMessageSchema,
  problem: STORE_PROBLEM,
  revive: (state, deps: PanelDeps): readonly string[] => {
    const parsed = metricsViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('metrics panel: saved state was unreadable; showing no runs');
    return parsed.success ? parsed.data.runIds : [];
  },
  create: (host: PanelHost<MetricsHostMessage>, deps, runIds) => new MetricsPanel(host, deps, runIds),
});

/** Opens (or re-targets) the Metrics panel on these runs. */
export function openMetricsPanel(deps: PanelDeps, runIds: string[]): MetricsPanel {
  return showPanel(metricsPanel, deps, runIds);
}
