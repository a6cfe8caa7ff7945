import { z } from 'zod';
import { webviewErrorSchema } from './common';

// camelCase like every panel protocol; the core's reports keep their snake_case names (mapped in vscode/monitoring/monitoringView.ts)

const num = z.number();
const band = z.object({ value: num, lower: num.nullable(), upper: num.nullable() });

/** One window of the timeline: realised (labels arrived) and estimated (CBPE) values of one metric, with their bands. */
export const monitoringWindowSchema = z.object({
  start: z.string(),
  realised: band.extend({ n: num }).optional(),
  estimated: band.extend({ n: num }).optional(),
  /** Share of drifted columns in this window of the latest drift report. */
  driftShare: num.optional(),
  alerts: z.array(z.string()),
});
export type MonitoringWindowView = z.infer<typeof monitoringWindowSchema>;

const groupRow = z.object({
  group: z.string(),
  n: num,
  selectionRate: num.nullable(),
  accuracy: band.nullable(),
  tpr: band.nullable(),
  fpr: num.nullable(),
});

export const monitoringGroupSchema = z.object({
  column: z.string(),
  parityDifference: num,
  parityRatio: num.nullable(),
  equalizedOddsDifference: num,
  groups: z.array(groupRow),
});
export type MonitoringGroupView = z.infer<typeof monitoringGroupSchema>;

/** One group's accuracy over the windows (a line of the per-group chart). */
export const groupSeriesSchema = z.object({
  column: z.string(),
  group: z.string(),
  points: z.array(z.object({ start: z.string(), accuracy: num.nullable(), tpr: num.nullable(), n: num })),
});

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
  /** The column's score in the selected window (windowed reports). */
  windowScore: num.optional(),
  unseenCategories: z.array(z.string()).optional(),
  histogram: z
    .object({ edges: z.array(num).optional(), categories: z.array(z.string()).optional(), reference: z.array(num), current: z.array(num) })
    .optional(),
});
export type DriftColumnView = z.infer<typeof driftColumnSchema>;

/** One stored drift report as the details of the panel draw it: the per-column table and the overlaid histograms. */
export const driftDetailsSchema = z.object({
  reportId: z.number().int(),
  createdAt: num,
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
});
export type DriftDetailsView = z.infer<typeof driftDetailsSchema>;

/** The service serving the model: one point per stored service check. */
export const serviceSeriesSchema = z.object({
  target: z.string(),
  uptime: num.nullable(),
  checks: z.array(
    z.object({
      checkedAt: num,
      up: z.boolean(),
      alert: z.boolean(),
      detail: z.string(),
      p50: num.nullable(),
      p95: num.nullable(),
      p99: num.nullable(),
      errorRate: num.nullable(),
      requests: num,
    }),
  ),
});
export type ServiceSeriesView = z.infer<typeof serviceSeriesSchema>;

/** What an alert's Open Report opens: a stored drift report in this panel, or a stored monitoring / service report as JSON. */
export const reportRefSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('drift'), id: z.number().int().positive() }).strict(),
  z.object({ kind: z.literal('monitoring'), id: z.number().int().positive() }).strict(),
  z.object({ kind: z.literal('service'), id: z.number().int().positive() }).strict(),
]);
export type ReportRef = z.infer<typeof reportRefSchema>;

export const monitoringAlertSchema = z.object({
  check: z.string(),
  message: z.string(),
  window: z.string().optional(),
  report: reportRefSchema.optional(),
});

/** The details of one clicked window (or of the whole log without windows). */
export const windowDetailsSchema = z.object({
  start: z.string(),
  metrics: z.array(z.object({ metric: z.string(), realised: band.nullable(), estimated: band.nullable() })),
  n: num.nullable(),
  status: z.string().nullable(),
  fairness: z.array(monitoringGroupSchema),
  alerts: z.array(z.string()),
});
export type WindowDetailsView = z.infer<typeof windowDetailsSchema>;

/** Everything the Monitoring panel draws for one model, from its stored reports (the editor's and headless `mloop monitor` runs'). */
/** One feature's permutation importance over the monitoring windows (mloop importance). */
export const importanceTimelineSchema = z.object({
  version: z.number().int(),
  seed: z.number(),
  scoring: z.string(),
  createdAt: num,
  windows: z.array(z.object({ start: z.string(), rows: z.number().int() })),
  features: z.array(z.object({ feature: z.string(), mean: z.array(num.nullable()), std: z.array(num.nullable()) })),
});
export type ImportanceTimelineView = z.infer<typeof importanceTimelineSchema>;

