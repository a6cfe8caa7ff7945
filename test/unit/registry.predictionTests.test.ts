import assert from 'node:assert/strict';
import { resolve, join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { Config } from '../../src/core/config/schema';
import { deployVersion, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { type DeployError } from '../../src/core/deploy/errors';
import { freePort } from '../../src/core/deploy/process';
import { gateSpecFor } from '../../src/core/registry/autoRegister';
import { registerFromRun, type StoredGate } from '../../src/core/registry/register';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { pythonJson } from '../support/python';
import { tempDir } from './fixtures';

const WEATHER = resolve(__dirname, '../../../examples/weather');
const SUNNY = { date: '2015-07-15', month: 7, precipitation: 0, temp_max: 30, temp_min: 16, wind: 2 };
const WET = { date: '2015-11-15', month: 11, precipitation: 25, temp_max: 10, temp_min: 6, wind: 6 };
const BREEZE = { wind: 2.1 };
const DOWNPOUR = { precipitation: 30 };

/**
 * Trains a small random forest on the vega-datasets Seattle weather (what examples/weather/serve.py serves) and
 * answers, with scikit-learn itself, what the tests below must conclude: predictions and P(rain) of each row.
 */
const TRAIN = `
import json, pickle, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
data = pd.read_csv(sys.argv[1], parse_dates=["date"])
data["month"] = data["date"].dt.month
X = data[["precipitation", "temp_max", "temp_min", "wind", "month"]]
model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(X, data["weather"])
with open("model.pkl", "wb") as f:
    pickle.dump(model, f)
rows = pd.DataFrame(json.loads(sys.argv[2]))[list(X.columns)]
rain = list(model.classes_).index("rain")
print(json.dumps({"predictions": [str(p) for p in model.predict(rows)], "p_rain": [float(p[rain]) for p in model.predict_proba(rows)]}))
`;

describe('prediction tests: golden, invariance and directional cases in the release gate and the deploy smoke test', function () {
  this.timeout(90_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  let peer: { predictions: string[]; p_rain: number[] };
  let port: number;

  const configWith = (tests: unknown, fixedPort = true): Config => {
    const text = [
      'version: 1',
      'models:',
      `  weather-clf: { tests: ${JSON.stringify(tests)} }`,
      'targets:',
      '  local:',
      `    command: [python3, ${JSON.stringify(join(WEATHER, 'serve.py'))}, --model, "\${model.path}", --port, "\${port}", --log-dir, logs]`,
      ...(fixedPort ? [`    port: ${port}`] : []),
      '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60, interval_ms: 100 }',
      '',
    ].join('\n');
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.ok(config, JSON.stringify(problems));
    return config;
  };
  /** Cases that hold for this model (scikit-learn's own answers), and their verdicts as scikit-learn sees them. */
  const passing = (): { golden: object[]; invariance: object[]; directional: object[] } => ({
    golden: [
      { name: 'dry summer day', input: SUNNY, expect: peer.predictions[0] },
      { name: 'wet November day', input: WET, expect: peer.predictions[1] },
    ],
    invariance: [{ name: 'a breath of wind', input: SUNNY, change: BREEZE }],
    directional: [{ name: 'a downpour makes rain likelier', input: SUNNY, change: DOWNPOUR, expect: 'increase', class: 'rain' }],
  });

  async function register(tests: unknown): Promise<{ version: number; gate: StoredGate }> {
    const runs = new RunRepository(store);
    const run = runs.create({ experimentId: new ExperimentRepository(store).ensure('weather').experimentId, status: 'RUNNING', startTime: Date.now() - 500 });
    // the model file of the project, written "by" this run
    const { utimesSync } = await import('node:fs');
    utimesSync(join(dir, 'model.pkl'), new Date(), new Date());
    runs.finish(run.runId, { status: 'FINISHED' });
    const config = configWith(tests);
    const { version, gate } = await registerFromRun(ctx, {
      runId: run.runId,
      modelName: 'weather-clf',
      artifactPath: 'model.pkl',
      projectRoot: dir,
      gate: gateSpecFor(config, 'weather-clf'),
    });
    assert.ok(gate, 'the tests alone make a gate');
    return { version: version.version, gate };
  }

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-prediction-tests-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    port = await freePort();
    peer = await pythonJson({
      args: ['-c', TRAIN, join(WEATHER, 'data', 'seattle-weather.csv'), JSON.stringify([SUNNY, WET, { ...SUNNY, ...BREEZE }, { ...SUNNY, ...DOWNPOUR }])],
      cwd: dir,
    });
    ctx = { store, artifactRoot: join(dir, '.mloop', 'artifacts'), actor: 'tester', projectRoot: dir, config: configWith(passing()), trusted: true };
  });

  after(async () => {
    await stopTarget(ctx, { target: 'local' }).catch(() => undefined);
    store.close();
    cleanup();
  });

  it('the gate runs every case against the artifact as scikit-learn answers; a failed case fails it with input, expected and actual', async () => {
    assert.notEqual(peer.predictions[0], 'snow');
    const tests = passing();
    tests.golden.push({ name: 'summer snow', input: SUNNY, expect: 'snow' });
    tests.directional.push({ name: 'a downpour makes rain less likely', input: SUNNY, change: DOWNPOUR, expect: 'decrease', class: 'rain' });
    const { version, gate } = await register(tests);
    const report = gate.predictionTests!;
    assert.deepEqual(Object.fromEntries(report.cases.map((c) => [c.name, c.passed])), {
      'dry summer day': true,
      'wet November day': true,
      'summer snow': false,
      'a breath of wind': peer.predictions[2] === peer.predictions[0],
      'a downpour makes rain likelier': peer.p_rain[3]! > peer.p_rain[0]!,
      'a downpour makes rain less likely': peer.p_rain[3]! < peer.p_rain[0]!,
    });
    const directional = report.cases.find((c) => c.kind === 'directional')!;
    assert.equal(directional.actual, `${Number(peer.p_rain[0]!.toPrecision(6))} → ${Number(peer.p_rain[3]!.toPrecision(6))}`);
    assert.equal(gate.passed, false);
    const details = gate.checks.filter((c) => !c.passed).map((c) => c.detail);
    assert.ok(
      details.includes(`golden "summer snow": input ${JSON.stringify(SUNNY)}: expected "snow", got ${JSON.stringify(peer.predictions[0])}`),
      details.join('\n'),
    );
    assert.ok(details.some((d) => d.startsWith('directional "a downpour makes rain less likely": input') && d.includes('expected P(rain) decreases')));
    await assert.rejects(deployVersion(ctx, { modelName: 'weather-clf', version, target: 'local' }), (error: DeployError) => {
      assert.match(error.message, /failed its release gate: .*golden "summer snow"/);
      assert.match(error.message, /--override/);
      return true;
    });
    // deployed anyway under an override, the service itself is tested with the cases of mloop.yaml, which hold there
    const deployed = await deployVersion(ctx, { modelName: 'weather-clf', version, target: 'local', override: 'testing the smoke side' });
    assert.equal(deployed.status, 'healthy', deployed.reason);
    const check = deployed.checks.find((c) => c.step === 'prediction tests')!;
    assert.match(check.detail, /^prediction tests: 3 passed, 0 failed, 1 skipped against http/);
  });

  it('against the running service, a failing case fails the deploy and the version serving keeps serving', async () => {
    const serving = new DeploymentRepository(store).current('local')!;
    const strict = { ...ctx, config: configWith({ ...passing(), golden: [{ name: 'summer snow', input: SUNNY, expect: 'snow' }] }, false) };
    const outcome = await deployVersion(strict, { modelName: 'weather-clf', version: serving.version, target: 'local', override: 'the gate saw other tests' });
    assert.equal(outcome.status, 'rolled_back', outcome.reason);
    assert.match(
      outcome.reason!,
      /prediction tests failed: prediction tests: 1 passed, 1 failed, 1 skipped against .*golden "summer snow": input \{.*\}: expected "snow", got "/,
    );
    assert.equal(new DeploymentRepository(store).current('local')!.deploymentId, serving.deploymentId);
  });
});
