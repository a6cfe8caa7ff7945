import assert from 'node:assert/strict';
import { KERNEL_CALL_ROWS, KERNEL_OUTPUT_BYTES, threadScanKernel } from '../../src/core/datasets/scanKernel';
import { SCAN_KERNEL_WASM } from '../../src/core/datasets/scanKernelWasm';
import { SCAN_KERNEL } from '../../src/core/datasets/scanKernelWat';
import { DatasetReadError } from '../../src/core/datasets/readErrors';
import { TypedDelimitedScanner, type TypedBatch, type TypedScanOptions } from '../../src/core/datasets/typedCsv';
import { assembleWat } from '../../src/core/datasets/wat';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { ODD_NUMERALS } from '../support/oddNumerals';

/**
 * The typed reader's record kernel (WebAssembly, scanKernelWat.ts) against the JS walk it stands in for: the same files
 * read with the kernel and with MLOOP_NO_SCAN_KERNEL=1 give the same batches — column kinds, every value bit for bit
 * (Object.is: −0, NaN), scales, dictionaries, codes — and the same errors. The JS walk is itself checked against
 * csv-parse in datasets.csvScan.test.ts. Each comparison also counts the records the kernel typed, so that a kernel
 * that stopped at every record (and left all to the JS walk) fails here instead of passing unseen.
 */

/** The scanner with the records its kernel typed counted. */
class CountingScanner extends TypedDelimitedScanner {
  kernelRecords = 0;
  /** Calls that typed records. */
  kernelCalls = 0;
  override kernelRows(...args: Parameters<TypedDelimitedScanner['kernelRows']>): number {
    const rows = super.kernelRows(...args);
    this.kernelRecords += rows;
    if (rows > 0) this.kernelCalls++;
    return rows;
  }
}

function withoutKernel<T>(read: () => T): T {
  process.env.MLOOP_NO_SCAN_KERNEL = '1';
  try {
    return read();
  } finally {
    delete process.env.MLOOP_NO_SCAN_KERNEL;
  }
}

type Outcome = { batches: TypedBatch[]; kernelRecords: number; kernelCalls: number } | { error: DatasetReadError; kernelRecords: number; kernelCalls: number };

function read(bytes: Buffer, options: TypedScanOptions, chunkSizes: () => number): Outcome {
  const scanner = new CountingScanner(options);
  const batches: TypedBatch[] = [];
  try {
    for (let at = 0; at < bytes.length && !scanner.done; ) {
      const n = Math.max(1, chunkSizes());
      batches.push(...scanner.push(Buffer.from(bytes.subarray(at, at + n))));
      at += n;
    }
    if (!scanner.done) batches.push(...scanner.end());
  } catch (error) {
    assert.ok(error instanceof DatasetReadError, String(error));
    return { error, kernelRecords: scanner.kernelRecords, kernelCalls: scanner.kernelCalls };
  }
  return { batches, kernelRecords: scanner.kernelRecords, kernelCalls: scanner.kernelCalls };
}

/** Both reads of the same chunks: the kernel's outcome and the JS walk's. */
function bothReads(bytes: Buffer, options: TypedScanOptions, chunkSeed: number, maxChunk: number): { kernel: Outcome; js: Outcome } {
  const sizes = (): (() => number) => {
    const random = seededRandom(chunkSeed);
    return () => 1 + Math.floor(random() * maxChunk);
  };
  const kernel = read(bytes, options, sizes());
  const js = withoutKernel(() => read(bytes, options, sizes()));
  assert.equal(js.kernelRecords, 0, 'MLOOP_NO_SCAN_KERNEL=1 leaves the kernel out');
  return { kernel, js };
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : Object.is(v, -0) ? '-0' : String(v));

/** Batch for batch, column for column, value for value (Object.is), with a message naming the first difference. */
function assertSameBatches(actual: TypedBatch[], expected: TypedBatch[], where: string): void {
  assert.equal(actual.length, expected.length, `${where}: batches`);
  expected.forEach((e, b) => {
    const a = actual[b]!;
    assert.deepEqual([a.rowOffset, a.rows], [e.rowOffset, e.rows], `${where} batch ${b}: rows`);
    assert.deepEqual(Object.keys(a.columns), Object.keys(e.columns), `${where} batch ${b}: columns`);
    for (const [name, ec] of Object.entries(e.columns)) {
      const ac = a.columns[name]!;
      const at = `${where} batch ${b} column ${name}`;
      assert.equal(ac.kind, ec.kind, `${at}: kind`);
      if (ec.kind === 'absent' || ac.kind === 'absent') continue;
      if ('scale' in ec) assert.equal((ac as typeof ec).scale, ec.scale, `${at}: scale`);
      if ('dictionary' in ec) assert.deepEqual((ac as typeof ec).dictionary.slice(), ec.dictionary.slice(), `${at}: dictionary`);
      const ev: ArrayLike<unknown> = 'codes' in ec ? ec.codes : ec.values;
      const av: ArrayLike<unknown> = 'codes' in ac ? ac.codes : (ac as { values: ArrayLike<unknown> }).values;
      assert.equal(av.length, ev.length, `${at}: length`);
      for (let i = 0; i < ev.length; i++) assert.ok(Object.is(av[i], ev[i]), `${at} row ${i}: ${show(av[i])} with the kernel, ${show(ev[i])} without`);
    }
  });
}

