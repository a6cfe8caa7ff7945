import type { Migration } from './migration';

/**
 * The traffic gateway (issue 18): one row per gateway mloop runs in front of a `gateway: true` target (its public
 * port and process), and its routing table — which model version answers on which private port, with what weight.
 * The table is the truth a restarted gateway is given back.
 */
export const migration009: Migration = {
  version: 9,
  name: 'gateway',
  sql: `
CREATE TABLE gateway (
  target      TEXT PRIMARY KEY,
  port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  pid         INTEGER,
  strategy    TEXT NOT NULL CHECK (strategy IN ('single', 'blue_green', 'canary', 'ab', 'bandit')),
  updated_at  INTEGER NOT NULL
);
CREATE TABLE gateway_route (
  target         TEXT NOT NULL REFERENCES gateway(target) ON DELETE CASCADE,
  model_name     TEXT NOT NULL,
  version        INTEGER NOT NULL,
  upstream_port  INTEGER NOT NULL CHECK (upstream_port BETWEEN 1 AND 65535),
  weight         REAL NOT NULL CHECK (weight >= 0),
  pid            INTEGER,
  PRIMARY KEY (target, upstream_port)
);
`,
};
