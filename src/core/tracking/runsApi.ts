import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { allPointsInOrder, appendMetricPoints, appendMetricTriples, containsPoint, findSeries, type MetricPointInput } from '../store/metricPoints';
import { RUN_STATUSES } from '../../shared/runStatus';
import type { Run } from '../store/runs';
import {
  experimentArtifactLocation,
  findActiveExperiment,
  findExperiment,
  findRun,
  findWritableRun,
  type BodyHandler,
  type JsonHandler,
  type TrackingContext,
} from './context';
import { packLogBatchBody } from './logBatchBody';
import { invalidParameter, notFound } from './errors';
import type { PackedMetrics } from './metricWriter';
import { VIEW_TYPES } from './experimentsApi';
import { runInputsJson, runOutputsJson } from './runInputs';
import { checkRunFilter, checkRunOrder, parseFilter, parseOrderBy, RUN_ATTRIBUTES } from '../experiments/searchSyntax';
import { numericPredicate, stringPredicate, type SqlPredicate } from './searchFilter';
import {
  assertName,
  decodePageToken,
  double,
  int32,
  int64,
  keyValue,
  MAX_PARAM_VALUE_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  nameProblem,
  page,
  parseRequest,
  repeated,
} from './wire';

export const MAX_METRICS_PER_BATCH = 1000;
export const MAX_PARAMS_PER_BATCH = 100;
export const MAX_TAGS_PER_BATCH = 100;
export const MAX_ENTITIES_PER_BATCH = 1000;
const RUN_NAME_TAG = 'mlflow.runName';

/** Accepts MLflow's two spellings of the run id (run_id, and the deprecated run_uuid). */
export const runIdOf = (req: { run_id?: string | undefined; run_uuid?: string | undefined }): string | undefined => req.run_id || req.run_uuid || undefined;
export const runRef = { run_id: z.string().optional(), run_uuid: z.string().optional() };

const metricSchema = z.object({
  key: z.string(),
  value: double,
  timestamp: int64.optional(),
  step: int64.optional().default(0),
  model_id: z.string().optional(),
  dataset_name: z.string().optional(),
  dataset_digest: z.string().optional(),
  run_id: z.string().optional(),
});
type MetricInput = z.output<typeof metricSchema>;

export function runInfoJson(ctx: TrackingContext, run: Run): Record<string, unknown> {
  const artifactUri = run.artifactUri ?? `${experimentArtifactLocation(ctx.experiments.get(run.experimentId)!)}/${run.runId}/artifacts`;
  return {
    run_id: run.runId,
    run_uuid: run.runId,
    run_name: run.name,
    experiment_id: String(run.experimentId),
    user_id: run.user ?? '',
    status: run.status,
    start_time: run.startTime,
    ...(run.endTime === null ? {} : { end_time: run.endTime }),
    artifact_uri: artifactUri,
    lifecycle_stage: ctx.runs.lifecycleStage(run.runId) ?? 'active',
  };
}

export function runJson(ctx: TrackingContext, run: Run): Record<string, unknown> {
  return {
    info: runInfoJson(ctx, run),
    data: {
      metrics: ctx.runs.latestMetricPoints(run.runId).map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp, step: m.step })),
      params: Object.entries(ctx.runs.params(run.runId)).map(([key, value]) => ({ key, value })),
      tags: Object.entries(ctx.runs.tags(run.runId)).map(([key, value]) => ({ key, value })),
    },
    inputs: runInputsJson(ctx, run.runId),
    outputs: runOutputsJson(ctx, run.runId),
  };
}

function checkTag(key: string, value: string): void {
  assertName('tag', key);
  if (value.length > MAX_TAG_VALUE_LENGTH)
    throw invalidParameter(`Tag '${key}' has a value of ${value.length} characters; the limit is ${MAX_TAG_VALUE_LENGTH}.`);
}

