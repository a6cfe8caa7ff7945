import assert from 'node:assert/strict';
import type { DatasetSchema } from '../../src/core/datasets/readers';
import { TypedDelimitedScanner, type TypedBatch } from '../../src/core/datasets/typedCsv';
import type { ColumnSample } from '../../src/core/drift/columnSample';
import { FedSideCollector, FeedEngine, type Comparison, type FedColumn, type FeedReply } from '../../src/core/drift/fedSide';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { ODD_NUMERALS } from '../support/oddNumerals';

/**
 * The fed drift side's numbers read as exact decimals (the typed reader's 'decimals' columns, collected by
 * ColumnCollector.addDecimals) against the same file read as doubles (addNumbers, the path before): the samples of
 * every window and of the whole column, and the comparison's reports, must be the same to the bit — on numerals of
 * every shape the reader meets (fixed decimals, scales growing and shrinking, −0, exponents, 17+ digits, leading zeros,
 * values past the decimal form's range, empty and NA cells), with windows in runs and rows arriving late.
 */

function generatedLog(random: () => number, rows: number, columns: number): Buffer {
  const oddShare = [0, 0, 0.0005, 0.01][Math.floor(random() * 4)]!;
  const lines = [Array.from({ length: columns }, (_, k) => `c${k}`).join(',')];
  for (let r = 0; r < rows; r++)
    lines.push(
      Array.from({ length: columns }, (_, k) => {
        if (random() < oddShare) return ODD_NUMERALS[Math.floor(random() * ODD_NUMERALS.length)]!;
        // column 0: five places (a logged feature); 1: integers; 2: a scale that grows along the file; others: any
        const places = k === 0 ? 5 : k === 1 ? 0 : k === 2 ? Math.floor((r / rows) * 7) : Math.floor(random() * 6);
        return ((random() - 0.5) * 10 ** (1 + Math.floor(random() * 3))).toFixed(places);
      }).join(','),
    );
  return Buffer.from(lines.join('\n') + '\n');
}

function batchesOf(bytes: Buffer, names: string[], decimals: boolean, batchRows: number, chunk: number): TypedBatch[] {
  const scanner = new TypedDelimitedScanner({
    file: 'log.csv',
    delimiter: ',',
    batchRows,
    maxRows: Number.POSITIVE_INFINITY,
    checkHeader: () => {},
    ...(decimals ? { decimals: names } : {}),
  });
  const out: TypedBatch[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...scanner.push(bytes.subarray(i, i + chunk)));
  out.push(...scanner.end());
  return out;
}

/** The batches fed in windows of `windowRows` rows in runs; every 50th row goes to the window before its own (a straggler). */
function fed(batches: TypedBatch[], names: string[], windowRows: number): FedSideCollector {
  const collector = new FedSideCollector(names, true);
  const seen = new Set<number>();
  let row = 0;
  for (const b of batches) {
    const parts = new Int32Array(b.rows);
    const newParts: string[] = [];
    for (let i = 0; i < b.rows; i++, row++) {
      let w = Math.floor(row / windowRows);
      if (row % 50 === 49 && w > 0) w--;
      if (!seen.has(w)) {
        seen.add(w);
        newParts.push(`w${String(w).padStart(3, '0')}`);
      }
      parts[i] = w; // windows are first seen in order: a window's part is its index
    }
    collector.add({ rows: b.rows, parts, newParts, columns: names.map((n) => b.columns[n] as FedColumn) });
  }
  return collector;
}

