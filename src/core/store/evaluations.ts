import type { Store } from './store';

/** A stored evaluation of one model version on one dataset version (migration 015); the document is parsed by its reader. */
export interface StoredModelEvaluation {
  readonly evaluationId: number;
  readonly modelVersionId: number;
  readonly datasetName: string;
  readonly datasetDigest: string;
  readonly datasetVersionId: number | null;
  readonly actor: string;
  readonly resultJson: string;
  readonly createdAt: number;
}

interface EvaluationRow {
  model_evaluation_id: number;
  model_version_id: number;
  dataset_name: string;
  dataset_digest: string;
  dataset_version_id: number | null;
  actor: string;
  result_json: string;
  created_at: number;
}

const toEvaluation = (row: EvaluationRow): StoredModelEvaluation => ({
  evaluationId: row.model_evaluation_id,
  modelVersionId: row.model_version_id,
  datasetName: row.dataset_name,
  datasetDigest: row.dataset_digest,
  datasetVersionId: row.dataset_version_id,
  actor: row.actor,
  resultJson: row.result_json,
  createdAt: row.created_at,
});

export class ModelEvaluationRepository {
  constructor(private readonly store: Store) {}

  add(input: {
    modelVersionId: number;
    datasetName: string;
    datasetDigest: string;
    datasetVersionId: number | null;
    actor: string;
    result: unknown;
    now?: number;
  }): number {
    return Number(
      this.store.db
        .prepare(
          `INSERT INTO model_evaluation (model_version_id, dataset_name, dataset_digest, dataset_version_id, actor, result_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          input.modelVersionId,
          input.datasetName,
          input.datasetDigest,
          input.datasetVersionId,
          input.actor,
          JSON.stringify(input.result),
          input.now ?? Date.now(),
        ).lastInsertRowid,
    );
  }

  get(evaluationId: number): StoredModelEvaluation | undefined {
    const row = this.store.db.prepare('SELECT * FROM model_evaluation WHERE model_evaluation_id = ?').get(evaluationId) as EvaluationRow | undefined;
    return row && toEvaluation(row);
  }

  /** A version's evaluations, newest first. */
  forVersion(modelVersionId: number): StoredModelEvaluation[] {
    return (
      this.store.db
        .prepare('SELECT * FROM model_evaluation WHERE model_version_id = ? ORDER BY created_at DESC, model_evaluation_id DESC')
        .all(modelVersionId) as EvaluationRow[]
    ).map(toEvaluation);
  }

  /** The newest evaluation of a version (on one dataset when given). */
  latest(modelVersionId: number, datasetName?: string): StoredModelEvaluation | undefined {
    return this.forVersion(modelVersionId).find((e) => datasetName === undefined || e.datasetName === datasetName);
  }
}
