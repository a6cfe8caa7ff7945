import { osUser } from '../store/audit';
import { ArtifactRepository } from '../store/artifacts';
import { ExperimentRepository, type Experiment } from '../store/experiments';
import { GroupCommit } from '../store/groupCommit';
import { ModelRepository } from '../store/models';
import { RunRepository, type Run } from '../store/runs';
import type { Store } from '../store/store';
import { invalidParameter, MlflowApiError, notFound } from './errors';
import type { MetricWriterThread } from './metricWriter';

/** Everything a request handler may touch: the store, its repositories and the artifact folder. */
export interface TrackingContext {
  readonly store: Store;
  readonly artifactRoot: string;
  readonly experiments: ExperimentRepository;
  readonly runs: RunRepository;
  readonly models: ModelRepository;
  readonly artifacts: ArtifactRepository;
  /** Metric and batch writes: requests that arrive together share one commit (see GroupCommit). */
  readonly writes: GroupCommit;
  /** Plain log-batch writes on a thread of their own, when the server started one (see metricWriter.ts). */
  metricWriter?: MetricWriterThread;
  readonly log: (line: string) => void;
}

/**
 * A JSON endpoint: validated input in, a JSON-serialisable response out (or an MlflowApiError); a
 * promise of one for writes that wait for their group commit.
 */
export type JsonHandler = (ctx: TrackingContext, input: Record<string, unknown>, pathParams: readonly string[]) => unknown;

/**
 * An endpoint's hot path from its raw request body (its chunks as read), skipping JSON.parse: its answer (as a JsonHandler's), or undefined
 * when it does not take this body, which then goes to the endpoint's JsonHandler as usual.
 */
export type BodyHandler = (ctx: TrackingContext, body: readonly Buffer[]) => unknown;

export function createContext(options: {
  store: Store;
  artifactRoot: string;
  log?: (line: string) => void;
  metricWriter?: MetricWriterThread;
}): TrackingContext {
  return {
    store: options.store,
    artifactRoot: options.artifactRoot,
    experiments: new ExperimentRepository(options.store),
    runs: new RunRepository(options.store),
    models: new ModelRepository(options.store),
    artifacts: new ArtifactRepository(options.store),
    writes: new GroupCommit(options.store),
    log: options.log ?? (() => undefined),
    ...(options.metricWriter ? { metricWriter: options.metricWriter } : {}),
  };
}

/** Experiment ids are strings on the wire and integers in the store; "0" is MLflow's Default experiment. */
export function findExperiment(ctx: TrackingContext, id: string): Experiment {
  if (!/^\d{1,15}$/.test(id))
    throw invalidParameter(`Invalid experiment_id ${JSON.stringify(id.slice(0, 40))}: expected a decimal number such as "0" or "12".`);
  const n = Number(id);
  const experiment = ctx.experiments.get(n) ?? (n === 0 ? ctx.experiments.ensureDefault() : undefined);
  if (!experiment) throw notFound(`No experiment with id ${id}.`);
  return experiment;
}

export function findActiveExperiment(ctx: TrackingContext, id: string): Experiment {
  const experiment = findExperiment(ctx, id);
  if (experiment.lifecycleStage !== 'active') {
    throw new MlflowApiError('INVALID_STATE', `Experiment ${id} (${experiment.name}) is deleted; restore it before logging to it.`);
  }
  return experiment;
}

/** Where an experiment's artifacts go: the proxy URI, so clients upload through this server. */
export const experimentArtifactLocation = (experiment: Experiment): string => experiment.artifactLocation ?? `mlflow-artifacts:/${experiment.experimentId}`;

export function findRun(ctx: TrackingContext, runId: string | undefined): Run {
  if (!runId) throw invalidParameter('Missing value for required parameter run_id.');
  const run = ctx.runs.get(runId);
  if (!run) throw notFound(`Run with id=${runId.slice(0, 64)} not found.`);
  return run;
}

/** A run that accepts new data: it exists and is not deleted. */
export function findWritableRun(ctx: TrackingContext, runId: string | undefined): Run {
  const run = findRun(ctx, runId);
  if (ctx.runs.lifecycleStage(run.runId) !== 'active') {
    throw new MlflowApiError('INVALID_STATE', `The run ${run.runId} must be in the 'active' state to log to it (it is deleted).`);
  }
  return run;
}

/** Who made a registry change: the run's `mlflow.user` tag, else the OS user running the server. */
export function actorFor(ctx: TrackingContext, runId: string | null | undefined): string {
  if (runId) {
    const user = ctx.runs.tags(runId)['mlflow.user'] ?? ctx.runs.get(runId)?.user;
    if (user) return user;
  }
  return osUser();
}
