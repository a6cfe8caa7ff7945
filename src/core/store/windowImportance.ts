import type { Store } from './store';

/** One stored computation of permutation importance per monitoring window (window_importance). */
export interface StoredWindowImportance {
  readonly windowImportanceId: number;
  readonly modelVersionId: number;
  readonly modelName: string;
  readonly resultJson: string;
  readonly createdAt: number;
}

interface Row {
  window_importance_id: number;
  model_version_id: number;
  model_name: string;
  result_json: string;
  created_at: number;
}

const toStored = (r: Row): StoredWindowImportance => ({
  windowImportanceId: r.window_importance_id,
  modelVersionId: r.model_version_id,
  modelName: r.model_name,
  resultJson: r.result_json,
  createdAt: r.created_at,
});

export class WindowImportanceRepository {
  constructor(private readonly store: Store) {}

  add(input: { modelVersionId: number; modelName: string; result: unknown; now?: number }): number {
    return this.store.transaction(() =>
      Number(
        this.store.db
          .prepare('INSERT INTO window_importance (model_version_id, model_name, result_json, created_at) VALUES (?, ?, ?, ?)')
          .run(input.modelVersionId, input.modelName, JSON.stringify(input.result), input.now ?? Date.now()).lastInsertRowid,
      ),
    );
  }

  /** The newest computation for a model (any version), if any; a store from before migration 20 has none. */
  latest(modelName: string): StoredWindowImportance | undefined {
    const has = this.store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'window_importance'").get() !== undefined;
    if (!has) return undefined;
    const row = this.store.db
      .prepare('SELECT * FROM window_importance WHERE model_name = ? ORDER BY created_at DESC, window_importance_id DESC LIMIT 1')
      .get(modelName) as Row | undefined;
    return row && toStored(row);
  }
}
