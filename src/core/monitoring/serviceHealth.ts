import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { checkTargetHealth, findTarget, rollbackDeployment, targetLockPath, type DeployContext } from '../deploy/deploy';
import { lockHolder } from '../deploy/lock';
import { servingLogPath } from '../gateway/control';
import { DeploymentRepository } from '../store/deployments';
import { ServiceCheckRepository } from '../store/serviceChecks';
import { intervalMs, type ServiceBounds, type ServiceMonitor } from './configSchema';
import { servingWindow, type ServingStats } from './servingLog';

/** A check of one target's serving version: up or down, and its latency, errors and traffic over the window. */
export interface ServiceHealthReport {
  readonly target: string;
  readonly model: string;
  readonly version: number;
  /** The process runs and its health check passes. */
  readonly up: boolean;
  readonly detail: string;
  /** From the serving log: all requests in the window, and the serving version's own (null: no log configured or found). */
  readonly serving: {
    readonly log: string;
    readonly window: string;
    readonly all: ServingStats;
    readonly version: ServingStats | null;
    readonly skipped_lines: number;
  } | null;
  readonly notes: readonly string[];
  /** Share of checks that found the service up over the last 24 hours (this one included). */
  readonly uptime_24h: { readonly ratio: number | null; readonly checks: number };
  readonly alerts: readonly { readonly check: 'service'; readonly metric: string; readonly value: number | null; readonly message: string }[];
  /** Set when auto_rollback fired: what serves now. */
  readonly rolled_back?: { readonly reason: string; readonly status: string; readonly now_serving: string };
  readonly check_id: number;
}

const DAY_MS = 86_400_000;
export const DEFAULT_SERVICE_CHECK_EVERY = '1m';

const percent = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** Each bound the stats exceed, said for people: "error rate 12.0% > 5.0%". */
export function exceeded(stats: ServingStats, bounds: ServiceBounds | undefined): { metric: string; value: number; message: string }[] {
  if (!bounds) return [];
  const out: { metric: string; value: number; message: string }[] = [];
  if (bounds.error_rate !== undefined && stats.error_rate !== null && stats.error_rate > bounds.error_rate)
    out.push({ metric: 'error_rate', value: stats.error_rate, message: `error rate ${percent(stats.error_rate)} > ${percent(bounds.error_rate)}` });
  for (const key of ['p95_ms', 'p99_ms'] as const) {
    const limit = bounds[key];
    const value = stats[key];
    if (limit !== undefined && value !== null && value > limit)
      out.push({ metric: key, value, message: `${key.replace('_ms', '')} latency ${value.toFixed(1)} ms > ${limit} ms` });
  }
  return out;
}

/** The serving log a target's checks read: the configured one, else the gateway's. */
export function servingLogOf(ctx: Pick<DeployContext, 'store' | 'projectRoot' | 'config'>, targetName: string): string | undefined {
  const target = ctx.config.targets?.[targetName];
  const configured = target?.monitor?.serving_log;
  if (configured) return isAbsolute(configured) ? configured : resolve(ctx.projectRoot, configured);
  return target?.gateway ? servingLogPath(ctx.store, targetName) : undefined;
}

/**
 * Checks what serves on a target now (undefined when nothing does, or while a deployment of it runs): the process and the health check (a status change is audited by
 * checkTargetHealth), then the serving log over the window against `monitor.alert`, and — with
 * `monitor.auto_rollback` — rolls back to the version that served before when the serving version exceeds a bound
 * with at least `min_requests` requests. The check is stored; uptime is read from the stored checks.
 */
