import { isUtf8 } from 'node:buffer';
import { createReadStream, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type Compressors, type FileMetaData, type SchemaElement } from 'hyparquet';
import { scanDelimited, scanRecords } from './csvScan';
import { cellAt, encodeCells, primeTypedReader, TypedDelimitedScanner, type TypedBatch, type TypedColumn } from './typedCsv';
import { DatasetReadError, toReadError } from './readErrors';
import { listDatasetFiles } from './files';
import { readParquetFooter } from './parquetFooter';
import { snappyInto } from './snappy';

export { DatasetReadError } from './readErrors';

/** Public reader API (used by profiles, validation, preview and the drift engine). Keep it stable. */
export type DatasetFileFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet';
export type CellValue = number | string | boolean | null;
export type ColumnType = 'number' | 'string' | 'boolean' | 'datetime' | 'null';

/**
 * A slice of rows, column by column. `rowOffset` is the index of the first row in the whole dataset
 * (0-based, data rows only). A JSONL key first seen in a later batch is absent from earlier batches (read it as null).
 */
export interface ColumnBatch {
  readonly rowOffset: number;
  readonly rows: number;
  readonly columns: Record<string, CellValue[]>;
}

export interface DatasetSchema {
  readonly columns: { readonly name: string; readonly type: ColumnType }[];
}

export interface ReadOptions {
  /** Overrides detection by extension. */
  readonly format?: DatasetFileFormat;
  /** Only these columns (others are not decoded where the format allows it). */
  readonly columns?: string[];
  /** Rows per batch; default 10 000. A Parquet batch never spans two row groups. */
  readonly batchRows?: number;
  readonly signal?: AbortSignal;
  /** Stop after this many rows (preview, schema sampling). */
  readonly maxRows?: number;
}

const DEFAULT_BATCH_ROWS = 10_000;
/** Rows a text-format schema is inferred from (Parquet reads its footer instead). */
const SCHEMA_SAMPLE_ROWS = 10_000;

/** The format from the file extension (`.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`, `.parquet`/`.pq`), or undefined. */
export function detectFormat(path: string): DatasetFileFormat | undefined {
  const lower = path.toLowerCase().replace(/\.(gz)$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) return 'tsv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.parquet') || lower.endsWith('.pq')) return 'parquet';
  return undefined;
}

/**
 * Streams a dataset as column batches. `path` is a file, a directory (its data files in sorted order)
 * or a glob; row offsets continue across files. Throws DatasetReadError with the file and line/row/byte offset.
 */
export async function* readBatches(path: string, options: ReadOptions = {}): AsyncIterable<ColumnBatch> {
  const files = await listDatasetFiles(path, options.format);
  let rowOffset = 0;
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  for (const file of files) {
    if (rowOffset >= maxRows) return;
    const format = options.format ?? detectFormat(file);
    if (!format) {
      throw new DatasetReadError({
        code: 'UNKNOWN_FORMAT',
        file,
        message: `${file}: cannot tell the format from the extension; set format: csv | tsv | jsonl | parquet`,
      });
    }
    const fileOptions = { ...options, maxRows: maxRows - rowOffset };
    const batches =
      format === 'parquet' ? readParquet(file, fileOptions) : format === 'jsonl' ? readJsonl(file, fileOptions) : readDelimited(file, format, fileOptions);
    let fileRows = 0;
    try {
      for await (const batch of batches) {
        yield { rowOffset: rowOffset + batch.rowOffset, rows: batch.rows, columns: batch.columns };
        fileRows += batch.rows;
      }
    } catch (error) {
      throw toReadError(error, file); // cancellation and stray errors still name the file
    }
    rowOffset += fileRows;
  }
}

