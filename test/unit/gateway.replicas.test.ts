import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { checkTargetHealth, deployVersion, restartTarget, rollbackDeployment, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { freePort, isAlive, sleep } from '../../src/core/deploy/process';
import { gatewayStatus, servingLogPath } from '../../src/core/gateway/control';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentReplicaRepository, DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { type LoadTally, predictionLoad } from '../harness/predictionLoad';
import { PYTHON } from '../support/python';
import { tempDir } from './fixtures';

// Replicas and rolling updates behind the gateway with the example's real serve.py and real scikit-learn models
// trained on the Seattle weather data; a real HTTP client counts every answer while replicas are replaced.

const REPO = resolve(__dirname, '../../..');
const WEATHER = join(REPO, 'node_modules/vega-datasets/data/seattle-weather.csv');

const TRAIN = `
import pickle, sys
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
frame = pd.read_csv(sys.argv[1], parse_dates=["date"])
frame["month"] = frame["date"].dt.month
X, y = frame[["precipitation", "temp_max", "temp_min", "wind", "month"]], frame["weather"]
for path, depth in zip(sys.argv[2:], [2, 6]):
    with open(path, "wb") as f:
        pickle.dump(DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y), f)
`;

interface Tally extends LoadTally {
  versions: Map<string, number>;
  replicas: Map<string, number>;
}

/** `clients` loops POSTing a weather row to the gateway until stopped; every answer is counted. */
function load(port: number, clients: number): { stop(): Promise<Tally> } {
  const versions = new Map<string, number>();
  const replicas = new Map<string, number>();
  const body = JSON.stringify({ rows: [{ date: '2015-07-01', precipitation: 0, temp_max: 27, temp_min: 14, wind: 3 }] });
  const traffic = predictionLoad({
    port,
    clients,
    body: () => body,
    onAnswer: ({ status, headers, text }) => {
      if (status !== 200) return undefined;
      const answer = JSON.parse(text) as { version: string; predictions: string[] };
      versions.set(answer.version, (versions.get(answer.version) ?? 0) + 1);
      const replica = `v${answer.version}#${String(headers['x-mloop-replica'])}`;
      replicas.set(replica, (replicas.get(replica) ?? 0) + 1);
      return answer.predictions.length !== 1 ? `bad answer ${text}` : undefined;
    },
  });
  return { stop: async () => ({ ...(await traffic.stop()), versions, replicas }) };
}

describe('gateway replicas: balancing, rolling updates under load, roll back of updated replicas, no orphans', function () {
  this.timeout(300_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  let port: number;
  const everyPid = (): number[] =>
    new DeploymentRepository(store).history('pool').flatMap((d) => new DeploymentReplicaRepository(store).ofDeployment(d.deploymentId).map((r) => r.pid));
  const detailsOf = (auditId: number): Record<string, unknown> =>
    JSON.parse(store.db.prepare('SELECT details_json FROM audit WHERE audit_id = ?').pluck().get(auditId) as string) as Record<string, unknown>;
  const livePids = (version: number): number[] => {
    const current = new DeploymentRepository(store).current('pool')!;
    assert.equal(current.version, version);
    return new DeploymentReplicaRepository(store).live(current.deploymentId).map((r) => r.pid);
  };

  before(async function () {
    // training two trees takes a second on an idle machine; minutes under the load of a shared one
    this.timeout(300_000);
    ({ dir, cleanup } = tempDir('mloop-replicas-'));
    copyFileSync(join(REPO, 'examples/weather/serve.py'), join(dir, 'serve.py'));
    copyFileSync(WEATHER, join(dir, 'weather.csv'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    const runs = new RunRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
    const made: { runId: string; path: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const artifacts = join(artifactRoot, String(experimentId), run.runId, 'artifacts');
      mkdirSync(artifacts, { recursive: true });
      made.push({ runId: run.runId, path: join(artifacts, 'model.pkl') });
    }
    execFileSync(PYTHON, ['-c', TRAIN, WEATHER, made[0]!.path, made[1]!.path], { stdio: 'pipe' });
    // v3: an artifact serve.py cannot load, so its service never becomes healthy
    writeFileSync(made[2]!.path, 'not a pickle');
    for (const { runId, path } of made) {
      new ModelRepository(store).registerVersion({
        name: 'weather-clf',
        sourceRunId: runId,
        artifactPath: `runs:/${runId}/model.pkl`,
        artifactDigest: `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`,
        actor: 'test',
      });
    }
    port = await freePort();
    const text = [
      'version: 1',
      'datasets:',
      '  weather: { path: weather.csv }',
      'targets:',
      '  pool:',
      `    command: [${PYTHON}, serve.py, --model, "\${model.path}", --port, "\${port}", --log-dir, logs]`,
      `    port: ${port}`,
      '    gateway: true',
      '    replicas: 3',
      '    strategy: rolling',
      '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 120, interval_ms: 100 }',
      '    smoke: { dataset: weather, rows: 3 }',
      '  plain:',
      `    command: [${PYTHON}, serve.py, --model, "\${model.path}", --port, "\${port}", --log-dir, logs]`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'mloop.yaml'), text);
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.ok(config, JSON.stringify(problems));
    ctx = { store, artifactRoot, actor: 'tester', projectRoot: dir, config, trusted: true };
  });

  after(async () => {
    await stopTarget(ctx, { target: 'pool' }).catch(() => undefined);
    store.close();
    cleanup();
  });

  it('starts 3 replicas of v1; the gateway shares requests across them and the serving log names the replica that answered', async () => {
    const first = await deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'pool' });
    assert.equal(first.status, 'healthy', first.reason);
    const replicas = new DeploymentReplicaRepository(store).live(first.deployment.deploymentId);
    assert.deepEqual(
      replicas.map((r) => [r.slot, r.status]),
      [
        [0, 'serving'],
        [1, 'serving'],
        [2, 'serving'],
      ],
    );
    assert.equal(new Set(replicas.map((r) => r.pid)).size, 3);
    assert.ok(replicas.every((r) => isAlive(r.pid) && r.port !== port));
    // one client, one request at a time: nothing is outstanding, so the replicas take turns
    const clients = load(port, 1);
    await sleep(1500);
    const tally = await clients.stop();
    assert.deepEqual(tally.failed, []);
    const shares = [0, 1, 2].map((slot) => tally.replicas.get(`v1#${slot}`) ?? 0);
    assert.ok(
      shares.every((n) => Math.abs(n - tally.ok / 3) <= 1),
      `each replica answers a third of ${tally.ok}: ${shares}`,
    );
    await sleep(200);
    const lines = readFileSync(servingLogPath(store, 'pool'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { replica?: number; upstream_port: number; status: number });
    const portOf = new Map(replicas.map((r) => [r.slot, r.port]));
    assert.ok(lines.length >= tally.ok);
    for (const line of lines) assert.equal(line.upstream_port, portOf.get(line.replica!), 'the logged replica answered on its port');
  });

  it('a rolling update v1 → v2 under 20 concurrent clients: one replica at a time, 0 failed requests, every answer from v1 or v2', async () => {
    const oldPids = livePids(1);
    const clients = load(port, 20);
    await sleep(300);
    const progress: string[] = [];
    const rolled = await deployVersion(ctx, { modelName: 'weather-clf', version: 2, target: 'pool', onProgress: (m) => progress.push(m) });
    await sleep(300);
    const tally = await clients.stop();
    assert.equal(rolled.status, 'healthy', rolled.reason);
    assert.equal(rolled.deployment.strategy, 'rolling');
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.deepEqual([...tally.versions.keys()].sort(), ['1', '2'], 'both versions answered during the update');
    assert.ok(tally.ok > 50, `enough traffic crossed the update (${tally.ok})`);
    // one replica at a time: two, one, then no v1 replicas in the rotation
    const splits = rolled.checks.filter((c) => /^step \d\/3: gateway routes$/.test(c.step)).map((c) => c.detail);
    assert.deepEqual(splits, ['v1 66.7 (2 replicas), v2 33.3', 'v1 33.3, v2 66.7 (2 replicas)', 'v2 100 (3 replicas)']);
    assert.ok(progress.some((m) => m.includes('rolling step 2/3: 2/3 replicas on v2, 1 on v1')));
    assert.ok(
      oldPids.every((pid) => !isAlive(pid)),
      'every v1 replica stopped',
    );
    const now = livePids(2);
    assert.equal(now.length, 3);
    assert.ok(now.every(isAlive));
    assert.deepEqual(
      new GatewayRepository(store).get('pool')!.routes.map((r) => [r.version, r.replica]),
      [
        [2, 0],
        [2, 1],
        [2, 2],
      ],
    );
  });

  it('a gateway killed with kill -9 comes back from the store with all 3 replicas', async () => {
    const record = new GatewayRepository(store).get('pool')!;
    process.kill(record.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(record.pid!); i++) await sleep(20);
    const { result } = await checkTargetHealth(ctx, 'pool');
    assert.match(result.detail, /3\/3 replicas healthy.*restarted/);
    const status = await gatewayStatus(store, 'pool');
    assert.deepEqual(
      status?.table.routes.map((r) => [r.version, r.replica]),
      [
        [2, 0],
        [2, 1],
        [2, 2],
      ],
    );
  });

  it('a replica that died leaves the rotation under load (0 failed requests); the health check unroutes it; Restart replaces all, no orphan', async () => {
    const before = new DeploymentReplicaRepository(store).live(new DeploymentRepository(store).current('pool')!.deploymentId);
    // the replica dies between requests; the next ones sent to it are refused, retried on another replica, and it
    // leaves the rotation (EJECT_MS) until the health check takes its route away
    process.kill(before[1]!.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(before[1]!.pid); i++) await sleep(20);
    const clients = load(port, 10);
    await sleep(600);
    const { result } = await checkTargetHealth(ctx, 'pool');
    assert.equal(result.ok, false);
    assert.match(result.detail, /^2\/3 replicas healthy: replica 1 \(pid \d+\) is not running/);
    assert.deepEqual(
      new GatewayRepository(store).get('pool')!.routes.map((r) => r.replica),
      [0, 2],
    );
    await sleep(300);
    const tally = await clients.stop();
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.ok((tally.replicas.get('v2#0') ?? 0) > 0 && (tally.replicas.get('v2#2') ?? 0) > 0);
    const restarted = await restartTarget(ctx, { target: 'pool', reason: 'replica 1 died' });
    assert.equal(restarted.status, 'healthy', restarted.reason);
    assert.ok(
      before.every((r) => !isAlive(r.pid)),
      'the old replicas stopped',
    );
    assert.equal(livePids(2).filter(isAlive).length, 3);
  });

  it('a rolling update whose new version fails its health check rolls back with 0 failed requests; audited with the step, in the history', async () => {
    const serving = livePids(2);
    const clients = load(port, 10);
    await sleep(300);
    const failed = await deployVersion(ctx, { modelName: 'weather-clf', version: 3, target: 'pool' });
    await sleep(300);
    const tally = await clients.stop();
    assert.equal(failed.status, 'rolled_back');
    assert.match(failed.reason!, /^start replica 0: health check failed: the service exited/);
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.deepEqual([...tally.versions.keys()], ['2']);
    assert.deepEqual(livePids(2), serving);
    assert.ok(serving.every(isAlive));
    const audit = new AuditRepository(store).list({ limit: 20 }).find((a) => a.action === 'deploy.auto_rollback')!;
    assert.equal(detailsOf(audit.auditId).failingStep, 'start replica 0: health');
    assert.equal(new DeploymentRepository(store).history('pool')[0]!.status, 'rolled_back');
  });

  it('an updated replica dying mid-update rolls the updated replicas back to the old version: 0 failed requests', async () => {
    const clients = load(port, 10);
    await sleep(300);
    let killed: number | undefined;
    const outcome = await deployVersion(ctx, {
      modelName: 'weather-clf',
      version: 1,
      target: 'pool',
      onProgress: (message) => {
        if (killed === undefined && message.startsWith('rolling step 1/3: 1/3 replicas on v1')) {
          const rolling = new DeploymentRepository(store).history('pool')[0]!;
          killed = new DeploymentReplicaRepository(store).live(rolling.deploymentId)[0]!.pid;
          process.kill(killed, 'SIGKILL');
        }
      },
    });
    await sleep(300);
    const tally = await clients.stop();
    assert.ok(killed, 'the first updated replica was killed');
    assert.equal(outcome.status, 'rolled_back', outcome.reason);
    assert.match(outcome.reason!, /^step 2\/3: replica 0 of v1\b.*weather-clf v2 serves again on 3 replicas \(1 restarted\)\.$/s);
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.ok([...tally.versions.keys()].every((v) => v === '1' || v === '2'));
    const back = livePids(2);
    assert.equal(back.length, 3);
    assert.ok(back.every(isAlive));
    assert.deepEqual(
      new GatewayRepository(store).get('pool')!.routes.map((r) => [r.version, r.replica]),
      [
        [2, 0],
        [2, 1],
        [2, 2],
      ],
    );
    const audit = new AuditRepository(store).list({ limit: 30 }).find((a) => a.action === 'deploy.auto_rollback')!;
    assert.deepEqual(detailsOf(audit.auditId).restoredReplicas, [0]);
    assert.equal(detailsOf(audit.auditId).failingStep, 'step 2/3: replicas');
  });

  it('cancelling a rolling update (Cancel in the editor) rolls the updated replica back: 0 failed requests', async () => {
    const clients = load(port, 10);
    await sleep(300);
    const cancel = new AbortController();
    const outcome = await deployVersion(ctx, {
      modelName: 'weather-clf',
      version: 1,
      target: 'pool',
      signal: cancel.signal,
      onProgress: (message) => {
        if (message.startsWith('rolling step 1/3: 1/3 replicas on v1')) cancel.abort();
      },
    });
    await sleep(300);
    const tally = await clients.stop();
    assert.equal(outcome.status, 'rolled_back', outcome.reason);
    assert.equal(outcome.reason, 'cancelled by the user. weather-clf v2 serves again on 3 replicas (1 restarted).');
    assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
    assert.equal(livePids(2).filter(isAlive).length, 3);
  });

  it('refuses --strategy rolling on a target without the gateway, before starting anything', async () => {
    await assert.rejects(
      deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'plain', strategy: 'rolling' }),
      /targets\.plain: the rolling strategy replaces replicas behind the gateway: it needs gateway: true/,
    );
    assert.equal(new DeploymentRepository(store).history('plain').length, 0);
  });

  it('Roll Back and Stop end every replica: no process of the target is left', async () => {
    const back = await rollbackDeployment(ctx, { target: 'pool', reason: 'test' });
    assert.equal(back.status, 'healthy', back.reason);
    assert.equal(livePids(back.deployment.version).filter(isAlive).length, 3);
    await stopTarget(ctx, { target: 'pool' });
    const pids = everyPid();
    assert.ok(pids.length >= 12);
    for (let i = 0; i < 40 && pids.some(isAlive); i++) await sleep(50);
    assert.deepEqual(pids.filter(isAlive), [], 'no orphan replica');
    assert.equal(new DeploymentReplicaRepository(store).liveOfTarget('pool').length, 0);
  });
});