function checkParam(key: string, value: string): void {
  assertName('param', key);
  if (value.length > MAX_PARAM_VALUE_LENGTH)
    throw invalidParameter(`Param '${key}' has a value of ${value.length} characters; the limit is ${MAX_PARAM_VALUE_LENGTH}.`);
}

/** Metric keys repeat across batches: remember the valid ones so the hot path skips the regex. */
const validMetricKeys = new Set<string>();
function checkMetricKey(key: string): void {
  if (!validMetricKeys.has(key)) {
    const problem = nameProblem('metric', key);
    if (problem) throw invalidParameter(problem);
    if (validMetricKeys.size > 100_000) validMetricKeys.clear();
    validMetricKeys.add(key);
  }
}

const createSchema = z.object({
  experiment_id: z.string().optional(),
  user_id: z.string().optional(),
  run_name: z.string().max(250).optional(),
  start_time: int64.optional(),
  tags: z.array(keyValue).optional().default([]),
});

const create: JsonHandler = (ctx, input) => {
  const req = parseRequest(createSchema, input);
  for (const tag of req.tags) checkTag(tag.key, tag.value);
  const tags = Object.fromEntries(req.tags.map((t) => [t.key, t.value]));
  const runId = ctx.store.transaction(() => {
    const experiment = findActiveExperiment(ctx, req.experiment_id || '0');
    const name = req.run_name || tags[RUN_NAME_TAG] || `run-${randomBytes(4).toString('hex')}`;
    const run = ctx.runs.create({
      experimentId: experiment.experimentId,
      name,
      user: req.user_id || tags['mlflow.user'] || undefined,
      startTime: req.start_time ?? Date.now(),
      gitCommit: tags['mlflow.source.git.commit'] || undefined,
      entryFile: tags['mlflow.source.name'] || undefined,
      tags: { ...tags, [RUN_NAME_TAG]: name },
      artifactUri: `${experimentArtifactLocation(experiment)}/{runId}/artifacts`,
    });
    return run.runId;
  });
  return { run: runJson(ctx, ctx.runs.get(runId)!) };
};

const get: JsonHandler = (ctx, input) => ({ run: runJson(ctx, findRun(ctx, runIdOf(parseRequest(z.object(runRef), input)))) });

const updateSchema = z.object({ ...runRef, status: z.enum(RUN_STATUSES).optional(), end_time: int64.optional(), run_name: z.string().max(250).optional() });

const update: JsonHandler = (ctx, input) => {
  const req = parseRequest(updateSchema, input);
  const run = ctx.store.transaction(() => {
    const run = findWritableRun(ctx, runIdOf(req));
    ctx.runs.update(run.runId, { status: req.status, endTime: req.end_time, name: req.run_name || undefined });
    if (req.run_name) setTagStatement(ctx).run(run.runId, RUN_NAME_TAG, req.run_name);
    return ctx.runs.get(run.runId)!;
  });
  return { run_info: runInfoJson(ctx, run) };
};

const setLifecycle =
  (stage: 'active' | 'deleted'): JsonHandler =>
  (ctx, input) => {
    const run = findRun(ctx, runIdOf(parseRequest(z.object(runRef), input)));
    ctx.runs.setLifecycleStage(run.runId, stage);
    return {};
  };

// Prepared once per store: the ingest path runs these thousands of times a second.
type Statement = Database.Statement<unknown[], unknown>;
interface Statements {
  selectParam: Statement;
  insertParam: Statement;
  setTag: Statement;
}
const statements = new WeakMap<TrackingContext, Statements>();
function stmts(ctx: TrackingContext): Statements {
  let s = statements.get(ctx);
  if (!s) {
    const db = ctx.store.db;
    s = {
      selectParam: db.prepare('SELECT value FROM param WHERE run_id = ? AND key = ?').pluck(),
      insertParam: db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO NOTHING'),
      setTag: db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value'),
    };
    statements.set(ctx, s);
  }
  return s;
}
const setTagStatement = (ctx: TrackingContext): Statements['setTag'] => stmts(ctx).setTag;

