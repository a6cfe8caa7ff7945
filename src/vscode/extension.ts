import * as vscode from 'vscode';
import { latestSchemaVersion } from '../core/store/migrations/list';
import type { Store } from '../core/store/store';
import type { MloopApi } from './api';
import { registerLineageCommands } from './lineage/commands';
import { registerModelCommands } from './models/commands';
import { registerPanelCommands } from './runs/panelCommands';
import { registerDatasetCommands, type DatasetWatchEvent } from './datasets/commands';
import { DatasetDiagnostics } from './datasets/diagnostics';
import { registerProjectCommands } from './project/commands';
import { registerRunCommands } from './runs/commands';
import { registerDriftCommands } from './monitoring/commands';
import { registerConfigAssist } from './project/configAssist';
import { openWalkthroughOnDemoStart } from './project/walkthrough';
import { registerLineageLens } from './lineage/lineageLens';
import { LineagePanel, type LineagePanelDeps } from './lineage/panel';
import { MetricsPanel } from './runs/metricsPanel';
import { registerTrainCodeLens } from './runs/trainCodeLens';
import { registerPanels } from './base/panelRegistry';
import type { PanelDeps } from './base/webviewHtml';
import { ProjectConfig } from './base/projectConfig';
import { RunController } from './runs/runController';
import { registerTaskProvider } from './runs/taskProvider';
import { TrackingService } from './runs/trackingService';
import { primaryMetricOf } from '../core/config/schema';
import { createDeploymentStatusBar, createStatusBar } from './base/statusBar';
import { DriftMonitor, retrainAvailable } from './monitoring/driftMonitor';
import { openDriftPanel, type DriftPanelDeps } from './monitoring/driftPanel';
import { auditTreeModel } from './audit/tree';
import { createDatasetsTreeModel } from './datasets/tree';
import { createDeploymentsTreeModel } from './deployments/tree';
import { registerDeployCommands } from './deployments/commands';
import { defaultTargetName } from '../core/deploy/deploy';
import { modelsTreeModel, serverModelsTreeModel } from './models/tree';
import { createRunsTreeModels } from './runs/tree';
import { createRunCharts } from './runs/runCharts';
import { StoreTreeProvider, type TreeNode } from './base/storeTree';
import { WorkspaceStore } from './base/workspaceStore';
import { BackendService } from './backend/backendService';
import { registerMlflowCommands } from './backend/commands';
import { registerMloopUriHandler } from './runs/uriHandler';

export const VIEW_IDS = ['mloop.datasets', 'mloop.runs', 'mloop.models', 'mloop.deployments', 'mloop.audit'] as const;

