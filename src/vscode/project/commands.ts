import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_FILE, initProject } from '../../core/project/init';
import { storeCounts } from '../../core/store/status';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';

/** Commands about the project itself: create it, open its config, show what the store holds. */
export function registerProjectCommands(options: { commands: CommandContext; refresh: () => Promise<void> }): vscode.Disposable[] {
  const { commands, refresh } = options;
  const { workspaceStore, log } = commands;

  const pickFolder = async (): Promise<vscode.WorkspaceFolder | undefined> => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 0) {
      const action = await vscode.window.showErrorMessage('mloop needs a folder: open the folder of your ML project first.', 'Open Folder…');
      if (action) await executeCommand('workbench.action.files.openFolder');
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
      await executeCommand('setContext', 'mloop.hasConfig', true);
      await vscode.window.showTextDocument(vscode.Uri.file(result.configPath));
      await refresh();
      return result.configPath;
    } catch (error) {
      return commands.reportError(`initialize ${folder.name}`, error);
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
    if (action) await executeCommand('mloop.project.init');
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
      commands.reportError('show status', error);
    }
  };

  const revealStore = async (): Promise<void> => {
    const path = workspaceStore.path();
    if (!path || !existsSync(path)) {
      void vscode.window.showInformationMessage('mloop: no store in this folder yet. Run "mloop: Initialize Project" to create one.');
      return;
    }
    await executeCommand('revealInExplorer', vscode.Uri.file(path));
  };

  return [
    registerCommand('mloop.project.init', initProjectCommand),
    registerCommand('mloop.project.openConfig', openConfig),
    registerCommand('mloop.project.showStatus', showStatus),
    registerCommand('mloop.project.revealStore', revealStore),
    registerCommand('mloop.project.refresh', refresh),
    registerCommand('mloop.project.showLog', () => log.show()),
  ];
}
