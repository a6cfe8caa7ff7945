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

  list(options: { includeDeleted?: boolean } = {}): Experiment[] {
    const where = options.includeDeleted ? '' : "WHERE lifecycle_stage = 'active'";
    const rows = this.store.db.prepare(`SELECT * FROM experiment ${where} ORDER BY name`).all() as ExperimentRow[];
    return rows.map(toExperiment);
  }
}
