import { addView, type ExtensionServices } from '../base/services';
import type { RunCharts } from '../runs/runCharts';
import { registerModelCommands } from './commands';
import { registerCardCommands } from './cardCommands';
import { registerEvaluationCommands } from './evaluationCommands';
import { registerExplainLogCommands } from './explainLogCommands';
import type { EvaluationPanelDeps } from './evaluationPanel';
import { modelsTreeModel, serverModelsTreeModel } from './tree';

/** The Models view (local registry or the MLflow server's), the registry commands (one ModelRegistry for both), Evaluate/Explain. */
export function registerModels(services: ExtensionServices, runCharts: RunCharts): { evaluationPanelDeps: EvaluationPanelDeps } {
  const { context, log, workspaceStore, projectConfig, backends, panelDeps } = services;
  addView(services, 'mloop.models', modelsTreeModel, { remote: { service: backends, model: serverModelsTreeModel } });
  context.subscriptions.push(...registerModelCommands({ workspaceStore, projectConfig, log, backends, runCharts }));
  const evaluation = registerEvaluationCommands({ workspaceStore, projectConfig, log, panelDeps });
  context.subscriptions.push(
    ...evaluation.disposables,
    ...registerExplainLogCommands({ workspaceStore, projectConfig, log, panelDeps: evaluation.evaluationPanelDeps }),
    ...registerCardCommands({ workspaceStore, projectConfig, log, panelDeps }),
  );
  return { evaluationPanelDeps: evaluation.evaluationPanelDeps };
}
