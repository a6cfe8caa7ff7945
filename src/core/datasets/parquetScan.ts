import * as zlib from 'node:zlib';
import type { ColumnChunk, FileMetaData, SchemaElement } from 'hyparquet';
import type { CellValue } from './readers';
import { DatasetReadError, toReadError } from './readErrors';
import { openParquet, parquetCompressors } from './readers';

/**
 * A columnar Parquet scanner for flat files: hyparquet reads the footer, this module decodes each column
 * chunk page by page straight into typed arrays (numbers → Float64Array, text → its dictionary and an
 * Int32Array of indices), so a 3M-row file never becomes 3M JS cells. Row positions are not kept:
 * each piece carries its non-null values in row order and how many nulls it had, which is all that
 * profiles and drift samples need.
 *
 * Supported: top-level REQUIRED/OPTIONAL columns of BOOLEAN, INT32, INT64, FLOAT, DOUBLE, BYTE_ARRAY (text);
 * DATE and TIMESTAMP (ms/µs/ns), unsigned ints and INT32/INT64 decimals; PLAIN, PLAIN_DICTIONARY,
 * RLE_DICTIONARY and RLE (booleans) encodings; RLE definition levels; data pages v1 and v2; every codec
 * hyparquet-compressors / node:zlib decode. Anything else throws ParquetScanUnsupported before (or,
 * for a page the footer did not announce, while) reading, and callers fall back to the generic reader.
 * Values follow hyparquet's conversions exactly (so results equal the generic path's).
 */

/** Values of one page (or part of one) of one column. Arrays may be reused after the sink returns. */
export type ParquetPiece =
  /** Numbers in row order (non-finite values included: callers treat them as missing, like the generic reader). */
  | { readonly kind: 'number'; readonly values: Float64Array; readonly count: number; readonly nulls: number }
  /** Numbers as dictionary indices: values[i] = dictionary[indices[i]]. */
  | { readonly kind: 'number-dict'; readonly dictionary: Float64Array; readonly indices: Int32Array; readonly count: number; readonly nulls: number }
  /** Dates and time stamps as epoch milliseconds (NaN: outside Date's range, read as null). */
  | { readonly kind: 'time'; readonly values: Float64Array; readonly count: number; readonly nulls: number }
  | { readonly kind: 'text'; readonly values: readonly string[]; readonly count: number; readonly nulls: number }
  | { readonly kind: 'text-dict'; readonly dictionary: readonly string[]; readonly indices: Int32Array; readonly count: number; readonly nulls: number }
  /** 1 = true, 0 = false. */
  | { readonly kind: 'boolean'; readonly values: Uint8Array; readonly count: number; readonly nulls: number };

export interface ParquetScanSink {
  /** Before any piece: the scanned column names (a piece's `column` indexes them). */
  begin?(columns: readonly string[]): void;
  /** One piece of column `column` (an index into the scanned column names). */
  piece(column: number, piece: ParquetPiece): void;
  /** After all pieces of a row group. */
  rowGroup?(rows: number): void;
}

/** The file uses something the scanner does not decode; read it with the generic reader instead. */
export class ParquetScanUnsupported extends Error {
  override readonly name = 'ParquetScanUnsupported';
}

type ValueKind = 'number' | 'time' | 'text' | 'boolean';
type Physical = 'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY';

interface ColumnPlan {
  readonly name: string;
  /** Index of the column chunk in each row group. */
  readonly chunkIndex: number;
  readonly physical: Physical;
  readonly kind: ValueKind;
  readonly optional: boolean;
  /** number → number conversion (unsigned, decimal scale) or number → epoch ms. */
  readonly int: IntConversion;
}

type IntConversion = { readonly op: 'signed' } | { readonly op: 'unsigned' } | { readonly op: 'scale'; readonly factor: number } | { readonly op: 'ms'; readonly divisor: 1 | 1000 | 1_000_000 } | { readonly op: 'days' };

