import * as vscode from 'vscode';
import { executeCommand } from '../base/commands';
import type { ExtensionServices } from '../base/services';
import { createStatusBar } from '../base/statusBar';
import { registerProjectCommands } from './commands';
import { registerConfigAssist } from './configAssist';
import { afterActivation, registerAfterActivation } from '../base/afterActivation';

/** Initialize / open the project, store status, mloop.yaml completion, and the `mloop.hasConfig` context key. */
export function registerProject(services: ExtensionServices): void {
  const { context, workspaceStore, commands, refresh } = services;
  const updateContext = (): void => void executeCommand('setContext', 'mloop.hasConfig', workspaceStore.hasConfig());
  context.subscriptions.push(
    workspaceStore.onDidChange(updateContext),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void refresh()),
    ...registerProjectCommands({ commands, refresh }),
    registerAfterActivation(registerConfigAssist),
    createStatusBar(workspaceStore),
    afterActivation(updateContext), // the welcome views wait for it; a tick later is soon enough
  );
}
