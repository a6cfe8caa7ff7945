import * as vscode from 'vscode';
import type { ExtensionServices } from '../base/services';
import { registerDriftCommands } from './commands';
import { registerPerformanceCommand } from './performanceCommand';
import { DriftMonitor, retrainAvailable } from './driftMonitor';
import { openDriftPanel, type DriftPanelDeps } from './driftPanel';
import { openMonitoringPanel, type MonitoringPanelDeps } from './monitoringPanel';
import { executeCommand, registerCommand } from '../base/commands';
import type { ModelInput } from './commands';
import { afterActivation } from '../base/afterActivation';

/** Scheduled drift checks (badge, notifications), Check Drift…; returns what the Drift panel is opened and revived with. */
export function registerMonitoring(services: ExtensionServices): {
  driftMonitor: DriftMonitor;
  driftPanelDeps: DriftPanelDeps;
  monitoringPanelDeps: MonitoringPanelDeps;
} {
  const { context, log, workspaceStore, projectConfig, commands, panelDeps } = services;
  const driftPanelDeps: DriftPanelDeps = {
    ...panelDeps,
    retrain: async (model, driftReportId) => driftMonitor.retrain(model, driftReportId), // called only after construction
    retrainAvailable,
  };
  const driftMonitor = new DriftMonitor({ workspaceStore, projectConfig, log, openReport: (reportId) => void openDriftPanel(driftPanelDeps, reportId) });
  const monitoringPanelDeps: MonitoringPanelDeps = {
    ...panelDeps,
    checkNow: async (model) => void (await executeCommand('mloop.monitoring.checkPerformance', model)),
    retrain: async (model) => void (await executeCommand('mloop.models.retrain', { modelName: model })),
    openDriftReport: (reportId) => void openDriftPanel(driftPanelDeps, reportId),
    retrainAvailable,
  };
  context.subscriptions.push(
    registerCommand('mloop.monitoring.openPanel', async (input?: ModelInput) => {
      const named = typeof input === 'string' ? input : input && 'model' in input ? input.model : input && 'modelName' in input ? input.modelName : undefined;
      const model = named ?? (await pickMonitoredModel(projectConfig.current?.monitoring ?? {}));
      if (model) openMonitoringPanel(monitoringPanelDeps, model);
    }),
    afterActivation(() => driftMonitor.restoreBadge()),
    driftMonitor,
    ...registerDriftCommands({ commands, monitor: driftMonitor, panelDeps: driftPanelDeps }),
    registerPerformanceCommand({ commands, monitor: driftMonitor }),
  );
  return { driftMonitor, driftPanelDeps, monitoringPanelDeps };
}

async function pickMonitoredModel(monitoring: Record<string, unknown>): Promise<string | undefined> {
  const models = Object.keys(monitoring);
  const picked = await vscode.window.showQuickPick(
    models.map((m) => ({ label: m })),
    { title: 'mloop: Open Monitoring', placeHolder: models.length ? 'Which model?' : 'No model under monitoring: in mloop.yaml', ignoreFocusOut: true },
  );
  return picked?.label;
}
