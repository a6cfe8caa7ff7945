import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { evaluateVersion, type ModelEvaluation } from '../../src/core/evaluation/evaluate';
import { runEvaluator, type EvaluationError } from '../../src/core/evaluation/evaluatorProcess';
import { explainPrediction, type PredictionExplanation } from '../../src/core/evaluation/explain';
import { readConfig } from '../../src/cli/registryCommands';
import { ModelEvaluationRepository } from '../../src/core/store/evaluations';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { pythonJson, PYTHON } from '../support/python';
import { penguinsJsonl, WEATHER } from './datasetFixtures';
import { CLI, tempDir } from './fixtures';

const REFERENCE = resolve(__dirname, '../../../test/evaluation/evaluation_reference.py');
const SEED = 3;
const REPEATS = 4;
/** A row of seattle-weather to explain (2012-01-02). */
const ROW = { precipitation: 10.9, temp_max: 10.6, temp_min: 2.8, wind: 4.5 };

interface Reference {
  classifier: {
    classes: string[];
    accuracy: number;
    precision_macro: number;
    recall_macro: number;
    f1_macro: number;
    log_loss: number;
    roc_auc: number;
    confusion: number[][];
    permutation_mean: number[];
    permutation_std: number[];
    roc_rain_points: number;
    roc_rain_auc_trapezoid: number;
    calibration_rain: { mean_predicted: number[]; fraction_positive: number[] };
    proba: number[][];
    selection_rate_by_season: Record<string, number>;
  };
  regressor: { rmse: number; mae: number; r2: number; permutation_mean: number[] };
  explain: { predicted: string; probability: number; occlusion: number[] };
  shap: { values: number[]; base: number } | null;
}

const close = (actual: number | undefined, expected: number, what: string, tolerance = 1e-9): void =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance, `${what}: ${actual} ≠ ${expected}`);

