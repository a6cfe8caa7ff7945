import { AuditRepository, osUser } from './audit';
import type { Store } from './store';

export type DatasetFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet' | 'other';
export type DatasetSource = 'declared' | 'mlflow' | 'imported';
export type DatasetVersionOrigin = 'snapshot' | 'watcher' | 'dvc' | 'mlflow' | 'manual' | 'imported';

export interface Dataset {
  readonly datasetId: number;
  readonly name: string;
  readonly uri: string;
  readonly format: DatasetFormat | null;
  readonly source: DatasetSource;
  readonly createdAt: number;
}

export interface DatasetVersion {
  readonly datasetVersionId: number;
  readonly datasetId: number;
  readonly digest: string;
  readonly digestAlgorithm: string;
  readonly path: string;
  readonly sizeBytes: number | null;
  readonly rowCount: number | null;
  readonly origin: DatasetVersionOrigin;
  readonly createdAt: number;
  /** How many runs read this version (derived from run_input). */
  readonly usedByRuns: number;
}

interface DatasetRow {
  dataset_id: number;
  name: string;
  uri: string;
  format: DatasetFormat | null;
  source: DatasetSource;
  created_at: number;
}

interface DatasetVersionRow {
  dataset_version_id: number;
  dataset_id: number;
  digest: string;
  digest_algorithm: string;
  path: string;
  size_bytes: number | null;
  row_count: number | null;
  origin: DatasetVersionOrigin;
  created_at: number;
  used_by_runs: number;
}

const toDataset = (r: DatasetRow): Dataset => ({
  datasetId: r.dataset_id,
  name: r.name,
  uri: r.uri,
  format: r.format,
  source: r.source,
  createdAt: r.created_at,
});

const toVersion = (r: DatasetVersionRow): DatasetVersion => ({
  datasetVersionId: r.dataset_version_id,
  datasetId: r.dataset_id,
  digest: r.digest,
  digestAlgorithm: r.digest_algorithm,
  path: r.path,
  sizeBytes: r.size_bytes,
  rowCount: r.row_count,
  origin: r.origin,
  createdAt: r.created_at,
  usedByRuns: r.used_by_runs,
});

const VERSION_COLUMNS = `v.dataset_version_id, v.dataset_id, v.digest, v.digest_algorithm, v.path, v.size_bytes, v.row_count,
  v.origin, v.created_at, (SELECT count(*) FROM run_input i WHERE i.dataset_version_id = v.dataset_version_id) AS used_by_runs`;

export class DatasetRepository {
  constructor(private readonly store: Store) {}

  /** The dataset with this name, created (or its uri/format updated) as declared. */
  upsert(dataset: { name: string; uri: string; format?: DatasetFormat; source?: DatasetSource; now?: number }): Dataset {
    this.store.db
      .prepare(
        `INSERT INTO dataset (name, uri, format, source, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, format = excluded.format`,
      )
      .run(dataset.name, dataset.uri, dataset.format ?? null, dataset.source ?? 'declared', dataset.now ?? Date.now());
    return this.byName(dataset.name)!;
  }

  byName(name: string): Dataset | undefined {
    const row = this.store.db.prepare('SELECT * FROM dataset WHERE name = ?').get(name) as DatasetRow | undefined;
    return row && toDataset(row);
  }

  list(): Dataset[] {
    return (this.store.db.prepare('SELECT * FROM dataset ORDER BY name').all() as DatasetRow[]).map(toDataset);
  }

  /**
   * Records a version; content-addressed, so the same digest twice is the same version.
   * Returns the stored version and whether it is new.
   */
  addVersion(version: {
    datasetId: number;
    digest: string;
    /** 'sha256' (default) or 'md5-dvc' when the digest was taken from DVC metadata. */
    digestAlgorithm?: string;
    path: string;
    sizeBytes?: number;
    rowCount?: number;
    schemaJson?: string;
    profileJson?: string;
    origin?: DatasetVersionOrigin;
    now?: number;
  }): { version: DatasetVersion; created: boolean } {
    return this.store.transaction(() => {
      const info = this.store.db
        .prepare(
          `INSERT INTO dataset_version (dataset_id, digest, digest_algorithm, path, size_bytes, row_count, schema_json, profile_json, origin, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_id, digest) DO NOTHING`,
        )
        .run(
          version.datasetId,
          version.digest,
          version.digestAlgorithm ?? 'sha256',
          version.path,
          version.sizeBytes ?? null,
          version.rowCount ?? null,
          version.schemaJson ?? null,
          version.profileJson ?? null,
          version.origin ?? 'snapshot',
          version.now ?? Date.now(),
        );
      const row = this.store.db
        .prepare(`SELECT ${VERSION_COLUMNS} FROM dataset_version v WHERE v.dataset_id = ? AND v.digest = ?`)
        .get(version.datasetId, version.digest) as DatasetVersionRow;
      return { version: toVersion(row), created: info.changes === 1 };
    });
  }

