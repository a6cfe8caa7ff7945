import {
  csvCell,
  numeralParts,
  parseNumeral,
  RecordScanner,
  scanNumeralInto,
  scanNumeralParts,
  TextCache,
  writeNumeral,
  type CsvScanOptions,
  type FastBuffer,
} from './csvScan';
import type { CellValue } from './readers';
import { KernelKind, threadScanKernel, type ScanKernel } from './scanKernel';

/**
 * Columns as typed arrays, for reads of millions of rows (`mloop monitor`'s predictions log and labels): a column
 * of numbers (and empty cells) as a Float64Array with NaN for an empty cell, a column of text as dictionary codes
 * (-1: empty), anything else (numbers and text mixed, booleans) as its cells — per batch, the smallest form that holds
 * the batch's cells exactly (encodeCells). Read back cell by cell with cellAt, they are the cells the reader of cells
 * (DelimitedScanner, csvCell) gives: test/unit/datasets.csvScan.test.ts checks it on generated files.
 */
export type TypedColumn =
  | { readonly kind: 'numbers'; readonly values: Float64Array }
  /**
   * A column asked for as decimals (TypedScanOptions.decimals) whose every cell in the batch is empty or a numeral of
   * an exact decimal form: cell i is values[i] / 10^scale — the very double the numbers form holds — or empty when
   * values[i] is EMPTY_DECIMAL. Otherwise the batch's column comes as numbers (or texts, cells) as it would unasked.
   */
  | { readonly kind: 'decimals'; readonly values: Int32Array; readonly scale: number }
  | { readonly kind: 'texts'; readonly codes: Int32Array; readonly dictionary: readonly string[] }
  | { readonly kind: 'cells'; readonly values: readonly CellValue[] }
  | { readonly kind: 'absent' }
  /** A prefix column: per row, the code of the cell's first `length` characters when it is text that long, else -1. */
  | { readonly kind: 'prefixes'; readonly codes: Int32Array; readonly dictionary: readonly string[] };

export interface TypedBatch {
  /** The index of the batch's first row in the file (data rows, 0-based). */
  readonly rowOffset: number;
  readonly rows: number;
  readonly columns: Record<string, TypedColumn>;
}

/** An empty cell in a decimals column (−2^31: a decimal's integer is at most 2^31 − 1 in magnitude). */
export const EMPTY_DECIMAL = -2147483648;
/** The largest magnitude of a decimal's integer (the drift collector's exact decimal form, columnSample.ts). */
const MAX_DECIMAL = 2147483647;
/** 10^0 … 10^9: the scales of a decimals column. */
const DECIMAL_SCALES = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const TWO_53 = 9007199254740992;

/** Cell i of a typed column, as the reader of cells gives it. */
export function cellAt(column: TypedColumn, i: number): CellValue {
  switch (column.kind) {
    case 'numbers': {
      const v = column.values[i]!;
      return v === v ? v : null;
    }
    case 'decimals': {
      const m = column.values[i]!;
      return m === EMPTY_DECIMAL ? null : m / DECIMAL_SCALES[column.scale]!;
    }
    case 'texts': {
      const code = column.codes[i]!;
      return code < 0 ? null : column.dictionary[code]!;
    }
    case 'cells':
      return column.values[i] ?? null;
    default:
      throw new Error(`cellAt: a ${column.kind} column has no cells`);
  }
}

/** A batch's cells as the smallest form that holds them (numbers and empty cells, texts and empty cells, else the cells). */
export function encodeCells(values: readonly CellValue[] | undefined, rows: number): TypedColumn {
  if (!values) return { kind: 'absent' };
  let numbers = 0;
  let texts = 0;
  let nulls = 0;
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (typeof v === 'number') numbers++;
    else if (typeof v === 'string') texts++;
    else if (v === null || v === undefined) nulls++;
  }
  if (numbers + nulls === rows) {
    const out = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = values[i];
      out[i] = typeof v === 'number' ? v : Number.NaN; // NaN, like an empty cell, is counted as missing
    }
    return { kind: 'numbers', values: out };
  }
  if (texts + nulls === rows) {
    const codes = new Int32Array(rows);
    const index = new Map<string, number>();
    const dictionary: string[] = [];
    for (let i = 0; i < rows; i++) {
      const v = values[i];
      if (typeof v !== 'string') {
        codes[i] = -1;
        continue;
      }
      let code = index.get(v);
      if (code === undefined) {
        index.set(v, (code = dictionary.length));
        dictionary.push(v);
      }
      codes[i] = code;
    }
    return { kind: 'texts', codes, dictionary };
  }
  return { kind: 'cells', values: values.slice(0, rows) };
}

