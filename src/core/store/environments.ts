import { createHash } from 'node:crypto';
import type { RunEnvironment } from '../runs/environment';
import type { Store } from './store';

/** A run's environment as stored: the document and the digest it is shared under. */
export interface StoredEnvironment {
  readonly digest: string;
  readonly document: RunEnvironment;
  /** How long the capture took, ms (it runs beside the starting process). */
  readonly capturedMs: number | null;
}

/** The same document always gives the same text: keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Environments, one row per distinct document (many runs share one), and which run started in which. */
export class EnvironmentRepository {
  constructor(private readonly store: Store) {}

  /** Stores the document once (by digest) and points the run at it. */
  record(runId: string, document: RunEnvironment, capturedMs?: number, now: number = Date.now()): string {
    const text = canonicalJson(document);
    const digest = createHash('sha256').update(text).digest('hex');
    this.store.transaction(() => {
      this.store.db
        .prepare('INSERT INTO environment (digest, document_json, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING')
        .run(digest, text, now);
      const id = this.store.db.prepare('SELECT environment_id FROM environment WHERE digest = ?').pluck().get(digest) as number;
      this.store.db
        .prepare(
          `INSERT INTO run_environment (run_id, environment_id, captured_ms) VALUES (?, ?, ?)
           ON CONFLICT (run_id) DO UPDATE SET environment_id = excluded.environment_id, captured_ms = excluded.captured_ms`,
        )
        .run(runId, id, capturedMs ?? null);
    });
    return digest;
  }

  forRun(runId: string): StoredEnvironment | undefined {
    const row = this.store.db
      .prepare(
        `SELECT e.digest, e.document_json, r.captured_ms FROM run_environment r JOIN environment e ON e.environment_id = r.environment_id WHERE r.run_id = ?`,
      )
      .get(runId) as { digest: string; document_json: string; captured_ms: number | null } | undefined;
    return row && { digest: row.digest, document: JSON.parse(row.document_json) as RunEnvironment, capturedMs: row.captured_ms };
  }
}
