import { z } from 'zod';
import { runIdSchema, webviewErrorSchema } from './common';

/** At most this many runs are plotted (the most recent in the table's order); importance uses them all. */
export const RUN_PLOTS_MAX_RUNS = 5000;

// ---- host → webview ----

export interface PlotAxisMessage {
  readonly key: string;
  readonly kind: 'numeric' | 'categorical';
  readonly values: readonly (number | null)[];
  readonly categories?: readonly string[];
}

export interface ParamImportanceMessage {
  readonly param: string;
  readonly method: 'spearman' | 'eta';
  readonly value: number;
  readonly runs: number;
}

export type RunPlotsHostMessage = {
  readonly type: 'load';
  /** What the plots show: "experiment X", "3 selected runs". */
  readonly scope: string;
  /** The target, for the page's saved state: an experiment and/or the selected runs. */
  readonly experimentId?: number;
  readonly selection?: readonly string[];
  /** Runs in scope; `runIds` may hold fewer (RUN_PLOTS_MAX_RUNS). */
  readonly total: number;
  readonly runIds: readonly string[];
  readonly names: readonly string[];
  readonly params: readonly PlotAxisMessage[];
  readonly metrics: readonly PlotAxisMessage[];
  /** The metric the parallel coordinates end on and importance is measured against (absent: no metric). */
  readonly metric?: string;
  /** The scatter's x axis: `params.<key>` or `metrics.<key>`. */
  readonly x?: string;
  readonly importance: readonly ParamImportanceMessage[];
};

// ---- webview → host ----

export const runPlotsWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  /** Another metric (or scatter x axis) chosen: the host recomputes importance. */
  z.object({ type: z.literal('choose'), metric: z.string().max(1000), x: z.string().max(1000).optional() }).strict(),
  /** A point or line clicked: that run selected in the table and revealed in the Runs view. */
  z.object({ type: z.literal('revealRun'), runId: runIdSchema }).strict(),
  webviewErrorSchema,
]);
export type RunPlotsWebviewMessage = z.infer<typeof runPlotsWebviewMessageSchema>;

/** What the page keeps across reloads. */
export const runPlotsViewStateSchema = z.object({
  experimentId: z.number().int().nonnegative().optional(),
  runIds: z.array(runIdSchema).max(RUN_PLOTS_MAX_RUNS).optional(),
  metric: z.string().max(1000).optional(),
  x: z.string().max(1000).optional(),
});
export type RunPlotsViewState = z.infer<typeof runPlotsViewStateSchema>;
