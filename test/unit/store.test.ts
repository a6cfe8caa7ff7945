import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, truncateSync, statSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../../src/core/store/errors';
import { appendSchema6Points } from '../../src/core/store/migrations/006_metric_blocks';
import { migration007 } from '../../src/core/store/migrations/007_reproducibility';
import { latestSchemaVersion, migrations } from '../../src/core/store/migrations/list';
import { MLOOP_APPLICATION_ID, createStoreAtSchemaVersion, defaultStorePath, openStore } from '../../src/core/store/store';
import { fingerprint, tempDir } from './fixtures';

/** Rows a store at each schema version can hold, written with plain SQL as that release would have. */
const seedByVersion: Record<number, (db: Database.Database) => void> = {
  1: (db) => {
    db.prepare("INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'weather', 1, 1)").run();
    db.prepare(
      "INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES ('0123456789abcdef0123456789abcdef', 1, 'first', 'FINISHED', 10)",
    ).run();
    db.prepare("INSERT INTO param (run_id, key, value) VALUES ('0123456789abcdef0123456789abcdef', 'n_estimators', '200')").run();
    // from schema 6 on, points live in metric_series/metric_block: written the way that release writes them
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'metric'").get() === undefined)
      appendSchema6Points(db, '0123456789abcdef0123456789abcdef', [{ key: 'accuracy', step: 0, timestamp: 11, value: 0.91 }]);
    else db.prepare("INSERT INTO metric (run_id, key, step, timestamp, value) VALUES ('0123456789abcdef0123456789abcdef', 'accuracy', 0, 11, 0.91)").run();
  },
  2: (db) => {
    db.prepare("INSERT INTO dataset (dataset_id, name, uri, format, created_at) VALUES (1, 'weather', 'data/w.csv', 'csv', 1)").run();
    db.prepare(
      "INSERT INTO dataset_version (dataset_version_id, dataset_id, digest, path, row_count, created_at) VALUES (1, 1, 'abc', 'data/w.csv', 1461, 2)",
    ).run();
    db.prepare("INSERT INTO run_input (run_id, dataset_version_id) VALUES ('0123456789abcdef0123456789abcdef', 1)").run();
  },
  3: (db) => {
    db.prepare("INSERT INTO model (model_id, name, created_at, updated_at) VALUES (1, 'weather-clf', 1, 1)").run();
    db.prepare(
      "INSERT INTO model_version (model_version_id, model_id, version, source_run_id, created_at) VALUES (1, 1, 1, '0123456789abcdef0123456789abcdef', 3)",
    ).run();
    db.prepare("INSERT INTO alias (model_id, alias, model_version_id, updated_at) VALUES (1, 'champion', 1, 4)").run();
  },
  // keyed by the migration itself, so renumbering it keeps its seed with it
  [migration007.version]: (db) => {
    db.prepare("INSERT INTO dataset_version_cache (dataset_version_id, status, layout, updated_at) VALUES (1, 'cached', 'file', 5)").run();
    db.prepare(
      `INSERT INTO dataset_version_file (dataset_version_id, rel_path, object_digest, size_bytes, ordinal) VALUES (1, 'w.csv', '${'e'.repeat(64)}', 10, 0)`,
    ).run();
    db.prepare(`INSERT INTO environment (environment_id, digest, document_json, created_at) VALUES (1, '${'d'.repeat(64)}', '{}', 6)`).run();
    db.prepare("INSERT INTO run_environment (run_id, environment_id) VALUES ('0123456789abcdef0123456789abcdef', 1)").run();
  },
};

/** What must survive an upgrade, whatever version the store started at. */
function assertSeededRowsIntact(db: Database.Database, fromVersion: number): void {
  if (fromVersion >= 1) {
    assert.equal(db.prepare('SELECT value FROM param').pluck().get(), '200');
    const hasMetricTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'metric'").get() !== undefined;
    if (hasMetricTable) assert.equal(db.prepare('SELECT value FROM metric').pluck().get(), 0.91);
    // schema 6 moved metric points into metric_series/metric_block (metricPoints.test checks every value)
    else assert.deepEqual(db.prepare('SELECT key, count, latest_value FROM metric_series').get(), { key: 'accuracy', count: 1, latest_value: 0.91 });
  }
  if (fromVersion >= 2) assert.equal(db.prepare('SELECT row_count FROM dataset_version').pluck().get(), 1461);
  if (fromVersion >= 3) assert.equal(db.prepare("SELECT model_version_id FROM alias WHERE alias = 'champion'").pluck().get(), 1);
  if (fromVersion >= migration007.version) {
    assert.equal(db.prepare('SELECT object_digest FROM dataset_version_file').pluck().get(), 'e'.repeat(64));
    assert.equal(db.prepare('SELECT environment_id FROM run_environment').pluck().get(), 1);
  }
}

