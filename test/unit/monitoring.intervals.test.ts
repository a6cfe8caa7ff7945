import assert from 'node:assert/strict';
import {
  aucInfluence,
  aucSquares,
  AucScratch,
  bootstrap,
  influenceInterval,
  macroScores,
  macroScoresInfluence,
  macroScoresSquares,
  meanSquares,
  logLosses,
  squaresInterval,
  regressionInfluence,
  rmse,
  mae,
  r2,
  classificationAuc,
  type ClassificationData,
  type Estimate,
} from '../../src/core/monitoring/statistics';
import { computePerformance } from '../../src/core/monitoring/performance';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { logLoss } from '../../src/core/monitoring/statistics';

/**
 * The normal intervals of large windows (n ≥ NORMAL_INTERVAL_ROWS), against independent formulations written here:
 * DeLong's variance of ROC AUC by pairwise comparison (O(m·n), no ranks), the delta method on the multinomial
 * cell proportions of the confusion matrix (numeric gradient of the macro score, Σ = diag(p) − ppᵀ), and the
 * percentile bootstrap the small windows keep (the two must agree on a large window).
 */

const Z = 1.959963984540054;
const halfWidth = (e: Estimate): number => (e.upper! - e.lower!) / 2;

function classification(n: number, classes: number, seed: number): ClassificationData {
  const random = seededRandom(seed);
  const truth = new Int32Array(n);
  const predicted = new Int32Array(n);
  const proba = Array.from({ length: classes }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    truth[i] = Math.floor(random() * classes);
    // scores rounded to 2 decimals: many ties
    const raw = Array.from({ length: classes }, (_, c) => Math.round((random() + (c === truth[i] ? 0.6 : 0)) * 100) / 100 + 0.01);
    const sum = raw.reduce((a, b) => a + b, 0);
    raw.forEach((r, c) => (proba[c]![i] = r / sum));
    predicted[i] = random() < 0.7 ? truth[i]! : Math.floor(random() * classes);
  }
  return { classes: Array.from({ length: classes }, (_, c) => String(c)), truth, predicted, proba };
}

const all = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