/** Column names and types: Parquet from its footer, text formats inferred from the first rows. */
export async function readSchema(path: string, options: Omit<ReadOptions, 'batchRows' | 'maxRows'> = {}): Promise<DatasetSchema> {
  const files = await listDatasetFiles(path, options.format);
  const first = files[0]!;
  const format = options.format ?? detectFormat(first);
  if (format === 'parquet') {
    const pq = await openParquet(first, readParquetFooter);
    const metadata = pq.metadata;
    await pq.close();
    const wanted = options.columns && new Set(options.columns);
    return { columns: parquetColumns(metadata).filter((c) => !wanted || wanted.has(c.name)) };
  }
  const types = new Map<string, ColumnTypeTally>();
  const tallyOf = (name: string): ColumnTypeTally => {
    let tally = types.get(name);
    if (!tally) types.set(name, (tally = new ColumnTypeTally()));
    return tally;
  };
  if (files.every((f) => ['csv', 'tsv'].includes(options.format ?? detectFormat(f) ?? ''))) {
    // text files through the typed reader the read after the schema uses too: one reader class compiled in the thread,
    // not two (V8 recompiled the shared record walk when it met the second), and no cell made for a number
    let rows = 0;
    for (const file of files) {
      if (rows >= SCHEMA_SAMPLE_ROWS) break;
      try {
        for await (const batch of readTypedBatches(file, { ...options, maxRows: SCHEMA_SAMPLE_ROWS - rows })) {
          for (const [name, column] of Object.entries(batch.columns)) tallyOf(name).addColumn(column, batch.rows);
          rows += batch.rows;
        }
      } catch (error) {
        throw toReadError(error, file);
      }
    }
  } else
    for await (const batch of readBatches(path, { ...options, maxRows: SCHEMA_SAMPLE_ROWS }))
      for (const [name, values] of Object.entries(batch.columns)) tallyOf(name).addAll(values);
  return { columns: [...types].map(([name, tally]) => ({ name, type: tally.type() })) };
}

/** ISO 8601 date or date-time, as pandas' parse_dates and Parquet timestamps would give. */
export const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Infers one column type from values: all non-null of one kind, else string. */
export class ColumnTypeTally {
  private numbers = 0;
  private strings = 0;
  private booleans = 0;
  private datetimes = 0;
  add(v: CellValue): void {
    if (v === null) return;
    if (typeof v === 'number') this.numbers++;
    else if (typeof v === 'boolean') this.booleans++;
    else if (ISO_DATETIME.test(v)) this.datetimes++;
    else this.strings++;
  }
  /**
   * A batch's cells of the column. A method of its own: as readSchema's inner loop, V8 compiled it on the stack (OSR)
   * and threw that code away at each column's end (19–36 deopts a check).
   */
  addAll(values: readonly CellValue[]): void {
    for (const v of values) this.add(v);
  }
  /** A typed batch's column (typedCsv.ts), as addAll of its cells: a numbers column without a cell, a texts column a test per distinct text. */
  addColumn(column: TypedColumn, rows: number): void {
    if (column.kind === 'numbers') {
      const values = column.values;
      let numbers = 0;
      for (let i = 0; i < rows; i++) if (values[i] === values[i]) numbers++; // NaN: an empty cell
      this.numbers += numbers;
    } else if (column.kind === 'texts') {
      const counts = new Int32Array(column.dictionary.length);
      const codes = column.codes;
      for (let i = 0; i < rows; i++) if (codes[i]! >= 0) counts[codes[i]!]!++;
      column.dictionary.forEach((text, code) => {
        if (counts[code]! > 0 && ISO_DATETIME.test(text)) this.datetimes += counts[code]!;
        else this.strings += counts[code]!;
      });
    } else for (let i = 0; i < rows; i++) this.add(cellAt(column, i));
  }
  type(): ColumnType {
    const total = this.numbers + this.strings + this.booleans + this.datetimes;
    if (total === 0) return 'null';
    if (this.numbers === total) return 'number';
    if (this.booleans === total) return 'boolean';
    if (this.datetimes === total) return 'datetime';
    return 'string';
  }
}

