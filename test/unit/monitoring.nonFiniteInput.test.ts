import assert from 'node:assert/strict';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { binCounts, binEdges, countedBinCounts, quantileSorted } from '../../src/core/drift/binning';
import { DriftInputError } from '../../src/core/drift/collect';
import type { ColumnSample } from '../../src/core/drift/columnSample';
import {
  chiSquareContingency,
  jensenShannonDistance,
  populationStabilityIndex,
  populationStd,
  runEnd,
  upperBoundFrom,
  WassersteinReference,
  wasserstein1,
  wasserstein1Against,
} from '../../src/core/drift/distances';
import { chiSquareSf, regularizedGammaQ } from '../../src/core/drift/gamma';
import { kolmogorovSf, smirnovSf } from '../../src/core/drift/kolmogorov';
import { ksStatistic, ksTwoSample } from '../../src/core/drift/ks';
import { computeDriftReport, DRIFT_METHOD_NAMES, type DriftMethodChoice } from '../../src/core/drift/report';
import { sortNumbers, stableOrder } from '../../src/core/drift/sortNumbers';
import { calibrate, checkCalibration, expectedCalibrationError, fitIsotonic } from '../../src/core/monitoring/calibration';
import { estimateWindow, fitCbpe } from '../../src/core/monitoring/cbpe';
import { computeFairness } from '../../src/core/monitoring/fairness';
import type { LabelledPredictions } from '../../src/core/monitoring/labels';
import { computePerformance } from '../../src/core/monitoring/performance';
import { percentile } from '../../src/core/monitoring/servingLog';
import {
  aucInfluence,
  bootstrap,
  logLoss,
  macroScoresInfluence,
  meanInfluence,
  regressionInfluence,
  rocAuc,
  wilsonInterval,
} from '../../src/core/monitoring/statistics';

/**
 * Every numeric loop of the drift, performance, CBPE, fairness and service-health statistics whose end depends on
 * comparisons (merges of sorted samples, galloping and binary searches, bin-edge walks, quantiles, series and
 * continued fractions, isotonic pooling) fed NaN, ±Infinity and empty input. A loop that never ends cannot be stopped
 * by mocha's timeout (the thread never yields), so the cases run in a worker thread — this very bundle — and a
 * watchdog on this thread ends the worker when a case does not answer in time: the case fails as "hung" and the next
 * worker goes on from the case after it. Each case must end with a defined result or an error that says what is wrong
 * (at the drift report: naming the column), never hang.
 */

/** Generous: a case is microseconds of work, but a worker's start on a loaded 2-core machine can take seconds. */
const WATCHDOG_MS = 20_000;

type Outcome = { readonly value: unknown } | { readonly error: string; readonly errorName: string } | { readonly hung: true };

interface Case {
  readonly name: string;
  readonly run: () => unknown;
  /** Checked on the main thread against what the worker reported (a hang fails before this). */
  readonly expect: (outcome: Outcome) => void;
}

const f64 = (...values: number[]): Float64Array => Float64Array.from(values);
const normal = (): Float64Array => f64(0.5, 1.5, 2.5, 3.5);

/** Ascending samples with a value that is not a finite number, as a sort would leave them, plus the empty sample. */
const BAD_SAMPLES: Readonly<Record<string, () => Float64Array>> = {
  'NaN (last, where sorts put it)': () => f64(1, 2, 3, Number.NaN),
  'NaN (in the middle, unsorted)': () => f64(1, Number.NaN, 3),
  'NaN only': () => f64(Number.NaN, Number.NaN),
  '+Infinity': () => f64(1, 2, Number.POSITIVE_INFINITY),
  '−Infinity': () => f64(Number.NEGATIVE_INFINITY, 1, 2),
  empty: () => f64(),
};

