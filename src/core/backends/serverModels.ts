import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathDigest, runArtifactDir } from '../registry/modelArtifact';
import type { RegistryContext } from '../registry/register';
import { AuditRepository } from '../store/audit';
import { ExperimentRepository } from '../store/experiments';
import { DatasetRepository } from '../store/datasets';
import { ModelRepository, type ModelVersion } from '../store/models';
import { RunRepository } from '../store/runs';
import { BackendUnreachableError } from './backend';
import type { MlflowBackend } from './mlflowBackend';

/**
 * Deploy, Evaluate and Monitor work on versions of the workspace's store. With the MLflow backend the registry is
 * the team's server, so a version registered there (by anyone) is first brought here: its artifact is downloaded by
 * the real MLflow client from the server's artifact store (`mlflow.artifacts.download_artifacts("models:/name/N")`),
 * its source run is mirrored (same run id, params, metrics, the server named in tags), and the version is registered
 * with the server's number and aliases. Lineage then reads: version ← run (from <server>). Pulling again reuses the
 * copy when the server's version is unchanged.
 */

export class ServerModelError extends Error {
  override readonly name = 'ServerModelError';
}

/** Tags on the mirrored run saying where it came from. */
export const SERVER_TAG = 'mloop.server';
export const SERVER_SOURCE_TAG = 'mloop.server.source';
/** Tags on the workspace's run of a version it sent to a server (publishVersion.ts): the server's run id, and which version it became. */
export const PUBLISHED_RUN_TAG = 'mloop.published.run';
export const PUBLISHED_SOURCE_TAG = 'mloop.published.source';

export interface PulledVersion {
  readonly version: ModelVersion;
  /** False: the copy was already here. */
  readonly downloaded: boolean;
  readonly source: string;
  readonly server: string;
  /** The server was unreachable: the store's earlier copy was used. */
  readonly offline?: boolean;
}

/** The store's copy of a server version (its source run mirrored from that server, or sent there from here), by number or alias. */
export function heldCopy(
  store: RegistryContext['store'],
  server: string,
  ref: { modelName: string; version?: number; alias?: string },
): { version: ModelVersion; source: string } | undefined {
  const models = new ModelRepository(store);
  const model = models.byName(ref.modelName);
  if (!model) return undefined;
  const version = ref.version !== undefined ? models.version(model.modelId, ref.version) : models.versionByAlias(model.modelId, ref.alias ?? 'champion');
  if (!version?.sourceRunId) return undefined;
  const tags = new RunRepository(store).tags(version.sourceRunId);
  // a version this workspace sent to that server: `models:/<name>/<n>@<server>`
  const sent = tags[PUBLISHED_SOURCE_TAG];
  if (sent?.endsWith(`@${server}`)) return { version, source: sent.slice(0, -server.length - 1) };
  return tags[SERVER_TAG] === server && tags[SERVER_SOURCE_TAG] ? { version, source: tags[SERVER_SOURCE_TAG] } : undefined;
}

/** The local experiment that holds runs mirrored from a server experiment. */
const mirrorExperiment = (serverName: string): string => `${serverName} (server)`;

