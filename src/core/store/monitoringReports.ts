import type { Store } from './store';

export type MonitoringReportKind = 'performance' | 'fairness' | 'estimated_performance';

/** A stored performance or fairness check of one model (drift checks live in drift_report). */
export interface StoredMonitoringReport {
  readonly monitoringReportId: number;
  readonly modelId: number | null;
  readonly modelName: string;
  readonly kind: MonitoringReportKind;
  readonly alert: boolean;
  readonly summary: string;
  readonly resultJson: string;
  readonly createdAt: number;
}

interface MonitoringReportRow {
  monitoring_report_id: number;
  model_id: number | null;
  model_name: string;
  kind: MonitoringReportKind;
  alert: 0 | 1;
  summary: string;
  result_json: string;
  created_at: number;
}

export class MonitoringReportRepository {
  constructor(private readonly store: Store) {}

  /** One row in its own transaction: the report is complete before it is stored. */
  add(input: { modelName: string; kind: MonitoringReportKind; alert: boolean; summary: string; result: unknown; now?: number }): StoredMonitoringReport {
    const id = this.store.transaction(() => {
      const model = this.store.db.prepare('SELECT model_id FROM model WHERE name = ?').pluck().get(input.modelName) as number | undefined;
      return Number(
        this.store.db
          .prepare('INSERT INTO monitoring_report (model_id, model_name, kind, alert, summary, result_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(model ?? null, input.modelName, input.kind, input.alert ? 1 : 0, input.summary, JSON.stringify(input.result), input.now ?? Date.now())
          .lastInsertRowid,
      );
    });
    return this.get(id)!;
  }

  get(monitoringReportId: number): StoredMonitoringReport | undefined {
    const row = this.store.db.prepare('SELECT * FROM monitoring_report WHERE monitoring_report_id = ?').get(monitoringReportId) as
      | MonitoringReportRow
      | undefined;
    return row && toReport(row);
  }

  /** The checks of a model whose newest report raised an alert (a headless mloop monitor's count too). */
  alertingKinds(modelName: string): MonitoringReportKind[] {
    return this.store.db
      .prepare(
        `SELECT kind FROM monitoring_report r WHERE model_name = ? AND alert = 1 AND monitoring_report_id = (
           SELECT monitoring_report_id FROM monitoring_report WHERE model_name = r.model_name AND kind = r.kind ORDER BY created_at DESC, monitoring_report_id DESC LIMIT 1)
         ORDER BY kind`,
      )
      .pluck()
      .all(modelName) as MonitoringReportKind[];
  }

  /** Newest first; one model's and/or one kind's when given. */
  list(options: { modelName?: string; kind?: MonitoringReportKind; limit?: number } = {}): StoredMonitoringReport[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (options.modelName !== undefined) {
      where.push('model_name = ?');
      args.push(options.modelName);
    }
    if (options.kind !== undefined) {
      where.push('kind = ?');
      args.push(options.kind);
    }
    const rows = this.store.db
      .prepare(
        `SELECT * FROM monitoring_report${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, monitoring_report_id DESC LIMIT ?`,
      )
      .all(...args, options.limit ?? 100) as MonitoringReportRow[];
    return rows.map(toReport);
  }
}

const toReport = (r: MonitoringReportRow): StoredMonitoringReport => ({
  monitoringReportId: r.monitoring_report_id,
  modelId: r.model_id,
  modelName: r.model_name,
  kind: r.kind,
  alert: r.alert === 1,
  summary: r.summary,
  resultJson: r.result_json,
  createdAt: r.created_at,
});