function value(outcome: Outcome): unknown {
  if ('hung' in outcome) assert.fail('hung');
  if ('error' in outcome) assert.fail(`threw ${outcome.errorName}: ${outcome.error}`);
  return outcome.value;
}
function errorOf(outcome: Outcome): string {
  if ('hung' in outcome) assert.fail('hung');
  if (!('error' in outcome)) assert.fail(`returned ${String((outcome as { value: unknown }).value)} instead of an error`);
  return outcome.error;
}
/** Ended: with any result or any error (for helpers whose callers check their input). */
function ended(outcome: Outcome): void {
  assert.ok(!('hung' in outcome), 'hung');
}
/** A number that is NaN (undefined), never a finite number made up from bad input. */
function nanResult(outcome: Outcome): void {
  assert.ok(Number.isNaN(value(outcome) as number), `expected NaN, got ${String(value(outcome))}`);
}
const throwsMatching =
  (pattern: RegExp) =>
  (outcome: Outcome): void =>
    assert.match(errorOf(outcome), pattern);

function numericSample(sorted: Float64Array): ColumnSample {
  return { kind: 'numeric', sorted, missing: 0, infinite: 0 };
}

function joinedOf(truth: string[], predicted: string[], proba: Record<string, number[]>, groups: Record<string, string[]> = {}): LabelledPredictions {
  const n = truth.length;
  return {
    windowOf: Array<string>(n).fill('2025-01-01'),
    truth,
    predicted,
    proba: new Map(Object.entries(proba)),
    groups: new Map(Object.entries(groups)),
    counts: { predictions: n, labels: n, joined: n, unlabelled: 0, unmatchedLabels: 0, withoutTime: 0 },
    unmatchedSample: [],
    windows: n === 0 ? [] : ['2025-01-01'],
  };
}

