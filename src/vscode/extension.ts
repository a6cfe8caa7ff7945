import * as vscode from 'vscode';
import { latestSchemaVersion } from '../core/store/migrations/list';
import type { Store } from '../core/store/store';
import type { MloopApi, MloopTestApi } from './api';
import { registerAudit } from './audit/register';
import { BackendService } from './backend/backendService';
import { registerBackend } from './backend/register';
import { ActivationClock } from './base/activationClock';
import { CommandContext } from './base/commandContext';
import { executeCommand } from './base/commands';
import { ProjectConfig } from './base/projectConfig';
import { registerPanels } from './base/panelRegistry';
import { VIEW_IDS, type ExtensionServices } from './base/services';
import type { StoreTreeProvider, TreeNode } from './base/storeTree';
import { WorkspaceStore } from './base/workspaceStore';
import { registerDatasets } from './datasets/register';
import { registerDeployments } from './deployments/register';
import { registerLineage } from './lineage/register';
import { registerModels } from './models/register';
import { registerMonitoring } from './monitoring/register';
import { registerProject } from './project/register';
import { registerRuns, startTrackingSoon } from './runs/register';
import { TrackingService } from './runs/trackingService';
import { createTestHooks } from './testApi';

/** Builds the shared services once, lets every feature folder register itself, and returns the API. */
export function activate(context: vscode.ExtensionContext): MloopApi | MloopTestApi {
  const clock = new ActivationClock();
  const log = vscode.window.createOutputChannel('mloop', { log: true });
  const workspaceStore = new WorkspaceStore(log);
  const projectConfig = new ProjectConfig(log);
  const tracking = new TrackingService(workspaceStore, context.environmentVariableCollection, log);
  const backends = new BackendService(context.secrets, log);
  context.subscriptions.push(log, workspaceStore, projectConfig, tracking, backends);
  const views = new Map<string, StoreTreeProvider<TreeNode>>();
  const services: ExtensionServices = {
    context,
    log,
    workspaceStore,
    projectConfig,
    tracking,
    backends,
    views,
    commands: new CommandContext({ workspaceStore, projectConfig, log }),
    panelDeps: {
      store: () => workspaceStore.get().catch(() => undefined),
      onDidChangeStore: workspaceStore.onDidChange,
      log,
      extensionUri: context.extensionUri,
      workspaceState: context.workspaceState,
      runsServer: async () => (await import('./backend/dataPath')).runsServer(backends),
    },
    refresh: async () => {
      if (workspaceStore.error) workspaceStore.close(); // retry: the user may have fixed the file
      void executeCommand('setContext', 'mloop.hasConfig', workspaceStore.hasConfig());
      for (const tree of views.values()) tree.refresh();
    },
  };

  clock.mark('services');
  const { watchEvents } = registerDatasets(services);
  clock.mark('datasets');
  const { runController, runCharts, pipelinePanelDeps } = registerRuns(services);
  clock.mark('runs');
  const { evaluationPanelDeps } = registerModels(services, runCharts);
  clock.mark('models');
  const { rolloutPanelDeps } = registerDeployments(services);
  clock.mark('deployments');
  registerAudit(services);
  clock.mark('audit');
  registerProject(services);
  clock.mark('project');
  const { lineageDeps } = registerLineage(services);
  clock.mark('lineage');
  const { driftMonitor, monitoringPanelDeps } = registerMonitoring(services);
  clock.mark('monitoring');
  registerBackend(services);
  clock.mark('backend');
  const panels = { lineage: lineageDeps, monitoring: monitoringPanelDeps, pipeline: pipelinePanelDeps };
  context.subscriptions.push(...registerPanels({ panel: services.panelDeps, ...panels, evaluation: evaluationPanelDeps, rollout: rolloutPanelDeps }));
  startTrackingSoon(services);
  clock.mark('panels');

  const activationMs = clock.totalMs();
  const version = String((context.extension.packageJSON as { version?: unknown }).version ?? '0.0.0');
  // the harness runs the integration suite with extensionTestsPath: VS Code reports ExtensionMode.Test then
  const testMode = context.extensionMode === vscode.ExtensionMode.Test;
  log.info(
    `mloop ${version} activated in ${activationMs} ms (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'restricted'}${testMode ? ', test mode' : ''})`,
  );
  log.info(`activation phases (ms): ${clock.summary()}`);

  const api: MloopApi = {
    version,
    schemaVersion: latestSchemaVersion,
    viewIds: VIEW_IDS,
    activationMs,
    storePath: () => workspaceStore.path(),
    openStore: async (): Promise<Store> => {
      const store = await workspaceStore.get({ create: true });
      if (!store) throw new Error('mloop needs an open folder to hold its store');
      return store;
    },
    refresh: services.refresh,
    train: (pipelineName, overrides, options) =>
      runController.train({ pipelineName, overrides, ...(options?.validationOverride ? { validationOverride: options.validationOverride } : {}) }),
    trackingEndpoint: () => tracking.endpoint(),
    checkDrift: async (model: string) => {
      const outcome = await driftMonitor.check(model, { interactive: false });
      return outcome && { reportId: outcome.report.driftReportId, datasetDrift: outcome.report.datasetDrift, headline: outcome.headline };
    },
  };
  return testMode ? { ...api, ...createTestHooks(services, { driftMonitor, watchEvents }) } : api;
}

export function deactivate(): void {
  // subscriptions dispose the store connection and watchers
}
