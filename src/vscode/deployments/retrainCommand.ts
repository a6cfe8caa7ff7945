import * as vscode from 'vscode';
import type { RetrainOutcome } from '../../core/retrain/retrain';
import { ModelRepository } from '../../core/store/models';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { ModelsNode } from '../models/tree';
import type { TrackingService } from '../runs/trackingService';
import { deployContext } from './targets';
import type { BackendService } from '../backend/backendService';
import { copyServerModelForEditor } from '../backend/serverVersions';
import type { PublishContext, PublishedVersion, StoredVersionPublish } from '../../core/backends/publishVersion';
import { pythonOf } from '../../core/runs/environment';

export interface RetrainArgument {
  readonly modelName: string;
}

/** How the drift monitor hands over (RETRAIN_COMMAND): the drifted model and its report. */
export interface DriftRetrainArgument {
  readonly model: string | null;
  readonly driftReportId: number;
}

/** mloop: Retrain Model… (palette, Models tree, the drift monitor's hand-over): retrain, then offer Promote, Compare, Deploy. */
export function registerRetrainCommand(deps: { commands: CommandContext; tracking: TrackingService; backends: BackendService }): vscode.Disposable {
  const { commands, tracking } = deps;
  const { log } = commands;
  return registerCommand('mloop.models.retrain', async (given?: ModelsNode | RetrainArgument | DriftRetrainArgument): Promise<RetrainOutcome | undefined> => {
    const fromDrift = given && 'driftReportId' in given && typeof given.driftReportId === 'number' ? given : undefined;
    const input = fromDrift ? (fromDrift.model ? { modelName: fromDrift.model } : undefined) : (given as ModelsNode | RetrainArgument | undefined);
    try {
      // a model on the team server: its champion and the lineage of its server run (pipeline, params, data) come here first
      const named = input && 'modelName' in input ? input.modelName : undefined;
      const fromServer = named ? await copyServerModelForEditor(deps.backends, commands, named, log) : undefined;
      commands.projectConfig.reload(); // the pipelines and gate mloop.yaml says now, not what the debounced watcher last saw
      const ctx = await deployContext(commands);
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
        modelName = (await vscode.window.showQuickPick(items, { title: 'mloop: Retrain Model…', ignoreFocusOut: true }))?.label;
      }
      if (!modelName) return undefined;
      const driftReportId = fromDrift?.driftReportId ?? (suggestion?.modelName === modelName ? suggestion.driftReportId : undefined);
      const endpoint = await tracking.endpoint();
      const { retrainModel } = await import('../../core/retrain/retrain');
      const output = vscode.window.createOutputChannel(`mloop retrain ${modelName}`);
      const outcome = await withProgress(commands, `mloop: retraining ${modelName}`, (signal, report) =>
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
          confirmUnchanged: async (message) =>
            (await vscode.window.showWarningMessage(
              `mloop: ${message}. Retrain ${modelName} anyway?`,
              { modal: true, detail: 'The run would repeat that version: the same data, code and params.' },
              'Retrain Anyway',
            )) === 'Retrain Anyway',
        }),
      ).then(
        (o) => o,
        (error: unknown) => {
          output.show(true);
          throw error;
        },
      );
      log.info(outcome.summary);
      // a model of the team's server: the new version goes back to it, so teammates see it
      const published = fromServer && modelName === named ? await publishRetrained(deps.backends, commands, ctx, outcome) : undefined;
      const result = published
        ? { ...outcome, version: published.version, summary: `${outcome.summary} · v${published.serverVersion} on ${published.server}` }
        : outcome;
      // a copy of the champion is not offered for promotion
      void vscode.window
        .showInformationMessage(`mloop: ${result.summary}`, ...(outcome.challenger ? ['Promote', 'Compare', 'Deploy'] : ['Compare']))
        .then((action) => {
          const version = { modelName: modelName!, version: result.version.version };
          if (action === 'Promote') void executeCommand('mloop.models.promote', version);
          if (action === 'Compare') void executeCommand('mloop.models.compareWithChampion', version);
          if (action === 'Deploy') void executeCommand('mloop.deployments.deploy', version);
        });
      return result;
    } catch (error) {
      return commands.reportError('retrain', error);
    }
  });
}

/** A version of the store the team server lacks: a Models view row ("this workspace"), or named. */
export interface PublishArgument {
  readonly modelName: string;
  readonly version: number;
}

/**
 * mloop: Publish to Team Server (palette; the Models view's row of a version only this workspace holds): registers it
 * on the server through the same upload as a retrain's (publishStoredVersion). A version already there is said so.
 */
