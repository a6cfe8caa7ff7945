import type Database from 'better-sqlite3';
/** better-sqlite3 on first use: its native addon loads in ~10–40 ms that a CLI command without a store need not pay (issue 16). */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load of the native addon
const sqlite = (): typeof Database => require('better-sqlite3') as typeof Database;
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_STORE } from '../project/projectFiles';
import { restoreDeferredIndexes } from './deferredIndexes';
import { StoreError } from './errors';
import { latestSchemaVersion, migrations } from './migrations/list';
import type { Migration } from './migrations/migration';

type Db = Database.Database;

/** 'mlop' in ASCII: marks a SQLite file as an mloop store (PRAGMA application_id). */
export const MLOOP_APPLICATION_ID = 0x6d6c6f70;
const SQLITE_HEADER = 'SQLite format 3\u0000';

export interface OpenStoreOptions {
  /** Absolute path of the SQLite file. */
  readonly path: string;
  /** Open without writing anything (no create, no migration, no WAL switch). */
  readonly readonly?: boolean;
  /** How long a writer waits for another writer before SQLITE_BUSY, in ms. */
  readonly busyTimeoutMs?: number;
}

export interface Store {
  readonly path: string;
  readonly db: Db;
  readonly schemaVersion: number;
  readonly readonly: boolean;
  /** Runs `fn` in one IMMEDIATE transaction (a change and its audit row commit together). */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** Address space (not memory) the store may map for reads. */
const STORE_MMAP_BYTES = 256 * 1024 * 1024;

/** The default store location for a workspace folder: `<folder>/.mloop/mloop.db`. */
export function defaultStorePath(workspaceFolder: string): string {
  return join(workspaceFolder, ...DEFAULT_STORE);
}

/**
 * Opens (and, unless readonly, creates and migrates) an mloop store.
 * Never recreates or overwrites a file it cannot read: a corrupt file, a foreign SQLite file and a
 * file from a newer mloop are refused with a StoreError that says what to do, and left untouched.
 */
export function openStore(options: OpenStoreOptions): Store {
  const { path } = options;
  const exists = existsSync(path) && statSync(path).size > 0;
  if (exists) {
    assertSqliteHeader(path);
    assertWritableEnough(path, options.readonly ?? false);
  } else if (options.readonly) {
    throw new StoreError('CANNOT_OPEN', path, `No mloop store at ${path}. Run "mloop init" or "mloop: Initialize Project" to create one.`);
  }
  if (!options.readonly) ensureStoreFolder(dirname(path));

  let db: Db;
  try {
    db = new (sqlite())(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (error) {
    if (exists) throw unreadable(path, error);
    throw new StoreError('CANNOT_OPEN', path, `Cannot open the mloop store ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    // an existing file is checked on this connection before anything writes to it (the WAL switch, a migration): one
    // open of the store, not a read-only one first (~1-2 ms of a CLI command's CPU, issue 16)
    if (exists) inspectExisting(db, path);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('foreign_keys = ON');
    // read pages through a memory map (no read syscall and copy per page): charts read thousands of block rollups
    db.pragma(`mmap_size = ${STORE_MMAP_BYTES}`);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a commit survives a process crash; only an OS crash can lose the last commits.
      db.pragma('synchronous = NORMAL');
      // savepoints (GroupCommit: one per request in a shared commit) journal in memory, not a temp file
      db.pragma('temp_store = MEMORY');
      migrate(db, path);
      // indexes a killed bulk import set aside (deferredIndexes.ts): created again before anything reads the store
      restoreDeferredIndexes(db, true);
    }
    const schemaVersion = readSchemaVersion(db);
    const transaction = <T>(fn: () => T): T => db.transaction(fn).immediate();
    return { path, db, schemaVersion, readonly: options.readonly ?? false, transaction, close: () => db.close() };
  } catch (error) {
    db.close();
    throw error;
  }
}

function ensureStoreFolder(folder: string): void {
  mkdirSync(folder, { recursive: true });
  // The store folder holds local state only; keep it out of git without touching the user's .gitignore.
  const gitignore = join(folder, '.gitignore');
  if (folder.endsWith('.mloop') && !existsSync(gitignore)) {
    writeFileSync(gitignore, '# mloop keeps its local store here; it is not meant for version control\n*\n');
  }
}

function assertSqliteHeader(path: string): void {
  const header = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (read < 16 || header.toString('latin1') !== SQLITE_HEADER) {
    throw new StoreError(
      'NOT_A_DATABASE',
      path,
      `${path} is not a SQLite database (the file is damaged or was overwritten). mloop did not change it. ` +
        'Move it aside to start a new store, or restore it from a backup, or point the setting mloop.storePath at another file.',
    );
  }
}

/**
 * A store in a read-only place (permissions, a read-only mount) is refused for writing with a message
 * that says so; reading needs the folder writable too unless the -shm file exists, since SQLite creates
 * it beside a WAL database to read it.
 */
function assertWritableEnough(path: string, readonly: boolean): void {
  const folder = dirname(path);
  const refusal = (target: string): string | undefined => {
    try {
      accessSync(target, constants.W_OK);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'EACCES';
    }
  };
  if (!readonly) {
    const code = refusal(path) ?? refusal(folder);
    if (code) {
      throw new StoreError(
        'READ_ONLY',
        path,
        `The mloop store ${path} is read-only (${code}: the file or its folder ${folder} cannot be written). mloop did not change it. ` +
          'Make the file and its folder writable to train, serve or change anything.',
      );
    }
  } else if (!existsSync(`${path}-shm`)) {
    const code = refusal(folder);
    if (code) {
      throw new StoreError(
        'READ_ONLY',
        path,
        `Cannot read the mloop store ${path}: its folder ${folder} is read-only (${code}), and SQLite must create ${basename(path)}-shm beside a WAL store to read it. ` +
          'mloop did not change it. Make the folder writable, or copy the store to a writable folder and pass --store <copy>.',
      );
    }
  }
}

/** Reads an existing file, before anything writes to it, to decide whether we may write to it at all. */
function inspectExisting(db: Db, path: string): void {
  try {
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
    if (tables.length === 0) return;
    if (applicationId !== MLOOP_APPLICATION_ID || !tables.includes('schema_version')) {
      throw new StoreError(
        'NOT_AN_MLOOP_STORE',
        path,
        `${path} is a SQLite database, but not an mloop store (tables: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}). ` +
          'mloop did not change it. Point mloop.storePath (or --store) at another file; to read an MLflow database use "mloop import mlflow".',
      );
    }
    const version = readSchemaVersion(db);
    if (version > latestSchemaVersion) {
      throw new StoreError(
        'SCHEMA_TOO_NEW',
        path,
        `${path} was written by a newer mloop (store schema ${version}; this mloop knows up to ${latestSchemaVersion}). ` +
          'mloop did not change it. Update the mloop extension/CLI to open it.',
      );
    }
    db.prepare('SELECT count(*) FROM schema_version').get(); // touches every page of the table: a torn file fails here
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw unreadable(path, error);
  }
}

function unreadable(path: string, error: unknown): StoreError {
  return new StoreError(
    'NOT_A_DATABASE',
    path,
    `${path} could not be read as an mloop store: ${(error as Error).message}. mloop did not change it. ` +
      'Move it aside to start a new store, or restore it from a backup.',
    { cause: error },
  );
}

/**
 * The schema steps an existing store still needs (none for a missing, new, current or unreadable file: openStore
 * creates the first and reports the last), read without writing.
 */
export function pendingMigrations(path: string): readonly Migration[] {
  if (!existsSync(path) || statSync(path).size === 0) return [];
  let db: Db | undefined;
  try {
    db = new (sqlite())(path, { readonly: true, fileMustExist: true });
    const version = readSchemaVersion(db);
    return version === 0 ? [] : migrations.filter((m) => m.version > version);
  } catch {
    return [];
  } finally {
    db?.close();
  }
}

function readSchemaVersion(db: Db): number {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!hasTable) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Applies every pending migration up to `targetVersion`, each in its own transaction:
 * a failure leaves the store at the last version that completed.
 */
function migrate(db: Db, path: string, targetVersion: number = latestSchemaVersion): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = readSchemaVersion(db);
  if (current > latestSchemaVersion) {
    throw new StoreError('SCHEMA_TOO_NEW', path, `${path} was written by a newer mloop (store schema ${current}); update mloop.`);
  }
  for (const migration of migrations) {
    if (migration.version <= current || migration.version > targetVersion) continue;
    // foreign_keys cannot change inside a transaction: off around a table rebuild, checked before its commit
    const keysWereOn = migration.rebuildsTables === true && db.pragma('foreign_keys', { simple: true }) === 1;
    if (keysWereOn) db.pragma('foreign_keys = OFF');
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        migration.up?.(db);
        if (migration.rebuildsTables) {
          const broken = db.pragma('foreign_key_check') as unknown[];
          if (broken.length) throw new Error(`${broken.length} rows break a foreign key after the rebuild: ${JSON.stringify(broken[0])}`);
        }
        db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
        db.pragma(`application_id = ${MLOOP_APPLICATION_ID}`);
      }).immediate();
    } catch (error) {
      throw new StoreError(
        'MIGRATION_FAILED',
        path,
        `Upgrading ${path} to store schema ${migration.version} (${migration.name}) failed: ${(error as Error).message}. ` +
          `The store was left at schema ${readSchemaVersion(db)}.`,
        { cause: error },
      );
    } finally {
      if (keysWereOn) db.pragma('foreign_keys = ON');
    }
  }
}

/** Builds a store exactly as an older mloop release (schema `version`) left it; used by upgrade tests. */
export function createStoreAtSchemaVersion(path: string, version: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const db = new (sqlite())(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    migrate(db, path, version);
  } finally {
    db.close();
  }
}
