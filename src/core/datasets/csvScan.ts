import { DatasetReadError } from './readErrors';
import type { CellValue, ColumnBatch } from './readers';
import type { ScanKernel } from './scanKernel';

/**
 * A CSV/TSV scanner over bytes that gives what csv-parse (`bom`, `skip_empty_lines`, strict quotes and
 * column counts) followed by `csvCell` gives, cell for cell — checked against exactly that in
 * test/unit/datasets.csvScan.test.ts on generated files — but types each wanted cell straight from the bytes:
 * a number is read without making its text first (Clinger's fast path: digits whose integer is below 2^53 and a power
 * of ten up to 22 are exact in one correctly rounded operation; anything longer goes through `Number`) in the same
 * pass that finds the field's end, ASCII text is cut with a latin-1 slice, and unwanted columns are only stepped over
 * (in a chunk with no quote, four bytes at a time: their delimiters counted in 32-bit words). Records that cross a
 * chunk end are re-scanned from their start once the next chunk arrives.
 *
 * Why not csv-parse here: on 200,000 rows of a 27-column prediction log csv-parse + csvCell took about 3.5× the CPU
 * of this scanner (docs/decisions/csv-scanner.md, with uDSV and Papa Parse).
 */

const LF = 10;
const CR = 13;
const QUOTE = 34;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const LOWER_E = 101;
const UPPER_E = 69;

/** Tokens read as missing, as pandas' read_csv does by default (a subset). */
const NULL_TOKENS = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '#N/A']);
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TWO_53 = 9007199254740992;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const LF4 = 0x0a0a0a0a;
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** An empty array of texts whose elements are already of the kind texts need (a push of a text does not change its map). */
const NO_TEXT: string[] = [''];
NO_TEXT.length = 0;
/** No field index: past the last field. */
const NO_FIELD = 0x7fffffff;

/** A CSV cell as a typed value: null tokens → null, numerals → number, true/false → boolean, else the text. */
export function csvCell(text: string): CellValue {
  if (NULL_TOKENS.has(text)) return null;
  const c = text.charCodeAt(0);
  if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46) {
    if (NUMBER.test(text)) return Number(text);
  } else if (text.length <= 5) {
    const lower = text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return text;
}

export interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/**
 * The number of the unquoted field of bytes [s, e) (s < e) when it is a numeral (the grammar of NUMBER, read from
 * the bytes), else NaN — a numeral is never NaN.
 */
export function parseNumeral(buf: Buffer, s: number, e: number): number {
  const first = buf[s]!;
  if (!((first >= ZERO && first <= NINE) || first === MINUS || first === PLUS || first === DOT)) return Number.NaN;
  let k = s;
  const negative = first === MINUS;
  if (first === MINUS || first === PLUS) k++;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let b = buf[k]!;
  while (k < e && b >= ZERO && b <= NINE) {
    mantissa = mantissa * 10 + (b - ZERO);
    digits++;
    b = buf[++k]!;
  }
  if (k < e && b === DOT) {
    b = buf[++k]!;
    while (k < e && b >= ZERO && b <= NINE) {
      mantissa = mantissa * 10 + (b - ZERO);
      digits++;
      fraction++;
      b = buf[++k]!;
    }
  }
  if (digits === 0) return Number.NaN;
  let exponent = 0;
  if (k < e && (b === LOWER_E || b === UPPER_E)) {
    b = buf[++k]!;
    let exponentNegative = false;
    if (k < e && (b === MINUS || b === PLUS)) {
      exponentNegative = b === MINUS;
      b = buf[++k]!;
    }
    let exponentDigits = 0;
    while (k < e && b >= ZERO && b <= NINE) {
      if (exponent < 100_000) exponent = exponent * 10 + (b - ZERO);
      exponentDigits++;
      b = buf[++k]!;
    }
    if (exponentDigits === 0) return Number.NaN;
    if (exponentNegative) exponent = -exponent;
  }
  if (k !== e) return Number.NaN;
  const power = exponent - fraction;
  // Clinger's fast path: the digits' integer exact (below 2^53 — rounding is monotone, so a computed mantissa below
  // 2^53 means every partial sum was below it and exact) and a power of ten up to 22: one correctly rounded operation
  if (mantissa < TWO_53 && power >= -22 && power <= 22) {
    const magnitude = power >= 0 ? mantissa * POW10[power]! : mantissa / POW10[-power]!;
    return negative ? -magnitude : magnitude;
  }
  return Number((buf as FastBuffer).latin1Slice(s, e));
}

