import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetReadError, openParquet, readBatches, readSchema, type CellValue } from '../../src/core/datasets/readers';
import { parquetHeader } from 'hyparquet/src/column.js';
import { parquetMetadata, type FileMetaData } from 'hyparquet';
import { parseParquetFooter, readParquetFooter, type ParquetFooter } from '../../src/core/datasets/parquetFooter';
import { asciiStrings, footerNumberCounts, parquetPieceCells, planParquetScan, scanParquet, truncQuotient } from '../../src/core/datasets/parquetScan';
import { profileDataset, ProfileBuilder, type DatasetProfile } from '../../src/core/datasets/profile';
import { collectSide } from '../../src/core/drift/collect';
import { binCounts, countedBinCounts } from '../../src/core/drift/binning';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { FLIGHTS } from './datasetFixtures';
import { tempDir } from './fixtures';
import { pythonJsonSync } from '../support/python';

const VARIANTS_SCRIPT = join(resolve(__dirname, '../../..'), 'test', 'datasets', 'parquet_variants.py');

interface Cells {
  values: CellValue[];
  nulls: number;
}

/** Non-null cells in row order and the null count of each column, through the generic (hyparquet row) reader. */
async function genericCells(file: string, maxRows?: number): Promise<Map<string, Cells>> {
  const out = new Map<string, Cells>();
  for await (const batch of readBatches(file, maxRows === undefined ? {} : { maxRows })) {
    for (const [name, values] of Object.entries(batch.columns)) {
      let c = out.get(name);
      if (!c) out.set(name, (c = { values: [], nulls: 0 }));
      for (const v of values) {
        if (v === null) c.nulls++;
        else c.values.push(v);
      }
    }
  }
  return out;
}

/** Both readers of a dataset (profile, drift collection) reject `file` with CORRUPT at the page at `offset`, the message matching `message`. */
async function assertCorruptPage(file: string, offset: number, message: RegExp): Promise<void> {
  for (const read of [() => profileDataset(file), () => collectSide(file)]) {
    await assert.rejects(read(), (error: unknown) => {
      assert.ok(error instanceof DatasetReadError, String(error));
      assert.equal(error.code, 'CORRUPT');
      assert.equal(error.file, file);
      assert.equal(error.byteOffset, offset);
      assert.match(error.message, message);
      return true;
    });
  }
}

/** The same through the columnar scanner (only the first row group when `firstGroupOnly`). */
async function scannedCells(file: string, firstGroupOnly = false): Promise<Map<string, Cells>> {
  const out = new Map<string, Cells>();
  let names: readonly string[] = [];
  const stop = new AbortController();
  try {
    await scanParquet(
      file,
      {
        begin: (columns) => {
          names = columns;
          for (const n of columns) out.set(n, { values: [], nulls: 0 });
        },
        piece: (c, piece) => {
          const cells = out.get(names[c]!)!;
          cells.nulls += piece.nulls;
          for (const v of parquetPieceCells(piece)) {
            if (v === null) cells.nulls++;
            else cells.values.push(v);
          }
        },
        rowGroup: () => {
          if (firstGroupOnly) stop.abort();
        },
      },
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  }
  return out;
}

/**
 * The profile the generic reader gives (what profileDataset computed before the scanner), value by value, with the
 * integer columns' counts announced from the footer as the scanner announces them (their samples drawn as positions).
 */
async function genericProfile(file: string, announce = true): Promise<DatasetProfile> {
  const columns = (await readSchema(file)).columns;
  const builder = new ProfileBuilder(Object.fromEntries(columns.map((c) => [c.name, c.type])));
  builder.declare(columns.map((c) => c.name)); // the seeds follow the file's order, as in the scan
  const pq = await openParquet(file);
  await pq.close();
  if (announce) for (const [name, count] of footerNumberCounts(pq.metadata)) builder.expectValues(name, count);
  for await (const batch of readBatches(file)) builder.add(batch);
  return builder.result();
}

/** Drift samples the generic way: every cell through ColumnCollector.add. */
async function genericSamples(file: string, columns: readonly string[]): Promise<Map<string, ColumnSample>> {
  const collectors = new Map(columns.map((c) => [c, new ColumnCollector()]));
  for await (const batch of readBatches(file, { columns: [...columns] })) {
    for (const [name, collector] of collectors) for (const v of batch.columns[name] ?? new Array<null>(batch.rows).fill(null)) collector.add(v);
  }
  return new Map([...collectors].map(([n, c]) => [n, c.finish()]));
}

function assertSameCells(actual: Map<string, Cells>, expected: Map<string, Cells>, what: string): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()], `${what}: columns`);
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.equal(a.nulls, e.nulls, `${what} ${name}: nulls`);
    assert.equal(a.values.length, e.values.length, `${what} ${name}: values`);
    for (let i = 0; i < e.values.length; i++) {
      if (!Object.is(a.values[i], e.values[i]))
        assert.fail(`${what} ${name}: value ${i} is ${String(a.values[i])}, the generic reader gives ${String(e.values[i])}`);
    }
  }
}

