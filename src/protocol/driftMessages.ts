import { z } from 'zod';
import { webviewErrorSchema } from './common';

// camelCase like every panel protocol; the core's report keeps Evidently's snake_case names (mapped in monitoring/driftPanel.ts)

const num = z.number();

export const driftColumnSchema = z.object({
  column: z.string(),
  type: z.enum(['numerical', 'categorical', 'datetime']),
  method: z.string().nullable(),
  statistic: num.nullable(),
  pValue: num.nullable(),
  threshold: num.nullable(),
  drifted: z.boolean(),
  status: z.enum(['ok', 'skipped']),
  reason: z.string().optional(),
  score: num,
  unseenCategories: z.array(z.string()).optional(),
  histogram: z
    .object({ edges: z.array(num).optional(), categories: z.array(z.string()).optional(), reference: z.array(num), current: z.array(num) })
    .optional(),
});
export type DriftColumnView = z.infer<typeof driftColumnSchema>;

export const driftWindowSchema = z.object({
  start: z.string(),
  rows: num,
  datasetDrift: z.boolean(),
  driftShare: num,
  scores: z.record(z.string(), num),
  performance: z.object({ rows: num, accuracy: num.optional(), f1Macro: num.optional(), rmse: num.optional() }).optional(),
});

/** One stored report as the panel draws it. */
export const driftReportViewSchema = z.object({
  reportId: z.number().int(),
  createdAt: num,
  model: z.string().nullable(),
  headline: z.string(),
  referenceLabel: z.string(),
  currentLabel: z.string(),
  datasetDrift: z.boolean(),
  driftShare: num,
  shareThreshold: num,
  /** How close the verdict is to flipping ("share 0.50 vs threshold 0.50 · borderline: …"). */
  margin: z.string(),
  referenceRows: num,
  currentRows: num,
  columns: z.array(driftColumnSchema),
  windows: z.array(driftWindowSchema),
  /** Earlier checks of the same model, oldest first: the drift share over time when there are no windows. */
  history: z.array(z.object({ reportId: z.number().int(), createdAt: num, driftShare: num, datasetDrift: z.boolean() })),
  retrainAvailable: z.boolean(),
});
export type DriftReportView = z.infer<typeof driftReportViewSchema>;

// ---- host → webview ----

export const driftHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), report: driftReportViewSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type DriftHostMessage = z.infer<typeof driftHostMessageSchema>;

// ---- webview → host ----

export const driftWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('retrain') }).strict(),
  z.object({ type: z.literal('openReport'), reportId: z.number().int().positive() }).strict(),
  webviewErrorSchema,
]);
export type DriftWebviewMessage = z.infer<typeof driftWebviewMessageSchema>;

export const driftViewStateSchema = z.object({
  reportId: z.number().int().positive().optional(),
  selectedColumn: z.string().max(1000).optional(),
});
export type DriftViewState = z.infer<typeof driftViewStateSchema>;
