import * as vscode from 'vscode';
import { storeCounts } from '../../core/store/status';
import { afterActivation } from './afterActivation';
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
  // finding the store reads the settings: drawn just after activation, not during it
  return vscode.Disposable.from(item, subscription, afterActivation(update));
}

/** "$(cloud) local: weather-clf v2 ✓" — what serves in the default target; click to show Deployments. */
export function createDeploymentStatusBar(
  workspaceStore: WorkspaceStore,
  defaultTarget: () => string | undefined,
  onDidChangeConfig: vscode.Event<unknown>,
): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('mloop.deployment', vscode.StatusBarAlignment.Left, 49);
  item.name = 'mloop deployment';
  item.command = 'mloop.deployments.focus';
  const update = async (): Promise<void> => {
    const target = defaultTarget();
    try {
      const store = target ? await workspaceStore.get() : undefined;
      if (!store || !target) return item.hide();
      const { DeploymentRepository } = await import('../../core/store/deployments');
      const repo = new DeploymentRepository(store);
      const current = repo.current(target);
      const rolling = repo.history(target).find((d) => d.status === 'in_progress');
      const { isAlive } = await import('../../core/deploy/process');
      const pid = current?.health?.process?.pid;
      const down = current !== undefined && (current.status === 'unhealthy' || current.status === 'failed' || (pid !== undefined && !isAlive(pid)));
      if (rolling) item.text = `$(sync~spin) ${target}: v${rolling.version} ${rolling.trafficPercent}%`;
      else if (current) item.text = `$(${down ? 'error' : 'cloud'}) ${target}: ${current.modelName} v${current.version} ${down ? '✗ down' : '✓'}`;
      else item.text = `$(cloud) ${target}: nothing deployed`;
      item.backgroundColor = down && !rolling ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
      item.tooltip = current
        ? `${current.modelName} v${current.version} ${down ? 'is DOWN' : 'serves'} on ${target} (${current.strategy.replace('_', '/')}, ${current.status})${current.health?.lastCheck && down ? `: ${current.health.lastCheck.detail}` : ''}${current.health?.process?.url ? ` at ${current.health.process.url}` : ''} — click to show Deployments`
        : `nothing serves on ${target} yet — mloop: Deploy Version…`;
      item.show();
    } catch {
      item.hide();
    }
  };
  const subscriptions = [workspaceStore.onDidChange(() => void update()), onDidChangeConfig(() => void update())];
  // the default target needs mloop.yaml parsed: drawn just after activation, not during it
  return vscode.Disposable.from(item, ...subscriptions, afterActivation(update));
}
