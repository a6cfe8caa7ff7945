import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { binCounts, binEdges, type Binning } from '../../src/core/drift/binning';
import { ColumnCollector, type ColumnSample } from '../../src/core/drift/columnSample';
import { chiSquareContingency, jensenShannonDistance, populationStabilityIndex, populationStd, wasserstein1 } from '../../src/core/drift/distances';
import { chiSquareSf } from '../../src/core/drift/gamma';
import { kolmogorovSf, smirnovSf } from '../../src/core/drift/kolmogorov';
import { ksTwoSample } from '../../src/core/drift/ks';
import { fullCounts } from '../support/fullCounts';
import { pythonJsonSync } from '../support/python';

// Every statistic and p-value against scipy/numpy in a python child process, on vega-datasets data.
// A missing python3/scipy fails loudly: a comparison that skips proves nothing.

const PEER = resolve(__dirname, '../../../test/drift/scipy_peer.py');
const DATA = resolve(__dirname, '../../../node_modules/vega-datasets/data');

type PeerResult = Record<string, number | string | number[]>;

export function scipyPeer(cases: unknown[]): PeerResult[] {
  return pythonJsonSync<{ results: PeerResult[] }>({ args: [PEER], input: JSON.stringify({ cases }) }).results;
}

/** |a − b| ≤ rel·|b|, or both tiny: the bar for statistics whose definition is exact. */
export function assertClose(actual: number, expected: number | string | number[] | undefined, what: string, rel = 1e-9, abs = 1e-300): void {
  const e = typeof expected === 'string' ? Number(expected.replace('inf', 'Infinity')) : (expected as number);
  assert.ok(typeof e === 'number', `${what}: no expected value`);
  if (actual === e) return;
  assert.ok(Math.abs(actual - e) <= Math.max(rel * Math.abs(e), abs), `${what}: mloop ${actual} vs scipy ${e} (rel ${Math.abs(actual - e) / Math.abs(e)})`);
}

export function sortedSample(values: readonly unknown[]): Float64Array {
  const c = new ColumnCollector();
  for (const v of values) c.add(v);
  const s = c.finish();
  assert.equal(s.kind, 'numeric');
  return (s as Extract<ColumnSample, { kind: 'numeric' }>).sorted;
}

