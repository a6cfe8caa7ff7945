import * as vscode from 'vscode';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import { runTaskAndAnnounce } from './taskOutcome';
import { chooseTarget, type TargetInput } from './targets';

/** Shadow Report, Promote Shadow and Stop Shadow: the shadow of a target (given, the only one, or a pick). */
export function registerShadowCommands(commands: CommandContext): vscode.Disposable[] {
  const { log, workspaceStore } = commands;

  const shadowTarget = async (input: TargetInput, title: string): ReturnType<typeof chooseTarget> => {
    const { activeShadow } = await import('../../core/deploy/shadow');
    return chooseTarget(commands, input, title, {
      filter: (ctx, target) => Boolean(activeShadow(ctx.store, target)),
      none: 'no shadow runs on any target (Deploy Version… with the shadow strategy starts one)',
    });
  };

  return [
    registerCommand('mloop.deployments.shadowReport', (input?: TargetInput) =>
      commands.guard('shadow report', async () => {
        const chosen = await shadowTarget(input, 'mloop: shadow report of which target?');
        if (!chosen) return undefined;
        const { shadowReport } = await import('../../core/deploy/shadow');
        const { deployment, report } = shadowReport(chosen.ctx, chosen.target);
        workspaceStore.fire();
        const text = `shadow ${deployment.modelName} v${deployment.version} on ${chosen.target} ${report.summary}`;
        log.info(text);
        void vscode.window.showInformationMessage(`mloop: ${text}`, 'Promote Shadow', 'Stop Shadow').then((action) => {
          if (action === 'Promote Shadow') void executeCommand('mloop.deployments.promoteShadow', { target: chosen.target });
          if (action === 'Stop Shadow') void executeCommand('mloop.deployments.stopShadow', { target: chosen.target });
        });
        return report;
      }),
    ),
    registerCommand('mloop.deployments.promoteShadow', (input?: TargetInput) =>
      commands.guard('promote shadow', async () => {
        const chosen = await shadowTarget(input, 'mloop: promote the shadow of which target?');
        if (!chosen) return undefined;
        const { promoteShadow } = await import('../../core/deploy/shadow');
        return runTaskAndAnnounce(
          commands,
          { action: 'promoteShadow', target: chosen.target },
          `mloop: promoting the shadow on ${chosen.target}`,
          (signal, report) => promoteShadow(chosen.ctx, { target: chosen.target, signal, onProgress: report }),
        );
      }),
    ),
    registerCommand('mloop.deployments.stopShadow', (input?: TargetInput) =>
      commands.guard('stop shadow', async () => {
        const chosen = await shadowTarget(input, 'mloop: stop the shadow of which target?');
        if (!chosen) return undefined;
        const { stopShadow } = await import('../../core/deploy/shadow');
        const reason = input && 'reason' in input ? input.reason : undefined;
        const { deployment, report } = await stopShadow(chosen.ctx, { target: chosen.target, reason: reason ?? 'stopped from the editor' });
        workspaceStore.fire();
        log.info(`stopped the shadow ${deployment.modelName} v${deployment.version} on ${chosen.target}: ${report.summary}`);
        return { deployment, report };
      }),
    ),
  ];
}
