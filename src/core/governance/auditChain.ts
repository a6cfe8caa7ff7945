import type * as Crypto from 'node:crypto';
import type Database from 'better-sqlite3';

/**
 * The audit trail as a hash chain (issue 21). Each entry stores `prev_hash` (the `hash` of the entry before it in
 * id order, GENESIS_HASH for the first) and `hash` = SHA-256 (lowercase hex) of the UTF-8 bytes of its canonical
 * encoding: a JSON object with exactly the keys below, sorted, no whitespace, written by JSON.stringify.
 * The row id is not hashed: the chain itself is the order.
 */
export const GENESIS_HASH = '0'.repeat(64);
/** Bumped if the encoding ever changes; part of every hashed object. */
export const CHAIN_FORMAT = 1;

/** The stored columns that are hashed (the id is the row's position, not its content). */
export interface ChainedFields {
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly entity_type: string;
  readonly entity_id: string;
  readonly from_value: string | null;
  readonly to_value: string | null;
  readonly reason: string | null;
  readonly details_json: string | null;
}

export interface ChainedRow extends ChainedFields {
  readonly audit_id: number;
  readonly prev_hash: string | null;
  readonly hash: string | null;
}

/** The exact text that is hashed: keys in sorted order (the documented field order), values as stored. */
export function canonicalEntry(entry: ChainedFields, prevHash: string): string {
  const ordered = {
    action: entry.action,
    actor: entry.actor,
    at: entry.at,
    details_json: entry.details_json,
    entity_id: entry.entity_id,
    entity_type: entry.entity_type,
    format: CHAIN_FORMAT,
    from_value: entry.from_value,
    prev_hash: prevHash,
    reason: entry.reason,
    to_value: entry.to_value,
  };
  return JSON.stringify(ordered);
}

export const entryHash = (entry: ChainedFields, prevHash: string): string =>
  // node:crypto loaded on first use (~10 ms of every CLI start that imports the store otherwise; issue 16)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('node:crypto') as typeof Crypto).createHash('sha256').update(canonicalEntry(entry, prevHash), 'utf8').digest('hex');

const SELECT_ROW = 'SELECT audit_id, at, actor, action, entity_type, entity_id, from_value, to_value, reason, details_json, prev_hash, hash FROM audit';

/**
 * Links the entry `auditId` to the one before it. Call in the transaction that inserted it, after the insert:
 * the insert took the write lock, so the entry before it cannot change under us (two writers never fork the chain).
 */
export function chainEntry(db: Database.Database, auditId: number): string {
  const row = db.prepare(`${SELECT_ROW} WHERE audit_id = ?`).get(auditId) as ChainedRow;
  const prev = db.prepare('SELECT hash FROM audit WHERE audit_id < ? ORDER BY audit_id DESC LIMIT 1').pluck().get(auditId) as string | null | undefined;
  const prevHash = prev ?? GENESIS_HASH;
  const hash = entryHash(row, prevHash);
  db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE audit_id = ?').run(prevHash, hash, auditId);
  return hash;
}

/** Chains every existing entry in id order (the upgrade of a store written before the chain existed). */
export function chainAllEntries(db: Database.Database): number {
  const rows = db.prepare(`${SELECT_ROW} ORDER BY audit_id`).all() as ChainedRow[];
  const update = db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE audit_id = ?');
  let prevHash = GENESIS_HASH;
  for (const row of rows) {
    const hash = entryHash(row, prevHash);
    update.run(prevHash, hash, row.audit_id);
    prevHash = hash;
  }
  return rows.length;
}

export type ChainProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered';

export interface ChainProblem {
  /** The first entry (in id order) that is not where the chain says it should be, or not what was written. */
  readonly auditId: number;
  readonly at: number;
  readonly kind: ChainProblemKind;
  readonly message: string;
}

export interface ChainVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** The hash of the last entry (GENESIS_HASH when empty): write it down elsewhere to detect a truncated trail later. */
  readonly head: string;
  readonly problem?: ChainProblem;
  /** When an expected head was given: whether an entry with that hash is still in the chain, before any problem. */
  readonly expectedHeadFound?: boolean;
}

const short = (hash: string | null): string => (hash ? `${hash.slice(0, 12)}…` : 'none');

/**
 * Walks the chain in id order and names the first bad entry: edited (its content no longer matches its hash),
 * deleted (the entry it links to is gone), inserted (it was not written in the chain: the next entry links past
 * it, or it carries no hash) or reordered (it links to an entry stored after it).
 */
export function verifyChain(db: Database.Database, options: { expectHead?: string } = {}): ChainVerification {
  return verifyChainRows(db.prepare(`${SELECT_ROW} ORDER BY audit_id`).all() as ChainedRow[], options);
}

