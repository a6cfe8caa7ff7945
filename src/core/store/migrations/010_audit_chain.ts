import { chainAllEntries } from '../../governance/auditChain';
import type { Migration } from './migration';

/**
 * The tamper-evident audit trail (issue 21): every entry carries the hash of the one before it and its own
 * (src/core/governance/auditChain.ts). Entries written before this step are chained here, in id order.
 */
export const migration010: Migration = {
  version: 10,
  name: 'audit_chain',
  sql: `
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
`,
  up: (db) => {
    chainAllEntries(db);
  },
};
