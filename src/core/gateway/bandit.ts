/**
 * Thompson sampling over Beta–Bernoulli arms (binary rewards): each arm's share of the traffic is the posterior
 * probability that it is the best, estimated by drawing from each arm's Beta(1 + successes, 1 + failures), with a
 * floor per arm so that no version starves (its estimate keeps improving and a crash still shows). Pure functions.
 */

export interface BernoulliArm {
  readonly successes: number;
  readonly failures: number;
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 through the Gamma(shape + 1)·U^(1/shape) boost. */
export function gammaSample(shape: number, random: () => number): number {
  if (shape < 1) return gammaSample(shape + 1, random) * random() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      // a standard normal (Box–Muller)
      x = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function betaSample(a: number, b: number, random: () => number): number {
  const x = gammaSample(a, random);
  return x / (x + gammaSample(b, random));
}

/** The probability each arm is the best under its Beta posterior, from `draws` joint draws. */
export function probabilityBest(arms: readonly BernoulliArm[], random: () => number, draws = 2000): number[] {
  const wins = arms.map(() => 0);
  for (let i = 0; i < draws; i++) {
    let best = 0;
    let bestValue = -1;
    arms.forEach((arm, k) => {
      const value = betaSample(1 + arm.successes, 1 + arm.failures, random);
      if (value > bestValue) {
        bestValue = value;
        best = k;
      }
    });
    wins[best]!++;
  }
  return wins.map((w) => w / draws);
}

/** Traffic shares (summing to 1): each arm gets `floor`, the rest in proportion to its probability of being best. */
export function thompsonAllocation(arms: readonly BernoulliArm[], options: { floor?: number; random: () => number; draws?: number }): number[] {
  const floor = options.floor ?? 0.05;
  if (!(floor >= 0 && floor * arms.length <= 1)) throw new RangeError(`a floor of ${floor} per arm does not fit ${arms.length} arms`);
  return probabilityBest(arms, options.random, options.draws).map((p) => floor + (1 - floor * arms.length) * p);
}