/** Where the last scanNumeral stopped: the byte that ends the field (a delimiter, an LF, or the CR of a CR LF), or -1. */
export const numeralScan = { end: -1 };
const numeralOut = new Float64Array(1);

/**
 * The number of an unquoted field starting at s when it is a numeral ending at a delimiter, an LF or a CR LF (see
 * scanNumeralInto); numeralScan.end is set to the field's end, or to -1 (and NaN returned) when it is not one.
 */
export function scanNumeral(buf: Buffer, s: number, delimiter: number): number {
  const end = scanNumeralInto(buf, s, delimiter, numeralOut, 0);
  numeralScan.end = end;
  return end < 0 ? Number.NaN : numeralOut[0]!;
}

/**
 * Reads an unquoted field starting at s as a number when it is a numeral ending at a delimiter, an LF or a CR LF —
 * in the same pass that finds the field's end, so a number's bytes are visited once — and writes it to out[at]
 * (the same number as parseNumeral(buf, s, end)). Returns the field's end, or -1 without writing (not a numeral, or an
 * empty field: the caller scans the field as before). The caller guarantees an LF at or after s in buf, so the loops
 * stop inside buf without a bounds test a byte (none of them steps over an LF). The number is written, not returned:
 * a double returned from a call that is not inlined is boxed, one heap object per cell (on a million rows × 20
 * columns, ~320 MB of young-generation garbage); the end is a small integer and needs no box.
 */
export function scanNumeralInto(buf: Buffer, s: number, delimiter: number, out: Float64Array, at: number): number {
  const k = scanNumeralParts(buf, s, delimiter);
  if (k >= 0) writeNumeral(buf, s, k, out, at);
  return k;
}

/**
 * What scanNumeralInto reads of a numeral, before it is made a double: [the integer of its digits (exact below 2^53),
 * the power of ten that scales it, 1 when it is negative]. The typed reader hands a drift column on as exact decimals
 * (typedCsv.ts, Mode.Decimals) from these, so the drift thread need not find them again from the double.
 */
export const numeralParts = new Float64Array(3);

/** scanNumeralInto's scan: the field's end, with the numeral's parts in numeralParts, or -1 (not a numeral field). */
export function scanNumeralParts(buf: Buffer, s: number, delimiter: number): number {
  let k = s;
  let b = buf[k]!;
  const negative = b === MINUS;
  if (b === MINUS || b === PLUS) b = buf[++k]!;
  let mantissa = 0;
  let digits = 0;
  // one unsigned comparison tells a digit
  let d = b - ZERO;
  while (d >>> 0 <= 9) {
    mantissa = mantissa * 10 + d;
    digits++;
    d = buf[++k]! - ZERO;
  }
  let fraction = 0;
  if (d === DOT - ZERO) {
    d = buf[++k]! - ZERO;
    while (d >>> 0 <= 9) {
      mantissa = mantissa * 10 + d;
      fraction++;
      d = buf[++k]! - ZERO;
    }
    digits += fraction;
  }
  if (digits === 0) return -1;
  b = d + ZERO;
  let exponent = 0;
  if (b === LOWER_E || b === UPPER_E) {
    b = buf[++k]!;
    let exponentNegative = false;
    if (b === MINUS || b === PLUS) {
      exponentNegative = b === MINUS;
      b = buf[++k]!;
    }
    let exponentDigits = 0;
    while (b >= ZERO && b <= NINE) {
      if (exponent < 100_000) exponent = exponent * 10 + (b - ZERO);
      exponentDigits++;
      b = buf[++k]!;
    }
    if (exponentDigits === 0) return -1;
    if (exponentNegative) exponent = -exponent;
  }
  // the field must end here (a CR is not an LF, so an LF follows it inside buf)
  if (!(b === delimiter || b === LF || (b === CR && buf[k + 1] === LF))) return -1;
  numeralParts[0] = mantissa;
  numeralParts[1] = exponent - fraction;
  numeralParts[2] = negative ? 1 : 0;
  return k;
}