const SUPPORTED_ENCODINGS = new Set(['PLAIN', 'PLAIN_DICTIONARY', 'RLE_DICTIONARY', 'RLE', 'BIT_PACKED']);
const SUPPORTED_CODECS = new Set(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD', 'LZ4', 'LZ4_RAW']);

/** How each wanted column would be decoded, or why the file needs the generic reader. */
export function planParquetScan(metadata: FileMetaData, columns?: readonly string[]): { ok: true; columns: ColumnPlan[] } | { ok: false; reason: string } {
  const schema = metadata.schema;
  const root = schema[0];
  if (!root) return { ok: false, reason: 'no schema' };
  const plans: ColumnPlan[] = [];
  const wanted = columns && new Set(columns);
  // a flat schema: the root's children are all leaves, so the i-th leaf is the i-th column chunk
  let i = 1;
  let chunkIndex = 0;
  while (i < schema.length) {
    const e = schema[i]!;
    if (e.num_children) return { ok: false, reason: `column ${e.name} is nested` };
    i++;
    const index = chunkIndex++;
    if (wanted && !wanted.has(e.name)) continue;
    if (e.repetition_type === 'REPEATED') return { ok: false, reason: `column ${e.name} is repeated` };
    const plan = planColumn(e, index);
    if (typeof plan === 'string') return { ok: false, reason: `column ${e.name}: ${plan}` };
    plans.push(plan);
  }
  for (const group of metadata.row_groups) {
    if (group.columns.length !== chunkIndex) return { ok: false, reason: 'a row group does not match the schema' };
    for (const plan of plans) {
      const meta = group.columns[plan.chunkIndex]?.meta_data;
      if (!meta || group.columns[plan.chunkIndex]!.file_path) return { ok: false, reason: `column ${plan.name}: chunk in another file or without metadata` };
      if (!SUPPORTED_CODECS.has(meta.codec)) return { ok: false, reason: `column ${plan.name}: codec ${meta.codec}` };
      const bad = meta.encodings.find((x) => !SUPPORTED_ENCODINGS.has(x));
      if (bad) return { ok: false, reason: `column ${plan.name}: encoding ${bad}` };
    }
  }
  return { ok: true, columns: plans };
}

function planColumn(e: SchemaElement, chunkIndex: number): ColumnPlan | string {
  const ctype = e.converted_type;
  const ltype = e.logical_type;
  const optional = e.repetition_type !== 'REQUIRED';
  const base = { name: e.name, chunkIndex, optional };
  const type = e.type;
  // the same precedence as hyparquet's convert(), so values come out the same
  if (type === 'BOOLEAN') return ctype || ltype ? 'annotated boolean' : { ...base, physical: type, kind: 'boolean', int: { op: 'signed' } };
  if (type === 'FLOAT' || type === 'DOUBLE') return ltype ? `${ltype.type} float` : { ...base, physical: type, kind: 'number', int: { op: 'signed' } };
  if (type === 'BYTE_ARRAY') {
    if (ctype === 'DECIMAL' || ctype === 'JSON' || ctype === 'BSON' || ctype === 'INTERVAL') return `${ctype} bytes`;
    const lt = ltype?.type;
    if (lt === 'GEOMETRY' || lt === 'GEOGRAPHY' || lt === 'UUID' || lt === 'VARIANT' || lt === 'JSON' || lt === 'BSON' || lt === 'DECIMAL') return `${lt} bytes`;
    return { ...base, physical: type, kind: 'text', int: { op: 'signed' } };
  }
  if (type !== 'INT32' && type !== 'INT64') return `type ${type}`;
  if (ctype === 'DECIMAL') return { ...base, physical: type, kind: 'number', int: { op: 'scale', factor: 10 ** -(e.scale || 0) } };
  if (ctype === 'DATE') return { ...base, physical: type, kind: 'time', int: { op: 'days' } };
  if (ctype === 'TIMESTAMP_MILLIS') return { ...base, physical: type, kind: 'time', int: { op: 'ms', divisor: 1 } };
  if (ctype === 'TIMESTAMP_MICROS') return type === 'INT32' ? 'INT32 microseconds' : { ...base, physical: type, kind: 'time', int: { op: 'ms', divisor: 1000 } };
  if (ctype === 'JSON' || ctype === 'BSON' || ctype === 'INTERVAL') return `${ctype} integers`;
  const lt = ltype?.type;
  if (lt === 'GEOMETRY' || lt === 'GEOGRAPHY' || lt === 'UUID' || lt === 'FLOAT16') return `${lt} integers`;
  if (ctype === 'UINT_64' || ctype === 'UINT_32' || (ltype?.type === 'INTEGER' && !ltype.isSigned)) return { ...base, physical: type, kind: 'number', int: { op: 'unsigned' } };
  if (ltype?.type === 'TIMESTAMP') {
    const divisor = ltype.unit === 'MICROS' ? 1000 : ltype.unit === 'NANOS' ? 1_000_000 : 1;
    if (type === 'INT32' && divisor !== 1) return 'INT32 time stamps finer than milliseconds';
    return { ...base, physical: type, kind: 'time', int: { op: 'ms', divisor } };
  }
  return { ...base, physical: type, kind: 'number', int: { op: 'signed' } };
}

export interface ScanOptions {
  readonly columns?: readonly string[];
  readonly signal?: AbortSignal;
}

/**
 * Scans one Parquet file column chunk by column chunk (one chunk's bytes in memory at a time) into `sink`.
 * Returns the column names scanned (in file order: `sink.piece`'s index) and the row count.
 * Throws ParquetScanUnsupported (fall back) or DatasetReadError (the file is broken: file, row group, byte offset).
 */
export async function scanParquet(path: string, sink: ParquetScanSink, options: ScanOptions = {}): Promise<{ columns: string[]; rows: number }> {
  const pq = await openParquet(path);
  try {
    const plan = planParquetScan(pq.metadata, options.columns);
    if (!plan.ok) throw new ParquetScanUnsupported(`${path}: ${plan.reason}`);
    const scratch = new Scratch();
    const decoders = plan.columns.map((c) => new ColumnDecoder(path, c, scratch));
    sink.begin?.(plan.columns.map((c) => c.name));
    let rows = 0;
    let buffer = new Uint8Array(0); // one column chunk's bytes at a time, reused (no garbage per chunk)
    for (const group of pq.metadata.row_groups) {
      for (let c = 0; c < decoders.length; c++) {
        options.signal?.throwIfAborted();
        const decoder = decoders[c]!;
        const chunk = group.columns[decoder.plan.chunkIndex]!;
        const { start, end } = chunkRange(chunk);
        if (end > pq.file.byteLength) {
          throw new DatasetReadError({ code: 'TRUNCATED', file: path, byteOffset: pq.file.byteLength, message: `${path}: column ${decoder.plan.name} runs to byte ${end}, past the end of the file (${pq.file.byteLength} bytes)` });
        }
        if (buffer.length < end - start) buffer = new Uint8Array(Math.max(end - start, buffer.length * 2));
        const bytes = buffer.subarray(0, end - start);
        const read = await pq.readInto(bytes, bytes.length, start);
        if (read < bytes.length) throw new DatasetReadError({ code: 'TRUNCATED', file: path, byteOffset: start + read, message: `${path}: column ${decoder.plan.name} is cut short at byte ${start + read}` });
        decoder.chunk(bytes, start, Number(chunk.meta_data!.num_values), chunk.meta_data!.codec, rows, (piece) => sink.piece(c, piece));
      }
      rows += Number(group.num_rows);
      sink.rowGroup?.(Number(group.num_rows));
    }
    if (rows === 0) throw new DatasetReadError({ code: 'NO_ROWS', file: path, row: 0, message: `${path} has a schema but no rows` });
    return { columns: plan.columns.map((c) => c.name), rows };
  } catch (error) {
    if (error instanceof ParquetScanUnsupported) throw error;
    throw toReadError(error, path); // cancellation and I/O errors name the file, as the generic reader's do
  } finally {
    await pq.close();
  }
}

function chunkRange(chunk: ColumnChunk): { start: number; end: number } {
  const meta = chunk.meta_data!;
  const dictionary = meta.dictionary_page_offset === undefined ? undefined : Number(meta.dictionary_page_offset);
  const data = Number(meta.data_page_offset);
  // some writers leave the dictionary offset unset (or 0) with the dictionary page first all the same
  const start = dictionary !== undefined && dictionary > 0 && dictionary < data ? dictionary : data;
  return { start, end: start + Number(meta.total_compressed_size) };
}

// ---------------------------------------------------------------- pages

const PAGE_DATA = 0;
const PAGE_INDEX = 1;
const PAGE_DICTIONARY = 2;
const PAGE_DATA_V2 = 3;
const ENC_PLAIN = 0;
const ENC_PLAIN_DICTIONARY = 2;
const ENC_RLE = 3;
const ENC_RLE_DICTIONARY = 8;

class Corrupt extends Error {}

function checkSize(out: Uint8Array, size: number, codec: string): Uint8Array {
  if (out.length !== size) throw new Corrupt(`a ${codec} page decompressed to ${out.length} bytes, its header says ${size}`);
  return out;
}

const nativeZstd = (zlib as { zstdDecompressSync?: (b: Uint8Array, options?: { chunkSize?: number }) => Buffer }).zstdDecompressSync;

/** Decodes one column's chunks; keeps scratch arrays between pages and row groups. */
/** Arrays a scan reuses for every page of every column (pieces are consumed before the next page is decoded). */
class Scratch {
  numbers = new Float64Array(0);
  indices = new Int32Array(0);
  bytes = new Uint8Array(0);
}

class ColumnDecoder {
  private numberDictionary: Float64Array | undefined;
  private textDictionary: string[] | undefined;

  constructor(
    private readonly file: string,
    readonly plan: ColumnPlan,
    private readonly scratch: Scratch,
  ) {}

  chunk(bytes: Uint8Array, fileOffset: number, numValues: number, codec: string, firstRow: number, emit: (p: ParquetPiece) => void): void {
    this.numberDictionary = undefined;
    this.textDictionary = undefined;
    let pos = 0;
    let seen = 0;
    while (seen < numValues) {
      const pageAt = pos;
      try {
        if (pos >= bytes.length) throw new Corrupt(`the column chunk ends after ${seen} of its ${numValues} values`);
        const reader = new ThriftReader(bytes, pos);
        const header = readPageHeader(reader);
        pos = reader.pos;
        const end = pos + header.compressedSize;
        if (header.compressedSize < 0 || end > bytes.length) throw new Corrupt(`a page of ${header.compressedSize} bytes runs past the column chunk`);
        const body = bytes.subarray(pos, end);
        pos = end;
        if (header.type === PAGE_DICTIONARY) this.dictionaryPage(header, body, codec);
        else if (header.type === PAGE_DATA || header.type === PAGE_DATA_V2) seen += this.dataPage(header, body, codec, emit);
        else if (header.type !== PAGE_INDEX) throw new Corrupt(`unknown page type ${header.type}`);
      } catch (error) {
        if (error instanceof ParquetScanUnsupported) throw error;
        const reason = error instanceof Corrupt ? error.message : `${(error as Error).message}`;
        throw new DatasetReadError({
          code: 'CORRUPT',
          file: this.file,
          row: firstRow,
          byteOffset: fileOffset + pageAt,
          message: `${this.file}: column ${this.plan.name}, page at byte ${fileOffset + pageAt} (row group starting at row ${firstRow}) cannot be decoded: ${reason}`,
          cause: error,
        });
      }
    }
  }

  private decompress(body: Uint8Array, size: number, codec: string): Uint8Array {
    if (codec === 'UNCOMPRESSED') {
      if (body.length !== size) throw new Corrupt(`an uncompressed page of ${body.length} bytes says it holds ${size}`);
      return body;
    }
    if (size === 0) return new Uint8Array(0); // an empty dictionary or all-null values: nothing to inflate
    // native zstd into one buffer of the page's size, used as it is (the shared wrapper copies it for hyparquet's sake)
    if (codec === 'ZSTD' && nativeZstd) return checkSize(nativeZstd(body, { chunkSize: Math.max(64, size) }), size, codec);
    const decompressor = parquetCompressors[codec as keyof typeof parquetCompressors];
    if (!decompressor) throw new ParquetScanUnsupported(`codec ${codec}`);
    return checkSize(decompressor(body, size), size, codec);
  }

  private dictionaryPage(header: PageHeader, body: Uint8Array, codec: string): void {
    const dict = header.dictionary;
    if (!dict) throw new Corrupt('a dictionary page without its header');
    if (dict.encoding !== ENC_PLAIN && dict.encoding !== ENC_PLAIN_DICTIONARY) throw new ParquetScanUnsupported(`dictionary encoding ${dict.encoding}`);
    const page = this.decompress(body, header.uncompressedSize, codec);
    const n = dict.numValues;
    if (this.plan.kind === 'text') this.textDictionary = readPlainText(page, 0, page.length, n, []);
    else if (this.plan.kind === 'boolean') throw new ParquetScanUnsupported('a dictionary of booleans');
    else {
      const out = new Float64Array(n);
      readPlainNumbers(page, 0, this.plan, n, out);
      this.numberDictionary = out;
    }
  }

  /** Decodes one data page; returns its value count (nulls included). */
  private dataPage(header: PageHeader, body: Uint8Array, codec: string, emit: (p: ParquetPiece) => void): number {
    let page: Uint8Array;
    let pos: number;
    let end: number;
    let numValues: number;
    let nonNull: number;
    let encoding: number;
    if (header.type === PAGE_DATA) {
      const h = header.data;
      if (!h) throw new Corrupt('a data page without its header');
      numValues = h.numValues;
      encoding = h.encoding;
      page = this.decompress(body, header.uncompressedSize, codec);
      pos = 0;
      end = page.length;
      nonNull = numValues;
      if (this.plan.optional) {
        if (h.definitionLevelEncoding !== ENC_RLE) throw new ParquetScanUnsupported(`definition levels encoded ${h.definitionLevelEncoding}`);
        if (pos + 4 > end) throw new Corrupt('the definition levels are cut short');
        const length = readU32(page, pos);
        pos += 4;
        if (pos + length > end) throw new Corrupt('the definition levels run past the page');
        nonNull = this.countDefined(page, pos, pos + length, numValues);
        pos += length;
      }
    } else {
      const h = header.dataV2;
      if (!h) throw new Corrupt('a data page v2 without its header');
      numValues = h.numValues;
      encoding = h.encoding;
      const levels = h.repetitionLevelsLength + h.definitionLevelsLength;
      if (levels > body.length || h.repetitionLevelsLength < 0 || h.definitionLevelsLength < 0) throw new Corrupt('the levels run past the page');
      if (this.plan.optional && h.definitionLevelsLength > 0) {
        nonNull = this.countDefined(body, h.repetitionLevelsLength, levels, numValues);
      } else {
        nonNull = numValues - h.numNulls;
      }
      if (nonNull < 0 || nonNull > numValues) throw new Corrupt(`${h.numNulls} nulls among ${numValues} values`);
      const values = body.subarray(levels);
      page = h.isCompressed ? this.decompress(values, header.uncompressedSize - levels, codec) : values;
      pos = 0;
      end = page.length;
    }
    const nulls = numValues - nonNull;
    if (nonNull === 0) {
      if (nulls > 0) this.emitNulls(nulls, emit);
      return numValues;
    }
    if (encoding === ENC_PLAIN) this.plainValues(page, pos, end, nonNull, nulls, emit);
    else if (encoding === ENC_RLE_DICTIONARY || encoding === ENC_PLAIN_DICTIONARY) this.dictionaryValues(page, pos, end, nonNull, nulls, emit);
    else if (encoding === ENC_RLE && this.plan.kind === 'boolean') {
      if (pos + 4 > end) throw new Corrupt('the boolean run lengths are cut short');
      const length = readU32(page, pos);
      const indices = this.indices(nonNull);
      readHybrid(page, pos + 4, Math.min(end, pos + 4 + length), 1, nonNull, indices);
      const values = this.bytes(nonNull);
      for (let i = 0; i < nonNull; i++) values[i] = indices[i]!;
      emit({ kind: 'boolean', values, count: nonNull, nulls });
    } else throw new ParquetScanUnsupported(`data encoding ${encoding}`);
    return numValues;
  }

  private emitNulls(nulls: number, emit: (p: ParquetPiece) => void): void {
    const kind = this.plan.kind;
    if (kind === 'text') emit({ kind: 'text', values: [], count: 0, nulls });
    else if (kind === 'boolean') emit({ kind: 'boolean', values: new Uint8Array(0), count: 0, nulls });
    else emit({ kind, values: new Float64Array(0), count: 0, nulls });
  }

  /** Definition levels (max level 1) → how many are 1. */
  private countDefined(bytes: Uint8Array, pos: number, end: number, numValues: number): number {
    const levels = this.indices(numValues);
    const max = readHybrid(bytes, pos, end, 1, numValues, levels);
    if (max > 1) throw new Corrupt(`definition level ${max} in a flat column`);
    let n = 0;
    for (let i = 0; i < numValues; i++) n += levels[i]!;
    return n;
  }

  private plainValues(page: Uint8Array, pos: number, end: number, count: number, nulls: number, emit: (p: ParquetPiece) => void): void {
    const plan = this.plan;
    if (plan.kind === 'text') {
      emit({ kind: 'text', values: readPlainText(page, pos, end, count, []), count, nulls });
    } else if (plan.kind === 'boolean') {
      if (pos + Math.ceil(count / 8) > end) throw new Corrupt(`${count} booleans run past the page`);
      const values = this.bytes(count);
      for (let i = 0; i < count; i++) values[i] = (page[pos + (i >> 3)]! >> (i & 7)) & 1;
      emit({ kind: 'boolean', values, count, nulls });
    } else {
      const width = plan.physical === 'INT64' || plan.physical === 'DOUBLE' ? 8 : 4;
      if (pos + count * width > end) throw new Corrupt(`${count} values of ${width} bytes run past the page`);
      const values = this.numbers(count);
      readPlainNumbers(page, pos, plan, count, values);
      emit({ kind: plan.kind, values, count, nulls });
    }
  }

  private dictionaryValues(page: Uint8Array, pos: number, end: number, count: number, nulls: number, emit: (p: ParquetPiece) => void): void {
    const size = this.plan.kind === 'text' ? this.textDictionary?.length : this.numberDictionary?.length;
    if (size === undefined) throw new Corrupt('dictionary-encoded values without a dictionary page');
    if (pos >= end) throw new Corrupt('no bit width for the dictionary indices');
    const width = page[pos]!;
    if (width > 32) throw new Corrupt(`dictionary indices of ${width} bits`);
    const indices = this.indices(count);
    const max = readHybrid(page, pos + 1, end, width, count, indices);
    if (max >= size) throw new Corrupt(`dictionary index ${max} in a dictionary of ${size}`);
    if (this.plan.kind === 'text') emit({ kind: 'text-dict', dictionary: this.textDictionary!, indices, count, nulls });
    else if (this.plan.kind === 'number') emit({ kind: 'number-dict', dictionary: this.numberDictionary!, indices, count, nulls });
    else {
      const dictionary = this.numberDictionary!;
      const values = this.numbers(count);
      for (let i = 0; i < count; i++) values[i] = dictionary[indices[i]!]!;
      emit({ kind: 'time', values, count, nulls });
    }
  }

  // scratch arrays: views of the right length over buffers that only grow
  private numbers(n: number): Float64Array {
    const s = this.scratch;
    if (s.numbers.length < n) s.numbers = new Float64Array(Math.max(n, s.numbers.length * 2));
    return s.numbers.subarray(0, n);
  }
  private indices(n: number): Int32Array {
    const s = this.scratch;
    if (s.indices.length < n) s.indices = new Int32Array(Math.max(n, s.indices.length * 2));
    return s.indices.subarray(0, n);
  }
  private bytes(n: number): Uint8Array {
    const s = this.scratch;
    if (s.bytes.length < n) s.bytes = new Uint8Array(Math.max(n, s.bytes.length * 2));
    return s.bytes.subarray(0, n);
  }
}

// ---------------------------------------------------------------- value decoding

function readU32(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
}

const TWO_32 = 4294967296;
const MAX_DATE_MS = 8.64e15;

/** PLAIN numbers (INT32/INT64/FLOAT/DOUBLE) converted as hyparquet converts them (numbers, or epoch ms for times). */
function readPlainNumbers(page: Uint8Array, pos: number, plan: ColumnPlan, count: number, out: Float64Array): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const physical = plan.physical;
  const need = count * (physical === 'INT64' || physical === 'DOUBLE' ? 8 : 4);
  if (pos + need > page.length) throw new Corrupt(`${count} values run past the page`);
  if (physical === 'DOUBLE') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(pos + 8 * i, true);
    return;
  }
  if (physical === 'FLOAT') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(pos + 4 * i, true);
    return;
  }
  const conv = plan.int;
  if (physical === 'INT32') {
    if (conv.op === 'unsigned') for (let i = 0; i < count; i++) out[i] = view.getUint32(pos + 4 * i, true);
    else if (conv.op === 'scale') for (let i = 0; i < count; i++) out[i] = view.getInt32(pos + 4 * i, true) * conv.factor;
    else if (conv.op === 'days') for (let i = 0; i < count; i++) out[i] = validMs(view.getInt32(pos + 4 * i, true) * 86400000);
    else if (conv.op === 'ms') for (let i = 0; i < count; i++) out[i] = validMs(view.getInt32(pos + 4 * i, true) / conv.divisor); // INT32 time stamps: not written in practice
    else for (let i = 0; i < count; i++) out[i] = view.getInt32(pos + 4 * i, true);
    return;
  }
  // INT64: hi·2³² + lo is Number(bigint) exactly (one rounding of the exact sum)
  if (conv.op === 'unsigned') {
    for (let i = 0; i < count; i++) out[i] = view.getUint32(pos + 8 * i + 4, true) * TWO_32 + view.getUint32(pos + 8 * i, true);
  } else if (conv.op === 'scale') {
    for (let i = 0; i < count; i++) out[i] = (view.getInt32(pos + 8 * i + 4, true) * TWO_32 + view.getUint32(pos + 8 * i, true)) * conv.factor;
  } else if (conv.op === 'ms') {
    const divisor = conv.divisor;
    for (let i = 0; i < count; i++) {
      const hi = view.getInt32(pos + 8 * i + 4, true);
      const lo = view.getUint32(pos + 8 * i, true);
      out[i] = validMs(divisor === 1 ? hi * TWO_32 + lo : truncDiv(hi, lo, divisor, view, pos + 8 * i));
    }
  } else {
    for (let i = 0; i < count; i++) out[i] = view.getInt32(pos + 8 * i + 4, true) * TWO_32 + view.getUint32(pos + 8 * i, true);
  }
}

