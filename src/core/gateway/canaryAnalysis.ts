import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { CanaryAnalysisConfig } from '../config/schema';
import { binCounts, binEdges, DEFAULT_PSI_BINNING, quantileSorted } from '../drift/binning';
import { chiSquareContingency, populationStabilityIndex } from '../drift/distances';
import { chiSquareSf } from '../drift/gamma';
import { ksTwoSample } from '../drift/ks';
import { parseServingLine, type ServingLine } from '../monitoring/servingLog';

export type { ServingLine };

export interface ArmSummary {
  readonly version: number;
  readonly requests: number;
  /** Answers with a 5xx status (the gateway's own 502 for a version that failed included). */
  readonly errors: number;
  readonly errorRate: number | null;
  readonly p95Ms: number | null;
  readonly predictions: number;
}

export type ComparisonMetric = 'requests' | 'error_rate' | 'p95_latency' | 'prediction_drift';

export interface ArmComparison {
  readonly metric: ComparisonMetric;
  /** error_rate: canary − stable; p95_latency: canary ÷ stable; prediction_drift: PSI; requests: the smaller arm. */
  readonly value: number | null;
  readonly threshold: number;
  readonly passed: boolean;
  readonly detail: string;
  /** prediction_drift: the p-value of the test beside PSI (chi-square for classes, Kolmogorov–Smirnov for numbers). */
  readonly pValue?: number;
}

/** The comparison of a canary step: what the deployment's history and the audit keep. */
export interface CanaryAnalysis {
  readonly step: string;
  readonly at: number;
  readonly window: { readonly from: number; readonly to: number };
  readonly stable: ArmSummary;
  readonly canary: ArmSummary;
  readonly comparisons: readonly ArmComparison[];
  readonly passed: boolean;
  readonly summary: string;
}

/** Latencies under this count as it in the p95 ratio: sub-millisecond jitter is not a regression. */
export const LATENCY_FLOOR_MS = 1;
/** Numeric predictions with at most this many distinct values (labels coded as numbers) are compared as classes. */
const MAX_NUMERIC_CLASSES = 20;

/** The serving log's size now: the analysis of a step reads only what was appended after it. */
export function servingLogOffset(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** The complete lines appended to the serving log from `offset` on (a malformed line is skipped). */
export function readServingLog(path: string, offset = 0): ServingLine[] {
  if (!existsSync(path)) return [];
  const size = statSync(path).size;
  if (size <= offset) return [];
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  const text = buffer.toString('utf8');
  const lines: ServingLine[] = [];
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    // a torn or foreign line is not evidence either way
    const parsed = line ? parseServingLine(line) : undefined;
    if (parsed) lines.push(parsed);
  }
  return lines;
}

/** p95 as numpy.percentile(x, 95) (linear interpolation). */
export function percentile95(latencies: readonly number[]): number | null {
  if (latencies.length === 0) return null;
  return quantileSorted(Float64Array.from(latencies).sort(), 0.95);
}

function summarize(lines: readonly ServingLine[], version: number): { arm: ArmSummary; predictions: (string | number | boolean)[] } {
  const mine = lines.filter((l) => l.version === version);
  const errors = mine.filter((l) => l.status >= 500).length;
  const predictions = mine.flatMap((l) => l.predictions ?? []);
  return {
    arm: {
      version,
      requests: mine.length,
      errors,
      errorRate: mine.length ? errors / mine.length : null,
      p95Ms: percentile95(mine.map((l) => l.latency_ms)),
      predictions: predictions.length,
    },
    predictions,
  };
}

export interface PredictionDrift {
  readonly kind: 'classes' | 'numbers';
  readonly psi: number;
  /** classes: chi-square test of the 2 × k table; numbers: two-sample Kolmogorov–Smirnov. */
  readonly test: 'chisquare' | 'ks';
  readonly pValue: number;
  readonly bins: number;
}

/**
 * The population stability index between the arms' predictions: classes (strings, booleans, or numbers with at most
 * 20 distinct values) as categories, other numbers in 10 bins at the stable arm's quantiles (drift's PSI binning).
 */
export function predictionDrift(stable: readonly (string | number | boolean)[], canary: readonly (string | number | boolean)[]): PredictionDrift {
  const numeric = [...stable, ...canary].every((p) => typeof p === 'number');
  const distinct = new Set([...stable, ...canary].map((p) => `${typeof p}:${String(p)}`));
  if (numeric && distinct.size > MAX_NUMERIC_CLASSES) {
    const reference = Float64Array.from(stable as number[]).sort();
    const current = Float64Array.from(canary as number[]).sort();
    const edges = binEdges(DEFAULT_PSI_BINNING, reference, current);
    return {
      kind: 'numbers',
      psi: populationStabilityIndex(binCounts(reference, edges), binCounts(current, edges)),
      test: 'ks',
      pValue: ksTwoSample(reference, current).pValue,
      bins: Math.max(1, edges.length - 1),
    };
  }
  const categories = [...distinct].sort();
  const count = (values: readonly (string | number | boolean)[]): number[] => {
    const counts = new Map<string, number>();
    for (const v of values) counts.set(`${typeof v}:${String(v)}`, (counts.get(`${typeof v}:${String(v)}`) ?? 0) + 1);
    return categories.map((c) => counts.get(c) ?? 0);
  };
  const s = count(stable);
  const c = count(canary);
  const chi = categories.length > 1 ? chiSquareContingency(s, c) : { statistic: 0, dof: 0 };
  return {
    kind: 'classes',
    psi: populationStabilityIndex(s, c),
    test: 'chisquare',
    pValue: chi.dof > 0 ? chiSquareSf(chi.statistic, chi.dof) : 1,
    bins: categories.length,
  };
}

