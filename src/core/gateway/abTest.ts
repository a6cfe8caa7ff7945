/**
 * A/B test of a challenger against the champion that stays valid while someone watches it: the mixture sequential
 * probability ratio test (mSPRT) of Johari, Pekelis & Walsh ("Always valid inference", 2017; Optimizely's engine)
 * for the difference in mean outcome, binary or continuous, with its always-valid p-value and confidence
 * sequence. Normal approximation: d̂ = mean(B) − mean(A) ~ N(θ, V), V = s²_A/n_A + s²_B/n_B; mixing θ ~ N(0, τ²):
 *
 *   Λ = √(V / (V + τ²)) · exp(τ² d̂² / (2V(V + τ²)))
 *
 * H0 (θ = 0) is rejected the first time Λ ≥ 1/α; p = min over time of 1/Λ. Pure functions, no I/O.
 */

export interface AbOptions {
  /** Type I error, kept under continuous monitoring (default 0.05). */
  readonly alpha?: number;
  /** No decision before each arm has this many outcomes (default 100): the normal approximation needs it. */
  readonly minSamplePerArm?: number;
  /** Mixing standard deviation τ in units of the outcomes' pooled standard deviation at the minimum sample (default 0.1). */
  readonly relativeTau?: number;
  /** maximize (default): a higher mean outcome is better. */
  readonly goal?: 'maximize' | 'minimize';
}

export interface ArmStats {
  readonly n: number;
  readonly mean: number | null;
  readonly sd: number | null;
}

export type AbDecision = 'ship' | 'keep_champion' | 'continue';

export interface AbReport {
  readonly control: ArmStats;
  readonly treatment: ArmStats;
  readonly binary: boolean;
  /** mean(treatment) − mean(control), with its always-valid interval (running intersection of the sequence). */
  readonly lift: { readonly absolute: number; readonly interval: readonly [number, number]; readonly relative: number | null } | null;
  /** Always-valid p-value: min over every look of 1/Λ (1 until the minimum sample is reached). */
  readonly pValue: number;
  readonly decision: AbDecision;
  readonly reason: string;
  readonly alpha: number;
  readonly minSamplePerArm: number;
}

/** The mixture likelihood ratio of H0: θ = θ0 against θ ~ N(θ0, τ²), for an estimate d̂ with variance V. */
export function mixtureLikelihoodRatio(estimate: number, variance: number, tau2: number, theta0 = 0): number {
  const d = estimate - theta0;
  return Math.sqrt(variance / (variance + tau2)) * Math.exp((tau2 * d * d) / (2 * variance * (variance + tau2)));
}

/** The θ0 not rejected at level α: d̂ ± √(V(V + τ²)/τ² · (2 ln(1/α) + ln((V + τ²)/V))). */
export function confidenceSequence(estimate: number, variance: number, tau2: number, alpha: number): [number, number] {
  const half = Math.sqrt(((variance * (variance + tau2)) / tau2) * (2 * Math.log(1 / alpha) + Math.log((variance + tau2) / variance)));
  return [estimate - half, estimate + half];
}

class Arm {
  n = 0;
  mean = 0;
  m2 = 0;
  add(value: number): void {
    this.n++;
    const delta = value - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (value - this.mean);
  }
  variance(binary: boolean): number {
    // binary: p(1 − p) with half a success and half a failure added, never 0
    if (binary) {
      const p = (this.mean * this.n + 0.5) / (this.n + 1);
      return p * (1 - p);
    }
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
  stats(): ArmStats {
    return { n: this.n, mean: this.n ? this.mean : null, sd: this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : null };
  }
}

/** Outcomes arrive one at a time (arm 0 = champion/control, 1 = challenger/treatment); every arrival is a look. */
export class SequentialAbTest {
  private readonly arms = [new Arm(), new Arm()] as const;
  private readonly alpha: number;
  private readonly minSample: number;
  private readonly relativeTau: number;
  private readonly goal: 'maximize' | 'minimize';
  private binary = true;
  private tau2: number | undefined;
  private maxRatio = 0;
  private interval: [number, number] = [-Infinity, Infinity];

  constructor(options: AbOptions = {}) {
    this.alpha = options.alpha ?? 0.05;
    this.minSample = Math.max(2, options.minSamplePerArm ?? 100);
    this.relativeTau = options.relativeTau ?? 0.1;
    this.goal = options.goal ?? 'maximize';
  }

  add(arm: 0 | 1, value: number): void {
    if (value !== 0 && value !== 1) this.binary = false;
    this.arms[arm].add(value);
    const [a, b] = this.arms;
    if (a.n < this.minSample || b.n < this.minSample) return;
    const variance = a.variance(this.binary) / a.n + b.variance(this.binary) / b.n;
    if (!(variance > 0)) return;
    // τ is fixed once, at the first look, from the pooled spread: a scale-free default for any outcome
    this.tau2 ??= (this.relativeTau * Math.sqrt((a.variance(this.binary) + b.variance(this.binary)) / 2)) ** 2 || 1e-12;
    const estimate = b.mean - a.mean;
    this.maxRatio = Math.max(this.maxRatio, mixtureLikelihoodRatio(estimate, variance, this.tau2));
    const [lo, hi] = confidenceSequence(estimate, variance, this.tau2, this.alpha);
    this.interval = [Math.max(this.interval[0], lo), Math.min(this.interval[1], hi)];
  }

  report(): AbReport {
    const [a, b] = this.arms;
    const control = a.stats();
    const treatment = b.stats();
    const pValue = Math.min(1, this.maxRatio > 0 ? 1 / this.maxRatio : 1);
    const base = { control, treatment, binary: this.binary, pValue, alpha: this.alpha, minSamplePerArm: this.minSample };
    if (a.n === 0 || b.n === 0) return { ...base, lift: null, decision: 'continue', reason: 'no outcomes yet on both arms' };
    const absolute = b.mean - a.mean;
    const interval: [number, number] = this.interval[0] <= this.interval[1] ? this.interval : [absolute, absolute];
    const lift = { absolute, interval, relative: a.mean !== 0 ? absolute / Math.abs(a.mean) : null };
    if (a.n < this.minSample || b.n < this.minSample)
      return { ...base, lift, decision: 'continue', reason: `minimum sample size: ${this.minSample} outcomes per arm (have ${a.n} and ${b.n})` };
    if (pValue > this.alpha)
      return { ...base, lift, decision: 'continue', reason: `no difference shown yet (always-valid p = ${pValue.toPrecision(3)} > ${this.alpha})` };
    const better = this.goal === 'maximize' ? absolute > 0 : absolute < 0;
    return {
      ...base,
      lift,
      decision: better ? 'ship' : 'keep_champion',
      reason: `the challenger is ${better ? 'better' : 'worse'} (always-valid p = ${pValue.toPrecision(3)} ≤ ${this.alpha})`,
    };
  }
}
