import { z } from 'zod';
import { RUN_STATUSES } from '../shared/runStatus';

/** MLflow's run id format: 32 lowercase hex characters. */
export const runIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'a run id is 32 lowercase hex characters');

export const runStatusSchema = z.enum(RUN_STATUSES);

/** What a panel needs to label and colour a run. */
export const runInfoSchema = z.object({
  runId: runIdSchema,
  name: z.string(),
  status: runStatusSchema,
  startTime: z.number(),
  endTime: z.number().nullable(),
});
export type RunInfo = z.infer<typeof runInfoSchema>;

/** A webview's message to report a browser-side error into the extension's log. */
export const webviewErrorSchema = z.object({ type: z.literal('error'), message: z.string().max(4000) }).strict();

/**
 * Parses a message that came from a webview. Invalid ones (a forged or stale page, a bug) return
 * undefined after one warning: the host never trusts, and never crashes on, what a page sends.
 */
export function parseWebviewMessage<T>(schema: z.ZodType<T>, raw: unknown, warn: (message: string) => void): T | undefined {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const type = typeof raw === 'object' && raw !== null && 'type' in raw ? String((raw as { type: unknown }).type).slice(0, 40) : typeof raw;
  warn(`dropped an invalid webview message (${type}): ${z.prettifyError(result.error).slice(0, 500)}`);
  return undefined;
}
