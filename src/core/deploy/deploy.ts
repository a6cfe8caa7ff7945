import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Config, DeployTarget } from '../config/schema';
import { findVersion, verifyArtifact } from '../registry/aliases';
import { RegistryError } from '../registry/errors';
import { artifactLocation } from '../registry/modelArtifact';
import type { RegistryContext } from '../registry/register';
import { AuditRepository } from '../store/audit';
import { ApprovalError, ApprovalRequiredError, consumeDeployApproval, deployApprovalPolicy, requestApproval } from '../governance/approvals';
import {
  DeploymentReplicaRepository,
  DeploymentRepository,
  type Deployment,
  type DeploymentHealth,
  type DeploymentReplica,
  type DeploymentStrategy,
} from '../store/deployments';
import { replicaShare, rollingPlan } from './rolling';
import { consumeTeamDeployApproval, requestTeamApproval, type TeamContext } from '../governance/teamApprovals';
import { ModelRepository, type ModelVersion } from '../store/models';
import type { Store } from '../store/store';
import { DeployError, TargetBusyError } from './errors';
import { checkOnce, runCommand, waitHealthy, type CheckResult } from './health';
import { acquireTargetLock } from './lock';
import { freePort, isAlive, sleep, startService, stopService } from './process';
import { sampleRows, smokeTest } from './smoke';
import { activeShadow, readShadowLog, stopShadow, type ShadowReport } from './shadow';
import { fillCommand, fillText, TemplateError, type TemplateValues } from './template';
import { failingCases, hasPredictionTests, PredictionTestError, runPredictionTests, servicePredictor } from '../registry/predictionTests';
import { gateDeclared } from '../registry/register';
import { gateSpecFor } from '../registry/autoRegister';
import { drain, ensureGateway, gatewayOptionsOf, servingLogPath, setRoutes, stopGateway } from '../gateway/control';
import { analyseCanary, readServingLog, servingLogOffset, type CanaryAnalysis } from '../gateway/canaryAnalysis';
import { challengerPorts, GatewayRepository, type GatewayRoute, type GatewayStrategy } from '../store/gatewayRoutes';
import type { GateResult } from '../registry/gate';

/** What deploying needs: the registry context plus the project (mloop.yaml and its folder). */
export interface DeployContext extends RegistryContext {
  readonly projectRoot: string;
  readonly config: Config;
  /** String commands run in a shell, which is allowed only in a trusted workspace. */
  readonly trusted: boolean;
  /** With the MLflow backend: approvals of protected targets are requested and decided on the team's server. */
  readonly team?: TeamContext;
}

export interface DeployOptions {
  readonly modelName: string;
  /** A version number, or an alias (champion, challenger, …). */
  readonly version?: number;
  readonly alias?: string;
  readonly target: string;
  /** Overrides the target's strategy. */
  readonly strategy?: DeploymentStrategy;
  readonly reason?: string;
  /** Deploys a version whose release gate failed or was never evaluated; the reason is audited with the deployment. */
  readonly override?: string;
  /** For a protected target: the approved request this deployment carries out (once); a hex id on a team server. */
  readonly approvedRequestId?: number | string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
}

export interface DeployOutcome {
  readonly deployment: Deployment;
  /**
   * healthy: serving; shadowing: runs beside the serving version on mirrored traffic (answers still come
   * from the serving one); rolled_back: failed and the previous version serves again; failed: failed with
   * nothing to go back to.
   */
  readonly status: 'healthy' | 'shadowing' | 'rolled_back' | 'failed';
  readonly reason?: string;
  readonly previous?: Deployment;
  readonly checks: readonly Check[];
  /** A shadow deployment: agreement with the serving version so far (from the shadow log). */
  readonly shadow?: ShadowReport;
}

