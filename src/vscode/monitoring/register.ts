import * as vscode from 'vscode';
import type { ExtensionServices } from '../base/services';
import { registerDriftCommands } from './commands';
import { registerPerformanceCommand } from './performanceCommand';
import { DriftMonitor, retrainAvailable } from './driftMonitor';
import { openMonitoringPanel, type MonitoringPanelDeps } from './monitoringPanel';
import { executeCommand, registerCommand } from '../base/commands';
import type { ModelInput } from './commands';
import { afterActivation } from '../base/afterActivation';
import { copyServerModelForEditor } from '../backend/serverVersions';
import type { TeamReportsView } from '../../protocol/monitoringMessages';

/** Scheduled checks (badge, notifications), Check Drift…, Check Model Performance…, and the one Monitoring panel. */
export function registerMonitoring(services: ExtensionServices): {
  driftMonitor: DriftMonitor;
  monitoringPanelDeps: MonitoringPanelDeps;
} {
  const { context, log, workspaceStore, projectConfig, commands, panelDeps } = services;
  const monitoringPanelDeps: MonitoringPanelDeps = {
    ...panelDeps,
    checkNow: async (model) => void (await driftMonitor.checkAll(model, { interactive: true })), // called only after construction
    retrain: async (model, driftReportId) =>
      driftReportId === undefined ? void (await executeCommand('mloop.models.retrain', { modelName: model })) : driftMonitor.retrain(model, driftReportId),
    rollback: async (target, reason) => void (await executeCommand('mloop.deployments.rollback', { target, reason })),
    openStoredReport: async (report) => {
      const store = await workspaceStore.get();
      if (!store) return;
      const { MonitoringReportRepository } = await import('../../core/store/monitoringReports');
      const json =
        report.kind === 'monitoring'
          ? new MonitoringReportRepository(store).get(report.id)?.resultJson
          : store.db.prepare('SELECT result_json FROM service_check WHERE service_check_id = ?').pluck().get(report.id);
      if (typeof json !== 'string') return void vscode.window.showWarningMessage(`mloop: report #${report.id} is no longer stored.`);
      const document = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(JSON.parse(json), null, 2) });
      await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    },
    retrainAvailable,
    checkErrors: (model) => driftMonitor.checkErrors(model), // called only after construction
    teamReports: (model) => teamReportsOf(services, model),
  };
  // a model on the team server: its champion and the lineage of its server run come into the store first
  const beforeCheck = async (model: string): Promise<true> => {
    await copyServerModelForEditor(services.backends, commands, model, log);
    return true;
  };
  const driftMonitor = new DriftMonitor({
    workspaceStore,
    projectConfig,
    log,
    openReport: (model, driftReportId) => void openMonitoringPanel(monitoringPanelDeps, { model, ...(driftReportId !== undefined ? { driftReportId } : {}) }),
  });
  context.subscriptions.push(
    registerCommand('mloop.monitoring.openPanel', async (input?: ModelInput) => {
      const named = typeof input === 'string' ? input : input && 'model' in input ? input.model : input && 'modelName' in input ? input.modelName : undefined;
      const model = named ?? (await pickMonitoredModel(projectConfig.current?.monitoring ?? {}));
      if (!model) return;
      if (services.backends.kind === 'mlflow' && (await commands.guard('open monitoring', () => beforeCheck(model))) === undefined) return;
      teamReportsRead.delete(model); // opened on purpose: teammates' reports read now, not from the last 10 s
      openMonitoringPanel(monitoringPanelDeps, { model });
    }),
    afterActivation(() => driftMonitor.restoreBadge()),
    driftMonitor,
    ...registerDriftCommands({ commands, monitor: driftMonitor, panelDeps: monitoringPanelDeps, beforeCheck }),
    registerPerformanceCommand({ commands, monitor: driftMonitor, beforeCheck }),
  );
  return { driftMonitor, monitoringPanelDeps };
}

async function pickMonitoredModel(monitoring: Record<string, unknown>): Promise<string | undefined> {
  const models = Object.keys(monitoring);
  const picked = await vscode.window.showQuickPick(
    models.map((m) => ({ label: m })),
    { title: 'mloop: Open Monitoring', placeHolder: models.length ? 'Which model?' : 'No model under monitoring: in mloop.yaml', ignoreFocusOut: true },
  );
  return picked?.label;
}

/**
 * With the MLflow backend: the reports of a model that other workspaces published to the team's server (this
 * workspace's own are its stored reports, already drawn), newest first. A server that does not answer is said, not hidden.
 */
async function teamReportsOf(services: ExtensionServices, model: string): Promise<TeamReportsView | undefined> {
  if (services.backends.kind !== 'mlflow') return undefined;
  // the panel reloads on every store change (a run logging metrics): the server is read at most every 10 s per model
  const cached = teamReportsRead.get(model);
  if (cached && Date.now() - cached.at < TEAM_REPORTS_REREAD_MS) return cached.reports;
  const reports = readTeamReports(services, model);
  teamReportsRead.set(model, { at: Date.now(), reports });
  return reports;
}

const TEAM_REPORTS_REREAD_MS = 10_000;
const teamReportsRead = new Map<string, { at: number; reports: Promise<TeamReportsView | undefined> }>();

async function readTeamReports(services: ExtensionServices, model: string): Promise<TeamReportsView | undefined> {
  const store = await services.workspaceStore.get();
  const [{ TeamLedger }, { listTeamMonitoringReports, listTeamDriftReports }, { workspaceWriter }, { teamReportSeries, teamFairness }] = await Promise.all([
    import('../../core/backends/teamLedger'),
    import('../../core/backends/teamOperations'),
    import('../../core/governance/teamTrail'),
    import('./monitoringView'),
  ]);
  const own = store ? workspaceWriter(store) : undefined;
  let server = '';
  try {
    return await services.backends.use(async (backend) => {
      server = backend.location;
      const ledger = new TeamLedger(backend);
      const [published, drift] = await Promise.all([
        listTeamMonitoringReports(ledger, { modelName: model }),
        listTeamDriftReports(ledger, { modelName: model }),
      ]);
      const reports = published.filter((r) => r.writer !== own);
      // teammates' drift checks in the same list: kind "drift", an alert when their data drifted
      const rows = [
        ...reports.map((r) => ({
          kind: r.kind as string,
          summary: r.summary,
          alert: r.alert,
          createdAt: r.createdAt,
          publishedBy: r.publishedBy,
          workspace: r.writer,
        })),
        ...drift
          .filter((d) => d.writer !== own)
          .map((d) => ({ kind: 'drift', summary: d.summary, alert: d.datasetDrift, createdAt: d.createdAt, publishedBy: d.publishedBy, workspace: d.writer })),
      ].sort((a, b) => b.createdAt - a.createdAt);
      return { server, problem: null, series: teamReportSeries(reports), fairness: teamFairness(reports), reports: rows.slice(0, 50) };
    });
  } catch (error) {
    return { server, problem: error instanceof Error ? error.message : String(error), reports: [] };
  }
}
