import type { ExtensionServices } from '../base/services';
import { registerDriftCommands } from './commands';
import { registerPerformanceCommand } from './performanceCommand';
import { DriftMonitor, retrainAvailable } from './driftMonitor';
import { openDriftPanel, type DriftPanelDeps } from './driftPanel';
import { afterActivation } from '../base/afterActivation';

/** Scheduled drift checks (badge, notifications), Check Drift…; returns what the Drift panel is opened and revived with. */
export function registerMonitoring(services: ExtensionServices): { driftMonitor: DriftMonitor; driftPanelDeps: DriftPanelDeps } {
  const { context, log, workspaceStore, projectConfig, commands, panelDeps } = services;
  const driftPanelDeps: DriftPanelDeps = {
    ...panelDeps,
    retrain: async (model, driftReportId) => driftMonitor.retrain(model, driftReportId), // called only after construction
    retrainAvailable,
  };
  const driftMonitor = new DriftMonitor({ workspaceStore, projectConfig, log, openReport: (reportId) => void openDriftPanel(driftPanelDeps, reportId) });
  context.subscriptions.push(
    afterActivation(() => driftMonitor.restoreBadge()),
    driftMonitor,
    ...registerDriftCommands({ commands, monitor: driftMonitor, panelDeps: driftPanelDeps }),
    registerPerformanceCommand({ commands, monitor: driftMonitor }),
  );
  return { driftMonitor, driftPanelDeps };
}
