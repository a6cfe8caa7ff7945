import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DelimitedScanner, numeralScan, scanNumeral } from '../../src/core/datasets/csvScan';
import { DatasetReadError, readTypedBatches, type CellValue } from '../../src/core/datasets/readers';
import { cellAt, primerBatches, TypedDelimitedScanner, type TypedBatch } from '../../src/core/datasets/typedCsv';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { ODD_NUMERALS } from '../support/oddNumerals';

/**
 * The scanner against an independent reader: csv-parse (the library mloop read CSV with before) with the same
 * options, each cell typed by the regular-expression rule written out again here (pandas' null tokens, a numeral
 * by regex then Number, true/false). Files are generated with quotes, CRLF, BOM, blank lines, UTF-8 and numerals
 * of every shape, and fed in random chunk sizes so that records, quotes and CRLF pairs straddle chunk ends.
 */

const NULLS = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '#N/A']);
function referenceCell(text: string): CellValue {
  if (NULLS.has(text)) return null;
  if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  return text;
}

function referenceRead(bytes: Buffer, delimiter: string): { header: string[]; rows: CellValue[][] } {
  const records = parse(bytes, { delimiter, bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  return { header: records[0]!.map((h) => h.trim()), rows: records.slice(1).map((r) => r.map(referenceCell)) };
}

/** Cuts bytes into chunks of chunkSizes() bytes (each a copy, as a stream gives them). */
function chunked(bytes: Buffer, chunkSizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, chunkSizes());
    chunks.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return chunks;
}

function scanRead(
  bytes: Buffer,
  delimiter: ',' | '\t',
  chunkSizes: () => number,
  columns?: string[],
  chunks = chunked(bytes, chunkSizes),
): Record<string, CellValue[]> {
  const scanner = new DelimitedScanner({
    file: 'gen.csv',
    delimiter,
    batchRows: 7,
    maxRows: Number.POSITIVE_INFINITY,
    checkHeader: () => {},
    ...(columns ? { columns } : {}),
  });
  const out: Record<string, CellValue[]> = {};
  const take = (batches: { columns: Record<string, CellValue[]> }[]): void => {
    for (const b of batches) for (const [k, v] of Object.entries(b.columns)) (out[k] ??= []).push(...v);
  };
  for (const chunk of chunks) take(scanner.push(chunk));
  take(scanner.end());
  return out;
}

const NUMERALS = [
  '0',
  '-0',
  '+5',
  '007',
  '1.',
  '.5',
  '-.25',
  '1e5',
  '1E-7',
  '1.e3',
  '2.5e+10',
  '123456789012345',
  '1234567890123456789',
  '0.1',
  '0.30000000000000004',
  '9007199254740993',
  '1e400',
  '-1e-400',
  '4.9e-324',
  '1.7976931348623157e308',
  '3.14159265358979323846',
  '1e23',
  '8.5e-23',
  '123.456e-20',
];
const TEXTS = [
  'NA',
  'nan',
  'NaN',
  'None',
  'null',
  '#N/A',
  'true',
  'FALSE',
  'True',
  'x',
  '-',
  '.',
  '+',
  '1e',
  '1e+',
  '2025-01-01',
  '2025-01-01T10:00:00',
  '2025-01-02T10:00:00',
  '2026-03-01 00:00',
  '2025-01-02',
  '1.2.3',
  '--1',
  'é',
  'naïve ☃',
  ' 12',
  '12 ',
  'tru',
  'falsey',
  'e5',
  '∞',
];

function generated(random: () => number, delimiter: string): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const columns = 1 + Math.floor(random() * 6);
  const eol = random() < 0.3 ? '\r\n' : '\n';
  const cell = (): string => {
    const r = random();
    let text =
      r < 0.35
        ? pick(NUMERALS)
        : r < 0.55
          ? pick(TEXTS)
          : r < 0.7
            ? String((random() - 0.5) * 10 ** Math.floor(random() * 8))
            : r < 0.8
              ? ''
              : String(Math.floor(random() * 1000));
    if (random() < 0.15) text = `${text}${pick([delimiter, '"', '\n', '\r\n', ' '])}${text}`;
    const needs = text.includes(delimiter) || text.includes('"') || text.includes('\n') || text.includes('\r');
    return needs || random() < 0.1 ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [Array.from({ length: columns }, (_, k) => (random() < 0.2 ? ` c${k} ` : `c${k}`)).join(delimiter)];
  const rows = Math.floor(random() * 40);
  for (let r = 0; r < rows; r++) {
    if (random() < 0.05) lines.push('');
    lines.push(Array.from({ length: columns }, cell).join(delimiter));
  }
  const text = lines.join(eol) + (random() < 0.7 ? eol : '');
  return Buffer.concat([random() < 0.2 ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text, 'utf8')]);
}