/** Texts up to this many bytes are looked up by the hash of their bytes. */
const SHORT_TEXT = 32;

const enum Mode {
  Numbers,
  Decimals,
  Texts,
  Cells,
  Prefixes,
}

/** One column of the batch being filled: starts as numbers, becomes texts or cells when a cell asks for it. */
class ColumnBuilder {
  mode: Mode;
  values: Float64Array;
  /** Decimals: m at `scale` per row (EMPTY_DECIMAL: an empty cell), and the largest |m| held. */
  private decimals: Int32Array;
  private scale = 0;
  private largest = 0;
  codes: Int32Array;
  dictionary!: string[];
  private index!: Map<string, number>;
  /** Texts: the code of a short ASCII text by the hash of its bytes (this batch's dictionary). */
  private codeOfHash!: Map<number, number>;
  cells!: CellValue[];
  readonly texts = new TextCache();
  /** Prefixes: one dictionary for the whole file, and the bytes of the last prefix seen (rows come in runs of one day). */
  private readonly lastPrefix: Uint8Array;
  private lastCode = -1;

  constructor(
    private readonly capacity: number,
    private readonly prefix: number,
    private readonly asDecimals = false,
    /** An identifier column (TypedScanOptions.ids). */
    readonly asIds = false,
  ) {
    this.mode = prefix > 0 ? Mode.Prefixes : asDecimals ? Mode.Decimals : Mode.Numbers;
    this.values = new Float64Array(prefix > 0 || asDecimals ? 0 : capacity);
    this.decimals = new Int32Array(asDecimals ? capacity : 0);
    this.codes = new Int32Array(prefix > 0 ? capacity : 0);
    this.lastPrefix = new Uint8Array(prefix);
    this.startTexts();
  }

  /**
   * A batch's texts and cells start empty. Declared without a value and set here in the constructor too: a field
   * given a value at its declaration and first reassigned by take() was "constant" to V8 until the first batch's end,
   * and the code compiled on that was thrown away there.
   */
  private startTexts(): void {
    this.dictionary = [];
    this.index = new Map();
    this.codeOfHash = new Map();
    this.cells = [];
  }

  unquoted(row: number, buf: FastBuffer, s: number, e: number): void {
    if (this.asIds) {
      const n = s === e ? Number.NaN : canonicalInteger(buf, s, e);
      this.set(row, n === n ? n : s === e ? null : nonIntegerIdCell(this.texts.text(buf, s, e)));
      return;
    }
    if (this.mode === Mode.Decimals) {
      if (s === e) {
        this.decimals[row] = EMPTY_DECIMAL;
        return;
      }
      // a field followed by its delimiter or line end in buf (not the file's last, unended field): scanned for its parts
      if (e < buf.length && scanNumeralParts(buf, s, buf[e]!) === e) {
        this.decimal(row, buf, s, e);
        return;
      }
      this.toNumbers(row);
    }
    if (this.mode === Mode.Numbers) {
      if (s === e) {
        this.values[row] = Number.NaN;
        return;
      }
      const number = parseNumeral(buf, s, e);
      if (number === number) {
        this.values[row] = number;
        return;
      }
    } else if (this.mode === Mode.Prefixes) {
      this.unquotedPrefix(row, buf, s, e);
      return;
    } else if (this.mode === Mode.Texts && e - s <= SHORT_TEXT) {
      // a category seen before in this batch: its code from the bytes (the same bytes are the same cell)
      let hash = 0x811c9dc5;
      let ascii = true;
      for (let k = s; k < e; k++) {
        const b = buf[k]!;
        if (b >= 0x80) ascii = false;
        hash = Math.imul(hash ^ b, 0x01000193);
      }
      if (ascii) {
        // a small integer key (31 bits): a Map looks it up without boxing it as a heap number first
        hash &= 0x3fffffff;
        const code = this.codeOfHash.get(hash);
        if (code !== undefined) {
          const known = this.dictionary[code]!;
          if (known.length === e - s) {
            let k = 0;
            while (k < known.length && known.charCodeAt(k) === buf[s + k]) k++;
            if (k === known.length) {
              this.codes[row] = code;
              return;
            }
          }
        }
        const cell = unquotedCellOf(buf, s, e, this.texts);
        this.set(row, cell);
        if (this.mode === Mode.Texts && typeof cell === 'string' && !this.codeOfHash.has(hash)) this.codeOfHash.set(hash, this.codes[row]!);
        return;
      }
    }
    this.set(row, unquotedCellOf(buf, s, e, this.texts));
  }

