import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  admissionRefusal,
  deployDir,
  deploymentProcesses,
  deployVersion,
  findTarget,
  logTail,
  resolveVersion,
  valuesFor,
  type DeployContext,
  type DeployOutcome,
} from '../deploy/deploy';
import { promote, rollbackAlias } from '../registry/aliases';
import { gateSpecFor } from '../registry/autoRegister';
import { DeployError } from '../deploy/errors';
import { waitHealthy } from '../deploy/health';
import { acquireTargetLock } from '../deploy/lock';
import { freePort, isAlive, sleep, startService, stopService } from '../deploy/process';
import { fillCommand } from '../deploy/template';
import { artifactLocation } from '../registry/modelArtifact';
import { RegistryError } from '../registry/errors';
import { AuditRepository } from '../store/audit';
import { DeploymentRepository } from '../store/deployments';
import { challengerPorts, GatewayRepository, type GatewayRoute } from '../store/gatewayRoutes';
import type { Store } from '../store/store';
import { REPLAN_EVERY } from './protocol';
import { readServingLog } from './canaryAnalysis';
import { SequentialAbTest, type AbOptions, type AbReport } from './abTest';
import { drain, feedbackLogPath, gatewayStatus, gatewayOptionsOf, servingLogPath, setRoutes } from './control';

/** An A/B test on a gateway target: the serving version (champion arm) and a challenger, split by weight. */
export interface AbTargetReport extends AbReport {
  readonly target: string;
  /** An A/A test: the serving version in both arms, a check of the setup (any decision but continue is a false positive). */
  readonly aa: boolean;
  readonly since: number;
  readonly arms: readonly { readonly role: 'champion' | 'challenger'; readonly modelName: string; readonly version: number; readonly split: number }[];
  /** Feedback for request ids the gateway never saw (404), since the test started. */
  readonly unknownFeedback: number;
  /** Guardrails from the serving log, per arm: requests, server errors (status ≥ 500), p95 latency. */
  readonly guardrails: readonly {
    readonly version: number;
    readonly requests: number;
    readonly errorRate: number | null;
    readonly p95LatencyMs: number | null;
  }[];
}

/** The two arms of the test on a target: the serving deployment's routes, and the challenger's (challengerPorts). */
function armsOf(store: Store, target: string): { champion: GatewayRoute[]; challenger: GatewayRoute[]; since: number } {
  const record = new GatewayRepository(store).get(target);
  const ports = challengerPorts(record?.routes ?? []);
  const challenger = record?.routes.filter((r) => ports.has(r.upstreamPort)) ?? [];
  const champion = record?.routes.filter((r) => !ports.has(r.upstreamPort)) ?? [];
  if ((record?.strategy !== 'ab' && record?.strategy !== 'bandit') || !challenger.length || !champion.length)
    throw new DeployError(`no A/B test runs on target "${target}": start one with mloop ab ${target} --start <model@challenger> [--split 50]`);
  return { champion, challenger, since: record.updatedAt };
}

const readLines = (path: string): Record<string, unknown>[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return []; // a line cut by a crash
          }
        })
    : [];

/** The report `mloop ab` prints: the sequential test over the rewards fed back since the split started. */
export function abTargetReport(store: Store, target: string, options: AbOptions & { liveWeights?: ReadonlyMap<number, number> } = {}): AbTargetReport {
  const arms = armsOf(store, target);
  const weightOf = (routes: readonly GatewayRoute[]): number => routes.reduce((sum, r) => sum + (options.liveWeights?.get(r.upstreamPort) ?? r.weight), 0);
  const champion = { ...arms.champion[0]!, weight: weightOf(arms.champion), ports: new Set(arms.champion.map((r) => r.upstreamPort)) };
  const challenger = { ...arms.challenger[0]!, weight: weightOf(arms.challenger), ports: new Set(arms.challenger.map((r) => r.upstreamPort)) };
  const since = arms.since;
  const test = new SequentialAbTest(options);
  let unknownFeedback = 0;
  // the arm of a line: its upstream port, one of the arm's replicas (an A/A test runs one version in both arms), else its version (older logs)
  const armOf = (line: { upstream_port?: unknown; version?: unknown }): 0 | 1 | undefined => {
    if (typeof line.upstream_port === 'number') return champion.ports.has(line.upstream_port) ? 0 : challenger.ports.has(line.upstream_port) ? 1 : undefined;
    return line.version === champion.version ? 0 : line.version === challenger.version ? 1 : undefined;
  };
  for (const line of readLines(feedbackLogPath(store, target))) {
    if (typeof line.ts !== 'number' || line.ts < since) continue;
    if (line.unknown === true) unknownFeedback++;
    else if (typeof line.reward === 'number') {
      const arm = armOf(line);
      if (arm !== undefined) test.add(arm, line.reward);
    }
  }
  const serving = readServingLog(servingLogPath(store, target)).filter((l) => l.ts >= since);
  const guardrails = [champion, challenger].map((arm, i) => {
    const lines = serving.filter((l) => armOf(l) === i);
    const latencies = lines.map((l) => Number(l.latency_ms)).sort((a, b) => a - b);
    return {
      version: arm.version,
      requests: lines.length,
      errorRate: lines.length ? lines.filter((l) => Number(l.status) >= 500).length / lines.length : null,
      p95LatencyMs: latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(0.95 * latencies.length) - 1)]! : null,
    };
  });
  const total = champion.weight + challenger.weight;
  return {
    ...test.report(),
    target,
    aa: champion.modelName === challenger.modelName && champion.version === challenger.version,
    since,
    arms: [
      { role: 'champion', modelName: champion.modelName, version: champion.version, split: (100 * champion.weight) / total },
      { role: 'challenger', modelName: challenger.modelName, version: challenger.version, split: (100 * challenger.weight) / total },
    ],
    unknownFeedback,
    guardrails,
  };
}