/** The same walk over rows read from anywhere (a team server's copy of a workspace's chain), in id order. */
export function verifyChainRows(rows: readonly ChainedRow[], options: { expectHead?: string } = {}): ChainVerification {
  const indexByHash = new Map<string, number>();
  rows.forEach((r, i) => {
    if (r.hash && !indexByHash.has(r.hash)) indexByHash.set(r.hash, i);
  });
  const expectHead = options.expectHead?.toLowerCase();
  let headFound = expectHead === undefined ? undefined : expectHead === GENESIS_HASH;
  let expected = GENESIS_HASH;
  const result = (problem?: ChainProblem): ChainVerification => ({
    ok: problem === undefined && headFound !== false,
    entries: rows.length,
    head: expected,
    ...(problem ? { problem } : {}),
    ...(headFound === undefined ? {} : { expectedHeadFound: headFound }),
  });
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const selfConsistent = row.hash !== null && row.prev_hash !== null && entryHash(row, row.prev_hash) === row.hash;
    if (selfConsistent && row.prev_hash === expected) {
      expected = row.hash!;
      if (expected === expectHead) headFound = true;
      continue;
    }
    const at = (r: ChainedRow, kind: ChainProblemKind, message: string): ChainVerification => result({ auditId: r.audit_id, at: r.at, kind, message });
    const next = rows[i + 1];
    if (!selfConsistent) {
      if (next && next.prev_hash === expected)
        return at(row, 'inserted', `entry #${row.audit_id} is not part of the chain: #${next.audit_id} links to the entry before it`);
      if (row.hash === null || row.prev_hash === null) return at(row, 'inserted', `entry #${row.audit_id} carries no hash: it was not written by mloop`);
      return at(
        row,
        'edited',
        row.prev_hash === expected
          ? `entry #${row.audit_id} was changed after it was written: its content no longer matches its hash ${short(row.hash)}`
          : `entry #${row.audit_id} was changed after it was written: its prev_hash ${short(row.prev_hash)} and content no longer match its hash`,
      );
    }
    const linked = indexByHash.get(row.prev_hash!);
    if (linked !== undefined && linked > i) {
      return at(row, 'reordered', `entry #${row.audit_id} follows #${rows[linked]!.audit_id} in the chain but is stored before it`);
    }
    if (linked !== undefined && linked < i - 1) {
      const first = rows[linked + 1]!;
      return at(first, 'inserted', `entry #${first.audit_id} is not part of the chain: #${row.audit_id} links past it to #${rows[linked]!.audit_id}`);
    }
    const previous = rows[i - 1];
    const gap = previous ? row.audit_id > previous.audit_id + 1 : row.audit_id > 1;
    if (gap || !previous) {
      const missing = previous ? previous.audit_id + 1 : 1;
      return at(
        row,
        'deleted',
        `an entry before #${row.audit_id} was deleted${gap ? ` (#${missing}${row.audit_id - 1 > missing ? `–#${row.audit_id - 1}` : ''} missing)` : ''}: it links to ${short(row.prev_hash)}, which no entry has`,
      );
    }
    // no gap in the ids: the entry before was rewritten with a fresh hash (or rows were deleted and renumbered)
    return at(
      previous,
      'edited',
      `entry #${previous.audit_id} was changed and re-hashed after it was written: #${row.audit_id} links to ${short(row.prev_hash)}, not to its hash ${short(previous.hash)}`,
    );
  }
  return result();
}

/** One audit entry as exported for auditors: every hashed field, the chain fields and the id. */
export type ExportedEntry = ChainedRow;

export function exportEntries(db: Database.Database): ExportedEntry[] {
  return db.prepare(`${SELECT_ROW} ORDER BY audit_id`).all() as ChainedRow[];
}

const EXPORT_COLUMNS: readonly (keyof ChainedRow)[] = [
  'audit_id',
  'at',
  'actor',
  'action',
  'entity_type',
  'entity_id',
  'from_value',
  'to_value',
  'reason',
  'details_json',
  'prev_hash',
  'hash',
];

/** One JSON object per line, the stored values unchanged (so each line's hash can be recomputed). */
export const entriesAsJsonl = (entries: readonly ExportedEntry[]): string =>
  entries.map((e) => `${JSON.stringify(Object.fromEntries(EXPORT_COLUMNS.map((c) => [c, e[c]])))}\n`).join('');

const csvCell = (value: string | number | null): string => {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** RFC 4180: a header row, CRLF line ends, quoted cells where needed; NULL is an empty cell. */
export const entriesAsCsv = (entries: readonly ExportedEntry[]): string =>
  [EXPORT_COLUMNS.join(','), ...entries.map((e) => EXPORT_COLUMNS.map((c) => csvCell(e[c])).join(','))].map((line) => `${line}\r\n`).join('');