  quoted(row: number, text: string): void {
    this.set(row, this.asIds ? idCell(text) : csvCell(text));
  }

  /** The numeral of bytes [s, e) just scanned (numeralParts) at row `row`: as a decimal when exact, else as numbers from now on. */
  decimal(row: number, buf: FastBuffer, s: number, e: number): void {
    const mantissa = numeralParts[0]!;
    // the numeral's digits moved to the batch's scale (the usual case: a column printed with a fixed count of decimals)
    const shift = this.scale + numeralParts[1]!;
    if (shift >= 0 && shift <= 9 && mantissa <= MAX_DECIMAL) {
      const m = mantissa * DECIMAL_SCALES[shift]!;
      // −0 has no decimal form (its sign would be lost)
      if (m <= MAX_DECIMAL && (m !== 0 || numeralParts[2] === 0)) {
        this.decimals[row] = numeralParts[2] === 1 ? -m : m;
        if (m > this.largest) this.largest = m;
        return;
      }
    }
    this.decimalRescaled(row, buf, s, e);
  }

  /** decimal() for a numeral finer than the batch's scale so far (the batch's decimals rescaled), or without a decimal form. */
  private decimalRescaled(row: number, buf: FastBuffer, s: number, e: number): void {
    let mantissa = numeralParts[0]!;
    let fraction = -numeralParts[1]!;
    const scale = this.scale;
    if (fraction > scale && mantissa < TWO_53) {
      // the smallest scale the numeral needs ("0.50" needs 1), as the collector finds it from the double
      while (fraction > scale && mantissa % 10 === 0 && mantissa !== 0) {
        mantissa /= 10;
        fraction--;
      }
      if (fraction <= 9 && mantissa <= MAX_DECIMAL && this.largest * DECIMAL_SCALES[Math.max(0, fraction - scale)]! <= MAX_DECIMAL) {
        if (fraction > scale) this.rescale(row, fraction);
        numeralParts[0] = mantissa;
        numeralParts[1] = -fraction;
        this.decimal(row, buf, s, e);
        return;
      }
    }
    this.toNumbers(row);
    writeNumeral(buf, s, e, this.values, row);
  }

  /** The decimals of rows [0, rows) at a larger scale (they fit: the caller checked the largest). */
  private rescale(rows: number, scale: number): void {
    const factor = DECIMAL_SCALES[scale - this.scale]!;
    const decimals = this.decimals;
    for (let i = 0; i < rows; i++) {
      const m = decimals[i]!;
      if (m !== EMPTY_DECIMAL) decimals[i] = m * factor;
    }
    this.largest *= factor;
    this.scale = scale;
  }

  /**
   * The kernel's kind for this column's next cells (scanKernel.ts): its mode's; -1 for an identifier column read as
   * decimals (the JS walk types those by two paths the kernel does not have).
   */
  kernelKind(): KernelKind | -1 {
    if (this.mode === Mode.Decimals) return this.asIds ? -1 : KernelKind.Decimal;
    if (this.mode === Mode.Numbers) return this.asIds ? KernelKind.Id : KernelKind.Number;
    return KernelKind.Bounds;
  }

