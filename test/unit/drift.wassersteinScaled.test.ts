import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { wasserstein1Scaled } from '../../src/core/drift/distances';
import { columnDrift } from '../../src/core/drift/report';
import { pythonJsonSync } from '../support/python';

/**
 * The Wasserstein distance merged as scaled integers (src/core/drift/distances.ts wasserstein1Scaled, what a drift
 * check runs on numbers with an exact decimal form) against, computed here in Python: the exact rational value (an
 * independent formula: the integral of |F − G| summed from each side's count at every distinct value, in integers)
 * and scipy.stats.wasserstein_distance. Real data: flights-20k (integers), penguins (one decimal), seattle-weather;
 * sums far past 2^53 (single terms too), disjoint samples, ties, −0, windows of another scale.
 */

type Numeric = Extract<ColumnSample, { kind: 'numeric' }>;

const DATA = resolve(__dirname, '../../../node_modules/vega-datasets/data');

/** The numbers as the drift check holds them: read by the column collector. */
function collected(values: readonly number[]): Numeric {
  const c = new ColumnCollector();
  for (const v of values) c.addNumber(v);
  const s = c.finish();
  assert.equal(s.kind, 'numeric');
  return s as Numeric;
}

interface Pair {
  readonly label: string;
  readonly reference: readonly number[];
  readonly window: readonly number[];
}

/** Per pair: [exact W as a double (the rational rounded once), scipy's W]. */
function python(pairs: readonly { u: number[]; v: number[]; power: number }[]): [number, number][] {
  const code = [
    'import sys, json, bisect',
    'from fractions import Fraction',
    'from scipy.stats import wasserstein_distance',
    'out = []',
    'for p in json.load(sys.stdin):',
    '    u, v, power = sorted(p["u"]), sorted(p["v"]), p["power"]',
    '    points = sorted(set(u) | set(v))',
    '    total = 0',
    '    for a, b in zip(points, points[1:]):',
    '        total += abs(bisect.bisect_right(u, a) * len(v) - bisect.bisect_right(v, a) * len(u)) * (b - a)',
    '    exact = Fraction(total, len(u) * len(v) * power)',
    '    out.append([float(exact), float(wasserstein_distance([x / power for x in u], [x / power for x in v]))])',
    'print(json.dumps(out))',
  ].join('\n');
  return pythonJsonSync<[number, number][]>({ args: ['-c', code], input: JSON.stringify(pairs) });
}

function realPairs(): Pair[] {
  const out: Pair[] = [];
  const flights = JSON.parse(readFileSync(resolve(DATA, 'flights-20k.json'), 'utf8')) as { date: string; delay: number; distance: number }[];
  for (const column of ['delay', 'distance'] as const) {
    const january = flights.filter((f) => f.date.slice(5, 7) === '01').map((f) => f[column]);
    const march = flights.filter((f) => f.date.slice(5, 7) === '03').map((f) => f[column]);
    out.push({ label: `flights ${column} January/March`, reference: january, window: march });
    out.push({ label: `flights ${column} all/March`, reference: flights.map((f) => f[column]), window: march });
  }
  const penguins = (JSON.parse(readFileSync(resolve(DATA, 'penguins.json'), 'utf8')) as Record<string, number | string | null>[]).filter(
    (p) => typeof p['Beak Length (mm)'] === 'number',
  );
  for (const column of ['Beak Length (mm)', 'Body Mass (g)', 'Flipper Length (mm)']) {
    const of = (island: string): number[] => penguins.filter((p) => p.Island === island).map((p) => p[column] as number);
    out.push({ label: `penguins ${column} Biscoe/Dream`, reference: of('Biscoe'), window: of('Dream') });
    out.push({ label: `penguins ${column} Torgersen/Biscoe`, reference: of('Torgersen'), window: of('Biscoe') });
  }
  const [header, ...lines] = readFileSync(resolve(DATA, 'seattle-weather.csv'), 'utf8').trim().split('\n');
  const names = header!.split(',');
  for (const column of ['precipitation', 'temp_max', 'wind']) {
    const at = names.indexOf(column);
    const year = (y: string): number[] => lines.filter((l) => l.startsWith(y)).map((l) => Number(l.split(',')[at]));
    out.push({ label: `seattle ${column} 2012/2015`, reference: year('2012'), window: year('2015') });
  }
  return out;
}

