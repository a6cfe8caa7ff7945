import type { Migration } from './migration';

/** Deployments, drift reports and the audit trail: what happened after a model was registered. */
export const migration004: Migration = {
  version: 4,
  name: 'operations',
  sql: `
CREATE TABLE audit (
  audit_id    INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id   TEXT NOT NULL,
  from_value  TEXT,
  to_value    TEXT,
  reason      TEXT,
  details_json TEXT
);
CREATE INDEX audit_by_entity ON audit(entity_type, entity_id, at);
ALTER TABLE alias_history ADD COLUMN audit_id INTEGER REFERENCES audit(audit_id);
CREATE TABLE deployment (
  deployment_id          INTEGER PRIMARY KEY,
  model_version_id       INTEGER NOT NULL REFERENCES model_version(model_version_id),
  target                 TEXT NOT NULL,
  strategy               TEXT NOT NULL CHECK (strategy IN ('direct', 'canary', 'blue_green', 'shadow')),
  traffic_percent        INTEGER NOT NULL DEFAULT 0 CHECK (traffic_percent BETWEEN 0 AND 100),
  status                 TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'healthy', 'unhealthy', 'failed', 'rolled_back', 'superseded')),
  health_json            TEXT,
  previous_deployment_id INTEGER REFERENCES deployment(deployment_id),
  created_at             INTEGER NOT NULL,
  updated_at             INTEGER NOT NULL
);
CREATE INDEX deployment_by_target ON deployment(target, created_at DESC);
CREATE TABLE drift_report (
  drift_report_id              INTEGER PRIMARY KEY,
  model_id                     INTEGER REFERENCES model(model_id) ON DELETE SET NULL,
  reference_dataset_version_id INTEGER REFERENCES dataset_version(dataset_version_id),
  current_uri                  TEXT NOT NULL,
  current_digest               TEXT,
  drifted_share                REAL NOT NULL CHECK (drifted_share BETWEEN 0 AND 1),
  dataset_drift                INTEGER NOT NULL CHECK (dataset_drift IN (0, 1)),
  result_json                  TEXT NOT NULL,
  retrain_run_id               TEXT REFERENCES run(run_id),
  created_at                   INTEGER NOT NULL
);
CREATE INDEX drift_report_by_model ON drift_report(model_id, created_at DESC);
`,
};
