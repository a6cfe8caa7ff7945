import type { LedgerRecord, TeamLedger } from '../backends/teamLedger';
import { AuditRepository } from '../store/audit';
import type { Store } from '../store/store';
import { type ChainedRow, type ChainProblem, exportEntries, verifyChainRows } from './auditChain';

/**
 * The team's audit trail on an MLflow server: every workspace publishes its own hash chain (its local audit table,
 * unchanged: same fields, same prev_hash and hash) as one record per entry. A chain has one writer (the workspace's
 * store serialises its writes), so concurrent workspaces never fork a chain; each is verified on its own with the
 * local walk. Each record also names the head every other writer's chain had when it was published (`seen`), so
 * the merged order is verifiable too: an entry comes after its predecessor in its chain and after every head it saw;
 * among entries free to go next, the earliest (at, writer, id) goes first. That order is a function of the records
 * alone: every reader computes the same one.
 */

/** A workspace's writer id: the first 16 hex of its chain's first entry hash (the chain names itself). */
export function workspaceWriter(store: Store): string | undefined {
  const first = store.db.prepare('SELECT hash FROM audit ORDER BY audit_id LIMIT 1').pluck().get() as string | null | undefined;
  return first ? first.slice(0, 16) : undefined;
}

/** The writer id, writing the workspace's first audit entry ("team.join") when it has none yet. */
export function ensureWorkspaceWriter(store: Store, input: { actor: string; server: string }): string {
  const existing = workspaceWriter(store);
  if (existing) return existing;
  new AuditRepository(store).record({ actor: input.actor, action: 'team.join', entityType: 'team', entityId: input.server, toValue: input.server });
  return workspaceWriter(store)!;
}

interface AuditPayload {
  readonly entry: ChainedRow;
  /** writer → the hash of that writer's newest entry this workspace had read when it published. */
  readonly seen: Readonly<Record<string, string>>;
}

/** Publishes the entries of the local chain the server does not hold yet; returns how many. Safe to repeat. */
export async function publishAuditTrail(store: Store, ledger: TeamLedger, input: { actor: string }): Promise<{ writer: string; published: number }> {
  const writer = ensureWorkspaceWriter(store, { actor: input.actor, server: ledger.location });
  const records = await ledger.read<AuditPayload>('audit');
  const held = new Set(records.filter((r) => r.writer === writer).map((r) => r.key));
  const seen: Record<string, string> = {};
  for (const chain of chainsOf(records).values()) {
    const last = chain.rows[chain.rows.length - 1];
    if (chain.writer !== writer && last?.hash) seen[chain.writer] = last.hash;
  }
  let published = 0;
  for (const entry of exportEntries(store.db)) {
    if (!entry.hash || held.has(entry.hash)) continue;
    await ledger.write({
      kind: 'audit',
      key: entry.hash,
      writer,
      at: entry.at,
      payload: { entry, seen } satisfies AuditPayload,
      runName: `audit ${entry.action} ${entry.entity_id}`,
    });
    published++;
  }
  await publishSignatures(store, ledger, writer);
  return { writer, published };
}

/** A workspace's SSH signature of one of its entries (audit_signature), as published: it signs the entry's chain hash. */
export interface TeamSignaturePayload {
  readonly hash: string;
  readonly signature: string;
}

/**
 * The signatures of the local entries, one record each beside the entries (an entry may be signed after it was
 * published: `mloop audit sign`). Only signatures over the entry's current hash are sent; the view checks each one.
 */
