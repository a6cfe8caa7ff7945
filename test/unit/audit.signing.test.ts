import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainAllEntries } from '../../src/core/governance/auditChain';
import { SIGNING_NAMESPACE, signPendingEntries, signText, verifySignatures } from '../../src/core/governance/auditSigning';
import { AuditRepository } from '../../src/core/store/audit';
import { openStore, type Store } from '../../src/core/store/store';
import { mloop, tempDir } from './fixtures';

// Audit entries signed with an SSH key in git's signing format, by the real ssh-keygen, keys generated here.

describe('audit: SSH signatures of the entries (ssh-keygen -Y sign / verify)', function () {
  this.timeout(120_000);
  let root: string;
  let cleanup: () => void;
  let store: Store;
  let annKey: string;
  let eveKey: string;
  const config = (): { key: string; allowedSigners: string; namespace: string } => ({
    key: annKey,
    allowedSigners: join(root, 'allowed_signers'),
    namespace: SIGNING_NAMESPACE,
  });

  before(() => {
    ({ dir: root, cleanup } = tempDir('mloop-signing-'));
    for (const who of ['ann', 'eve']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(root, who)]);
    annKey = join(root, 'ann');
    eveKey = join(root, 'eve');
    // only Ann's key is trusted
    writeFileSync(join(root, 'allowed_signers'), `ann@example.com ${readFileSync(`${annKey}.pub`, 'utf8')}`);
    writeFileSync(join(root, 'mloop.yaml'), 'version: 1\naudit:\n  signing:\n    key: ann\n    allowed_signers: allowed_signers\n');
    mkdirSync(join(root, '.mloop'));
    store = openStore({ path: join(root, '.mloop', 'mloop.db') });
    const audit = new AuditRepository(store);
    for (let i = 1; i <= 3; i++)
      audit.record({ actor: 'Ann <ann@example.com>', action: 'promote', entityType: 'alias', entityId: 'clf@champion', toValue: `v${i}` });
  });
  after(() => {
    store?.close();
    cleanup?.();
  });

  it('mloop audit sign signs every entry; verify checks each signature; ssh-keygen itself accepts them', () => {
    const signed = mloop(root, 'audit', 'sign', '--json');
    assert.equal(signed.code, 0, signed.stderr);
    assert.deepEqual(JSON.parse(signed.stdout), { signed: 3 });
    assert.equal(signPendingEntries(store, config()), 0, 'signing again signs nothing');
    const verified = mloop(root, 'audit', 'verify');
    assert.equal(verified.code, 0, verified.stderr + verified.stdout);
    assert.match(verified.stdout, /signatures verified ✓ 3 entries signed by ann@example\.com/);
    // the stored signature of entry #2, checked here by ssh-keygen directly over the entry's hash
    const row = store.db.prepare('SELECT a.hash, s.signature FROM audit a JOIN audit_signature s USING (audit_id) WHERE audit_id = 2').get() as {
      hash: string;
      signature: string;
    };
    writeFileSync(join(root, 'entry2.sig'), row.signature);
    const direct = spawnSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', join(root, 'allowed_signers'), '-I', 'ann@example.com', '-n', SIGNING_NAMESPACE, '-s', join(root, 'entry2.sig')],
      { input: row.hash, encoding: 'utf8' },
    );
    assert.equal(direct.status, 0, direct.stderr);
  });

  it('names the first unsigned entry, one signed by a key the allowed signers do not list, and one changed after signing', () => {
    new AuditRepository(store).record({ actor: 'Ann <ann@example.com>', action: 'delete_alias', entityType: 'alias', entityId: 'clf@staging' });
    const unsigned = verifySignatures(store, config());
    assert.deepEqual([unsigned.ok, unsigned.problem?.auditId, unsigned.problem?.kind], [false, 4, 'unsigned']);
    assert.equal(signPendingEntries(store, config()), 1);
    assert.equal(verifySignatures(store, config()).ok, true);

    // Eve signs entry #3 with her own key
    const original = store.db.prepare('SELECT signature FROM audit_signature WHERE audit_id = 3').pluck().get() as string;
    const hash3 = store.db.prepare('SELECT hash FROM audit WHERE audit_id = 3').pluck().get() as string;
    store.db.prepare('UPDATE audit_signature SET signature = ? WHERE audit_id = 3').run(signText(eveKey, SIGNING_NAMESPACE, hash3));
    const forged = verifySignatures(store, config());
    assert.deepEqual([forged.ok, forged.problem?.auditId, forged.problem?.kind], [false, 3, 'bad-signature']);
    assert.match(forged.problem!.message, /does not list/);
    // Ann's signature over another text (the namespace of git commits) does not pass either
    store.db.prepare('UPDATE audit_signature SET signature = ? WHERE audit_id = 3').run(signText(annKey, 'git', hash3));
    assert.match(verifySignatures(store, config()).problem?.message ?? '', /does not verify/);
    store.db.prepare('UPDATE audit_signature SET signature = ? WHERE audit_id = 3').run(original);
    assert.equal(verifySignatures(store, config()).ok, true);

    // entry #2 edited and the whole chain re-hashed: the chain verifies, the signature names the entry
    store.db.prepare("UPDATE audit SET to_value = 'v9' WHERE audit_id = 2").run();
    chainAllEntries(store.db);
    const cli = mloop(root, 'audit', 'verify');
    assert.equal(cli.code, 5, cli.stdout);
    assert.match(cli.stdout, /chain verified ✓/);
    assert.match(cli.stdout, /signatures: broken at entry #2 .*bad-signature\n {2}entry #2 was changed after it was signed/);
  });
});
