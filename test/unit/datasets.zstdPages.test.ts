import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { parquetHeader } from 'hyparquet/src/column.js';
import { openParquet } from '../../src/core/datasets/readers';
import { ZstdPages } from '../../src/core/datasets/zstdPages';
import { FLIGHTS } from './datasetFixtures';

const zstdCompressSync = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Buffer }).zstdCompressSync;
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;

/** Every page of flights-3m (all Zstandard): its compressed body and the size its header gives. */
async function flightsPages(): Promise<{ body: Uint8Array; size: number }[]> {
  const pq = await openParquet(FLIGHTS);
  const { metadata } = pq;
  await pq.close();
  const file = readFileSync(FLIGHTS);
  const pages: { body: Uint8Array; size: number }[] = [];
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data!;
      assert.equal(meta.codec, 'ZSTD');
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const reader = { view: new DataView(file.buffer, file.byteOffset, file.byteLength), offset: start };
      while (reader.offset < start + Number(meta.total_compressed_size)) {
        const header = parquetHeader(reader);
        pages.push({ body: file.subarray(reader.offset, reader.offset + header.compressed_page_size), size: header.uncompressed_page_size });
        reader.offset += header.compressed_page_size;
      }
    }
  }
  return pages;
}

describe('datasets: Zstandard pages through one reused context', function () {
  before(function () {
    if (!zstdCompressSync || !zstdDecompressSync) this.skip(); // a runtime without zstd in node:zlib takes the pure-JS decoder
  });

  it("flights-3m's 110 pages, one after another into one buffer, equal node:zlib's zstdDecompressSync page by page", async () => {
    const pages = await flightsPages();
    assert.equal(pages.length, 110);
    const zstd = new ZstdPages();
    const out = new Uint8Array(Math.max(...pages.map((p) => p.size)) + 1);
    for (const [i, page] of pages.entries()) {
      assert.ok(zstd.decompressInto(page.body, out, page.size), `page ${i}`);
      assert.ok(Buffer.from(out.buffer, 0, page.size).equals(zstdDecompressSync!(page.body)), `page ${i}: bytes`);
    }
  });

  it('a frame that is not the size given, cut short or corrupt is refused (the caller then asks the public API), and the next frame still decodes', () => {
    const plain = randomBytes(50_000).toString('hex'); // compressible, not trivially
    const a = Buffer.from(plain.slice(0, 60_000));
    const b = Buffer.from(plain.slice(40_000));
    const frameA = zstdCompressSync!(a);
    const frameB = zstdCompressSync!(b);
    const zstd = new ZstdPages();
    const out = new Uint8Array(a.length + b.length + 1);
    const decodesB = (after: string): void => {
      assert.ok(zstd.decompressInto(frameB, out, b.length), `after ${after}`);
      assert.ok(Buffer.from(out.buffer, 0, b.length).equals(b), `after ${after}: bytes`);
    };
    // two frames where one is said: more bytes than the size (the context is left inside the second frame)
    assert.equal(zstd.decompressInto(Buffer.concat([frameA, frameB]), out, a.length), false);
    decodesB('two frames');
    // a size larger than the frame holds
    assert.equal(zstd.decompressInto(frameA, out, a.length + 1), false);
    decodesB('a size too large');
    // cut short, with room for more output: the context waits for the rest of the frame
    assert.equal(zstd.decompressInto(frameA.subarray(0, frameA.length >> 1), out, a.length), false);
    decodesB('a frame cut short');
    // an output buffer with no byte to spare is refused before decoding
    assert.equal(zstd.decompressInto(frameB, out.subarray(0, b.length), b.length), false);
    // not a frame at all (the magic number broken)
    const broken = Buffer.from(frameA);
    broken[0]! ^= 0xff;
    assert.equal(zstd.decompressInto(broken, out, a.length), false);
    decodesB('a corrupt frame');
    // an empty frame
    assert.ok(zstd.decompressInto(zstdCompressSync!(Buffer.alloc(0)), out, 0));
    decodesB('an empty frame');
    // closed (a scan's end), then used again: a new context
    zstd.close();
    zstd.close();
    decodesB('close');
  });
});