describe('store: open and migrate', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('creates a new store at the latest schema with WAL, foreign keys, a busy timeout and its own .gitignore', () => {
    const path = defaultStorePath(dir);
    const store = openStore({ path });
    try {
      assert.equal(store.schemaVersion, latestSchemaVersion);
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      assert.ok((store.db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
      assert.equal(store.db.pragma('application_id', { simple: true }), MLOOP_APPLICATION_ID);
      const applied = store.db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all();
      assert.deepEqual(
        applied,
        migrations.map((m) => m.version),
      );
      const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
      for (const table of [
        'dataset',
        'dataset_version',
        'experiment',
        'run',
        'param',
        'metric_series',
        'metric_block',
        'metric_tail',
        'tag',
        'run_input',
        'artifact',
        'model',
        'model_version',
        'alias',
        'alias_history',
        'deployment',
        'drift_report',
        'audit',
        'dataset_version_cache',
        'dataset_version_file',
        'environment',
        'run_environment',
        'run_code',
      ]) {
        assert.ok(tables.includes(table), `table ${table} missing`);
      }
    } finally {
      store.close();
    }
    assert.match(readFileSync(join(dir, '.mloop', '.gitignore'), 'utf8'), /^\*$/m);
  });

  it('numbers migrations 1, 2, 3… without gaps so every older store has a path forward', () => {
    assert.deepEqual(
      migrations.map((m) => m.version),
      migrations.map((_, i) => i + 1),
    );
  });

  for (let from = 1; from < latestSchemaVersion; from++) {
    it(`upgrades a store from schema ${from} in place, keeping its data`, () => {
      const path = join(dir, 'old.db');
      // each version's rows are written while the store is at that version, as a real history would have
      for (let v = 1; v <= from; v++) {
        createStoreAtSchemaVersion(path, v);
        const old = new Database(path);
        seedByVersion[v]?.(old);
        old.close();
      }

      const store = openStore({ path });
      try {
        assert.equal(store.schemaVersion, latestSchemaVersion);
        assertSeededRowsIntact(store.db, from);
        assert.equal((store.db.pragma('foreign_key_check') as unknown[]).length, 0);
      } finally {
        store.close();
      }
    });
  }

  it('reopening a current store applies nothing and changes no data', () => {
    const path = join(dir, 'm.db');
    openStore({ path }).close();
    const store = openStore({ path });
    try {
      assert.equal(store.db.prepare('SELECT count(*) FROM schema_version').pluck().get(), latestSchemaVersion);
    } finally {
      store.close();
    }
  });

  it('refuses a store from a newer mloop without writing a byte to it', () => {
    const path = join(dir, 'newer.db');
    openStore({ path }).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'from-the-future', 1)").run(latestSchemaVersion + 1);
    db.pragma('journal_mode = DELETE'); // a single file, so the fingerprint covers everything
    db.close();
    const before = fingerprint(path);

    assert.throws(
      () => openStore({ path }),
      (e: unknown) => e instanceof StoreError && e.code === 'SCHEMA_TOO_NEW' && e.message.includes(path) && /update/i.test(e.message),
    );
    assert.deepEqual(fingerprint(path), before);
    assert.equal(existsSync(`${path}-wal`), false, 'no WAL file was created');
  });

  it('refuses a corrupt file with an error naming it and what to do, and never recreates it', () => {
    const path = join(dir, 'mloop.db');
    writeFileSync(path, Buffer.from('this is not a database, it is a text file that happens to be called mloop.db\n'.repeat(50)));
    const before = fingerprint(path);
    assert.throws(
      () => openStore({ path }),
      (e: unknown) => e instanceof StoreError && e.code === 'NOT_A_DATABASE' && e.message.includes(path) && /move it aside|backup/i.test(e.message),
    );
    assert.deepEqual(fingerprint(path), before);
  });

  it('refuses a truncated store (valid header, pages missing) and leaves it as it was', () => {
    const path = join(dir, 'torn.db');
    const store = openStore({ path });
    store.db.pragma('journal_mode = DELETE');
    store.close();
    truncateSync(path, 1024 + 100); // keeps the 100-byte header, cuts the schema pages
    const before = fingerprint(path);
    assert.throws(
      () => openStore({ path }),
      (e: unknown) => e instanceof StoreError && e.message.includes(path),
    );
    assert.deepEqual(fingerprint(path), before);
  });

  it('refuses a SQLite database that is not an mloop store (e.g. an MLflow mlflow.db)', () => {
    const path = join(dir, 'mlflow.db');
    const foreign = new Database(path);
    foreign.exec('CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE runs (run_uuid TEXT)');
    foreign.close();
    const before = fingerprint(path);
    assert.throws(
      () => openStore({ path }),
      (e: unknown) => e instanceof StoreError && e.code === 'NOT_AN_MLOOP_STORE' && e.message.includes(path) && e.message.includes('experiments'),
    );
    assert.deepEqual(fingerprint(path), before);
  });

  it('a failing migration rolls back to the previous schema version, keeping the data', () => {
    const path = join(dir, 'stuck.db');
    createStoreAtSchemaVersion(path, 2);
    const db = new Database(path);
    seedByVersion[1]!(db);
    db.exec('CREATE TABLE model (conflict TEXT)'); // migration 3 creates `model`: it must fail as a whole
    db.close();
    assert.throws(
      () => openStore({ path }),
      (e: unknown) => e instanceof StoreError && e.code === 'MIGRATION_FAILED' && /schema 3/.test(e.message) && /left at schema 2/.test(e.message),
    );
    const after = new Database(path, { readonly: true });
    try {
      assert.equal(after.prepare('SELECT max(version) FROM schema_version').pluck().get(), 2);
      assert.equal(after.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'model_version'").pluck().get(), 0);
      assertSeededRowsIntact(after, 1);
    } finally {
      after.close();
    }
  });

  it('read-only opening never creates a store', () => {
    const path = join(dir, 'absent', 'mloop.db');
    assert.throws(
      () => openStore({ path, readonly: true }),
      (e: unknown) => e instanceof StoreError && e.code === 'CANNOT_OPEN' && e.message.includes('mloop init'),
    );
    assert.equal(existsSync(join(dir, 'absent')), false);
  });

  it('read-only opening of a WAL store works after every writer closed (no -wal/-shm left)', () => {
    const path = join(dir, 'm.db');
    const store = openStore({ path });
    store.db.prepare("INSERT INTO experiment (name, created_at, updated_at) VALUES ('x', 1, 1)").run();
    store.close();
    const ro = openStore({ path, readonly: true });
    try {
      assert.equal(ro.db.prepare('SELECT name FROM experiment').pluck().get(), 'x');
      assert.throws(() => ro.db.prepare("INSERT INTO experiment (name, created_at, updated_at) VALUES ('y', 1, 1)").run(), /readonly/i);
    } finally {
      ro.close();
    }
  });

  it('enforces foreign keys: a run cannot point at a missing experiment', () => {
    const store = openStore({ path: join(dir, 'fk.db') });
    try {
      assert.throws(
        () =>
          store.db
            .prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES ('0123456789abcdef0123456789abcdef', 42, 'x', 'RUNNING', 1)")
            .run(),
        /FOREIGN KEY/,
      );
    } finally {
      store.close();
    }
  });

  it('a writer waits for another process holding the write lock instead of failing with SQLITE_BUSY', async () => {
    const path = join(dir, 'busy.db');
    openStore({ path }).close();
    // a real second process takes the write lock for 600 ms
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D=require(${JSON.stringify(require.resolve('better-sqlite3'))});const d=new D(${JSON.stringify(path)});d.pragma('busy_timeout=5000');d.exec('BEGIN IMMEDIATE');d.exec("INSERT INTO experiment (name, created_at, updated_at) VALUES ('holder',1,1)");process.stdout.write('locked\\n');setTimeout(()=>{d.exec('COMMIT');d.close();},600);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('error', reject);
    });
    const store = openStore({ path, busyTimeoutMs: 5000 });
    try {
      const t0 = Date.now();
      store.transaction(() => store.db.prepare("INSERT INTO experiment (name, created_at, updated_at) VALUES ('waiter', 1, 1)").run());
      assert.ok(Date.now() - t0 >= 300, 'the write waited for the lock');
      assert.deepEqual(store.db.prepare('SELECT name FROM experiment ORDER BY experiment_id').pluck().all(), ['holder', 'waiter']);
    } finally {
      store.close();
      await new Promise((r) => (holder.exitCode === null ? holder.once('exit', r) : r(null)));
    }
  });

  it('opening a copy of a store in another folder keeps every row (the file is self-contained after close)', () => {
    const path = join(dir, 'a.db');
    const store = openStore({ path });
    store.db.prepare("INSERT INTO experiment (name, created_at, updated_at) VALUES ('kept', 1, 1)").run();
    store.close();
    const copy = join(dir, 'b.db');
    copyFileSync(path, copy);
    assert.ok(statSync(copy).size > 0);
    const reopened = openStore({ path: copy, readonly: true });
    try {
      assert.equal(reopened.db.prepare('SELECT name FROM experiment').pluck().get(), 'kept');
    } finally {
      reopened.close();
    }
  });
});
