import { z } from 'zod';
import { webviewErrorSchema } from './common';

const num = z.number();
const maybe = num.nullable();

/** Requests, errors and latency of one version over the panel's window (the serving log, read by src/core/monitoring/servingLog.ts). */
export const rolloutVersionStatsSchema = z.object({
  version: z.number().int().nullable(),
  requests: num,
  requestRate: num,
  errors: num,
  errorRate: maybe,
  p50Ms: maybe,
  p95Ms: maybe,
  p99Ms: maybe,
});
export type RolloutVersionStats = z.infer<typeof rolloutVersionStatsSchema>;

/** The serving log in buckets: per version, requests, server errors and p95 latency of each bucket. */
export const rolloutTimelineSchema = z.object({
  bucketMs: num,
  starts: z.array(num),
  series: z.array(z.object({ version: z.number().int().nullable(), requests: z.array(num), errors: z.array(num), p95Ms: z.array(maybe) })),
});
export type RolloutTimeline = z.infer<typeof rolloutTimelineSchema>;

const armSchema = z.object({ requests: num, errorRate: maybe, p95Ms: maybe, version: z.number().int() });

/** One canary step's comparison (src/core/gateway/canaryAnalysis.ts), as stored in the deployment's history. */
export const rolloutAnalysisStepSchema = z.object({
  step: z.string(),
  at: num,
  passed: z.boolean(),
  summary: z.string(),
  stable: armSchema,
  canary: armSchema,
  comparisons: z.array(z.object({ metric: z.string(), value: maybe, threshold: num, passed: z.boolean(), detail: z.string() })),
});

/** The `mloop ab` report, trimmed to what the page shows. */
export const rolloutAbSchema = z.object({
  bandit: z.boolean(),
  aa: z.boolean(),
  arms: z.array(
    z.object({ role: z.enum(['champion', 'challenger']), modelName: z.string(), version: z.number().int(), split: num, n: num, mean: maybe, sd: maybe }),
  ),
  /** The interval's ends are null while unbounded (before the minimum sample). */
  lift: z.object({ absolute: num, interval: z.tuple([maybe, maybe]), relative: maybe }).nullable(),
  pValue: num,
  decision: z.enum(['ship', 'keep_champion', 'continue']),
  reason: z.string(),
  alpha: num,
  minSamplePerArm: num,
  unknownFeedback: num,
});
export type RolloutAbView = z.infer<typeof rolloutAbSchema>;

/** One process behind the gateway as the Rollout panel lists it (src/core/gateway/rolloutView.ts). */
export const rolloutReplicaSchema = z.object({
  arm: z.enum(['champion', 'challenger']).nullable(),
  modelName: z.string(),
  version: z.number().int(),
  replica: z.number().int().nullable(),
  port: z.number().int(),
  pid: z.number().int().nullable(),
  weight: num,
  health: z.enum(['up', 'starting', 'ejected', 'down', 'unknown']),
  detail: z.string().nullable(),
  /** Requests being answered now (the gateway's outstanding count); null when the gateway does not answer. */
  inflight: maybe,
  requests: num,
  errors: num,
  p95Ms: maybe,
});
export type RolloutReplica = z.infer<typeof rolloutReplicaSchema>;

/** One process of the gateway itself (its primary, or a worker sharing the port: gateway_workers). */
export const rolloutGatewayProcessSchema = z.object({
  pid: z.number().int(),
  role: z.enum(['primary', 'worker']),
  /** Requests being answered by this process now. */
  inflight: maybe,
  /** Requests it took since it started. */
  requests: num,
  /** When it started to serve (ms since the epoch); null from a gateway that does not say. */
  since: maybe,
  /** It leaves after a change to fewer workers, once its requests are answered. */
  leaving: z.boolean(),
});
export type RolloutGatewayProcess = z.infer<typeof rolloutGatewayProcessSchema>;