// ---------------------------------------------------------------- CSV / TSV

export { csvCell } from './csvScan';

async function* readDelimited(file: string, format: 'csv' | 'tsv', options: ReadOptions): AsyncGenerator<ColumnBatch> {
  const size = await fileSize(file);
  if (size === 0)
    throw new DatasetReadError({ code: 'EMPTY_FILE', file, byteOffset: 0, message: `${file} is empty (0 bytes): expected a header line and rows` });
  // a bounded read (preview, schema sample) reads small pieces and no further ahead than it needs
  const bounded = options.maxRows !== undefined && options.maxRows <= SCHEMA_SAMPLE_ROWS;
  const chunks = utf8Checked(file, options.signal, bounded ? 64 << 10 : 1 << 20);
  try {
    for await (const batch of scanDelimited(chunks, {
      file,
      delimiter: format === 'tsv' ? '\t' : ',',
      ...(options.columns ? { columns: options.columns } : {}),
      batchRows: Math.max(1, options.batchRows ?? DEFAULT_BATCH_ROWS),
      maxRows: options.maxRows ?? Number.POSITIVE_INFINITY,
      checkHeader: (header) => checkHeader(file, header),
    })) {
      yield batch;
      options.signal?.throwIfAborted();
    }
  } catch (error) {
    throw toReadError(error, file);
  } finally {
    await chunks.return(undefined);
  }
}

/**
 * One file as batches of typed columns (src/core/datasets/typedCsv.ts): CSV and TSV scanned straight into typed
 * arrays, other formats read as cells and encoded per batch. `prefixes` names columns read only for their first n
 * characters (a time column for its day); `decimals` columns come as exact decimals where they can, `ids` columns as
 * identifiers (a number only in its own canonical form, else the cell's text; CSV and TSV only: other formats keep
 * their own types).
 * Errors as readBatches gives them (file, line, column).
 */
export async function* readTypedBatches(
  file: string,
  options: ReadOptions & {
    readonly prefixes?: Readonly<Record<string, number>>;
    readonly decimals?: readonly string[];
    readonly ids?: readonly string[];
  },
): AsyncGenerator<TypedBatch> {
  const format = options.format ?? detectFormat(file);
  if (format !== 'csv' && format !== 'tsv') {
    const dictionaries = new Map<string, { index: Map<string, number>; dictionary: string[] }>();
    for await (const batch of readBatches(file, options)) {
      const columns: Record<string, TypedColumn> = {};
      for (const [name, values] of Object.entries(batch.columns)) {
        const n = options.prefixes?.[name];
        if (n === undefined) {
          columns[name] = encodeCells(values, batch.rows);
          continue;
        }
        let d = dictionaries.get(name);
        if (!d) dictionaries.set(name, (d = { index: new Map(), dictionary: [] }));
        const codes = new Int32Array(batch.rows).fill(-1);
        for (let i = 0; i < batch.rows; i++) {
          const v = values[i];
          if (typeof v !== 'string' || v.length < n) continue;
          const prefix = v.slice(0, n);
          let code = d.index.get(prefix);
          if (code === undefined) d.index.set(prefix, (code = d.dictionary.push(prefix) - 1));
          codes[i] = code;
        }
        columns[name] = { kind: 'prefixes', codes, dictionary: d.dictionary };
      }
      yield { rowOffset: batch.rowOffset, rows: batch.rows, columns };
    }
    return;
  }
  primeTypedReader();
  try {
    const size = await fileSize(file);
    if (size === 0)
      throw new DatasetReadError({ code: 'EMPTY_FILE', file, byteOffset: 0, message: `${file} is empty (0 bytes): expected a header line and rows` });
    // a bounded read (the schema's sample) reads small pieces, as readDelimited
    const bounded = options.maxRows !== undefined && options.maxRows <= SCHEMA_SAMPLE_ROWS;
    const chunks = utf8Checked(file, options.signal, bounded ? 64 << 10 : 1 << 20);
    const scanner = new TypedDelimitedScanner({
      file,
      delimiter: format === 'tsv' ? '\t' : ',',
      ...(options.columns ? { columns: options.columns } : {}),
      ...(options.prefixes ? { prefixes: options.prefixes } : {}),
      ...(options.decimals ? { decimals: options.decimals } : {}),
      ...(options.ids ? { ids: options.ids } : {}),
      batchRows: Math.max(1, options.batchRows ?? DEFAULT_BATCH_ROWS),
      maxRows: options.maxRows ?? Number.POSITIVE_INFINITY,
      checkHeader: (header) => checkHeader(file, header),
    });
    try {
      for await (const batch of scanRecords(chunks, scanner)) {
        yield batch;
        options.signal?.throwIfAborted();
      }
    } finally {
      await chunks.return(undefined);
    }
  } catch (error) {
    throw toReadError(error, file);
  }
}