  /** A decimal column's scale and largest |m| into the kernel's table entry at t. */
  kernelState(table: Int32Array, t: number): void {
    table[t + 2] = this.scale;
    table[t + 3] = this.largest;
  }

  /** The kernel's cells of rows [row, row + rows) from its table entry at t (its kind, output, largest) into the column. */
  kernelTake(table: Int32Array, t: number, memory: ArrayBuffer, rows: number, row: number, buf: FastBuffer): void {
    const kind = table[t]!;
    const at = table[t + 1]!;
    if (kind === KernelKind.Number || kind === KernelKind.Id) this.values.set(new Float64Array(memory, at, rows), row);
    else if (kind === KernelKind.Decimal) {
      this.decimals.set(new Int32Array(memory, at, rows), row);
      this.largest = table[t + 3]!;
    } else {
      const bounds = new Int32Array(memory, at, rows * 2);
      for (let r = 0; r < rows; r++) this.unquoted(row + r, buf, bounds[2 * r]!, bounds[2 * r + 1]!);
    }
  }

  /** A decimals column's next batch (its decimals array was not handed out: it became numbers, texts or cells). */
  private startDecimals(): void {
    this.mode = Mode.Decimals;
    this.values = new Float64Array(0);
    this.scale = 0;
    this.largest = 0;
  }

  /** A decimals column becomes numbers: rows [0, rows) as the doubles they stand for (m / 10^scale, the parsed double). */
  private toNumbers(rows: number): void {
    if (this.mode !== Mode.Decimals) return;
    const power = DECIMAL_SCALES[this.scale]!;
    const values = new Float64Array(this.capacity);
    const decimals = this.decimals;
    for (let i = 0; i < rows; i++) {
      const m = decimals[i]!;
      values[i] = m === EMPTY_DECIMAL ? Number.NaN : m / power;
    }
    this.values = values;
    this.mode = Mode.Numbers;
  }

  /** A prefix from the bytes when the field is ASCII text at least `prefix` long (a date-time, the usual case). */
  private unquotedPrefix(row: number, buf: FastBuffer, s: number, e: number): void {
    const n = this.prefix;
    const number = e - s >= n ? parseNumeral(buf, s, e) : 0;
    if (number !== number) {
      // not a numeral, and longer than any null token or boolean: text
      const last = this.lastPrefix;
      let same = this.lastCode >= 0;
      let ascii = true;
      for (let k = 0; k < n; k++) {
        const b = buf[s + k]!;
        if (b >= 0x80) ascii = false;
        if (b !== last[k]) same = false;
      }
      if (ascii) {
        if (!same) {
          this.lastCode = this.code(buf.latin1Slice(s, s + n));
          last.set(buf.subarray(s, s + n));
        }
        this.codes[row] = this.lastCode;
        return;
      }
    }
    this.set(row, unquotedCellOf(buf, s, e, this.texts));
  }

  code(text: string): number {
    let code = this.index.get(text);
    if (code === undefined) {
      this.index.set(text, (code = this.dictionary.length));
      this.dictionary.push(text);
    }
    return code;
  }

  /** Any cell, in whatever the column has become. */
  private set(row: number, cell: CellValue): void {
    this.toNumbers(row);
    switch (this.mode) {
      case Mode.Prefixes:
        this.codes[row] = typeof cell === 'string' && cell.length >= this.prefix ? this.code(cell.slice(0, this.prefix)) : -1;
        return;
      case Mode.Numbers:
        if (cell === null) {
          this.values[row] = Number.NaN;
          return;
        }
        if (typeof cell === 'number') {
          this.values[row] = cell;
          return;
        }
        if (typeof cell === 'string' && !this.values.subarray(0, row).some((v) => v === v)) {
          // only empty cells so far: a column of text
          this.mode = Mode.Texts;
          this.codes = new Int32Array(this.capacity).fill(-1, 0, row);
          break;
        }
        this.mode = Mode.Cells;
        this.cells = Array.from(this.values.subarray(0, row), (v) => (v === v ? v : null));
        break;
      case Mode.Texts:
        if (cell === null) {
          this.codes[row] = -1;
          return;
        }
        if (typeof cell !== 'string') {
          this.mode = Mode.Cells;
          this.cells = Array.from(this.codes.subarray(0, row), (code) => (code < 0 ? null : this.dictionary[code]!));
        }
        break;
      case Mode.Cells:
        break;
    }
    if (this.mode === Mode.Texts) this.codes[row] = this.code(cell as string);
    else this.cells[row] = cell;
  }