/** Everything the Rollout panel draws for one target. */
export const rolloutViewSchema = z.object({
  target: z.string(),
  gateway: z.boolean(),
  /** What runs now: the gateway's strategy (single, canary, ab, bandit…) or the deployment's. */
  strategy: z.string(),
  serving: z.object({ modelName: z.string(), version: z.number().int(), status: z.string(), strategy: z.string() }).nullable(),
  rolling: z.object({ modelName: z.string(), version: z.number().int(), trafficPercent: num, strategy: z.string() }).nullable(),
  /** The split in use: the gateway's live weights (a bandit moves them), else the deployments' traffic. */
  split: z.array(z.object({ modelName: z.string(), version: z.number().int(), percent: num, replicas: z.number().int().optional() })),
  /** Behind the gateway: every routed process (a replica of a version, or of an A/B arm), its health and load. */
  replicas: z.array(rolloutReplicaSchema),
  /** The gateway's own processes (empty when it does not answer). */
  gatewayProcesses: z.array(rolloutGatewayProcessSchema),
  window: z.object({ from: num, to: num }),
  servingLog: z.string().nullable(),
  versions: z.array(rolloutVersionStatsSchema),
  timeline: rolloutTimelineSchema,
  analysis: z.object({ deploymentId: z.number().int(), version: z.number().int(), status: z.string(), steps: z.array(rolloutAnalysisStepSchema) }).nullable(),
  ab: rolloutAbSchema.nullable(),
  notes: z.array(z.string()),
  actions: z.object({ promote: z.enum(['winner', 'shadow']).nullable(), rollback: z.boolean(), stop: z.enum(['ab', 'shadow']).nullable() }),
});
export type RolloutView = z.infer<typeof rolloutViewSchema>;

/** A teammate's gateway of the target as they published it (rolloutView.ts PublishedGateway): no pid, no port, no token. */
export const publishedGatewaySchema = z.object({
  host: z.string(),
  health: z.enum(['up', 'down']),
  detail: z.string().nullable(),
  checkedAt: num,
  routes: z.string(),
  routesUpdatedAt: num,
  processes: z.array(
    z.object({
      role: z.enum(['primary', 'worker']),
      since: num.nullable(),
      requests: num,
      inflight: num.nullable(),
      leaving: z.boolean(),
      routes: z.string(),
    }),
  ),
});
export type PublishedGatewayView = z.infer<typeof publishedGatewaySchema>;

/** A teammate's deployment of a target of the same name, as published to the team's server: shown read-only. */
const teammateDeploymentSchema = z.object({
  modelName: z.string(),
  version: z.number().int(),
  strategy: z.string(),
  trafficPercent: num,
  status: z.string(),
  createdAt: num,
  updatedAt: num,
});
export const teammateRolloutSchema = z.object({
  target: z.string(),
  /** The teammate's workspace (its writer id) and who published its newest state. */
  writer: z.string(),
  publishedBy: z.string(),
  server: z.string().nullable(),
  /** Its deployments to this target, newest first (the first is the one serving or last tried). */
  deployments: z.array(teammateDeploymentSchema),
  /** The server could not be read just now: the rows are the last ones read. */
  problem: z.string().nullable(),
  /**
   * Their rollout of the target as they published it with their newest deployment state (`at`): the split, traffic
   * and latency of their serving log's window, their canary analysis. Null: published by an mloop that did not send it.
   */
  rollout: rolloutViewSchema
    .pick({ strategy: true, split: true, window: true, versions: true, timeline: true, analysis: true })
    // the A/B report and the processes behind the gateway (their replicas, health and load when published; no pid):
    // absent from a rollout an older mloop published
    .extend({
      at: num,
      ab: rolloutViewSchema.shape.ab.optional(),
      replicas: rolloutViewSchema.shape.replicas.optional(),
      // their gateway (host, health, processes, routes version); absent from an older mloop's rollout, or without a gateway
      gatewayState: publishedGatewaySchema.optional(),
    })
    .nullable(),
  /** The rollout is their live snapshot (published every few seconds while it runs), not the one of a state change. */
  live: z.boolean().optional(),
});
export type TeammateRolloutView = z.infer<typeof teammateRolloutSchema>;

// ---- host → webview ----

export const rolloutHostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), view: rolloutViewSchema }),
  z.object({ type: z.literal('teammate'), view: teammateRolloutSchema }),
  z.object({ type: z.literal('problem'), message: z.string() }),
]);
export type RolloutHostMessage = z.infer<typeof rolloutHostMessageSchema>;

// ---- webview → host ----

export const rolloutWebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('promote') }).strict(),
  z.object({ type: z.literal('rollback') }).strict(),
  z.object({ type: z.literal('stop') }).strict(),
  z.object({ type: z.literal('refresh') }).strict(),
  webviewErrorSchema,
]);
export type RolloutWebviewMessage = z.infer<typeof rolloutWebviewMessageSchema>;

export const rolloutViewStateSchema = z.object({ target: z.string().min(1).max(500), writer: z.string().min(1).max(100).optional() });
export type RolloutViewState = z.infer<typeof rolloutViewStateSchema>;
