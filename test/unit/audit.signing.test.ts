import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainAllEntries } from '../../src/core/governance/auditChain';
import {
  projectAuditSigner,
  SIGNING_NAMESPACE,
  SIGNING_START_ACTION,
  signAuditWritesOf,
  signPendingEntries,
  signText,
  stopSigningAuditWritesOf,
  verifySignatures,
} from '../../src/core/governance/auditSigning';
import { ModelRepository } from '../../src/core/store/models';
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

  it('a key that does not exist is named in the error, also when ssh-keygen quits before reading a long input (EPIPE)', () => {
    // 1 MB: ssh-keygen exits on the missing key before reading it, so the write to its stdin fails with EPIPE
    assert.throws(
      () => signText(join(root, 'no-such-key'), SIGNING_NAMESPACE, 'x'.repeat(1 << 20)),
      /ssh-keygen could not sign with .*no-such-key: .*No such file/,
    );
    assert.throws(() => signText(join(root, 'no-such-key'), SIGNING_NAMESPACE, 'short'), /ssh-keygen could not sign with .*no-such-key: .*No such file/);
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

describe('audit: each entry signed as it is written (audit.sign_with, real ssh-keygen keys)', function () {
  this.timeout(120_000);
  let root: string;
  let cleanup: () => void;
  const dbPath = (): string => join(root, '.mloop', 'mloop.db');
  const yaml = (signWith: string, allowed = true): void =>
    writeFileSync(
      join(root, 'mloop.yaml'),
      `version: 1\naudit:\n  sign_with: ${signWith}\n${allowed ? '  signing:\n    allowed_signers: allowed_signers\n' : ''}`,
    );
  const aliasOf = (alias: string): number | undefined =>
    withStore((s) => new ModelRepository(s).versionByAlias(new ModelRepository(s).byName('clf')!.modelId, alias)?.version);
  const withStore = <T>(fn: (s: Store) => T): T => {
    const s = openStore({ path: dbPath() });
    try {
      return fn(s);
    } finally {
      s.close();
    }
  };

  before(() => {
    ({ dir: root, cleanup } = tempDir('mloop-signwrite-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ann', '-f', join(root, 'ann')]);
    writeFileSync(join(root, 'allowed_signers'), `ann@example.com ${readFileSync(join(root, 'ann.pub'), 'utf8')}`);
    writeFileSync(join(root, 'mloop.yaml'), 'version: 1\n');
    mkdirSync(join(root, '.mloop'));
    // two versions registered before signing was turned on: their entries are unsigned
    withStore((s) => {
      const models = new ModelRepository(s);
      for (let i = 0; i < 2; i++) models.registerVersion({ name: 'clf', metrics: { accuracy: 0.9 }, actor: 'Ann <ann@example.com>' });
    });
  });
  after(() => cleanup?.());

  it('the CLI signs each entry in the write that makes it; verify covers the earlier unsigned entries through the start entry', () => {
    yaml('ann');
    const r = mloop(root, 'models', 'alias', 'clf', 'challenger', '2', '--reason', 'try it');
    assert.equal(r.code, 0, r.stderr);
    const rows = withStore(
      (s) =>
        s.db
          .prepare(
            'SELECT a.audit_id, a.action, a.hash, s.hash AS signed_hash, s.signature FROM audit a LEFT JOIN audit_signature s USING (audit_id) ORDER BY a.audit_id',
          )
          .all() as { audit_id: number; action: string; hash: string; signed_hash: string | null; signature: string | null }[],
    );
    assert.deepEqual(
      rows.map((x) => [x.action, x.signature !== null]),
      [
        ['register', false],
        ['register', false],
        [SIGNING_START_ACTION, true],
        ['set_alias', true],
      ],
    );
    // each signature checked here by ssh-keygen itself over the entry's chain hash
    for (const row of rows.filter((x) => x.signature)) {
      assert.equal(row.signed_hash, row.hash);
      writeFileSync(join(root, 'entry.sig'), row.signature!);
      const direct = spawnSync(
        'ssh-keygen',
        ['-Y', 'verify', '-f', join(root, 'allowed_signers'), '-I', 'ann@example.com', '-n', SIGNING_NAMESPACE, '-s', join(root, 'entry.sig')],
        { input: row.hash, encoding: 'utf8' },
      );
      assert.equal(direct.status, 0, direct.stderr);
    }
    const verified = mloop(root, 'audit', 'verify');
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /signatures verified ✓ 2 entries signed by ann@example\.com \(signed at write time since entry #3\)/);
  });

  it('an entry written without the key after that point is named by verify (with and without an allowed-signers file)', () => {
    // a writer that does not sign (an older mloop, a script on the store): two entries
    withStore((s) => {
      stopSigningAuditWritesOf(s.path);
      const audit = new AuditRepository(s);
      audit.record({ actor: 'Eve', action: 'set_alias', entityType: 'alias', entityId: 'clf@champion', toValue: 'v1' });
      audit.record({ actor: 'Eve', action: 'delete_alias', entityType: 'alias', entityId: 'clf@challenger' });
    });
    const cli = mloop(root, 'audit', 'verify');
    assert.equal(cli.code, 5, cli.stdout);
    assert.match(cli.stdout, /chain verified ✓/);
    assert.match(
      cli.stdout,
      /broken at entry #5 .*unsigned\n {2}entry #5 was written after signing at write time began \(entry #3\) but carries no signature; unsigned since then: #5, #6/,
    );
    yaml('ann', false);
    const presence = mloop(root, 'audit', 'verify', '--json');
    assert.equal(presence.code, 5, presence.stdout);
    const v = JSON.parse(presence.stdout) as { ok: boolean; signingStart: number; unsignedAfterStart: number[] };
    assert.deepEqual([v.ok, v.signingStart, v.unsignedAfterStart], [false, 3, [5, 6]]);
  });

  it('a signature that cannot be made stops the change: no alias moved, no entry written', () => {
    yaml('no-such-key');
    const before = withStore((s) => s.db.prepare('SELECT count(*) FROM audit').pluck().get() as number);
    const r = mloop(root, 'models', 'alias', 'clf', 'staging', '1');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /ssh-keygen could not sign with .*no-such-key/);
    assert.equal(aliasOf('staging'), undefined);
    assert.equal(
      withStore((s) => s.db.prepare('SELECT count(*) FROM audit').pluck().get() as number),
      before,
    );
    // the signer is read from mloop.yaml at each write, in the editor as in the CLI
    yaml('ann');
    assert.deepEqual(projectAuditSigner(root), { key: join(root, 'ann'), namespace: SIGNING_NAMESPACE });
    withStore((s) => {
      signAuditWritesOf(s.path, () => projectAuditSigner(root));
      try {
        new AuditRepository(s).record({ actor: 'Ann', action: 'note', entityType: 'model', entityId: 'clf' });
        assert.equal(s.db.prepare('SELECT count(*) FROM audit_signature WHERE audit_id = (SELECT max(audit_id) FROM audit)').pluck().get(), 1);
      } finally {
        stopSigningAuditWritesOf(s.path);
      }
    });
  });
});