interface Check {
  readonly at: number;
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface Serving {
  readonly pid: number;
  readonly port: number | null;
  readonly url: string | null;
  readonly logPath: string;
  /** Behind the gateway: which replica of the version (0 … replicas-1) and its row in deployment_replica. */
  readonly slot?: number;
  readonly replicaId?: number;
}

/** A replica as a Serving (what the session starts, checks, routes and stops). */
const servingOf = (r: DeploymentReplica): Serving => ({
  pid: r.pid,
  port: r.port,
  url: urlOf(r.port) ?? null,
  logPath: r.logPath,
  slot: r.slot,
  replicaId: r.replicaId,
});

/**
 * The processes of a deployment that should be serving: its replica rows (migration 019), or its one process
 * (deployments made before replicas, and targets without the gateway).
 */
export function deploymentProcesses(store: Store, deployment: Deployment): Serving[] {
  const replicas = new DeploymentReplicaRepository(store).live(deployment.deploymentId);
  if (replicas.length) return replicas.map(servingOf);
  const process = deployment.health?.process;
  return process ? [process] : [];
}

/** The gateway routes of a deployment's live processes, `total` percent shared equally (the replicas of one version form one arm). */
export function replicaRoutes(servings: readonly Serving[], version: { modelName: string; version: number }, total: number): GatewayRoute[] {
  return servings
    .filter((s) => s.port !== null)
    .map((s) => ({
      modelName: version.modelName,
      version: version.version,
      upstreamPort: s.port!,
      weight: replicaShare(total, servings.length),
      ...(s.slot !== undefined ? { replica: s.slot } : {}),
    }));
}

/** A step failed: the message says which and why; the caller rolls back. */
class StepFailure extends Error {}

export const deployDir = (ctx: Pick<DeployContext, 'store'>, target: string): string => join(dirname(ctx.store.path), 'deploy', target);

/** The target from mloop.yaml, or an error naming the declared ones. */
export function findTarget(config: Config, name: string): DeployTarget {
  const target = config.targets?.[name];
  if (target) return target;
  const names = Object.keys(config.targets ?? {});
  throw new DeployError(
    `no target "${name}" in mloop.yaml (${names.length ? `targets: ${names.join(', ')}` : 'it declares no targets: add one under targets:'})`,
  );
}

/** The target the status bar shows: the one marked default, else the first declared. */
export function defaultTargetName(config: Config | undefined): string | undefined {
  const entries = Object.entries(config?.targets ?? {});
  return (entries.find(([, t]) => t.default) ?? entries[0])?.[0];
}

/**
 * Deploys a model version to a target with its strategy, health checks and smoke test. A failing
 * step (or cancellation) rolls back: the new version is stopped and the previous one serves again.
 * One deployment per target at a time; every outcome (and every refusal) is audited.
 */
export async function deployVersion(ctx: DeployContext, options: DeployOptions & { rollbackOf?: Deployment; restartOf?: Deployment }): Promise<DeployOutcome> {
  const audit = new AuditRepository(ctx.store);
  const refuse = (message: string, entity = options.target): never => {
    audit.record({ actor: ctx.actor, action: 'deploy.refused', entityType: 'target', entityId: entity, toValue: describeRef(options), reason: message });
    throw new DeployError(message);
  };
  let target: DeployTarget;
  try {
    target = findTarget(ctx.config, options.target);
  } catch (error) {
    return refuse((error as Error).message);
  }
  const strategy = options.strategy ?? target.strategy;
  const shadow = activeShadow(ctx.store, options.target);
  if (shadow) {
    refuse(
      `a shadow of ${shadow.modelName} v${shadow.version} runs on target "${options.target}": promote it or stop it first (mloop shadow ${options.target} --promote | --stop)`,
    );
  }
  if (strategy === 'shadow') {
    const where = `targets.${options.target}`;
    if (!target.serve) refuse(`${where}: the shadow strategy needs serve: true (mloop starts the shadow beside the serving version)`);
    if (!target.route)
      refuse(`${where}: the shadow strategy needs a route command that turns mirroring to \${candidate.url} on (traffic 100) and off (traffic 0)`);
    if (!target.shadow_log)
      refuse(`${where}: the shadow strategy needs shadow_log: the file where the serving version logs both predictions of each mirrored request`);
    const serving = new DeploymentRepository(ctx.store).current(options.target);
    if (!serving?.health?.process || !isAlive(serving.health.process.pid))
      refuse(`nothing serves on target "${options.target}" to shadow: deploy a version first`);
  }
  if (strategy === 'rolling' && !target.gateway)
    refuse(`targets.${options.target}: the rolling strategy replaces replicas behind the gateway: it needs gateway: true (and replicas: N)`);
  if (target.gateway && ['ab', 'bandit'].includes(new GatewayRepository(ctx.store).get(options.target)?.strategy ?? ''))
    refuse(`an A/B test runs on target "${options.target}": stop it first (mloop ab ${options.target} --stop)`);
  if (typeof target.command === 'string' && !ctx.trusted)
    refuse(`target "${options.target}" has a shell command, which mloop runs only in a trusted workspace (or write it as a list)`);

  let version: ModelVersion;
  let artifact: string;
  try {
    version = resolveVersion(ctx, options);
    const { model } = findVersion(ctx, { modelName: options.modelName, version: version.version });
    const location = artifactLocation(ctx.store, ctx.artifactRoot, version.artifactPath);
    if (!location || !existsSync(location))
      throw new RegistryError(
        `${options.modelName} v${version.version}: its artifact ${version.artifactPath ?? '(none recorded)'} is missing${location ? ` (${location})` : ''}`,
      );
    await verifyArtifact(ctx, model, version);
    artifact = location;
  } catch (error) {
    if (error instanceof RegistryError) return refuse(error.message);
    throw error;
  }
  // a rollback puts back what served before, a restart what serves: each was admitted then
  const readmitted = options.rollbackOf !== undefined || options.restartOf !== undefined;
  if (!readmitted) {
    const refusal = admissionRefusal(ctx, target, options, version);
    if (refusal) refuse(refusal);
  }

  // a protected target deploys only under an approved request (a rollback, the way back to safety, does not wait)
  const guarded = target.protected && !readmitted;
  if (guarded && options.approvedRequestId === undefined) {
    const ask = {
      kind: 'deploy' as const,
      modelName: options.modelName,
      version: version.version,
      subject: options.target,
      action: { strategy: options.strategy ?? null, reason: options.reason ?? null },
      policy: deployApprovalPolicy(ctx.config, options.target, options.modelName)!,
    };
    throw new ApprovalRequiredError(ctx.team ? await requestTeamApproval(ctx.team, ask) : requestApproval(ctx.store, { ...ask, requester: ctx.actor }));
  }

  let lock: { release(): void };
  try {
    lock = acquireTargetLock(targetLockPath(ctx, options.target), options.target);
  } catch (error) {
    if (error instanceof TargetBusyError) return refuse(error.message);
    throw error;
  }
  try {
    if (guarded) {
      try {
        const use = { modelName: options.modelName, version: version.version, target: options.target };
        if (ctx.team) await consumeTeamDeployApproval(ctx.team, { ...use, requestId: String(options.approvedRequestId) });
        else consumeDeployApproval(ctx.store, { ...use, requestId: Number(options.approvedRequestId), actor: ctx.actor });
      } catch (error) {
        if (error instanceof ApprovalError) return refuse(error.message);
        throw error;
      }
    }
    return await new DeploymentSession(ctx, target, strategy, version, artifact, options).run();
  } finally {
    lock.release();
  }
}

/** Puts back the version that served before the current one (audited as a rollback with the reason). */
export async function rollbackDeployment(
  ctx: DeployContext,
  options: { target: string; reason?: string; signal?: AbortSignal; onProgress?: (message: string) => void },
): Promise<DeployOutcome> {
  const deployments = new DeploymentRepository(ctx.store);
  const current = deployments.current(options.target);
  if (!current) throw new DeployError(`nothing is deployed to target "${options.target}"`);
  const before = deployments
    .history(options.target)
    .find((d) => d.deploymentId !== current.deploymentId && d.status === 'superseded' && d.createdAt <= current.createdAt);
  if (!before)
    throw new DeployError(`target "${options.target}" has no earlier deployment to roll back to (${current.modelName} v${current.version} is the first)`);
  return deployVersion(ctx, {
    modelName: before.modelName,
    version: before.version,
    target: options.target,
    strategy: 'direct',
    reason: options.reason ?? 'manual rollback',
    signal: options.signal,
    onProgress: options.onProgress,
    rollbackOf: current,
  });
}

/** The lock file that keeps one deployment per target at a time. */
export const targetLockPath = (ctx: Pick<DeployContext, 'store'>, target: string): string => join(dirname(ctx.store.path), 'deploy', `${target}.lock`);

/** Starts the serving version of a target again (its process died or hangs): the same version, direct, audited as a restart. */
export async function restartTarget(
  ctx: DeployContext,
  options: { target: string; reason?: string; signal?: AbortSignal; onProgress?: (message: string) => void },
): Promise<DeployOutcome> {
  const current = new DeploymentRepository(ctx.store).current(options.target);
  if (!current) throw new DeployError(`nothing is deployed to target "${options.target}"`);
  return deployVersion(ctx, {
    modelName: current.modelName,
    version: current.version,
    target: options.target,
    strategy: 'direct',
    reason: options.reason ?? 'restart',
    signal: options.signal,
    onProgress: options.onProgress,
    restartOf: current,
  });
}

/** Checks the serving deployment of a target now; records the result (and a status change, audited). */
export async function checkTargetHealth(ctx: DeployContext, targetName: string): Promise<{ deployment: Deployment; result: CheckResult }> {
  const target = findTarget(ctx.config, targetName);
  const deployments = new DeploymentRepository(ctx.store);
  const current = deployments.current(targetName);
  if (!current) throw new DeployError(`nothing is deployed to target "${targetName}"`);
  const process = current.health?.process;
  let gatewayNote = '';
  if (target.gateway && target.port !== undefined) {
    try {
      const { restarted } = await ensureGateway(ctx.store, targetName, target.port, gatewayOptionsOf(ctx, target));
      if (restarted) gatewayNote = `; the gateway was not running and was restarted on port ${target.port} with its routes`;
    } catch (error) {
      gatewayNote = `; the gateway could not be restarted: ${(error as Error).message}`;
    }
  }
  let result: CheckResult;
  const replicas = new DeploymentReplicaRepository(ctx.store).live(current.deploymentId);
  if (target.gateway && replicas.length > 1) result = await checkReplicas(ctx, targetName, target, current, replicas);
  else if (target.serve && process && !isAlive(process.pid))
    result = { ok: false, detail: `the service (pid ${process.pid}) is not running; see ${process.logPath}` };
  else if (!target.health)
    result = { ok: true, detail: target.serve ? `pid ${process?.pid} is running (no health check declared)` : 'no health check declared' };
  else
    result = await checkOnce(
      target.health,
      valuesFor(ctx, targetName, current, { port: process?.port ?? target.port ?? null, traffic: current.trafficPercent }),
      ctx.projectRoot,
    );
  if (gatewayNote) result = { ok: result.ok && !gatewayNote.includes('could not'), detail: `${result.detail}${gatewayNote}` };
  const status = result.ok ? 'healthy' : 'unhealthy';
  const updated = ctx.store.transaction(() => {
    if (status !== current.status) {
      new AuditRepository(ctx.store).record({
        actor: ctx.actor,
        action: 'deploy.health',
        entityType: 'target',
        entityId: targetName,
        fromValue: current.status,
        toValue: status,
        reason: result.detail,
      });
    }
    return deployments.update(current.deploymentId, {
      status,
      health: { ...current.health, lastCheck: { at: Date.now(), ok: result.ok, detail: result.detail } },
    });
  });
  return { deployment: updated, result };
}

/**
 * Checks every replica of the serving deployment: one that died (or fails its health check) leaves the gateway's
 * rotation at once (a routing change, audited) and is marked failed; the others keep their share. ok when all pass.
 */
async function checkReplicas(
  ctx: DeployContext,
  targetName: string,
  target: DeployTarget,
  current: Deployment,
  replicas: readonly DeploymentReplica[],
): Promise<CheckResult> {
  const rows = new DeploymentReplicaRepository(ctx.store);
  const bad: string[] = [];
  const healthy: DeploymentReplica[] = [];
  for (const replica of replicas) {
    let problem: string | undefined;
    if (!isAlive(replica.pid)) problem = `replica ${replica.slot} (pid ${replica.pid}) is not running; see ${replica.logPath}`;
    else if (target.health) {
      const r = await checkOnce(target.health, valuesFor(ctx, targetName, current, { port: replica.port, traffic: current.trafficPercent }), ctx.projectRoot);
      if (!r.ok) problem = `replica ${replica.slot}: ${r.detail}`;
    }
    if (problem) bad.push(problem);
    else healthy.push(replica);
  }
  const detail = `${healthy.length}/${replicas.length} replicas healthy${bad.length ? `: ${bad.join('; ')}` : ''}`;
  const dead = replicas.filter((r) => !healthy.includes(r));
  if (dead.length && target.port !== undefined) {
    const record = new GatewayRepository(ctx.store).get(targetName);
    const deadPorts = new Set(dead.map((r) => r.port));
    const kept = (record?.routes ?? []).filter((r) => !deadPorts.has(r.upstreamPort));
    // the version keeps its share of the traffic, now over fewer replicas
    const share = (record?.routes ?? []).filter((r) => deadPorts.has(r.upstreamPort)).reduce((sum, r) => sum + r.weight, 0);
    // (an A/B challenger's replicas are the other arm, even in an A/A test of the same version)
    const challengers = record?.strategy === 'ab' || record?.strategy === 'bandit' ? challengerPorts(record.routes) : new Set<number>();
    const mates = kept.filter(
      (r) => r.version === current.version && r.modelName === current.modelName && r.replica !== undefined && !challengers.has(r.upstreamPort),
    );
    const routes = kept.map((r) => (mates.includes(r) ? { ...r, weight: r.weight + share / mates.length } : r));
    await setRoutes(ctx.store, targetName, target.port, {
      strategy: record?.strategy ?? 'single',
      routes,
      ...gatewayOptionsOf(ctx, target),
      audit: () => {
        for (const r of dead) if (!isAlive(r.pid)) rows.setStatus(r.replicaId, 'failed', bad.find((b) => b.startsWith(`replica ${r.slot} `)) ?? 'not running');
        new AuditRepository(ctx.store).record({
          actor: ctx.actor,
          action: 'gateway.route',
          entityType: 'target',
          entityId: targetName,
          toValue: splitSummary(routes),
          reason: `health check: ${detail}`,
          details: { deploymentId: current.deploymentId, routes, removed: dead.map((r) => ({ slot: r.slot, port: r.port, pid: r.pid })) },
        });
      },
    });
  }
  return { ok: bad.length === 0, detail };
}

/** Stops what serves on a target (serve: true) and marks it superseded, and a shadow beside it; audited. */
export async function stopTarget(ctx: DeployContext, options: { target: string; reason?: string }): Promise<Deployment | undefined> {
  if (ctx.config.targets?.[options.target] && activeShadow(ctx.store, options.target)) {
    await stopShadow(ctx, { target: options.target, reason: `the target was stopped${options.reason ? `: ${options.reason}` : ''}` });
  }
  if (ctx.config.targets?.[options.target]?.gateway) {
    // an A/B challenger has its own process; a gateway runs even when a first deployment failed
    for (const route of new GatewayRepository(ctx.store).get(options.target)?.routes ?? []) if (route.pid) await stopService(route.pid);
    await stopGateway(ctx.store, options.target);
  }
  const deployments = new DeploymentRepository(ctx.store);
  const current = deployments.current(options.target);
  // every replica of the target, whichever deployment started it: no process outlives a stop
  const replicas = new DeploymentReplicaRepository(ctx.store);
  for (const replica of replicas.liveOfTarget(options.target)) {
    await stopService(replica.pid);
    replicas.setStatus(replica.replicaId, 'stopped', `the target was stopped${options.reason ? `: ${options.reason}` : ''}`);
  }
  if (!current) return undefined;
  if (current.health?.process) await stopService(current.health.process.pid);
  return ctx.store.transaction(() => {
    new AuditRepository(ctx.store).record({
      actor: ctx.actor,
      action: 'undeploy',
      entityType: 'target',
      entityId: options.target,
      fromValue: `${current.modelName} v${current.version}`,
      toValue: null,
      reason: options.reason ?? null,
    });
    return deployments.update(current.deploymentId, { status: 'superseded', trafficPercent: 0 });
  });
}

/** What serves now on each target, with whether its process still runs (services outlive the editor that started them). */
export function servingDeployments(store: Store): { deployment: Deployment; running: boolean | undefined }[] {
  const repo = new DeploymentRepository(store);
  return [...new Set(repo.list().map((d) => d.target))]
    .map((target) => repo.current(target))
    .filter((d): d is Deployment => d !== undefined)
    .map((deployment) => ({ deployment, running: deployment.health?.process ? isAlive(deployment.health.process.pid) : undefined }));
}

/** `mloop undeploy --all`: stops what serves on every target, one audited undeploy each. */
export async function stopAllTargets(ctx: DeployContext, options: { reason?: string } = {}): Promise<Deployment[]> {
  const stopped: Deployment[] = [];
  for (const { deployment } of servingDeployments(ctx.store)) {
    const done = await stopTarget(ctx, { target: deployment.target, ...(options.reason ? { reason: options.reason } : {}) });
    if (done) stopped.push(done);
  }
  return stopped;
}

/** The last lines of a service's log, for an error message. */
export function logTail(path: string, lines = 5): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function resolveVersion(ctx: DeployContext, options: DeployOptions): ModelVersion {
  if (options.version !== undefined) return findVersion(ctx, { modelName: options.modelName, version: options.version }).version;
  const alias = options.alias ?? 'champion';
  const models = new ModelRepository(ctx.store);
  const model = models.byName(options.modelName);
  if (!model) throw new RegistryError(`no registered model "${options.modelName}"`);
  const version = models.versionByAlias(model.modelId, alias);
  if (!version) throw new RegistryError(`${options.modelName} has no alias "${alias}" (deploy a version number, or set the alias first)`);
  return version;
}

/**
 * Why a version may not go to a target: a protected target takes only the champion (no override); a version whose
 * release gate failed, or was never evaluated while mloop.yaml declares a gate, needs --override <reason>.
 */
export function admissionRefusal(ctx: DeployContext, target: DeployTarget, options: DeployOptions, version: ModelVersion): string | undefined {
  const ref = `${options.modelName} v${version.version}`;
  if (target.protected) {
    const models = new ModelRepository(ctx.store);
    const champion = models.versionByAlias(version.modelId, 'champion');
    if (champion?.modelVersionId !== version.modelVersionId)
      return `target "${options.target}" is protected (targets.${options.target}.protected: true): it takes only ${options.modelName}@champion (${champion ? `v${champion.version}` : 'no version holds it'}), not ${ref}. Promote ${ref} to champion first`;
  }
  const declared = gateDeclared(gateSpecFor(ctx.config, options.modelName));
  if (version.gatePassed === true || (version.gatePassed === null && !declared)) return undefined;
  if (options.override?.trim()) return undefined;
  if (version.gatePassed === false) {
    const gate = new ModelRepository(ctx.store).versionDetails(version.modelVersionId).gate as GateResult | null;
    const failing = (gate?.checks ?? []).filter((c) => !c.passed).map((c) => `${c.rule} (${c.detail})`);
    return `${ref} failed its release gate${failing.length ? `: ${failing.join('; ')}` : ''}. Deploy it anyway with --override <reason> (audited)`;
  }
  return `${ref} has no release gate verdict (it was registered before models.${options.modelName}.gate was declared in mloop.yaml). Deploy it anyway with --override <reason> (audited)`;
}

const describeRef = (options: DeployOptions): string =>
  options.version !== undefined ? `${options.modelName} v${options.version}` : `${options.modelName}@${options.alias ?? 'champion'}`;

const urlOf = (port: number | null): string | undefined => (port === null ? undefined : `http://127.0.0.1:${port}`);

/** "v1 66.7 (2 replicas), v2 33.3": the share of each version in a routing table, for people (audit, checks). */
export function splitSummary(routes: readonly GatewayRoute[]): string {
  const byVersion = new Map<string, { version: number; weight: number; count: number }>();
  for (const r of routes) {
    const key = `${r.modelName}\u0000${r.version}`;
    const entry = byVersion.get(key) ?? { version: r.version, weight: 0, count: 0 };
    entry.weight += r.weight;
    entry.count++;
    byVersion.set(key, entry);
  }
  const parts = [...byVersion.values()].map((e) => `v${e.version} ${Math.round(e.weight * 10) / 10}${e.count > 1 ? ` (${e.count} replicas)` : ''}`);
  return parts.join(', ') || 'none';
}

export function valuesFor(
  ctx: DeployContext,
  target: string,
  version: { modelName: string; version: number; artifact?: string },
  step: { port: number | null; traffic: number; candidateUrl?: string; stableUrl?: string },
): TemplateValues {
  return {
    'model.name': version.modelName,
    'model.version': String(version.version),
    'model.uri': `models:/${version.modelName}/${version.version}`,
    'model.path': version.artifact,
    target,
    traffic: String(step.traffic),
    port: step.port === null ? undefined : String(step.port),
    url: urlOf(step.port),
    'candidate.url': step.candidateUrl,
    'stable.url': step.stableUrl,
    project: ctx.projectRoot,
  };
}

/** One deployment from start to its final row: steps, checks, and the rollback when one fails. */
class DeploymentSession {
  private readonly deployments: DeploymentRepository;
  private readonly audit: AuditRepository;
  private readonly checks: Check[] = [];
  private readonly previous: Deployment | undefined;
  private row!: Deployment;
  private readonly started: Serving[] = [];
  /** The previous version's process was stopped (fixed port): it must be started again on failure. */
  private previousStopped = false;
  /** The gateway sent traffic to the candidate: a failure routes it back before the candidate stops. */
  private candidateRouted = false;
  private rows: Record<string, unknown>[] | undefined;
  /** The canary analysis of each step so far (analysis: in mloop.yaml). */
  private readonly analyses: CanaryAnalysis[] = [];
  private readonly replicaRows: DeploymentReplicaRepository;
  /** Behind the gateway: the previous version's replicas when this deployment began, and those it stopped (a rolling update's failure starts them again). */
  private oldReplicas: Serving[] = [];
  private readonly retired: Serving[] = [];

