import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectAuditSigner, SIGNING_NAMESPACE, signAuditWritesOf, signText, stopSigningAuditWritesOf } from '../../src/core/governance/auditSigning';
import { AuditRepository } from '../../src/core/store/audit';
import { pollUntil } from '../harness/poll';
import { mloopApi, workspaceRoot } from './support';

/** audit.sign_with in mloop.yaml: each Audit view row says whether its entry is signed (by which key), unsigned, or invalid. */
export function registerAuditSignaturesSuite(): void {
  describe('Audit view: the signature state of each entry (audit.sign_with)', function () {
    this.timeout(120_000);
    let keys: string;
    let savedConfig: string | undefined;
    const configPath = (): string => join(workspaceRoot(), 'mloop.yaml');

    before(() => {
      keys = mkdtempSync(join(tmpdir(), 'mloop-int-sig-'));
      for (const who of ['ann', 'eve']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(keys, who)]);
      writeFileSync(join(keys, 'allowed_signers'), `ann@example.com ${readFileSync(join(keys, 'ann.pub'), 'utf8')}`);
      savedConfig = existsSync(configPath()) ? readFileSync(configPath(), 'utf8') : undefined;
      const kept = (savedConfig ?? 'version: 1\n').replace(/^audit:[\s\S]*?(?=^\S|(?![\s\S]))/m, '');
      writeFileSync(
        configPath(),
        `${kept.trimEnd()}\naudit:\n  sign_with: ${join(keys, 'ann')}\n  signing:\n    allowed_signers: ${join(keys, 'allowed_signers')}\n`,
      );
    });

    after(async () => {
      if (savedConfig === undefined) rmSync(configPath(), { force: true });
      else writeFileSync(configPath(), savedConfig);
      rmSync(keys, { recursive: true, force: true });
      await (await mloopApi()).refresh();
    });

    it('signed ✓ by the key (principal and key id as ssh-keygen -l prints it), unsigned, and signature invalid ✗ for a key not allowed', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      // the extension signs its own writes (audit.sign_with); this test's copy of the core writes through the same hook
      signAuditWritesOf(store.path, () => projectAuditSigner(workspaceRoot()));
      const audit = new AuditRepository(store);
      // written from the editor's store: signed at write time with Ann's key (audit.sign_with)
      const signed = audit.record({ actor: 'tester', action: 'note', entityType: 'test', entityId: 'sig-signed' });
      const forged = audit.record({ actor: 'tester', action: 'note', entityType: 'test', entityId: 'sig-forged' });
      const hash = store.db.prepare('SELECT hash FROM audit WHERE audit_id = ?').pluck().get(forged) as string;
      // Eve re-signs an entry with her key, which the allowed signers do not list
      store.db.prepare('UPDATE audit_signature SET signature = ? WHERE audit_id = ?').run(signText(join(keys, 'eve'), SIGNING_NAMESPACE, hash), forged);
      const bare = audit.record({ actor: 'tester', action: 'note', entityType: 'test', entityId: 'sig-unsigned' });
      store.db.prepare('DELETE FROM audit_signature WHERE audit_id = ?').run(bare); // as if written by a tool without the key
      assert.ok(store.db.prepare('SELECT 1 FROM audit_signature WHERE audit_id = ?').get(signed), 'signed as it was written');
      const keyId = execFileSync('ssh-keygen', ['-l', '-f', join(keys, 'ann.pub')], { encoding: 'utf8' }).split(' ')[1]!;
      const rows = await pollUntil(
        async () => {
          await api.refresh();
          const view = await api.treeSnapshot('mloop.audit');
          const row = (id: string) => view.find((r) => r.label === `note ${id}`);
          return row('sig-unsigned')?.description?.includes('unsigned')
            ? { signed: row('sig-signed')!, forged: row('sig-forged')!, bare: row('sig-unsigned')! }
            : undefined;
        },
        { what: 'the Audit view to show signature states', timeoutMs: 30_000 },
      );
      assert.match(rows.signed.description ?? '', new RegExp(` · signed ✓ by ann@example\\.com \\(${keyId.slice(0, 19).replace(/[+/.]/g, '\\$&')}…\\)$`));
      assert.match(rows.forged.description ?? '', / · signature invalid ✗$/);
      assert.match(rows.bare.description ?? '', / · unsigned$/);
      stopSigningAuditWritesOf(store.path);
    });
  });
}
