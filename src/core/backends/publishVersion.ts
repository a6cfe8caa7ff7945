import { statSync } from 'node:fs';
import { basename } from 'node:path';
import UPLOAD_SOURCE from './mlflowModelUpload.py';
import { artifactLocation } from '../registry/modelArtifact';
import type { RegistryContext } from '../registry/register';
import { serverDatasetInputs } from '../runs/launcher';
import { AuditRepository } from '../store/audit';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository } from '../store/runs';
import type { MlflowBackend } from './mlflowBackend';
import { GATE_PASSED_TAG, GATE_TAG, remotePromote } from './remoteRegistry';
import { PUBLISHED_RUN_TAG, PUBLISHED_SOURCE_TAG, runMlflowClient, ServerModelError } from './serverModels';

/**
 * A version trained in this workspace from a model of the team's server (Retrain on a server model) goes back to that
 * server as the next version of the same model, so teammates see it: its run is recreated there (params, the final
 * metrics, the datasets it read, the pipeline), the artifact uploaded by the real MLflow client
 * (`MlflowClient.log_artifacts`, into the server's artifact store or proxy), the version registered from that run with
 * mloop's gate verdict and the version it was retrained from as tags, and @challenger moved when it moved here.
 * The store's version takes the server's number, so both name the same version.
 */

/** Model-version tag: the server version this one was retrained from. */
export const RETRAINED_FROM_TAG = 'mloop.retrained_from';
/** Run tag on the server of a publish that failed half-way (the run could not be deleted): why. */
export const PUBLISH_FAILED_TAG = 'mloop.publish_failed';
/** Run tag on the server: the run id of the workspace's own record of the run. */
export const LOCAL_RUN_TAG = 'mloop.local_run';

export interface PublishedVersion {
  readonly serverVersion: number;
  readonly serverRunId: string;
  readonly server: string;
  /** The store's version after publishing (renumbered to the server's number when that number was free here). */
  readonly version: ModelVersion;
}

