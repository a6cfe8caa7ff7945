import assert from 'node:assert/strict';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { HybridCounter } from '../../src/core/datasets/hybridKernel';
import { HYBRID_KERNEL } from '../../src/core/datasets/hybridKernelWat';
import { HYBRID_KERNEL_WASM } from '../../src/core/datasets/hybridKernelWasm';
import { assembleWat } from '../../src/core/datasets/wat';
import { countHybridOnes, decodeHybrid, HybridDecodeError, MAX_FAST_WIDTH } from '../../src/core/datasets/rleHybrid';
import { seededRandom } from '../../src/core/sampling/seededRandom';

/**
 * mloop's RLE / bit-packed hybrid decoder against hyparquet's (the decoder it replaces on the scanner's hot path),
 * on runs written by an encoder in this file that follows the Parquet spec: ULEB128 headers, RLE values in
 * ⌈width / 8⌉ little-endian bytes, bit-packed groups of 8 values least significant bit first, the last group padded.
 */

function uleb(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function encode(values: readonly number[], width: number, runs: readonly { rle: boolean; length: number }[]): Uint8Array {
  const out: number[] = [];
  let at = 0;
  for (const run of runs) {
    const part = values.slice(at, at + run.length);
    at += run.length;
    if (run.rle) {
      uleb(part.length * 2, out);
      for (let i = 0; i < (width + 7) >> 3; i++) out.push(Math.floor(part[0]! / 2 ** (8 * i)) & 0xff);
    } else {
      const groups = Math.ceil(part.length / 8);
      uleb(groups * 2 + 1, out);
      const bits: number[] = [];
      for (let i = 0; i < groups * 8; i++) for (let b = 0; b < width; b++) bits.push(Math.floor((part[i] ?? 0) / 2 ** b) % 2);
      for (let i = 0; i < bits.length; i += 8) out.push(bits.slice(i, i + 8).reduce((a, bit, k) => a + bit * 2 ** k, 0));
    }
  }
  return Uint8Array.from(out);
}

describe('datasets: RLE / bit-packed hybrid decoder', () => {
  it('decodes the encoded values as hyparquet does, for every width it handles, mixed runs and padding', () => {
    const random = seededRandom(16);
    for (let width = 1; width <= MAX_FAST_WIDTH; width++) {
      for (let trial = 0; trial < 6; trial++) {
        const values: number[] = [];
        const runs: { rle: boolean; length: number }[] = [];
        const total = 1 + Math.floor(random() * 700);
        while (values.length < total) {
          const rle = random() < 0.4;
          // a bit-packed run holds whole groups of 8: only the last one may be padded
          const wanted = 1 + Math.floor(random() * (rle ? 60 : 90));
          const length = Math.min(total - values.length, rle ? wanted : Math.ceil(wanted / 8) * 8);
          const top = random() < 0.3 ? 2 ** width - 1 : Math.floor(random() * 2 ** width); // the widest value too
          const v = Math.floor(random() * (top + 1));
          for (let i = 0; i < length; i++) values.push(rle ? v : Math.floor(random() * (top + 1)));
          runs.push({ rle, length });
        }
        const bytes = encode(values, width, runs);
        // the page goes on after the runs: garbage that must not leak into the last values
        const page = new Uint8Array(bytes.length + 7).fill(0xff);
        page.set(bytes);
        const theirs = new Int32Array(total);
        readRleBitPackedHybrid({ view: new DataView(page.buffer), offset: 0 }, width, theirs, bytes.length);
        const ours = new Int32Array(total);
        const max = decodeHybrid(page, 0, bytes.length, width, ours, total);
        assert.deepEqual(ours, Int32Array.from(values), `width ${width}, trial ${trial}: the encoded values`);
        // hyparquet's 32-bit accumulator overflows at 25 bits (a dictionary of > 16M entries); the spec's values hold there
        if (width <= 24) assert.deepEqual(ours, theirs, `width ${width}, trial ${trial}: hyparquet's`);
        assert.equal(max, Math.max(...values));
      }
    }
  });

  it('counts the ones of one-bit runs (definition levels) as hyparquet decodes them', () => {
    const random = seededRandom(61);
    for (let trial = 0; trial < 40; trial++) {
      const values: number[] = [];
      const runs: { rle: boolean; length: number }[] = [];
      const total = 1 + Math.floor(random() * 2000);
      const density = random();
      while (values.length < total) {
        const rle = random() < 0.5;
        const wanted = 1 + Math.floor(random() * 100);
        const length = Math.min(total - values.length, rle ? wanted : Math.ceil(wanted / 8) * 8);
        const v = random() < density ? 1 : 0;
        for (let i = 0; i < length; i++) values.push(rle ? v : random() < density ? 1 : 0);
        runs.push({ rle, length });
      }
      const bytes = encode(values, 1, runs);
      const page = new Uint8Array(bytes.length + 4).fill(0xff); // set bits after the runs must not be counted
      page.set(bytes);
      const theirs = new Int32Array(total);
      readRleBitPackedHybrid({ view: new DataView(page.buffer), offset: 0 }, 1, theirs, bytes.length);
      assert.equal(
        countHybridOnes(page, 0, bytes.length, total),
        theirs.reduce((a, b) => a + b, 0),
        `trial ${trial}`,
      );
      assert.equal(
        countHybridOnes(page, 0, bytes.length, total),
        values.reduce((a, b) => a + b, 0),
        `trial ${trial}`,
      );
    }
    assert.throws(() => countHybridOnes(Uint8Array.of(8, 2), 0, 2, 4), /repeated value 2/);
  });

  it('counts dictionary indices as they decode (WebAssembly), in order of first appearance, with the indices at asked positions', () => {
    const random = seededRandom(1616);
    // one counter for every page, as a scan uses it: its memory is laid out anew for larger pages and dictionaries
    const counter = new HybridCounter();
    for (let width = 1; width <= MAX_FAST_WIDTH; width++) {
      for (let trial = 0; trial < 4; trial++) {
        const size = Math.min(2 ** width, 1 + Math.floor(random() * 3000)); // the dictionary: every index below it
        const values: number[] = [];
        const runs: { rle: boolean; length: number }[] = [];
        const total = 1 + Math.floor(random() * 900);
        while (values.length < total) {
          const rle = random() < 0.4;
          const wanted = 1 + Math.floor(random() * (rle ? 60 : 90));
          const length = Math.min(total - values.length, rle ? wanted : Math.ceil(wanted / 8) * 8);
          const v = Math.floor(random() * size);
          for (let i = 0; i < length; i++) values.push(rle ? v : Math.floor(random() * size));
          runs.push({ rle, length });
        }
        const bytes = encode(values, width, runs);
        // the runs start past a few bytes of something else, and the page goes on after them
        const page = new Uint8Array(bytes.length + 10).fill(0xff);
        page.set(bytes, 3);
        // the reference: a plain pass over the values (hyparquet's decode at widths it gets right)
        const decoded = new Int32Array(total);
        if (width <= 24) readRleBitPackedHybrid({ view: new DataView(page.buffer), offset: 3 }, width, decoded, bytes.length);
        else decoded.set(values);
        const expected = new Map<number, number>();
        for (const v of decoded) expected.set(v, (expected.get(v) ?? 0) + 1);
        const positions = Int32Array.from(Array.from({ length: total }, (_, i) => i).filter(() => random() < 0.1));
        const distinct = counter.count(page, 3, 3 + bytes.length, width, total, size, positions, positions.length);
        const { counts, order } = counter;
        const ours = new Map([...order.subarray(0, distinct)].map((k) => [k, counts[k]!]));
        assert.deepEqual([...ours], [...expected], `width ${width}, trial ${trial}: counts in order of first appearance`);
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          total,
          'nothing counted outside order[]',
        );
        assert.deepEqual(
          [...counter.picked.subarray(0, positions.length)],
          [...positions].map((p) => decoded[p]!),
          'the indices at the positions',
        );
        for (let d = 0; d < distinct; d++) counts[order[d]!] = 0; // as the scanner does between pages
      }
    }
    // an index past the dictionary is an error, not a write outside counts (a corrupt page); the counter goes on
    const bytes = encode([0, 1, 2, 3, 4, 5, 6, 7], 3, [{ rle: false, length: 8 }]);
    assert.throws(() => counter.count(bytes, 0, bytes.length, 3, 8, 7), /dictionary index 7 in a dictionary of 7/);
    assert.throws(() => counter.count(Uint8Array.of(8, 5), 0, 2, 3, 4, 5), /dictionary index 5 in a dictionary of 5/);
    assert.equal(counter.count(bytes, 0, bytes.length, 3, 8, 8), 8);
    assert.deepEqual([...counter.counts], [1, 1, 1, 1, 1, 1, 1, 1], 'counts start from 0 after an error');
  });

  it('names the first index past the dictionary in bit-packed groups (counted unchecked), whatever follows it, and counts from 0 after it', () => {
    const counter = new HybridCounter();
    for (const width of [1, 3, 8, 9, 15, 16, 17]) {
      const past = 2 ** width - 1; // the greatest index of the width, past the dictionary
      const size = Math.max(1, past - 1);
      const good = Array.from({ length: 16 }, (_, i) => (i * 7) % size);
      const bad = [...good.slice(0, 8), ...good.slice(0, 3), past, ...good.slice(4, 8)];
      // valid groups, groups holding `past`, an RLE run of another index past the dictionary (where width > 1), and a
      // bit-packed run that runs past the page
      const bytes = encode([...good, ...bad, size, size, ...good.slice(0, 8)], width, [
        { rle: false, length: 16 },
        { rle: false, length: 16 },
        { rle: true, length: 2 },
        { rle: false, length: 8 },
      ]);
      const cut = bytes.length - 1;
      const page = new Uint8Array(cut + 8).fill(0xff);
      page.set(bytes.subarray(0, cut));
      assert.throws(() => counter.count(page, 0, cut, width, 42, size), new RegExp(`dictionary index ${past} in a dictionary of ${size}$`), `width ${width}`);
      // after it, every index of the width is in the dictionary: nothing of the failed page is left in counts[]
      const next = encode(good, width, [{ rle: false, length: 16 }]);
      const distinct = counter.count(next, 0, next.length, width, 16, past + 1);
      assert.equal(
        counter.counts.reduce((a, b) => a + b, 0),
        16,
        `width ${width}: counts hold only the next page`,
      );
      for (let d = 0; d < distinct; d++) counter.counts[counter.order[d]!] = 0;
    }
  });

  it("time stamps' extremes at the counted indices (WebAssembly) equal BigInt division and Date's range, the counts intact after the memory grows", () => {
    const random = seededRandom(2222);
    const counter = new HybridCounter();
    const limit = 8_640_000_000_000_000n;
    for (const divisor of [1, 1000, 1_000_000]) {
      const d = BigInt(divisor);
      // around zero (truncation toward zero), around the Date range's ends, past 2^53, the int64 extremes; then random
      const edges = [0n, -1n, 1n, -d + 1n, d - 1n, -d, limit * d, limit * d + d - 1n, limit * d + d, -limit * d, -limit * d - d + 1n, -limit * d - d];
      const special = [...edges, 2n ** 53n + 1n, -(2n ** 53n) - 3n, 2n ** 63n - 1n, -(2n ** 63n)];
      for (const size of [16, 5000, 100_000]) {
        const raw = BigInt64Array.from({ length: size }, (_, i) =>
          i < special.length ? special[i]! : BigInt(Math.floor((random() - 0.5) * 2 ** 53)) * (random() < 0.1 ? 4096n * d : 1n),
        );
        // a bit-packed page of 16-bit indices: some of the dictionary, some indices repeated
        const count = 2000;
        const values = Array.from({ length: count }, (_, i) => (i < special.length ? i : Math.floor(random() * Math.min(size, 65536))));
        const page = encode(values, 16, [{ rle: false, length: count }]);
        const bytes = new Uint8Array(page.length + 4);
        bytes.set(page);
        const distinct = counter.count(bytes, 0, page.length, 16, count, size);
        const got = counter.timeExtremes(raw, distinct, divisor);
        // the reference: hyparquet's conversion (BigInt division, a Date's range) over the counted values
        let min = Number.NaN;
        let max = Number.NaN;
        let invalid = 0;
        const seen = new Map<number, number>();
        for (const k of values) seen.set(k, (seen.get(k) ?? 0) + 1);
        for (const [k, n] of seen) {
          const q = raw[k]! / d;
          if (q < -limit || q > limit) invalid += n;
          else {
            const ms = Number(q);
            if (!(ms >= min)) min = ms;
            if (!(ms <= max)) max = ms;
          }
        }
        assert.deepEqual(got, { min, max, invalid }, `divisor ${divisor}, dictionary of ${size}`);
        assert.deepEqual([...seen.keys()], Array.from(counter.order.subarray(0, distinct)), 'order[] kept');
        for (const [k, n] of seen) assert.equal(counter.counts[k], n, `counts[${k}] kept`);
        for (let j = 0; j < distinct; j++) counter.counts[counter.order[j]!] = 0;
      }
    }
  });

  it('reports runs that end early or run past the page, instead of reading beyond it', () => {
    const counter = new HybridCounter();
    const bytes = encode([1, 2, 3, 4, 5, 6, 7, 8], 4, [{ rle: false, length: 8 }]);
    assert.throws(() => counter.count(bytes, 0, bytes.length - 1, 4, 8, 16), /bit-packed run of 4 bytes runs past the page/);
    assert.throws(() => counter.count(bytes, 0, bytes.length, 4, 9, 16), /end after 8 of 9/);
    assert.throws(() => counter.count(Uint8Array.of(4), 0, 1, 9, 2, 512), /repeated value runs past/);
    assert.throws(() => counter.count(Uint8Array.of(0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 1), 0, 7, 4, 2, 16), /header longer than 5 bytes/);
    assert.throws(() => decodeHybrid(bytes, 0, bytes.length - 1, 4, new Int32Array(8), 8), HybridDecodeError);
    assert.throws(() => decodeHybrid(bytes, 0, bytes.length, 4, new Int32Array(9), 9), /end after 8 of 9/);
    assert.throws(() => decodeHybrid(Uint8Array.of(4), 0, 1, 9, new Int32Array(2), 2), /repeated value runs past/);
  });

  it("the kernel's shipped bytes are its source assembled (a changed kernel needs `node scripts/wasm-kernels.mjs`)", () => {
    const shipped = Buffer.from(HYBRID_KERNEL_WASM, 'base64');
    const assembled = Buffer.from(assembleWat(HYBRID_KERNEL));
    assert.ok(
      shipped.equals(assembled),
      `hybridKernelWasm.ts holds ${shipped.length} bytes that are not hybridKernelWat.ts assembled (${assembled.length} bytes)`,
    );
  });
});