/** The report with the split the gateway uses now (a bandit moves it with every few rewards). */
export async function abTargetReportLive(store: Store, target: string, options: AbOptions = {}): Promise<AbTargetReport> {
  const status = await gatewayStatus(store, target);
  const liveWeights = new Map((status?.table.routes ?? []).map((r) => [r.upstream_port, r.weight]));
  return abTargetReport(store, target, { ...options, liveWeights });
}

/**
 * Starts an A/B test: the challenger on a private port beside the serving version, health-checked, then `split`
 * percent of the requests routed to it (sticky by the x-mloop-key header). Audited with the routes.
 */
export async function startAbTest(
  ctx: DeployContext,
  options: {
    target: string;
    modelName: string;
    version?: number;
    alias?: string;
    split: number;
    reason?: string;
    override?: string;
    /** Thompson sampling moves the split from the (binary) rewards; each arm keeps 5 % of the traffic. */
    bandit?: boolean;
    /** An A/A test: a second process of the serving version is the challenger (modelName and version are ignored). */
    aa?: boolean;
    /** Aborts while the challenger starts (it is stopped; nothing is routed to it). */
    signal?: AbortSignal;
    onProgress?: (message: string) => void;
  },
): Promise<AbTargetReport> {
  const target = findTarget(ctx.config, options.target);
  if (!target.gateway) throw new DeployError(`targets.${options.target}: an A/B test needs gateway: true (the gateway splits the traffic)`);
  if (!(options.split > 0 && options.split < 100))
    throw new DeployError(`--split is the challenger's percent of the traffic, between 0 and 100 (got ${options.split})`);
  const current = new DeploymentRepository(ctx.store).current(options.target);
  // the serving arm: every live process of the serving deployment (its replicas, or its one process)
  const stable = current ? deploymentProcesses(ctx.store, current).filter((s) => s.port !== null && isAlive(s.pid)) : [];
  if (!current || !stable.length) throw new DeployError(`nothing serves on target "${options.target}": deploy the champion first`);
  const record = new GatewayRepository(ctx.store).get(options.target);
  if (record?.strategy === 'ab' || record?.strategy === 'bandit')
    throw new DeployError(`an A/B test already runs on target "${options.target}" (one rollout at a time): stop it first`);
  let version;
  if (options.aa) options = { ...options, modelName: current.modelName, version: current.version };
  try {
    version = resolveVersion(ctx, options);
  } catch (error) {
    if (error instanceof RegistryError) throw new DeployError(error.message);
    throw error;
  }
  if (!options.aa && version.version === current.version && options.modelName === current.modelName)
    throw new DeployError(
      `${options.modelName} v${version.version} already serves on "${options.target}": an A/B test needs another version (or --aa, an A/A test of the setup)`,
    );
  // the serving version was admitted when it was deployed
  const refusal = options.aa ? undefined : admissionRefusal(ctx, target, options, version);
  if (refusal) throw new DeployError(refusal);
  const artifact = artifactLocation(ctx.store, ctx.artifactRoot, version.artifactPath);
  if (!artifact || !existsSync(artifact)) throw new DeployError(`${options.modelName} v${version.version}: its artifact is missing`);
  const lock = acquireTargetLock(join(deployDir(ctx, options.target), '..', `${options.target}.lock`), options.target);
  // the challenger runs as many replicas as the target declares, each on a private port, health-checked together
  const count = target.replicas;
  const started: { pid: number; port: number; slot: number; logPath: string }[] = [];
  const stopStarted = async (): Promise<void> => {
    for (const s of started) await stopService(s.pid);
  };
  try {
    const name = (slot: number): string => `the challenger ${options.modelName} v${version.version}${count > 1 ? ` (replica ${slot})` : ''}`;
    for (let slot = 0; slot < count; slot++) {
      const port = await freePort();
      const values = valuesFor(ctx, options.target, { modelName: options.modelName, version: version.version, artifact }, { port, traffic: options.split });
      const command = fillCommand(target.command, values, `targets.${options.target}.command`);
      const logPath = join(deployDir(ctx, options.target), `ab-v${version.version}-${port}.log`);
      options.onProgress?.(`starting ${options.modelName} v${version.version}${count > 1 ? ` replica ${slot}` : ''} on port ${port}`);
      try {
        const service = await startService({
          argv: command.argv,
          cwd: ctx.projectRoot,
          logPath,
          env: { MLOOP_TARGET: options.target, MLOOP_MODEL_VERSION: String(version.version), ...(count > 1 ? { MLOOP_REPLICA: String(slot) } : {}) },
        });
        started.push({ pid: service.pid, port, slot, logPath });
      } catch (error) {
        await stopStarted();
        throw new DeployError(`${name(slot)} did not start: ${(error as Error).message}`);
      }
    }
    options.onProgress?.(count > 1 ? `waiting for the health checks of its ${count} replicas` : 'waiting for its health check');
    const verdicts = await Promise.all(
      started.map(async (s) => {
        const alive = (): string | undefined => (isAlive(s.pid) ? undefined : `${name(s.slot)} exited: ${logTail(s.logPath, 3)}`);
        const values = valuesFor(
          ctx,
          options.target,
          { modelName: options.modelName, version: version.version, artifact },
          { port: s.port, traffic: options.split },
        );
        const health = target.health
          ? await waitHealthy(target.health, values, ctx.projectRoot, { alive, ...(options.signal ? { signal: options.signal } : {}) })
          : await sleep(500).then(() => ({ ok: !alive(), detail: alive() ?? 'running' }));
        return { ...s, health };
      }),
    );
    const unhealthy = verdicts.find((v) => !v.health.ok);
    if (unhealthy || options.signal?.aborted) {
      await stopStarted();
      if (options.signal?.aborted)
        throw new DeployError(`cancelled: the challenger ${options.modelName} v${version.version} was stopped, nothing was routed to it`);
      throw new DeployError(`${name(unhealthy!.slot)} did not become healthy: ${unhealthy!.health.detail}`);
    }
    options.onProgress?.(`routing ${options.split}% of the requests to it`);
    const replicated = (slot: number | undefined): { replica?: number } => (slot !== undefined && (count > 1 || stable.length > 1) ? { replica: slot } : {});
    await setRoutes(ctx.store, options.target, target.port!, {
      strategy: options.bandit ? 'bandit' : 'ab',
      ...gatewayOptionsOf(ctx, target),
      routes: [
        // each arm keeps its share whatever its replicas: the share is spread evenly over them
        ...stable.map((s) => ({
          modelName: current.modelName,
          version: current.version,
          upstreamPort: s.port!,
          weight: (100 - options.split) / stable.length,
          ...replicated(s.slot),
        })),
        ...started.map((s) => ({
          modelName: options.modelName,
          version: version.version,
          upstreamPort: s.port,
          weight: options.split / started.length,
          pid: s.pid,
          ...replicated(s.slot),
        })),
      ],
      audit: () =>
        new AuditRepository(ctx.store).record({
          actor: ctx.actor,
          action: options.bandit ? 'bandit.start' : options.aa ? 'aa.start' : 'ab.start',
          entityType: 'target',
          entityId: options.target,
          fromValue: `${current.modelName} v${current.version}`,
          toValue: `${options.modelName} v${version.version} (${options.split}%)`,
          reason: options.reason ?? options.override ?? null,
          details: {
            port: started[0]!.port,
            pid: started[0]!.pid,
            logPath: started[0]!.logPath,
            ...(count > 1 || stable.length > 1
              ? {
                  replicas: {
                    champion: stable.map((s) => ({ slot: s.slot ?? 0, port: s.port })),
                    challenger: started.map((s) => ({ slot: s.slot, port: s.port, pid: s.pid })),
                  },
                }
              : {}),
            split: options.split,
            ...(options.bandit ? { bandit: { floor: 0.05, replanEvery: REPLAN_EVERY } } : {}),
            ...(options.override ? { override: options.override } : {}),
          },
        }),
    });
    return await abTargetReportLive(ctx.store, options.target);
  } catch (error) {
    // nothing of the challenger outlives a failure to route it
    if (
      !(await routedTo(
        ctx.store,
        options.target,
        started.map((s) => s.port),
      ))
    )
      await stopStarted();
    throw error;
  } finally {
    lock.release();
  }
}

