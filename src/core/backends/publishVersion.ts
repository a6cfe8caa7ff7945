import { statSync } from 'node:fs';
import { basename } from 'node:path';
import UPLOAD_SOURCE from './mlflowModelUpload.py';
import { artifactLocation } from '../registry/modelArtifact';
import type { RegistryContext } from '../registry/register';
import { serverDatasetInputs } from '../runs/launcher';
import { AuditRepository } from '../store/audit';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository } from '../store/runs';
import { ExperimentRepository } from '../store/experiments';
import type { Store } from '../store/store';
import type { MlflowBackend } from './mlflowBackend';
import { GATE_PASSED_TAG, GATE_TAG, remotePromote } from './remoteRegistry';
import { heldCopy, PUBLISHED_RUN_TAG, PUBLISHED_SOURCE_TAG, runMlflowClient, SERVER_SOURCE_TAG, SERVER_TAG, ServerModelError } from './serverModels';

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
  ctx: PublishContext,
  input: {
    modelName: string;
    projectRoot: string;
    version: number;
    /** The server version it was retrained from (tag `mloop.retrained_from`); none for a version trained here from scratch. */
    retrainedFrom?: number;
    challenger: boolean;
    onProgress?: (message: string) => void;
    /** A FINISHED server run an earlier attempt made and uploaded (it stopped before registering): registered, not made again. */
    resumeRunId?: string;
  },
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
  const retrainedFrom = input.retrainedFrom;
  let serverRunId = input.resumeRunId;
  if (serverRunId === undefined) {
    const base = retrainedFrom !== undefined ? await backend.modelVersion(input.modelName, retrainedFrom) : undefined;
    const baseRun = base?.runId ? await backend.getRun(base.runId) : undefined;
    const experimentName = baseRun
      ? (await backend.listExperiments()).find((e) => e.experimentId === baseRun.experimentId)?.name
      : // a version trained here: the experiment of its run, named as on the server when it is a mirror of one
        new ExperimentRepository(store).get(run.experimentId)?.name.replace(/ \(server\)$/, '');

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
        ...(retrainedFrom !== undefined ? { [RETRAINED_FROM_TAG]: `models:/${input.modelName}/${retrainedFrom}` } : {}),
      },
    });
    serverRunId = created.runId;
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
      const made = serverRunId;
      await backend
        .deleteRun(made)
        .catch(async () => {
          await backend.logBatch(made, { tags: { [PUBLISH_FAILED_TAG]: reason } });
          await backend.finishRun(made, 'FAILED', Date.now());
        })
        .catch(() => undefined);
      throw error;
    }
  }

  // registered from the run before anything else: a FINISHED run with no version is what a later publish resumes
  const registered =
    (await backend.modelVersions(input.modelName).catch(() => [])).find((v) => v.runId === serverRunId) ??
    (await backend.createModelVersion({
      name: input.modelName,
      source: `runs:/${serverRunId}/model`,
      runId: serverRunId,
      description:
        retrainedFrom !== undefined ? `retrained from v${retrainedFrom} in a workspace (run ${run.runId})` : `trained in a workspace (run ${run.runId})`,
    }));
  const details = models.versionDetails(local.modelVersionId);
  if (retrainedFrom !== undefined) await backend.setVersionTag(input.modelName, registered.version, RETRAINED_FROM_TAG, String(retrainedFrom));
  if (local.gatePassed !== null) {
    await backend.setVersionTag(input.modelName, registered.version, GATE_PASSED_TAG, String(local.gatePassed));
    if (details.gate !== null) await backend.setVersionTag(input.modelName, registered.version, GATE_TAG, JSON.stringify(details.gate).slice(0, 4900));
  }
  if (input.challenger)
    await remotePromote(
      { backend, store, actor: ctx.actor, ...(ctx.identityProven ? { identityProven: true } : {}) },
      {
        modelName: input.modelName,
        version: registered.version,
        alias: 'challenger',
        reason: retrainedFrom !== undefined ? `retrained from v${retrainedFrom}` : `v${input.version} of a workspace`,
      },
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
      details: {
        server: backend.location,
        serverRunId,
        runId: run.runId,
        retrainedFrom: retrainedFrom ?? null,
        gatePassed: local.gatePassed,
        ...(input.resumeRunId ? { resumed: true } : {}),
      },
    });
  });
  return { serverVersion: registered.version, serverRunId, server: backend.location, version: models.versionById(local.modelVersionId)! };
}

export type PublishContext = RegistryContext & {
  readonly backend: MlflowBackend;
  readonly python?: string;
  readonly signal?: AbortSignal;
  readonly identityProven?: boolean;
};

/** A request to publish that cannot be carried out as asked (no such version): the user's to fix, not the server's. */
export class PublishRequestError extends Error {
  override readonly name = 'PublishRequestError';
}

/** Where a version of the store stands with a server: a copy of one of its versions, sent there, or only here. */
export type ServerStanding =
  | { readonly kind: 'copy'; readonly source: string }
  | { readonly kind: 'sent'; readonly source: string; readonly serverRunId: string | undefined }
  | { readonly kind: 'local' };

