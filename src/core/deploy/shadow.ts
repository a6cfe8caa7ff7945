import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AuditRepository } from '../store/audit';
import { DeploymentRepository, type Deployment, type DeploymentHealth } from '../store/deployments';
import type { Store } from '../store/store';
import type { DeployContext, DeployOutcome } from './deploy';
import { DeployError } from './errors';
import { runCommand } from './health';
import { acquireTargetLock } from './lock';
import { isAlive, stopService } from './process';
import { fillCommand } from './template';

/**
 * Agreement between the serving version and its shadow, counted from the shadow log: one JSON line per
 * mirrored row, written by the serving version, with `ts` (seconds), `shadow_version`, `prediction` (what
 * the serving version answered) and `shadow_prediction` (what the shadow said) or `shadow_error`.
 */
export type ShadowReport = NonNullable<DeploymentHealth['shadow']>;

/** The shadow running on a target (a pending shadow deployment whose process is alive), if any. */
export function activeShadow(store: Store, target: string): Deployment | undefined {
  return new DeploymentRepository(store)
    .history(target)
    .find((d) => d.strategy === 'shadow' && d.status === 'pending' && d.health?.process !== undefined && isAlive(d.health.process.pid));
}

const same = (a: unknown, b: unknown): boolean => (typeof a === 'number' && typeof b === 'number' ? a === b : JSON.stringify(a) === JSON.stringify(b));

/** Reads the shadow log: only the rows of this shadow version since the shadow started. */
export function readShadowLog(logPath: string, filter: { shadowVersion: number; since: number }): ShadowReport {
  let requests = 0;
  let agreed = 0;
  let disagreed = 0;
  let errors = 0;
  const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a line being written right now
    }
    if (String(row.shadow_version) !== String(filter.shadowVersion)) continue;
    if (typeof row.ts === 'number' && row.ts * 1000 < filter.since) continue;
    requests++;
    if (row.shadow_error !== undefined && row.shadow_error !== null) errors++;
    else if (same(row.prediction, row.shadow_prediction)) agreed++;
    else disagreed++;
  }
  const compared = agreed + disagreed;
  const disagreementRate = compared === 0 ? null : disagreed / compared;
  const summary =
    compared === 0
      ? `no mirrored predictions yet${errors ? ` (${errors} mirrored request${errors === 1 ? '' : 's'} failed)` : ''} in ${logPath}`
      : `disagrees on ${disagreed} of ${compared} mirrored predictions (${(disagreementRate! * 100).toFixed(1)} %)${errors ? `; ${errors} failed on the shadow` : ''}`;
  return { at: Date.now(), logPath, requests, compared, agreed, disagreed, errors, disagreementRate, summary };
}

function shadowOf(ctx: DeployContext, target: string): Deployment {
  if (!ctx.config.targets?.[target]) throw new DeployError(`no target "${target}" in mloop.yaml`);
  const shadow = activeShadow(ctx.store, target);
  if (!shadow) throw new DeployError(`no shadow runs on target "${target}" (deploy a version with --strategy shadow first)`);
  return shadow;
}

/** The disagreement rate of the shadow on a target now; stored on its deployment and audited. */
export function shadowReport(ctx: DeployContext, target: string): { deployment: Deployment; report: ShadowReport } {
  const shadow = shadowOf(ctx, target);
  const logFile = ctx.config.targets![target]!.shadow_log;
  if (!logFile) throw new DeployError(`targets.${target} has no shadow_log`);
  const report = readShadowLog(join(ctx.projectRoot, logFile), { shadowVersion: shadow.version, since: shadow.createdAt });
  const deployment = ctx.store.transaction(() => {
    new AuditRepository(ctx.store).record({
      actor: ctx.actor,
      action: 'deploy.shadow_report',
      entityType: 'target',
      entityId: target,
      toValue: `${shadow.modelName} v${shadow.version} (shadow)`,
      reason: report.summary,
      details: { deploymentId: shadow.deploymentId, shadow: report },
    });
    return new DeploymentRepository(ctx.store).update(shadow.deploymentId, { health: { ...shadow.health, shadow: report } });
  });
  return { deployment, report };
}

