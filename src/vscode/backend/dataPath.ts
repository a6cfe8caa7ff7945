import { dirname, join } from 'node:path';
import type { ModelRegistry } from '../../core/backends/registry';
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

/** Every server call goes through the service, so an unreachable server also shows in the views. */
function throughService(registry: ModelRegistry, backends: BackendService): ModelRegistry {
  return new Proxy(registry, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function'
        ? (...args: unknown[]) => backends.use(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
        : value;
    },
  });
}