/** Writes the number of the numeral scanNumeralParts read last, bytes [s, e), to out[at]. */
export function writeNumeral(buf: Buffer, s: number, e: number, out: Float64Array, at: number): void {
  const mantissa = numeralParts[0]!;
  const power = numeralParts[1]!;
  if (mantissa < TWO_53 && power >= -22 && power <= 22) {
    const magnitude = power >= 0 ? mantissa * POW10[power]! : mantissa / POW10[-power]!;
    out[at] = numeralParts[2] === 1 ? -magnitude : magnitude;
  } else out[at] = Number((buf as FastBuffer).latin1Slice(s, e));
}

/**
 * Appends the cell of bytes [s, e) of an unquoted field to `column`, typed as csvCell would type its text. It
 * appends rather than returns so that a number is never boxed on its way into a column of numbers.
 */
function pushUnquoted(column: CellValue[], buf: FastBuffer, s: number, e: number, texts: TextCache): void {
  if (s === e) {
    column.push(null);
    return;
  }
  const number = parseNumeral(buf, s, e);
  if (number === number) {
    column.push(number);
    return;
  }
  const first = buf[s]!;
  if ((first >= ZERO && first <= NINE) || first === MINUS || first === PLUS || first === DOT) column.push(texts.text(buf, s, e));
  else column.push(csvCell(texts.text(buf, s, e)));
}

/** Entries a column's text cache holds before it stops caching (a column of mostly distinct text). */
const TEXT_CACHE_ENTRIES = 512;

/**
 * One string per distinct short text of a column (categories repeat: one allocation instead of one per row), found by
 * a hash of the bytes and confirmed byte by byte; a column whose texts keep being new stops being cached.
 */
export class TextCache {
  private readonly table = new Map<number, string>();
  private misses = 0;

  text(buf: FastBuffer, s: number, e: number): string {
    if (e - s > 32 || this.misses > TEXT_CACHE_ENTRIES) return textOf(buf, s, e);
    let hash = 0x811c9dc5;
    for (let k = s; k < e; k++) {
      const b = buf[k]!;
      if (b >= 0x80) return textOf(buf, s, e);
      hash = Math.imul(hash ^ b, 0x01000193);
    }
    const known = this.table.get(hash);
    if (known !== undefined && known.length === e - s) {
      let k = 0;
      while (k < known.length && known.charCodeAt(k) === buf[s + k]) k++;
      if (k === known.length) return known;
    }
    const text = buf.latin1Slice(s, e);
    this.misses++;
    if (known === undefined) this.table.set(hash, text);
    return text;
  }
}

function textOf(buf: FastBuffer, s: number, e: number): string {
  for (let k = s; k < e; k++) if (buf[k]! >= 0x80) return buf.utf8Slice(s, e);
  return buf.latin1Slice(s, e);
}

export interface CsvScanOptions {
  /** The file, for messages. */
  readonly file: string;
  readonly delimiter: ',' | '\t';
  /** Only these columns (default: all). */
  readonly columns?: readonly string[];
  readonly batchRows: number;
  readonly maxRows: number;
  /** Checks the header (names, duplicates); throws to refuse it. */
  readonly checkHeader: (header: string[]) => void;
}

/** Column batches of a delimited file from its bytes (UTF-8, cut at character boundaries). */
export function scanDelimited(chunks: AsyncIterable<Buffer>, options: CsvScanOptions): AsyncGenerator<ColumnBatch> {
  return scanRecords(chunks, new DelimitedScanner(options));
}

/** The batches a record scanner makes of the chunks. */
export async function* scanRecords<Batch>(chunks: AsyncIterable<Buffer>, scanner: RecordScanner<Batch>): AsyncGenerator<Batch> {
  for await (const chunk of chunks) {
    for (const batch of scanner.push(chunk)) yield batch;
    if (scanner.done) return;
  }
  for (const batch of scanner.end()) yield batch;
}

