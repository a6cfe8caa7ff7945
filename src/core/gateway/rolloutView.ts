import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DeployContext } from '../deploy/deploy';
import { activeShadow } from '../deploy/shadow';
import { servingLogOf } from '../monitoring/serviceHealth';
import { percentile, readServingWindow, servingStats, type ServingEntry } from '../monitoring/servingLog';
import { isAlive } from '../deploy/process';
import { DeploymentReplicaRepository, DeploymentRepository } from '../store/deployments';
import { challengerPorts, GatewayRepository, type GatewayRecord } from '../store/gatewayRoutes';
import type { Store } from '../store/store';
import type { GatewayStatus } from './protocol';
import { abTargetReport } from './abRollout';
import { gatewayStatus, wireTable } from './control';

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The Rollout panel's window over the serving log, and its bucket. */
export const ROLLOUT_WINDOW_MS = 10 * 60_000;
export const ROLLOUT_BUCKET_MS = 15_000;

/** The serving log in buckets of `bucketMs` from `from`: per version, requests, server errors and p95 latency per bucket. */
export function servingTimeline(entries: readonly ServingEntry[], from: number, to: number, bucketMs: number) {
  const buckets = Math.max(1, Math.ceil((to - from) / bucketMs));
  const starts = Array.from({ length: buckets }, (_, i) => from + i * bucketMs);
  const byVersion = new Map<number | null, ServingEntry[][]>();
  for (const e of entries) {
    const i = Math.min(buckets - 1, Math.floor((e.ts - from) / bucketMs));
    if (i < 0) continue;
    let rows = byVersion.get(e.version);
    if (!rows) byVersion.set(e.version, (rows = starts.map(() => [])));
    rows[i]!.push(e);
  }
  const series = [...byVersion.entries()]
    .sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1))
    .map(([version, rows]) => ({
      version,
      requests: rows.map((r) => r.length),
      errors: rows.map((r) => r.reduce((n, e) => n + (e.status >= 500 ? 1 : 0), 0)),
      p95Ms: rows.map((r) => percentile(Float64Array.from(r, (e) => e.latencyMs).sort(), 0.95)),
    }));
  return { bucketMs, starts, series };
}

/**
 * Every process behind the gateway, one row per route: which arm and version, its port, whether it is up (its process
 * runs, the gateway has not ejected it, its replica row is not failed), the requests in flight now (the gateway's
 * outstanding count) and, over the window, the requests it answered, its server errors and p95 latency.
 */
function replicaRows(
  store: Store,
  target: string,
  record: GatewayRecord | undefined,
  live: GatewayStatus | undefined,
  entries: readonly ServingEntry[],
  testing: boolean,
) {
  if (!record) return [];
  const rows = new Map(new DeploymentReplicaRepository(store).liveOfTarget(target).map((r) => [r.port, r]));
  const byPort = new Map<number, ServingEntry[]>();
  for (const e of entries) if (e.upstreamPort !== undefined) byPort.set(e.upstreamPort, [...(byPort.get(e.upstreamPort) ?? []), e]);
  const now = Date.now();
  const challengers = testing ? challengerPorts(record.routes) : new Set<number>();
  return record.routes.map((r) => {
    const row = rows.get(r.upstreamPort);
    const pid = r.pid ?? row?.pid ?? null;
    const answered = byPort.get(r.upstreamPort) ?? [];
    const ejectedUntil = live?.ejected[String(r.upstreamPort)];
    let health: 'up' | 'starting' | 'ejected' | 'down' | 'unknown';
    let detail: string | null = null;
    if (pid !== null && !isAlive(pid)) {
      health = 'down';
      detail = `process ${pid} gone`;
    } else if (row?.status === 'starting') health = 'starting';
    else if (ejectedUntil !== undefined && ejectedUntil > now) {
      health = 'ejected';
      detail = 'refused a connection: out of the rotation for a moment';
    } else health = pid === null ? 'unknown' : 'up';
    const s = servingStats(answered, ROLLOUT_WINDOW_MS / 1000);
    return {
      arm: testing ? (challengers.has(r.upstreamPort) ? ('challenger' as const) : ('champion' as const)) : null,
      modelName: r.modelName,
      version: r.version,
      replica: r.replica ?? null,
      port: r.upstreamPort,
      pid,
      weight: live?.table.routes.find((w) => w.upstream_port === r.upstreamPort)?.weight ?? r.weight,
      health,
      detail,
      inflight: live ? (live.inflight[String(r.upstreamPort)] ?? 0) : null,
      requests: s.requests,
      errors: s.errors,
      p95Ms: s.p95_ms,
    };
  });
}

