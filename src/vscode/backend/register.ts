import * as vscode from 'vscode';
import type { ExtensionServices } from '../base/services';
import type { BackendService } from './backendService';
import { registerMlflowCommands } from './commands';

/** The MLflow server backend: its commands, runs launched here logging to it, and the views re-read every 15 s. */
export function registerBackend(services: ExtensionServices): void {
  const { context, log, workspaceStore, projectConfig, backends, tracking, views, refresh } = services;
  context.subscriptions.push(
    ...registerMlflowCommands({ backends, workspaceStore, projectConfig, log, refresh }),
    tracking.useRemote(
      async () => (backends.kind === 'mlflow' && vscode.workspace.isTrusted ? (await backends.remote())?.tracking : undefined),
      backends.onDidChange,
    ),
    pollRemoteBackend(backends, () => {
      views.get('mloop.runs')?.refresh();
      views.get('mloop.models')?.refresh();
    }),
  );
}

/** A tracking server has no file to watch: with backend = mlflow the Runs and Models views re-read it every 15 s. */
function pollRemoteBackend(backends: BackendService, refresh: () => void): vscode.Disposable {
  const timer = setInterval(() => {
    if (backends.kind === 'mlflow') refresh();
  }, 15_000);
  return new vscode.Disposable(() => clearInterval(timer));
}
