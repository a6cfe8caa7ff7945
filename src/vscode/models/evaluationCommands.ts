import * as vscode from 'vscode';
import type { PredictionExplanation } from '../../core/evaluation/explain';
import { registryActor } from '../../core/registry/actor';
import { pythonOf } from '../../core/runs/environment';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { DatasetRepository } from '../../core/store/datasets';
import { ModelRepository } from '../../core/store/models';
import type { Store } from '../../core/store/store';
import { CommandCancelled, CommandContext, type CommandContextDeps } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { ModelVersionInput } from '../base/commandArgs';
import { openEvaluationPanel, type EvaluationPanelDeps } from './evaluationPanel';

/** What Evaluate Version… resolves to (tests read it). */
export interface EvaluateOutcome {
  readonly evaluationId: number;
  readonly model: string;
  readonly version: number;
}

/** A row to explain: an object, or its JSON text. */
export type ExplainRowInput = Readonly<Record<string, unknown>> | string | undefined;

/** The version a command was given (a tree row, `{ modelName, version }`), else the one the user picks. */
export async function pickModelVersion(store: Store, input: ModelVersionInput, title: string): Promise<{ modelName: string; version: number }> {
  if (input && 'modelName' in input && typeof input.modelName === 'string' && typeof input.version === 'number')
    return { modelName: input.modelName, version: input.version };
  const models = new ModelRepository(store);
  const items = models.list().flatMap((m) =>
    models.versions(m.modelId).map((v) => ({
      label: `${m.name} v${v.version}`,
      description: v.aliases.map((a) => `@${a}`).join(' '),
      modelName: m.name,
      version: v.version,
    })),
  );
  if (items.length === 0) throw new Error('no registered model version yet: train a pipeline with a model: section first');
  const picked = await vscode.window.showQuickPick(items, { title, ignoreFocusOut: true });
  if (!picked) throw new CommandCancelled();
  return picked;
}

/**
 * Evaluate Version… and Explain Prediction… on a version of the project's store: the helper runs in the project's
 * Python (the active or the project's .venv, else python3) with progress and cancel; the result opens in the Evaluation panel.
 */
