import * as vscode from 'vscode';
import type { MlflowBackend } from '../../core/backends/mlflowBackend';
import type { Config } from '../../core/config/schema';
import type { TeamContext } from '../../core/governance/teamApprovals';
import type { RegistryContext } from '../../core/registry/register';
import { registryActor } from '../../core/registry/actor';
import { pythonOf } from '../../core/runs/environment';
import type { ModelVersion } from '../../core/store/models';
import type { Store } from '../../core/store/store';
import { CommandCancelled } from '../base/commandContext';
import type { BackendService } from './backendService';

/**
 * With `mloop.backend = mlflow` the registry is the team's server: Deploy, Retrain and Monitor act on a server version
 * by copying it into the workspace's store first (the artifact downloaded by the real MLflow client, its source run
 * mirrored with params and tags), exactly as `mloop deploy|evaluate --backend mlflow` do, and approvals of protected
 * targets are requested on the server as the server's user.
 */

/** The team on the server for this workspace (undefined: the embedded backend). */
export async function editorTeamContext(backends: BackendService, store: Store, projectRoot: string): Promise<TeamContext | undefined> {
  if (backends.kind !== 'mlflow') return undefined;
  return backends.use(async (backend) => {
    const [{ TeamLedger }, { teamIdentity }] = await Promise.all([import('../../core/backends/teamLedger'), import('../../core/governance/teamApprovals')]);
    const ledger = new TeamLedger(backend);
    // the server down: a deploy's approval request waits in the store, so the identity is not asked of it now
    const who = await teamIdentity(ledger, registryActor(projectRoot), { offline: true });
    return { ledger, store, actor: who.actor, identityProven: who.proven, ...(who.unreachable ? { unreachable: true } : {}) };
  });
}

/** A version of the server's registry: the given one, or a pick (challengers first, then champions), read from the server. */
export async function pickServerVersion(
  backend: MlflowBackend,
  input: { readonly modelName?: string; readonly version?: unknown } | undefined,
  title: string,
): Promise<{ modelName: string; version: number } | undefined> {
  if (input?.modelName && typeof input.version === 'number') return { modelName: input.modelName, version: input.version };
  const models = (await backend.listModels()).filter((m) => !input?.modelName || m.name === input.modelName);
  const items = (
    await Promise.all(
      models.map(async (m) =>
        (
          await backend.modelVersions(m.name)
        ).map((v) => ({
          label: `${m.name} v${v.version}`,
          description: [
            v.aliases.map((a) => `@${a}`).join(' '),
            v.tags['mloop.gate.passed'] === undefined ? '' : v.tags['mloop.gate.passed'] === 'true' ? 'gate ✓' : 'gate ✗',
            `on ${backend.location}`,
          ]
            .filter(Boolean)
            .join(' · '),
          modelName: m.name,
          version: v.version,
          rank: v.aliases.includes('challenger') ? 0 : v.aliases.includes('champion') ? 1 : 2,
        })),
      ),
    )
  ).flat();
  if (items.length === 0) throw new Error(`no registered model versions on ${backend.location}${input?.modelName ? ` for ${input.modelName}` : ''}`);
  items.sort((a, b) => a.rank - b.rank);
  return vscode.window.showQuickPick(items, { title, ignoreFocusOut: true });
}

/**
 * Copies a server version into the store (a no-op when the same copy is there), with a cancellable notification
 * while the MLflow client downloads it. Returns the local version, whose number is the server's.
 */
export async function pullServerVersionForEditor(
  backends: BackendService,
  ctx: Omit<RegistryContext, 'actor'> & { readonly actor: string; readonly projectRoot: string; readonly config?: Config },
  ref: { modelName: string; version?: number; alias?: string },
  log: vscode.LogOutputChannel,
): Promise<ModelVersion> {
  const { pullServerVersion, ServerModelError } = await import('../../core/backends/serverModels');
  const shown = `${ref.modelName}${ref.version !== undefined ? ` v${ref.version}` : `@${ref.alias ?? 'champion'}`}`;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `mloop: ${shown} from the team server`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const subscription = token.onCancellationRequested(() => controller.abort());
      try {
        const pulled = await backends.use((backend) =>
          pullServerVersion(
            {
              ...ctx,
              backend,
              python: pythonOf([], process.env, ctx.projectRoot),
              snapshotDataset: async (name) => {
                const declaration = ctx.config?.datasets[name];
                if (!declaration) return undefined;
                const { snapshotDataset } = await import('../../core/datasets/versions');
                return (await snapshotDataset(ctx.store, { name, declaration, projectRoot: ctx.projectRoot, signal: controller.signal })).version;
              },
              signal: controller.signal,
              onProgress: (message) => {
                log.info(message);
                progress.report({ message });
              },
            },
            ref,
          ),
        );
        if (pulled.downloaded)
          log.info(`${ref.modelName} v${pulled.version.version}: copied ${pulled.source} from ${pulled.server} into the workspace's store`);
        return pulled.version;
      } catch (error) {
        if (controller.signal.aborted) throw new CommandCancelled();
        if (error instanceof ServerModelError) throw new Error(error.message);
        throw error;
      } finally {
        subscription.dispose();
      }
    },
  );
}

/**
 * Retrain, Check Drift, Check Model Performance and Open Monitoring act on the store's copy of a model: with the
 * MLflow backend and a model registered on the server, its champion (else its newest version) is copied here first,
 * with the lineage of its server run (pipeline, params, the datasets it logged). Nothing happens with the embedded
 * backend or for a model the server does not have (a local one).
 */
export async function copyServerModelForEditor(
  backends: BackendService,
  commands: {
    requireStore(options: { create: boolean; trusted: boolean }): Promise<Store>;
    requireProject(options: { reread: boolean }): { projectRoot: string; config: Config };
  },
  modelName: string,
  log: vscode.LogOutputChannel,
): Promise<ModelVersion | undefined> {
  if (backends.kind !== 'mlflow') return undefined;
  const versions = await backends.use(async (backend) =>
    (await backend.listModels()).some((m) => m.name === modelName) ? backend.modelVersions(modelName) : [],
  );
  if (versions.length === 0) return undefined;
  const base = versions.find((v) => v.aliases.includes('champion')) ?? [...versions].sort((a, b) => b.version - a.version)[0]!;
  const store = await commands.requireStore({ create: true, trusted: true });
  const { projectRoot, config } = commands.requireProject({ reread: false });
  const { artifactRootOf } = await import('../../core/store/artifactRoot');
  const team = await editorTeamContext(backends, store, projectRoot);
  return pullServerVersionForEditor(
    backends,
    { store, artifactRoot: artifactRootOf(store.path), actor: team?.actor ?? registryActor(projectRoot), projectRoot, config },
    { modelName, version: base.version },
    log,
  );
}