  /** The batch's first `rows` cells as a column; the builder starts a new batch. */
  take(rows: number): TypedColumn {
    const fit = <T extends Float64Array | Int32Array>(a: T): T => (rows === a.length ? a : (a.slice(0, rows) as T));
    let column: TypedColumn;
    switch (this.mode) {
      case Mode.Decimals:
        column = { kind: 'decimals', values: fit(this.decimals), scale: this.scale };
        this.decimals = new Int32Array(this.capacity);
        this.scale = 0;
        this.largest = 0;
        return column;
      case Mode.Numbers:
        column = { kind: 'numbers', values: fit(this.values) };
        if (this.asDecimals) this.startDecimals();
        else this.values = new Float64Array(this.capacity);
        return column;
      case Mode.Prefixes:
        column = { kind: 'prefixes', codes: fit(this.codes), dictionary: this.dictionary };
        this.codes = new Int32Array(this.capacity);
        return column;
      case Mode.Texts:
        column = { kind: 'texts', codes: fit(this.codes), dictionary: this.dictionary };
        break;
      case Mode.Cells:
        // numbers and text (or booleans): as the reader of cells would encode the batch
        column = encodeCells(this.cells.slice(0, rows), rows);
        break;
    }
    if (this.asDecimals) this.startDecimals();
    else {
      this.mode = Mode.Numbers;
      this.values = new Float64Array(this.capacity);
    }
    this.codes = new Int32Array(0);
    this.startTexts();
    return column;
  }
}

/** The cell of an unquoted field, typed as the reader of cells types it. */
function unquotedCellOf(buf: FastBuffer, s: number, e: number, texts: TextCache): CellValue {
  if (s === e) return null;
  const number = parseNumeral(buf, s, e);
  if (number === number) return number;
  const first = buf[s]!;
  // a digit or sign first but not a numeral (a date, "-", "1e"): text, never a null token or a boolean
  if ((first >= 48 && first <= 57) || first === 45 || first === 43 || first === 46) return texts.text(buf, s, e);
  return csvCell(texts.text(buf, s, e));
}

export interface TypedScanOptions extends CsvScanOptions {
  /** Columns read as prefixes of this many characters (a time column read for its day: 10). */
  readonly prefixes?: Readonly<Record<string, number>>;
  /**
   * Columns handed on as exact decimals where a batch's cells allow it (TypedColumn 'decimals'): the drift collector
   * holds numbers in that form (src/core/drift/columnSample.ts), so it need not find each one again from its double.
   */
  readonly decimals?: readonly string[];
  /**
   * Columns of identifiers (a join's id column): a cell is a number only when its text is that number's own form — an
   * integer numeral of at most 15 digits, no sign but '-', no leading zero — and otherwise the cell's text, never a
   * number read from it. An id "8144173e-5" is that text (not 81.44173), "007" is not 7, and a 20-digit id is not
   * rounded into another's double; idKey (src/core/monitoring/labels.ts) keys both sides of a join alike from there.
   */
  readonly ids?: readonly string[];
}

