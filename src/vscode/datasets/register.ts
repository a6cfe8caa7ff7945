import { addView, type ExtensionServices } from '../base/services';
import { registerDatasetCommands } from './commands';
import { registerRemoteCommands } from './remoteCommands';
import type { DatasetWatchEvent } from './datasetWatcher';
import { DatasetDiagnostics } from './diagnostics';
import { createDatasetsTreeModel } from './tree';

/** The Datasets view, its commands, read-error diagnostics and the file watcher's proposals. */
export function registerDatasets(services: ExtensionServices): { watchEvents: readonly DatasetWatchEvent[] } {
  const { context, log, workspaceStore, projectConfig, commands, panelDeps } = services;
  const tree = addView(services, 'mloop.datasets', createDatasetsTreeModel({ declared: () => projectConfig.current?.datasets }));
  const diagnostics = new DatasetDiagnostics(workspaceStore, projectConfig, log);
  const watchEvents: DatasetWatchEvent[] = [];
  context.subscriptions.push(
    projectConfig.onDidChange(() => tree.refresh()),
    diagnostics,
    ...registerDatasetCommands({ commands, panelDeps, diagnostics, watchEvents }),
    ...registerRemoteCommands(commands),
  );
  return { watchEvents };
}