/** Whether the store routes any of these ports on the target (the test started). */
async function routedTo(store: Store, target: string, ports: readonly number[]): Promise<boolean> {
  const routes = new GatewayRepository(store).get(target)?.routes ?? [];
  return routes.some((r) => ports.includes(r.upstreamPort));
}

/** Ends an A/B test: all traffic back to the serving version, the challenger stopped once drained; audited with the final report. */
export async function stopAbTest(ctx: DeployContext, options: { target: string; reason?: string }): Promise<AbTargetReport> {
  const target = findTarget(ctx.config, options.target);
  const report = await abTargetReportLive(ctx.store, options.target);
  const { champion, challenger } = armsOf(ctx.store, options.target);
  const first = challenger[0]!;
  const serving = champion[0]!;
  await setRoutes(ctx.store, options.target, target.port!, {
    strategy: 'single',
    ...gatewayOptionsOf(ctx, target),
    // the serving version takes all the traffic back, shared evenly by its replicas
    routes: champion.map((r) => ({ ...r, weight: 100 / champion.length })),
    audit: () =>
      new AuditRepository(ctx.store).record({
        actor: ctx.actor,
        action: 'ab.stop',
        entityType: 'target',
        entityId: options.target,
        fromValue: `${first.modelName} v${first.version} (${report.arms[1]!.split}%)`,
        toValue: `${serving.modelName} v${serving.version}`,
        reason: options.reason ?? null,
        details: { decision: report.decision, pValue: report.pValue, control: report.control, treatment: report.treatment, lift: report.lift },
      }),
  });
  // each challenger replica stops once the requests it was answering are answered
  await Promise.all(challenger.map((r) => drain(ctx.store, options.target, r.upstreamPort)));
  for (const r of challenger) if (r.pid) await stopService(r.pid);
  return report;
}

