import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { registryActor } from '../../core/registry/actor';
import { CHAMPION, modelUri, promote, removeAlias, rollbackAlias, rollbackTarget } from '../../core/registry/aliases';
import { gateSpecFor } from '../../core/registry/autoRegister';
import { GateRefusedError } from '../../core/registry/errors';
import { registerFromRun, type RegistryContext } from '../../core/registry/register';
import { aliasProblem, ModelRepository } from '../../core/store/models';
import { RunRepository } from '../../core/store/runs';
import { openComparePanel } from '../runs/comparePanel';
import type { PanelDeps } from '../base/webviewHtml';
import type { ProjectConfig } from '../base/projectConfig';
import type { ModelsNode } from './tree';
import type { RunsNode } from '../runs/tree';
import type { WorkspaceStore } from '../base/workspaceStore';
import type { BackendService } from '../backend/backendService';
import { askGateOverrideReason } from './gateOverride';
import { createRemoteModelActions, type RemoteVersionArgument } from './remoteCommands';

/** A version from a tree row, or { modelName, version } from code and tests (plus the answers a dialog would give). */
export interface VersionArgument {
  readonly modelName: string;
  readonly version: number;
  readonly modelVersionId?: number;
  /** Tests and callers that already know: skip the dialog. */
  readonly overrideReason?: string;
  readonly alias?: string;
}

type VersionInput = (ModelsNode & { kind: 'modelVersion' }) | VersionArgument | undefined;

