import { DriftReportRepository } from '../../core/store/driftReports';
import {
  monitoringViewStateSchema,
  monitoringWebviewMessageSchema,
  type MonitoringHostMessage,
  type MonitoringView,
  type MonitoringWebviewMessage,
  type ReportRef,
  type TeamReportsView,
} from '../../protocol/monitoringMessages';
import { definePanel, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';
import { driftReportModel, monitoringView, type FailedChecks } from './monitoringView';

/** What the panel asks of the extension beyond the store. */
export interface MonitoringPanelDeps extends PanelDeps {
  readonly checkNow: (model: string) => Promise<void>;
  /** The retrain flow; the drift report that prompted it, when the alert came from one. */
  readonly retrain: (model: string, driftReportId: number | undefined) => Promise<void>;
  readonly rollback: (target: string, reason: string) => Promise<void>;
  /** A stored monitoring or service report opened as JSON beside the panel. */
  readonly openStoredReport: (report: Exclude<ReportRef, { kind: 'drift' }>) => Promise<void>;
  readonly retrainAvailable: () => Promise<boolean>;
  /** The checks that failed in the model's latest check by this editor (they stored no report to show). */
  readonly checkErrors?: (model: string) => FailedChecks | undefined;
  /** Teammates' reports of the model on the team's server (undefined: the embedded backend). */
  readonly teamReports?: (model: string) => Promise<TeamReportsView | undefined>;
}

/** A model's panel; a drift report opened on its own (two files compared outside monitoring:) has no model. */
export interface MonitoringTarget {
  readonly model: string | null;
  readonly window?: string | null;
  readonly driftReportId?: number;
}

/**
 * One model's monitoring over time (issue 17), the one panel that absorbed the Drift panel: realised and estimated
 * performance with their bands, drift share, per-group metrics, the serving service's latency and errors, alert
 * markers; a clicked window's details (its metrics, groups, the per-column drift table and histograms); Retrain,
 * Roll Back and Open Report from the alerts. Built from the stored reports — the editor's and headless
 * `mloop monitor` runs' alike — and it follows the store as new checks land.
 */
export class MonitoringPanel implements PanelContent<MonitoringHostMessage, MonitoringWebviewMessage, MonitoringTarget> {
  static active: MonitoringPanel | undefined;
  lastView: MonitoringView | undefined;

  constructor(
    private readonly host: PanelHost<MonitoringHostMessage>,
    private readonly deps: MonitoringPanelDeps,
    private target: MonitoringTarget,
  ) {
    MonitoringPanel.active = this;
    host.register(deps.onDidChangeStore(() => void (host.ready && host.reload())));
    host.register({ dispose: () => MonitoringPanel.active === this && (MonitoringPanel.active = undefined) });
  }

  readonly handlers: PageHandlers<MonitoringWebviewMessage> = {
    checkNow: () => (this.target.model ? this.deps.checkNow(this.target.model) : undefined),
    retrain: () => (this.target.model ? this.deps.retrain(this.target.model, this.lastView?.driftDetails?.reportId) : undefined),
    rollback: () => {
      const target = this.lastView?.rollbackTarget;
      const alert = this.lastView?.alerts[0];
      return target ? this.deps.rollback(target, `from the Monitoring panel of ${this.target.model}${alert ? `: ${alert.message}` : ''}`) : undefined;
    },
    selectWindow: (message) => {
      this.target = { ...this.target, window: message.start };
      return this.host.reload();
    },
    openReport: (message) => {
      const report = message.report;
      if (report.kind !== 'drift') return this.deps.openStoredReport(report);
      this.target = { ...this.target, driftReportId: report.id };
      return this.host.reload();
    },
  };

  retarget(target: MonitoringTarget): void {
    this.target = target;
  }

  /** The target shown now (tests read it). */
  get shown(): MonitoringTarget {
    return this.target;
  }

  async load(): Promise<MonitoringHostMessage> {
    const store = await this.deps.store();
    let model = this.target.model;
    // a drift report opened by id belongs to its model's panel
    if (store && this.target.driftReportId !== undefined) {
      const stored = new DriftReportRepository(store).get(this.target.driftReportId);
      if (stored) model = driftReportModel(stored) ?? model;
      this.target = { ...this.target, model };
    }
    this.host.title = `Monitoring: ${model ?? 'drift report'}`;
    const view =
      store &&
      monitoringView(
        store,
        model,
        {
          ...(this.target.window !== undefined ? { window: this.target.window } : {}),
          ...(this.target.driftReportId !== undefined ? { driftReportId: this.target.driftReportId } : {}),
        },
        {
          retrainAvailable: await this.deps.retrainAvailable(),
          ...(model && this.deps.checkErrors ? { checkErrors: this.deps.checkErrors(model) } : {}),
        },
      );
    const team = model && this.deps.teamReports ? await this.deps.teamReports(model) : undefined;
    if (!view && team?.reports.length)
      return {
        type: 'problem',
        message: `No monitoring report of ${model} in this workspace yet; teammates published ${team.reports.length} to ${team.server}, the newest: ${team.reports[0]!.kind} by ${team.reports[0]!.publishedBy}: ${team.reports[0]!.summary}. Run "mloop: Check Drift…" or "mloop: Check Model Performance…" to see the charts here.`,
      };
    if (!view)
      return {
        type: 'problem',
        message: `No monitoring report${model ? ` of ${model}` : ''} yet. Run "mloop: Check Drift…" or "mloop: Check Model Performance…", or \`mloop monitor --once\` in a terminal.`,
      };
    const shown = team ? { ...view, team } : view;
    this.lastView = shown;
    return { type: 'load', view: shown };
  }
}

export const monitoringPanel = definePanel({
  kind: 'monitoring',
  pageMessages: monitoringWebviewMessageSchema,
  problem: 'Cannot read the monitoring reports: ',
  revive: (state): MonitoringTarget | undefined => {
    const parsed = monitoringViewStateSchema.safeParse(state);
    if (!parsed.success) return undefined;
    const { model, window, driftReportId } = parsed.data;
    return { model, ...(window !== undefined ? { window } : {}), ...(driftReportId !== undefined ? { driftReportId } : {}) };
  },
  create: (host: PanelHost<MonitoringHostMessage>, deps: MonitoringPanelDeps, target: MonitoringTarget) => new MonitoringPanel(host, deps, target),
});

/** Opens (or retargets) the one Monitoring panel: a model's, or the model of a stored drift report with that report's columns shown. */
export function openMonitoringPanel(deps: MonitoringPanelDeps, target: MonitoringTarget): MonitoringPanel {
  return showPanel(monitoringPanel, deps, target);
}