function checkHeader(file: string, header: string[]): void {
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw new DatasetReadError({ code: 'BAD_HEADER', file, line: 1, message: `${file}:1: column ${i + 1} of the header has no name` });
    if (seen.has(name)) throw new DatasetReadError({ code: 'BAD_HEADER', file, line: 1, message: `${file}:1: the header names column "${name}" twice` });
    seen.add(name);
  });
}

/** Streams the file's bytes, cut at character boundaries, failing at the first byte that is not UTF-8. */
async function* utf8Checked(file: string, signal?: AbortSignal, readBytes = 1 << 20): AsyncGenerator<Buffer> {
  // one buffer, read into again when the consumer asks for the next chunk: the scanners (scanRecords) are done with a
  // chunk by then and copy the bytes they keep, so a 200 MB log no longer allocates (and leaves to the collector) a
  // new 1 MiB buffer a read
  const buffer = Buffer.allocUnsafeSlow(readBytes + 3);
  let carried = 0; // the bytes of a character cut by the last read, moved to the front of buffer
  let offset = 0; // byte offset in the file of buffer[0]
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, carried, readBytes, null);
      if (bytesRead === 0) break;
      const filled = carried + bytesRead;
      const end = completeUtf8Length(buffer.subarray(0, filled));
      const whole = buffer.subarray(0, end);
      if (!isUtf8(whole)) throw notUtf8(file, offset + firstInvalidUtf8(whole));
      if (end > 0) yield whole;
      buffer.copyWithin(0, end, filled);
      carried = filled - end;
      offset += end;
    }
  } catch (error) {
    throw toReadError(error, file);
  } finally {
    await handle?.close();
  }
  if (carried) {
    const rest = buffer.subarray(0, carried);
    if (!isUtf8(rest)) throw notUtf8(file, offset + firstInvalidUtf8(rest));
    yield rest;
  }
}

function notUtf8(file: string, byteOffset: number): DatasetReadError {
  return new DatasetReadError({ code: 'NOT_UTF8', file, byteOffset, message: `${file}: byte ${byteOffset} is not valid UTF-8 (save the file as UTF-8)` });
}

/** Length of the prefix that does not end inside a multi-byte character. */
function completeUtf8Length(buf: Buffer): number {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 3 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf.length;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? i : buf.length;
}

/** Offset of the first byte that breaks UTF-8 (error path only: isUtf8 already said there is one). */
function firstInvalidUtf8(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    if (need > 0 && !isUtf8(buf.subarray(i, i + need + 1))) return i;
    i += need + 1;
  }
  return buf.length;
}

// ---------------------------------------------------------------- JSONL