const enum Need {
  /** The record is complete. */
  Record,
  /** The buffer ended inside the record: wait for more bytes. */
  More,
}

/**
 * The scanning of records shared by the scanner of cells (DelimitedScanner) and the scanner of typed columns
 * (TypedDelimitedScanner, src/core/datasets/typedCsv.ts): what a subclass does with a wanted cell, how it takes back
 * the cells of a record that continues in the next chunk, and how it makes a batch. The walk over the bytes lives in
 * RecordWalk, one class whatever the subclass: were it a method here, V8 would see two receiver maps (and the options'
 * shapes) at every `this` in it and deoptimize and recompile it each time a read switched class.
 */
export abstract class RecordScanner<Batch> {
  private readonly walk: RecordWalk;
  private carry: Buffer = Buffer.alloc(0);
  /** The carried record and the next chunk one after the other, reused chunk after chunk (no new buffer a chunk). */
  private joined: Buffer = Buffer.alloc(0);
  /** Byte offset in the file of carry[0]. */
  private offset = 0;
  private firstChunk = true;
  /** The wanted columns, in the file's order (known with the header). */
  protected names: string[] = [];

  constructor(protected readonly options: CsvScanOptions) {
    this.walk = new RecordWalk(options);
  }

  get done(): boolean {
    return this.walk.done;
  }

  push(chunk: Buffer): Batch[] {
    let buf = chunk;
    if (this.carry.length) {
      const length = this.carry.length + chunk.length;
      if (this.joined.length < length) this.joined = Buffer.allocUnsafeSlow(Math.max(length, this.joined.length * 2));
      this.carry.copy(this.joined, 0);
      chunk.copy(this.joined, this.carry.length);
      buf = this.joined.subarray(0, length);
    }
    if (this.firstChunk) {
      this.firstChunk = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        buf = buf.subarray(3);
        this.offset = 3;
      }
    }
    const out: Batch[] = [];
    const used = this.scanAll(buf as FastBuffer, false, out);
    this.offset += used;
    this.carry = used < buf.length ? Buffer.from(buf.subarray(used)) : Buffer.alloc(0);
    return out;
  }

  end(): Batch[] {
    const out: Batch[] = [];
    const walk = this.walk;
    if (!walk.done && this.carry.length) this.scanAll(this.carry as FastBuffer, true, out);
    this.carry = Buffer.alloc(0);
    if (!walk.header)
      throw new DatasetReadError({
        code: 'EMPTY_FILE',
        file: this.options.file,
        byteOffset: 0,
        message: `${this.options.file} has no header line (only blank lines)`,
      });
    if (walk.total === 0)
      throw new DatasetReadError({
        code: 'NO_ROWS',
        file: this.options.file,
        line: 2,
        message: `${this.options.file} has a header (${walk.header.length} columns) but no data rows`,
      });
    if (walk.rows > 0) out.push(walk.take(this));
    return out;
  }

  /**
   * The whole records of buf scanned, the columns started at the header and a batch taken at each batch's end, here
   * where the walk stops (not in its loop: V8 optimized that loop before a read's first batch end or its second header,
   * and deoptimized it there); returns the bytes consumed.
   */
  private scanAll(buf: FastBuffer, final: boolean, out: Batch[]): number {
    const walk = this.walk;
    let i = 0;
    for (;;) {
      i = walk.scan(this, buf, i, final);
      if (walk.startHeader(this)) continue;
      if (walk.rows === 0 || (walk.rows < this.options.batchRows && !walk.done)) return i;
      out.push(walk.take(this));
      if (walk.done) return i;
    }
  }

  /** The header is known: `names` are the wanted columns, in the file's order. */
  begin(names: string[]): void {
    this.names = names;
    this.startBatch();
  }

  /** The batch's `rows` rows (the first of them the file's row `rowOffset`) as a batch; the next batch starts empty. */
  abstract batch(rows: number, rowOffset: number): Batch;
  /** A wanted unquoted field: bytes [s, e) of buf, for the batch's row `row`. */
  abstract unquoted(slot: number, row: number, buf: FastBuffer, s: number, e: number): void;
  /**
   * A wanted unquoted field at i (an LF follows in buf), for the batch's row `row`, read as a number in the pass that
   * finds its end when its column takes numbers (scanNumeral): the field's end, or -1 when the column did not take it
   * (then unquoted() gets it). By default none is taken, so a subclass that only implements unquoted() stays correct.
   */
  numeralAt(_slot: number, _row: number, _buf: FastBuffer, _i: number, _delimiter: number): number {
    return -1;
  }
  /**
   * The record kernel of this read (scanKernel.ts), for chunks without a quote once the header is known; none by
   * default (a subclass without kernelRows() walks every record in JS).
   */
  readonly kernel: ScanKernel | undefined = undefined;
  /**
   * Records from index i of the chunk the kernel has loaded, typed by the kernel into the batch from its row `row`
   * (slots: the walk's field slots): how many; kernel.stop is then the next record's index. 0: the JS walk takes the
   * record at i.
   */
  kernelRows(_slots: Int32Array, _i: number, _end: number, _maxRows: number, _row: number, _buf: FastBuffer): number {
    return 0;
  }
  /** A wanted quoted field's text (quotes removed, "" made "), for the batch's row `row`. */
  abstract quoted(slot: number, row: number, text: string): void;
  /** The record at the batch's row `row` continues in the next chunk: forget the cells it gave. */
  abstract takeBack(row: number): void;
  /** The header is known (this.names): start the batch columns. */
  protected abstract startBatch(): void;
}

