import * as vscode from 'vscode';
import { defaultTargetName } from '../../core/deploy/deploy';
import { executeCommand, registerCommand } from '../base/commands';
import { addView, type ExtensionServices } from '../base/services';
import { createDeploymentStatusBar } from '../base/statusBar';
import { registerDeployCommands } from './commands';
import { openRolloutPanel, type RolloutPanelDeps } from './rolloutPanel';
import { ServiceHealthMonitor } from './serviceHealth';
import { targetOf, type TargetInput } from './targets';
import { TeamDeploymentRows } from './teamRows';
import { createDeploymentsTreeModel } from './tree';

/** The Deployments view, its status bar item, scheduled service health checks, deploy/rollback/restart/shadow/retrain commands, the Rollout panel. */
export function registerDeployments(services: ExtensionServices): { rolloutPanelDeps: RolloutPanelDeps } {
  const { context, workspaceStore, projectConfig, commands, tracking, log, panelDeps } = services;
  const team = new TeamDeploymentRows(services.backends, workspaceStore, log);
  const tree = addView(
    services,
    'mloop.deployments',
    createDeploymentsTreeModel({
      targets: () => Object.keys(projectConfig.current?.targets ?? {}),
      replicas: (target) => projectConfig.current?.targets?.[target]?.replicas,
      team: () => ({ rows: team.current({ rereadAfterMs: 5_000 }), location: team.location }),
    }),
  );
  const rolloutPanelDeps: RolloutPanelDeps = {
    ...panelDeps,
    project: () => {
      const config = projectConfig.current;
      const projectRoot = projectConfig.projectRoot;
      return config && projectRoot ? { config, projectRoot } : undefined;
    },
    promote: async (target, kind) =>
      void (await executeCommand(kind === 'winner' ? 'mloop.deployments.promoteWinner' : 'mloop.deployments.promoteShadow', { target })),
    rollback: async (target) => void (await executeCommand('mloop.deployments.rollback', { target })),
    stop: async (target, kind) => void (await executeCommand(kind === 'ab' ? 'mloop.deployments.stopAbTest' : 'mloop.deployments.stopShadow', { target })),
    team: {
      current: () => ({ rows: team.current({ rereadAfterMs: 5_000 }), location: team.location, problem: team.problem }),
      onDidChange: (listener) => team.onDidChange(listener),
      live: (writer, target) => team.live(writer, target),
    },
  };
  context.subscriptions.push(
    projectConfig.onDidChange(() => tree.refresh()),
    team,
    team.onDidChange(() => tree.refresh()),
    ...registerDeployCommands({ commands, tracking, backends: services.backends }),
    registerCommand('mloop.deployments.openRollout', (input?: TargetInput) =>
      commands.guard('open rollout', async () => {
        // reading needs no trust: the given target, the only one, or a pick of mloop.yaml's
        const names = Object.keys(commands.requireProject({ reread: false }).config.targets ?? {});
        if (!targetOf(input) && names.length === 0) throw new Error('mloop.yaml declares no targets: add one under targets: (see docs/deploy.md)');
        const target =
          targetOf(input) ??
          (names.length === 1 ? names[0] : await vscode.window.showQuickPick(names, { title: 'mloop: the rollout of which target?', ignoreFocusOut: true }));
        // a teammate's deployment row (Deployments view, from the server): their rollout of that target, read-only
        const writer = input && typeof input === 'object' && 'writer' in input && typeof input.writer === 'string' ? input.writer : undefined;
        return target ? openRolloutPanel(rolloutPanelDeps, target, writer) : undefined;
      }),
    ),
    createDeploymentStatusBar(workspaceStore, () => defaultTargetName(projectConfig.current), projectConfig.onDidChange),
    new ServiceHealthMonitor({ workspaceStore, projectConfig, log }),
  );
  return { rolloutPanelDeps };
}
