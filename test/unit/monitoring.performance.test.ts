import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { joinLabels, MonitoringInputError, type JoinOptions, type LabelledPredictions } from '../../src/core/monitoring/labels';
import { computePerformance, type PerformanceReport } from '../../src/core/monitoring/performance';
import {
  bootstrap,
  bootstrapAll,
  classificationAuc,
  logLoss,
  logLosses,
  macroScores,
  macroScoresCounted,
  mae,
  meanCounted,
  r2,
  r2Counted,
  rankScores,
  rmse,
  rocAucCounted,
  wilsonInterval,
  type ClassificationData,
  type Estimate,
} from '../../src/core/monitoring/statistics';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { pythonJson } from '../support/python';
import { WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';

const REFERENCE = resolve(__dirname, '../../../test/monitoring/performance_reference.py');

interface SklearnMetrics {
  n: number;
  accuracy: number;
  wilson: [number, number];
  precision_macro: number;
  recall_macro: number;
  f1_macro: number;
  roc_auc: number | null;
  log_loss: number;
}
interface Reference {
  classes: string[];
  windows: Record<string, SklearnMetrics>;
  overall: SklearnMetrics;
  regression: { rmse: number; mae: number; r2: number };
}

const close = (actual: number | undefined, expected: number, what: string, tolerance = 1e-9): void =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

describe('monitoring: performance from late labels (scikit-learn on the same data)', function () {
  this.timeout(120_000); // the Python reference (scikit-learn, fairlearn) starts slowly on a loaded machine
  let dir: string;
  let cleanup: () => void;
  let reference: Reference;
  let options: JoinOptions;
  let joined: LabelledPredictions;
  let report: PerformanceReport;
  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-perf-'));
    // a real LogisticRegression on seattle-weather 2012-2013 predicts 2014-2015; labels arrive up to November 2015
    reference = await pythonJson<Reference>({ args: [REFERENCE, WEATHER, dir] });
    options = {
      predictions: join(dir, 'predictions.csv'),
      labels: join(dir, 'labels.csv'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      timeColumn: 'date',
      window: 'monthly',
      baseDir: dir,
    };
    joined = await joinLabels(options);
    report = computePerformance(joined, { minRows: 20 });
  });
  after(() => cleanup());

  it('per monthly window: accuracy, macro precision/recall/F1, ROC AUC and log loss equal scikit-learn, with n', () => {
    assert.equal(report.task, 'classification');
    assert.deepEqual(report.classes, reference.classes);
    const compared = report.windows.filter((w) => w.status === 'ok');
    assert.deepEqual(
      compared.map((w) => w.start),
      Object.keys(reference.windows),
    );
    const check = (w: PerformanceReport['overall'], expected: SklearnMetrics): void => {
      assert.equal(w.n, expected.n, w.start);
      for (const metric of ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'log_loss'] as const)
        close(w.metrics[metric]?.value, expected[metric], `${w.start} ${metric}`);
      if (expected.roc_auc === null) assert.equal(w.metrics.roc_auc, null, `${w.start}: a class absent from the labels leaves ROC AUC undefined`);
      else close(w.metrics.roc_auc?.value, expected.roc_auc, `${w.start} roc_auc`);
    };
    for (const w of compared) check(w, reference.windows[w.start]!);
    check(report.overall, reference.overall);
    assert.ok(reference.overall.roc_auc !== null, 'the overall window has every class: ROC AUC is compared');
  });

  it('accuracy has a Wilson interval (closed form in the test), the others a seeded bootstrap interval around the value', async () => {
    for (const w of report.windows.filter((x) => x.status === 'ok')) {
      const accuracy = w.metrics.accuracy as Estimate;
      assert.equal(accuracy.interval, 'wilson');
      close(accuracy.lower!, reference.windows[w.start]!.wilson[0], `${w.start} lower`, 1e-12);
      close(accuracy.upper!, reference.windows[w.start]!.wilson[1], `${w.start} upper`, 1e-12);
      for (const metric of ['f1_macro', 'log_loss'] as const) {
        const e = w.metrics[metric] as Estimate;
        assert.equal(e.interval, 'bootstrap');
        assert.ok(e.lower! <= e.value + 1e-12 && e.value - 1e-12 <= e.upper!, `${w.start} ${metric} ${JSON.stringify(e)}`);
      }
    }
    const again = computePerformance(await joinLabels(options), { minRows: 20 });
    assert.deepEqual(again.windows, report.windows, 'a fixed seed: the same intervals every time');
    assert.ok(
      report.windows.some((w) => (w.metrics.f1_macro?.upper ?? 0) > (w.metrics.f1_macro?.lower ?? 0)),
      'the bootstrap intervals have a width',
    );
    // the bootstrap of a mean covers the analytic interval's width roughly (n = 400, sd 1 → ±0.098)
    const xs = Float64Array.from({ length: 400 }, (_, i) => Math.sin(i * 12.9898) * 1.7320508);
    const e = bootstrap(xs.length, (rows) => rows.reduce((a, r) => a + xs[r]!, 0) / rows.length);
    assert.ok(e.upper! - e.lower! > 0.15 && e.upper! - e.lower! < 0.25, `bootstrap width ${e.upper! - e.lower!}`);
    assert.deepEqual(wilsonInterval(0, 0), { lower: 0, upper: 1 });
  });

  it('one shared set of resamples as draw counts gives the intervals of the index bootstrap, statistic by statistic (ties, three classes, regression)', () => {
    const random = seededRandom(3);
    const n = 700;
    // a window of a larger log: rows are indices into the data, not 0..n-1
    const rows = Uint32Array.from({ length: n }, (_, i) => 2 * i + 1);
    const size = 2 * n + 1;
    const truth = Int32Array.from({ length: size }, () => Math.floor(random() * 3));
    const predicted = Int32Array.from(truth, (t) => (random() < 0.7 ? t : Math.floor(random() * 3)));
    // probabilities rounded to 0.05: many tied scores
    const raw = Array.from({ length: size }, (_, i) => [0, 1, 2].map((c) => (c === truth[i] ? 1.5 : 0.5) + random()));
    const proba = [0, 1, 2].map((c) => Float64Array.from(raw, (r) => Math.round((r[c]! / (r[0]! + r[1]! + r[2]!)) * 20) / 20));
    const data: ClassificationData = { classes: ['a', 'b', 'c'], truth, predicted, proba };
    const pickRows = (positions: Uint32Array): Uint32Array => positions.map((p) => rows[p]!);
    const ranked = [0, 1, 2].map((c) => rankScores(proba[c]!, rows, (r) => truth[r] === c));
    const losses = logLosses(data, rows);
    const fast = bootstrapAll(n, {
      precision: (c) => macroScoresCounted(data, rows, c).precision,
      f1: (c) => macroScoresCounted(data, rows, c).f1,
      auc: (c) => ranked.reduce((sum, r) => sum + rocAucCounted(r, c), 0) / 3,
      logLoss: (c) => meanCounted(losses, c),
    });
    const close = (a: Estimate, b: Estimate, what: string): void => {
      for (const key of ['value', 'lower', 'upper'] as const) assert.ok(Math.abs(a[key]! - b[key]!) < 1e-12, `${what} ${key}: ${a[key]} vs ${b[key]}`);
    };
    close(
      fast.precision,
      bootstrap(n, (p) => macroScores(data, pickRows(p)).precision),
      'macro precision',
    );
    close(
      fast.f1,
      bootstrap(n, (p) => macroScores(data, pickRows(p)).f1),
      'macro F1',
    );
    close(
      fast.auc,
      bootstrap(n, (p) => classificationAuc(data, pickRows(p))),
      'ROC AUC',
    );
    close(
      fast.logLoss,
      bootstrap(n, (p) => logLoss(data, pickRows(p))),
      'log loss',
    );
    const regression = { truth: Float64Array.from({ length: size }, () => random() * 10), predicted: Float64Array.from({ length: size }, () => random() * 10) };
    const squared = Float64Array.from(rows, (i) => (regression.truth[i]! - regression.predicted[i]!) ** 2);
    const r = bootstrapAll(n, { rmse: (c) => Math.sqrt(meanCounted(squared, c)), r2: (c) => r2Counted(regression, rows, c) });
    close(
      r.rmse,
      bootstrap(n, (p) => rmse(regression, pickRows(p))),
      'RMSE',
    );
    close(
      r.r2,
      bootstrap(n, (p) => r2(regression, pickRows(p))),
      'R²',
    );
    assert.ok(mae(regression, rows) > 0);
  });

  it('counts label ids never predicted and predictions still waiting; an unlabelled window is "not enough data"', () => {
    assert.equal(joined.counts.unmatchedLabels, 3);
    assert.deepEqual(joined.unmatchedSample, ['x1', 'x2', 'x3']);
    assert.equal(joined.counts.unlabelled, 31, 'December 2015 has no labels yet');
    const december = report.windows.find((w) => w.start === '2015-12-01')!;
    assert.deepEqual([december.status, december.n], ['not_enough_data', 0]);
    assert.match(report.notes.join('\n'), /3 label\(s\) with an id never predicted \(e\.g\. x1, x2, x3\)/);
    const strict = computePerformance(joined, { minRows: 31 });
    assert.equal(strict.windows.find((w) => w.start === '2014-02-01')!.status, 'not_enough_data', '28 rows < min_rows 31');
  });

  it('absolute thresholds and a drop from the validation metric raise alerts on the windows that cross them', () => {
    const alerted = computePerformance(joined, {
      minRows: 20,
      thresholds: { accuracy: { min: 0.8 }, log_loss: { max: 100 }, max_drop: 0.1 },
      baseline: { metric: 'accuracy', key: 'val_accuracy', value: 0.95, version: 1, runId: 'r' },
    });
    const low = Object.entries(reference.windows).filter(([, m]) => m.accuracy < 0.8);
    const dropped = Object.entries(reference.windows).filter(([, m]) => 0.95 - m.accuracy > 0.1);
    assert.ok(low.length > 0 && dropped.length > low.length, 'the data has windows on both sides of the thresholds');
    assert.deepEqual(
      alerted.alerts.filter((a) => a.metric === 'accuracy').map((a) => a.window),
      low.map(([w]) => w),
    );
    assert.deepEqual(
      alerted.alerts.filter((a) => a.metric === 'accuracy_drop').map((a) => a.window),
      dropped.map(([w]) => w),
    );
    assert.match(alerted.alerts.find((a) => a.metric === 'accuracy_drop')!.message, /worse than v1's val_accuracy 0\.950 \(max_drop 0\.1\)/);
    assert.equal(computePerformance(joined, { minRows: 20, thresholds: { accuracy: { min: 0.5 } } }).alerts.length, 0);
    // log loss: lower is better, so a drop is a rise above the validation value
    const lossy = computePerformance(joined, {
      minRows: 20,
      thresholds: { max_drop: 0.2, compare: 'log_loss' },
      baseline: { metric: 'log_loss', key: 'val_log_loss', value: 0.4, version: 2, runId: 'r' },
    });
    assert.deepEqual(
      lossy.alerts.map((a) => a.window),
      Object.entries(reference.windows)
        .filter(([, m]) => m.log_loss - 0.4 > 0.2)
        .map(([w]) => w),
    );
    assert.ok(lossy.alerts.length > 0 && lossy.alerts.length < Object.keys(reference.windows).length);
  });

  it('regression: RMSE, MAE and R² equal scikit-learn', async () => {
    const report = computePerformance(
      await joinLabels({
        ...options,
        predictions: join(dir, 'regression.csv'),
        labels: join(dir, 'regression_labels.csv'),
        window: undefined,
      } as JoinOptions),
    );
    assert.equal(report.task, 'regression');
    for (const metric of ['rmse', 'mae', 'r2'] as const) close(report.overall.metrics[metric]?.value, reference.regression[metric], metric);
  });

  describe('bad input: a clear message naming the file and row, never a crash', () => {
    const variant = (name: string, edit: (lines: string[]) => string[], file = 'predictions.csv'): string => {
      const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
      const path = join(dir, name);
      writeFileSync(path, `${edit(lines).join('\n')}\n`);
      return path;
    };

    it('probabilities that do not sum to 1', async () => {
      const path = variant('bad-proba.csv', (lines) => lines.map((l, i) => (i === 5 ? l.replace(/,([0-9.e-]+)$/, ',0.9') : l)));
      await assert.rejects(joinLabels({ ...options, predictions: path }), (e: Error) => {
        assert.ok(e instanceof MonitoringInputError);
        assert.match(e.message, /^bad-proba\.csv data row 5: the class probabilities \(proba_drizzle, .*\) sum to [0-9.]+, not 1 \(tolerance 0\.001\)/);
        return true;
      });
    });

    it('a duplicate id in the labels or the predictions', async () => {
      const labels = variant('dup-labels.csv', (lines) => [...lines, lines[3]!], 'labels.csv');
      await assert.rejects(
        joinLabels({ ...options, labels }),
        /dup-labels\.csv data row \d+: id w\d+ is labelled twice \(first at dup-labels\.csv data row 3\)/,
      );
      const predictions = variant('dup-predictions.csv', (lines) => [...lines, lines[1]!]);
      await assert.rejects(
        joinLabels({ ...options, predictions }),
        /dup-predictions\.csv data row 731: id w\d+ appears twice in the predictions \(first at dup-predictions\.csv data row 1\)/,
      );
    });

    it('an empty id in the predictions or the labels, text ids and numeric ones: the file and the row', async () => {
      for (const numeric of [false, true]) {
        // numeric: the same ids without their letter, so the typed reader reads them as numbers
        const id = (line: string, i: number): string => (numeric && i > 0 ? line.replace(/^w/, '') : line);
        const emptyAt = (at: number) => (lines: string[]) => lines.map((l, i) => (i === at ? l.replace(/^[^,]*/, '') : id(l, i)));
        const predictions = variant(`empty-id-${numeric}.csv`, emptyAt(7));
        await assert.rejects(joinLabels({ ...options, predictions }), (e: Error) => {
          assert.ok(e instanceof MonitoringInputError);
          assert.equal(e.message, `empty-id-${numeric}.csv data row 7: empty id`);
          return true;
        });
        const labels = variant(`empty-label-id-${numeric}.csv`, emptyAt(4), 'labels.csv');
        const numericPredictions = variant(`ids-${numeric}.csv`, (lines) => lines.map(id));
        await assert.rejects(joinLabels({ ...options, predictions: numericPredictions, labels }), (e: Error) => {
          assert.ok(e instanceof MonitoringInputError);
          assert.equal(e.message, `empty-label-id-${numeric}.csv data row 4: empty id`);
          return true;
        });
      }
    });

    it('a missing column names the file and the setting', async () => {
      await assert.rejects(joinLabels({ ...options, groups: ['sex'] }), /predictions\.csv: no column "sex" \(groups\)/);
      await assert.rejects(joinLabels({ ...options, labelColumn: 'truth' }), /labels\.csv: no column "truth"/);
    });

    it('labels that have not arrived yet (no file, or a glob matching none): every window "not enough data", a note, no error', async () => {
      for (const [labels, said] of [
        [join(dir, 'later', 'labels.csv'), 'later/labels.csv does not exist'],
        [join(dir, 'labels-*.csv'), 'labels-*.csv matches no files'],
      ] as const) {
        const report = computePerformance(await joinLabels({ ...options, labels }), { minRows: 20 });
        assert.equal(report.overall.n, 0);
        assert.ok(report.windows.length > 0 && report.windows.every((w) => w.status === 'not_enough_data'));
        assert.deepEqual(report.alerts, []);
        assert.ok(report.notes.includes(`no labels yet: ${said}`), report.notes.join('; '));
      }
      // a labels path that exists but cannot be read is still an error naming it
      await assert.rejects(joinLabels({ ...options, labels: join(dir, 'predictions.csv', 'x') }), /labels .*predictions\.csv\/x/);
    });

    it('a label class the model never saw: accuracy and F1 still computed, ROC AUC and log loss left out with a note', async () => {
      const labels = variant('hail.csv', (lines) => lines.map((l, i) => (i === 1 ? l.replace(/,[a-z]+$/, ',hail') : l)), 'labels.csv');
      const report = computePerformance(await joinLabels({ ...options, labels }), { minRows: 20 });
      assert.ok(report.classes!.includes('hail'));
      assert.equal(report.overall.metrics.log_loss, null);
      assert.equal(typeof report.overall.metrics.accuracy?.value, 'number');
      assert.match(report.notes.join('\n'), /class "hail" has no probability column \(never seen by the model\)/);
    });
  });
});