export async function publishVersionToServer(
  ctx: RegistryContext & { readonly backend: MlflowBackend; readonly python?: string; readonly signal?: AbortSignal; readonly identityProven?: boolean },
  input: { modelName: string; projectRoot: string; version: number; retrainedFrom: number; challenger: boolean; onProgress?: (message: string) => void },
): Promise<PublishedVersion> {
  const { backend, store } = ctx;
  const models = new ModelRepository(store);
  const model = models.byName(input.modelName);
  const local = model ? models.version(model.modelId, input.version) : undefined;
  if (!model || !local?.sourceRunId) throw new ServerModelError(`${input.modelName} v${input.version} is not in this workspace's store with a source run`);
  const runs = new RunRepository(store);
  const run = runs.get(local.sourceRunId)!;
  const folder = artifactLocation(store, ctx.artifactRoot, local.artifactPath);
  if (!folder) throw new ServerModelError(`${input.modelName} v${input.version} has no artifact in this workspace to send to ${backend.location}`);
  const base = await backend.modelVersion(input.modelName, input.retrainedFrom);
  const baseRun = base?.runId ? await backend.getRun(base.runId) : undefined;
  const experimentName = baseRun ? (await backend.listExperiments()).find((e) => e.experimentId === baseRun.experimentId)?.name : undefined;

  input.onProgress?.(`recording the run ${run.name} on ${backend.location}`);
  const ownTags = runs.tags(run.runId);
  const created = await backend.createRun({
    experimentName: experimentName ?? 'Default',
    runName: run.name,
    startTime: run.startTime,
    params: runs.params(run.runId),
    tags: {
      ...Object.fromEntries(Object.entries(ownTags).filter(([key]) => key.startsWith('mlflow.source.') || key === 'mlflow.user')),
      ...(run.pipeline ? { 'mloop.pipeline': run.pipeline } : {}),
      [LOCAL_RUN_TAG]: run.runId,
      [RETRAINED_FROM_TAG]: `models:/${input.modelName}/${input.retrainedFrom}`,
    },
  });
  const serverRunId = created.runId;
  try {
    const inputIds = store.db
      .prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ? ORDER BY dataset_version_id')
      .pluck()
      .all(run.runId) as number[];
    await backend.logBatch(serverRunId, { metrics: runs.latestMetricPoints(run.runId) });
    await backend.logInputs(serverRunId, serverDatasetInputs(store, inputIds, input.projectRoot));
    input.onProgress?.(`uploading ${input.modelName} v${input.version} to ${backend.location} as an MLflow model…`);
    await uploadWithMlflow(ctx.python ?? 'python3', backend, serverRunId, folder, ctx.signal);
    await backend.finishRun(serverRunId, 'FINISHED', run.endTime ?? Date.now());
  } catch (error) {
    // no half-made run left for teammates to take for a version: deleted, or, where the server's user may not delete
    // runs of that experiment (MLflow's auth: only MANAGE may), ended FAILED with the reason as a tag
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 4900);
    await backend
      .deleteRun(serverRunId)
      .catch(async () => {
        await backend.logBatch(serverRunId, { tags: { [PUBLISH_FAILED_TAG]: reason } });
        await backend.finishRun(serverRunId, 'FAILED', Date.now());
      })
      .catch(() => undefined);
    throw error;
  }

  const registered = await backend.createModelVersion({
    name: input.modelName,
    source: `runs:/${serverRunId}/model`,
    runId: serverRunId,
    description: `retrained from v${input.retrainedFrom} in a workspace (run ${run.runId})`,
  });
  const details = models.versionDetails(local.modelVersionId);
  await backend.setVersionTag(input.modelName, registered.version, RETRAINED_FROM_TAG, String(input.retrainedFrom));
  if (local.gatePassed !== null) {
    await backend.setVersionTag(input.modelName, registered.version, GATE_PASSED_TAG, String(local.gatePassed));
    if (details.gate !== null) await backend.setVersionTag(input.modelName, registered.version, GATE_TAG, JSON.stringify(details.gate).slice(0, 4900));
  }
  if (input.challenger)
    await remotePromote(
      { backend, store, actor: ctx.actor, ...(ctx.identityProven ? { identityProven: true } : {}) },
      { modelName: input.modelName, version: registered.version, alias: 'challenger', reason: `retrained from v${input.retrainedFrom}` },
    );

  // the same number here as on the server, unless this store already holds another version of that number
  const taken = models.version(model.modelId, registered.version);
  const setTag = store.db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value');
  store.transaction(() => {
    if (!taken) store.db.prepare('UPDATE model_version SET version = ? WHERE model_version_id = ?').run(registered.version, local.modelVersionId);
    setTag.run(run.runId, PUBLISHED_RUN_TAG, serverRunId);
    setTag.run(run.runId, PUBLISHED_SOURCE_TAG, `models:/${input.modelName}/${registered.version}@${backend.location}`);
    new AuditRepository(store).record({
      actor: ctx.actor,
      action: 'model.publish',
      entityType: 'model_version',
      entityId: `${input.modelName}/${registered.version}`,
      fromValue: `v${input.version}`,
      toValue: `models:/${input.modelName}/${registered.version}`,
      details: { server: backend.location, serverRunId, runId: run.runId, retrainedFrom: input.retrainedFrom, gatePassed: local.gatePassed },
    });
  });
  return { serverVersion: registered.version, serverRunId, server: backend.location, version: models.versionById(local.modelVersionId)! };
}

/** The real MLflow client uploads the artifact as an MLflow model (mlflowModelUpload.py: an estimator file is wrapped with the sklearn flavour). */
async function uploadWithMlflow(python: string, backend: MlflowBackend, runId: string, path: string, signal?: AbortSignal): Promise<void> {
  statSync(path); // a missing artifact is named here, not as a Python traceback
  await runMlflowClient(python, backend, UPLOAD_SOURCE, [runId, path], { verb: 'upload', what: basename(path), where: `to ${backend.location}` }, signal);
}