/** Reports of this model that teammates' workspaces published to the team's MLflow server (not this workspace's own). */
export const teamReportsSchema = z.object({
  server: z.string(),
  /** The server could not be read (the reports below are none): why. */
  problem: z.string().nullable(),
  reports: z.array(
    z.object({
      kind: z.string(),
      summary: z.string(),
      alert: z.boolean(),
      createdAt: num,
      /** Who published it (the server's user, else git's) and the workspace's writer id. */
      publishedBy: z.string(),
      workspace: z.string(),
    }),
  ),
  /**
   * Teammates' metric per window, charted: per workspace and check (realised performance, CBPE estimate), the windows
   * of its newest published report of that kind, with their 95% intervals.
   */
  series: z
    .array(
      z.object({
        workspace: z.string(),
        publishedBy: z.string(),
        kind: z.enum(['performance', 'estimated_performance']),
        metric: z.string(),
        createdAt: num,
        points: z.array(z.object({ start: z.string(), value: num, lower: num.nullable(), upper: num.nullable(), n: num })),
      }),
    )
    .optional(),
  /**
   * Teammates' fairness, drawn as this workspace's own: per workspace, its newest published fairness report of the
   * model over all its labelled rows (each group's selection rate, TPR, FPR and accuracy with their intervals, the
   * disparities), the thresholds it was judged against and the alerts it raised. Absent: an older mloop's view.
   */
  fairness: z
    .array(
      z.object({
        workspace: z.string(),
        publishedBy: z.string(),
        createdAt: num,
        positiveClass: z.string(),
        n: num,
        columns: z.array(monitoringGroupSchema),
        /** The bounds of its mloop.yaml (`fairness:`); empty when it set none or published before they were recorded. */
        thresholds: z.array(z.object({ metric: z.string(), min: num.nullable(), max: num.nullable() })),
        alerts: z.array(z.string()),
      }),
    )
    .optional(),
});
export type TeamReportsView = z.infer<typeof teamReportsSchema>;

export const monitoringViewSchema = z.object({
  /** null: a drift report of two files compared outside any monitoring entry. */
  model: z.string().nullable(),
  /** The metric of the timeline (accuracy for classifiers, rmse for regression). */
  metric: z.string(),
  checkedAt: num.nullable(),
  windows: z.array(monitoringWindowSchema),
  /** Drift share per stored drift check, oldest first. */
  drift: z.array(z.object({ reportId: z.number().int(), createdAt: num, driftShare: num, datasetDrift: z.boolean() })),
  fairness: z.array(monitoringGroupSchema),
  groupSeries: z.array(groupSeriesSchema),
  service: serviceSeriesSchema.nullable(),
  alerts: z.array(monitoringAlertSchema),
  /**
   * The checks that failed in the model's latest check by this editor (a labels file that cannot be joined, say):
   * they stored no report, so without this the panel would show the last one, or "no window yet", and say nothing.
   */
  checkErrors: z.array(z.object({ check: z.string(), message: z.string(), checkedAt: num })).optional(),
  calibration: z.array(z.object({ class: z.string(), applied: z.boolean(), eceBefore: num.nullable(), eceAfter: num.nullable() })),
  summaries: z.array(z.object({ kind: z.string(), summary: z.string(), createdAt: num })),
  /** The clicked window, or null. */
  selectedWindow: z.string().nullable(),
  details: windowDetailsSchema.nullable(),
  /** The drift report whose columns are shown (the one clicked, else the newest). */
  driftDetails: driftDetailsSchema.nullable(),
  retrainAvailable: z.boolean(),
  /** A target serves this model: Roll Back is offered. */
  rollbackTarget: z.string().nullable(),
  /** Permutation importance of the deployed version per labelled window (mloop importance), newest computation; absent: none. */
  importance: importanceTimelineSchema.nullable().optional(),
  /** With the MLflow backend: teammates' reports from the server, newest first; absent: the embedded backend. */
  team: teamReportsSchema.nullable().optional(),
});
export type MonitoringView = z.infer<typeof monitoringViewSchema>;

// ---- host → webview ----

export const monitoringHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), view: monitoringViewSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type MonitoringHostMessage = z.infer<typeof monitoringHostMessageSchema>;

// ---- webview → host ----

const windowStart = z.string().max(40);

export const monitoringWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('checkNow') }).strict(),
  z.object({ type: z.literal('retrain') }).strict(),
  z.object({ type: z.literal('rollback') }).strict(),
  z.object({ type: z.literal('selectWindow'), start: windowStart.nullable() }).strict(),
  z.object({ type: z.literal('openReport'), report: reportRefSchema }).strict(),
  webviewErrorSchema,
]);
export type MonitoringWebviewMessage = z.infer<typeof monitoringWebviewMessageSchema>;

export const monitoringViewStateSchema = z.object({
  model: z.string().min(1).max(500).nullable(),
  window: windowStart.nullable().optional(),
  driftReportId: z.number().int().positive().optional(),
  selectedColumn: z.string().max(1000).optional(),
});
export type MonitoringViewState = z.infer<typeof monitoringViewStateSchema>;
