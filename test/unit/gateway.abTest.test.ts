import assert from 'node:assert/strict';
import { confidenceSequence, mixtureLikelihoodRatio, SequentialAbTest } from '../../src/core/gateway/abTest';
import { keyPosition, routeAt } from '../../src/core/gateway/routing';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { pythonJsonSync } from '../support/python';

/** Standard normal draws from a seeded uniform generator (Box–Muller). */
function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * `experiments` A/B tests, each up to `perArm` outcomes per arm assigned at random 50/50, the test looked at after
 * every single outcome (continuous peeking) and stopped at its first decision. Returns the share that decided.
 */
function simulate(options: { experiments: number; perArm: number; seed: number; draw: (arm: 0 | 1, random: () => number, normal: () => number) => number }): {
  rejected: number;
  ships: number;
} {
  const random = seededRandom(options.seed);
  const normal = gaussian(random);
  let rejected = 0;
  let ships = 0;
  for (let e = 0; e < options.experiments; e++) {
    const test = new SequentialAbTest({ alpha: 0.05, minSamplePerArm: 100 });
    const counts = [0, 0];
    while (counts[0]! < options.perArm || counts[1]! < options.perArm) {
      const arm: 0 | 1 = counts[0]! >= options.perArm ? 1 : counts[1]! >= options.perArm ? 0 : random() < 0.5 ? 0 : 1;
      counts[arm]!++;
      test.add(arm, options.draw(arm, random, normal));
      // a look after every outcome: the report is what a watcher sees
      if (counts[0]! >= 100 && counts[1]! >= 100) {
        const decision = test.report().decision;
        if (decision !== 'continue') {
          rejected++;
          if (decision === 'ship') ships++;
          break;
        }
      }
    }
  }
  return { rejected: rejected / options.experiments, ships: ships / options.experiments };
}