export function registerEvaluationCommands(deps: CommandContextDeps & { panelDeps: Omit<EvaluationPanelDeps, 'evaluateAgain'> }): {
  disposables: vscode.Disposable[];
  evaluationPanelDeps: EvaluationPanelDeps;
} {
  const commands = new CommandContext(deps);
  const panelDeps: EvaluationPanelDeps = {
    ...deps.panelDeps,
    evaluateAgain: async (model, version, dataset) =>
      void (await vscode.commands.executeCommand('mloop.models.evaluate', { modelName: model, version }, dataset)),
  };

  const pickDataset = async (store: Store, given: string | undefined, title: string): Promise<string> => {
    if (given) return given;
    const declared = Object.keys(commands.projectConfig.current?.datasets ?? {});
    const repo = new DatasetRepository(store);
    const recorded = repo.list().flatMap((d) =>
      repo
        .versions(d.datasetId)
        .slice(0, 5)
        .map((v) => ({
          label: `${d.name}@${v.digest.slice(0, 12)}`,
          description: `recorded ${new Date(v.createdAt).toLocaleString()}${v.rowCount !== null ? ` · ${v.rowCount} rows` : ''}`,
        })),
    );
    const items = [...declared.map((name) => ({ label: name, description: 'its file as it is now' })), ...recorded];
    if (items.length === 0) throw new Error('no dataset in mloop.yaml or the store to evaluate on');
    const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'Evaluate on which dataset version?', ignoreFocusOut: true });
    if (!picked) throw new CommandCancelled();
    return picked.label;
  };

  const progressOptions = (title: string) => ({ location: vscode.ProgressLocation.Notification, title, cancellable: true });

  const disposables = [
    registerCommand('mloop.models.evaluate', (input?: ModelVersionInput, dataset?: string) =>
      commands.guard('evaluate version', async (): Promise<EvaluateOutcome | undefined> => {
        const store = await commands.requireStore({ trusted: true });
        const { config, projectRoot } = commands.requireProject({ reread: false });
        const target = await pickModelVersion(store, input, 'mloop: Evaluate Version');
        const data = await pickDataset(store, dataset, `mloop: Evaluate ${target.modelName} v${target.version}`);
        const { evaluateVersion } = await import('../../core/evaluation/evaluate');
        const { evaluationId } = await vscode.window.withProgress(
          progressOptions(`mloop: evaluating ${target.modelName} v${target.version} on ${data}`),
          async (progress, token) => {
            const abort = new AbortController();
            const cancel = token.onCancellationRequested(() => abort.abort());
            let reported = 0;
            try {
              return await evaluateVersion({
                store,
                artifactRoot: artifactRootOf(store.path),
                projectRoot,
                config,
                model: target,
                dataset: data,
                python: pythonOf([], process.env, projectRoot),
                actor: registryActor(projectRoot),
                signal: abort.signal,
                onProgress: (p) => {
                  const percent = (p.done / p.total) * 100;
                  progress.report({ message: p.message, increment: Math.max(0, percent - reported) });
                  reported = Math.max(reported, percent);
                },
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        commands.log.info(`evaluated ${target.modelName} v${target.version} on ${data}: evaluation #${evaluationId}`);
        deps.workspaceStore.fire();
        openEvaluationPanel(panelDeps, { evaluationId });
        return { evaluationId, ...{ model: target.modelName, version: target.version } };
      }),
    ),
    registerCommand('mloop.models.explain', (input?: ModelVersionInput, row?: ExplainRowInput) =>
      commands.guard('explain prediction', async (): Promise<PredictionExplanation | undefined> => {
        const store = await commands.requireStore({ trusted: true });
        const { config, projectRoot } = commands.requireProject({ reread: false });
        const target = await pickModelVersion(store, input, 'mloop: Explain Prediction');
        const { explainPrediction, parseRow } = await import('../../core/evaluation/explain');
        const text =
          typeof row === 'string'
            ? row
            : row
              ? JSON.stringify(row)
              : await vscode.window.showInputBox({
                  title: `Explain a prediction of ${target.modelName} v${target.version}`,
                  prompt: 'The row as JSON: feature → value (paste a line of a predictions log, or copy a row from the Preview)',
                  placeHolder: '{"precipitation": 0.0, "temp_max": 12.8, "temp_min": 5.0, "wind": 4.7}',
                  ignoreFocusOut: true,
                  validateInput: (value) => {
                    try {
                      parseRow(value);
                      return undefined;
                    } catch (error) {
                      return (error as Error).message;
                    }
                  },
                });
        if (text === undefined) return undefined;
        const explanation = await vscode.window.withProgress(
          progressOptions(`mloop: explaining a prediction of ${target.modelName} v${target.version}`),
          async (_p, token) => {
            const abort = new AbortController();
            const cancel = token.onCancellationRequested(() => abort.abort());
            try {
              return await explainPrediction({
                store,
                artifactRoot: artifactRootOf(store.path),
                projectRoot,
                config,
                model: target,
                row: parseRow(text),
                python: pythonOf([], process.env, projectRoot),
                signal: abort.signal,
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        openEvaluationPanel(panelDeps, { explanation });
        return explanation;
      }),
    ),
    registerCommand('mloop.models.importanceOverWindows', (modelName?: string) =>
      commands.guard('follow importance across windows', async (): Promise<{ id: number; windows: number } | undefined> => {
        const store = await commands.requireStore({ trusted: true });
        const { config, projectRoot } = commands.requireProject({ reread: false });
        const labelled = Object.entries(config.monitoring ?? {})
          .filter(([, m]) => m.labels)
          .map(([name]) => name);
        if (labelled.length === 0) throw new Error('no model in mloop.yaml has monitoring labels: (the true labels of the windows)');
        const model =
          modelName ??
          (labelled.length === 1
            ? labelled[0]
            : await vscode.window.showQuickPick(labelled, { title: 'mloop: Follow Importance Across Monitoring Windows', ignoreFocusOut: true }));
        if (!model) throw new CommandCancelled();
        const { importanceOverWindows } = await import('../../core/evaluation/windowImportance');
        const { id, report } = await vscode.window.withProgress(
          progressOptions(`mloop: permutation importance of ${model} per monitoring window`),
          async (progress, token) => {
            const abort = new AbortController();
            const cancel = token.onCancellationRequested(() => abort.abort());
            try {
              return await importanceOverWindows({
                store,
                artifactRoot: artifactRootOf(store.path),
                projectRoot,
                config,
                modelName: model,
                python: pythonOf([], process.env, projectRoot),
                signal: abort.signal,
                onProgress: (p) => progress.report({ message: p.message }),
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        commands.log.info(`importance of ${model} v${report.version} over ${report.windows.length} window(s): #${id}`);
        deps.workspaceStore.fire();
        await vscode.commands.executeCommand('mloop.monitoring.openPanel', model);
        return { id, windows: report.windows.length };
      }),
    ),
  ];
  return { disposables, evaluationPanelDeps: panelDeps };
}
