import type { AsyncBuffer, CompressionCodec, Encoding, KeyValue, LogicalType, ParquetType, SchemaElement } from 'hyparquet';
import { parquetMetadataAsync } from 'hyparquet';
import { CompressionCodecs, ConvertedTypes, EdgeInterpolationAlgorithms, Encodings, FieldRepetitionTypes, ParquetTypes } from 'hyparquet/src/constants.js';
import { markGeoColumns } from 'hyparquet/src/geoparquet.js';

/**
 * The part of a Parquet footer (FileMetaData) that the schema read and the columnar scanner use, read by a lean Thrift
 * compact-protocol reader: 64-bit integers come as numbers (hyparquet's parse makes each a BigInt, bit by bit), and
 * what is not used (the statistics' bounds, encoding stats, page indexes, size statistics…) is stepped over, not
 * built. In a cold profile hyparquet's footer parse, run twice (the schema read, then the scan), was ~11 % of the
 * clock (issue 16). Where a value is kept, it is the value hyparquet gives (numbers for its BigInts): the same enum
 * tables, the same decoding of names, GeoParquet's columns marked by hyparquet's own function.
 * hyparquet's FileMetaData is a ParquetFooter too (its integers are BigInts), so code that takes a ParquetFooter takes either.
 */
export type FooterInt = number | bigint;

export interface FooterColumnMeta {
  readonly type: ParquetType;
  readonly encodings: Encoding[];
  readonly path_in_schema: string[];
  readonly codec: CompressionCodec;
  readonly num_values: FooterInt;
  readonly total_compressed_size: FooterInt;
  readonly data_page_offset: FooterInt;
  readonly dictionary_page_offset?: FooterInt;
  readonly statistics?: { readonly null_count?: FooterInt };
}

export interface FooterColumnChunk {
  readonly file_path?: string;
  readonly meta_data?: FooterColumnMeta;
}

export interface FooterRowGroup {
  readonly columns: FooterColumnChunk[];
  readonly num_rows: FooterInt;
}

export interface ParquetFooter {
  readonly schema: SchemaElement[];
  readonly num_rows: FooterInt;
  readonly row_groups: FooterRowGroup[];
  readonly key_value_metadata?: KeyValue[] | undefined;
}

// Thrift compact protocol's field types
const STOP = 0;
const TRUE = 1;
const FALSE = 2;
const BYTE = 3;
const I16 = 4;
const I32 = 5;
const I64 = 6;
const DOUBLE = 7;
const BINARY = 8;
const LIST = 9;
const SET = 10;
const MAP = 11;
const STRUCT = 12;

/** What this reader does not take on (a value past 2^53, a malformed struct): the footer then goes to hyparquet. */
class FooterUnread extends Error {}

const utf8 = new TextDecoder();

class CompactReader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  byte(): number {
    if (this.pos >= this.end) throw new FooterUnread('the footer ends inside a value');
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 varint as a number; past 2^53 it would not be exact. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 49) throw new FooterUnread('a varint past 2^53');
    }
    return result;
  }

  /** A zigzag integer (i16, i32, i64). */
  int(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  binary(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.end) throw new FooterUnread('a string runs past the footer');
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    return utf8.decode(this.binary());
  }

  /** A list header: its element type and size. */
  list(): [number, number] {
    const b = this.byte();
    const size = b >> 4;
    return [b & 0x0f, size === 15 ? this.varint() : size];
  }

  /**
   * Calls `field` for each field of a struct; the callback reads the value, or returns false to have it skipped.
   * The field ids are deltas, as the protocol writes them.
   */
  struct(field: (id: number, type: number) => boolean): void {
    let id = 0;
    for (;;) {
      const b = this.byte();
      const type = b & 0x0f;
      if (type === STOP) return;
      const delta = b >> 4;
      id = delta ? id + delta : this.int();
      if (!field(id, type)) this.skip(type);
    }
  }

  skip(type: number): void {
    switch (type) {
      case TRUE:
      case FALSE:
        return;
      case BYTE:
        this.pos++;
        return;
      case I16:
      case I32:
      case I64:
        this.varint();
        return;
      case DOUBLE:
        this.pos += 8;
        return;
      case BINARY:
        this.binary();
        return;
      case LIST:
      case SET: {
        const [element, size] = this.list();
        // a list of booleans holds one byte each
        for (let i = 0; i < size; i++) this.skip(element === TRUE || element === FALSE ? BYTE : element);
        return;
      }
      case MAP: {
        const size = this.varint();
        if (size === 0) return;
        const types = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(types >> 4);
          this.skip(types & 0x0f);
        }
        return;
      }
      case STRUCT:
        this.struct(() => false);
        return;
      default:
        throw new FooterUnread(`thrift type ${type}`);
    }
  }

  /** A list of `read()` values; a field of another type is malformed. */
  listOf<T>(type: number, read: () => T): T[] {
    if (type !== LIST) throw new FooterUnread('a list field of another type');
    const [, size] = this.list();
    const out = new Array<T>(size);
    for (let i = 0; i < size; i++) out[i] = read();
    return out;
  }

  /** A generic value, as hyparquet's reader gives it (for the few unions whose unknown members it passes on as they are). */
  value(type: number): unknown {
    switch (type) {
      case TRUE:
        return true;
      case FALSE:
        return false;
      case BYTE:
        return (this.byte() << 24) >> 24;
      case I16:
      case I32:
        return this.int();
      case BINARY:
        return this.binary();
      case STRUCT: {
        const out: Record<string, unknown> = {};
        this.struct((id, t) => {
          out[`field_${id}`] = this.value(t);
          return true;
        });
        return out;
      }
      default:
        throw new FooterUnread(`thrift type ${type} in a logical type`);
    }
  }
}

