/** Why a dataset file could not be read; every code names something the user can fix. */
export type DatasetReadErrorCode =
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'NOT_A_FILE'
  | 'NO_FILES'
  | 'UNKNOWN_FORMAT'
  | 'EMPTY_FILE'
  | 'NO_ROWS'
  | 'BAD_HEADER'
  | 'RAGGED_ROW'
  | 'UNBALANCED_QUOTE'
  | 'BAD_CSV'
  | 'NOT_UTF8'
  | 'BAD_JSON'
  | 'NOT_PARQUET'
  | 'TRUNCATED'
  | 'CORRUPT'
  | 'ABORTED'
  | 'IO';

export interface DatasetReadErrorDetails {
  readonly code: DatasetReadErrorCode;
  readonly file: string;
  readonly message: string;
  /** 1-based line in a text file. */
  readonly line?: number;
  /** 0-based data row (Parquet). */
  readonly row?: number;
  /** 0-based byte offset in the file. */
  readonly byteOffset?: number;
  readonly cause?: unknown;
}

/** A dataset file that cannot be read, with where: the file, the line or row, the byte offset. */
export class DatasetReadError extends Error {
  readonly code: DatasetReadErrorCode;
  readonly file: string;
  readonly line: number | undefined;
  readonly row: number | undefined;
  readonly byteOffset: number | undefined;

  constructor(details: DatasetReadErrorDetails) {
    super(details.message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DatasetReadError';
    this.code = details.code;
    this.file = details.file;
    this.line = details.line;
    this.row = details.row;
    this.byteOffset = details.byteOffset;
  }
}

interface CsvErrorLike {
  code: string;
  message: string;
  lines?: number;
  bytes?: number;
  records?: number;
}

/** Wraps file-system, csv-parse and abort errors into DatasetReadError; passes DatasetReadError through. */
export function toReadError(error: unknown, file: string): DatasetReadError {
  if (error instanceof DatasetReadError) return error;
  const e = error as NodeJS.ErrnoException & Partial<CsvErrorLike>;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR')
    return new DatasetReadError({ code: 'ABORTED', file, message: `Reading ${file} was cancelled`, cause: error });
  switch (e?.code) {
    case 'ENOENT':
      return new DatasetReadError({ code: 'NOT_FOUND', file, message: `${file} does not exist (check the dataset's path in mloop.yaml)`, cause: error });
    case 'EACCES':
    case 'EPERM':
      return new DatasetReadError({ code: 'PERMISSION_DENIED', file, message: `${file} cannot be read: permission denied (${e.code})`, cause: error });
    case 'EISDIR':
      return new DatasetReadError({ code: 'NOT_A_FILE', file, message: `${file} is a directory, expected a file`, cause: error });
  }
  if (typeof e?.code === 'string' && e.code.startsWith('CSV_')) {
    const line = e.lines;
    const at = `${file}${line ? `:${line}` : ''}`;
    const where = { file, line, byteOffset: e.bytes };
    if (e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' || e.code === 'CSV_RECORD_DONT_MATCH_COLUMNS_LENGTH') {
      return new DatasetReadError({
        ...where,
        code: 'RAGGED_ROW',
        message: `${at}: ${e.message.replace(/^Invalid Record Length: /, '')} (a row has more or fewer fields than the header)`,
        cause: error,
      });
    }
    if (e.code === 'CSV_QUOTE_NOT_CLOSED' || e.code === 'CSV_INVALID_CLOSING_QUOTE' || e.code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE') {
      return new DatasetReadError({ ...where, code: 'UNBALANCED_QUOTE', message: `${at}: unbalanced quote — ${e.message}`, cause: error });
    }
    return new DatasetReadError({ ...where, code: 'BAD_CSV', message: `${at}: ${e.message}`, cause: error });
  }
  return new DatasetReadError({ code: 'IO', file, message: `${file}: ${e?.message ?? String(error)}`, cause: error });
}
