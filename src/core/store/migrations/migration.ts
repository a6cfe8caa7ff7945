import type Database from 'better-sqlite3';

/** One numbered schema step. Applied once, in its own transaction, in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** Data changes SQL alone cannot express (run after `sql`, in the same transaction). */
  readonly up?: (db: Database.Database) => void;
}