export function seattleByYear(): Map<string, Record<string, string>[]> {
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

const BINNINGS: Record<string, Binning> = {
  quantiles: { kind: 'quantiles', count: 10 },
  sturges: { kind: 'sturges' },
  width: { kind: 'width', count: 30 },
};

interface NumericPair {
  readonly label: string;
  readonly reference: Float64Array;
  readonly current: Float64Array;
  readonly edges?: number[];
}

function compareNumeric(pairs: readonly NumericPair[], options: { ksRel?: number } = {}): void {
  const peer = scipyPeer(
    pairs.map((p) => ({
      kind: 'numeric',
      reference: [...p.reference],
      current: [...p.current],
      binnings: { ...BINNINGS, ...(p.edges ? { fixed: { kind: 'edges', edges: p.edges } } : {}) },
    })),
  );
  pairs.forEach((p, i) => {
    const expected = peer[i]!;
    const ks = ksTwoSample(p.reference, p.current);
    assertClose(ks.statistic, expected.ks_statistic, `${p.label} KS D`, 1e-12);
    assertClose(ks.pValue, expected.ks_p, `${p.label} KS p (${ks.pMethod})`, options.ksRel ?? 1e-9);
    assertClose(wasserstein1(p.reference, p.current), expected.wasserstein, `${p.label} Wasserstein`, 1e-9, 1e-12);
    assertClose(populationStd(p.reference), expected.std, `${p.label} std`, 1e-9, 1e-12);
    const binnings = { ...BINNINGS, ...(p.edges ? { fixed: { kind: 'edges', edges: p.edges } as Binning } : {}) };
    for (const [name, binning] of Object.entries(binnings)) {
      const edges = binEdges(binning, p.reference, p.current);
      assert.deepEqual(edges, expected[`edges_${name}`], `${p.label} ${name} edges`);
      const r = binCounts(p.reference, edges);
      const c = binCounts(p.current, edges);
      assertClose(populationStabilityIndex(r, c), expected[`psi_${name}`], `${p.label} PSI ${name}`, 1e-9, 1e-15);
      assertClose(jensenShannonDistance(r, c), expected[`js_${name}`], `${p.label} JS ${name}`, 1e-9, 1e-12);
    }
  });
}

function countsOf(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function compareCategorical(pairs: readonly { label: string; reference: Record<string, number>; current: Record<string, number> }[]): void {
  const peer = scipyPeer(pairs.map((p) => ({ kind: 'categorical', reference: p.reference, current: p.current })));
  pairs.forEach((p, i) => {
    const keys = [...new Set([...Object.keys(p.reference), ...Object.keys(p.current)])].sort();
    const r = keys.map((k) => p.reference[k] ?? 0);
    const c = keys.map((k) => p.current[k] ?? 0);
    const chi = chiSquareContingency(r, c);
    const expected = peer[i]!;
    assertClose(chi.statistic, expected.chi_statistic, `${p.label} chi-square`, 1e-9, 1e-12);
    assertClose(chi.dof === 0 ? 1 : chiSquareSf(chi.statistic, chi.dof), expected.chi_p, `${p.label} chi-square p`, 1e-9);
    assertClose(jensenShannonDistance(r, c), expected.js, `${p.label} JS`, 1e-9, 1e-12);
    assertClose(populationStabilityIndex(r, c), expected.psi, `${p.label} PSI`, 1e-9, 1e-15);
  });
}

describe('drift statistics match scipy', function () {
  this.timeout(120_000);

  it('seattle-weather, one year against another: KS (exact), Wasserstein, PSI and JS for every binning', () => {
    const years = seattleByYear();
    const pairs: NumericPair[] = [];
    for (const [a, b] of [
      ['2012', '2015'],
      ['2013', '2014'],
      ['2012', '2013'],
    ] as const) {
      for (const column of ['precipitation', 'temp_max', 'temp_min', 'wind']) {
        pairs.push({
          label: `seattle ${column} ${a}/${b}`,
          reference: sortedSample(years.get(a)!.map((r) => Number(r[column]))),
          current: sortedSample(years.get(b)!.map((r) => Number(r[column]))),
          edges: column === 'precipitation' ? [0, 0.5, 2, 5, 10, 20] : [0, 5, 10, 15, 20, 25],
        });
      }
    }
    compareNumeric(pairs);
  });

  it('seattle-weather weather type: chi-square, JS and PSI over categories, year against year', () => {
    const years = seattleByYear();
    compareCategorical(
      [
        ['2012', '2015'],
        ['2013', '2014'],
        ['2014', '2015'],
      ].map(([a, b]) => ({
        label: `seattle weather ${a}/${b}`,
        reference: countsOf(years.get(a!)!.map((r) => r.weather!)),
        current: countsOf(years.get(b!)!.map((r) => r.weather!)),
      })),
    );
  });

  it('penguins by species: unequal sizes, many ties, nulls dropped; islands with unseen categories', () => {
    const penguins = JSON.parse(readFileSync(resolve(DATA, 'penguins.json'), 'utf8')) as Record<string, string | number | null>[];
    const bySpecies = (s: string): Record<string, string | number | null>[] => penguins.filter((p) => p.Species === s);
    const pairs: NumericPair[] = [];
    for (const [a, b] of [
      ['Adelie', 'Chinstrap'],
      ['Adelie', 'Gentoo'],
      ['Chinstrap', 'Gentoo'],
    ] as const) {
      for (const column of ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)']) {
        pairs.push({
          label: `penguins ${column} ${a}/${b}`,
          reference: sortedSample(bySpecies(a).map((p) => p[column])),
          current: sortedSample(bySpecies(b).map((p) => p[column])),
        });
      }
    }
    compareNumeric(pairs);
    compareCategorical([
      {
        label: 'islands Chinstrap→Adelie (unseen Torgersen, Biscoe)',
        reference: countsOf(bySpecies('Chinstrap').map((p) => String(p.Island))),
        current: countsOf(bySpecies('Adelie').map((p) => String(p.Island))),
      },
      {
        label: 'sex Adelie→Gentoo',
        reference: countsOf(bySpecies('Adelie').map((p) => String(p.Sex))),
        current: countsOf(bySpecies('Gentoo').map((p) => String(p.Sex))),
      },
    ]);
  });

  it('flights by month: exact p with n ≈ 7,000, asymptotic p (kstwo) past 10,000 values', () => {
    const flights = JSON.parse(readFileSync(resolve(DATA, 'flights-20k.json'), 'utf8')) as { date: string; delay: number; distance: number; origin: string }[];
    const month = (m: string): typeof flights => flights.filter((f) => f.date.startsWith(`2001/${m}`));
    const [jan, feb, mar] = [month('01'), month('02'), month('03')];
    const pairs: NumericPair[] = [];
    for (const column of ['delay', 'distance'] as const) {
      pairs.push({ label: `flights ${column} jan/feb`, reference: sortedSample(jan.map((f) => f[column])), current: sortedSample(feb.map((f) => f[column])) });
      pairs.push({
        label: `flights ${column} jan+feb/mar`,
        reference: sortedSample([...jan, ...feb].map((f) => f[column])),
        current: sortedSample(mar.map((f) => f[column])),
      });
    }
    const big = JSON.parse(readFileSync(resolve(DATA, 'flights-200k.json'), 'utf8')) as { delay: number; distance: number }[];
    pairs.push({
      label: 'flights-200k delay halves',
      reference: sortedSample(big.slice(0, 100_000).map((f) => f.delay)),
      current: sortedSample(big.slice(100_000).map((f) => f.delay)),
    });
    pairs.push({
      label: 'flights-200k distance 150k/50k',
      reference: sortedSample(big.slice(0, 150_000).map((f) => f.distance)),
      current: sortedSample(big.slice(150_000).map((f) => f.distance)),
    });
    compareNumeric(pairs);
    compareCategorical([{ label: 'flights origin jan/mar', reference: countsOf(jan.map((f) => f.origin)), current: countsOf(mar.map((f) => f.origin)) }]);
  });

  it('edge cases: ties, constant columns, one-value samples, equal sizes, disjoint samples', () => {
    const f = (xs: number[]): Float64Array => Float64Array.from(xs).sort();
    const pairs: NumericPair[] = [
      { label: 'ties', reference: f([1, 1, 1, 2, 2, 3, 3, 3, 3, 4]), current: f([1, 2, 2, 2, 3, 3, 4, 4, 4, 4, 4]) },
      { label: 'constant both', reference: f([5, 5, 5, 5]), current: f([5, 5, 5]) },
      { label: 'constant shifted', reference: f([5, 5, 5, 5]), current: f([6, 6, 6]) },
      { label: 'one value each', reference: f([1]), current: f([2]) },
      { label: 'one against three', reference: f([2]), current: f([1, 2, 3]) },
      { label: 'equal sizes', reference: f([0.1, 0.4, 0.5, 0.9, 1.3, 2.2, 2.5]), current: f([0.2, 0.3, 1.1, 1.4, 1.5, 3.0, 3.3]) },
      { label: 'disjoint 50/50', reference: f(Array.from({ length: 50 }, (_, i) => i)), current: f(Array.from({ length: 50 }, (_, i) => 100 + i)) },
      { label: 'disjoint 60/40', reference: f(Array.from({ length: 60 }, (_, i) => i)), current: f(Array.from({ length: 40 }, (_, i) => 100 + i)) },
      { label: 'negative and zero', reference: f([-3, -1, 0, 0, 0, 2]), current: f([-0, 0, 0, 1, 1, 5, 8]) },
    ];
    compareNumeric(pairs);
    compareCategorical([
      { label: 'one category', reference: { a: 10 }, current: { a: 3 } },
      { label: 'current only new categories', reference: { a: 10, b: 5 }, current: { c: 4, d: 1 } },
      { label: 'identical', reference: { a: 10, b: 5, c: 1 }, current: { a: 20, b: 10, c: 2 } },
    ]);
  });

  it('the Kolmogorov distribution in every algorithm region, the Smirnov tail and chi-square tails', () => {
    // scipy's kstwo takes ~11 s for 12 points at n = 750,000: those two sizes only in the full run (MLOOP_TEST_FULL=1)
    const ns = [1, 2, 3, 10, 50, 140, 141, 500, 5_000, 100_000, 100_001, 1_500_000, ...(fullCounts() ? [50_000, 750_000] : [])];
    const points: [number, number][] = [];
    for (const n of ns) for (const scaled of [0.3, 0.5, 0.7, 0.86, 1.0, 1.2, 1.5, 2.0, 2.5, 4, 8, 15]) points.push([n, Math.min(0.999, scaled / Math.sqrt(n))]);
    for (const n of [5, 20, 100, 1000]) for (const x of [0.51, 0.6, 0.8, 0.95]) points.push([n, x]);
    const smirnovPoints: [number, number][] = points.filter(([, x]) => x > 0).map(([n, x]) => [n, x]);
    const chiPoints: [number, number][] = [];
    for (const k of [1, 2, 3, 5, 10, 50, 300, 2000])
      for (const x of [0.001, 0.5, 1, k * 0.5, k, k + 3 * Math.sqrt(2 * k), 3 * k + 50, 10 * k + 500]) chiPoints.push([k, x]);
    const [kstwo, smirnov, chi2] = scipyPeer([
      { kind: 'kstwo_sf', points },
      { kind: 'smirnov', points: smirnovPoints },
      { kind: 'chi2_sf', points: chiPoints },
    ]);
    points.forEach(([n, x], i) => assertClose(kolmogorovSf(n, x), (kstwo!.sf as number[])[i]!, `kstwo.sf(${x}, ${n})`, 1e-9));
    smirnovPoints.forEach(([n, x], i) => assertClose(smirnovSf(n, x), (smirnov!.sf as number[])[i]!, `smirnov(${n}, ${x})`, 1e-9));
    chiPoints.forEach(([k, x], i) => assertClose(chiSquareSf(x, k), (chi2!.sf as number[])[i]!, `chi2.sf(${x}, ${k})`, 1e-9));
  });
});