const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
const ms = (x: number | null): string => (x === null ? '–' : `${x.toFixed(1)} ms`);
const num = (x: number): string => Number(x.toPrecision(3)).toString();

/**
 * Compares the canary with the stable version on the serving-log lines of a bake window: error rate (difference),
 * p95 latency (ratio) and the distribution of predictions (PSI); each threshold of `analysis:` is one comparison.
 */
export function analyseCanary(
  lines: readonly ServingLine[],
  arms: { readonly stableVersion: number; readonly canaryVersion: number; readonly step: string; readonly from: number; readonly to: number },
  config: CanaryAnalysisConfig,
): CanaryAnalysis {
  const stable = summarize(lines, arms.stableVersion);
  const canary = summarize(lines, arms.canaryVersion);
  const comparisons: ArmComparison[] = [];
  const fewest = Math.min(stable.arm.requests, canary.arm.requests);
  const enough = fewest >= config.min_requests;
  comparisons.push({
    metric: 'requests',
    value: fewest,
    threshold: config.min_requests,
    passed: enough,
    detail: `requests: canary ${canary.arm.requests}, stable ${stable.arm.requests} (at least ${config.min_requests} each)`,
  });
  const noData = fewest === 0;
  if (config.max_error_rate_increase !== undefined) {
    const value = noData ? null : canary.arm.errorRate! - stable.arm.errorRate!;
    comparisons.push({
      metric: 'error_rate',
      value,
      threshold: config.max_error_rate_increase,
      passed: value === null || value <= config.max_error_rate_increase + 1e-12,
      detail: `error rate: canary ${pct(canary.arm.errorRate)} vs stable ${pct(stable.arm.errorRate)} (${value === null ? 'no traffic' : `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)} points`}, at most +${(config.max_error_rate_increase * 100).toFixed(1)})`,
    });
  }
  if (config.max_p95_ratio !== undefined) {
    const value = noData ? null : Math.max(canary.arm.p95Ms!, LATENCY_FLOOR_MS) / Math.max(stable.arm.p95Ms!, LATENCY_FLOOR_MS);
    comparisons.push({
      metric: 'p95_latency',
      value,
      threshold: config.max_p95_ratio,
      passed: value === null || value <= config.max_p95_ratio,
      detail: `p95 latency: canary ${ms(canary.arm.p95Ms)} vs stable ${ms(stable.arm.p95Ms)} (${value === null ? 'no traffic' : `×${value.toFixed(2)}`}, at most ×${config.max_p95_ratio})`,
    });
  }
  if (config.max_prediction_drift !== undefined) {
    const missing = [canary, stable].find((a) => a.arm.requests > 0 && a.predictions.length === 0);
    if (noData) {
      comparisons.push({
        metric: 'prediction_drift',
        value: null,
        threshold: config.max_prediction_drift,
        passed: true,
        detail: 'prediction drift: no traffic',
      });
    } else if (missing) {
      comparisons.push({
        metric: 'prediction_drift',
        value: null,
        threshold: config.max_prediction_drift,
        passed: false,
        detail: `prediction drift: the answers of v${missing.arm.version} carry no {"predictions": [...]} to compare`,
      });
    } else {
      const drift = predictionDrift(stable.predictions, canary.predictions);
      comparisons.push({
        metric: 'prediction_drift',
        value: drift.psi,
        threshold: config.max_prediction_drift,
        passed: drift.psi <= config.max_prediction_drift,
        pValue: drift.pValue,
        detail: `prediction drift: PSI ${num(drift.psi)} over ${drift.bins} ${drift.kind === 'classes' ? 'classes' : 'bins'} of ${canary.predictions.length} vs ${stable.predictions.length} predictions (at most ${config.max_prediction_drift}; ${drift.test === 'ks' ? 'KS' : 'chi-square'} p = ${num(drift.pValue)})`,
      });
    }
  }
  const passed = comparisons.every((c) => c.passed);
  const failing = comparisons.filter((c) => !c.passed);
  const head = `canary v${arms.canaryVersion} vs stable v${arms.stableVersion} over ${((arms.to - arms.from) / 1000).toFixed(1)} s`;
  return {
    step: arms.step,
    at: arms.to,
    window: { from: arms.from, to: arms.to },
    stable: stable.arm,
    canary: canary.arm,
    comparisons,
    passed,
    summary: `${head}: ${(passed ? comparisons : failing).map((c) => `${c.passed ? '✓' : '✗'} ${c.detail}`).join('; ')}`,
  };
}