/** Writes metrics, params and tags of one run; the caller holds the transaction. */
function writeBatch(
  ctx: TrackingContext,
  run: Run,
  batch: { metrics: MetricInput[]; params: { key: string; value: string }[]; tags: { key: string; value: string }[] },
): void {
  const s = stmts(ctx);
  const now = Date.now();
  const db = ctx.store.db;
  const pending: MetricPointInput[] = [];
  for (const m of batch.metrics) {
    const point = { key: m.key, step: m.step, timestamp: m.timestamp ?? now, value: m.value };
    // The MLflow 3 client re-sends a run's points with model_id when it logs a model; MLflow keeps
    // one copy of an identical point, so those are written only when new (plain ingest stays append-only).
    if (m.model_id) {
      appendMetricPoints(db, run.runId, pending.splice(0));
      const series = findSeries(db, run.runId, m.key);
      if (!series || !containsPoint(db, series, point)) appendMetricPoints(db, run.runId, [point]);
      continue;
    }
    pending.push(point);
  }
  appendMetricPoints(db, run.runId, pending);
  const seen = new Map<string, string>();
  for (const p of batch.params) {
    const earlier = seen.get(p.key) ?? (s.selectParam.get(run.runId, p.key) as string | undefined);
    if (earlier !== undefined && earlier !== p.value) {
      throw invalidParameter(
        `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${earlier.slice(0, 200)}' for run ID='${run.runId}'. Attempted logging new value '${p.value.slice(0, 200)}'.`,
      );
    }
    seen.set(p.key, p.value);
    s.insertParam.run(run.runId, p.key, p.value);
  }
  for (const t of batch.tags) {
    s.setTag.run(run.runId, t.key, t.value);
    if (t.key === RUN_NAME_TAG) ctx.runs.update(run.runId, { name: t.value });
  }
}

const logMetricSchema = metricSchema.extend(runRef);
const logMetric: JsonHandler = (ctx, input) => {
  const req = parseRequest(logMetricSchema, input);
  checkMetricKey(req.key);
  return ctx.writes.run(() => writeBatch(ctx, findWritableRun(ctx, runIdOf(req)), { metrics: [req], params: [], tags: [] })).then(() => ({}));
};

const logParam: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ ...runRef, key: z.string(), value: z.string() }), input);
  checkParam(req.key, req.value);
  ctx.store.transaction(() => writeBatch(ctx, findWritableRun(ctx, runIdOf(req)), { metrics: [], params: [req], tags: [] }));
  return {};
};

const setTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ ...runRef, key: z.string(), value: z.string() }), input);
  checkTag(req.key, req.value);
  ctx.store.transaction(() => writeBatch(ctx, findWritableRun(ctx, runIdOf(req)), { metrics: [], params: [], tags: [req] }));
  return {};
};

const deleteTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ ...runRef, key: z.string() }), input);
  ctx.store.transaction(() => {
    const run = findWritableRun(ctx, runIdOf(req));
    const info = ctx.store.db.prepare('DELETE FROM tag WHERE run_id = ? AND key = ?').run(run.runId, req.key);
    if (info.changes === 0) throw notFound(`No tag with name: ${req.key} in run with id ${run.runId}`);
  });
  return {};
};

const logBatchSchema = z.object({
  ...runRef,
  metrics: z.array(metricSchema).optional().default([]),
  params: z
    .array(z.object({ key: z.string(), value: z.string() }))
    .optional()
    .default([]),
  tags: z.array(keyValue).optional().default([]),
});

const isOptionalString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isOptionalInt = (v: unknown): v is number | undefined => v === undefined || Number.isSafeInteger(v);