/**
 * What the Rollout panel shows for one target: the split in use, per-version request rate, latency and errors over
 * the last ten minutes of the serving log, the canary analysis of the newest analysed deployment, the A/B report
 * while a test runs, and which of Promote / Roll Back / Stop apply. Reads only: the store, the logs and the
 * gateway's status (its live weights).
 */
export async function rolloutView(ctx: Pick<DeployContext, 'store' | 'projectRoot' | 'config'>, target: string, now = Date.now()) {
  const spec = ctx.config.targets?.[target];
  const deployments = new DeploymentRepository(ctx.store);
  const history = deployments.history(target);
  const current = deployments.current(target);
  const rolling = history.find((d) => d.status === 'in_progress');
  const record = new GatewayRepository(ctx.store).get(target);
  const shadow = activeShadow(ctx.store, target);
  const notes: string[] = [];
  if (!spec) notes.push(`mloop.yaml declares no target "${target}" (its history is still shown)`);

  const live = record ? await gatewayStatus(ctx.store, target) : undefined;
  if (record && !live) notes.push('the gateway does not answer: the split shown is the one in the store (the next deploy, health or ab restarts it)');
  const liveWeights = new Map((live?.table.routes ?? []).map((r) => [r.upstream_port, r.weight]));
  let split: { modelName: string; version: number; percent: number; replicas?: number }[];
  const testing = record?.strategy === 'ab' || record?.strategy === 'bandit';
  if (record && record.routes.length) {
    // one part per arm: the replicas of a version (or of a test arm) together
    const weights = record.routes.map((r) => liveWeights.get(r.upstreamPort) ?? r.weight);
    const total = weights.reduce((a, b) => a + b, 0) || 1;
    const parts = new Map<string, { modelName: string; version: number; percent: number; replicas: number }>();
    const challengers = testing ? challengerPorts(record.routes) : new Set<number>();
    record.routes.forEach((r, i) => {
      const key = `${challengers.has(r.upstreamPort) ? 'challenger' : 'serving'}\u0000${r.modelName}\u0000${r.version}`;
      const part = parts.get(key) ?? { modelName: r.modelName, version: r.version, percent: 0, replicas: 0 };
      part.percent += (100 * weights[i]!) / total;
      part.replicas++;
      parts.set(key, part);
    });
    split = [...parts.values()].map((p) => ({
      modelName: p.modelName,
      version: p.version,
      percent: p.percent,
      ...(p.replicas > 1 ? { replicas: p.replicas } : {}),
    }));
  } else if (rolling && current)
    split = [
      { modelName: current.modelName, version: current.version, percent: 100 - rolling.trafficPercent },
      { modelName: rolling.modelName, version: rolling.version, percent: rolling.trafficPercent },
    ];
  else split = current ? [{ modelName: current.modelName, version: current.version, percent: 100 }] : [];

  const from = now - ROLLOUT_WINDOW_MS;
  const logPath = servingLogOf(ctx, target) ?? null;
  let entries: ServingEntry[] = [];
  if (!logPath) notes.push('no serving log: set gateway: true, or monitor.serving_log, for request rate, latency and errors');
  else if (!existsSync(logPath)) notes.push(`no request yet in ${logPath}`);
  else {
    const read = readServingWindow(logPath, from, now);
    entries = read.entries;
    if (read.skipped) notes.push(`${read.skipped} line(s) of the serving log are not serving entries and were skipped`);
  }
  const byVersion = new Map<number | null, ServingEntry[]>();
  for (const e of entries) byVersion.set(e.version, [...(byVersion.get(e.version) ?? []), e]);
  const seconds = ROLLOUT_WINDOW_MS / 1000;
  const versions = [...byVersion.entries()]
    .sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1))
    .map(([version, list]) => {
      const s = servingStats(list, seconds);
      return {
        version,
        requests: s.requests,
        requestRate: s.request_rate,
        errors: s.errors,
        errorRate: s.error_rate,
        p50Ms: s.p50_ms,
        p95Ms: s.p95_ms,
        p99Ms: s.p99_ms,
      };
    });

  const analysed = history.find((d) => d.health?.analysis?.length);
  const analysis = analysed
    ? {
        deploymentId: analysed.deploymentId,
        version: analysed.version,
        status: analysed.status,
        steps: analysed.health!.analysis!.map((a) => ({
          step: a.step,
          at: a.at,
          passed: a.passed,
          summary: a.summary,
          stable: { version: a.stable.version, requests: a.stable.requests, errorRate: a.stable.errorRate, p95Ms: a.stable.p95Ms },
          canary: { version: a.canary.version, requests: a.canary.requests, errorRate: a.canary.errorRate, p95Ms: a.canary.p95Ms },
          comparisons: a.comparisons.map((c) => ({ metric: c.metric, value: c.value, threshold: c.threshold, passed: c.passed, detail: c.detail })),
        })),
      }
    : null;

  let ab = null;
  if (testing)
    try {
      const r = abTargetReport(ctx.store, target, { liveWeights });
      ab = {
        bandit: record.strategy === 'bandit',
        aa: r.aa,
        arms: r.arms.map((a, i) => {
          const stats = i === 0 ? r.control : r.treatment;
          return { role: a.role, modelName: a.modelName, version: a.version, split: a.split, n: stats.n, mean: stats.mean, sd: stats.sd };
        }),
        lift: r.lift
          ? {
              absolute: r.lift.absolute,
              interval: [finite(r.lift.interval[0]), finite(r.lift.interval[1])] as [number | null, number | null],
              relative: r.lift.relative,
            }
          : null,
        pValue: r.pValue,
        decision: r.decision,
        reason: r.reason,
        alpha: r.alpha,
        minSamplePerArm: r.minSamplePerArm,
        unknownFeedback: r.unknownFeedback,
      };
    } catch (error) {
      notes.push(`A/B report: ${(error as Error).message}`);
    }

  return {
    target,
    gateway: Boolean(spec?.gateway),
    replicas: replicaRows(ctx.store, target, record, live, entries, testing),
    gatewayProcesses: (live?.processes ?? (live ? [{ pid: live.pid, requests: live.requests, table: live.table }] : [])).map((p, i) => ({
      pid: p.pid,
      role: p.role ?? (i === 0 ? ('primary' as const) : ('worker' as const)),
      inflight: p.inflight ?? null,
      requests: p.requests,
      since: p.since ?? null,
      leaving: p.leaving ?? false,
    })),
    strategy: record && record.routes.length ? record.strategy : ((rolling ?? current)?.strategy ?? spec?.strategy ?? 'direct'),
    serving: current ? { modelName: current.modelName, version: current.version, status: current.status, strategy: current.strategy } : null,
    rolling: rolling ? { modelName: rolling.modelName, version: rolling.version, trafficPercent: rolling.trafficPercent, strategy: rolling.strategy } : null,
    split,
    window: { from, to: now },
    servingLog: logPath,
    versions,
    timeline: servingTimeline(entries, from, now, ROLLOUT_BUCKET_MS),
    analysis,
    ab,
    notes,
    actions: {
      promote: testing ? ('winner' as const) : shadow ? ('shadow' as const) : null,
      rollback: Boolean(current && (current.previousDeploymentId !== null || history.length > 1)),
      stop: testing ? ('ab' as const) : shadow ? ('shadow' as const) : null,
    },
  };
}