/**
 * The footer of a Parquet file: the lean read where it applies, else hyparquet's (whose errors then say what is wrong
 * with a broken footer, as before).
 */
export async function readParquetFooter(file: AsyncBuffer): Promise<ParquetFooter> {
  const size = file.byteLength;
  if (size >= 12) {
    const tail = new Uint8Array(await file.slice(size - 8, size));
    const length = tail[0]! | (tail[1]! << 8) | (tail[2]! << 16) | (tail[3]! * 2 ** 24);
    if (length <= size - 8) {
      const bytes = new Uint8Array(await file.slice(size - 8 - length, size - 8));
      const footer = parseParquetFooter(bytes);
      if (footer) return footer;
    }
  }
  return parquetMetadataAsync(file);
}

/** FileMetaData's fields from its Thrift bytes (without the length and magic after them), or undefined where this reader stops. */
export function parseParquetFooter(bytes: Uint8Array): ParquetFooter | undefined {
  try {
    return readFileMetaData(new CompactReader(bytes, 0, bytes.length));
  } catch (error) {
    if (error instanceof FooterUnread) return undefined;
    throw error;
  }
}

function readFileMetaData(r: CompactReader): ParquetFooter {
  let schema: SchemaElement[] | undefined;
  let numRows: number | undefined;
  let rowGroups: FooterRowGroup[] | undefined;
  let keyValues: KeyValue[] | undefined;
  r.struct((id, type) => {
    if (id === 2) schema = r.listOf(type, () => readSchemaElement(r));
    else if (id === 3 && type === I64) numRows = r.int();
    else if (id === 4) rowGroups = r.listOf(type, () => readRowGroup(r));
    else if (id === 5) keyValues = r.listOf(type, () => readKeyValue(r));
    else return false;
    return true;
  });
  // hyparquet reads these without a check: a footer without them is for its error to describe
  if (!schema || !rowGroups || numRows === undefined) throw new FooterUnread('schema, row count or row groups missing');
  markGeoColumns(schema, keyValues);
  return { schema, num_rows: numRows, row_groups: rowGroups, key_value_metadata: keyValues };
}

function readSchemaElement(r: CompactReader): SchemaElement {
  const e: SchemaElement = {
    type: undefined,
    type_length: undefined,
    repetition_type: undefined,
    name: undefined as unknown as string,
    num_children: undefined,
    converted_type: undefined,
    scale: undefined,
    precision: undefined,
    field_id: undefined,
    logical_type: undefined,
  };
  r.struct((id, type) => {
    if (type === BINARY && id === 4) e.name = r.string();
    else if (type === STRUCT && id === 10) e.logical_type = logicalType(r.value(STRUCT) as Record<string, Record<string, unknown>>);
    else if (type !== I32) return false;
    else if (id === 1) e.type = ParquetTypes[r.int()];
    else if (id === 2) e.type_length = r.int();
    else if (id === 3) e.repetition_type = FieldRepetitionTypes[r.int()];
    else if (id === 5) e.num_children = r.int();
    else if (id === 6) e.converted_type = ConvertedTypes[r.int()];
    else if (id === 7) e.scale = r.int();
    else if (id === 8) e.precision = r.int();
    else if (id === 9) e.field_id = r.int();
    else return false;
    return true;
  });
  return e;
}

function readRowGroup(r: CompactReader): FooterRowGroup {
  let columns: FooterColumnChunk[] | undefined;
  let numRows: number | undefined;
  r.struct((id, type) => {
    if (id === 1) columns = r.listOf(type, () => readColumnChunk(r));
    else if (id === 3 && type === I64) numRows = r.int();
    else return false;
    return true;
  });
  if (!columns || numRows === undefined) throw new FooterUnread('a row group without columns or rows');
  return { columns, num_rows: numRows };
}

