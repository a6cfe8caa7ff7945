import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { httpExchange } from '../deploy/health';
import { isAlive, sleep, startService, stopService } from '../deploy/process';
import type { Config, DeployTarget } from '../config/schema';
import { pythonOf } from '../runs/environment';
import { challengerPorts, GatewayRepository, type GatewayRecord, type GatewayRoute, type GatewayStrategy } from '../store/gatewayRoutes';
import type { Store } from '../store/store';
import type { GatewayExplainContext } from './explainSetup';
import type { ExplainSetup, RouteTable } from './routing';
import { CONTROL_PREFIX, type GatewayStatus } from './protocol';

/** The gateway bundle: next to the running bundle (dist/), else the repository's dist/ (tests run from out/). */
const GATEWAY_FILE = 'gateway.js';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
}

/** Where a target's gateway keeps its token, logs and process output: .mloop/gateway/<target>/. */
export const gatewayDir = (store: Pick<Store, 'path'>, target: string): string => join(dirname(store.path), 'gateway', target);
/** The serving log monitoring reads: one JSON line per request (docs/deploy.md, "Serving log"). */
export const servingLogPath = (store: Pick<Store, 'path'>, target: string): string => join(gatewayDir(store, target), 'serving.jsonl');
export const feedbackLogPath = (store: Pick<Store, 'path'>, target: string): string => join(gatewayDir(store, target), 'feedback.jsonl');
/** One JSON line per POST /explain, apart from the serving log so that monitoring's latency and error figures stay those of predictions. */
export const explainLogPath = (store: Pick<Store, 'path'>, target: string): string => join(gatewayDir(store, target), 'explain.jsonl');

function gatewayScript(): string {
  const beside = join(__dirname, GATEWAY_FILE);
  if (existsSync(beside)) return beside;
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'dist', GATEWAY_FILE);
    if (existsSync(candidate)) return candidate;
  }
  throw new GatewayError(`the gateway bundle ${GATEWAY_FILE} is missing next to ${__dirname} (build with scripts/build.mjs)`);
}

/**
 * SIGKILL to gateway workers left in the process group of a primary that is gone (Linux: read from /proc; only
 * processes running the gateway bundle, so a reused pid never takes another program with it).
 */
function endOrphanedWorkers(pgid: number): void {
  if (process.platform !== 'linux') return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // after "pid (comm) ": state ppid pgrp …
      const pgrp = Number(
        readFileSync(`/proc/${entry}/stat`, 'utf8')
          .replace(/^.*\) /, '')
          .split(' ')[2],
      );
      if (pgrp === pgid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(GATEWAY_FILE)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
}

/** The control token: 32 random bytes in a file only the user can read; never logged, never in the store. */
function tokenOf(store: Pick<Store, 'path'>, target: string): { token: string; path: string } {
  const path = join(gatewayDir(store, target), 'token');
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), path };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  writeFileSync(path, token, { mode: 0o600 });
  return { token, path };
}

/**
 * The routing table as the gateway receives it. During an A/B test or a bandit each route names its arm: the
 * challenger's routes (challengerPorts: mloop started their processes for the test) are arm 1; the serving
 * deployment's are arm 0 (so an A/A test keeps two arms of one version, whatever the replicas).
 */
export const wireTable = (record: Pick<GatewayRecord, 'strategy' | 'routes'>): RouteTable => {
  const testing = record.strategy === 'ab' || record.strategy === 'bandit';
  const challenger = testing ? challengerPorts(record.routes) : new Set<number>();
  return {
    strategy: record.strategy,
    routes: record.routes.map((r) => ({
      model_name: r.modelName,
      version: r.version,
      upstream_port: r.upstreamPort,
      weight: r.weight,
      ...(r.replica !== undefined && r.replica !== null ? { replica: r.replica } : {}),
      ...(testing ? { arm: challenger.has(r.upstreamPort) ? 1 : 0 } : {}),
    })),
  };
};

