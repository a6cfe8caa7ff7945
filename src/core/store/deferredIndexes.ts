import type Database from 'better-sqlite3';

// A bulk of runs written with the indexes led by a key set aside (issue 19): each such index costs a B-tree insert
// per param, tag or metric series written, 2.7× the writes of an import without 023's three; created once after the
// bulk they cost 1.1×. The CREATE statements wait in deferred_index (migration 025) until the bulk ends, so a process
// killed in between leaves the statements to whoever opens the store next.

/** The indexes led by a metric, param or tag key (migrations 021 and 023): maintained per row written. */
export const KEY_INDEXES: readonly string[] = [
  'metric_series_by_key_value',
  'param_by_key_value',
  'metric_series_by_key_min',
  'metric_series_by_key_max',
  'tag_by_key_value',
];

/**
 * Drops the key indexes (their CREATE statements kept in deferred_index with this process's id), in one
 * transaction. Gives how many were set aside (those the store has; none on a store older than migration 025).
 */
export function deferKeyIndexes(db: Database.Database): number {
  return db
    .transaction(() => {
      if (!hasDeferredTable(db)) return 0;
      const found = db
        .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN (${KEY_INDEXES.map(() => '?').join(', ')})`)
        .all(...KEY_INDEXES) as { name: string; sql: string }[];
      const keep = db.prepare(
        'INSERT INTO deferred_index (name, sql, pid) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET sql = excluded.sql, pid = excluded.pid',
      );
      for (const { name, sql } of found) {
        keep.run(name, sql, process.pid);
        db.exec(`DROP INDEX "${name.replace(/"/g, '""')}"`);
      }
      return found.length;
    })
    .immediate();
}

/**
 * Creates the indexes set aside again and forgets them, in one transaction. `onlyOrphans`: only those whose process is
 * gone (a store opened while another process's import runs leaves that import's indexes to it). Gives how many were
 * created.
 */
export function restoreDeferredIndexes(db: Database.Database, onlyOrphans = false): number {
  if (!hasDeferredTable(db)) return 0;
  const waiting = db.prepare('SELECT name, sql, pid FROM deferred_index').all() as { name: string; sql: string; pid: number }[];
  const due = waiting.filter((w) => !onlyOrphans || (w.pid !== process.pid && !processAlive(w.pid)));
  if (due.length === 0) return 0;
  return db
    .transaction(() => {
      let created = 0;
      for (const { name, sql } of due) {
        // read again inside the transaction: another process may have restored it meanwhile
        if (db.prepare('SELECT 1 FROM deferred_index WHERE name = ?').get(name) === undefined) continue;
        if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) === undefined) {
          db.exec(sql);
          created++;
        }
        db.prepare('DELETE FROM deferred_index WHERE name = ?').run(name);
      }
      return created;
    })
    .immediate();
}

const hasDeferredTable = (db: Database.Database): boolean =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deferred_index'").get() !== undefined;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
