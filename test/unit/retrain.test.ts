import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { Config } from '../../src/core/config/schema';
import { prepareRunInputs, inputVersionIds } from '../../src/core/datasets/versions';
import { promote } from '../../src/core/registry/aliases';
import { registerPipelineModel } from '../../src/core/registry/autoRegister';
import type { RegistryContext } from '../../src/core/registry/register';
import { buildRecipe, defaultRetrainModel, describeRecipe, unchangedSince, RetrainError } from '../../src/core/retrain/recipe';
import { retrainModel } from '../../src/core/retrain/retrain';
import { launchRun } from '../../src/core/runs/launcher';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const WEATHER = resolve(__dirname, '../../../node_modules/vega-datasets/data/seattle-weather.csv');

// A real scikit-learn model on real data, reporting through protocol lines (no tracking server needed).
const TRAIN_PY = `
import argparse, pickle
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score
p = argparse.ArgumentParser(); p.add_argument("--max-depth", type=int); a = p.parse_args()
f = pd.read_csv("data/weather.csv", parse_dates=["date"]); f["month"] = f["date"].dt.month
x, y = f[["precipitation", "temp_max", "temp_min", "wind", "month"]], f["weather"]
xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
m = DecisionTreeClassifier(max_depth=a.max_depth, random_state=0).fit(xt, yt)
pickle.dump(m, open("model.pkl", "wb"))
print(f"::mloop metric name=accuracy value={accuracy_score(yv, m.predict(xv))}")
print(f"::mloop metric name=rows value={len(f)}")
`;

const MLOOP_YAML = `version: 1
datasets:
  weather:
    path: data/weather.csv
    rules:
      rows: { min: 100 }
      columns:
        weather: { allowed: [drizzle, fog, rain, snow, sun], nullable: false }
pipelines:
  train:
    command: [python3, train.py, --max-depth, "\${params.max_depth}"]
    params: { max_depth: 3 }
    inputs: [weather]
    model: { name: clf, path: model.pkl }
    primary_metric: accuracy
models:
  clf:
    gate: ["accuracy >= champion - 0.5"]
`;

