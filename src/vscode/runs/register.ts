import * as vscode from 'vscode';
import { primaryMetricOf } from '../../core/config/schema';
import { registerCommand } from '../base/commands';
import { COLUMN_WIDTH_MAX, COLUMN_WIDTH_MIN } from '../../shared/panels';
import { addView, type ExtensionServices } from '../base/services';
import { registerRunCommands } from './commands';
import { registerPanelCommands } from './panelCommands';
import { registerPipelineCommands } from './pipelineCommands';
import { registerSweepCommands } from './sweepCommands';
import { registerReproduceCommand } from './reproduceCommand';
import { PipelineRunner } from './pipelineRunner';
import type { PipelinePanelDeps } from './pipelinePanel';
import { RunController } from './runController';
import { registerTaskProvider } from './taskProvider';
import { registerTrainCodeLens } from './trainCodeLens';
import { MlflowStoreWatcher } from './mlflowStoreWatcher';
import { createRunCharts, type RunCharts } from './runCharts';
import { createRunsTreeModels, type RunsNode } from './tree';
import { registerMloopUriHandler } from './uriHandler';
import { afterActivation, registerAfterActivation } from '../base/afterActivation';

/** The column a table command is for: passed (an id, or a header's context menu), or picked from the table's columns. */
async function tableColumnOf(
  table: { shownColumns(): readonly { readonly id: string; readonly label: string }[] },
  input: string | { readonly column?: string } | undefined,
  title: string,
): Promise<string | undefined> {
  const columns = table.shownColumns();
  const given = typeof input === 'string' ? input : input?.column;
  if (given !== undefined) {
    if (!columns.some((c) => c.id === given)) throw new Error(`the Experiments Table shows no column "${given}" (hidden, or not in this table)`);
    return given;
  }
  const picked = await vscode.window.showQuickPick(
    columns.map((c) => ({ label: c.label, description: c.id, id: c.id })),
    { title, placeHolder: 'a column of the Experiments Table', matchOnDescription: true, ignoreFocusOut: true },
  );
  return picked?.id;
}

