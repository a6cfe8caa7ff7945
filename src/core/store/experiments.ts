import type { Store } from './store';

export interface Experiment {
  readonly experimentId: number;
  readonly name: string;
  readonly artifactLocation: string | null;
  readonly lifecycleStage: 'active' | 'deleted';
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface ExperimentRow {
  experiment_id: number;
  name: string;
  artifact_location: string | null;
  lifecycle_stage: 'active' | 'deleted';
  created_at: number;
  updated_at: number;
}

const toExperiment = (row: ExperimentRow): Experiment => ({
  experimentId: row.experiment_id,
  name: row.name,
  artifactLocation: row.artifact_location,
  lifecycleStage: row.lifecycle_stage,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** MLflow's default experiment name; runs without an experiment land here. */
export const DEFAULT_EXPERIMENT = 'Default';

export class ExperimentRepository {
  constructor(private readonly store: Store) {}

  create(name: string, options: { artifactLocation?: string; now?: number } = {}): Experiment {
    const now = options.now ?? Date.now();
    const info = this.store.db
      .prepare('INSERT INTO experiment (name, artifact_location, created_at, updated_at) VALUES (?, ?, ?, ?)')
      .run(name, options.artifactLocation ?? null, now, now);
    return this.get(Number(info.lastInsertRowid))!;
  }

  /** The experiment with this name, created when missing. */
  ensure(name: string): Experiment {
    return this.store.transaction(() => this.byName(name) ?? this.create(name));
  }

  get(experimentId: number): Experiment | undefined {
    const row = this.store.db.prepare('SELECT * FROM experiment WHERE experiment_id = ?').get(experimentId) as ExperimentRow | undefined;
    return row && toExperiment(row);
  }

  byName(name: string): Experiment | undefined {
    const row = this.store.db.prepare('SELECT * FROM experiment WHERE name = ?').get(name) as ExperimentRow | undefined;
    return row && toExperiment(row);
  }

  /**
   * MLflow's 'Default' experiment, which clients fall back to as id 0. Created with id 0 in a store that
   * has none; a store that already has a 'Default' under another id keeps it.
   */
  ensureDefault(now: number = Date.now()): Experiment {
    return this.store.transaction(() => {
      const existing = this.get(0) ?? this.byName(DEFAULT_EXPERIMENT);
      if (existing) return existing;
      this.store.db.prepare('INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (0, ?, ?, ?)').run(DEFAULT_EXPERIMENT, now, now);
      return this.get(0)!;
    });
  }

  rename(experimentId: number, name: string, now: number = Date.now()): void {
    this.store.db.prepare('UPDATE experiment SET name = ?, updated_at = ? WHERE experiment_id = ?').run(name, now, experimentId);
  }

  setLifecycleStage(experimentId: number, stage: 'active' | 'deleted', now: number = Date.now()): void {
    this.store.db.prepare('UPDATE experiment SET lifecycle_stage = ?, updated_at = ? WHERE experiment_id = ?').run(stage, now, experimentId);
  }

  tags(experimentId: number): Record<string, string> {
    const rows = this.store.db.prepare('SELECT key, value FROM experiment_tag WHERE experiment_id = ? ORDER BY key').all(experimentId) as {
      key: string;
      value: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  setTag(experimentId: number, key: string, value: string): void {
    this.store.db
      .prepare('INSERT INTO experiment_tag (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value')
      .run(experimentId, key, value);
  }

  deleteTag(experimentId: number, key: string): void {
    this.store.db.prepare('DELETE FROM experiment_tag WHERE experiment_id = ? AND key = ?').run(experimentId, key);
  }

  list(options: { includeDeleted?: boolean } = {}): Experiment[] {
    const where = options.includeDeleted ? '' : "WHERE lifecycle_stage = 'active'";
    const rows = this.store.db.prepare(`SELECT * FROM experiment ${where} ORDER BY name`).all() as ExperimentRow[];
    return rows.map(toExperiment);
  }
}
