import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_FILE, initProject } from '../../core/project/init';
import { storeCounts } from '../../core/store/status';
import type { WorkspaceStore } from '../base/workspaceStore';

/** Commands about the project itself: create it, open its config, show what the store holds. */
export function registerProjectCommands(options: {
  workspaceStore: WorkspaceStore;
  log: vscode.LogOutputChannel;
  refresh: () => Promise<void>;
}): vscode.Disposable[] {
  const { workspaceStore, log, refresh } = options;

  const pickFolder = async (): Promise<vscode.WorkspaceFolder | undefined> => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 0) {
      const action = await vscode.window.showErrorMessage('mloop needs a folder: open the folder of your ML project first.', 'Open Folder…');
      if (action) await vscode.commands.executeCommand('workbench.action.files.openFolder');
      return undefined;
    }
    if (folders.length === 1) return folders[0];
    return vscode.window.showWorkspaceFolderPick({ placeHolder: 'Initialize mloop in which folder?' });
  };

  const initProjectCommand = async (): Promise<string | undefined> => {
    const folder = await pickFolder();
    if (!folder) return undefined;
    const root = folder.uri.fsPath;
    let force = false;
    if (existsSync(join(root, CONFIG_FILE))) {
      const choice = await vscode.window.showWarningMessage(
        `${CONFIG_FILE} already exists in ${folder.name}.`,
        { modal: true, detail: 'Keep it and only create the store, or replace it with the commented template?' },
        'Keep mine',
        'Replace',
      );
      if (!choice) return undefined;
      force = choice === 'Replace';
    }
    try {
      const result = initProject(root, { force, storePath: workspaceStore.path() });
      log.info(`initialized ${root}: ${result.configWritten ? 'wrote' : 'kept'} ${result.configPath}, store ${result.storePath}`);
      await vscode.commands.executeCommand('setContext', 'mloop.hasConfig', true);
      await vscode.window.showTextDocument(vscode.Uri.file(result.configPath));
      await refresh();
      return result.configPath;
    } catch (error) {
      log.error(`initialize project failed: ${(error as Error).message}`);
      void vscode.window.showErrorMessage(`mloop: could not initialize ${folder.name}: ${(error as Error).message}`, 'Show Log').then((a) => a && log.show());
      return undefined;
    }
  };

  const openConfig = async (): Promise<void> => {
    const folder = workspaceStore.folder;
    const path = folder && join(folder.uri.fsPath, CONFIG_FILE);
    if (path && existsSync(path)) {
      await vscode.window.showTextDocument(vscode.Uri.file(path));
      return;
    }
    const action = await vscode.window.showInformationMessage(`There is no ${CONFIG_FILE} in this folder yet.`, 'Initialize Project');
    if (action) await vscode.commands.executeCommand('mloop.project.init');
  };

  const showStatus = async (): Promise<void> => {
    try {
      const store = await workspaceStore.get();
      if (!store) {
        void vscode.window.showInformationMessage('mloop: no store in this folder yet. Run "mloop: Initialize Project" to create one.');
        return;
      }
      const c = storeCounts(store);
      const text = `${c.datasets} datasets (${c.datasetVersions} versions) · ${c.runs} runs (${c.runningRuns} running) · ${c.models} models (${c.modelVersions} versions) · ${c.deployments} deployments`;
      log.info(`status: ${text} — ${store.path}, schema ${store.schemaVersion}`);
      void vscode.window.showInformationMessage(`mloop: ${text}`);
    } catch (error) {
      void vscode.window.showErrorMessage(`mloop: ${(error as Error).message}`);
    }
  };

  const revealStore = async (): Promise<void> => {
    const path = workspaceStore.path();
    if (!path || !existsSync(path)) {
      void vscode.window.showInformationMessage('mloop: no store in this folder yet. Run "mloop: Initialize Project" to create one.');
      return;
    }
    await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(path));
  };

  return [
    vscode.commands.registerCommand('mloop.project.init', initProjectCommand),
    vscode.commands.registerCommand('mloop.project.openConfig', openConfig),
    vscode.commands.registerCommand('mloop.project.showStatus', showStatus),
    vscode.commands.registerCommand('mloop.project.revealStore', revealStore),
    vscode.commands.registerCommand('mloop.project.refresh', refresh),
    vscode.commands.registerCommand('mloop.project.showLog', () => log.show()),
  ];
}
