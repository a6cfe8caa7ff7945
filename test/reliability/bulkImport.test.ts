import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve, join } from 'node:path';
import Database from 'better-sqlite3';
import { importMlflow } from '../../src/core/mlflow/importStore';
import { KEY_INDEXES } from '../../src/core/store/deferredIndexes';
import { openStore } from '../../src/core/store/store';
import { NODE, tempDir } from './support';

// An import of many runs writes them with the indexes led by a key set aside and creates them at its end
// (deferredIndexes.ts). Killed (SIGKILL) in between, the store must get its indexes back: the next open creates them
// again from the statements kept in deferred_index, and a second import completes the store.

const FIXTURE = resolve(__dirname, '../../../test/fixtures/mlflow/mlruns');

const indexesOf = (db: Database.Database): Map<string, string> =>
  new Map(
    (
      db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN (${KEY_INDEXES.map(() => '?').join(', ')})`).all(...KEY_INDEXES) as {
        name: string;
        sql: string;
      }[]
    ).map((r) => [r.name, r.sql]),
  );

describe('reliability: a bulk import killed midway', function () {
  this.timeout(120_000);

  it('kill -9 while the key indexes are set aside: the next open creates them again (the same statements), integrity ok, and importing again completes the store', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const storePath = join(dir, '.mloop', 'mloop.db');
      const fresh = openStore({ path: storePath });
      const before = indexesOf(fresh.db);
      fresh.close();
      assert.equal(before.size, KEY_INDEXES.length, 'a fresh store has every key index');

      const child = spawn(NODE, [join(__dirname, 'workers', 'bulkImporter.js'), storePath, FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
      await new Promise<void>((done, fail) => {
        child.stdout.setEncoding('utf8').on('data', (s: string) => {
          out += s;
          if (out.includes('midway')) done();
        });
        child.on('exit', (code) => fail(new Error(`the importer exited (${code}) before midway: ${err.slice(-2000)}`)));
      });
      // midway, seen from another connection (no migration, no repair): two runs committed, the indexes aside
      const peek = new Database(storePath, { readonly: true });
      try {
        assert.equal(peek.prepare('SELECT count(*) FROM run').pluck().get(), 2);
        assert.equal(indexesOf(peek).size, 0, 'the key indexes are set aside during the bulk');
        assert.equal(peek.prepare('SELECT count(*) FROM deferred_index').pluck().get(), KEY_INDEXES.length);
      } finally {
        peek.close();
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');

      const store = openStore({ path: storePath });
      try {
        assert.deepEqual(indexesOf(store.db), before, 'every key index is back, as it was');
        assert.equal(store.db.prepare('SELECT count(*) FROM deferred_index').pluck().get(), 0);
        assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
        assert.equal(store.db.prepare('SELECT count(*) FROM run').pluck().get(), 2, 'the runs committed before the kill are kept');
        const report = await importMlflow(store, { source: FIXTURE, actor: 't', bulkRuns: 0 });
        assert.equal(report.written.runsUnchanged, 2);
        assert.equal(report.written.runsNew, report.found.runs - 2);
        assert.deepEqual(indexesOf(store.db), before, 'a completed bulk creates them again');
        assert.equal(store.db.prepare('SELECT count(*) FROM deferred_index').pluck().get(), 0);
        // the indexes hold every row: a key-led read through each gives what the table holds
        for (const [table, index] of [
          ['param', 'param_by_key_value'],
          ['tag', 'tag_by_key_value'],
          ['metric_series', 'metric_series_by_key_min'],
        ] as const)
          assert.equal(
            store.db.prepare(`SELECT count(*) FROM ${table} INDEXED BY ${index} WHERE key > ''`).pluck().get(),
            store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get(),
            index,
          );
        assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        store.close();
      }
    } finally {
      cleanup();
    }
  });
});
