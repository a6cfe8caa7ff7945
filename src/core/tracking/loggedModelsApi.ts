import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { experimentArtifactLocation, findActiveExperiment, findExperiment, findRun, type JsonHandler, type TrackingContext } from './context';
import { invalidParameter, notFound } from './errors';
import { parseFilter, parseOrderBy } from '../experiments/searchSyntax';
import { stringPredicate, numericPredicate, type SqlPredicate } from './searchFilter';
import { assertName, bool, decodePageToken, int32, keyValue, page, parseRequest } from './wire';

// MLflow 3 logged models: `mlflow.<flavor>.log_model` creates one (PENDING), uploads its files under
// `<experiment>/models/<model id>/artifacts`, then finalizes it (READY or UPLOAD_FAILED).

const STATUS_WIRE = { PENDING: 'LOGGED_MODEL_PENDING', READY: 'LOGGED_MODEL_READY', UPLOAD_FAILED: 'LOGGED_MODEL_UPLOAD_FAILED' } as const;
type LoggedModelStatus = keyof typeof STATUS_WIRE;
const wireStatus = z
  .enum(['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED'])
  .transform((s) => s.replace('LOGGED_MODEL_', '') as LoggedModelStatus);

interface LoggedModelRow {
  model_id: string;
  experiment_id: number;
  name: string;
  source_run_id: string | null;
  model_type: string | null;
  status: LoggedModelStatus;
  status_message: string | null;
  lifecycle_stage: 'active' | 'deleted';
  created_at: number;
  updated_at: number;
}

/** The artifact folder of a logged model, derived from its experiment (one source of truth). */
export function loggedModelArtifactUri(ctx: TrackingContext, modelId: string): string | undefined {
  const experimentId = ctx.store.db.prepare('SELECT experiment_id FROM logged_model WHERE model_id = ?').pluck().get(modelId) as number | undefined;
  if (experimentId === undefined) return undefined;
  return `${experimentArtifactLocation(ctx.experiments.get(experimentId)!)}/models/${modelId}/artifacts`;
}

function findLoggedModel(ctx: TrackingContext, modelId: string, allowDeleted = false): LoggedModelRow {
  const row = ctx.store.db.prepare('SELECT * FROM logged_model WHERE model_id = ?').get(modelId) as LoggedModelRow | undefined;
  if (!row || (row.lifecycle_stage === 'deleted' && !allowDeleted)) throw notFound(`Logged model with ID '${modelId.slice(0, 80)}' not found.`);
  return row;
}

function loggedModelJson(ctx: TrackingContext, row: LoggedModelRow): Record<string, unknown> {
  const db = ctx.store.db;
  const pairs = (table: string): { key: string; value: string }[] =>
    db.prepare(`SELECT key, value FROM ${table} WHERE model_id = ? ORDER BY key`).all(row.model_id) as { key: string; value: string }[];
  const registrations = db
    .prepare('SELECT m.name, v.version FROM model_version v JOIN model m USING (model_id) WHERE v.artifact_path = ? ORDER BY m.name, v.version')
    .all(`models:/${row.model_id}`) as { name: string; version: number }[];
  return {
    info: {
      model_id: row.model_id,
      experiment_id: String(row.experiment_id),
      name: row.name,
      creation_timestamp_ms: row.created_at,
      last_updated_timestamp_ms: row.updated_at,
      artifact_uri: loggedModelArtifactUri(ctx, row.model_id),
      status: STATUS_WIRE[row.status],
      ...(row.model_type === null ? {} : { model_type: row.model_type }),
      ...(row.source_run_id === null ? {} : { source_run_id: row.source_run_id }),
      ...(row.status_message === null ? {} : { status_message: row.status_message }),
      tags: pairs('logged_model_tag'),
      registrations: registrations.map((r) => ({ name: r.name, version: String(r.version) })),
    },
    data: { params: pairs('logged_model_param'), metrics: [] },
  };
}

const paramSchema = z.object({ key: z.string(), value: z.string().max(6000) });
const createSchema = z.object({
  experiment_id: z.string(),
  name: z.string().max(500).optional(),
  model_type: z.string().max(500).optional(),
  source_run_id: z.string().optional(),
  params: z.array(paramSchema).max(1000).optional().default([]),
  tags: z.array(keyValue).max(1000).optional().default([]),
});