const IDS = ['0', '7', '-12', '10000000', '123456789012345', '1234567890123456', '007', '-0', '8144173e-5', 'p12', '+5', '', '-', '1.0'];
const TEXTS = ['store', 'web', 'app', 'phone', 'NA', '', 'true', 'é', 'a text longer than thirty-two bytes surely', 'x y'];
// and prefixes a numeral starts with: '2025020112x' makes '2025020112' the last prefix, then the numeral '2025020112'
// (no prefix: a number) and '2025020112.5' must not be taken for it
const DAYS = [
  '2025-01-01T00:00:59',
  '2025-01-01T10:00:00',
  '2025-01-02T00:00:01',
  '2025-02-01',
  '20250201',
  '',
  'soon',
  '2025020112x',
  '2025020112',
  '2025020112.5',
  '-1.5e+3abcdef',
  '-1.5e+3',
];

/** A numeral of the fast path, most of the time; sometimes one beyond it, an odd one, or a text. */
function numeral(random: () => number, odd: number): string {
  const r = random();
  if (r < odd) return ODD_NUMERALS[Math.floor(random() * ODD_NUMERALS.length)]!;
  if (r < odd * 1.5) return String(random()); // 15–17 significant digits: often past 2^53, the list read with Number()
  if (r < odd * 1.6) return TEXTS[Math.floor(random() * TEXTS.length)]!;
  const v = (random() - 0.5) * 10 ** Math.floor(random() * 6);
  return random() < 0.1 ? v.toExponential(Math.floor(random() * 6)) : v.toFixed(Math.floor(random() * 7));
}

/**
 * A quote-free log of the shapes `mloop monitor` reads: an id column, a time column, numbers, decimals, categories,
 * columns nobody reads; odd cells at a given rate; LF or CR LF; sometimes a blank line or a ragged row.
 */
function generatedLog(random: () => number, rows: number, odd: number, ragged: boolean): { bytes: Buffer; options: TypedScanOptions } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const delimiter = random() < 0.85 ? ',' : '\t';
  const eol = random() < 0.3 ? '\r\n' : '\n';
  const names = ['id', 'time', 'x0', 'x1', 'skip0', 'd0', 'd1', 'cat', 'skip1', 'p', 'd2'];
  // the columns in an order of the file's own (each kind first, last, between)
  const order = names.map((_, k) => k).sort(() => random() - 0.5);
  const header = order.map((k) => names[k]!);
  const lines = [header.join(delimiter)];
  for (let r = 0; r < rows; r++) {
    if (random() < 0.01) lines.push('');
    const cells = [
      random() < odd ? pick(IDS) : String(10_000_000 + r),
      random() < odd ? pick(DAYS) : `2025-0${1 + (Math.floor(r / 200) % 9)}-1${r % 10}T00:00:00`,
      numeral(random, odd),
      numeral(random, odd),
      pick(TEXTS),
      numeral(random, odd),
      random() < odd ? pick(ODD_NUMERALS) : (random() * 100).toFixed(Math.floor(random() * 4)),
      random() < odd ? pick(TEXTS) : pick(['female', 'male']),
      numeral(random, odd),
      String(random()),
      random() < 0.5 ? String(Math.floor(random() * 100)) : '',
    ];
    if (ragged && random() < 0.002) cells.push('1');
    if (ragged && random() < 0.002) cells.pop();
    if (cells.length < names.length) {
      lines.push(cells.join(delimiter));
      continue;
    }
    const line = order.map((k) => cells[k]!);
    if (cells.length > names.length) line.push(cells[names.length]!);
    lines.push(line.join(delimiter));
  }
  const bytes = Buffer.from(lines.join(eol) + (random() < 0.8 ? eol : ''));
  const columns = header.filter((h) => !h.startsWith('skip') && random() < 0.9);
  if (columns.length === 0) columns.push('x0');
  const options: TypedScanOptions = {
    file: 'gen.csv',
    delimiter,
    columns,
    decimals: ['d0', 'd1', 'd2', ...(random() < 0.5 ? ['x1'] : [])].filter((c) => columns.includes(c)),
    ...(columns.includes('id') ? { ids: ['id'] } : {}),
    ...(columns.includes('time') && random() < 0.7 ? { prefixes: { time: 10 } } : {}),
    batchRows: random() < 0.3 ? 1 + Math.floor(random() * 50) : 10_000,
    maxRows: random() < 0.1 ? Math.floor(random() * rows) + 1 : Number.POSITIVE_INFINITY,
    checkHeader: () => undefined,
  };
  return { bytes, options };
}