/** Turns mirroring off (the route command at traffic 0) and stops the shadow's process. */
async function endShadow(ctx: DeployContext, target: string, shadow: Deployment, signal?: AbortSignal): Promise<string | undefined> {
  const spec = ctx.config.targets![target]!;
  const { valuesFor } = await import('./deploy');
  const serving = new DeploymentRepository(ctx.store).current(target);
  let problem: string | undefined;
  if (spec.route) {
    const process = shadow.health!.process!;
    const command = fillCommand(
      spec.route,
      valuesFor(
        ctx,
        target,
        { modelName: shadow.modelName, version: shadow.version },
        { port: process.port, traffic: 0, candidateUrl: process.url ?? undefined, stableUrl: serving?.health?.process?.url ?? undefined },
      ),
      `targets.${target}.route`,
    );
    const r = await runCommand(command.argv, ctx.projectRoot, spec.timeout_seconds * 1000, undefined, signal);
    if (r.code !== 0) problem = `${command.display} → ${r.timedOut ? 'timed out' : `exit ${r.code}`}${r.output ? `: ${r.output}` : ''}`;
  }
  await stopService(shadow.health!.process!.pid);
  return problem;
}

/** Stops the shadow on a target: mirroring off, process stopped, deployment superseded; audited with its last report. */
export async function stopShadow(
  ctx: DeployContext,
  options: { target: string; reason?: string; signal?: AbortSignal },
): Promise<{ deployment: Deployment; report: ShadowReport }> {
  const { report } = shadowReport(ctx, options.target);
  const lock = acquireTargetLock(join(dirname(ctx.store.path), 'deploy', `${options.target}.lock`), options.target);
  try {
    const shadow = shadowOf(ctx, options.target);
    const problem = await endShadow(ctx, options.target, shadow, options.signal);
    const deployment = ctx.store.transaction(() => {
      new AuditRepository(ctx.store).record({
        actor: ctx.actor,
        action: 'deploy.shadow_stop',
        entityType: 'target',
        entityId: options.target,
        fromValue: `${shadow.modelName} v${shadow.version} (shadow)`,
        toValue: null,
        reason: [options.reason ?? 'shadow stopped', report.summary, problem && `turning mirroring off failed: ${problem}`].filter(Boolean).join('; '),
        details: { deploymentId: shadow.deploymentId, shadow: report },
      });
      return new DeploymentRepository(ctx.store).update(shadow.deploymentId, {
        status: 'superseded',
        trafficPercent: 0,
        health: { ...shadow.health, shadow: report, reason: options.reason ?? 'shadow stopped' },
      });
    });
    return { deployment, report };
  } finally {
    lock.release();
  }
}

/**
 * Promotes the shadow: its last report is recorded, mirroring stops, and its version is deployed
 * blue/green (health checks, smoke test and automatic rollback as for any deployment).
 */
export async function promoteShadow(
  ctx: DeployContext,
  options: { target: string; reason?: string; signal?: AbortSignal; onProgress?: (message: string) => void },
): Promise<DeployOutcome & { shadowReport: ShadowReport }> {
  const shadow = shadowOf(ctx, options.target);
  options.onProgress?.(`promoting the shadow ${shadow.modelName} v${shadow.version} on ${options.target}`);
  const { report } = await stopShadow(ctx, {
    target: options.target,
    reason: `promoted${options.reason ? `: ${options.reason}` : ''}`,
    signal: options.signal,
  });
  options.onProgress?.(`shadow ${report.summary}`);
  const { deployVersion } = await import('./deploy');
  const outcome = await deployVersion(ctx, {
    modelName: shadow.modelName,
    version: shadow.version,
    target: options.target,
    strategy: 'blue_green',
    reason: `promoted from shadow (${report.summary})${options.reason ? `: ${options.reason}` : ''}`,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  return { ...outcome, shadowReport: report };
}
