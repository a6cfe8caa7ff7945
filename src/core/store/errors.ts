/** A store problem the user can act on: the message names the file and what to do. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly file: string;
  constructor(code: StoreErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.file = file;
  }
}

export type StoreErrorCode = 'NOT_A_DATABASE' | 'NOT_AN_MLOOP_STORE' | 'SCHEMA_TOO_NEW' | 'MIGRATION_FAILED' | 'CANNOT_OPEN' | 'READ_ONLY';

/** A failure of the disk or file under the store, told so the user can act on it. */
export interface StorageFailure {
  /** Retrying after the user fixed the cause can succeed (full, read-only, I/O, lock); false: the file is damaged. */
  readonly temporary: boolean;
  readonly code: string;
  /** What happened to which file, without the remedy: `mloop could not write <file>: the disk holding it is full (SQLITE_FULL)`. */
  readonly problem: string;
  /** What to do about it. */
  readonly remedy: string;
}

/**
 * Recognises a SQLite result code (better-sqlite3's SqliteError.code) or a Node errno code that means
 * the disk, not the caller, failed; undefined for anything else. `file` is named unless the error
 * carries its own path (an artifact write).
 */
export function describeStorageFailure(error: unknown, file: string): StorageFailure | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  const own = (error as { path?: unknown }).path;
  const target = typeof own === 'string' ? own : file;
  const temporary = (what: string, remedy: string): StorageFailure => ({
    temporary: true,
    code,
    problem: `mloop could not write ${target}: ${what} (${code})`,
    remedy,
  });
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return temporary('the disk holding it is full', 'free some space');
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return temporary('it is read-only (file permissions, or a file system mounted read-only)', 'make it writable');
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return temporary('the disk reported an I/O error', 'check the disk');
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return temporary('another process held its write lock for longer than the busy timeout', 'wait for that process to finish');
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return {
      temporary: false,
      code,
      problem: `the mloop store ${file} is damaged (${code})`,
      remedy: 'restore it from a backup, or move it aside to start a new store',
    };
  }
  return undefined;
}