describe('monitoring: normal intervals of large windows', function () {
  this.timeout(120_000);

  it("ROC AUC: DeLong's variance by pairwise comparison equals the ranked one (ties, two classes)", () => {
    const data = classification(3000, 2, 11);
    const rows = all(3000);
    const score = data.proba![1]!;
    const pos: number[] = [];
    const neg: number[] = [];
    rows.forEach((i) => (data.truth[i] === 1 ? pos : neg).push(i));
    const psiOf = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);
    const v10 = pos.map((i) => neg.reduce((s, j) => s + psiOf(score[i]!, score[j]!), 0) / neg.length);
    const v01 = neg.map((j) => pos.reduce((s, i) => s + psiOf(score[i]!, score[j]!), 0) / pos.length);
    const auc = v10.reduce((a, b) => a + b, 0) / pos.length;
    const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (pos.length - 1);
    const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (neg.length - 1);
    const variance = s10 / pos.length + s01 / neg.length;

    const got = aucInfluence(score, rows, (r) => data.truth[r] === 1);
    assert.ok(Math.abs(got.value - auc) < 1e-12, `${got.value} vs ${auc}`);
    assert.ok(Math.abs(got.value - classificationAuc(data, rows)) < 1e-12);
    const e = influenceInterval(got.value, got.psi);
    assert.ok(Math.abs(halfWidth(e) / Z - Math.sqrt(variance)) < 1e-12, `${halfWidth(e) / Z} vs ${Math.sqrt(variance)}`);
    // three classes: the one-vs-rest values average to the macro ROC AUC of the rank implementation
    const three = classification(3000, 3, 15);
    const macro = [0, 1, 2].reduce((sum, c) => sum + aucInfluence(three.proba![c]!, rows, (r) => three.truth[r] === c).value, 0) / 3;
    assert.ok(Math.abs(macro - classificationAuc(three, rows)) < 1e-12, `${macro} vs ${classificationAuc(three, rows)}`);
  });

  it('macro precision / recall / F1: the influence variance equals the delta method on the confusion cells (3 classes)', () => {
    const n = 5000;
    const k = 3;
    const data = classification(n, k, 12);
    const rows = all(n);
    const cells = new Float64Array(k * k);
    for (let i = 0; i < n; i++) cells[data.truth[i]! * k + data.predicted[i]!]! += 1 / n;
    const scoreOf = (p: Float64Array, which: 'precision' | 'recall' | 'f1'): number => {
      let total = 0;
      for (let c = 0; c < k; c++) {
        let tp = p[c * k + c]!;
        let truth = 0;
        let pred = 0;
        for (let d = 0; d < k; d++) {
          truth += p[c * k + d]!;
          pred += p[d * k + c]!;
        }
        total += which === 'precision' ? tp / pred : which === 'recall' ? tp / truth : (2 * tp) / (truth + pred);
        tp = 0;
      }
      return total / k;
    };
    const got = macroScoresInfluence(data, rows);
    const reference = macroScores(data, rows);
    for (const which of ['precision', 'recall', 'f1'] as const) {
      assert.ok(Math.abs(got[which].value - reference[which]) < 1e-12, which);
      const h = 1e-6;
      const gradient = Array.from(cells, (_, c) => {
        const up = Float64Array.from(cells);
        const down = Float64Array.from(cells);
        up[c]! += h;
        down[c]! -= h;
        return (scoreOf(up, which) - scoreOf(down, which)) / (2 * h);
      });
      let variance = 0;
      for (let a = 0; a < cells.length; a++)
        for (let b = 0; b < cells.length; b++) variance += gradient[a]! * gradient[b]! * ((a === b ? cells[a]! : 0) - cells[a]! * cells[b]!);
      variance /= n;
      const e = influenceInterval(got[which].value, got[which].psi);
      assert.ok(Math.abs(halfWidth(e) / Z / Math.sqrt(variance) - 1) < 1e-5, `${which}: ${halfWidth(e) / Z} vs ${Math.sqrt(variance)}`);
    }
  });

  it('on a window of 25,000 rows the normal intervals agree with the percentile bootstrap (classification and regression)', () => {
    const n = 25_000;
    const rows = all(n);
    const data = classification(n, 3, 13);
    const random = seededRandom(14);
    const truthY = Float64Array.from({ length: n }, () => random() * 10);
    const regression = { truth: truthY, predicted: truthY.map((y) => y + (random() - 0.5) * 4 + (random() < 0.05 ? 6 : 0)) };
    const normal = macroScoresInfluence(data, rows);
    const reg = regressionInfluence(regression, rows);
    const pairs: [string, Estimate, Estimate][] = [
      ['precision', influenceInterval(normal.precision.value, normal.precision.psi), bootstrap(n, (r) => macroScores(data, r).precision)],
      ['f1', influenceInterval(normal.f1.value, normal.f1.psi), bootstrap(n, (r) => macroScores(data, r).f1)],
      ['rmse', influenceInterval(reg.rmse.value, reg.rmse.psi), bootstrap(n, (r) => rmse(regression, r))],
      ['mae', influenceInterval(reg.mae.value, reg.mae.psi), bootstrap(n, (r) => mae(regression, r))],
      ['r2', influenceInterval(reg.r2.value, reg.r2.psi), bootstrap(n, (r) => r2(regression, r))],
    ];
    for (const [what, a, b] of pairs) {
      assert.ok(Math.abs(a.value - b.value) < 1e-12, `${what}: same value`);
      const width = b.upper! - b.lower!;
      assert.ok(
        Math.abs(a.lower! - b.lower!) < 0.2 * width && Math.abs(a.upper! - b.upper!) < 0.2 * width,
        `${what}: normal [${a.lower}, ${a.upper}] vs bootstrap [${b.lower}, ${b.upper}]`,
      );
    }
  });

  it('computePerformance: a window of 20,000+ rows reports normal intervals around the same values; a class absent from a window leaves ROC AUC out', () => {
    const n = 21_000;
    const data = classification(n, 3, 16);
    const rows = all(n);
    // the second window lacks class 2 in its labels: ROC AUC is undefined there
    const second = classification(n, 2, 17);
    const joined = {
      windowOf: [...Array<string>(n).fill('2025-01-01'), ...Array<string>(n).fill('2025-02-01')],
      truth: [...Array.from(data.truth, String), ...Array.from(second.truth, String)],
      predicted: [...Array.from(data.predicted, String), ...Array.from(second.predicted, String)],
      proba: new Map(['0', '1', '2'].map((c, k) => [c, [...data.proba![k]!, ...(k < 2 ? second.proba![k]! : new Float64Array(n))]])),
      groups: new Map<string, string[]>(),
      counts: { predictions: 2 * n, labels: 2 * n, joined: 2 * n, unlabelled: 0, unmatchedLabels: 0, withoutTime: 0 },
      unmatchedSample: [],
      windows: ['2025-01-01', '2025-02-01'],
    };
    const report = computePerformance(joined, { task: 'classification' });
    const [january, february] = report.windows;
    const m = january!.metrics;
    const reference = macroScores(data, rows);
    assert.equal(m.precision_macro!.interval, 'normal');
    assert.ok(Math.abs(m.precision_macro!.value - reference.precision) < 1e-12);
    assert.ok(Math.abs(m.f1_macro!.value - reference.f1) < 1e-12);
    assert.ok(Math.abs(m.roc_auc!.value - classificationAuc(data, rows)) < 1e-12);
    assert.ok(Math.abs(m.log_loss!.value - logLoss(data, rows)) < 1e-12);
    for (const e of [m.precision_macro!, m.recall_macro!, m.f1_macro!, m.roc_auc!, m.log_loss!])
      assert.ok(e.lower! < e.value && e.value < e.upper!, JSON.stringify(e));
    assert.equal(m.accuracy!.interval, 'wilson');
    assert.equal(february!.metrics.roc_auc, null);
    assert.match(february!.missing!.roc_auc!, /a class is missing/);
    assert.equal(february!.metrics.log_loss!.interval, 'normal');
  });

  it('windows whose rows interleave in the log report exactly what the same windows one after the other do (rows, log losses, accuracy)', () => {
    // windows of a log in time order are views of one run of rows; interleaved ones are gathered: the same numbers
    const n = 20_500;
    const windows = [classification(n, 3, 21), classification(n, 3, 22)];
    const layout = (interleaved: boolean) => {
      const at = (i: number): [number, number] => (interleaved ? [i % 2, i >> 1] : [i < n ? 0 : 1, i % n]);
      const rows = Array.from({ length: 2 * n }, (_, i) => at(i));
      return {
        windowOf: rows.map(([w]) => `2025-0${w + 1}-01`),
        truth: rows.map(([w, r]) => String(windows[w]!.truth[r])),
        predicted: rows.map(([w, r]) => String(windows[w]!.predicted[r])),
        proba: new Map(['0', '1', '2'].map((c, k) => [c, rows.map(([w, r]) => windows[w]!.proba![k]![r]!)])),
        groups: new Map<string, string[]>(),
        counts: { predictions: 2 * n, labels: 2 * n, joined: 2 * n, unlabelled: 0, unmatchedLabels: 0, withoutTime: 0 },
        unmatchedSample: [],
        windows: ['2025-01-01', '2025-02-01'],
      };
    };
    const inRuns = computePerformance(layout(false), { task: 'classification' });
    const interleaved = computePerformance(layout(true), { task: 'classification' });
    assert.deepEqual(interleaved.windows, inRuns.windows);
    windows.forEach((data, w) => {
      const metrics = interleaved.windows[w]!.metrics;
      assert.equal(metrics.accuracy!.value, data.truth.filter((t, i) => t === data.predicted[i]).length / n);
      assert.ok(Math.abs(metrics.log_loss!.value - logLoss(data, all(n))) < 1e-12);
    });
  });

  it('intervals from sums of squares made row by row equal the two-pass ones over kept influence values, bit for bit', () => {
    for (const classes of [2, 3]) {
      const data = classification(24_000, classes, 40 + classes);
      // every third row: a window's rows, not all of them
      const rows = Uint32Array.from({ length: 8000 }, (_, k) => 3 * k + (k % 3));
      const n = rows.length;
      // the macro scores' influence values as arrays, each divided by the classes present in a second pass, then Σψ²
      const k = classes;
      const tp = new Float64Array(k);
      const truthCount = new Float64Array(k);
      const predCount = new Float64Array(k);
      for (const i of rows) {
        truthCount[data.truth[i]!]!++;
        predCount[data.predicted[i]!]!++;
        if (data.truth[i] === data.predicted[i]) tp[data.truth[i]!]!++;
      }
      const present = Array.from({ length: k }, (_, c) => truthCount[c]! + predCount[c]! > 0).filter(Boolean).length;
      const precisionOf = Array.from({ length: k }, (_, c) => (predCount[c] === 0 ? 0 : tp[c]! / predCount[c]!));
      const recallOf = Array.from({ length: k }, (_, c) => (truthCount[c] === 0 ? 0 : tp[c]! / truthCount[c]!));
      const f1Of = Array.from({ length: k }, (_, c) => (2 * tp[c]!) / (truthCount[c]! + predCount[c]!));
      const psi = { precision: new Float64Array(n), recall: new Float64Array(n), f1: new Float64Array(n) };
      rows.forEach((i, at) => {
        const t = data.truth[i]!;
        const p = data.predicted[i]!;
        const hit = t === p ? 1 : 0;
        psi.precision[at] = (hit - precisionOf[p]!) * (n / predCount[p]!);
        psi.recall[at] = (hit - recallOf[t]!) * (n / truthCount[t]!);
        psi.f1[at] =
          t === p
            ? (2 - 2 * f1Of[t]!) * (n / (truthCount[t]! + predCount[t]!))
            : -f1Of[t]! * (n / (truthCount[t]! + predCount[t]!)) - f1Of[p]! * (n / (truthCount[p]! + predCount[p]!));
      });
      for (const xs of Object.values(psi)) for (let i = 0; i < n; i++) xs[i]! /= present;
      const streamed = macroScoresSquares(data, rows);
      const kept = macroScoresInfluence(data, rows);
      for (const which of ['precision', 'recall', 'f1'] as const) {
        const twoPass = influenceInterval(streamed[which].value, psi[which], [0, 1]);
        assert.deepEqual(squaresInterval(streamed[which].value, n, streamed[which].squares, [0, 1]), twoPass, `${which}, ${classes} classes`);
        assert.deepEqual(influenceInterval(kept[which].value, kept[which].psi, [0, 1]), twoPass, `${which} (kept values), ${classes} classes`);
      }
      // log loss: the mean, each loss minus it, then Σψ²
      const losses = logLosses(data, rows);
      const mean = losses.reduce((a, b) => a + b, 0) / n;
      const { value, squares } = meanSquares(losses);
      assert.equal(value, mean);
      const expected = influenceInterval(
        mean,
        losses.map((x) => x - mean),
        [0, Number.POSITIVE_INFINITY],
      );
      assert.deepEqual(squaresInterval(value, n, squares, [0, Number.POSITIVE_INFINITY]), expected, `log loss, ${classes} classes`);
      // ROC AUC of each class against the rest: Σψ² as its values are made, in buffers reused from a larger window before
      const scratch = new AucScratch(24_000);
      aucSquares(data.proba![0]!, all(24_000), (r) => data.truth[r] === 0, scratch);
      for (let c = 0; c < classes; c++) {
        const positive = (r: number): boolean => data.truth[r] === c;
        const kept = aucInfluence(data.proba![c]!, rows, positive);
        const streamedAuc = aucSquares(data.proba![c]!, rows, positive, scratch);
        assert.equal(streamedAuc.value, kept.value);
        assert.deepEqual(
          squaresInterval(streamedAuc.value, n, streamedAuc.squares, [0, 1]),
          influenceInterval(kept.value, kept.psi, [0, 1]),
          `ROC AUC of ${c}`,
        );
        assert.deepEqual(aucInfluence(data.proba![c]!, rows, positive, scratch), kept, `ROC AUC of ${c}, influence values in reused buffers`);
      }
    }
  });
});
