import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { latestSchemaVersion } from '../../src/core/store/migrations/list';
import { createStoreAtSchemaVersion, openStore, pendingMigrations } from '../../src/core/store/store';
import { upgradeStoreInWorker } from '../../src/core/store/storeUpgrade';
import { tempDir } from './fixtures';

// An older store is upgraded in a worker thread (dist/storeUpgrade.js, what the extension runs behind its progress
// notification): the upgrade really happens there, the calling thread keeps running meanwhile, and a failure comes
// back with the store's message. Built by scripts/build.mjs before the unit tests run.
const WORKER = resolve(__dirname, '../../../dist/storeUpgrade.js');

describe('store: the schema upgrade in a worker thread', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir()));
  after(() => cleanup());

  /** A store at schema 20 with 2,000 runs × 20 metrics × 5 params (the rows 021 indexes). */
  function schema20Store(name: string): string {
    const path = join(dir, name);
    createStoreAtSchemaVersion(path, 20);
    const db = new Database(path);
    db.exec("INSERT INTO experiment (name, created_at, updated_at) VALUES ('e', 1, 1)");
    const run = db.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, ?, 'FINISHED', ?)");
    const param = db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
    const series = db.prepare('INSERT INTO metric_series (run_id, key, count, latest_value, min_value, max_value) VALUES (?, ?, 1, ?, ?, ?)');
    db.transaction(() => {
      for (let n = 0; n < 2000; n++) {
        const id = n.toString(16).padStart(32, '0');
        run.run(id, `run-${n}`, n);
        for (let k = 0; k < 5; k++) param.run(id, `p${k}`, `v${(n * 7 + k) % 13}`);
        for (let k = 0; k < 20; k++) series.run(id, `m${k}`, (n * 31 + k) % 97, 0, 1);
      }
    })();
    db.close();
    return path;
  }

  it('upgrades a schema-20 store to the current schema in the worker while this thread keeps running', async () => {
    assert.ok(existsSync(WORKER), `${WORKER} is missing: run scripts/build.mjs first`);
    const path = schema20Store('old.db');
    assert.deepEqual(
      pendingMigrations(path).map((m) => m.version),
      Array.from({ length: latestSchemaVersion - 20 }, (_, i) => 21 + i),
    );
    // this thread's timers fire while the worker builds the indexes (a same-thread upgrade would block them all)
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await upgradeStoreInWorker(path, WORKER);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'the calling thread ran no timer during the upgrade');
    assert.deepEqual(pendingMigrations(path), []);
    const store = openStore({ path, readonly: true });
    try {
      assert.equal(store.schemaVersion, latestSchemaVersion);
      const indexes = store.db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('metric_series_by_key_value', 'param_by_key_value', 'metric_series_by_key_min', 'metric_series_by_key_max', 'tag_by_key_value')",
        )
        .pluck()
        .all();
      // 021's and 023's
      assert.deepEqual([...indexes].sort(), [
        'metric_series_by_key_max',
        'metric_series_by_key_min',
        'metric_series_by_key_value',
        'param_by_key_value',
        'tag_by_key_value',
      ]);
      // the sort by a metric walks the new index (no scan of every series)
      const plan = store.db
        .prepare("EXPLAIN QUERY PLAN SELECT run_id FROM metric_series WHERE key = 'm3' ORDER BY latest_value DESC LIMIT 10")
        .all()
        .map((r) => (r as { detail: string }).detail)
        .join(' | ');
      assert.match(plan, /metric_series_by_key_value/);
      assert.equal(store.db.prepare('SELECT count(*) FROM metric_series').pluck().get(), 40_000);
    } finally {
      store.close();
    }
  });

  it('a current, missing or foreign file has nothing pending (openStore reports those)', () => {
    const current = join(dir, 'current.db');
    openStore({ path: current }).close();
    assert.deepEqual(pendingMigrations(current), []);
    assert.deepEqual(pendingMigrations(join(dir, 'none.db')), []);
    const foreign = join(dir, 'foreign.db');
    new Database(foreign).exec('CREATE TABLE t (x)');
    assert.deepEqual(pendingMigrations(foreign), []);
  });

  it('a failing upgrade comes back from the worker with the store’s message, the store left at its last step', async () => {
    const path = schema20Store('broken.db');
    // 021's index name taken by another object: its CREATE INDEX fails inside the worker
    const db = new Database(path);
    db.exec('CREATE TABLE metric_series_by_key_value (x)');
    db.close();
    await assert.rejects(upgradeStoreInWorker(path, WORKER), /store schema 21 \(run_table_indexes\) failed/);
    assert.deepEqual(
      pendingMigrations(path).map((m) => m.version),
      Array.from({ length: latestSchemaVersion - 20 }, (_, i) => 21 + i),
    );
  });
});
