import * as vscode from 'vscode';
import type { StoredDriftResult } from '../../core/drift/monitor';
import { driftHeadline, verdictMargin } from '../../core/drift/monitor';
import { DriftReportRepository, type StoredDriftReport } from '../../core/store/driftReports';
import type { Store } from '../../core/store/store';
import { parseWebviewMessage } from '../../protocol/common';
import { driftViewStateSchema, driftWebviewMessageSchema, type DriftHostMessage, type DriftReportView } from '../../protocol/driftMessages';
import { panelHtml, webviewOptions, type PanelDeps } from '../base/webviewHtml';

export const DRIFT_VIEW_TYPE = 'mloop.drift';

/** What the panel asks of the extension beyond the store: the retrain hook (issue 7 owns the flow). */
export interface DriftPanelDeps extends PanelDeps {
  readonly retrain: (model: string | null, driftReportId: number) => Promise<void>;
  readonly retrainAvailable: () => Promise<boolean>;
}

/** The verdict, a per-feature table sorted by score, overlaid histograms and drift over time of one stored report. */
export class DriftPanel implements vscode.Disposable {
  private static current: DriftPanel | undefined;
  private ready = false;
  private shown: StoredDriftReport | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  static show(deps: DriftPanelDeps, reportId?: number): DriftPanel {
    const existing = DriftPanel.current;
    if (existing) {
      existing.reportId = reportId;
      existing.panel.reveal();
      if (existing.ready) void existing.load();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DRIFT_VIEW_TYPE, 'Drift Report', vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new DriftPanel(panel, deps, reportId);
  }

  static revive(panel: vscode.WebviewPanel, deps: DriftPanelDeps, state: unknown): DriftPanel {
    const parsed = driftViewStateSchema.safeParse(state);
    DriftPanel.current?.dispose();
    panel.webview.options = webviewOptions(deps.extensionUri);
    return new DriftPanel(panel, deps, parsed.success ? parsed.data.reportId : undefined);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: DriftPanelDeps,
    private reportId: number | undefined,
  ) {
    DriftPanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, 'drift', 'Drift Report');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      // a new scheduled check lands in the store: the panel showing "the latest" follows it
      deps.onDidChangeStore(() => void (this.ready && this.reportId === undefined && this.load())),
    );
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(driftWebviewMessageSchema, raw, (m) => this.deps.log.warn(`drift panel: ${m}`));
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.load();
        return;
      case 'retrain':
        if (this.shown) await this.deps.retrain(this.shown.modelName ?? (JSON.parse(this.shown.resultJson) as StoredDriftResult).model, this.shown.driftReportId);
        return;
      case 'openReport':
        this.reportId = message.reportId;
        await this.load();
        return;
      case 'error':
        this.deps.log.error(`drift panel page: ${message.message}`);
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async load(): Promise<void> {
    let message: DriftHostMessage;
    try {
      const store = await this.deps.store();
      const repo = store && new DriftReportRepository(store);
      const stored = repo && (this.reportId !== undefined ? repo.get(this.reportId) : repo.list({ limit: 1 })[0]);
      if (!store || !stored) {
        message = { type: 'problem', message: 'No drift report yet. Run "mloop: Check Drift…" or `mloop drift` in a terminal.' };
      } else {
        this.shown = stored;
        message = { type: 'load', report: reportView(store, stored, await this.deps.retrainAvailable()) };
        this.panel.title = `Drift: ${message.report.model ?? shortName(stored.currentUri)}`;
      }
    } catch (error) {
      this.deps.log.error(`drift panel: ${(error as Error).message}`);
      message = { type: 'problem', message: `Cannot read the drift report: ${(error as Error).message}` };
    }
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    if (DriftPanel.current === this) DriftPanel.current = undefined;
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** A stored row as the page needs it (the result JSON was written by checkAndStore). */
export function reportView(store: Store, stored: StoredDriftReport, retrainAvailable: boolean): DriftReportView {
  const result = JSON.parse(stored.resultJson) as StoredDriftResult;
  const history = stored.modelId === null ? [] : new DriftReportRepository(store).list({ modelId: stored.modelId, limit: 200 }).reverse();
  const ref = result.reference;
  return {
    reportId: stored.driftReportId,
    createdAt: stored.createdAt,
    // the monitoring entry's model, registered or not yet
    model: stored.modelName ?? result.model,
    headline: driftHeadline(result, stored.modelName ?? result.model ?? undefined),
    referenceLabel: ref.dataset ? `${ref.dataset} @ ${ref.digest?.slice(0, 12) ?? '?'}${ref.kind === 'dataset-profile' ? ' (stored profile)' : ''}` : ref.path,
    currentLabel: stored.currentUri,
    dataset_drift: result.report.dataset_drift,
    drift_share: result.report.drift_share,
    share_threshold: result.report.share_threshold,
    margin: verdictMargin(result.report),
    reference_rows: result.report.reference_rows,
    current_rows: result.report.current_rows,
    columns: result.report.columns.map((c) => ({
      column: c.column,
      type: c.type,
      method: c.method,
      statistic: finiteOrNull(c.statistic),
      p_value: finiteOrNull(c.p_value),
      threshold: c.threshold,
      drifted: c.drifted,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      score: Number.isFinite(c.score) ? c.score : Number.MAX_VALUE,
      ...(c.unseen_categories ? { unseen_categories: [...c.unseen_categories] } : {}),
      ...(c.histogram
        ? {
            histogram: {
              reference: [...c.histogram.reference],
              current: [...c.histogram.current],
              ...(c.histogram.edges ? { edges: [...c.histogram.edges] } : {}),
              ...(c.histogram.categories ? { categories: [...c.histogram.categories] } : {}),
            },
          }
        : {}),
    })),
    windows: result.windows.map((w) => ({ ...w, scores: { ...w.scores }, ...(w.performance ? { performance: { ...w.performance } } : {}) })),
    history: history.map((h) => ({ reportId: h.driftReportId, createdAt: h.createdAt, drift_share: h.driftedShare, dataset_drift: h.datasetDrift })),
    retrainAvailable,
  };
}

/** A tab title names the file, not its absolute path (the path is in the page and the tooltip). */
export const shortName = (uri: string): string => uri.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || uri;

const finiteOrNull = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : x);

export function openDriftPanel(deps: DriftPanelDeps, reportId?: number): DriftPanel {
  return DriftPanel.show(deps, reportId);
}
