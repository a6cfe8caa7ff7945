import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { computeFairness, type FairnessReport } from '../../src/core/monitoring/fairness';
import { joinLabels } from '../../src/core/monitoring/labels';
import { evaluateGate } from '../../src/core/registry/gate';
import { parseGateRule } from '../../src/core/registry/gateRules';
import { openStore } from '../../src/core/store/store';
import { monitoringView } from '../../src/vscode/monitoring/monitoringView';
import { pythonJson } from '../support/python';
import { DATA } from './datasetFixtures';
import { CLI, mloop, tempDir } from './fixtures';

const FIXTURE = resolve(__dirname, '../../../test/monitoring/penguins_shift.py');
const RATES = ['selection_rate', 'true_positive_rate', 'false_positive_rate', 'accuracy'] as const;
const DISPARITIES = ['demographic_parity_difference', 'demographic_parity_ratio', 'equalized_odds_difference'] as const;
/** Adelie recall per group: the shifted group's falls to about a third, every other judged group's stays above this. */
const TPR_MIN = 0.5;

type Column = { groups: Record<string, Record<(typeof RATES)[number] | 'n', number>> } & Record<(typeof DISPARITIES)[number], number>;
interface Fairlearn {
  fairlearn: string;
  n: number;
  shifted: number;
  windows: Record<string, { n: number; columns: Record<string, Column> }>;
}

