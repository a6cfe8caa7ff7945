import assert from 'node:assert/strict';
import type { DatasetSchema } from '../../src/core/datasets/readers';
import { EMPTY_DECIMAL } from '../../src/core/datasets/typedCsv';
import { compareSides } from '../../src/core/drift/compare';
import { CombineScratch, tabledCollectors, type ColumnCollector } from '../../src/core/drift/columnSample';
import { FedSideCollector, FeedEngine, type FedBatch, type FedColumn, type FeedReply } from '../../src/core/drift/fedSide';
import type { DriftOptions } from '../../src/core/drift/report';
import { seededRandom } from '../../src/core/sampling/seededRandom';

/**
 * The drift feed compares a window the log has moved past while the read goes on (FedSideCollector.compareAhead) and
 * the comparison after the read takes that window's drift where the window's numbers are still held at the same form.
 * The report must be the one the comparison gives computing every window at the end, and the one compareSides gives
 * on the side finished whole — for columns counted by value, merged (an outlier), moved to a finer scale by a later
 * window, made plain by one, with −0s, empty cells and NaN, few distinct values, text, a window all empty, and windows
 * that get rows after they were settled (and compared ahead).
 */

/** x: three decimals (counted by value); w: an outlier (merged); s: a finer scale from window 4; p: plain from window 3;
 * z: −0s and NaN as numbers; k: three distinct values; e: empty in window 2; t: text. */
const names = ['x', 'w', 's', 'p', 'z', 'k', 'e', 't'];
const schema = {
  columns: names.map((name) => ({ name, type: name === 't' ? 'string' : 'number' })),
} as unknown as DatasetSchema;

/** One window's row values, `w` its index, `shift` the current side's drift. */
function row(random: () => number, w: number, shift: number): (number | string)[] {
  const gauss = (): number => {
    let s = 0;
    for (let i = 0; i < 4; i++) s += random();
    return s - 2;
  };
  return [
    Math.round((gauss() + shift * w * 0.05) * 1e3), // x, decimals at scale 3
    random() < 0.0005 ? 2_000_000_000 : Math.round(random() * 1000 + shift * w * 20), // w, decimals at scale 0
    w >= 4 ? Math.round(random() * 1000) / 1000 : Math.round(random() * 10 + shift * w) / 10, // s, numbers
    w === 3 && random() < 0.01 ? 1 / 3 : Math.round(random() * 100 + shift * w) / 100, // p, numbers
    random() < 0.05 ? -0 : random() < 0.05 ? Number.NaN : Math.round((random() - 0.5 + shift * w * 0.01) * 200) / 100, // z, numbers
    Math.floor(random() * 3), // k, numbers
    w === 2 || random() < 0.1 ? Number.NaN : Math.round(random() * 50), // e, numbers
    ['a', 'b', 'c'][Math.floor(random() * 3 + (shift > 0 && w > 3 ? 0.5 : 0)) % 3]!, // t
  ];
}

/** Batches of `batchRows` rows over `windows` windows in time order, a few rows of an earlier window in later batches. */
function batches(seed: number, windows: number, perWindow: number, batchRows: number, shift: number, windowed: boolean): FedBatch[] {
  const random = seededRandom(seed);
  const out: FedBatch[] = [];
  const seen = new Set<number>();
  const total = windows * perWindow;
  for (let first = 0; first < total; first += batchRows) {
    const rows = Math.min(batchRows, total - first);
    const parts = new Int32Array(rows);
    const newParts: (string | undefined)[] = [];
    const cells: (number | string)[][] = [];
    for (let i = 0; i < rows; i++) {
      let w = Math.floor((first + i) / perWindow);
      // stragglers: a row of window 1 in window 3's and 5's batches (window 1 was settled, and compared ahead, before)
      if (windowed && (w === 3 || w === 5) && random() < 0.002) w = 1;
      if (!windowed) w = 0;
      if (!seen.has(w)) {
        seen.add(w);
        newParts.push(windowed ? `2025-${String(w + 1).padStart(2, '0')}-01` : undefined);
      }
      parts[i] = [...seen].indexOf(w);
      cells.push(row(random, windowed ? w : 0, shift));
    }
    const decimals = (c: number, scale: number): FedColumn => ({
      kind: 'decimals',
      values: Int32Array.from(cells, (r) => (random() < 0.01 ? EMPTY_DECIMAL : (r[c] as number))),
      scale,
    });
    const numbers = (c: number): FedColumn => ({ kind: 'numbers', values: Float64Array.from(cells, (r) => r[c] as number) });
    const dictionary = ['a', 'b', 'c'];
    out.push({
      rows,
      parts,
      newParts,
      columns: [
        decimals(0, 3),
        decimals(1, 0),
        numbers(2),
        numbers(3),
        numbers(4),
        numbers(5),
        numbers(6),
        { kind: 'texts', codes: Int32Array.from(cells, (r) => dictionary.indexOf(r[7] as string)), dictionary },
      ],
    });
  }
  return out;
}

