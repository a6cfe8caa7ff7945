import { z } from 'zod';
import {
  BackendRequestError,
  BackendUnreachableError,
  type Backend,
  type BackendExperiment,
  type BackendMetricPoint,
  type BackendModel,
  type BackendDatasetInput,
  type BackendModelVersion,
  type BackendRun,
  type NewBackendRun,
  type Page,
  type RunSearchOptions,
} from './backend';

// MLflow's REST API 2.0 (the same one the Python client speaks). Every response is parsed by zod:
// a proxy's HTML page or a changed field fails here with the endpoint named, not deep in a tree.

const int = z.union([
  z.number(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);
/** MLflow writes NaN and ±Infinity as strings in JSON. */
const floatValue = z.union([
  z.number(),
  z
    .enum(['NaN', 'Infinity', '-Infinity'])
    .transform((s) => (s === 'NaN' ? Number.NaN : s === 'Infinity' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY)),
]);
const keyValue = z.object({ key: z.string(), value: z.string().nullish() });
const metric = z.object({ key: z.string(), value: floatValue, timestamp: int.nullish(), step: int.nullish() });

const experimentSchema = z.object({
  experiment_id: z.string(),
  name: z.string(),
  lifecycle_stage: z.enum(['active', 'deleted']).nullish(),
  creation_time: int.nullish(),
  tags: z.array(keyValue).nullish(),
});
const runSchema = z.object({
  info: z.object({
    run_id: z.string(),
    experiment_id: z.string(),
    run_name: z.string().nullish(),
    status: z.enum(['SCHEDULED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED']),
    start_time: int.nullish(),
    end_time: int.nullish(),
    lifecycle_stage: z.enum(['active', 'deleted']).nullish(),
  }),
  data: z
    .object({
      metrics: z.array(metric).nullish(),
      params: z.array(keyValue).nullish(),
      tags: z.array(keyValue).nullish(),
    })
    .nullish(),
  /** What mlflow.log_input recorded (MLflow ≥ 2.4). */
  inputs: z
    .object({
      dataset_inputs: z
        .array(
          z.object({
            tags: z.array(keyValue).nullish(),
            dataset: z.object({
              name: z.string(),
              digest: z.string(),
              source_type: z.string().nullish(),
              source: z.string().nullish(),
              schema: z.string().nullish(),
              profile: z.string().nullish(),
            }),
          }),
        )
        .nullish(),
    })
    .nullish(),
});
const aliasSchema = z.object({ alias: z.string(), version: int });
const modelSchema = z.object({
  name: z.string(),
  description: z.string().nullish(),
  creation_timestamp: int.nullish(),
  last_updated_timestamp: int.nullish(),
  aliases: z.array(aliasSchema).nullish(),
  tags: z.array(keyValue).nullish(),
});
const versionSchema = z.object({
  name: z.string(),
  version: int,
  run_id: z.string().nullish(),
  source: z.string().nullish(),
  creation_timestamp: int.nullish(),
  aliases: z.array(z.string()).nullish(),
  tags: z.array(keyValue).nullish(),
});

const responses = {
  experimentsSearch: z.object({ experiments: z.array(experimentSchema).nullish(), next_page_token: z.string().nullish() }),
  experimentGet: z.object({ experiment: experimentSchema }),
  experimentCreate: z.object({ experiment_id: z.string() }),
  runsSearch: z.object({ runs: z.array(runSchema).nullish(), next_page_token: z.string().nullish() }),
  run: z.object({ run: runSchema }),
  history: z.object({ metrics: z.array(metric).nullish(), next_page_token: z.string().nullish() }),
  modelsSearch: z.object({ registered_models: z.array(modelSchema).nullish(), next_page_token: z.string().nullish() }),
  versionsSearch: z.object({ model_versions: z.array(versionSchema).nullish(), next_page_token: z.string().nullish() }),
  version: z.object({ model_version: versionSchema }),
  modelGet: z.object({ registered_model: modelSchema }),
  currentUser: z.object({ user: z.object({ username: z.string() }) }),
  any: z.unknown(),
};
const errorBody = z.object({ error_code: z.string(), message: z.string().optional() });

export interface MlflowBackendOptions {
  /** http(s)://host:port of the tracking server (a path prefix is kept). */
  readonly trackingUri: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  readonly token?: string;
  /** HTTP basic auth (MLFLOW_TRACKING_USERNAME / _PASSWORD): a server run with `--app-name basic-auth` checks them. */
  readonly username?: string;
  readonly password?: string;
  /** Per request, in ms (default 15 s). */
  readonly timeoutMs?: number;
}

/** A team's MLflow tracking server behind the Backend interface. */
export class MlflowBackend implements Backend {
  readonly kind = 'mlflow' as const;
  readonly location: string;
  private readonly base: string;
  private readonly timeoutMs: number;

  /** The basic-auth user this client logs in as (MLFLOW_TRACKING_USERNAME), when it has one. */
  get username(): string | undefined {
    return this.options.username;
  }

  constructor(private readonly options: MlflowBackendOptions) {
    let url: URL;
    try {
      url = new URL(options.trackingUri);
    } catch {
      throw new Error(`mloop.mlflow.trackingUri "${options.trackingUri}" is not a URL (expected http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(
        `mloop.mlflow.trackingUri must be an http:// or https:// tracking server (got ${url.protocol}); to read an mlflow.db or mlruns folder use "mloop import mlflow"`,
      );
    }
    this.location = options.trackingUri.replace(/\/+$/, '');
    this.base = `${this.location}/api/2.0/mlflow/`;
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** The environment that points a child's MLflow client at this server as the same user (never logged). */
  get clientEnv(): Record<string, string> {
    return {
      MLFLOW_TRACKING_URI: this.location,
      ...(this.options.token ? { MLFLOW_TRACKING_TOKEN: this.options.token } : {}),
      ...(this.options.username !== undefined
        ? { MLFLOW_TRACKING_USERNAME: this.options.username, MLFLOW_TRACKING_PASSWORD: this.options.password ?? '' }
        : {}),
    };
  }

  /** Where a training script's MLflow client should log (MLFLOW_TRACKING_URI / _TOKEN). */
  get tracking(): { uri: string; token?: string } {
    return this.options.token ? { uri: this.location, token: this.options.token } : { uri: this.location };
  }

  async listExperiments(options: { includeDeleted?: boolean } = {}): Promise<BackendExperiment[]> {
    const out: BackendExperiment[] = [];
    let pageToken: string | undefined;
    do {
      const body = await this.post(
        'experiments/search',
        { max_results: 1000, view_type: options.includeDeleted ? 'ALL' : 'ACTIVE_ONLY', ...(pageToken ? { page_token: pageToken } : {}) },
        responses.experimentsSearch,
      );
      out.push(...(body.experiments ?? []).map(toExperiment));
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async experimentByName(name: string): Promise<BackendExperiment | undefined> {
    const body = await this.get('experiments/get-by-name', { experiment_name: name }, responses.experimentGet, { notFound: true });
    return body && toExperiment(body.experiment);
  }

  async searchRuns(experimentIds: readonly string[], options: RunSearchOptions = {}): Promise<Page<BackendRun>> {
    const body = await this.post(
      'runs/search',
      {
        experiment_ids: experimentIds,
        max_results: options.maxResults ?? 1000,
        order_by: options.orderBy?.length ? options.orderBy : ['attributes.start_time DESC'],
        ...(options.filter ? { filter: options.filter } : {}),
        run_view_type: 'ACTIVE_ONLY',
        ...(options.pageToken ? { page_token: options.pageToken } : {}),
      },
      responses.runsSearch,
    );
    const items = (body.runs ?? []).map(toRun);
    return body.next_page_token ? { items, nextPageToken: body.next_page_token } : { items };
  }

  async getRun(runId: string): Promise<BackendRun | undefined> {
    const body = await this.get('runs/get', { run_id: runId }, responses.run, { notFound: true });
    return body && toRun(body.run);
  }

  async metricHistory(runId: string, key: string, options: { maxResults?: number; pageToken?: string } = {}): Promise<Page<BackendMetricPoint>> {
    const query: Record<string, string> = { run_id: runId, metric_key: key, max_results: String(options.maxResults ?? 25_000) };
    if (options.pageToken) query.page_token = options.pageToken;
    const body = await this.get('metrics/get-history', query, responses.history);
    const items = (body.metrics ?? []).map((m) => ({ step: m.step ?? 0, timestamp: m.timestamp ?? 0, value: m.value }));
    return body.next_page_token ? { items, nextPageToken: body.next_page_token } : { items };
  }

  async createRun(input: NewBackendRun): Promise<BackendRun> {
    const experiment = (await this.experimentByName(input.experimentName)) ?? (await this.createExperiment(input.experimentName));
    const tags = { ...(input.tags ?? {}), ...(input.runName ? { 'mlflow.runName': input.runName } : {}) };
    const body = await this.post(
      'runs/create',
      {
        experiment_id: experiment.experimentId,
        start_time: input.startTime ?? Date.now(),
        ...(input.runName ? { run_name: input.runName } : {}),
        tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
      },
      responses.run,
    );
    const runId = body.run.info.run_id;
    const params = Object.entries(input.params ?? {}).map(([key, value]) => ({ key, value }));
    for (let i = 0; i < params.length; i += 100) await this.post('runs/log-batch', { run_id: runId, params: params.slice(i, i + 100) }, responses.any);
    return (await this.getRun(runId)) ?? toRun(body.run);
  }

  async finishRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED', endTime: number): Promise<void> {
    await this.post('runs/update', { run_id: runId, status, end_time: endTime }, responses.any);
  }

  async deleteRun(runId: string): Promise<void> {
    await this.post('runs/delete', { run_id: runId }, responses.any);
  }

  /** log-batch in MLflow's limits per request: 1000 metrics, 100 params, 100 tags. */
  async logBatch(
    runId: string,
    batch: { metrics?: readonly (BackendMetricPoint & { key: string })[]; params?: Readonly<Record<string, string>>; tags?: Readonly<Record<string, string>> },
  ): Promise<void> {
    const metrics = (batch.metrics ?? []).map((m) => ({
      key: m.key,
      value: Number.isNaN(m.value) ? 'NaN' : m.value === Infinity ? 'Infinity' : m.value === -Infinity ? '-Infinity' : m.value,
      timestamp: m.timestamp,
      step: m.step,
    }));
    const params = Object.entries(batch.params ?? {}).map(([key, value]) => ({ key, value }));
    const tags = Object.entries(batch.tags ?? {}).map(([key, value]) => ({ key, value }));
    for (let m = 0, p = 0, t = 0; m < metrics.length || p < params.length || t < tags.length; m += 1000, p += 100, t += 100) {
      await this.post(
        'runs/log-batch',
        { run_id: runId, metrics: metrics.slice(m, m + 1000), params: params.slice(p, p + 100), tags: tags.slice(t, t + 100) },
        responses.any,
      );
    }
  }

  async listModels(): Promise<BackendModel[]> {
    const out: BackendModel[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { max_results: '1000' };
      if (pageToken) query.page_token = pageToken;
      const body = await this.get('registered-models/search', query, responses.modelsSearch);
      for (const m of body.registered_models ?? []) {
        out.push({
          name: m.name,
          description: m.description ?? null,
          createdAt: m.creation_timestamp ?? null,
          updatedAt: m.last_updated_timestamp ?? null,
          aliases: Object.fromEntries((m.aliases ?? []).map((a) => [a.alias, a.version])),
        });
      }
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async modelVersions(name: string): Promise<BackendModelVersion[]> {
    const out: BackendModelVersion[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { filter: `name = ${filterLiteral(name)}`, max_results: '1000' };
      if (pageToken) query.page_token = pageToken;
      const body = await this.get('model-versions/search', query, responses.versionsSearch);
      out.push(...(body.model_versions ?? []).map(toVersion));
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    // model-versions/search leaves aliases out; the registered model lists them
    const aliases = await this.aliasesOf(name);
    return out.map((v) => ({ ...v, aliases: [...(aliases.get(v.version) ?? [])].sort() })).sort((a, b) => b.version - a.version);
  }

  async createModelVersion(input: { name: string; source: string; runId?: string; description?: string }): Promise<BackendModelVersion> {
    const exists = await this.get('registered-models/get', { name: input.name }, responses.any, { notFound: true });
    if (exists === undefined) await this.post('registered-models/create', { name: input.name }, responses.any);
    const body = await this.post(
      'model-versions/create',
      {
        name: input.name,
        source: input.source,
        ...(input.runId ? { run_id: input.runId } : {}),
        ...(input.description ? { description: input.description } : {}),
      },
      responses.version,
    );
    return toVersion(body.model_version);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    await this.post('registered-models/alias', { name, alias, version: String(version) }, responses.any);
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.request('DELETE', 'registered-models/alias', {}, { name, alias }, responses.any);
  }

  /** A run with the datasets mlflow.log_input recorded for it (name, digest, source, context); undefined when there is no such run. */
  async runWithInputs(runId: string): Promise<{ run: BackendRun; inputs: BackendDatasetInput[] } | undefined> {
    const body = await this.get('runs/get', { run_id: runId }, responses.run, { notFound: true });
    return body && { run: toRun(body.run), inputs: (body.run.inputs?.dataset_inputs ?? []).map(toDatasetInput) };
  }

  /**
   * Runs of every active experiment (or of `experimentIds`) matching an MLflow filter string (e.g.
   * `dataset.digest = 'abc'`), newest first, at most `maxResults`; the server's search needs experiment ids,
   * so without them they are listed first.
   */
  async searchRunsWhere(filter: string, maxResults: number, experimentIds?: readonly string[]): Promise<BackendRun[]> {
    const experiments = experimentIds ?? (await this.listExperiments()).map((e) => e.experimentId);
    const out: BackendRun[] = [];
    // runs/search takes up to 100 experiment ids a request
    for (let i = 0; i < experiments.length && out.length < maxResults; i += 100) {
      let pageToken: string | undefined;
      do {
        const body = await this.post(
          'runs/search',
          {
            experiment_ids: experiments.slice(i, i + 100),
            filter,
            max_results: Math.min(1000, maxResults - out.length),
            order_by: ['attributes.start_time DESC'],
            run_view_type: 'ACTIVE_ONLY',
            ...(pageToken ? { page_token: pageToken } : {}),
          },
          responses.runsSearch,
        );
        out.push(...(body.runs ?? []).map(toRun));
        pageToken = body.next_page_token || undefined;
      } while (pageToken && out.length < maxResults);
    }
    return out.sort((a, b) => b.startTime - a.startTime).slice(0, maxResults);
  }

  /** The registered versions whose source run is `runId` (each model's aliases filled in), oldest first. */
  async versionsOfRun(runId: string): Promise<BackendModelVersion[]> {
    const body = await this.get('model-versions/search', { filter: `run_id = ${filterLiteral(runId)}`, max_results: '1000' }, responses.versionsSearch);
    const versions = (body.model_versions ?? []).map(toVersion);
    const aliases = new Map<string, Map<number, string[]>>();
    for (const name of new Set(versions.map((v) => v.name))) aliases.set(name, await this.aliasesOf(name));
    return versions
      .map((v) => ({ ...v, aliases: [...(aliases.get(v.name)?.get(v.version) ?? [])].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  /** One version of a registered model with its aliases; undefined when the model or version does not exist. */
  async modelVersion(name: string, version: number): Promise<BackendModelVersion | undefined> {
    const body = await this.get('model-versions/get', { name, version: String(version) }, responses.version, { notFound: true });
    if (!body) return undefined;
    const v = toVersion(body.model_version);
    return { ...v, aliases: [...((await this.aliasesOf(name)).get(version) ?? [])].sort() };
  }

  /** Records dataset inputs on a run (what mlflow.log_input sends), so every client sees what the run read. */
  async logInputs(runId: string, inputs: readonly BackendDatasetInput[]): Promise<void> {
    if (inputs.length === 0) return;
    await this.post(
      'runs/log-inputs',
      {
        run_id: runId,
        datasets: inputs.map((i) => ({
          tags: i.context ? [{ key: DATASET_CONTEXT_TAG, value: i.context }] : [],
          dataset: {
            name: i.name,
            digest: i.digest,
            source_type: i.sourceType ?? 'local',
            source: i.source ?? '',
            ...(i.schema ? { schema: i.schema } : {}),
            ...(i.profile ? { profile: i.profile } : {}),
          },
        })),
      },
      responses.any,
    );
  }

  private async aliasesOf(name: string): Promise<Map<number, string[]>> {
    const model = await this.get('registered-models/get', { name }, responses.modelGet, { notFound: true });
    const aliases = new Map<number, string[]>();
    for (const a of model?.registered_model.aliases ?? []) aliases.set(a.version, [...(aliases.get(a.version) ?? []), a.alias]);
    return aliases;
  }

  /** A registered model's tags (where mloop keeps what MLflow has no field for, e.g. alias history); undefined when there is no such model. */
  async modelTags(name: string): Promise<Record<string, string> | undefined> {
    const body = await this.get('registered-models/get', { name }, responses.modelGet, { notFound: true });
    return body && Object.fromEntries((body.registered_model.tags ?? []).map((t) => [t.key, t.value ?? '']));
  }

  async setModelTag(name: string, key: string, value: string): Promise<void> {
    await this.post('registered-models/set-tag', { name, key, value }, responses.any);
  }

  async setVersionTag(name: string, version: number, key: string, value: string): Promise<void> {
    await this.post('model-versions/set-tag', { name, version: String(version), key, value }, responses.any);
  }

  /**
   * The user the server authenticated (its basic-auth app's `users/current`), or undefined when the server checks
   * no users (no auth app: it answers 404) or no credentials were given.
   */
  async authenticatedUser(): Promise<string | undefined> {
    if (this.options.username === undefined && !this.options.token) return undefined;
    const body = await this.get('users/current', {}, responses.currentUser, { notFound: true });
    return body?.user.username;
  }

  /**
   * Creates an experiment with these tags, or finds that the name is taken (also by a deleted experiment): the
   * server's unique experiment names make this an atomic claim that exactly one of several writers wins.
   */
  async claimExperiment(
    name: string,
    tags: Readonly<Record<string, string>> = {},
  ): Promise<{ won: boolean; experimentId: string; tags: Record<string, string> }> {
    try {
      const body = await this.post(
        'experiments/create',
        { name, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) },
        responses.experimentCreate,
      );
      return { won: true, experimentId: body.experiment_id, tags: { ...tags } };
    } catch (error) {
      if (!(error instanceof BackendRequestError) || error.errorCode !== 'RESOURCE_ALREADY_EXISTS') throw error;
      const existing = await this.experimentWithTags(name);
      if (!existing) throw error;
      return { won: false, ...existing };
    }
  }

  /** An experiment (active or deleted) and its tags by name; undefined when there is none. */
  async experimentWithTags(name: string): Promise<{ experimentId: string; tags: Record<string, string> } | undefined> {
    const body = await this.get('experiments/get-by-name', { experiment_name: name }, responses.experimentGet, { notFound: true });
    return body && { experimentId: body.experiment.experiment_id, tags: Object.fromEntries((body.experiment.tags ?? []).map((t) => [t.key, t.value ?? ''])) };
  }

  /** Moves an experiment to MLflow's trash (its name stays taken). */
  async deleteExperiment(experimentId: string): Promise<void> {
    await this.post('experiments/delete', { experiment_id: experimentId }, responses.any);
  }

  /** Creates a finished run in one request: its tags are written with it, so no reader sees half of them. */
  async createRecordRun(experimentId: string, input: { runName: string; startTime: number; tags: Readonly<Record<string, string>> }): Promise<string> {
    const body = await this.post(
      'runs/create',
      {
        experiment_id: experimentId,
        start_time: input.startTime,
        run_name: input.runName,
        tags: Object.entries({ ...input.tags, 'mlflow.runName': input.runName }).map(([key, value]) => ({ key, value })),
      },
      responses.run,
    );
    const runId = body.run.info.run_id;
    await this.post('runs/update', { run_id: runId, status: 'FINISHED', end_time: input.startTime }, responses.any);
    return runId;
  }

  /** Every run of one experiment matching a filter, the deleted ones too (flagged), oldest first. */
  async searchAllRuns(experimentId: string, filter: string): Promise<{ run: BackendRun; deleted: boolean }[]> {
    const out: { run: BackendRun; deleted: boolean }[] = [];
    let pageToken: string | undefined;
    do {
      const body = await this.post(
        'runs/search',
        {
          experiment_ids: [experimentId],
          filter,
          max_results: 1000,
          order_by: ['attributes.start_time ASC'],
          run_view_type: 'ALL',
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        responses.runsSearch,
      );
      for (const r of body.runs ?? []) out.push({ run: toRun(r), deleted: r.info.lifecycle_stage === 'deleted' });
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** The newest active run of an experiment matching `filter` (by start time), or undefined: one small request. */
  async newestRun(experimentId: string, filter: string): Promise<BackendRun | undefined> {
    const body = await this.post(
      'runs/search',
      { experiment_ids: [experimentId], filter, max_results: 1, order_by: ['attributes.start_time DESC'], run_view_type: 'ACTIVE_ONLY' },
      responses.runsSearch,
    );
    const run = body.runs?.[0];
    return run ? toRun(run) : undefined;
  }

  close(): void {
    // fetch keeps no connection we own
  }

  private async createExperiment(name: string): Promise<BackendExperiment> {
    const body = await this.post('experiments/create', { name }, responses.experimentCreate);
    return { experimentId: body.experiment_id, name, lifecycleStage: 'active', createdAt: Date.now() };
  }

  private get<T>(path: string, query: Record<string, string>, schema: z.ZodType<T>, options?: { notFound?: false }): Promise<T>;
  private get<T>(path: string, query: Record<string, string>, schema: z.ZodType<T>, options: { notFound: true }): Promise<T | undefined>;
  private get<T>(path: string, query: Record<string, string>, schema: z.ZodType<T>, options: { notFound?: boolean } = {}): Promise<T | undefined> {
    return this.request('GET', path, query, undefined, schema, options.notFound);
  }

  private post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.request('POST', path, {}, body, schema) as Promise<T>;
  }

  private async request<T>(
    method: string,
    path: string,
    query: Record<string, string>,
    body: unknown,
    schema: z.ZodType<T>,
    notFound = false,
  ): Promise<T | undefined> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    else if (this.options.username !== undefined)
      headers.Authorization = `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`, 'utf8').toString('base64')}`;
    let response: Response;
    const send = (): Promise<Response> =>
      fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
    try {
      response = await send();
    } catch (error) {
      // a kept-alive connection the server closed as we reused it (uvicorn drops idle ones after 5 s): a read is sent again once
      if (!(isStaleConnection(error) && (method === 'GET' || READ_ONLY_POSTS.has(path))))
        throw new BackendUnreachableError(this.location, describeNetworkError(error, this.timeoutMs), { cause: error });
      try {
        response = await send();
      } catch (again) {
        throw new BackendUnreachableError(this.location, describeNetworkError(again, this.timeoutMs), { cause: again });
      }
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new BackendUnreachableError(this.location, describeNetworkError(error, this.timeoutMs), { cause: error });
    }
    if (response.status === 502 || response.status === 503 || response.status === 504) {
      throw new BackendUnreachableError(
        this.location,
        `HTTP ${response.status} from ${method} ${url.pathname} (a proxy in front of the server answered; the server itself is down or starting)`,
      );
    }
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new BackendRequestError(
        response.status,
        'BAD_RESPONSE',
        `${method} ${url.pathname} on ${this.location} answered HTTP ${response.status} with something that is not JSON (is this an MLflow tracking server?): ${text.slice(0, 120)}`,
      );
    }
    if (!response.ok) {
      const err = errorBody.safeParse(json);
      if (notFound && response.status === 404) return undefined;
      if (notFound && err.success && err.data.error_code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      const code = err.success ? err.data.error_code : `HTTP_${response.status}`;
      const hint = response.status === 401 || response.status === 403 ? ' (check the MLflow token: "mloop: Set MLflow Token")' : '';
      throw new BackendRequestError(
        response.status,
        code,
        `${method} ${url.pathname} on ${this.location} failed: ${code}${err.success && err.data.message ? ` — ${err.data.message}` : ''}${hint}`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new BackendRequestError(
        response.status,
        'BAD_RESPONSE',
        `${method} ${url.pathname} on ${this.location} answered in an unexpected shape: field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  }
}

/** POST endpoints that only read: sending one twice changes nothing. */
const READ_ONLY_POSTS = new Set(['runs/search', 'experiments/search']);

function isStaleConnection(error: unknown): boolean {
  const code = (error as { cause?: { code?: string } })?.cause?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (is "mlflow server" running on that host and port?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name not found';
  if (code === 'ECONNRESET') return 'connection reset by the server';
  return e?.cause?.message ?? e?.message ?? String(error);
}

const toExperiment = (e: z.output<typeof experimentSchema>): BackendExperiment => ({
  experimentId: e.experiment_id,
  name: e.name,
  lifecycleStage: e.lifecycle_stage ?? 'active',
  createdAt: e.creation_time ?? null,
});

function toRun(r: z.output<typeof runSchema>): BackendRun {
  const record = (list: readonly { key: string; value?: string | null }[] | null | undefined): Record<string, string> =>
    Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value ?? '']));
  const tags = record(r.data?.tags);
  return {
    runId: r.info.run_id,
    experimentId: r.info.experiment_id,
    name: r.info.run_name || tags['mlflow.runName'] || r.info.run_id.slice(0, 8),
    status: r.info.status,
    startTime: r.info.start_time ?? 0,
    endTime: r.info.end_time ?? null,
    params: record(r.data?.params),
    tags,
    metrics: Object.fromEntries((r.data?.metrics ?? []).map((m) => [m.key, m.value])),
  };
}

const toVersion = (v: z.output<typeof versionSchema>): BackendModelVersion => ({
  name: v.name,
  version: v.version,
  runId: v.run_id || null,
  source: v.source ?? null,
  createdAt: v.creation_timestamp ?? null,
  aliases: [...(v.aliases ?? [])].sort(),
  tags: Object.fromEntries((v.tags ?? []).map((t) => [t.key, t.value ?? ''])),
});

/** The dataset-input tag MLflow uses for the context a run read a dataset in ("training", "evaluation"). */
export const DATASET_CONTEXT_TAG = 'mlflow.data.context';

function toDatasetInput(i: NonNullable<NonNullable<z.output<typeof runSchema>['inputs']>['dataset_inputs']>[number]): BackendDatasetInput {
  const context = (i.tags ?? []).find((t) => t.key === DATASET_CONTEXT_TAG)?.value ?? null;
  return {
    name: i.dataset.name,
    digest: i.dataset.digest,
    sourceType: i.dataset.source_type ?? null,
    source: i.dataset.source ?? null,
    schema: i.dataset.schema ?? null,
    profile: i.dataset.profile ?? null,
    context,
  };
}

/**
 * A string literal for an MLflow filter: single-quoted; MLflow's parser has no escape inside quotes, so a
 * value holding a single quote goes in double quotes, and one holding both cannot be searched for.
 */
export function filterLiteral(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new Error(`cannot search MLflow for ${JSON.stringify(value)}: a filter value cannot hold both ' and "`);
}
