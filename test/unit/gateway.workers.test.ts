import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../src/core/config/loadConfig';
import { freePort, isAlive, sleep } from '../../src/core/deploy/process';
import { drain, ensureGateway, feedbackLogPath, gatewayStatus, gatewayWorkers, servingLogPath, setRoutes, stopGateway } from '../../src/core/gateway/control';
import { reusePortAvailable } from '../../src/core/gateway/server';
import { parseServingLine } from '../../src/core/monitoring/servingLog';
import { GatewayRepository, type GatewayRoute } from '../../src/core/store/gatewayRoutes';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// The gateway as several processes on one port (gateway_workers; docs/decisions/gateway-workers.md): the real
// dist/gateway.js, a primary and a worker sharing the port with SO_REUSEPORT, in front of two node:http versions.
// Requests go out on fresh connections (agent: false) so the kernel spreads them over both processes.

/** A worker takes a routing change this long after it is sent: an acknowledgement before it would come sooner. */
const ROUTES_DELAY_MS = 400;
const WORKERS = 2;

interface Version {
  readonly server: Server;
  readonly port: number;
  /** Requests received and not yet answered. */
  open: number;
  /** When each request arrived (performance.now of this process). */
  readonly arrivals: number[];
}

/** A model version: answers {version} after `delayMs`, counting what it holds. */
async function startVersion(version: number, delayMs: number): Promise<Version> {
  const v: Version = { server: createServer(), port: 0, open: 0, arrivals: [] };
  v.server.on('request', (req, res) => {
    v.open++;
    v.arrivals.push(performance.now());
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.on('finish', () => v.open--);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version }));
      }, delayMs),
    );
  });
  v.server.keepAliveTimeout = 30_000;
  await new Promise<void>((done) => v.server.listen(0, '127.0.0.1', done));
  return Object.assign(v, { port: (v.server.address() as { port: number }).port });
}

