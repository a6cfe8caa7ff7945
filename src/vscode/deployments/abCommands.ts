import * as vscode from 'vscode';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import { runTaskAndAnnounce } from './taskOutcome';
import { chooseTarget, type TargetInput } from './targets';

/** A target (a tree row or its name) and, from a script or test, the override reason for a decision other than ship. */
export type PromoteWinnerInput = TargetInput | { readonly target: string; readonly override?: string };

/** From a script or test: what Start A/B Test… would otherwise ask. */
export interface StartAbTestArgument {
  readonly target: string;
  readonly kind: 'ab' | 'aa' | 'bandit';
  /** The challenger (ignored by an A/A test, which runs the serving version in both arms). */
  readonly modelName?: string;
  readonly version?: number;
  /** The challenger's percent of the traffic (default 50). */
  readonly split?: number;
  readonly reason?: string;
}

const KINDS = [
  { mode: 'ab', label: 'A/B test', detail: 'A challenger gets a share of the traffic; an always-valid sequential test decides ship / keep / continue.' },
  { mode: 'aa', label: 'A/A test', detail: 'The serving version in both arms: a check of the setup (any decision but continue is a false positive).' },
  {
    mode: 'bandit',
    label: 'Bandit',
    detail: 'Thompson sampling moves the split towards the better arm from binary rewards; each arm keeps 5% of the traffic.',
  },
] as const;

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
    registerCommand('mloop.deployments.startAbTest', (input?: TargetInput | StartAbTestArgument) =>
      commands.guard('start A/B test', async () => {
        const given = input && 'kind' in input && typeof input.kind === 'string' ? (input as StartAbTestArgument) : undefined;
        const { GatewayRepository } = await import('../../core/store/gatewayRoutes');
        const { DeploymentRepository } = await import('../../core/store/deployments');
        const chosen = await chooseTarget(commands, given ? { target: given.target } : (input as TargetInput), 'mloop: start an A/B test on which target?', {
          filter: (ctx, target) => ctx.config.targets?.[target]?.gateway === true && new DeploymentRepository(ctx.store).current(target) !== undefined,
          none: 'an A/B test needs a target with gateway: true that serves a version (mloop.yaml targets.<name>.gateway; deploy the champion there first)',
        });
        if (!chosen) return undefined;
        const { ctx, target } = chosen;
        const running = new GatewayRepository(ctx.store).get(target)?.strategy;
        if (running === 'ab' || running === 'bandit') throw new Error(`an A/B test already runs on ${target}: stop it first (mloop: Stop A/B Test)`);
        const serving = new DeploymentRepository(ctx.store).current(target);
        if (!serving) throw new Error(`nothing serves on ${target}: deploy the champion first`);
        const kind =
          given?.kind ??
          (
            await vscode.window.showQuickPick(
              KINDS.map((k) => ({ ...k })),
              { title: `mloop: what runs against ${serving.modelName} v${serving.version} on ${target}?`, ignoreFocusOut: true },
            )
          )?.mode;
        if (!kind) return undefined;
        let challenger: { modelName: string; version: number } | undefined;
        if (kind === 'aa') challenger = { modelName: serving.modelName, version: serving.version };
        else if (given?.modelName && given.version !== undefined) challenger = { modelName: given.modelName, version: given.version };
        else {
          const { ModelRepository } = await import('../../core/store/models');
          const repo = new ModelRepository(ctx.store);
          const model = repo.byName(serving.modelName);
          const items = (model ? repo.versions(model.modelId) : [])
            .filter((v) => v.version !== serving.version)
            .map((v) => ({
              label: `${serving.modelName} v${v.version}`,
              description: [v.aliases.map((a) => `@${a}`).join(' '), v.gatePassed === null ? 'gate not evaluated' : v.gatePassed ? 'gate ✓' : 'gate ✗']
                .filter(Boolean)
                .join(' · '),
              version: v.version,
              rank: v.aliases.includes('challenger') ? 0 : 1,
            }))
            .sort((a, b) => a.rank - b.rank || b.version - a.version);
          if (items.length === 0)
            throw new Error(`${serving.modelName} has no other version than v${serving.version}: retrain a challenger first (or run an A/A test)`);
          const picked = await vscode.window.showQuickPick(items, {
            title: `mloop: challenger of ${serving.modelName} v${serving.version}`,
            ignoreFocusOut: true,
          });
          if (!picked) return undefined;
          challenger = { modelName: serving.modelName, version: picked.version };
        }
        // from a script: its split, 50 by default; from the palette: asked
        let split = given ? (given.split ?? 50) : undefined;
        if (split === undefined) {
          const typed = await vscode.window.showInputBox({
            title: `mloop: the challenger's share of the traffic on ${target}`,
            prompt: 'Percent of the requests routed to the challenger (sticky by the x-mloop-key header when a request carries it)',
            value: '50',
            ignoreFocusOut: true,
            validateInput: (v) => (/^\d+(\.\d+)?$/.test(v.trim()) && Number(v) > 0 && Number(v) < 100 ? undefined : 'a number between 0 and 100, e.g. 50'),
          });
          if (typed === undefined) return undefined;
          split = Number(typed);
        }
        const { startAbTest } = await import('../../core/gateway/abRollout');
        const label = KINDS.find((k) => k.mode === kind)!.label;
        const report = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `mloop: ${label} on ${target}`, cancellable: true },
          async (progress, token) => {
            const abort = new AbortController();
            const cancel = token.onCancellationRequested(() => abort.abort());
            try {
              return await startAbTest(ctx, {
                target,
                modelName: challenger.modelName,
                version: challenger.version,
                split: split!,
                ...(kind === 'aa' ? { aa: true } : {}),
                ...(kind === 'bandit' ? { bandit: true } : {}),
                reason: given?.reason ?? `started from the editor (${label})`,
                signal: abort.signal,
                onProgress: (message) => progress.report({ message }),
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        commands.workspaceStore.fire();
        const text = `${label} on ${target}: ${challenger.modelName} v${challenger.version} gets ${split}% of the traffic against v${serving.version}`;
        commands.log.info(text);
        void vscode.window
          .showInformationMessage(`mloop: ${text}. Send outcomes to POST /feedback {request_id, reward | label}.`, 'Open Rollout Panel')
          .then((a) => {
            if (a) void executeCommand('mloop.deployments.openRollout', { target });
          });
        return report;
      }),
    ),
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