describe('monitoring: fairness per window on penguins with a shift that degrades one group (fairlearn per window)', function () {
  this.timeout(120_000); // scikit-learn and fairlearn start slowly on a loaded machine
  let dir: string;
  let cleanup: () => void;
  let reference: Fairlearn;
  let report: FairnessReport;
  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-fairwin-'));
    reference = await pythonJson<Fairlearn>({ args: [FIXTURE, join(DATA, 'penguins.json'), dir] });
    const joined = await joinLabels({
      predictions: join(dir, 'predictions.csv'),
      labels: join(dir, 'labels.csv'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      timeColumn: 'date',
      window: 'monthly',
      groups: ['sex', 'island'],
      baseDir: dir,
    });
    report = computeFairness(joined, { positiveClass: 'Adelie', thresholds: { true_positive_rate: { min: TPR_MIN } } });
  });
  after(() => cleanup());

  it('each window: every group rate and every disparity equals fairlearn to 1e-9', () => {
    assert.deepEqual(
      report.windows.map((w) => [w.start, w.n]),
      Object.entries(reference.windows).map(([start, w]) => [start, w.n]),
    );
    for (const w of report.windows) {
      for (const c of w.columns) {
        const expected = reference.windows[w.start]!.columns[c.column]!;
        assert.deepEqual(
          c.groups.map((g) => g.group),
          Object.keys(expected.groups).sort(),
          `${w.start} ${c.column}`,
        );
        for (const g of c.groups) {
          assert.equal(g.n, expected.groups[g.group]!.n);
          for (const rate of RATES) {
            const want = expected.groups[g.group]![rate]!;
            assert.ok(Math.abs(g[rate].value - want) <= 1e-9, `${w.start} ${c.column}=${g.group} ${rate}: ${g[rate].value} vs fairlearn ${want}`);
          }
        }
        for (const d of DISPARITIES) {
          const value = c[d] ?? Number.NaN;
          assert.ok(Math.abs(value - expected[d]) <= 1e-9, `${w.start} ${c.column} ${d}: ${value} vs fairlearn ${expected[d]}`);
        }
      }
    }
  });

  it("the per-group alert fires for exactly the shifted group (sex = FEMALE) in the shifted window, as fairlearn's numbers say", () => {
    assert.ok(reference.shifted > 30, `the fixture shifts ${reference.shifted} penguins`);
    // what fairlearn's own numbers say should alert: a judged group (min_rows 30 in a judged window) below the bound
    const expected = Object.entries(reference.windows).flatMap(([start, w]) =>
      w.n < 30
        ? []
        : Object.entries(w.columns).flatMap(([column, c]) =>
            Object.entries(c.groups)
              .filter(([, g]) => g.n >= 30 && g.true_positive_rate! < TPR_MIN)
              .map(([group]) => [start, column, group]),
          ),
    );
    assert.deepEqual(expected, [['2024-04-01', 'sex', 'FEMALE']], 'the fixture degrades one group only');
    assert.deepEqual(
      report.alerts.map((a) => [a.window, a.column, a.group]),
      expected,
    );
    assert.match(
      report.alerts[0]!.message,
      /^true_positive_rate of sex = FEMALE in window 2024-04-01 is 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] \(n = \d+\), below 0\.5$/,
    );
  });

  it('a window with fewer labelled rows than min_rows is "not enough data" and raises no alert', () => {
    assert.ok(report.windows.every((w) => w.status === 'ok'));
    const strict = computeFairness(
      {
        windowOf: ['2024-01-01', '2024-01-01', '2024-02-01'],
        truth: ['Adelie', 'Adelie', 'Adelie'],
        predicted: ['Gentoo', 'Gentoo', 'Gentoo'],
        proba: new Map(),
        groups: new Map([['sex', ['FEMALE', 'FEMALE', 'FEMALE']]]),
        counts: { predictions: 4, labels: 3, joined: 3, unlabelled: 1, unmatchedLabels: 0, withoutTime: 0 },
        unmatchedSample: [],
        windows: ['2024-01-01', '2024-02-01', '2024-03-01'],
      },
      { positiveClass: 'Adelie', minRows: 2, thresholds: { accuracy: { min: 0.9 } } },
    );
    assert.deepEqual(
      strict.windows.map((w) => [w.start, w.n, w.status]),
      [
        ['2024-01-01', 2, 'ok'],
        ['2024-02-01', 1, 'not_enough_data'],
        ['2024-03-01', 0, 'not_enough_data'],
      ],
    );
    // every prediction is wrong, but only January has enough rows to say so
    assert.deepEqual(
      strict.alerts.map((a) => [a.window, a.column, a.group, a.metric]),
      [['2024-01-01', 'sex', 'FEMALE', 'accuracy']],
    );
  });

  it("release gate group rules on the same groups: each group's rate, and the disparities equal fairlearn's; the slice gap rule is still read", () => {
    const want = reference.windows['2024-04-01']!.columns.sex!;
    // the evaluation file's slices: sex -> group -> its rates
    const slices = { sex: Object.fromEntries(Object.entries(want.groups).map(([g, m]) => [g, { ...m }])) };
    const rules = (raw: unknown[]) =>
      raw.flatMap((r) => {
        const parsed = parseGateRule(r);
        if ('error' in parsed) throw new Error(parsed.error);
        return parsed.rule;
      });
    const at = (metric: (typeof DISPARITIES)[number], op: '<=' | '>=', value: number) =>
      evaluateGate(rules([`${metric} by sex ${op} ${value}`]), { metrics: {}, slices }).checks[0]!;
    for (const d of DISPARITIES) {
      const value = want[d];
      const check = at(d, '<=', value);
      assert.equal(check.passed, true, `${d} ${check.detail}`);
      assert.ok(Math.abs(Number(/ ([0-9.e-]+) <=/.exec(check.detail)![1]) - value) <= 1e-6, `${check.detail} vs fairlearn ${value}`);
      assert.equal(at(d, '<=', value - 0.01).passed, false, `${d} just below fairlearn's value fails`);
    }
    const tpr = evaluateGate(rules([{ groups: 'sex', true_positive_rate: { min: TPR_MIN } }]), { metrics: {}, slices }).checks[0]!;
    assert.equal(tpr.passed, false);
    // only the groups below the bound are named: FEMALE (and "." with no positive label: TPR 0 as fairlearn counts it)
    assert.deepEqual(
      [...tpr.detail.matchAll(/sex = ([^ ]+) /g)].map((m) => m[1]),
      Object.entries(want.groups)
        .filter(([, g]) => g.true_positive_rate! < TPR_MIN)
        .map(([g]) => g)
        .sort(),
    );
    assert.ok(tpr.detail.includes('sex = FEMALE'));
    // the old slice rule, in both spellings
    assert.deepEqual(
      rules([
        { metric: 'accuracy', slice: 'sex', max_gap: 0.1 },
        { groups: 'sex', metric: 'accuracy', max_gap: 0.1 },
      ]).map((r) => r.text),
      ['accuracy gap by sex <= 0.1', 'accuracy gap by sex <= 0.1'],
    );
    assert.match(String((parseGateRule({ groups: 'sex' }) as { error: string }).error), /cannot read the gate rule/);
    assert.match(
      evaluateGate(rules(['selection_rate by island >= 0.1']), { metrics: {}, slices }).checks[0]!.detail,
      /needs selection_rate for at least two groups of island \(found 0\)/,
    );
  });

  it('mloop monitor --once: the per-window fairness alert exits 3 and reaches on_alert', () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`);
    mkdirSync(join(dir, '.mloop'), { recursive: true });
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'monitoring:',
        '  penguins-clf:',
        '    reference: predictions.csv', // the drift check runs too: against itself, no drift
        '    current: predictions.csv',
        '    columns: [island]',
        '    time_column: date',
        '    window: monthly',
        '    labels: labels.csv',
        '    prediction: predicted',
        '    groups: [sex, island]',
        '    positive_class: Adelie',
        `    fairness: { true_positive_rate: { min: ${TPR_MIN} } }`,
        `    on_alert: { command: 'cat > alert.json' }`,
        '',
      ].join('\n'),
    );
    const r = mloop(dir, 'monitor', '--once', '--json');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as { models: { alerts: { check: string; window?: string; column?: string; group?: string }[] }[] };
    assert.deepEqual(
      out.models[0]!.alerts.map((a) => [a.check, a.window, a.column, a.group]),
      [['fairness', '2024-04-01', 'sex', 'FEMALE']],
    );
    const sent = JSON.parse(readFileSync(join(dir, 'alert.json'), 'utf8')) as { model: string; alerts: { group?: string }[] };
    assert.deepEqual([sent.model, sent.alerts.map((a) => a.group)], ['penguins-clf', ['FEMALE']]);
  });

  it("the Monitoring panel's view of the reports that headless run stored: windows, per-group series, the alert with its report, a clicked window's groups and drift columns", () => {
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      const view = monitoringView(store, 'penguins-clf', {}, { retrainAvailable: true })!;
      assert.deepEqual(
        view.windows.map((w) => [w.start, w.alerts.length > 0]),
        Object.keys(reference.windows).map((start) => [start, start === '2024-04-01']),
      );
      const fairnessAlert = view.alerts.find((a) => a.check === 'fairness')!;
      assert.equal(fairnessAlert.window, '2024-04-01');
      assert.equal(fairnessAlert.report?.kind, 'monitoring');
      const female = view.groupSeries.find((g) => g.column === 'sex' && g.group === 'FEMALE')!;
      assert.deepEqual(
        female.points.map((p) => p.tpr),
        Object.values(reference.windows).map((w) => w.columns.sex!.groups.FEMALE!.true_positive_rate),
      );
      assert.equal(view.selectedWindow, null);
      assert.ok(view.driftDetails && view.driftDetails.columns.some((c) => c.column === 'island'), 'the drift check of the same run');

      const clicked = monitoringView(store, 'penguins-clf', { window: '2024-04-01' }, { retrainAvailable: true })!;
      assert.equal(clicked.selectedWindow, '2024-04-01');
      const sex = clicked.details!.fairness.find((c) => c.column === 'sex')!;
      const want = reference.windows['2024-04-01']!.columns.sex!;
      assert.ok(Math.abs(sex.groups.find((g) => g.group === 'FEMALE')!.tpr!.value - want.groups.FEMALE!.true_positive_rate!) <= 1e-9);
      assert.ok(Math.abs(sex.equalizedOddsDifference - want.equalized_odds_difference) <= 1e-9);
      assert.deepEqual(clicked.details!.alerts, [fairnessAlert.message]);
      assert.equal(typeof clicked.driftDetails!.columns.find((c) => c.column === 'island')!.windowScore, 'number', 'the column scores of the clicked window');
      assert.equal(
        monitoringView(store, 'penguins-clf', { window: '1999-01-01' }, { retrainAvailable: true })!.details,
        null,
        'an unknown window shows no details',
      );
      assert.equal(monitoringView(store, 'never-checked', {}, { retrainAvailable: true }), undefined);
    } finally {
      store.close();
    }
  });
});
