import { z } from 'zod';
import { runIdSchema, runInfoSchema, webviewErrorSchema } from './common';

export const metricStatsSchema = z.object({
  last: z.number().nullable(),
  lastStep: z.number(),
  min: z.number().nullable(),
  max: z.number().nullable(),
  count: z.number().int().nonnegative(),
});
export type MetricStats = z.infer<typeof metricStatsSchema>;

export const compareRunSchema = runInfoSchema.extend({
  params: z.record(z.string(), z.string()),
  metrics: z.record(z.string(), metricStatsSchema),
  /** The environment as flat facts (see src/shared/environmentFacts.ts); null when the run has none recorded. */
  environment: z.record(z.string(), z.string()).nullable(),
});
export type CompareRun = z.infer<typeof compareRunSchema>;

// ---- host → webview ----

export const compareHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), runs: z.array(compareRunSchema), baselineRunId: runIdSchema.optional() }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type CompareHostMessage = z.infer<typeof compareHostMessageSchema>;

// ---- webview → host ----

export const compareWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('openMetrics'), runIds: z.array(runIdSchema).min(1).max(500) }).strict(),
  webviewErrorSchema,
]);
export type CompareWebviewMessage = z.infer<typeof compareWebviewMessageSchema>;

export const compareSortSchema = z.object({
  /** 'name', 'param:<key>' or 'metric:<key>:<last|min|max|delta>'. */
  column: z.string().max(1000),
  descending: z.boolean(),
});

export const compareViewStateSchema = z.object({
  runIds: z.array(runIdSchema).max(500),
  baselineRunId: runIdSchema.optional(),
  onlyDifferences: z.boolean().default(false),
  metricSort: compareSortSchema.optional(),
});
export type CompareViewState = z.infer<typeof compareViewStateSchema>;
