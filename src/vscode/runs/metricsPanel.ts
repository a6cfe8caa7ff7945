import * as vscode from 'vscode';
import { DEFAULT_MAX_POINTS, metricHistory, metricKeys, type HistoryPosition } from '../../core/metrics/history';
import type { Store } from '../../core/store/store';
import { parseWebviewMessage } from '../../protocol/common';
import type { RunInfo } from '../../protocol/common';
import {
  metricsViewStateSchema,
  metricsWebviewMessageSchema,
  type MetricSeriesMessage,
  type MetricsHostMessage,
} from '../../protocol/metricsMessages';
import { openComparePanel } from './comparePanel';
import { runInfos } from '../base/panelData';
import { panelHtml, webviewOptions, type PanelDeps } from '../base/webviewHtml';

export const METRICS_VIEW_TYPE = 'mloop.metrics';

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
export class MetricsPanel implements vscode.Disposable {
  private static current: MetricsPanel | undefined;
  private ready = false;
  private runs: RunInfo[] = [];
  private keys: string[] = [];
  private readonly sent = new Map<string, SentSeries>();
  private readonly disposables: vscode.Disposable[] = [];
  private refreshing: Promise<void> | undefined;
  private isDisposed = false;

  /** The open Metrics panel, if any (tests read its state). */
  static get active(): MetricsPanel | undefined {
    return MetricsPanel.current;
  }

  get visible(): boolean {
    return !this.isDisposed && this.panel.visible;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /** What the page was sent: its runs and, per `runId/key`, how many points it holds. */
  snapshot(): { ready: boolean; runs: readonly RunInfo[]; points: Record<string, number> } {
    const points: Record<string, number> = {};
    for (const [id, s] of this.sent) points[id.replace('\u0000', '/')] = s.held;
    return { ready: this.ready, runs: this.runs, points };
  }

  static show(deps: PanelDeps, runIds: readonly string[]): MetricsPanel {
    const existing = MetricsPanel.current;
    // the panel of another store (the workspace's, or the session mirror of an MLflow server) makes way
    if (existing && existing.deps !== deps) existing.panel.dispose();
    if (existing && existing.deps === deps) {
      existing.setRuns(runIds);
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(METRICS_VIEW_TYPE, 'Metrics', vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new MetricsPanel(panel, deps, runIds);
  }

  /** Restores a panel VS Code kept across a reload; the run ids come from the page's saved state. */
  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, state: unknown): MetricsPanel {
    const parsed = metricsViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('metrics panel: saved state was unreadable; showing no runs');
    MetricsPanel.current?.dispose();
    panel.webview.options = webviewOptions(deps.extensionUri);
    return new MetricsPanel(panel, deps, parsed.success ? parsed.data.runIds : []);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: PanelDeps,
    private runIds: readonly string[],
  ) {
    MetricsPanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, 'metrics', 'Metrics');
    this.updateTitle();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      // a hidden page is discarded (retainContextWhenHidden: false); it says `ready` again when shown
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      deps.onDidChangeStore(() => void this.liveRefresh()),
    );
  }

  private setRuns(runIds: readonly string[]): void {
    this.runIds = [...new Set(runIds)];
    this.updateTitle();
    if (this.ready) void this.load();
  }

  private updateTitle(): void {
    this.panel.title = this.runIds.length === 1 ? 'Metrics' : `Metrics (${this.runIds.length} runs)`;
  }

  /** Validates every message from the page; an invalid one is logged and dropped. */
  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(metricsWebviewMessageSchema, raw, (m) => this.deps.log.warn(`metrics panel: ${m}`));
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.load();
        return;
      case 'openCompare':
        openComparePanel(this.deps, message.runIds);
        return;
      case 'error':
        this.deps.log.error(`metrics panel page: ${message.message}`);
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async withStore<T>(fn: (store: Store) => T): Promise<T | undefined> {
    try {
      const store = await this.deps.store();
      if (!store) {
        this.post({ type: 'problem', message: 'There is no mloop store in this workspace yet.' });
        return undefined;
      }
      return fn(store);
    } catch (error) {
      this.deps.log.error(`metrics panel: ${(error as Error).message}`);
      this.post({ type: 'problem', message: `Cannot read the mloop store: ${(error as Error).message}` });
      return undefined;
    }
  }

  private async load(): Promise<void> {
    const started = performance.now();
    const message = await this.withStore((store): MetricsHostMessage => {
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
      return { type: 'load', runs: this.runs, keys: this.keys, series, maxPoints: DEFAULT_MAX_POINTS };
    });
    if (!message || message.type !== 'load') return;
    this.post(message);
    const points = message.series.reduce((n, s) => n + s.points.length, 0);
    this.deps.log.debug(`metrics panel: ${message.series.length} series, ${points} points in ${Math.round(performance.now() - started)} ms`);
  }

  /** New points of runs that were running at the last look (and the final ones of runs that just ended). */
  private async liveRefresh(): Promise<void> {
    if (!this.ready || !this.runs.some((r) => r.status === 'RUNNING' || r.status === 'SCHEDULED')) return;
    if (this.refreshing) return; // the store fires again for anything this pass misses
    this.refreshing = (async () => {
      let reload = false;
      const message = await this.withStore((store): MetricsHostMessage | undefined => {
        const live = new Set(this.runs.filter((r) => r.status === 'RUNNING' || r.status === 'SCHEDULED').map((r) => r.runId));
        this.runs = runInfos(store, this.runIds);
        this.keys = metricKeys(store, this.runs.map((r) => r.runId));
        const series: MetricSeriesMessage[] = [];
        for (const runId of live) {
          for (const key of this.keys) {
            const id = seriesId(runId, key);
            const before = this.sent.get(id) ?? { last: undefined, held: 0 };
            const s = metricHistory(store, { runId, key, maxPoints: DEFAULT_MAX_POINTS, since: before.last });
            if (s.total === 0) continue;
            const held = before.held + s.points.length;
            if (held > 2 * DEFAULT_MAX_POINTS || s.downsampled) reload = true;
            this.sent.set(id, { last: s.points.at(-1), held });
            series.push(s);
          }
        }
        return { type: 'append', series, runs: this.runs, keys: this.keys };
      });
      if (reload) await this.load();
      else if (message) this.post(message);
    })().finally(() => (this.refreshing = undefined));
    await this.refreshing;
  }

  private post(message: MetricsHostMessage): void {
    if (!this.ready) return;
    void this.panel.webview.postMessage(message).then(undefined, (error: unknown) => this.deps.log.warn(`metrics panel: post failed: ${String(error)}`));
  }

  dispose(): void {
    this.isDisposed = true;
    if (MetricsPanel.current === this) MetricsPanel.current = undefined;
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

const seriesId = (runId: string, key: string): string => `${runId}\u0000${key}`;

/** Opens (or re-targets) the Metrics panel on these runs. */
export function openMetricsPanel(deps: PanelDeps, runIds: string[]): MetricsPanel {
  return MetricsPanel.show(deps, runIds);
}