export async function checkService(
  ctx: DeployContext,
  targetName: string,
  options: { now?: number; signal?: AbortSignal; onProgress?: (message: string) => void } = {},
): Promise<ServiceHealthReport | undefined> {
  const target = findTarget(ctx.config, targetName);
  const deployments = new DeploymentRepository(ctx.store);
  if (!deployments.current(targetName)) return undefined;
  // a deployment in progress stops and starts processes: judged after it, not halfway
  if (lockHolder(targetLockPath(ctx, targetName)) !== undefined) return undefined;
  const monitor: Partial<ServiceMonitor> = target.monitor ?? {};
  const { deployment, result } = await checkTargetHealth(ctx, targetName);
  const now = options.now ?? Date.now();
  const notes: string[] = [];
  const alerts: ServiceHealthReport['alerts'][number][] = [];
  if (!result.ok)
    alerts.push({
      check: 'service',
      metric: 'up',
      value: 0,
      message: `${deployment.modelName} v${deployment.version} on ${targetName} is down: ${result.detail}`,
    });

  let serving: ServiceHealthReport['serving'] = null;
  const logPath = servingLogOf(ctx, targetName);
  const windowText = monitor.window ?? '5m';
  if (!logPath) notes.push('no serving log: set monitor.serving_log for latency, errors and request rate');
  else if (!existsSync(logPath)) notes.push(`no serving log at ${logPath} yet (no request served)`);
  else {
    // alerts judge every request in the window; auto_rollback only the serving version's own (`version` below)
    const from = Math.max(now - intervalMs(windowText), 0);
    const w = servingWindow(logPath, from, now);
    const own = w.versions.find((v) => v.version === deployment.version) ?? null;
    serving = { log: logPath, window: windowText, all: w.all, version: own, skipped_lines: w.skipped };
    if (w.skipped) notes.push(`${w.skipped} line(s) of ${logPath} in the window are not serving entries (skipped)`);
    const minRequests = monitor.min_requests ?? 20;
    if (w.all.requests < minRequests)
      notes.push(`not enough traffic: ${w.all.requests} request(s) in the last ${windowText} (min_requests ${minRequests}): latency and errors not judged`);
    else
      for (const e of exceeded(w.all, monitor.alert))
        alerts.push({
          check: 'service',
          metric: e.metric,
          value: e.value,
          message: `${targetName}: ${e.message} over the last ${windowText} (n = ${w.all.requests})`,
        });
  }

  let rolledBack: ServiceHealthReport['rolled_back'];
  const own = serving?.version;
  const breach = own && own.requests >= (monitor.min_requests ?? 20) ? exceeded(own, monitor.auto_rollback) : [];
  if (breach.length > 0) {
    const reason = `auto rollback: ${deployment.modelName} v${deployment.version} ${breach.map((b) => b.message).join(', ')} over the last ${windowText} (n = ${own!.requests})`;
    options.onProgress?.(reason);
    try {
      const outcome = await rollbackDeployment(ctx, {
        target: targetName,
        reason,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      rolledBack = { reason, status: outcome.status, now_serving: `${outcome.deployment.modelName} v${outcome.deployment.version}` };
      alerts.push({ check: 'service', metric: 'auto_rollback', value: null, message: `${targetName}: ${reason}; now serving ${rolledBack.now_serving}` });
    } catch (error) {
      alerts.push({ check: 'service', metric: 'auto_rollback', value: null, message: `${targetName}: ${reason}, but it failed: ${(error as Error).message}` });
    }
  }

  const checks = new ServiceCheckRepository(ctx.store);
  const detail = [result.ok ? 'up' : 'DOWN', result.detail, ...alerts.filter((a) => a.metric !== 'up').map((a) => a.message)].join(' · ');
  const report = {
    target: targetName,
    model: deployment.modelName,
    version: deployment.version,
    up: result.ok,
    detail: result.detail,
    serving,
    notes,
    alerts,
    ...(rolledBack ? { rolled_back: rolledBack } : {}),
  };
  const stored = checks.add({
    target: targetName,
    deploymentId: deployment.deploymentId,
    modelName: deployment.modelName,
    version: deployment.version,
    up: result.ok,
    alert: alerts.length > 0,
    detail,
    result: report,
    checkedAt: now,
  });
  const uptime = checks.uptime(targetName, now - DAY_MS);
  return { ...report, uptime_24h: { ratio: uptime.ratio, checks: uptime.checks }, check_id: stored.serviceCheckId };
}

/** A one-line summary for people. */
export function serviceSummary(r: ServiceHealthReport): string {
  const parts = [`${r.model} v${r.version} ${r.up ? 'up' : 'DOWN'}`];
  const s = r.serving?.all;
  if (s && s.requests > 0)
    parts.push(
      `${s.requests} req in ${r.serving!.window} (${s.request_rate.toFixed(2)}/s)`,
      `errors ${percent(s.error_rate ?? 0)}`,
      `p50 ${s.p50_ms!.toFixed(1)} ms · p95 ${s.p95_ms!.toFixed(1)} ms · p99 ${s.p99_ms!.toFixed(1)} ms`,
    );
  if (r.uptime_24h.ratio !== null) parts.push(`uptime 24h ${percent(r.uptime_24h.ratio)} (${r.uptime_24h.checks} checks)`);
  return parts.join(' · ');
}
