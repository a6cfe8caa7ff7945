import { z } from 'zod';
import { webviewErrorSchema } from './common';

export const previewCellSchema = z.union([z.number(), z.string(), z.boolean(), z.null()]);

// ---- host → webview ----

export const previewHostMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('page'),
    title: z.string(),
    columns: z.array(z.object({ name: z.string(), type: z.string() })),
    offset: z.number().int().nonnegative(),
    rows: z.array(z.array(previewCellSchema)),
    hasMore: z.boolean(),
    /** Rows in the whole version, when known. */
    totalRows: z.number().int().nonnegative().nullable(),
    /** How long reading the page took, in ms. */
    readMs: z.number().nonnegative(),
  }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type PreviewHostMessage = z.infer<typeof previewHostMessageSchema>;

// ---- webview → host ----

export const previewWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('page'), offset: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }).strict(),
  /** A double-clicked row, column → value: explain the prediction of a registered version for it. */
  z.object({ type: z.literal('explainRow'), row: z.record(z.string().max(1000), previewCellSchema) }).strict(),
  webviewErrorSchema,
]);
export type PreviewWebviewMessage = z.infer<typeof previewWebviewMessageSchema>;