/** One request on a connection of its own; the answer's status and version. */
function ask(
  port: number,
  path: string,
  options: { body?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<{ status: number; body: string }> {
  const body = options.body ?? '{}';
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: options.agent ?? false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

const versionOf = (answer: { body: string }): number => (JSON.parse(answer.body) as { version: number }).version;

async function settled(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('gateway_workers in mloop.yaml', () => {
  const target = (lines: string): string => `version: 1\ntargets:\n  gw:\n    command: [serve]\n    serve: true\n    port: 8000\n${lines}`;
  const problemsOf = (text: string): string[] => loadConfig(text, 'mloop.yaml').problems.map((p) => `${p.line}:${p.column} ${p.message}`);

  it('auto is one process per core, a number is that many, unset is one; a bad value or no gateway is an error at its line', () => {
    const auto = loadConfig(target('    gateway: true\n    gateway_workers: auto\n'), 'mloop.yaml');
    assert.deepEqual(auto.problems, []);
    assert.equal(gatewayWorkers(auto.config!.targets!.gw!.gateway_workers), availableParallelism());
    assert.equal(gatewayWorkers(loadConfig(target('    gateway: true\n    gateway_workers: 3\n'), 'mloop.yaml').config!.targets!.gw!.gateway_workers), 3);
    assert.equal(gatewayWorkers(loadConfig(target('    gateway: true\n'), 'mloop.yaml').config!.targets!.gw!.gateway_workers), 1);
    assert.match(problemsOf(target('    gateway: true\n    gateway_workers: 0\n'))[0]!, /^8:22 targets\.gw\.gateway_workers: /);
    assert.match(problemsOf(target('    gateway: true\n    gateway_workers: many\n'))[0]!, /^8:22 targets\.gw\.gateway_workers: /);
    assert.deepEqual(problemsOf(target('    gateway_workers: 2\n')), [
      '7:22 targets.gw.gateway_workers: gateway_workers needs gateway: true (the processes of the traffic gateway)',
    ]);
  });

  it('SO_REUSEPORT is taken where net has reusePort (Node >= 22.12 or 23.1, Linux); elsewhere the gateway runs one process', () => {
    assert.equal(reusePortAvailable('24.0.0', 'linux'), true);
    assert.equal(reusePortAvailable('22.12.0', 'linux'), true);
    assert.equal(reusePortAvailable('22.11.9', 'linux'), false);
    assert.equal(reusePortAvailable('23.0.0', 'linux'), false);
    assert.equal(reusePortAvailable('23.1.0', 'linux'), true);
    assert.equal(reusePortAvailable('20.18.1', 'linux'), false);
    assert.equal(reusePortAvailable('24.0.0', 'darwin'), false);
  });
});

describe('gateway workers: several processes on one port stay one gateway', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let port: number;
  let v1: Version;
  let v2: Version;
  const route = (v: Version, version: number, weight: number): GatewayRoute => ({ modelName: 'clf', version, upstreamPort: v.port, weight });

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-gateway-workers-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    // slow enough answers that a worker still holds requests to the old version when the switch is acknowledged
    [v1, v2] = await Promise.all([startVersion(1, 150), startVersion(2, 150)]);
    port = await freePort();
    // read by the worker processes when they start (src/core/gateway/server.ts)
    process.env.MLOOP_GATEWAY_TEST_ROUTES_DELAY_MS = String(ROUTES_DELAY_MS);
    try {
      await setRoutes(store, 'gw', port, { strategy: 'single', routes: [route(v1, 1, 100)], workers: WORKERS });
    } finally {
      delete process.env.MLOOP_GATEWAY_TEST_ROUTES_DELAY_MS;
    }
  });

  after(async () => {
    await stopGateway(store, 'gw').catch(() => undefined);
    for (const v of [v1, v2]) {
      v?.server.closeAllConnections();
      v?.server.close();
    }
    store?.close();
    cleanup?.();
  });

  it('both processes take connections; a route change is acknowledged only once every process proxies on it', async () => {
    const before = await Promise.all(Array.from({ length: 40 }, () => ask(port, '/predict')));
    assert.deepEqual(new Set(before.map(versionOf)), new Set([1]));
    const status = (await gatewayStatus(store, 'gw'))!;
    assert.equal(status.workers, WORKERS);
    assert.equal(status.processes?.length, WORKERS);
    assert.ok(
      status.processes.every((p) => p.requests > 0),
      `40 connections spread over the processes: ${JSON.stringify(status.processes.map((p) => p.requests))}`,
    );

    // the control API takes the token whichever process a connection reaches (a worker passes it to the primary)
    for (const auth of ['', 'Bearer wrong']) {
      const denied = await Promise.all(
        Array.from({ length: 10 }, () =>
          ask(port, '/_mloop/routes', { body: '{"strategy":"single","routes":[]}', headers: auth ? { authorization: auth } : {} }),
        ),
      );
      assert.deepEqual(new Set(denied.map((d) => d.status)), new Set([401]));
    }
    assert.equal((await gatewayStatus(store, 'gw'))!.table.routes[0]!.upstream_port, v1.port);

    const sent = performance.now();
    await setRoutes(store, 'gw', port, { strategy: 'single', routes: [route(v2, 2, 100)], workers: WORKERS });
    const acknowledged = performance.now();
    // the worker waited ROUTES_DELAY_MS before taking the change: an acknowledgement that did not wait for it is early
    assert.ok(acknowledged - sent >= ROUTES_DELAY_MS - 5, `acknowledged after ${(acknowledged - sent).toFixed(0)} ms`);
    // right after the acknowledgement no process answers from the old route
    const after = await Promise.all(Array.from({ length: 40 }, () => ask(port, '/predict')));
    assert.deepEqual(new Set(after.map(versionOf)), new Set([2]));
    const tables = (await gatewayStatus(store, 'gw'))!.processes!.map((p) => p.table.routes.map((r) => r.upstream_port));
    assert.deepEqual(tables, Array(WORKERS).fill([v2.port]));
  });

  it('a switch and a rollback under 50 concurrent clients: 0 failed; drain counts every process, so the old version holds nothing after it', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 50 });
    const answers: number[] = [];
    const failed: string[] = [];
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        try {
          const a = await ask(port, '/predict', { agent });
          if (a.status === 200) answers.push(versionOf(a));
          else failed.push(`${a.status} ${a.body}`);
        } catch (error) {
          failed.push((error as Error).message);
        }
      }
    };
    const clients = Array.from({ length: 50 }, client);
    try {
      await settled('answers under load', () => answers.length >= 100);
      for (const [from, to, version] of [
        [v2, v1, 1],
        [v1, v2, 2],
      ] as const) {
        await setRoutes(store, 'gw', port, { strategy: 'blue_green', routes: [route(to, version, 100)], workers: WORKERS });
        const switched = performance.now();
        assert.equal(await drain(store, 'gw', from.port), true);
        // drained: what the old version received, it has answered (a worker's requests in flight were waited for)
        assert.equal(from.open, 0, `the old version still holds ${from.open} requests after drain`);
        const late = from.arrivals.filter((t) => t > switched).length;
        assert.equal(late, 0, `${late} requests reached the old version after the switch was acknowledged`);
        const count = answers.length;
        await settled('answers after the switch', () => answers.length >= count + 100);
      }
    } finally {
      running = false;
      await Promise.all(clients);
      agent.destroy();
    }
    assert.deepEqual(failed, []);
    assert.ok(answers.every((v) => v === 1 || v === 2));
  });

  it('A/B keys stay sticky across processes: every key lands on the arm its SHA-256 position gives, whichever process takes it', async () => {
    await setRoutes(store, 'gw', port, { strategy: 'ab', routes: [route(v1, 1, 50), route(v2, 2, 50)], workers: WORKERS });
    const keys = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const answers = await Promise.all(
      keys.flatMap((key) => [0, 1, 2].map(async () => [key, versionOf(await ask(port, '/predict', { headers: { 'x-mloop-key': key } }))] as const)),
    );
    for (const [key, version] of answers) {
      // computed here: the first 48 bits of the key's SHA-256 as a position in [0, 1); below 0.5 the first arm
      const position = Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 12), 16) / 2 ** 48;
      assert.equal(version, position < 0.5 ? 1 : 2, `key ${key}`);
    }
  });

  it('feedback reaches the one bandit from either process: joined to its version, unknown ids 404 and counted once, the weights the same everywhere', async () => {
    await setRoutes(store, 'gw', port, { strategy: 'bandit', routes: [route(v1, 1, 50), route(v2, 2, 50)], workers: WORKERS });
    const before = (await gatewayStatus(store, 'gw'))!.feedback;
    const n = 120;
    const served = await Promise.all(
      Array.from({ length: n }, async (_, i) => [i, versionOf(await ask(port, '/predict', { headers: { 'x-request-id': `fb-${i}` } }))] as const),
    );
    // version 2 always converts, version 1 never: feedback on connections of their own (often another process)
    const replies = await Promise.all(
      served.map(async ([i, version]) => {
        const r = await ask(port, '/feedback', { body: JSON.stringify({ request_id: `fb-${i}`, reward: version === 2 ? 1 : 0 }) });
        return [version, r] as const;
      }),
    );
    for (const [version, r] of replies) {
      assert.equal(r.status, 200, r.body);
      assert.equal(versionOf(r), version);
    }
    assert.equal((await ask(port, '/feedback', { body: JSON.stringify({ request_id: 'never-sent', reward: 1 }) })).status, 404);
    const status = (await gatewayStatus(store, 'gw'))!;
    assert.deepEqual(status.feedback, { accepted: before.accepted + n, unknown: before.unknown + 1, malformed: before.malformed });
    const weights = status.table.routes.map((r) => r.weight);
    assert.ok(weights[1]! > 80, `the bandit moved toward version 2: ${weights}`);
    for (const p of status.processes!)
      assert.deepEqual(
        p.table.routes.map((r) => r.weight),
        weights,
        `process ${p.pid}`,
      );
    // one writer: each accepted feedback once in the feedback log (written after the answers: waited for)
    const path = feedbackLogPath(store, 'gw');
    const ours = (): string[] =>
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter((l) => l.includes('"fb-'))
        : [];
    await settled(`${n} feedback lines`, () => ours().length >= n);
    const lines = ours();
    for (let i = 0; i < n; i++) assert.equal(lines.filter((l) => l.includes(`"fb-${i}"`)).length, 1, `fb-${i}`);
  });

  it('explain by request id from either process: the row a request sent is found whichever process proxied it, by the version that answered', async () => {
    // explain: on, with versions this store does not hold: a found request is answered 409 (its version cannot be
    // explained: no Python runs), one not found 404
    const explain = { artifactRoot: join(dir, '.mloop', 'artifacts'), projectRoot: dir, config: undefined, python: 'python3' };
    await setRoutes(store, 'gw', port, { strategy: 'ab', routes: [route(v1, 1, 50), route(v2, 2, 50)], workers: WORKERS, explain });
    const n = 40;
    const served = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const answer = await ask(port, '/predict', { body: JSON.stringify({ rows: [{ x: i }] }), headers: { 'x-request-id': `ex-${i}` } });
        assert.equal(answer.status, 200, answer.body);
        return [i, versionOf(answer)] as const;
      }),
    );
    // each /explain on a connection of its own: about half reach the process that did not proxy the request
    const explained = await Promise.all(
      served.map(async ([i, version]) => [version, await ask(port, '/explain', { body: JSON.stringify({ request_id: `ex-${i}` }) })] as const),
    );
    for (const [version, answer] of explained) {
      assert.equal(answer.status, 409, answer.body);
      const body = JSON.parse(answer.body) as { version: number; error: string; explained_request: string; row: unknown };
      assert.equal(body.version, version, 'the version that answered the request');
      assert.match(body.error, new RegExp(`^clf v${version} cannot be explained: clf v${version} is not in the registry`));
    }
    const unknown = await ask(port, '/explain', { body: JSON.stringify({ request_id: 'never-sent' }) });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no request never-sent is kept on this gateway/);
  });

  it('the serving log: one whole line per request from both processes, every request id once, read by the monitoring parser', async () => {
    await setRoutes(store, 'gw', port, { strategy: 'single', routes: [route(v1, 1, 100)], workers: WORKERS });
    const path = servingLogPath(store, 'gw');
    const ids = Array.from({ length: 300 }, (_, i) => `log-${i}`);
    await Promise.all(ids.map((id) => ask(port, '/predict', { headers: { 'x-request-id': id } })));
    const ours = (): string[] =>
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter((l) => l.includes('"log-'))
        : [];
    await settled('300 lines in the serving log', () => ours().length >= ids.length);
    const parsed = ours().map((line) => parseServingLine(line));
    assert.ok(
      parsed.every((p) => p !== undefined),
      'every line parses',
    );
    assert.deepEqual(parsed.map((p) => p!.request_id).sort(), [...ids].sort());
    assert.ok(parsed.every((p) => p!.version === 1 && p!.status === 200));
    // the whole file (every test's requests) is whole lines only
    assert.ok(
      readFileSync(path, 'utf8')
        .trimEnd()
        .split('\n')
        .every((l) => parseServingLine(l) !== undefined),
    );
  });

  it('a worker killed with kill -9 is replaced; a route change made while the new one starts reaches it before it is acknowledged', async () => {
    const status = (await gatewayStatus(store, 'gw'))!;
    const worker = status.processes!.find((p) => p.pid !== status.pid)!.pid;
    process.kill(worker, 'SIGKILL');
    // a route change while the new worker starts reaches it too: acknowledged once it proxies on it
    await settled('the killed worker gone', () => !isAlive(worker));
    await setRoutes(store, 'gw', port, { strategy: 'single', routes: [route(v2, 2, 100)], workers: WORKERS });
    await settled('a new worker in place of the killed one', async () => {
      const now = await gatewayStatus(store, 'gw');
      return now?.workers === WORKERS && !now.processes!.some((p) => p.pid === worker);
    });
    const now = (await gatewayStatus(store, 'gw'))!;
    for (const p of now.processes!) assert.deepEqual(p.table, now.table, `process ${p.pid}`);
    assert.deepEqual(
      now.table.routes.map((r) => r.upstream_port),
      [v2.port],
    );
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(port, '/predict')));
    assert.deepEqual(new Set(answers.map(versionOf)), new Set([2]));
    await setRoutes(store, 'gw', port, { strategy: 'single', routes: [route(v1, 1, 100)], workers: WORKERS });
  });

  it('kill -9 of the primary ends its workers; the next command restarts every process with the routes from the store', async () => {
    const status = (await gatewayStatus(store, 'gw'))!;
    const pids = status.processes!.map((p) => p.pid);
    assert.equal(pids.length, WORKERS);
    process.kill(status.pid, 'SIGKILL');
    await settled('every process of the killed gateway gone', () => pids.every((pid) => !isAlive(pid)));
    const { restarted } = await ensureGateway(store, 'gw', port, { workers: WORKERS });
    assert.equal(restarted, true);
    const again = (await gatewayStatus(store, 'gw'))!;
    assert.equal(again.workers, WORKERS);
    assert.deepEqual(
      again.processes!.map((p) => p.table.routes.map((r) => r.upstream_port)),
      Array(WORKERS).fill(new GatewayRepository(store).get('gw')!.routes.map((r) => r.upstreamPort)),
    );
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(port, '/predict')));
    assert.deepEqual(new Set(answers.map(versionOf)), new Set([1]));
  });

  it('another gateway_workers setting is a change without a gap: workers leave (finishing their requests) or join under keep-alive clients, 0 failed, the primary serves on', async () => {
    const before = (await gatewayStatus(store, 'gw'))!;
    assert.equal(before.workers, WORKERS);
    // every process listed with its role, requests in flight and since when it serves (the Rollout panel shows them)
    assert.deepEqual(before.processes!.map((p) => p.role).sort(), ['primary', 'worker']);
    assert.ok(before.processes!.every((p) => typeof p.inflight === 'number' && p.since! > 0 && p.since! <= Date.now()));
    const workerPid = before.processes!.find((p) => p.role === 'worker')!.pid;
    // 6 clients on keep-alive connections, each sending requests back to back (the versions answer in 150 ms, so
    // requests are in flight in both processes when one is asked to leave)
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    let running = true;
    const failed: string[] = [];
    let ok = 0;
    const clients = Array.from({ length: 6 }, async () => {
      while (running) {
        try {
          const answer = await ask(port, '/predict', { agent });
          if (answer.status === 200 && versionOf(answer) === 1) ok++;
          else failed.push(`${answer.status} ${answer.body}`);
        } catch (error) {
          failed.push((error as Error).message);
        }
      }
    });
    await settled('traffic flowing', () => ok >= 12);
    const down = await ensureGateway(store, 'gw', port, { workers: 1 });
    assert.equal(down.restarted, false, 'the gateway was not restarted');
    await settled('the worker left once its requests were answered', () => !isAlive(workerPid));
    const one = (await gatewayStatus(store, 'gw'))!;
    assert.equal(one.pid, before.pid, 'the same primary serves');
    assert.deepEqual([one.workers, one.workers_requested, one.processes!.length], [1, 1, 1]);
    const atOne = ok;
    await settled('traffic flowing on one process', () => ok >= atOne + 12);
    const up = await ensureGateway(store, 'gw', port, { workers: WORKERS });
    assert.equal(up.restarted, false);
    const two = (await gatewayStatus(store, 'gw'))!;
    assert.deepEqual([two.pid, two.workers, two.workers_requested], [before.pid, WORKERS, WORKERS]);
    const joined = two.processes!.find((p) => p.role === 'worker')!;
    assert.notEqual(joined.pid, workerPid);
    const atTwo = ok;
    await settled('traffic flowing after the worker joined', () => ok >= atTwo + 12);
    running = false;
    await Promise.all(clients);
    agent.destroy();
    assert.deepEqual(failed, [], `${failed.length} of ${ok + failed.length} requests failed`);
    // the joined worker takes connections: fresh ones spread over both processes
    const answered = new Set<number>();
    const before2 = new Map((await gatewayStatus(store, 'gw'))!.processes!.map((p) => [p.pid, p.requests]));
    await Promise.all(Array.from({ length: 40 }, () => ask(port, '/predict')));
    for (const p of (await gatewayStatus(store, 'gw'))!.processes!) if (p.requests > (before2.get(p.pid) ?? 0)) answered.add(p.pid);
    assert.equal(answered.size, WORKERS, 'both processes answered fresh connections');
  });
});