/** The Runs view (local or server), training (commands, code lens, tasks), the run panels' commands. */
export function registerRuns(services: ExtensionServices): { runController: RunController; runCharts: RunCharts; pipelinePanelDeps: PipelinePanelDeps } {
  const { context, log, workspaceStore, projectConfig, tracking, backends, commands, panelDeps } = services;
  const runController = new RunController({ workspaceStore, projectConfig, tracking, log, backends });
  const runsTreeModels = createRunsTreeModels({
    primaryMetric: (pipeline) => {
      const declared = pipeline ? projectConfig.current?.pipelines[pipeline] : undefined;
      return declared ? primaryMetricOf(declared)?.name : undefined;
    },
  });
  const runCharts = createRunCharts({ backends, panelDeps });
  const tree = addView(services, 'mloop.runs', runsTreeModels.store, { canSelectMany: true, remote: { service: backends, model: runsTreeModels.server } });
  const pipelineRunner = new PipelineRunner({ commands, tracking });
  const pipelinePanelDeps: PipelinePanelDeps = { ...panelDeps, projectRoot: () => projectConfig.projectRoot, runner: pipelineRunner };
  context.subscriptions.push(
    runController,
    pipelineRunner,
    ...registerPipelineCommands({ commands, runner: pipelineRunner, panelDeps: pipelinePanelDeps }),
    ...registerSweepCommands({ commands, tracking }),
    ...registerReproduceCommand({ commands, tracking }),
    projectConfig.onDidChange(() => tree.refresh()),
    ...registerRunCommands({ commands, runController, backends }),
    runCharts,
    ...registerPanelCommands(runCharts, commands),
    registerMloopUriHandler(),
    registerTaskProvider({ projectConfig, runController, log }),
    registerAfterActivation(() => registerTrainCodeLens(projectConfig)),
    // runs a notebook logs with MLflow's defaults (mlflow.db / mlruns in the workspace) come in on their own
    registerAfterActivation(() => new MlflowStoreWatcher({ workspaceStore, log })),
    // a run that just ended: shown in the open Runs (and Models) view, selected, the focus left where it is
    registerCommand('mloop.runs.reveal', async (runId: string, modelVersionId?: number) => {
      if (tree.view.visible) await tree.revealById(`run:${runId}`, { focus: false });
      const models = services.views.get('mloop.models');
      if (modelVersionId !== undefined && models?.view.visible) await models.revealById(`modelVersion:${modelVersionId}`, { focus: false });
    }),
    // the table reads the workspace store: opened from the palette, the view title or an experiment row
    registerCommand('mloop.runs.openTable', async (input) => {
      try {
        const experimentId = experimentIdOf(input);
        const query = input && !('kind' in input) ? { filter: input.filter ?? '', orderBy: input.orderBy ?? '' } : { filter: '', orderBy: '' };
        // a column to scroll into view (a caller opening the table at a param or metric)
        const column = input && !('kind' in input) && typeof input.column === 'string' ? input.column : undefined;
        const { openExperimentsTable } = await import('./experimentsTablePanel');
        openExperimentsTable(panelDeps, { ...(experimentId !== undefined ? { experimentId } : {}), query, ...(column ? { column } : {}) });
      } catch (error) {
        commands.reportError('Open Experiments Table', error);
      }
    }),
    // the open table's columns from the palette or a header's context menu (keyboard users reach far columns and widths)
    registerCommand('mloop.runs.tableGoToColumn', async (input) => {
      try {
        const { ExperimentsTablePanel } = await import('./experimentsTablePanel');
        const table = ExperimentsTablePanel.active;
        if (!table) return void vscode.window.showInformationMessage('mloop: open the Experiments Table first (mloop: Open Experiments Table).');
        const column = await tableColumnOf(table, input, 'Go to column');
        if (column) await table.showColumn(column);
      } catch (error) {
        commands.reportError('Go to Column', error);
      }
    }),
    registerCommand('mloop.runs.tableSetColumnWidth', async (input, width) => {
      try {
        const { ExperimentsTablePanel } = await import('./experimentsTablePanel');
        const table = ExperimentsTablePanel.active;
        if (!table) return void vscode.window.showInformationMessage('mloop: open the Experiments Table first (mloop: Open Experiments Table).');
        const column = await tableColumnOf(table, input, 'Set the width of column');
        if (!column) return;
        let chosen = width;
        if (chosen === undefined) {
          const text = await vscode.window.showInputBox({
            title: `Width of ${column}`,
            prompt: `pixels (${COLUMN_WIDTH_MIN}–${COLUMN_WIDTH_MAX}), or "fit" to fit what it shows`,
            value: 'fit',
            ignoreFocusOut: true,
            validateInput: (value) =>
              value.trim() === 'fit' || (/^\d+$/.test(value.trim()) && Number(value) >= COLUMN_WIDTH_MIN && Number(value) <= COLUMN_WIDTH_MAX)
                ? undefined
                : `a whole number of pixels from ${COLUMN_WIDTH_MIN} to ${COLUMN_WIDTH_MAX}, or fit`,
          });
          if (text === undefined) return;
          chosen = text.trim() === 'fit' ? 'fit' : Number(text);
        }
        if (chosen !== 'fit' && !(Number.isInteger(chosen) && chosen >= COLUMN_WIDTH_MIN && chosen <= COLUMN_WIDTH_MAX))
          throw new Error(
            `the width of ${column} must be a whole number of pixels from ${COLUMN_WIDTH_MIN} to ${COLUMN_WIDTH_MAX}, or fit (got ${String(chosen)})`,
          );
        await table.setColumnWidth(column, chosen);
      } catch (error) {
        commands.reportError('Set Column Width', error);
      }
    }),
    // plots across runs: of an experiment row, or of every run from the palette (the table sends its selection)
    registerCommand('mloop.runs.openPlots', async (input) => {
      try {
        const experimentId = experimentIdOf(input);
        const { openRunPlots } = await import('./runPlotsPanel');
        openRunPlots(panelDeps, experimentId !== undefined ? { experimentId } : {});
      } catch (error) {
        commands.reportError('Plot Runs', error);
      }
    }),
    registerCommand('mloop.runs.showMore', (experimentId: number | string) => {
      runsTreeModels.showMore(experimentId);
      tree.refresh();
    }),
  );
  // opening the store reads the settings and loads SQLite: just after activation, not during it
  context.subscriptions.push(afterActivation(() => reapOrphans(services)));
  return { runController, runCharts, pipelinePanelDeps };
}

/** The experiment a command was invoked on: an experiment row of the Runs view, or `{ experimentId }` from code. */
function experimentIdOf(input: RunsNode | { experimentId?: number } | undefined): number | undefined {
  return input && 'experimentId' in input && typeof input.experimentId === 'number' && (!('kind' in input) || input.kind === 'experiment')
    ? input.experimentId
    : undefined;
}

/** Runs left RUNNING by a crashed editor or CLI are marked KILLED when their process is gone. */
async function reapOrphans({ workspaceStore, log }: ExtensionServices): Promise<void> {
  try {
    const store = await workspaceStore.get();
    if (!store) return;
    const { reapOrphanedRuns } = await import('../../core/runs/reap');
    const reaped = reapOrphanedRuns(store);
    if (reaped.length) {
      log.warn(`marked ${reaped.length} run(s) KILLED: their process no longer exists (${reaped.join(', ')})`);
      workspaceStore.fire();
    }
  } catch (error) {
    log.warn(`could not check for orphaned runs: ${(error as Error).message}`);
  }
}

/** Terminals opened from now on get MLFLOW_TRACKING_URI/TOKEN; a loopback server costs ~ms. */
export function startTrackingSoon({ tracking, workspaceStore, log }: ExtensionServices): void {
  if (!vscode.workspace.isTrusted || !workspaceStore.hasConfig()) return;
  setTimeout(() => void tracking.endpoint().catch((e: Error) => log.warn(`tracking endpoint not started: ${e.message}`)), 0);
}
