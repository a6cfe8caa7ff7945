import { z } from 'zod';
import { webviewErrorSchema } from './common';

const cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** The blocks of src/core/governance/cardDocument.ts: the page draws them as text, never as markup. */
export const cardBlockSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('heading'), level: z.union([z.literal(1), z.literal(2), z.literal(3)]), text: z.string() }),
  z.object({ kind: z.literal('text'), text: z.string() }),
  z.object({ kind: z.literal('list'), items: z.array(z.string()) }),
  z.object({ kind: z.literal('table'), headers: z.array(z.string()), rows: z.array(z.array(cell)), none: z.string() }),
  /** The lineage graph: the page lays it out with src/shared/lineageLayout.ts and draws it as SVG. */
  z.object({
    kind: z.literal('graph'),
    nodes: z.array(z.object({ id: z.string(), kind: z.string(), label: z.string(), detail: z.string(), depth: z.number().int() })),
    edges: z.array(z.object({ from: z.string(), to: z.string(), relation: z.string() })),
    none: z.string(),
  }),
]);

/** One version's card, or what changed from `compareWith` to it. */
export const modelCardViewSchema = z.object({
  model: z.string(),
  version: z.number().int(),
  /** The version compared with (the "before"), null: the card itself. */
  compareWith: z.number().int().nullable(),
  /** Every version of the model, newest first, to compare with. */
  versions: z.array(z.object({ version: z.number().int(), label: z.string() })),
  blocks: z.array(cardBlockSchema),
});
export type ModelCardView = z.infer<typeof modelCardViewSchema>;

// ---- host → webview ----

export const modelCardHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('card'), view: modelCardViewSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type ModelCardHostMessage = z.infer<typeof modelCardHostMessageSchema>;

// ---- webview → host ----

export const CARD_FORMATS = ['md', 'html', 'json'] as const;

export const modelCardWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  /** Compare with another version (null: show the card alone). */
  z.object({ type: z.literal('compare'), version: z.number().int().positive().nullable() }).strict(),
  /** Save what is shown as a file (the host asks where). */
  z.object({ type: z.literal('save'), format: z.enum(CARD_FORMATS) }).strict(),
  webviewErrorSchema,
]);
export type ModelCardWebviewMessage = z.infer<typeof modelCardWebviewMessageSchema>;
