import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetReadError, readBatches, readSchema, type CellValue, type ColumnBatch, type ReadOptions } from '../../src/core/datasets/readers';
import { FLIGHTS, penguinsJsonl, WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';
import { pythonJsonSync } from '../support/python';

async function readAll(path: string, options?: ReadOptions): Promise<{ batches: ColumnBatch[]; columns: Record<string, CellValue[]> }> {
  const batches: ColumnBatch[] = [];
  const columns: Record<string, CellValue[]> = {};
  for await (const b of readBatches(path, options)) {
    batches.push(b);
    for (const [k, v] of Object.entries(b.columns)) (columns[k] ??= new Array<CellValue>(b.rowOffset).fill(null)).push(...v);
  }
  return { batches, columns };
}

async function readError(path: string, options?: ReadOptions): Promise<DatasetReadError> {
  try {
    for await (const _ of readBatches(path, options)) void _;
  } catch (error) {
    assert.ok(error instanceof DatasetReadError, `expected a DatasetReadError, got ${String(error)}`);
    return error;
  }
  assert.fail(`reading ${path} did not fail`);
}

/** The first rows of a file as pandas/pyarrow read them (an independent reader). */
function pythonHead(file: string, kind: 'csv' | 'parquet', n: number): Record<string, unknown>[] {
  const code = [
    'import sys, json, pandas as pd',
    `df = pd.read_${kind}(sys.argv[1])${kind === 'csv' ? '' : ''}.head(int(sys.argv[2]))`,
    "for c in df.columns:\n    if str(df[c].dtype).startswith('datetime'): df[c] = df[c].dt.strftime('%Y-%m-%dT%H:%M:%S.000Z')",
    'print(df.to_json(orient="records"))',
  ].join('\n');
  return pythonJsonSync<Record<string, unknown>[]>({ args: ['-c', code, file, String(n)] });
}

describe('datasets: readers', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-ds-')));
  afterEach(() => cleanup());

  it('CSV: streams seattle-weather in batches whose row offsets are contiguous, values typed as pandas reads them', async () => {
    const { batches, columns } = await readAll(WEATHER, { batchRows: 500 });
    assert.deepEqual(
      batches.map((b) => [b.rowOffset, b.rows]),
      [
        [0, 500],
        [500, 500],
        [1000, 461],
      ],
    );
    assert.deepEqual(Object.keys(columns), ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather']);
    const head = pythonHead(WEATHER, 'csv', 3);
    for (let i = 0; i < 3; i++) for (const [k, v] of Object.entries(head[i]!)) assert.equal(columns[k]![i], v, `row ${i} ${k}`);
    const schema = await readSchema(WEATHER);
    assert.deepEqual(
      schema.columns.map((c) => c.type),
      ['datetime', 'number', 'number', 'number', 'number', 'string'],
    );
  });

  it('CSV: columns and maxRows read only what is asked', async () => {
    const { columns } = await readAll(WEATHER, { columns: ['weather'], maxRows: 7 });
    assert.deepEqual(Object.keys(columns), ['weather']);
    assert.equal(columns.weather!.length, 7);
  });

  it('TSV, a BOM, quoted fields with commas and newlines, NA tokens', async () => {
    const file = join(dir, 'x.tsv');
    writeFileSync(file, '\uFEFFid\tnote\tv\n1\t"a, b\nc"\t2.5\n2\tNA\t\n');
    const { columns } = await readAll(file);
    assert.deepEqual(columns, { id: [1, 2], note: ['a, b\nc', null], v: [2.5, null] });
  });

  it('JSONL: penguins, a key first seen late is null before, nested values kept as JSON text', async () => {
    const file = penguinsJsonl(dir);
    const { columns } = await readAll(file, { batchRows: 100 });
    assert.equal(columns.Species!.length, 344);
    assert.equal(columns.Sex!.filter((v) => v === null).length, 10);
    const late = join(dir, 'late.jsonl');
    writeFileSync(late, '{"a":1}\n\n{"a":2,"b":{"c":[1]}}\n');
    const r = await readAll(late, { batchRows: 1 });
    assert.deepEqual(r.columns, { a: [1, 2], b: [null, '{"c":[1]}'] });
  });

  it('Parquet: flights-3m schema from the footer, first rows equal to pyarrow, maxRows stops early', async () => {
    const schema = await readSchema(FLIGHTS);
    assert.deepEqual(schema.columns, [
      { name: 'date', type: 'datetime' },
      { name: 'delay', type: 'number' },
      { name: 'distance', type: 'number' },
      { name: 'origin', type: 'string' },
      { name: 'destination', type: 'string' },
    ]);
    const t0 = Date.now();
    const { columns } = await readAll(FLIGHTS, { maxRows: 20 });
    assert.ok(Date.now() - t0 < 5000, 'the first rows of a 3M-row file do not need the whole file');
    assert.equal(columns.delay!.length, 20);
    const head = pythonHead(FLIGHTS, 'parquet', 20);
    for (let i = 0; i < 20; i++) for (const [k, v] of Object.entries(head[i]!)) assert.equal(columns[k]![i], v, `row ${i} ${k}`);
  });

  it('a directory reads its data files in sorted order with continuing row offsets', async () => {
    mkdirSync(join(dir, 'd', '.hidden'), { recursive: true });
    writeFileSync(join(dir, 'd', 'b.csv'), 'x\n3\n4\n');
    writeFileSync(join(dir, 'd', 'a.csv'), 'x\n1\n2\n');
    writeFileSync(join(dir, 'd', '.hidden', 'z.csv'), 'x\n9\n');
    writeFileSync(join(dir, 'd', 'notes.txt'), 'ignored');
    const { batches, columns } = await readAll(join(dir, 'd'));
    assert.deepEqual(columns.x, [1, 2, 3, 4]);
    assert.deepEqual(
      batches.map((b) => b.rowOffset),
      [0, 2],
    );
    const glob = await readAll(join(dir, 'd', '*.csv'));
    assert.deepEqual(glob.columns.x, [1, 2, 3, 4]);
  });

  describe('bad input names the file and the line, row or byte', () => {
    const cases: [string, string | Buffer, string, RegExp, Partial<Pick<DatasetReadError, 'line' | 'byteOffset'>>][] = [
      ['ragged.csv', 'a,b\n1,2\n3,4,5\n', 'RAGGED_ROW', /ragged\.csv:3\b/, { line: 3 }],
      ['quote.csv', 'a,b\n1,"open\n2,3\n', 'UNBALANCED_QUOTE', /quote\.csv:\d+.*quote/, {}],
      [
        'latin1.csv',
        Buffer.concat([Buffer.from('a,b\n1,caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
        'NOT_UTF8',
        /latin1\.csv: byte 9 is not valid UTF-8/,
        { byteOffset: 9 },
      ],
      ['empty.csv', '', 'EMPTY_FILE', /empty\.csv is empty/, { byteOffset: 0 }],
      ['header.csv', 'a,b\n', 'NO_ROWS', /header\.csv has a header \(2 columns\) but no data rows/, {}],
      ['dup.csv', 'a,a\n1,2\n', 'BAD_HEADER', /dup\.csv:1: the header names column "a" twice/, { line: 1 }],
      ['bad.jsonl', '{"a":1}\n{"a":\n', 'BAD_JSON', /bad\.jsonl:2: not valid JSON/, { line: 2, byteOffset: 8 }],
      ['array.jsonl', '[1,2]\n', 'BAD_JSON', /array\.jsonl:1: each line must be a JSON object/, { line: 1 }],
      ['fake.parquet', 'a,b\n1,2\n', 'NOT_PARQUET', /fake\.parquet is not a Parquet file/, { byteOffset: 0 }],
      ['empty.parquet', '', 'EMPTY_FILE', /empty\.parquet is empty/, {}],
    ];
    for (const [name, content, code, message, where] of cases) {
      it(`${name}: ${code}`, async () => {
        const file = join(dir, name);
        writeFileSync(file, content);
        const e = await readError(file);
        assert.equal(e.code, code, e.message);
        assert.match(e.message, message);
        assert.equal(e.file, file);
        for (const [k, v] of Object.entries(where)) assert.equal(e[k as 'line'], v, `${k} of ${e.message}`);
      });
    }

    it('a truncated Parquet file (cut in half) is TRUNCATED at its size', async () => {
      const file = join(dir, 'cut.parquet');
      const bytes = readFileSync(FLIGHTS);
      writeFileSync(file, bytes.subarray(0, 1_000_000));
      const e = await readError(file);
      assert.equal(e.code, 'TRUNCATED');
      assert.equal(e.byteOffset, 1_000_000);
      assert.match(e.message, /cut\.parquet is cut short/);
    });

    it('a missing path is NOT_FOUND and names the path', async () => {
      const e = await readError(join(dir, 'nope.csv'));
      assert.equal(e.code, 'NOT_FOUND');
      assert.match(e.message, /nope\.csv does not exist/);
    });

    it('an unreadable file is PERMISSION_DENIED', async function () {
      if (process.getuid?.() === 0) this.skip(); // root reads any file: the case cannot be produced here
      const file = join(dir, 'locked.csv');
      copyFileSync(WEATHER, file);
      chmodSync(file, 0o000);
      const e = await readError(file);
      assert.equal(e.code, 'PERMISSION_DENIED');
    });

    it('a cancelled read stops with ABORTED', async () => {
      const controller = new AbortController();
      const batches = readBatches(FLIGHTS, { batchRows: 10_000, signal: controller.signal });
      let seen = 0;
      await assert.rejects(
        (async () => {
          for await (const _ of batches) {
            void _;
            if (++seen === 2) controller.abort();
          }
        })(),
        (e: unknown) => e instanceof DatasetReadError && e.code === 'ABORTED',
      );
      assert.equal(seen, 2);
    });
  });
});
