import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { defaultTargetName, type DeployContext, type DeployOutcome } from '../../core/deploy/deploy';
import { registryActor } from '../../core/registry/actor';
import type { RetrainOutcome } from '../../core/retrain/retrain';
import { DeploymentRepository } from '../../core/store/deployments';
import { ModelRepository } from '../../core/store/models';
import type { ProjectConfig } from '../base/projectConfig';
import { DEPLOY_TASK_TYPE, registerDeployTaskType, runDeploymentTask, type DeployTaskDefinition } from './deployTask';
import type { TrackingService } from '../runs/trackingService';
import type { DeploymentsNode } from './tree';
import type { ModelsNode } from '../models/tree';
import type { WorkspaceStore } from '../base/workspaceStore';

/** From code and tests: what the dialogs would otherwise ask. */
export interface DeployArgument {
  readonly modelName: string;
  readonly version: number;
  readonly target?: string;
  readonly strategy?: 'direct' | 'canary' | 'blue_green' | 'shadow';
}

/** What the deploy, rollback and promote commands return (tests read it): the outcome and the task's terminal lines. */
export type DeployCommandResult = DeployOutcome & { readonly task: { readonly name: string; readonly output: readonly string[] } };

export interface RetrainArgument {
  readonly modelName: string;
}

/** How the drift monitor hands over (RETRAIN_COMMAND): the drifted model and its report. */
export interface DriftRetrainArgument {
  readonly model: string | null;
  readonly driftReportId: number;
}

export type TargetInput = DeploymentsNode | { readonly target: string; readonly reason?: string } | undefined;

