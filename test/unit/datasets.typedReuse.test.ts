import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTypedBatches } from '../../src/core/datasets/readers';
import { cellAt } from '../../src/core/datasets/typedCsv';

/**
 * readTypedBatches' `reuse`: the arrays of batches the reader is done with are filled again by later batches. A file of
 * several read chunks (1 MiB each) in small batches — many batches made from one chunk before the first is handed
 * back — whose columns change form from batch to batch (numbers, text, mixed, empty, a day prefix): each batch's
 * cells, copied out before the next batch is asked for, must be the file's cells as this test parses them itself.
 */

const ROWS = 120_000;

/** The file's cells as plain strings, row by row (no quotes in this file: a split is the parse). */
function makeFile(dir: string): string[][] {
  const rows: string[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const block = Math.floor(i / 700) % 5;
    const num = block === 1 && i % 3 === 0 ? '' : String(((i * 7919) % 100_003) / 100);
    // text in some blocks, numbers in others, a mix in one, empty cells throughout
    const mixed = block === 2 ? `t${i % 11}` : block === 3 ? (i % 2 ? String(i % 13) : `m${i % 5}`) : block === 4 && i % 4 === 0 ? '' : String(i % 17);
    const text = i % 9 === 0 ? '' : `cat${i % 6}`;
    const day = `2025-${String(1 + (Math.floor(i / 10_000) % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00`;
    rows.push([String(i), num, mixed, text, day]);
  }
  writeFileSync(join(dir, 'log.csv'), `id,num,mixed,text,time\n${rows.map((r) => r.join(',')).join('\n')}\n`);
  return rows;
}

/** A cell as the reader of cells types a plain unquoted field (the forms this file holds). */
function expectedCell(text: string): string | number | null {
  if (text === '') return null;
  const n = Number(text);
  return Number.isFinite(n) && /^-?[0-9.]+$/.test(text) ? n : text;
}

describe('typed batches: arrays of batches read handed back and filled again', function () {
  this.timeout(120_000);
  let dir: string;
  let rows: string[][];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mloop-typed-reuse-'));
    rows = makeFile(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const batchRows of [97, 10_000]) {
    it(`every batch's cells are the file's, and arrays are filled again (batches of ${batchRows} rows)`, async () => {
      const names = ['id', 'num', 'mixed', 'text', 'time'];
      const seen = new Map<string, Set<ArrayBufferLike>>(names.map((n) => [n, new Set()]));
      let row = 0;
      let batches = 0;
      for await (const batch of readTypedBatches(join(dir, 'log.csv'), { batchRows, reuse: names, prefixes: { time: 10 } })) {
        batches++;
        assert.equal(batch.rowOffset, row);
        for (const [k, name] of names.entries()) {
          const column = batch.columns[name]!;
          if (column.kind === 'numbers') seen.get(name)!.add(column.values.buffer);
          if (column.kind === 'texts' || column.kind === 'prefixes') seen.get(name)!.add(column.codes.buffer);
          for (let i = 0; i < batch.rows; i++) {
            const want = rows[row + i]![k]!;
            if (column.kind === 'prefixes') {
              const code = column.codes[i]!;
              assert.equal(code < 0 ? null : column.dictionary[code], want.slice(0, 10), `row ${row + i} ${name}`);
            } else assert.equal(cellAt(column, i), expectedCell(want), `row ${row + i} ${name} (${column.kind})`);
          }
        }
        row += batch.rows;
      }
      assert.equal(row, ROWS);
      // fewer arrays than batches: arrays handed back were filled again (of the batches made from one chunk, the
      // first MAX_SPARES = 2 take arrays handed back; with 10,000 rows a chunk makes about two)
      for (const name of ['id', 'time']) {
        const arrays = seen.get(name)!.size;
        assert.ok(batchRows === 97 ? arrays < batches : arrays <= batches / 2, `${name}: ${arrays} arrays for ${batches} batches`);
      }
    });
  }
});
