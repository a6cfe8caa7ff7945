import type Database from 'better-sqlite3';
import type { Store } from './store';

/** The stat fields a digest was taken at: any change means the file must be hashed again. */
export interface FileStamp {
  readonly size: number;
  readonly mtimeNs: string;
  readonly inode: string;
}

export class FileDigestRepository {
  private readonly select: Database.Statement<unknown[], unknown>;
  private readonly upsert: Database.Statement<unknown[], unknown>;

  constructor(store: Store) {
    this.select = store.db.prepare('SELECT digest FROM file_digest WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ?').pluck();
    this.upsert = store.db.prepare(
      `INSERT INTO file_digest (path, size, mtime_ns, inode, digest, hashed_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
         digest = excluded.digest, hashed_at = excluded.hashed_at`,
    );
  }

  /** The digest recorded for exactly this stamp, or undefined. */
  lookup(path: string, stamp: FileStamp): string | undefined {
    return this.select.get(path, stamp.size, stamp.mtimeNs, stamp.inode) as string | undefined;
  }

  record(path: string, stamp: FileStamp, digest: string): void {
    this.upsert.run(path, stamp.size, stamp.mtimeNs, stamp.inode, digest, Date.now());
  }
}