function copies(bs: FedBatch[]): FedBatch[] {
  return bs.map((b) => ({
    ...b,
    parts: b.parts.slice(),
    columns: b.columns.map((c) =>
      c.kind === 'decimals' || c.kind === 'numbers'
        ? ({ ...c, values: c.values.slice() } as FedColumn)
        : c.kind === 'texts'
          ? { ...c, codes: c.codes.slice() }
          : c,
    ),
  }));
}

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('drift feed: windows compared ahead while the read goes on (FedSideCollector.compareAhead)', function () {
  this.timeout(60_000);
  const reference = new FedSideCollector(names, false);
  for (const b of batches(1, 1, 24_000, 5_000, 0, false)) reference.add(b);
  const referenceSide = reference.finish(schema, []);
  const spec = { referencePath: 'reference.csv', currentName: 'log.csv', excluded: [] };
  const fed = batches(2, 6, 9_000, 2_500, 1, true);

  it('covers both ways of the whole column: x counted by value from its windows, w (an outlier) merged', () => {
    const side = new FedSideCollector(names, true);
    for (const b of copies(fed)) side.add(b);
    const parts = (side as unknown as { parts: { collectors: ColumnCollector[] }[] }).parts;
    const whole = (c: number): unknown =>
      tabledCollectors(
        parts.map((p) => p.collectors[c]!),
        new CombineScratch(),
      );
    assert.ok(whole(0) !== undefined && whole(1) === undefined);
  });

  for (const drift of [{}, { method: 'ks' }, { method: 'psi' }, { columnMethods: { z: 'jensenshannon' }, categoricalMaxDistinct: 2 }] as DriftOptions[]) {
    it(`equals the comparison made at the end and compareSides on the whole side (${JSON.stringify(drift)})`, () => {
      const options = { ...spec, drift };
      const whole = new FedSideCollector(names, true);
      for (const b of copies(fed)) whole.add(b);
      const expected = compareSides(referenceSide, whole.finish(schema, []), options);
      const atEnd = new FedSideCollector(names, true);
      for (const b of copies(fed)) atEnd.add(b);
      const plain = atEnd.compare(referenceSide, schema, [], options);
      assert.deepEqual(json(plain), json(expected));
      // ahead: every settled window's columns after each batch; half-way (a window's queue cut off by the next batch) every other one
      const ahead = new FedSideCollector(names, true);
      let compared = 0;
      copies(fed).forEach((b, i) => {
        ahead.add(b);
        for (let step = 0; step < (i % 2 === 0 ? Infinity : 3) && ahead.compareAhead(referenceSide, options); step++) compared++;
      });
      while (ahead.compareAhead(referenceSide, options)) compared++;
      const held = (ahead as unknown as { parts: { start: string; ahead?: ({ form: number } | undefined)[] }[] }).parts;
      const kept = held.map((p) => (p.ahead ?? []).filter((a) => a !== undefined).length);
      // windows 1–5 settled (6 the last), window 1 got rows after (none kept), 8 columns, t, e (window 2) and p (window 3) not taken
      assert.equal(compared, 5 * names.length);
      assert.deepEqual(kept, [names.length - 1, 0, names.length - 2, names.length - 2, names.length - 1, 0]);
      const got = ahead.compare(referenceSide, schema, [], options);
      assert.deepEqual(json(got), json(expected));
      assert.equal(got.windows.length, 6);
      assert.ok(got.report.columns.filter((c) => c.status === 'ok').length >= 7, JSON.stringify(got.report.columns.map((c) => [c.column, c.status, c.reason])));
    });
  }

  it('the feed engine compares ahead between batches (immediates) and replies what it replies without', async () => {
    const run = async (ahead: boolean): Promise<FeedReply> => {
      let reply: FeedReply | undefined;
      const engine = new FeedEngine(names, true, (r) => (reply = r), false, ahead);
      engine.message({ reference: { kind: 'side', side: referenceSide }, spec });
      for (const batch of copies(fed)) {
        engine.message({ batch });
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const parts = (engine as unknown as { collector: { parts: { ahead?: unknown[] }[] } }).collector.parts;
      assert.equal(
        parts.some((p) => p.ahead !== undefined),
        ahead,
        'windows compared ahead before the end',
      );
      engine.message({ end: { schema, dates: [] } });
      while (!reply) await new Promise((resolve) => setImmediate(resolve));
      return reply;
    };
    const [without, withAhead] = [await run(false), await run(true)];
    assert.ok(without.ok && withAhead.ok);
    assert.deepEqual(json(withAhead), json(without));
  });
});