/** Promote to Champion, Set/Remove/Roll Back Alias, Compare with Champion, Copy URI, Register Model from a run. */
export function registerModelCommands(deps: {
  workspaceStore: WorkspaceStore;
  projectConfig: ProjectConfig;
  panelDeps: PanelDeps;
  log: vscode.LogOutputChannel;
  /** With mloop.backend = mlflow every command acts on the tracking server (remoteModelCommands). */
  backends?: BackendService;
}): vscode.Disposable[] {
  const { workspaceStore, projectConfig, log } = deps;
  const remoteActions = deps.backends && createRemoteModelActions({ backends: deps.backends, workspaceStore, projectConfig, log });
  const remote = (): ReturnType<typeof createRemoteModelActions> | undefined => (deps.backends?.kind === 'mlflow' ? remoteActions : undefined);
  const asRemote = (input: unknown): RemoteVersionArgument | undefined => input as RemoteVersionArgument | undefined;

  const reportError = (what: string, error: unknown): undefined => {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`${what}: ${message}`);
    void vscode.window.showErrorMessage(`mloop: ${message}`, 'Show Log').then((a) => a && log.show());
    return undefined;
  };

  const context = async (): Promise<RegistryContext> => {
    if (!vscode.workspace.isTrusted) throw new Error('mloop changes nothing in Restricted Mode. Trust this folder first.');
    const store = await workspaceStore.get();
    if (!store) throw new Error('there is no mloop store in this workspace yet');
    return { store, artifactRoot: join(dirname(store.path), 'artifacts'), actor: registryActor(projectConfig.projectRoot ?? dirname(dirname(store.path))) };
  };

  /** The version to act on: the clicked row, the argument, or a pick among all versions. */
  const pickVersion = async (input: VersionInput, title: string): Promise<VersionArgument | undefined> => {
    if (input && 'modelName' in input && typeof input.version === 'number') return input;
    const store = await workspaceStore.get();
    if (!store) return undefined;
    const repo = new ModelRepository(store);
    const items = repo.list().flatMap((m) =>
      repo.versions(m.modelId).map((v) => ({ label: `${m.name} v${v.version}`, description: [v.aliases.map((a) => `@${a}`).join(' '), v.gatePassed === null ? '' : v.gatePassed ? 'gate ✓' : 'gate ✗'].filter(Boolean).join(' · '), modelName: m.name, version: v.version })),
    );
    if (items.length === 0) {
      void vscode.window.showInformationMessage('mloop: no registered models yet. Train a pipeline with a model: section, or register a run from the Runs view.');
      return undefined;
    }
    return vscode.window.showQuickPick(items, { title });
  };

  const done = (text: string): void => {
    log.info(text);
    workspaceStore.fire();
    void vscode.window.showInformationMessage(`mloop: ${text}`);
  };

  /** Promotion (or any alias move) with the gate: on a failed gate, offer an override that asks for a reason. */
  const moveAlias = async (target: VersionArgument, alias: string): Promise<boolean> => {
    const ctx = await context();
    const gate = gateSpecFor(projectConfig.current, target.modelName);
    try {
      const r = await promote(ctx, { ...target, alias, gate, overrideReason: target.overrideReason });
      done(`${target.modelName}@${alias} → v${r.version.version}${r.previous ? ` (was v${r.previous})` : ''}${r.overridden ? ' · gate overridden' : r.gate ? ' · gate ✓' : ''}`);
      return true;
    } catch (error) {
      if (!(error instanceof GateRefusedError) || target.overrideReason !== undefined) throw error;
      const reason = await askGateOverrideReason(error, target, alias);
      if (reason === undefined) return false;
      const r = await promote(ctx, { ...target, alias, gate, overrideReason: reason });
      done(`${target.modelName}@${alias} → v${r.version.version} · gate overridden: ${reason.trim()}`);
      return true;
    }
  };

  const askAlias = async (target: VersionArgument, existing: readonly string[]): Promise<string | undefined> => {
    const suggestions = ['champion', 'challenger', ...existing].filter((a, i, all) => all.indexOf(a) === i);
    const picked = await vscode.window.showQuickPick([...suggestions.map((label) => ({ label })), { label: 'Another alias…' }], { title: `Set an alias on ${target.modelName} v${target.version}` });
    if (!picked) return undefined;
    if (picked.label !== 'Another alias…') return picked.label;
    return vscode.window.showInputBox({ title: 'Alias name', prompt: 'letters, digits, _ and -; not "latest" or v<number>', validateInput: (v) => aliasProblem(v) });
  };

  const aliasesOf = async (modelName: string): Promise<string[]> => {
    const store = await workspaceStore.get();
    const repo = store && new ModelRepository(store);
    const model = repo?.byName(modelName);
    return model && repo ? repo.versions(model.modelId).flatMap((v) => v.aliases) : [];
  };

  return [
    vscode.commands.registerCommand('mloop.models.promote', async (input?: VersionInput) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.promote(asRemote(input));
        const target = await pickVersion(input, 'mloop: Promote to Champion');
        return target ? await moveAlias(target, CHAMPION) : false;
      } catch (error) {
        return reportError('promote', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.setAlias', async (input?: VersionInput) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.setAlias(asRemote(input));
        const target = await pickVersion(input, 'mloop: Set Alias…');
        if (!target) return false;
        const alias = target.alias ?? (await askAlias(target, await aliasesOf(target.modelName)));
        return alias ? await moveAlias(target, alias) : false;
      } catch (error) {
        return reportError('set alias', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.removeAlias', async (input?: VersionInput) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.removeAlias(asRemote(input));
        const target = await pickVersion(input, 'mloop: Remove Alias');
        if (!target) return false;
        const store = await workspaceStore.get();
        const repo = new ModelRepository(store!);
        const version = repo.version(repo.byName(target.modelName)?.modelId ?? -1, target.version);
        const alias = target.alias ?? (version?.aliases.length === 1 ? version.aliases[0] : (await vscode.window.showQuickPick(version?.aliases ?? [], { title: `Remove which alias of ${target.modelName} v${target.version}?` })));
        if (!alias) return false;
        const was = removeAlias(await context(), { modelName: target.modelName, alias });
        done(`${target.modelName}@${alias} removed (was v${was})`);
        return true;
      } catch (error) {
        return reportError('remove alias', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.rollbackAlias', async (input?: (ModelsNode & { kind: 'model' }) | VersionInput | { modelName: string; alias: string; reason?: string }) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.rollbackAlias(input as { modelName?: string; alias?: string; aliases?: readonly string[]; reason?: string } | undefined);
        const modelName = input?.modelName ?? (await pickVersion(undefined, 'mloop: Roll Back Alias'))?.modelName;
        if (!modelName) return false;
        const ctx = await context();
        const given = input && 'alias' in input && input.alias ? input.alias : undefined;
        const candidates = given ? [given] : [...new Set([...(input && 'aliases' in input ? input.aliases : []), ...(await aliasesOf(modelName)), CHAMPION])];
        const options = candidates.map((alias) => ({ alias, ...rollbackTarget(ctx, modelName, alias) })).filter((o) => o.target !== undefined);
        if (options.length === 0) {
          void vscode.window.showInformationMessage(`mloop: no alias of ${modelName} has an earlier version to roll back to.`);
          return false;
        }
        const choice =
          given && options.length === 1
            ? options[0]
            : await vscode.window.showQuickPick(
                options.map((o) => ({ label: `@${o.alias}`, description: `v${o.current ?? '∅'} → v${o.target}`, option: o })),
                { title: `Roll back an alias of ${modelName}` },
              ).then((p) => p?.option);
        if (!choice) return false;
        const reason = input && 'reason' in input ? input.reason : await vscode.window.showInputBox({ title: `Roll back ${modelName}@${choice.alias} to v${choice.target}`, prompt: 'Why? (optional, recorded in the audit log)' });
        if (reason === undefined && !(input && 'alias' in input)) return false;
        const r = await rollbackAlias(ctx, { modelName, alias: choice.alias, reason: reason || undefined });
        done(`${modelName}@${choice.alias} rolled back: v${r.from ?? '∅'} → v${r.to}`);
        return true;
      } catch (error) {
        return reportError('roll back alias', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.compareWithChampion', async (input?: VersionInput) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.compareWithChampion(asRemote(input));
        const target = await pickVersion(input, 'mloop: Compare with Champion');
        if (!target) return undefined;
        const store = await workspaceStore.get();
        const repo = new ModelRepository(store!);
        const model = repo.byName(target.modelName)!;
        const champion = repo.versionByAlias(model.modelId, CHAMPION);
        const version = repo.version(model.modelId, target.version);
        if (!champion) return void vscode.window.showInformationMessage(`mloop: ${target.modelName} has no champion yet. Promote a version first.`);
        if (!champion.sourceRunId || !version?.sourceRunId) return void vscode.window.showInformationMessage('mloop: only versions registered from runs can be compared.');
        openComparePanel(deps.panelDeps, [champion.sourceRunId, version.sourceRunId], champion.sourceRunId);
        return [champion.sourceRunId, version.sourceRunId];
      } catch (error) {
        return reportError('compare with champion', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.copyUri', async (input?: VersionInput) => {
      try {
        const onServer = remote();
        if (onServer) return await onServer.copyUri(asRemote(input));
        const target = await pickVersion(input, 'mloop: Copy Model URI');
        if (!target) return undefined;
        const store = await workspaceStore.get();
        const repo = store && new ModelRepository(store);
        const aliases = repo?.version(repo.byName(target.modelName)?.modelId ?? -1, target.version)?.aliases ?? [];
        const alias = target.alias ?? (aliases.includes(CHAMPION) ? CHAMPION : aliases[0]);
        const uri = modelUri(target.modelName, alias ? { alias } : { version: target.version });
        await vscode.env.clipboard.writeText(uri);
        vscode.window.setStatusBarMessage(`mloop: copied ${uri}`, 3000);
        return uri;
      } catch (error) {
        return reportError('copy model URI', error);
      }
    }),
    vscode.commands.registerCommand('mloop.models.registerFromRun', async (input?: RunsNode | string, modelNameArg?: string) => {
      try {
        const runId = typeof input === 'string' ? input : input?.kind === 'run' ? input.runId : undefined;
        const onServer = remote();
        if (onServer) return await onServer.registerFromRun(runId, modelNameArg);
        if (!runId) return void vscode.window.showInformationMessage('mloop: pick a finished run in the Runs view, then Register Model.');
        const ctx = await context();
        const run = new RunRepository(ctx.store).get(runId);
        const config = projectConfig.current;
        const declared = run?.pipeline ? config?.pipelines[run.pipeline]?.model : undefined;
        const modelName =
          modelNameArg ??
          (await vscode.window.showInputBox({
            title: `Register a model from run ${run?.name ?? runId}`,
            prompt: 'Registered model name',
            value: declared?.name ?? '',
            validateInput: (v) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) ? undefined : 'start with a letter or _; letters, digits, _, . and -'),
          }));
        if (!modelName) return undefined;
        const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `mloop: registering ${modelName} from run ${runId.slice(0, 8)}` }, () =>
          registerFromRun(ctx, {
            runId,
            modelName,
            artifactPath: declared && declared.name === modelName ? declared.path : undefined,
            projectRoot: projectConfig.projectRoot,
            gate: gateSpecFor(config, modelName),
          }),
        );
        done(`registered ${modelName} v${result.version.version}${result.gate ? ` · gate ${result.gate.passed ? '✓' : '✗'}` : ''}`);
        return { modelName, version: result.version.version };
      } catch (error) {
        return reportError('register model', error);
      }
    }),
  ];
}
