import { type PulledVersion, pullServerVersion, ServerModelError } from '../core/backends/serverModels';
import { pythonOf } from '../core/runs/environment';
import { artifactRootOf } from '../core/store/artifactRoot';
import type { Store } from '../core/store/store';
import { CliFailure } from './cliIo';
import { teamContextFor } from './teamPublish';
import type { CommandContext } from './trainCommand';

/**
 * With --backend mlflow the registry is the team's server: the version a command names is copied into the store
 * first (artifact downloaded by the MLflow client, source run mirrored, the server's number and aliases kept), so
 * deploy, evaluate and monitor act on it as on a local version. Without the backend: nothing to do.
 */
export async function pullFromServer(
  context: Pick<CommandContext, 'remote'>,
  store: Store,
  root: string,
  ref: { modelName: string; version?: number; alias?: string },
  onProgress?: (message: string) => void,
  signal?: AbortSignal,
): Promise<PulledVersion | undefined> {
  const backend = context.remote?.();
  const team = await teamContextFor(backend, store, root, { offline: true });
  if (!backend || !team) return undefined;
  try {
    const pulled = await pullServerVersion(
      {
        store,
        artifactRoot: artifactRootOf(store.path),
        actor: team.actor,
        backend,
        python: pythonOf([], process.env, root),
        ...(onProgress ? { onProgress } : {}),
        ...(signal ? { signal } : {}),
      },
      ref,
    );
    if (pulled.downloaded) onProgress?.(`${ref.modelName} v${pulled.version.version}: copied ${pulled.source} from ${pulled.server}`);
    return pulled;
  } catch (error) {
    if (error instanceof ServerModelError) throw new CliFailure(error.message);
    throw error;
  }
}
