import { z } from 'zod';
import type { Config } from '../config/schema';
import type { CellValue } from '../datasets/readers';
import { computeFairness, type FairnessReport } from '../monitoring/fairness';
import { MonitoringInputError, type LabelledPredictions } from '../monitoring/labels';
import { computePerformance, classKey } from '../monitoring/performance';
import type { Estimate } from '../monitoring/statistics';
import { ModelEvaluationRepository } from '../store/evaluations';
import type { Store } from '../store/store';
import { EvaluationError, type EvaluatorProgress } from './evaluatorProcess';
import { findModelVersion, runHelperOnData, versionArtifact, type VersionSelector } from './target';

export const DEFAULT_SEED = 0;
export const DEFAULT_REPEATS = 5;
export const DEFAULT_SHAP_ROWS = 100;

const cell = z.union([z.number(), z.string(), z.boolean(), z.null()]);
const curveSchema = z.object({
  class: z.string(),
  roc: z.object({ fpr: z.array(z.number()), tpr: z.array(z.number()) }),
  pr: z.object({ recall: z.array(z.number()), precision: z.array(z.number()) }),
  calibration: z.object({ mean_predicted: z.array(z.number()), fraction_positive: z.array(z.number()) }),
});
export const permutationImportanceSchema = z.object({
  seed: z.number(),
  n_repeats: z.number(),
  scoring: z.string(),
  features: z.array(z.string()),
  mean: z.array(z.number()),
  std: z.array(z.number()),
});
const shapSchema = z.union([
  z.object({ status: z.enum(['unavailable', 'skipped', 'failed']), message: z.string() }),
  z.object({
    status: z.literal('computed'),
    explainer: z.string(),
    version: z.string(),
    rows: z.array(z.number()),
    outputs: z.array(z.string()),
    base_values: z.array(z.number()),
    values: z.array(z.array(z.array(z.number()))),
    mean_abs: z.record(z.string(), z.array(z.number())),
  }),
]);

/** What the helper answers in evaluate mode (parsed: the child is another program). */
const helperResultSchema = z.object({
  flavour: z.string(),
  model_class: z.string(),
  task: z.enum(['classification', 'regression']),
  label: z.string(),
  features: z.array(z.string()),
  rows: z.number().int(),
  truth: z.array(cell),
  predicted: z.array(cell),
  groups: z.record(z.string(), z.array(z.string())),
  classes: z.array(z.string()).optional(),
  proba: z.record(z.string(), z.array(z.number())).optional(),
  curves: z.array(curveSchema).optional(),
  permutation_importance: permutationImportanceSchema,
  shap: shapSchema,
  notes: z.array(z.string()),
});

export type PermutationImportance = z.output<typeof permutationImportanceSchema>;
export type ShapSummary = z.output<typeof shapSchema>;
export type EvaluationCurve = z.output<typeof curveSchema>;

/** One evaluation of a model version on a dataset version, as stored (result_json) and shown. */
export interface ModelEvaluation {
  readonly model: string;
  readonly version: number;
  readonly dataset: { readonly name: string; readonly digest: string; readonly path: string };
  readonly flavour: string;
  readonly modelClass: string;
  readonly task: 'classification' | 'regression';
  readonly label: string;
  readonly features: readonly string[];
  readonly rows: number;
  /** 95% intervals: Wilson for accuracy, a seeded percentile bootstrap for the rest (the monitoring definitions). */
  readonly metrics: Readonly<Record<string, Estimate | null>>;
  readonly confusion?: { readonly classes: readonly string[]; readonly matrix: readonly (readonly number[])[] };
  readonly curves: readonly EvaluationCurve[];
  readonly fairness?: FairnessReport;
  readonly permutationImportance: PermutationImportance;
  readonly shap: ShapSummary;
  readonly notes: readonly string[];
}

export interface EvaluateOptions {
  readonly store: Store;
  readonly artifactRoot: string;
  readonly projectRoot: string;
  readonly config: Config | undefined;
  readonly model: VersionSelector;
  /** `name` or `name@digest-prefix`. */
  readonly dataset: string;
  readonly python: string;
  readonly actor: string;
  readonly label?: string;
  readonly groups?: readonly string[];
  readonly positiveClass?: string;
  readonly seed?: number;
  readonly repeats?: number;
  readonly shapRows?: number;
  readonly noShap?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluatorProgress) => void;
  readonly now?: number;
}

