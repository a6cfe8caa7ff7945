import type { Migration } from './migration';

/**
 * SSH signatures of audit entries (issue 21): `mloop audit sign` signs each entry's chain hash with an SSH key in
 * git's signing format (`ssh-keygen -Y sign`), `mloop audit verify` checks them against an allowed-signers file.
 * A table beside the chain, so the chain's hashed fields never change.
 */
export const migration018: Migration = {
  version: 18,
  name: 'audit_signatures',
  sql: `
CREATE TABLE audit_signature (
  audit_id  INTEGER PRIMARY KEY REFERENCES audit(audit_id),
  hash      TEXT NOT NULL,
  signature TEXT NOT NULL,
  signed_at INTEGER NOT NULL
);
`,
};
