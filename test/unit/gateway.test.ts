import { ApprovalRequiredError } from '../../src/core/governance/approvals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkTargetHealth, deployVersion, rollbackDeployment, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import type { DeployError } from '../../src/core/deploy/errors';
import { httpExchange } from '../../src/core/deploy/health';
import { freePort, isAlive } from '../../src/core/deploy/process';
import { abTargetReport, startAbTest, stopAbTest, type AbTargetReport } from '../../src/core/gateway/abRollout';
import { gatewayDir, gatewayStatus, servingLogPath, feedbackLogPath } from '../../src/core/gateway/control';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ModelRepository } from '../../src/core/store/models';
import { openStore, type Store } from '../../src/core/store/store';
import { deployProject, gatewayTargetLines, registerServiceModels, serveCommand } from './deployFixtures';
import { type LoadTally, predictionLoad } from '../harness/predictionLoad';
import { tempDir } from './fixtures';

const CLI = resolve(__dirname, '../../../dist/cli.js');

interface Tally extends LoadTally {
  versions: Map<number, number>;
  mismatched: number;
  requestIds: Set<string>;
}

/** `clients` loops sending POST /predict through the gateway until stopped; every answer is counted. */
function load(port: number, clients: number): { stop(): Promise<Tally> } {
  const versions = new Map<number, number>();
  const requestIds = new Set<string>();
  let mismatched = 0;
  const body = JSON.stringify({ rows: [{ a: 1 }] });
  const traffic = predictionLoad({
    port,
    clients,
    body: () => body,
    onAnswer: ({ status, headers, text }) => {
      if (status !== 200) return;
      const version = (JSON.parse(text) as { version: number }).version;
      versions.set(version, (versions.get(version) ?? 0) + 1);
      if (String(version) !== headers['x-mloop-version']) mismatched++;
      requestIds.add(String(headers['x-request-id']));
    },
  });
  return { stop: async () => ({ ...(await traffic.stop()), versions, mismatched, requestIds }) };
}

