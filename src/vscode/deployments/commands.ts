import * as vscode from 'vscode';
import { admissionRefusal, type DeployContext } from '../../core/deploy/deploy';
import { DeploymentRepository } from '../../core/store/deployments';
import { ModelRepository } from '../../core/store/models';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { ModelsNode, RemoteModelsNode } from '../models/tree';
import type { BackendService } from '../backend/backendService';
import { editorTeamContext, pickServerVersion, pullServerVersionForEditor } from '../backend/serverVersions';
import type { TeamContext } from '../../core/governance/teamApprovals';
import { BackendUnreachableError } from '../../core/backends/backend';
import type { TrackingService } from '../runs/trackingService';
import { registerDeployTaskType } from './deployTask';
import { registerPublishCommand, registerRetrainCommand } from './retrainCommand';
import { registerShadowCommands } from './shadowCommands';
import { registerAbCommands } from './abCommands';
import { runTaskAndAnnounce, type DeployCommandResult } from './taskOutcome';
import { ApprovalRequiredError, listRequests } from '../../core/governance/approvals';
import { announceApprovalRequest } from '../audit/requestNotice';
import { chooseTarget, deployContext, pickTarget, pickVersion, targetOf, type DeployArgument, type TargetInput } from './targets';
import type { DeploymentsNode } from './tree';