function same(actual: CellValue | undefined, expected: CellValue, where: string): void {
  assert.ok(
    Object.is(actual, expected),
    `${where}: ${JSON.stringify(actual)} (${typeof actual}) ≠ ${JSON.stringify(expected)} (${typeof expected})${Object.is(expected, -0) ? ' (-0)' : ''}`,
  );
}

/**
 * The typed scanner's batches read back cell by cell (cellAt); prefix columns as what they hold: the first n
 * characters of a text cell at least n long, else undefined. Also checks each batch's form is the smallest that
 * holds its cells (numbers and empty cells → numbers, texts and empty cells → texts).
 */
function typedRead(
  bytes: Buffer,
  delimiter: ',' | '\t',
  chunkSizes: () => number,
  options: { columns?: string[]; prefixes?: Record<string, number>; batchRows?: number; decimals?: string[] } = {},
  chunks = chunked(bytes, chunkSizes),
  forms?: Record<string, number>,
): Record<string, (CellValue | undefined)[]> {
  const scanner = new TypedDelimitedScanner({
    file: 'gen.csv',
    delimiter,
    batchRows: options.batchRows ?? 7,
    maxRows: Number.POSITIVE_INFINITY,
    checkHeader: () => {},
    ...(options.columns ? { columns: options.columns } : {}),
    ...(options.prefixes ? { prefixes: options.prefixes } : {}),
    ...(options.decimals ? { decimals: options.decimals } : {}),
  });
  const out: Record<string, (CellValue | undefined)[]> = {};
  const take = (batches: TypedBatch[]): void => {
    for (const b of batches)
      for (const [k, c] of Object.entries(b.columns)) {
        const column = (out[k] ??= []);
        if (c.kind === 'prefixes') {
          assert.equal(c.codes.length, b.rows);
          for (let i = 0; i < b.rows; i++) column.push(c.codes[i]! < 0 ? undefined : c.dictionary[c.codes[i]!]);
          continue;
        }
        const cells = Array.from({ length: b.rows }, (_, i) => cellAt(c, i));
        const numbers = cells.every((v) => v === null || typeof v === 'number');
        const texts = !numbers && cells.every((v) => v === null || typeof v === 'string');
        // a decimals column's batch of numbers is decimals unless one of them has no such form (then numbers, as unasked)
        const kind = c.kind === 'decimals' && numbers && options.decimals?.includes(k) ? 'decimals' : numbers ? 'numbers' : texts ? 'texts' : 'cells';
        assert.equal(c.kind, kind, `column ${k}: ${JSON.stringify(cells)}`);
        if (c.kind === 'numbers' || c.kind === 'decimals') assert.equal(c.values.length, b.rows);
        if (forms) forms[c.kind] = (forms[c.kind] ?? 0) + 1;
        column.push(...cells);
      }
  };
  for (const chunk of chunks) take(scanner.push(chunk));
  take(scanner.end());
  return out;
}

async function scanError(bytes: Buffer, scanner: 'cells' | 'typed' = 'cells'): Promise<DatasetReadError> {
  try {
    if (scanner === 'typed') typedRead(bytes, ',', () => 3);
    else scanRead(bytes, ',', () => 3);
  } catch (error) {
    assert.ok(error instanceof DatasetReadError, String(error));
    return error;
  }
  assert.fail('no error');
}

