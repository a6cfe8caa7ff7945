import { dirname, join } from 'node:path';
import type { Backend } from '../../core/backends/backend';
import type { ModelRegistry } from '../../core/backends/registry';
import type { Store } from '../../core/store/store';
import { registryActor } from '../../core/registry/actor';
import type { BackendService } from './backendService';
import { requireTrusted, type CommandContext } from '../base/commandContext';

export interface DataPathDeps {
  readonly backends: BackendService;
  readonly context: CommandContext;
}

/**
 * The registry the Models view's commands act on: the project's store, or (mloop.backend = mlflow) the
 * tracking server with the audit rows in the local store. The only place that picks between the two.
 */
export async function openRegistry(deps: DataPathDeps): Promise<ModelRegistry> {
  requireTrusted();
  const actorFor = (storePath: string): string => registryActor(deps.context.projectConfig.projectRoot ?? dirname(dirname(storePath)));
  const backend = await deps.backends.remote();
  if (!backend) {
    const store = await deps.context.requireStore();
    const { EmbeddedRegistry } = await import('../../core/backends/embeddedRegistry');
    return new EmbeddedRegistry({ store, artifactRoot: join(dirname(store.path), 'artifacts'), actor: actorFor(store.path) });
  }
  // the audit trail lives in the local store (MLflow keeps none)
  const store = await deps.context.requireStore({ create: true });
  const { MlflowRegistry } = await import('../../core/backends/remoteRegistry');
  return throughService(new MlflowRegistry({ backend, store, actor: actorFor(store.path) }), deps.backends);
}

/**
 * Where runs are read and deleted: the project's store, or (mloop.backend = mlflow) the tracking server, with
 * the audit rows in the local store either way. `where` is " on <server>" for messages, empty for the store.
 */
export async function openRunsBackend(deps: DataPathDeps): Promise<{ backend: Backend; store: Store; where: string }> {
  requireTrusted();
  const server = await runsServer(deps.backends);
  const store = await deps.context.requireStore(server ? { create: true } : undefined);
  if (server) return { backend: server, store, where: ` on ${server.location}` };
  const { EmbeddedBackend } = await import('../../core/backends/embeddedBackend');
  return { backend: new EmbeddedBackend(store, registryActor(deps.context.projectConfig.projectRoot ?? dirname(dirname(store.path)))), store, where: '' };
}

/** The tracking server the Runs view and the Experiments Table read when mloop.backend = mlflow (undefined: the store). */
export async function runsServer(backends: BackendService): Promise<Backend | undefined> {
  const backend = await backends.remote();
  return backend && throughService(backend, backends);
}

/** Every server call goes through the service, so an unreachable server also shows in the views. */
function throughService<T extends object>(registry: T, backends: BackendService): T {
  return new Proxy(registry, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function'
        ? (...args: unknown[]) => backends.use(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
        : value;
    },
  });
}
