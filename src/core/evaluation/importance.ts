import { ModelEvaluationRepository } from '../store/evaluations';
import type { Store } from '../store/store';
import type { ModelEvaluation } from './evaluate';
import { EvaluationError } from './evaluatorProcess';
import { findModelVersion, type VersionSelector } from './target';

/** A stored evaluation with its id and time. */
export interface EvaluationEntry {
  readonly evaluationId: number;
  readonly createdAt: number;
  readonly evaluation: ModelEvaluation;
}

/** The newest stored evaluation of a version (on one dataset digest when given). */
export function latestEvaluation(store: Store, ref: VersionSelector, datasetDigest?: string): EvaluationEntry | undefined {
  const { version } = findModelVersion(store, ref);
  const row = new ModelEvaluationRepository(store)
    .forVersion(version.modelVersionId)
    .find((e) => datasetDigest === undefined || e.datasetDigest === datasetDigest);
  return row && { evaluationId: row.evaluationId, createdAt: row.createdAt, evaluation: JSON.parse(row.resultJson) as ModelEvaluation };
}

export interface ImportanceRow {
  readonly feature: string;
  /** Mean drop of the score when the feature is permuted, and its std over the repeats; null when the version lacks the feature. */
  readonly base: { readonly mean: number; readonly std: number; readonly rank: number } | null;
  readonly other: { readonly mean: number; readonly std: number; readonly rank: number } | null;
  /** other − base (null when either lacks it). */
  readonly change: number | null;
}

export interface ImportanceComparison {
  readonly base: { readonly model: string; readonly version: number; readonly dataset: string };
  readonly other: { readonly model: string; readonly version: number; readonly dataset: string };
  readonly sameData: boolean;
  readonly rows: readonly ImportanceRow[];
}

/** Permutation importance of two evaluations side by side (e.g. champion → challenger), by the base's ranking. */
export function compareImportance(base: ModelEvaluation, other: ModelEvaluation): ImportanceComparison {
  const ranked = (e: ModelEvaluation): Map<string, { mean: number; std: number; rank: number }> => {
    const p = e.permutationImportance;
    const order = p.features.map((f, i) => ({ f, mean: p.mean[i]!, std: p.std[i]! })).sort((a, b) => b.mean - a.mean);
    return new Map(order.map((o, i) => [o.f, { mean: o.mean, std: o.std, rank: i + 1 }]));
  };
  const a = ranked(base);
  const b = ranked(other);
  const features = [...a.keys(), ...[...b.keys()].filter((f) => !a.has(f))];
  return {
    base: { model: base.model, version: base.version, dataset: `${base.dataset.name}@${base.dataset.digest.slice(0, 12)}` },
    other: { model: other.model, version: other.version, dataset: `${other.dataset.name}@${other.dataset.digest.slice(0, 12)}` },
    sameData: base.dataset.digest === other.dataset.digest,
    rows: features.map((feature) => {
      const x = a.get(feature) ?? null;
      const y = b.get(feature) ?? null;
      return { feature, base: x, other: y, change: x && y ? y.mean - x.mean : null };
    }),
  };
}

export function requireEvaluation(entry: EvaluationEntry | undefined, what: string): EvaluationEntry {
  if (!entry) throw new EvaluationError(`${what} has no stored evaluation on this data: run mloop evaluate on it first`);
  return entry;
}