async function publishSignatures(store: Store, ledger: TeamLedger, writer: string): Promise<void> {
  const hasTable = store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_signature'").get() !== undefined;
  if (!hasTable) return;
  const signed = store.db
    .prepare('SELECT a.hash, s.signature FROM audit_signature s JOIN audit a USING (audit_id) WHERE s.hash = a.hash ORDER BY a.audit_id')
    .all() as { hash: string; signature: string }[];
  if (signed.length === 0) return; // a workspace that does not sign costs no read
  const known = publishedSignatures(ledger, writer);
  if (signed.every((s) => known.has(s.hash))) return; // nothing signed since the last publish: no read
  for (const r of await ledger.read('audit.signature', { writer })) known.add(r.key);
  for (const s of signed) {
    if (known.has(s.hash)) continue;
    await ledger.write({
      kind: 'audit.signature',
      key: s.hash,
      writer,
      at: Date.now(),
      payload: { hash: s.hash, signature: s.signature } satisfies TeamSignaturePayload,
      runName: `signature ${s.hash.slice(0, 12)}`,
    });
    known.add(s.hash);
  }
}

/**
 * The entry hashes whose signatures this process knows are on a server for a writer (read from it once, then added to
 * as they are written): a publish with no new signature reads nothing. Records are immutable; one removed on the
 * server is sent again by the next process (or `mloop team sync`).
 */
const knownSignatures = new Map<string, Set<string>>();
function publishedSignatures(ledger: TeamLedger, writer: string): Set<string> {
  const key = `${ledger.location}\n${writer}`;
  let known = knownSignatures.get(key);
  if (!known) knownSignatures.set(key, (known = new Set()));
  return known;
}

/** writer → entry hash → the signature that workspace published for it (records changed or deleted on the server are left out). */
export async function teamSignatures(ledger: TeamLedger): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  for (const r of await ledger.read<TeamSignaturePayload>('audit.signature')) {
    if (!r.intact || r.deleted || typeof r.payload?.signature !== 'string' || r.payload.hash !== r.key) continue;
    let byHash = out.get(r.writer);
    if (!byHash) out.set(r.writer, (byHash = new Map()));
    if (!byHash.has(r.key)) byHash.set(r.key, r.payload.signature);
  }
  return out;
}

interface WriterChain {
  readonly writer: string;
  readonly rows: ChainedRow[];
  readonly seen: Map<number, Readonly<Record<string, string>>>;
  problem?: ChainProblem;
}

function chainsOf(records: readonly LedgerRecord<AuditPayload>[]): Map<string, WriterChain> {
  const chains = new Map<string, WriterChain>();
  for (const record of records) {
    let chain = chains.get(record.writer);
    if (!chain) chains.set(record.writer, (chain = { writer: record.writer, rows: [], seen: new Map() }));
    const entry = record.payload?.entry;
    if (!entry || typeof entry.audit_id !== 'number') {
      chain.problem ??= { auditId: 0, at: 0, kind: 'edited', message: `server record ${record.runId} is not an audit entry any more: its content was changed` };
      continue;
    }
    if (!record.intact || record.deleted) {
      chain.problem ??= {
        auditId: entry.audit_id,
        at: entry.at,
        kind: record.deleted ? 'deleted' : 'edited',
        message: record.deleted
          ? `entry #${entry.audit_id} was deleted on the server (its run ${record.runId} is in MLflow's trash)`
          : `entry #${entry.audit_id} was changed on the server: run ${record.runId} no longer matches the SHA-256 written with it`,
      };
    }
    // the same entry published twice (a retried publish) is one entry
    if (!chain.rows.some((r) => r.audit_id === entry.audit_id && r.hash === entry.hash)) chain.rows.push(entry);
    chain.seen.set(entry.audit_id, record.payload.seen ?? {});
  }
  for (const chain of chains.values()) chain.rows.sort((a, b) => a.audit_id - b.audit_id || (a.hash ?? '').localeCompare(b.hash ?? ''));
  return chains;
}

export interface TeamTrailEntry extends ChainedRow {
  readonly writer: string;
}

export interface TeamWriterVerdict {
  readonly writer: string;
  readonly entries: number;
  readonly head: string;
  readonly actors: readonly string[];
  readonly problem?: ChainProblem;
}

export interface TeamTrailVerification {
  readonly ok: boolean;
  readonly server: string;
  readonly entries: number;
  readonly writers: readonly TeamWriterVerdict[];
  /** The first problem in writer order, its writer named. */
  readonly problem?: ChainProblem & { readonly writer: string };
  /** Every entry in the one merged order. */
  readonly trail: readonly TeamTrailEntry[];
}

