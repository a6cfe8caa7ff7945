import { z } from 'zod';
import type { Experiment } from '../store/experiments';
import { experimentArtifactLocation, findExperiment, type JsonHandler, type TrackingContext } from './context';
import { alreadyExists, invalidParameter, notFound } from './errors';
import { parseFilter, parseOrderBy } from '../experiments/searchSyntax';
import { numericPredicate, stringPredicate, type SqlPredicate } from './searchFilter';
import { decodePageToken, int64, page, parseRequest, repeated } from './wire';

const MAX_EXPERIMENT_NAME_LENGTH = 500;
const MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000;
export const VIEW_TYPES = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'] as const;

export function experimentJson(ctx: TrackingContext, e: Experiment): Record<string, unknown> {
  return {
    experiment_id: String(e.experimentId),
    name: e.name,
    artifact_location: experimentArtifactLocation(e),
    lifecycle_stage: e.lifecycleStage,
    creation_time: e.createdAt,
    last_update_time: e.updatedAt,
    tags: Object.entries(ctx.experiments.tags(e.experimentId)).map(([key, value]) => ({ key, value })),
  };
}

const experimentName = z
  .string()
  .min(1, 'the experiment name must not be empty')
  .max(MAX_EXPERIMENT_NAME_LENGTH, `the experiment name must be at most ${MAX_EXPERIMENT_NAME_LENGTH} characters`);
const experimentTag = z.object({ key: z.string().min(1).max(250), value: z.string().max(MAX_EXPERIMENT_TAG_VALUE_LENGTH).optional().default('') });

const createSchema = z.object({ name: experimentName, artifact_location: z.string().optional(), tags: z.array(experimentTag).optional().default([]) });
const idSchema = z.object({ experiment_id: z.string() });

const create: JsonHandler = (ctx, input) => {
  const req = parseRequest(createSchema, input);
  const id = ctx.store.transaction(() => {
    if (ctx.experiments.byName(req.name)) throw alreadyExists(`Experiment '${req.name}' already exists.`);
    const experiment = ctx.experiments.create(req.name, { artifactLocation: req.artifact_location || undefined });
    for (const tag of req.tags) ctx.experiments.setTag(experiment.experimentId, tag.key, tag.value);
    return experiment.experimentId;
  });
  return { experiment_id: String(id) };
};

const get: JsonHandler = (ctx, input) => ({ experiment: experimentJson(ctx, findExperiment(ctx, parseRequest(idSchema, input).experiment_id)) });

const getByName: JsonHandler = (ctx, input) => {
  const { experiment_name } = parseRequest(z.object({ experiment_name: z.string() }), input);
  const experiment = ctx.experiments.byName(experiment_name) ?? (experiment_name === 'Default' ? ctx.experiments.ensureDefault() : undefined);
  if (!experiment) throw notFound(`Could not find experiment with name '${experiment_name}'`);
  return { experiment: experimentJson(ctx, experiment) };
};

const update: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ experiment_id: z.string(), new_name: experimentName }), input);
  ctx.store.transaction(() => {
    const experiment = findExperiment(ctx, req.experiment_id);
    const other = ctx.experiments.byName(req.new_name);
    if (other && other.experimentId !== experiment.experimentId) throw alreadyExists(`Experiment '${req.new_name}' already exists.`);
    ctx.experiments.rename(experiment.experimentId, req.new_name);
  });
  return {};
};

const setLifecycle =
  (stage: 'active' | 'deleted'): JsonHandler =>
  (ctx, input) => {
    const experiment = findExperiment(ctx, parseRequest(idSchema, input).experiment_id);
    if (stage === 'deleted' && experiment.experimentId === 0) throw invalidParameter('The Default experiment (id 0) cannot be deleted.');
    ctx.experiments.setLifecycleStage(experiment.experimentId, stage);
    return {};
  };

const setTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(idSchema.extend(experimentTag.shape), input);
  ctx.experiments.setTag(findExperiment(ctx, req.experiment_id).experimentId, req.key, req.value);
  return {};
};

const deleteTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(idSchema.extend({ key: z.string() }), input);
  ctx.experiments.deleteTag(findExperiment(ctx, req.experiment_id).experimentId, req.key);
  return {};
};

const searchSchema = z.object({
  max_results: int64.optional(),
  page_token: z.string().optional(),
  filter: z.string().optional(),
  order_by: repeated(z.string()).optional().default([]),
  view_type: z.enum(VIEW_TYPES).optional().default('ACTIVE_ONLY'),
});

const EXPERIMENT_ATTRIBUTES: Readonly<Record<string, { column: string; numeric: boolean }>> = {
  name: { column: 'e.name', numeric: false },
  experiment_id: { column: 'e.experiment_id', numeric: true },
  creation_time: { column: 'e.created_at', numeric: true },
  last_update_time: { column: 'e.updated_at', numeric: true },
};

const search: JsonHandler = (ctx, input) => {
  const req = parseRequest(searchSchema, input);
  const limit = req.max_results ?? 1000;
  if (limit < 1 || limit > 50000) throw invalidParameter(`max_results must be between 1 and 50000 (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const where: SqlPredicate[] = [];
  if (req.view_type !== 'ALL') where.push({ sql: 'e.lifecycle_stage = ?', args: [req.view_type === 'ACTIVE_ONLY' ? 'active' : 'deleted'] });
  for (const clause of parseFilter(req.filter)) {
    if (clause.entity === 'tag') {
      const p = stringPredicate('t.value', clause);
      where.push({
        sql: `EXISTS (SELECT 1 FROM experiment_tag t WHERE t.experiment_id = e.experiment_id AND t.key = ? AND ${p.sql})`,
        args: [clause.key, ...p.args],
      });
      continue;
    }
    const attribute = clause.entity === 'attribute' ? EXPERIMENT_ATTRIBUTES[clause.key] : undefined;
    if (!attribute)
      throw invalidParameter(`Invalid experiment filter: "${clause.key}" is not searchable (use name, creation_time, last_update_time or tags.<key>).`);
    where.push(attribute.numeric ? numericPredicate(attribute.column, clause) : stringPredicate(attribute.column, clause));
  }
  const order = req.order_by.map((text) => {
    const o = parseOrderBy(text);
    const attribute = o.entity === 'attribute' ? EXPERIMENT_ATTRIBUTES[o.key] : undefined;
    if (!attribute) throw invalidParameter(`Invalid order_by "${text}": order experiments by name, experiment_id, creation_time or last_update_time.`);
    return `${attribute.column} ${o.descending ? 'DESC' : 'ASC'}`;
  });
  const sql = `SELECT e.experiment_id FROM experiment e ${where.length ? `WHERE ${where.map((w) => w.sql).join(' AND ')}` : ''}
    ORDER BY ${[...order, 'e.created_at DESC', 'e.experiment_id ASC'].join(', ')} LIMIT ? OFFSET ?`;
  const ids = ctx.store.db
    .prepare(sql)
    .pluck()
    .all(...where.flatMap((w) => w.args), limit + 1, offset) as number[];
  const { items, nextPageToken } = page(ids, offset, limit);
  return { experiments: items.map((id) => experimentJson(ctx, ctx.experiments.get(id)!)), next_page_token: nextPageToken };
};

export const experimentRoutes: Readonly<Record<string, JsonHandler>> = {
  'POST /api/2.0/mlflow/experiments/create': create,
  'GET /api/2.0/mlflow/experiments/get': get,
  'GET /api/2.0/mlflow/experiments/get-by-name': getByName,
  'POST /api/2.0/mlflow/experiments/search': search,
  'GET /api/2.0/mlflow/experiments/search': search,
  'POST /api/2.0/mlflow/experiments/update': update,
  'POST /api/2.0/mlflow/experiments/delete': setLifecycle('deleted'),
  'POST /api/2.0/mlflow/experiments/restore': setLifecycle('active'),
  'POST /api/2.0/mlflow/experiments/set-experiment-tag': setTag,
  'POST /api/2.0/mlflow/experiments/delete-experiment-tag': deleteTag,
};