  /** Newest first. */
  versions(datasetId: number): DatasetVersion[] {
    const rows = this.store.db
      .prepare(`SELECT ${VERSION_COLUMNS} FROM dataset_version v WHERE v.dataset_id = ? ORDER BY v.created_at DESC, v.dataset_version_id DESC`)
      .all(datasetId) as DatasetVersionRow[];
    return rows.map(toVersion);
  }

  /** Pins the exact version a run read. */
  linkRunInput(runId: string, datasetVersionId: number, context = 'training'): void {
    this.store.db.prepare('INSERT OR IGNORE INTO run_input (run_id, dataset_version_id, context) VALUES (?, ?, ?)').run(runId, datasetVersionId, context);
  }

  byId(datasetId: number): Dataset | undefined {
    const row = this.store.db.prepare('SELECT * FROM dataset WHERE dataset_id = ?').get(datasetId) as DatasetRow | undefined;
    return row && toDataset(row);
  }

  version(datasetVersionId: number): DatasetVersion | undefined {
    const row = this.store.db.prepare(`SELECT ${VERSION_COLUMNS} FROM dataset_version v WHERE v.dataset_version_id = ?`).get(datasetVersionId) as
      | DatasetVersionRow
      | undefined;
    return row && toVersion(row);
  }

  versionByDigest(datasetId: number, digest: string): DatasetVersion | undefined {
    const row = this.store.db.prepare(`SELECT ${VERSION_COLUMNS} FROM dataset_version v WHERE v.dataset_id = ? AND v.digest = ?`).get(datasetId, digest) as
      | DatasetVersionRow
      | undefined;
    return row && toVersion(row);
  }

  /** The stored schema and profile JSON of a version (parsed by the caller, which owns their shape). */
  versionDocuments(datasetVersionId: number): { schemaJson: string | null; profileJson: string | null } | undefined {
    const row = this.store.db.prepare('SELECT schema_json, profile_json FROM dataset_version WHERE dataset_version_id = ?').get(datasetVersionId) as
      | { schema_json: string | null; profile_json: string | null }
      | undefined;
    return row && { schemaJson: row.schema_json, profileJson: row.profile_json };
  }

  /** Runs that read this version, newest link first. */
  runsUsing(datasetVersionId: number): string[] {
    return this.store.db.prepare('SELECT run_id FROM run_input WHERE dataset_version_id = ? ORDER BY rowid DESC').pluck().all(datasetVersionId) as string[];
  }

  /** Records a validation outcome as an audit row (entity dataset_version), so ✓/✗ and overrides share one trail. */
  recordValidation(entry: {
    datasetVersionId: number;
    passed: boolean;
    details: unknown;
    actor?: string;
    reason?: string;
    action?: string;
    at?: number;
  }): number {
    return new AuditRepository(this.store).record({
      actor: entry.actor ?? osUser(),
      action: entry.action ?? 'dataset.validate',
      entityType: 'dataset_version',
      entityId: String(entry.datasetVersionId),
      toValue: entry.passed ? 'passed' : 'failed',
      reason: entry.reason ?? null,
      details: entry.details,
      ...(entry.at === undefined ? {} : { at: entry.at }),
    });
  }

  /** The latest validation outcome of a version, if it was ever validated. */
  latestValidation(datasetVersionId: number): { passed: boolean; at: number; detailsJson: string | null } | undefined {
    const row = this.store.db
      .prepare(
        `SELECT to_value, at, details_json FROM audit WHERE action = 'dataset.validate' AND entity_type = 'dataset_version' AND entity_id = ?
         ORDER BY at DESC, audit_id DESC LIMIT 1`,
      )
      .get(String(datasetVersionId)) as { to_value: string; at: number; details_json: string | null } | undefined;
    return row && { passed: row.to_value === 'passed', at: row.at, detailsJson: row.details_json };
  }
}
