import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { deployVersion, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { freePort, isAlive, sleep } from '../../src/core/deploy/process';
import { abTargetReportLive, startAbTest, stopAbTest } from '../../src/core/gateway/abRollout';
import { gatewayStatus, servingLogPath } from '../../src/core/gateway/control';
import { rolloutView } from '../../src/core/gateway/rolloutView';
import { rolloutViewSchema } from '../../src/protocol/rolloutMessages';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentReplicaRepository, DeploymentRepository } from '../../src/core/store/deployments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { openStore, type Store } from '../../src/core/store/store';
import { predictionLoad } from '../harness/predictionLoad';
import { deployProject, gatewayTargetLines, registerServiceModels } from './deployFixtures';
import { tempDir } from './fixtures';

// A/B tests and canaries on a target with replicas: 2, with real service.py processes behind the real gateway and a
// real HTTP client counting every answer by version and replica.

interface Answer {
  status: number;
  version: number;
  replica: string | undefined;
  requestId: string | undefined;
}

function post(agent: Agent, port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            version: Number(res.headers['x-mloop-version']),
            replica: res.headers['x-mloop-replica'] as string | undefined,
            requestId: res.headers['x-request-id'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

const ROW = JSON.stringify({ rows: [{ x: 1 }] });

/** `clients` loops sending predictions until stopped; every answer kept. */
function load(port: number, clients: number) {
  const answers: Answer[] = [];
  const traffic = predictionLoad({
    port,
    clients,
    body: () => ROW,
    onAnswer: ({ status, headers }) => {
      if (status === 200)
        answers.push({
          status,
          version: Number(headers['x-mloop-version']),
          replica: headers['x-mloop-replica'] as string | undefined,
          requestId: headers['x-request-id'] as string | undefined,
        });
    },
  });
  return { answers, failed: traffic.failed, stop: traffic.stop };
}

/** Where a key falls in [0, 1), computed here from its SHA-256 (the first 48 bits), apart from the gateway's code. */
const position = (key: string): number => Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 12), 16) / 2 ** 48;

