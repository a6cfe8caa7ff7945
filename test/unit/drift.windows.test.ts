import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectSide } from '../../src/core/drift/collect';
import type { ColumnSample } from '../../src/core/drift/columnSample';
import { seededRandom as random } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

/** Plain data for deepEqual: a numeric sample's values as an array, a categorical one's counts sorted by name. */
function plain(sample: ColumnSample | undefined): unknown {
  if (!sample) return undefined;
  if (sample.kind === 'numeric') return { kind: sample.kind, sorted: Array.from(sample.sorted), missing: sample.missing, infinite: sample.infinite };
  if (sample.kind === 'categorical') return { ...sample, counts: [...sample.counts].sort(([a], [b]) => (a < b ? -1 : 1)) };
  return sample;
}

describe('drift per window: the whole column is the merge of its windows', () => {
  it('equals reading without windows (numbers, ties, text, missing and mixed cells, rows without a time), and each window equals its rows read alone', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const next = random(17);
      const header = 'time,x,tied,color,mixed,empty';
      const rows: { time: string; line: string }[] = [];
      for (let i = 0; i < 3000; i++) {
        const month = 1 + Math.floor(next() * 4);
        // some rows have no usable time: they count overall and in no window
        const time = next() < 0.03 ? (next() < 0.5 ? '' : 'not a date') : `2025-0${month}-${String(1 + Math.floor(next() * 28)).padStart(2, '0')}T12:00:00`;
        const x = next() < 0.05 ? 'NA' : (next() * 10 - 5 + month).toFixed(3);
        const tied = String(Math.floor(next() * 7));
        const color = ['red', 'green', 'blue'][Math.floor(next() * 3)]!;
        const mixed = next() < 0.01 ? 'oops' : String(Math.floor(next() * 100));
        rows.push({ time, line: `${time},${x},${tied},${color},${mixed},` });
      }
      const whole = join(dir, 'all.csv');
      writeFileSync(whole, [header, ...rows.map((r) => r.line)].join('\n'));
      const windowed = await collectSide(whole, { timeColumn: 'time', window: 'monthly' });
      const flat = await collectSide(whole, { timeColumn: 'time' });
      assert.equal(windowed.rows, 3000);
      assert.ok(windowed.rowsWithoutTime > 0);
      assert.deepEqual(
        [...windowed.samples.keys()].sort().map((k) => [k, plain(windowed.samples.get(k))]),
        [...flat.samples.keys()].sort().map((k) => [k, plain(flat.samples.get(k))]),
      );
      assert.equal(windowed.samples.get('mixed')?.kind, 'unusable');
      assert.equal(windowed.samples.get('x')?.kind, 'numeric');
      assert.deepEqual(
        windowed.windows.map((w) => w.start),
        ['2025-01-01', '2025-02-01', '2025-03-01', '2025-04-01'],
      );
      for (const w of windowed.windows) {
        const file = join(dir, `${w.start}.csv`);
        writeFileSync(file, [header, ...rows.filter((r) => r.time.startsWith(w.start.slice(0, 7))).map((r) => r.line)].join('\n'));
        const alone = await collectSide(file, { timeColumn: 'time' });
        assert.equal(w.side.rows, alone.rows);
        for (const name of ['x', 'tied', 'color', 'mixed', 'empty'])
          assert.deepEqual(plain(w.side.samples.get(name)), plain(alone.samples.get(name)), `${w.start} ${name}`);
      }
    } finally {
      cleanup();
    }
  });
});