async function* readJsonl(file: string, options: ReadOptions): AsyncGenerator<ColumnBatch> {
  const batchRows = Math.max(1, options.batchRows ?? DEFAULT_BATCH_ROWS);
  const size = await fileSize(file);
  if (size === 0)
    throw new DatasetReadError({ code: 'EMPTY_FILE', file, byteOffset: 0, message: `${file} is empty (0 bytes): expected one JSON object per line` });
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  const wanted = options.columns && new Set(options.columns);
  const known: string[] = [];
  let columns: Record<string, CellValue[]> = {};
  let rows = 0;
  let total = 0;
  let line = 0;
  let lineStart = 0; // byte offset of the current line
  let pending = Buffer.alloc(0);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const fresh = (): Record<string, CellValue[]> => Object.fromEntries(known.map((k) => [k, []]));

  const take = (bytes: Buffer): void => {
    line++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw notUtf8(file, lineStart + firstInvalidUtf8(bytes));
    }
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new DatasetReadError({
        code: 'BAD_JSON',
        file,
        line,
        byteOffset: lineStart,
        message: `${file}:${line}: not valid JSON (${(error as Error).message})`,
      });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DatasetReadError({
        code: 'BAD_JSON',
        file,
        line,
        byteOffset: lineStart,
        message: `${file}:${line}: each line must be a JSON object ({"column": value, …})`,
      });
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (wanted && !wanted.has(key)) continue;
      if (!(key in columns)) {
        known.push(key);
        columns[key] = new Array<CellValue>(rows).fill(null);
      }
    }
    for (const key of known) columns[key]!.push(jsonCell(record[key]));
    rows++;
    total++;
  };

  const stream = createReadStream(file, { highWaterMark: 1 << 20, ...(options.signal ? { signal: options.signal } : {}) });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(10)) !== -1 && total < maxRows) {
        take(buf.subarray(0, nl));
        lineStart += nl + 1;
        buf = buf.subarray(nl + 1);
        if (rows === batchRows) {
          yield { rowOffset: total - rows, rows, columns };
          columns = fresh();
          rows = 0;
        }
      }
      pending = Buffer.from(buf);
      if (total >= maxRows) break;
    }
    if (pending.length && total < maxRows) take(pending);
  } catch (error) {
    throw toReadError(error, file);
  } finally {
    stream.destroy();
  }
  if (total === 0) throw new DatasetReadError({ code: 'NO_ROWS', file, line: 1, message: `${file} has no JSON rows (only blank lines)` });
  if (rows > 0) yield { rowOffset: total - rows, rows, columns };
}

function jsonCell(v: unknown): CellValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

// ---------------------------------------------------------------- Parquet

export interface OpenParquet<Footer = FileMetaData> {
  readonly file: AsyncBuffer;
  readonly metadata: Footer;
  /** Reads into[0..length) from byte `position` (a buffer the caller reuses); returns the bytes read. */
  readInto(into: Uint8Array, length: number, position: number): Promise<number>;
  /**
   * readInto without leaving the thread: for a caller that decodes what it reads before it reads on (the columnar
   * scanner), a read from the page cache costs less than the round trip through libuv's pool and the event loop.
   */
  readIntoSync(into: Uint8Array, length: number, position: number): number;
  close(): Promise<void>;
}

/**
 * Reads the footer; a file that is not Parquet (or is cut short) fails here with its byte offset. hyparquet's whole
 * FileMetaData by default (its reader needs it); `readFooter` reads another form of it (readParquetFooter: the fields
 * the schema and the columnar scanner use).
 */