describe('evaluation: a registered version measured on seattle-weather and penguins in the project’s Python', function () {
  this.timeout(240_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let reference: Reference;
  let v1: ModelEvaluation;
  let regression: ModelEvaluation;
  let cliV2: { code: number | null; stdout: string; stderr: string };
  const base = () => ({ store, artifactRoot: artifactRootOf(store.path), projectRoot: dir, config: readConfig(dir), python: PYTHON, actor: 'tester' });

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-evaluation-'));
    writeFileSync(
      join(dir, 'mloop.yaml'),
      ['version: 1', 'datasets:', '  weather: { path: weather.csv }', '  penguins: { path: penguins.csv }', '  background: { path: background.csv }', ''].join(
        '\n',
      ),
    );
    const request = {
      classifier: join(dir, 'weather-v1.pkl'),
      weather: join(dir, 'weather.csv'),
      regressor: join(dir, 'penguins.joblib'),
      penguins: join(dir, 'penguins.csv'),
      background: join(dir, 'background.csv'),
      row: ROW,
      seed: SEED,
      repeats: REPEATS,
    };
    // trains the models into dir, then computes the reference values (one interpreter start)
    reference = await pythonJson<Reference>({ args: [REFERENCE, WEATHER, penguinsJsonl(dir), dir, JSON.stringify(request)] });
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const runs = new RunRepository(store);
    const models = new ModelRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('evaluation').experimentId;
    const register = (name: string, file: string, as = file): void => {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const folder = join(artifactRootOf(store.path), String(experimentId), run.runId, 'artifacts');
      mkdirSync(folder, { recursive: true });
      copyFileSync(join(dir, file), join(folder, as));
      models.registerVersion({ name, sourceRunId: run.runId, artifactPath: `runs:/${run.runId}/${as}`, actor: 'tester' });
    };
    register('weather-clf', 'weather-v1.pkl', 'model.pkl');
    register('weather-clf', 'weather-v2.pkl', 'model.pkl');
    register('penguins-reg', 'penguins.joblib');
    register('onnx-model', 'weather.csv', 'model.onnx');
    models.setAlias({ modelId: models.byName('weather-clf')!.modelId, alias: 'champion', version: 1, actor: 'tester' });
    models.setAlias({ modelId: models.byName('weather-clf')!.modelId, alias: 'challenger', version: 2, actor: 'tester' });
    // mloop's evaluations of v1 and of the regressor run side by side
    const progress: number[] = [];
    [{ evaluation: v1 }, { evaluation: regression }] = await Promise.all([
      evaluateVersion({
        ...base(),
        model: { modelName: 'weather-clf', alias: 'champion' },
        dataset: 'weather',
        groups: ['season'],
        positiveClass: 'rain',
        seed: SEED,
        repeats: REPEATS,
        shapRows: 40,
        onProgress: (p) => progress.push(p.done / p.total),
      }),
      evaluateVersion({ ...base(), model: { modelName: 'penguins-reg', version: 1 }, dataset: 'penguins', seed: SEED, repeats: REPEATS, noShap: true }),
    ]);
    assert.ok(progress.length >= 4 && progress.at(-1) === 1, `progress reported: ${progress.join(', ')}`);
    store.close();
    // v2 through the CLI, in a Python where `import shap` fails: the rest of the evaluation still runs
    const noShap = join(dir, 'no-shap');
    mkdirSync(join(noShap, 'shap'), { recursive: true });
    writeFileSync(join(noShap, 'shap', '__init__.py'), 'raise ImportError("No module named \'shap\'")\n');
    const cli = spawnSync(
      process.execPath,
      [
        CLI,
        'evaluate',
        'weather-clf@challenger',
        '--dataset',
        'weather',
        '--seed',
        String(SEED),
        '--repeats',
        '1',
        '--compare',
        'weather-clf@champion',
        '--python',
        PYTHON,
        '--json',
      ],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '', PYTHONPATH: noShap } },
    );
    cliV2 = { code: cli.status, stdout: cli.stdout, stderr: cli.stderr };
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  });

  after(() => {
    store?.close();
    cleanup?.();
  });

  it('metrics equal scikit-learn’s on the same predictions, each with a 95% interval around it; the confusion matrix equals confusion_matrix', () => {
    const r = reference.classifier;
    assert.equal(v1.task, 'classification');
    assert.equal(v1.label, 'weather', 'the label column was found: the one non-feature column holding only known classes');
    assert.deepEqual(v1.features, ['precipitation', 'temp_max', 'temp_min', 'wind']);
    for (const key of ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'log_loss', 'roc_auc'] as const) {
      const m = v1.metrics[key];
      close(m?.value, r[key], key);
      assert.ok(m!.lower! <= m!.value && m!.value <= m!.upper!, `${key} lies in its interval [${m!.lower}, ${m!.upper}]`);
    }
    assert.deepEqual(v1.confusion, { classes: r.classes, matrix: r.confusion });
  });

  it('permutation importance equals sklearn.inspection.permutation_importance with the same seed', () => {
    assert.deepEqual(v1.permutationImportance.features, ['precipitation', 'temp_max', 'temp_min', 'wind']);
    reference.classifier.permutation_mean.forEach((m, i) => close(v1.permutationImportance.mean[i], m, `importance of ${v1.features[i]}`, 1e-12));
    reference.classifier.permutation_std.forEach((s, i) => close(v1.permutationImportance.std[i], s, `std of ${v1.features[i]}`, 1e-12));
  });

  it('ROC and calibration curves per class equal roc_curve and calibration_curve; group metrics use the monitoring definitions', () => {
    const rain = v1.curves.find((c) => c.class === 'rain')!;
    assert.equal(v1.curves.length, 5, 'one-vs-rest curves of the five classes');
    let area = 0;
    for (let i = 1; i < rain.roc.fpr.length; i++) area += ((rain.roc.fpr[i]! - rain.roc.fpr[i - 1]!) * (rain.roc.tpr[i]! + rain.roc.tpr[i - 1]!)) / 2;
    close(
      area,
      reference.classifier.roc_rain_auc_trapezoid,
      'area under the stored ROC curve of rain',
      reference.classifier.roc_rain_points > 200 ? 5e-3 : 1e-12,
    );
    assert.deepEqual(rain.calibration, reference.classifier.calibration_rain);
    const season = v1.fairness!.columns.find((c) => c.column === 'season')!;
    for (const g of season.groups) close(g.selection_rate.value, reference.classifier.selection_rate_by_season[g.group]!, `selection rate of ${g.group}`);
  });

  it('SHAP values add up to each sampled row’s probabilities (or, without shap, a message with the install command)', () => {
    const shap = v1.shap;
    if (shap.status !== 'computed') {
      assert.match(shap.message, /pip install shap/);
      return;
    }
    assert.equal(shap.rows.length, 40);
    // 1e-3: shap's TreeExplainer itself misses additivity by up to 4e-4 on this forest (its float32 tree values), well inside its own check
    shap.rows.forEach((row, r) => {
      shap.outputs.forEach((_, k) => {
        const sum = shap.base_values[k]! + shap.values[r]!.reduce((s, f) => s + f[k]!, 0);
        close(sum, reference.classifier.proba[row]![k]!, `row ${row} class ${k}: base + Σ SHAP = predict_proba`, 1e-3);
      });
    });
  });

  it('is stored with the version; the CLI evaluates another version without shap and compares importance with the champion', () => {
    const models = new ModelRepository(store);
    const model = models.byName('weather-clf')!;
    const stored = new ModelEvaluationRepository(store).forVersion(models.version(model.modelId, 1)!.modelVersionId);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.datasetName, 'weather');
    assert.deepEqual((JSON.parse(stored[0]!.resultJson) as ModelEvaluation).permutationImportance, v1.permutationImportance);
    assert.equal(cliV2.code, 0, cliV2.stderr);
    const out = JSON.parse(cliV2.stdout) as ModelEvaluation & { comparison: { rows: { feature: string; base: { mean: number }; change: number }[] } };
    assert.equal(out.version, 2);
    assert.equal(out.shap.status, 'unavailable');
    assert.match(out.shap.status === 'unavailable' ? out.shap.message : '', /shap is not installed .*pip install shap/);
    assert.ok(out.metrics.accuracy && out.permutationImportance.mean.length === 4, 'the rest of the evaluation ran');
    for (const row of out.comparison.rows) {
      const i = v1.features.indexOf(row.feature);
      close(row.base.mean, v1.permutationImportance.mean[i]!, `champion importance of ${row.feature}`);
      close(row.change, out.permutationImportance.mean[out.features.indexOf(row.feature)]! - v1.permutationImportance.mean[i]!, `change of ${row.feature}`);
    }
  });

  it('a regressor (joblib, penguins): RMSE, MAE, R² and permutation importance equal scikit-learn’s', () => {
    assert.equal(regression.task, 'regression');
    assert.equal(regression.label, 'Body Mass (g)');
    close(regression.metrics.rmse?.value, reference.regressor.rmse, 'rmse', 1e-6);
    close(regression.metrics.mae?.value, reference.regressor.mae, 'mae', 1e-6);
    close(regression.metrics.r2?.value, reference.regressor.r2, 'r2', 1e-9);
    reference.regressor.permutation_mean.forEach((m, i) => close(regression.permutationImportance.mean[i], m, `importance ${i}`, 1e-12));
  });

  it('explains one prediction: SHAP values equal TreeExplainer’s and add up (or the documented occlusion fallback); occlusion equals its definition', async () => {
    const model = { modelName: 'weather-clf', alias: 'champion' };
    const [explained, occlusion] = await Promise.all([
      explainPrediction({ ...base(), model, row: ROW, dataset: 'background' }),
      explainPrediction({ ...base(), model, row: { ...ROW, season: 'winter' }, dataset: 'background', noShap: true }),
    ]);
    const check = (x: PredictionExplanation): void => {
      assert.equal(x.predicted, reference.explain.predicted);
      close(x.value, reference.explain.probability, 'explained output = the predicted class probability');
    };
    check(explained);
    check(occlusion);
    assert.equal(occlusion.method, 'occlusion');
    reference.explain.occlusion.forEach((c, i) => close(occlusion.contributions[i], c, `occlusion of ${occlusion.features[i]}`, 1e-12));
    close(
      occlusion.base_value + occlusion.contributions.reduce((a, b) => a + b, 0) + occlusion.interaction,
      occlusion.value,
      'base + Σ + interaction = output',
    );
    if (reference.shap) {
      assert.equal(explained.method, 'shap');
      reference.shap.values.forEach((v, i) => close(explained.contributions[i], v, `SHAP of ${explained.features[i]}`, 1e-9));
      close(explained.base_value, reference.shap.base, 'SHAP base value', 1e-9);
      close(explained.interaction, 0, 'SHAP values are additive', 1e-6);
    } else {
      assert.equal(explained.method, 'occlusion');
      assert.match(explained.note, /shap is not installed.*pip install shap/);
    }
  });

  it('refuses a row missing features (naming them) and an unsupported model flavour (naming it and what is supported)', async () => {
    await Promise.all([
      assert.rejects(
        explainPrediction({ ...base(), model: { modelName: 'weather-clf', version: 2 }, row: { precipitation: 1, wind: 2 }, dataset: 'background' }),
        (e: EvaluationError) => e.kind === 'missing_features' && /lacks the model's feature\(s\) temp_max, temp_min/.test(e.message),
      ),
      assert.rejects(
        evaluateVersion({ ...base(), model: { modelName: 'onnx-model', version: 1 }, dataset: 'weather' }),
        (e: EvaluationError) => e.kind === 'unsupported_flavour' && /\.onnx is not supported: mloop evaluates scikit-learn .*MLflow/.test(e.message),
      ),
    ]);
  });

  it('cancel kills the helper: the evaluation rejects as cancelled and its process is gone', async () => {
    const abort = new AbortController();
    let pid: number | undefined;
    await assert.rejects(
      runEvaluator({
        python: PYTHON,
        cwd: dir,
        request: { mode: 'evaluate', model_path: join(dir, 'weather-v1.pkl'), data_path: join(dir, 'weather.csv'), data_name: 'weather', format: 'csv' },
        signal: abort.signal,
        onSpawn: (p) => (pid = p),
        onProgress: () => abort.abort(), // the first progress line: the helper is loading the model
      }),
      (e: EvaluationError) => e.kind === 'cancelled',
    );
    assert.ok(pid !== undefined);
    assert.throws(() => process.kill(pid!, 0), /ESRCH/, 'the helper process no longer exists');
  });
});