describe('retrain: the recipe rebuilt from lineage, run, registered, gated, challenger', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let config: Config;
  let ctx: RegistryContext;
  let lines: string[];

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-retrain-'));
    lines = readFileSync(WEATHER, 'utf8').trimEnd().split('\n');
    mkdirSync(join(dir, 'data'));
    // 2012–2014 first; 2015 arrives later as a new version of the same dataset
    writeFileSync(join(dir, 'data', 'weather.csv'), `${lines.filter((l, i) => i === 0 || !l.startsWith('2015')).join('\n')}\n`);
    writeFileSync(join(dir, 'train.py'), TRAIN_PY);
    writeFileSync(join(dir, 'mloop.yaml'), MLOOP_YAML);
    const loaded = loadConfig(MLOOP_YAML, 'mloop.yaml');
    assert.ok(loaded.config, JSON.stringify(loaded.problems));
    config = loaded.config;
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    ctx = { store, artifactRoot: join(dir, '.mloop', 'artifacts'), actor: 'tester' };
    // v1: trained with max_depth overridden to 5, then made champion
    const pipeline = config.pipelines.train!;
    const inputs = await prepareRunInputs(store, { config, pipelineName: 'train', pipeline, projectRoot: dir });
    const handle = await launchRun({
      store,
      projectRoot: dir,
      pipelineName: 'train',
      pipeline,
      overrides: { max_depth: '5' },
      trusted: true,
      inputVersionIds: inputVersionIds(inputs),
      artifactRoot: ctx.artifactRoot,
    });
    const outcome = await handle.done;
    assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
    const registered = await registerPipelineModel(ctx, { config, pipelineName: 'train', runId: outcome.runId, status: outcome.status, projectRoot: dir });
    assert.ok(registered && 'version' in registered, 'the first run registers v1');
    assert.equal(registered.version.version, 1);
    await promote(ctx, { modelName: 'clf', version: 1 });
  });

  after(() => {
    store.close();
    cleanup();
  });

  it("copies the champion run's pipeline and params, and pins the same data when nothing changed", async () => {
    const recipe = await buildRecipe(store, { config, projectRoot: dir, modelName: 'clf' });
    assert.deepEqual(recipe.base.version, 1);
    assert.equal(recipe.base.alias, 'champion');
    assert.equal(recipe.pipelineName, 'train');
    assert.deepEqual(recipe.params, { max_depth: '5' }, 'the override of the champion run, not the default 3');
    assert.equal(recipe.entry?.file, 'train.py');
    assert.equal(recipe.entry?.changed, false);
    assert.equal(recipe.inputs.length, 1);
    assert.equal(recipe.inputs[0]!.changed, false);
    assert.equal(recipe.inputs[0]!.passed, true);
    assert.equal(recipe.inputs[0]!.chosen.rows, 1096);
    assert.equal(recipe.blocked, undefined);
    assert.match(describeRecipe(recipe), /pipeline train with max_depth=5[\s\S]*input weather @ \w{12} \(same as the base run\) ✓ valid/);
  });

  it('nothing changed since the champion: says so and asks first; declined, nothing runs; accepted, the copy is registered but not offered as challenger', async () => {
    const recipe = await buildRecipe(store, { config, projectRoot: dir, modelName: 'clf' });
    assert.equal(unchangedSince(recipe), 'nothing changed since v1 (champion) (data, code, params)');
    const asked: string[] = [];
    const runsBefore = new RunRepository(store).list().length;
    await assert.rejects(
      retrainModel(ctx, { config, projectRoot: dir, modelName: 'clf', trusted: true, confirmUnchanged: async (m) => (asked.push(m), false) }),
      (e: Error) => e instanceof RetrainError && e.message === 'retrain cancelled',
    );
    assert.deepEqual(asked, ['nothing changed since v1 (champion) (data, code, params)']);
    assert.equal(new RunRepository(store).list().length, runsBefore, 'declined: no run');
    const copy = await retrainModel(ctx, { config, projectRoot: dir, modelName: 'clf', trusted: true, confirmUnchanged: async () => true });
    assert.equal(copy.challenger, false);
    assert.deepEqual(copy.version.aliases, [], 'no @challenger on a copy of the champion');
    assert.match(copy.summary, /same data, code and params as champion v1: not offered as challenger$/);
    // later tests expect v2 to be the next retrain: this copy is removed again
    store.db.prepare('DELETE FROM model_version WHERE model_version_id = ?').run(copy.version.modelVersionId);
  });

  it('retrains on a dataset that gained a new version: new run with the same params, registered, gated against the champion, challenger', async () => {
    appendFileSync(join(dir, 'data', 'weather.csv'), `${lines.filter((l) => l.startsWith('2015')).join('\n')}\n`);
    writeFileSync(join(dir, 'train.py'), `${TRAIN_PY}\n# edited after v1\n`);
    const recipe = await buildRecipe(store, { config, projectRoot: dir, modelName: 'clf' });
    assert.equal(recipe.inputs[0]!.changed, true);
    assert.equal(recipe.inputs[0]!.chosen.rows, 1461);
    assert.equal(recipe.entry?.changed, true, 'the entry script at HEAD differs from the one v1 was trained with');

    const progress: string[] = [];
    const outcome = await retrainModel(ctx, { config, projectRoot: dir, modelName: 'clf', trusted: true, onProgress: (m) => progress.push(m) });
    assert.equal(outcome.version.version, 2);
    assert.equal(outcome.challenger, true);
    assert.deepEqual(outcome.version.aliases, ['challenger']);
    const runs = new RunRepository(store);
    assert.equal(runs.params(outcome.runId).max_depth, '5');
    assert.equal(runs.latestMetrics(outcome.runId).rows, 1461, 'the run read the new version of the data');
    const readVersion = store.db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ?').pluck().get(outcome.runId);
    assert.equal(readVersion, recipe.inputs[0]!.chosen.datasetVersionId, 'lineage: the run is linked to the new data version');
    assert.ok(outcome.gate, 'the gate ran');
    assert.equal(outcome.gate.championVersion, 1, 'the gate compared against the champion');
    assert.equal(outcome.gate.passed, true);
    const accuracy = runs.latestMetrics(outcome.runId).accuracy!;
    assert.equal(outcome.metric?.value, accuracy);
    assert.match(
      outcome.summary,
      new RegExp(
        `^clf v2 trained: accuracy ${String(Math.round(accuracy * 10_000) / 10_000).replace('.', '\\.')} \\(champion v1: 0\\.\\d+\\) · gate passed · now challenger$`,
      ),
    );
    const models = new ModelRepository(store);
    assert.equal(models.versionByAlias(models.byName('clf')!.modelId, 'champion')?.version, 1, 'the champion is not touched');
    const audit = new AuditRepository(store).list().find((a) => a.action === 'retrain');
    assert.deepEqual([audit?.fromValue, audit?.toValue], ['v1', 'v2']);
  });

  it('a new version that fails validation blocks the recipe, naming the rule and the newest version that passed; nothing runs', async () => {
    const passing = (await buildRecipe(store, { config, projectRoot: dir, modelName: 'clf' })).inputs[0]!.chosen;
    appendFileSync(join(dir, 'data', 'weather.csv'), '2016-01-01,0.0,10.0,5.0,3.0,hail\n');
    const recipe = await buildRecipe(store, { config, projectRoot: dir, modelName: 'clf' });
    assert.equal(recipe.inputs[0]!.passed, false);
    assert.equal(recipe.inputs[0]!.latestPassing?.datasetVersionId, passing.datasetVersionId);
    assert.match(
      recipe.blocked!,
      new RegExp(
        `dataset "weather": its newest version \\w{12} fails validation \\(weather: .*hail.*\\); the newest version that passed is ${passing.digest.slice(0, 12)}`,
      ),
    );
    const runsBefore = new RunRepository(store).list().length;
    await assert.rejects(
      retrainModel(ctx, { config, projectRoot: dir, modelName: 'clf', trusted: true }),
      (e: Error) => e instanceof RetrainError && /cannot retrain clf:\ndataset "weather"/.test(e.message),
    );
    assert.equal(new RunRepository(store).list().length, runsBefore);
  });

  it("the default model is the one with an open drift alert, else the champion's", () => {
    assert.deepEqual(defaultRetrainModel(store), { modelName: 'clf', why: 'champion' });
    const modelId = new ModelRepository(store).byName('clf')!.modelId;
    store.db
      .prepare(
        "INSERT INTO drift_report (model_id, current_uri, drifted_share, dataset_drift, result_json, created_at) VALUES (?, 'logs/x.jsonl', 0.6, 1, '{}', ?)",
      )
      .run(modelId, Date.now());
    const pick = defaultRetrainModel(store);
    assert.equal(pick?.why, 'open drift alert');
    assert.equal(pick?.modelName, 'clf');
    assert.ok(pick?.driftReportId);
  });
});
