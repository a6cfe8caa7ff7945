import { ExperimentRepository, type Experiment } from '../store/experiments';
import { ModelRepository, type ModelVersion } from '../store/models';
import { runPage } from '../store/runListing';
import { RunRepository, type Run } from '../store/runs';
import type { Store } from '../store/store';
import { loadRunTable, searchRunTable } from '../experiments/runTable';
import type {
  Backend,
  BackendExperiment,
  BackendMetricPoint,
  BackendModel,
  BackendModelVersion,
  BackendRun,
  NewBackendRun,
  Page,
  RunSearchOptions,
} from './backend';

const DEFAULT_PAGE = 1000;

/** The project's own store (one SQLite file) behind the Backend interface. Registry changes are audited as `actor`. */
export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded' as const;
  private readonly experiments: ExperimentRepository;
  private readonly runs: RunRepository;
  private readonly models: ModelRepository;

  constructor(
    private readonly store: Store,
    private readonly actor: string,
  ) {
    this.experiments = new ExperimentRepository(store);
    this.runs = new RunRepository(store);
    this.models = new ModelRepository(store);
  }

  get location(): string {
    return this.store.path;
  }

  async listExperiments(options: { includeDeleted?: boolean } = {}): Promise<BackendExperiment[]> {
    return this.experiments.list(options).map(toExperiment);
  }

  async experimentByName(name: string): Promise<BackendExperiment | undefined> {
    const e = this.experiments.byName(name);
    return e && toExperiment(e);
  }

  async searchRuns(experimentIds: readonly string[], options: RunSearchOptions = {}): Promise<Page<BackendRun>> {
    const limit = options.maxResults ?? DEFAULT_PAGE;
    const offset = options.pageToken ? Number(options.pageToken) : 0;
    if (options.filter || options.orderBy?.length) {
      // MLflow's filter and order over the runs held as columns (the same search as the Experiments Table)
      const table = loadRunTable(this.store.db, { experimentIds: experimentIds.map(Number) });
      const rows = searchRunTable(table, { filter: options.filter, orderBy: options.orderBy ?? [] });
      const items = Array.from(rows.subarray(offset, offset + limit), (i) => this.toRun(this.runs.get(table.runIds[i]!)!));
      return rows.length > offset + limit ? { items, nextPageToken: String(offset + limit) } : { items };
    }
    // newest first across the experiments asked for, paged by offset
    const rows = experimentIds
      .flatMap((id) => runPage(this.store, Number(id), 0, offset + limit + 1))
      .sort((a, b) => b.startTime - a.startTime || a.runId.localeCompare(b.runId));
    const page = rows.slice(offset, offset + limit);
    const items = page.map((r) => this.toRun(this.runs.get(r.runId)!));
    return rows.length > offset + limit ? { items, nextPageToken: String(offset + limit) } : { items };
  }

  async deleteRun(runId: string): Promise<void> {
    this.runs.setLifecycleStage(runId, 'deleted');
  }

  async getRun(runId: string): Promise<BackendRun | undefined> {
    const run = this.runs.get(runId);
    return run && this.toRun(run);
  }

  async metricHistory(runId: string, key: string, options: { maxResults?: number; pageToken?: string } = {}): Promise<Page<BackendMetricPoint>> {
    const limit = options.maxResults ?? 25_000;
    const offset = options.pageToken ? Number(options.pageToken) : 0;
    const points = this.runs.metricHistory(runId, key, { offset, limit: limit + 1 });
    const items = points.slice(0, limit).map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value }));
    return points.length > limit ? { items, nextPageToken: String(offset + limit) } : { items };
  }

  async createRun(input: NewBackendRun): Promise<BackendRun> {
    const experiment = this.experiments.ensure(input.experimentName);
    const run = this.runs.create({
      experimentId: experiment.experimentId,
      name: input.runName,
      startTime: input.startTime,
      params: input.params,
      tags: input.tags,
      artifactUri: `mlflow-artifacts:/${experiment.experimentId}/{runId}/artifacts`,
    });
    return this.toRun(run);
  }

  async finishRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED', endTime: number): Promise<void> {
    this.runs.update(runId, { status, endTime });
  }

  async listModels(): Promise<BackendModel[]> {
    return this.models.list().map((m) => ({
      name: m.name,
      description: m.description,
      createdAt: m.createdAt,
      updatedAt: m.updatedAt,
      aliases: Object.fromEntries(this.models.versions(m.modelId).flatMap((v) => v.aliases.map((a) => [a, v.version]))),
    }));
  }

  async modelVersions(name: string): Promise<BackendModelVersion[]> {
    const model = this.models.byName(name);
    if (!model) return [];
    return this.models.versions(model.modelId).map((v) => this.toVersion(name, v));
  }

  async createModelVersion(input: { name: string; source: string; runId?: string; description?: string }): Promise<BackendModelVersion> {
    const version = this.models.registerVersion({
      name: input.name,
      sourceRunId: input.runId,
      artifactPath: input.source,
      description: input.description,
      actor: this.actor,
    });
    return this.toVersion(input.name, version);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    const model = this.models.byName(name);
    if (!model) throw new Error(`no registered model "${name}"`);
    this.models.setAlias({ modelId: model.modelId, alias, version, actor: this.actor });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    const model = this.models.byName(name);
    if (model) this.models.deleteAlias({ modelId: model.modelId, alias, actor: this.actor });
  }

  close(): void {
    // the store belongs to whoever opened it
  }

  private toRun(run: Run): BackendRun {
    return {
      runId: run.runId,
      experimentId: String(run.experimentId),
      name: run.name,
      status: run.status,
      startTime: run.startTime,
      endTime: run.endTime,
      params: this.runs.params(run.runId),
      tags: this.runs.tags(run.runId),
      metrics: this.runs.latestMetrics(run.runId),
    };
  }

  private toVersion(name: string, v: ModelVersion): BackendModelVersion {
    return {
      name,
      version: v.version,
      runId: v.sourceRunId,
      source: v.artifactPath,
      createdAt: v.createdAt,
      aliases: v.aliases,
      tags: this.models.versionTags(v.modelVersionId),
    };
  }
}

const toExperiment = (e: Experiment): BackendExperiment => ({
  experimentId: String(e.experimentId),
  name: e.name,
  lifecycleStage: e.lifecycleStage,
  createdAt: e.createdAt,
});
