import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIGNING_NAMESPACE, signPendingEntries, signText } from '../../src/core/governance/auditSigning';
import { entrySignatureStates, type EntrySignatureState } from '../../src/core/governance/entrySignatures';
import { AuditRepository } from '../../src/core/store/audit';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// The Audit view's per-entry signature state, read in-process, against the real ssh-keygen: keys generated here
// (Ed25519 and RSA), signatures made by ssh-keygen -Y sign, every verdict compared with ssh-keygen -Y verify.

describe('audit: the signature state of each entry (the Audit view), checked against ssh-keygen', function () {
  this.timeout(120_000);
  let root: string;
  let cleanup: () => void;
  let store: Store;
  const key = (who: string): string => join(root, who);
  const allowed = (): string => join(root, 'allowed_signers');
  /** `ssh-keygen -l`: the key id as OpenSSH prints it. */
  const fingerprint = (who: string): string => execFileSync('ssh-keygen', ['-l', '-f', `${key(who)}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  const hashOf = (id: number): string => store.db.prepare('SELECT hash FROM audit WHERE audit_id = ?').pluck().get(id) as string;
  const setSignature = (id: number, signature: string): void =>
    void store.db.prepare('UPDATE audit_signature SET signature = ? WHERE audit_id = ?').run(signature, id);
  /** ssh-keygen's own verdict on an entry's stored signature: the principal it verified, or undefined. */
  const sshKeygenVerdict = (id: number): string | undefined => {
    const signature = store.db.prepare('SELECT signature FROM audit_signature WHERE audit_id = ?').pluck().get(id) as string | undefined;
    if (!signature) return undefined;
    writeFileSync(join(root, 'check.sig'), signature);
    const found = spawnSync('ssh-keygen', ['-Y', 'find-principals', '-s', join(root, 'check.sig'), '-f', allowed()], { encoding: 'utf8' });
    const principal = found.status === 0 ? found.stdout.split('\n')[0]!.trim() : undefined;
    if (!principal) return undefined;
    const verified = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', allowed(), '-I', principal, '-n', SIGNING_NAMESPACE, '-s', join(root, 'check.sig')], {
      input: hashOf(id),
      encoding: 'utf8',
    });
    return verified.status === 0 ? principal : undefined;
  };
  const states = (options: { allowedSigners?: string } = { allowedSigners: allowed() }): Map<number, EntrySignatureState> =>
    entrySignatureStates(store, [1, 2, 3, 4, 5, 6], { ...options, namespace: SIGNING_NAMESPACE });

  before(() => {
    ({ dir: root, cleanup } = tempDir('mloop-entrysig-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ann', '-f', key('ann')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'bob', '-f', key('bob')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'eve', '-f', key('eve')]);
    writeFileSync(
      allowed(),
      `ann@example.com ${readFileSync(`${key('ann')}.pub`, 'utf8')}bob@example.com namespaces="${SIGNING_NAMESPACE}" ${readFileSync(`${key('bob')}.pub`, 'utf8')}`,
    );
    mkdirSync(join(root, '.mloop'));
    store = openStore({ path: join(root, '.mloop', 'mloop.db') });
    const audit = new AuditRepository(store);
    for (let i = 1; i <= 5; i++)
      audit.record({ actor: 'Ann <ann@example.com>', action: 'promote', entityType: 'alias', entityId: 'clf@champion', toValue: `v${i}` });
    signPendingEntries(store, { key: key('ann'), namespace: SIGNING_NAMESPACE });
    // entry 2 by Bob's RSA key; 6 written after signing: unsigned
    setSignature(2, signText(key('bob'), SIGNING_NAMESPACE, hashOf(2)));
    audit.record({ actor: 'Ann <ann@example.com>', action: 'delete_alias', entityType: 'alias', entityId: 'clf@staging' });
  });
  after(() => {
    store?.close();
    cleanup?.();
  });

  it('signed ✓ with the key id ssh-keygen -l prints and the principal ssh-keygen -Y verify finds (Ed25519 and RSA); a later entry unsigned', () => {
    const s = states();
    assert.deepEqual(s.get(1), { state: 'signed', keyId: fingerprint('ann'), principal: 'ann@example.com' });
    assert.deepEqual(s.get(2), { state: 'signed', keyId: fingerprint('bob'), principal: 'bob@example.com' });
    assert.deepEqual(s.get(6), { state: 'unsigned' });
    for (const id of [1, 2, 3, 4, 5]) assert.equal(sshKeygenVerdict(id), (s.get(id) as { principal?: string }).principal, `entry #${id}`);
  });

  it('signature invalid ✗: a key the allowed signers do not list, another namespace, a flipped byte, an entry changed after it was signed — as ssh-keygen says', () => {
    setSignature(3, signText(key('eve'), SIGNING_NAMESPACE, hashOf(3)));
    setSignature(4, signText(key('ann'), 'git', hashOf(4)));
    // one byte of the signature blob changed (inside the Ed25519 signature, at the end of the blob)
    const original5 = store.db.prepare('SELECT signature FROM audit_signature WHERE audit_id = 5').pluck().get() as string;
    const body = Buffer.from(original5.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    body[body.length - 5]! ^= 0x01;
    setSignature(5, `-----BEGIN SSH SIGNATURE-----\n${body.toString('base64')}\n-----END SSH SIGNATURE-----\n`);
    const s = states();
    assert.equal(s.get(3)?.state, 'invalid');
    assert.match((s.get(3) as { why: string }).why, /is not in .*allowed_signers/);
    assert.equal((s.get(3) as { keyId?: string }).keyId, fingerprint('eve'));
    assert.equal(s.get(4)?.state, 'invalid');
    assert.match((s.get(4) as { why: string }).why, /namespace "git"/);
    assert.deepEqual(s.get(5), { state: 'invalid', keyId: fingerprint('ann'), why: 'the signature does not match the entry' });
    for (const id of [3, 4, 5]) assert.equal(sshKeygenVerdict(id), undefined, `ssh-keygen refuses entry #${id} too`);
    // without an allowed-signers file, Eve's signature is a valid signature by her key (the view names the key)
    assert.deepEqual(states({}).get(3), { state: 'signed', keyId: fingerprint('eve') });
    // entry 1 edited after it was signed (its hash recomputed by the editor of the file)
    store.db.prepare("UPDATE audit SET hash = 'f00d' || substr(hash, 5) WHERE audit_id = 1").run();
    assert.equal(states().get(1)?.state, 'invalid');
    assert.match((states().get(1) as { why: string }).why, /changed after it was signed/);
  });
});
