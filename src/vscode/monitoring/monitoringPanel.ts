import type { EstimatedPerformanceReport } from '../../core/monitoring/estimatedPerformance';
import type { FairnessReport } from '../../core/monitoring/fairness';
import type { PerformanceReport } from '../../core/monitoring/performance';
import { DriftReportRepository } from '../../core/store/driftReports';
import { MonitoringReportRepository, type MonitoringReportKind, type StoredMonitoringReport } from '../../core/store/monitoringReports';
import type { Store } from '../../core/store/store';
import {
  monitoringViewStateSchema,
  monitoringWebviewMessageSchema,
  type MonitoringHostMessage,
  type MonitoringView,
  type MonitoringWebviewMessage,
  type MonitoringWindowView,
} from '../../protocol/monitoringMessages';
import { definePanel, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

/** What the panel asks of the extension beyond the store. */
export interface MonitoringPanelDeps extends PanelDeps {
  readonly checkNow: (model: string) => Promise<void>;
  readonly retrain: (model: string) => Promise<void>;
  readonly openDriftReport: (reportId: number) => void;
  readonly retrainAvailable: () => Promise<boolean>;
}

export interface MonitoringTarget {
  readonly model: string;
}

/**
 * One model's monitoring over time (issue 17): realised performance from late labels and CBPE estimates with their
 * bands per window, drift share per check, fairness per group, and the alerts — from the newest stored reports,
 * written by the editor or by a headless `mloop monitor`. Follows the store as new checks land.
 */
export class MonitoringPanel implements PanelContent<MonitoringHostMessage, MonitoringWebviewMessage, MonitoringTarget> {
  static active: MonitoringPanel | undefined;
  lastView: MonitoringView | undefined;

  constructor(
    private readonly host: PanelHost<MonitoringHostMessage>,
    private readonly deps: MonitoringPanelDeps,
    private model: string,
  ) {
    MonitoringPanel.active = this;
    host.register(deps.onDidChangeStore(() => void (host.ready && host.reload())));
    host.register({ dispose: () => MonitoringPanel.active === this && (MonitoringPanel.active = undefined) });
  }

  readonly handlers: PageHandlers<MonitoringWebviewMessage> = {
    checkNow: () => this.deps.checkNow(this.model),
    retrain: () => this.deps.retrain(this.model),
    openDriftReport: (message) => this.deps.openDriftReport(message.reportId),
  };

  retarget(target: MonitoringTarget): void {
    this.model = target.model;
  }

  async load(): Promise<MonitoringHostMessage> {
    const store = await this.deps.store();
    this.host.title = `Monitoring: ${this.model}`;
    const view = store && monitoringView(store, this.model, await this.deps.retrainAvailable());
    if (!view)
      return {
        type: 'problem',
        message: `No monitoring report of ${this.model} yet. Run "mloop: Check Model Performance…" or "mloop: Check Drift…", or \`mloop monitor --once\` in a terminal.`,
      };
    this.lastView = view;
    return { type: 'load', view };
  }
}

export const monitoringPanel = definePanel({
  kind: 'monitoring',
  pageMessages: monitoringWebviewMessageSchema,
  problem: 'Cannot read the monitoring reports: ',
  revive: (state): MonitoringTarget | undefined => {
    const parsed = monitoringViewStateSchema.safeParse(state);
    return parsed.success ? { model: parsed.data.model } : undefined;
  },
  create: (host: PanelHost<MonitoringHostMessage>, deps: MonitoringPanelDeps, target: MonitoringTarget) => new MonitoringPanel(host, deps, target.model),
});

export function openMonitoringPanel(deps: MonitoringPanelDeps, model: string): MonitoringPanel {
  return showPanel(monitoringPanel, deps, { model });
}

const newest = (reports: readonly StoredMonitoringReport[], kind: MonitoringReportKind): StoredMonitoringReport | undefined =>
  reports.find((r) => r.kind === kind);

/** The view of one model from its newest report of each kind; undefined when nothing was ever checked. */
export function monitoringView(store: Store, model: string, retrainAvailable: boolean): MonitoringView | undefined {
  const reports = new MonitoringReportRepository(store).list({ modelName: model, limit: 50 });
  const drift = new DriftReportRepository(store)
    .list({ limit: 500 })
    .filter((r) => r.modelName === model)
    .reverse()
    .map((r) => ({ reportId: r.driftReportId, createdAt: r.createdAt, driftShare: r.driftedShare, datasetDrift: r.datasetDrift }));
  const performanceRow = newest(reports, 'performance');
  const estimatedRow = newest(reports, 'estimated_performance');
  const fairnessRow = newest(reports, 'fairness');
  if (!performanceRow && !estimatedRow && !fairnessRow && drift.length === 0) return undefined;
  const performance = performanceRow && (JSON.parse(performanceRow.resultJson) as PerformanceReport);
  const estimated = estimatedRow && (JSON.parse(estimatedRow.resultJson) as EstimatedPerformanceReport);
  const fairness = fairnessRow && (JSON.parse(fairnessRow.resultJson) as FairnessReport);
  const metric = performance?.task === 'regression' ? 'rmse' : 'accuracy';
  const windows = new Map<string, MonitoringWindowView & { alerts: string[] }>();
  const at = (start: string) => {
    let w = windows.get(start);
    if (!w) windows.set(start, (w = { start, alerts: [] }));
    return w;
  };
  for (const w of performance?.windows ?? []) {
    const e = w.metrics[metric as 'accuracy'];
    if (w.status === 'ok' && e && Number.isFinite(e.value)) at(w.start).realised = { value: e.value, lower: e.lower, upper: e.upper, n: w.n };
    else at(w.start);
  }
  if (metric === 'accuracy')
    for (const w of estimated?.windows ?? []) {
      const e = w.metrics.accuracy;
      if (w.status === 'ok' && e) at(w.start).estimated = { value: e.value, lower: e.lower, upper: e.upper, n: w.n };
      else at(w.start);
    }
  const alerts = [...(performance?.alerts ?? []), ...(estimated?.alerts ?? []), ...(fairness?.alerts ?? [])];
  for (const a of alerts) if (a.window) at(a.window).alerts.push(a.message);
  const latestDrift = drift[drift.length - 1];
  return {
    model,
    metric,
    checkedAt: Math.max(performanceRow?.createdAt ?? 0, estimatedRow?.createdAt ?? 0, fairnessRow?.createdAt ?? 0, latestDrift?.createdAt ?? 0) || null,
    windows: [...windows.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)),
    drift,
    fairness: (fairness?.columns ?? []).map((c) => ({
      column: c.column,
      parityDifference: c.demographic_parity_difference,
      parityRatio: c.demographic_parity_ratio,
      equalizedOddsDifference: c.equalized_odds_difference,
      groups: c.groups.map((g) => ({
        group: g.group,
        n: g.n,
        selectionRate: finite(g.selection_rate.value),
        accuracy: finite(g.accuracy.value),
        tpr: finite(g.true_positive_rate.value),
        fpr: finite(g.false_positive_rate.value),
      })),
    })),
    alerts: [
      ...alerts.map((a) => ({ check: a.metric.startsWith('estimated') ? 'estimated performance' : a.check, message: a.message })),
      ...(latestDrift?.datasetDrift ? [{ check: 'drift', message: `dataset drift in the latest check (share ${latestDrift.driftShare.toFixed(2)})` }] : []),
    ],
    calibration: (estimated?.calibration ?? []).map((c) => ({
      class: c.class,
      applied: c.applied,
      eceBefore: finite(c.ece_before),
      eceAfter: finite(c.ece_after),
    })),
    summaries: [performanceRow, estimatedRow, fairnessRow].flatMap((r) => (r ? [{ kind: r.kind, summary: r.summary, createdAt: r.createdAt }] : [])),
    retrainAvailable,
  };
}

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