/** The state of the walk over a file's records and the walk itself (RecordScanner's bytes, its subclass's cells). */
class RecordWalk {
  private readonly delimiter: number;
  private readonly batchRows: number;
  private readonly maxRows: number;
  private readonly delimiters4: number;
  /** Of the chunk being scanned: no quote in it; its last LF; its bytes as words (when aligned). */
  private quoteFree = false;
  private lastLF = -1;
  private words: Int32Array | undefined = undefined;
  /** Of the last record scanned: its fields, the line of its end. */
  private fields = 0;
  private endLine = 0;
  /**
   * The header's texts, pushed by record() while the header is not known: one array for the walk, never stored in
   * record() (a store there ran first after V8 had optimized record() for the schema read, and deoptimized it).
   */
  private readonly headerFields: string[] = NO_TEXT.slice();
  /** 1-based line of the next record's first byte. */
  private line = 1;
  header: string[] | undefined;
  /** Per field index: its slot among the wanted columns, or -1. */
  private slots: Int32Array = new Int32Array(0);
  /** Per field index: the index of the next wanted field after it (NO_FIELD: none), for stepping over unwanted ones. */
  private skipTo: Int32Array = new Int32Array(0);
  /** maxRows are read. */
  get done(): boolean {
    return this.total >= this.maxRows;
  }

  /** Rows in the batch being filled; rows read in all. */
  rows = 0;
  total = 0;

  constructor(private readonly options: CsvScanOptions) {
    this.delimiter = options.delimiter.charCodeAt(0);
    this.batchRows = options.batchRows;
    this.maxRows = options.maxRows;
    this.delimiters4 = Math.imul(this.delimiter, 0x01010101);
  }

  /** The rows read since the last batch as the scanner's batch (and this.rows back to 0). */
  take<Batch>(scanner: RecordScanner<Batch>): Batch {
    const batch = scanner.batch(this.rows, this.total - this.rows);
    this.rows = 0;
    return batch;
  }

