import type { ExtensionServices } from '../base/services';
import { registerLineageCommands } from './commands';
import { registerLineageLens } from './lineageLens';
import type { LineagePanelDeps } from './panel';
import { registerAfterActivation } from '../base/afterActivation';

/** Show Lineage (commands, hovers and lenses in scripts and data files); returns what the Lineage panel is opened and revived with. */
export function registerLineage(services: ExtensionServices): { lineageDeps: LineagePanelDeps } {
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
    registerAfterActivation(() => registerLineageLens({ workspaceStore, projectConfig, log })),
  );
  return { lineageDeps };
}
