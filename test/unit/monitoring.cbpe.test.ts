import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { calibrate, calibrateAll, checkAndFit, checkCalibration, expectedCalibrationError, fitIsotonic } from '../../src/core/monitoring/calibration';
import { estimateWindow, estimateWindows, fitCbpe } from '../../src/core/monitoring/cbpe';
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

  it('the kernels on 40,000 rows with ties (radix-sorted paths): the isotonic fit equals the brute-force fit, the ECE equals equal-count bins written out, checkAndFit equals the check and the fit apart, calibrateAll equals calibrate', () => {
    const random = lcg(23);
    const n = 40_000;
    // two decimals: 101 distinct scores, so ties everywhere and the brute-force fit stays cheap
    const scores = Float64Array.from({ length: n }, () => Math.round(random() * 100) / 100);
    const outcomes = Float64Array.from(scores, (p) => (random() < 0.2 + 0.6 * p * p ? 1 : 0));
    const fitted = fitIsotonic(scores, outcomes);
    const brute = bruteIsotonic(Array.from(scores), Array.from(outcomes));
    for (const [v, expected] of brute) assert.ok(Math.abs(calibrate(fitted, v) - expected) < 1e-12, `at ${v}: ${calibrate(fitted, v)} vs ${expected}`);
    // NannyML's ECE: rows sorted by score (ties in row order here), ten equal-count bins, the last taking the rest
    const order = [...Array(n).keys()].sort((a, b) => scores[a]! - scores[b]! || a - b);
    let ece = 0;
    const width = Math.floor(n / 10);
    for (let b = 0; b < 10; b++) {
      const rows = order.slice(b * width, b === 9 ? n : (b + 1) * width);
      const meanScore = rows.reduce((sum, r) => sum + scores[r]!, 0) / rows.length;
      const meanOutcome = rows.reduce((sum, r) => sum + outcomes[r]!, 0) / rows.length;
      ece += (rows.length / n) * Math.abs(meanScore - meanOutcome);
    }
    assert.ok(Math.abs(expectedCalibrationError(scores, outcomes) - ece) < 1e-12, `ECE ${expectedCalibrationError(scores, outcomes)} vs ${ece}`);
    const both = checkAndFit(scores, outcomes, () => true);
    assert.deepEqual(both.check, checkCalibration(scores, outcomes));
    assert.deepEqual(both.calibrator, fitted);
    assert.equal(checkAndFit(scores, outcomes, () => false).calibrator, null);
    // every fitted point, the midpoints between them, the ends and beyond, and scores off the fitted points
    const asked = Float64Array.from([
      ...fitted.x,
      ...Array.from(fitted.x.subarray(1), (x, i) => (x + fitted.x[i]!) / 2),
      ...Array.from({ length: 20_000 }, () => random() * 1.2 - 0.1),
      -1,
      2,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    const all = calibrateAll(fitted, asked);
    const differs = asked.findIndex((score, i) => !Object.is(all[i], calibrate(fitted, score)));
    assert.equal(differs, -1, `calibrateAll(${asked[differs]}) = ${all[differs]} vs calibrate ${calibrate(fitted, asked[differs]!)}`);
  });

  it('estimateWindows: each window of one pass over the rows equals estimateWindow on the rows of that window alone, exactly; rows of no window are left out', () => {
    const random = lcg(31);
    const n = 30_000;
    const classes = ['a', 'b', 'c'];
    const proba = classes.map(() => new Float64Array(n));
    const truth = new Int32Array(n);
    const predicted = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const raw = [random(), random() * 0.6, random() * 0.3];
      const total = raw[0]! + raw[1]! + raw[2]!;
      raw.forEach((r, c) => (proba[c]![i] = Math.round((r / total) * 1000) / 1000));
      predicted[i] = random() < 0.05 ? -1 : raw.indexOf(Math.max(...raw));
      const u = random();
      truth[i] = u < proba[0]![i]! ? 0 : u < proba[0]![i]! + proba[1]![i]! ? 1 : 2;
    }
    const model = fitCbpe({ classes, truth, predicted, proba }, 'isotonic');
    assert.ok(model.calibrators.every((c) => c !== null));
    // codes 0..4; code 3 belongs to no window, and some rows have no code
    const codes = Int32Array.from({ length: n }, () => Math.floor(random() * 6) - 1);
    const windowOfCode = Int32Array.of(2, 0, 1, -1, 0);
    const estimates = estimateWindows(model, { predicted, proba }, codes, windowOfCode, 3);
    for (let w = 0; w < 3; w++) {
      const rows = [...codes.keys()].filter((i) => codes[i]! >= 0 && windowOfCode[codes[i]!] === w);
      const alone = estimateWindow(model, {
        predicted: Int32Array.from(rows, (i) => predicted[i]!),
        proba: proba.map((column) => Float64Array.from(rows, (i) => column[i]!)),
      });
      assert.deepEqual(estimates[w], alone, `window ${w}`);
    }
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

/** The linear congruential generator of the tests above, from a seed. */
function lcg(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

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
