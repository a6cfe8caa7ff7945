import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { checkTargetHealth, deployVersion, rollbackDeployment, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { DeployError } from '../../src/core/deploy/errors';
import { httpExchange } from '../../src/core/deploy/health';
import { freePort, isAlive } from '../../src/core/deploy/process';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { registerServiceModels, SERVICE, serveCommand } from './deployFixtures';
import { tempDir } from './fixtures';

function configFor(targets: string): DeployContext['config'] {
  const text = `version: 1\ndatasets:\n  rows: { path: rows.csv }\ntargets:\n${targets}`;
  const { config, problems } = loadConfig(text, 'mloop.yaml');
  assert.ok(config, JSON.stringify(problems));
  return config;
}

const routeCommand = `[python3, ${JSON.stringify(SERVICE)}, route, "\${candidate.url}", "\${traffic}"]`;

async function versionAt(url: string): Promise<number> {
  const r = await httpExchange(`${url}/predict`, { method: 'POST', body: JSON.stringify({ rows: [{ a: 1 }] }) });
  assert.equal(r.status, 200);
  return (JSON.parse(r.body) as { version: number }).version;
}

describe('deploy: strategies, health checks and rollback with a real service', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  const pids = new Set<number>();

  const remember = (pid: number | undefined): void => void (pid !== undefined && pids.add(pid));
  const servingOf = (target: string): { pid: number; url: string | null; port: number | null } => {
    const current = new DeploymentRepository(store).current(target);
    assert.ok(current?.health?.process, `something serves on ${target}`);
    remember(current.health.process.pid);
    return current.health.process;
  };

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-deploy-'));
    writeFileSync(join(dir, 'rows.csv'), 'a,b\n1,x\n2,y\n3,z\n');
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    registerServiceModels(store, artifactRoot, 'clf', [
      { version: 1 },
      { version: 2, fail_health_at_traffic: 50 },
      { version: 3 },
      { version: 4, exit_at_start: true },
      { version: 5, never_healthy: true },
    ]);
    const config = configFor(
      [
        '  canary:',
        `    command: ${serveCommand}`,
        `    route: ${routeCommand}`,
        '    strategy: canary',
        '    steps: [10, 50, 100]',
        '    bake_seconds: 0.6',
        '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 10, interval_ms: 100 }',
        '    smoke: { dataset: rows, rows: 3 }',
        '  quick:',
        `    command: ${serveCommand}`,
        '    health: { url: "${url}/health", timeout_seconds: 6, interval_ms: 100 }',
        '',
      ].join('\n'),
    );
    ctx = { store, artifactRoot, actor: 'tester', projectRoot: dir, config, trusted: true };
  });

  after(async () => {
    for (const target of ['canary', 'quick', 'fixed']) await stopTarget(ctx, { target }).catch(() => undefined);
    for (const pid of pids) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    store.close();
    cleanup();
  });

  it('deploys a first version: health, smoke test, then it answers; the audit records it', async () => {
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'canary' });
    const serving = servingOf('canary');
    assert.equal(outcome.status, 'healthy', outcome.reason);
    assert.equal(outcome.deployment.trafficPercent, 100);
    assert.ok(
      outcome.checks.some((c) => c.step.includes('smoke test') && c.ok && /3 predictions/.test(c.detail)),
      JSON.stringify(outcome.checks),
    );
    assert.equal(await versionAt(serving.url!), 1);
    const entry = new AuditRepository(store).list().find((a) => a.action === 'deploy');
    assert.equal(entry?.toValue, 'clf v1');
  });

  it('a canary whose health answers 500 at the 50 % step is rolled back; the previous version still answers', async () => {
    const before = servingOf('canary');
    const progress: string[] = [];
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'canary', onProgress: (m) => progress.push(m) });
    assert.equal(outcome.status, 'rolled_back');
    assert.match(outcome.reason!, /traffic 50%: health check failed: GET http:\/\/127\.0\.0\.1:\d+\/health → 500/);
    assert.ok(
      progress.some((m) => /✓ traffic 10%: bake/.test(m)),
      progress.join('\n'),
    );
    // the canary passed the 10 % step and failed at 50 %
    const steps = outcome.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.step}`);
    assert.deepEqual(
      steps.filter((s) => s.includes('bake') || s.includes('route')),
      ['✓ traffic 10%: route', '✓ traffic 10%: bake', '✓ traffic 50%: route', '✗ traffic 50%: bake', '✓ traffic 0%: route'],
    );
    const after = servingOf('canary');
    assert.equal(after.pid, before.pid, 'the stable process was never touched');
    assert.equal(await versionAt(after.url!), 1);
    const canaryPid = outcome.deployment.health?.process?.pid;
    assert.ok(canaryPid !== undefined && !isAlive(canaryPid), 'the canary process was stopped');
    const rows = new DeploymentRepository(store).history('canary');
    assert.deepEqual(
      rows.map((d) => [d.version, d.status, d.trafficPercent]),
      [
        [2, 'rolled_back', 0],
        [1, 'healthy', 100],
      ],
    );
    const entry = new AuditRepository(store).list().find((a) => a.action === 'deploy.auto_rollback');
    assert.ok(entry, 'the rollback is audited');
    assert.equal(entry.fromValue, 'clf v2');
    assert.equal(entry.toValue, 'clf v1');
    assert.match(entry.reason!, /50%.*500.*clf v1 kept serving/);
  });

  it('a good canary goes through every step and replaces the old version, which is stopped', async () => {
    const old = servingOf('canary');
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 3, target: 'canary' });
    assert.equal(outcome.status, 'healthy', outcome.reason);
    const now = servingOf('canary');
    assert.notEqual(now.pid, old.pid);
    assert.equal(isAlive(old.pid), false);
    assert.equal(await versionAt(now.url!), 3);
    const health = await httpExchange(`${now.url}/health`);
    assert.equal((JSON.parse(health.body) as { traffic: number }).traffic, 100, 'the route command gave it all the traffic');
    assert.deepEqual(
      new DeploymentRepository(store).history('canary').map((d) => [d.version, d.status]),
      [
        [3, 'healthy'],
        [2, 'rolled_back'],
        [1, 'superseded'],
      ],
    );
  });

  it('a manual rollback brings back the version served before, audited with the reason', async () => {
    const outcome = await rollbackDeployment(ctx, { target: 'canary', reason: 'customers complain' });
    assert.equal(outcome.status, 'healthy', outcome.reason);
    assert.equal(await versionAt(servingOf('canary').url!), 1);
    assert.deepEqual(
      new DeploymentRepository(store)
        .history('canary')
        .slice(0, 2)
        .map((d) => [d.version, d.status]),
      [
        [1, 'healthy'],
        [3, 'rolled_back'],
      ],
    );
    const entry = new AuditRepository(store).list().find((a) => a.action === 'deploy.rollback');
    assert.deepEqual([entry?.fromValue, entry?.toValue, entry?.reason], ['clf v3', 'clf v1', 'customers complain']);
    const check = await checkTargetHealth(ctx, 'canary');
    assert.equal(check.result.ok, true, check.result.detail);
  });

  it('a service that exits at start, and one that never becomes healthy, fail fast and leave the previous one serving', async () => {
    await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'quick' });
    const stable = servingOf('quick');
    const started = Date.now();
    const crashed = await deployVersion(ctx, { modelName: 'clf', version: 4, target: 'quick' });
    assert.equal(crashed.status, 'rolled_back');
    assert.match(crashed.reason!, /the service exited .*model refuses to load/s);
    assert.ok(Date.now() - started < 6000, 'a crash is reported when the process exits, not after the 6 s health timeout');
    const unhealthy = await deployVersion(ctx, { modelName: 'clf', version: 5, target: 'quick' });
    assert.equal(unhealthy.status, 'rolled_back');
    assert.match(unhealthy.reason!, /not healthy within 6 s: GET .*\/health → 500/);
    assert.equal(servingOf('quick').pid, stable.pid);
    assert.equal(await versionAt(stable.url!), 1);
  });

  it('refuses an unknown target, a missing artifact and a second deployment to a busy target, with audit rows', async () => {
    await assert.rejects(
      deployVersion(ctx, { modelName: 'clf', version: 1, target: 'prod' }),
      (e: Error) => e instanceof DeployError && /no target "prod" in mloop.yaml \(targets: canary, quick\)/.test(e.message),
    );
    const models = new ModelRepository(store);
    const v3 = models.version(models.byName('clf')!.modelId, 3)!;
    const path = join(
      dir,
      '.mloop',
      'artifacts',
      v3.artifactPath!.replace(/^runs:\/(\w+)\//, (_m, run: string) => `${new RunRepository(store).get(run)!.experimentId}/${run}/artifacts/`),
    );
    rmSync(path);
    await assert.rejects(deployVersion(ctx, { modelName: 'clf', version: 3, target: 'quick' }), /clf v3: its artifact runs:\/\w+\/model.json is missing/);
    await assert.rejects(deployVersion(ctx, { modelName: 'clf', alias: 'champion', target: 'quick' }), /clf has no alias "champion"/);

    const first = deployVersion(ctx, { modelName: 'clf', version: 1, target: 'canary' });
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(
      deployVersion(ctx, { modelName: 'clf', version: 1, target: 'canary' }),
      /target "canary" is being deployed by another mloop \(pid \d+/,
    );
    assert.equal((await first).status, 'healthy');
    const refused = new AuditRepository(store)
      .list()
      .filter((a) => a.action === 'deploy.refused')
      .map((a) => a.reason);
    assert.equal(refused.length, 4, refused.join('\n'));
  });

  it('cancelling mid-canary rolls back: the canary stops and the stable version keeps answering', async () => {
    const stable = servingOf('canary');
    const controller = new AbortController();
    // v1 again (v3's artifact was removed above): a canary beside the stable v1
    const outcome = await deployVersion(ctx, {
      modelName: 'clf',
      version: 1,
      target: 'canary',
      signal: controller.signal,
      onProgress: (m) => {
        if (/traffic 10%: route/.test(m)) controller.abort();
      },
    });
    assert.equal(outcome.status, 'rolled_back');
    assert.match(outcome.reason!, /cancelled by the user/);
    assert.equal(servingOf('canary').pid, stable.pid);
    assert.equal(await versionAt(stable.url!), 1);
    assert.equal(isAlive(outcome.deployment.health!.process!.pid), false);
  });

  it('a fixed port: the old version is stopped for the new one and restarted on the same port when the new one fails', async () => {
    const port = await freePort();
    ctx = {
      ...ctx,
      config: configFor(
        [
          '  fixed:',
          `    command: ${serveCommand}`,
          `    port: ${port}`,
          '    health: { url: "${url}/health", timeout_seconds: 6, interval_ms: 100 }',
          '',
        ].join('\n'),
      ),
    };
    assert.equal((await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'fixed' })).status, 'healthy');
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 5, target: 'fixed' });
    assert.equal(outcome.status, 'rolled_back');
    assert.match(outcome.reason!, /clf v1 serves again at http:\/\/127\.0\.0\.1:\d+/);
    const serving = servingOf('fixed');
    assert.equal(serving.port, port);
    assert.equal(await versionAt(`http://127.0.0.1:${port}`), 1);
  });
});