  constructor(
    private readonly ctx: DeployContext,
    private readonly target: DeployTarget,
    private readonly strategy: DeploymentStrategy,
    private readonly version: ModelVersion,
    private readonly artifact: string,
    private readonly options: DeployOptions & { rollbackOf?: Deployment; restartOf?: Deployment },
  ) {
    this.deployments = new DeploymentRepository(ctx.store);
    this.audit = new AuditRepository(ctx.store);
    this.replicaRows = new DeploymentReplicaRepository(ctx.store);
    this.previous = this.deployments.current(options.target);
  }

  /** How many processes serve the version: `replicas` behind the gateway, else one. */
  private get replicaCount(): number {
    return this.target.gateway ? this.target.replicas : 1;
  }

  private get name(): string {
    return this.options.target;
  }

  private progress(message: string): void {
    this.options.onProgress?.(message);
  }

  async run(): Promise<DeployOutcome> {
    this.ctx.store.transaction(() => {
      // a deployment left in progress by a crashed mloop (the lock was free) did not finish
      for (const stale of this.deployments
        .history(this.name)
        .filter(
          (d) => d.status === 'in_progress' || (d.status === 'pending' && !(d.strategy === 'shadow' && d.health?.process && isAlive(d.health.process.pid))),
        )) {
        this.deployments.update(stale.deploymentId, {
          status: 'failed',
          health: { ...stale.health, reason: 'interrupted: its mloop process ended before it finished' },
        });
      }
      this.row = this.deployments.create({ modelVersionId: this.version.modelVersionId, target: this.name, strategy: this.strategy, status: 'in_progress' });
      this.audit.record({
        actor: this.ctx.actor,
        action: 'deploy.start',
        entityType: 'target',
        entityId: this.name,
        fromValue: this.previous ? `${this.previous.modelName} v${this.previous.version}` : null,
        toValue: `${this.options.modelName} v${this.version.version}`,
        reason: this.options.reason ?? null,
        details: { deploymentId: this.row.deploymentId, strategy: this.strategy },
      });
      const gateAdmits =
        this.version.gatePassed === true || (this.version.gatePassed === null && !gateDeclared(gateSpecFor(this.ctx.config, this.options.modelName)));
      if (this.options.override?.trim() && !gateAdmits && !this.options.rollbackOf) {
        this.audit.record({
          actor: this.ctx.actor,
          action: 'deploy.override',
          entityType: 'model_version',
          entityId: `${this.options.modelName}/${this.version.version}`,
          fromValue: this.version.gatePassed === false ? 'gate failed' : 'gate not evaluated',
          toValue: this.name,
          reason: this.options.override.trim(),
          details: { deploymentId: this.row.deploymentId, gate: new ModelRepository(this.ctx.store).versionDetails(this.version.modelVersionId).gate },
        });
      }
    });
    this.progress(`deploying ${this.options.modelName} v${this.version.version} to ${this.name} (${this.strategy.replace('_', '/')})`);
    try {
      if (this.strategy === 'shadow') return this.shadowing(await this.runShadow());
      const serving = this.target.serve ? await this.runServe() : await this.runCommands();
      return this.succeed(serving);
    } catch (error) {
      if (!(error instanceof StepFailure) && !(error instanceof TemplateError)) {
        await this.fail(`unexpected error: ${(error as Error).message}`);
        throw error;
      }
      return this.fail(error.message);
    }
  }

