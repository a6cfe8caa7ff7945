import type { Migration } from './migration';

/**
 * Approval requests (issue 21): promoting to champion or deploying to a protected target under an approval policy
 * creates a request; reviewers other than the requester approve or reject it with a comment. The policy in force
 * when it was requested is kept with it, so editing mloop.yaml later does not change an open request. An approved
 * deployment runs once: `executed_at` is set when it starts (a promotion executes inside the approving transaction).
 */
export const migration011: Migration = {
  version: 11,
  name: 'approvals',
  sql: `
CREATE TABLE approval_request (
  approval_request_id INTEGER PRIMARY KEY,
  kind                TEXT NOT NULL CHECK (kind IN ('promote', 'deploy')),
  model_name          TEXT NOT NULL,
  version             INTEGER NOT NULL,
  subject             TEXT NOT NULL,
  action_json         TEXT NOT NULL,
  requested_by        TEXT NOT NULL,
  requested_at        INTEGER NOT NULL,
  required            INTEGER NOT NULL CHECK (required >= 1),
  reviewers_json      TEXT NOT NULL,
  expires_at          INTEGER NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
  closed_at           INTEGER,
  executed_at         INTEGER
);
CREATE INDEX approval_request_by_status ON approval_request(status, requested_at DESC);
CREATE TABLE approval_decision (
  approval_request_id INTEGER NOT NULL REFERENCES approval_request(approval_request_id) ON DELETE CASCADE,
  reviewer            TEXT NOT NULL,
  decision            TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
  comment             TEXT NOT NULL,
  decided_at          INTEGER NOT NULL,
  audit_id            INTEGER REFERENCES audit(audit_id),
  PRIMARY KEY (approval_request_id, reviewer)
);
`,
};
