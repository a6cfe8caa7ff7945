import * as vscode from 'vscode';
import { storeCounts } from '../core/store/status';
import type { WorkspaceStore } from './workspaceStore';

/** "mloop: 12 runs, 1 running" — visible only once a store exists; click to focus the Runs view. */
export function createStatusBar(workspaceStore: WorkspaceStore): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('mloop.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'mloop';
  item.command = 'mloop.runs.focus';
  const update = async (): Promise<void> => {
    try {
      const store = await workspaceStore.get();
      if (!store) return item.hide();
      const c = storeCounts(store);
      item.text = c.runningRuns > 0 ? `$(sync~spin) mloop: ${c.runningRuns} running` : `$(beaker) mloop: ${c.runs} run${c.runs === 1 ? '' : 's'}`;
      item.tooltip = `${c.runs} runs · ${c.models} models · ${c.deployments} deployments — click to show Runs`;
      item.show();
    } catch {
      item.text = '$(warning) mloop';
      item.tooltip = workspaceStore.error?.message;
      item.show();
    }
  };
  const subscription = workspaceStore.onDidChange(() => void update());
  void update();
  return vscode.Disposable.from(item, subscription);
}