function setParams(ctx: TrackingContext, modelId: string, params: readonly { key: string; value: string }[]): void {
  const insert = ctx.store.db.prepare(
    'INSERT INTO logged_model_param (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value',
  );
  for (const p of params) {
    assertName('param', p.key);
    insert.run(modelId, p.key, p.value);
  }
}

function setTags(ctx: TrackingContext, modelId: string, tags: readonly { key: string; value: string }[]): void {
  const insert = ctx.store.db.prepare(
    'INSERT INTO logged_model_tag (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value',
  );
  for (const t of tags) {
    assertName('tag', t.key);
    if (t.value.length > 8000) throw invalidParameter(`Tag '${t.key}' is longer than 8000 characters.`);
    insert.run(modelId, t.key, t.value);
  }
  ctx.store.db.prepare('UPDATE logged_model SET updated_at = ? WHERE model_id = ?').run(Date.now(), modelId);
}

const create: JsonHandler = (ctx, input) => {
  const req = parseRequest(createSchema, input);
  const modelId = `m-${randomBytes(16).toString('hex')}`;
  ctx.store.transaction(() => {
    const experiment = findActiveExperiment(ctx, req.experiment_id);
    if (req.source_run_id) findRun(ctx, req.source_run_id);
    const now = Date.now();
    ctx.store.db
      .prepare(
        `INSERT INTO logged_model (model_id, experiment_id, name, source_run_id, model_type, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'PENDING', ?, ?)`,
      )
      .run(modelId, experiment.experimentId, req.name || `model-${modelId.slice(2, 10)}`, req.source_run_id || null, req.model_type || null, now, now);
    setParams(ctx, modelId, req.params);
    setTags(ctx, modelId, req.tags);
  });
  return { model: loggedModelJson(ctx, findLoggedModel(ctx, modelId)) };
};

const get: JsonHandler = (ctx, input, [modelId]) => {
  const { allow_deleted } = parseRequest(z.object({ allow_deleted: bool.optional() }), input);
  return { model: loggedModelJson(ctx, findLoggedModel(ctx, modelId!, allow_deleted ?? false)) };
};

const finalize: JsonHandler = (ctx, input, [modelId]) => {
  const req = parseRequest(z.object({ status: wireStatus }), input);
  ctx.store.transaction(() => {
    findLoggedModel(ctx, modelId!);
    ctx.store.db.prepare('UPDATE logged_model SET status = ?, updated_at = ? WHERE model_id = ?').run(req.status, Date.now(), modelId);
  });
  return { model: loggedModelJson(ctx, findLoggedModel(ctx, modelId!)) };
};

const remove: JsonHandler = (ctx, _input, [modelId]) => {
  findLoggedModel(ctx, modelId!);
  ctx.store.db.prepare("UPDATE logged_model SET lifecycle_stage = 'deleted', updated_at = ? WHERE model_id = ?").run(Date.now(), modelId);
  return {};
};

const patchTags: JsonHandler = (ctx, input, [modelId]) => {
  const req = parseRequest(z.object({ tags: z.array(keyValue).max(1000) }), input);
  ctx.store.transaction(() => {
    findLoggedModel(ctx, modelId!);
    setTags(ctx, modelId!, req.tags);
  });
  return {};
};

const deleteTag: JsonHandler = (ctx, _input, [modelId, key]) => {
  findLoggedModel(ctx, modelId!);
  const info = ctx.store.db.prepare('DELETE FROM logged_model_tag WHERE model_id = ? AND key = ?').run(modelId, key);
  if (info.changes === 0) throw notFound(`No tag with key '${key}' on logged model ${modelId}.`);
  return {};
};

const logParams: JsonHandler = (ctx, input, [modelId]) => {
  const req = parseRequest(z.object({ params: z.array(paramSchema).max(1000) }), input);
  ctx.store.transaction(() => {
    findLoggedModel(ctx, modelId!);
    setParams(ctx, modelId!, req.params);
  });
  return {};
};