  /**
   * Scans whole records of buf from `from` into the batch columns; returns the bytes consumed (up to the first
   * incomplete record), or stops after the record that fills the batch or reaches maxRows (the caller takes the batch).
   */
  scan<Batch>(scanner: RecordScanner<Batch>, buf: FastBuffer, from: number, final: boolean): number {
    const length = buf.length;
    // no quote anywhere in these bytes (the usual log, found by a native search): unquoted fields only
    this.quoteFree = buf.indexOf(QUOTE) < 0;
    // a field that starts before the last LF ends at or before it: scanned with no bounds test a byte
    this.lastLF = buf.lastIndexOf(LF);
    // the bytes as 32-bit words (little-endian: the first byte lowest) when they start on a word boundary
    this.words = this.quoteFree && (buf.byteOffset & 3) === 0 && littleEndian ? new Int32Array(buf.buffer, buf.byteOffset, length >> 2) : undefined;
    // the rows after which the walk stops: the batch's end or maxRows (a small integer, also for an unbounded read:
    // comparing with maxRows itself, Infinity there, deoptimized this loop compiled for the schema's bounded read)
    const limit = Math.min(this.batchRows, this.rows + (this.maxRows - this.total));
    let i = from;
    // the record kernel takes whole records of a quote-free chunk (one that needs the JS walk stops it before that
    // record, the JS walk takes it, the kernel goes on after it); a chunk where it stops often is left to the JS walk
    let kernel = this.quoteFree && this.header !== undefined && from < this.lastLF ? scanner.kernel : undefined;
    if (kernel !== undefined) kernel.load(buf, from, this.lastLF + 1, this.slots.length);
    let kernelTurn = kernel !== undefined;
    let kernelRows = 0;
    let kernelCalls = 0;
    while (i < length) {
      if (kernelTurn) {
        kernelTurn = false;
        if (i < this.lastLF) {
          const rows = scanner.kernelRows(this.slots, i, this.lastLF, Math.min(kernel!.callRows, limit - this.rows), this.rows, buf);
          if (rows > 0) {
            i = kernel!.stop;
            this.rows += rows;
            this.total += rows;
            this.line += rows;
            kernelRows += rows;
            if (this.rows === limit) return i;
          }
          if (++kernelCalls > 32 + (kernelRows >> 4)) kernel = undefined; // a call for every 16 records or fewer
          continue;
        }
      }
      // skip_empty_lines: a line with nothing on it
      const b0 = buf[i]!;
      if (b0 === LF) {
        i++;
        this.line++;
        continue;
      }
      if (b0 === CR && (i + 1 >= length || buf[i + 1] === LF)) {
        if (i + 1 >= length && !final) return i; // CR at the end: is the LF next?
        i += 2;
        this.line++;
        continue;
      }
      const startLine = this.line;
      const next = this.record(scanner, buf, i, final);
      if (next < 0) {
        // the record continues in the next chunk: take back the cells (or header texts) it appended
        scanner.takeBack(this.rows);
        this.headerFields.length = 0;
        this.line = startLine;
        return i;
      }
      i = next;
      // the header record: the caller starts the columns (code run once a read, outside this loop V8 optimizes)
      if (this.header === undefined) return i;
      const fields = this.fields;
      if (fields !== this.slots.length)
        throw this.error('RAGGED_ROW', this.endLine, `expect ${this.slots.length} fields, got ${fields} (a row has more or fewer fields than the header)`);
      this.rows++;
      this.total++;
      // one test for both stops: the maxRows stop (once, at the end of a schema's sample) needs no feedback of its own
      if (this.rows === limit) return i;
      kernelTurn = kernel !== undefined;
    }
    return i;
  }