describe('datasets: CSV scanner equals csv-parse + the typing rule', function () {
  this.timeout(60_000);
  it('500 generated files (quotes, CRLF, BOM, blank lines, UTF-8, numerals of every shape) in random chunk sizes, cell for cell', () => {
    const random = seededRandom(20261205);
    let checked = 0;
    for (let f = 0; f < 500; f++) {
      const delimiter = random() < 0.8 ? ',' : '\t';
      const bytes = generated(random, delimiter);
      let expected: ReturnType<typeof referenceRead>;
      try {
        expected = referenceRead(bytes, delimiter);
      } catch {
        continue; // the generator made something csv-parse refuses: checked by the error cases below
      }
      const maxChunk = 1 + Math.floor(random() * 64);
      const chunkSize = (): number => Math.floor(random() * maxChunk) + 1;
      if (expected.rows.length === 0) {
        assert.throws(
          () => scanRead(bytes, delimiter as ',' | '\t', chunkSize),
          (e: DatasetReadError) => e.code === 'NO_ROWS',
          `file ${f}`,
        );
        continue;
      }
      checked++;
      const actual = scanRead(bytes, delimiter as ',' | '\t', chunkSize);
      assert.deepEqual(Object.keys(actual), expected.header, `file ${f}: header`);
      expected.rows.forEach((row, r) => row.forEach((v, c) => same(actual[expected.header[c]!]?.[r], v, `file ${f} row ${r} column ${expected.header[c]}`)));
      for (const values of Object.values(actual)) assert.equal(values.length, expected.rows.length, `file ${f}: row count`);
    }
    assert.ok(checked > 300, `only ${checked} files compared`);
  });

  it('only the wanted columns are typed and kept, in header order', () => {
    const bytes = Buffer.from('a,b,c\n1,"x,y",3\n4,,6\n');
    assert.deepEqual(
      scanRead(bytes, ',', () => 2, ['c', 'a']),
      { a: [1, 4], c: [3, 6] },
    );
  });

  it('every double a numeral can spell is read as Number reads it (100,000 random numerals)', () => {
    const random = seededRandom(7);
    const texts: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const digits = Array.from({ length: 1 + Math.floor(random() * 18) }, () => Math.floor(random() * 10)).join('');
      const dot = Math.floor(random() * (digits.length + 1));
      const exponent = random() < 0.3 ? `e${Math.floor(random() * 60) - 30}` : '';
      texts.push(`${random() < 0.3 ? '-' : ''}${digits.slice(0, dot)}${dot < digits.length || random() < 0.5 ? '.' : ''}${digits.slice(dot)}${exponent}`);
    }
    const got = scanRead(Buffer.from(`v\n${texts.join('\n')}\n`), ',', () => 4096).v!;
    texts.forEach((t, i) => same(got[i], referenceCell(t), `numeral ${t}`));
  });

  describe('refused with the line', () => {
    const cases: [string, string, RegExp, number | undefined][] = [
      ['a,b\n1,2\n3,4,5\n', 'RAGGED_ROW', /gen\.csv:3: expect 2 fields, got 3/, 3],
      ['a,b\n1,2\n\n3\n', 'RAGGED_ROW', /gen\.csv:4: expect 2 fields, got 1/, 4],
      ['a,b\n1,"open\n2,3\n', 'UNBALANCED_QUOTE', /never closed/, 2],
      ['a,b\n1,"x"y,2\n', 'UNBALANCED_QUOTE', /closing quote/, 2],
      ['a,b\n1,x"y\n', 'BAD_CSV', /a quote inside the unquoted field 2/, 2],
    ];
    for (const [text, code, message, line] of cases)
      it(`${JSON.stringify(text)} → ${code}`, async () => {
        assert.throws(() => parse(text, { skip_empty_lines: true }), 'csv-parse refuses it too');
        for (const scanner of ['cells', 'typed'] as const) {
          const e = await scanError(Buffer.from(text), scanner);
          assert.equal(e.code, code, `${scanner}: ${e.message}`);
          assert.match(e.message, message, scanner);
          assert.equal(e.line, line, scanner);
        }
      });
  });
});

