import type { WindowPerformance } from '../../core/drift/check';
import type { StoredDriftResult } from '../../core/drift/monitor';
import { driftHeadline, verdictMargin } from '../../core/drift/monitor';
import { DriftReportRepository, type StoredDriftReport } from '../../core/store/driftReports';
import type { Store } from '../../core/store/store';
import {
  driftViewStateSchema,
  driftWebviewMessageSchema,
  type DriftHostMessage,
  type DriftReportView,
  type DriftWebviewMessage,
} from '../../protocol/driftMessages';
import { definePanel, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';

/** What the panel asks of the extension beyond the store: the retrain hook (issue 7 owns the flow). */
export interface DriftPanelDeps extends PanelDeps {
  readonly retrain: (model: string | null, driftReportId: number) => Promise<void>;
  readonly retrainAvailable: () => Promise<boolean>;
}

/** The report shown; reportId undefined: the latest one, followed as new checks land. */
export interface DriftTarget {
  readonly reportId: number | undefined;
}

/** The verdict, a per-feature table sorted by score, overlaid histograms and drift over time of one stored report. */
export class DriftPanel implements PanelContent<DriftHostMessage, DriftWebviewMessage, DriftTarget> {
  private shown: StoredDriftReport | undefined;

  constructor(
    private readonly host: PanelHost<DriftHostMessage>,
    private readonly deps: DriftPanelDeps,
    private reportId: number | undefined,
  ) {
    // a new scheduled check lands in the store: the panel showing "the latest" follows it
    host.register(deps.onDidChangeStore(() => void (host.ready && this.reportId === undefined && host.reload())));
  }

  readonly handlers: PageHandlers<DriftWebviewMessage> = {
    retrain: async () => {
      if (this.shown) await this.deps.retrain(this.shown.modelName ?? (JSON.parse(this.shown.resultJson) as StoredDriftResult).model, this.shown.driftReportId);
    },
    openReport: (message) => {
      this.reportId = message.reportId;
      return this.host.reload();
    },
  };

  retarget(target: DriftTarget): void {
    this.reportId = target.reportId;
  }

  async load(): Promise<DriftHostMessage> {
    const store = await this.deps.store();
    const repo = store && new DriftReportRepository(store);
    const stored = repo && (this.reportId !== undefined ? repo.get(this.reportId) : repo.list({ limit: 1 })[0]);
    if (!store || !stored) return { type: 'problem', message: 'No drift report yet. Run "mloop: Check Drift…" or `mloop drift` in a terminal.' };
    this.shown = stored;
    const report = reportView(store, stored, await this.deps.retrainAvailable());
    this.host.title = `Drift: ${report.model ?? shortName(stored.currentUri)}`;
    return { type: 'load', report };
  }
}

export const driftPanel = definePanel({
  kind: 'drift',
  pageMessages: driftWebviewMessageSchema,
  problem: 'Cannot read the drift report: ',
  // an unreadable saved state shows the latest report
  revive: (state): DriftTarget => ({ reportId: driftViewStateSchema.safeParse(state).data?.reportId }),
  create: (host: PanelHost<DriftHostMessage>, deps: DriftPanelDeps, target: DriftTarget) => new DriftPanel(host, deps, target.reportId),
});

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
    datasetDrift: result.report.dataset_drift,
    driftShare: result.report.drift_share,
    shareThreshold: result.report.share_threshold,
    margin: verdictMargin(result.report),
    referenceRows: result.report.reference_rows,
    currentRows: result.report.current_rows,
    columns: result.report.columns.map((c) => ({
      column: c.column,
      type: c.type,
      method: c.method,
      statistic: finiteOrNull(c.statistic),
      pValue: finiteOrNull(c.p_value),
      threshold: c.threshold,
      drifted: c.drifted,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      score: Number.isFinite(c.score) ? c.score : Number.MAX_VALUE,
      ...(c.unseen_categories ? { unseenCategories: [...c.unseen_categories] } : {}),
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
    windows: result.windows.map((w) => ({
      start: w.start,
      rows: w.rows,
      datasetDrift: w.dataset_drift,
      driftShare: w.drift_share,
      scores: { ...w.scores },
      ...(w.performance ? { performance: windowPerformance(w.performance) } : {}),
    })),
    history: history.map((h) => ({ reportId: h.driftReportId, createdAt: h.createdAt, driftShare: h.driftedShare, datasetDrift: h.datasetDrift })),
    retrainAvailable,
  };
}

const windowPerformance = (p: WindowPerformance): NonNullable<DriftReportView['windows'][number]['performance']> => ({
  rows: p.rows,
  ...(p.accuracy !== undefined ? { accuracy: p.accuracy } : {}),
  ...(p.f1_macro !== undefined ? { f1Macro: p.f1_macro } : {}),
  ...(p.rmse !== undefined ? { rmse: p.rmse } : {}),
});

/** A tab title names the file, not its absolute path (the path is in the page and the tooltip). */
export const shortName = (uri: string): string =>
  uri
    .replace(/[\\/]+$/, '')
    .split(/[\\/]/)
    .pop() || uri;

const finiteOrNull = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : x);

export function openDriftPanel(deps: DriftPanelDeps, reportId?: number): DriftPanel {
  return showPanel(driftPanel, deps, { reportId });
}
