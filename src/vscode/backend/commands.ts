import * as vscode from 'vscode';
import type { MlflowImportReport } from '../../core/mlflow/importStore';
import type { BackendService } from './backendService';
import type { WorkspaceStore } from '../base/workspaceStore';
import type { ProjectConfig } from '../base/projectConfig';
import { CommandContext, requireTrusted } from '../base/commandContext';

interface Deps {
  readonly backends: BackendService;
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly log: vscode.LogOutputChannel;
  readonly refresh: () => Promise<void>;
}

/** Imports an MLflow store with a cancellable progress notification; the report goes to the log and a message. */
export async function importMlflowStore(deps: Deps, source: string): Promise<MlflowImportReport | undefined> {
  requireTrusted();
  const store = await deps.workspaceStore.get({ create: true });
  if (!store) throw new Error('open a folder first: the import goes into its mloop store');
  const [{ importMlflow }, { registryActor }] = await Promise.all([import('../../core/mlflow/importStore'), import('../../core/registry/actor')]);
  const folder = deps.workspaceStore.folder?.uri.fsPath;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `mloop: importing ${source}`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const subscription = token.onCancellationRequested(() => controller.abort());
      let lastPercent = 0;
      try {
        const report = await importMlflow(store, {
          source,
          ...(folder ? { cwd: folder } : {}),
          signal: controller.signal,
          actor: registryActor(folder ?? process.cwd()),
          onProgress: (p) => {
            // runs are the long part: they fill 5–95 % of the bar
            const percent = p.phase === 'experiments' ? 5 : p.phase === 'runs' ? 5 + Math.floor((p.done / Math.max(1, p.total)) * 90) : 100;
            progress.report({ message: `${p.phase} ${p.done}/${p.total}`, increment: Math.max(0, percent - lastPercent) });
            lastPercent = Math.max(lastPercent, percent);
          },
        });
        deps.log.info(`imported ${report.source.location}: ${JSON.stringify({ found: report.found, written: report.written })}`);
        for (const w of report.warnings) deps.log.warn(`import: ${w}`);
        for (const n of report.notImported) deps.log.info(`import: not imported: ${n}`);
        deps.workspaceStore.fire();
        return report;
      } catch (error) {
        if (controller.signal.aborted) {
          deps.workspaceStore.fire();
          void vscode.window.showWarningMessage('mloop: import cancelled. The runs imported so far are complete; import again to continue.');
          return undefined;
        }
        throw error;
      } finally {
        subscription.dispose();
      }
    },
  );
}

export function registerMlflowCommands(deps: Deps): vscode.Disposable[] {
  const context = new CommandContext(deps);
  return [
    vscode.commands.registerCommand('mloop.project.importMlflow', async (source?: string) => {
      let chosen = source;
      if (!chosen) {
        const picked = await vscode.window.showOpenDialog({
          canSelectFiles: true,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: 'Import',
          title: 'mloop: Import an MLflow store (mlflow.db, or an mlruns folder)',
          defaultUri: deps.workspaceStore.folder?.uri,
        });
        chosen = picked?.[0]?.fsPath;
      }
      if (!chosen) return undefined;
      try {
        const report = await importMlflowStore(deps, chosen);
        if (report) {
          const w = report.written;
          const more = report.warnings.length ? ` ${report.warnings.length} warning(s) in the mloop log.` : '';
          void vscode.window.showInformationMessage(
            `mloop: imported ${report.found.runs} runs (${w.runsNew} new, ${w.runsUpdated} updated, ${w.runsUnchanged} unchanged), ${report.found.metricPoints} metric points, ${report.found.modelVersions} model versions.${more}`,
          );
        }
        return report;
      } catch (error) {
        return context.reportError('import', error);
      }
    }),
    vscode.commands.registerCommand('mloop.backend.setToken', async () => {
      const uri = deps.backends.trackingUri;
      if (!uri) {
        void vscode.window
          .showErrorMessage('mloop: set mloop.mlflow.trackingUri first; the token is kept for that server only.', 'Open Settings')
          .then((a) => a && vscode.commands.executeCommand('workbench.action.openSettings', 'mloop.mlflow'));
        return;
      }
      const token = await vscode.window.showInputBox({
        title: `MLflow token for ${uri}`,
        prompt: 'Kept in VS Code SecretStorage, sent as a Bearer token. Leave empty to remove it.',
        password: true,
        ignoreFocusOut: true,
      });
      if (token === undefined) return;
      await deps.backends.setToken(token || undefined);
      void vscode.window.showInformationMessage(token ? `mloop: token saved for ${uri}` : `mloop: token removed for ${uri}`);
      await deps.refresh();
    }),
  ];
}
