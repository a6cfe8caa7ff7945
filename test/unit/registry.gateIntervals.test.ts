import assert from 'node:assert/strict';
import { join } from 'node:path';
import { evaluateGate, type GateCheck, type GateEvidence } from '../../src/core/registry/gate';
import { parseGate, parseGateRule } from '../../src/core/registry/gateRules';
import { pythonJson } from '../support/python';
import { DATA } from './datasetFixtures';

const RATES = ['selection_rate', 'true_positive_rate', 'false_positive_rate', 'accuracy'] as const;
type Rate = (typeof RATES)[number];

interface Reference {
  /** The evaluation file's slices as a training script writes them: each group's rates, n and positives. */
  slices: Record<string, Record<string, Record<string, number>>>;
  /** fairlearn's MetricFrame by group, and statsmodels' Wilson interval of each rate over its count. */
  groups: Record<string, Record<Rate, { value: number; lower: number; upper: number; n: number }>>;
  /** statsmodels' Newcombe interval of (highest − lowest) accuracy. */
  accuracyGap: { high: string; low: string; gap: number; lower: number; upper: number };
}

// a holdout of penguins: a shallow tree of the species trained on half, judged on the other half with Adelie as the
// selected class; fairlearn gives the rates by sex, statsmodels the intervals (independent of mloop's code)
const CODE = String.raw`
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate, false_positive_rate
from sklearn.metrics import accuracy_score
from sklearn.tree import DecisionTreeClassifier
from statsmodels.stats.proportion import proportion_confint, confint_proportions_2indep
F = ["Beak Length (mm)", "Beak Depth (mm)", "Flipper Length (mm)", "Body Mass (g)"]
p = pd.DataFrame(json.load(open(sys.argv[1]))).dropna(subset=F)
p = p[p["Sex"].isin(["FEMALE", "MALE"])].reset_index(drop=True)
train, test = p.iloc[::2], p.iloc[1::2]
model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(train[F], train["Species"])
y, yp, sf = test["Species"].to_numpy(), model.predict(test[F]), test["Sex"].to_numpy()
yb, ypb = (y == "Adelie").astype(int), (yp == "Adelie").astype(int)
rates = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate}, y_true=yb, y_pred=ypb, sensitive_features=sf).by_group
acc = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=yp, sensitive_features=sf).by_group
slices, groups = {}, {}
for g in rates.index:
    m = sf == g
    n, pos = int(m.sum()), int(yb[m].sum())
    counts = {"selection_rate": (int(ypb[m].sum()), n), "true_positive_rate": (int((ypb[m] & yb[m]).sum()), pos),
              "false_positive_rate": (int((ypb[m] & (1 - yb[m])).sum()), n - pos), "accuracy": (int((y[m] == yp[m]).sum()), n)}
    values = {**{k: float(v) for k, v in rates.loc[g].items()}, "accuracy": float(acc.loc[g])}
    slices[str(g)] = {**values, "n": n, "positives": pos}
    groups[str(g)] = {}
    for k, (x, d) in counts.items():
        lo, hi = proportion_confint(x, d, method="wilson")
        groups[str(g)][k] = {"value": values[k], "lower": float(lo), "upper": float(hi), "n": d}
order = sorted(groups, key=lambda g: groups[g]["accuracy"]["value"])
lo_g, hi_g = order[0], order[-1]
x1, n1 = round(groups[hi_g]["accuracy"]["value"] * slices[hi_g]["n"]), slices[hi_g]["n"]
x2, n2 = round(groups[lo_g]["accuracy"]["value"] * slices[lo_g]["n"]), slices[lo_g]["n"]
gl, gu = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
print(json.dumps({"slices": {"sex": slices}, "groups": groups, "accuracyGap": {"high": hi_g, "low": lo_g,
      "gap": groups[hi_g]["accuracy"]["value"] - groups[lo_g]["accuracy"]["value"], "lower": float(gl), "upper": float(gu)}}))
`;

const close = (a: number | undefined, b: number, what: string): void => assert.ok(a !== undefined && Math.abs(a - b) <= 1e-9, `${what}: ${a} vs ${b}`);

