import { z } from 'zod';
import { findWritableRun, type JsonHandler, type TrackingContext } from './context';
import { notFound } from './errors';
import { int64, parseRequest } from './wire';

// MLflow datasets become mloop datasets (source 'mlflow') with content-addressed versions, and
// run_input pins the exact version a run read; logged models a run produced are its outputs.

const CONTEXT_TAG = 'mlflow.data.context';
const MAX_DATASETS_PER_REQUEST = 1000;

const datasetSchema = z.object({
  name: z.string().min(1).max(500),
  digest: z.string().min(1).max(36),
  source_type: z.string().max(255),
  source: z.string().max(65535),
  schema: z.string().max(1048575).optional(),
  profile: z.string().max(16777215).optional(),
});

const logInputsSchema = z.object({
  run_id: z.string().optional(),
  run_uuid: z.string().optional(),
  datasets: z
    .array(
      z.object({
        tags: z
          .array(z.object({ key: z.string().max(255), value: z.string().max(500) }))
          .optional()
          .default([]),
        dataset: datasetSchema,
      }),
    )
    .max(MAX_DATASETS_PER_REQUEST, `at most ${MAX_DATASETS_PER_REQUEST} datasets per request`)
    .optional()
    .default([]),
  models: z
    .array(z.object({ model_id: z.string() }))
    .optional()
    .default([]),
});

/** The location a dataset source describes ({"uri": …}, {"url": …}, {"path": …}), else the raw source. */
function sourceLocation(source: string): string {
  try {
    const parsed = JSON.parse(source) as Record<string, unknown>;
    for (const field of ['uri', 'url', 'path', 'table_name']) if (typeof parsed[field] === 'string') return parsed[field] as string;
  } catch {
    // not JSON: the source is the location
  }
  return source;
}

function rowCount(profile: string | undefined): number | null {
  if (!profile) return null;
  try {
    const parsed = JSON.parse(profile) as Record<string, unknown>;
    const rows = parsed.num_rows ?? parsed.num_elements;
    return typeof rows === 'number' && Number.isSafeInteger(rows) ? rows : null;
  } catch {
    return null;
  }
}

const logInputs: JsonHandler = (ctx, input) => {
  const req = parseRequest(logInputsSchema, input);
  const db = ctx.store.db;
  ctx.store.transaction(() => {
    const run = findWritableRun(ctx, req.run_id || req.run_uuid);
    const now = Date.now();
    for (const { dataset, tags } of req.datasets) {
      // A declared dataset with the same name keeps its uri and format; the MLflow version joins it.
      db.prepare("INSERT INTO dataset (name, uri, format, source, created_at) VALUES (?, ?, NULL, 'mlflow', ?) ON CONFLICT (name) DO NOTHING").run(
        dataset.name,
        sourceLocation(dataset.source),
        now,
      );
      const datasetId = db.prepare('SELECT dataset_id FROM dataset WHERE name = ?').pluck().get(dataset.name) as number;
      db.prepare(
        `INSERT INTO dataset_version (dataset_id, digest, digest_algorithm, path, row_count, schema_json, profile_json, origin, created_at, source_type)
         VALUES (?, ?, 'mlflow', ?, ?, ?, ?, 'mlflow', ?, ?) ON CONFLICT (dataset_id, digest) DO NOTHING`,
      ).run(datasetId, dataset.digest, dataset.source, rowCount(dataset.profile), dataset.schema ?? null, dataset.profile ?? null, now, dataset.source_type);
      const versionId = db
        .prepare('SELECT dataset_version_id FROM dataset_version WHERE dataset_id = ? AND digest = ?')
        .pluck()
        .get(datasetId, dataset.digest) as number;
      const context = tags.find((t) => t.key === CONTEXT_TAG)?.value || 'training';
      db.prepare('INSERT INTO run_input (run_id, dataset_version_id, context) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET context = excluded.context').run(
        run.runId,
        versionId,
        context,
      );
    }
    for (const model of req.models) {
      if (!db.prepare('SELECT 1 FROM logged_model WHERE model_id = ?').get(model.model_id)) throw notFound(`Logged model ${model.model_id} not found.`);
    }
  });
  return {};
};

const logOutputsSchema = z.object({
  run_id: z.string(),
  models: z.array(z.object({ model_id: z.string(), step: int64.optional().default(0) })).max(MAX_DATASETS_PER_REQUEST),
});

const logOutputs: JsonHandler = (ctx, input) => {
  const req = parseRequest(logOutputsSchema, input);
  ctx.store.transaction(() => {
    const run = findWritableRun(ctx, req.run_id);
    for (const model of req.models) {
      if (!ctx.store.db.prepare('SELECT 1 FROM logged_model WHERE model_id = ?').get(model.model_id))
        throw notFound(`Logged model ${model.model_id} not found.`);
      ctx.store.db
        .prepare('INSERT INTO run_output (run_id, model_id, step) VALUES (?, ?, ?) ON CONFLICT (run_id, model_id) DO UPDATE SET step = excluded.step')
        .run(run.runId, model.model_id, model.step);
    }
  });
  return {};
};

export function runInputsJson(ctx: TrackingContext, runId: string): Record<string, unknown> {
  const rows = ctx.store.db
    .prepare(
      `SELECT d.name, v.digest, coalesce(v.source_type, 'local') AS source_type, v.path AS source, v.schema_json, v.profile_json, i.context
       FROM run_input i JOIN dataset_version v USING (dataset_version_id) JOIN dataset d USING (dataset_id)
       WHERE i.run_id = ? ORDER BY d.name, v.digest`,
    )
    .all(runId) as {
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema_json: string | null;
    profile_json: string | null;
    context: string;
  }[];
  return {
    dataset_inputs: rows.map((r) => ({
      tags: [{ key: CONTEXT_TAG, value: r.context }],
      dataset: {
        name: r.name,
        digest: r.digest,
        source_type: r.source_type,
        source: r.source,
        ...(r.schema_json === null ? {} : { schema: r.schema_json }),
        ...(r.profile_json === null ? {} : { profile: r.profile_json }),
      },
    })),
    model_inputs: [],
  };
}

export function runOutputsJson(ctx: TrackingContext, runId: string): Record<string, unknown> {
  const rows = ctx.store.db.prepare('SELECT model_id, step FROM run_output WHERE run_id = ? ORDER BY model_id').all(runId) as {
    model_id: string;
    step: number;
  }[];
  return { model_outputs: rows };
}

export const runInputRoutes: Readonly<Record<string, JsonHandler>> = {
  'POST /api/2.0/mlflow/runs/log-inputs': logInputs,
  'POST /api/2.0/mlflow/runs/outputs': logOutputs,
};
