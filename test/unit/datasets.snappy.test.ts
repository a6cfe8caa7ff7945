import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { snappyUncompressor } from 'hysnappy';
import { parquetHeader } from 'hyparquet/src/column.js';
import { openParquet } from '../../src/core/datasets/readers';
import { profileDataset } from '../../src/core/datasets/profile';
import { collectSide } from '../../src/core/drift/collect';
import { SnappyError, snappyInto } from '../../src/core/datasets/snappy';
import { FLIGHTS, WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';
import { pythonJsonSync } from '../support/python';

/** Every page of every column chunk of `file` (a Snappy Parquet file): its compressed body and decoded size. */
async function snappyPages(file: string): Promise<{ body: Uint8Array; size: number; where: string }[]> {
  const pq = await openParquet(file);
  const metadata = pq.metadata;
  await pq.close();
  const bytes = readFileSync(file);
  const pages: { body: Uint8Array; size: number; where: string }[] = [];
  for (const [g, group] of metadata.row_groups.entries()) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data!;
      assert.equal(meta.codec, 'SNAPPY');
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const end = start + Number(meta.total_compressed_size);
      const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: start };
      while (reader.offset < end) {
        const header = parquetHeader(reader);
        let body = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
        let size = header.uncompressed_page_size;
        const v2 = header.data_page_header_v2;
        if (v2) {
          // v2: the levels lie uncompressed before the compressed values
          const levels = v2.repetition_levels_byte_length + v2.definition_levels_byte_length;
          body = body.subarray(levels);
          size -= levels;
        }
        // a v2 page may be stored uncompressed (pyarrow does so when Snappy would not shrink it)
        if (v2?.is_compressed !== false)
          pages.push({ body, size, where: `${file} group ${g} column ${meta.path_in_schema.join('.')} page at ${reader.offset}` });
        reader.offset += header.compressed_page_size;
      }
    }
  }
  return pages;
}

describe('Snappy pages decoded into a reused buffer (snappy.ts) against hysnappy', function () {
  this.timeout(120_000);
  const { dir, cleanup } = tempDir('mloop-snappy-');
  let files: { flights: string; weather: string; weatherV2: string; plain: Record<string, string>; blocks: { raw: string; snappy: string }[] };
  before(() => {
    // real data written by pyarrow with Snappy: flights-3m's first 400k rows (dictionary pages of ints and text) and
    // seattle-weather (dates, floats, text; data pages v1 and v2, plain and dictionary); and raw Snappy blocks from
    // pyarrow's own compressor of bytes with long literals, short and overlapping copies (runs of one byte, repeats)
    files = pythonJsonSync<typeof files>({
      args: [
        '-c',
        `
import json, os, sys, random
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.csv as pc
d = sys.argv[1]
flights = pq.read_table(sys.argv[2]).slice(0, 400000)
weather = pc.read_csv(sys.argv[3])
plain = {}
# each file also uncompressed, with the same encodings and page layout
for name, table, options in [('flights', flights, {}), ('weather', weather, {'use_dictionary': ['weather']}), ('weather-v2', weather, {'data_page_version': '2.0', 'use_dictionary': False})]:
    for codec in ('snappy', 'none'):
        path = os.path.join(d, name + ('.parquet' if codec == 'snappy' else '-none.parquet'))
        pq.write_table(table, path, compression=codec, **options)
    plain[os.path.join(d, name + '.parquet')] = os.path.join(d, name + '-none.parquet')
rng = random.Random(7)
blocks = []
pieces = [bytes(rng.getrandbits(8) for _ in range(70000)), b'a' * 100000, b'abc' * 30000, bytes(range(256)) * 300, b'', b'x']
mixed = b''.join(rng.choice([b'ab', b'abcd' * rng.randint(1, 40), bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 90)))]) for _ in range(5000))
for i, raw in enumerate(pieces + [mixed]):
    blocks.append({'raw': raw.hex(), 'snappy': pa.compress(raw, codec='snappy', asbytes=True).hex()})
print(json.dumps({'flights': os.path.join(d, 'flights.parquet'), 'weather': os.path.join(d, 'weather.parquet'), 'weatherV2': os.path.join(d, 'weather-v2.parquet'), 'plain': plain, 'blocks': blocks}))
`,
        dir,
        FLIGHTS,
        WEATHER,
      ],
    });
  });
  after(() => cleanup());

  it('every page of flights-3m and seattle-weather (Snappy, v1 and v2) decodes to the bytes hysnappy gives', async () => {
    const hysnappy = snappyUncompressor();
    let out = new Uint8Array(16); // reused and grown as the scanner's scratch page is
    let pages = 0;
    for (const file of [files.flights, files.weather, files.weatherV2]) {
      for (const { body, size, where } of await snappyPages(file)) {
        if (out.length < size) out = new Uint8Array(size * 2);
        out.fill(0xa5); // stale bytes of an earlier page must not show through
        assert.doesNotThrow(() => snappyInto(body, out, size), where);
        assert.deepStrictEqual(out.subarray(0, size), hysnappy(body, size), where);
        pages++;
      }
    }
    assert.ok(pages > 20, `${pages} pages`);
  });

  it("blocks from pyarrow's Snappy compressor (long literals, overlapping copies, empty) decode to the raw bytes", () => {
    for (const [i, { raw, snappy }] of files.blocks.entries()) {
      const expected = Buffer.from(raw, 'hex');
      const out = new Uint8Array(expected.length + 7);
      snappyInto(Buffer.from(snappy, 'hex'), out, expected.length);
      assert.deepStrictEqual(Buffer.from(out.subarray(0, expected.length)), expected, `block ${i}`);
    }
  });

  it('a cut, wrongly sized or corrupt block throws SnappyError, never reads out of bounds', () => {
    const { raw, snappy } = files.blocks[6]!; // the mixed block
    const block = Buffer.from(snappy, 'hex');
    const size = raw.length / 2;
    const out = new Uint8Array(size);
    assert.throws(() => snappyInto(block.subarray(0, block.length - 3), out, size), SnappyError);
    assert.throws(() => snappyInto(block, new Uint8Array(size + 1), size + 1), /a Snappy block of \d+ bytes in a page of/);
    assert.throws(() => snappyInto(new Uint8Array([5, 0x01 | (1 << 2), 0]), new Uint8Array(5), 5), /a copy runs past the block|a copy from/);
    assert.throws(() => snappyInto(new Uint8Array([8, 0x02 | (3 << 2), 9, 0]), new Uint8Array(8), 8), /a copy from 9 bytes back at byte 0/);
  });

  it('the scanner on the Snappy files: profiles and drift samples equal those of the same data uncompressed', async () => {
    for (const file of [files.flights, files.weather, files.weatherV2]) {
      const plain = files.plain[file]!;
      assert.deepStrictEqual(await profileDataset(file), await profileDataset(plain), file);
      const [snappySide, plainSide] = [await collectSide(file), await collectSide(plain)];
      assert.deepStrictEqual(snappySide.samples, plainSide.samples, file);
    }
  });
});
