import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { httpExchange } from '../../src/core/deploy/health';
import { isAlive, stopService } from '../../src/core/deploy/process';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const CLI = resolve(__dirname, '../../../dist/cli.js');
const SERVICE = resolve(__dirname, '../../../test/deploy/service.py');
const ENV = { ...process.env, MLOOP_STORE: '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

function mloop(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function mloopAsync(cwd: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('cli: mloop deploy, health, rollback, undeploy', function () {
  this.timeout(90_000);
  let dir: string;
  let cleanup: () => void;
  const storePath = (): string => join(dir, '.mloop', 'mloop.db');

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-cli-deploy-'));
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'targets:',
        '  svc:',
        `    command: [python3, ${JSON.stringify(SERVICE)}, serve, --model, "\${model.path}", --port, "\${port}"]`,
        '    health: { url: "${url}/health", timeout_seconds: 8, interval_ms: 100 }',
        '',
      ].join('\n'),
    );
    const store = openStore({ path: storePath() });
    const runs = new RunRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('cli').experimentId;
    for (const model of [{ version: 1 }, { version: 2, never_healthy: true }]) {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const folder = join(dir, '.mloop', 'artifacts', String(experimentId), run.runId, 'artifacts');
      mkdirSync(folder, { recursive: true });
      const text = JSON.stringify(model);
      writeFileSync(join(folder, 'model.json'), text);
      new ModelRepository(store).registerVersion({
        name: 'clf',
        sourceRunId: run.runId,
        artifactPath: `runs:/${run.runId}/model.json`,
        artifactDigest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
        actor: 'test',
      });
    }
    store.close();
  });

  after(async () => {
    const store = openStore({ path: storePath(), readonly: true });
    const pids = new DeploymentRepository(store).list().map((d) => d.health?.process?.pid);
    store.close();
    for (const pid of pids) if (pid !== undefined) await stopService(pid, 1000);
    cleanup();
  });

  it('deploys; the service outlives the CLI; a version that never gets healthy exits 1 and the first keeps serving', async () => {
    const first = mloop(dir, 'deploy', 'clf/1', '--target', 'svc');
    assert.equal(first.code, 0, first.stderr);
    const url = /clf v1 serves on svc at (http:\/\/127\.0\.0\.1:\d+)/.exec(first.stdout)?.[1];
    assert.ok(url, first.stdout);
    assert.match(first.stderr, /✓ start: health: GET http:\/\/127\.0\.0\.1:\d+\/health → 200/);
    assert.equal((await httpExchange(`${url}/version`)).body, '{"version": 1}', 'the service still answers after mloop exited');

    const bad = mloop(dir, 'deploy', 'clf/v2', '-t', 'svc', '--json');
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /mloop: rolled back: start: health check failed: not healthy within 8 s: GET .*\/health → 500 \(expected 200\)\. clf v1 kept serving\.\n$/,
    );
    assert.equal((JSON.parse(bad.stdout) as { status: string }).status, 'rolled_back');
    assert.equal((await httpExchange(`${url}/version`)).status, 200);

    const health = mloop(dir, 'health', 'svc');
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /✓ svc: clf v1 · GET http:\/\/127\.0\.0\.1:\d+\/health → 200/);
  });

  it('names what is wrong: an unknown target, an unknown alias, a malformed reference, a busy target', async () => {
    const unknownTarget = mloop(dir, 'deploy', 'clf/1', '-t', 'prod');
    assert.equal(unknownTarget.code, 1);
    assert.match(unknownTarget.stderr, /mloop: no target "prod" in mloop.yaml \(targets: svc\)/);
    const alias = mloop(dir, 'deploy', 'clf@staging', '-t', 'svc');
    assert.equal(alias.code, 1);
    assert.match(alias.stderr, /clf has no alias "staging"/);
    const malformed = mloop(dir, 'deploy', 'clf@@x', '-t', 'svc');
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /is not a model reference/);
    const strategy = mloop(dir, 'deploy', 'clf/1', '-t', 'svc', '--strategy', 'yolo');
    assert.equal(strategy.code, 1);
    assert.match(strategy.stderr, /unknown strategy "yolo"/);

    const [a, b] = await Promise.all([mloopAsync(dir, 'deploy', 'clf/1', '-t', 'svc'), mloopAsync(dir, 'deploy', 'clf/1', '-t', 'svc')]);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 1], `${a.stderr}\n${b.stderr}`);
    assert.match((a.code === 1 ? a : b).stderr, /target "svc" is being deployed by another mloop \(pid \d+/);
  });

  it('mloop shadow: refused with the reason when the target cannot shadow or runs no shadow', () => {
    const noRoute = mloop(dir, 'deploy', 'clf/1', '-t', 'svc', '--strategy', 'shadow');
    assert.equal(noRoute.code, 1);
    assert.match(noRoute.stderr, /targets\.svc: the shadow strategy needs a route command/);
    const none = mloop(dir, 'shadow', 'svc');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no shadow runs on target "svc"/);
    const both = mloop(dir, 'shadow', 'svc', '--promote', '--stop');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--promote and --stop exclude each other/);
  });

  it('rollback puts the earlier version back; undeploy stops the service', async () => {
    const rollback = mloop(dir, 'rollback', 'svc', '--reason', 'cli test');
    assert.equal(rollback.code, 0, rollback.stderr);
    const store = openStore({ path: storePath(), readonly: true });
    const current = new DeploymentRepository(store).current('svc');
    store.close();
    const pid = current?.health?.process?.pid;
    assert.ok(pid !== undefined && isAlive(pid));
    const undeploy = mloop(dir, 'undeploy', 'svc');
    assert.equal(undeploy.code, 0, undeploy.stderr);
    assert.match(undeploy.stdout, /stopped clf v1 on svc/);
    assert.equal(isAlive(pid), false);
    const list = JSON.parse(mloop(dir, 'deployments', 'list', '--json').stdout) as { status: string }[];
    assert.ok(list.every((d) => d.status !== 'healthy'));
  });

  it('undeploy --all stops what serves on every target (services outlive the editor); --dry-run only lists; a target and --all exclude each other', async () => {
    // a second target, so "all" means more than one
    const config = join(dir, 'mloop.yaml');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        'targets:\n  svc:',
        `targets:\n  other:\n    command: [python3, ${JSON.stringify(SERVICE)}, serve, --model, "\${model.path}", --port, "\${port}"]\n    health: { url: "\${url}/health", timeout_seconds: 8, interval_ms: 100 }\n  svc:`,
      ),
    );
    for (const target of ['svc', 'other']) assert.equal(mloop(dir, 'deploy', 'clf/1', '-t', target).code, 0, `deploy on ${target}`);
    const store = openStore({ path: storePath(), readonly: true });
    const pids = ['svc', 'other'].map((t) => new DeploymentRepository(store).current(t)?.health?.process?.pid);
    store.close();
    assert.ok(pids.every((pid) => pid !== undefined && isAlive(pid)));

    const dry = mloop(dir, 'undeploy', '--all', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /clf v1 on svc \(pid \d+, http:\/\/127\.0\.0\.1:\d+\)/);
    assert.match(dry.stdout, /clf v1 on other \(pid \d+/);
    assert.ok(
      pids.every((pid) => isAlive(pid!)),
      'a dry run stops nothing',
    );

    const all = mloop(dir, 'undeploy', '--all', '--reason', 'demo stopped');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /stopped clf v1 on svc/);
    assert.match(all.stdout, /stopped clf v1 on other/);
    assert.ok(
      pids.every((pid) => !isAlive(pid!)),
      'every service process is gone',
    );
    assert.match(mloop(dir, 'undeploy', '--all').stdout, /nothing serves on any target/);

    for (const args of [['undeploy'], ['undeploy', 'svc', '--all']]) {
      const bad = mloop(dir, ...args);
      assert.equal(bad.code, 1, args.join(' '));
      assert.match(bad.stderr, /name a target, or stop every target with --all \(not both\)/);
    }
  });
});