export function registerPublishCommand(deps: { commands: CommandContext; backends: BackendService }): vscode.Disposable {
  const { commands, backends } = deps;
  return registerCommand('mloop.models.publishToServer', async (given?: PublishArgument): Promise<StoredVersionPublish | undefined> => {
    try {
      if (backends.kind !== 'mlflow')
        throw new Error('Publish to Team Server sends a version to the MLflow server: set mloop.backend to "mlflow" and mloop.mlflow.trackingUri first');
      const ctx = await deployContext(commands);
      const core = await import('../../core/backends/publishVersion');
      let target = given && typeof given.version === 'number' ? { modelName: given.modelName, version: given.version } : undefined;
      if (!target) {
        const location = backends.trackingUri.replace(/\/+$/, '');
        const items = new ModelRepository(ctx.store).list().flatMap((m) =>
          core.unpublishedVersions(ctx.store, location, m.name).map((v) => ({
            label: `${m.name} v${v.version}`,
            description: [v.aliases.map((a) => `@${a}`).join(' '), v.sourceRunId ? `run ${v.sourceRunId.slice(0, 8)}` : ''].filter(Boolean).join(' · '),
            modelName: m.name,
            version: v.version,
          })),
        );
        if (items.length === 0) {
          void vscode.window.showInformationMessage(`mloop: every version in this workspace's store is on ${location} already: nothing to publish`);
          return undefined;
        }
        target = await vscode.window.showQuickPick(items, { title: 'mloop: Publish to Team Server', ignoreFocusOut: true });
        if (!target) return undefined;
      }
      const chosen = target;
      const outcome = await publishing(backends, commands, ctx, `mloop: ${chosen.modelName} v${chosen.version} to the team server`, (publish, report) =>
        core.publishStoredVersion(publish, { modelName: chosen.modelName, version: chosen.version, projectRoot: ctx.projectRoot, onProgress: report }),
      );
      const message =
        outcome.outcome === 'published'
          ? `${chosen.modelName} v${chosen.version} registered on ${outcome.published.server} as v${outcome.published.serverVersion}${outcome.retrainedFrom !== null ? ` (retrained from v${outcome.retrainedFrom})` : ''}${outcome.resumed ? ', resumed from an earlier attempt' : ''}`
          : `${chosen.modelName} v${chosen.version} is already on ${outcome.server} as ${outcome.source}: nothing to publish`;
      commands.log.info(message);
      void vscode.window.showInformationMessage(`mloop: ${message}`);
      return outcome;
    } catch (error) {
      return commands.reportError('publish to the team server', error);
    }
  });
}

/**
 * Runs an upload to the team server (a retrain's, or Publish to Team Server's) with its context — the store, the
 * artifacts, the server's identity for the audit, the project's Python — and a cancellable notification while it runs.
 */
async function publishing<T>(
  backends: BackendService,
  commands: CommandContext,
  ctx: Awaited<ReturnType<typeof deployContext>>,
  title: string,
  work: (publish: PublishContext, report: (message: string) => void) => Promise<T>,
): Promise<T> {
  const { editorTeamContext } = await import('../backend/serverVersions');
  const team = await editorTeamContext(backends, ctx.store, ctx.projectRoot);
  return withProgress(commands, title, (signal, report) =>
    backends.use((backend) =>
      work(
        {
          store: ctx.store,
          artifactRoot: ctx.artifactRoot,
          actor: team?.actor ?? ctx.actor,
          ...(team?.identityProven ? { identityProven: true } : {}),
          backend,
          python: pythonOf([], process.env, ctx.projectRoot),
          signal,
        },
        report,
      ),
    ),
  );
}

/** Registers a retrained version of a server model on that server (publishVersion.ts), with a notification while it uploads. */
async function publishRetrained(
  backends: BackendService,
  commands: CommandContext,
  ctx: Awaited<ReturnType<typeof deployContext>>,
  outcome: RetrainOutcome,
): Promise<PublishedVersion> {
  const { publishVersionToServer } = await import('../../core/backends/publishVersion');
  const modelName = outcome.recipe.modelName;
  const published = await publishing(backends, commands, ctx, `mloop: ${modelName} v${outcome.version.version} to the team server`, (publish, report) =>
    publishVersionToServer(publish, {
      modelName,
      projectRoot: ctx.projectRoot,
      version: outcome.version.version,
      retrainedFrom: outcome.recipe.base.version,
      challenger: outcome.challenger,
      onProgress: report,
    }),
  );
  commands.log.info(`${modelName} v${outcome.version.version} registered on ${published.server} as v${published.serverVersion} (run ${published.serverRunId})`);
  return published;
}

/** Long work in a cancellable notification; progress lines also go to the log. */
function withProgress<T>(commands: CommandContext, title: string, work: (signal: AbortSignal, report: (message: string) => void) => Promise<T>): Thenable<T> {
  const { log, workspaceStore } = commands;
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
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
}