/**
 * The ingest hot path: a batch of plain numeric metrics (what log_metrics and autologging send) is
 * checked field by field without zod, accepting exactly what logBatchSchema would, and packed as numbers grouped
 * by key (no object per point; the writer thread takes them without a copy). Anything else (strings for numbers,
 * model ids, params, tags, a wrong type anywhere) returns undefined and goes through the schema, which also words
 * the error.
 */
function plainMetricBatch(input: unknown): { runId: string | undefined; metrics: PackedMetrics } | undefined {
  const raw = input as { run_id?: unknown; run_uuid?: unknown; metrics?: unknown; params?: unknown; tags?: unknown };
  if (!isOptionalString(raw.run_id) || !isOptionalString(raw.run_uuid) || !Array.isArray(raw.metrics)) return undefined;
  if (!(raw.params === undefined || (Array.isArray(raw.params) && raw.params.length === 0))) return undefined;
  if (!(raw.tags === undefined || (Array.isArray(raw.tags) && raw.tags.length === 0))) return undefined;
  const list = raw.metrics as unknown[];
  const n = list.length;
  const index = new Map<string, number>();
  const keys: string[] = [];
  const counts: number[] = [];
  const keyOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const m = list[i] as Record<string, unknown> | null;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    const { key, value, timestamp, step } = m;
    if (typeof key !== 'string' || typeof value !== 'number' || !isOptionalInt(timestamp) || !isOptionalInt(step)) return undefined;
    if (m.model_id !== undefined || m.dataset_name !== undefined || m.dataset_digest !== undefined || m.run_id !== undefined) return undefined;
    let k = index.get(key);
    if (k === undefined) {
      k = keys.length;
      index.set(key, k);
      keys.push(key);
      counts.push(0);
    }
    keyOf[i] = k;
    counts[k]!++;
  }
  const starts = new Uint32Array(keys.length + 1);
  for (let k = 0; k < keys.length; k++) starts[k + 1] = starts[k]! + counts[k]!;
  const fill = starts.slice(0, keys.length);
  const triples = new Float64Array(n * 3);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const m = list[i] as { value: number; timestamp?: number; step?: number };
    const at = fill[keyOf[i]!]!++ * 3;
    triples[at] = m.step ?? 0;
    triples[at + 1] = m.timestamp ?? now;
    triples[at + 2] = m.value;
  }
  return { runId: runIdOf(raw as { run_id?: string; run_uuid?: string }), metrics: { keys, starts, triples } };
}

/** Writes a plain numeric batch: acknowledged once committed; batches that arrive together share the commit, each all-or-nothing. */
function writePlainBatch(ctx: TrackingContext, runId: string, metrics: PackedMetrics): Promise<object> {
  for (const key of metrics.keys) checkMetricKey(key);
  if (ctx.metricWriter?.alive) return ctx.metricWriter.write(runId, metrics).then(() => ({}));
  return ctx.writes
    .run(() => appendMetricTriples(ctx.store.db, findWritableRun(ctx, runId).runId, metrics.keys, metrics.starts, metrics.triples))
    .then(() => ({}));
}

/** log-batch from its raw body when it is a plain numeric batch (logBatchBody.ts); undefined: parse it as JSON. */
const logBatchFromBody: BodyHandler = (ctx, body) => {
  const plain = packLogBatchBody(body, MAX_METRICS_PER_BATCH);
  return plain && writePlainBatch(ctx, plain.runId, plain.metrics);
};