/**
 * Promote Winner: once the A/B report says "ship", the challenger becomes @champion (through promotion, with its
 * gate and approval policy) and is deployed to the target (blue/green, health checks, smoke and prediction tests);
 * the test ends first. Another decision ("continue", "keep champion") is refused unless `override` gives a reason.
 * Audited as ab.promote with the report; if the deployment does not come up healthy, the alias moves back.
 */
export async function promoteAbWinner(
  ctx: DeployContext,
  options: { target: string; override?: string; reason?: string; signal?: AbortSignal; onProgress?: (message: string) => void },
): Promise<{ report: AbTargetReport; outcome: DeployOutcome }> {
  findTarget(ctx.config, options.target);
  const report = await abTargetReportLive(ctx.store, options.target);
  const [champion, winner] = report.arms as [AbTargetReport['arms'][0], AbTargetReport['arms'][0]];
  const name = `${winner.modelName} v${winner.version}`;
  const override = options.override?.trim() || undefined;
  if (report.aa)
    throw new DeployError(
      `the test on "${options.target}" is an A/A test (${name} in both arms): it has no winner to promote; stop it with mloop ab ${options.target} --stop`,
    );
  if (report.decision !== 'ship' && !override)
    throw new DeployError(
      `the A/B test on "${options.target}" says ${report.decision.replace('_', ' ')} (${report.reason}), not ship: ${name} is not the winner yet. Promote it anyway with --override <reason> (audited), or wait for more outcomes`,
    );
  const reason = options.reason ?? `won the A/B test on ${options.target} against ${champion.modelName} v${champion.version}`;
  // the alias first: a model whose promotions need approval stops here, with the test still running
  await promote(ctx, {
    modelName: winner.modelName,
    version: winner.version,
    alias: 'champion',
    reason,
    ...(override ? { overrideReason: override } : {}),
    gate: gateSpecFor(ctx.config, winner.modelName),
  });
  new AuditRepository(ctx.store).record({
    actor: ctx.actor,
    action: 'ab.promote',
    entityType: 'target',
    entityId: options.target,
    fromValue: `${champion.modelName} v${champion.version}`,
    toValue: name,
    reason: override ?? reason,
    details: {
      decision: report.decision,
      pValue: report.pValue,
      lift: report.lift,
      control: report.control,
      treatment: report.treatment,
      override: override ?? null,
    },
  });
  options.onProgress?.(`${name} is now ${winner.modelName}@champion; ending the A/B test and deploying it`);
  await stopAbTest(ctx, { target: options.target, reason: `promoting the winner ${name}` });
  const outcome = await deployVersion(ctx, {
    modelName: winner.modelName,
    version: winner.version,
    target: options.target,
    strategy: 'blue_green',
    reason,
    ...(override ? { override } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  if (outcome.status !== 'healthy')
    await rollbackAlias(ctx, {
      modelName: winner.modelName,
      alias: 'champion',
      reason: `the deployment of ${name} to ${options.target} did not succeed`,
    }).catch(() => undefined);
  return { report, outcome };
}