  private values(step: { port: number | null; traffic: number; candidateUrl?: string; stableUrl?: string }): TemplateValues {
    return valuesFor(this.ctx, this.name, { modelName: this.options.modelName, version: this.version.version, artifact: this.artifact }, step);
  }

  private record(step: string, result: CheckResult): void {
    this.checks.push({ at: Date.now(), step, ok: result.ok, detail: result.detail });
    this.progress(`${result.ok ? '✓' : '✗'} ${step}: ${result.detail}`);
    this.row = this.deployments.update(this.row.deploymentId, { health: { ...this.row.health, checks: this.checks } });
  }

  private cancelled(): void {
    if (this.options.signal?.aborted) throw new StepFailure('cancelled by the user');
  }

  // ---- serve: true — mloop runs the service ----

  private async startVersion(port: number, traffic: number, label: string, slot?: number): Promise<Serving> {
    const command = fillCommand(this.target.command, this.values({ port, traffic }), `targets.${this.name}.command`);
    const logPath = join(deployDir(this.ctx, this.name), `${this.row.deploymentId}-${port}.log`);
    this.progress(`starting ${label} on port ${port}: ${command.display}`);
    let service;
    try {
      service = await startService({
        argv: command.argv,
        cwd: this.ctx.projectRoot,
        logPath,
        env: {
          MLOOP_TARGET: this.name,
          MLOOP_MODEL_VERSION: String(this.version.version),
          ...(slot !== undefined ? { MLOOP_REPLICA: String(slot) } : {}),
        },
      });
    } catch (error) {
      throw new StepFailure(`${label}: ${(error as Error).message}`);
    }
    const replica = slot === undefined ? undefined : this.replicaRows.add({ deploymentId: this.row.deploymentId, slot, pid: service.pid, port, logPath });
    const serving: Serving = { pid: service.pid, port, url: urlOf(port) ?? null, logPath, ...(replica ? { slot, replicaId: replica.replicaId } : {}) };
    this.started.push(serving);
    if (serving.slot !== undefined && serving.slot > 0 && this.row.health?.process) return serving;
    this.row = this.deployments.update(this.row.deploymentId, { health: { ...this.row.health, process: serving } });
    return serving;
  }