describe('deploy: a target whose command deploys elsewhere and exits (serve: false)', function () {
  this.timeout(60_000);

  it('runs the command at each step, and re-runs it for the previous version when a step fails or hangs', async () => {
    const { dir, cleanup } = tempDir('mloop-deploy-cmd-');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const artifactRoot = join(dir, '.mloop', 'artifacts');
      registerServiceModels(store, artifactRoot, 'clf', [{ version: 1 }, { version: 2 }, { version: 3 }]);
      // the "platform": a file that says which version takes which traffic; v2 is refused, v3 hangs
      const script = join(dir, 'platform.py');
      writeFileSync(
        script,
        'import sys, json, time\nv, t = int(sys.argv[1]), int(sys.argv[2])\nif v == 2 and t >= 50: sys.exit("quota exceeded")\nif v == 3: time.sleep(30)\nopen("platform.json", "w").write(json.dumps({"version": v, "traffic": t}))\n',
      );
      const config = configFor(
        [
          '  remote:',
          `    command: [python3, platform.py, "\${model.version}", "\${traffic}"]`,
          '    serve: false',
          '    strategy: canary',
          '    steps: [25, 50, 100]',
          '    bake_seconds: 0',
          '    timeout_seconds: 3',
          '',
        ].join('\n'),
      );
      const ctx: DeployContext = { store, artifactRoot, actor: 'tester', projectRoot: dir, config, trusted: true };
      const read = async (): Promise<unknown> => JSON.parse((await import('node:fs')).readFileSync(join(dir, 'platform.json'), 'utf8'));
      const first = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'remote' });
      assert.equal(first.status, 'healthy', first.reason);
      assert.deepEqual(await read(), { version: 1, traffic: 100 });
      const refused = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'remote' });
      assert.equal(refused.status, 'rolled_back');
      assert.match(refused.reason!, /traffic 50%: the deploy command exited with 1.*clf v1 was deployed again/);
      assert.ok(refused.checks.some((c) => /quota exceeded/.test(c.detail)));
      assert.deepEqual(await read(), { version: 1, traffic: 100 });
      const hung = await deployVersion(ctx, { modelName: 'clf', version: 3, target: 'remote' });
      assert.equal(hung.status, 'rolled_back');
      assert.match(hung.reason!, /did not finish within 3 s/);
      assert.deepEqual(await read(), { version: 1, traffic: 100 });
    } finally {
      store.close();
      cleanup();
    }
  });
});