  /**
   * The fields of the record at i (its cells to the scanner, or its texts to headerFields while the header is not
   * known; this.fields, this.endLine): the index after its line end, or -1 when it continues in the next chunk. A
   * function of its own, called a record, so that V8 optimizes its loops on entry: inside scan's record loop they were
   * on-stack-replaced as inner loops, and Maglev's code for them deoptimized at each exit (thousands of times a read).
   */
  private record<Batch>(scanner: RecordScanner<Batch>, buf: FastBuffer, i: number, final: boolean): number {
    const length = buf.length;
    const delimiter = this.delimiter;
    const quoteFree = this.quoteFree;
    const lastLF = this.lastLF;
    const words = this.words;
    const delimiters4 = this.delimiters4;
    // the words wholly before the one holding the last LF: the walk over words never leaves buf
    const lastWord = lastLF >> 2;
    const startLine = this.line;
    const headerMode = this.header === undefined;
    // loaded for every record, not only the header's: a load first run after optimization deoptimizes
    const fieldsText = this.headerFields;
    const slots = this.slots;
    const skipTo = this.skipTo;
    let field = 0;
    let need = Need.Record;
    let endLine = startLine;
    for (;;) {
      const slot = headerMode ? -2 : field < slots.length ? slots[field]! : -1;
      let j: number;
      if (buf[i] === QUOTE) {
        // a quoted field: "" is a quote; the closing quote is followed by a delimiter, a line end or the end
        let k = i + 1;
        let escaped = false;
        let closed = -1;
        while (k < length) {
          const b = buf[k]!;
          if (b === QUOTE) {
            if (k + 1 < length && buf[k + 1] === QUOTE) {
              escaped = true;
              k += 2;
              continue;
            }
            if (k + 1 >= length && !final) break;
            closed = k;
            break;
          }
          if (b === LF) this.line++;
          k++;
        }
        if (closed < 0) {
          if (!final) {
            need = Need.More;
            break;
          }
          throw this.error('UNBALANCED_QUOTE', startLine, `unbalanced quote — the quote opened on line ${startLine} is never closed`);
        }
        j = closed + 1;
        if (j < length) {
          const after = buf[j]!;
          if (after !== delimiter && after !== LF && !(after === CR && (j + 1 >= length || buf[j + 1] === LF)))
            throw this.error(
              'UNBALANCED_QUOTE',
              this.line,
              `unbalanced quote — a closing quote must be followed by a delimiter or the end of the line (field ${field + 1})`,
            );
          if (after === CR && j + 1 >= length && !final) {
            need = Need.More;
            break;
          }
        }
        if (slot !== -1) {
          let text = buf.utf8Slice(i + 1, closed);
          if (escaped) text = text.replaceAll('""', '"');
          if (slot === -2) fieldsText.push(text);
          else if (slot >= 0) scanner.quoted(slot, this.rows, text);
        }
      } else {
        // a wanted field read as a number while its end is found, when its column takes numbers (-1: scan it below)
        j = slot >= 0 && i < lastLF ? scanner.numeralAt(slot, this.rows, buf, i, delimiter) : -1;
        if (j < 0) {
          j = i;
          let b = 0;
          if (quoteFree) {
            // the loop below with two tests a byte instead of four: no quote can come, and a CR ends a field only
            // right before an LF (found as the LF's neighbour) or as the last byte. An unwanted field is stepped over
            // with every unwanted field after it in one loop, which only counts the delimiters up to the next wanted
            // field (or the line end): `field` ends as the last field stepped over, as if each had been its own turn
            if (slot === -1) {
              const target = field < skipTo.length ? skipTo[field]! : NO_FIELD;
              if (words !== undefined && i < lastLF) {
                // four bytes at a time while no LF is among them and the delimiters they hold do not reach the
                // target: each byte's equality to the delimiter as a high bit (exact, no carry between bytes), counted
                while ((j & 3) !== 0 && (b = buf[j]!) !== delimiter && b !== LF) j++;
                if ((j & 3) === 0)
                  for (let w = j >> 2; w < lastWord; w++) {
                    const word = words[w]!;
                    const x = word ^ delimiters4;
                    const y = word ^ LF4;
                    const lf = ~(((y & 0x7f7f7f7f) + 0x7f7f7f7f) | y | 0x7f7f7f7f);
                    if (lf !== 0) break;
                    const hits = Math.imul((~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f) >>> 7) & 0x01010101, 0x01010101) >>> 24;
                    if (field + hits >= target) break;
                    field += hits;
                    j += 4;
                  }
              }
              while (j < length) {
                b = buf[j]!;
                if (b === delimiter) {
                  if (field + 1 === target) break;
                  field++;
                } else if (b === LF) break;
                j++;
              }
            } else
              while (j < length) {
                b = buf[j]!;
                if (b === delimiter || b === LF) break;
                j++;
              }
            // a CR right before the field's end (an LF, or the end of the data) ends it; one test for both ends, so the
            // end of the data (first met after V8 had optimized record()) needs no feedback of its own
            if (j > i && (j >= length || b === LF) && buf[j - 1] === CR) {
              j--;
              b = CR;
            }
          } else
            while (j < length) {
              b = buf[j]!;
              if (b === delimiter || b === LF) break;
              if (b === CR && (j + 1 >= length || buf[j + 1] === LF)) break;
              if (b === QUOTE)
                throw this.error('BAD_CSV', this.line, `a quote inside the unquoted field ${field + 1} (quote the whole field, and double a quote inside it)`);
              j++;
            }
          if (j >= length && !final) {
            need = Need.More;
            break;
          }
          if (b === CR && j + 1 >= length && !final) {
            need = Need.More;
            break;
          }
          if (slot === -2) fieldsText.push(textOf(buf, i, j));
          else if (slot >= 0) scanner.unquoted(slot, this.rows, buf, i, j);
        }
      }
      field++;
      // j is at the delimiter, a line end, or the end of the data
      if (j < length && buf[j] === delimiter) {
        i = j + 1;
        if (i >= length && !final) {
          need = Need.More;
          break;
        }
        continue; // at the end of the data: one more, empty field
      }
      endLine = this.line;
      if (j < length) {
        i = buf[j] === CR ? j + 2 : j + 1;
        this.line++;
      } else i = j;
      break;
    }
    this.fields = field;
    this.endLine = endLine;
    return need === Need.More ? -1 : i;
  }

  /** After scan() stopped at the header record: the columns started from its texts (false: no header record was read). */
  startHeader<Batch>(scanner: RecordScanner<Batch>): boolean {
    if (this.header !== undefined || this.headerFields.length === 0) return false;
    const header = this.headerFields.map((h) => h.trim());
    this.headerFields.length = 0;
    this.startColumns(scanner, header);
    return true;
  }

  private startColumns<Batch>(scanner: RecordScanner<Batch>, header: string[]): void {
    this.options.checkHeader(header);
    this.header = header;
    const wanted = this.options.columns;
    const names = header.filter((name) => !wanted || wanted.includes(name));
    this.slots = Int32Array.from(header, (name) => names.indexOf(name));
    this.skipTo = new Int32Array(header.length).fill(NO_FIELD);
    for (let f = header.length - 2; f >= 0; f--) this.skipTo[f] = this.slots[f + 1]! >= 0 ? f + 1 : this.skipTo[f + 1]!;
    scanner.begin(names);
  }

  private error(code: 'UNBALANCED_QUOTE' | 'BAD_CSV' | 'RAGGED_ROW', line: number, what: string): DatasetReadError {
    const file = this.options.file;
    return new DatasetReadError({ code, file, line, message: `${file}:${line}: ${what}` });
  }
}

