import assert from 'node:assert/strict';
import type { DatasetSchema } from '../../src/core/datasets/readers';
import { compareSides } from '../../src/core/drift/compare';
import { FedSideCollector, type FedBatch } from '../../src/core/drift/fedSide';
import { seededRandom } from '../../src/core/sampling/seededRandom';

/**
 * The drift feed's thread frees the arrays it drops (freeNow) instead of leaving them to a garbage collection that its
 * few JS objects seldom trigger (issue 17: they were ~100 MB of the 1M-row check's peak). Checked by what the
 * process's array-buffer memory holds after feeding (dead buffers count there until collected) and by the comparison,
 * which must equal compareSides on the same side finished whole (a freed array still read, or the comparison's
 * scratch freed, would change or empty its samples).
 */

const names = ['x', 'y'];
const schema = { columns: names.map((name) => ({ name, type: 'number' })) } as unknown as DatasetSchema;

/** `windows` windows of `perWindow` rows in batches of `batchRows`: x five decimals (packs dense), y integers spread wide. */
function batches(seed: number, windows: number, perWindow: number, batchRows: number): FedBatch[] {
  const random = seededRandom(seed);
  const out: FedBatch[] = [];
  for (let row = 0; row < windows * perWindow; row += batchRows) {
    const x = new Int32Array(batchRows);
    const y = new Int32Array(batchRows);
    const parts = new Int32Array(batchRows);
    const newParts: string[] = [];
    for (let i = 0; i < batchRows; i++) {
      const w = Math.floor((row + i) / perWindow);
      if ((row + i) % perWindow === 0) newParts.push(`w${String(w).padStart(2, '0')}`);
      parts[i] = w;
      x[i] = Math.round((random() - 0.5 + w * 0.01) * 2e6); // five decimals of ±10: dense enough to pack, too wide to table
      y[i] = Math.round(random() * 1e8);
    }
    out.push({
      rows: batchRows,
      parts,
      newParts,
      columns: [
        { kind: 'decimals', values: x, scale: 5 },
        { kind: 'decimals', values: y, scale: 0 },
      ],
    });
  }
  return out;
}

function copies(bs: FedBatch[]): FedBatch[] {
  return bs.map((b) => ({ ...b, parts: b.parts.slice(), columns: b.columns.map((c) => (c.kind === 'decimals' ? { ...c, values: c.values.slice() } : c)) }));
}

describe('drift: the feed frees the arrays it drops', function () {
  this.timeout(60_000);

  it('windows settled and packed leave no dead buffers behind: the array-buffer memory grows by the packed windows only', () => {
    const fed = batches(3, 8, 60_000, 6_000);
    const collector = new FedSideCollector(names, true);
    const before = process.memoryUsage().arrayBuffers;
    for (const b of fed) collector.add(b);
    const grown = process.memoryUsage().arrayBuffers - before;
    // live: 7 settled windows × 60k values, x packed (~2 bytes a value), y as integers (4 bytes; too sparse to pack),
    // and the last window's room (2 × 240 KB): ~2.6 MB. Left to the collector: each window's room, its trimmed copy,
    // the sort's pass buffer and the unpacked x (~1.4 MB a window more, ~12 MB in all)
    assert.ok(grown < 4_500_000, `array buffers grew by ${(grown / 1e6).toFixed(1)} MB while feeding`);
  });

  it('the comparison column by column, each sample freed once compared, equals compareSides on the side finished whole', () => {
    const reference = new FedSideCollector(names, false);
    for (const b of batches(4, 1, 30_000, 3_000)) reference.add({ ...b, parts: new Int32Array(b.rows), newParts: b.newParts.length ? [undefined] : [] });
    const referenceSide = reference.finish(schema, []);
    const fed = batches(5, 6, 20_000, 4_000);
    const spec = { referencePath: 'reference.csv', currentName: 'log.csv', excluded: [] };
    // Wasserstein (each column merged through the scratch, x's windows unpacked into it) and KS (the doubles made, then freed)
    for (const drift of [{}, { method: 'ks' as const }]) {
      const twin = new FedSideCollector(names, true);
      for (const b of copies(fed)) twin.add(b);
      const expected = compareSides(referenceSide, twin.finish(schema, []), { ...spec, drift });
      const collector = new FedSideCollector(names, true);
      for (const b of copies(fed)) collector.add(b);
      const got = collector.compare(referenceSide, schema, [], { ...spec, drift });
      assert.deepEqual(JSON.parse(JSON.stringify(got)), JSON.parse(JSON.stringify(expected)));
      assert.ok(got.windows.length === 6 && got.report.columns.every((c) => c.status === 'ok' && c.current_count > 0), JSON.stringify(got.report.columns));
    }
  });
});