const logBatch: JsonHandler = (ctx, input) => {
  // Limits first, on the raw arrays: an over-limit batch is refused before any of it is parsed.
  const raw = input as { metrics?: unknown; params?: unknown; tags?: unknown };
  const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const [nMetrics, nParams, nTags] = [count(raw.metrics), count(raw.params), count(raw.tags)];
  if (nMetrics > MAX_METRICS_PER_BATCH)
    throw invalidParameter(`A batch logging request can contain at most ${MAX_METRICS_PER_BATCH} metrics. Got ${nMetrics} metrics.`);
  if (nParams > MAX_PARAMS_PER_BATCH)
    throw invalidParameter(`A batch logging request can contain at most ${MAX_PARAMS_PER_BATCH} params. Got ${nParams} params.`);
  if (nTags > MAX_TAGS_PER_BATCH) throw invalidParameter(`A batch logging request can contain at most ${MAX_TAGS_PER_BATCH} tags. Got ${nTags} tags.`);
  if (nMetrics + nParams + nTags > MAX_ENTITIES_PER_BATCH) {
    throw invalidParameter(
      `A batch logging request can contain at most ${MAX_ENTITIES_PER_BATCH} metrics, params and tags in total. Got ${nMetrics + nParams + nTags}.`,
    );
  }
  const plain = plainMetricBatch(input);
  if (plain?.runId !== undefined) return writePlainBatch(ctx, plain.runId, plain.metrics);
  const req = parseRequest(logBatchSchema, input);
  for (const m of req.metrics) checkMetricKey(m.key);
  for (const p of req.params) checkParam(p.key, p.value);
  for (const t of req.tags) checkTag(t.key, t.value);
  // acknowledged once committed; batches that arrive together share the commit, each all-or-nothing
  return ctx.writes.run(() => writeBatch(ctx, findWritableRun(ctx, runIdOf(req)), req)).then(() => ({}));
};

const logModel: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ ...runRef, model_json: z.string() }), input);
  let model: unknown;
  try {
    model = JSON.parse(req.model_json);
  } catch {
    throw invalidParameter('model_json is not valid JSON.');
  }
  ctx.store.transaction(() => {
    const run = findWritableRun(ctx, runIdOf(req));
    const history = ctx.runs.tags(run.runId)['mlflow.log-model.history'];
    let list: unknown[] = [];
    try {
      list = history ? (JSON.parse(history) as unknown[]) : [];
    } catch {
      list = [];
    }
    setTagStatement(ctx).run(run.runId, 'mlflow.log-model.history', JSON.stringify([...(Array.isArray(list) ? list : []), model]));
  });
  return {};
};

// --- search -------------------------------------------------------------------------------------

// MLflow attribute name (after aliases, see RUN_ATTRIBUTES) -> the run table's column
const RUN_COLUMNS: Readonly<Record<string, string>> = {
  status: 'r.status',
  run_name: 'r.name',
  run_id: 'r.run_id',
  user_id: 'r.user',
  start_time: 'r.start_time',
  end_time: 'r.end_time',
};

// metric_series keeps each series' latest point (NULL where it was NaN): one indexed lookup per run
const latestMetricSql = '(SELECT m.latest_value FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ?)';

function runColumn(entity: string, key: string, what: string): SqlPredicate & { numeric: boolean } {
  switch (entity) {
    case 'metric':
      return { sql: latestMetricSql, args: [key], numeric: true };
    case 'param':
      return { sql: '(SELECT p.value FROM param p WHERE p.run_id = r.run_id AND p.key = ?)', args: [key], numeric: false };
    case 'tag':
      return { sql: '(SELECT t.value FROM tag t WHERE t.run_id = r.run_id AND t.key = ?)', args: [key], numeric: false };
    case 'attribute': {
      const attribute = RUN_ATTRIBUTES[key];
      const column = attribute && RUN_COLUMNS[attribute.name];
      if (!attribute || !column)
        throw invalidParameter(`Invalid ${what}: "${key}" is not a run attribute (use status, run_name, run_id, user_id, start_time or end_time).`);
      return { sql: column, args: [], numeric: attribute.numeric };
    }
    default:
      throw invalidParameter(`Invalid ${what}: searching runs by ${entity} is not supported; use metrics., params., tags. or attributes.`);
  }
}