export function openParquet(path: string): Promise<OpenParquet>;
export function openParquet<Footer>(path: string, readFooter: (file: AsyncBuffer) => Promise<Footer>): Promise<OpenParquet<Footer>>;
export async function openParquet(path: string, readFooter: (file: AsyncBuffer) => Promise<unknown> = parquetMetadataAsync): Promise<OpenParquet<unknown>> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw toReadError(error, path);
  }
  const { size } = await handle.stat();
  const h = handle;
  const readInto = async (out: Uint8Array, length: number, start: number): Promise<number> => {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await h.read(out, done, length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  };
  const readIntoSync = (out: Uint8Array, length: number, start: number): number => {
    let done = 0;
    while (done < length) {
      const bytesRead = readSync(h.fd, out, done, length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  };
  const file: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const out = new Uint8Array((end ?? size) - start);
      await readInto(out, out.length, start);
      return out.buffer;
    },
  };
  try {
    if (size === 0) throw new DatasetReadError({ code: 'EMPTY_FILE', file: path, byteOffset: 0, message: `${path} is empty (0 bytes): not a Parquet file` });
    const magic = async (at: number): Promise<string> => Buffer.from(await file.slice(at, at + 4)).toString('latin1');
    if (size < 12 || (await magic(0)) !== 'PAR1') {
      throw new DatasetReadError({ code: 'NOT_PARQUET', file: path, byteOffset: 0, message: `${path} is not a Parquet file (no PAR1 magic at byte 0)` });
    }
    if ((await magic(size - 4)) !== 'PAR1') {
      throw new DatasetReadError({
        code: 'TRUNCATED',
        file: path,
        byteOffset: size,
        message: `${path} is cut short: no Parquet footer at its end (byte ${size}); the file was not completely written or copied`,
      });
    }
    let metadata: unknown;
    try {
      metadata = await readFooter(file);
    } catch (error) {
      throw new DatasetReadError({
        code: 'CORRUPT',
        file: path,
        byteOffset: size - 8,
        message: `${path}: the Parquet footer cannot be read (${(error as Error).message})`,
        cause: error,
      });
    }
    return { file, metadata, readInto, readIntoSync, close: () => h.close() };
  } catch (error) {
    await h.close();
    throw error;
  }
}

export function parquetColumns(metadata: { readonly schema: SchemaElement[] }): { name: string; type: ColumnType }[] {
  return parquetSchema(metadata).children.map((child) => {
    const e = child.element;
    const logical = e.logical_type?.type;
    const converted = e.converted_type;
    let type: ColumnType = 'string';
    if (child.children.length > 0) type = 'string';
    else if (
      logical === 'TIMESTAMP' ||
      logical === 'DATE' ||
      converted === 'DATE' ||
      converted === 'TIMESTAMP_MILLIS' ||
      converted === 'TIMESTAMP_MICROS' ||
      e.type === 'INT96'
    )
      type = 'datetime';
    else if (logical === 'STRING' || converted === 'UTF8' || logical === 'JSON' || logical === 'UUID') type = 'string';
    else if (e.type === 'BOOLEAN') type = 'boolean';
    else if (e.type === 'INT32' || e.type === 'INT64' || e.type === 'FLOAT' || e.type === 'DOUBLE' || logical === 'DECIMAL' || converted === 'DECIMAL')
      type = 'number';
    return { name: e.name, type };
  });
}