export async function pullServerVersion(
  ctx: RegistryContext & {
    readonly backend: MlflowBackend;
    readonly python?: string;
    readonly signal?: AbortSignal;
    readonly onProgress?: (message: string) => void;
    /** A version of the project's own dataset of that name (a snapshot now), tried when the store holds none the server's digest names. */
    readonly snapshotDataset?: (name: string) => Promise<{ readonly datasetVersionId: number; readonly digest: string } | undefined>;
  },
  ref: { modelName: string; version?: number; alias?: string },
): Promise<PulledVersion> {
  const { backend } = ctx;
  let versions: Awaited<ReturnType<MlflowBackend['modelVersions']>>;
  try {
    versions = await backend.modelVersions(ref.modelName);
  } catch (error) {
    // the server is down: a copy this store already holds of that version (from that server) is still that version
    const copy = error instanceof BackendUnreachableError ? heldCopy(ctx.store, backend.location, ref) : undefined;
    if (!copy) throw error;
    ctx.onProgress?.(`${backend.location} is unreachable: using the copy of ${copy.source} this workspace holds`);
    return { version: copy.version, downloaded: false, source: copy.source, server: backend.location, offline: true };
  }
  if (versions.length === 0) throw new ServerModelError(`no registered model "${ref.modelName}" on ${backend.location}`);
  const wanted =
    ref.version !== undefined ? versions.find((v) => v.version === ref.version) : versions.find((v) => v.aliases.includes(ref.alias ?? 'champion'));
  if (!wanted)
    throw new ServerModelError(
      `${ref.modelName}${ref.version !== undefined ? ` v${ref.version}` : `@${ref.alias ?? 'champion'}`} is not on ${backend.location} (versions: ${versions
        .map((v) => `v${v.version}${v.aliases.length ? ` @${v.aliases.join(' @')}` : ''}`)
        .join(', ')})`,
    );
  if (!wanted.runId) throw new ServerModelError(`${ref.modelName} v${wanted.version} on ${backend.location} has no source run: mloop needs one to copy it`);
  const source = `models:/${ref.modelName}/${wanted.version}`;
  const models = new ModelRepository(ctx.store);
  const model = models.byName(ref.modelName);
  const held = model ? models.version(model.modelId, wanted.version) : undefined;
  // a version this workspace trained and sent there is that version, under its own run id
  const sentFromHere = held?.sourceRunId ? new RunRepository(ctx.store).tags(held.sourceRunId)[PUBLISHED_RUN_TAG] === wanted.runId : false;
  if (held && held.sourceRunId !== wanted.runId && !sentFromHere)
    throw new ServerModelError(
      `${ref.modelName} v${wanted.version} in this workspace's store is not ${source} of ${backend.location} (another source run): rename the local model or use another store`,
    );
  let version = held;
  let downloaded = false;
  // a copy made before the project declared (or held) the run's data: its inputs are matched again
  if (held && !sentFromHere && new RunRepository(ctx.store).tags(wanted.runId)[SERVER_TAG] === backend.location)
    await mirrorRunInputs(ctx.store, backend, wanted.runId, ctx.snapshotDataset);
  if (!held) {
    const run = await backend.getRun(wanted.runId);
    if (!run) throw new ServerModelError(`the source run ${wanted.runId} of ${source} is not on ${backend.location}`);
    const runs = new RunRepository(ctx.store);
    if (!runs.get(run.runId)) {
      const serverExperiment = (await backend.listExperiments()).find((e) => e.experimentId === run.experimentId)?.name ?? run.experimentId;
      runs.create({
        runId: run.runId,
        experimentId: new ExperimentRepository(ctx.store).ensure(mirrorExperiment(serverExperiment)).experimentId,
        name: run.name,
        status: 'FINISHED',
        startTime: run.startTime,
        params: run.params,
        tags: { ...run.tags, [SERVER_TAG]: backend.location, [SERVER_SOURCE_TAG]: source },
        // a run mloop launched names its pipeline on the server: Retrain rebuilds the recipe from it
        ...(run.tags[PIPELINE_TAG] ? { pipeline: run.tags[PIPELINE_TAG] } : {}),
      });
      await mirrorRunInputs(ctx.store, backend, run.runId, ctx.snapshotDataset);
    }
    const experimentId = runs.get(run.runId)!.experimentId;
    const path = `${ref.modelName}-v${wanted.version}`;
    const folder = join(runArtifactDir(ctx.artifactRoot, experimentId, run.runId), path);
    if (existsSync(folder)) rmSync(folder, { recursive: true, force: true }); // a half-finished earlier download
    mkdirSync(folder, { recursive: true });
    ctx.onProgress?.(`downloading ${source} from ${backend.location}…`);
    try {
      await downloadWithMlflow(ctx.python ?? 'python3', backend, source, folder, ctx.signal);
    } catch (error) {
      rmSync(folder, { recursive: true, force: true });
      throw error;
    }
    const digest = await pathDigest(folder);
    const metrics = Object.fromEntries(Object.entries(run.metrics).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
    version = models.registerVersion({
      name: ref.modelName,
      version: wanted.version,
      sourceRunId: run.runId,
      artifactPath: `runs:/${run.runId}/${path}`,
      artifactDigest: digest,
      metrics,
      ...(wanted.tags['mloop.gate.passed'] !== undefined ? { gate: { passed: wanted.tags['mloop.gate.passed'] === 'true', result: null } } : {}),
      description: `copy of ${source} from ${backend.location}`,
      actor: ctx.actor,
    });
    new AuditRepository(ctx.store).record({
      actor: ctx.actor,
      action: 'model.pull',
      entityType: 'model_version',
      entityId: `${ref.modelName}/${wanted.version}`,
      toValue: source,
      details: { server: backend.location, runId: run.runId, artifactDigest: digest },
    });
    downloaded = true;
  }
  // the server's aliases hold here too (a protected target takes only the champion)
  const modelId = models.byName(ref.modelName)!.modelId;
  for (const alias of wanted.aliases)
    if (models.versionByAlias(modelId, alias)?.version !== wanted.version)
      models.setAlias({ modelId, alias, version: wanted.version, actor: ctx.actor, reason: `as on ${backend.location}` });
  return { version: models.version(modelId, wanted.version) ?? version!, downloaded, source, server: backend.location };
}

/** The tag a run launched by mloop carries on the server with its pipeline's name. */
const PIPELINE_TAG = 'mloop.pipeline';

/**
 * The datasets the server run logged (`mlflow.log_input`: name, digest, source) become the mirrored run's inputs, so
 * drift's reference and Retrain's recipe read the data the version was trained on. A version of that dataset in the
 * store whose digest starts with the server's (MLflow keeps 36 characters of mloop's SHA-256) is that data; otherwise
 * the server's record is kept as an MLflow dataset version (its source and digest), as the tracking endpoint does.
 */
async function mirrorRunInputs(
  store: RegistryContext['store'],
  backend: MlflowBackend,
  runId: string,
  snapshot?: (name: string) => Promise<{ readonly datasetVersionId: number; readonly digest: string } | undefined>,
): Promise<void> {
  const found = await backend.runWithInputs(runId);
  const datasets = new DatasetRepository(store);
  const sameContent = (v: { digest: string }, digest: string): boolean => v.digest === digest || v.digest.replace(/^sha256:/, '').startsWith(digest);
  for (const input of found?.inputs ?? []) {
    const dataset = datasets.byName(input.name);
    let local: { datasetVersionId: number } | undefined = dataset
      ? datasets.versions(dataset.datasetId).find((v) => v.digest !== input.digest && sameContent(v, input.digest))
      : undefined;
    if (!local && snapshot) {
      // the project's own copy of that dataset, when it holds the same content
      const taken = await snapshot(input.name).catch(() => undefined);
      if (taken && sameContent(taken, input.digest)) local = taken;
    }
    if (local) {
      // a record of the server's digest linked by an earlier copy gives way to the content itself
      store.db
        .prepare(
          "DELETE FROM run_input WHERE run_id = ? AND dataset_version_id IN (SELECT dataset_version_id FROM dataset_version WHERE digest = ? AND origin = 'mlflow')",
        )
        .run(runId, input.digest);
      datasets.linkRunInput(runId, local.datasetVersionId, input.context ?? 'training');
      continue;
    }
    const uri = sourceUri(input.source);
    const id = (dataset ?? datasets.upsert({ name: input.name, uri: uri ?? input.name, source: 'mlflow' })).datasetId;
    const rows = rowCountOf(input.profile);
    const { version } = datasets.addVersion({
      datasetId: id,
      digest: input.digest,
      digestAlgorithm: 'mlflow',
      path: uri ?? input.source ?? '',
      ...(rows !== undefined ? { rowCount: rows } : {}),
      origin: 'mlflow',
    });
    datasets.linkRunInput(runId, version.datasetVersionId, input.context ?? 'training');
  }
}

function sourceUri(source: string | null): string | undefined {
  if (!source) return undefined;
  try {
    const parsed = JSON.parse(source) as { uri?: unknown; path?: unknown };
    const value = parsed.uri ?? parsed.path;
    return typeof value === 'string' ? value.replace(/^file:\/\//, '') : undefined;
  } catch {
    return source;
  }
}

function rowCountOf(profile: string | null): number | undefined {
  try {
    const rows = profile ? (JSON.parse(profile) as { num_rows?: unknown }).num_rows : undefined;
    return typeof rows === 'number' ? rows : undefined;
  } catch {
    return undefined;
  }
}

const DOWNLOAD = [
  'import sys, mlflow',
  'from mlflow.artifacts import download_artifacts',
  'download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])',
].join('\n');

/** The real MLflow client downloads the version's artifact from the server (its artifact store or proxy). */
function downloadWithMlflow(python: string, backend: MlflowBackend, source: string, folder: string, signal?: AbortSignal): Promise<void> {
  return runMlflowClient(python, backend, DOWNLOAD, [source, folder], { verb: 'download', what: source, where: `from ${backend.location}` }, signal);
}

/**
 * Runs a short script with the real MLflow client against the server (`python -c script ...args`), failing with a
 * ServerModelError that says what could not be moved: no Python, no mlflow package, or the client's last line.
 */
export async function runMlflowClient(
  python: string,
  backend: MlflowBackend,
  script: string,
  args: string[],
  task: { verb: 'download' | 'upload'; what: string; where: string },
  signal?: AbortSignal,
): Promise<void> {
  await new Promise<void>((done, fail) => {
    const child = spawn(python, ['-c', script, ...args], {
      env: {
        ...process.env,
        ...backend.clientEnv,
        MLFLOW_DISABLE_TELEMETRY: 'true',
        DO_NOT_TRACK: 'true',
        GIT_PYTHON_REFRESH: 'quiet',
        // a refused transfer fails in seconds, not after the client's minutes of backoff
        MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    child.on('error', (error) =>
      fail(
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? new ServerModelError(`no Python at "${python}" to ${task.verb} ${task.what}: install Python 3 with mlflow (pip install mlflow)`)
          : error,
      ),
    );
    child.on('close', (code) => {
      if (code === 0) return done();
      const last = stderr.trim().split('\n').pop() ?? '';
      // the helper's own refusal (an unsupported artifact) is the whole message
      const refused = /^mloop-unsupported: (.*)$/m.exec(stderr)?.[1];
      fail(
        new ServerModelError(
          refused
            ? refused
            : /No module named .?mlflow/.test(stderr)
              ? `${task.verb === 'upload' ? 'uploading' : 'downloading'} ${task.what} needs the mlflow package in ${python}: pip install mlflow`
              : `the MLflow client could not ${task.verb} ${task.what} ${task.where}: ${last}`,
        ),
      );
    });
  });
}
