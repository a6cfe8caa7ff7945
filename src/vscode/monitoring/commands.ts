import * as vscode from 'vscode';
import { checkAndStore, driftHeadline } from '../../core/drift/monitor';
import type { DriftMonitor } from './driftMonitor';
import { openMonitoringPanel, type MonitoringPanelDeps } from './monitoringPanel';
import type { CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { ModelsNode } from '../models/tree';

export type ModelInput = ModelsNode | { readonly model: string } | string | undefined;

const COMPARE_FILES = '$(files) Compare two files…';

/** mloop: Check Drift… (palette, Models tree) and mloop: Open Drift Report — both open the model's Monitoring panel on the report. */
export function registerDriftCommands(deps: {
  commands: CommandContext;
  monitor: DriftMonitor;
  panelDeps: MonitoringPanelDeps;
  /** With the MLflow backend, a model on the server is copied here (champion and lineage) before it is checked. */
  beforeCheck?: (model: string) => Promise<unknown>;
}): vscode.Disposable[] {
  const { commands, monitor, panelDeps } = deps;
  const { projectConfig } = commands;
  return [
    registerCommand('mloop.monitoring.checkDrift', async (input?: ModelInput) => {
      const named = typeof input === 'string' ? input : input && 'model' in input ? input.model : input && 'modelName' in input ? input.modelName : undefined;
      projectConfig.reload(); // what mloop.yaml says now, not what the debounced watcher last saw
      const model = named ?? (await pickModel(monitor.monitoredModels()));
      if (!model) return undefined;
      if (model === COMPARE_FILES) return compareFiles(deps);
      if (!monitor.monitoredModels().includes(model)) {
        const add = await vscode.window.showWarningMessage(
          `mloop: ${model} has no monitoring entry in mloop.yaml. Add "monitoring: ${model}: current: <files>" to check it on a schedule, or compare two files now.`,
          'Open mloop.yaml',
          'Compare Two Files…',
        );
        if (add === 'Open mloop.yaml' && projectConfig.uri) await vscode.window.showTextDocument(projectConfig.uri);
        if (add === 'Compare Two Files…') return compareFiles(deps);
        return undefined;
      }
      if (deps.beforeCheck) {
        try {
          await deps.beforeCheck(model);
        } catch (error) {
          return commands.reportError('drift check', error);
        }
      }
      const outcome = await monitor.check(model, { interactive: true });
      if (outcome) openMonitoringPanel(panelDeps, { model, driftReportId: outcome.report.driftReportId });
      return outcome && { reportId: outcome.report.driftReportId, datasetDrift: outcome.report.datasetDrift, headline: outcome.headline };
    }),
    registerCommand('mloop.monitoring.openDriftReport', async (reportId?: unknown) => {
      const given = typeof reportId === 'number' && Number.isInteger(reportId) && reportId > 0 ? reportId : undefined;
      const store = await commands.workspaceStore.get();
      const { DriftReportRepository } = await import('../../core/store/driftReports');
      // no id: the newest drift report of any model
      const id = given ?? (store && new DriftReportRepository(store).list({ limit: 1 })[0]?.driftReportId);
      openMonitoringPanel(panelDeps, { model: null, ...(id !== undefined ? { driftReportId: id } : {}) });
    }),
  ];
}

async function pickModel(models: readonly string[]): Promise<string | undefined> {
  const picked = await vscode.window.showQuickPick(
    [
      ...models.map((m) => ({ label: m, description: 'monitoring in mloop.yaml' })),
      { label: COMPARE_FILES, description: 'a reference file and a current file' },
    ],
    { title: 'mloop: Check Drift', placeHolder: 'Which model, or which files?', ignoreFocusOut: true },
  );
  return picked?.label;
}

/** No monitoring entry: pick a reference and a current file, compare, store and open the report. */
async function compareFiles(deps: { commands: CommandContext; panelDeps: MonitoringPanelDeps }): Promise<undefined> {
  const { commands } = deps;
  try {
    commands.requireTrusted();
  } catch (error) {
    return commands.reportError('drift check', error);
  }
  const filters = { Data: ['csv', 'tsv', 'jsonl', 'ndjson', 'parquet'] };
  const reference = await vscode.window.showOpenDialog({ title: 'Reference data (what the model was trained on)', canSelectMany: false, filters });
  if (!reference?.[0]) return undefined;
  const current = await vscode.window.showOpenDialog({ title: 'Current data (what the model sees now)', canSelectMany: false, filters });
  if (!current?.[0]) return undefined;
  const store = await commands.workspaceStore.get({ create: true });
  if (!store) return undefined;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'mloop: checking drift', cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const cancel = token.onCancellationRequested(() => abort.abort(new Error('cancelled')));
      try {
        const { result, stored } = await checkAndStore(store, {
          reference: reference[0]!.fsPath,
          current: current[0]!.fsPath,
          baseDir: commands.projectConfig.projectRoot ?? '/',
          signal: abort.signal,
          onProgress: (message) => progress.report({ message }),
        });
        commands.log.info(`drift check: ${driftHeadline(result)} (report #${stored.driftReportId})`);
        commands.workspaceStore.fire();
        openMonitoringPanel(deps.panelDeps, { model: null, driftReportId: stored.driftReportId });
      } catch (error) {
        if (abort.signal.aborted) return;
        commands.reportError('drift check', error);
      } finally {
        cancel.dispose();
      }
    },
  );
  return undefined;
}
