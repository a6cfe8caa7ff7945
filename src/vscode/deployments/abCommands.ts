import * as vscode from 'vscode';
import type { CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import { runTaskAndAnnounce } from './taskOutcome';
import { chooseTarget, type TargetInput } from './targets';

/** A target (a tree row or its name) and, from a script or test, the override reason for a decision other than ship. */
export type PromoteWinnerInput = TargetInput | { readonly target: string; readonly override?: string };

/** Promote Winner: the challenger of a target's A/B test becomes @champion and is deployed, once the report says ship. Stop A/B Test. */
export function registerAbCommands(commands: CommandContext): vscode.Disposable[] {
  const abTarget = async (input: TargetInput, title: string): ReturnType<typeof chooseTarget> => {
    const { GatewayRepository } = await import('../../core/store/gatewayRoutes');
    return chooseTarget(commands, input, title, {
      filter: (ctx, target) => ['ab', 'bandit'].includes(new GatewayRepository(ctx.store).get(target)?.strategy ?? ''),
      none: 'no A/B test runs on any target (mloop ab <target> --start <model@challenger> starts one)',
    });
  };
  return [
    registerCommand('mloop.deployments.stopAbTest', (input?: TargetInput) =>
      commands.guard('stop A/B test', async () => {
        const chosen = await abTarget(input, 'mloop: stop the A/B test on which target?');
        if (!chosen) return undefined;
        const { stopAbTest } = await import('../../core/gateway/abRollout');
        const reason = input && 'reason' in input ? input.reason : undefined;
        const report = await stopAbTest(chosen.ctx, { target: chosen.target, reason: reason ?? 'stopped from the editor' });
        commands.workspaceStore.fire();
        commands.log.info(`stopped the A/B test on ${chosen.target}: ${report.decision.replace('_', ' ')} (${report.reason})`);
        return report;
      }),
    ),
    registerCommand('mloop.deployments.promoteWinner', (input?: PromoteWinnerInput) =>
      commands.guard('promote winner', async () => {
        const chosen = await abTarget(
          input && 'kind' in input ? input : input ? { target: input.target } : undefined,
          'mloop: promote the winner of which A/B test?',
        );
        if (!chosen) return undefined;
        const { abTargetReportLive, promoteAbWinner } = await import('../../core/gateway/abRollout');
        const report = await abTargetReportLive(chosen.ctx.store, chosen.target);
        const winner = report.arms[1]!;
        let override = input && 'override' in input ? input.override : undefined;
        if (report.decision !== 'ship' && override === undefined) {
          const choice = await vscode.window.showWarningMessage(
            `mloop: the A/B test on ${chosen.target} says ${report.decision.replace('_', ' ')} (${report.reason}), not ship.`,
            { modal: true, detail: `Promoting ${winner.modelName} v${winner.version} now needs a reason, which is audited.` },
            'Promote Anyway…',
          );
          if (choice !== 'Promote Anyway…') return undefined;
          override = await vscode.window.showInputBox({
            title: `Promote ${winner.modelName} v${winner.version} before the test decided`,
            prompt: 'Why? (recorded in the audit log)',
            ignoreFocusOut: true,
            validateInput: (v) => (v.trim() ? undefined : 'a reason is required'),
          });
          if (!override?.trim()) return undefined;
        }
        return runTaskAndAnnounce(
          commands,
          { action: 'deploy', target: chosen.target, model: winner.modelName, version: winner.version, strategy: 'blue_green' },
          `mloop: promoting ${winner.modelName} v${winner.version}, the winner on ${chosen.target}`,
          async (signal, progress) =>
            (await promoteAbWinner(chosen.ctx, { target: chosen.target, ...(override ? { override } : {}), signal, onProgress: progress })).outcome,
        );
      }),
    ),
  ];
}