function cases(): Case[] {
  const out: Case[] = [];
  const add = (name: string, run: () => unknown, expect: (o: Outcome) => void): void => {
    out.push({ name, run, expect });
  };
  // a small window against a large reference sums stretches from prefix sums: a NaN inside one must still be caught
  const largeWithNaN = (): Float64Array => {
    const a = Float64Array.from({ length: 200 }, (_, i) => i);
    a[120] = Number.NaN;
    return a;
  };
  add(
    'wasserstein1Against, NaN (in the middle of a large reference, unsorted)',
    () => wasserstein1Against(new WassersteinReference(largeWithNaN()), f64(3, 197)),
    throwsMatching(/NaN or an infinity/),
  );
  for (const [label, sample] of Object.entries(BAD_SAMPLES)) {
    const isEmpty = label === 'empty';
    const notFinite = isEmpty ? /needs values on both sides/ : /NaN or an infinity/;
    // the two-sample statistics: a merge walk over both samples, stepping past runs of equal values
    add(`ksTwoSample, reference ${label}`, () => ksTwoSample(sample(), normal()), throwsMatching(notFinite));
    add(`ksTwoSample, current ${label}`, () => ksTwoSample(normal(), sample()), throwsMatching(notFinite));
    add(`ksStatistic, both ${label}`, () => ksStatistic(sample(), sample()), throwsMatching(notFinite));
    add(`wasserstein1, u ${label}`, () => wasserstein1(sample(), normal()), throwsMatching(notFinite));
    add(`wasserstein1, v ${label}`, () => wasserstein1(normal(), sample()), throwsMatching(notFinite));
    add(`wasserstein1Against, reference ${label}`, () => wasserstein1Against(new WassersteinReference(sample()), normal()), throwsMatching(notFinite));
    add(`wasserstein1Against, window ${label}`, () => wasserstein1Against(new WassersteinReference(normal()), sample()), throwsMatching(notFinite));
    // galloping search, runs of equal values, the std's run walk
    add(`upperBoundFrom / runEnd, ${label}`, () => [upperBoundFrom(sample(), 0, Number.NaN), isEmpty ? 0 : runEnd(sample(), 0)], ended);
    add(
      `populationStd, ${label}`,
      () => populationStd(sample()),
      (o) => {
        const v = value(o) as number;
        assert.ok(!Number.isFinite(v) || (label === 'NaN (in the middle, unsorted)' && Number.isNaN(v)), `a finite std ${v} from bad input`);
      },
    );
    // bin edges (quantiles, Sturges, equal widths) and the bisections that count values per bin
    for (const binning of [{ kind: 'quantiles', count: 10 }, { kind: 'sturges' }, { kind: 'width', count: 30 }] as const) {
      add(`binEdges ${binning.kind}, ${label}`, () => binEdges(binning, sample(), normal()), ended);
    }
    add(
      `binCounts, ${label} values`,
      () => binCounts(sample(), [0, 1, 2, 3]),
      (o) => {
        const counts = value(o) as number[];
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          sample().length,
          'every value counted once',
        );
      },
    );
    add(`binCounts, ${label} edges`, () => binCounts(normal(), [...sample(), 5]), ended);
    add(`countedBinCounts, ${label}`, () => countedBinCounts(sample(), new Float64Array(sample().length).fill(2), 2 * sample().length, [0, 1.5, 3]), ended);
    add(`quantileSorted, ${label}`, () => quantileSorted(sample(), 0.5), ended);
    add(
      `percentile (service latency), ${label}`,
      () => percentile(sample(), 0.95),
      (o) => {
        if (isEmpty) assert.equal(value(o), null);
        else ended(o);
      },
    );
    add(
      `sortNumbers, ${label}`,
      () => Array.from(sortNumbers(sample())),
      (o) => {
        const sorted = value(o) as number[];
        assert.equal(sorted.length, sample().length);
        if (label.startsWith('NaN (')) assert.ok(Number.isNaN(sorted[sorted.length - 1]), 'NaN sorted last');
      },
    );
    add(`stableOrder, ${label}`, () => stableOrder(sample()), ended);
    // the drift report: a sample that holds NaN or an infinity is an error naming the column, whatever the method
    if (!isEmpty) {
      for (const method of DRIFT_METHOD_NAMES) {
        // a NaN inside a sample that is not ascending: the walks of KS and Wasserstein notice it; binned methods end
        const expect = label.includes('unsorted') && !['auto', 'ks', 'wasserstein'].includes(method) ? ended : driftErrorNamingColumn;
        add(`computeDriftReport (${method}), current ${label}`, () => driftOf(method, normalMany(), sample()), expect);
        add(`computeDriftReport (${method}), reference ${label}`, () => driftOf(method, sample(), normalMany()), expect);
      }
    }
    // performance and its intervals
    add(
      `meanInfluence, ${label}`,
      () => meanInfluence(sample()).value,
      (o) => assert.ok(isEmpty || !Number.isFinite(value(o) as number)),
    );
    add(
      `rocAuc / aucInfluence, scores ${label}`,
      () => {
        const scores = sample();
        const rows = Uint32Array.from(scores.keys());
        const positive = (row: number): boolean => row % 2 === 0;
        return [rocAuc(scores, positive, rows), aucInfluence(scores, rows, positive).value];
      },
      ended,
    );
    add(
      `regressionInfluence, truth ${label}`,
      () => {
        const truth = sample();
        return regressionInfluence({ truth, predicted: new Float64Array(truth.length).fill(1) }, Uint32Array.from(truth.keys())).rmse.value;
      },
      ended,
    );
    // CBPE's isotonic calibration: pooling adjacent violators, the bisection that applies it, the ECE's bins
    add(
      `fitIsotonic + calibrate, scores ${label}`,
      () => {
        const scores = sample();
        const model = fitIsotonic(
          scores,
          Float64Array.from(scores, (_, i) => i % 2),
        );
        return [calibrate(model, 0.5), calibrate(model, Number.NaN), calibrate(model, Number.POSITIVE_INFINITY)];
      },
      (o) => {
        if (isEmpty) assert.match(errorOf(o), /at least one row/);
        else ended(o);
      },
    );
    add(
      `expectedCalibrationError, scores ${label}`,
      () => {
        const scores = sample();
        return expectedCalibrationError(
          scores,
          Float64Array.from(scores, (_, i) => i % 2),
          1,
        );
      },
      ended,
    );
    add(
      `checkCalibration, scores ${label}`,
      () => {
        const scores = Float64Array.from({ length: 40 }, (_, i) => sample()[i % Math.max(1, sample().length)] ?? Number.NaN);
        return checkCalibration(
          scores,
          Float64Array.from(scores, (_, i) => i % 2),
        );
      },
      ended,
    );
  }
  add(
    'calibrate: a fitted model asked at NaN and ±Infinity',
    () => {
      const model = fitIsotonic(f64(0.1, 0.4, 0.6, 0.9), f64(0, 0, 1, 1));
      return [calibrate(model, Number.NaN), calibrate(model, Number.NEGATIVE_INFINITY), calibrate(model, Number.POSITIVE_INFINITY)];
    },
    (o) => {
      const [, low, high] = value(o) as number[];
      assert.equal(low, 0);
      assert.equal(high, 1);
    },
  );
  // the p-value series: Kolmogorov's, Smirnov's, the incomplete gamma's series and continued fraction
  for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    add(
      `kolmogorovSf(100, ${x})`,
      () => kolmogorovSf(100, x),
      (o) => {
        const p = value(o) as number;
        if (Number.isNaN(x)) assert.ok(Number.isNaN(p));
        else assert.equal(p, x > 0 ? 0 : 1);
      },
    );
    add(`kolmogorovSf(${x}, 0.1)`, () => kolmogorovSf(x, 0.1), nanResult);
    add(`smirnovSf(100, ${x}) and smirnovSf(${x}, 0.1)`, () => [smirnovSf(100, x), smirnovSf(x, 0.1)], ended);
    add(`regularizedGammaQ(${x}, 2) and (2, ${x})`, () => [regularizedGammaQ(x, 2), regularizedGammaQ(2, x)], ended);
    add(`chiSquareSf(${x}, 3) and (3, ${x})`, () => [chiSquareSf(x, 3), chiSquareSf(3, x)], ended);
    add(`wilsonInterval(${x}, 10) and (5, ${x})`, () => [wilsonInterval(x, 10), wilsonInterval(5, x)], ended);
    add(
      `PSI / Jensen–Shannon / chi-square on counts holding ${x}`,
      () => {
        const bad = [3, x, 4];
        return [populationStabilityIndex(bad, [2, 2, 2]), jensenShannonDistance([2, 2, 2], bad), chiSquareContingency(bad, [2, 2, 2]).statistic];
      },
      ended,
    );
  }
  add(
    'bootstrap of a statistic that is always NaN',
    () => bootstrap(50, () => Number.NaN),
    (o) => {
      const e = value(o) as { lower: number | null; upper: number | null };
      assert.equal(e.lower, null);
      assert.equal(e.upper, null);
    },
  );
  add(
    'macroScoresInfluence and logLoss with NaN probabilities',
    () => {
      const data = {
        classes: ['a', 'b'],
        truth: Int32Array.of(0, 1, 0, 1),
        predicted: Int32Array.of(0, 1, 1, 1),
        proba: [f64(Number.NaN, 0.2, 0.4, 0.1), f64(Number.NaN, 0.8, 0.6, 0.9)],
      };
      const rows = Uint32Array.of(0, 1, 2, 3);
      return [macroScoresInfluence(data, rows).f1.value, logLoss(data, rows)];
    },
    ended,
  );
  // CBPE fitted and applied
  const reference = (p: number) => ({
    classes: ['0', '1'],
    truth: Int32Array.from({ length: 60 }, (_, i) => i % 2),
    predicted: Int32Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 1 - (i % 2) : i % 2)),
    proba: [
      Float64Array.from({ length: 60 }, (_, i) => (i === 7 ? 1 - p : ((i % 10) + 0.5) / 10)),
      Float64Array.from({ length: 60 }, (_, i) => (i === 7 ? p : 1 - ((i % 10) + 0.5) / 10)),
    ],
  });
  for (const p of [Number.NaN, Number.POSITIVE_INFINITY]) {
    add(`fitCbpe with a reference probability ${p}`, () => fitCbpe(reference(p)).accuracyStd, ended);
    add(
      `estimateWindow with a window probability ${p}`,
      () => {
        const model = fitCbpe(reference(0.3));
        return estimateWindow(model, { predicted: Int32Array.of(0, 1, 1), proba: [f64(0.4, p, 0.2), f64(0.6, p, 0.8)] }).metrics.accuracy.value;
      },
      ended,
    );
  }
  add(
    'estimateWindow on an empty window',
    () => estimateWindow(fitCbpe(reference(0.3)), { predicted: new Int32Array(0), proba: [f64(), f64()] }).metrics.accuracy.value,
    nanResult,
  );
  add(
    'fitCbpe on an empty reference',
    () => fitCbpe({ classes: ['0', '1'], truth: new Int32Array(0), predicted: new Int32Array(0), proba: [f64(), f64()] }),
    ended,
  );
  // performance and fairness reports from joined rows
  add(
    'computePerformance: a regression label that is Infinity',
    () => computePerformance(joinedOf(['1', 'Infinity', '2'].map(Number) as never, [1, 2, 3] as never, {}), { task: 'regression', minRows: 1 }),
    throwsMatching(/a label is Infinity, not a finite number/),
  );
  add(
    'computePerformance: classification with NaN probabilities',
    () => {
      const truth = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'a' : 'b'));
      return computePerformance(joinedOf(truth, [...truth].reverse(), { a: truth.map(() => Number.NaN), b: truth.map(() => Number.NaN) }), {
        task: 'classification',
      });
    },
    ended,
  );
  add(
    'computePerformance and computeFairness on nothing joined',
    () => [computePerformance(joinedOf([], [], {}), { task: 'classification' }), computeFairness(joinedOf([], [], {}, { sex: [] }), { positiveClass: 'a' })],
    ended,
  );
  return out;
}

