import type { Store } from './store';

/** One stored check of a target's serving version (service_check). */
export interface StoredServiceCheck {
  readonly serviceCheckId: number;
  readonly target: string;
  readonly deploymentId: number | null;
  readonly modelName: string;
  readonly version: number;
  readonly up: boolean;
  readonly alert: boolean;
  readonly detail: string;
  readonly resultJson: string;
  readonly checkedAt: number;
}

interface ServiceCheckRow {
  service_check_id: number;
  target: string;
  deployment_id: number | null;
  model_name: string;
  version: number;
  up: 0 | 1;
  alert: 0 | 1;
  detail: string;
  result_json: string;
  checked_at: number;
}

const toCheck = (r: ServiceCheckRow): StoredServiceCheck => ({
  serviceCheckId: r.service_check_id,
  target: r.target,
  deploymentId: r.deployment_id,
  modelName: r.model_name,
  version: r.version,
  up: r.up === 1,
  alert: r.alert === 1,
  detail: r.detail,
  resultJson: r.result_json,
  checkedAt: r.checked_at,
});

export class ServiceCheckRepository {
  constructor(private readonly store: Store) {}

  add(input: Omit<StoredServiceCheck, 'serviceCheckId' | 'resultJson'> & { result: unknown }): StoredServiceCheck {
    const id = Number(
      this.store.db
        .prepare(
          'INSERT INTO service_check (target, deployment_id, model_name, version, up, alert, detail, result_json, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          input.target,
          input.deploymentId,
          input.modelName,
          input.version,
          input.up ? 1 : 0,
          input.alert ? 1 : 0,
          input.detail,
          JSON.stringify(input.result),
          input.checkedAt,
        ).lastInsertRowid,
    );
    return toCheck(this.store.db.prepare('SELECT * FROM service_check WHERE service_check_id = ?').get(id) as ServiceCheckRow);
  }

  /** Newest first. */
  list(target: string, options: { since?: number; limit?: number } = {}): StoredServiceCheck[] {
    return (
      this.store.db
        .prepare('SELECT * FROM service_check WHERE target = ? AND checked_at >= ? ORDER BY checked_at DESC, service_check_id DESC LIMIT ?')
        .all(target, options.since ?? 0, options.limit ?? 1000) as ServiceCheckRow[]
    ).map(toCheck);
  }

  /**
   * Uptime since `since`: the share of checks that found the service up, and how many checks that is (a check
   * stands for the interval before it, so with a fixed schedule the share of checks is the share of time).
   */
  uptime(target: string, since: number): { checks: number; up: number; ratio: number | null } {
    const row = this.store.db
      .prepare('SELECT COUNT(*) AS checks, COALESCE(SUM(up), 0) AS up FROM service_check WHERE target = ? AND checked_at >= ?')
      .get(target, since) as { checks: number; up: number };
    return { checks: row.checks, up: row.up, ratio: row.checks ? row.up / row.checks : null };
  }
}
