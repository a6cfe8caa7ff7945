import type Database from 'better-sqlite3';

/** One numbered schema step. Applied once, in its own transaction, in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** Data changes SQL alone cannot express (run after `sql`, in the same transaction). */
  readonly up?: (db: Database.Database) => void;
  /**
   * Rebuilds a table others reference (SQLite changes a CHECK only by copying the table): foreign keys are off
   * while it runs, as SQLite's "other kinds of table schema changes" procedure says, and checked before commit.
   */
  readonly rebuildsTables?: boolean;
}
