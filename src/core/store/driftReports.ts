import type { Store } from './store';

/** A stored drift check: its verdict, what it compared, and the full result for the Drift panel. */
export interface StoredDriftReport {
  readonly driftReportId: number;
  readonly modelId: number | null;
  readonly modelName: string | null;
  readonly referenceDatasetVersionId: number | null;
  readonly currentUri: string;
  readonly currentDigest: string | null;
  readonly driftedShare: number;
  readonly datasetDrift: boolean;
  readonly resultJson: string;
  readonly retrainRunId: string | null;
  readonly createdAt: number;
}

interface DriftReportRow {
  drift_report_id: number;
  model_id: number | null;
  model_name: string | null;
  reference_dataset_version_id: number | null;
  current_uri: string;
  current_digest: string | null;
  drifted_share: number;
  dataset_drift: number;
  result_json: string;
  retrain_run_id: string | null;
  created_at: number;
}

/** The model's name: its registry row's, or (not registered yet when checked) the name the check stored in its result. */
const SELECT =
  "SELECT r.*, COALESCE(m.name, json_extract(r.result_json, '$.model')) AS model_name FROM drift_report r LEFT JOIN model m ON m.model_id = r.model_id";

export class DriftReportRepository {
  constructor(private readonly store: Store) {}

  /** One row, written in its own transaction (the report is complete before it is stored). */
  add(input: {
    modelId?: number | null;
    referenceDatasetVersionId?: number | null;
    currentUri: string;
    currentDigest?: string | null;
    driftedShare: number;
    datasetDrift: boolean;
    result: unknown;
    now?: number;
  }): StoredDriftReport {
    const id = this.store.transaction(() =>
      Number(
        this.store.db
          .prepare(
            `INSERT INTO drift_report (model_id, reference_dataset_version_id, current_uri, current_digest, drifted_share, dataset_drift, result_json, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            input.modelId ?? null,
            input.referenceDatasetVersionId ?? null,
            input.currentUri,
            input.currentDigest ?? null,
            input.driftedShare,
            input.datasetDrift ? 1 : 0,
            JSON.stringify(input.result),
            input.now ?? Date.now(),
          ).lastInsertRowid,
      ),
    );
    return this.get(id)!;
  }

  get(driftReportId: number): StoredDriftReport | undefined {
    const row = this.store.db.prepare(`${SELECT} WHERE r.drift_report_id = ?`).get(driftReportId) as DriftReportRow | undefined;
    return row && toReport(row);
  }

  /** Newest first; only one model's when `modelId` is given. */
  list(options: { modelId?: number; limit?: number } = {}): StoredDriftReport[] {
    const where = options.modelId === undefined ? '' : ' WHERE r.model_id = ?';
    const args = options.modelId === undefined ? [] : [options.modelId];
    const rows = this.store.db
      .prepare(`${SELECT}${where} ORDER BY r.created_at DESC, r.drift_report_id DESC LIMIT ?`)
      .all(...args, options.limit ?? 100) as DriftReportRow[];
    return rows.map(toReport);
  }

  /** One monitored model's reports, newest first: registered (by its row) or not yet (by the name its check stored). */
  listForModel(modelName: string, limit = 100): StoredDriftReport[] {
    const rows = this.store.db
      .prepare(`${SELECT} WHERE COALESCE(m.name, json_extract(r.result_json, '$.model')) = ? ORDER BY r.created_at DESC, r.drift_report_id DESC LIMIT ?`)
      .all(modelName, limit) as DriftReportRow[];
    return rows.map(toReport);
  }

  /** Every report's id, oldest first (without their results: what a publisher compares with what the server holds). */
  ids(): number[] {
    return this.store.db.prepare('SELECT drift_report_id FROM drift_report ORDER BY created_at, drift_report_id').pluck().all() as number[];
  }

  /** Links the run started to retrain because of this report. */
  setRetrainRun(driftReportId: number, runId: string): void {
    this.store.transaction(() => this.store.db.prepare('UPDATE drift_report SET retrain_run_id = ? WHERE drift_report_id = ?').run(runId, driftReportId));
  }
}

const toReport = (r: DriftReportRow): StoredDriftReport => ({
  driftReportId: r.drift_report_id,
  modelId: r.model_id,
  modelName: r.model_name,
  referenceDatasetVersionId: r.reference_dataset_version_id,
  currentUri: r.current_uri,
  currentDigest: r.current_digest,
  driftedShare: r.drifted_share,
  datasetDrift: r.dataset_drift === 1,
  resultJson: r.result_json,
  retrainRunId: r.retrain_run_id,
  createdAt: r.created_at,
});