export function serverStanding(store: Store, server: string, version: ModelVersion): ServerStanding {
  if (!version.sourceRunId) return { kind: 'local' };
  const tags = new RunRepository(store).tags(version.sourceRunId);
  const sent = tags[PUBLISHED_SOURCE_TAG];
  if (sent?.endsWith(`@${server}`)) return { kind: 'sent', source: sent.slice(0, -server.length - 1), serverRunId: tags[PUBLISHED_RUN_TAG] };
  if (tags[SERVER_TAG] === server && tags[SERVER_SOURCE_TAG]) return { kind: 'copy', source: tags[SERVER_SOURCE_TAG] };
  return { kind: 'local' };
}

/** The store's versions of a model that the server has not got: trained or retrained here, never sent there (newest first). */
export function unpublishedVersions(store: Store, server: string, modelName: string): ModelVersion[] {
  const models = new ModelRepository(store);
  const model = models.byName(modelName);
  if (!model) return [];
  return models.versions(model.modelId).filter((v) => v.sourceRunId !== null && serverStanding(store, server, v).kind === 'local');
}

/**
 * The server version a version of the store was retrained from: its run's `retrain` audit entry names the base
 * version here, and that base is a copy of (or was sent as) a version of this server. Undefined: not retrained from
 * one of its versions.
 */
export function retrainedFromOnServer(store: Store, server: string, modelName: string, sourceRunId: string): number | undefined {
  const from = store.db
    .prepare(
      "SELECT from_value FROM audit WHERE action = 'retrain' AND entity_id = ? AND json_extract(details_json, '$.runId') = ? ORDER BY audit_id DESC LIMIT 1",
    )
    .pluck()
    .get(modelName, sourceRunId) as string | undefined;
  const base = from ? /^v(\d+)$/.exec(from)?.[1] : undefined;
  if (base === undefined) return undefined;
  const copy = heldCopy(store, server, { modelName, version: Number(base) });
  const number = copy ? /^models:\/[^/]+\/(\d+)$/.exec(copy.source)?.[1] : undefined;
  return number === undefined ? undefined : Number(number);
}

export type StoredVersionPublish =
  | { readonly outcome: 'published'; readonly published: PublishedVersion; readonly retrainedFrom: number | null; readonly resumed: boolean }
  | { readonly outcome: 'already'; readonly server: string; readonly source: string; readonly how: 'sent' | 'copy'; readonly version: ModelVersion };

/**
 * `mloop publish <model/N>` and **Publish to Team Server**: a version of the store that is not on the team's server
 * (a retrain whose publish failed: exit 8; or one trained here) registered there now, through the same upload as a
 * retrain's. Idempotent: a version already sent there, or a copy of one of its versions, is left alone and said so;
 * a run an earlier attempt left FINISHED on the server without its version is registered, not made twice.
 */
export async function publishStoredVersion(
  ctx: PublishContext,
  input: { modelName: string; version: number; projectRoot: string; onProgress?: (message: string) => void },
): Promise<StoredVersionPublish> {
  const { backend, store } = ctx;
  const models = new ModelRepository(store);
  const model = models.byName(input.modelName);
  if (!model) throw new PublishRequestError(`no model "${input.modelName}" in this workspace's store`);
  const local = models.version(model.modelId, input.version);
  if (!local)
    throw new PublishRequestError(
      `${input.modelName} has no v${input.version} in this workspace's store (versions: ${models
        .versions(model.modelId)
        .map((v) => `v${v.version}`)
        .join(', ')})`,
    );
  if (!local.sourceRunId) throw new PublishRequestError(`${input.modelName} v${input.version} has no source run in this workspace: nothing to send`);
  const standing = serverStanding(store, backend.location, local);
  if (standing.kind === 'copy') return { outcome: 'already', server: backend.location, source: standing.source, how: 'copy', version: local };
  if (standing.kind === 'sent') {
    // still there as sent (a version someone deleted on the server since is sent again)
    const number = Number(/\/(\d+)$/.exec(standing.source)?.[1]);
    const onServer = await backend.modelVersion(input.modelName, number);
    if (onServer && (!standing.serverRunId || onServer.runId === standing.serverRunId))
      return { outcome: 'already', server: backend.location, source: standing.source, how: 'sent', version: local };
  }
  const retrainedFrom = retrainedFromOnServer(store, backend.location, input.modelName, local.sourceRunId);
  // an earlier attempt that got as far as a FINISHED run (and maybe its version) before it stopped: resumed, not repeated
  const earlier = (await backend.searchRunsWhere(`tags.\`${LOCAL_RUN_TAG}\` = '${local.sourceRunId.replace(/'/g, '')}'`, 100)).find(
    (r) => r.status === 'FINISHED',
  );
  const challenger = local.aliases.includes('challenger');
  const published = await publishVersionToServer(ctx, {
    modelName: input.modelName,
    projectRoot: input.projectRoot,
    version: input.version,
    ...(retrainedFrom !== undefined ? { retrainedFrom } : {}),
    challenger,
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
    ...(earlier ? { resumeRunId: earlier.runId } : {}),
  });
  return { outcome: 'published', published, retrainedFrom: retrainedFrom ?? null, resumed: earlier !== undefined };
}

/** The real MLflow client uploads the artifact as an MLflow model (mlflowModelUpload.py: an estimator file is wrapped with the sklearn flavour). */
async function uploadWithMlflow(python: string, backend: MlflowBackend, runId: string, path: string, signal?: AbortSignal): Promise<void> {
  statSync(path); // a missing artifact is named here, not as a Python traceback
  await runMlflowClient(python, backend, UPLOAD_SOURCE, [runId, path], { verb: 'upload', what: basename(path), where: `to ${backend.location}` }, signal);
}