function normalMany(): Float64Array {
  return Float64Array.from({ length: 1500 }, (_, i) => i / 10);
}

function driftOf(method: DriftMethodChoice, reference: Float64Array, current: Float64Array): unknown {
  return computeDriftReport(
    {
      reference: new Map([['temp', numericSample(reference)]]),
      current: new Map([['temp', numericSample(current)]]),
      referenceRows: reference.length,
      currentRows: current.length,
    },
    { method },
  );
}

function driftErrorNamingColumn(outcome: Outcome): void {
  assert.match(errorOf(outcome), /column "temp".*(NaN|infinity)/);
  assert.equal((outcome as { errorName: string }).errorName, new DriftInputError('').name);
}

/** In the worker: run the cases from `from` on, reporting each start and each outcome. */
function runCases(from: number): void {
  const all = cases();
  for (let index = from; index < all.length; index++) {
    parentPort!.postMessage({ index, started: true });
    let outcome: Outcome;
    try {
      outcome = { value: all[index]!.run() };
    } catch (error) {
      outcome = { error: error instanceof Error ? error.message : String(error), errorName: error instanceof Error ? error.name : typeof error };
    }
    try {
      parentPort!.postMessage({ index, outcome });
    } catch {
      parentPort!.postMessage({ index, outcome: { value: '(not cloneable)' } });
    }
  }
}