describe('datasets: the typed reader’s record kernel (WebAssembly) gives the JS walk’s batches', function () {
  this.timeout(120_000);

  it("the shipped bytes are the kernel's source assembled (a changed kernel needs `node scripts/wasm-kernels.mjs`)", () => {
    assert.deepEqual(Buffer.from(SCAN_KERNEL_WASM, 'base64'), Buffer.from(assembleWat(SCAN_KERNEL)));
  });

  it('300 generated logs (ids, days, numbers past the fast path, decimals, categories, skipped columns, CR LF, blank lines, odd cells) in random chunk sizes: the same batches, bit for bit', () => {
    const random = seededRandom(20261207);
    let rows = 0;
    let typed = 0;
    for (let f = 0; f < 300; f++) {
      const odd = random() < 0.3 ? 0 : random() < 0.5 ? 0.002 : random() * 0.05;
      const { bytes, options } = generatedLog(random, 50 + Math.floor(random() * 2500), odd, false);
      const maxChunk = random() < 0.3 ? 1 + Math.floor(random() * 200) : 1 << (12 + Math.floor(random() * 8));
      const { kernel, js } = bothReads(bytes, options, f, maxChunk);
      assert.ok('batches' in js && 'batches' in kernel, `file ${f}: ${'error' in js ? js.error.message : ''} ${'error' in kernel ? kernel.error.message : ''}`);
      assertSameBatches(kernel.batches, js.batches, `file ${f}`);
      rows += js.batches.reduce((n, b) => n + b.rows, 0);
      typed += kernel.kernelRecords;
    }
    // most records were the kernel's, not the JS walk's (each odd cell, a first finer decimal or a blank line is the walk's)
    assert.ok(typed > rows * 0.6, `the kernel typed ${typed} of ${rows} records`);
  });

  it('a log of the benchmark’s shape, in 1 MiB chunks: the kernel types nearly every record, and the batches are the JS walk’s', () => {
    const random = seededRandom(17);
    const { bytes, options } = generatedLog(random, 30_000, 0, false);
    const { kernel, js } = bothReads(bytes, { ...options, maxRows: Number.POSITIVE_INFINITY }, 1, 1 << 20);
    assert.ok('batches' in js && 'batches' in kernel);
    assertSameBatches(kernel.batches, js.batches, 'log');
    assert.ok(kernel.kernelRecords > 29_000, `the kernel typed ${kernel.kernelRecords} of 30,000 records`);
    // a call takes at most KERNEL_CALL_ROWS records: the kernel went on call after call, across chunks and batches
    assert.ok(kernel.kernelCalls >= Math.ceil(29_000 / KERNEL_CALL_ROWS), `${kernel.kernelCalls} calls`);
  });

  it('a file of 3,000 columns: fewer records a call (the outputs within their budget), the same batches', () => {
    const random = seededRandom(3000);
    const columns = 3000;
    const header = Array.from({ length: columns }, (_, k) => `f${k}`);
    const lines = [header.join(',')];
    for (let r = 0; r < 1500; r++) lines.push(Array.from({ length: columns }, () => numeral(random, 0.001)).join(','));
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    const options: TypedScanOptions = {
      file: 'wide.csv',
      delimiter: ',',
      columns: header.filter((_, k) => k % 3 !== 1),
      decimals: header.filter((_, k) => k % 3 === 2),
      batchRows: 10_000,
      maxRows: Number.POSITIVE_INFINITY,
      checkHeader: () => undefined,
    };
    const { kernel, js } = bothReads(bytes, options, 5, 1 << 20);
    assert.ok('batches' in js && 'batches' in kernel);
    assertSameBatches(kernel.batches, js.batches, 'wide');
    assert.ok(kernel.kernelRecords > 1000, `the kernel typed ${kernel.kernelRecords} of 1,500 records`);
    const { callRows } = threadScanKernel()!;
    assert.ok(callRows < KERNEL_CALL_ROWS && callRows * columns * 8 <= KERNEL_OUTPUT_BYTES, `${callRows} records a call`);
  });

  it('ragged rows among kernel-typed ones: the same error (code, line, message) with and without the kernel', () => {
    const random = seededRandom(99);
    let errors = 0;
    for (let f = 0; f < 60; f++) {
      const { bytes, options } = generatedLog(random, 200 + Math.floor(random() * 3000), random() < 0.5 ? 0 : 0.01, true);
      const { kernel, js } = bothReads(bytes, { ...options, maxRows: Number.POSITIVE_INFINITY }, f, 1 << (8 + Math.floor(random() * 10)));
      if ('error' in js) {
        errors++;
        assert.ok('error' in kernel, `file ${f}: no error with the kernel (${js.error.message})`);
        assert.deepEqual([kernel.error.code, kernel.error.line, kernel.error.message], [js.error.code, js.error.line, js.error.message], `file ${f}`);
      } else {
        assert.ok('batches' in kernel, `file ${f}: ${'error' in kernel ? kernel.error.message : ''}`);
        assertSameBatches(kernel.batches, js.batches, `file ${f}`);
      }
    }
    assert.ok(errors > 20, `only ${errors} files with a ragged row`);
  });
});