function readColumnChunk(r: CompactReader): FooterColumnChunk {
  let filePath: string | undefined;
  let meta: FooterColumnMeta | undefined;
  r.struct((id, type) => {
    if (id === 1 && type === BINARY) filePath = r.string();
    else if (id === 3 && type === STRUCT) meta = readColumnMeta(r);
    else return false;
    return true;
  });
  return { file_path: filePath, meta_data: meta };
}

function readColumnMeta(r: CompactReader): FooterColumnMeta {
  const m: { -readonly [K in keyof FooterColumnMeta]: FooterColumnMeta[K] } = {
    type: undefined as unknown as ParquetType,
    encodings: undefined as unknown as Encoding[],
    path_in_schema: undefined as unknown as string[],
    codec: undefined as unknown as CompressionCodec,
    num_values: undefined as unknown as number,
    total_compressed_size: undefined as unknown as number,
    data_page_offset: undefined as unknown as number,
    dictionary_page_offset: undefined,
    statistics: undefined,
  };
  r.struct((id, type) => {
    if (id === 2) m.encodings = r.listOf(type, () => Encodings[r.int()]!);
    else if (id === 3) m.path_in_schema = r.listOf(type, () => r.string());
    else if (id === 12 && type === STRUCT) m.statistics = readStatistics(r);
    else if (type !== I32 && type !== I64) return false;
    else if (id === 1) m.type = ParquetTypes[r.int()]!;
    else if (id === 4) m.codec = CompressionCodecs[r.int()]!;
    else if (id === 5) m.num_values = r.int();
    else if (id === 7) m.total_compressed_size = r.int();
    else if (id === 9) m.data_page_offset = r.int();
    else if (id === 11) m.dictionary_page_offset = r.int();
    else return false;
    return true;
  });
  if (!m.path_in_schema) throw new FooterUnread('a column chunk without its path');
  return m;
}

function readStatistics(r: CompactReader): { null_count?: number } {
  let nulls: number | undefined;
  r.struct((id, type) => {
    if (id !== 3 || type !== I64) return false;
    nulls = r.int();
    return true;
  });
  return { null_count: nulls };
}

function readKeyValue(r: CompactReader): KeyValue {
  let key: string | undefined;
  let value: string | undefined;
  r.struct((id, type) => {
    if (type !== BINARY) return false;
    if (id === 1) key = r.string();
    else if (id === 2) value = r.string();
    else return false;
    return true;
  });
  return { key: key as string, value };
}

/** hyparquet's mapping of the LogicalType union (metadata.js `logicalType`), unknown members passed on as read. */
function logicalType(t: Record<string, Record<string, unknown>>): LogicalType {
  const text = (v: unknown): string | undefined => (v === undefined ? undefined : utf8.decode(v as Uint8Array));
  const unit = (u: Record<string, unknown>): 'MILLIS' | 'MICROS' | 'NANOS' => {
    if (u.field_1) return 'MILLIS';
    if (u.field_2) return 'MICROS';
    if (u.field_3) return 'NANOS';
    throw new FooterUnread('a time unit missing');
  };
  if (t.field_1) return { type: 'STRING' };
  if (t.field_2) return { type: 'MAP' };
  if (t.field_3) return { type: 'LIST' };
  if (t.field_4) return { type: 'ENUM' };
  if (t.field_5) return { type: 'DECIMAL', scale: t.field_5.field_1 as number, precision: t.field_5.field_2 as number };
  if (t.field_6) return { type: 'DATE' };
  if (t.field_7) return { type: 'TIME', isAdjustedToUTC: t.field_7.field_1 as boolean, unit: unit(t.field_7.field_2 as Record<string, unknown>) };
  if (t.field_8) return { type: 'TIMESTAMP', isAdjustedToUTC: t.field_8.field_1 as boolean, unit: unit(t.field_8.field_2 as Record<string, unknown>) };
  if (t.field_10) return { type: 'INTEGER', bitWidth: t.field_10.field_1 as number, isSigned: t.field_10.field_2 as boolean };
  if (t.field_11) return { type: 'NULL' };
  if (t.field_12) return { type: 'JSON' };
  if (t.field_13) return { type: 'BSON' };
  if (t.field_14) return { type: 'UUID' };
  if (t.field_15) return { type: 'FLOAT16' };
  if (t.field_16) return { type: 'VARIANT', specification_version: t.field_16.field_1 as number };
  if (t.field_17) return { type: 'GEOMETRY', crs: text(t.field_17.field_1) } as LogicalType;
  if (t.field_18)
    return { type: 'GEOGRAPHY', crs: text(t.field_18.field_1), algorithm: EdgeInterpolationAlgorithms[t.field_18.field_2 as number] } as LogicalType;
  return t as unknown as LogicalType;
}
