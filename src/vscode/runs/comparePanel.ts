import * as vscode from 'vscode';
import { metricSummary } from '../../core/metrics/summary';
import { RunRepository } from '../../core/store/runs';
import { parseWebviewMessage } from '../../protocol/common';
import {
  compareViewStateSchema,
  compareWebviewMessageSchema,
  type CompareHostMessage,
  type CompareRun,
  type MetricStats,
} from '../../protocol/compareMessages';
import { openMetricsPanel } from './metricsPanel';
import { runInfos } from '../base/panelData';
import { panelHtml, webviewOptions, type PanelDeps } from '../base/webviewHtml';

export const COMPARE_VIEW_TYPE = 'mloop.compare';

/** Params side by side and last/min/max of every metric with deltas against a baseline run. */
export class ComparePanel implements vscode.Disposable {
  private static current: ComparePanel | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  static show(deps: PanelDeps, runIds: readonly string[], baselineRunId?: string): ComparePanel {
    const existing = ComparePanel.current;
    if (existing) {
      existing.runIds = [...new Set(runIds)];
      existing.baselineRunId = baselineRunId;
      existing.panel.reveal();
      if (existing.ready) void existing.load();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, 'Compare Runs', vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new ComparePanel(panel, deps, runIds, baselineRunId);
  }

  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, state: unknown): ComparePanel {
    const parsed = compareViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('compare panel: saved state was unreadable; showing no runs');
    ComparePanel.current?.dispose();
    panel.webview.options = webviewOptions(deps.extensionUri);
    return new ComparePanel(panel, deps, parsed.success ? parsed.data.runIds : [], parsed.success ? parsed.data.baselineRunId : undefined);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: PanelDeps,
    private runIds: readonly string[],
    private baselineRunId: string | undefined,
  ) {
    ComparePanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, 'compare', 'Compare Runs');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      // finished runs change rarely; a cheap summary query per store change keeps last values current
      deps.onDidChangeStore(() => void (this.ready && this.load())),
    );
  }

  /** Validates every message from the page; an invalid one is logged and dropped. */
  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(compareWebviewMessageSchema, raw, (m) => this.deps.log.warn(`compare panel: ${m}`));
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.load();
        return;
      case 'openMetrics':
        openMetricsPanel(this.deps, message.runIds);
        return;
      case 'error':
        this.deps.log.error(`compare panel page: ${message.message}`);
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async load(): Promise<void> {
    let message: CompareHostMessage;
    try {
      const store = await this.deps.store();
      if (!store) {
        message = { type: 'problem', message: 'There is no mloop store in this workspace yet.' };
      } else {
        const repo = new RunRepository(store);
        const infos = runInfos(store, this.runIds);
        const stats = new Map<string, Record<string, MetricStats>>(infos.map((r) => [r.runId, {}]));
        for (const s of metricSummary(store, infos.map((r) => r.runId))) {
          stats.get(s.runId)![s.key] = { last: s.last, lastStep: s.lastStep, min: s.min, max: s.max, count: s.count };
        }
        const runs: CompareRun[] = infos.map((r) => ({ ...r, params: repo.params(r.runId), metrics: stats.get(r.runId)! }));
        this.panel.title = `Compare ${runs.length} Run${runs.length === 1 ? '' : 's'}`;
        const baselineRunId = runs.some((r) => r.runId === this.baselineRunId) ? this.baselineRunId : undefined;
        message = { type: 'load', runs, ...(baselineRunId ? { baselineRunId } : {}) };
      }
    } catch (error) {
      this.deps.log.error(`compare panel: ${(error as Error).message}`);
      message = { type: 'problem', message: `Cannot read the mloop store: ${(error as Error).message}` };
    }
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    if (ComparePanel.current === this) ComparePanel.current = undefined;
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** Opens (or re-targets) the Compare panel; the baseline defaults to the first run. */
export function openComparePanel(deps: PanelDeps, runIds: string[], baselineRunId?: string): ComparePanel {
  return ComparePanel.show(deps, runIds, baselineRunId);
}
