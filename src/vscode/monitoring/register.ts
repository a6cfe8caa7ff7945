import * as vscode from 'vscode';
import type { ExtensionServices } from '../base/services';
import { registerDriftCommands } from './commands';
import { DriftMonitor, retrainAvailable } from './driftMonitor';
import { DRIFT_VIEW_TYPE, DriftPanel, openDriftPanel, type DriftPanelDeps } from './driftPanel';

/** Scheduled drift checks (badge, notifications), Check Drift…, the Drift panel and its serializer. */
export function registerMonitoring(services: ExtensionServices): { driftMonitor: DriftMonitor } {
  const { context, log, workspaceStore, projectConfig, commands, panelDeps } = services;
  const driftPanelDeps: DriftPanelDeps = {
    ...panelDeps,
    retrain: async (model, driftReportId) => driftMonitor.retrain(model, driftReportId), // called only after construction
    retrainAvailable,
  };
  const driftMonitor = new DriftMonitor({ workspaceStore, projectConfig, log, openReport: (reportId) => void openDriftPanel(driftPanelDeps, reportId) });
  void driftMonitor.restoreBadge();
  context.subscriptions.push(
    driftMonitor,
    ...registerDriftCommands({ commands, monitor: driftMonitor, panelDeps: driftPanelDeps }),
    vscode.window.registerWebviewPanelSerializer(DRIFT_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => void DriftPanel.revive(panel, driftPanelDeps, state),
    }),
  );
  return { driftMonitor };
}
