import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { wasserstein1, wasserstein1Against, WassersteinReference } from '../../src/core/drift/distances';
import { pythonJsonSync } from '../support/python';

/**
 * The Wasserstein distance against a prepared reference (prefix sums; a window's stretch holding many reference values
 * summed at once) against the plain merge walk and against scipy.stats.wasserstein_distance computed here, on
 * seattle-weather: whole years, months, weeks, single days, shifted out of the reference's range, ties, −0.
 */

/** The bar for both comparisons: the statistic's definition is exact; only rounding differs. */
const REL = 1e-12;

interface Pair {
  readonly label: string;
  readonly reference: Float64Array;
  readonly window: Float64Array;
}

function scipyDistances(pairs: readonly Pair[]): number[] {
  const code = [
    'import sys, json',
    'from scipy.stats import wasserstein_distance',
    'pairs = json.load(sys.stdin)',
    'print(json.dumps([float(wasserstein_distance(u, v)) for u, v in pairs]))',
  ].join('\n');
  return pythonJsonSync<number[]>({ args: ['-c', code], input: JSON.stringify(pairs.map((p) => [[...p.reference], [...p.window]])) });
}

function close(actual: number, expected: number, what: string): void {
  const scale = Math.abs(expected);
  assert.ok(
    Math.abs(actual - expected) <= REL * scale || (scale === 0 && actual === 0),
    `${what}: ${actual} vs ${expected} (rel ${Math.abs(actual - expected) / scale})`,
  );
}

const DATA = resolve(__dirname, '../../../node_modules/vega-datasets/data');

/** seattle-weather's rows by year (as drift.statistics.test.ts reads them; not imported, that would run its suite here). */
function seattleByYear(): Map<string, Record<string, string>[]> {
  const [header, ...lines] = readFileSync(resolve(DATA, 'seattle-weather.csv'), 'utf8').trim().split('\n');
  const names = header!.split(',');
  const byYear = new Map<string, Record<string, string>[]>();
  for (const line of lines) {
    const cells = line.split(',');
    const row = Object.fromEntries(names.map((n, i) => [n, cells[i]!]));
    const year = row.date!.slice(0, 4);
    byYear.set(year, [...(byYear.get(year) ?? []), row]);
  }
  return byYear;
}

/** The numbers as the drift check holds them: read by the column collector, sorted. */
function sortedSample(values: readonly number[]): Float64Array {
  const c = new ColumnCollector();
  for (const v of values) c.add(v);
  const s = c.finish();
  assert.equal(s.kind, 'numeric');
  return (s as Extract<ColumnSample, { kind: 'numeric' }>).sorted;
}

const sorted = (values: Iterable<number>): Float64Array => Float64Array.from(values).sort();

