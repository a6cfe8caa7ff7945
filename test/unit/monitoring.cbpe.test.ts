import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { calibrate, checkCalibration, expectedCalibrationError, fitIsotonic } from '../../src/core/monitoring/calibration';
import { estimateWindow, fitCbpe } from '../../src/core/monitoring/cbpe';
import { computeEstimatedPerformance, type EstimatedPerformanceReport } from '../../src/core/monitoring/estimatedPerformance';
import { MonitoringInputError } from '../../src/core/monitoring/labels';
import { pythonJson } from '../support/python';
import { WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';

const REFERENCE = resolve(__dirname, '../../../test/monitoring/cbpe_reference.py');

interface NannyEstimate {
  value: number;
  sampling_error: number | null;
  lower: number | null;
  upper: number | null;
}
interface NannyWindow {
  start: string;
  n: number;
  accuracy: NannyEstimate;
  precision: NannyEstimate;
  recall: NannyEstimate;
  f1: NannyEstimate;
}
interface Nanny {
  multiclass: { classes: string[]; calibrated: Record<string, boolean>; windows: NannyWindow[] };
  binary: { calibrated: boolean; windows: NannyWindow[] };
}

/** NannyML writes NaN where a class has no terms; mloop says null. */
const same = (actual: number | null | undefined, expected: number | null, what: string, tolerance = 1e-6): void => {
  if (expected === null || Number.isNaN(expected)) {
    assert.ok(actual === null || actual === undefined || Number.isNaN(actual), `${what}: ${actual} where NannyML has no value`);
    return;
  }
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tolerance, `${what}: mloop ${actual} vs NannyML ${expected}`);
};

/** Plain weighted PAVA by brute force: the least-squares increasing fit, for a small independent check. */
function bruteIsotonic(x: number[], y: number[]): Map<number, number> {
  const xs = [...new Set(x)].sort((a, b) => a - b);
  let level = xs.map((v) => {
    const ys = y.filter((_, i) => x[i] === v);
    return { value: ys.reduce((a, b) => a + b, 0) / ys.length, weight: ys.length, members: [v] };
  });
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i + 1 < level.length; i++)
      if (level[i]!.value > level[i + 1]!.value) {
        const a = level[i]!;
        const b = level[i + 1]!;
        const weight = a.weight + b.weight;
        level = [
          ...level.slice(0, i),
          { value: (a.value * a.weight + b.value * b.weight) / weight, weight, members: [...a.members, ...b.members] },
          ...level.slice(i + 2),
        ];
        changed = true;
        break;
      }
  }
  return new Map(level.flatMap((l) => l.members.map((m) => [m, l.value] as [number, number])));
}