/**
 * What a workspace publishes of a target's rollout with its deployment's state (teamOperations.ts): the split, the
 * traffic and latency of the serving log's window, the canary analysis, the A/B test's report and the processes behind
 * the gateway (each replica's version, port, health and load; not its pid, which means nothing on another machine), as
 * the Rollout panel shows them at that moment; teammates draw it read-only. mloop.yaml is read from `projectRoot` (without it: no serving log, the rest).
 */
export async function publishedRollout(store: Store, projectRoot: string, target: string, now = Date.now()): Promise<PublishedRollout> {
  let config: DeployContext['config'] = { version: 1 } as DeployContext['config'];
  try {
    const { loadConfig } = await import('../config/loadConfig');
    const loaded = loadConfig(readFileSync(join(projectRoot, 'mloop.yaml'), 'utf8'), 'mloop.yaml');
    if (loaded.config) config = loaded.config as DeployContext['config'];
  } catch {
    // no mloop.yaml: the store's part of the rollout only
  }
  const v = await rolloutView({ store, projectRoot, config }, target, now);
  const gatewayState = await publishedGateway(store, target);
  // the A/B (or bandit) test's report too: a teammate reads the same statistics as `mloop ab` prints here
  return {
    ...(gatewayState ? { gatewayState } : {}),
    at: now,
    strategy: v.strategy,
    split: v.split,
    window: v.window,
    versions: v.versions,
    timeline: v.timeline,
    analysis: v.analysis,
    ab: v.ab,
    replicas: v.replicas.map((r) => ({ ...r, pid: null })),
  };
}

