import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetReadError, readBatches, readTypedBatches, type CellValue } from '../../src/core/datasets/readers';
import { cellAt } from '../../src/core/datasets/typedCsv';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

// The CSV readers read a file in pieces (1 MiB, 64 KiB for a bounded read) into one buffer they reuse, and the scanner
// joins a record cut by a piece's end to the next piece in a buffer it reuses too. Here files of 3 MiB whose
// pieces end inside 2-, 3- and 4-byte characters, quoted fields with delimiters, doubled quotes and line ends, and
// CRLF records, read whole, bounded and typed: every cell as generated. A byte that is not UTF-8 after the first
// piece is reported at the offset of the character it breaks.

const CHARACTERS = ['a', 'é', '€', '😀', 'ß', 'z'];

function rows(count: number, seed: number): { text: string; expected: { id: number[]; name: string[]; note: string[]; x: number[] } } {
  const r = seededRandom(seed);
  const expected = { id: [] as number[], name: [] as string[], note: [] as string[], x: [] as number[] };
  const lines = ['id,name,note,x'];
  for (let i = 0; i < count; i++) {
    let name = 'n';
    for (let k = Math.floor(r() * 40); k > 0; k--) name += CHARACTERS[Math.floor(r() * CHARACTERS.length)]!;
    const quoted = r() < 0.2;
    const note = quoted ? `q${i}, "said" é\nnext` : `plain${i}`;
    const x = Math.round(r() * 1e6) / 1e3;
    lines.push(`${i},${name},${quoted ? `"${note.replaceAll('"', '""')}"` : note},${x}`);
    expected.id.push(i);
    expected.name.push(name);
    expected.note.push(note);
    expected.x.push(x);
  }
  return { text: `${lines.join('\r\n')}\r\n`, expected };
}

describe('datasets: CSV read in pieces into reused buffers', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-readchunks-')));
  after(() => cleanup());

  it('pieces ending inside multi-byte characters and quoted records: every cell as written, read whole, bounded and typed', async () => {
    const { text, expected } = rows(40_000, 5);
    const file = join(dir, 'chars.csv');
    writeFileSync(file, text);
    assert.ok(Buffer.byteLength(text) > 2 << 20, 'more than two 1 MiB pieces');
    const cells: Record<string, CellValue[]> = { id: [], name: [], note: [], x: [] };
    for await (const b of readBatches(file)) for (const [k, v] of Object.entries(b.columns)) cells[k]!.push(...v);
    assert.deepEqual(cells, expected);
    // a bounded read: 64 KiB pieces, the first 10,000 rows
    const bounded: CellValue[] = [];
    for await (const b of readBatches(file, { maxRows: 10_000, columns: ['name'] })) bounded.push(...b.columns.name!);
    assert.deepEqual(bounded, expected.name.slice(0, 10_000));
    const typed: Record<string, CellValue[]> = { id: [], name: [], note: [], x: [] };
    for await (const b of readTypedBatches(file, {}))
      for (const [k, column] of Object.entries(b.columns)) for (let i = 0; i < b.rows; i++) typed[k]!.push(cellAt(column, i));
    assert.deepEqual(typed, expected);
  });

  it('a byte that is not UTF-8 after the first piece, and one in the last bytes: the error gives the offset of the character it breaks', async () => {
    // the first 1 MiB piece ends after the first byte of a 4-byte character: the next piece starts 1 byte before its own
    const lines = ['id,name\n'];
    let length = lines[0]!.length; // bytes so far (ASCII up to the character)
    let i = 0;
    for (; length < (1 << 20) - 100; i++) length += lines[lines.push(`${i},abc\n`) - 1]!.length;
    lines.push(`${i},${'x'.repeat((1 << 20) - 1 - length - `${i},`.length)}😀\n`);
    for (let k = 0; k < 60_000; k++) lines.push(`${++i},😀é€${i}\n`);
    const text = lines.join('');
    assert.equal(Buffer.from(text).indexOf('😀'), (1 << 20) - 1);
    const bytes = Buffer.from(text);
    for (const at of [(1 << 20) + 1, (1 << 20) + 7, (2 << 20) - 1, 2 << 20, bytes.length - 3]) {
      const bad = Buffer.from(bytes);
      bad[at] = 0xff;
      const file = join(dir, `bad${at}.csv`);
      writeFileSync(file, bad);
      for (const read of [() => readBatches(file), () => readTypedBatches(file, {})]) {
        const error = await (async () => {
          try {
            for await (const _ of read()) void _;
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        assert.ok(error instanceof DatasetReadError, `byte ${at}: ${String(error)}`);
        assert.equal(error.code, 'NOT_UTF8');
        // the offset of the character the bad byte breaks (its first byte)
        let first = at;
        while ((bytes[first]! & 0xc0) === 0x80) first--;
        assert.equal(error.byteOffset, first);
      }
    }
  });
});