describe('datasets: typed CSV scanner (typed columns) equals csv-parse + the typing rule', function () {
  this.timeout(60_000);
  it('500 generated files (quotes, CRLF, BOM, blank lines, missing values, UTF-8, numerals) in random chunk sizes, cell for cell, batch forms the smallest', () => {
    const random = seededRandom(20261206);
    let checked = 0;
    let prefixed = 0;
    for (let f = 0; f < 500; f++) {
      const delimiter = random() < 0.8 ? ',' : '\t';
      const bytes = generated(random, delimiter);
      let expected: ReturnType<typeof referenceRead>;
      try {
        expected = referenceRead(bytes, delimiter);
      } catch {
        continue;
      }
      const maxChunk = 1 + Math.floor(random() * 64);
      const chunkSize = (): number => Math.floor(random() * maxChunk) + 1;
      if (expected.rows.length === 0) {
        assert.throws(
          () => typedRead(bytes, delimiter as ',' | '\t', chunkSize),
          (e: DatasetReadError) => e.code === 'NO_ROWS',
          `file ${f}`,
        );
        continue;
      }
      checked++;
      const actual = typedRead(bytes, delimiter as ',' | '\t', chunkSize, { batchRows: 1 + Math.floor(random() * 9) });
      assert.deepEqual(Object.keys(actual), expected.header, `file ${f}: header`);
      expected.rows.forEach((row, r) => row.forEach((v, c) => same(actual[expected.header[c]!]?.[r], v, `file ${f} row ${r} column ${expected.header[c]}`)));
      for (const values of Object.values(actual)) assert.equal(values.length, expected.rows.length, `file ${f}: row count`);
      // the first column read for its first 10 characters (as a time column for its day)
      const first = expected.header[0]!;
      const prefixes = typedRead(bytes, delimiter as ',' | '\t', chunkSize, { prefixes: { [first]: 10 } })[first]!;
      expected.rows.forEach((row, r) => {
        const v = row[0]!;
        const want = typeof v === 'string' && v.length >= 10 ? v.slice(0, 10) : undefined;
        if (want !== undefined) prefixed++;
        assert.equal(prefixes[r], want, `file ${f} row ${r}: prefix of ${JSON.stringify(v)}`);
      });
    }
    assert.ok(checked > 300, `only ${checked} files compared`);
    assert.ok(prefixed > 50, `only ${prefixed} prefixes compared`);
  });

  it('decimals columns: 500 generated files in random chunk sizes read back cell for cell as the numbers form gives them (−0, exponents, 17+ digits, leading zeros, missing)', () => {
    const random = seededRandom(20261207);
    const forms: Record<string, number> = {};
    let checked = 0;
    // numerals of one column's shapes: fixed decimals, a growing or shrinking scale, and the odd ones
    const odd = ODD_NUMERALS;
    for (let f = 0; f < 500; f++) {
      const delimiter = random() < 0.8 ? ',' : '\t';
      const rows = Math.floor(random() * 60) + 1;
      const columns = 1 + Math.floor(random() * 4);
      const oddShare = random() < 0.5 ? 0 : random() * 0.2;
      const cell = (k: number): string => {
        if (random() < oddShare) return odd[Math.floor(random() * odd.length)]!;
        const places = k === 0 ? 5 : Math.floor(random() * 10);
        const v = (random() - 0.5) * 10 ** (1 + Math.floor(random() * 5));
        return v.toFixed(places);
      };
      const lines = [Array.from({ length: columns }, (_, k) => `c${k}`).join(delimiter)];
      for (let r = 0; r < rows; r++) lines.push(Array.from({ length: columns }, (_, k) => cell(k)).join(delimiter));
      const eol = random() < 0.3 ? '\r\n' : '\n';
      const bytes = Buffer.from(lines.join(eol) + (random() < 0.7 ? eol : ''));
      const expected = referenceRead(bytes, delimiter);
      const maxChunk = 1 + Math.floor(random() * 64);
      const chunkSize = (): number => Math.floor(random() * maxChunk) + 1;
      const actual = typedRead(
        bytes,
        delimiter as ',' | '\t',
        chunkSize,
        { batchRows: 1 + Math.floor(random() * 20), decimals: expected.header },
        undefined,
        forms,
      );
      expected.rows.forEach((row, r) => row.forEach((v, c) => same(actual[expected.header[c]!]?.[r], v, `file ${f} row ${r} column ${expected.header[c]}`)));
      for (const values of Object.values(actual)) assert.equal(values.length, expected.rows.length, `file ${f}: row count`);
      checked++;
    }
    assert.equal(checked, 500);
    // both forms met: decimals where every cell had one, numbers where one had not
    assert.ok((forms.decimals ?? 0) > 1000 && (forms.numbers ?? 0) > 100, JSON.stringify(forms));
  });

  it('a column of numbers that turns to text mid-batch, empty cells first, quoted numerals: the cells as written', () => {
    const bytes = Buffer.from('n,t,m\r\n1.5,,\r\n,"x",2\r\n\r\n"3",y,z\r\n4,,true\r\n');
    assert.deepEqual(
      typedRead(bytes, ',', () => 5, { batchRows: 10 }),
      { n: [1.5, null, 3, 4], t: [null, 'x', 'y', null], m: [null, 2, 'z', true] },
    );
  });

  it('every double a numeral can spell is read as Number reads it (100,000 random numerals)', () => {
    const random = seededRandom(8);
    const texts: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const digits = Array.from({ length: 1 + Math.floor(random() * 19) }, () => Math.floor(random() * 10)).join('');
      const dot = Math.floor(random() * (digits.length + 1));
      const exponent = random() < 0.3 ? `e${Math.floor(random() * 60) - 30}` : '';
      texts.push(`${random() < 0.3 ? '-' : ''}${digits.slice(0, dot)}${dot < digits.length || random() < 0.5 ? '.' : ''}${digits.slice(dot)}${exponent}`);
    }
    const got = typedRead(Buffer.from(`v\n${texts.join('\n')}\n`), ',', () => 4096, { batchRows: 10_000 }).v!;
    texts.forEach((t, i) => same(got[i], referenceCell(t), `numeral ${t}`));
  });

  it('a file with a row of too few fields: the error names the file and its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mloop-typed-'));
    try {
      const file = join(dir, 'short.csv');
      writeFileSync(file, 'id,p\r\n1,0.5\r\n\r\n2\r\n');
      await assert.rejects(
        (async () => {
          for await (const _ of readTypedBatches(file, {})) void _;
        })(),
        (e: DatasetReadError) => e.code === 'RAGGED_ROW' && e.message.startsWith(`${file}:4: expect 2 fields, got 1`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Numerals the scanNumeral test compares with Number (MLOOP_NUMERAL_CASES=5000000 for a longer run by hand). */
const NUMERAL_CASES = Number(process.env.MLOOP_NUMERAL_CASES ?? 200_000);

/** A quote-free file as logs are: many columns (numerals, texts, empty cells), LF or CRLF, sometimes a BOM or blank lines. */
function quoteFreeWide(random: () => number, delimiter: string): { bytes: Buffer; lines: number[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const plain = [...NUMERALS, ...TEXTS.filter((t) => !t.includes(' ')), '', '', '0.670742', '0.8623730000000001', '10000001', '-1.40602'];
  const columns = 6 + Math.floor(random() * 10);
  const eol = random() < 0.3 ? '\r\n' : '\n';
  const lines = [Array.from({ length: columns }, (_, k) => `c${k}`).join(delimiter)];
  /** The 1-based line of each data row. */
  const rowLines: number[] = [];
  const rows = 3 + Math.floor(random() * 8);
  for (let r = 0; r < rows; r++) {
    if (random() < 0.1) lines.push('');
    lines.push(Array.from({ length: columns }, () => pick(plain)).join(delimiter));
    rowLines.push(lines.length);
  }
  const text = lines.join(eol) + (random() < 0.8 ? eol : '');
  return { bytes: Buffer.concat([random() < 0.2 ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text, 'utf8')]), lines: rowLines };
}

/** bytes cut in two at k, each chunk at the start of its own memory (word-aligned) or one byte after it. */
function cutAt(bytes: Buffer, k: number, aligned: boolean): Buffer[] {
  return [bytes.subarray(0, k), bytes.subarray(k)].map((part) => {
    const room = Buffer.alloc(part.length + (aligned ? 0 : 1));
    part.copy(room, aligned ? 0 : 1);
    return aligned ? room : room.subarray(1);
  });
}

/** The cells of every read column equal the reference's (Object.is); the message is made only for a difference. */
function sameColumns(
  actual: Record<string, (CellValue | undefined)[]>,
  expected: { header: string[]; rows: CellValue[][] },
  wanted: string[],
  where: () => string,
): void {
  assert.deepEqual(
    Object.keys(actual),
    expected.header.filter((h) => wanted.includes(h)),
    `${where()}: columns`,
  );
  for (const name of wanted) {
    const c = expected.header.indexOf(name);
    const got = actual[name]!;
    assert.equal(got.length, expected.rows.length, `${where()}: rows of ${name}`);
    for (let r = 0; r < expected.rows.length; r++)
      if (!Object.is(got[r], expected.rows[r]![c])) same(got[r], expected.rows[r]![c]!, `${where()} row ${r} column ${name}`);
  }
}

describe('datasets: the scanner fast paths (numerals read while scanning, unwanted fields stepped over a word at a time) at every chunk boundary', function () {
  this.timeout(60_000);
  it('10 small files (half quote-free and wide, half with quotes, CRLF, BOM, blank lines, embedded delimiters and newlines) cut at every offset, aligned and not, all columns and a few', () => {
    const random = seededRandom(20261220);
    let compared = 0;
    for (let f = 0; f < 10; f++) {
      const delimiter = f % 6 === 5 ? '\t' : ',';
      let bytes = quoteFreeWide(random, delimiter).bytes;
      // a small file (every cut of it is read three times), for half of them with quotes
      if (f % 2 === 1)
        do bytes = generated(random, delimiter);
        while (bytes.length > 500);
      let expected: ReturnType<typeof referenceRead>;
      try {
        expected = referenceRead(bytes, delimiter);
      } catch {
        continue;
      }
      if (expected.rows.length === 0) continue;
      // a few columns, some far apart: the fields between them are stepped over
      const few = expected.header.filter(() => random() < 0.3);
      if (few.length === 0) few.push(expected.header[expected.header.length - 1]!);
      for (let k = 1; k < bytes.length; k++)
        for (const aligned of [true, false]) {
          const where = (): string => `file ${f} cut at ${k} (${aligned ? 'aligned' : 'unaligned'})`;
          sameColumns(
            scanRead(bytes, delimiter as ',' | '\t', () => 0, undefined, cutAt(bytes, k, aligned)),
            expected,
            expected.header,
            where,
          );
          sameColumns(
            scanRead(bytes, delimiter as ',' | '\t', () => 0, few, cutAt(bytes, k, aligned)),
            expected,
            few,
            where,
          );
          sameColumns(
            typedRead(bytes, delimiter as ',' | '\t', () => 0, { columns: few }, cutAt(bytes, k, aligned)),
            expected,
            few,
            where,
          );
          compared++;
        }
    }
    assert.ok(compared > 1_500, `only ${compared} cuts compared`);
  });

  it('a row with a field too many or too few among the stepped-over fields: RAGGED_ROW with its line at every cut', async () => {
    const random = seededRandom(20261221);
    for (let f = 0; f < 8; f++) {
      const { bytes, lines } = quoteFreeWide(random, ',');
      const text = bytes.toString('latin1');
      // the row to break, and where: a comma added or removed in its middle
      const row = Math.floor(random() * lines.length);
      const lineStarts = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
      const start = lineStarts[lines[row]! - 1]!;
      const firstComma = text.indexOf(',', start);
      const broken =
        f % 2 === 0 ? `${text.slice(0, firstComma + 1)},${text.slice(firstComma + 1)}` : `${text.slice(0, firstComma)}${text.slice(firstComma + 1)}`;
      const brokenBytes = Buffer.from(broken, 'latin1');
      const header = text
        .slice(text.charCodeAt(0) === 0xef ? 3 : 0, text.indexOf('\n'))
        .replace('\r', '')
        .split(',');
      const last = [header[header.length - 1]!];
      for (let k = 1; k < brokenBytes.length; k++)
        for (const aligned of [true, false])
          assert.throws(
            () => typedRead(brokenBytes, ',', () => 0, { columns: last }, cutAt(brokenBytes, k, aligned)),
            (e: DatasetReadError) =>
              e.code === 'RAGGED_ROW' &&
              e.message.startsWith(`gen.csv:${lines[row]}: expect ${header.length} fields, got ${header.length + (f % 2 === 0 ? 1 : -1)}`),
            `file ${f} cut at ${k}`,
          );
    }
  });

  it(`scanNumeral reads ${NUMERAL_CASES.toLocaleString('en')} random and edge numerals as Number does, and refuses what is not a whole numeral field`, function () {
    this.timeout(60_000 + NUMERAL_CASES / 20);
    const random = seededRandom(20261222);
    const edge = [
      '0',
      '-0',
      '+0',
      '00',
      '-0.0',
      '0.0e0',
      '-0e-5',
      '007',
      '-007.50',
      '1e400',
      '-1e400',
      '1e-400',
      '4.9e-324',
      '2.4e-324',
      '1.7976931348623157e308',
      '1.7976931348623159e308',
      '9007199254740991',
      '9007199254740992',
      '9007199254740993',
      '12345678901234567',
      '0.12345678901234567',
      '123456789012345678901234567890',
      '0.1',
      '0.2',
      '0.30000000000000004',
      '1e22',
      '1e23',
      '1e-22',
      '1e-23',
      '123456789012345e22',
      '123456789012345e-22',
      '0.000001',
      '1.',
      '.5',
      '-.5',
      '+.5e+5',
      '1E5',
      '1e+05',
      '1e0005',
      '1e99999999',
      '1e-99999999',
      'nan',
      'NaN',
      'inf',
      'Infinity',
      '',
      '.',
      '-',
      '+',
      'e5',
      '1e',
      '1e+',
      '1.2.3',
      '--1',
      '+-1',
      '1x',
      '0x10',
      '1_000',
      ' 1',
      '1 ',
    ];
    const texts: string[] = [...edge];
    const digits = (n: number): string => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
    while (texts.length < NUMERAL_CASES) {
      const sign = random() < 0.3 ? '-' : random() < 0.05 ? '+' : '';
      const whole = digits(Math.floor(random() * (random() < 0.1 ? 25 : 10)));
      const dot = random() < 0.7 ? '.' : '';
      const fraction = dot ? digits(Math.floor(random() * (random() < 0.2 ? 20 : 8))) : '';
      const exponent =
        random() < 0.2 ? `${random() < 0.5 ? 'e' : 'E'}${random() < 0.5 ? '-' : random() < 0.3 ? '+' : ''}${digits(1 + Math.floor(random() * 3))}` : '';
      texts.push(`${sign}${random() < 0.05 ? '0' : ''}${whole}${dot}${fraction}${exponent}`);
    }
    const ends = [',', '\n', '\r\n', '\t', '\rx', 'x'];
    const endOf = texts.map((_, i) => ends[i % ends.length]!);
    const bytes = Buffer.from(texts.map((t, i) => `${t}${endOf[i]}\n`).join(''), 'latin1');
    const numeral = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
    let at = 0;
    let numerals = 0;
    texts.forEach((text, i) => {
      const end = endOf[i]!;
      const value = scanNumeral(bytes, at, 44);
      const whole = numeral.test(text) && (end === ',' || end === '\n' || end === '\r\n');
      if (whole) {
        numerals++;
        if (numeralScan.end !== at + text.length || !Object.is(value, Number(text)))
          assert.fail(`${JSON.stringify(text + end)}: ${value} ending at ${numeralScan.end - at}, Number gives ${Number(text)}`);
      } else if (numeralScan.end !== -1) assert.fail(`${JSON.stringify(text + end)}: read as ${value}, not a numeral field`);
      at += text.length + end.length + 1;
    });
    assert.ok(numerals > NUMERAL_CASES * 0.4, `only ${numerals} numerals`);
  });
});

/**
 * Both scanners' batches as [rowOffset, rows] and their cells row by row, read from chunks as scanRecords reads them
 * (no more chunks once maxRows are read; end() only when not).
 */
function batchesRead(
  kind: 'cells' | 'typed',
  chunks: Buffer[],
  options: { columns?: string[]; batchRows: number; maxRows: number },
): { spans: [number, number][]; rows: CellValue[][] } {
  const scanOptions = { file: 'gen.csv', delimiter: ',' as const, checkHeader: () => {}, ...options };
  const spans: [number, number][] = [];
  const rows: CellValue[][] = [];
  const take = (batches: (TypedBatch | { rowOffset: number; rows: number; columns: Record<string, CellValue[]> })[]): void => {
    for (const b of batches) {
      spans.push([b.rowOffset, b.rows]);
      const columns = Object.values(b.columns).map((c) => (Array.isArray(c) ? c : Array.from({ length: b.rows }, (_, i) => cellAt(c, i))));
      for (let i = 0; i < b.rows; i++) rows.push(columns.map((c) => c[i]!));
    }
  };
  if (kind === 'cells') {
    const scanner = new DelimitedScanner(scanOptions);
    for (const chunk of chunks) {
      take(scanner.push(chunk));
      if (scanner.done) return { spans, rows };
    }
    take(scanner.end());
  } else {
    const scanner = new TypedDelimitedScanner(scanOptions);
    for (const chunk of chunks) {
      take(scanner.push(chunk));
      if (scanner.done) return { spans, rows };
    }
    take(scanner.end());
  }
  return { spans, rows };
}

/** The batches a read of `total` rows should give: full batches of batchRows, then the rest. */
function expectedSpans(total: number, batchRows: number): [number, number][] {
  const spans: [number, number][] = [];
  for (let at = 0; at < total; at += batchRows) spans.push([at, Math.min(batchRows, total - at)]);
  return spans;
}

describe('datasets: where the record walk stops (a batch’s end, maxRows, the header) at every chunk cut', function () {
  this.timeout(120_000);
  it('every batch’s row offset and rows, for batch sizes 1 to 100 and maxRows from 1 to past the file, with the cells csv-parse reads, both scanners', () => {
    const random = seededRandom(20271207);
    let compared = 0;
    for (let f = 0; f < 12; f++) {
      let bytes = quoteFreeWide(random, ',').bytes;
      if (f % 2 === 1)
        do bytes = generated(random, ',');
        while (bytes.length > 400);
      let expected: ReturnType<typeof referenceRead>;
      try {
        expected = referenceRead(bytes, ',');
      } catch {
        continue;
      }
      const n = expected.rows.length;
      if (n === 0) continue;
      const few = expected.header.filter((_, k) => k % 2 === 1);
      for (let k = 1; k < bytes.length; k++)
        for (let pick = 0; pick < 3; pick++) {
          const batchRows = [1, 2, 3, 5, 100][Math.floor(random() * 5)]!;
          const maxRows = [1, 2, Math.max(1, n - 1), n, n + 3, Number.POSITIVE_INFINITY][Math.floor(random() * 6)]!;
          const columns = pick === 2 && few.length > 0 ? few : undefined;
          const wanted = (columns ?? expected.header).map((name) => expected.header.indexOf(name));
          const total = Math.min(n, maxRows);
          const rows = expected.rows.slice(0, total).map((row) => wanted.map((c) => row[c]!));
          for (const kind of ['cells', 'typed'] as const) {
            const where = `file ${f} cut at ${k}, ${kind}, batchRows ${batchRows}, maxRows ${maxRows}${columns ? `, columns ${columns.join(' ')}` : ''}`;
            const read = batchesRead(kind, cutAt(bytes, k, k % 2 === 0), { ...(columns ? { columns } : {}), batchRows, maxRows });
            assert.deepEqual(read.spans, expectedSpans(total, batchRows), where);
            assert.equal(read.rows.length, total, where);
            read.rows.forEach((row, r) => row.forEach((cell, c) => Object.is(cell, rows[r]![c]) || same(cell, rows[r]![c]!, `${where} row ${r} field ${c}`)));
            compared++;
          }
        }
    }
    assert.ok(compared > 5_000, `only ${compared} reads compared`);
  });

  it('a CR ending the data or a line after a last field read or stepped over: cells as csv-parse reads them, at every cut', () => {
    const files = ['a,b,c\n1,2,3\r', 'a,b,c\r\n1,2,3\r\n4,5,6', 'a,b,c\r\n1,2,xy\r\n4,5,zz\r', 'a,b,c\r\n1,2,\r\n4,5,\r', 'a,b,c\r\n1,2,3.5e-2\r\n'];
    for (const text of files) {
      const bytes = Buffer.from(text, 'latin1');
      // a CR as the data's last byte ends its line (csv-parse, its line ends found as LF, keeps it in the field)
      const expected = referenceRead(Buffer.from(text.endsWith('\r') ? text.slice(0, -1) : text, 'latin1'), ',');
      for (const columns of [undefined, ['a'], ['c'], ['a', 'b']])
        for (let k = 1; k < bytes.length; k++)
          for (const aligned of [true, false]) {
            const where = (): string => `${JSON.stringify(text)} cut at ${k}${aligned ? '' : ' (unaligned)'}, columns ${columns?.join(' ') ?? 'all'}`;
            const wanted = columns ?? expected.header;
            sameColumns(
              scanRead(bytes, ',', () => 0, columns, cutAt(bytes, k, aligned)),
              expected,
              wanted,
              where,
            );
            sameColumns(
              typedRead(bytes, ',', () => 0, columns ? { columns } : {}, cutAt(bytes, k, aligned)),
              expected,
              wanted,
              where,
            );
          }
    }
  });
});

describe('datasets: the typed reader’s primer', () => {
  it('reads its generated CSV without an error, through columns of numbers, decimals, texts, cells and prefixes', () => {
    const batches = primerBatches();
    // five reads of 18 rows, the last stopped at maxRows 9
    assert.equal(
      batches.reduce((rows, b) => rows + b.rows, 0),
      4 * 18 + 9,
    );
    const kinds = new Set(batches.flatMap((b) => Object.values(b.columns).map((c) => c.kind)));
    assert.deepEqual([...kinds].sort(), ['cells', 'decimals', 'numbers', 'prefixes', 'texts']);
  });
});
