import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../store/store';

/**
 * SSH signatures of audit entries in git's signing format: `ssh-keygen -Y sign -n <namespace>` over an entry's chain
 * hash (which covers its content and, through prev_hash, every entry before it), checked with `ssh-keygen -Y verify`
 * against an allowed-signers file (git's `gpg.ssh.allowedSignersFile` format). ssh-keygen is spawned with an args
 * array; the data goes on stdin, never on a command line.
 */
export const SIGNING_NAMESPACE = 'mloop-audit';

export interface AuditSigningConfig {
  /** The private key (or its .pub with the key in ssh-agent), as `ssh-keygen -Y sign -f` takes it. */
  readonly key?: string;
  /** The allowed-signers file verification trusts. */
  readonly allowedSigners?: string;
  readonly namespace: string;
}

export class AuditSigningError extends Error {
  override readonly name = 'AuditSigningError';
}

function sshKeygen(args: readonly string[], input: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh-keygen', args, { input, encoding: 'utf8', timeout: 30_000, windowsHide: true });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new AuditSigningError(
      missing ? 'ssh-keygen was not found: install OpenSSH (e.g. "apt-get install openssh-client") to sign or verify audit entries' : r.error.message,
    );
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The armored SSH signature of `text`. */
export function signText(key: string, namespace: string, text: string): string {
  const r = sshKeygen(['-Y', 'sign', '-f', key, '-n', namespace, '-q'], text);
  if (r.code !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE'))
    throw new AuditSigningError(`ssh-keygen could not sign with ${key}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** The principal of the allowed-signers file that made `signature` over `text`, or why not. */
export function verifyText(allowedSigners: string, namespace: string, text: string, signature: string): { principal: string } | { problem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-sig-'));
  try {
    const sigPath = join(dir, 'entry.sig');
    writeFileSync(sigPath, signature);
    const found = sshKeygen(['-Y', 'find-principals', '-s', sigPath, '-f', allowedSigners], '');
    const principal = found.code === 0 ? found.stdout.split('\n')[0]?.trim() : undefined;
    if (!principal) return { problem: `its signature was made by a key that ${allowedSigners} does not list` };
    const verified = sshKeygen(['-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', namespace, '-s', sigPath], text);
    return verified.code === 0
      ? { principal }
      : { problem: `its signature by ${principal} does not verify: ${verified.stderr.trim() || verified.stdout.trim()}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signs every entry that has no signature yet, in id order; returns how many. */
export function signPendingEntries(store: Store, config: AuditSigningConfig, now: number = Date.now()): number {
  if (!config.key) throw new AuditSigningError('no signing key: set audit.signing.key in mloop.yaml, or git config user.signingkey');
  const pending = store.db
    .prepare(
      'SELECT a.audit_id, a.hash FROM audit a LEFT JOIN audit_signature s USING (audit_id) WHERE s.audit_id IS NULL AND a.hash IS NOT NULL ORDER BY a.audit_id',
    )
    .all() as { audit_id: number; hash: string }[];
  const insert = store.db.prepare('INSERT INTO audit_signature (audit_id, hash, signature, signed_at) VALUES (?, ?, ?, ?)');
  for (const entry of pending) {
    const signature = signText(config.key, config.namespace, entry.hash);
    store.transaction(() => insert.run(entry.audit_id, entry.hash, signature, now));
  }
  return pending.length;
}

export interface SignatureProblem {
  readonly auditId: number;
  readonly at: number;
  readonly kind: 'unsigned' | 'bad-signature';
  readonly message: string;
}

export interface SignatureVerification {
  readonly ok: boolean;
  readonly signed: number;
  readonly signers: readonly string[];
  readonly problem?: SignatureProblem;
}

/**
 * Every entry must carry a signature of its current hash by a key the allowed-signers file lists; names the first
 * entry that does not (unsigned, signed over another hash, signed by an unknown key, or a signature that fails).
 */
export function verifySignatures(store: Store, config: AuditSigningConfig): SignatureVerification {
  if (!config.allowedSigners) throw new AuditSigningError('no allowed-signers file: set audit.signing.allowed_signers in mloop.yaml');
  // a store opened read-only from before migration 18 has no signature table: nothing is signed
  const hasTable = store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_signature'").get() !== undefined;
  const rows = store.db
    .prepare(
      hasTable
        ? 'SELECT a.audit_id, a.at, a.hash, s.hash AS signed_hash, s.signature FROM audit a LEFT JOIN audit_signature s USING (audit_id) ORDER BY a.audit_id'
        : 'SELECT audit_id, at, hash, NULL AS signed_hash, NULL AS signature FROM audit ORDER BY audit_id',
    )
    .all() as { audit_id: number; at: number; hash: string | null; signed_hash: string | null; signature: string | null }[];
  const signers = new Set<string>();
  let signed = 0;
  const fail = (row: (typeof rows)[number], kind: SignatureProblem['kind'], message: string): SignatureVerification => ({
    ok: false,
    signed,
    signers: [...signers].sort(),
    problem: { auditId: row.audit_id, at: row.at, kind, message: `entry #${row.audit_id} ${message}` },
  });
  for (const row of rows) {
    if (row.signature === null) return fail(row, 'unsigned', 'is not signed (run "mloop audit sign")');
    if (row.signed_hash !== row.hash) return fail(row, 'bad-signature', 'was changed after it was signed: its signature covers another hash');
    const result = verifyText(config.allowedSigners, config.namespace, row.hash ?? '', row.signature);
    if ('problem' in result) return fail(row, 'bad-signature', result.problem);
    signers.add(result.principal);
    signed++;
  }
  return { ok: true, signed, signers: [...signers].sort() };
}
