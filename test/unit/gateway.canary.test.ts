import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { deployVersion, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { freePort } from '../../src/core/deploy/process';
import { startAbTest } from '../../src/core/gateway/abRollout';
import { httpExchange } from '../../src/core/deploy/health';
import { ModelRepository } from '../../src/core/store/models';
import { analyseCanary, readServingLog, type ServingLine } from '../../src/core/gateway/canaryAnalysis';
import { servingLogPath } from '../../src/core/gateway/control';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { openStore, type Store } from '../../src/core/store/store';
import { predictionLoad } from '../harness/predictionLoad';
import { pythonJsonSync } from '../support/python';
import { deployProject, gatewayTargetLines, registerServiceModels, SERVICE } from './deployFixtures';
import { CLI, tempDir } from './fixtures';

const normal = (random: () => number): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

/** numpy/scipy: p95 (np.percentile), PSI on the stable arm's deciles or on classes, KS and chi-square p-values. */
const PEER = `
import json, sys
import numpy as np
from scipy import stats
def psi(r, c):
    r = r / r.sum(); c = c / c.sum()
    r = np.where(r == 0, 1e-4, r); c = np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))
out = []
for case in json.load(sys.stdin):
    s, c = case["stable"], case["canary"]
    res = {"p95": [float(np.percentile(s["latency"], 95)), float(np.percentile(c["latency"], 95))]}
    if case["kind"] == "numbers":
        a, b = np.array(s["predictions"], float), np.array(c["predictions"], float)
        edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)))
        count = lambda x: np.histogram(np.clip(x, edges[0], edges[-1]), edges)[0].astype(float)
        res["psi"] = psi(count(a), count(b)); res["p"] = float(stats.ks_2samp(a, b).pvalue)
    else:
        cats = sorted(set(s["predictions"]) | set(c["predictions"]))
        table = np.array([[x.count(k) for k in cats] for x in (s["predictions"], c["predictions"])], float)
        res["psi"] = psi(table[0], table[1]); res["p"] = float(stats.chi2_contingency(table, correction=False)[1])
    out.append(res)
print(json.dumps(out))
`;

describe('canary analysis: canary vs stable on error rate, p95 latency and prediction drift', function () {
  this.timeout(60_000);

  it('computes p95, PSI and the test p-values as numpy/scipy do, and fails only the comparison past its threshold', () => {
    const random = seededRandom(18);
    const lines = (version: number, n: number, make: (i: number) => Partial<ServingLine>): ServingLine[] =>
      Array.from({ length: n }, (_, i) => ({ ts: 1000 + i, version, latency_ms: 1 + 4 * random(), status: 200, ...make(i) }));
    const classes = ['rain', 'sun', 'fog'];
    const cases = [
      {
        kind: 'numbers',
        stable: lines(1, 300, () => ({ predictions: [normal(random), normal(random)] })),
        canary: lines(2, 200, (i) => ({
          predictions: [normal(random) + 0.8, normal(random) + 0.8],
          status: i % 10 === 0 ? 500 : 200,
          latency_ms: 9 + random(),
        })),
      },
      {
        kind: 'classes',
        stable: lines(1, 250, () => ({ predictions: [classes[Math.floor(random() * 3)]!] })),
        canary: lines(2, 240, () => ({ predictions: [classes[Math.floor(random() ** 2 * 3)]!] })),
      },
    ];
    const peer = pythonJsonSync<{ p95: [number, number]; psi: number; p: number }[]>({
      args: ['-c', PEER],
      input: JSON.stringify(
        cases.map((c) => ({
          kind: c.kind,
          stable: { latency: c.stable.map((l) => l.latency_ms), predictions: c.stable.flatMap((l) => l.predictions) },
          canary: { latency: c.canary.map((l) => l.latency_ms), predictions: c.canary.flatMap((l) => l.predictions) },
        })),
      ),
    });
    const config = { max_error_rate_increase: 0.05, max_p95_ratio: 1.5, max_prediction_drift: 0.2, min_requests: 20 };
    cases.forEach((c, i) => {
      const result = analyseCanary([...c.stable, ...c.canary], { stableVersion: 1, canaryVersion: 2, step: 'traffic 50%', from: 0, to: 2000 }, config);
      const close = (a: number | null, b: number, what: string): void =>
        assert.ok(a !== null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${c.kind} ${what}: ${a} vs ${b}`);
      close(result.stable.p95Ms, peer[i]!.p95[0], 'stable p95');
      close(result.canary.p95Ms, peer[i]!.p95[1], 'canary p95');
      const drift = result.comparisons.find((x) => x.metric === 'prediction_drift')!;
      close(drift.value, peer[i]!.psi, 'PSI');
      const p = drift.pValue!;
      assert.ok(Math.abs(p - peer[i]!.p) <= 1e-6 * Math.max(peer[i]!.p, 1e-6), `${c.kind} p-value ${p} vs ${peer[i]!.p}`);
      assert.equal(drift.passed, peer[i]!.psi <= 0.2, `${c.kind} drift verdict follows the threshold`);
    });
    const numbers = analyseCanary(
      [...cases[0]!.stable, ...cases[0]!.canary],
      { stableVersion: 1, canaryVersion: 2, step: 'traffic 50%', from: 0, to: 2000 },
      config,
    );
    const verdicts = Object.fromEntries(numbers.comparisons.map((x) => [x.metric, x.passed]));
    assert.deepEqual(verdicts, { requests: true, error_rate: false, p95_latency: false, prediction_drift: false });
    assert.equal(numbers.comparisons.find((x) => x.metric === 'error_rate')!.value, 0.1, '20 of 200 canary answers were 5xx, none of the stable');
    assert.match(numbers.summary, /✗ error rate: canary 10\.0% vs stable 0\.0%/);
    const idle = analyseCanary(cases[0]!.stable, { stableVersion: 1, canaryVersion: 2, step: 's', from: 0, to: 1 }, config);
    assert.equal(idle.passed, false, 'a canary that received no request has not proven anything');
    assert.match(idle.summary, /requests: canary 0, stable 300 \(at least 20 each\)/);
  });

  describe('real service.py versions behind the real gateway, under load', () => {
    let dir: string;
    let cleanup: () => void;
    let store: Store;
    let ctx: DeployContext;
    let port: number;
    let traffic: ReturnType<typeof sendTraffic>;

    before(async () => {
      ({ dir, cleanup } = tempDir('mloop-canary-'));
      store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
      const artifactRoot = join(dir, '.mloop', 'artifacts');
      registerServiceModels(store, artifactRoot, 'clf', [
        { version: 1, shift: 0 },
        { version: 2, shift: 0 },
        { version: 3, shift: 0, error_every: 4 },
        { version: 4, shift: 1.5 },
      ]);
      port = await freePort();
      const text = [
        'version: 1',
        'targets:',
        ...gatewayTargetLines('gw', port, [
          '    strategy: canary',
          '    steps: [50, 100]',
          '    bake_seconds: 1.5',
          '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 10, interval_ms: 100 }',
          '    analysis: { max_error_rate_increase: 0.05, max_p95_ratio: 20, max_prediction_drift: 0.25, min_requests: 20 }',
        ]),
        '',
      ].join('\n');
      ctx = deployProject(dir, store, artifactRoot, text);
      const first = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'gw' });
      assert.equal(first.status, 'healthy', first.reason);
      traffic = sendTraffic(port, 6);
    });

    after(async () => {
      await traffic?.stop();
      await stopTarget(ctx, { target: 'gw' }).catch(() => undefined);
      store.close();
      cleanup();
    });

    const routes = (): [number, number][] => new GatewayRepository(store).get('gw')!.routes.map((r) => [r.version, r.weight]);

    /** Every answer from now on for a moment: the versions that gave them. */
    async function answeringVersions(): Promise<Map<number, number>> {
      traffic.reset();
      await new Promise((r) => setTimeout(r, 400));
      return new Map(traffic.versions);
    }

    it('a healthy canary passes the analysis of its step and takes all the traffic', async () => {
      const outcome = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'gw' });
      assert.equal(outcome.status, 'healthy', outcome.reason);
      const [analysis] = outcome.deployment.health!.analysis!;
      assert.equal(analysis!.passed, true, analysis!.summary);
      assert.ok(analysis!.canary.requests >= 20 && analysis!.stable.requests >= 20, analysis!.summary);
      assert.ok(analysis!.canary.predictions >= 10 * analysis!.canary.requests * 0.9, 'the gateway read the predictions of the canary step');
      assert.deepEqual(routes(), [[2, 100]]);
      assert.deepEqual([...(await answeringVersions()).keys()], [2]);
    });

    it('a canary that fails a quarter of its requests is rolled back automatically: all traffic back to stable, the comparison audited', async () => {
      const outcome = await deployVersion(ctx, { modelName: 'clf', version: 3, target: 'gw' });
      assert.equal(outcome.status, 'rolled_back', outcome.reason);
      assert.match(outcome.reason!, /canary analysis failed: .*✗ error rate: canary 2\d\.\d% vs stable 0\.0%/);
      assert.deepEqual(routes(), [[2, 100]]);
      const versions = await answeringVersions();
      assert.deepEqual([...versions.keys()], [2], 'only the stable version answers after the rollback');
      assert.equal(traffic.errors(), 0, 'no 5xx once the canary is out');
      const row = new DeploymentRepository(store).get(outcome.deployment.deploymentId)!;
      assert.equal(row.status, 'rolled_back');
      const failing = row.health!.analysis![0]!.comparisons.find((c) => !c.passed)!;
      assert.equal(failing.metric, 'error_rate');
      assert.ok(failing.value! > 0.15 && failing.value! < 0.35, `about 1 in 4 failed: ${failing.value}`);
      const audit = store.db.prepare("SELECT reason, details_json FROM audit WHERE action = 'deploy.auto_rollback' ORDER BY audit_id DESC LIMIT 1").get() as {
        reason: string;
        details_json: string;
      };
      assert.match(audit.reason, /error rate/);
      const audited = (JSON.parse(audit.details_json) as { analysis: { comparisons: { metric: string; passed: boolean }[] }[] }).analysis[0]!;
      assert.deepEqual(
        audited.comparisons.filter((c) => !c.passed).map((c) => c.metric),
        ['error_rate'],
      );
    });

    it('mloop deploy of a canary with shifted predictions exits non-zero, prints the drift comparison, and stable serves', async () => {
      const r = await runCli(dir, 'deploy', 'clf/4', '--target', 'gw');
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /rolled back: traffic 50%: canary analysis failed: .*✗ prediction drift: PSI [\d.]+ over 10 bins/);
      assert.doesNotMatch(r.stderr, /✗ error rate/);
      assert.deepEqual(routes(), [[2, 100]]);
      assert.deepEqual([...(await answeringVersions()).keys()], [2]);
      const lines = readServingLog(servingLogPath(store, 'gw'));
      assert.ok(
        lines.some((l) => l.version === 4 && l.predictions?.length === 10),
        'the serving log kept the canary predictions',
      );
    });

    it('Promote Winner: refused while the A/B test says continue; once it says ship, mloop ab --promote makes the winner champion and deploys it', async () => {
      await startAbTest(ctx, { target: 'gw', modelName: 'clf', version: 1, split: 50, reason: 'is v1 better after all?' });
      const early = await runCli(dir, 'ab', 'gw', '--promote');
      assert.notEqual(early.code, 0);
      assert.match(
        early.stderr,
        /the A\/B test on "gw" says continue \(.*\), not ship: clf v1 is not the winner yet\. Promote it anyway with --override <reason>/,
      );
      assert.equal(new GatewayRepository(store).get('gw')!.strategy, 'ab', 'the test goes on');
      // outcomes: every answer of v1 a success, one in five of v2's
      await new Promise((r) => setTimeout(r, 600));
      const served = readServingLog(servingLogPath(store, 'gw'));
      const perArm = new Map<number, number>();
      for (const line of served.slice(-1500)) {
        if (line.version !== 1 && line.version !== 2) continue;
        if ((perArm.get(line.version) ?? 0) >= 110) continue;
        perArm.set(line.version, (perArm.get(line.version) ?? 0) + 1);
        const reward = line.version === 1 ? 1 : perArm.get(2)! % 5 === 0 ? 1 : 0;
        const r = await httpExchange(`http://127.0.0.1:${port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: line.request_id!, reward }) });
        assert.equal(r.status, 200, r.body);
      }
      assert.deepEqual([perArm.get(1), perArm.get(2)], [110, 110]);
      const promoted = await runCli(dir, 'ab', 'gw', '--promote', '--reason', 'v1 converts better');
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.match(promoted.stdout, /clf v1 won \(ship\) and is now clf@champion/);
      const models = new ModelRepository(store);
      assert.equal(models.versionByAlias(models.byName('clf')!.modelId, 'champion')!.version, 1);
      assert.equal(new DeploymentRepository(store).current('gw')!.version, 1);
      assert.deepEqual(routes(), [[1, 100]]);
      assert.equal(new GatewayRepository(store).get('gw')!.strategy, 'single', 'the test ended');
      assert.deepEqual([...(await answeringVersions()).keys()], [1]);
      const audit = store.db.prepare("SELECT reason, details_json FROM audit WHERE action = 'ab.promote'").get() as { reason: string; details_json: string };
      assert.equal(audit.reason, 'v1 converts better');
      assert.equal((JSON.parse(audit.details_json) as { decision: string }).decision, 'ship');
    });
  });
});

describe('canary analysis without the gateway: a route: command splits, the versions write the serving log', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  let running = true;
  let client: Promise<void>;
  const answered = new Map<number, number>();

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-canary-route-'));
    mkdirSync(join(dir, 'logs'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    registerServiceModels(store, artifactRoot, 'clf', [
      { version: 1, shift: 0 },
      { version: 2, shift: 0, error_every: 4 },
    ]);
    const text = [
      'version: 1',
      'targets:',
      '  routed:',
      `    command: [python3, ${JSON.stringify(SERVICE)}, serve, --model, "\${model.path}", --port, "\${port}", --serving-log, logs/serving.jsonl]`,
      `    route: [python3, ${JSON.stringify(SERVICE)}, route, "\${candidate.url}", "\${traffic}"]`,
      '    strategy: canary',
      '    steps: [50, 100]',
      '    bake_seconds: 1.5',
      '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 10, interval_ms: 100 }',
      '    monitor: { serving_log: logs/serving.jsonl }',
      '    analysis: { max_error_rate_increase: 0.05, min_requests: 20 }',
      '',
    ].join('\n');
    ctx = deployProject(dir, store, artifactRoot, text);
    const first = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'routed' });
    assert.equal(first.status, 'healthy', first.reason);
    // the router the route: command configures, played by the client: the candidate's share of the requests while a canary runs
    const deployments = new DeploymentRepository(store);
    const random = seededRandom(3);
    // two client loops: on a loaded machine one sequential client can fall short of min_requests per arm in the bake
    const loop = async (): Promise<void> => {
      while (running) {
        const canary = deployments.history('routed').find((d) => d.status === 'in_progress');
        const stable = deployments.current('routed');
        const pick = canary?.health?.process?.url && random() * 100 < canary.trafficPercent ? canary : stable;
        const url = pick?.health?.process?.url;
        if (!url) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const r = await httpExchange(`${url}/predict`, { method: 'POST', body: JSON.stringify({ rows: [{ x: 1 }] }), timeoutMs: 2000 }).catch(() => undefined);
        if (r) answered.set(pick!.version, (answered.get(pick!.version) ?? 0) + 1);
      }
    };
    client = Promise.all([loop(), loop()]).then(() => undefined);
  });

  after(async () => {
    running = false;
    await client;
    await stopTarget(ctx, { target: 'routed' }).catch(() => undefined);
    store.close();
    cleanup();
  });

  it('a canary failing a quarter of its requests is compared with the stable version on the serving log and rolled back, the comparison kept', async () => {
    const outcome = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'routed' });
    assert.equal(outcome.status, 'rolled_back', outcome.reason);
    assert.match(outcome.reason!, /traffic 50%: canary analysis failed: .*✗ error rate: canary 2\d\.\d% vs stable 0\.0%/);
    const [analysis] = new DeploymentRepository(store).get(outcome.deployment.deploymentId)!.health!.analysis!;
    assert.ok(analysis!.canary.requests >= 20 && analysis!.stable.requests >= 20, analysis!.summary);
    assert.ok(answered.get(2)! >= analysis!.canary.requests, 'the log counted only requests v2 answered');
    assert.equal(new DeploymentRepository(store).current('routed')?.version, 1, 'v1 still serves');
  });
});

function runCli(cwd: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, MLOOP_STORE: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** `clients` loops POSTing 10 rows of x ~ N(0, 1) to /predict through the gateway; answers counted by version. */
function sendTraffic(port: number, clients: number) {
  const random = seededRandom(7);
  const versions = new Map<number, number>();
  let serverErrors = 0;
  const traffic = predictionLoad({
    port,
    clients,
    body: () => JSON.stringify({ rows: Array.from({ length: 10 }, () => ({ x: normal(random) })) }),
    onAnswer: ({ status, headers }) => {
      const version = Number(headers['x-mloop-version']);
      versions.set(version, (versions.get(version) ?? 0) + 1);
      if (status >= 500) serverErrors++;
    },
  });
  return {
    versions,
    errors: () => serverErrors,
    reset: () => {
      versions.clear();
      serverErrors = 0;
    },
    stop: traffic.stop,
  };
}
