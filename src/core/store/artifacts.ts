import type { Store } from './store';

export interface Artifact {
  readonly artifactId: number;
  readonly runId: string;
  /** Relative to the run's artifact root, with "/" separators. */
  readonly path: string;
  readonly digest: string | null;
  readonly size: number | null;
  readonly createdAt: number;
}

interface ArtifactRow {
  artifact_id: number;
  run_id: string;
  path: string;
  digest: string | null;
  size: number | null;
  created_at: number;
}

/** Files a run stored (the bytes live under the artifact root; the store keeps path, digest and size). */
export class ArtifactRepository {
  constructor(private readonly store: Store) {}

  /** Records a file written for a run; writing the same path again replaces its digest and size. */
  record(artifact: { runId: string; path: string; digest?: string; size?: number; now?: number }): void {
    this.store.db
      .prepare(
        `INSERT INTO artifact (run_id, path, digest, size, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_id, path) DO UPDATE SET digest = excluded.digest, size = excluded.size, created_at = excluded.created_at`,
      )
      .run(artifact.runId, artifact.path, artifact.digest ?? null, artifact.size ?? null, artifact.now ?? Date.now());
  }

  /** Forgets every file at or below `prefix` (a deleted artifact or folder). */
  forget(runId: string, prefix: string): void {
    this.store.db
      .prepare("DELETE FROM artifact WHERE run_id = ? AND (path = ? OR substr(path, 1, length(?) + 1) = ? || '/')")
      .run(runId, prefix, prefix, prefix);
  }

  /** Sorted by path. */
  list(runId: string): Artifact[] {
    const rows = this.store.db.prepare('SELECT * FROM artifact WHERE run_id = ? ORDER BY path').all(runId) as ArtifactRow[];
    return rows.map((r) => ({ artifactId: r.artifact_id, runId: r.run_id, path: r.path, digest: r.digest, size: r.size, createdAt: r.created_at }));
  }
}