const searchSchema = z.object({
  experiment_ids: repeated(z.string()).optional().default([]),
  filter: z.string().optional(),
  run_view_type: z.enum(VIEW_TYPES).optional().default('ACTIVE_ONLY'),
  max_results: int32.optional(),
  order_by: repeated(z.string()).optional().default([]),
  page_token: z.string().optional(),
});

const search: JsonHandler = (ctx, input) => {
  const req = parseRequest(searchSchema, input);
  const limit = req.max_results ?? 1000;
  if (limit < 1 || limit > 50000) throw invalidParameter(`max_results must be between 1 and 50000 (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const experimentIds = req.experiment_ids.map((id) => findExperiment(ctx, id).experimentId);
  const where: SqlPredicate[] = [];
  if (experimentIds.length > 0) where.push({ sql: `r.experiment_id IN (${experimentIds.map(() => '?').join(', ')})`, args: experimentIds });
  if (req.run_view_type !== 'ALL') where.push({ sql: 'r.lifecycle_stage = ?', args: [req.run_view_type === 'ACTIVE_ONLY' ? 'active' : 'deleted'] });
  const clauses = parseFilter(req.filter);
  checkRunFilter(req.filter ?? '', clauses);
  for (const clause of clauses) {
    if (clause.entity === 'metric' && clause.comparator === '!=') {
      // a NaN latest value (NULL in metric_series) differs from every number, as in MLflow
      where.push({
        sql: 'EXISTS (SELECT 1 FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ? AND (m.latest_value IS NULL OR m.latest_value != ?))',
        args: [clause.key, clause.value as number],
      });
      continue;
    }
    const column = runColumn(clause.entity, clause.key, `filter on ${clause.entity} "${clause.key}"`);
    const predicate = column.numeric ? numericPredicate(column.sql, clause) : stringPredicate(column.sql, clause);
    where.push({ sql: predicate.sql, args: [...column.args, ...predicate.args] });
  }
  const order: SqlPredicate[] = req.order_by.map((text) => {
    const o = parseOrderBy(text);
    checkRunOrder(text, [o]);
    const column = runColumn(o.entity, o.key, `order_by "${text}"`);
    const direction = o.descending ? 'DESC' : 'ASC';
    if (o.entity === 'metric') {
      // numbers, then NaN latest values (NULL in metric_series), then runs without the metric, as in MLflow
      const rank = 'coalesce((SELECT CASE WHEN m.latest_value IS NULL THEN 1 ELSE 0 END FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ?), 2)';
      return { sql: `${rank}, ${column.sql} ${direction}`, args: [o.key, ...column.args] };
    }
    // Runs without the value go last either way, as in MLflow.
    return { sql: `(${column.sql}) IS NULL, ${column.sql} ${direction}`, args: [...column.args, ...column.args] };
  });
  const sql = `SELECT r.run_id FROM run r ${where.length ? `WHERE ${where.map((w) => w.sql).join(' AND ')}` : ''}
    ORDER BY ${[...order.map((o) => o.sql), 'r.start_time DESC', 'r.run_id ASC'].join(', ')} LIMIT ? OFFSET ?`;
  const ids = ctx.store.db
    .prepare(sql)
    .pluck()
    .all(...where.flatMap((w) => w.args), ...order.flatMap((o) => o.args), limit + 1, offset) as string[];
  const { items, nextPageToken } = page(ids, offset, limit);
  return { runs: items.map((id) => runJson(ctx, ctx.runs.get(id)!)), next_page_token: nextPageToken };
};

// --- metric history -----------------------------------------------------------------------------

const MAX_HISTORY_PAGE = 25000;
const historySchema = z.object({ ...runRef, metric_key: z.string(), page_token: z.string().optional(), max_results: int32.optional() });

const getHistory: JsonHandler = (ctx, input) => {
  const req = parseRequest(historySchema, input);
  const run = findRun(ctx, runIdOf(req));
  const limit = req.max_results ?? MAX_HISTORY_PAGE;
  if (limit < 1 || limit > MAX_HISTORY_PAGE) throw invalidParameter(`max_results must be between 1 and ${MAX_HISTORY_PAGE} (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const points = ctx.runs.metricHistory(run.runId, req.metric_key, { offset, limit: limit + 1 });
  const { items, nextPageToken } = page(points, offset, limit);
  return { metrics: items.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp, step: m.step })), next_page_token: nextPageToken };
};

