import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSchema } from '../../src/core/datasets/readers';
import { tempDir } from './fixtures';

/** The rows readSchema samples (readers.ts SCHEMA_SAMPLE_ROWS). */
const SAMPLE = 10_000;

/** A cell's type as the test reads the CSV rules (pandas' null tokens, numerals, true/false, ISO dates): written apart from the reader. */
function kindOf(cell: string): 'null' | 'number' | 'boolean' | 'datetime' | 'string' {
  const text = cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell;
  if (['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '#N/A'].includes(text)) return 'null';
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return 'number';
  if (['true', 'false'].includes(text.toLowerCase())) return 'boolean';
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return 'datetime';
  return 'string';
}

/** The column's type from its first SAMPLE cells: all non-null of one kind, else string; none: null. */
function expectedType(cells: readonly string[]): string {
  const kinds = new Set(cells.slice(0, SAMPLE).map(kindOf));
  kinds.delete('null');
  return kinds.size === 0 ? 'null' : kinds.size === 1 ? [...kinds][0]! : 'string';
}

/** Column generators by row (0-based over all files): each meant to land in one of the typed reader's forms. */
const COLUMNS: Record<string, (row: number) => string> = {
  num: (r) => (r % 7 === 0 ? '' : r % 11 === 0 ? 'NA' : String((r * 0.37 - 100).toFixed(r % 4))),
  exp: (r) => (r % 3 === 0 ? `${r}e-3` : String(-r)),
  empty: () => '',
  nulls: (r) => ['', 'NA', 'null', 'None'][r % 4]!,
  when: (r) => (r % 5 === 0 ? '' : `2025-0${1 + (r % 9)}-1${r % 10}T0${r % 10}:00:00`),
  day: (r) => `2025-03-${String(1 + (r % 28)).padStart(2, '0')}`,
  whenThenText: (r) => (r === 8_765 ? 'soon' : `2025-01-0${1 + (r % 9)}`),
  category: (r) => ['store', 'web', 'app', 'phone'][r % 4]!,
  categoryEmpty: (r) => (r < 3_000 ? '' : ['a', 'b'][r % 2]!),
  flag: (r) => ['true', 'false', 'TRUE', ''][r % 4]!,
  mixed: (r) => (r % 13 === 0 ? 'n/a' : String(r)),
  quotedNum: (r) => `"${r % 100}"`,
  quotedText: (r) => `"a, ""b"" ${r % 3}"`,
  numThenText: (r) => (r === SAMPLE - 1 ? 'late' : String(r)),
  textPastSample: (r) => (r === SAMPLE ? 'past' : String(r % 50)),
  unicode: (r) => ['é', '日本', 'plain'][r % 3]!,
  textThenNum: (r) => (r < 2 ? 'x' : String(r)),
};

/** Writes the rows [from, to) of every column as a file (`sep` between fields). */
function writeRows(file: string, from: number, to: number, sep: string): string[][] {
  const names = Object.keys(COLUMNS);
  const lines = [names.join(sep)];
  const cells: string[][] = names.map(() => []);
  for (let r = from; r < to; r++) {
    const row = names.map((name) => COLUMNS[name]!(r));
    row.forEach((cell, k) => cells[k]!.push(cell));
    lines.push(row.join(sep));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return cells;
}

describe('datasets: readSchema of text files (the typed reader)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-schema-')));
  afterEach(() => cleanup());

  it('CSV: each column typed from its first 10,000 rows as the test types the cells (numbers, empties, null tokens, dates, booleans, texts, mixed)', async () => {
    const file = join(dir, 'log.csv');
    const cells = writeRows(file, 0, 12_345, ',');
    const schema = await readSchema(file);
    const names = Object.keys(COLUMNS);
    assert.deepEqual(
      schema.columns,
      names.map((name, k) => ({ name, type: expectedType(cells[k]!) })),
    );
    // the cases the test means to cover, spelled out (a change to the generators above must keep them)
    const typeOf = Object.fromEntries(schema.columns.map((c) => [c.name, c.type]));
    assert.deepEqual(
      [typeOf.num, typeOf.empty, typeOf.when, typeOf.whenThenText, typeOf.flag, typeOf.quotedNum, typeOf.numThenText, typeOf.textPastSample],
      ['number', 'null', 'datetime', 'string', 'boolean', 'number', 'string', 'number'],
    );
  });

  it('TSV in a directory of two files: the sample runs on into the second file and stops at 10,000 rows', async () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    const first = writeRows(join(logs, 'a.tsv'), 0, 6_000, '\t');
    const second = writeRows(join(logs, 'b.tsv'), 6_000, 13_000, '\t');
    const schema = await readSchema(logs);
    const names = Object.keys(COLUMNS);
    assert.deepEqual(
      schema.columns,
      names.map((name, k) => ({ name, type: expectedType([...first[k]!, ...second[k]!]) })),
    );
    assert.equal(schema.columns.find((c) => c.name === 'numThenText')?.type, 'string'); // row 9,999: the second file's row 3,999
  });

  it('columns asked for: only those, in the file order', async () => {
    const file = join(dir, 'log.csv');
    writeRows(file, 0, 100, ',');
    const schema = await readSchema(file, { columns: ['flag', 'num'] });
    assert.deepEqual(schema.columns, [
      { name: 'num', type: 'number' },
      { name: 'flag', type: 'boolean' },
    ]);
  });
});
