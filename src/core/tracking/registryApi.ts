import { existsSync } from 'node:fs';
import { z } from 'zod';
import { loggedModelDir, pathDigestSync, readMlflowSignature } from '../registry/modelArtifact';
import { AuditRepository, osUser } from '../store/audit';
import { aliasProblem, type Model, type ModelVersion } from '../store/models';
import { actorFor, findRun, type JsonHandler, type TrackingContext } from './context';
import { alreadyExists, invalidParameter, notFound } from './errors';
import { loggedModelArtifactUri } from './loggedModelsApi';
import { parseFilter, parseOrderBy } from '../experiments/searchSyntax';
import { numericPredicate, stringPredicate, type SqlPredicate } from './searchFilter';
import { decodePageToken, int64, page, parseRequest, repeated } from './wire';

// Registered models and versions map onto mloop's model / model_version / alias tables. Every change
// writes its audit row in the same transaction (ModelRepository does so for register and aliases).

const MAX_TAG_VALUE = 100_000;
const modelName = z.string().min(1, 'the registered model name must not be empty').max(256);
const versionNumber = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    ctx.addIssue({ code: 'custom', message: `expected a version number of at least 1 (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return n;
});
const registryTag = z.object({ key: z.string().min(1).max(250), value: z.string().max(MAX_TAG_VALUE).optional().default('') });

function findModel(ctx: TrackingContext, name: string): Model {
  const model = ctx.models.byName(name);
  if (!model) throw notFound(`Registered Model with name=${name} not found`);
  return model;
}

function findVersion(ctx: TrackingContext, name: string, version: number): { model: Model; version: ModelVersion } {
  const model = findModel(ctx, name);
  const v = ctx.models.version(model.modelId, version);
  if (!v) throw notFound(`Model Version (name=${name}, version=${version}) not found`);
  return { model, version: v };
}

const modelIdOfSource = (source: string | null): string | undefined => /^models:\/(m-[0-9a-f]+)$/.exec(source ?? '')?.[1];

export function modelVersionJson(ctx: TrackingContext, model: Model, v: ModelVersion): Record<string, unknown> {
  const loggedModelId = modelIdOfSource(v.artifactPath);
  return {
    name: model.name,
    version: String(v.version),
    creation_timestamp: v.createdAt,
    last_updated_timestamp: v.createdAt,
    current_stage: v.stage ?? 'None',
    ...(v.description === null ? {} : { description: v.description }),
    ...(v.artifactPath === null ? {} : { source: v.artifactPath }),
    ...(v.sourceRunId === null ? {} : { run_id: v.sourceRunId }),
    ...(loggedModelId ? { model_id: loggedModelId } : {}),
    status: 'READY',
    tags: Object.entries(ctx.models.versionTags(v.modelVersionId)).map(([key, value]) => ({ key, value })),
    aliases: v.aliases,
  };
}

export function registeredModelJson(ctx: TrackingContext, model: Model): Record<string, unknown> {
  const versions = ctx.models.versions(model.modelId);
  return {
    name: model.name,
    creation_timestamp: model.createdAt,
    last_updated_timestamp: model.updatedAt,
    ...(model.description === null ? {} : { description: model.description }),
    latest_versions: versions.slice(0, 1).map((v) => modelVersionJson(ctx, model, v)),
    tags: Object.entries(ctx.models.modelTags(model.modelId)).map(([key, value]) => ({ key, value })),
    aliases: versions.flatMap((v) => v.aliases.map((alias) => ({ alias, version: String(v.version) }))).sort((a, b) => a.alias.localeCompare(b.alias)),
  };
}

/** An audited registry change that the repositories do not audit themselves (tags, descriptions). */
function audited(
  ctx: TrackingContext,
  entry: { action: string; entityType: string; entityId: string; fromValue?: string | null; toValue?: string | null },
  change: () => void,
): void {
  ctx.store.transaction(() => {
    change();
    new AuditRepository(ctx.store).record({ actor: osUser(), ...entry });
  });
}

const createModel: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ name: modelName, tags: z.array(registryTag).optional().default([]), description: z.string().optional() }), input);
  const model = ctx.store.transaction(() => {
    const created = ctx.models.createModel({ name: req.name, description: req.description || undefined, actor: osUser() });
    if (!created) throw alreadyExists(`Registered Model (name=${req.name}) already exists.`);
    for (const tag of req.tags) ctx.models.setModelTag(created.modelId, tag.key, tag.value);
    return created;
  });
  return { registered_model: registeredModelJson(ctx, model) };
};

const getModel: JsonHandler = (ctx, input) => ({
  registered_model: registeredModelJson(ctx, findModel(ctx, parseRequest(z.object({ name: modelName }), input).name)),
});

const updateModel: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ name: modelName, description: z.string().optional() }), input);
  const model = findModel(ctx, req.name);
  audited(
    ctx,
    { action: 'update_description', entityType: 'model', entityId: model.name, fromValue: model.description, toValue: req.description ?? null },
    () => {
      ctx.store.db.prepare('UPDATE model SET description = ?, updated_at = ? WHERE model_id = ?').run(req.description ?? null, Date.now(), model.modelId);
    },
  );
  return { registered_model: registeredModelJson(ctx, ctx.models.byName(req.name)!) };
};

const setModelTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ name: modelName }).extend(registryTag.shape), input);
  const model = findModel(ctx, req.name);
  audited(ctx, { action: 'set_tag', entityType: 'model', entityId: model.name, toValue: `${req.key}=${req.value.slice(0, 200)}` }, () =>
    ctx.models.setModelTag(model.modelId, req.key, req.value),
  );
  return {};
};

const deleteModelTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ name: modelName, key: z.string() }), input);
  const model = findModel(ctx, req.name);
  audited(ctx, { action: 'delete_tag', entityType: 'model', entityId: model.name, fromValue: req.key }, () =>
    ctx.models.deleteModelTag(model.modelId, req.key),
  );
  return {};
};

const REGISTERED_MODEL_ATTRIBUTES: Readonly<Record<string, { column: string; numeric: boolean }>> = {
  name: { column: 'm.name', numeric: false },
  creation_timestamp: { column: 'm.created_at', numeric: true },
  last_updated_timestamp: { column: 'm.updated_at', numeric: true },
  timestamp: { column: 'm.updated_at', numeric: true },
};

const MODEL_VERSION_ATTRIBUTES: Readonly<Record<string, { column: string; numeric: boolean }>> = {
  name: { column: 'm.name', numeric: false },
  version: { column: 'v.version', numeric: true },
  version_number: { column: 'v.version', numeric: true },
  run_id: { column: 'v.source_run_id', numeric: false },
  source_path: { column: 'v.artifact_path', numeric: false },
  source: { column: 'v.artifact_path', numeric: false },
  creation_timestamp: { column: 'v.created_at', numeric: true },
  last_updated_timestamp: { column: 'v.created_at', numeric: true },
  current_stage: { column: "coalesce(v.stage, 'None')", numeric: false },
};

const searchSchema = z.object({
  filter: z.string().optional(),
  max_results: int64.optional(),
  order_by: repeated(z.string()).optional().default([]),
  page_token: z.string().optional(),
});

function compile(
  filter: string | undefined,
  orderBy: readonly string[],
  attributes: Readonly<Record<string, { column: string; numeric: boolean }>>,
  tagSql: string,
): { where: SqlPredicate[]; order: string[] } {
  const where: SqlPredicate[] = [];
  for (const clause of parseFilter(filter)) {
    if (clause.entity === 'tag') {
      const p = stringPredicate('t.value', clause);
      where.push({ sql: `EXISTS (${tagSql} AND t.key = ? AND ${p.sql})`, args: [clause.key, ...p.args] });
      continue;
    }
    const attribute = clause.entity === 'attribute' ? attributes[clause.key] : undefined;
    if (!attribute) throw invalidParameter(`Invalid filter: "${clause.key}" is not searchable here (use ${Object.keys(attributes).join(', ')} or tags.<key>).`);
    where.push(attribute.numeric ? numericPredicate(attribute.column, clause) : stringPredicate(attribute.column, clause));
  }
  const order = orderBy.map((text) => {
    const o = parseOrderBy(text);
    const attribute = o.entity === 'attribute' ? attributes[o.key] : undefined;
    if (!attribute) throw invalidParameter(`Invalid order_by "${text}": order by ${Object.keys(attributes).join(', ')}.`);
    return `${attribute.column} ${o.descending ? 'DESC' : 'ASC'}`;
  });
  return { where, order };
}

const searchModels: JsonHandler = (ctx, input) => {
  const req = parseRequest(searchSchema, input);
  const limit = req.max_results ?? 100;
  if (limit < 1 || limit > 1000) throw invalidParameter(`max_results must be between 1 and 1000 (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const { where, order } = compile(req.filter, req.order_by, REGISTERED_MODEL_ATTRIBUTES, 'SELECT 1 FROM model_tag t WHERE t.model_id = m.model_id');
  const names = ctx.store.db
    .prepare(
      `SELECT m.name FROM model m ${where.length ? `WHERE ${where.map((w) => w.sql).join(' AND ')}` : ''} ORDER BY ${[...order, 'm.name ASC'].join(', ')} LIMIT ? OFFSET ?`,
    )
    .pluck()
    .all(...where.flatMap((w) => w.args), limit + 1, offset) as string[];
  const { items, nextPageToken } = page(names, offset, limit);
  return { registered_models: items.map((name) => registeredModelJson(ctx, ctx.models.byName(name)!)), next_page_token: nextPageToken };
};

const getLatestVersions: JsonHandler = (ctx, input) => {
  const req = parseRequest(z.object({ name: modelName, stages: repeated(z.string()).optional().default([]) }), input);
  const model = findModel(ctx, req.name);
  const byStage = new Map<string, ModelVersion>();
  for (const v of ctx.models.versions(model.modelId)) {
    const stage = v.stage ?? 'None';
    if (!byStage.has(stage.toLowerCase())) byStage.set(stage.toLowerCase(), v);
  }
  const wanted = req.stages.length ? req.stages.map((s) => s.toLowerCase()) : [...byStage.keys()];
  const versions = wanted.flatMap((s) => (byStage.has(s) ? [byStage.get(s)!] : [])).sort((a, b) => a.version - b.version);
  return { model_versions: versions.map((v) => modelVersionJson(ctx, model, v)) };
};

const createVersionSchema = z.object({
  name: modelName,
  source: z.string().min(1).max(5000),
  run_id: z.string().optional(),
  tags: z.array(registryTag).optional().default([]),
  run_link: z.string().optional(),
  description: z.string().optional(),
  model_id: z.string().optional(),
});

const createVersion: JsonHandler = (ctx, input) => {
  const req = parseRequest(createVersionSchema, input);
  const { model, version } = ctx.store.transaction(() => {
    const model = findModel(ctx, req.name);
    if (req.model_id && !loggedModelArtifactUri(ctx, req.model_id)) throw notFound(`Logged model ${req.model_id} not found.`);
    // MLflow 3 registers a logged model without run_id: the run is the one that logged the model.
    const loggedModelRun = req.model_id
      ? (ctx.store.db.prepare('SELECT source_run_id FROM logged_model WHERE model_id = ?').pluck().get(req.model_id) as string | null)
      : null;
    const runId = req.run_id || loggedModelRun;
    const run = runId ? findRun(ctx, runId) : undefined;
    // a logged model kept by this server: digest its files and keep the signature MLflow wrote
    const loggedDir = req.model_id ? loggedModelDir(ctx.store, ctx.artifactRoot, req.model_id) : undefined;
    const kept = loggedDir !== undefined && existsSync(loggedDir);
    const version = ctx.models.registerVersion({
      name: model.name,
      sourceRunId: run?.runId,
      artifactDigest: kept ? pathDigestSync(loggedDir) : undefined,
      signature: kept ? readMlflowSignature(loggedDir) : undefined,
      artifactPath: req.model_id && !req.source.startsWith('models:/') ? `models:/${req.model_id}` : req.source,
      metrics: run ? ctx.runs.latestMetrics(run.runId) : undefined,
      description: req.description || undefined,
      actor: actorFor(ctx, run?.runId),
    });
    for (const tag of req.tags) ctx.models.setVersionTag(version.modelVersionId, tag.key, tag.value);
    return { model, version };
  });
  return { model_version: modelVersionJson(ctx, model, version) };
};

const versionRef = z.object({ name: modelName, version: versionNumber });

const getVersion: JsonHandler = (ctx, input) => {
  const req = parseRequest(versionRef, input);
  const { model, version } = findVersion(ctx, req.name, req.version);
  return { model_version: modelVersionJson(ctx, model, version) };
};

const updateVersion: JsonHandler = (ctx, input) => {
  const req = parseRequest(versionRef.extend({ description: z.string().optional() }), input);
  const { model, version } = findVersion(ctx, req.name, req.version);
  audited(
    ctx,
    {
      action: 'update_description',
      entityType: 'model_version',
      entityId: `${model.name}/${version.version}`,
      fromValue: version.description,
      toValue: req.description ?? null,
    },
    () => {
      ctx.store.db.prepare('UPDATE model_version SET description = ? WHERE model_version_id = ?').run(req.description ?? null, version.modelVersionId);
    },
  );
  return { model_version: modelVersionJson(ctx, model, ctx.models.version(model.modelId, version.version)!) };
};

const setVersionTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(versionRef.extend(registryTag.shape), input);
  const { model, version } = findVersion(ctx, req.name, req.version);
  audited(
    ctx,
    { action: 'set_tag', entityType: 'model_version', entityId: `${model.name}/${version.version}`, toValue: `${req.key}=${req.value.slice(0, 200)}` },
    () => ctx.models.setVersionTag(version.modelVersionId, req.key, req.value),
  );
  return {};
};

const deleteVersionTag: JsonHandler = (ctx, input) => {
  const req = parseRequest(versionRef.extend({ key: z.string() }), input);
  const { model, version } = findVersion(ctx, req.name, req.version);
  audited(ctx, { action: 'delete_tag', entityType: 'model_version', entityId: `${model.name}/${version.version}`, fromValue: req.key }, () =>
    ctx.models.deleteVersionTag(version.modelVersionId, req.key),
  );
  return {};
};

const searchVersions: JsonHandler = (ctx, input) => {
  const req = parseRequest(searchSchema, input);
  const limit = req.max_results ?? 10000;
  if (limit < 1 || limit > 200000) throw invalidParameter(`max_results must be between 1 and 200000 (got ${limit}).`);
  const offset = decodePageToken(req.page_token);
  const { where, order } = compile(
    req.filter,
    req.order_by,
    MODEL_VERSION_ATTRIBUTES,
    'SELECT 1 FROM model_version_tag t WHERE t.model_version_id = v.model_version_id',
  );
  const rows = ctx.store.db
    .prepare(
      `SELECT m.name, v.version FROM model_version v JOIN model m USING (model_id) ${where.length ? `WHERE ${where.map((w) => w.sql).join(' AND ')}` : ''}
       ORDER BY ${[...order, 'm.name ASC', 'v.version DESC'].join(', ')} LIMIT ? OFFSET ?`,
    )
    .all(...where.flatMap((w) => w.args), limit + 1, offset) as { name: string; version: number }[];
  const { items, nextPageToken } = page(rows, offset, limit);
  return {
    model_versions: items.map((r) => {
      const found = findVersion(ctx, r.name, r.version);
      return modelVersionJson(ctx, found.model, found.version);
    }),
    next_page_token: nextPageToken,
  };
};

const getDownloadUri: JsonHandler = (ctx, input) => {
  const req = parseRequest(versionRef, input);
  const { version } = findVersion(ctx, req.name, req.version);
  const loggedModelId = modelIdOfSource(version.artifactPath);
  return { artifact_uri: (loggedModelId && loggedModelArtifactUri(ctx, loggedModelId)) || version.artifactPath || '' };
};

const aliasSchema = z.object({ name: modelName, alias: z.string() });

const setAlias: JsonHandler = (ctx, input) => {
  const req = parseRequest(aliasSchema.extend({ version: versionNumber }), input);
  const problem = aliasProblem(req.alias);
  if (problem) throw invalidParameter(problem);
  const { model, version } = findVersion(ctx, req.name, req.version);
  if (req.alias === 'champion' && version.gatePassed === false) {
    // the MLflow API has no field for an override reason: the override goes through mloop, where it is audited
    throw invalidParameter(
      `${model.name} v${version.version} failed its release gate; promote it with "mloop models promote ${model.name} ${version.version} --override <reason>" or from the Models view.`,
    );
  }
  ctx.models.setAlias({ modelId: model.modelId, alias: req.alias, version: version.version, actor: actorFor(ctx, version.sourceRunId) });
  return {};
};

const deleteAlias: JsonHandler = (ctx, input) => {
  const req = parseRequest(aliasSchema, input);
  const model = findModel(ctx, req.name);
  const current = ctx.models.versionByAlias(model.modelId, req.alias);
  if (!ctx.models.deleteAlias({ modelId: model.modelId, alias: req.alias, actor: actorFor(ctx, current?.sourceRunId) })) {
    throw notFound(`Registered model alias ${req.alias} not found.`);
  }
  return {};
};

const getByAlias: JsonHandler = (ctx, input) => {
  const req = parseRequest(aliasSchema, input);
  const model = findModel(ctx, req.name);
  const version = ctx.models.versionByAlias(model.modelId, req.alias);
  if (!version) throw notFound(`Registered model alias ${req.alias} not found.`);
  return { model_version: modelVersionJson(ctx, model, version) };
};

export const registryRoutes: Readonly<Record<string, JsonHandler>> = {
  'POST /api/2.0/mlflow/registered-models/create': createModel,
  'GET /api/2.0/mlflow/registered-models/get': getModel,
  'PATCH /api/2.0/mlflow/registered-models/update': updateModel,
  'GET /api/2.0/mlflow/registered-models/search': searchModels,
  'POST /api/2.0/mlflow/registered-models/get-latest-versions': getLatestVersions,
  'GET /api/2.0/mlflow/registered-models/get-latest-versions': getLatestVersions,
  'POST /api/2.0/mlflow/registered-models/set-tag': setModelTag,
  'DELETE /api/2.0/mlflow/registered-models/delete-tag': deleteModelTag,
  'POST /api/2.0/mlflow/registered-models/alias': setAlias,
  'DELETE /api/2.0/mlflow/registered-models/alias': deleteAlias,
  'GET /api/2.0/mlflow/registered-models/alias': getByAlias,
  'POST /api/2.0/mlflow/model-versions/create': createVersion,
  'GET /api/2.0/mlflow/model-versions/get': getVersion,
  'PATCH /api/2.0/mlflow/model-versions/update': updateVersion,
  'GET /api/2.0/mlflow/model-versions/search': searchVersions,
  'GET /api/2.0/mlflow/model-versions/get-download-uri': getDownloadUri,
  'POST /api/2.0/mlflow/model-versions/set-tag': setVersionTag,
  'DELETE /api/2.0/mlflow/model-versions/delete-tag': deleteVersionTag,
};