/** Reads the team trail from the server, verifies each writer's chain and the heads they saw, and merges them. */
export async function verifyTeamTrail(ledger: TeamLedger): Promise<TeamTrailVerification> {
  const records = await ledger.read<AuditPayload>('audit');
  const chains = [...chainsOf(records).values()].sort((a, b) => a.writer.localeCompare(b.writer));
  const hashes = new Map(chains.map((c) => [c.writer, new Set(c.rows.map((r) => r.hash))]));
  const writers: TeamWriterVerdict[] = chains.map((chain) => {
    const duplicate = chain.rows.find((r, i) => i > 0 && chain.rows[i - 1]!.audit_id === r.audit_id);
    let problem: ChainProblem | undefined = chain.problem;
    if (!problem && duplicate)
      problem = {
        auditId: duplicate.audit_id,
        at: duplicate.at,
        kind: 'inserted',
        message: `two different entries #${duplicate.audit_id} on the server: one was inserted`,
      };
    problem ??= verifyChainRows(chain.rows).problem;
    if (!problem) {
      for (const row of chain.rows) {
        for (const [other, head] of Object.entries(chain.seen.get(row.audit_id) ?? {})) {
          if (hashes.get(other)?.has(head)) continue;
          problem = {
            auditId: row.audit_id,
            at: row.at,
            kind: 'deleted',
            message: `entry #${row.audit_id} was published after writer ${other}'s entry ${head.slice(0, 12)}…, which is no longer on the server`,
          };
          break;
        }
        if (problem) break;
      }
    }
    return {
      writer: chain.writer,
      entries: chain.rows.length,
      head: chain.rows[chain.rows.length - 1]?.hash ?? '',
      actors: [...new Set(chain.rows.map((r) => r.actor))].sort(),
      ...(problem ? { problem } : {}),
    };
  });
  const bad = writers.find((w) => w.problem);
  return {
    ok: !bad,
    server: ledger.location,
    entries: writers.reduce((n, w) => n + w.entries, 0),
    writers,
    ...(bad ? { problem: { ...bad.problem!, writer: bad.writer } } : {}),
    trail: mergeChains(chains),
  };
}

/** Kahn's order over "follows its predecessor" and "follows what it saw"; ties by (at, writer, id). */
function mergeChains(chains: readonly WriterChain[]): TeamTrailEntry[] {
  const byHash = new Map<string, string>();
  const nodes: { id: string; entry: TeamTrailEntry; after: string[] }[] = [];
  const idOf = (writer: string, row: ChainedRow): string => `${writer}#${row.audit_id}#${row.hash}`;
  for (const chain of chains) for (const row of chain.rows) if (row.hash) byHash.set(`${chain.writer} ${row.hash}`, idOf(chain.writer, row));
  for (const chain of chains) {
    chain.rows.forEach((row, i) => {
      const after = i > 0 ? [idOf(chain.writer, chain.rows[i - 1]!)] : [];
      for (const [other, head] of Object.entries(chain.seen.get(row.audit_id) ?? {})) {
        const id = byHash.get(`${other} ${head}`);
        if (id) after.push(id);
      }
      nodes.push({ id: idOf(chain.writer, row), entry: { ...row, writer: chain.writer }, after });
    });
  }
  const done = new Set<string>();
  const out: TeamTrailEntry[] = [];
  const before = (a: TeamTrailEntry, b: TeamTrailEntry): number => a.at - b.at || a.writer.localeCompare(b.writer) || a.audit_id - b.audit_id;
  let pending = nodes;
  while (pending.length) {
    const ready = pending.filter((n) => n.after.every((id) => done.has(id)));
    // a cycle only a tampered server can hold: the rest in (at, writer, id) order, verification has named it
    const next = (ready.length ? ready : pending).reduce((best, n) => (before(n.entry, best.entry) < 0 ? n : best));
    done.add(next.id);
    out.push(next.entry);
    pending = pending.filter((n) => n !== next);
  }
  return out;
}
