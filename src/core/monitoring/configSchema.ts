import { z } from 'zod';
import { ESTIMATED_METRICS, PERFORMANCE_METRICS, type EstimatedMetric, type PerformanceMetric } from './metricNames';

export { ESTIMATED_METRICS, LOWER_IS_BETTER, PERFORMANCE_METRICS, type EstimatedMetric, type PerformanceMetric } from './metricNames';

export const FAIRNESS_METRICS = ['demographic_parity_difference', 'demographic_parity_ratio', 'equalized_odds_difference'] as const;
export type FairnessMetric = (typeof FAIRNESS_METRICS)[number];

const bound = z
  .strictObject({
    min: z.number().optional().describe('Alert when the value is below this.'),
    max: z.number().optional().describe('Alert when the value is above this.'),
  })
  .refine((b) => b.min !== undefined || b.max !== undefined, { error: 'a bound needs min or max' });
export type Bound = z.output<typeof bound>;

export const performanceThresholdsSchema = z
  .strictObject({
    ...Object.fromEntries(PERFORMANCE_METRICS.map((m) => [m, bound.optional().describe(`Absolute bound on ${m} per window, e.g. { min: 0.8 }.`)])),
    max_drop: z
      .number()
      .positive()
      .optional()
      .describe("Alert when a window is worse than the model version's own validation metric (from its training run) by more than this."),
    compare: z.enum(PERFORMANCE_METRICS).optional().describe('The metric max_drop compares (default accuracy, or rmse for regression).'),
    validation_metric: z
      .string()
      .min(1)
      .optional()
      .describe('The training run metric max_drop compares with (default: val_<compare>, validation_<compare>, then <compare>).'),
  })
  .describe('Thresholds on performance from late labels → alert.') as unknown as z.ZodType<PerformanceThresholds>;

export type PerformanceThresholds = Partial<Record<PerformanceMetric, Bound>> & {
  max_drop?: number;
  compare?: PerformanceMetric;
  validation_metric?: string;
};

/** Rates judged per group (each group with at least min_rows labelled rows in the window). */
export const GROUP_METRICS = ['selection_rate', 'true_positive_rate', 'false_positive_rate', 'accuracy'] as const;
export type GroupMetric = (typeof GROUP_METRICS)[number];

export const fairnessThresholdsSchema = z
  .strictObject({
    ...Object.fromEntries(FAIRNESS_METRICS.map((m) => [m, bound.optional().describe(`Bound on ${m} per window, e.g. { max: 0.1 }.`)])),
    ...Object.fromEntries(GROUP_METRICS.map((m) => [m, bound.optional().describe(`Bound on ${m} of each group per window, e.g. { min: 0.8 }.`)])),
  })
  .describe("Thresholds on the group disparities and on each group's rates, judged per window → alert.") as unknown as z.ZodType<FairnessThresholds>;

export type FairnessThresholds = Partial<Record<FairnessMetric | GroupMetric, Bound>>;

export const estimatedPerformanceSchema = z
  .strictObject({
    reference: z
      .string()
      .min(1)
      .describe(
        'Labelled predictions of a reference period (a file or glob with the prediction, the probability columns and the label column): fits the calibration and the sampling error.',
      ),
    calibration: z
      .enum(['auto', 'isotonic', 'none'])
      .optional()
      .describe('Isotonic calibration of the probabilities on the reference: auto (default) applies it when it lowers the held-out calibration error.'),
    ...Object.fromEntries(ESTIMATED_METRICS.map((m) => [m, bound.optional().describe(`Bound on the estimated ${m} per window, e.g. { min: 0.8 }.`)])),
    max_drop: z.number().positive().optional().describe("Alert when a window's estimate is below the reference's realised value by more than this."),
  })
  .describe(
    'Estimated performance before labels arrive (confidence-based performance estimation, as NannyML CBPE) from the logged class probabilities.',
  ) as unknown as z.ZodType<EstimatedPerformanceConfig>;

export type EstimatedPerformanceConfig = Partial<Record<EstimatedMetric, Bound>> & {
  reference: string;
  calibration?: 'auto' | 'isotonic' | 'none';
  max_drop?: number;
};