/** int64 / divisor truncated toward zero, as BigInt division does (exact below 2^52, BigInt above). */
function truncDiv(hi: number, lo: number, divisor: number, view: DataView, at: number): number {
  if (hi >= -0x100000 && hi < 0x100000) {
    const v = hi * TWO_32 + lo; // exact: |v| < 2^52
    const r = v % divisor;
    return (v - r) / divisor;
  }
  return Number(view.getBigInt64(at, true) / BigInt(divisor));
}

function validMs(ms: number): number {
  return ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS ? ms : Number.NaN;
}

const utf8 = new TextDecoder();

/** PLAIN BYTE_ARRAY values as text (UTF-8 with replacement, as hyparquet decodes them). */
function readPlainText(page: Uint8Array, pos: number, end: number, count: number, out: string[]): string[] {
  const buffer = Buffer.from(page.buffer, page.byteOffset, page.byteLength);
  for (let i = 0; i < count; i++) {
    if (pos + 4 > end) throw new Corrupt(`text value ${i} of ${count} is cut short`);
    const length = readU32(page, pos);
    pos += 4;
    const stop = pos + length;
    if (stop > end) throw new Corrupt(`text value ${i} of ${count} (${length} bytes) runs past the page`);
    let ascii = true;
    for (let j = pos; j < stop; j++) {
      if (page[j]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    out.push(ascii ? buffer.toString('latin1', pos, stop) : utf8.decode(page.subarray(pos, stop)));
    pos = stop;
  }
  return out;
}

/**
 * RLE / bit-packed hybrid values of `width` bits into out[0..count); returns the largest value.
 * Bit-packed runs come in groups of 8; a last group may be only partly used.
 */
function readHybrid(bytes: Uint8Array, pos: number, end: number, width: number, count: number, out: Int32Array): number {
  let n = 0;
  let max = 0;
  const valueBytes = (width + 7) >> 3;
  while (n < count) {
    if (pos >= end) throw new Corrupt(`run-length data ends after ${n} of ${count} values`);
    // varint run header
    let header = 0;
    let shift = 0;
    let b: number;
    do {
      if (pos >= end) throw new Corrupt('a run header is cut short');
      b = bytes[pos++]!;
      header += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80 && shift < 35);
    if (header % 2 === 1) {
      const values = Math.floor(header / 2) * 8;
      const take = Math.min(values, count - n);
      const runBytes = (values * width) / 8;
      if (pos + Math.ceil((take * width) / 8) > end) throw new Corrupt('a bit-packed run is cut short');
      const m = unpack(bytes, pos, width, take, out, n);
      if (m > max) max = m;
      pos += Math.min(runBytes, end - pos);
      n += take;
    } else {
      const run = Math.floor(header / 2);
      if (pos + valueBytes > end) throw new Corrupt('a repeated run is cut short');
      let v = 0;
      for (let k = 0; k < valueBytes; k++) v += bytes[pos + k]! * 2 ** (8 * k);
      pos += valueBytes;
      const take = Math.min(run, count - n);
      if (take > 0 && v > max) max = v;
      out.fill(v | 0, n, n + take);
      n += take;
    }
  }
  return max;
}

/** `take` values of `width` bits, least significant bit first, from bytes[pos]; returns the largest. */
function unpack(bytes: Uint8Array, pos: number, width: number, take: number, out: Int32Array, at: number): number {
  if (width === 0) {
    out.fill(0, at, at + take);
    return 0;
  }
  let max = 0;
  if (width <= 24) {
    const mask = (1 << width) - 1;
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < take; i++) {
      while (bits < width) {
        acc |= bytes[pos++]! << bits;
        bits += 8;
      }
      const v = acc & mask;
      acc >>>= width;
      bits -= width;
      out[at + i] = v;
      if (v > max) max = v;
    }
    return max;
  }
  for (let i = 0; i < take; i++) {
    let v = 0;
    const first = i * width;
    for (let bit = 0; bit < width; bit++) {
      const p = first + bit;
      if ((bytes[pos + (p >> 3)]! >> (p & 7)) & 1) v += 2 ** bit;
    }
    out[at + i] = v | 0;
    if (v > max) max = v;
  }
  return max;
}

// ---------------------------------------------------------------- page headers (Thrift compact protocol)

interface PageHeader {
  type: number;
  uncompressedSize: number;
  compressedSize: number;
  data?: { numValues: number; encoding: number; definitionLevelEncoding: number };
  dictionary?: { numValues: number; encoding: number };
  dataV2?: { numValues: number; numNulls: number; encoding: number; definitionLevelsLength: number; repetitionLevelsLength: number; isCompressed: boolean };
}

function readPageHeader(r: ThriftReader): PageHeader {
  const h: PageHeader = { type: -1, uncompressedSize: -1, compressedSize: -1 };
  r.struct((id, type) => {
    if (id === 1 && type === T_I32) h.type = r.zigzag();
    else if (id === 2 && type === T_I32) h.uncompressedSize = r.zigzag();
    else if (id === 3 && type === T_I32) h.compressedSize = r.zigzag();
    else if (id === 5 && type === T_STRUCT) {
      const d = { numValues: 0, encoding: 0, definitionLevelEncoding: ENC_RLE };
      r.struct((fid, ftype) => {
        if (fid === 1 && ftype === T_I32) d.numValues = r.zigzag();
        else if (fid === 2 && ftype === T_I32) d.encoding = r.zigzag();
        else if (fid === 3 && ftype === T_I32) d.definitionLevelEncoding = r.zigzag();
        else r.skip(ftype);
      });
      h.data = d;
    } else if (id === 7 && type === T_STRUCT) {
      const d = { numValues: 0, encoding: 0 };
      r.struct((fid, ftype) => {
        if (fid === 1 && ftype === T_I32) d.numValues = r.zigzag();
        else if (fid === 2 && ftype === T_I32) d.encoding = r.zigzag();
        else r.skip(ftype);
      });
      h.dictionary = d;
    } else if (id === 8 && type === T_STRUCT) {
      const d = { numValues: 0, numNulls: 0, encoding: 0, definitionLevelsLength: 0, repetitionLevelsLength: 0, isCompressed: true };
      r.struct((fid, ftype) => {
        if (fid === 1 && ftype === T_I32) d.numValues = r.zigzag();
        else if (fid === 2 && ftype === T_I32) d.numNulls = r.zigzag();
        else if (fid === 4 && ftype === T_I32) d.encoding = r.zigzag();
        else if (fid === 5 && ftype === T_I32) d.definitionLevelsLength = r.zigzag();
        else if (fid === 6 && ftype === T_I32) d.repetitionLevelsLength = r.zigzag();
        else if (fid === 7 && (ftype === T_TRUE || ftype === T_FALSE)) d.isCompressed = ftype === T_TRUE;
        else r.skip(ftype);
      });
      h.dataV2 = d;
    } else r.skip(type);
  });
  if (h.type < 0 || h.compressedSize < 0 || h.uncompressedSize < 0) throw new Corrupt('a page header without its type or sizes');
  return h;
}

const T_TRUE = 1;
const T_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
const T_I64 = 6;
const T_DOUBLE = 7;
const T_BINARY = 8;
const T_LIST = 9;
const T_SET = 10;
const T_MAP = 11;
const T_STRUCT = 12;

/** Just enough of Thrift's compact protocol to read page headers (unknown fields are skipped). */
class ThriftReader {
  private depth = 0;
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.bytes.length) throw new Corrupt('a page header runs past the column chunk');
    return this.bytes[this.pos++]!;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
      if (shift > 63) throw new Corrupt('a malformed number in a page header');
    }
  }

  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  struct(field: (id: number, type: number) => void): void {
    if (++this.depth > 16) throw new Corrupt('page header nested too deeply');
    let id = 0;
    for (;;) {
      const b = this.byte();
      const type = b & 0x0f;
      if (type === 0) break;
      const delta = b >> 4;
      id = delta === 0 ? this.zigzag() : id + delta;
      field(id, type);
    }
    this.depth--;
  }

  skip(type: number): void {
    switch (type) {
      case T_TRUE:
      case T_FALSE:
        return;
      case T_BYTE:
        this.pos++;
        return;
      case T_I16:
      case T_I32:
      case T_I64:
        this.varint();
        return;
      case T_DOUBLE:
        this.pos += 8;
        return;
      case T_BINARY:
        const length = this.varint(); // before reading pos: varint() moves it
        this.pos += length;
        if (this.pos > this.bytes.length) throw new Corrupt('a page header runs past the column chunk');
        return;
      case T_LIST:
      case T_SET: {
        const b = this.byte();
        const size = b >> 4 === 15 ? this.varint() : b >> 4;
        const elem = b & 0x0f;
        for (let i = 0; i < size; i++) {
          if (elem === T_TRUE || elem === T_FALSE) this.pos++;
          else this.skip(elem);
        }
        return;
      }
      case T_MAP: {
        const size = this.varint();
        if (size === 0) return;
        const kinds = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(kinds >> 4);
          this.skip(kinds & 0x0f);
        }
        return;
      }
      case T_STRUCT:
        this.struct((_id, t) => this.skip(t));
        return;
      default:
        throw new Corrupt(`unknown field type ${type} in a page header`);
    }
  }
}

