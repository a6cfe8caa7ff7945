import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Store } from '../store/store';
import { verifyText } from './auditSigning';

/**
 * The signature state of each audit entry, for a view that shows one per row: read in-process from git's SSH
 * signature format (PROTOCOL.sshsig) and checked with Node's crypto for Ed25519 and RSA keys — no ssh-keygen process
 * per row. Other key types are checked by ssh-keygen (`verifyText`), once per signature. `mloop audit verify` stays the
 * authority; the view and it agree on ✓/✗ (the tests compare them).
 */

export type EntrySignatureState =
  | { readonly state: 'signed'; readonly keyId: string; readonly principal?: string }
  | { readonly state: 'unsigned' }
  | { readonly state: 'invalid'; readonly keyId?: string; readonly why: string };

export interface EntrySignatureOptions {
  /** git's allowed-signers file: a key it does not list makes a signature invalid. Omitted: any key that verifies. */
  readonly allowedSigners?: string;
  readonly namespace: string;
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
}

const sshString = (b: Buffer | string): Buffer => {
  const body = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
};

/** `SHA256:…` of a public key blob, as `ssh-keygen -l` prints it. */
export const keyFingerprint = (blob: Buffer): string => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

interface ParsedSignature {
  readonly publicKey: Buffer;
  readonly namespace: string;
  readonly reserved: Buffer;
  readonly hashAlgorithm: string;
  readonly sigType: string;
  readonly sigBlob: Buffer;
}

function parseArmored(armored: string): ParsedSignature {
  const body = armored.replace(/-----(BEGIN|END) SSH SIGNATURE-----/g, '').replace(/\s+/g, '');
  const r = new Reader(Buffer.from(body, 'base64'));
  if (r.bytes(6).toString('latin1') !== 'SSHSIG') throw new Error('not an SSH signature');
  const version = r.uint32();
  if (version !== 1) throw new Error(`SSH signature version ${version}`);
  const publicKey = Buffer.from(r.string());
  const namespace = r.string().toString('utf8');
  const reserved = Buffer.from(r.string());
  const hashAlgorithm = r.string().toString('utf8');
  const sig = new Reader(r.string());
  return { publicKey, namespace, reserved, hashAlgorithm, sigType: sig.string().toString('utf8'), sigBlob: Buffer.from(sig.string()) };
}

const b64url = (b: Buffer): string => b.toString('base64url');
const unsigned = (b: Buffer): Buffer => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);

/** A Node key for an Ed25519 or RSA SSH public key blob; undefined for other types. */
function nodeKey(blob: Buffer): { key: KeyObject; type: string } | undefined {
  const r = new Reader(blob);
  const type = r.string().toString('utf8');
  if (type === 'ssh-ed25519') return { type, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(r.string()) }, format: 'jwk' }) };
  if (type === 'ssh-rsa') {
    const e = unsigned(r.string());
    const n = unsigned(r.string());
    return { type, key: createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }) };
  }
  return undefined;
}

/** principal per key fingerprint, from git's allowed-signers file (`principals [options] keytype base64 [comment]`). */
function allowedKeys(path: string): Map<string, string> {
  const keys = new Map<string, string>();
  if (!existsSync(path)) return keys;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const text = line.trim();
    if (!text || text.startsWith('#')) continue;
    const words = text.split(/\s+/);
    const at = words.findIndex((w, i) => i > 0 && /^(ssh-|ecdsa-|sk-)/.test(w));
    const key = at > 0 ? words[at + 1] : undefined;
    if (key) keys.set(keyFingerprint(Buffer.from(key, 'base64')), words[0]!);
  }
  return keys;
}

/** Checks one signature over `text` (the entry's chain hash). */
export function entrySignatureState(text: string, armored: string, options: EntrySignatureOptions & { allowed?: Map<string, string> }): EntrySignatureState {
  let parsed: ParsedSignature;
  try {
    parsed = parseArmored(armored);
  } catch (error) {
    return { state: 'invalid', why: `unreadable signature (${(error as Error).message})` };
  }
  const keyId = keyFingerprint(parsed.publicKey);
  if (parsed.namespace !== options.namespace) return { state: 'invalid', keyId, why: `signed for namespace "${parsed.namespace}", not "${options.namespace}"` };
  const allowed = options.allowedSigners ? (options.allowed ?? allowedKeys(options.allowedSigners)) : undefined;
  const principal = allowed?.get(keyId);
  if (allowed && !principal) return { state: 'invalid', keyId, why: `key ${keyId} is not in ${options.allowedSigners}` };
  const node = nodeKey(parsed.publicKey);
  if (!node) {
    // another key type (ECDSA, security keys): ssh-keygen checks it
    if (!options.allowedSigners)
      return { state: 'invalid', keyId, why: 'this key type is checked against an allowed-signers file only (audit.signing.allowed_signers)' };
    const result = verifyText(options.allowedSigners, options.namespace, text, armored);
    return 'problem' in result ? { state: 'invalid', keyId, why: result.problem } : { state: 'signed', keyId, principal: result.principal };
  }
  const hash = parsed.hashAlgorithm === 'sha512' ? 'sha512' : parsed.hashAlgorithm === 'sha256' ? 'sha256' : undefined;
  if (!hash) return { state: 'invalid', keyId, why: `unknown hash ${parsed.hashAlgorithm}` };
  const signed = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    sshString(parsed.namespace),
    sshString(parsed.reserved),
    sshString(parsed.hashAlgorithm),
    sshString(createHash(hash).update(text, 'utf8').digest()),
  ]);
  const ok =
    node.type === 'ssh-ed25519'
      ? parsed.sigType === 'ssh-ed25519' && verify(null, signed, node.key, parsed.sigBlob)
      : (parsed.sigType === 'rsa-sha2-512' || parsed.sigType === 'rsa-sha2-256') &&
        verify(parsed.sigType === 'rsa-sha2-512' ? 'sha512' : 'sha256', signed, node.key, parsed.sigBlob);
  return ok ? { state: 'signed', keyId, ...(principal ? { principal } : {}) } : { state: 'invalid', keyId, why: 'the signature does not match the entry' };
}

/**
 * The state of every entry whose id is given: unsigned (no signature row), invalid (signed over another hash — the
 * entry changed after it was signed —, by a key not allowed, or a signature that fails), or signed by a key.
 */
export function entrySignatureStates(store: Store, auditIds: readonly number[], options: EntrySignatureOptions): Map<number, EntrySignatureState> {
  const out = new Map<number, EntrySignatureState>();
  if (auditIds.length === 0) return out;
  const hasTable = store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_signature'").get() !== undefined;
  const rows = hasTable
    ? (store.db
        .prepare(
          `SELECT a.audit_id, a.hash, s.hash AS signed_hash, s.signature FROM audit a LEFT JOIN audit_signature s USING (audit_id)
           WHERE a.audit_id IN (SELECT value FROM json_each(?))`,
        )
        .all(JSON.stringify(auditIds)) as { audit_id: number; hash: string | null; signed_hash: string | null; signature: string | null }[])
    : [];
  const allowed = options.allowedSigners ? allowedKeys(options.allowedSigners) : undefined;
  for (const id of auditIds) out.set(id, { state: 'unsigned' });
  for (const row of rows) {
    if (row.signature === null) continue;
    if (row.signed_hash !== row.hash) {
      out.set(row.audit_id, { state: 'invalid', why: 'the entry changed after it was signed (its signature covers another hash)' });
      continue;
    }
    out.set(row.audit_id, entrySignatureState(row.hash ?? '', row.signature, { ...options, ...(allowed ? { allowed } : {}) }));
  }
  return out;
}
