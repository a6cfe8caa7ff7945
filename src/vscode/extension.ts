import * as vscode from 'vscode';
import { latestSchemaVersion } from '../core/store/migrations/list';
import type { Store } from '../core/store/store';
import type { MloopApi } from './api';
import { registerProjectCommands } from './commands/projectCommands';
import { createStatusBar } from './statusBar';
import { datasetsTreeModel } from './trees/datasetsTree';
import { deploymentsTreeModel } from './trees/deploymentsTree';
import { modelsTreeModel } from './trees/modelsTree';
import { createRunsTreeModel } from './trees/runsTree';
import { StoreTreeProvider, type TreeNode } from './trees/storeTree';
import { WorkspaceStore } from './workspaceStore';

export const VIEW_IDS = ['mloop.datasets', 'mloop.runs', 'mloop.models', 'mloop.deployments'] as const;

export function activate(context: vscode.ExtensionContext): MloopApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('mloop', { log: true });
  const workspaceStore = new WorkspaceStore(log);
  const runsTreeModel = createRunsTreeModel({ primaryMetric: () => undefined });
  const trees = new Map<string, StoreTreeProvider<TreeNode>>([
    ['mloop.datasets', new StoreTreeProvider('mloop.datasets', workspaceStore, datasetsTreeModel)],
    ['mloop.runs', new StoreTreeProvider('mloop.runs', workspaceStore, runsTreeModel)],
    ['mloop.models', new StoreTreeProvider('mloop.models', workspaceStore, modelsTreeModel)],
    ['mloop.deployments', new StoreTreeProvider('mloop.deployments', workspaceStore, deploymentsTreeModel)],
  ] as [string, StoreTreeProvider<TreeNode>][]);

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
    ...registerProjectCommands({ workspaceStore, log, refresh }),
    vscode.commands.registerCommand('mloop.runs.showMore', (experimentId: number) => {
      runsTreeModel.showMore(experimentId);
      trees.get('mloop.runs')?.refresh();
    }),
    createStatusBar(workspaceStore),
  );
  updateContext();

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
    treeSnapshot: async (viewId: string) => {
      const tree = trees.get(viewId);
      if (!tree) throw new Error(`unknown mloop view "${viewId}" (known: ${VIEW_IDS.join(', ')})`);
      return tree.snapshot();
    },
  };
}

export function deactivate(): void {
  // subscriptions dispose the store connection and watchers
}