  /** Waits for health, then (once) runs the smoke test; throws StepFailure naming the step. */
  private async verify(serving: Serving, traffic: number, step: string, smoke: boolean, predictionTests = smoke): Promise<void> {
    const values = this.values({ port: serving.port, traffic });
    const alive = (): string | undefined => (isAlive(serving.pid) ? undefined : `the service exited (log ${serving.logPath}): ${logTail(serving.logPath, 3)}`);
    const health = this.target.health
      ? await waitHealthy(this.target.health, values, this.ctx.projectRoot, { alive, signal: this.options.signal })
      : await this.settle(alive);
    this.record(`${step}: health`, health);
    this.cancelled();
    if (!health.ok) throw new StepFailure(`${step}: health check failed: ${health.detail}`);
    if (smoke && this.target.smoke) {
      const result = await smokeTest(this.target.smoke, await this.smokeRows(), values);
      this.record(`${step}: smoke test`, result);
      if (!result.ok) throw new StepFailure(`${step}: smoke test failed: ${result.detail}`);
    }
    if (predictionTests) await this.predictionTests(values);
    if (serving.replicaId !== undefined) this.replicaRows.setStatus(serving.replicaId, 'serving');
  }

  /** The model's prediction tests against the running service (the smoke test's URL, else ${url}/predict). */
  private async predictionTests(values: TemplateValues): Promise<void> {
    const tests = this.ctx.config.models?.[this.options.modelName]?.tests;
    if (!hasPredictionTests(tests) || !values.url) return;
    const url = fillText(this.target.smoke?.url ?? '${url}/predict', values, 'smoke.url');
    let result: CheckResult;
    try {
      const report = await runPredictionTests(tests, servicePredictor(url));
      result = { ok: report.passed, detail: [`${report.summary} against ${url}`, ...failingCases(report)].join('; ') };
    } catch (error) {
      if (!(error instanceof PredictionTestError)) throw error;
      result = { ok: false, detail: error.message };
    }
    this.record('prediction tests', result);
    if (!result.ok) throw new StepFailure(`prediction tests failed: ${result.detail}`);
  }

  /** Without a health check: the process must still be running a moment after it started. */
  private async settle(alive: () => string | undefined): Promise<CheckResult> {
    await sleep(500, this.options.signal);
    const dead = alive();
    return dead ? { ok: false, detail: dead } : { ok: true, detail: 'running (no health check declared)' };
  }

  private async smokeRows(): Promise<Record<string, never>[]> {
    if (!this.rows) {
      const spec = this.target.smoke!;
      const declaration = this.ctx.config.datasets[spec.dataset];
      if (!declaration) throw new StepFailure(`smoke test: dataset "${spec.dataset}" is not declared under datasets:`);
      try {
        this.rows = await sampleRows(declaration, this.ctx.projectRoot, spec.rows);
      } catch (error) {
        throw new StepFailure(`smoke test: cannot read dataset "${spec.dataset}": ${(error as Error).message}`);
      }
    }
    return this.rows as Record<string, never>[];
  }

  /**
   * Health checks every interval for the bake time, of every process of the new version (each replica behind the
   * gateway: one that dies or fails its check while the others are fine still fails the step); the first failure
   * ends the step.
   */
  private async bake(servings: Serving | readonly Serving[], traffic: number, step: string): Promise<void> {
    const all = Array.isArray(servings) ? (servings as readonly Serving[]) : [servings as Serving];
    const until = Date.now() + this.target.bake_seconds * 1000;
    const interval = this.target.health?.interval_ms ?? 250;
    const which = (serving: Serving): string => (all.length > 1 && serving.slot !== undefined ? ` replica ${serving.slot}` : '');
    let rounds = 0;
    do {
      this.cancelled();
      for (const serving of all) {
        if (!isAlive(serving.pid)) {
          const detail = `the service${which(serving)} exited (log ${serving.logPath}): ${logTail(serving.logPath, 3)}`;
          if (serving.replicaId !== undefined) this.replicaRows.setStatus(serving.replicaId, 'failed', detail);
          throw new StepFailure(`${step}: ${detail}`);
        }
      }
      if (this.target.health) {
        const results = await Promise.all(
          all.map((serving) => checkOnce(this.target.health!, this.values({ port: serving.port, traffic }), this.ctx.projectRoot)),
        );
        const bad = results.findIndex((r) => !r.ok);
        if (bad >= 0) {
          const serving = all[bad]!;
          const detail = all.length > 1 ? `replica ${serving.slot ?? bad}: ${results[bad]!.detail}` : results[bad]!.detail;
          this.record(`${step}: bake`, { ok: false, detail });
          if (serving.replicaId !== undefined) this.replicaRows.setStatus(serving.replicaId, 'failed', `bake: ${detail}`);
          throw new StepFailure(`${step}: health check failed${which(serving)}: ${results[bad]!.detail}`);
        }
        if (rounds === 0)
          this.record(`${step}: bake`, all.length > 1 ? { ok: true, detail: `${all.length}/${all.length} replicas: ${results[0]!.detail}` } : results[0]!);
      }
      rounds++;
      await sleep(interval, this.options.signal);
    } while (Date.now() < until);
  }