/** Retrain Model…, Deploy Version…, and the Deployments view's Roll Back, Check Health, Open Logs, Stop. */
export function registerDeployCommands(deps: {
  workspaceStore: WorkspaceStore;
  projectConfig: ProjectConfig;
  tracking: TrackingService;
  log: vscode.LogOutputChannel;
}): vscode.Disposable[] {
  const { workspaceStore, projectConfig, tracking, log } = deps;

  const reportError = (what: string, error: unknown): undefined => {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`${what}: ${message}`);
    void vscode.window.showErrorMessage(`mloop: ${message.split('\n')[0]}`, 'Show Log').then((a) => a && log.show());
    return undefined;
  };

  const context = async (): Promise<DeployContext> => {
    if (!vscode.workspace.isTrusted) throw new Error('mloop deploys and trains nothing in Restricted Mode. Trust this folder first.');
    const store = await workspaceStore.get({ create: true });
    if (!store) throw new Error('mloop needs an open folder with mloop.yaml');
    const config = projectConfig.current ?? projectConfig.reload();
    const root = projectConfig.projectRoot;
    if (!config || !root) throw new Error('mloop.yaml is missing or has errors (see the Problems panel)');
    return { store, artifactRoot: join(dirname(store.path), 'artifacts'), actor: registryActor(root), projectRoot: root, config, trusted: true };
  };

  /** Long work in a cancellable notification; progress lines also go to the log. */
  const withProgress = <T>(title: string, work: (signal: AbortSignal, report: (message: string) => void) => Promise<T>): Thenable<T> =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
      const controller = new AbortController();
      const subscription = token.onCancellationRequested(() => {
        log.info(`${title}: cancelled by the user`);
        controller.abort();
      });
      const report = (message: string): void => {
        log.info(message);
        progress.report({ message: message.split('\n')[0] });
        workspaceStore.fire();
      };
      return work(controller.signal, report).finally(() => {
        subscription.dispose();
        workspaceStore.fire();
      });
    });

  const pickTarget = async (ctx: DeployContext, given?: string): Promise<string | undefined> => {
    if (given) return given;
    const names = Object.keys(ctx.config.targets ?? {});
    if (names.length === 0) throw new Error('mloop.yaml declares no targets: add one under targets: (see examples/weather)');
    if (names.length === 1) return names[0];
    const deployments = new DeploymentRepository(ctx.store);
    const first = defaultTargetName(ctx.config);
    const items = names
      .sort((a, b) => (a === first ? -1 : b === first ? 1 : 0))
      .map((name) => {
        const current = deployments.current(name);
        return { label: name, description: `${ctx.config.targets![name]!.strategy.replace('_', '/')}${current ? ` · serving ${current.modelName} v${current.version}` : ' · nothing deployed'}` };
      });
    return (await vscode.window.showQuickPick(items, { title: 'mloop: deploy to which target?' }))?.label;
  };

  const pickVersion = async (ctx: DeployContext, input: ModelsNode | DeployArgument | undefined): Promise<{ modelName: string; version: number } | undefined> => {
    if (input && 'version' in input && typeof input.version === 'number') return { modelName: input.modelName, version: input.version };
    const repo = new ModelRepository(ctx.store);
    const models = input && 'modelName' in input ? repo.list().filter((m) => m.name === input.modelName) : repo.list();
    const items = models.flatMap((m) =>
      repo.versions(m.modelId).map((v) => ({
        label: `${m.name} v${v.version}`,
        description: [v.aliases.map((a) => `@${a}`).join(' '), v.gatePassed === null ? '' : v.gatePassed ? 'gate ✓' : 'gate ✗'].filter(Boolean).join(' · '),
        modelName: m.name,
        version: v.version,
        rank: v.aliases.includes('challenger') ? 0 : v.aliases.includes('champion') ? 1 : 2,
      })),
    );
    if (items.length === 0) throw new Error('no registered model versions yet: train a pipeline with a model: section first');
    items.sort((a, b) => a.rank - b.rank);
    return vscode.window.showQuickPick(items, { title: 'mloop: Deploy Version…' });
  };

  const describeOutcome = (o: DeployOutcome): string =>
    o.status === 'shadowing'
      ? `${o.deployment.modelName} v${o.deployment.version} runs as a shadow on ${o.deployment.target} (mirrored traffic, answers still from ${o.previous ? `v${o.previous.version}` : 'the serving version'}): ${o.shadow?.summary ?? ''}`
      : o.status === 'healthy'
      ? `${o.deployment.modelName} v${o.deployment.version} serves on ${o.deployment.target}${o.deployment.health?.process?.url ? ` at ${o.deployment.health.process.url}` : ''}`
      : `${o.deployment.modelName} v${o.deployment.version} on ${o.deployment.target} ${o.status === 'rolled_back' ? 'was rolled back' : 'failed'}: ${o.reason}`;

  const announce = (o: DeployOutcome): void => {
    const text = describeOutcome(o);
    if (o.status === 'shadowing') {
      log.info(text);
      const target = { target: o.deployment.target };
      void vscode.window.showInformationMessage(`mloop: ${text}`, 'Shadow Report', 'Promote Shadow', 'Stop Shadow').then((action) => {
        if (action === 'Shadow Report') void vscode.commands.executeCommand('mloop.deployments.shadowReport', target);
        if (action === 'Promote Shadow') void vscode.commands.executeCommand('mloop.deployments.promoteShadow', target);
        if (action === 'Stop Shadow') void vscode.commands.executeCommand('mloop.deployments.stopShadow', target);
      });
    } else if (o.status === 'healthy') {
      log.info(text);
      void vscode.window.showInformationMessage(`mloop: ${text}`);
    } else {
      log.warn(text);
      void vscode.window.showWarningMessage(`mloop: ${text}`, 'Show Log').then((a) => a && log.show());
    }
  };

  /**
   * Deployment work (deploy, roll back, promote a shadow) as a VS Code task (terminal, progress, cancel =
   * abort and roll back); refreshes the views as it goes, then announces the outcome.
   */
  const runTaskAndAnnounce = async (definition: Pick<DeployTaskDefinition, 'action' | 'target' | 'model' | 'version' | 'strategy'>, title: string, work: (signal: AbortSignal, report: (message: string) => void) => Promise<DeployOutcome>): Promise<DeployCommandResult> => {
    const { result, output } = await runDeploymentTask({
      definition: { type: DEPLOY_TASK_TYPE, ...definition },
      title,
      work,
      conclude: (o) => ({ ok: o.status === 'healthy' || o.status === 'shadowing', text: `${o.status === 'healthy' || o.status === 'shadowing' ? '✓' : '✗'} ${describeOutcome(o)}` }),
      log,
      onLine: () => workspaceStore.fire(),
    });
    workspaceStore.fire();
    announce(result);
    return { ...result, task: { name: title.replace(/^mloop: /, ''), output } };
  };

  const deploy = async (input?: ModelsNode | DeployArgument): Promise<DeployCommandResult | undefined> => {
    try {
      const ctx = await context();
      const version = await pickVersion(ctx, input);
      if (!version) return undefined;
      const target = await pickTarget(ctx, input && 'target' in input ? input.target : undefined);
      if (!target) return undefined;
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
            { label: 'Shadow', description: `beside ${serving.modelName} v${serving.version} on mirrored traffic; answers stay with v${serving.version}`, strategy: 'shadow' as const },
          ],
          { title: `mloop: deploy ${version.modelName} v${version.version} to ${target} how?` },
        );
        if (!choice) return undefined;
        strategy = choice.strategy;
      }
      return await runTaskAndAnnounce(
        { action: 'deploy', target, model: version.modelName, version: version.version, ...(strategy ? { strategy } : {}) },
        `mloop: deploying ${version.modelName} v${version.version} to ${target}${strategy === 'shadow' ? ' as a shadow' : ''}`,
        (signal, report) => deployVersion(ctx, { ...version, target, ...(strategy ? { strategy } : {}), signal, onProgress: report }),
      );
    } catch (error) {
      return reportError('deploy', error);
    }
  };

  const targetOf = (input: TargetInput): string | undefined => (input ? ('target' in input ? input.target : undefined) : undefined);

  const askTarget = async (input: TargetInput, title: string): Promise<{ ctx: DeployContext; target: string } | undefined> => {
    const ctx = await context();
    const given = targetOf(input);
    if (given) return { ctx, target: given };
    const serving = Object.keys(ctx.config.targets ?? {}).filter((t) => new DeploymentRepository(ctx.store).current(t));
    if (serving.length === 0) throw new Error('nothing is deployed yet');
    const target = serving.length === 1 ? serving[0] : await vscode.window.showQuickPick(serving, { title });
    return target ? { ctx, target } : undefined;
  };

  const retrain = async (given?: ModelsNode | RetrainArgument | DriftRetrainArgument): Promise<RetrainOutcome | undefined> => {
    const fromDrift = given && 'driftReportId' in given && typeof given.driftReportId === 'number' ? given : undefined;
    const input = fromDrift ? (fromDrift.model ? { modelName: fromDrift.model } : undefined) : (given as ModelsNode | RetrainArgument | undefined);
    try {
      const ctx = await context();
      const { defaultRetrainModel } = await import('../../core/retrain/recipe');
      const models = new ModelRepository(ctx.store).list();
      if (models.length === 0) throw new Error('no registered models yet: train a pipeline with a model: section first');
      const suggestion = defaultRetrainModel(ctx.store);
      let modelName = input && 'modelName' in input ? input.modelName : undefined;
      if (!modelName && models.length === 1) modelName = models[0]!.name;
      if (!modelName) {
        const items = models
          .map((m) => ({ label: m.name, description: suggestion?.modelName === m.name ? suggestion.why : undefined }))
          .sort((a, b) => (a.label === suggestion?.modelName ? -1 : b.label === suggestion?.modelName ? 1 : 0));
        modelName = (await vscode.window.showQuickPick(items, { title: 'mloop: Retrain Model…' }))?.label;
      }
      if (!modelName) return undefined;
      const driftReportId = fromDrift?.driftReportId ?? (suggestion?.modelName === modelName ? suggestion.driftReportId : undefined);
      const endpoint = await tracking.endpoint();
      const { retrainModel } = await import('../../core/retrain/retrain');
      const output = vscode.window.createOutputChannel(`mloop retrain ${modelName}`);
      const outcome = await withProgress(`mloop: retraining ${modelName}`, (signal, report) =>
        retrainModel(ctx, {
          config: ctx.config,
          projectRoot: ctx.projectRoot,
          modelName: modelName!,
          trusted: true,
          tracking: endpoint,
          ...(driftReportId !== undefined ? { driftReportId } : {}),
          signal,
          onProgress: report,
          onOutput: (text) => output.append(text),
          confirmUnchanged: async (message) => (await vscode.window.showWarningMessage(`mloop: ${message}. Retrain ${modelName} anyway?`, { modal: true, detail: 'The run would repeat that version: the same data, code and params.' }, 'Retrain Anyway')) === 'Retrain Anyway',
        }),
      ).then(
        (o) => o,
        (error: unknown) => {
          output.show(true);
          throw error;
        },
      );
      log.info(outcome.summary);
      // a copy of the champion is not offered for promotion
      void vscode.window.showInformationMessage(`mloop: ${outcome.summary}`, ...(outcome.challenger ? ['Promote', 'Compare', 'Deploy'] : ['Compare'])).then((action) => {
        const version = { modelName: modelName!, version: outcome.version.version };
        if (action === 'Promote') void vscode.commands.executeCommand('mloop.models.promote', version);
        if (action === 'Compare') void vscode.commands.executeCommand('mloop.models.compareWithChampion', version);
        if (action === 'Deploy') void vscode.commands.executeCommand('mloop.deployments.deploy', version);
      });
      return outcome;
    } catch (error) {
      return reportError('retrain', error);
    }
  };

  /** The target with a running shadow: the given one, or the only one, or a pick. */
  const shadowTarget = async (input: TargetInput, title: string): Promise<{ ctx: DeployContext; target: string } | undefined> => {
    const ctx = await context();
    const given = targetOf(input);
    if (given) return { ctx, target: given };
    const { activeShadow } = await import('../../core/deploy/shadow');
    const shadowed = Object.keys(ctx.config.targets ?? {}).filter((t) => activeShadow(ctx.store, t));
    if (shadowed.length === 0) throw new Error('no shadow runs on any target (Deploy Version… with the shadow strategy starts one)');
    const target = shadowed.length === 1 ? shadowed[0] : await vscode.window.showQuickPick(shadowed, { title });
    return target ? { ctx, target } : undefined;
  };

  return [
    registerDeployTaskType(),
    vscode.commands.registerCommand('mloop.deployments.shadowReport', async (input?: TargetInput) => {
      try {
        const chosen = await shadowTarget(input, 'mloop: shadow report of which target?');
        if (!chosen) return undefined;
        const { shadowReport } = await import('../../core/deploy/shadow');
        const { deployment, report } = shadowReport(chosen.ctx, chosen.target);
        workspaceStore.fire();
        const text = `shadow ${deployment.modelName} v${deployment.version} on ${chosen.target} ${report.summary}`;
        log.info(text);
        void vscode.window.showInformationMessage(`mloop: ${text}`, 'Promote Shadow', 'Stop Shadow').then((action) => {
          if (action === 'Promote Shadow') void vscode.commands.executeCommand('mloop.deployments.promoteShadow', { target: chosen.target });
          if (action === 'Stop Shadow') void vscode.commands.executeCommand('mloop.deployments.stopShadow', { target: chosen.target });
        });
        return report;
      } catch (error) {
        return reportError('shadow report', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.promoteShadow', async (input?: TargetInput) => {
      try {
        const chosen = await shadowTarget(input, 'mloop: promote the shadow of which target?');
        if (!chosen) return undefined;
        const { promoteShadow } = await import('../../core/deploy/shadow');
        return await runTaskAndAnnounce({ action: 'promoteShadow', target: chosen.target }, `mloop: promoting the shadow on ${chosen.target}`, (signal, report) =>
          promoteShadow(chosen.ctx, { target: chosen.target, signal, onProgress: report }),
        );
      } catch (error) {
        return reportError('promote shadow', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.stopShadow', async (input?: TargetInput) => {
      try {
        const chosen = await shadowTarget(input, 'mloop: stop the shadow of which target?');
        if (!chosen) return undefined;
        const { stopShadow } = await import('../../core/deploy/shadow');
        const reason = input && 'reason' in input ? input.reason : undefined;
        const { deployment, report } = await stopShadow(chosen.ctx, { target: chosen.target, reason: reason ?? 'stopped from the editor' });
        workspaceStore.fire();
        log.info(`stopped the shadow ${deployment.modelName} v${deployment.version} on ${chosen.target}: ${report.summary}`);
        return { deployment, report };
      } catch (error) {
        return reportError('stop shadow', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.revealLineage', async (input?: TargetInput) => {
      try {
        const store = await workspaceStore.get();
        if (!store) throw new Error('there is no mloop store in this workspace yet');
        const repo = new DeploymentRepository(store);
        const target = targetOf(input);
        const deployment = input && 'kind' in input && input.kind === 'deployment' ? repo.get(input.deploymentId) : target ? repo.current(target) : undefined;
        if (!deployment) throw new Error(target ? `nothing is deployed to target "${target}"` : 'pick a target or a deployment in the Deployments view');
        return await vscode.commands.executeCommand<string | undefined>('mloop.lineage.show', `${deployment.modelName}@${deployment.version}`);
      } catch (error) {
        return reportError('reveal lineage', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.retrain', retrain),
    vscode.commands.registerCommand('mloop.deployments.deploy', deploy),
    vscode.commands.registerCommand('mloop.deployments.rollback', async (input?: TargetInput) => {
      try {
        const chosen = await askTarget(input, 'mloop: roll back which target?');
        if (!chosen) return undefined;
        const given = input && 'reason' in input ? input.reason : undefined;
        const reason = given ?? (await vscode.window.showInputBox({ title: `Roll back ${chosen.target}`, prompt: 'Why? (recorded in the audit log)', ignoreFocusOut: true }));
        if (reason === undefined) return undefined;
        const { rollbackDeployment } = await import('../../core/deploy/deploy');
        return await runTaskAndAnnounce({ action: 'rollback', target: chosen.target }, `mloop: rolling back ${chosen.target}`, (signal, report) =>
          rollbackDeployment(chosen.ctx, { target: chosen.target, reason: reason.trim() || 'manual rollback', signal, onProgress: report }),
        );
      } catch (error) {
        return reportError('roll back', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.checkHealth', async (input?: TargetInput) => {
      try {
        const chosen = await askTarget(input, 'mloop: check which target?');
        if (!chosen) return undefined;
        const { checkTargetHealth } = await import('../../core/deploy/deploy');
        const { deployment, result } = await checkTargetHealth(chosen.ctx, chosen.target);
        workspaceStore.fire();
        const text = `${chosen.target}: ${deployment.modelName} v${deployment.version} ${result.ok ? 'is healthy' : 'is UNHEALTHY'} · ${result.detail}`;
        log.info(text);
        void (result.ok ? vscode.window.showInformationMessage(`mloop: ${text}`) : vscode.window.showWarningMessage(`mloop: ${text}`));
        return result;
      } catch (error) {
        return reportError('check health', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.openLogs', async (input?: DeploymentsNode) => {
      try {
        const store = await workspaceStore.get();
        if (!store) return;
        const repo = new DeploymentRepository(store);
        const deployment = input?.kind === 'deployment' ? repo.get(input.deploymentId) : input ? repo.current(input.target) : undefined;
        const logPath = deployment?.health?.process?.logPath;
        if (!logPath) return void vscode.window.showInformationMessage('mloop: this deployment has no service log (its command deploys elsewhere)');
        await vscode.window.showTextDocument(vscode.Uri.file(logPath), { preview: true });
      } catch (error) {
        reportError('open logs', error);
      }
    }),
    vscode.commands.registerCommand('mloop.deployments.stop', async (input?: TargetInput) => {
      try {
        const chosen = await askTarget(input, 'mloop: stop which target?');
        if (!chosen) return undefined;
        const { stopTarget } = await import('../../core/deploy/deploy');
        const stopped = await stopTarget(chosen.ctx, { target: chosen.target, reason: 'stopped from the Deployments view' });
        workspaceStore.fire();
        if (stopped) log.info(`stopped ${stopped.modelName} v${stopped.version} on ${chosen.target}`);
        return stopped;
      } catch (error) {
        return reportError('stop', error);
      }
    }),
  ];
}