const LOGGED_MODEL_ATTRIBUTES: Readonly<Record<string, { column: string; numeric: boolean }>> = {
  name: { column: 'l.name', numeric: false },
  model_id: { column: 'l.model_id', numeric: false },
  model_type: { column: 'l.model_type', numeric: false },
  status: { column: "'LOGGED_MODEL_' || l.status", numeric: false },
  source_run_id: { column: 'l.source_run_id', numeric: false },
  creation_time: { column: 'l.created_at', numeric: true },
  creation_timestamp: { column: 'l.created_at', numeric: true },
  last_updated_timestamp: { column: 'l.updated_at', numeric: true },
};

const searchSchema = z.object({
  experiment_ids: z.array(z.string()).optional().default([]),
  filter: z.string().optional(),
  max_results: int32.optional(),
  order_by: z
    .array(z.object({ field_name: z.string(), ascending: z.boolean().optional().default(true) }))
    .optional()
    .default([]),
  page_token: z.string().optional(),
  datasets: z.array(z.unknown()).optional().default([]),
});

function loggedModelColumn(entity: string, key: string): SqlPredicate & { numeric: boolean } {
  if (entity === 'param') return { sql: '(SELECT p.value FROM logged_model_param p WHERE p.model_id = l.model_id AND p.key = ?)', args: [key], numeric: false };
  if (entity === 'tag') return { sql: '(SELECT t.value FROM logged_model_tag t WHERE t.model_id = l.model_id AND t.key = ?)', args: [key], numeric: false };
  const attribute = entity === 'attribute' ? LOGGED_MODEL_ATTRIBUTES[key] : undefined;
  if (!attribute)
    throw invalidParameter(
      `Logged models cannot be searched by ${entity} "${key}" here; use name, status, model_type, source_run_id, creation_time, params. or tags.`,
    );
  return { sql: attribute.column, args: [], numeric: attribute.numeric };
}

const search: JsonHandler = (ctx, input) => {
  const req = parseRequest(searchSchema, input);
  if (req.datasets.length > 0) throw invalidParameter('Searching logged models by datasets is not supported by the mloop endpoint.');
  const limit = req.max_results ?? 100;
  if (limit < 1 || limit > 1000) throw invalidParameter(`max_results must be between 1 and 1000 (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const experimentIds = req.experiment_ids.map((id) => findExperiment(ctx, id).experimentId);
  const where: SqlPredicate[] = [{ sql: "l.lifecycle_stage = 'active'", args: [] }];
  if (experimentIds.length) where.push({ sql: `l.experiment_id IN (${experimentIds.map(() => '?').join(', ')})`, args: experimentIds });
  for (const clause of parseFilter(req.filter)) {
    const column = loggedModelColumn(clause.entity, clause.key);
    const predicate = column.numeric ? numericPredicate(column.sql, clause) : stringPredicate(column.sql, clause);
    where.push({ sql: predicate.sql, args: [...column.args, ...predicate.args] });
  }
  const order = req.order_by.map((o) => {
    const parsed = parseOrderBy(o.field_name);
    const column = loggedModelColumn(parsed.entity, parsed.key);
    return { sql: `${column.sql} ${o.ascending ? 'ASC' : 'DESC'}`, args: column.args };
  });
  const ids = ctx.store.db
    .prepare(
      `SELECT l.model_id FROM logged_model l WHERE ${where.map((w) => w.sql).join(' AND ')}
       ORDER BY ${[...order.map((o) => o.sql), 'l.created_at DESC', 'l.model_id'].join(', ')} LIMIT ? OFFSET ?`,
    )
    .pluck()
    .all(...where.flatMap((w) => w.args), ...order.flatMap((o) => o.args), limit + 1, offset) as string[];
  const { items, nextPageToken } = page(ids, offset, limit);
  return { models: items.map((id) => loggedModelJson(ctx, findLoggedModel(ctx, id))), next_page_token: nextPageToken };
};

export const loggedModelRoutes: Readonly<Record<string, JsonHandler>> = {
  'POST /api/2.0/mlflow/logged-models': create,
  'POST /api/2.0/mlflow/logged-models/search': search,
  'GET /api/2.0/mlflow/logged-models/{model_id}': get,
  'PATCH /api/2.0/mlflow/logged-models/{model_id}': finalize,
  'DELETE /api/2.0/mlflow/logged-models/{model_id}': remove,
  'PATCH /api/2.0/mlflow/logged-models/{model_id}/tags': patchTags,
  'DELETE /api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}': deleteTag,
  'POST /api/2.0/mlflow/logged-models/{model_id}/params': logParams,
};