describe('release gate: group rules with intervals (fairlearn values, statsmodels intervals)', function () {
  this.timeout(120_000); // scikit-learn, fairlearn and statsmodels start slowly on a loaded machine
  let ref: Reference;
  let evidence: GateEvidence;
  const check = (rule: unknown): GateCheck => evaluateGate(parseGate([rule]), evidence).checks[0]!;
  before(async () => {
    ref = await pythonJson<Reference>({ args: ['-c', CODE, join(DATA, 'penguins.json')] });
    evidence = { metrics: {}, slices: ref.slices };
  });

  it("each group's value equals fairlearn's and its interval statsmodels' Wilson interval, with n (the rate's own denominator)", () => {
    for (const rate of RATES) {
      const c = check(`${rate} by sex >= 0`);
      assert.equal(c.passed, true);
      assert.deepEqual(
        c.groups?.map((g) => g.group),
        Object.keys(ref.groups).sort(),
      );
      for (const g of c.groups!) {
        const want = ref.groups[g.group]![rate];
        close(g.value, want.value, `${rate} ${g.group} value`);
        close(g.lower, want.lower, `${rate} ${g.group} lower`);
        close(g.upper, want.upper, `${rate} ${g.group} upper`);
        assert.equal(g.n, want.n, `${rate} ${g.group} n`);
        assert.ok(c.detail.includes(`(n ${want.n})`), c.detail);
      }
    }
  });

  it("lower(rate) judges each group's lower bound, not its value: a bound between them passes the point rule and fails the interval rule, naming the group", () => {
    const tpr = ref.groups;
    const [worst, w] = Object.entries(tpr).sort(([, a], [, b]) => a.true_positive_rate.value - b.true_positive_rate.value)[0]!;
    const between = (w.true_positive_rate.lower + w.true_positive_rate.value) / 2;
    assert.equal(check(`true_positive_rate by sex >= ${between}`).passed, true);
    const strict = check(`lower(true_positive_rate) by sex >= ${between}`);
    assert.equal(strict.passed, false);
    assert.match(strict.detail, new RegExp(`lower\\(true_positive_rate\\) of sex = ${worst} `));
    // the mapping spelling is the same rule
    const mapped = parseGateRule({ groups: 'sex', true_positive_rate: { min: between }, interval: true });
    assert.ok('rule' in mapped);
    assert.equal(mapped.rule[0]!.text, `lower(true_positive_rate) by sex >= ${between}`);
    assert.equal(check(`lower(true_positive_rate) by sex >= ${w.true_positive_rate.lower - 1e-6}`).passed, true);
    // upper(false_positive_rate): the highest upper bound decides
    const fprMax = Math.max(...Object.values(tpr).map((g) => g.false_positive_rate.upper));
    assert.equal(check(`upper(false_positive_rate) by sex <= ${fprMax + 1e-6}`).passed, true);
    assert.equal(check(`upper(false_positive_rate) by sex <= ${fprMax - 1e-6}`).passed, false);
  });

  it("the gap rule (the old slice rule's superset): the same gap, each group with its interval, and upper(accuracy gap) uses statsmodels' Newcombe interval", () => {
    const gap = ref.accuracyGap;
    const plain = check(`accuracy gap by sex <= ${gap.gap + 1e-6}`);
    assert.equal(plain.passed, true);
    assert.ok(plain.detail.includes(`[`), `the groups are shown with their intervals: ${plain.detail}`);
    const bounded = check(`upper(accuracy gap) by sex <= ${gap.upper + 1e-6}`);
    assert.equal(bounded.passed, true, bounded.detail);
    const [, lower, upper] = /\[([0-9.e-]+), ([0-9.e-]+)\]: upper/.exec(bounded.detail)!.map(Number);
    assert.ok(Math.abs(lower! - gap.lower) < 1e-5 && Math.abs(upper! - gap.upper) < 1e-5, `${bounded.detail} vs statsmodels [${gap.lower}, ${gap.upper}]`);
    assert.equal(check(`upper(accuracy gap) by sex <= ${gap.upper - 1e-4}`).passed, false);
    assert.equal(check({ groups: 'sex', metric: 'accuracy', max_gap: 0.5, interval: true }).passed, true);
  });

  it('an interval rule without the group counts fails and says what to give; intervals of a disparity are refused when read', () => {
    const bare = { sex: Object.fromEntries(Object.entries(ref.slices.sex!).map(([g, m]) => [g, { true_positive_rate: m.true_positive_rate! }])) };
    const c = evaluateGate(parseGate(['lower(true_positive_rate) by sex >= 0']), { metrics: {}, slices: bare }).checks[0]!;
    assert.equal(c.passed, false);
    assert.match(c.detail, /no counts for sex = .*n \(and positives, for TPR\/FPR\)/);
    // the point rule still works without counts
    assert.equal(evaluateGate(parseGate(['true_positive_rate by sex >= 0']), { metrics: {}, slices: bare }).checks[0]!.passed, true);
    assert.match(
      String((parseGateRule('upper(demographic_parity_difference) by sex <= 0.1') as { error: string }).error),
      /intervals are judged for the per-group rates/,
    );
    // counts as run metrics n/sex/<group>, positives/sex/<group> work as the slices' do
    const metrics: Record<string, number> = {};
    for (const [g, m] of Object.entries(ref.slices.sex!)) for (const k of ['true_positive_rate', 'n', 'positives']) metrics[`${k}/sex/${g}`] = m[k]!;
    const fromMetrics = evaluateGate(parseGate(['lower(true_positive_rate) by sex >= 0']), { metrics, slices: {} }).checks[0]!;
    assert.equal(fromMetrics.passed, true);
    for (const g of fromMetrics.groups!) close(g.lower, ref.groups[g.group]!.true_positive_rate.lower, `metrics ${g.group}`);
  });
});
