import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GENESIS_HASH, verifyChain } from '../../src/core/governance/auditChain';
import { AuditRepository } from '../../src/core/store/audit';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { createStoreAtSchemaVersion, openStore } from '../../src/core/store/store';
import { CLI, mloop, tempDir } from './fixtures';

/** The documented encoding, written out independently of the code under test: sorted keys, JSON, UTF-8, SHA-256. */
function independentHash(row: Record<string, unknown>, prevHash: string): string {
  const text =
    `{"action":${JSON.stringify(row.action)},"actor":${JSON.stringify(row.actor)},"at":${row.at},"details_json":${JSON.stringify(row.details_json)},` +
    `"entity_id":${JSON.stringify(row.entity_id)},"entity_type":${JSON.stringify(row.entity_type)},"format":1,"from_value":${JSON.stringify(row.from_value)},` +
    `"prev_hash":"${prevHash}","reason":${JSON.stringify(row.reason)},"to_value":${JSON.stringify(row.to_value)}}`;
  return createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
}

interface Verdict {
  ok: boolean;
  entries: number;
  head: string;
  problem?: { auditId: number; at: number; kind: string; message: string };
  expectedHeadFound?: boolean;
}

describe('governance: the tamper-evident audit chain', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let pristine: string;

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-audit-chain-'));
    pristine = join(dir, 'pristine.db');
    const store = openStore({ path: pristine });
    const audit = new AuditRepository(store);
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 1; i <= 6; i++) {
      audit.record({
        actor: i % 2 ? 'Ann Lee' : 'Bo Ström',
        action: i === 1 ? 'register' : 'promote',
        entityType: 'model_version',
        entityId: `clf/${i}`,
        fromValue: i === 1 ? null : `v${i - 1}`,
        toValue: `v${i}`,
        reason: i === 3 ? 'quoted "reason", with comma\nand newline' : null,
        details: i === 2 ? { failed: [{ rule: 'accuracy >= 0.8' }] } : undefined,
        at: t0 + i * 60_000,
      });
    }
    store.close();
  });
  after(() => cleanup());

  /** A project whose store is a copy of the pristine one, then attacked with raw SQL (no mloop code involved). */
  function attacked(name: string, sql: (db: Database.Database) => void): string {
    const project = join(dir, name);
    mkdirSync(join(project, '.mloop'), { recursive: true });
    const path = join(project, '.mloop', 'mloop.db');
    copyFileSync(pristine, path);
    const db = new Database(path);
    sql(db);
    db.close();
    return project;
  }

  function verifyCli(project: string, ...args: string[]): { code: number | null; verdict: Verdict; stdout: string } {
    const r = mloop(project, 'audit', 'verify', '--json', ...args);
    return { code: r.code, verdict: JSON.parse(r.stdout) as Verdict, stdout: r.stdout };
  }

  it('hashes each entry over the documented canonical encoding, linked to the one before it from the genesis hash', () => {
    const db = new Database(pristine, { readonly: true });
    const rows = db.prepare('SELECT * FROM audit ORDER BY audit_id').all() as Record<string, unknown>[];
    db.close();
    assert.equal(rows.length, 6);
    let prev = GENESIS_HASH;
    for (const row of rows) {
      assert.equal(row.prev_hash, prev, `entry #${row.audit_id} links to the one before it`);
      assert.equal(row.hash, independentHash(row, prev), `entry #${row.audit_id} hash`);
      prev = row.hash as string;
    }
  });

  it('verify: an intact chain exits 0 and prints the head hash; "mloop audit" still lists entries', () => {
    const project = attacked('intact', () => undefined);
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 0);
    assert.equal(verdict.ok, true);
    assert.equal(verdict.entries, 6);
    const text = mloop(project, 'audit', 'verify');
    assert.match(text.stdout, /^chain verified ✓ 6 entries\nhead [0-9a-f]{64}\n$/);
    const listed = mloop(project, 'audit', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 6);
  });

  it('detects an edited field and names the entry (exit 5)', () => {
    const project = attacked('edited', (db) => db.prepare("UPDATE audit SET actor = 'Mallory' WHERE audit_id = 4").run());
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 5);
    assert.equal(verdict.ok, false);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [4, 'edited']);
    assert.equal(verdict.problem?.at, Date.UTC(2026, 0, 1) + 4 * 60_000);
    const text = mloop(project, 'audit', 'verify');
    assert.equal(text.code, 5);
    assert.match(text.stdout, /^chain broken at entry #4 \(.+\): edited\n {2}entry #4 was changed after it was written/);
  });

  it('detects an edit whose hash the attacker recomputed: the next entry no longer links to it', () => {
    const project = attacked('rehashed', (db) => {
      const row = db.prepare('SELECT * FROM audit WHERE audit_id = 3').get() as Record<string, unknown>;
      const forged = { ...row, reason: 'nothing to see' };
      db.prepare('UPDATE audit SET reason = ?, hash = ? WHERE audit_id = 3').run(forged.reason, independentHash(forged, row.prev_hash as string));
    });
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 5);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [3, 'edited']);
  });

  it('detects a deleted entry and names the one after the gap', () => {
    const project = attacked('deleted', (db) => db.prepare('DELETE FROM audit WHERE audit_id = 3').run());
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 5);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [4, 'deleted']);
    assert.match(verdict.problem!.message, /#3 missing/);
  });

  it('detects a forged entry inserted in the middle, even one hashed correctly onto its predecessor', () => {
    const project = attacked('inserted', (db) => {
      db.prepare('UPDATE audit SET audit_id = audit_id + 100 WHERE audit_id > 2').run();
      const before = db.prepare('SELECT * FROM audit WHERE audit_id = 2').get() as Record<string, unknown>;
      const forged: Record<string, unknown> = {
        ...before,
        audit_id: 3,
        actor: 'Mallory',
        entity_id: 'clf/9',
        reason: 'approved by the board',
        details_json: null,
      };
      db.prepare(
        'INSERT INTO audit (audit_id, at, actor, action, entity_type, entity_id, from_value, to_value, reason, details_json, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
      ).run(
        3,
        forged.at,
        forged.actor,
        forged.action,
        forged.entity_type,
        forged.entity_id,
        forged.from_value,
        forged.to_value,
        forged.reason,
        null,
        before.hash,
        independentHash(forged, before.hash as string),
      );
    });
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 5);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [3, 'inserted']);
  });

  it('detects a row appended with plain SQL (no hash) as inserted', () => {
    const project = attacked('appended', (db) =>
      db
        .prepare("INSERT INTO audit (at, actor, action, entity_type, entity_id) VALUES (?, 'Mallory', 'promote', 'model_version', 'clf/7')")
        .run(Date.UTC(2026, 0, 2)),
    );
    const { verdict } = verifyCli(project);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [7, 'inserted']);
  });

  it('detects two swapped entries as reordered, naming the first', () => {
    const project = attacked('swapped', (db) => {
      db.prepare('UPDATE audit SET audit_id = -2 WHERE audit_id = 2').run();
      db.prepare('UPDATE audit SET audit_id = 2 WHERE audit_id = 5').run();
      db.prepare('UPDATE audit SET audit_id = 5 WHERE audit_id = -2').run();
    });
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 5);
    assert.deepEqual([verdict.problem?.auditId, verdict.problem?.kind], [2, 'reordered']);
  });

  it('--expect-head catches a truncated trail (the last entries deleted), which the chain alone cannot see', () => {
    const intact = verifyCli(attacked('head', () => undefined)).verdict;
    const project = attacked('truncated', (db) => db.prepare('DELETE FROM audit WHERE audit_id >= 5').run());
    assert.equal(verifyCli(project).code, 0, 'a cut tail is a valid shorter chain');
    const { code, verdict } = verifyCli(project, '--expect-head', intact.head);
    assert.equal(code, 5);
    assert.equal(verdict.expectedHeadFound, false);
  });

  it('export: jsonl and csv carry every field and the chain; each jsonl line re-hashes to its hash', () => {
    const project = attacked('export', () => undefined);
    const jsonl = mloop(project, 'audit', 'export', '--format', 'jsonl');
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const lines = jsonl.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 6);
    let prev = GENESIS_HASH;
    for (const line of lines) {
      assert.equal(line.prev_hash, prev);
      assert.equal(line.hash, independentHash(line, prev));
      prev = line.hash as string;
    }
    assert.equal(lines[1]!.details_json, '{"failed":[{"rule":"accuracy >= 0.8"}]}');
    const out = mloop(project, 'audit', 'export', '--format', 'csv', '--out', 'trail.csv');
    assert.equal(out.code, 0, out.stderr);
    const csv = readFileSync(join(project, 'trail.csv'), 'utf8');
    const rows = csv.split('\r\n');
    assert.equal(rows[0], 'audit_id,at,actor,action,entity_type,entity_id,from_value,to_value,reason,details_json,prev_hash,hash');
    assert.ok(rows[1]!.startsWith(`1,${Date.UTC(2026, 0, 1) + 60_000},Ann Lee,register,model_version,clf/1,,v1,,,${GENESIS_HASH},${lines[0]!.hash}`));
    assert.ok(csv.includes('"quoted ""reason"", with comma\r\nand newline"') || csv.includes('"quoted ""reason"", with comma\nand newline"'));
  });

  it('upgrades a store written before the chain: existing entries are chained in id order, new ones append', () => {
    const path = join(dir, 'old', '.mloop', 'mloop.db');
    createStoreAtSchemaVersion(path, 8);
    const db = new Database(path);
    const insert = db.prepare("INSERT INTO audit (at, actor, action, entity_type, entity_id, to_value) VALUES (?, 'Ann', 'promote', 'model', ?, 'v1')");
    for (let i = 0; i < 3; i++) insert.run(1000 + i, `m${i}`);
    db.close();
    const store = openStore({ path });
    new AuditRepository(store).record({ actor: 'Bo', action: 'set_alias', entityType: 'model', entityId: 'm0@x', toValue: 'v1' });
    const verdict = verifyChain(store.db);
    const rows = store.db.prepare('SELECT entity_id, prev_hash FROM audit ORDER BY audit_id').all() as { entity_id: string; prev_hash: string }[];
    store.close();
    assert.deepEqual([verdict.ok, verdict.entries], [true, 4]);
    assert.deepEqual(
      rows.map((r) => r.entity_id),
      ['m0', 'm1', 'm2', 'm0@x'],
    );
    assert.equal(rows[0]!.prev_hash, GENESIS_HASH);
  });

  it('concurrent writers in separate processes never fork the chain', async () => {
    const project = join(dir, 'concurrent');
    mkdirSync(project);
    writeFileSync(
      join(project, 'mloop.yaml'),
      'version: 1\npipelines:\n  train:\n    command: [python, train.py]\n    model: { name: clf, path: model.pkl }\n',
    );
    const store = openStore({ path: join(project, '.mloop', 'mloop.db') });
    const runs = new RunRepository(store);
    const run = runs.create({
      experimentId: new ExperimentRepository(store).ensure('e').experimentId,
      status: 'RUNNING',
      pipeline: 'train',
      startTime: Date.now() - 1000,
    });
    writeFileSync(join(project, 'model.pkl'), 'weights');
    runs.finish(run.runId, { status: 'FINISHED' });
    store.close();
    assert.equal(spawnSync(process.execPath, [CLI, 'models', 'register', run.runId], { cwd: project, env: { ...process.env, MLOOP_STORE: '' } }).status, 0);
    const writers = Array.from(
      { length: 6 },
      (_, i) =>
        new Promise<number | null>((done) => {
          const child = spawn(process.execPath, [CLI, 'models', 'alias', 'clf', `a${i}`, '1'], {
            cwd: project,
            env: { ...process.env, MLOOP_STORE: '' },
            stdio: 'ignore',
          });
          child.on('close', (code) => done(code));
        }),
    );
    assert.deepEqual(await Promise.all(writers), [0, 0, 0, 0, 0, 0]);
    const { code, verdict } = verifyCli(project);
    assert.equal(code, 0, JSON.stringify(verdict));
    assert.equal(verdict.entries, 7);
  });
});
