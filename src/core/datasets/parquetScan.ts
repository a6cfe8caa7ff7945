import { isAscii } from 'node:buffer';
import * as zlib from 'node:zlib';
import type { CompressionCodec, Compressors, DataReader, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { convert, DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { decompressPage } from 'hyparquet/src/datapage.js';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { readPlain } from 'hyparquet/src/plain.js';
import { getSchemaPath } from 'hyparquet/src/schema.js';
import type { CellValue } from './readers';
import { DatasetReadError, toReadError } from './readErrors';
import { HybridCounter } from './hybridKernel';
import { countHybridOnes, decodeHybrid, HybridDecodeError, MAX_FAST_WIDTH } from './rleHybrid';
import { openParquet, parquetCompressors } from './readers';
import { readParquetFooter, type FooterColumnChunk, type ParquetFooter } from './parquetFooter';
import { SnappyError, snappyInto } from './snappy';
import { ZstdPages } from './zstdPages';

type PageHeader = ReturnType<typeof parquetHeader>;
type DecodedArray = ReturnType<typeof readPlain>;
type HyColumnDecoder = Parameters<typeof convert>[1];

/**
 * A columnar Parquet scanner for flat files: hyparquet reads the footer and decodes every page (its own
 * page-header, decompression, level, PLAIN and dictionary decoders, called page by page), and this module
 * copies each page's values into typed arrays (numbers → Float64Array, text → its dictionary and an
 * Int32Array of indices), so a 3M-row file never becomes 3M JS cells. Row positions are not kept:
 * each piece carries its non-null values in row order and how many nulls it had, which is all that
 * profiles and drift samples need. The one byte-level decoder here is the RLE / bit-packed hybrid
 * (rleHybrid.ts: dictionary indices and definition levels, ~5× faster than hyparquet's; issue 16).
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

/**
 * A dictionary-encoded page of numbers or text as counts: dictionary[order[d]] occurs counts[order[d]] times, for
 * d < distinct, in order of first appearance in the page (what forEachDistinct gives for the same page's indices).
 * The arrays are reused after the sink returns; the sink may change counts[] (the scanner zeroes it afterwards).
 */
export type ParquetDictionaryCounts =
  | {
      readonly kind: 'number-dict';
      readonly dictionary: Float64Array;
      readonly order: Int32Array;
      readonly counts: Int32Array;
      readonly distinct: number;
      readonly nulls: number;
      /** With numbersInOrder: the indices at the positions numberPositions() asked for, in its order. */
      readonly picked?: Int32Array;
    }
  | {
      readonly kind: 'text-dict';
      readonly dictionary: readonly string[];
      readonly order: Int32Array;
      readonly counts: Int32Array;
      readonly distinct: number;
      readonly nulls: number;
    };

/** A dictionary-encoded page of dates or time stamps, as what a consumer of their extremes needs. */
export interface ParquetTimeCounts {
  readonly kind: 'time-dict';
  /** The earliest and latest valid time stamp in the page, as epoch milliseconds (NaN when none is valid). */
  readonly min: number;
  readonly max: number;
  /** Values whose Date would be invalid (outside its range: read as null, as the generic reader reads them). */
  readonly invalid: number;
  readonly nulls: number;
}

export interface ParquetScanSink {
  /** Before any piece: the scanned column names (a piece's `column` indexes them). */
  begin?(columns: readonly string[]): void;
  /** One piece of column `column` (an index into the scanned column names). */
  piece(column: number, piece: ParquetPiece): void;
  /**
   * When present, dictionary-encoded pages of numbers and text come here as counts per value instead of through
   * piece() as indices: the indices are counted while they are decoded, never written out (a consumer that needs only
   * how often each value occurs: drift; issue 16). Other pages still come through piece().
   */
  dictionaryCounts?(column: number, counts: ParquetDictionaryCounts): void;
  /**
   * With dictionaryCounts: dictionary-encoded numbers still come through piece() as indices (a consumer whose
   * statistics depend on the order of values, such as the profile's running moments and reservoir); text is counted.
   */
  readonly numbersInOrder?: boolean;
  /**
   * With numbersInOrder: asked before a dictionary-encoded page of `count` numbers is decoded. A consumer that needs
   * only counts and the values at a few positions (the profile's reservoir, once its exact sums make the moments
   * independent of the order) returns those positions, ascending, each < count; the page then comes to
   * dictionaryCounts with the indices at them in `picked`. Undefined: the page comes through piece() as indices.
   */
  numberPositions?(column: number, dictionary: Float64Array, count: number): { readonly positions: Int32Array; readonly count: number } | undefined;
  /**
   * When present, dictionary-encoded dates and time stamps come here as their extremes and invalid count instead of
   * through piece() (a consumer that needs only their extremes: the profile).
   */
  timeCounts?(column: number, counts: ParquetTimeCounts): void;
  /**
   * After begin, before any piece: a column of integers (INT32/INT64 numbers: every value finite) whose chunks all carry
   * a null count in the footer's statistics holds `count` non-null values (a consumer that samples positions up front:
   * the profile). The scan then checks each chunk against its statistics and throws ParquetScanUnsupported on a mismatch.
   */
  numberCount?(column: number, count: number): void;
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

type IntConversion =
  | { readonly op: 'signed' }
  | { readonly op: 'unsigned' }
  | { readonly op: 'scale'; readonly factor: number }
  | { readonly op: 'ms'; readonly divisor: 1 | 1000 | 1_000_000 }
  | { readonly op: 'days' };

const SUPPORTED_ENCODINGS = new Set(['PLAIN', 'PLAIN_DICTIONARY', 'RLE_DICTIONARY', 'RLE', 'BIT_PACKED']);
const SUPPORTED_CODECS = new Set(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD', 'LZ4', 'LZ4_RAW']);

/** How each wanted column would be decoded, or why the file needs the generic reader. */
export function planParquetScan(metadata: ParquetFooter, columns?: readonly string[]): { ok: true; columns: ColumnPlan[] } | { ok: false; reason: string } {
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
    if (lt === 'GEOMETRY' || lt === 'GEOGRAPHY' || lt === 'UUID' || lt === 'VARIANT' || lt === 'JSON' || lt === 'BSON' || lt === 'DECIMAL')
      return `${lt} bytes`;
    return { ...base, physical: type, kind: 'text', int: { op: 'signed' } };
  }
  if (type !== 'INT32' && type !== 'INT64') return `type ${type}`;
  if (ctype === 'DECIMAL') return { ...base, physical: type, kind: 'number', int: { op: 'scale', factor: 10 ** -(e.scale || 0) } };
  if (ctype === 'DATE') return { ...base, physical: type, kind: 'time', int: { op: 'days' } };
  if (ctype === 'TIMESTAMP_MILLIS') return { ...base, physical: type, kind: 'time', int: { op: 'ms', divisor: 1 } };
  if (ctype === 'TIMESTAMP_MICROS')
    return type === 'INT32' ? 'INT32 microseconds' : { ...base, physical: type, kind: 'time', int: { op: 'ms', divisor: 1000 } };
  if (ctype === 'JSON' || ctype === 'BSON' || ctype === 'INTERVAL') return `${ctype} integers`;
  const lt = ltype?.type;
  if (lt === 'GEOMETRY' || lt === 'GEOGRAPHY' || lt === 'UUID' || lt === 'FLOAT16') return `${lt} integers`;
  if (ctype === 'UINT_64' || ctype === 'UINT_32' || (ltype?.type === 'INTEGER' && !ltype.isSigned))
    return { ...base, physical: type, kind: 'number', int: { op: 'unsigned' } };
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
  const pq = await openParquet(path, readParquetFooter);
  const scratch = new Scratch();
  try {
    const plan = planParquetScan(pq.metadata, options.columns);
    if (!plan.ok) throw new ParquetScanUnsupported(`${path}: ${plan.reason}`);
    const decoders = plan.columns.map((c) => new ChunkDecoder(path, c, scratch, pq.metadata.schema));
    // each column's callbacks made once: a new closure a chunk is a new call target for the decoder's optimised code
    const sinks = decoders.map((d, c) => ({
      piece: (piece: ParquetPiece) => sink.piece(c, piece),
      counts: countsSink(sink, c, d.plan.kind),
      positions: positionsSink(sink, c, d.plan.kind),
    }));
    sink.begin?.(plan.columns.map((c) => c.name));
    const announced = sink.numberCount ? announcedCounts(pq.metadata, plan.columns) : [];
    announced.forEach((chunks, c) => {
      if (chunks)
        sink.numberCount!(
          c,
          chunks.reduce((a, b) => a + b, 0),
        );
    });
    let groupIndex = 0;
    let rows = 0;
    let buffer = new Uint8Array(0); // one column chunk's bytes at a time, reused (no garbage per chunk)
    for (const group of pq.metadata.row_groups) {
      for (let c = 0; c < decoders.length; c++) {
        options.signal?.throwIfAborted();
        const decoder = decoders[c]!;
        const chunk = group.columns[decoder.plan.chunkIndex]!;
        const { start, end } = chunkRange(chunk);
        if (end > pq.file.byteLength) {
          throw new DatasetReadError({
            code: 'TRUNCATED',
            file: path,
            byteOffset: pq.file.byteLength,
            message: `${path}: column ${decoder.plan.name} runs to byte ${end}, past the end of the file (${pq.file.byteLength} bytes)`,
          });
        }
        if (buffer.length < end - start) buffer = new Uint8Array(Math.max(end - start, buffer.length * 2));
        const bytes = buffer.subarray(0, end - start);
        const read = pq.readIntoSync(bytes, bytes.length, start);
        if (read < bytes.length)
          throw new DatasetReadError({
            code: 'TRUNCATED',
            file: path,
            byteOffset: start + read,
            message: `${path}: column ${decoder.plan.name} is cut short at byte ${start + read}`,
          });
        const defined = decoder.chunk(
          bytes,
          start,
          Number(chunk.meta_data!.num_values),
          chunk.meta_data!.codec,
          rows,
          sinks[c]!.piece,
          sinks[c]!.counts,
          sinks[c]!.positions,
        );
        const expected = announced[c]?.[groupIndex];
        if (expected !== undefined && defined !== expected)
          throw new ParquetScanUnsupported(
            `${path}: column ${decoder.plan.name} holds ${defined} values in row group ${groupIndex}, where the footer's statistics say ${expected}`,
          );
      }
      rows += Number(group.num_rows);
      groupIndex++;
      sink.rowGroup?.(Number(group.num_rows));
    }
    if (rows === 0) throw new DatasetReadError({ code: 'NO_ROWS', file: path, row: 0, message: `${path} has a schema but no rows` });
    return { columns: plan.columns.map((c) => c.name), rows };
  } catch (error) {
    if (error instanceof ParquetScanUnsupported) throw error;
    throw toReadError(error, path); // cancellation and I/O errors name the file, as the generic reader's do
  } finally {
    scratch.zstd.close();
    await pq.close();
  }
}

/**
 * The non-null counts ParquetScanSink.numberCount announces for a file, by column name (integer columns whose chunks all
 * carry a null count). A consumer that reads the file another way can announce the same to its own sampling.
 */
export function footerNumberCounts(metadata: ParquetFooter): Map<string, number> {
  const plan = planParquetScan(metadata);
  const out = new Map<string, number>();
  if (!plan.ok) return out;
  announcedCounts(metadata, plan.columns).forEach((chunks, c) => {
    if (chunks)
      out.set(
        plan.columns[c]!.name,
        chunks.reduce((x, y) => x + y, 0),
      );
  });
  return out;
}

/** Per column, its chunks' non-null counts from the footer's statistics, where ParquetScanSink.numberCount applies. */
function announcedCounts(metadata: ParquetFooter, columns: readonly ColumnPlan[]): (number[] | undefined)[] {
  return columns.map((plan) => {
    if (plan.kind !== 'number' || (plan.physical !== 'INT32' && plan.physical !== 'INT64')) return undefined;
    const counts: number[] = [];
    for (const group of metadata.row_groups) {
      const meta = group.columns[plan.chunkIndex]!.meta_data!;
      const nulls = meta.statistics?.null_count;
      if (nulls === undefined || nulls === null) return undefined;
      const n = Number(meta.num_values) - Number(nulls);
      if (!(n >= 0)) return undefined;
      counts.push(n);
    }
    return counts;
  });
}

/** A number column's numberPositions and dictionaryCounts (see ParquetScanSink). */
interface PositionsSink {
  ask(dictionary: Float64Array, count: number): { readonly positions: Int32Array; readonly count: number } | undefined;
  emit(counts: ParquetDictionaryCounts): void;
}

function positionsSink(sink: ParquetScanSink, c: number, kind: ValueKind): PositionsSink | undefined {
  if (kind !== 'number' || !sink.numbersInOrder || !sink.numberPositions || !sink.dictionaryCounts) return undefined;
  return { ask: (dictionary, count) => sink.numberPositions!(c, dictionary, count), emit: (counts) => sink.dictionaryCounts!(c, counts) };
}

/** Where a column's dictionary-encoded pages go as counts, if anywhere (see ParquetScanSink). */
function countsSink(sink: ParquetScanSink, c: number, kind: ValueKind): ((counts: ParquetDictionaryCounts | ParquetTimeCounts) => void) | undefined {
  if (kind === 'time') return sink.timeCounts && ((counts) => sink.timeCounts!(c, counts as ParquetTimeCounts));
  if (kind === 'boolean' || !sink.dictionaryCounts || (kind === 'number' && sink.numbersInOrder)) return undefined;
  return (counts) => sink.dictionaryCounts!(c, counts as ParquetDictionaryCounts);
}

function chunkRange(chunk: FooterColumnChunk): { start: number; end: number } {
  const meta = chunk.meta_data!;
  const dictionary = meta.dictionary_page_offset === undefined ? undefined : Number(meta.dictionary_page_offset);
  const data = Number(meta.data_page_offset);
  // some writers leave the dictionary offset unset (or 0) with the dictionary page first all the same
  const start = dictionary !== undefined && dictionary > 0 && dictionary < data ? dictionary : data;
  return { start, end: start + Number(meta.total_compressed_size) };
}

// ---------------------------------------------------------------- pages (all byte-level decoding is hyparquet's)

class Corrupt extends Error {}

const nativeZstd = (zlib as { zstdDecompressSync?: (b: Uint8Array, options?: { chunkSize?: number }) => Buffer }).zstdDecompressSync;

/**
 * The shared decompressors, but native zstd straight into one buffer (no copy). One byte more than the page: a buffer
 * the output fills exactly makes zlib allocate a second one of the same size to learn that the frame has ended (issue
 * 16: half the zstd pages' memory on flights-3m).
 */
const scanCompressors: Compressors = {
  ...parquetCompressors,
  ...(nativeZstd
    ? { ZSTD: (input: Uint8Array, size: number) => (size === 0 ? new Uint8Array(0) : nativeZstd(input, { chunkSize: Math.max(64, size + 1) })) }
    : {}),
};

/** Arrays a scan reuses for every page of every column (pieces are consumed before the next page is decoded). */
class Scratch {
  numbers = new Float64Array(0);
  indices = new Int32Array(0);
  bytes = new Uint8Array(0);
  /** Counts per dictionary index (all 0 between pages) and the indices in order of first appearance. */
  counts = new Int32Array(0);
  order = new Int32Array(0);
  /** A Snappy or Zstandard data page's decoded bytes (only pages whose bytes nothing keeps once decoded: see dataPage). */
  page = new Uint8Array(0);
  /** Zstandard pages through one reused native context. */
  readonly zstd = new ZstdPages();
  /** The dictionary-index counter (WebAssembly), made at the first dictionary page counted. */
  counter: HybridCounter | undefined;
}

/**
 * Drives hyparquet's page decoders over one column's chunks: parquetHeader (Thrift page header),
 * decompressPage, readRleBitPackedHybrid (definition levels, dictionary indices, RLE booleans),
 * readPlain (PLAIN values, dictionary pages) and convert (UTF-8 text). What is left here: walking a
 * page's sections in the order readDataPage / readDataPageV2 do, bounds checks against the reused
 * chunk buffer, and copying hyparquet's per-page arrays into the pieces' typed arrays.
 */
class ChunkDecoder {
  private numberDictionary: Float64Array | undefined;
  /**
   * An INT64 time-stamp dictionary whose pages go to the sink as extremes: its raw values, converted by the counter's
   * kernel at the counted indices only (numberDictionary made from it only if a page needs the values).
   */
  private timeRaw: BigInt64Array | undefined;
  private textDictionary: string[] | undefined;
  private readonly decoder: HyColumnDecoder;
  /** Whether convert() makes this column's values strings by UTF-8 decoding each one (then an ASCII dictionary may skip it). */
  private readonly plainStrings: boolean;
  /** The sink's dictionaryCounts for this chunk, if it has one. */
  private emitCounts: ((c: ParquetDictionaryCounts | ParquetTimeCounts) => void) | undefined;
  /** The sink's numberPositions for this chunk (numbers in order that may come as counts), if it has one. */
  private positionsFor: PositionsSink | undefined;
  /** Non-null values of the data pages decoded so far in this chunk. */
  private defined = 0;

  constructor(
    private readonly file: string,
    readonly plan: ColumnPlan,
    private readonly scratch: Scratch,
    schema: SchemaElement[],
  ) {
    const schemaPath = getSchemaPath(schema, [plan.name]);
    const element = schemaPath[schemaPath.length - 1]!.element;
    this.decoder = {
      pathInSchema: [plan.name],
      type: plan.physical,
      element,
      schemaPath,
      codec: 'UNCOMPRESSED',
      parsers: DEFAULT_PARSERS,
      compressors: scanCompressors,
      utf8: true,
    };
    // the conditions under which convert() takes its string branch (stringFromBytes, a TextDecoder) for every value
    const ctype = element.converted_type;
    const ltype = element.logical_type?.type;
    this.plainStrings =
      plan.kind === 'text' &&
      element.type === 'BYTE_ARRAY' &&
      (ctype === undefined || ctype === 'UTF8') &&
      (ltype === undefined || ltype === 'STRING') &&
      !schemaPath.some((s) => s.element.logical_type?.type === 'VARIANT');
  }

  chunk(
    bytes: Uint8Array,
    fileOffset: number,
    numValues: number,
    codec: CompressionCodec,
    firstRow: number,
    emit: (p: ParquetPiece) => void,
    emitCounts?: (c: ParquetDictionaryCounts | ParquetTimeCounts) => void,
    positionsFor?: PositionsSink,
  ): number {
    this.emitCounts = emitCounts;
    this.positionsFor = positionsFor;
    this.defined = 0;
    this.numberDictionary = undefined;
    this.timeRaw = undefined;
    this.textDictionary = undefined;
    this.decoder.codec = codec;
    // a view of exactly this chunk, so hyparquet's reads stop at its end
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    let seen = 0;
    while (seen < numValues) {
      const pageAt = reader.offset;
      try {
        if (reader.offset >= bytes.length) throw new Corrupt(`the column chunk ends after ${seen} of its ${numValues} values`);
        const header = parquetHeader(reader);
        const size = header.compressed_page_size;
        const end = reader.offset + size;
        if (!(size >= 0) || end > bytes.length) throw new Corrupt(`a page of ${size} bytes runs past the column chunk`);
        if (!(header.uncompressed_page_size >= 0)) throw new Corrupt(`a page that says it holds ${header.uncompressed_page_size} bytes`);
        const body = bytes.subarray(reader.offset, end);
        reader.offset = end;
        if (header.type === 'DICTIONARY_PAGE') this.dictionaryPage(header, body);
        else if (header.type === 'DATA_PAGE' || header.type === 'DATA_PAGE_V2') seen += this.dataPage(header, body, emit);
        else if (header.type !== 'INDEX_PAGE') throw new Corrupt(`unknown page type ${String(header.type)}`);
      } catch (error) {
        if (error instanceof ParquetScanUnsupported) throw error;
        throw new DatasetReadError({
          code: 'CORRUPT',
          file: this.file,
          row: firstRow,
          byteOffset: fileOffset + pageAt,
          message: `${this.file}: column ${this.plan.name}, page at byte ${fileOffset + pageAt} (row group starting at row ${firstRow}) cannot be decoded: ${(error as Error).message}`,
          cause: error,
        });
      }
    }
    return this.defined;
  }

  /**
   * A page's bytes. A Snappy page is decoded by snappy.ts (not hysnappy's wasm, which copies every page in and out
   * of its memory), a Zstandard page by one reused context (zstdPages.ts); with `reuse`, into the scratch page buffer
   * (no new buffer a page), so the caller must not keep anything that views it past this page.
   */
  private decompress(body: Uint8Array, size: number, reuse = false): Uint8Array {
    const codec = this.decoder.codec;
    if (codec === 'UNCOMPRESSED' && body.length !== size) throw new Corrupt(`an uncompressed page of ${body.length} bytes says it holds ${size}`);
    if (codec === 'ZSTD') {
      // one byte more than the page: a frame that decodes to more than it says shows as a mismatch
      const out = reuse ? this.pageBuffer(size + 1) : new Uint8Array(size + 1);
      // false: no reusable context here, or the frame is broken; the public API below then decodes it or says why
      if (this.scratch.zstd.decompressInto(body, out, size)) return out.subarray(0, size);
    }
    if (codec === 'SNAPPY') {
      const out = reuse ? this.pageBuffer(size) : new Uint8Array(size);
      try {
        snappyInto(body, out, size);
      } catch (error) {
        if (error instanceof SnappyError) throw new Corrupt(error.message);
        throw error;
      }
      return out.subarray(0, size);
    }
    return decompressPage(body, size, codec, scanCompressors);
  }

  /** The scratch page buffer, at least n bytes long. */
  private pageBuffer(n: number): Uint8Array {
    const s = this.scratch;
    if (s.page.length < n) s.page = new Uint8Array(Math.max(n, s.page.length * 2));
    return s.page;
  }

  /**
   * Whether a data page's bytes may be decoded into the reused buffer: everything decoded from it is copied out
   * (numbers, dictionary indices and counts, booleans) before the next page, except PLAIN text, whose values
   * convert() may hand on as views of the page.
   */
  private reusable(encoding: string): boolean {
    return this.plan.kind !== 'text' || encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY';
  }

  private dictionaryPage(header: PageHeader, body: Uint8Array): void {
    const dict = header.dictionary_page_header;
    if (!dict) throw new Corrupt('a dictionary page without its header');
    if (dict.encoding !== 'PLAIN' && dict.encoding !== 'PLAIN_DICTIONARY') throw new ParquetScanUnsupported(`dictionary encoding ${dict.encoding}`);
    if (this.plan.kind === 'boolean') throw new ParquetScanUnsupported('a dictionary of booleans');
    const page = this.decompress(body, header.uncompressed_page_size);
    const n = dict.num_values;
    if (!(n >= 0)) throw new Corrupt(`a dictionary of ${n} values`);
    if (this.plainStrings) {
      const strings = asciiStrings(page, n);
      if (strings) {
        this.textDictionary = strings;
        return;
      }
    }
    const reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
    const values = readPlain(reader, this.decoder.type, n, undefined);
    if (reader.offset > page.byteLength) throw new Corrupt(`${n} dictionary values run past the page`);
    checkWithinEnd(values, page.buffer, page.byteOffset + page.byteLength, n);
    if (this.plan.kind === 'text') this.textDictionary = convert(values, this.decoder) as string[];
    else if (this.emitCounts && this.plan.kind === 'time' && this.plan.int.op === 'ms' && values instanceof BigInt64Array) {
      this.numberDictionary = undefined;
      this.timeRaw = values;
    } else {
      const out = new Float64Array(n);
      toNumbers(values, this.plan, n, out);
      this.numberDictionary = out;
    }
  }

  /**
   * Decodes one data page; returns its value count (nulls included). The page layout is the one hyparquet's
   * readDataPage / readDataPageV2 walk, but the levels and dictionary indices go through hyparquet's
   * readRleBitPackedHybrid into our reused Int32Arrays: readDataPage's `new Array(numValues)` per page
   * (twice) cost 3× the time and ~75 MB more peak memory on flights-3m.
   */
  private dataPage(header: PageHeader, body: Uint8Array, emit: (p: ParquetPiece) => void): number {
    let reader: DataReader;
    let numValues: number;
    let encoding: string;
    let nonNull: number;
    let end: number;
    if (header.type === 'DATA_PAGE') {
      const h = header.data_page_header;
      if (!h) throw new Corrupt('a data page without its header');
      numValues = h.num_values;
      encoding = h.encoding;
      if (!(numValues >= 0)) throw new Corrupt(`a page of ${numValues} values`);
      const page = this.decompress(body, header.uncompressed_page_size, this.reusable(encoding));
      reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      end = page.byteOffset + page.byteLength;
      nonNull = numValues;
      if (this.plan.optional) {
        if (h.definition_level_encoding !== 'RLE') throw new ParquetScanUnsupported(`definition levels encoded ${h.definition_level_encoding}`);
        nonNull = this.countDefined(reader, numValues, undefined); // v1: the levels' byte length precedes them
      }
    } else {
      const h = header.data_page_header_v2;
      if (!h) throw new Corrupt('a data page v2 without its header');
      numValues = h.num_values;
      encoding = h.encoding;
      const levels = h.repetition_levels_byte_length + h.definition_levels_byte_length;
      if (!(numValues >= 0) || !(h.repetition_levels_byte_length >= 0) || !(h.definition_levels_byte_length >= 0) || levels > body.length)
        throw new Corrupt('the levels run past the page');
      if (this.plan.optional && h.definition_levels_byte_length > 0) {
        const levelReader = { view: new DataView(body.buffer, body.byteOffset, levels), offset: h.repetition_levels_byte_length };
        nonNull = this.countDefined(levelReader, numValues, h.definition_levels_byte_length);
      } else {
        nonNull = numValues - h.num_nulls;
      }
      if (nonNull < 0 || nonNull > numValues) throw new Corrupt(`${h.num_nulls} nulls among ${numValues} values`);
      const values = body.subarray(levels);
      const page = h.is_compressed === false ? values : this.decompress(values, header.uncompressed_page_size - levels, this.reusable(encoding));
      reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
      end = page.byteOffset + page.byteLength;
    }
    const nulls = numValues - nonNull;
    this.defined += nonNull;
    if (nonNull === 0) {
      if (nulls > 0) this.emitNulls(nulls, emit);
      return numValues;
    }
    if (encoding === 'PLAIN') this.plainValues(reader, end, nonNull, nulls, emit);
    else if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') this.dictionaryValues(reader, nonNull, nulls, emit);
    else if (encoding === 'RLE' && this.plan.kind === 'boolean') {
      const values = this.bytes(nonNull);
      readRleBitPackedHybrid(reader, 1, values); // its byte length precedes the runs (v1 and v2)
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

  /** Definition levels (max level 1 in a flat column) → how many are 1 (counted from the runs, not decoded). */
  private countDefined(reader: DataReader, numValues: number, length: number | undefined): number {
    if (length === undefined) {
      if (reader.offset + 4 > reader.view.byteLength) throw new Corrupt('no byte length before the definition levels');
      length = reader.view.getUint32(reader.offset, true);
      reader.offset += 4;
    }
    const start = reader.offset;
    if (start + length > reader.view.byteLength) throw new Corrupt(`definition levels of ${length} bytes run past the page`);
    const view = reader.view;
    let n: number;
    try {
      n = countHybridOnes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), start, start + length, numValues);
    } catch (error) {
      if (error instanceof HybridDecodeError) throw new Corrupt(`definition levels: ${error.message}`);
      throw error;
    }
    reader.offset = start + length;
    return n;
  }

  /** decodeHybrid over the reader's bytes up to `end` (relative to the view); returns the largest value. */
  private hybrid(reader: DataReader, end: number, width: number, out: Int32Array, count: number): number {
    const view = reader.view;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    try {
      return decodeHybrid(bytes, reader.offset, end, width, out, count);
    } catch (error) {
      if (error instanceof HybridDecodeError) throw new Corrupt(error.message);
      throw error;
    }
  }

  private plainValues(reader: DataReader, end: number, count: number, nulls: number, emit: (p: ParquetPiece) => void): void {
    const plan = this.plan;
    const data = readPlain(reader, plan.physical, count, undefined);
    if (reader.view.byteOffset + reader.offset > end) throw new Corrupt(`${count} values run past the page`);
    checkWithinEnd(data, reader.view.buffer, end, count);
    if (plan.kind === 'text') {
      emit({ kind: 'text', values: convert(data, this.decoder) as string[], count, nulls });
    } else if (plan.kind === 'boolean') {
      const values = this.bytes(count);
      for (let i = 0; i < count; i++) values[i] = data[i] ? 1 : 0;
      emit({ kind: 'boolean', values, count, nulls });
    } else {
      const values = this.numbers(count);
      toNumbers(data, plan, count, values);
      emit({ kind: plan.kind, values, count, nulls });
    }
  }

  private dictionaryValues(reader: DataReader, count: number, nulls: number, emit: (p: ParquetPiece) => void): void {
    const size = this.plan.kind === 'text' ? this.textDictionary?.length : (this.numberDictionary ?? this.timeRaw)?.length;
    if (size === undefined) throw new Corrupt('dictionary-encoded values without a dictionary page');
    const view = reader.view;
    if (reader.offset >= view.byteLength) throw new Corrupt('no bit width for the dictionary indices');
    // the one-byte bit width before the runs, read as hyparquet's readDataPage reads it
    const width = view.getUint8(reader.offset++);
    if (width > 31) throw new Corrupt(`dictionary indices of ${width} bits`);
    if (this.emitCounts && width <= MAX_FAST_WIDTH) {
      this.countDictionaryValues(reader, width, size, count, nulls, this.emitCounts);
      return;
    }
    if (this.positionsFor && width >= 1 && width <= MAX_FAST_WIDTH) {
      const wanted = this.positionsFor.ask(this.numberDictionary!, count);
      if (wanted) {
        const emitCounts = this.positionsFor.emit as (c: ParquetDictionaryCounts | ParquetTimeCounts) => void;
        this.countDictionaryValues(reader, width, size, count, nulls, emitCounts, wanted);
        return;
      }
    }
    const indices = this.indices(count);
    let max = 0;
    if (width === 0) indices.fill(0);
    else if (width <= MAX_FAST_WIDTH) max = this.hybrid(reader, view.byteLength, width, indices, count);
    else {
      readRleBitPackedHybrid(reader, width, indices, view.byteLength - reader.offset);
      for (let i = 0; i < count; i++) {
        const k = indices[i]!;
        if (k > max) max = k;
      }
    }
    if (max >= size) throw new Corrupt(`dictionary index ${max} in a dictionary of ${size}`);
    if (this.plan.kind === 'text') emit({ kind: 'text-dict', dictionary: this.textDictionary!, indices, count, nulls });
    else if (this.plan.kind === 'number') emit({ kind: 'number-dict', dictionary: this.numberDictionary!, indices, count, nulls });
    else {
      const dictionary = this.dictionaryNumbers();
      const values = this.numbers(count);
      for (let i = 0; i < count; i++) values[i] = dictionary[indices[i]!]!;
      emit({ kind: 'time', values, count, nulls });
    }
  }

  /** The dictionary as numbers (epoch ms for time stamps), converted from the raw time stamps the first time it is needed. */
  private dictionaryNumbers(): Float64Array {
    if (!this.numberDictionary && this.timeRaw) {
      const out = new Float64Array(this.timeRaw.length);
      toNumbers(this.timeRaw, this.plan, this.timeRaw.length, out);
      this.numberDictionary = out;
    }
    return this.numberDictionary!;
  }

  /** The page's dictionary indices counted as they are decoded (HybridCounter, WebAssembly), handed to the sink as counts. */
  private countDictionaryValues(
    reader: DataReader,
    width: number,
    size: number,
    count: number,
    nulls: number,
    emit: (c: ParquetDictionaryCounts | ParquetTimeCounts) => void,
    picks?: { readonly positions: Int32Array; readonly count: number },
  ): void {
    let counts: Int32Array;
    let order: Int32Array;
    let distinct = 0;
    let extremes: { min: number; max: number; invalid: number } | undefined;
    if (width === 0) {
      if (size === 0) throw new Corrupt('dictionary index 0 in a dictionary of 0');
      const s = this.scratch;
      if (s.counts.length === 0) {
        s.counts = new Int32Array(1);
        s.order = new Int32Array(1);
      }
      counts = s.counts;
      order = s.order;
      counts[0] = count;
      order[distinct++] = 0;
    } else {
      const counter = (this.scratch.counter ??= new HybridCounter());
      const view = reader.view;
      try {
        distinct = counter.count(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
          reader.offset,
          view.byteLength,
          width,
          count,
          size,
          picks?.positions,
          picks?.count,
        );
      } catch (error) {
        if (error instanceof HybridDecodeError) throw new Corrupt(error.message);
        throw error;
      }
      if (this.timeRaw && this.plan.int.op === 'ms') extremes = counter.timeExtremes(this.timeRaw, distinct, this.plan.int.divisor);
      counts = counter.counts;
      order = counter.order;
    }
    try {
      if (this.plan.kind === 'text') emit({ kind: 'text-dict', dictionary: this.textDictionary!, order, counts, distinct, nulls });
      else if (this.plan.kind === 'time') emit({ kind: 'time-dict', ...(extremes ?? timeExtremes(this.dictionaryNumbers(), order, counts, distinct)), nulls });
      else
        emit({
          kind: 'number-dict',
          dictionary: this.numberDictionary!,
          order,
          counts,
          distinct,
          nulls,
          ...(picks ? { picked: this.scratch.counter!.picked } : {}),
        });
    } finally {
      clearCounts(counts, order, distinct);
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

/**
 * hyparquet's readPlain views typed arrays (and byte arrays) onto the page's underlying buffer without
 * bounds checks against the page itself; our chunk buffer is reused and longer, so check they end by `end`.
 */
/**
 * A PLAIN page of `n` byte arrays as strings, when all of it is ASCII (its length prefixes included) and the values lie
 * within it: one latin1 string of the page, sliced (for ASCII the same strings as a TextDecoder's, value by value, which
 * ran at ~1 µs a value in a cold profile: 4,900 a profile of flights-3m). undefined otherwise: the caller decodes as before.
 */
export function asciiStrings(page: Uint8Array, n: number): string[] | undefined {
  if (!isAscii(page)) return undefined;
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const text = Buffer.from(page.buffer, page.byteOffset, page.byteLength).toString('latin1');
  const out = new Array<string>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 4 > page.byteLength) return undefined;
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > page.byteLength) return undefined;
    out[i] = text.slice(at, at + length);
    at += length;
  }
  return out;
}

function checkWithinEnd(values: DecodedArray, buffer: ArrayBufferLike, end: number, count: number): void {
  if (ArrayBuffer.isView(values)) {
    if (values.buffer === buffer && values.byteOffset + values.byteLength > end) throw new Corrupt(`${count} values run past the page`);
    return;
  }
  const last = values[count - 1] as unknown;
  if (last instanceof Uint8Array && last.buffer === buffer && last.byteOffset + last.byteLength > end)
    throw new Corrupt(`text value ${count - 1} of ${count} runs past the page`);
}

/**
 * counts[order[d]] = 0 for d < distinct, as one fill where the page met most of the dictionary: the loop made this
 * function hot enough for V8 to optimise it, with the sink's whole profile code inlined (twice: ~16 ms of compiler time
 * in a cold profile of flights-3m; issue 16).
 */
function clearCounts(counts: Int32Array, order: Int32Array, distinct: number): void {
  if (distinct * 4 >= counts.length) counts.fill(0);
  else for (let d = 0; d < distinct; d++) counts[order[d]!] = 0;
}

/** HybridCounter.timeExtremes over a dictionary already converted to epoch ms (NaN: an invalid Date). */
function timeExtremes(dictionary: Float64Array, order: Int32Array, counts: Int32Array, distinct: number): { min: number; max: number; invalid: number } {
  let min = Number.NaN;
  let max = Number.NaN;
  let invalid = 0;
  for (let d = 0; d < distinct; d++) {
    const v = dictionary[order[d]!]!;
    if (Number.isNaN(v)) invalid += counts[order[d]!]!;
    else {
      if (!(v >= min)) min = v;
      if (!(v <= max)) max = v;
    }
  }
  return { min, max, invalid };
}

// ---------------------------------------------------------------- conversions (hyparquet's, into Float64Array)

const MAX_DATE_MS = 8.64e15;

function validMs(ms: number): number {
  return ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS ? ms : Number.NaN;
}

/** int64 / divisor truncated toward zero, as hyparquet's BigInt division does (exact below 2^53). */
function truncDiv(v: bigint, divisor: number): number {
  const x = Number(v);
  if (x > -9007199254740992 && x < 9007199254740992) return truncQuotient(x, divisor);
  return Number(v / BigInt(divisor));
}

const TWO_52 = 4503599627370496;

/**
 * The integer x (|x| < 2^53) divided by the integer divisor (≥ 1), truncated toward zero, exactly. Below 2^52 the rounded
 * quotient lies between the same two integers as the true one (half an ulp of it is < 1 / (2·divisor), the least
 * distance of a non-integer quotient from an integer), so truncating it is exact; `%` on doubles is a slow fmod (~20 ms of
 * a cold profile of flights-3m, whose time stamps are microseconds; issue 16).
 */
export function truncQuotient(x: number, divisor: number): number {
  if (x >= TWO_52 || x <= -TWO_52) return (x - (x % divisor)) / divisor;
  return Math.trunc(x / divisor) + 0; // + 0: 0, not −0 for x in (−divisor, 0], as the BigInt division gives
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_32 = 4294967296;

/**
 * toNumbers for INT64 values, read as two 32-bit halves instead of one BigInt each (reading a BigInt64Array
 * element allocates a BigInt). hi · 2^32 is exact and adding the low half rounds once, to nearest: the same
 * double as Number(bigint) for every 64-bit value. Only a division of a value beyond 2^53 takes the BigInt.
 */
function int64ToNumbers(data: BigInt64Array, conv: ColumnPlan['int'], count: number, out: Float64Array): void {
  const words = new Int32Array(data.buffer, data.byteOffset, count * 2);
  if (conv.op === 'unsigned') {
    for (let i = 0; i < count; i++) out[i] = (words[2 * i + 1]! >>> 0) * TWO_32 + (words[2 * i]! >>> 0);
  } else if (conv.op === 'scale') {
    const factor = conv.factor;
    for (let i = 0; i < count; i++) out[i] = (words[2 * i + 1]! * TWO_32 + (words[2 * i]! >>> 0)) * factor;
  } else if (conv.op === 'ms') {
    const divisor = conv.divisor;
    for (let i = 0; i < count; i++) {
      const x = words[2 * i + 1]! * TWO_32 + (words[2 * i]! >>> 0);
      if (divisor === 1) out[i] = validMs(x);
      else if (x > -9007199254740992 && x < 9007199254740992) out[i] = validMs(truncQuotient(x, divisor));
      else out[i] = validMs(truncDiv(data[i]!, divisor));
    }
  } else {
    for (let i = 0; i < count; i++) out[i] = words[2 * i + 1]! * TWO_32 + (words[2 * i]! >>> 0);
  }
}

/**
 * Values decoded by hyparquet (Int32Array, BigInt64Array, Float32Array, Float64Array or a plain array
 * of those numbers) as numbers, converted as hyparquet's convert() converts them (unsigned, decimal
 * scale; epoch ms where it makes Dates, NaN where the Date would be invalid).
 */
function toNumbers(data: DecodedArray, plan: ColumnPlan, count: number, out: Float64Array): void {
  if (data.length < count) throw new Corrupt(`${data.length} values where ${count} were expected`);
  const conv = plan.int;
  if (plan.physical === 'DOUBLE' || plan.physical === 'FLOAT') {
    for (let i = 0; i < count; i++) out[i] = data[i] as number;
    return;
  }
  if (plan.physical === 'INT32') {
    const d = data as ArrayLike<number>;
    if (conv.op === 'unsigned') for (let i = 0; i < count; i++) out[i] = d[i]! >>> 0;
    else if (conv.op === 'scale') for (let i = 0; i < count; i++) out[i] = d[i]! * conv.factor;
    else if (conv.op === 'days') for (let i = 0; i < count; i++) out[i] = validMs(d[i]! * 86400000);
    else if (conv.op === 'ms') for (let i = 0; i < count; i++) out[i] = validMs(d[i]! / conv.divisor);
    else for (let i = 0; i < count; i++) out[i] = d[i]!;
    return;
  }
  if (data instanceof BigInt64Array && LITTLE_ENDIAN) return int64ToNumbers(data, conv, count, out);
  const d = data as ArrayLike<bigint>;
  if (conv.op === 'unsigned') for (let i = 0; i < count; i++) out[i] = Number(BigInt.asUintN(64, d[i]!));
  else if (conv.op === 'scale') for (let i = 0; i < count; i++) out[i] = Number(d[i]!) * conv.factor;
  else if (conv.op === 'ms') {
    const divisor = conv.divisor;
    if (divisor === 1) for (let i = 0; i < count; i++) out[i] = validMs(Number(d[i]!));
    else for (let i = 0; i < count; i++) out[i] = validMs(truncDiv(d[i]!, divisor));
  } else for (let i = 0; i < count; i++) out[i] = Number(d[i]!);
}

// ---------------------------------------------------------------- helpers for consumers

let tallyCounts = new Int32Array(0);
let tallyOrder = new Int32Array(0);

/** Counts indices[0..count) into counts[] (zeros before), each new index appended to order[]; returns how many. */
export function tallyIndices(indices: Int32Array, count: number, counts: Int32Array, order: Int32Array): number {
  let distinct = 0;
  for (let i = 0; i < count; i++) {
    const k = indices[i]!;
    if (counts[k]!++ === 0) order[distinct++] = k;
  }
  return distinct;
}

/**
 * Calls `each(index, count)` once per distinct index in indices[0..count), in order of first appearance
 * (so a consumer that caps its distinct values keeps the same ones a value-by-value pass would).
 */
export function forEachDistinct(indices: Int32Array, count: number, dictionarySize: number, each: (index: number, count: number) => void): void {
  if (tallyCounts.length < dictionarySize) tallyCounts = new Int32Array(Math.max(dictionarySize, tallyCounts.length * 2));
  if (tallyOrder.length < dictionarySize) tallyOrder = new Int32Array(tallyCounts.length);
  const counts = tallyCounts;
  const order = tallyOrder;
  const distinct = tallyIndices(indices, count, counts, order);
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
