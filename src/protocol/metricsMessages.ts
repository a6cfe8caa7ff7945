import { z } from 'zod';
import { runIdSchema, runInfoSchema, webviewErrorSchema } from './common';

// ---- host → webview ----

/** value null = the run logged NaN there (a gap in the line). */
export const historyPointSchema = z.object({ step: z.number(), timestamp: z.number(), value: z.number().nullable() });

export const metricSeriesSchema = z.object({
  runId: runIdSchema,
  key: z.string(),
  points: z.array(historyPointSchema),
  total: z.number().int().nonnegative(),
  downsampled: z.boolean(),
});
export type MetricSeriesMessage = z.infer<typeof metricSeriesSchema>;

export const metricsHostMessageSchema = z.discriminatedUnion('type', [
  /** Everything to draw: replaces what the page shows. */
  z.object({
    type: z.literal('load'),
    runs: z.array(runInfoSchema),
    keys: z.array(z.string()),
    series: z.array(metricSeriesSchema),
    maxPoints: z.number().int().positive(),
  }),
  /** New points of running runs, each after the last point the page has for that series. */
  z.object({ type: z.literal('append'), series: z.array(metricSeriesSchema), runs: z.array(runInfoSchema), keys: z.array(z.string()) }),
  /** The store could not be read (shown in the page instead of charts). */
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type MetricsHostMessage = z.infer<typeof metricsHostMessageSchema>;

// ---- webview → host ----

export const metricsWebviewMessageSchema = z.discriminatedUnion('type', [
  /** The page's script runs and listens: the host posts nothing before this. */
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('openCompare'), runIds: z.array(runIdSchema).min(1).max(500) }).strict(),
  webviewErrorSchema,
]);
export type MetricsWebviewMessage = z.infer<typeof metricsWebviewMessageSchema>;

/** What the page keeps with setState, so a hidden or restored panel comes back as the user left it. */
export const metricsViewStateSchema = z.object({
  runIds: z.array(runIdSchema).max(500),
  xAxis: z.enum(['step', 'wall', 'relative']).default('step'),
  smoothing: z.number().min(0).max(0.99).default(0),
  logY: z.boolean().default(false),
  hiddenRuns: z.array(runIdSchema).default([]),
  showTable: z.boolean().default(false),
});
export type MetricsViewState = z.infer<typeof metricsViewStateSchema>;