function pairs(): Pair[] {
  const years = seattleByYear();
  const out: Pair[] = [];
  for (const column of ['precipitation', 'temp_max', 'temp_min', 'wind']) {
    const byYear = new Map([...years].map(([year, rows]) => [year, rows.map((r) => Number(r[column]))]));
    const reference = sortedSample(byYear.get('2012')!);
    // whole years (about the reference's size: every stretch walked, the merge's own terms)
    for (const year of ['2013', '2014', '2015']) out.push({ label: `${column} 2012/${year}`, reference, window: sortedSample(byYear.get(year)!) });
    // the years together as the reference, one year as the window (a quarter of its size: the prefix-sum path)
    const allYears = sortedSample([...byYear.values()].flat());
    out.push({ label: `${column} all/2015`, reference: allYears, window: sortedSample(byYear.get('2015')!) });
    // months and weeks of 2015 (small windows: stretches of many reference values summed at once)
    const rows2015 = years.get('2015')!;
    for (let month = 1; month <= 12; month += 1) {
      const m = rows2015.filter((r) => Number(r.date!.slice(5, 7)) === month).map((r) => Number(r[column]));
      out.push({ label: `${column} 2012/2015-${month}`, reference, window: sortedSample(m) });
      out.push({ label: `${column} all/2015-${month}`, reference: allYears, window: sortedSample(m) });
    }
    for (let week = 0; week < 52; week += 7) {
      const w = rows2015.slice(week * 7, week * 7 + 7).map((r) => Number(r[column]));
      out.push({ label: `${column} all/2015 week ${week}`, reference: allYears, window: sortedSample(w) });
    }
    // a window of one value: inside, at the smallest and at the largest reference value
    out.push({ label: `${column} one value inside`, reference: allYears, window: sorted([allYears[700]!]) });
    out.push({ label: `${column} one value at the minimum`, reference: allYears, window: sorted([allYears[0]!]) });
    out.push({ label: `${column} one value at the maximum`, reference: allYears, window: sorted([allYears[allYears.length - 1]!]) });
    // windows entirely left and right of the reference
    const month = sortedSample(rows2015.slice(0, 31).map((r) => Number(r[column])));
    out.push({ label: `${column} left of the reference`, reference: allYears, window: month.map((x) => x - 100) });
    out.push({ label: `${column} right of the reference`, reference: allYears, window: month.map((x) => x + 100) });
    // far from zero (a time stamp's scale): prefix sums of large values would lose the small differences without their
    // second word; the distance does not move with the shift
    for (let m = 0; m < 12; m += 3) {
      const w = sortedSample(rows2015.slice(m * 30, m * 30 + 30).map((r) => Number(r[column])));
      out.push({ label: `${column} all/2015 month ${m + 1}, shifted by 1.7e9`, reference: allYears.map((x) => x + 1.7e9), window: w.map((x) => x + 1.7e9) });
    }
    // the reference small, the window large (the dense case the other way round)
    out.push({ label: `${column} 2015-1/all`, reference: month, window: allYears });
  }
  // ties and duplicates: a few distinct values repeated many times on both sides, and −0 beside 0
  const ties = sorted(Array.from({ length: 4000 }, (_, i) => [-0, 0, 1, 1, 2, 2.5, 2.5, 2.5, 7][i % 9]!));
  out.push({ label: 'ties: 4,000 of nine values / five values', reference: ties, window: sorted([0, -0, 2.5, 2.5, 7]) });
  out.push({ label: 'ties: 4,000 / −0 only', reference: ties, window: sorted([-0, -0, -0]) });
  out.push({ label: 'ties: 4,000 / 1 and 2 repeated', reference: ties, window: sorted([1, 1, 1, 2, 2, 2, 2]) });
  out.push({ label: 'ties: between the reference values', reference: ties, window: sorted([0.5, 1.5, 1.5, 5]) });
  out.push({ label: 'identical samples', reference: ties, window: ties });
  return out;
}

describe('Wasserstein distance against a prepared reference', function () {
  this.timeout(60_000);

  it('equals the merge walk and scipy.stats.wasserstein_distance to 1e-12 (relative) on seattle-weather, ties, −0, one value, disjoint', () => {
    const all = pairs();
    const scipy = scipyDistances(all);
    let stretchesSummed = 0;
    all.forEach((p, i) => {
      const prepared = new WassersteinReference(p.reference);
      const fast = wasserstein1Against(prepared, p.window);
      const merge = wasserstein1(p.reference, p.window);
      close(fast, merge, `${p.label}: prepared vs merge walk`);
      close(fast, scipy[i]!, `${p.label}: prepared vs scipy`);
      if (p.reference.length <= 4 * p.window.length) {
        // a window of at least a quarter of the reference's size walks every stretch: the merge's very bits
        assert.equal(fast, merge, `${p.label}: a large window must give the merge walk's bits`);
      } else if (fast !== merge) stretchesSummed++;
    });
    // the prefix-sum path did run (its sums round differently from the walk's in the last bits somewhere)
    assert.ok(stretchesSummed > 0, 'no small window took the prefix-sum path');
  });

  it('one prepared reference gives the same distances whatever order the windows come in', () => {
    const years = seattleByYear();
    const reference = sortedSample([...years.values()].flat().map((r) => Number(r.temp_max)));
    const windows = years.get('2015')!.map((_, d, rows) => sortedSample(rows.slice(d, d + 5).map((r) => Number(r.temp_max))));
    const prepared = new WassersteinReference(reference);
    const forward = windows.map((w) => wasserstein1Against(prepared, w));
    const fresh = [...windows].reverse().map((w) => wasserstein1Against(new WassersteinReference(reference), w));
    assert.deepEqual(forward, fresh.reverse());
  });
});
