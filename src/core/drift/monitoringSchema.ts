import { z } from 'zod';
import { performanceMonitoringFields } from '../monitoring/configSchema';
import { DRIFT_METHOD_NAMES } from './report';

/** How often a scheduled drift check runs while the editor is open: 30m, 6h, 1d, … (also on every change of the current files). */
const SCHEDULE = /^(\d+)(m|h|d)$/;
export { DRIFT_METHOD_NAMES };

export function scheduleMilliseconds(schedule: string): number | undefined {
  const m = SCHEDULE.exec(schedule);
  if (!m) return undefined;
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

const threshold = z.number().positive({ error: 'a threshold is a number above 0' });

export const modelMonitoringSchema = z
  .strictObject({
    reference: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The data the model is compared with: a file or glob, or a dataset name with an optional @version (digest prefix or v1, v2…). Default: the dataset version that trained the champion (through lineage).',
      ),
    current: z.string().min(1).describe('The data seen in production: a file, folder or glob, e.g. logs/predictions-*.csv. Checked on every change.'),
    format: z.enum(['csv', 'tsv', 'jsonl', 'parquet']).optional().describe('File format of the current data; detected from the extension when omitted.'),
    columns: z.array(z.string().min(1)).optional().describe('Only these columns (default: every column).'),
    time_column: z.string().min(1).optional().describe('Column with the time of each row: drift and performance are also shown per window.'),
    window: z.enum(['daily', 'weekly', 'monthly']).optional().describe('Window for drift over time (needs time_column).'),
    label: z
      .string()
      .min(1)
      .optional()
      .describe('Column with the true label once it is known: in the current data, or with labels: in the labels file (default label there).'),
    prediction: z.string().min(1).optional().describe("Column with the model's prediction (needs label and time_column for performance)."),
    schedule: z
      .string()
      .regex(SCHEDULE, { error: 'schedule is a number and a unit: 30m, 6h or 1d' })
      .optional()
      .describe('Check this often while the editor is open (30m, 6h, 1d); the check also runs when the current files change.'),
    method: z
      .enum(DRIFT_METHOD_NAMES)
      .optional()
      .describe('Statistic for every column; auto (default) picks KS/chi-square for a reference of up to 1,000 rows, else Wasserstein/Jensen–Shannon.'),
    threshold: threshold.optional().describe('One threshold for the chosen method (p-value for ks/chisquare, score otherwise).'),
    thresholds: z
      .strictObject({
        ks: threshold.optional(),
        chisquare: threshold.optional(),
        wasserstein: threshold.optional(),
        jensenshannon: threshold.optional(),
        psi: threshold.optional(),
      })
      .optional()
      .describe('Threshold per method: p-value below which ks/chisquare drift (0.05), score from which wasserstein/jensenshannon/psi drift (0.1).'),
    drift_share: z.number().gt(0).max(1).optional().describe('The dataset drifts when at least this share of the compared columns drift (default 0.5).'),
    on_drift: z
      .enum(['notify', 'retrain'])
      .optional()
      .describe('notify (default): a notification with Open Report and Retrain; retrain: start the retrain flow at once.'),
    cooldown: z
      .string()
      .regex(SCHEDULE, { error: 'cooldown is a number and a unit: 30m, 6h or 1d' })
      .optional()
      .describe('With on_drift: retrain, no automatic retrain when one of this model ran within this time (default 6h).'),
    ...performanceMonitoringFields,
  })
  .refine((m) => !m.window || m.time_column, { error: 'window needs time_column', path: ['window'] })
  .refine((m) => !m.labels || m.prediction, { error: 'labels needs prediction (the column of the model output in the predictions)', path: ['labels'] })
  .refine((m) => !m.groups || m.labels || m.label, { error: 'groups needs labels (or label)', path: ['groups'] })
  .refine((m) => !m.estimated_performance || m.prediction, {
    error: 'estimated_performance needs prediction (the column of the model output in the predictions)',
    path: ['estimated_performance'],
  })
  .describe('Drift monitoring of one model: its reference and current data, thresholds and schedule.');

export const monitoringSchema = z.record(z.string(), modelMonitoringSchema).describe('Drift monitoring per registered model name.');

export type ModelMonitoring = z.output<typeof modelMonitoringSchema>;