async function* readParquet(path: string, options: ReadOptions): AsyncGenerator<ColumnBatch> {
  const batchRows = Math.max(1, options.batchRows ?? Number.POSITIVE_INFINITY);
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  const pq = await openParquet(path);
  try {
    const all = parquetColumns(pq.metadata);
    const names = all.map((c) => c.name).filter((n) => !options.columns || options.columns.includes(n));
    let groupStart = 0;
    let total = 0;
    for (const group of pq.metadata.row_groups) {
      const groupRows = Number(group.num_rows);
      const groupEnd = groupStart + groupRows;
      for (let start = groupStart; start < groupEnd && total < maxRows; start += Math.min(batchRows, groupRows)) {
        options.signal?.throwIfAborted();
        const end = Math.min(groupEnd, start + batchRows, groupStart + (maxRows - total) + (start - groupStart));
        const columns: Record<string, CellValue[]> = {};
        try {
          await parquetRead({
            file: pq.file,
            metadata: pq.metadata,
            columns: names,
            rowStart: start,
            rowEnd: end,
            compressors: parquetCompressors,
            // Column chunks, not row objects: no per-row allocation. A chunk may cover more than [start, end).
            onChunk: (chunk) => {
              const out = (columns[chunk.columnName] ??= new Array<CellValue>(end - start).fill(null));
              const from = Math.max(start, chunk.rowStart);
              const to = Math.min(end, chunk.rowEnd);
              const data = chunk.columnData;
              for (let r = from; r < to; r++) out[r - start] = parquetCell(data[r - chunk.rowStart]);
            },
          });
        } catch (error) {
          const firstColumn = group.columns[0]?.meta_data;
          throw new DatasetReadError({
            code: 'CORRUPT',
            file: path,
            row: start,
            byteOffset: firstColumn ? Number(firstColumn.data_page_offset) : undefined,
            message: `${path}: cannot decode rows ${start}–${end - 1} of the Parquet file (${(error as Error).message})`,
            cause: error,
          });
        }
        for (const name of names) columns[name] ??= new Array<CellValue>(end - start).fill(null);
        total += end - start;
        yield { rowOffset: start, rows: end - start, columns };
      }
      groupStart = groupEnd;
      if (total >= maxRows) break;
    }
    if (total === 0 && maxRows > 0) throw new DatasetReadError({ code: 'NO_ROWS', file: path, row: 0, message: `${path} has a schema but no rows` });
  } finally {
    await pq.close();
  }
}

// Node's native zlib decoders where this Node has them (zstd since 22.15); the pure-JS ones otherwise.
const nativeZstd = (zlib as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
// Each pure-JS decoder is loaded on the first page that needs it, and only that one: hyparquet-compressors' index builds
// brotli/gzip tables and fzstd when loaded (~30 ms of every CLI start, issue 16; ~10 ms of a drift check of a Snappy
// file when Snappy loaded them all)
type Decode = (input: Uint8Array, outputLength: number) => Uint8Array;
const lazyCodec = (load: () => Decode): Decode => {
  let decode: Decode | undefined;
  return (input, outputLength) => (decode ??= load())(input, outputLength);
};
/* eslint-disable @typescript-eslint/no-require-imports -- synchronous, deferred loads (decompressors are called synchronously) */
const lz4 = (): { decompressLz4: Decode; decompressLz4Raw: Decode } => require('hyparquet-compressors/src/lz4.js');
const pureJsZstd = lazyCodec(() => {
  const { decompress } = require('fzstd') as { decompress(input: Uint8Array): Uint8Array };
  return (input) => decompress(input);
});
/* eslint-enable @typescript-eslint/no-require-imports */
/** Snappy by snappy.ts, the decoder the Parquet scanner uses too (one decoder for the format; tested against hysnappy). */
const snappy: Decode = (input, outputLength) => {
  const out = new Uint8Array(outputLength);
  snappyInto(input, out, outputLength);
  return out;
};
export const parquetCompressors: Compressors = {
  SNAPPY: snappy,
  LZ4: lazyCodec(() => lz4().decompressLz4),
  LZ4_RAW: lazyCodec(() => lz4().decompressLz4Raw),
  ZSTD: pureJsZstd,
  ...(nativeZstd ? { ZSTD: (input: Uint8Array) => new Uint8Array(nativeZstd(input)) } : {}),
  GZIP: (input: Uint8Array) => new Uint8Array(zlib.gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(zlib.brotliDecompressSync(input)),
};

// Timestamps repeat (minute or day resolution): one cached string saves most toISOString calls.
let lastTime = Number.NaN;
let lastIso = '';
function isoOf(d: Date): string | null {
  const t = d.getTime();
  if (t !== lastTime) {
    if (Number.isNaN(t)) return null;
    lastTime = t;
    lastIso = d.toISOString();
  }
  return lastIso;
}

function parquetCell(v: unknown): CellValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) return isoOf(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
}

// ---------------------------------------------------------------- helpers

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    throw toReadError(error, file);
  }
}