/** On the main thread: every case's outcome, each case given WATCHDOG_MS before it counts as hung. */
async function runWithWatchdog(count: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  while (outcomes.length < count) {
    const from = outcomes.length;
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(__filename, { workerData: { nonFiniteCasesFrom: from } });
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          outcomes.push({ hung: true });
          void worker.terminate();
        }, WATCHDOG_MS);
      };
      arm();
      worker.on('message', (m: { index: number; started?: true; outcome?: Outcome }) => {
        if (m.outcome) outcomes[m.index] = m.outcome;
        arm();
      });
      worker.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return outcomes;
}

if (!isMainThread && (workerData as { nonFiniteCasesFrom?: number } | undefined)?.nonFiniteCasesFrom !== undefined) {
  runCases((workerData as { nonFiniteCasesFrom: number }).nonFiniteCasesFrom);
} else if (isMainThread) {
  describe('statistics on NaN, ±Infinity and empty input end (a watchdog thread ends any case that hangs)', function () {
    this.timeout(120_000);
    const all = cases();
    let outcomes: Outcome[] = [];
    before(async () => {
      outcomes = await runWithWatchdog(all.length);
    });
    for (const [index, c] of all.entries()) {
      it(c.name, () => {
        const outcome = outcomes[index];
        assert.ok(outcome, 'no outcome reported');
        c.expect(outcome);
      });
    }
  });
}