export const onAlertSchema = z
  .strictObject({
    command: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Runs in your shell when a check raises an alert, with the result as JSON on stdin and MLOOP_ALERT_MODEL / MLOOP_ALERT_COUNT in its environment.',
      ),
    webhook: z
      .url({ protocol: /^https?$/, error: 'webhook is an http(s) URL' })
      .optional()
      .describe('POSTs the result as JSON to this URL. A URL that carries a secret belongs in webhook_env instead.'),
    webhook_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'webhook_env is the name of an environment variable' })
      .optional()
      .describe('The name of an environment variable holding the webhook URL (keeps a secret URL out of mloop.yaml and out of every log).'),
  })
  .refine((o) => o.command !== undefined || o.webhook !== undefined || o.webhook_env !== undefined, {
    error: 'on_alert needs command, webhook or webhook_env',
  })
  .describe('What happens when a check of `mloop monitor` raises an alert (with the editor closed too).');
export type OnAlert = z.output<typeof onAlertSchema>;

/** The fields of `monitoring.<model>` for performance and fairness (merged into the drift monitoring schema). */
export const performanceMonitoringFields = {
  labels: z
    .string()
    .min(1)
    .optional()
    .describe('Late labels: a file or glob (CSV/TSV/JSONL/Parquet) with columns id, label[, time], joined to the predictions (current) by id_column.'),
  id_column: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Column holding the prediction id, in the predictions and in the labels (default id). Ids match by their text; a number and its own form (12, "12") are one id, 12.0 and 012 are others.',
    ),
  probabilities: z
    .string()
    .min(1)
    .optional()
    .describe('Prefix of the class probability columns in the predictions (default proba_: proba_<class>): ROC AUC and log loss.'),
  task: z.enum(['classification', 'regression']).optional().describe('Default: regression when the labels are numbers with more than 20 distinct values.'),
  min_rows: z.number().int().positive().optional().describe('A window with fewer labelled rows is "not enough data" and raises no alert (default 30).'),
  performance: performanceThresholdsSchema.optional(),
  groups: z.array(z.string().min(1)).optional().describe('Sensitive columns of the predictions: metrics per group and their disparities, e.g. [sex, island].'),
  positive_class: z
    .union([z.string(), z.number()])
    .optional()
    .describe('The class counted as "selected" for the group metrics (default 1 / true when the labels are binary).'),
  fairness: fairnessThresholdsSchema.optional(),
  estimated_performance: estimatedPerformanceSchema.optional(),
  on_alert: onAlertSchema.optional(),
};

/** An interval: a number above 0 and a unit, 30s, 15m, 6h or 1d. */
export const INTERVAL_PATTERN = /^([1-9]\d*)(s|m|h|d)$/;

export function intervalMs(text: string): number {
  const m = INTERVAL_PATTERN.exec(text);
  if (!m) throw new Error(`"${text}" is not an interval (30s, 15m, 6h or 1d)`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

const interval = (what: string): z.ZodString => z.string().regex(INTERVAL_PATTERN, { error: `${what} is a number above 0 and a unit: 30s, 15m, 6h or 1d` });

const serviceBounds = {
  error_rate: z.number().min(0).max(1).optional().describe('Share of requests answered with a status ≥ 500 (0–1), e.g. 0.05.'),
  p95_ms: z.number().positive().optional().describe('95th percentile of the request latency in milliseconds, e.g. 500.'),
  p99_ms: z.number().positive().optional().describe('99th percentile of the request latency in milliseconds.'),
};

const serviceBoundsSchema = (what: string) =>
  z.strictObject(serviceBounds).refine((b) => b.error_rate !== undefined || b.p95_ms !== undefined || b.p99_ms !== undefined, {
    error: `${what} needs error_rate, p95_ms or p99_ms`,
  });

export const serviceMonitorSchema = z
  .strictObject({
    every: interval('every')
      .default('1m')
      .describe('How often the serving version is checked (process alive, health check, serving log): 30s, 1m, … (default 1m).'),
    window: interval('window').default('5m').describe('The stretch of the serving log latency, errors and request rate are computed over (default 5m).'),
    serving_log: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The JSON-lines serving log the service writes, one line per request: {"ts": <ms since epoch>, "version": 2, "latency_ms": 3.1, "status": 200}. Default: the gateway\'s log when gateway: true.',
      ),
    min_requests: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Fewer requests in the window is "not enough traffic": no latency or error alert, no automatic rollback (default 20).'),
    alert: serviceBoundsSchema('alert').optional().describe('Raise an alert when the window exceeds one of these.'),
    auto_rollback: serviceBoundsSchema('auto_rollback')
      .optional()
      .describe('Roll back to the version that served before when the serving version exceeds one of these over the window (audited).'),
  })
  .describe('Service health after deploy: a scheduled check of the serving version, its latency, errors and uptime (mloop monitor and the editor).');
export type ServiceMonitor = z.output<typeof serviceMonitorSchema>;
export type ServiceBounds = { error_rate?: number; p95_ms?: number; p99_ms?: number };