// ---------------------------------------------------------------- helpers for consumers

let tallyCounts = new Int32Array(0);
let tallyOrder = new Int32Array(0);

/**
 * Calls `each(index, count)` once per distinct index in indices[0..count), in order of first appearance
 * (so a consumer that caps its distinct values keeps the same ones a value-by-value pass would).
 */
export function forEachDistinct(indices: Int32Array, count: number, dictionarySize: number, each: (index: number, count: number) => void): void {
  if (tallyCounts.length < dictionarySize) tallyCounts = new Int32Array(Math.max(dictionarySize, tallyCounts.length * 2));
  if (tallyOrder.length < dictionarySize) tallyOrder = new Int32Array(tallyCounts.length);
  const counts = tallyCounts;
  const order = tallyOrder;
  let distinct = 0;
  for (let i = 0; i < count; i++) {
    const k = indices[i]!;
    if (counts[k]!++ === 0) order[distinct++] = k;
  }
  for (let d = 0; d < distinct; d++) {
    const k = order[d]!;
    const n = counts[k]!;
    counts[k] = 0;
    each(k, n);
  }
}

/** Calls `each(value, count)` for false/true in order of first appearance. */
export function forEachBoolean(values: Uint8Array, count: number, each: (value: boolean, count: number) => void): void {
  let trues = 0;
  for (let i = 0; i < count; i++) trues += values[i]!;
  if (count === 0) return;
  const first = values[0] === 1;
  each(first, first ? trues : count - trues);
  const other = first ? count - trues : trues;
  if (other > 0) each(!first, other);
}

/** The cells the generic reader would give for a piece's non-null values (the slow, exact way). */
export function parquetPieceCells(p: ParquetPiece): CellValue[] {
  const n = p.count;
  const finite = (v: number): CellValue => (Number.isFinite(v) ? v : null);
  switch (p.kind) {
    case 'number':
      return Array.from(p.values.subarray(0, n), finite);
    case 'number-dict':
      return Array.from(p.indices.subarray(0, n), (i) => finite(p.dictionary[i]!));
    case 'time':
      return Array.from(p.values.subarray(0, n), (ms) => (Number.isNaN(ms) ? null : new Date(ms).toISOString()));
    case 'text':
      return p.values.slice(0, n);
    case 'text-dict':
      return Array.from(p.indices.subarray(0, n), (i) => p.dictionary[i]!);
    case 'boolean':
      return Array.from(p.values.subarray(0, n), (b) => b === 1);
  }
}
