import { remoteModelsModel } from '../backend/remoteTrees';
import { addView, type ExtensionServices } from '../base/services';
import { registerModelCommands } from './commands';
import { modelsTreeModel } from './tree';

/** The Models view (local registry or the MLflow server's) and the registry commands. */
export function registerModels(services: ExtensionServices): void {
  const { context, log, workspaceStore, projectConfig, backends, panelDeps } = services;
  addView(services, 'mloop.models', modelsTreeModel, { remote: { service: backends, model: remoteModelsModel } });
  context.subscriptions.push(...registerModelCommands({ workspaceStore, projectConfig, panelDeps, log, backends }));
}