/** Bytes [s, e) as a canonical integer numeral (idKey's number for its text), or NaN when they are not one. */
function canonicalInteger(buf: FastBuffer, s: number, e: number): number {
  const negative = buf[s] === 45;
  const k = negative ? s + 1 : s;
  const digits = e - k;
  if (digits < 1 || digits > 15 || (buf[k] === 48 && (digits > 1 || negative))) return Number.NaN;
  let n = 0;
  for (let i = k; i < e; i++) {
    const d = buf[i]! - 48;
    if (d >>> 0 > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** The end of an identifier field at i when it is a canonical integer followed by its delimiter or line end (its number at out[at]), else -1. */
function scanIdInto(buf: FastBuffer, i: number, delimiter: number, out: Float64Array, at: number): number {
  let k = i;
  let b = buf[k]!;
  if (b === 45) b = buf[++k]!;
  while (b >= 48 && b <= 57) b = buf[++k]!;
  if (!(b === delimiter || b === 10 || (b === 13 && buf[k + 1] === 10))) return -1;
  const n = canonicalInteger(buf, i, k);
  if (n !== n) return -1;
  out[at] = n;
  return k;
}

/** An identifier's cell from its text (TypedScanOptions.ids): a canonical integer as its number, a null token as empty, else the text. */
function idCell(text: string): CellValue {
  return CANONICAL_INTEGER.test(text) ? Number(text) : nonIntegerIdCell(text);
}
/** idCell of a text that is no canonical integer: a null token as empty, a boolean as itself, any numeral as its text. */
function nonIntegerIdCell(text: string): CellValue {
  const cell = csvCell(text);
  return typeof cell === 'number' ? text : cell;
}
/** canonicalInteger's form, for a text. */
const CANONICAL_INTEGER = /^(?:0|-?[1-9]\d{0,14})$/;

/**
 * Batches of typed columns from the bytes of a delimited file: the records are scanned as DelimitedScanner scans
 * them (same errors, same lines), and each wanted cell goes straight into its column's typed array — no array of
 * cells, no string for a number.
 */
export class TypedDelimitedScanner extends RecordScanner<TypedBatch> {
  private builders: ColumnBuilder[] = [];
  override readonly kernel: ScanKernel | undefined;
  private readonly delimiterCode: number;

  constructor(private readonly typedOptions: TypedScanOptions) {
    super(typedOptions);
    this.kernel = threadScanKernel();
    this.delimiterCode = typedOptions.delimiter.charCodeAt(0);
  }

  /** The kernel's table from the columns' modes, its call, and the cells it typed moved into the columns. */
  override kernelRows(slots: Int32Array, i: number, end: number, maxRows: number, row: number, buf: FastBuffer): number {
    const kernel = this.kernel!;
    const table = kernel.table;
    const fields = slots.length;
    for (let f = 0; f < fields; f++) {
      const slot = slots[f]!;
      const t = f * 4;
      if (slot < 0) {
        table[t] = KernelKind.Skip;
        continue;
      }
      const kind = this.builders[slot]!.kernelKind();
      if (kind < 0) return 0;
      table[t] = kind;
      table[t + 1] = kernel.outputOf(f);
      this.builders[slot]!.kernelState(table, t);
    }
    const rows = kernel.rows(i, end, maxRows, fields, this.delimiterCode, buf);
    if (rows > 0)
      for (let f = 0; f < fields; f++) {
        const slot = slots[f]!;
        if (slot >= 0) this.builders[slot]!.kernelTake(table, f * 4, kernel.memory, rows, row, buf);
      }
    return rows;
  }

  protected startBatch(): void {
    const capacity = Math.min(this.options.batchRows, this.options.maxRows);
    const decimals = new Set(this.typedOptions.decimals);
    const ids = new Set(this.typedOptions.ids);
    this.builders = this.names.map((name) => new ColumnBuilder(capacity, this.typedOptions.prefixes?.[name] ?? 0, decimals.has(name), ids.has(name)));
  }

  batch(rows: number, rowOffset: number): TypedBatch {
    const columns: Record<string, TypedColumn> = {};
    this.names.forEach((name, k) => (columns[name] = this.builders[k]!.take(rows)));
    return { rowOffset, rows, columns };
  }

  unquoted(slot: number, row: number, buf: FastBuffer, s: number, e: number): void {
    this.builders[slot]!.unquoted(row, buf, s, e);
  }

  override numeralAt(slot: number, row: number, buf: FastBuffer, i: number, delimiter: number): number {
    const builder = this.builders[slot]!;
    if (builder.mode === Mode.Decimals) {
      const end = scanNumeralParts(buf, i, delimiter);
      if (end >= 0) builder.decimal(row, buf, i, end);
      return end;
    }
    if (builder.mode !== Mode.Numbers) return -1;
    if (builder.asIds) return scanIdInto(buf, i, delimiter, builder.values, row);
    return scanNumeralInto(buf, i, delimiter, builder.values, row);
  }

  quoted(slot: number, row: number, text: string): void {
    this.builders[slot]!.quoted(row, text);
  }

  takeBack(_row: number): void {
    // the row's cells are written again when the record is scanned whole
  }
}

/** Generated CSV through every path of the typed reader (see primeTypedReader). */
const PRIMER_HEADER = 'id,t,a,b,c,q,u,v,l,n,p,m,z\r\n';
const PRIMER_ROWS = [
  '1,2024-01-01T00:05:31,0.5,-2e-05,store,"a ""b""",3,w,a text of some length,-0.123456,0.17841300000000004,1,0.5',
  '2,2024-01-01T01:00:00,-0,1.25E+2,app,k,4.5,"w 2",another long text,+12.5e-3,0.25,true,-1e-2',
  '3,2024-01-02T00:00:00,,0,,"",,,,,,x,',
  '-4,2024-02-01T00:00:00,12.125,3.5e1,a category name longer than 32 bytes,"",-1e-3,NA,yet another text,1E5,1e-05,,8',
  '5,,7,-0.001,store,q,5,v,text,0,0.000123456789012345678,2,3.25',
  '6,2024-02-01T10:00:00,123456789.123,4,é,"é",6,é,é and more text here,-7,-0.5,NA,-0',
];
let primed = false;

/**
 * One small read of generated CSV through every path of the typed reader — header, quoted fields, CR LF, unwanted
 * fields stepped over, numbers, decimals, prefixes, texts, mixed cells, exponents, signs, −0, numerals too long for
 * the fast path, records cut by a chunk's end, a batch's end, maxRows — once a thread, before its first read. V8
 * compiles a function for the paths that ran once it had feedback (after its first calls); a path first met later
 * (the reference's first exponent at row 2,465, the log's decimals and prefixes after its schema's sample, unwanted
 * columns after a read of all) threw the compiled reader away, with the record walk the scanners are inlined into,
 * and had it compiled again, in each thread. It costs well under a millisecond.
 */
export function primeTypedReader(): void {
  if (primed) return;
  primed = true;
  primerBatches();
}

/** The primer's reads (primeTypedReader): their batches. */
export function primerBatches(): TypedBatch[] {
  const batches: TypedBatch[] = [];
  const rows = PRIMER_ROWS.map((row, k) => (k % 2 ? `${row}\r\n` : `${row}\n`)).join('');
  // [quotes, chunk bytes, maxRows]: quoted and quote-free chunks (the latter scanned by words), whole or cut in records
  const passes: [boolean, number, number][] = [
    [true, 1 << 20, Number.POSITIVE_INFINITY],
    [true, 37, Number.POSITIVE_INFINITY],
    [false, 1 << 20, Number.POSITIVE_INFINITY],
    [false, 29, Number.POSITIVE_INFINITY],
    [false, 1 << 20, 9],
  ];
  for (const [quotes, chunkBytes, maxRows] of passes) {
    const text = PRIMER_HEADER + (quotes ? rows : rows.replaceAll('"', '')).repeat(3);
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
    bytes.write(text);
    const scanner = new TypedDelimitedScanner({
      file: 'primer.csv',
      delimiter: ',',
      columns: ['id', 't', 'a', 'b', 'c', 'q', 'p', 'm', 'z'],
      prefixes: { t: 10 },
      decimals: ['a', 'b', 'c'],
      batchRows: 4,
      maxRows,
      checkHeader: () => undefined,
    });
    for (let at = 0; at < bytes.length && !scanner.done; at += chunkBytes) batches.push(...scanner.push(bytes.subarray(at, at + chunkBytes)));
    if (!scanner.done) batches.push(...scanner.end());
  }
  return batches;
}
