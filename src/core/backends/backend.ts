/**
 * Where tracking and registry data live: the project's embedded store (one SQLite file) or a team's
 * MLflow tracking server. The trees, charts and registry commands read and write through this interface
 * so they work the same against either. Ids are text: MLflow's experiment ids can exceed 2^53.
 */

export type BackendKind = 'embedded' | 'mlflow';
export type BackendRunStatus = 'SCHEDULED' | 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface BackendExperiment {
  readonly experimentId: string;
  readonly name: string;
  readonly lifecycleStage: 'active' | 'deleted';
  readonly createdAt: number | null;
}

export interface BackendRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly name: string;
  readonly status: BackendRunStatus;
  readonly startTime: number;
  readonly endTime: number | null;
  readonly params: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  /** The latest value of each metric (highest step, then newest). */
  readonly metrics: Readonly<Record<string, number>>;
}

export interface BackendMetricPoint {
  readonly step: number;
  readonly timestamp: number;
  readonly value: number;
}

export interface RunSearchOptions {
  readonly maxResults?: number;
  readonly pageToken?: string;
  /** MLflow search syntax, e.g. "metrics.accuracy > 0.8 and params.max_depth = '8'". */
  readonly filter?: string;
  /** MLflow order keys, e.g. ["metrics.accuracy DESC"]. */
  readonly orderBy?: readonly string[];
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Present when more items follow: pass it back to get the next page. */
  readonly nextPageToken?: string;
}

export interface BackendModel {
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: number | null;
  readonly updatedAt: number | null;
  /** alias → version */
  readonly aliases: Readonly<Record<string, number>>;
}

export interface BackendModelVersion {
  readonly name: string;
  readonly version: number;
  readonly runId: string | null;
  readonly source: string | null;
  readonly createdAt: number | null;
  readonly aliases: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
}

/** A dataset a run read, as mlflow.log_input records it. */
export interface BackendDatasetInput {
  readonly name: string;
  /** MLflow's digest (at most 36 characters). */
  readonly digest: string;
  readonly sourceType: string | null;
  /** MLflow writes a JSON object, e.g. `{"uri": "/data/x.csv"}`. */
  readonly source: string | null;
  readonly schema: string | null;
  /** JSON, e.g. `{"num_rows": 1461, "num_elements": 8766}`. */
  readonly profile: string | null;
  /** "training", "evaluation", … (tag mlflow.data.context). */
  readonly context: string | null;
}

export interface NewBackendRun {
  readonly experimentName: string;
  readonly runName?: string;
  readonly startTime?: number;
  readonly tags?: Readonly<Record<string, string>>;
  readonly params?: Readonly<Record<string, string>>;
}

/** Where a training script's unchanged MLflow client should log. */
export interface TrackingTarget {
  readonly uri: string;
  /** Bearer token (MLFLOW_TRACKING_TOKEN), when the server needs one. */
  readonly token?: string;
}

export interface Backend {
  readonly kind: BackendKind;
  /** For messages: the store file or the server URI. */
  readonly location: string;
  /** Experiments (active only unless asked), by name. */
  listExperiments(options?: { includeDeleted?: boolean }): Promise<BackendExperiment[]>;
  experimentByName(name: string): Promise<BackendExperiment | undefined>;
  /** Runs of the experiments, newest first or in `orderBy` order, matching the MLflow `filter`, a page at a time. */
  searchRuns(experimentIds: readonly string[], options?: RunSearchOptions): Promise<Page<BackendRun>>;
  getRun(runId: string): Promise<BackendRun | undefined>;
  /** One metric's history in logging order, a page at a time. */
  metricHistory(runId: string, key: string, options?: { maxResults?: number; pageToken?: string }): Promise<Page<BackendMetricPoint>>;
  createRun(run: NewBackendRun): Promise<BackendRun>;
  finishRun(runId: string, status: Exclude<BackendRunStatus, 'SCHEDULED' | 'RUNNING'>, endTime: number): Promise<void>;
  /** Marks a run deleted (MLflow's runs/delete: it leaves searches; its data stays). */
  deleteRun(runId: string): Promise<void>;
  /** Metrics, params and tags for a run (what a training script's protocol lines report). Absent: the backend cannot take them. */
  logBatch?(
    runId: string,
    batch: { metrics?: readonly (BackendMetricPoint & { key: string })[]; params?: Readonly<Record<string, string>>; tags?: Readonly<Record<string, string>> },
  ): Promise<void>;
  /** Records the datasets a run read (mlflow.log_input's record). Absent: the backend keeps inputs elsewhere (the store's run_input). */
  logInputs?(runId: string, inputs: readonly BackendDatasetInput[]): Promise<void>;
  listModels(): Promise<BackendModel[]>;
  /** Newest first. */
  modelVersions(name: string): Promise<BackendModelVersion[]>;
  /** Registers a new version of `name` (creating the model) from a run's artifact. */
  createModelVersion(input: { name: string; source: string; runId?: string; description?: string }): Promise<BackendModelVersion>;
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  close(): void;
}

/** The backend cannot be reached (server down, wrong URI, DNS, timeout): views show this state, not a broken tree. */
export class BackendUnreachableError extends Error {
  override readonly name = 'BackendUnreachableError';
  constructor(
    readonly location: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`MLflow backend unreachable at ${location}: ${detail}`, options);
  }
}

/** The backend answered with an error (bad request, not found, permission): carries MLflow's error_code. */
export class BackendRequestError extends Error {
  override readonly name = 'BackendRequestError';
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}
