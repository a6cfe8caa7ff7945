import { defaultTargetName } from '../../core/deploy/deploy';
import { addView, type ExtensionServices } from '../base/services';
import { createDeploymentStatusBar } from '../base/statusBar';
import { registerDeployCommands } from './commands';
import { ServiceHealthMonitor } from './serviceHealth';
import { createDeploymentsTreeModel } from './tree';

/** The Deployments view, its status bar item, scheduled service health checks, deploy/rollback/restart/shadow/retrain commands. */
export function registerDeployments(services: ExtensionServices): void {
  const { context, workspaceStore, projectConfig, commands, tracking, log } = services;
  const tree = addView(services, 'mloop.deployments', createDeploymentsTreeModel({ targets: () => Object.keys(projectConfig.current?.targets ?? {}) }));
  context.subscriptions.push(
    projectConfig.onDidChange(() => tree.refresh()),
    ...registerDeployCommands({ commands, tracking }),
    createDeploymentStatusBar(workspaceStore, () => defaultTargetName(projectConfig.current), projectConfig.onDidChange),
    new ServiceHealthMonitor({ workspaceStore, projectConfig, log }),
  );
}
