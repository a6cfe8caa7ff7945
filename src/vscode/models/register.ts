import { addView, type ExtensionServices } from '../base/services';
import type { RunCharts } from '../runs/runCharts';
import { registerModelCommands } from './commands';
import { modelsTreeModel, serverModelsTreeModel } from './tree';

/** The Models view (local registry or the MLflow server's) and the registry commands, one ModelRegistry for both. */
export function registerModels(services: ExtensionServices, runCharts: RunCharts): void {
  const { context, log, workspaceStore, projectConfig, backends } = services;
  addView(services, 'mloop.models', modelsTreeModel, { remote: { service: backends, model: serverModelsTreeModel } });
  context.subscriptions.push(...registerModelCommands({ workspaceStore, projectConfig, log, backends, runCharts }));
}