/** A seeded generator (the test draws the same numbers every run). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function syntheticPairs(): Pair[] {
  const r = uniform(17);
  const spread = (n: number, lo: number, hi: number): number[] => Array.from({ length: n }, () => Math.round(lo + r() * (hi - lo)));
  const same = spread(3000, -100, 100);
  return [
    // integer sums far past 2^53: carried into BigInts on the way
    { label: 'integers up to ±10^9, overlapping', reference: spread(5000, -1e9, 1e9), window: spread(7000, -5e8, 1e9) },
    // one term alone past 2^53 (the gap between the sides times nu·nv)
    { label: 'integers up to ±10^9, disjoint', reference: spread(5000, -1e9, -9e8), window: spread(7000, 9e8, 1e9) },
    // few distinct values: long runs of ties on both sides, −0 beside 0
    {
      label: 'ties and −0',
      reference: Array.from({ length: 4000 }, (_, i) => [-0, 0, 1.5, 1.5, 2.25, -3][i % 6]!),
      window: Array.from({ length: 3000 }, (_, i) => [0, -0, 2.25, 7][i % 4]!),
    },
    { label: 'identical samples', reference: same, window: same },
  ];
}

describe('Wasserstein distance on scaled integers', function () {
  this.timeout(60_000);

  it('is the exact value to 4 ulps, and scipy.stats.wasserstein_distance to 1e-12, on flights, penguins, seattle-weather and sums past 2^53', () => {
    const pairs = [...realPairs(), ...syntheticPairs()];
    const cases = pairs.map((p) => {
      const u = collected(p.reference).scaled;
      const v = collected(p.window).scaled;
      assert.ok(u && v, `${p.label}: held as scaled integers`);
      assert.equal(u.scale, v.scale, `${p.label}: one scale`);
      return { label: p.label, u: u.values, v: v.values, power: 10 ** u.scale };
    });
    const expected = python(cases.map((c) => ({ u: [...c.u], v: [...c.v], power: c.power })));
    cases.forEach((c, i) => {
      const [exact, scipy] = expected[i]!;
      const actual = wasserstein1Scaled(c.u, c.v, c.power);
      assert.ok(actual !== undefined, `${c.label}: merged`);
      assert.ok(Math.abs(actual - exact) <= 4 * Number.EPSILON * exact, `${c.label}: ${actual} vs exact ${exact}`);
      assert.ok(Math.abs(actual - scipy) <= 1e-12 * Math.abs(scipy), `${c.label}: ${actual} vs scipy ${scipy}`);
    });
  });

  it('leaves samples spanning 2^31 or more to the double walk', () => {
    assert.equal(wasserstein1Scaled(Int32Array.of(-2e9, 0), Int32Array.of(5, 2e9), 1), undefined);
    assert.notEqual(wasserstein1Scaled(Int32Array.of(-1e9, 0), Int32Array.of(5, 1e9), 1), undefined);
  });

  it('a drift check of scaled samples reports what it reports for the same numbers as plain doubles (a window of another scale too)', () => {
    const [header, ...lines] = readFileSync(resolve(DATA, 'seattle-weather.csv'), 'utf8').trim().split('\n');
    const at = header!.split(',').indexOf('temp_max');
    const temps = lines.map((l) => Number(l.split(',')[at]));
    const reference = collected(temps.slice(0, 730)); // one decimal
    const windows = [collected(temps.slice(730, 1095)), collected(temps.slice(1095).map(Math.round))]; // one decimal; integers
    assert.deepEqual(
      windows.map((w) => w.scaled?.scale),
      [1, 0],
    );
    const plain = (s: Numeric): ColumnSample => ({ kind: 'numeric', sorted: s.sorted, missing: s.missing, infinite: s.infinite });
    for (const window of windows) {
      const scaled = columnDrift('temp_max', reference, window, 730, { smallReferenceRows: 100 });
      const doubles = columnDrift('temp_max', plain(reference), plain(window), 730, { smallReferenceRows: 100 });
      assert.equal(scaled.method, 'wasserstein');
      assert.ok(Math.abs(scaled.statistic! - doubles.statistic!) <= 1e-12 * doubles.statistic!, `${scaled.statistic} vs ${doubles.statistic}`);
      assert.deepEqual({ ...scaled, statistic: 0, score: 0 }, { ...doubles, statistic: 0, score: 0 });
    }
  });
});
