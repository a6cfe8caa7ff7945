import { z } from 'zod';
import type { Config } from '../config/schema';
import type { Store } from '../store/store';
import { EvaluationError, type EvaluatorProgress } from './evaluatorProcess';
import { findModelVersion, runHelperOnData, versionArtifact, type VersionSelector } from './target';

const explanationSchema = z.object({
  flavour: z.string(),
  features: z.array(z.string()),
  row: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
  predicted: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  outputs: z.array(z.string()),
  /** The explained output: the predicted class's probability, or the regression prediction. */
  output: z.string(),
  method: z.enum(['shap', 'occlusion']),
  explainer: z.string().optional(),
  base_value: z.number(),
  contributions: z.array(z.number()),
  value: z.number(),
  /** value − base − Σ contributions: 0 for SHAP (additive), the interactions for occlusion. */
  interaction: z.number(),
  reference: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])).optional(),
  note: z.string(),
});

export type PredictionExplanation = z.output<typeof explanationSchema> & { readonly model: string; readonly version: number; readonly background: string };

/** A gateway's /explain answer as an explanation (its fields are the helper's, plus model and version). */
export function gatewayExplanation(body: Record<string, unknown>, background: string): PredictionExplanation {
  const parsed = explanationSchema.safeParse(body);
  if (!parsed.success || typeof body.model !== 'string' || typeof body.version !== 'number')
    throw new EvaluationError(`the gateway's answer is not an explanation: ${parsed.success ? 'no model or version' : parsed.error.issues[0]!.message}`);
  return { ...parsed.data, model: body.model, version: body.version, background };
}

/** A row to explain: a JSON object of feature → value (pasted, from the Preview or a predictions log). */
export function parseRow(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EvaluationError(`the row is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = z.record(z.string(), z.unknown()).safeParse(value);
  if (!parsed.success || Array.isArray(value))
    throw new EvaluationError('the row must be a JSON object of feature → value, e.g. {"temp_max": 12.8, "wind": 4.7}');
  return parsed.data;
}

export interface ExplainOptions {
  readonly store: Store;
  readonly artifactRoot: string;
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly model: VersionSelector;
  readonly row: Readonly<Record<string, unknown>>;
  /** Background data (`name[@digest]`); default the dataset version that trained the version. */
  readonly dataset?: string;
  readonly python: string;
  readonly noShap?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluatorProgress) => void;
}

/** The dataset version the version's source run trained on, as `name@digest`. */
export function trainingDataRef(store: Store, sourceRunId: string | null): string | undefined {
  if (!sourceRunId) return undefined;
  const row = store.db
    .prepare(
      `SELECT d.name, v.digest FROM run_input i JOIN dataset_version v USING (dataset_version_id) JOIN dataset d USING (dataset_id)
       WHERE i.run_id = ? ORDER BY CASE i.context WHEN 'training' THEN 0 ELSE 1 END, d.name LIMIT 1`,
    )
    .get(sourceRunId) as { name: string; digest: string } | undefined;
  return row && `${row.name}@${row.digest}`;
}

/** Per-feature contributions to one prediction: SHAP values when shap is installed, else occlusion against the background means. */
export async function explainPrediction(options: ExplainOptions): Promise<PredictionExplanation> {
  const { store } = options;
  const { model, version } = findModelVersion(store, options.model);
  const artifact = versionArtifact(store, options.artifactRoot, model, version);
  const ref = options.dataset ?? trainingDataRef(store, version.sourceRunId);
  if (!ref) throw new EvaluationError(`${model.name} v${version.version} has no recorded training data: pass --dataset <name> as the background`);
  const { raw, data } = await runHelperOnData(
    options,
    { model, artifact, dataRef: ref },
    { mode: 'explain', row: options.row, no_shap: options.noShap === true },
  );
  const parsed = explanationSchema.safeParse(raw);
  if (!parsed.success) throw new EvaluationError(`the evaluator answered something unexpected: ${parsed.error.issues[0]?.message ?? ''}`, 'crashed');
  return { ...parsed.data, model: model.name, version: version.version, background: `${data.name}@${data.digest.slice(0, 12)}` };
}
