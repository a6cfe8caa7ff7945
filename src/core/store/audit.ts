import { userInfo } from 'node:os';
import { chainEntry } from '../governance/auditChain';
import { auditWriteSigner, signingStart, signWrittenEntry, SIGNING_START_ACTION } from '../governance/auditSigning';
import type { Store } from './store';

export interface AuditEntry {
  readonly auditId: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly fromValue: string | null;
  readonly toValue: string | null;
  readonly reason: string | null;
}

export interface NewAuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly fromValue?: string | null;
  readonly toValue?: string | null;
  readonly reason?: string | null;
  readonly details?: unknown;
  readonly at?: number;
}

interface AuditRow {
  audit_id: number;
  at: number;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  from_value: string | null;
  to_value: string | null;
  reason: string | null;
}

/** The OS user, the fallback actor when git has no user.name. */
export const osUser = (): string => {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
};

export class AuditRepository {
  constructor(private readonly store: Store) {}

  /**
   * Writes one audit row and links it into the hash chain (the only writer of the audit table); call inside the
   * transaction of the change it records. Alone, it opens its own.
   */
  record(entry: NewAuditEntry): number {
    // audit.sign_with: each entry is signed in its own write; a signature that fails rolls the change back
    const signer = auditWriteSigner(this.store.path);
    return this.store.transaction(() => {
      if (signer && signingStart(this.store) === undefined) {
        const start = this.insert({
          actor: entry.actor,
          action: SIGNING_START_ACTION,
          entityType: 'audit',
          entityId: 'audit',
          toValue: 'signed at write time',
          reason: 'audit.sign_with is set: every entry from this one on is signed as it is written',
          ...(entry.at !== undefined ? { at: entry.at } : {}),
        });
        chainEntry(this.store.db, start);
        signWrittenEntry(this.store, signer, start);
      }
      const auditId = this.insert(entry);
      chainEntry(this.store.db, auditId);
      if (signer) signWrittenEntry(this.store, signer, auditId);
      return auditId;
    });
  }

  private insert(entry: NewAuditEntry): number {
    const info = this.store.db
      .prepare(
        `INSERT INTO audit (at, actor, action, entity_type, entity_id, from_value, to_value, reason, details_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        entry.at ?? Date.now(),
        entry.actor,
        entry.action,
        entry.entityType,
        entry.entityId,
        entry.fromValue ?? null,
        entry.toValue ?? null,
        entry.reason ?? null,
        entry.details === undefined ? null : JSON.stringify(entry.details),
      );
    return Number(info.lastInsertRowid);
  }

  /** Newest first. */
  list(options: { limit?: number } = {}): AuditEntry[] {
    const rows = this.store.db.prepare('SELECT * FROM audit ORDER BY at DESC, audit_id DESC LIMIT ?').all(options.limit ?? -1) as AuditRow[];
    return rows.map((r) => ({
      auditId: r.audit_id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      entityType: r.entity_type,
      entityId: r.entity_id,
      fromValue: r.from_value,
      toValue: r.to_value,
      reason: r.reason,
    }));
  }
}
