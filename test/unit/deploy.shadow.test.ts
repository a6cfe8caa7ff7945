import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { deployVersion, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { DeployError } from '../../src/core/deploy/errors';
import { httpExchange } from '../../src/core/deploy/health';
import { isAlive, sleep } from '../../src/core/deploy/process';
import { activeShadow, promoteShadow, shadowReport, stopShadow } from '../../src/core/deploy/shadow';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// Shadow deployments with the example's real serve.py and real scikit-learn models trained on the
// Seattle weather data: answers come only from the serving version, and the disagreement rate mloop
// reads from the shadow log equals a count made independently by loading both pickles in Python.

const REPO = resolve(__dirname, '../../..');
const WEATHER = join(REPO, 'node_modules/vega-datasets/data/seattle-weather.csv');

const TRAIN = `
import pickle, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
frame = pd.read_csv(sys.argv[1], parse_dates=["date"])
frame["month"] = frame["date"].dt.month
train = frame[frame["date"].dt.year < 2015]
X, y = train[["precipitation", "temp_max", "temp_min", "wind", "month"]], train["weather"]
for path, model in [(sys.argv[2], RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0)), (sys.argv[3], DecisionTreeClassifier(max_depth=2, random_state=0))]:
    model.fit(X, y)
    with open(path, "wb") as f:
        pickle.dump(model, f)
`;

// independent count: both pickles predict the same rows; how many differ
const COUNT = `
import json, pickle, sys
import pandas as pd
rows = json.load(open(sys.argv[3]))
frame = pd.DataFrame(rows)
frame["month"] = pd.to_datetime(frame["date"]).dt.month
X = frame[["precipitation", "temp_max", "temp_min", "wind", "month"]].astype(float)
a = pickle.load(open(sys.argv[1], "rb")).predict(X)
b = pickle.load(open(sys.argv[2], "rb")).predict(X)
print(json.dumps({"disagreed": int((a != b).sum()), "primary": [str(p) for p in a]}))
`;
import { PYTHON, pythonJsonSync } from '../support/python';

function weatherRows2015(limit: number): Record<string, string | number>[] {
  const [header, ...lines] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const names = header!.split(',');
  return lines
    .map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, i === 0 || names[i] === 'weather' ? v : Number(v)])))
    .filter((r) => String(r.date).startsWith('2015'))
    .slice(0, limit)
    .map(({ weather: _label, ...inputs }) => inputs);
}