export function activate(context: vscode.ExtensionContext): MloopApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('mloop', { log: true });
  const workspaceStore = new WorkspaceStore(log);
  const projectConfig = new ProjectConfig(log);
  const tracking = new TrackingService(workspaceStore, context.environmentVariableCollection, log);
  const backends = new BackendService(context.secrets, log);
  const runController = new RunController({ workspaceStore, projectConfig, tracking, log, backends });
  const datasetDiagnostics = new DatasetDiagnostics(workspaceStore, projectConfig, log);
  const datasetWatchEvents: DatasetWatchEvent[] = [];
  const runsTreeModels = createRunsTreeModels({
    primaryMetric: (pipeline) => {
      const declared = pipeline ? projectConfig.current?.pipelines[pipeline] : undefined;
      return declared ? primaryMetricOf(declared)?.name : undefined;
    },
  });
  const panelDeps: PanelDeps = {
    store: () => workspaceStore.get().catch(() => undefined),
    onDidChangeStore: workspaceStore.onDidChange,
    log,
    extensionUri: context.extensionUri,
  };
  const runCharts = createRunCharts({ backends, panelDeps });
  const driftPanelDeps: DriftPanelDeps = {
    ...panelDeps,
    retrain: async (model, driftReportId) => driftMonitor.retrain(model, driftReportId), // called only after construction
    retrainAvailable,
  };
  const driftMonitor = new DriftMonitor({ workspaceStore, projectConfig, log, openReport: (reportId) => void openDriftPanel(driftPanelDeps, reportId) });
  void driftMonitor.restoreBadge();
  const trees = new Map<string, StoreTreeProvider<TreeNode>>([
    ['mloop.datasets', new StoreTreeProvider('mloop.datasets', workspaceStore, createDatasetsTreeModel({ declared: () => projectConfig.current?.datasets }))],
    ['mloop.runs', new StoreTreeProvider('mloop.runs', workspaceStore, runsTreeModels.store, { canSelectMany: true, remote: { service: backends, model: runsTreeModels.server } })],
    ['mloop.models', new StoreTreeProvider('mloop.models', workspaceStore, modelsTreeModel, { remote: { service: backends, model: serverModelsTreeModel } })],
    ['mloop.deployments', new StoreTreeProvider('mloop.deployments', workspaceStore, createDeploymentsTreeModel({ targets: () => Object.keys(projectConfig.current?.targets ?? {}) }))],
    ['mloop.audit', new StoreTreeProvider('mloop.audit', workspaceStore, auditTreeModel)],
  ] as [string, StoreTreeProvider<TreeNode>][]);

  const lineageDeps: LineagePanelDeps = {
    ...panelDeps,
    projectRoot: () => projectConfig.projectRoot,
    reveal: async (viewId, treeNodeId) => (await trees.get(viewId)?.revealById(treeNodeId)) ?? false,
    server: {
      location: () => (backends.kind === 'mlflow' ? backends.trackingUri || undefined : undefined),
      graph: async (root, depth, signal) => {
        const { remoteLineageGraph } = await import('../core/backends/remoteLineage');
        return backends.use((backend) => remoteLineageGraph(backend, root, { depth, signal }));
      },
      onDidChange: backends.onDidChange,
    },
  };

  const updateContext = (): void => void vscode.commands.executeCommand('setContext', 'mloop.hasConfig', workspaceStore.hasConfig());
  const refresh = async (): Promise<void> => {
    if (workspaceStore.error) workspaceStore.close(); // retry: the user may have fixed the file
    updateContext();
    for (const tree of trees.values()) tree.refresh();
  };

  context.subscriptions.push(
    log,
    workspaceStore,
    ...trees.values(),
    workspaceStore.onDidChange(updateContext),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void refresh()),
    projectConfig,
    tracking,
    runController,
    projectConfig.onDidChange(() => trees.get('mloop.runs')?.refresh()),
    projectConfig.onDidChange(() => trees.get('mloop.datasets')?.refresh()),
    datasetDiagnostics,
    ...registerDatasetCommands({ workspaceStore, projectConfig, panelDeps, log, diagnostics: datasetDiagnostics, watchEvents: datasetWatchEvents }),
    projectConfig.onDidChange(() => trees.get('mloop.deployments')?.refresh()),
    ...registerProjectCommands({ workspaceStore, log, refresh }),
    ...registerRunCommands({ runController, projectConfig, workspaceStore, log }),
    registerMloopUriHandler(),
    runCharts,
    ...registerPanelCommands(runCharts, log),
    ...registerModelCommands({ workspaceStore, projectConfig, log, backends, runCharts }),
    ...registerPanels({ panel: panelDeps, lineage: lineageDeps, drift: driftPanelDeps }),
    ...registerLineageCommands({ panelDeps: lineageDeps, workspaceStore, log, backends }),
    registerLineageLens({ workspaceStore, projectConfig, log }),
    registerTaskProvider({ projectConfig, runController, log }),
    registerTrainCodeLens(projectConfig),
    registerConfigAssist(),
    vscode.commands.registerCommand('mloop.runs.showMore', (experimentId: number | string) => {
      runsTreeModels.showMore(experimentId);
      trees.get('mloop.runs')?.refresh();
    }),
    createStatusBar(workspaceStore),
    ...registerDeployCommands({ workspaceStore, projectConfig, tracking, log }),
    createDeploymentStatusBar(workspaceStore, () => defaultTargetName(projectConfig.current), projectConfig.onDidChange),
    backends,
    ...registerMlflowCommands({ backends, workspaceStore, projectConfig, log, refresh }),
    tracking.useRemote(async () => (backends.kind === 'mlflow' && vscode.workspace.isTrusted ? (await backends.remote())?.tracking : undefined), backends.onDidChange),
    pollRemoteBackend(backends, () => {
      trees.get('mloop.runs')?.refresh();
      trees.get('mloop.models')?.refresh();
    }),
    driftMonitor,
    ...registerDriftCommands({ monitor: driftMonitor, panelDeps: driftPanelDeps, projectConfig, workspaceStore, log }),
  );
  updateContext();
  openWalkthroughOnDemoStart(context);
  void reapOrphans(workspaceStore, log);
  if (vscode.workspace.isTrusted && workspaceStore.hasConfig()) {
    // terminals opened from now on get MLFLOW_TRACKING_URI/TOKEN; a loopback server costs ~ms
    setTimeout(() => void tracking.endpoint().catch((e: Error) => log.warn(`tracking endpoint not started: ${e.message}`)), 0);
  }

  const activationMs = Math.round((performance.now() - started) * 10) / 10;
  const version = String((context.extension.packageJSON as { version?: unknown }).version ?? '0.0.0');
  log.info(`mloop ${version} activated in ${activationMs} ms (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'restricted'})`);

  return {
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
    refresh,
    train: (pipelineName, overrides, options) => runController.train({ pipelineName, overrides, ...(options?.validationOverride ? { validationOverride: options.validationOverride } : {}) }),
    trackingEndpoint: () => tracking.endpoint(),
    checkDrift: async (model: string) => {
      const outcome = await driftMonitor.check(model, { interactive: false });
      return outcome && { reportId: outcome.report.driftReportId, datasetDrift: outcome.report.datasetDrift, headline: outcome.headline };
    },
    driftBadge: () => driftMonitor.badgeText(),
    treeSnapshot: async (viewId: string, depth?: number) => {
      const tree = trees.get(viewId);
      if (!tree) throw new Error(`unknown mloop view "${viewId}" (known: ${VIEW_IDS.join(', ')})`);
      return tree.snapshot(depth);
    },
    lineagePanelState: () => LineagePanel.active?.lastLoad,
    metricsPanelState: () => MetricsPanel.active?.snapshot(),
    viewMessage: (viewId: string) => trees.get(viewId)?.view.message,
    datasetWatchEvents: () => [...datasetWatchEvents],
  };
}

/** A tracking server has no file to watch: with backend = mlflow the Runs and Models views re-read it every 15 s. */
function pollRemoteBackend(backends: BackendService, refresh: () => void): vscode.Disposable {
  const timer = setInterval(() => {
    if (backends.kind === 'mlflow') refresh();
  }, 15_000);
  return new vscode.Disposable(() => clearInterval(timer));
}

/** Runs left RUNNING by a crashed editor or CLI are marked KILLED when their process is gone. */
async function reapOrphans(workspaceStore: WorkspaceStore, log: vscode.LogOutputChannel): Promise<void> {
  try {
    const store = await workspaceStore.get();
    if (!store) return;
    const { reapOrphanedRuns } = await import('../core/runs/reap');
    const reaped = reapOrphanedRuns(store);
    if (reaped.length) {
      log.warn(`marked ${reaped.length} run(s) KILLED: their process no longer exists (${reaped.join(', ')})`);
      workspaceStore.fire();
    }
  } catch (error) {
    log.warn(`could not check for orphaned runs: ${(error as Error).message}`);
  }
}

export function deactivate(): void {
  // subscriptions dispose the store connection and watchers
}
