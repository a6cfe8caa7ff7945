import type { Store } from './store';

/** Where a dataset version's bytes stand in the content store. */
export type VersionCacheStatus = 'cached' | 'pending' | 'disabled' | 'failed' | 'evicted';
/** One file (the version's path is that file) or several, named relative to a folder. */
export type VersionLayout = 'file' | 'files';

export interface VersionCacheState {
  readonly datasetVersionId: number;
  readonly status: VersionCacheStatus;
  readonly layout: VersionLayout | null;
  readonly reason: string | null;
  readonly updatedAt: number;
}

/** One file of a cached version: its name relative to the version's folder (or its own name) and its object. */
export interface VersionFile {
  readonly relPath: string;
  readonly objectDigest: string;
  readonly sizeBytes: number;
}

/** The content store's index: per version, its status and the objects of its files (the manifest). */
export class DatasetCacheRepository {
  constructor(private readonly store: Store) {}

  state(datasetVersionId: number): VersionCacheState | undefined {
    const row = this.store.db
      .prepare('SELECT dataset_version_id, status, layout, reason, updated_at FROM dataset_version_cache WHERE dataset_version_id = ?')
      .get(datasetVersionId) as
      | { dataset_version_id: number; status: VersionCacheStatus; layout: VersionLayout | null; reason: string | null; updated_at: number }
      | undefined;
    return row && { datasetVersionId: row.dataset_version_id, status: row.status, layout: row.layout, reason: row.reason, updatedAt: row.updated_at };
  }

  /** The manifest, in the order the version digest covers the files. */
  files(datasetVersionId: number): VersionFile[] {
    return this.store.db
      .prepare(
        'SELECT rel_path AS relPath, object_digest AS objectDigest, size_bytes AS sizeBytes FROM dataset_version_file WHERE dataset_version_id = ? ORDER BY ordinal',
      )
      .all(datasetVersionId) as VersionFile[];
  }

  /** Sets the status; a manifest given replaces the stored one, and any status without objects drops it. */
  setState(
    datasetVersionId: number,
    status: VersionCacheStatus,
    options: { layout?: VersionLayout; reason?: string; files?: readonly VersionFile[]; now?: number } = {},
  ): void {
    this.store.transaction(() => {
      this.store.db
        .prepare(
          `INSERT INTO dataset_version_cache (dataset_version_id, status, layout, reason, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (dataset_version_id) DO UPDATE SET status = excluded.status, layout = coalesce(excluded.layout, layout),
             reason = excluded.reason, updated_at = excluded.updated_at`,
        )
        .run(datasetVersionId, status, options.layout ?? null, options.reason ?? null, options.now ?? Date.now());
      if (options.files || (status !== 'cached' && status !== 'pending')) {
        this.store.db.prepare('DELETE FROM dataset_version_file WHERE dataset_version_id = ?').run(datasetVersionId);
      }
      if (options.files) {
        const insert = this.store.db.prepare(
          'INSERT INTO dataset_version_file (dataset_version_id, rel_path, object_digest, size_bytes, ordinal) VALUES (?, ?, ?, ?, ?)',
        );
        options.files.forEach((f, i) => insert.run(datasetVersionId, f.relPath, f.objectDigest, f.sizeBytes, i));
      }
    });
  }

  /** Version ids per status (for gc). */
  versionsWithStatus(status: VersionCacheStatus): number[] {
    return this.store.db.prepare('SELECT dataset_version_id FROM dataset_version_cache WHERE status = ?').pluck().all(status) as number[];
  }

  /** Objects named by the manifests of these versions. */
  objectsOf(datasetVersionIds: readonly number[]): Set<string> {
    const select = this.store.db.prepare('SELECT object_digest FROM dataset_version_file WHERE dataset_version_id = ?').pluck();
    const objects = new Set<string>();
    for (const id of datasetVersionIds) for (const d of select.all(id) as string[]) objects.add(d);
    return objects;
  }
}
