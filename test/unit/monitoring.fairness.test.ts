import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { computeFairness, type FairnessReport } from '../../src/core/monitoring/fairness';
import { joinLabels, MonitoringInputError, type JoinOptions, type LabelledPredictions } from '../../src/core/monitoring/labels';
import { wilsonInterval } from '../../src/core/monitoring/statistics';
import { pythonJson } from '../support/python';
import { DATA } from './datasetFixtures';
import { tempDir } from './fixtures';

const REFERENCE = resolve(__dirname, '../../../test/monitoring/fairness_reference.py');
const RATES = ['selection_rate', 'true_positive_rate', 'false_positive_rate', 'accuracy'] as const;
const DISPARITIES = ['demographic_parity_difference', 'demographic_parity_ratio', 'equalized_odds_difference'] as const;

interface Fairlearn {
  fairlearn: string;
  n: number;
  columns: Record<string, { groups: Record<string, Record<(typeof RATES)[number] | 'n', number>> } & Record<(typeof DISPARITIES)[number], number>>;
}

describe('monitoring: fairness per group (fairlearn on penguins, a real scikit-learn model)', function () {
  this.timeout(120_000); // the Python reference (scikit-learn, fairlearn) starts slowly on a loaded machine
  let dir: string;
  let cleanup: () => void;
  let reference: Fairlearn;
  let joined: LabelledPredictions;
  let report: FairnessReport;
  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-fair-'));
    reference = await pythonJson<Fairlearn>({ args: [REFERENCE, join(DATA, 'penguins.json'), dir] });
    const options: JoinOptions = {
      predictions: join(dir, 'predictions.csv'),
      labels: join(dir, 'labels.csv'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      groups: ['sex', 'island'],
      baseDir: dir,
    };
    joined = await joinLabels(options);
    report = computeFairness(joined, { positiveClass: 'Adelie' });
  });
  after(() => cleanup());

  it('per group selection rate, TPR, FPR and accuracy, and the disparities, equal fairlearn to 1e-9', () => {
    assert.equal(report.n, reference.n);
    assert.deepEqual(
      report.columns.map((c) => c.column),
      ['sex', 'island'],
    );
    for (const c of report.columns) {
      const expected = reference.columns[c.column]!;
      assert.deepEqual(
        c.groups.map((g) => g.group),
        Object.keys(expected.groups).sort(),
        c.column,
      );
      for (const g of c.groups) {
        assert.equal(g.n, expected.groups[g.group]!.n, `${c.column} ${g.group} n`);
        for (const rate of RATES) {
          const want = expected.groups[g.group]![rate]!;
          assert.ok(Math.abs(g[rate].value - want) <= 1e-9, `${c.column}=${g.group} ${rate}: ${g[rate].value} vs fairlearn ${want}`);
        }
      }
      for (const d of DISPARITIES) {
        const value = c[d] ?? Number.NaN;
        assert.ok(Math.abs(value - expected[d]) <= 1e-9, `${c.column} ${d}: ${value} vs fairlearn ${expected[d]}`);
      }
    }
  });

  it('each rate carries its n and a Wilson interval; a group without positives is noted', () => {
    const female = report.columns[0]!.groups.find((g) => g.group === 'FEMALE')!;
    const positives = joined.truth.filter((y, i) => y === 'Adelie' && joined.groups.get('sex')![i] === 'FEMALE').length;
    assert.equal(female.true_positive_rate.n, positives);
    const truePositives = Math.round(female.true_positive_rate.value * positives);
    assert.deepEqual({ lower: female.true_positive_rate.lower, upper: female.true_positive_rate.upper }, wilsonInterval(truePositives, positives));
    assert.ok(female.true_positive_rate.lower! < female.true_positive_rate.value && female.true_positive_rate.value < female.true_positive_rate.upper!);
    assert.match(report.notes.join('\n'), /sex = \.: no positive label, its TPR counts as 0 \(as fairlearn\)/);
  });

  it('thresholds on the disparities raise an alert naming the column and its groups', () => {
    const alerted = computeFairness(joined, {
      positiveClass: 'Adelie',
      thresholds: { demographic_parity_difference: { max: 0.65 }, equalized_odds_difference: { max: 0.5 } },
    });
    const island = reference.columns.island!;
    assert.ok(island.demographic_parity_difference > 0.65 && island.equalized_odds_difference < 0.5);
    assert.deepEqual(
      alerted.alerts.map((a) => [a.metric, a.message.split(' (')[0]]),
      [
        ['equalized_odds_difference', 'equalized_odds_difference across sex'],
        ['demographic_parity_difference', 'demographic_parity_difference across island'],
      ],
    );
    assert.equal(computeFairness(joined, { positiveClass: 'Adelie', thresholds: { demographic_parity_ratio: { min: 0 } } }).alerts.length, 0);
  });

  it('multi-class labels without positive_class: a clear message, not a guess', () => {
    assert.throws(
      () => computeFairness(joined),
      (e: Error) => e instanceof MonitoringInputError && /set positive_class/.test(e.message),
    );
  });
});