/** Deploy Version…, Retrain Model…, the shadow commands, and the Deployments view's Roll Back, Check Health, Open Logs, Stop, Reveal Lineage. */
export function registerDeployCommands(deps: { commands: CommandContext; tracking: TrackingService; backends: BackendService }): vscode.Disposable[] {
  const { commands } = deps;
  const { workspaceStore, log } = commands;

  const deploy = (input?: ModelsNode | RemoteModelsNode | DeployArgument): Promise<DeployCommandResult | undefined> =>
    commands.guard('deploy', async () => {
      let ctx = await deployContext(commands);
      // the MLflow backend: the version is the server's (copied here first), its approvals are requested on the server
      const team = await editorTeamContext(deps.backends, ctx.store, ctx.projectRoot);
      if (team) ctx = { ...ctx, actor: team.actor, team };
      const version = team
        ? await deps.backends.use((backend) => pickServerVersion(backend, input, 'mloop: Deploy Version… (team server)'))
        : await pickVersion(ctx, input as ModelsNode | DeployArgument | undefined);
      if (!version) return undefined;
      const target = await pickTarget(ctx, input && 'target' in input ? input.target : undefined);
      if (!target) return undefined;
      if (team) await pullServerVersionForEditor(deps.backends, ctx, version, log);
      const { deployVersion } = await import('../../core/deploy/deploy');
      let strategy = input && 'strategy' in input ? input.strategy : undefined;
      const spec = ctx.config.targets?.[target];
      const serving = new DeploymentRepository(ctx.store).current(target);
      // from the palette or a tree (no target given in code): offer a shadow where the target can run one
      const interactive = !(input && 'target' in input && input.target);
      if (interactive && !strategy && spec?.serve && spec.route && spec.shadow_log && serving && spec.strategy !== 'shadow') {
        const choice = await vscode.window.showQuickPick(
          [
            { label: `Deploy (${spec.strategy.replace('_', '/')})`, description: `replaces ${serving.modelName} v${serving.version}`, strategy: undefined },
            {
              label: 'Shadow',
              description: `beside ${serving.modelName} v${serving.version} on mirrored traffic; answers stay with v${serving.version}`,
              strategy: 'shadow' as const,
            },
          ],
          { title: `mloop: deploy ${version.modelName} v${version.version} to ${target} how?`, ignoreFocusOut: true },
        );
        if (!choice) return undefined;
        strategy = choice.strategy;
      }
      let override = input && 'override' in input ? input.override : undefined;
      if (override === undefined) {
        const refusal = gateRefusal(ctx, { ...version, target });
        if (refusal) {
          // the same path as `mloop deploy --override`: a reason, audited with the deployment
          const choice = await vscode.window.showWarningMessage(
            `mloop: ${refusal.replace(/ Deploy it anyway with --override <reason> \(audited\)$/, '')}`,
            { modal: true, detail: 'Deploying it anyway needs a reason, which is recorded in the audit log (deploy.override).' },
            'Deploy Anyway…',
          );
          if (choice !== 'Deploy Anyway…') return undefined;
          override = await vscode.window.showInputBox({
            title: `Deploy ${version.modelName} v${version.version} to ${target} without a passed gate`,
            prompt: 'Why? (recorded in the audit log)',
            ignoreFocusOut: true,
            validateInput: (v) => (v.trim() ? undefined : 'a reason is required'),
          });
          if (!override?.trim()) return undefined;
        }
      }
      // a protected target: an approved request for exactly this deployment, not used yet, lets it through (once)
      const approved = !spec?.protected
        ? undefined
        : team
          ? await unusedTeamApproval(team, { ...version, target })
          : listRequests(ctx.store, { status: 'approved' }).find(
              (r) => r.kind === 'deploy' && r.modelName === version.modelName && r.version === version.version && r.subject === target && r.executedAt === null,
            );
      try {
        return await runTaskAndAnnounce(
          commands,
          { action: 'deploy', target, model: version.modelName, version: version.version, ...(strategy ? { strategy } : {}) },
          `mloop: deploying ${version.modelName} v${version.version} to ${target}${strategy === 'shadow' ? ' as a shadow' : ''}`,
          (signal, report) =>
            deployVersion(ctx, {
              ...version,
              target,
              ...(strategy ? { strategy } : {}),
              ...(override ? { override } : {}),
              ...(approved ? { approvedRequestId: approved.requestId } : {}),
              signal,
              onProgress: report,
            }),
        );
      } catch (error) {
        if (!(error instanceof ApprovalRequiredError)) throw error;
        workspaceStore.fire();
        void announceApprovalRequest(error, log);
        return undefined;
      }
    });

  /** An approved team request for exactly this deployment that no deployment has used yet (the server's `used/<id>` claim). */
  const unusedTeamApproval = async (
    team: TeamContext,
    wanted: { modelName: string; version: number; target: string },
  ): Promise<{ requestId: string } | undefined> =>
    deps.backends
      .use(async () => {
        if (team.unreachable) return undefined;
        const { listTeamRequests } = await import('../../core/governance/teamApprovals');
        for (const r of await listTeamRequests(team.ledger, { status: 'approved' }))
          if (r.kind === 'deploy' && r.modelName === wanted.modelName && r.version === wanted.version && r.subject === wanted.target)
            if (!(await team.ledger.claimed(`used/${r.requestId}`))) return { requestId: r.requestId };
        return undefined;
      })
      .catch((error: unknown) => {
        // the server is down: no approval can be read, so the deploy asks for one, which waits in the store
        if (error instanceof BackendUnreachableError) return undefined;
        throw error;
      });

  /** The gate's refusal of a version on a target, which an override lifts (undefined: admitted, or refused for another reason deploy reports). */
  const gateRefusal = (ctx: DeployContext, options: { modelName: string; version: number; target: string }): string | undefined => {
    const spec = ctx.config.targets?.[options.target];
    const model = new ModelRepository(ctx.store).byName(options.modelName);
    const version = model && new ModelRepository(ctx.store).version(model.modelId, options.version);
    if (!spec || !version) return undefined;
    const refusal = admissionRefusal(ctx, spec, options, version);
    return refusal && !admissionRefusal(ctx, spec, { ...options, override: 'lifted' }, version) ? refusal : undefined;
  };

  /** A target that serves something: the given one, the only one, or a pick. */
  const servingTarget = (input: TargetInput, title: string): ReturnType<typeof chooseTarget> =>
    chooseTarget(commands, input, title, {
      filter: (ctx, target) => Boolean(new DeploymentRepository(ctx.store).current(target)),
      none: 'nothing is deployed yet',
    });

  return [
    registerDeployTaskType(),
    ...registerShadowCommands(commands),
    ...registerAbCommands(commands),
    registerRetrainCommand(deps),
    registerPublishCommand(deps),
    registerCommand('mloop.deployments.deploy', deploy),
    registerCommand('mloop.deployments.revealLineage', (input?: TargetInput) =>
      commands.guard('reveal lineage', async () => {
        const repo = new DeploymentRepository(await commands.requireStore());
        const target = targetOf(input);
        const deployment = input && 'kind' in input && input.kind === 'deployment' ? repo.get(input.deploymentId) : target ? repo.current(target) : undefined;
        if (!deployment) throw new Error(target ? `nothing is deployed to target "${target}"` : 'pick a target or a deployment in the Deployments view');
        return await executeCommand('mloop.lineage.show', `${deployment.modelName}@${deployment.version}`);
      }),
    ),
    registerCommand('mloop.deployments.rollback', (input?: TargetInput) =>
      commands.guard('roll back', async () => {
        const chosen = await servingTarget(input, 'mloop: roll back which target?');
        if (!chosen) return undefined;
        const given = input && 'reason' in input ? input.reason : undefined;
        const reason =
          given ??
          (await vscode.window.showInputBox({ title: `Roll back ${chosen.target}`, prompt: 'Why? (recorded in the audit log)', ignoreFocusOut: true }));
        if (reason === undefined) return undefined;
        const { rollbackDeployment } = await import('../../core/deploy/deploy');
        return await runTaskAndAnnounce(commands, { action: 'rollback', target: chosen.target }, `mloop: rolling back ${chosen.target}`, (signal, report) =>
          rollbackDeployment(chosen.ctx, { target: chosen.target, reason: reason.trim() || 'manual rollback', signal, onProgress: report }),
        );
      }),
    ),
    registerCommand('mloop.deployments.checkHealth', (input?: TargetInput) =>
      commands.guard('check health', async () => {
        const chosen = await servingTarget(input, 'mloop: check which target?');
        if (!chosen) return undefined;
        const { checkService, serviceSummary } = await import('../../core/monitoring/serviceHealth');
        const report = await checkService(chosen.ctx, chosen.target, { onProgress: (m) => log.info(m) });
        workspaceStore.fire();
        if (!report) throw new Error(`nothing is deployed to target "${chosen.target}"`);
        const text = `${chosen.target}: ${serviceSummary(report)} · ${report.detail}${report.alerts.length ? ` · ${report.alerts.map((a) => a.message).join(' · ')}` : ''}`;
        log.info(text);
        if (report.up && report.alerts.length === 0) void vscode.window.showInformationMessage(`mloop: ${text}`);
        else
          void vscode.window.showWarningMessage(`mloop: ${text}`, 'Restart', 'Roll Back').then((action) => {
            if (action === 'Restart') void executeCommand('mloop.deployments.restart', { target: chosen.target });
            if (action === 'Roll Back') void executeCommand('mloop.deployments.rollback', { target: chosen.target });
          });
        return { ok: report.up, detail: report.detail, report };
      }),
    ),
    registerCommand('mloop.deployments.restart', (input?: TargetInput) =>
      commands.guard('restart', async () => {
        const chosen = await servingTarget(input, 'mloop: restart which target?');
        if (!chosen) return undefined;
        const given = input && 'reason' in input ? input.reason : undefined;
        const { restartTarget } = await import('../../core/deploy/deploy');
        return await runTaskAndAnnounce(commands, { action: 'restart', target: chosen.target }, `mloop: restarting ${chosen.target}`, (signal, report) =>
          restartTarget(chosen.ctx, { target: chosen.target, reason: given ?? 'restarted from the editor', signal, onProgress: report }),
        );
      }),
    ),
    registerCommand('mloop.deployments.openLogs', (input?: DeploymentsNode | { readonly target: string }) =>
      commands.guard('open logs', async () => {
        const store = await workspaceStore.get();
        if (!store) return;
        const repo = new DeploymentRepository(store);
        if (input && 'kind' in input && input.kind === 'serverDeployment')
          return void vscode.window.showInformationMessage("mloop: this deployment runs in a teammate's workspace; its log is on their machine");
        const deployment = input && 'kind' in input && input.kind !== 'target' ? repo.get(input.deploymentId) : input ? repo.current(input.target) : undefined;
        const logPath = input && 'kind' in input && input.kind === 'replica' ? input.logPath : deployment?.health?.process?.logPath;
        if (!logPath) return void vscode.window.showInformationMessage('mloop: this deployment has no service log (its command deploys elsewhere)');
        await vscode.window.showTextDocument(vscode.Uri.file(logPath), { preview: true });
      }),
    ),
    registerCommand('mloop.deployments.stop', (input?: TargetInput) =>
      commands.guard('stop', async () => {
        const chosen = await servingTarget(input, 'mloop: stop which target?');
        if (!chosen) return undefined;
        const { stopTarget } = await import('../../core/deploy/deploy');
        const stopped = await stopTarget(chosen.ctx, { target: chosen.target, reason: 'stopped from the Deployments view' });
        workspaceStore.fire();
        if (stopped) log.info(`stopped ${stopped.modelName} v${stopped.version} on ${chosen.target}`);
        return stopped;
      }),
    ),
  ];
}
