import type { Migration } from './migration';

/**
 * Replicas and rolling updates (issue 18): a deployment of a `gateway: true` target runs `replicas` processes, one
 * row each in `deployment_replica` (the deployment ↔ processes link a restart, a rollback and a stop walk), and the
 * gateway's routes say which replica a private port is. `rolling` joins the deployment strategies: SQLite changes a
 * CHECK only by copying the table, so `deployment` is rebuilt (foreign keys off while it runs, checked before commit).
 */
export const migration019: Migration = {
  version: 19,
  name: 'deployment_replicas',
  rebuildsTables: true,
  sql: `
CREATE TABLE deployment_rebuilt (
  deployment_id          INTEGER PRIMARY KEY,
  model_version_id       INTEGER NOT NULL REFERENCES model_version(model_version_id),
  target                 TEXT NOT NULL,
  strategy               TEXT NOT NULL CHECK (strategy IN ('direct', 'canary', 'blue_green', 'shadow', 'rolling')),
  traffic_percent        INTEGER NOT NULL DEFAULT 0 CHECK (traffic_percent BETWEEN 0 AND 100),
  status                 TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'healthy', 'unhealthy', 'failed', 'rolled_back', 'superseded')),
  health_json            TEXT,
  previous_deployment_id INTEGER REFERENCES deployment(deployment_id),
  created_at             INTEGER NOT NULL,
  updated_at             INTEGER NOT NULL
);
INSERT INTO deployment_rebuilt (deployment_id, model_version_id, target, strategy, traffic_percent, status, health_json, previous_deployment_id, created_at, updated_at)
  SELECT deployment_id, model_version_id, target, strategy, traffic_percent, status, health_json, previous_deployment_id, created_at, updated_at FROM deployment;
DROP TABLE deployment;
ALTER TABLE deployment_rebuilt RENAME TO deployment;
CREATE INDEX deployment_by_target ON deployment(target, created_at DESC);
CREATE TABLE deployment_replica (
  replica_id    INTEGER PRIMARY KEY,
  deployment_id INTEGER NOT NULL REFERENCES deployment(deployment_id) ON DELETE CASCADE,
  slot          INTEGER NOT NULL CHECK (slot >= 0),
  pid           INTEGER NOT NULL,
  port          INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  log_path      TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('starting', 'serving', 'stopped', 'failed')),
  detail        TEXT,
  started_at    INTEGER NOT NULL,
  stopped_at    INTEGER
);
CREATE INDEX deployment_replica_by_deployment ON deployment_replica(deployment_id, slot);
ALTER TABLE gateway_route ADD COLUMN replica INTEGER CHECK (replica >= 0);
`,
};
