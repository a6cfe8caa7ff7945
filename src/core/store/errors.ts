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

export type StoreErrorCode =
  | 'NOT_A_DATABASE'
  | 'NOT_AN_MLOOP_STORE'
  | 'SCHEMA_TOO_NEW'
  | 'MIGRATION_FAILED'
  | 'CANNOT_OPEN';