async function control(
  store: Store,
  target: string,
  port: number,
  method: 'GET' | 'PUT',
  path: 'status' | 'routes' | 'workers',
  body?: unknown,
): Promise<GatewayStatus> {
  const { token } = tokenOf(store, target);
  const r = await httpExchange(`http://127.0.0.1:${port}${CONTROL_PREFIX}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    // a routing change is answered once every gateway process took it (each has 10 s: gatewayMain.ts); new workers
    // are answered once they listen (up to 30 s each)
    timeoutMs: path === 'workers' ? 40_000 : method === 'PUT' ? 15_000 : 3000,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (r.status !== 200) throw new GatewayError(`gateway of target "${target}": ${method} ${path} → ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as GatewayStatus;
}

/** A target's `gateway_workers` as a number of processes: `auto` is one per core (like nginx's worker_processes auto). */
export const gatewayWorkers = (setting: number | 'auto' | undefined): number => (setting === 'auto' ? availableParallelism() : (setting ?? 1));

/** Options of a gateway start: how many processes serve the port (gatewayWorkers of the target's setting). */
export interface GatewayStartOptions {
  readonly workers?: number;
  /** The target enables POST /explain (absent: the gateway refuses it with 404). */
  readonly explain?: GatewayExplainContext;
}

/** JSON with sorted keys: the same setup compares equal whatever order its keys came back from the gateway in. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  ) ?? '';

/** A target's gateway options from mloop.yaml: its processes, and its explainers when it sets `explain:`. */
export function gatewayOptionsOf(
  ctx: { readonly artifactRoot: string; readonly projectRoot: string; readonly config: Config | undefined },
  target: Pick<DeployTarget, 'gateway_workers' | 'explain'>,
): { workers: number; explain?: GatewayExplainContext } {
  const workers = gatewayWorkers(target.gateway_workers);
  if (!target.explain) return { workers };
  const settings = target.explain === true ? {} : { timeoutSeconds: target.explain.timeout_seconds, maxPending: target.explain.max_pending };
  return {
    workers,
    explain: {
      artifactRoot: ctx.artifactRoot,
      projectRoot: ctx.projectRoot,
      config: ctx.config,
      python: pythonOf([], process.env, ctx.projectRoot),
      ...settings,
    },
  };
}

/** The routing table of the store, with the explainers of its versions when the target enables /explain. */
async function tableOf(
  store: Store,
  target: string,
  record: Pick<GatewayRecord, 'strategy' | 'routes'>,
  explain: GatewayExplainContext | undefined,
): Promise<RouteTable> {
  const table = wireTable(record);
  if (!explain) return table;
  return { ...table, explain: await explainSetupOf(store, target, explain, record.routes) };
}

/** The explainers of `routes` (loaded only for a target that explains: the evaluation code is not every CLI command's). */
async function explainSetupOf(
  store: Store,
  target: string,
  explain: GatewayExplainContext,
  routes: readonly { readonly modelName: string; readonly version: number }[],
): Promise<ExplainSetup> {
  const { explainSetupFor } = await import('./explainSetup');
  return explainSetupFor(store, gatewayDir(store, target), explain, routes);
}

/** The gateway's own view (routes, requests in flight, feedback counts); undefined when it does not answer. */
export async function gatewayStatus(store: Store, target: string): Promise<GatewayStatus | undefined> {
  const record = new GatewayRepository(store).get(target);
  if (!record?.pid || !isAlive(record.pid)) return undefined;
  return control(store, target, record.port, 'GET', 'status').catch(() => undefined);
}

/**
 * Makes sure the target's gateway runs on `port` and serves the routing table of the store: starts it (detached,
 * it outlives the editor) when it never ran or died, with the routes restored from the store.
 */
export async function ensureGateway(
  store: Store,
  target: string,
  port: number,
  options: GatewayStartOptions = {},
): Promise<{ record: GatewayRecord; restarted: boolean }> {
  const repo = new GatewayRepository(store);
  const workers = options.workers ?? 1;
  let record = repo.get(target);
  if (record?.pid && isAlive(record.pid)) {
    const running = record.port === port ? await control(store, target, record.port, 'GET', 'status').catch(() => undefined) : undefined;
    // explain turned on or off (or its versions' files changed) since the routes were set: the running table gets it
    if (running) {
      // the setup of the routes the gateway runs, not of the store's: between a routing change's store write and its
      // PUT (setRoutes, or another process's deploy seen by a health check) they differ, and a table whose explain setup
      // missed a routed version would answer its /explain 503 until the PUT
      const runningRoutes = running.table.routes.map((r) => ({ modelName: r.model_name, version: r.version }));
      const explain = options.explain ? await explainSetupOf(store, target, options.explain, runningRoutes) : undefined;
      if (canonical(explain) !== canonical(running.table.explain)) {
        const { explain: _old, ...rest } = running.table;
        await control(store, target, record.port, 'PUT', 'routes', explain ? { ...rest, explain } : rest);
      }
    }
    if (running && (running.workers_requested ?? 1) === workers) return { record, restarted: false };
    // another workers setting: the running gateway starts or stops workers while it serves (no gap); one built before
    // it could (404) is started again with this one, its routes from the store
    if (running) {
      const changed = await control(store, target, record.port, 'PUT', 'workers', { workers }).catch((error: unknown) => error as Error);
      if (!(changed instanceof Error)) return { record, restarted: false };
      if (!/→ 404 /.test(changed.message)) throw changed;
    }
    await stopService(record.pid);
  } else if (record?.pid) {
    // the primary died (kill -9): its workers end with its channel; any left would serve old routes on the port
    endOrphanedWorkers(record.pid);
  }
  record = store.transaction(() => repo.ensure(target, port));
  const dir = gatewayDir(store, target);
  const { path: tokenPath } = tokenOf(store, target);
  const logPath = join(dir, 'gateway.log');
  const args = {
    target,
    port,
    token_path: tokenPath,
    serving_log: servingLogPath(store, target),
    feedback_log: feedbackLogPath(store, target),
    ...(workers > 1 ? { workers } : {}),
    table: await tableOf(store, target, record, options.explain),
  };
  const service = await startService({
    argv: [process.execPath, gatewayScript(), JSON.stringify(args)],
    cwd: dir,
    logPath,
    env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  // a worker is a Node process of its own to start: more time when there are several
  const seconds = workers > 1 ? 30 : 10;
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (!isAlive(service.pid)) {
      const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-2).join(' | ');
      throw new GatewayError(`the gateway of target "${target}" did not start on port ${port}: ${tail} (log ${logPath})`);
    }
    const status = await control(store, target, port, 'GET', 'status').catch(() => undefined);
    // ready when every process it runs toward listens (the primary answers status once it listens)
    if (status && status.pid === service.pid && status.workers >= (status.workers_wanted ?? 1)) break;
    if (Date.now() > deadline) {
      await stopService(service.pid);
      throw new GatewayError(`the gateway of target "${target}" did not answer on port ${port} within ${seconds} s (log ${logPath})`);
    }
    await sleep(50);
  }
  store.transaction(() => repo.setPid(target, service.pid));
  return { record: repo.get(target)!, restarted: true };
}

/**
 * Changes the routing table: the store first (the truth a restarted gateway gets back), then the running gateway.
 * Call `audit` to write the audit row in the same transaction as the routes.
 */
export async function setRoutes(
  store: Store,
  target: string,
  port: number,
  change: { strategy: GatewayStrategy; routes: readonly GatewayRoute[]; audit?: () => void; workers?: number; explain?: GatewayExplainContext },
): Promise<GatewayRecord> {
  const repo = new GatewayRepository(store);
  const record = store.transaction(() => {
    repo.ensure(target, port);
    change.audit?.();
    return repo.setRoutes(target, change.strategy, change.routes);
  });
  const { restarted } = await ensureGateway(store, target, port, {
    ...(change.workers !== undefined ? { workers: change.workers } : {}),
    ...(change.explain ? { explain: change.explain } : {}),
  });
  // answered once every process of the gateway proxies on the new table
  if (!restarted) await control(store, target, port, 'PUT', 'routes', await tableOf(store, target, record, change.explain));
  return record;
}

/** Waits until no request is in flight to `upstreamPort` (after it lost its routes); false on timeout. */
export async function drain(store: Store, target: string, upstreamPort: number, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await gatewayStatus(store, target);
    if (!status || !status.inflight[String(upstreamPort)]) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}

/** Stops a target's gateway and forgets its routes. */
export async function stopGateway(store: Store, target: string): Promise<void> {
  const repo = new GatewayRepository(store);
  const record = repo.get(target);
  if (!record) return;
  if (record.pid) await stopService(record.pid);
  store.transaction(() => repo.remove(target));
}
