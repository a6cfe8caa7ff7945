import { z } from 'zod';
import { webviewErrorSchema } from './common';

/** A stage's status in the DAG view (src/core/experiments/repro.ts StageStatus). */
export const PIPELINE_STAGE_STATUSES = ['never-run', 'up-to-date', 'changed', 'failed'] as const;

const stageName = z.string().min(1).max(200);

// ---- host → webview ----

export const pipelineStageSchema = z.object({
  name: z.string(),
  status: z.enum(PIPELINE_STAGE_STATUSES),
  /** Why it is not up to date, or "unchanged". */
  reason: z.string(),
  command: z.string(),
  /** Where it is declared: mloop.yaml:12. */
  where: z.string(),
  deps: z.array(z.string()),
  outs: z.array(z.string()),
});
export type PipelineStageMessage = z.infer<typeof pipelineStageSchema>;

export const pipelineHostMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('load'),
    stages: z.array(pipelineStageSchema),
    /** producer → consumer, with the paths that link them. */
    edges: z.array(z.object({ from: z.string(), to: z.string(), label: z.string() })),
    /** The files the stages come from. */
    files: z.array(z.string()),
    /** A pipeline is running from this window. */
    running: z.boolean(),
  }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type PipelineHostMessage = z.infer<typeof pipelineHostMessageSchema>;

// ---- webview → host ----

export const pipelineWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  /** Run one stage (and what it reads from), or every stage. */
  z.object({ type: z.literal('run'), stage: stageName.optional() }).strict(),
  /** Show where a stage is declared. */
  z.object({ type: z.literal('open'), stage: stageName }).strict(),
  z.object({ type: z.literal('refresh') }).strict(),
  webviewErrorSchema,
]);
export type PipelineWebviewMessage = z.infer<typeof pipelineWebviewMessageSchema>;
