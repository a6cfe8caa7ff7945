import * as vscode from 'vscode';
import type { ExtensionServices } from '../base/services';
import { registerLineageCommands } from './commands';
import { registerLineageLens } from './lineageLens';
import { LineagePanel, type LineagePanelDeps } from './panel';

/** Show Lineage (commands, hovers and lenses in scripts and data files), the Lineage panel and its serializer. */
export function registerLineage(services: ExtensionServices): void {
  const { context, log, workspaceStore, projectConfig, commands, backends, panelDeps, views } = services;
  const lineageDeps: LineagePanelDeps = {
    ...panelDeps,
    projectRoot: () => projectConfig.projectRoot,
    reveal: async (viewId, treeNodeId) => (await views.get(viewId)?.revealById(treeNodeId)) ?? false,
    server: {
      location: () => (backends.kind === 'mlflow' ? backends.trackingUri || undefined : undefined),
      graph: async (root, depth, signal) => {
        const { remoteLineageGraph } = await import('../../core/backends/remoteLineage');
        return backends.use((backend) => remoteLineageGraph(backend, root, { depth, signal }));
      },
      onDidChange: backends.onDidChange,
    },
  };
  context.subscriptions.push(
    ...registerLineageCommands({ commands, panelDeps: lineageDeps, backends }),
    vscode.window.registerWebviewPanelSerializer('mloop.lineage', {
      deserializeWebviewPanel: async (panel, state: unknown) => void LineagePanel.revive(panel, lineageDeps, state),
    }),
    registerLineageLens({ workspaceStore, projectConfig, log }),
  );
}