describe('rollouts on a target with replicas: 2 (real service.py replicas behind the real gateway)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  let port: number;
  const livePids = (): number[] => {
    const current = new DeploymentRepository(store).current('gw')!;
    return new DeploymentReplicaRepository(store).live(current.deploymentId).map((r) => r.pid);
  };

  before(async function () {
    this.timeout(120_000);
    ({ dir, cleanup } = tempDir('mloop-rollout-replicas-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    registerServiceModels(store, artifactRoot, 'clf', [
      { version: 1 },
      { version: 2 },
      // healthy at its start; its replica 1 answers /health 500 from 0.3 s after its first healthy answer
      { version: 3, fail_health_replica: 1, fail_health_after_seconds: 0.3 },
    ]);
    port = await freePort();
    const text = [
      'version: 1',
      'targets:',
      ...gatewayTargetLines('gw', port, [
        '    replicas: 2',
        '    strategy: canary',
        '    steps: [50, 100]',
        '    bake_seconds: 1.5',
        '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 20, interval_ms: 100 }',
      ]),
      '',
    ].join('\n');
    ctx = deployProject(dir, store, artifactRoot, text);
    const first = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'gw' });
    assert.equal(first.status, 'healthy', first.reason);
    assert.equal(livePids().length, 2);
  });

  after(async () => {
    await stopTarget(ctx, { target: 'gw' }).catch(() => undefined);
    store.close();
    cleanup();
  });

  it("an A/B test runs 2 challenger replicas beside the champion's 2: the split holds per arm, each arm's replicas share its requests, sticky keys keep their arm; Stop ends every challenger replica", async () => {
    const championPids = livePids();
    const report = await startAbTest(ctx, { target: 'gw', modelName: 'clf', version: 2, split: 30, reason: 'v2 on two replicas' });
    assert.deepEqual(
      report.arms.map((a) => [a.version, Math.round(a.split)]),
      [
        [1, 70],
        [2, 30],
      ],
    );
    const record = new GatewayRepository(store).get('gw')!;
    assert.equal(record.strategy, 'ab');
    assert.deepEqual(
      record.routes.map((r) => [r.version, r.replica, r.weight, Boolean(r.pid)]),
      [
        [1, 0, 35, false],
        [1, 1, 35, false],
        [2, 0, 15, true],
        [2, 1, 15, true],
      ],
    );
    const challengerPids = record.routes.filter((r) => r.pid).map((r) => r.pid!);
    assert.ok(challengerPids.every(isAlive));
    const audit = new AuditRepository(store).list({ limit: 5 }).find((a) => a.action === 'ab.start')!;
    assert.equal(
      (
        JSON.parse(store.db.prepare('SELECT details_json FROM audit WHERE audit_id = ?').pluck().get(audit.auditId) as string) as {
          replicas: { challenger: unknown[] };
        }
      ).replicas.challenger.length,
      2,
    );

    // unkeyed requests from 4 clients: the arms by the split, each arm's requests over its two replicas
    const traffic = load(port, 4);
    for (const deadline = Date.now() + 60_000; traffic.answers.length < 1200 && Date.now() < deadline; ) await sleep(50);
    await traffic.stop();
    assert.deepEqual(traffic.failed, []);
    const n = traffic.answers.length;
    const v2 = traffic.answers.filter((a) => a.version === 2).length;
    const sd = Math.sqrt(n * 0.3 * 0.7);
    assert.ok(Math.abs(v2 - 0.3 * n) < 4 * sd, `v2 answered ${v2} of ${n}: the binomial says ${0.3 * n} ± ${4 * sd}`);
    for (const version of [1, 2]) {
      const arm = traffic.answers.filter((a) => a.version === version);
      const first = arm.filter((a) => a.replica === '0').length;
      assert.equal(arm.filter((a) => a.replica === '1').length, arm.length - first, `every answer of v${version} names its replica`);
      assert.ok(first > 0.3 * arm.length && first < 0.7 * arm.length, `v${version}'s replicas share its ${arm.length} requests: replica 0 answered ${first}`);
    }

    // the Rollout panel: one part of the split per arm, one row per replica with its port, health, load and requests
    await sleep(300); // the serving log is written in batches
    const view = rolloutViewSchema.parse(await rolloutView(ctx, 'gw'));
    assert.deepEqual(
      view.split.map((p) => [p.version, Math.round(p.percent), p.replicas]),
      [
        [1, 70, 2],
        [2, 30, 2],
      ],
    );
    const logged = new Map<number, number>();
    for (const line of readFileSync(servingLogPath(store, 'gw'), 'utf8').trim().split('\n')) {
      const { upstream_port: p, ts } = JSON.parse(line) as { upstream_port?: number; ts: number };
      if (p !== undefined && ts >= view.window.from) logged.set(p, (logged.get(p) ?? 0) + 1);
    }
    assert.deepEqual(
      view.replicas.map((r) => [r.arm, r.version, r.replica, r.port, r.health, r.inflight, r.requests]),
      record.routes.map((r) => [r.pid ? 'challenger' : 'champion', r.version, r.replica, r.upstreamPort, 'up', 0, logged.get(r.upstreamPort) ?? 0]),
    );
    assert.ok(view.replicas.every((r) => r.requests > 0));
    // and the gateway's own processes: the primary (the pid in the store) and any workers, each running, idle now,
    // their requests adding up to at least the answers the clients counted
    const gatewayPid = new GatewayRepository(store).get('gw')!.pid!;
    assert.equal(view.gatewayProcesses.filter((p) => p.role === 'primary').map((p) => p.pid)[0], gatewayPid);
    assert.equal(view.gatewayProcesses.length, Number(process.env.MLOOP_TEST_GATEWAY_WORKERS ?? 1));
    assert.ok(view.gatewayProcesses.every((p) => isAlive(p.pid) && p.inflight === 0 && !p.leaving && p.since !== null && p.since <= Date.now()));
    const counted = view.gatewayProcesses.reduce((sum, p) => sum + p.requests, 0);
    assert.ok(counted >= n, `the gateway processes took ${counted} requests, the clients saw ${n} answers`);

    // keyed requests: each key's arm is where its hash falls in the 70/30 split, whichever replica answers
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const feedback = new Map<number, number>();
    for (let k = 0; k < 60; k++) {
      const key = `user-${k}`;
      const expected = position(key) < 0.7 ? 1 : 2;
      for (let i = 0; i < 3; i++) {
        const answer = await post(agent, port, '/predict', ROW, { 'x-mloop-key': key });
        assert.equal(answer.version, expected, `${key} (position ${position(key)}) stays in its arm`);
        if (i === 0) {
          const r = await post(agent, port, '/feedback', JSON.stringify({ request_id: answer.requestId, reward: expected === 2 ? 1 : 0 }));
          assert.equal(r.status, 200);
          feedback.set(expected, (feedback.get(expected) ?? 0) + 1);
        }
      }
    }
    agent.destroy();
    await sleep(300); // the feedback log is written in batches
    const live = await abTargetReportLive(store, 'gw');
    assert.equal(live.control.n, feedback.get(1), 'the champion arm counts the outcomes of both its replicas');
    assert.equal(live.treatment.n, feedback.get(2), 'the challenger arm counts the outcomes of both its replicas');
    assert.equal(live.treatment.mean, 1);
    assert.equal(live.control.mean, 0);

    await stopAbTest(ctx, { target: 'gw', reason: 'done' });
    for (let i = 0; i < 100 && challengerPids.some(isAlive); i++) await sleep(20);
    assert.deepEqual(challengerPids.filter(isAlive), [], 'both challenger replicas stopped');
    assert.deepEqual(livePids(), championPids, "the champion's replicas kept serving");
    assert.deepEqual(
      new GatewayRepository(store).get('gw')!.routes.map((r) => [r.version, r.replica, r.weight]),
      [
        [1, 0, 50],
        [1, 1, 50],
      ],
    );
  });

  it('an A/A test on replicas keeps two arms of one version: the gateway splits by arm, not by version', async () => {
    await startAbTest(ctx, { target: 'gw', modelName: 'clf', split: 50, aa: true });
    try {
      const status = await gatewayStatus(store, 'gw');
      assert.deepEqual(status!.table.routes.map((r) => `v${r.version} arm ${r.arm}`).sort(), ['v1 arm 0', 'v1 arm 0', 'v1 arm 1', 'v1 arm 1']);
      const challengerPorts = new Set(
        new GatewayRepository(store)
          .get('gw')!
          .routes.filter((r) => r.pid)
          .map((r) => r.upstreamPort),
      );
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      let challengerAnswers = 0;
      const n = 400;
      for (let i = 0; i < n; i++) {
        const answer = await post(agent, port, '/predict', ROW);
        assert.equal(answer.version, 1);
      }
      agent.destroy();
      await sleep(300);
      const lines = readFileSync(servingLogPath(store, 'gw'), 'utf8').trim().split('\n').slice(-n);
      for (const line of lines) if (challengerPorts.has((JSON.parse(line) as { upstream_port: number }).upstream_port)) challengerAnswers++;
      const sd = Math.sqrt(n * 0.25);
      assert.ok(Math.abs(challengerAnswers - n / 2) < 4 * sd, `the second arm answered ${challengerAnswers} of ${n} (50% ± ${4 * sd})`);
    } finally {
      await stopAbTest(ctx, { target: 'gw' });
    }
  });

  it("a canary whose second replica fails its health check during the bake is rolled back: v1's replicas take all the traffic, both canary replicas stop, 0 failed requests", async () => {
    const stable = livePids();
    const traffic = load(port, 4);
    await sleep(200);
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 3, target: 'gw' });
    await sleep(200);
    await traffic.stop();
    assert.equal(outcome.status, 'rolled_back', `the bad replica 1 was noticed: ${outcome.reason}`);
    assert.match(outcome.reason!, /^traffic 50%: health check failed replica 1: /);
    const bake = outcome.checks.find((c) => c.step === 'traffic 50%: bake' && !c.ok)!;
    assert.match(bake.detail, /^replica 1: /);
    assert.deepEqual(traffic.failed, [], 'no request failed across the canary and its rollback');
    assert.ok(
      traffic.answers.some((a) => a.version === 3),
      'the canary took its share before it was rolled back',
    );
    const canary = new DeploymentReplicaRepository(store).ofDeployment(outcome.deployment.deploymentId);
    assert.deepEqual(
      canary.map((r) => [r.slot, r.status]),
      [
        [0, 'stopped'],
        [1, 'failed'],
      ],
    );
    for (let i = 0; i < 100 && canary.some((r) => isAlive(r.pid)); i++) await sleep(20);
    assert.ok(!canary.some((r) => isAlive(r.pid)), 'no canary replica is left running');
    assert.deepEqual(livePids(), stable);
    assert.deepEqual(
      new GatewayRepository(store).get('gw')!.routes.map((r) => [r.version, r.weight]),
      [
        [1, 50],
        [1, 50],
      ],
    );
  });
});