describe('monitoring: estimated performance before labels (CBPE, checked against NannyML)', function () {
  this.timeout(180_000); // NannyML imports slowly (≈10 s) and more on a loaded machine
  let dir: string;
  let cleanup: () => void;
  let nanny: Nanny;
  let multiclass: EstimatedPerformanceReport;
  let binary: EstimatedPerformanceReport;
  const options = (name: 'multiclass' | 'binary', calibration: boolean[] | 'auto') => ({
    log: {
      predictions: join(dir, `${name}_predictions.csv`),
      idColumn: 'id',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      timeColumn: 'date',
      window: 'monthly' as const,
      baseDir: dir,
    },
    reference: join(dir, `${name}_reference.csv`),
    labelColumn: 'label',
    config: { reference: `${name}_reference.csv` },
    minRows: 1,
    ...(calibration === 'auto' ? {} : { calibrate: calibration }),
  });
  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-cbpe-'));
    // real scikit-learn models on seattle-weather 2012; reference 2013 with labels; 2014-2015 without
    nanny = await pythonJson<Nanny>({ args: [REFERENCE, WEATHER, dir] });
    // the calibrate-or-not decision is where mloop deliberately differs (deterministic folds): take NannyML's here
    multiclass = await computeEstimatedPerformance(
      options(
        'multiclass',
        nanny.multiclass.classes.map((c) => nanny.multiclass.calibrated[c]!),
      ),
    );
    binary = await computeEstimatedPerformance(options('binary', [nanny.binary.calibrated]));
  });
  after(() => cleanup());

  it('multiclass (five weather classes, LogisticRegression): accuracy, macro precision, recall and F1 with sampling errors and bands equal NannyML per month to 1e-6', () => {
    assert.deepEqual(multiclass.classes, nanny.multiclass.classes);
    assert.ok(
      multiclass.calibration.some((c) => c.applied),
      'the isotonic calibration path is exercised',
    );
    assert.equal(multiclass.windows.length, nanny.multiclass.windows.length);
    multiclass.windows.forEach((w, i) => {
      const theirs = nanny.multiclass.windows[i]!;
      assert.equal(w.start, theirs.start);
      assert.equal(w.n, theirs.n);
      for (const [ours, name] of [
        ['accuracy', 'accuracy'],
        ['precision_macro', 'precision'],
        ['recall_macro', 'recall'],
        ['f1_macro', 'f1'],
      ] as const) {
        const e = w.metrics[ours]!;
        const t = theirs[name];
        same(e.value, t.value, `${w.start} ${ours}`);
        same(e.sampling_error, t.sampling_error, `${w.start} ${ours} sampling error`);
        same(e.lower, t.lower, `${w.start} ${ours} lower band`);
        same(e.upper, t.upper, `${w.start} ${ours} upper band`);
      }
    });
  });

  it('binary (rain or not, an over-confident GaussianNB, calibrated on the reference): accuracy with its band, and the positive class precision, recall and F1 equal NannyML to 1e-6', async () => {
    assert.equal(nanny.binary.calibrated, true, 'NannyML calibrates this model (the fixture exists to exercise calibration)');
    const model = fitCbpe(referenceOf(join(dir, 'binary_reference.csv')), [true]);
    assert.equal(binary.windows.length, nanny.binary.windows.length);
    binary.windows.forEach((w, i) => {
      const theirs = nanny.binary.windows[i]!;
      assert.equal(w.start, theirs.start);
      const a = w.metrics.accuracy!;
      same(a.value, theirs.accuracy.value, `${w.start} accuracy`);
      same(a.sampling_error, theirs.accuracy.sampling_error, `${w.start} accuracy sampling error`);
      same(a.lower, theirs.accuracy.lower, `${w.start} accuracy lower`);
      same(a.upper, theirs.accuracy.upper, `${w.start} accuracy upper`);
    });
    // per class: the same estimate NannyML's binary mode gives for the positive class
    const rows = readCsv(join(dir, 'binary_predictions.csv'));
    const january = rows.filter((r) => r.date!.startsWith('2014-01'));
    const estimate = estimateWindow(model, {
      predicted: Int32Array.from(january, (r) => Number(r.predicted)),
      proba: [Float64Array.from(january, (r) => Number(r.proba_0)), Float64Array.from(january, (r) => Number(r.proba_1))],
    });
    const positive = estimate.per_class[1]!;
    const theirs = nanny.binary.windows[0]!;
    same(positive.precision, theirs.precision.value, 'January precision of class 1');
    same(positive.recall, theirs.recall.value, 'January recall of class 1');
    same(positive.f1, theirs.f1.value, 'January F1 of class 1');
  });

  it('the reference report carries the calibration check (held-out ECE before/after) and its realised metrics', () => {
    for (const c of multiclass.calibration) {
      assert.ok(Number.isFinite(c.ece_before) && Number.isFinite(c.ece_after), `${c.class}: both ECEs computed`);
    }
    const rows = readCsv(join(dir, 'multiclass_reference.csv'));
    const correct = rows.filter((r) => r.predicted === r.label).length;
    assert.equal(multiclass.reference.n, rows.length);
    assert.equal(multiclass.reference.accuracy, correct / rows.length);
  });

  it('isotonic fit equals a brute-force pooled least-squares fit, clips outside the fitted range and interpolates between points', () => {
    const x = [0.1, 0.2, 0.2, 0.3, 0.5, 0.5, 0.7, 0.9, 0.95];
    const y = [0, 1, 0, 0, 1, 1, 0, 1, 1];
    const fitted = fitIsotonic(x, y);
    const brute = bruteIsotonic(x, y);
    for (const v of new Set(x)) assert.ok(Math.abs(calibrate(fitted, v) - brute.get(v)!) < 1e-12, `at ${v}: ${calibrate(fitted, v)} vs ${brute.get(v)}`);
    assert.equal(calibrate(fitted, -1), brute.get(0.1), 'clipped below');
    assert.equal(calibrate(fitted, 2), brute.get(0.95), 'clipped above');
    const between = calibrate(fitted, 0.6);
    const expected = brute.get(0.5)! + ((0.6 - 0.5) / (0.7 - 0.5)) * (brute.get(0.7)! - brute.get(0.5)!);
    assert.ok(Math.abs(between - expected) < 1e-12, `linear between points: ${between} vs ${expected}`);
  });

  it('the calibration check: squashed scores are calibrated (held-out ECE falls); one class or a perfect ranking needs nothing', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const n = 2000;
    const truthful = Array.from({ length: n }, () => random());
    const outcome = truthful.map((p) => (random() < p ? 1 : 0));
    const honest = checkCalibration(truthful, outcome);
    assert.ok(honest.ece_before < 0.05, `true probabilities are close to calibrated already (ECE ${honest.ece_before})`);
    const squashed = truthful.map((p) => 0.45 + p / 10);
    const check = checkCalibration(squashed, outcome);
    assert.equal(check.helps, true, `squashed scores are calibrated (ECE ${check.ece_before} → ${check.ece_after})`);
    assert.ok(expectedCalibrationError(squashed, outcome) > 0.2);
    assert.equal(checkCalibration([0.1, 0.2, 0.3], [1, 1, 1]).helps, false);
    assert.equal(checkCalibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]).reason?.includes('ROC AUC'), true);
  });

  it('the calibration check on 40,000 rows (one sort for the ten folds) equals the check written out: stratified folds, an isotonic fit per fold, held-out ECE', () => {
    let seed = 11;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const n = 40_000;
    // rounded scores: many ties across the two outcomes and across folds
    const scores = Array.from({ length: n }, () => Math.round((0.4 + random() / 5) * 1000) / 1000);
    const outcomes = scores.map((p) => (random() < (p - 0.4) * 5 ? 1 : 0));
    const fold = new Array<number>(n);
    const seen = [0, 0];
    for (let i = 0; i < n; i++) fold[i] = seen[outcomes[i]!]!++ % 10;
    const heldScores: number[] = [];
    const heldOutcomes: number[] = [];
    const heldCalibrated: number[] = [];
    for (let f = 0; f < 10; f++) {
      const train = [...Array(n).keys()].filter((i) => fold[i] !== f);
      const fitted = fitIsotonic(
        train.map((i) => scores[i]!),
        train.map((i) => outcomes[i]!),
      );
      for (let i = 0; i < n; i++)
        if (fold[i] === f) {
          heldScores.push(scores[i]!);
          heldOutcomes.push(outcomes[i]!);
          heldCalibrated.push(calibrate(fitted, scores[i]!));
        }
    }
    const check = checkCalibration(Float64Array.from(scores), Float64Array.from(outcomes));
    assert.equal(check.ece_before, expectedCalibrationError(heldScores, heldOutcomes));
    assert.equal(check.ece_after, expectedCalibrationError(heldCalibrated, heldOutcomes));
    assert.equal(check.helps, check.ece_before > check.ece_after);
  });

  it('bad input: no probability columns, different classes in the log and the reference, an empty reference label — each named', async () => {
    writeFileSync(join(dir, 'noproba.csv'), 'date,predicted,label\n2013-01-01,sun,sun\n');
    await assert.rejects(
      computeEstimatedPerformance({ ...options('multiclass', 'auto'), reference: join(dir, 'noproba.csv') }),
      (e: unknown) => e instanceof MonitoringInputError && /no probability columns \(proba_<class>\)/.test((e as Error).message),
    );
    await assert.rejects(
      computeEstimatedPerformance({ ...options('multiclass', 'auto'), reference: join(dir, 'binary_reference.csv') }),
      (e: unknown) => e instanceof MonitoringInputError && /differ from the reference's \(0, 1\)/.test((e as Error).message),
    );
    const lines = readFileSync(join(dir, 'binary_reference.csv'), 'utf8').trimEnd().split('\n');
    lines[3] = lines[3]!.replace(/,[01]$/, ',');
    writeFileSync(join(dir, 'holey.csv'), `${lines.join('\n')}\n`);
    await assert.rejects(
      computeEstimatedPerformance({ ...options('binary', 'auto'), reference: join(dir, 'holey.csv') }),
      (e: unknown) => e instanceof MonitoringInputError && /holey\.csv data row 3: empty label/.test((e as Error).message),
    );
  });
});

function readCsv(path: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  const names = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, v])));
}

function referenceOf(path: string) {
  const rows = readCsv(path);
  return {
    classes: ['0', '1'],
    truth: Int32Array.from(rows, (r) => Number(r.label)),
    predicted: Int32Array.from(rows, (r) => Number(r.predicted)),
    proba: [Float64Array.from(rows, (r) => Number(r.proba_0)), Float64Array.from(rows, (r) => Number(r.proba_1))],
  };
}