describe('A/B statistics: mSPRT with always-valid p-values and confidence sequences', function () {
  this.timeout(60_000);

  // every reference value from one python process (importing scipy is the slow part)
  const cases = [
    { d: 0.03, V: 0.0004, tau2: 0.0001, alpha: 0.05 },
    { d: -0.2, V: 0.002, tau2: 0.01, alpha: 0.05 },
    { d: 1.5, V: 0.5, tau2: 0.25, alpha: 0.01 },
    { d: 0, V: 0.01, tau2: 0.04, alpha: 0.1 },
  ];
  const random = seededRandom(7);
  const normal = gaussian(random);
  const armA = Array.from({ length: 300 }, () => 10 + 2 * normal());
  const armB = Array.from({ length: 250 }, () => 10.5 + 2 * normal());
  const routes = [{ weight: 70 }, { weight: 30 }];
  const split = [0, 0];
  for (let i = 0; i < 20_000; i++) split[routeAt(routes, keyPosition(`user-${i}`)) === routes[0] ? 0 : 1]!++;
  let peer: { mixtures: { lam: number; lo: number; hi: number }[]; arms: number[]; chi2: number };

  before(() => {
    peer = pythonJsonSync({
      args: [
        '-c',
        `
import json, sys, math
import numpy as np
from scipy import integrate, optimize
from scipy.stats import chisquare
task = json.load(sys.stdin)
def ratio(d, V, tau2, theta0):
    # the mixture's definition, integrated numerically: E over u ~ N(0, tau2) of N(d; theta0 + u, V) / N(d; theta0, V)
    f = lambda u: math.exp(-((d - theta0 - u) ** 2 - (d - theta0) ** 2) / (2 * V)) * math.exp(-u * u / (2 * tau2)) / math.sqrt(2 * math.pi * tau2)
    st = math.sqrt(tau2)
    return integrate.quad(f, -40 * st, 40 * st, points=[0, d - theta0], limit=200, epsabs=0, epsrel=1e-10)[0]
mixtures = []
for c in task["cases"]:
    d, V, tau2, a = c["d"], c["V"], c["tau2"], c["alpha"]
    g = lambda t: math.log(ratio(d, V, tau2, t)) - math.log(1 / a)
    # a bracket wide enough for the root (brentq needs only a sign change), narrow enough not to overflow
    span = 3 * math.sqrt(V * (V + tau2) / tau2 * (2 * math.log(1 / a) + math.log((V + tau2) / V)))
    mixtures.append({"lam": ratio(d, V, tau2, 0.0), "lo": optimize.brentq(g, d - span, d, xtol=1e-12), "hi": optimize.brentq(g, d, d + span, xtol=1e-12)})
a, b = task["arms"]
arms = [float(np.mean(a)), float(np.std(a, ddof=1)), float(np.mean(b)), float(np.std(b, ddof=1))]
print(json.dumps({"mixtures": mixtures, "arms": arms, "chi2": float(chisquare(task["split"], [14000, 6000]).pvalue)}))
`,
      ],
      input: JSON.stringify({ cases, arms: [armA, armB], split }),
    });
  });

  it('the closed-form mixture likelihood ratio and confidence sequence match scipy quadrature and root finding', () => {
    cases.forEach((c, i) => {
      const expected = peer.mixtures[i]!;
      const lam = mixtureLikelihoodRatio(c.d, c.V, c.tau2);
      assert.ok(Math.abs(lam - expected.lam) <= 1e-7 * expected.lam, `Λ ${lam} vs scipy ${expected.lam}`);
      const [lo, hi] = confidenceSequence(c.d, c.V, c.tau2, c.alpha);
      assert.ok(Math.abs(lo - expected.lo) < 1e-7 && Math.abs(hi - expected.hi) < 1e-7, `[${lo}, ${hi}] vs scipy [${expected.lo}, ${expected.hi}]`);
    });
  });

  it('per-arm n, mean and sd match numpy; the lift is the difference of means', () => {
    const test = new SequentialAbTest();
    for (let i = 0; i < 300; i++) {
      test.add(0, armA[i]!);
      if (i < 250) test.add(1, armB[i]!);
    }
    const report = test.report();
    assert.equal(report.control.n, 300);
    assert.equal(report.treatment.n, 250);
    const actual = [report.control.mean!, report.control.sd!, report.treatment.mean!, report.treatment.sd!];
    actual.forEach((v, i) => assert.ok(Math.abs(v - peer.arms[i]!) < 1e-9, `${v} vs numpy ${peer.arms[i]}`));
    assert.ok(Math.abs(report.lift!.absolute - (peer.arms[2]! - peer.arms[0]!)) < 1e-9);
    assert.ok(report.lift!.interval[0] <= report.lift!.absolute && report.lift!.absolute <= report.lift!.interval[1]);
    assert.equal(report.binary, false);
  });

  it('no true difference: over 1,000 experiments peeked at after every outcome, the false-positive rate stays ≤ 0.05 (continuous and binary)', () => {
    const continuous = simulate({ experiments: 1000, perArm: 1000, seed: 11, draw: (_arm, _r, normal) => 5 + normal() });
    const binary = simulate({ experiments: 1000, perArm: 1000, seed: 12, draw: (_arm, random) => (random() < 0.2 ? 1 : 0) });
    console.log(`      A/A false-positive rate: continuous ${continuous.rejected.toFixed(3)}, binary ${binary.rejected.toFixed(3)} (α = 0.05)`);
    assert.ok(continuous.rejected <= 0.05, `continuous FPR ${continuous.rejected}`);
    assert.ok(binary.rejected <= 0.05, `binary FPR ${binary.rejected}`);
  });

  it('a true lift is detected: the power at the simulated effect size is reported and high; a worse challenger keeps the champion', () => {
    const continuous = simulate({ experiments: 300, perArm: 1000, seed: 21, draw: (arm, _r, normal) => normal() + (arm === 1 ? 0.2 : 0) });
    const binary = simulate({ experiments: 300, perArm: 2000, seed: 22, draw: (arm, random) => (random() < (arm === 1 ? 0.14 : 0.1) ? 1 : 0) });
    const worse = simulate({ experiments: 100, perArm: 1000, seed: 23, draw: (arm, _r, normal) => normal() - (arm === 1 ? 0.25 : 0) });
    console.log(
      `      power: continuous +0.2 sd at ≤1,000/arm ${continuous.ships.toFixed(3)}; binary 10% → 14% at ≤2,000/arm ${binary.ships.toFixed(3)}; worse challenger kept out ${(worse.rejected - worse.ships).toFixed(3)}`,
    );
    assert.ok(continuous.ships >= 0.8, `continuous power ${continuous.ships}`);
    assert.ok(binary.ships >= 0.5, `binary power ${binary.ships}`);
    assert.ok(worse.rejected - worse.ships >= 0.8 && worse.ships === 0, 'a worse challenger is never shipped');
  });

  it('decides nothing before the minimum sample size, whatever the data say', () => {
    const test = new SequentialAbTest({ minSamplePerArm: 50 });
    for (let i = 0; i < 49; i++) {
      test.add(0, 0);
      test.add(1, 1);
    }
    const early = test.report();
    assert.equal(early.decision, 'continue');
    assert.match(early.reason, /minimum sample size: 50 outcomes per arm \(have 49 and 49\)/);
    test.add(0, 0);
    test.add(1, 1);
    assert.equal(test.report().decision, 'ship');
  });

  it('sticky assignment: the same key always gets the same arm, and keys split by the weights (chi-square against scipy)', () => {
    assert.equal(routeAt(routes, keyPosition('user-1')), routeAt(routes, keyPosition('user-1')));
    assert.ok(peer.chi2 > 0.001, `split ${split} vs 70/30: p = ${peer.chi2}`);
  });
});