const bulkSchema = z.object({
  run_ids: repeated(z.string()),
  metric_key: z.string(),
  start_step: int64.optional(),
  end_step: int64.optional(),
  max_results: int32.optional(),
});

/** Up to max_results evenly spaced steps per run (always the first and last), as the MLflow UI asks. */
const getHistoryBulkInterval: JsonHandler = (ctx, input) => {
  const req = parseRequest(bulkSchema, input);
  if (req.run_ids.length === 0 || req.run_ids.length > 100) throw invalidParameter(`run_ids must name 1 to 100 runs (got ${req.run_ids.length}).`);
  const maxResults = req.max_results ?? 320;
  if (maxResults < 1 || maxResults > MAX_HISTORY_PAGE) throw invalidParameter(`max_results must be between 1 and ${MAX_HISTORY_PAGE}.`);
  const start = req.start_step ?? Number.MIN_SAFE_INTEGER;
  const end = req.end_step ?? Number.MAX_SAFE_INTEGER;
  const out: Record<string, unknown>[] = [];
  for (const runId of req.run_ids) {
    findRun(ctx, runId);
    const series = findSeries(ctx.store.db, runId, req.metric_key);
    if (!series) continue;
    const all = allPointsInOrder(ctx.store.db, series);
    const steps: number[] = [];
    for (let i = 0; i < all.length; i += 3) {
      const step = all[i]!;
      if (step >= start && step <= end && step !== steps[steps.length - 1]) steps.push(step);
    }
    const chosen = new Set<number>();
    if (steps.length <= maxResults) steps.forEach((s) => chosen.add(s));
    else for (let i = 0; i < maxResults; i++) chosen.add(steps[Math.round((i * (steps.length - 1)) / Math.max(1, maxResults - 1))]!);
    for (let i = 0; i < all.length; i += 3) {
      if (chosen.has(all[i]!)) out.push({ key: req.metric_key, value: all[i + 2]!, timestamp: all[i + 1]!, step: all[i]!, run_id: runId });
    }
  }
  return { metrics: out };
};

export const runRoutes: Readonly<Record<string, JsonHandler>> = {
  'POST /api/2.0/mlflow/runs/create': create,
  'GET /api/2.0/mlflow/runs/get': get,
  'POST /api/2.0/mlflow/runs/update': update,
  'POST /api/2.0/mlflow/runs/delete': setLifecycle('deleted'),
  'POST /api/2.0/mlflow/runs/restore': setLifecycle('active'),
  'POST /api/2.0/mlflow/runs/log-metric': logMetric,
  'POST /api/2.0/mlflow/runs/log-parameter': logParam,
  'POST /api/2.0/mlflow/runs/set-tag': setTag,
  'POST /api/2.0/mlflow/runs/delete-tag': deleteTag,
  'POST /api/2.0/mlflow/runs/log-batch': logBatch,
  'POST /api/2.0/mlflow/runs/log-model': logModel,
  'POST /api/2.0/mlflow/runs/search': search,
  'GET /api/2.0/mlflow/metrics/get-history': getHistory,
  'GET /api/2.0/mlflow/metrics/get-history-bulk-interval': getHistoryBulkInterval,
};

/** Endpoints with a hot path that reads the raw body (tried first when the request has no query string). */
export const runBodyRoutes: Readonly<Record<string, BodyHandler>> = {
  'POST /api/2.0/mlflow/runs/log-batch': logBatchFromBody,
};
