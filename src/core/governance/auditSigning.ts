import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type * as LoadConfig from '../config/loadConfig';
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
  // ssh-keygen that refuses before reading its input (a key file that does not exist) closes stdin first: the write
  // fails with EPIPE, and what counts is its exit status and message, as when it read the input and then failed
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
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

// ---- signing each entry as it is written (audit.sign_with) ----

/** The audit action of the entry that marks where signing at write time began: every entry from it on must be signed. */
export const SIGNING_START_ACTION = 'audit_signing_start';

/** The key and namespace each new entry is signed with. */
export interface AuditSigner {
  readonly key: string;
  readonly namespace: string;
}

/** Store path → how to learn, at each write, whether (and with what) its entries are signed. */
const writeSigners = new Map<string, () => AuditSigner | undefined>();

/**
 * Makes every audit entry written to the store at `storePath` (in this process) signed as it is written, with the
 * signer `signerOf` answers at that moment (undefined: not signed). The CLI and the editor register the project's
 * mloop.yaml (`projectAuditSigner`), so a change of the file applies to the next write.
 */
export function signAuditWritesOf(storePath: string, signerOf: () => AuditSigner | undefined): void {
  writeSigners.set(resolve(storePath), signerOf);
}

/** Stops signing the writes of a store (tests, a closed workspace). */
export function stopSigningAuditWritesOf(storePath: string): void {
  writeSigners.delete(resolve(storePath));
}

/** The signer of a write to this store now, if any. */
export function auditWriteSigner(storePath: string): AuditSigner | undefined {
  return writeSigners.get(resolve(storePath))?.();
}

/** A path of mloop.yaml: ~ is the home folder, a relative path is relative to the project. */
export function projectPath(value: string, root: string): string {
  const expanded = value === '~' ? homedir() : value.startsWith('~/') ? join(homedir(), value.slice(2)) : value;
  return isAbsolute(expanded) ? expanded : resolve(root, expanded);
}

/** Defined (true) by scripts/build.mjs in the CLI's ES module chunks only. */
declare const MLOOP_ESM_CLI: boolean | undefined;

let providedConfigModule: typeof LoadConfig | undefined;

/**
 * The config reader projectAuditSigner needs, handed over by a caller that loaded it (the CLI's preAction hook, when
 * mloop.yaml mentions sign_with). The CLI's ES module chunks turn a require() into a static import, which loaded the
 * config schemas (zod and its locales, ~10 ms of CPU) for every command that opens the store, signing or not.
 */
export function provideConfigModule(module: typeof LoadConfig): void {
  providedConfigModule = module;
}

/** The config schemas (zod, yaml), loaded only when an audit entry may be signed: importing them cost every command that opens the store ~30 ms of CPU at start (issue 16). */
function configModule(): typeof LoadConfig {
  if (providedConfigModule) return providedConfigModule;
  if (typeof MLOOP_ESM_CLI === 'undefined') {
    // the extension's and the workers' CommonJS bundles, the tests: a require() is lazy there (a branch the CLI's
    // build drops, so its chunks do not import the config reader)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../config/loadConfig') as typeof LoadConfig;
  }
  throw new AuditSigningError('internal: the config reader was not loaded before signing (the CLI loads it when mloop.yaml mentions sign_with)');
}

/**
 * `audit.sign_with` of the project's mloop.yaml (undefined: entries are not signed at write time). Read at each audit
 * write (they are few); a file that does not mention sign_with is not parsed. A file that sets it but has errors is
 * refused: an entry must not be written unsigned because of a typo elsewhere.
 */
export function projectAuditSigner(root: string): AuditSigner | undefined {
  const path = join(root, 'mloop.yaml');
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  if (!text.includes('sign_with')) return undefined;
  const { formatProblem, loadConfig } = configModule();
  const { config, problems } = loadConfig(text, path);
  if (!config)
    throw new AuditSigningError(
      `${path} sets audit.sign_with but has errors, so this audit entry cannot be signed and is not written:\n${problems.map(formatProblem).join('\n')}`,
    );
  const key = config.audit?.sign_with;
  return key ? { key: projectPath(key, root), namespace: config.audit?.signing?.namespace ?? SIGNING_NAMESPACE } : undefined;
}

/**
 * Signs one chained entry inside the transaction that writes it: a signature that cannot be made throws, and the
 * entry (with the change it records) is not written.
 */
export function signWrittenEntry(store: Store, signer: AuditSigner, auditId: number, now: number = Date.now()): void {
  const hash = store.db.prepare('SELECT hash FROM audit WHERE audit_id = ?').pluck().get(auditId) as string | null | undefined;
  if (!hash) throw new AuditSigningError(`audit entry #${auditId} has no chain hash to sign`);
  const signature = signText(signer.key, signer.namespace, hash);
  store.db.prepare('INSERT INTO audit_signature (audit_id, hash, signature, signed_at) VALUES (?, ?, ?, ?)').run(auditId, hash, signature, now);
}

/** The id of the entry where signing at write time began, if it did. */
export function signingStart(store: Store): number | undefined {
  return (store.db.prepare('SELECT min(audit_id) FROM audit WHERE action = ?').pluck().get(SIGNING_START_ACTION) as number | null) ?? undefined;
}

/**
 * The entries written after signing at write time began that carry no signature (someone wrote to the store without
 * the key, or removed signatures). Empty when signing at write time never began.
 */
export function unsignedAfterStart(store: Store): { start: number | undefined; unsigned: number[] } {
  const start = signingStart(store);
  if (start === undefined || !hasSignatureTable(store)) return { start, unsigned: [] };
  const unsigned = store.db
    .prepare('SELECT a.audit_id FROM audit a LEFT JOIN audit_signature s USING (audit_id) WHERE a.audit_id >= ? AND s.audit_id IS NULL ORDER BY a.audit_id')
    .pluck()
    .all(start) as number[];
  return { start, unsigned };
}

const hasSignatureTable = (store: Store): boolean =>
  store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_signature'").get() !== undefined;

const entryList = (ids: readonly number[]): string => {
  const shown = ids.slice(0, 20).map((id) => `#${id}`);
  return `${shown.join(', ')}${ids.length > shown.length ? ` and ${ids.length - shown.length} more` : ''}`;
};

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
  /** The entry where signing at write time began (entries before it are covered by its signature over the chain). */
  readonly signingStart?: number;
  /** Every entry from signingStart on that carries no signature. */
  readonly unsignedAfterStart?: readonly number[];
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
  const { start, unsigned } = unsignedAfterStart(store);
  const since = start === undefined ? {} : { signingStart: start, unsignedAfterStart: unsigned };
  for (const row of rows) {
    // before signing at write time began, an unsigned entry is covered by the start entry's signature over the chain
    if (row.signature === null && start !== undefined && row.audit_id < start) continue;
    if (row.signature === null && start !== undefined)
      return {
        ...fail(
          row,
          'unsigned',
          `was written after signing at write time began (entry #${start}) but carries no signature; unsigned since then: ${entryList(unsigned)}`,
        ),
        ...since,
      };
    if (row.signature === null) return fail(row, 'unsigned', 'is not signed (run "mloop audit sign")');
    if (row.signed_hash !== row.hash) return fail(row, 'bad-signature', 'was changed after it was signed: its signature covers another hash');
    const result = verifyText(config.allowedSigners, config.namespace, row.hash ?? '', row.signature);
    if ('problem' in result) return fail(row, 'bad-signature', result.problem);
    signers.add(result.principal);
    signed++;
  }
  return { ok: true, signed, signers: [...signers].sort(), ...since };
}