describe('deploy: shadow strategy with serve.py and real scikit-learn models', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  const pickles: string[] = [];
  const pids = new Set<number>();

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-shadow-'));
    copyFileSync(join(REPO, 'examples/weather/serve.py'), join(dir, 'serve.py'));
    copyFileSync(WEATHER, join(dir, 'weather.csv'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    const runs = new RunRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
    const models = new ModelRepository(store);
    const made: { runId: string; path: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const artifacts = join(artifactRoot, String(experimentId), run.runId, 'artifacts');
      mkdirSync(artifacts, { recursive: true });
      made.push({ runId: run.runId, path: join(artifacts, 'model.pkl') });
    }
    execFileSync(PYTHON, ['-c', TRAIN, WEATHER, made[0]!.path, made[1]!.path], { stdio: 'pipe' });
    for (const { runId, path } of made) {
      pickles.push(path);
      const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
      models.registerVersion({
        name: 'weather-clf',
        sourceRunId: runId,
        artifactPath: `runs:/${runId}/model.pkl`,
        artifactDigest: `sha256:${digest}`,
        actor: 'test',
      });
    }
    const text = [
      'version: 1',
      'datasets:',
      '  weather: { path: weather.csv }',
      'targets:',
      '  local:',
      `    command: [${PYTHON}, serve.py, --model, "\${model.path}", --port, "\${port}", --log-dir, logs]`,
      `    route: [${PYTHON}, serve.py, --log-dir, logs, --mirror-to, "\${candidate.url}", --traffic, "\${traffic}"]`,
      '    shadow_log: logs/shadow.jsonl',
      '    strategy: blue_green',
      '    bake_seconds: 0.3',
      '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60, interval_ms: 100 }',
      '    smoke: { dataset: weather, rows: 5 }',
      '',
    ].join('\n');
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.ok(config, JSON.stringify(problems));
    ctx = { store, artifactRoot, actor: 'tester', projectRoot: dir, config, trusted: true };
  });

  after(async () => {
    for (const d of new DeploymentRepository(store).list()) if (d.health?.process) pids.add(d.health.process.pid);
    await stopTarget(ctx, { target: 'local' }).catch(() => undefined);
    for (const pid of pids) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    store.close();
    cleanup();
  });

  const predict = async (url: string, rows: readonly object[]): Promise<{ predictions: string[]; version: string }> => {
    const r = await httpExchange(`${url}/predict`, { method: 'POST', body: JSON.stringify({ rows }), timeoutMs: 20_000 });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as { predictions: string[]; version: string };
  };
  const jsonl = (name: string): Record<string, unknown>[] => {
    const path = join(dir, 'logs', name);
    return existsSync(path)
      ? readFileSync(path, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  };

  it('refuses a shadow when nothing serves, naming the target', async () => {
    await assert.rejects(
      deployVersion(ctx, { modelName: 'weather-clf', version: 2, target: 'local', strategy: 'shadow' }),
      (e: Error) => e instanceof DeployError && /nothing serves on target "local"/.test(e.message),
    );
    assert.ok(new AuditRepository(store).list().some((a) => a.action === 'deploy.refused' && /to shadow/.test(a.reason ?? '')));
  });

  it('mirrors traffic to the shadow: answers only from the serving version; the disagreement rate matches an independent count', async () => {
    const first = await deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'local' });
    assert.equal(first.status, 'healthy', first.reason);
    const primaryUrl = first.deployment.health!.process!.url!;

    const outcome = await deployVersion(ctx, { modelName: 'weather-clf', version: 2, target: 'local', strategy: 'shadow', reason: 'try the small tree' });
    assert.equal(outcome.status, 'shadowing', outcome.reason);
    assert.equal(outcome.deployment.status, 'pending');
    assert.equal(outcome.deployment.trafficPercent, 0);
    const shadowUrl = outcome.deployment.health!.process!.url!;
    assert.notEqual(shadowUrl, primaryUrl);
    assert.equal(new DeploymentRepository(store).current('local')?.version, 1, 'v1 still serves');
    assert.equal(activeShadow(store, 'local')?.version, 2);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'logs', 'mirror.json'), 'utf8')), { url: shadowUrl, percent: 100 });

    // a deployment meanwhile is refused: promote or stop the shadow first
    await assert.rejects(deployVersion(ctx, { modelName: 'weather-clf', version: 2, target: 'local' }), /a shadow of weather-clf v2 runs on target "local"/);

    const rows = weatherRows2015(120);
    const answered: string[] = [];
    for (let i = 0; i < rows.length; i += 12) {
      const answer = await predict(primaryUrl, rows.slice(i, i + 12));
      assert.equal(answer.version, '1', 'every answer comes from the serving version');
      answered.push(...answer.predictions);
    }
    for (let i = 0; i < 200 && jsonl('shadow.jsonl').length < rows.length; i++) await sleep(100);
    const logged = jsonl('shadow.jsonl');
    assert.equal(logged.length, rows.length, 'one shadow log line per mirrored row');

    const rowsFile = join(dir, 'rows.json');
    writeFileSync(rowsFile, JSON.stringify(rows));
    const independent = pythonJsonSync<{ disagreed: number; primary: string[] }>({ args: ['-c', COUNT, pickles[0]!, pickles[1]!, rowsFile] });
    assert.deepEqual(answered, independent.primary, 'the answers are v1 predictions');
    assert.ok(independent.disagreed > 0 && independent.disagreed < rows.length, `the two models disagree on some rows (${independent.disagreed})`);

    const { report } = shadowReport(ctx, 'local');
    assert.equal(report.compared, rows.length);
    assert.equal(report.errors, 0);
    assert.equal(report.disagreed, independent.disagreed);
    assert.equal(report.disagreementRate, independent.disagreed / rows.length);
    assert.match(report.summary, new RegExp(`disagrees on ${independent.disagreed} of ${rows.length}`));

    // monitoring data: the client's rows once each, from v1; mirrored requests stay out of it
    const predictions = jsonl('predictions.jsonl');
    assert.equal(predictions.length, rows.length);
    assert.ok(predictions.every((p) => p.version === '1'));

    const promoted = await promoteShadow(ctx, { target: 'local', reason: 'tree is good enough' });
    assert.equal(promoted.status, 'healthy', promoted.reason);
    assert.equal(promoted.shadowReport.disagreed, independent.disagreed);
    const serving = new DeploymentRepository(store).current('local')!;
    assert.equal(serving.version, 2);
    assert.equal((await predict(serving.health!.process!.url!, rows.slice(0, 3))).version, '2');
    assert.equal(activeShadow(store, 'local'), undefined);
    assert.equal(existsSync(join(dir, 'logs', 'mirror.json')), false, 'mirroring is off');
    assert.equal(isAlive(outcome.deployment.health!.process!.pid), false, 'the shadow process stopped');
    const actions = new AuditRepository(store).list().map((a) => a.action);
    for (const action of ['deploy.shadow', 'deploy.shadow_report', 'deploy.shadow_stop'])
      assert.ok(actions.includes(action), `${action} audited (${actions.join(', ')})`);
    const deployed = new AuditRepository(store).list().find((a) => a.action === 'deploy' && a.toValue === 'weather-clf v2');
    assert.match(deployed?.reason ?? '', new RegExp(`promoted from shadow \\(disagrees on ${independent.disagreed} of ${rows.length}`));
  });

  it('Stop shadow: mirroring off, shadow process gone, the serving version unchanged and still answering', async () => {
    const outcome = await deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'local', strategy: 'shadow' });
    assert.equal(outcome.status, 'shadowing', outcome.reason);
    const pid = outcome.deployment.health!.process!.pid;
    pids.add(pid);
    const serving = new DeploymentRepository(store).current('local')!;
    assert.equal(serving.version, 2);
    await predict(serving.health!.process!.url!, weatherRows2015(4));
    for (let i = 0; i < 200 && jsonl('shadow.jsonl').filter((r) => r.shadow_version === '1').length < 4; i++) await sleep(100);
    const { deployment, report } = await stopShadow(ctx, { target: 'local', reason: 'enough data' });
    assert.equal(deployment.status, 'superseded');
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(join(dir, 'logs', 'mirror.json')), false);
    assert.ok(report.requests >= 4 && report.requests === report.compared + report.errors, JSON.stringify(report));
    assert.equal((await predict(serving.health!.process!.url!, weatherRows2015(2))).version, '2');
    const stop = new AuditRepository(store).list().find((a) => a.action === 'deploy.shadow_stop' && /enough data/.test(a.reason ?? ''));
    assert.ok(stop, 'the stop is audited with the reason and the report');
    assert.match(stop.reason!, /mirrored predictions/);
  });

  it('stopping the target stops its shadow too: both processes gone, mirroring off, audited', async () => {
    const outcome = await deployVersion(ctx, { modelName: 'weather-clf', version: 1, target: 'local', strategy: 'shadow' });
    assert.equal(outcome.status, 'shadowing', outcome.reason);
    const shadowPid = outcome.deployment.health!.process!.pid;
    const servingPid = new DeploymentRepository(store).current('local')!.health!.process!.pid;
    pids.add(shadowPid);
    await stopTarget(ctx, { target: 'local', reason: 'end of test' });
    assert.equal(isAlive(shadowPid), false);
    assert.equal(isAlive(servingPid), false);
    assert.equal(existsSync(join(dir, 'logs', 'mirror.json')), false);
    assert.equal(activeShadow(store, 'local'), undefined);
    assert.ok(new AuditRepository(store).list().some((a) => a.action === 'deploy.shadow_stop' && /the target was stopped: end of test/.test(a.reason ?? '')));
  });
});
