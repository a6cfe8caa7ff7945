import { z } from 'zod';
import { webviewErrorSchema } from './common';

const num = z.number();
const band = z.object({ value: num, lower: num.nullable(), upper: num.nullable() });

/** One window of the timeline: realised (labels arrived) and estimated (CBPE) values of one metric, with their bands. */
export const monitoringWindowSchema = z.object({
  start: z.string(),
  realised: band.extend({ n: num }).optional(),
  estimated: band.extend({ n: num }).optional(),
  alerts: z.array(z.string()),
});
export type MonitoringWindowView = z.infer<typeof monitoringWindowSchema>;

export const monitoringGroupSchema = z.object({
  column: z.string(),
  parityDifference: num,
  parityRatio: num.nullable(),
  equalizedOddsDifference: num,
  groups: z.array(z.object({ group: z.string(), n: num, selectionRate: num.nullable(), accuracy: num.nullable(), tpr: num.nullable(), fpr: num.nullable() })),
});
export type MonitoringGroupView = z.infer<typeof monitoringGroupSchema>;

/** Everything the Monitoring panel draws for one model, from the newest stored reports of each kind. */
export const monitoringViewSchema = z.object({
  model: z.string(),
  /** The metric of the timeline (accuracy for classifiers, rmse for regression). */
  metric: z.string(),
  checkedAt: num.nullable(),
  windows: z.array(monitoringWindowSchema),
  /** Drift share per stored drift check, oldest first. */
  drift: z.array(z.object({ reportId: z.number().int(), createdAt: num, driftShare: num, datasetDrift: z.boolean() })),
  fairness: z.array(monitoringGroupSchema),
  alerts: z.array(z.object({ check: z.string(), message: z.string() })),
  calibration: z.array(z.object({ class: z.string(), applied: z.boolean(), eceBefore: num.nullable(), eceAfter: num.nullable() })),
  summaries: z.array(z.object({ kind: z.string(), summary: z.string(), createdAt: num })),
  retrainAvailable: z.boolean(),
});
export type MonitoringView = z.infer<typeof monitoringViewSchema>;

// ---- host → webview ----

export const monitoringHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), view: monitoringViewSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type MonitoringHostMessage = z.infer<typeof monitoringHostMessageSchema>;

// ---- webview → host ----

export const monitoringWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('checkNow') }).strict(),
  z.object({ type: z.literal('retrain') }).strict(),
  z.object({ type: z.literal('openDriftReport'), reportId: z.number().int().positive() }).strict(),
  webviewErrorSchema,
]);
export type MonitoringWebviewMessage = z.infer<typeof monitoringWebviewMessageSchema>;

export const monitoringViewStateSchema = z.object({ model: z.string().min(1).max(500) });
export type MonitoringViewState = z.infer<typeof monitoringViewStateSchema>;