/** Evaluates a registered version on a dataset version in the project's Python and stores the result with the version. */
export async function evaluateVersion(options: EvaluateOptions): Promise<{ evaluationId: number; evaluation: ModelEvaluation }> {
  const { store } = options;
  const { model, version } = findModelVersion(store, options.model);
  const artifact = versionArtifact(store, options.artifactRoot, model, version);
  const monitoring = options.config?.monitoring?.[model.name];
  const groups = options.groups ?? monitoring?.groups ?? [];
  const { raw, data } = await runHelperOnData(
    options,
    { model, artifact, dataRef: options.dataset },
    {
      mode: 'evaluate',
      label: options.label ?? options.config?.models?.[model.name]?.label ?? monitoring?.label,
      groups,
      seed: options.seed ?? DEFAULT_SEED,
      n_repeats: options.repeats ?? DEFAULT_REPEATS,
      shap_rows: options.shapRows ?? DEFAULT_SHAP_ROWS,
      no_shap: options.noShap === true,
    },
  );
  const parsed = helperResultSchema.safeParse(raw);
  if (!parsed.success) throw new EvaluationError(`the evaluator answered something unexpected: ${parsed.error.issues[0]?.message ?? ''}`, 'crashed');
  const helper = parsed.data;
  const notes = [...helper.notes];
  const joined = labelledPredictions(helper);
  const performance = computePerformance(joined, { task: helper.task, minRows: 1 });
  notes.push(...performance.notes);
  const metrics: Record<string, Estimate | null> = { ...performance.overall.metrics };
  let fairness: FairnessReport | undefined;
  if (joined.groups.size > 0 && helper.task === 'classification') {
    try {
      fairness = computeFairness(joined, {
        ...(options.positiveClass !== undefined || monitoring?.positive_class !== undefined
          ? { positiveClass: options.positiveClass ?? monitoring?.positive_class }
          : {}),
      });
      notes.push(...fairness.notes);
    } catch (error) {
      if (!(error instanceof MonitoringInputError)) throw error;
      notes.push(`no group metrics: ${error.message}`);
    }
  }
  const evaluation: ModelEvaluation = {
    model: model.name,
    version: version.version,
    dataset: { name: data.name, digest: data.digest, path: data.path },
    flavour: helper.flavour,
    modelClass: helper.model_class,
    task: helper.task,
    label: helper.label,
    features: helper.features,
    rows: helper.rows,
    metrics,
    ...(performance.classes ? { confusion: confusionMatrix(performance.classes, joined) } : {}),
    curves: helper.curves ?? [],
    ...(fairness ? { fairness } : {}),
    permutationImportance: helper.permutation_importance,
    shap: helper.shap,
    notes,
  };
  const evaluationId = new ModelEvaluationRepository(store).add({
    modelVersionId: version.modelVersionId,
    datasetName: data.name,
    datasetDigest: data.digest,
    datasetVersionId: data.datasetVersionId,
    actor: options.actor,
    result: evaluation,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  return { evaluationId, evaluation };
}

/** The helper's predictions as the monitoring code reads labelled predictions: one window, the same metric definitions. */
function labelledPredictions(helper: z.output<typeof helperResultSchema>): LabelledPredictions {
  const n = helper.truth.length;
  return {
    windowOf: new Array<string>(n).fill('all'),
    truth: helper.truth as CellValue[],
    predicted: helper.predicted as CellValue[],
    proba: new Map(Object.entries(helper.proba ?? {})),
    groups: new Map(Object.entries(helper.groups)),
    counts: { predictions: n, labels: n, joined: n, unlabelled: 0, unmatchedLabels: 0, withoutTime: 0 },
    unmatchedSample: [],
    windows: ['all'],
  };
}

/** Rows: the true class; columns: the predicted class (scikit-learn's confusion_matrix with labels=classes). */
export function confusionMatrix(classes: readonly string[], joined: Pick<LabelledPredictions, 'truth' | 'predicted'>) {
  const index = new Map(classes.map((c, i) => [c, i]));
  const matrix = classes.map(() => new Array<number>(classes.length).fill(0));
  joined.truth.forEach((t, i) => {
    const r = index.get(classKey(t));
    const c = index.get(classKey(joined.predicted[i]!));
    if (r !== undefined && c !== undefined) matrix[r]![c]!++;
  });
  return { classes, matrix };
}
