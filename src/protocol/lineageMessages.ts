import { z } from 'zod';
import { LINEAGE_DEFAULT_DEPTH, LINEAGE_MAX_DEPTH } from '../shared/panels';
import { webviewErrorSchema } from './common';

/** A node id as the core builds it: `<kind>:<key>` (see src/core/lineage/graph.ts). */
export const lineageNodeIdSchema = z
  .string()
  .max(4200)
  .regex(/^(dataset|code|run|model|deployment|drift):.+$/, 'a lineage node id is <kind>:<key>');

export const lineageKindSchema = z.enum(['dataset', 'code', 'run', 'model', 'deployment', 'drift']);

export const lineageNodeSchema = z.object({
  id: lineageNodeIdSchema,
  kind: lineageKindSchema,
  label: z.string(),
  detail: z.string(),
  depth: z.number().int(),
  location: z.string().optional(),
});
export type LineageNodeMessage = z.infer<typeof lineageNodeSchema>;

export const lineageEdgeSchema = z.object({ from: lineageNodeIdSchema, to: lineageNodeIdSchema, relation: z.string() });
export type LineageEdgeMessage = z.infer<typeof lineageEdgeSchema>;

/** Where the graph was read: the project's store, or the MLflow tracking server (mloop.backend = mlflow). */
export const lineageOriginSchema = z.enum(['store', 'server']);
export type LineageOrigin = z.infer<typeof lineageOriginSchema>;

// ---- host → webview ----

export const lineageHostMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('load'),
    root: lineageNodeIdSchema,
    depth: z.number().int().min(0).max(LINEAGE_MAX_DEPTH),
    nodes: z.array(lineageNodeSchema),
    edges: z.array(lineageEdgeSchema),
    truncated: z.boolean(),
    origin: lineageOriginSchema.default('store'),
    /** Shown under the toolbar: e.g. "MLflow server http://…". */
    source: z.string().optional(),
  }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type LineageHostMessage = z.infer<typeof lineageHostMessageSchema>;

// ---- webview → host ----

export const lineageWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  /** Redraw around another node, or with another depth. */
  z.object({ type: z.literal('focus'), nodeId: lineageNodeIdSchema, depth: z.number().int().min(0).max(LINEAGE_MAX_DEPTH) }).strict(),
  /** Reveal the node in its tree, or open it (a run's metrics, a script, a data file). */
  z.object({ type: z.literal('open'), nodeId: lineageNodeIdSchema }).strict(),
  webviewErrorSchema,
]);
export type LineageWebviewMessage = z.infer<typeof lineageWebviewMessageSchema>;

export const lineageViewStateSchema = z.object({
  root: lineageNodeIdSchema,
  depth: z.number().int().min(0).max(LINEAGE_MAX_DEPTH).default(LINEAGE_DEFAULT_DEPTH),
  origin: lineageOriginSchema.default('store'),
});
export type LineageViewState = z.infer<typeof lineageViewStateSchema>;