/** A sample as comparable data: every number by its bits, −0 kept. */
function plainSample(s: ColumnSample): unknown {
  if (s.kind !== 'numeric') return JSON.stringify(s, (_k, v: unknown) => (v instanceof Map ? [...v] : v));
  const bits = (a: Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
  const scaled = s.scaled;
  return {
    missing: s.missing,
    infinite: s.infinite,
    sorted: bits(s.sorted),
    scaled: scaled && { scale: scaled.scale, values: [...scaled.values], negativeZeros: scaled.negativeZeros },
  };
}

describe('drift: a fed side read as exact decimals', function () {
  this.timeout(60_000);
  it('windows, whole columns and the comparison reports equal the fed side read as doubles, to the bit, over 16 generated logs', () => {
    const random = seededRandom(25);
    const forms = { decimals: 0, numbers: 0, other: 0 };
    for (let f = 0; f < 16; f++) {
      const columns = 3 + Math.floor(random() * 3);
      const names = Array.from({ length: columns }, (_, k) => `c${k}`);
      const schema = { columns: names.map((name) => ({ name, type: 'number' })) } as unknown as DatasetSchema;
      const rows = 1_000 + Math.floor(random() * 3_000);
      const bytes = generatedLog(random, rows, columns);
      const batchRows = 32 + Math.floor(random() * 500);
      const chunk = 512 + Math.floor(random() * 8_192);
      const windowRows = 300 + Math.floor(random() * 1_500);
      const asDecimals = batchesOf(bytes, names, true, batchRows, chunk);
      const asNumbers = batchesOf(bytes, names, false, batchRows, chunk);
      for (const b of asDecimals) for (const c of Object.values(b.columns)) forms[c.kind === 'decimals' || c.kind === 'numbers' ? c.kind : 'other']++;
      const a = fed(asNumbers, names, windowRows).finish(schema, []);
      const b = fed(asDecimals, names, windowRows).finish(schema, []);
      assert.equal(b.windows.length, a.windows.length, `log ${f}: windows`);
      for (const name of names) {
        assert.deepEqual(plainSample(b.samples.get(name)!), plainSample(a.samples.get(name)!), `log ${f} column ${name}: whole`);
        a.windows.forEach((w, k) =>
          assert.deepEqual(
            plainSample(b.windows[k]!.side.samples.get(name)!),
            plainSample(w.side.samples.get(name)!),
            `log ${f} column ${name}: window ${w.start}`,
          ),
        );
      }
      // the comparison against a reference (the first 1,000 rows read as doubles): the same reports, every statistic
      const reference = fed(batchesOf(generatedLog(seededRandom(f), 1_000, columns), names, false, 500, 4_096), names, 1e9).finish(schema, []);
      const spec = { referencePath: 'reference.csv', currentName: 'log.csv', excluded: [] };
      const reports = [asNumbers, asDecimals].map((batches) => JSON.stringify(fed(batches, names, windowRows).compare(reference, schema, [], spec)));
      assert.equal(reports[1], reports[0], `log ${f}: the comparison`);
    }
    // both paths met: batches of decimals, and batches that fell back to doubles (an odd numeral among them)
    assert.ok(forms.decimals > 300 && forms.numbers > 100, JSON.stringify(forms));
  });

  it('batches at other scales than their window: integers moved to a finer scale, or divided to a coarser one, and past the form’s range going plain', () => {
    const names = ['c0'];
    const schema = { columns: [{ name: 'c0', type: 'number' }] } as unknown as DatasetSchema;
    const cases = [
      // a window at scale 1, then a batch of integers at scale 0 that fits it, then one that does not (plain from there)
      { cells: ['0.5', '1', '7', '-3', '2000000000', '4'], plain: true },
      // a window at scale 0, then a batch at scale 2 whose first numbers divide to scale 0, then one that needs scale 2
      { cells: ['1', '2', '3.00', '0.25', '', '5'], plain: false },
    ];
    for (const { cells, plain } of cases) {
      const bytes = Buffer.from(`c0\n${cells.join('\n')}\n`);
      const [a, b] = [false, true].map((decimals) => fed(batchesOf(bytes, names, decimals, 2, 64), names, 100).finish(schema, []));
      const sample = b!.samples.get('c0')! as Extract<ColumnSample, { kind: 'numeric' }>;
      assert.equal(sample.scaled === undefined, plain, `${cells.join(' ')}: plain`);
      assert.deepEqual(plainSample(sample), plainSample(a!.samples.get('c0')!), cells.join(' '));
      assert.deepEqual(plainSample(b!.windows[0]!.side.samples.get('c0')!), plainSample(a!.windows[0]!.side.samples.get('c0')!), cells.join(' '));
    }
  });

  it('the feed thread frees each batch it was handed once collected (its arrays detached), and compares as when it keeps them', async () => {
    const names = ['c0', 'c1', 'c2'];
    const schema = { columns: names.map((name) => ({ name, type: 'number' })) } as unknown as DatasetSchema;
    const bytes = generatedLog(seededRandom(7), 3_000, 3);
    const reference = fed(batchesOf(generatedLog(seededRandom(8), 800, 3), names, false, 400, 4_096), names, 1e9).finish(schema, []);
    const spec = { referencePath: 'reference.csv', currentName: 'log.csv', excluded: [] };
    const run = async (owns: boolean): Promise<{ comparison: Comparison; detached: boolean[] }> => {
      let answer!: (reply: FeedReply) => void;
      const replied = new Promise<FeedReply>((resolve) => (answer = resolve));
      const engine = new FeedEngine(names, true, answer, owns);
      const detached: boolean[] = [];
      let row = 0;
      for (const b of batchesOf(bytes, names, true, 500, 8_192)) {
        const columns = names.map((n) => b.columns[n] as FedColumn);
        const parts = Int32Array.from({ length: b.rows }, (_, i) => Math.floor((row + i) / 1_000));
        const newParts = [...new Set(parts)].filter((k) => (row === 0 && k === 0) || k * 1_000 >= row).map((k) => `w${k}`);
        row += b.rows;
        engine.message({ batch: { rows: b.rows, parts, newParts, columns } });
        detached.push(parts.buffer.byteLength === 0, ...columns.map((c) => 'values' in c && (c.values as Int32Array).buffer.byteLength === 0));
      }
      engine.message({ reference: { kind: 'side', side: reference }, spec });
      engine.message({ end: { schema, dates: [] } });
      const reply = await replied;
      assert.ok(reply.ok, JSON.stringify(reply));
      return { comparison: reply.comparison, detached };
    };
    const [kept, freed] = [await run(false), await run(true)];
    assert.ok(
      kept.detached.every((d) => !d),
      'a feed that does not own its batches leaves them alone',
    );
    assert.ok(
      freed.detached.every((d) => d),
      'every array of every batch freed once collected',
    );
    assert.equal(JSON.stringify(freed.comparison), JSON.stringify(kept.comparison));
  });
});