/** hyparquet's FileMetaData cut to the fields a ParquetFooter holds, its BigInts as numbers. */
function footerFields(m: FileMetaData | ParquetFooter): unknown {
  const n = (v: number | bigint | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  return {
    schema: m.schema,
    num_rows: n(m.num_rows),
    key_value_metadata: m.key_value_metadata,
    row_groups: m.row_groups.map((g) => ({
      num_rows: n(g.num_rows),
      columns: g.columns.map((c) => ({
        file_path: c.file_path,
        meta_data: c.meta_data && {
          type: c.meta_data.type,
          encodings: c.meta_data.encodings,
          path_in_schema: c.meta_data.path_in_schema,
          codec: c.meta_data.codec,
          num_values: n(c.meta_data.num_values),
          total_compressed_size: n(c.meta_data.total_compressed_size),
          data_page_offset: n(c.meta_data.data_page_offset),
          dictionary_page_offset: n(c.meta_data.dictionary_page_offset),
          statistics: c.meta_data.statistics && { null_count: n(c.meta_data.statistics.null_count) },
        },
      })),
    })),
  };
}

/** A FileMetaData's bytes in Thrift's compact protocol: one INT64 column, `rows` rows, no row group. */
function compactFooter(rows: bigint): Uint8Array {
  const out: number[] = [];
  const varint = (v: bigint): void => {
    for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
    out.push(Number(v));
  };
  const zigzag = (v: bigint): void => varint(v >= 0n ? v * 2n : -v * 2n - 1n);
  const text = (s: string): void => {
    varint(BigInt(s.length));
    for (const ch of Buffer.from(s)) out.push(ch);
  };
  out.push(0x15); // field 1 (version), i32
  zigzag(1n);
  out.push(0x19, 0x2c); // field 2 (schema), a list of 2 structs
  out.push(0x48); // root: field 4 (name)
  text('schema');
  out.push(0x15); // field 5 (num_children)
  zigzag(1n);
  out.push(0x00);
  out.push(0x15); // leaf: field 1 (type) INT64
  zigzag(2n);
  out.push(0x25); // field 3 (repetition) REQUIRED, a delta of 2
  zigzag(0n);
  out.push(0x18); // field 4 (name)
  text('x');
  out.push(0x00);
  out.push(0x16); // field 3 (num_rows), i64
  zigzag(rows);
  out.push(0x19, 0x0c); // field 4 (row_groups), an empty list of structs
  out.push(0x00);
  return Uint8Array.from(out);
}

describe('datasets: columnar Parquet scanner', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => void;
  let variants: Record<string, { path: string; fast: boolean }>;

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-pqscan-'));
    variants = pythonJsonSync<typeof variants>({ args: [VARIANTS_SCRIPT, dir] });
  });
  after(() => cleanup());

  it('time stamps finer than milliseconds: the quotient truncated toward zero equals the BigInt division hyparquet makes', () => {
    const values: number[] = [0, 1, -1, 999, -999, 1000, -1000, 1001, -1001, 2 ** 52 - 1, -(2 ** 52) + 1, 2 ** 52, -(2 ** 52), 2 ** 53 - 1, -(2 ** 53) + 1];
    for (let k = 1; k < 2 ** 52 / 1e6; k = k * 3 + 7) for (const d of [-1, 0, 1]) values.push(k * 1e6 + d, -(k * 1e6) + d, k * 1000 + d, -(k * 1000) + d);
    const random = seededRandom(52);
    for (let i = 0; i < 20_000; i++) values.push(Math.round((random() - 0.5) * 2 ** (1 + random() * 52)));
    for (const divisor of [1000, 1_000_000]) {
      for (const x of values) {
        const expected = Number(BigInt(x) / BigInt(divisor));
        assert.ok(Object.is(truncQuotient(x, divisor), expected), `${x} / ${divisor}: ${truncQuotient(x, divisor)}, not ${expected}`);
      }
    }
  });

  it('a PLAIN page of text: the ASCII slicing gives what a TextDecoder gives value by value; otherwise it declines', () => {
    /** PLAIN byte arrays: a 4-byte little-endian length before each value's bytes. */
    const plain = (values: Uint8Array[], pad = 0): Uint8Array => {
      const out = new Uint8Array(values.reduce((n, v) => n + 4 + v.length, 0) + pad);
      let at = 0;
      for (const v of values) {
        new DataView(out.buffer).setUint32(at, v.length, true);
        out.set(v, at + 4);
        at += 4 + v.length;
      }
      return out;
    };
    const utf8 = new TextEncoder();
    const decoder = new TextDecoder();
    // every ASCII byte (NUL and DEL included), the empty string, longer values, 3-letter codes as flights-3m's (the
    // lengths' bytes below 0x80 too: 127, 300, 70,000)
    const ascii = [
      Uint8Array.from({ length: 127 }, (_, i) => i),
      Uint8Array.of(0x7f),
      new Uint8Array(0),
      utf8.encode('SEA'),
      utf8.encode('y'.repeat(300)),
      utf8.encode('x'.repeat(70_000)),
      utf8.encode('LAX'),
    ];
    const page = plain(ascii, 3); // bytes past the values (a page buffer's slack) are not read
    assert.deepEqual(
      asciiStrings(page, ascii.length),
      ascii.map((v) => decoder.decode(v)),
    );
    assert.deepEqual(asciiStrings(page.subarray(0, 0), 0), []);
    // a page at an offset in a larger buffer, as the scanner's views are
    const larger = new Uint8Array(page.length + 11);
    larger.set(page, 7);
    assert.deepEqual(
      asciiStrings(larger.subarray(7, 7 + page.length), ascii.length),
      ascii.map((v) => decoder.decode(v)),
    );
    // not ASCII (UTF-8, a BOM TextDecoder drops, a stray byte it replaces; a length byte ≥ 0x80): left to the decoder
    for (const v of [utf8.encode('Zürich'), Uint8Array.of(0xef, 0xbb, 0xbf, 0x41), Uint8Array.of(0x41, 0xff), new Uint8Array(200).fill(0x41)])
      assert.equal(asciiStrings(plain([utf8.encode('SEA'), v]), 2), undefined);
    // more values said than the page holds; a length that runs past the page: declined, so the decoder's error is the one given
    assert.equal(asciiStrings(plain(ascii), ascii.length + 1), undefined);
    const cut = plain([utf8.encode('SEA'), utf8.encode('LAX')]);
    assert.equal(asciiStrings(cut.subarray(0, cut.length - 1), 2), undefined);
  });

  it("flights-3m: the first row group, column by column, equals hyparquet's generic read", async () => {
    const scanned = await scannedCells(FLIGHTS, true);
    const rows = scanned.get('delay')!.values.length + scanned.get('delay')!.nulls;
    assert.equal(rows, 272_727, 'the first row group');
    assertSameCells(scanned, await genericCells(FLIGHTS, rows), 'flights-3m');
  });

  it("flights-3m: the profile equals the generic reader's, every statistic (reservoir quantiles, histograms, counts)", async () => {
    const pq = await openParquet(FLIGHTS);
    const plan = planParquetScan(pq.metadata);
    await pq.close();
    assert.ok(plan.ok, 'flights-3m is read by the scanner');
    assert.deepStrictEqual(await profileDataset(FLIGHTS), await genericProfile(FLIGHTS));
  });

  it('pyarrow files (6 codecs × data page v1/v2, nulls, NaN/±inf/−0, ints, unsigned, floats, booleans, text, dates, time stamps ms/µs/ns, decimals, dictionary overflow): values equal the generic read', async () => {
    const fastOnes = Object.entries(variants).filter(([, v]) => v.fast);
    assert.ok(fastOnes.length >= 13);
    for (const [name, { path }] of fastOnes) {
      const pq = await openParquet(path);
      const plan = planParquetScan(pq.metadata);
      await pq.close();
      assert.ok(plan.ok, `${name}: the scanner reads it (${plan.ok ? '' : plan.reason})`);
      assertSameCells(await scannedCells(path), await genericCells(path), name);
    }
  });

  it('every codec (each decoder loaded on its own) decodes to the profile of the uncompressed file', async () => {
    for (const version of ['v1', 'v2']) {
      const plain = await profileDataset(variants[`none-${version}`]!.path);
      for (const codec of ['snappy', 'gzip', 'brotli', 'zstd', 'lz4']) {
        const profile = await profileDataset(variants[`${codec}-${version}`]!.path);
        // the LZ4 files go without the all-null column (see parquet_variants.py)
        const expected = codec === 'lz4' ? { ...plain, columns: plain.columns.filter((c) => c.name !== 'all_null') } : plain;
        assert.deepStrictEqual(profile, expected, `${codec}-${version}`);
      }
    }
  });

  for (const announce of [false, true])
    it(`counted-ints: integer pages come as counts with the sample's picks (${announce ? "positions drawn up front from the footer's counts" : 'Algorithm L, past the exact values'}); the profile is the generic one`, async () => {
      const { path } = variants['counted-ints']!;
      const builder = new ProfileBuilder(Object.fromEntries((await readSchema(path)).columns.map((c) => [c.name, c.type])));
      let names: readonly string[] = [];
      const counted = new Map<string, number>();
      const inOrder = new Map<string, number>();
      const tally = (m: Map<string, number>, name: string): void => void m.set(name, (m.get(name) ?? 0) + 1);
      await scanParquet(path, {
        begin: (columns) => {
          names = columns;
          builder.declare(columns);
        },
        piece: (c, piece) => {
          if (piece.kind === 'number-dict') tally(inOrder, names[c]!);
          builder.addPiece(names[c]!, piece);
        },
        dictionaryCounts: (c, counts) => {
          if (counts.kind === 'number-dict' && counts.picked) tally(counted, names[c]!);
          builder.addCounts(names[c]!, counts);
        },
        numbersInOrder: true,
        numberPositions: (c, dictionary, count) => builder.numberPositions(names[c]!, dictionary, count),
        ...(announce ? { numberCount: (c: number, count: number) => builder.expectValues(names[c]!, count) } : {}),
        rowGroup: (rows) => builder.addRows(rows, new Set(names)),
      });
      if (announce) {
        // counts known up front: no exact values to keep, every page of integers counted; the float column is not announced
        for (const name of ['runs', 'wide', 'small']) assert.ok((counted.get(name) ?? 0) > 0 && !inOrder.get(name), `${name}: every page counted`);
      } else {
        // the first pages while the exact values are kept (100,000 of 120,001) and the non-integer dictionary go in order
        for (const name of ['runs', 'wide', 'small']) assert.ok((counted.get(name) ?? 0) > 0 && (inOrder.get(name) ?? 0) > 0, `${name}: both ways`);
      }
      assert.ok((inOrder.get('mixed') ?? 0) > 0 && (counted.get('mixed') ?? 0) > 0, 'mixed: counted until its dictionary holds 0.5');
      const profile = builder.result();
      assert.equal(profile.columns.find((c) => c.name === 'wide')!.numeric!.quantiles.method, 'reservoir');
      assert.deepStrictEqual(profile, await genericProfile(path, announce));
      if (announce) assert.deepStrictEqual(await profileDataset(path), profile);
    });

  it("pyarrow files: profiles and drift samples equal the generic path's", async () => {
    let countedColumns = 0;
    for (const [name, { path }] of Object.entries(variants)) {
      assert.deepStrictEqual(await profileDataset(path), await genericProfile(path), `${name}: profile`);
      const side = await collectSide(path);
      const read = side.schema.columns.filter((c) => c.type !== 'datetime').map((c) => c.name);
      const expected = await genericSamples(path, read);
      for (const column of read) {
        const sample = side.samples.get(column);
        assert.deepStrictEqual(plainSample(sample), plainSample(expected.get(column)), `${name} ${column}: drift sample`);
        if (sample?.kind === 'numeric' && sample.counted) {
          countedColumns++;
          // the counted form (dictionary pages) holds the same numbers, and bins them as binCounts bins the expanded ones
          const { values, counts, total } = sample.counted;
          const expanded = Array.from(values).flatMap((v, i) => Array<number>(counts[i]!).fill(v));
          assert.deepStrictEqual(expanded, Array.from(sample.sorted), `${name} ${column}: counted`);
          assert.equal(total, sample.sorted.length);
          const at = (q: number): number => sample.sorted[Math.min(sample.sorted.length - 1, Math.floor(q * sample.sorted.length))]!;
          // edges on values, between values, below and above all, repeated, and out of order (a bin then is empty)
          for (const edges of [
            [at(0) - 1, at(0.25), at(0.5), at(0.75), at(1) + 1],
            [at(0), at(0.1) + 0.5, at(0.1) + 0.5, at(0.9), at(1)],
            [at(0.5), at(0.2), at(0.8)],
            [at(0.3)],
          ])
            assert.deepStrictEqual(
              countedBinCounts(values, counts, total, edges),
              binCounts(sample.sorted, edges),
              `${name} ${column}: bins ${edges.join(' ')}`,
            );
        }
      }
    }
    assert.ok(countedColumns > 0, 'some columns came as dictionary counts');
  });

  it('what the scanner does not decode (DELTA encodings, nested lists, byte-array decimals) goes to the generic reader', async () => {
    for (const [name, { path, fast }] of Object.entries(variants)) {
      if (fast) continue;
      const pq = await openParquet(path);
      const plan = planParquetScan(pq.metadata);
      await pq.close();
      assert.ok(!plan.ok, `${name} is not for the scanner`);
      const profile = await profileDataset(path);
      assert.equal(profile.rows, 5003, `${name}: profiled all the same`);
    }
  });

  it('a corrupt page header fails with CORRUPT naming the file, the column and the byte offset of the page', async () => {
    const source = variants['snappy-v1']!.path;
    const broken = join(dir, 'corrupt.parquet');
    writeFileSync(broken, readFileSync(source));
    const pq = await openParquet(broken);
    const offset = Number(pq.metadata.row_groups[0]!.columns[1]!.meta_data!.data_page_offset);
    await pq.close();
    const fd = openSync(broken, 'r+');
    writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, offset);
    closeSync(fd);
    await assertCorruptPage(broken, offset, new RegExp(`corrupt\\.parquet: column i64, page at byte ${offset}`));
  });

  it('a corrupt data page body (dictionary indices of 40 bits) fails with CORRUPT naming the file, the column and the page', async () => {
    const source = variants['none-v1']!.path; // uncompressed, data page v1: the page body lies in the file as it is
    const broken = join(dir, 'corrupt-body.parquet');
    const bytes = Buffer.from(readFileSync(source));
    const pq = await openParquet(source);
    const names = pq.metadata.schema.slice(1).map((e) => e.name);
    const offset = Number(pq.metadata.row_groups[0]!.columns[names.indexOf('city')]!.meta_data!.data_page_offset);
    await pq.close();
    // hyparquet reads the page header; the body starts with the definition levels' byte length, then the levels,
    // then the indices' one-byte bit width
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset };
    const header = parquetHeader(reader);
    assert.equal(header.type, 'DATA_PAGE');
    assert.equal(header.data_page_header!.encoding, 'RLE_DICTIONARY');
    const widthAt = reader.offset + 4 + bytes.readUInt32LE(reader.offset);
    assert.ok(bytes[widthAt]! > 0 && bytes[widthAt]! <= 4, 'a 10-value dictionary: indices of at most 4 bits');
    bytes[widthAt] = 40;
    writeFileSync(broken, bytes);
    await assertCorruptPage(broken, offset, new RegExp(`corrupt-body\\.parquet: column city, page at byte ${offset} .*dictionary indices of 40 bits`));
  });

  it('a Zstandard page that is not a frame fails with CORRUPT naming the file, the column, the page and what zstd says of it', async () => {
    const source = variants['zstd-v1']!.path;
    const broken = join(dir, 'corrupt-zstd.parquet');
    const bytes = Buffer.from(readFileSync(source));
    const pq = await openParquet(source);
    const names = pq.metadata.schema.slice(1).map((e) => e.name);
    const meta = pq.metadata.row_groups[0]!.columns[names.indexOf('city')]!.meta_data!;
    await pq.close();
    assert.equal(meta.codec, 'ZSTD');
    const offset = Number(meta.data_page_offset);
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset };
    assert.equal(parquetHeader(reader).type, 'DATA_PAGE');
    assert.equal(bytes.readUInt32LE(reader.offset), 0xfd2fb528, "the body starts with a frame's magic number");
    bytes[reader.offset]! ^= 0xff;
    writeFileSync(broken, bytes);
    await assertCorruptPage(broken, offset, new RegExp(`corrupt-zstd\\.parquet: column city, page at byte ${offset} .*Unknown frame descriptor`));
    // the next file through the same process decodes as before
    assert.equal((await profileDataset(source)).rows, 5003);
  });

  it('a cancelled scan stops with ABORTED naming the file', async () => {
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(
      profileDataset(FLIGHTS, { signal: stop.signal }),
      (error: unknown) => error instanceof DatasetReadError && error.code === 'ABORTED' && error.file === FLIGHTS,
    );
    await assert.rejects(collectSide(FLIGHTS, { signal: stop.signal }), (error: unknown) => error instanceof DatasetReadError && error.code === 'ABORTED');
  });

  it("the footer's lean read equals hyparquet's field by field (flights-3m, every pyarrow variant, GeoParquet), its integers numbers", () => {
    let geometry = 0;
    for (const file of [FLIGHTS, ...Object.values(variants).map((v) => v.path)]) {
      const bytes = readFileSync(file);
      const length = bytes.readUInt32LE(bytes.length - 8);
      const lean = parseParquetFooter(bytes.subarray(bytes.length - 8 - length, bytes.length - 8));
      assert.ok(lean, `${file}: read by the lean reader`);
      assert.deepStrictEqual(footerFields(lean), footerFields(parquetMetadata(bytes)), file);
      assert.equal(typeof lean.row_groups[0]?.columns[0]?.meta_data?.data_page_offset, 'number', `${file}: offsets as numbers`);
      geometry += lean.schema.filter((e) => e.logical_type?.type === 'GEOMETRY').length;
    }
    assert.equal(geometry, 1, "the GeoParquet file's WKB column is marked GEOMETRY, as hyparquet marks it");
  });

  it("a footer the lean reader does not take (a count past 2^53, a cut struct) goes to hyparquet's, whose errors name the file", async () => {
    const bytes = compactFooter(2n ** 60n);
    assert.equal(parseParquetFooter(bytes), undefined, 'a count past 2^53 is not read as a number');
    assert.equal(parseParquetFooter(bytes.subarray(0, bytes.length - 3)), undefined, 'a cut footer');
    assert.equal(parseParquetFooter(compactFooter(5n))?.num_rows, 5, 'the same footer with 5 rows');
    const file = Buffer.concat([Buffer.from('PAR1'), bytes, Buffer.from(Uint32Array.of(bytes.length).buffer), Buffer.from('PAR1')]);
    const footer = await readParquetFooter({
      byteLength: file.length,
      slice: async (start, end) => file.buffer.slice(file.byteOffset + start, file.byteOffset + (end ?? file.length)),
    });
    assert.equal(footer.num_rows, 2n ** 60n, "hyparquet's parse, its BigInt");
    const broken = join(dir, 'broken-footer.parquet');
    const source = readFileSync(variants['zstd-v1']!.path);
    const length = source.readUInt32LE(source.length - 8);
    writeFileSync(broken, Buffer.concat([source.subarray(0, source.length - 8 - length), Buffer.alloc(length, 0xff), source.subarray(source.length - 8)]));
    await assert.rejects(profileDataset(broken), (error: unknown) => {
      assert.ok(error instanceof DatasetReadError, String(error));
      assert.equal(error.code, 'CORRUPT');
      assert.equal(error.file, broken);
      assert.match(error.message, /broken-footer\.parquet: the Parquet footer cannot be read \(/);
      return true;
    });
  });

  it('a truncated file fails with TRUNCATED at its size, and nothing is read', async () => {
    const source = variants['zstd-v2']!.path;
    const cut = join(dir, 'cut.parquet');
    const bytes = readFileSync(source);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const size = statSync(cut).size;
    await assert.rejects(
      scanParquet(cut, { piece: () => assert.fail('no piece from a truncated file') }),
      (error: unknown) => error instanceof DatasetReadError && error.code === 'TRUNCATED' && error.byteOffset === size && error.message.includes(cut),
    );
    await assert.rejects(profileDataset(cut), (error: unknown) => error instanceof DatasetReadError && error.code === 'TRUNCATED');
  });
});

/** A sample as plain data: a numeric sample's numbers (its counted form, if any, is checked apart). */
function plainSample(sample: ColumnSample | undefined): unknown {
  if (sample?.kind !== 'numeric') return sample;
  return { kind: sample.kind, sorted: Float64Array.from(sample.sorted), missing: sample.missing, infinite: sample.infinite };
}
