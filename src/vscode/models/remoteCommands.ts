import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { CHAMPION, modelUri } from '../../core/registry/aliases';
import { gateSpecFor } from '../../core/registry/autoRegister';
import { GateRefusedError } from '../../core/registry/errors';
import { registryActor } from '../../core/registry/actor';
import { aliasProblem } from '../../core/store/models';
import type { RemoteRegistryContext } from '../../core/backends/remoteRegistry';
import type { BackendService } from '../backend/backendService';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';
import { askGateOverrideReason } from './gateOverride';

/** A version row of the Models view (remote or local shape), or { modelName, version } from code and tests. */
export interface RemoteVersionArgument {
  readonly modelName: string;
  readonly version: number;
  readonly overrideReason?: string;
  readonly alias?: string;
  readonly aliases?: readonly string[];
  readonly reason?: string;
}

/**
 * The Models view's registry commands when mloop.backend = mlflow: the same gestures (Promote, Set /
 * Remove / Roll Back Alias, Compare with Champion, Copy URI, Register Model from a run) applied to the
 * tracking server through core/backends/remoteRegistry; the audit row goes to the local store.
 */
export function createRemoteModelActions(deps: {
  readonly backends: BackendService;
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly log: vscode.LogOutputChannel;
}) {
  const { backends, workspaceStore, projectConfig, log } = deps;

  const context = async (): Promise<RemoteRegistryContext> => {
    if (!vscode.workspace.isTrusted) throw new Error('mloop changes nothing in Restricted Mode. Trust this folder first.');
    const backend = await backends.remote();
    if (!backend) throw new Error('mloop.backend is not "mlflow"');
    // the audit trail lives in the local store (MLflow keeps none)
    const store = await workspaceStore.get({ create: true });
    if (!store) throw new Error('open a folder first: the audit trail of registry changes is kept in its mloop store');
    return { backend, store, actor: registryActor(projectConfig.projectRoot ?? dirname(dirname(store.path))) };
  };

  /** Runs a server call through the service, so an unreachable server also shows in the views. */
  const withServer = async <T>(fn: (ctx: RemoteRegistryContext) => Promise<T>): Promise<T> => {
    const ctx = await context();
    return backends.use(() => fn(ctx));
  };

  const done = (text: string): void => {
    log.info(`${text} (MLflow ${backends.trackingUri})`);
    workspaceStore.fire(); // the Models view re-reads the server; the Audit view shows the new row
    void vscode.window.showInformationMessage(`mloop: ${text}`);
  };

  const pickVersion = async (input: RemoteVersionArgument | undefined, title: string): Promise<RemoteVersionArgument | undefined> => {
    if (input && typeof input.modelName === 'string' && typeof input.version === 'number') return input;
    const items = await withServer(async ({ backend }) => {
      const out: (vscode.QuickPickItem & RemoteVersionArgument)[] = [];
      for (const m of await backend.listModels()) {
        for (const v of await backend.modelVersions(m.name)) out.push({ label: `${m.name} v${v.version}`, description: v.aliases.map((a) => `@${a}`).join(' '), modelName: m.name, version: v.version, aliases: v.aliases });
      }
      return out;
    });
    if (items.length === 0) {
      void vscode.window.showInformationMessage(`mloop: no registered models on ${backends.trackingUri} yet.`);
      return undefined;
    }
    return vscode.window.showQuickPick(items, { title });
  };

  const aliasesOf = (modelName: string): Promise<string[]> => withServer(async ({ backend }) => (await backend.modelVersions(modelName)).flatMap((v) => v.aliases));

  const moveAlias = async (target: RemoteVersionArgument, alias: string): Promise<boolean> => {
    const { remotePromote } = await import('../../core/backends/remoteRegistry');
    const gate = gateSpecFor(projectConfig.current, target.modelName);
    const attempt = (overrideReason: string | undefined) =>
      withServer((ctx) => remotePromote(ctx, { modelName: target.modelName, version: target.version, alias, ...(gate ? { gate } : {}), ...(overrideReason ? { overrideReason } : {}) }));
    try {
      const r = await attempt(target.overrideReason);
      done(`${target.modelName}@${alias} → v${r.version}${r.previous ? ` (was v${r.previous})` : ''}${r.overridden ? ' · gate overridden' : r.gate ? ' · gate ✓' : ''}`);
      return true;
    } catch (error) {
      if (!(error instanceof GateRefusedError) || target.overrideReason !== undefined) throw error;
      const reason = await askGateOverrideReason(error, target, alias);
      if (reason === undefined) return false;
      const r = await attempt(reason);
      done(`${target.modelName}@${alias} → v${r.version} · gate overridden: ${reason.trim()}`);
      return true;
    }
  };

  return {
    async promote(input: RemoteVersionArgument | undefined): Promise<boolean> {
      const target = await pickVersion(input, 'mloop: Promote to Champion');
      return target ? moveAlias(target, CHAMPION) : false;
    },

    async setAlias(input: RemoteVersionArgument | undefined): Promise<boolean> {
      const target = await pickVersion(input, 'mloop: Set Alias…');
      if (!target) return false;
      let alias = target.alias;
      if (!alias) {
        const suggestions = ['champion', 'challenger', ...(await aliasesOf(target.modelName))].filter((a, i, all) => all.indexOf(a) === i);
        const picked = await vscode.window.showQuickPick([...suggestions.map((label) => ({ label })), { label: 'Another alias…' }], { title: `Set an alias on ${target.modelName} v${target.version}` });
        if (!picked) return false;
        alias = picked.label !== 'Another alias…' ? picked.label : await vscode.window.showInputBox({ title: 'Alias name', prompt: 'letters, digits, _ and -; not "latest" or v<number>', validateInput: (v) => aliasProblem(v) });
      }
      return alias ? moveAlias(target, alias) : false;
    },

    async removeAlias(input: RemoteVersionArgument | undefined): Promise<boolean> {
      const target = await pickVersion(input, 'mloop: Remove Alias');
      if (!target) return false;
      const own = target.aliases ?? (await withServer(async ({ backend }) => (await backend.modelVersions(target.modelName)).find((v) => v.version === target.version)?.aliases ?? []));
      const alias = target.alias ?? (own.length === 1 ? own[0] : await vscode.window.showQuickPick([...own], { title: `Remove which alias of ${target.modelName} v${target.version}?` }));
      if (!alias) return false;
      const { remoteRemoveAlias } = await import('../../core/backends/remoteRegistry');
      const was = await withServer((ctx) => remoteRemoveAlias(ctx, { modelName: target.modelName, alias, ...(target.reason ? { reason: target.reason } : {}) }));
      done(`${target.modelName}@${alias} removed (was v${was})`);
      return true;
    },

    async rollbackAlias(input: { modelName?: string; alias?: string; aliases?: readonly string[]; reason?: string } | undefined): Promise<boolean> {
      const modelName = input?.modelName ?? (await pickVersion(undefined, 'mloop: Roll Back Alias'))?.modelName;
      if (!modelName) return false;
      const { remoteRollbackAlias, remoteRollbackTarget } = await import('../../core/backends/remoteRegistry');
      const candidates = input?.alias ? [input.alias] : [...new Set([...(input?.aliases ?? []), ...(await aliasesOf(modelName)), CHAMPION])];
      const options: { alias: string; current: number | null; target: number }[] = [];
      for (const alias of candidates) {
        const t = await withServer((ctx) => remoteRollbackTarget(ctx, modelName, alias));
        if (t.target !== undefined) options.push({ alias, current: t.current, target: t.target });
      }
      if (options.length === 0) {
        void vscode.window.showInformationMessage(`mloop: no alias of ${modelName} on ${backends.trackingUri} has an earlier version (set through mloop) to roll back to.`);
        return false;
      }
      const choice =
        input?.alias && options.length === 1
          ? options[0]
          : await vscode.window.showQuickPick(options.map((o) => ({ label: `@${o.alias}`, description: `v${o.current ?? '∅'} → v${o.target}`, option: o })), { title: `Roll back an alias of ${modelName}` }).then((p) => p?.option);
      if (!choice) return false;
      const reason = input?.reason ?? (input?.alias ? '' : await vscode.window.showInputBox({ title: `Roll back ${modelName}@${choice.alias} to v${choice.target}`, prompt: 'Why? (optional, recorded in the audit log)' }));
      if (reason === undefined) return false;
      const r = await withServer((ctx) => remoteRollbackAlias(ctx, { modelName, alias: choice.alias, ...(reason ? { reason } : {}) }));
      done(`${modelName}@${choice.alias} rolled back: v${r.from ?? '∅'} → v${r.to}`);
      return true;
    },

    async compareWithChampion(input: RemoteVersionArgument | undefined): Promise<string[] | undefined> {
      const target = await pickVersion(input, 'mloop: Compare with Champion');
      if (!target) return undefined;
      const versions = await withServer(({ backend }) => backend.modelVersions(target.modelName));
      const champion = versions.find((v) => v.aliases.includes(CHAMPION));
      const version = versions.find((v) => v.version === target.version);
      if (!champion) return void vscode.window.showInformationMessage(`mloop: ${target.modelName} has no champion yet. Promote a version first.`);
      if (!champion.runId || !version?.runId) return void vscode.window.showInformationMessage('mloop: only versions registered from runs can be compared.');
      return (await vscode.commands.executeCommand<string[]>('mloop.runs.compareServerRuns', [champion.runId, version.runId], champion.runId)) ?? undefined;
    },

    async copyUri(input: RemoteVersionArgument | undefined): Promise<string | undefined> {
      const target = await pickVersion(input, 'mloop: Copy Model URI');
      if (!target) return undefined;
      const aliases = target.aliases ?? [];
      const alias = target.alias ?? (aliases.includes(CHAMPION) ? CHAMPION : aliases[0]);
      const uri = modelUri(target.modelName, alias ? { alias } : { version: target.version });
      await vscode.env.clipboard.writeText(uri);
      vscode.window.setStatusBarMessage(`mloop: copied ${uri}`, 3000);
      return uri;
    },

    async registerFromRun(runId: string | undefined, modelNameArg?: string, artifactPathArg?: string): Promise<{ modelName: string; version: number } | undefined> {
      if (!runId) return void vscode.window.showInformationMessage('mloop: pick a finished run of the MLflow server in the Runs view, then Register Model.');
      const run = await withServer(({ backend }) => backend.getRun(runId));
      const modelName =
        modelNameArg ??
        (await vscode.window.showInputBox({
          title: `Register a model on ${backends.trackingUri} from run ${run?.name ?? runId}`,
          prompt: 'Registered model name',
          validateInput: (v) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) ? undefined : 'start with a letter or _; letters, digits, _, . and -'),
        }));
      if (!modelName) return undefined;
      const artifactPath =
        artifactPathArg ??
        (modelNameArg !== undefined
          ? 'model'
          : await vscode.window.showInputBox({ title: `Artifact of run ${run?.name ?? runId} to register`, prompt: 'Path among the run\'s artifacts (where log_model put it)', value: 'model' }));
      if (!artifactPath) return undefined;
      const { remoteRegisterFromRun } = await import('../../core/backends/remoteRegistry');
      const gate = gateSpecFor(projectConfig.current, modelName);
      const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `mloop: registering ${modelName} on ${backends.trackingUri}` }, () =>
        withServer((ctx) => remoteRegisterFromRun(ctx, { runId, modelName, artifactPath, ...(gate ? { gate } : {}) })),
      );
      done(`registered ${modelName} v${result.version.version} on the MLflow server${result.gate ? ` · gate ${result.gate.passed ? '✓' : '✗'}` : ''}`);
      return { modelName, version: result.version.version };
    },
  };
}