export type PublishedRollout = Pick<
  Awaited<ReturnType<typeof rolloutView>>,
  'strategy' | 'split' | 'window' | 'versions' | 'timeline' | 'analysis' | 'ab' | 'replicas'
> & {
  readonly at: number;
  /** The target's gateway as this workspace saw it then; absent: no gateway was ever started for the target. */
  readonly gatewayState?: PublishedGateway;
};

/**
 * What teammates learn of a target's gateway: which machine runs it, whether it answers, since when each process
 * serves, and which routes it serves (a version of the table: the first 12 hex digits of the SHA-256 of its strategy
 * and routes, the same in every process once a change is acknowledged). No pid, no port, never the control token.
 */
export interface PublishedGateway {
  /** The machine's host name (os.hostname()). */
  readonly host: string;
  /** up: its control API answered; down: its process is gone or does not answer. */
  readonly health: 'up' | 'down';
  readonly detail: string | null;
  readonly checkedAt: number;
  /** The routes version the store holds (what the gateway was last told to serve), and when it was set. */
  readonly routes: string;
  readonly routesUpdatedAt: number;
  readonly processes: {
    readonly role: 'primary' | 'worker';
    readonly since: number | null;
    readonly requests: number;
    readonly inflight: number | null;
    readonly leaving: boolean;
    /** The routes version this process serves. */
    readonly routes: string;
  }[];
}

/** The routes version of a table: its strategy and routes (by port), hashed; explain's setup, the floor and a bandit's weights aside. */
export function routesVersion(
  strategy: string,
  routes: readonly { model_name: string; version: number; upstream_port: number; weight: number; replica?: number; arm?: number }[],
): string {
  const canonical = [...routes]
    .sort((a, b) => a.upstream_port - b.upstream_port)
    // a bandit moves its weights all the time: its routes are its arms' ports
    .map((r) => [r.model_name, r.version, r.upstream_port, strategy === 'bandit' ? null : r.weight, r.replica ?? null, r.arm ?? null]);
  return createHash('sha256')
    .update(JSON.stringify([strategy, canonical]))
    .digest('hex')
    .slice(0, 12);
}

/** The target's gateway for teammates (publishedRollout); undefined when none was ever started for it. */
export async function publishedGateway(store: Store, target: string, now = Date.now()): Promise<PublishedGateway | undefined> {
  const record = new GatewayRepository(store).get(target);
  if (!record) return undefined;
  const table = wireTable(record);
  const held = routesVersion(table.strategy, table.routes);
  const base = { host: hostname(), checkedAt: now, routes: held, routesUpdatedAt: record.updatedAt };
  if (!record.pid) return { ...base, health: 'down', detail: 'not started', processes: [] };
  if (!isAlive(record.pid)) return { ...base, health: 'down', detail: 'its process is gone', processes: [] };
  const live = await gatewayStatus(store, target);
  if (!live) return { ...base, health: 'down', detail: 'its control API does not answer', processes: [] };
  const processes = live.processes ?? [{ pid: live.pid, requests: live.requests, table: live.table }];
  return {
    ...base,
    health: 'up',
    detail: null,
    processes: processes.map((p, i) => ({
      role: p.role ?? (i === 0 ? 'primary' : 'worker'),
      since: p.since ?? null,
      requests: p.requests,
      inflight: p.inflight ?? null,
      leaving: p.leaving ?? false,
      routes: routesVersion(p.table.strategy, p.table.routes),
    })),
  };
}
