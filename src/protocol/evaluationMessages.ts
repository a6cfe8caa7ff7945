import { z } from 'zod';
import { webviewErrorSchema } from './common';

const num = z.number();
const estimate = z.object({ name: z.string(), value: num.nullable(), lower: num.nullable(), upper: num.nullable(), interval: z.string() });
const importance = z.object({ feature: z.string(), mean: num, std: num });

/** One stored evaluation of a version, as the Evaluation panel draws it. */
export const evaluationViewSchema = z.object({
  evaluationId: z.number().int(),
  model: z.string(),
  version: z.number().int(),
  dataset: z.string(),
  createdAt: num,
  flavour: z.string(),
  modelClass: z.string(),
  task: z.enum(['classification', 'regression']),
  label: z.string(),
  rows: num,
  metrics: z.array(estimate),
  confusion: z.object({ classes: z.array(z.string()), matrix: z.array(z.array(num)) }).nullable(),
  curves: z.array(
    z.object({
      class: z.string(),
      roc: z.object({ fpr: z.array(num), tpr: z.array(num) }),
      pr: z.object({ recall: z.array(num), precision: z.array(num) }),
      calibration: z.object({ mean_predicted: z.array(num), fraction_positive: z.array(num) }),
    }),
  ),
  groups: z.array(
    z.object({
      column: z.string(),
      parityDifference: num,
      equalizedOddsDifference: num,
      groups: z.array(z.object({ group: z.string(), n: num, selectionRate: num.nullable(), accuracy: num.nullable() })),
    }),
  ),
  importance: z.array(importance),
  importanceNote: z.string(),
  /** Mean |SHAP| per feature (summed over the outputs), or why there is none. */
  shap: z.object({ features: z.array(z.object({ feature: z.string(), meanAbs: num })), note: z.string() }),
  /** Permutation importance of the champion on the same data (item 3), when this version is not the champion. */
  comparison: z
    .object({
      baseVersion: z.number().int(),
      rows: z.array(z.object({ feature: z.string(), base: num.nullable(), other: num.nullable() })),
    })
    .nullable(),
  notes: z.array(z.string()),
});
export type EvaluationView = z.infer<typeof evaluationViewSchema>;

/** One explained prediction: the waterfall from the base value to the output. */
export const explanationViewSchema = z.object({
  model: z.string(),
  version: z.number().int(),
  predicted: z.string(),
  output: z.string(),
  method: z.enum(['shap', 'occlusion']),
  baseValue: num,
  value: num,
  interaction: num,
  contributions: z.array(z.object({ feature: z.string(), value: z.string(), contribution: num })),
  note: z.string(),
  /** Where the row came from when it was logged: the request, its row and the log's file:line. */
  source: z.string().optional(),
});
export type ExplanationView = z.infer<typeof explanationViewSchema>;

// ---- host → webview ----

export const evaluationHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('evaluation'), view: evaluationViewSchema }),
  z.object({ type: z.literal('explanation'), view: explanationViewSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type EvaluationHostMessage = z.infer<typeof evaluationHostMessageSchema>;

// ---- webview → host ----

export const evaluationWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('evaluateAgain') }).strict(),
  webviewErrorSchema,
]);
export type EvaluationWebviewMessage = z.infer<typeof evaluationWebviewMessageSchema>;