describe('gateway: zero-downtime switches, restart from the store, feedback, gate at deploy', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  let port: number;

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-gateway-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    registerServiceModels(store, artifactRoot, 'clf', [{ version: 1 }, { version: 2 }]);
    registerServiceModels(store, artifactRoot, 'gated', [{ version: 1, gate: true }, { version: 2, gate: false }, { version: 3 }]);
    port = await freePort();
    const text = [
      'version: 1',
      'models:',
      '  gated: { gate: ["accuracy >= 0.8"] }',
      'targets:',
      ...gatewayTargetLines('gw', port, [
        '    strategy: blue_green',
        '    steps: [50, 100]',
        '    bake_seconds: 0.3',
        '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 10, interval_ms: 50 }',
      ]),
      '  prod:',
      `    command: ${serveCommand}`,
      '    protected: true',
      '  gates:',
      `    command: ${serveCommand}`,
      '',
    ].join('\n');
    ctx = deployProject(dir, store, artifactRoot, text);
  });

  after(async () => {
    for (const target of ['gw', 'prod', 'gates']) await stopTarget(ctx, { target }).catch(() => undefined);
    store.close();
    cleanup();
  });

  it('switches blue/green and rolls back under 50 concurrent clients: 0 failed requests, each answer from v1 or v2', async () => {
    const first = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'gw' });
    assert.equal(first.status, 'healthy', first.reason);
    const v1 = first.deployment.health!.process!;
    assert.notEqual(v1.port, port, 'the version answers on a private port');
    const clients = load(port, 50);
    await new Promise((r) => setTimeout(r, 150));
    const switched = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'gw' });
    assert.equal(switched.status, 'healthy', switched.reason);
    assert.equal(isAlive(v1.pid), false, 'v1 stopped once the switch drained');
    await new Promise((r) => setTimeout(r, 150));
    const back = await rollbackDeployment(ctx, { target: 'gw', reason: 'test rollback' });
    assert.equal(back.status, 'healthy', back.reason);
    await new Promise((r) => setTimeout(r, 150));
    // a canary: 50 % of the requests to v2 while it bakes, then all, then back to v1 again
    const canary = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'gw', strategy: 'canary' });
    assert.equal(canary.status, 'healthy', canary.reason);
    assert.ok(canary.checks.some((c) => c.step === 'traffic 50%: gateway routes' && c.detail === 'v1 50, v2 50'));
    assert.equal((await rollbackDeployment(ctx, { target: 'gw' })).status, 'healthy');
    const tally = await clients.stop();
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.deepEqual([...tally.versions.keys()].sort(), [1, 2], 'both versions answered during the test');
    assert.equal(tally.mismatched, 0, 'the body and x-mloop-version name the same version');
    assert.ok(tally.ok > 100, `enough traffic crossed the switches (${tally.ok})`);
    assert.equal(tally.requestIds.size, tally.ok, 'every request has its own id');
    // the serving log has one line per request, with the documented fields
    const readLog = (): Record<string, unknown>[] =>
      readFileSync(servingLogPath(store, 'gw'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    let lines = readLog();
    // the gateway appends asynchronously: give it a moment to write the last lines
    for (let i = 0; i < 40 && lines.length < tally.ok; i++) {
      await new Promise((r) => setTimeout(r, 50));
      lines = readLog();
    }
    assert.equal(lines.length, tally.ok, 'one serving-log line per request');
    assert.deepEqual(Object.keys(lines.at(-1)!).sort(), ['latency_ms', 'replica', 'request_id', 'status', 'ts', 'upstream_port', 'version']);
    const logged = new Map(lines.map((l) => [l.request_id, l]));
    for (const id of [...tally.requestIds].slice(0, 200)) assert.equal(logged.get(id)?.status, 200);
    // the routing changes are in the store and the audit
    const routes = new GatewayRepository(store).get('gw')!.routes;
    assert.deepEqual(
      routes.map((r) => [r.version, r.weight]),
      [[1, 100]],
    );
    assert.ok(new AuditRepository(store).list({ limit: 50 }).some((a) => a.action === 'gateway.route' && a.toValue === 'v2 100'));
  });

  it('a gateway killed with SIGKILL is restarted by the next command with its routes from the store', async () => {
    const record = new GatewayRepository(store).get('gw')!;
    assert.ok(record.pid && isAlive(record.pid));
    process.kill(record.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(record.pid); i++) await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(httpExchange(`http://127.0.0.1:${port}/version`));
    const { result } = await checkTargetHealth(ctx, 'gw');
    assert.match(result.detail, /restarted/);
    const after = new GatewayRepository(store).get('gw')!;
    assert.notEqual(after.pid, record.pid);
    const status = await gatewayStatus(store, 'gw');
    assert.deepEqual(
      status?.table.routes.map((r) => [r.version, r.weight]),
      [[1, 100]],
    );
    const r = await httpExchange(`http://127.0.0.1:${port}/version`);
    assert.equal(JSON.parse(r.body).version, 1);
  });

  it('the control API needs the token, which only the user can read', async () => {
    const tokenPath = join(gatewayDir(store, 'gw'), 'token');
    assert.equal(statSync(tokenPath).mode & 0o777, 0o600);
    assert.equal((await httpExchange(`http://127.0.0.1:${port}/_mloop/status`)).status, 401);
    const wrong = await httpExchange(`http://127.0.0.1:${port}/_mloop/routes`, {
      method: 'PUT',
      body: '{"strategy":"single","routes":[]}',
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(wrong.status, 401);
    const token = readFileSync(tokenPath, 'utf8');
    assert.ok(!readFileSync(join(gatewayDir(store, 'gw'), 'gateway.log'), 'utf8').includes(token), 'the token is never logged');
  });

  it('feedback: a known request is joined to its version; unknown ids are 404 and counted; malformed is 400 naming the field', async () => {
    const answer = await httpExchange(`http://127.0.0.1:${port}/predict`, {
      method: 'POST',
      body: '{"rows":[{"a":1}]}',
      headers: { 'x-request-id': 'req-42' },
    });
    assert.equal(answer.status, 200);
    const ok = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: 'req-42', reward: 1 }) });
    assert.equal(ok.status, 200, ok.body);
    const unknown = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: 'nobody', reward: 1 }) });
    assert.equal(unknown.status, 404);
    const bad = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: 'req-42', reward: 'yes' }) });
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).field, 'reward');
    const missing = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ reward: 1 }) });
    assert.equal(JSON.parse(missing.body).field, 'request_id');
    const status = await gatewayStatus(store, 'gw');
    assert.deepEqual(status?.feedback, { accepted: 1, unknown: 1, malformed: 2 });
    const lines = readFileSync(feedbackLogPath(store, 'gw'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map(({ ts: _ts, upstream_port: arm, ...rest }) => ({
        ...rest,
        ...(arm === undefined ? {} : { arm: arm === new GatewayRepository(store).get('gw')!.routes[0]!.upstreamPort }),
      })),
      [
        { request_id: 'req-42', model_name: 'clf', version: 1, reward: 1, arm: true },
        { request_id: 'nobody', unknown: true },
      ],
    );
  });

  it('A/B test: the challenger gets its split, keys stay sticky, feedback feeds the report (mloop ab), a deploy is refused meanwhile, stop restores', async () => {
    await startAbTest(ctx, { target: 'gw', modelName: 'clf', version: 2, split: 50, reason: 'try v2' });
    await assert.rejects(deployVersion(ctx, { modelName: 'clf', version: 2, target: 'gw' }), /an A\/B test runs on target "gw": stop it first/);
    await assert.rejects(startAbTest(ctx, { target: 'gw', modelName: 'clf', version: 2, split: 50 }), /already runs/);
    const sent = new Map<number, number>();
    const armOfKey = new Map<string, number>();
    const logged = (): number => readFileSync(servingLogPath(store, 'gw'), 'utf8').trim().split('\n').length;
    const loggedBefore = logged();
    for (let i = 0; i < 120; i++) {
      const key = `user-${i % 40}`;
      const r = await httpExchange(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: '{"rows":[{"a":1}]}', headers: { 'x-mloop-key': key } });
      assert.equal(r.status, 200);
      const version = (JSON.parse(r.body) as { version: number }).version;
      assert.equal(armOfKey.get(key) ?? version, version, `${key} keeps its arm`);
      armOfKey.set(key, version);
      sent.set(version, (sent.get(version) ?? 0) + 1);
    }
    assert.ok((sent.get(1) ?? 0) > 20 && (sent.get(2) ?? 0) > 20, `both arms get traffic: ${[...sent]}`);
    // the serving log is written in batches (LOG_FLUSH_MS after an answer at the latest): wait for the 120 lines
    for (let i = 0; i < 200 && logged() < loggedBefore + 120; i++) await new Promise((r) => setTimeout(r, 25));
    // rewards: every v2 answer is a success, v1 one in five
    const lines = readFileSync(servingLogPath(store, 'gw'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string; version: number });
    const recent = lines.slice(-120);
    assert.ok(recent.every((l) => l.version === 1 || l.version === 2));
    let fed = 0;
    for (const [i, line] of recent.entries()) {
      const reward = line.version === 2 ? 1 : i % 5 === 0 ? 1 : 0;
      const r = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: line.request_id, reward }) });
      assert.equal(r.status, 200, r.body);
      fed++;
    }
    // the gateway writes its feedback log in batches after answering: wait for the lines to land (at most 5 s)
    let report = abTargetReport(store, 'gw', { minSamplePerArm: 20 });
    for (let i = 0; i < 100 && report.control.n + report.treatment.n < fed; i++) {
      await new Promise((r) => setTimeout(r, 50));
      report = abTargetReport(store, 'gw', { minSamplePerArm: 20 });
    }
    assert.equal(report.control.n + report.treatment.n, fed);
    assert.deepEqual(
      report.arms.map((a) => [a.role, a.version, a.split]),
      [
        ['champion', 1, 50],
        ['challenger', 2, 50],
      ],
    );
    assert.equal(report.treatment.mean, 1);
    assert.equal(report.binary, true);
    const cli = spawnSync(process.execPath, [CLI, 'ab', 'gw', '--json'], { cwd: dir, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
    assert.equal(cli.status, 0, cli.stderr);
    const printed = JSON.parse(cli.stdout) as AbTargetReport;
    assert.equal(printed.treatment.n, report.treatment.n);
    assert.equal(printed.guardrails.find((g) => g.version === 2)!.errorRate, 0);
    const bad = spawnSync(process.execPath, [CLI, 'ab', 'gw', '--start', 'clf/2', '--split', '150'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, MLOOP_STORE: '' },
    });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--split is below 100/);
    // the challenger crashes: its requests go to the champion, none fails
    const challengerPid = new GatewayRepository(store).get('gw')!.routes.find((r) => r.version === 2)!.pid!;
    process.kill(-challengerPid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(challengerPid); i++) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 20; i++) {
      const r = await httpExchange(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: '{"rows":[{"a":1}]}', headers: { 'x-mloop-key': `user-${i}` } });
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { version: number }).version, 1);
    }
    await stopAbTest(ctx, { target: 'gw', reason: 'enough' });
    assert.equal(isAlive(challengerPid), false, 'the challenger stopped');
    assert.deepEqual(
      new GatewayRepository(store).get('gw')!.routes.map((r) => [r.version, r.weight]),
      [[1, 100]],
    );
    assert.equal(JSON.parse((await httpExchange(`http://127.0.0.1:${port}/version`)).body).version, 1);
  });

  it('A/A test (mloop ab --aa): the serving version in both arms, told apart by upstream port in the logs; the report says A/A; no winner to promote', async () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, 'ab', 'gw', ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
    const started = cli('--aa', '--split', '50');
    assert.equal(started.status, 0, started.stderr);
    assert.match(started.stdout, /A\/A test on gw .*clf v1 in both arms/);
    const routes = new GatewayRepository(store).get('gw')!.routes;
    assert.deepEqual(
      routes.map((r) => r.version),
      [1, 1],
    );
    const challengerPort = routes.find((r) => r.pid)!.upstreamPort;
    // the gateway writes its logs in batches after each turn of its event loop: a line lands just after its answer
    const lines = (path: string): number => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).length : 0);
    const settled = async (what: string, done: () => boolean): Promise<void> => {
      for (const started = Date.now(); !done(); await new Promise((r) => setTimeout(r, 20)))
        if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    };
    const servedBefore = lines(servingLogPath(store, 'gw'));
    for (let i = 0; i < 60; i++) {
      const r = await httpExchange(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: '{"rows":[{"a":1}]}', headers: { 'x-mloop-key': `aa-${i}` } });
      assert.equal(r.status, 200);
    }
    await settled('the 60 answers in the serving log', () => lines(servingLogPath(store, 'gw')) >= servedBefore + 60);
    const recent = readFileSync(servingLogPath(store, 'gw'), 'utf8')
      .trim()
      .split('\n')
      .slice(-60)
      .map((l) => JSON.parse(l) as { request_id: string; version: number; upstream_port: number });
    const perPort = new Map<number, number>();
    for (const line of recent) {
      perPort.set(line.upstream_port, (perPort.get(line.upstream_port) ?? 0) + 1);
      const r = await httpExchange(`http://127.0.0.1:${port}/feedback`, {
        method: 'POST',
        body: JSON.stringify({ request_id: line.request_id, reward: line.upstream_port === challengerPort ? 1 : 0 }),
      });
      assert.equal(r.status, 200, r.body);
    }
    assert.ok((perPort.get(challengerPort) ?? 0) > 5 && perPort.size === 2, `both arms of v1 answered: ${[...perPort]}`);
    await settled('the 60 outcomes in the feedback log', () => {
      const r = abTargetReport(store, 'gw');
      return r.treatment.n + r.control.n >= 60;
    });
    const report = abTargetReport(store, 'gw');
    assert.equal(report.aa, true);
    assert.equal(report.treatment.n, perPort.get(challengerPort));
    assert.equal(report.treatment.mean, 1, 'the rewards of the second process, told apart by its port');
    assert.equal(report.control.mean, 0);
    const promote = cli('--promote', '--override', 'no');
    assert.notEqual(promote.status, 0);
    assert.match(promote.stderr, /A\/A test .* no winner to promote/);
    await stopAbTest(ctx, { target: 'gw', reason: 'setup checked' });
    assert.deepEqual(
      new GatewayRepository(store).get('gw')!.routes.map((r) => [r.version, r.weight]),
      [[1, 100]],
    );
  });

  it('undeploy stops the versions and the gateway and frees the port', async () => {
    const pid = new GatewayRepository(store).get('gw')!.pid!;
    await stopTarget(ctx, { target: 'gw' });
    assert.equal(isAlive(pid), false);
    assert.equal(new GatewayRepository(store).get('gw'), undefined);
    await assert.rejects(httpExchange(`http://127.0.0.1:${port}/version`));
  });

  it('refuses a version whose gate failed or was never evaluated unless overridden; the override is audited with the deployment', async () => {
    await assert.rejects(deployVersion(ctx, { modelName: 'gated', version: 2, target: 'gates' }), (error: DeployError) => {
      assert.match(error.message, /gated v2 failed its release gate: accuracy >= 0\.8 \(accuracy 0\.5 >= 0\.8\)\. Deploy it anyway with --override <reason>/);
      return true;
    });
    await assert.rejects(deployVersion(ctx, { modelName: 'gated', version: 3, target: 'gates' }), /gated v3 has no release gate verdict/);
    assert.equal(new DeploymentRepository(store).history('gates').length, 0, 'nothing was started');
    const overridden = await deployVersion(ctx, { modelName: 'gated', version: 2, target: 'gates', override: 'hotfix approved by on-call' });
    assert.equal(overridden.status, 'healthy', overridden.reason);
    const audit = new AuditRepository(store).list({ limit: 20 });
    const row = audit.find((a) => a.action === 'deploy.override');
    assert.ok(row, 'the override is audited');
    assert.equal(row.reason, 'hotfix approved by on-call');
    const details = JSON.parse(store.db.prepare("SELECT details_json FROM audit WHERE action = 'deploy.override'").pluck().get() as string) as {
      deploymentId: number;
    };
    assert.equal(details.deploymentId, overridden.deployment.deploymentId);
    // a passing gate needs no override; a model without a declared gate deploys as before
    assert.equal((await deployVersion(ctx, { modelName: 'gated', version: 1, target: 'gates' })).status, 'healthy');
  });

  it('a protected target takes only the @champion version, override or not', async () => {
    const models = new ModelRepository(store);
    const model = models.byName('clf')!;
    await assert.rejects(
      deployVersion(ctx, { modelName: 'clf', version: 2, target: 'prod', override: 'please' }),
      /target "prod" is protected .*it takes only clf@champion \(no version holds it\), not clf v2/,
    );
    models.setAlias({ modelId: model.modelId, alias: 'champion', version: 2, actor: 'tester' });
    await assert.rejects(deployVersion(ctx, { modelName: 'clf', version: 1, target: 'prod' }), /clf@champion \(v2\), not clf v1/);
    // the champion passes the champion rule; a protected target then asks for an approval (governance, issue 21)
    await assert.rejects(deployVersion(ctx, { modelName: 'clf', alias: 'champion', target: 'prod' }), (e: unknown) => e instanceof ApprovalRequiredError);
  });
});
