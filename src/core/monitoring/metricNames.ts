// The metric names the monitoring checks compute, without the config schema's zod: the worker thread that estimates
// performance (src/core/monitoring/estimateThread.ts) loads these and not the schema. configSchema.ts re-exports them.

export const PERFORMANCE_METRICS = ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'roc_auc', 'log_loss', 'rmse', 'mae', 'r2'] as const;
export type PerformanceMetric = (typeof PERFORMANCE_METRICS)[number];

/** Metrics where lower is better: a drop is a rise. */
export const LOWER_IS_BETTER: ReadonlySet<PerformanceMetric> = new Set(['log_loss', 'rmse', 'mae']);

export const ESTIMATED_METRICS = ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro'] as const;
export type EstimatedMetric = (typeof ESTIMATED_METRICS)[number];
