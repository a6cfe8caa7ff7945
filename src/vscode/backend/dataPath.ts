import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { ModelRegistry } from '../../core/backends/registry';
import { registryActor } from '../../core/registry/actor';
import type { BackendService } from './backendService';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';

export interface DataPathDeps {
  readonly backends: BackendService;
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
}

/**
 * The registry the Models view's commands act on: the project's store, or (mloop.backend = mlflow) the
 * tracking server with the audit rows in the local store. The only place that picks between the two.
 */
export async function openRegistry(deps: DataPathDeps): Promise<ModelRegistry> {
  if (!vscode.workspace.isTrusted) throw new Error('mloop changes nothing in Restricted Mode. Trust this folder first.');
  const actorFor = (storePath: string): string => registryActor(deps.projectConfig.projectRoot ?? dirname(dirname(storePath)));
  const backend = await deps.backends.remote();
  if (!backend) {
    const store = await deps.workspaceStore.get();
    if (!store) throw new Error('there is no mloop store in this workspace yet');
    const { EmbeddedRegistry } = await import('../../core/backends/embeddedRegistry');
    return new EmbeddedRegistry({ store, artifactRoot: join(dirname(store.path), 'artifacts'), actor: actorFor(store.path) });
  }
  // the audit trail lives in the local store (MLflow keeps none)
  const store = await deps.workspaceStore.get({ create: true });
  if (!store) throw new Error('open a folder first: the audit trail of registry changes is kept in its mloop store');
  const { MlflowRegistry } = await import('../../core/backends/remoteRegistry');
  return throughService(new MlflowRegistry({ backend, store, actor: actorFor(store.path) }), deps.backends);
}

/** Every server call goes through the service, so an unreachable server also shows in the views. */
function throughService(registry: ModelRegistry, backends: BackendService): ModelRegistry {
  return new Proxy(registry, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (...args: unknown[]) => backends.use(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) : value;
    },
  });
}