/** Batches of cells (CellValue[] per column), typed as csvCell types each cell's text. */
export class DelimitedScanner extends RecordScanner<ColumnBatch> {
  private columns: CellValue[][] = [];
  private texts: TextCache[] = [];

  protected startBatch(): void {
    this.columns = this.names.map(() => []);
    this.texts = this.names.map(() => new TextCache());
  }

  batch(rows: number, rowOffset: number): ColumnBatch {
    const columns: Record<string, CellValue[]> = {};
    this.names.forEach((name, k) => (columns[name] = this.columns[k]!));
    this.columns = this.names.map(() => []);
    return { rowOffset, rows, columns };
  }

  unquoted(slot: number, _row: number, buf: FastBuffer, s: number, e: number): void {
    pushUnquoted(this.columns[slot]!, buf, s, e, this.texts[slot]!);
  }

  override numeralAt(slot: number, _row: number, buf: FastBuffer, i: number, delimiter: number): number {
    const value = scanNumeral(buf, i, delimiter);
    if (numeralScan.end >= 0) this.columns[slot]!.push(value);
    return numeralScan.end;
  }

  quoted(slot: number, _row: number, text: string): void {
    this.columns[slot]!.push(csvCell(text));
  }

  takeBack(row: number): void {
    for (const column of this.columns) column.length = row;
  }
}