  private async route(traffic: number, candidate: Serving, stableUrl: string | undefined): Promise<void> {
    // a shadow answers nobody: its row keeps 0 % of the answers while it receives mirrored requests
    if (this.strategy !== 'shadow') this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: traffic });
    if (!this.target.route) return;
    const command = fillCommand(
      this.target.route,
      this.values({ port: candidate.port, traffic, candidateUrl: candidate.url ?? undefined, stableUrl }),
      `targets.${this.name}.route`,
    );
    const r = await runCommand(command.argv, this.ctx.projectRoot, this.target.timeout_seconds * 1000, undefined, this.options.signal);
    const result = {
      ok: r.code === 0,
      detail: `${command.display} → ${r.timedOut ? `timed out after ${this.target.timeout_seconds} s` : `exit ${r.code}`}${r.code === 0 || !r.output ? '' : `: ${r.output}`}`,
    };
    this.record(`traffic ${traffic}%: route`, result);
    if (!result.ok) throw new StepFailure(`traffic ${traffic}%: the route command failed: ${result.detail}`);
  }

  private async runServe(): Promise<Serving> {
    if (this.target.gateway) return this.runBehindGateway();
    const fixed = this.target.port ?? null;
    const old = this.previous?.health?.process;
    const oldRunning = old !== undefined && isAlive(old.pid);
    if (this.strategy === 'direct' && fixed !== null) {
      if (oldRunning) {
        this.progress(`stopping ${this.previous!.modelName} v${this.previous!.version} (port ${fixed} is needed)`);
        await stopService(old.pid);
        this.previousStopped = true;
      }
      const serving = await this.startVersion(fixed, 100, 'new version');
      await this.verify(serving, 100, 'start', true);
      this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: 100 });
      return serving;
    }
    // start beside the old version: on a free port, or on the fixed one when nothing else holds it
    const port = fixed !== null && !oldRunning ? fixed : await freePort();
    const steps = this.strategy === 'canary' ? this.target.steps : [100];
    const candidate = await this.startVersion(
      port,
      steps[0]!,
      this.strategy === 'canary' ? 'canary' : this.strategy === 'blue_green' ? 'new version (green)' : 'new version',
    );
    await this.verify(candidate, steps[0]!, 'start', true);
    if (this.strategy === 'canary') {
      for (const traffic of steps.filter((s) => s < 100)) {
        const log = this.analysisLog(oldRunning);
        const offset = log ? servingLogOffset(log) : 0;
        await this.route(traffic, candidate, old?.url ?? undefined);
        const from = Date.now();
        await this.bake(candidate, traffic, `traffic ${traffic}%`);
        if (log) this.analyse(`traffic ${traffic}%`, offset, from, this.previous!.version, log);
      }
    }
    // switch
    if (port === fixed || fixed === null) {
      if (this.strategy === 'canary' && this.target.route) await this.route(100, candidate, old?.url ?? undefined);
      if (oldRunning) await stopService(old.pid);
      this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: 100 });
      return candidate;
    }
    this.progress(`switching port ${fixed} to v${this.version.version}`);
    await stopService(old!.pid);
    this.previousStopped = true;
    await stopService(candidate.pid);
    const serving = await this.startVersion(fixed, 100, 'new version');
    await this.verify(serving, 100, 'switch', false);
    this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: 100 });
    return serving;
  }

  // ---- gateway: versions on private ports, every traffic change a routing change ----

  private gatewayRoute(serving: { port: number | null }, modelName: string, version: number, weight: number): GatewayRoute {
    return { modelName, version, upstreamPort: serving.port!, weight };
  }

  /** Sets the gateway's routes with an audit row in the same transaction; the row's traffic follows. */
  private async routeGateway(routes: readonly GatewayRoute[], strategy: GatewayStrategy, traffic: number, step = `traffic ${traffic}%`): Promise<void> {
    const split = splitSummary(routes);
    await setRoutes(this.ctx.store, this.name, this.target.port!, {
      strategy,
      routes,
      ...gatewayOptionsOf(this.ctx, this.target),
      audit: () => {
        this.audit.record({
          actor: this.ctx.actor,
          action: 'gateway.route',
          entityType: 'target',
          entityId: this.name,
          toValue: split,
          reason: this.options.reason ?? null,
          details: { deploymentId: this.row.deploymentId, routes },
        });
        this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: traffic });
      },
    });
    this.record(`${step}: gateway routes`, { ok: true, detail: split });
  }

  /** The previous deployment's processes that still run (its replicas, or its one process). */
  private liveOld(): Serving[] {
    return this.previous ? deploymentProcesses(this.ctx.store, this.previous).filter((s) => s.port !== null && isAlive(s.pid)) : [];
  }

  /** Starts `slots` replicas of the new version on free ports, then health-checks and smoke-tests each (prediction tests on the first). */
  private async startReplicas(slots: readonly number[], traffic: number, label: string): Promise<Serving[]> {
    const single = this.replicaCount === 1;
    const started: Serving[] = [];
    for (const slot of slots) started.push(await this.startVersion(await freePort(), traffic, single ? label : `${label} replica ${slot}`, slot));
    const verdicts = await Promise.allSettled(
      started.map((serving) =>
        this.verify(serving, traffic, single ? 'start' : `start replica ${serving.slot}`, true, serving.slot === 0 || (single && serving === started[0])),
      ),
    );
    const failed = verdicts.find((v): v is PromiseRejectedResult => v.status === 'rejected');
    if (failed) throw failed.reason;
    return started;
  }

  /** Takes a replica out of service: waits until its requests are answered (it has no route by now), then stops it. */
  private async retire(serving: Serving, version: number): Promise<void> {
    const drained = serving.port === null ? true : await drain(this.ctx.store, this.name, serving.port);
    const which = serving.slot !== undefined && this.replicaCount > 1 ? ` replica ${serving.slot}` : '';
    this.record('switch: drain', {
      ok: drained,
      detail: drained ? `v${version}${which} answered its last requests` : `v${version}${which} still busy after 30 s`,
    });
    await stopService(serving.pid);
    if (serving.replicaId !== undefined)
      this.replicaRows.setStatus(serving.replicaId, 'stopped', `replaced by ${this.options.modelName} v${this.version.version}`);
  }

  private async runBehindGateway(): Promise<Serving> {
    const port = this.target.port!;
    const previous = this.previous;
    const olds = this.liveOld();
    this.oldReplicas = olds;
    const oldRunning = olds.length > 0;
    if (olds.some((o) => o.port === port))
      throw new StepFailure(
        `port ${port} is held by ${previous!.modelName} v${previous!.version}, started before the target had a gateway: run "mloop undeploy ${this.name}" once, then deploy`,
      );
    try {
      const { restarted } = await ensureGateway(this.ctx.store, this.name, port, gatewayOptionsOf(this.ctx, this.target));
      this.record('gateway', { ok: true, detail: `${restarted ? 'started' : 'running'} on http://127.0.0.1:${port}` });
    } catch (error) {
      throw new StepFailure(`gateway: ${(error as Error).message}`);
    }
    const slots = Array.from({ length: this.replicaCount }, (_, i) => i);
    if (this.strategy === 'rolling' && oldRunning) return this.runRolling(olds);
    const steps = this.strategy === 'canary' && oldRunning ? this.target.steps : [100];
    const label = this.strategy === 'canary' ? 'canary' : this.strategy === 'blue_green' ? 'new version (green)' : 'new version';
    const candidates = await this.startReplicas(slots, steps[0]!, label);
    const fresh = { modelName: this.options.modelName, version: this.version.version };
    const route = (weight: number): GatewayRoute[] => replicaRoutes(candidates, fresh, weight);
    const stable = (weight: number): GatewayRoute[] => replicaRoutes(olds, previous!, weight);
    for (const traffic of steps.filter((s) => s < 100)) {
      this.candidateRouted = true;
      const offset = servingLogOffset(servingLogPath(this.ctx.store, this.name));
      await this.routeGateway([...stable(100 - traffic), ...route(traffic)], 'canary', traffic);
      const from = Date.now();
      await this.bake(candidates, traffic, `traffic ${traffic}%`);
      if (this.target.analysis) this.analyse(`traffic ${traffic}%`, offset, from, previous!.version, servingLogPath(this.ctx.store, this.name));
    }
    this.progress(`switching the gateway on port ${port} to v${this.version.version}`);
    this.candidateRouted = true;
    await this.routeGateway(route(100), 'single', 100);
    // the old version stops only once the requests it was answering are answered
    for (const old of olds) await this.retire(old, previous!.version);
    return candidates[0]!;
  }

  /**
   * A rolling update: max_unavailable replicas at a time, the new ones start and pass health check and smoke test,
   * take their share of the traffic, and as many old ones leave the rotation (drained, stopped). Before each step
   * the replicas already updated are checked again; any failure rolls them back (fail → restoreBehindGateway).
   */
  private async runRolling(olds: readonly Serving[]): Promise<Serving> {
    const previous = this.previous!;
    const fresh = { modelName: this.options.modelName, version: this.version.version };
    const plan = rollingPlan({ replicas: this.replicaCount, old: olds.length, maxUnavailable: this.target.max_unavailable });
    let routedOld = [...olds];
    const updated: Serving[] = [];
    for (const [i, step] of plan.entries()) {
      const name = `step ${i + 1}/${plan.length}`;
      this.cancelled();
      await this.checkReplicas(updated, name);
      this.progress(
        `rolling ${name}: ${step.start.length ? `starting replica ${step.start.join(', ')} of v${fresh.version}` : ''}${step.start.length && step.retire.length ? ', then ' : ''}${step.retire.length ? `retiring ${step.retire.length} of v${previous.version}` : ''}`,
      );
      if (step.start.length) updated.push(...(await this.startReplicas(step.start, 0, 'new version')));
      this.cancelled();
      const retiring = step.retire.map((j) => olds[j]!);
      routedOld = routedOld.filter((o) => !retiring.includes(o));
      const total = routedOld.length + updated.length;
      const traffic = Math.round((100 * updated.length) / total);
      this.candidateRouted = true;
      await this.routeGateway(
        [
          ...replicaRoutes(routedOld, previous, replicaShare(100, total) * routedOld.length),
          ...replicaRoutes(updated, fresh, replicaShare(100, total) * updated.length),
        ],
        'blue_green',
        traffic,
        name,
      );
      for (const old of retiring) {
        await this.retire(old, previous.version);
        this.retired.push(old);
      }
      this.progress(`rolling ${name}: ${updated.length}/${this.replicaCount} replicas on v${fresh.version}, ${routedOld.length} on v${previous.version}`);
    }
    await this.checkReplicas(updated, 'done');
    await this.routeGateway(replicaRoutes(updated, fresh, 100), 'single', 100, 'done');
    return updated[0]!;
  }

  /** The replicas already serving must still run and pass their health check; the first that does not fails the step. */
  private async checkReplicas(replicas: readonly Serving[], step: string): Promise<void> {
    for (const replica of replicas) {
      const which = `replica ${replica.slot ?? 0} of v${this.version.version}`;
      if (!isAlive(replica.pid)) {
        const detail = `${which} (pid ${replica.pid}) exited: ${logTail(replica.logPath, 2)}`.trim();
        this.record(`${step}: replicas`, { ok: false, detail });
        if (replica.replicaId !== undefined) this.replicaRows.setStatus(replica.replicaId, 'failed', detail);
        throw new StepFailure(`${step}: ${detail}`);
      }
      if (this.target.health) {
        const result = await checkOnce(this.target.health, this.values({ port: replica.port, traffic: this.row.trafficPercent }), this.ctx.projectRoot);
        if (!result.ok) {
          this.record(`${step}: replicas`, { ok: false, detail: `${which}: ${result.detail}` });
          throw new StepFailure(`${step}: ${which}: health check failed: ${result.detail}`);
        }
      }
    }
  }

  /**
   * After a failure behind the gateway: the previous version's replicas that this deployment stopped start again
   * (same slots, free ports, health-checked), all traffic goes back to the previous version's replicas, and only
   * then the new ones stop (drained). Returns what the reason says about it.
   */
  private async restoreBehindGateway(previous: Deployment | undefined): Promise<{ text: string; ok: boolean; first?: Serving }> {
    const alive = this.oldReplicas.filter((o) => !this.retired.includes(o) && isAlive(o.pid));
    const restored: Serving[] = [];
    let failure = '';
    for (const old of this.retired) {
      try {
        restored.push(await this.restoreServe(previous!, { port: await freePort(), slot: old.slot }));
      } catch (error) {
        failure = (error as Error).message;
        break;
      }
    }
    const back = [...alive, ...restored];
    if (back.length || this.candidateRouted)
      await this.routeGateway(previous ? replicaRoutes(back, previous, 100) : [], 'single', 0, 'roll back').catch(() => undefined);
    for (const candidate of this.started) if (candidate.port !== null) await drain(this.ctx.store, this.name, candidate.port).catch(() => undefined);
    if (!previous) return { text: '', ok: false };
    const who = `${previous.modelName} v${previous.version}`;
    if (failure) return { text: ` Restoring ${who} failed too: ${failure}.`, ok: false, ...(back[0] ? { first: back[0] } : {}) };
    if (!back.length) return { text: '', ok: false };
    const replicas = back.length > 1 || this.replicaCount > 1 ? ` on ${back.length} replica${back.length === 1 ? '' : 's'}` : '';
    return {
      text: restored.length ? ` ${who} serves again${replicas} (${restored.length} restarted).` : ` ${who} kept serving${replicas}.`,
      ok: true,
      first: back[0]!,
    };
  }

  /** Without the gateway: the serving log the versions behind the route: command write (monitor.serving_log), when analysis is asked for and a stable version serves. */
  private analysisLog(stableServes: boolean): string | undefined {
    const configured = this.target.monitor?.serving_log;
    if (!this.target.analysis || !configured || !stableServes || !this.previous) return undefined;
    return isAbsolute(configured) ? configured : resolve(this.ctx.projectRoot, configured);
  }

  /** Compares canary and stable on the serving log of the bake window; a failed comparison fails the step. */
  private analyse(step: string, offset: number, from: number, stableVersion: number, log: string): void {
    const to = Date.now();
    const lines = readServingLog(log, offset).filter((l) => l.ts >= from && l.ts <= to);
    const analysis = analyseCanary(lines, { stableVersion, canaryVersion: this.version.version, step, from, to }, this.target.analysis!);
    this.analyses.push(analysis);
    this.row = this.deployments.update(this.row.deploymentId, { health: { ...this.row.health, analysis: this.analyses } });
    this.record(`${step}: analysis`, { ok: analysis.passed, detail: analysis.summary });
    if (!analysis.passed) throw new StepFailure(`${step}: canary analysis failed: ${analysis.summary}`);
  }

  // ---- shadow: the new version beside the serving one, on mirrored traffic ----

  private async runShadow(): Promise<Serving> {
    const stable = this.previous!.health!.process!;
    const candidate = await this.startVersion(await freePort(), 0, 'shadow');
    await this.verify(candidate, 0, 'start', true);
    this.progress(`mirroring ${this.previous!.modelName} v${this.previous!.version}'s requests to the shadow at ${candidate.url}`);
    await this.route(100, candidate, stable.url ?? undefined);
    if (this.target.bake_seconds > 0) await this.bake(candidate, 0, 'shadow');
    return candidate;
  }

  private shadowing(serving: Serving): DeployOutcome {
    const report = readShadowLog(join(this.ctx.projectRoot, this.target.shadow_log!), { shadowVersion: this.version.version, since: this.row.createdAt });
    this.progress(`shadow of v${this.version.version}: ${report.summary}`);
    const deployment = this.ctx.store.transaction(() => {
      this.audit.record({
        actor: this.ctx.actor,
        action: 'deploy.shadow',
        entityType: 'target',
        entityId: this.name,
        fromValue: this.previous ? `${this.previous.modelName} v${this.previous.version}` : null,
        toValue: `${this.options.modelName} v${this.version.version} (shadow)`,
        reason: this.options.reason ?? null,
        details: { deploymentId: this.row.deploymentId, strategy: this.strategy, checks: this.checks, shadow: report },
      });
      // pending: it runs, takes no answers, and waits for Promote or Stop
      return this.deployments.update(this.row.deploymentId, {
        status: 'pending',
        trafficPercent: 0,
        health: { ...this.row.health, checks: this.checks, process: serving, shadow: report },
      });
    });
    return { deployment, status: 'shadowing', previous: this.previous, checks: this.checks, shadow: report };
  }

  // ---- serve: false — the command deploys elsewhere and exits ----

  private async runStep(version: { modelName: string; version: number; artifact: string }, traffic: number, step: string): Promise<void> {
    const port = this.target.port ?? null;
    const values = valuesFor(this.ctx, this.name, version, { port, traffic });
    const command = fillCommand(this.target.command, values, `targets.${this.name}.command`);
    this.progress(`${step}: ${command.display}`);
    const r = await runCommand(command.argv, this.ctx.projectRoot, this.target.timeout_seconds * 1000, { MLOOP_TARGET: this.name }, this.options.signal);
    const ok = r.code === 0 && !r.timedOut;
    this.record(`${step}: command`, {
      ok,
      detail: `${command.display} → ${r.timedOut ? `timed out after ${this.target.timeout_seconds} s` : `exit ${r.code}`}${ok || !r.output ? '' : `: ${r.output.split('\n').slice(-3).join(' | ')}`}`,
    });
    this.cancelled();
    if (!ok)
      throw new StepFailure(`${step}: the deploy command ${r.timedOut ? `did not finish within ${this.target.timeout_seconds} s` : `exited with ${r.code}`}`);
    if (this.target.health) {
      const health = await waitHealthy(this.target.health, values, this.ctx.projectRoot, { signal: this.options.signal });
      this.record(`${step}: health`, health);
      this.cancelled();
      if (!health.ok) throw new StepFailure(`${step}: health check failed: ${health.detail}`);
    }
  }

  private async runCommands(): Promise<Serving | undefined> {
    const steps = this.strategy === 'canary' ? this.target.steps : [100];
    const version = { modelName: this.options.modelName, version: this.version.version, artifact: this.artifact };
    for (const traffic of steps) {
      this.row = this.deployments.update(this.row.deploymentId, { trafficPercent: traffic });
      const log = traffic < 100 && this.strategy === 'canary' ? this.analysisLog(Boolean(this.previous)) : undefined;
      const offset = log ? servingLogOffset(log) : 0;
      await this.runStep(version, traffic, `traffic ${traffic}%`);
      if (traffic < 100 && this.strategy === 'canary') {
        const from = Date.now();
        await this.bakeRemote(traffic);
        if (log) this.analyse(`traffic ${traffic}%`, offset, from, this.previous!.version, log);
      }
    }
    if (this.target.smoke && this.target.port !== undefined) {
      const result = await smokeTest(this.target.smoke, await this.smokeRows(), this.values({ port: this.target.port, traffic: 100 }));
      this.record('smoke test', result);
      if (!result.ok) throw new StepFailure(`smoke test failed: ${result.detail}`);
      await this.predictionTests(this.values({ port: this.target.port, traffic: 100 }));
    }
    return undefined;
  }

  private async bakeRemote(traffic: number): Promise<void> {
    const until = Date.now() + this.target.bake_seconds * 1000;
    do {
      this.cancelled();
      if (this.target.health) {
        const result = await checkOnce(this.target.health, this.values({ port: this.target.port ?? null, traffic }), this.ctx.projectRoot);
        if (!result.ok) {
          this.record(`traffic ${traffic}%: bake`, result);
          throw new StepFailure(`traffic ${traffic}%: health check failed: ${result.detail}`);
        }
      }
      await sleep(this.target.health?.interval_ms ?? 250, this.options.signal);
    } while (Date.now() < until);
  }

  // ---- outcomes ----

  private succeed(serving: Serving | undefined): DeployOutcome {
    const previous = this.previous;
    const rollbackOf = this.options.rollbackOf;
    const deployment = this.ctx.store.transaction(() => {
      if (previous)
        this.deployments.update(previous.deploymentId, {
          status: rollbackOf?.deploymentId === previous.deploymentId ? 'rolled_back' : 'superseded',
          trafficPercent: 0,
        });
      this.audit.record({
        actor: this.ctx.actor,
        action: rollbackOf ? 'deploy.rollback' : this.options.restartOf ? 'deploy.restart' : 'deploy',
        entityType: 'target',
        entityId: this.name,
        fromValue: previous ? `${previous.modelName} v${previous.version}` : null,
        toValue: `${this.options.modelName} v${this.version.version}`,
        reason: this.options.reason ?? null,
        details: {
          deploymentId: this.row.deploymentId,
          strategy: this.strategy,
          manual: rollbackOf !== undefined,
          checks: this.checks,
          ...(this.analyses.length ? { analysis: this.analyses } : {}),
        },
      });
      const health: DeploymentHealth = {
        ...this.row.health,
        checks: this.checks,
        ...(serving ? { process: serving } : {}),
        ...(this.target.gateway ? { gateway: { port: this.target.port!, url: `http://127.0.0.1:${this.target.port}` } } : {}),
      };
      return this.deployments.update(this.row.deploymentId, { status: 'healthy', trafficPercent: 100, health });
    });
    return { deployment, status: 'healthy', previous, checks: this.checks };
  }

  /** Stops what this deployment started and puts the previous version back; records why. */
  private async fail(reason: string): Promise<DeployOutcome> {
    this.progress(`✗ ${reason}; rolling back`);
    const previous = this.previous;
    const candidate = this.started[0];
    if (previous && this.target.serve && this.target.route && !this.previousStopped && candidate && isAlive(candidate.pid)) {
      // traffic goes back to the stable version before the candidate stops
      await this.route(0, candidate, previous.health?.process?.url ?? undefined).catch(() => undefined);
    }
    let restore = '';
    let restored: Serving | undefined;
    let gatewayRestored: { text: string; ok: boolean } | undefined;
    if (this.target.gateway && (this.candidateRouted || this.retired.length)) {
      const back = await this.restoreBehindGateway(previous);
      gatewayRestored = back;
      restore = back.text;
      // the previous deployment's representative process is one that serves (its first may have been replaced)
      if (back.first && back.first.pid !== previous?.health?.process?.pid) restored = back.first;
    }
    for (const s of this.started) {
      await stopService(s.pid);
      if (s.replicaId !== undefined && this.replicaRows.get(s.replicaId)?.status !== 'failed')
        this.replicaRows.setStatus(s.replicaId, 'stopped', `rolled back: ${reason}`.slice(0, 500));
    }
    if (gatewayRestored) {
      // said above
    } else if (previous && this.target.serve && this.previousStopped) {
      try {
        restored = await this.restoreServe(previous);
        restore = ` ${previous.modelName} v${previous.version} serves again${restored.url ? ` at ${restored.url}` : ''}.`;
      } catch (error) {
        restore = ` Restoring ${previous.modelName} v${previous.version} failed too: ${(error as Error).message}.`;
      }
    } else if (previous && !this.target.serve) {
      try {
        const prevVersion = new ModelRepository(this.ctx.store).versionById(previous.modelVersionId)!;
        const location = artifactLocation(this.ctx.store, this.ctx.artifactRoot, prevVersion.artifactPath) ?? '';
        await this.runStep({ modelName: previous.modelName, version: previous.version, artifact: location }, 100, `restore v${previous.version}`);
        restore = ` ${previous.modelName} v${previous.version} was deployed again.`;
      } catch (error) {
        restore = ` Restoring ${previous.modelName} v${previous.version} failed too: ${(error as Error).message}.`;
      }
    } else if (previous) {
      restore = ` ${previous.modelName} v${previous.version} kept serving.`;
    }
    if (gatewayRestored && !gatewayRestored.ok && !restore && previous) restore = ` ${previous.modelName} v${previous.version} has no process left to serve.`;
    const rolledBack = previous !== undefined && !restore.includes('failed too') && (gatewayRestored === undefined || gatewayRestored.ok);
    const status = rolledBack ? 'rolled_back' : 'failed';
    const fullReason = `${reason}.${restore}`.trim();
    const deployment = this.ctx.store.transaction(() => {
      if (previous) {
        this.deployments.update(previous.deploymentId, {
          status: rolledBack ? 'healthy' : 'unhealthy',
          trafficPercent: rolledBack ? 100 : previous.trafficPercent,
          ...(restored ? { health: { ...previous.health, process: restored } } : {}),
        });
      }
      this.audit.record({
        actor: this.ctx.actor,
        action: rolledBack ? 'deploy.auto_rollback' : 'deploy.failed',
        entityType: 'target',
        entityId: this.name,
        fromValue: `${this.options.modelName} v${this.version.version}`,
        toValue: previous ? `${previous.modelName} v${previous.version}` : null,
        reason: fullReason,
        details: {
          deploymentId: this.row.deploymentId,
          strategy: this.strategy,
          failingStep: this.checks.findLast((c) => !c.ok)?.step ?? reason.split(':')[0],
          checks: this.checks,
          ...(this.analyses.length ? { analysis: this.analyses } : {}),
          ...(this.retired.length ? { restoredReplicas: this.retired.map((r) => r.slot ?? 0) } : {}),
        },
      });
      return this.deployments.update(this.row.deploymentId, {
        status,
        trafficPercent: 0,
        health: { ...this.row.health, checks: this.checks, reason: fullReason },
      });
    });
    return { deployment, status, reason: fullReason, previous, checks: this.checks };
  }

  private async restoreServe(previous: Deployment, replica?: { port: number; slot: number | undefined }): Promise<Serving> {
    const prevVersion = new ModelRepository(this.ctx.store).versionById(previous.modelVersionId)!;
    const location = artifactLocation(this.ctx.store, this.ctx.artifactRoot, prevVersion.artifactPath) ?? '';
    const port = replica?.port ?? previous.health?.process?.port ?? this.target.port ?? (await freePort());
    const values = valuesFor(this.ctx, this.name, { modelName: previous.modelName, version: previous.version, artifact: location }, { port, traffic: 100 });
    const command = fillCommand(this.target.command, values, `targets.${this.name}.command`);
    const logPath = join(deployDir(this.ctx, this.name), `${previous.deploymentId}-${port}.log`);
    this.progress(`restoring ${previous.modelName} v${previous.version} on port ${port}`);
    const service = await startService({
      argv: command.argv,
      cwd: this.ctx.projectRoot,
      logPath,
      env: {
        MLOOP_TARGET: this.name,
        MLOOP_MODEL_VERSION: String(previous.version),
        ...(replica?.slot !== undefined ? { MLOOP_REPLICA: String(replica.slot) } : {}),
      },
    });
    const row =
      replica?.slot !== undefined
        ? this.replicaRows.add({ deploymentId: previous.deploymentId, slot: replica.slot, pid: service.pid, port, logPath })
        : undefined;
    const serving: Serving = { pid: service.pid, port, url: urlOf(port) ?? null, logPath, ...(row ? { slot: row.slot, replicaId: row.replicaId } : {}) };
    const which = row && this.replicaCount > 1 ? ` replica ${row.slot}` : '';
    if (this.target.health) {
      const health = await waitHealthy(this.target.health, values, this.ctx.projectRoot, {
        alive: () => (isAlive(service.pid) ? undefined : `exited: ${logTail(logPath, 3)}`),
      });
      this.record(`restore v${previous.version}${which}: health`, health);
      if (!health.ok) {
        await stopService(service.pid);
        if (row) this.replicaRows.setStatus(row.replicaId, 'failed', health.detail);
        throw new Error(health.detail);
      }
    }
    if (row) this.replicaRows.setStatus(row.replicaId, 'serving');
    return serving;
  }
}
