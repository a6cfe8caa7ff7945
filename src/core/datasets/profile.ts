import { listDatasetFiles } from './files';
import {
  forEachBoolean,
  forEachDistinct,
  parquetPieceCells,
  ParquetScanUnsupported,
  scanParquet,
  tallyIndices,
  type ParquetDictionaryCounts,
  type ParquetPiece,
  type ParquetTimeCounts,
} from './parquetScan';
import { ColumnTypeTally, detectFormat, readBatches, readSchema, type CellValue, type ColumnBatch, type ColumnType, type ReadOptions } from './readers';
import { SeededRandom } from '../sampling/seededRandom';
import { floydPositions } from './hybridKernel';

/**
 * A dataset version's profile, computed in one streaming pass and stored as dataset_version.profile_json.
 * The drift engine uses it as the reference distribution, so it carries histogram edges + counts,
 * category counts (capped) and a quantile sketch — drift never re-reads the training data.
 *
 * Conventions (documented in BENCHMARKS.md › Datasets):
 * - std is the SAMPLE standard deviation (ddof = 1), as pandas' Series.std(); null for < 2 values.
 * - quantiles use linear interpolation between order statistics (numpy/pandas default 'linear').
 *   Exact while a column has ≤ EXACT_QUANTILE_LIMIT values; above that they come from a uniform sample of
 *   RESERVOIR_SIZE values without replacement (deterministic seed), whose rank error is, by the
 *   Dvoretzky–Kiefer–Wolfowitz inequality, ≤ sqrt(ln(2/0.01) / (2·16384)) ≈ 1.27 % with 99 % probability. When the
 *   count is known before the values (a Parquet integer column's footer statistics: expectValues), the sample's
 *   positions are drawn up front (Floyd's algorithm); otherwise it is a reservoir (Li's Algorithm L, which draws skip
 *   lengths instead of one number per value). Both are the same law; the values differ from one way to the other.
 * - histograms: exact counts over equal-width bins aligned to multiples of a power-of-two width that
 *   cover [min, max] in at most HISTOGRAM_MAX_BINS bins (at least half of that once the range is wide).
 *   Aligned bins can be built in one pass without knowing min/max up front; bins[i] = [edges[i], edges[i+1]).
 * - categories: exact counts for up to CATEGORY_CAP distinct values; later new values go to otherCount.
 */
export const PROFILE_FORMAT = 1;
export const EXACT_QUANTILE_LIMIT = 100_000;
export const RESERVOIR_SIZE = 16_384;
export const HISTOGRAM_MAX_BINS = 32;
export const CATEGORY_CAP = 10_000;
export const TOP_K = 10;
/** Quantile probabilities stored: every percentile, so the sketch doubles as an approximate CDF. */
export const QUANTILE_PROBS: readonly number[] = Array.from({ length: 101 }, (_, i) => i / 100);

export interface NumericProfile {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Sample standard deviation (ddof = 1); null with fewer than 2 values. */
  readonly std: number | null;
  readonly zeros: number;
  /** Values at QUANTILE_PROBS (p = 0, 0.01, …, 1). */
  readonly quantiles: { readonly probs: number[]; readonly values: number[]; readonly method: 'exact' | 'reservoir'; readonly sampleSize: number };
  readonly histogram: { readonly edges: number[]; readonly counts: number[] };
}

export interface CategoricalProfile {
  readonly distinct: number;
  /** True when more than CATEGORY_CAP distinct values were seen: distinct is then a lower bound. */
  readonly capped: boolean;
  readonly top: { readonly value: string; readonly count: number }[];
  /** Counts of every tracked value (all of them unless capped). */
  readonly counts: Record<string, number>;
  /** Non-null values not in counts (only when capped). */
  readonly otherCount: number;
}

export interface ColumnProfile {
  readonly name: string;
  readonly type: ColumnType;
  /** Non-null values. */
  readonly count: number;
  readonly nulls: number;
  /** Non-null values whose kind differs from the column type (e.g. text in a number column). */
  readonly mismatched: number;
  readonly numeric?: NumericProfile;
  readonly categorical?: CategoricalProfile;
  /** ISO strings; for datetime columns. */
  readonly datetime?: { readonly min: string; readonly max: string };
}

export interface DatasetProfile {
  readonly format: typeof PROFILE_FORMAT;
  readonly rows: number;
  readonly columns: ColumnProfile[];
}

/** Values an AlignedHistogram takes before their range sets its starting width. */
const HISTOGRAM_START_VALUES = 1024;

/** Equal-width bins aligned to k·width; doubles the width (merging pairs) whenever the span would exceed maxBins. */
export class AlignedHistogram {
  private width = 0;
  private lowIndex = 0;
  private counts: number[] = [];
  private pending: number[] = []; // the first values, until their range fixes a starting width
  constructor(private readonly maxBins = HISTOGRAM_MAX_BINS) {}

  /** The starting width is set (after the first 1,024 values): from then on the order of values does not matter. */
  get started(): boolean {
    return this.width > 0;
  }

  /** How many more values it takes one by one (add) before its width is set. */
  get needs(): number {
    return this.width > 0 ? 0 : HISTOGRAM_START_VALUES - this.pending.length;
  }

  /** `n` copies of v, once started (as n calls of add). */
  addCount(v: number, n: number): void {
    if (this.width === 0) throw new Error('AlignedHistogram.addCount before its width is set');
    const index = this.place(v); // before reading this.counts: it may replace it
    this.counts[index]! += n;
  }

  /**
   * Once started: dictionary[order[d]] counts[order[d]] times for d < distinct (as addCount of each), where min and max
   * are the least and greatest of those values. The bins for [min, max] are made first, so the loop only counts: the
   * bins and their width end the same whatever order values come in (the least width at which all of them span at most
   * maxBins bins), and a loop of addCount calls was one V8 optimised with the bins' growth inlined (issue 16).
   */
  addCounts(dictionary: Float64Array, counts: Int32Array, order: Int32Array, distinct: number, min: number, max: number): void {
    if (this.width === 0) throw new Error('AlignedHistogram.addCounts before its width is set');
    if (distinct === 0) return;
    this.place(min);
    this.place(max);
    const width = this.width;
    const low = this.lowIndex;
    const bins = this.counts;
    for (let d = 0; d < distinct; d++) {
      const k = order[d]!;
      const c = counts[k]!;
      if (c > 0) bins[Math.floor(dictionary[k]! / width) - low]! += c;
    }
  }

  /** add() of dictionary[picked[j]] for j < n, where n ≤ needs (one call, not n: they ran in the interpreter in a cold profile). */
  addPicked(dictionary: Float64Array, picked: Int32Array, n: number): void {
    if (n > this.needs) throw new Error(`AlignedHistogram.addPicked: ${n} values where it takes ${this.needs}`);
    if (n === 0) return;
    const pending = this.pending;
    for (let j = 0; j < n; j++) pending.push(dictionary[picked[j]!]!);
    if (pending.length >= HISTOGRAM_START_VALUES) this.start();
  }

  add(v: number): void {
    if (this.width === 0) {
      this.pending.push(v);
      if (this.pending.length >= HISTOGRAM_START_VALUES) this.start();
      return;
    }
    const index = this.place(v); // before reading this.counts: it may replace it
    this.counts[index]!++;
  }

  /** Makes room for v's bin (doubling the width while the bins would exceed maxBins); returns its index in counts. */
  private place(v: number): number {
    let index = Math.floor(v / this.width);
    if (this.counts.length === 0) {
      this.lowIndex = index;
      this.counts = [0];
      return 0;
    }
    let low = Math.min(index, this.lowIndex);
    let high = Math.max(index, this.lowIndex + this.counts.length - 1);
    while (high - low + 1 > this.maxBins) {
      this.double();
      index = Math.floor(v / this.width);
      low = Math.min(index, this.lowIndex);
      high = Math.max(index, this.lowIndex + this.counts.length - 1);
    }
    this.extendTo(low, high);
    return index - this.lowIndex;
  }

  result(): { edges: number[]; counts: number[] } {
    if (this.width === 0) this.start();
    if (this.width === 0) return { edges: [], counts: [] };
    const edges = this.counts.map((_, i) => (this.lowIndex + i) * this.width);
    edges.push((this.lowIndex + this.counts.length) * this.width);
    return { edges, counts: [...this.counts] };
  }

  private start(): void {
    const values = this.pending;
    this.pending = [];
    if (values.length === 0) return;
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const span = max - min;
    // The smallest power of two such that maxBins bins cover the span (a lone value gets width 2^floor(log2|v|) or 1).
    const raw = span > 0 ? span / (this.maxBins - 1) : Math.abs(min) > 0 ? Math.abs(min) : 1;
    const width = 2 ** Math.ceil(Math.log2(raw));
    this.width = width;
    const low = Math.floor(min / width);
    const bins = Math.floor(max / width) - low + 1;
    // span ≤ (maxBins − 1)·width gives at most maxBins bins; a width rounded below raw (log2 of a value just past a
    // power of two) or a non-finite value may not: add() them as before
    if (!(bins <= this.maxBins)) {
      for (const v of values) this.add(v);
      return;
    }
    // the bins add() would end with (no doubling: the values' bins span at most maxBins), counted in one loop: 2 × 1,024
    // add() calls ran in the interpreter in a cold profile
    const counts = new Array<number>(bins).fill(0);
    for (const v of values) counts[Math.floor(v / width) - low]!++;
    this.lowIndex = low;
    this.counts = counts;
  }

  private extendTo(low: number, high: number): void {
    if (low < this.lowIndex) {
      this.counts.unshift(...new Array<number>(this.lowIndex - low).fill(0));
      this.lowIndex = low;
    }
    const top = this.lowIndex + this.counts.length - 1;
    if (high > top) this.counts.push(...new Array<number>(high - top).fill(0));
  }

  private double(): void {
    const merged = new Map<number, number>();
    this.counts.forEach((c, i) => {
      const k = Math.floor((this.lowIndex + i) / 2);
      merged.set(k, (merged.get(k) ?? 0) + c);
    });
    this.width *= 2;
    const keys = [...merged.keys()];
    this.lowIndex = Math.min(...keys);
    this.counts = new Array<number>(Math.max(...keys) - this.lowIndex + 1).fill(0);
    for (const [k, c] of merged) this.counts[k - this.lowIndex] = c;
  }
}

/** Linear-interpolation quantile of sorted values (numpy 'linear', pandas default). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Values a tallyMoments call takes (a page holds up to hundreds of thousands). In a cold process V8 first compiles a
 * long-running loop with Maglev on the stack and keeps the rest of that call in that code, which boxes the loop's
 * doubles (`--no-osr-from-maglev`, V8's default): ~180 MB of garbage on flights-3m. Short calls leave it after a few
 * thousand values, then run the function's own optimised code.
 */
const TALLY_CHUNK = 4096;

/**
 * Integers of at most this magnitude are summed exactly (their squares are exact doubles of at most 2^52), so a column
 * of them gets its mean and variance from exact sums: the same bits whatever order or grouping the values come in.
 */
const EXACT_INT = 2 ** 26;
/** A partial sum of squares moves into the BigInt totals past this, so each addition to it stays exact (≤ 2^53). */
const FLUSH_SUMS_AT = 2 ** 52;

/**
 * What a dictionary holds: only integers summed exactly (see EXACT_INT), those and non-finite values (nulls), or other
 * numbers too; kept per dictionary.
 */
type DictionaryValues = 'ints' | 'ints-and-nulls' | 'other';
const dictionaryValues = new WeakMap<Float64Array, DictionaryValues>();
function valuesOf(dictionary: Float64Array): DictionaryValues {
  let known = dictionaryValues.get(dictionary);
  if (known === undefined) {
    known = 'ints';
    for (let i = 0; i < dictionary.length; i++) {
      const v = dictionary[i]!;
      if (v - v !== 0) known = 'ints-and-nulls';
      else if (!(v >= -EXACT_INT && v <= EXACT_INT && (v | 0) === v)) {
        known = 'other';
        break;
      }
    }
    dictionaryValues.set(dictionary, known);
  }
  return known;
}

/**
 * k distinct positions drawn uniformly from [0, n) (every k-subset equally likely: Floyd's algorithm, k draws), ascending.
 * Each draw takes 53 bits from two of the generator's 32-bit numbers, so positions stay uniform far past 2^32.
 */
export function samplePositions(random: SeededRandom, n: number, k: number): Float64Array {
  if (!(k >= 0 && k <= n)) throw new Error(`samplePositions: ${k} positions from ${n}`);
  // below 2^31 in the WebAssembly kernel (this loop ran in the interpreter in a cold process: ~9 ms a column), seeded from this generator
  if (n < 2 ** 31) return Float64Array.from(floydPositions(n, k, Math.floor(random.next() * 4294967296)));
  // the chosen positions in an open-addressed table at most half full (a Set's calls ran in the interpreter in a cold
  // process: ~4 ms a column)
  let bits = 1;
  while (2 ** bits < 2 * k) bits++;
  const table = new Float64Array(2 ** bits).fill(-1);
  const mask = 2 ** bits - 1;
  const shift = 32 - bits;
  const out = new Float64Array(k);
  let chosen = 0;
  for (let j = n - k; j < n; j++) {
    const u = (Math.floor(random.next() * 2097152) + random.next()) / 2097152; // 21 + 32 bits, exact
    let t = Math.min(j, Math.floor(u * (j + 1)));
    // t taken already: j instead (never taken: every earlier draw was below j)
    let slot = Math.imul((t % 4294967296) | 0, -1640531535) >>> shift; // Fibonacci hashing: the product's top bits
    while (table[slot] !== -1 && table[slot] !== t) slot = (slot + 1) & mask;
    if (table[slot] === t) {
      t = j;
      slot = Math.imul((t % 4294967296) | 0, -1640531535) >>> shift;
      while (table[slot] !== -1) slot = (slot + 1) & mask;
    }
    table[slot] = t;
    out[chosen++] = t;
  }
  return out.sort();
}

/** Counts per dictionary index (all 0 between calls) and the indices in order of first appearance. */
let tally = new Int32Array(0);
let tallyOrder = new Int32Array(0);

class NumericAccumulator {
  count = 0;
  zeros = 0;
  min = Infinity;
  max = -Infinity;
  /** Welford's running mean and sum of squared deviations, once a value was not an exactly summed integer. */
  private mean = 0;
  private m2 = 0;
  /**
   * Until then (issue 16): exact sums of the values and their squares, as doubles while they stay exact plus BigInt
   * totals. A division a value (Welford) is the slowest step of a profile, and exact sums give the same moments on every
   * path (value by value, or a dictionary's values by their counts). Integer columns never leave this.
   */
  private exactSums = true;
  private s1 = 0;
  private s2 = 0;
  private big1 = 0n;
  private big2 = 0n;
  private exact: number[] | undefined = [];
  private readonly reservoir: number[] = [];
  private readonly random: SeededRandom;
  /** Algorithm L's state: the running weight and the count at which the next value replaces a reservoir slot. */
  private w = 1;
  /** The count (1-based) at which the next value enters the sample: Algorithm L's next replacement, or the next drawn position + 1. */
  private nextReplaced = RESERVOIR_SIZE;
  /**
   * When the column's count was announced (expectValues): the sample's positions among its values, drawn up front,
   * ascending, and how many were taken. No Algorithm L then: its ~85,000 draws a column on 3M values (each two logs, an
   * exp and a log1p) were a quarter of a cold Parquet profile's CPU (issue 16).
   */
  private samplePositions: Float64Array | undefined;
  private sampled = 0;
  /** The announced count, checked in result(). */
  private expected: number | undefined;
  /** The sample's picks drawn ahead for one page of counts (drawPicks): positions in the page, slots (−1: appended; −2: only the histogram's). */
  private positions = new Int32Array(0);
  private slots = new Int32Array(0);
  readonly histogram = new AlignedHistogram();

  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }

  add(v: number): void {
    this.addMoments(v);
    this.histogram.add(v);
  }

  /**
   * The column will hold exactly `n` values (a Parquet footer's statistics say so; before any value). Above
   * EXACT_QUANTILE_LIMIT its sample is then RESERVOIR_SIZE positions drawn uniformly without replacement up front
   * (the same law as Algorithm L's sample), and the values at them are taken as they pass.
   */
  expectValues(n: number): void {
    if (this.count > 0) throw new Error('NumericAccumulator.expectValues after the first value');
    this.expected = n;
    if (n <= EXACT_QUANTILE_LIMIT) return;
    this.exact = undefined;
    this.samplePositions = samplePositions(this.random, n, RESERVOIR_SIZE);
    this.sampled = 0;
    this.nextReplaced = this.samplePositions[0]! + 1;
  }

  /**
   * Dictionary-encoded numbers (Parquet): the same as add() on dictionary[indices[i]] in order, but once the
   * histogram has its starting width, each distinct value goes to it once with its count (the aligned bins do
   * not depend on the order values arrive in once the width is set). Returns how many were not finite (nulls).
   */
  addDictionary(dictionary: Float64Array, indices: Int32Array, count: number): number {
    if (tally.length < dictionary.length) {
      tally = new Int32Array(Math.max(dictionary.length, tally.length * 2));
      tallyOrder = new Int32Array(tally.length);
    }
    const wanted = this.reservoirPositions(dictionary, count);
    if (wanted) {
      // as the scanner's counted pages: counts, and the values at the positions the reservoir takes
      const distinct = tallyIndices(indices, count, tally, tallyOrder);
      const picked = new Int32Array(wanted.count);
      for (let j = 0; j < wanted.count; j++) picked[j] = indices[wanted.positions[j]!]!;
      this.addCounted(dictionary, tally, tallyOrder, distinct, picked, wanted.count);
      for (let d = 0; d < distinct; d++) tally[tallyOrder[d]!] = 0;
      return 0; // an 'ints' dictionary holds no nulls
    }
    let nulls = 0;
    let i = 0;
    for (; i < count && !this.histogram.started; i++) {
      const v = dictionary[indices[i]!]!;
      if (v - v === 0) this.add(v);
      else nulls++;
    }
    if (i === count) return nulls;
    // from here each index is tallied (histogram counts per distinct value, in order of first appearance)
    this.distinct = 0;
    this.tallyNulls = nulls;
    // while the exact values are kept (the first EXACT_QUANTILE_LIMIT), value by value
    while (this.exact && i < count) i = this.tallyExact(dictionary, indices, i, Math.min(count, i + TALLY_CHUNK));
    for (let from = i; from < count; from += TALLY_CHUNK) {
      const end = Math.min(count, from + TALLY_CHUNK);
      if (!this.exactSums) this.tallyMoments(dictionary, indices, from, end);
      else if (valuesOf(dictionary) !== 'other') this.tallySums(dictionary, indices, from, end);
      else this.tallyEach(dictionary, indices, from, end);
    }
    this.flushTally(dictionary);
    return this.tallyNulls;
  }

  /**
   * Whether a page of `count` values from `dictionary` may come as counts (ParquetScanSink.numberPositions), and then
   * the positions of the values it needs one by one. While the sums are exact and the dictionary holds only such
   * integers, moments and (once it has its starting width) the histogram do not depend on the order of values; the
   * exact values are not needed once the column passes EXACT_QUANTILE_LIMIT values, which this page makes it do. What
   * does depend on the order: the reservoir, which takes the first RESERVOIR_SIZE values in order and then the values
   * at the positions Algorithm L draws (independent of the values: drawn now, in the order addMoments would draw them),
   * and the histogram's first values, which are among those first ones. The page's counts must come next, to
   * addCounted, with the indices at these positions.
   */
  reservoirPositions(dictionary: Float64Array, count: number): { positions: Int32Array; count: number } | undefined {
    if (!this.exactSums || (this.exact && this.count + count <= EXACT_QUANTILE_LIMIT) || valuesOf(dictionary) !== 'ints') return undefined;
    if (this.samplePositions && this.histogram.needs > count) return undefined; // its first values must be in this page
    this.exact = undefined;
    const picks = this.drawPicks(count); // before reading this.positions: it may grow
    return { positions: this.positions, count: picks };
  }

  /**
   * The next values as counts: dictionary[order[d]] occurs counts[order[d]] times (d < distinct), and the value at
   * the j-th position reservoirPositions gave is dictionary[picked[j]]. The same state as add() value by value would
   * leave. Changes counts[] (the histogram's first values are taken out of them).
   */
  addCounted(dictionary: Float64Array, counts: Int32Array, order: Int32Array, distinct: number, picked: Int32Array, picks: number): void {
    const slots = this.slots;
    const reservoir = this.reservoir;
    for (let j = 0; j < picks; j++) {
      const v = dictionary[picked[j]!]!;
      const slot = slots[j]!;
      if (slot === -1) reservoir.push(v);
      else if (slot >= 0) reservoir[slot] = v; // −2: a histogram's first value, not sampled
    }
    // the page's extremes, for the histogram's bins
    let low = Infinity;
    let high = -Infinity;
    for (let d = 0; d < distinct; d++) {
      const k = order[d]!;
      const c = counts[k]!;
      const v = dictionary[k]!;
      this.count += c;
      if (v === 0) this.zeros += c;
      if (v < low) low = v;
      if (v > high) high = v;
      const square = v * v; // exact: |v| ≤ 2^26
      if (square * c > FLUSH_SUMS_AT) this.addBigTerm(v, c);
      else {
        // |v·c| ≤ v²·c ≤ 2^52: exact, and so are the partial sums (see addMoments)
        this.s1 += v * c;
        this.s2 += square * c;
        if (this.s2 > FLUSH_SUMS_AT) this.flushSums();
      }
    }
    if (low < this.min) this.min = low;
    if (high > this.max) this.max = high;
    // until the histogram has its starting width, the first values one by one (the first picks), then counts
    const histogram = this.histogram;
    const first = Math.min(picks, histogram.needs);
    for (let j = 0; j < first; j++) counts[picked[j]!]!--;
    histogram.addPicked(dictionary, picked, first);
    // every value of the page went to add() above or is counted here: low and high are the extremes of both
    histogram.addCounts(dictionary, counts, order, distinct, low, high);
  }

  /** v·c into the BigInt sums: a term past the doubles' exact range. */
  private addBigTerm(v: number, c: number): void {
    this.big1 += BigInt(v) * BigInt(c);
    this.big2 += BigInt(v * v) * BigInt(c);
  }

  /**
   * The positions among the next `count` values the reservoir takes, as addMoments would take them: the first values
   * until it holds RESERVOIR_SIZE (slot −1: appended), then Algorithm L's replacements (their slots drawn now, with the
   * same draws in the same order). Returns how many.
   */
  private drawPicks(count: number): number {
    const start = this.count;
    const sample = this.samplePositions;
    if (sample) {
      // the values the histogram still takes one by one (slot −2, unless the sample takes them too), then the sample's
      // positions below start + count (nextReplaced is sample[sampled] + 1), found by a binary search and copied in
      // one loop: a loop of nextSample() calls a position ran in the interpreter in a cold profile (49k a profile)
      const needs = this.histogram.needs;
      const end = start + count;
      let s = this.sampled;
      let last = sample.length;
      for (let lo = s; lo < last; ) {
        const mid = (lo + last) >>> 1;
        if (sample[mid]! < end) lo = mid + 1;
        else last = mid;
      }
      this.roomForPicks(needs + last - s);
      const positions = this.positions;
      const slots = this.slots;
      for (let p = 0; p < needs; p++) {
        positions[p] = p;
        slots[p] = -2;
        if (s < last && sample[s] === start + p) {
          slots[p] = -1;
          s++;
        }
      }
      let picks = needs;
      for (; s < last; s++) positions[picks++] = sample[s]! - start;
      slots.fill(-1, needs, picks);
      this.sampled = last;
      this.nextReplaced = last < sample.length ? sample[last]! + 1 : Infinity;
      return picks;
    }
    const fills = Math.max(0, Math.min(count, RESERVOIR_SIZE - start));
    this.roomForPicks(fills);
    for (let j = 0; j < fills; j++) {
      this.positions[j] = j;
      this.slots[j] = -1;
    }
    if (fills > 0 && start + fills === RESERVOIR_SIZE) this.skipAhead();
    let picks = fills;
    while (this.nextReplaced <= start + count) {
      this.roomForPicks(picks + 1);
      this.positions[picks] = this.nextReplaced - start - 1;
      this.slots[picks] = Math.floor(this.random.next() * RESERVOIR_SIZE); // the draw addMoments makes at that value
      picks++;
      this.skipAhead();
    }
    return picks;
  }

  private roomForPicks(n: number): void {
    if (n <= this.positions.length) return;
    const grown = Math.max(n, 1024, this.positions.length * 2);
    const positions = new Int32Array(grown);
    positions.set(this.positions);
    const slots = new Int32Array(grown);
    slots.set(this.slots);
    this.positions = positions;
    this.slots = slots;
  }

  // addDictionary's loops are methods of their own: V8 compiles a long loop of a function while it runs (on-stack
  // replacement) for the loop it is in, and a function of four such loops was compiled four times over in a cold
  // process (`--trace-opt`, ~50 ms of compiler time on flights-3m); small ones compile fast and once or twice.

  /** Distinct indices tallied in this page and nulls met (state of the tally* methods, between them). */
  private distinct = 0;
  private tallyNulls = 0;

  /** Values i…end while the exact values are kept: tally each index and addMoments each value; returns where it stopped. */
  private tallyExact(dictionary: Float64Array, indices: Int32Array, i: number, end: number): number {
    const counts = tally;
    const order = tallyOrder;
    let distinct = this.distinct;
    let nulls = this.tallyNulls;
    for (; i < end && this.exact; i++) {
      const k = indices[i]!;
      if (counts[k]!++ === 0) order[distinct++] = k;
      const v = dictionary[k]!;
      if (v - v === 0) this.addMoments(v);
      else nulls++;
    }
    this.distinct = distinct;
    this.tallyNulls = nulls;
    return i;
  }

  /** Values i…end once the exact values are dropped: the same updates, in the same order, on locals (addMoments without the exact values). */
  private tallyMoments(dictionary: Float64Array, indices: Int32Array, i: number, end: number): void {
    const counts = tally;
    const order = tallyOrder;
    let distinct = this.distinct;
    let nulls = this.tallyNulls;
    let n = this.count;
    let zeros = this.zeros;
    let min = this.min;
    let max = this.max;
    let mean = this.mean;
    let m2 = this.m2;
    let next = this.nextReplaced;
    for (; i < end; i++) {
      const k = indices[i]!;
      if (counts[k]!++ === 0) order[distinct++] = k;
      const v = dictionary[k]!;
      if (v - v !== 0) {
        nulls++;
        continue;
      }
      n++;
      if (v === 0) zeros++;
      if (v < min) min = v;
      if (v > max) max = v;
      const delta = v - mean;
      mean += delta / n;
      m2 += delta * (v - mean);
      if (n === next) next = this.take(v);
    }
    this.count = n;
    this.zeros = zeros;
    this.min = min;
    this.max = max;
    this.mean = mean;
    this.m2 = m2;
    this.nextReplaced = next;
    this.distinct = distinct;
    this.tallyNulls = nulls;
  }

  /**
   * tallyMoments while the sums are exact and every finite value of the dictionary is an exactly summed integer: the same
   * updates as addMoments value by value (sums instead of Welford), on locals.
   */
  private tallySums(dictionary: Float64Array, indices: Int32Array, i: number, end: number): void {
    const counts = tally;
    const order = tallyOrder;
    let distinct = this.distinct;
    let nulls = this.tallyNulls;
    let n = this.count;
    let zeros = this.zeros;
    let min = this.min;
    let max = this.max;
    let s1 = this.s1;
    let s2 = this.s2;
    let next = this.nextReplaced;
    for (; i < end; i++) {
      const k = indices[i]!;
      if (counts[k]!++ === 0) order[distinct++] = k;
      const v = dictionary[k]!;
      if (v - v !== 0) {
        nulls++;
        continue;
      }
      n++;
      if (v === 0) zeros++;
      if (v < min) min = v;
      if (v > max) max = v;
      s1 += v;
      s2 += v * v;
      if (s2 > FLUSH_SUMS_AT) {
        this.s1 = s1;
        this.s2 = s2;
        this.flushSums();
        s1 = 0;
        s2 = 0;
      }
      if (n === next) next = this.take(v);
    }
    this.count = n;
    this.zeros = zeros;
    this.min = min;
    this.max = max;
    this.s1 = s1;
    this.s2 = s2;
    this.nextReplaced = next;
    this.distinct = distinct;
    this.tallyNulls = nulls;
  }

  /** Values i…end one by one through addMoments (a dictionary with values that leave the exact sums). */
  private tallyEach(dictionary: Float64Array, indices: Int32Array, i: number, end: number): void {
    const counts = tally;
    const order = tallyOrder;
    let distinct = this.distinct;
    let nulls = this.tallyNulls;
    for (; i < end; i++) {
      const k = indices[i]!;
      if (counts[k]!++ === 0) order[distinct++] = k;
      const v = dictionary[k]!;
      if (v - v === 0) this.addMoments(v);
      else nulls++;
    }
    this.distinct = distinct;
    this.tallyNulls = nulls;
  }

  /** The partial sums into the BigInt totals. */
  private flushSums(): void {
    this.big1 += BigInt(this.s1);
    this.big2 += BigInt(this.s2);
    this.s1 = 0;
    this.s2 = 0;
  }

  /** Mean and sum of squared deviations of the first n values, from the exact sums. */
  private sumMoments(n: number): { mean: number; m2: number } {
    if (n === 0) return { mean: 0, m2: 0 };
    const s1 = this.big1 + BigInt(this.s1);
    const s2 = this.big2 + BigInt(this.s2);
    // n·Σv² − (Σv)² = n·Σ(v − mean)², exact in BigInt: one rounding, then the division
    return { mean: Number(s1) / n, m2: Number(BigInt(n) * s2 - s1 * s1) / n };
  }

  /** From exact sums to Welford's running moments (a value that is not an exactly summed integer came). */
  private leaveExactSums(n: number): void {
    const { mean, m2 } = this.sumMoments(n);
    this.mean = mean;
    this.m2 = m2;
    this.exactSums = false;
  }

  /** Each distinct value tallied in this page to the histogram once, with its count; the tally back to zeros. */
  private flushTally(dictionary: Float64Array): void {
    const counts = tally;
    const order = tallyOrder;
    const distinct = this.distinct;
    for (let d = 0; d < distinct; d++) {
      const k = order[d]!;
      const v = dictionary[k]!;
      if (v - v === 0) this.histogram.addCount(v, counts[k]!);
      counts[k] = 0;
    }
  }

  /** Everything but the histogram: counts, extremes, Welford's moments, the exact values or the reservoir. */
  private addMoments(v: number): void {
    const count = ++this.count;
    if (v === 0) this.zeros++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.exactSums && v >= -EXACT_INT && v <= EXACT_INT && (v | 0) === v) {
      this.s1 += v;
      this.s2 += v * v;
      if (this.s2 > FLUSH_SUMS_AT) this.flushSums();
    } else {
      if (this.exactSums) this.leaveExactSums(count - 1);
      const delta = v - this.mean; // Welford: stable single-pass variance
      this.mean += delta / count;
      this.m2 += delta * (v - this.mean);
    }
    if (this.exact) {
      this.exact.push(v);
      if (this.exact.length > EXACT_QUANTILE_LIMIT) this.exact = undefined;
    }
    if (this.samplePositions) {
      if (count === this.nextReplaced) this.take(v);
    } else if (count <= RESERVOIR_SIZE) {
      this.reservoir.push(v);
      if (count === RESERVOIR_SIZE) this.skipAhead();
    } else if (count === this.nextReplaced) this.take(v);
  }

  /**
   * The value at count nextReplaced enters the sample: appended at its drawn position, or (Algorithm L, past the first
   * RESERVOIR_SIZE values: the exact values were dropped first) in a slot drawn now. Returns the new nextReplaced.
   */
  private take(v: number): number {
    if (this.samplePositions) {
      this.reservoir.push(v);
      this.nextSample();
    } else {
      this.reservoir[Math.floor(this.random.next() * RESERVOIR_SIZE)] = v;
      this.skipAhead();
    }
    return this.nextReplaced;
  }

  private nextSample(): void {
    const positions = this.samplePositions!;
    this.sampled++;
    this.nextReplaced = this.sampled < positions.length ? positions[this.sampled]! + 1 : Infinity;
  }

  /**
   * Li's Algorithm L: instead of a random draw per value (Algorithm R), draw how many values to skip before
   * the next one that enters the reservoir — the same uniform sample law, O(k log(n/k)) draws instead of n.
   */
  private skipAhead(): void {
    this.w *= Math.exp(Math.log(this.uniform()) / RESERVOIR_SIZE);
    this.nextReplaced += Math.floor(Math.log(this.uniform()) / Math.log1p(-this.w)) + 1;
  }

  /** A uniform draw in (0, 1): log of it is finite. */
  private uniform(): number {
    let u = this.random.next();
    while (u === 0) u = this.random.next();
    return u;
  }

  result(): NumericProfile {
    if (this.expected !== undefined && this.count !== this.expected)
      throw new Error(`${this.count} numbers where ${this.expected} were announced (expectValues): the sample's positions do not fit`);
    const moments = (m: { mean: number; m2: number }, n: number): { mean: number; std: number | null } => ({
      mean: m.mean,
      std: n > 1 ? Math.sqrt(m.m2 / (n - 1)) : null,
    });
    const method = this.exact ? 'exact' : 'reservoir';
    const sample = Float64Array.from(this.exact ?? this.reservoir).sort();
    const values = QUANTILE_PROBS.map((p) => quantileSorted(sample, p));
    if (method === 'reservoir') {
      values[0] = this.min; // the extremes are known exactly
      values[values.length - 1] = this.max;
    }
    return {
      min: this.min,
      max: this.max,
      ...(this.exactSums ? moments(this.sumMoments(this.count), this.count) : moments({ mean: this.mean, m2: this.m2 }, this.count)),
      zeros: this.zeros,
      quantiles: { probs: [...QUANTILE_PROBS], values, method, sampleSize: sample.length },
      histogram: this.histogram.result(),
    };
  }
}

/**
 * The entries by count (most first), then value (UTF-16 order, as `<`). Sorted natively: the values by Array#sort's
 * default order, then one number a value, (most − count)·n + its rank, by a typed array's sort. A comparator call a
 * comparison ran in the interpreter in a cold profile (~2,000 a column of 223 airports).
 */
export function byCountThenValue(counts: ReadonlyMap<string, number>): [string, number][] {
  const values = [...counts.keys()].sort();
  const n = values.length;
  let most = 0;
  for (const c of counts.values()) if (c > most) most = c;
  // the keys must be exact doubles
  if ((most + 1) * n > 2 ** 53) return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const keys = new Float64Array(n);
  for (let r = 0; r < n; r++) keys[r] = (most - counts.get(values[r]!)!) * n + r;
  keys.sort();
  const out = new Array<[string, number]>(n);
  for (let i = 0; i < n; i++) {
    const value = values[keys[i]! % n]!;
    out[i] = [value, counts.get(value)!];
  }
  return out;
}

class CategoryCounter {
  private readonly counts = new Map<string, number>();
  otherCount = 0;
  capped = false;
  add(key: string, n = 1): void {
    const c = this.counts.get(key);
    if (c !== undefined) this.counts.set(key, c + n);
    else if (this.counts.size < CATEGORY_CAP) this.counts.set(key, n);
    else {
      this.capped = true;
      this.otherCount += n;
    }
  }
  result(): CategoricalProfile {
    const sorted = byCountThenValue(this.counts);
    return {
      distinct: this.counts.size,
      capped: this.capped,
      top: sorted.slice(0, TOP_K).map(([value, count]) => ({ value, count })),
      counts: Object.fromEntries(sorted),
      otherCount: this.otherCount,
    };
  }
}

class ColumnAccumulator {
  nulls = 0;
  private readonly tally = new ColumnTypeTally();
  private numbers: NumericAccumulator;
  private readonly categories = new CategoryCounter();
  private dtMin: string | undefined;
  private dtMax: string | undefined;
  /** Time stamps from typed Parquet pieces, as epoch ms. */
  private msMin = Infinity;
  private msMax = -Infinity;

  constructor(
    readonly name: string,
    seed: number,
    private readonly knownType?: ColumnType,
  ) {
    this.numbers = new NumericAccumulator(seed);
  }

  add(values: CellValue[], missingBefore = 0): void {
    this.nulls += missingBefore;
    const known = this.knownType;
    for (const v of values) {
      if (v === null) {
        this.nulls++;
        continue;
      }
      if (typeof v === 'number') {
        this.numbers.add(v);
        if (!known) {
          this.tally.add(v);
          // A text column may turn out to be mixed ("12", "n/a-ish"): its top-k must count the numerals too.
          this.categories.add(String(v));
        }
        continue;
      }
      if (known === 'datetime' || (known === undefined && typeof v === 'string' && this.maybeDate(v))) {
        const s = v as string;
        if (this.dtMin === undefined || s < this.dtMin) this.dtMin = s;
        if (this.dtMax === undefined || s > this.dtMax) this.dtMax = s;
        if (known) continue;
      }
      if (!known) this.tally.add(v);
      this.categories.add(typeof v === 'string' ? v : String(v));
    }
  }

  /**
   * A typed piece from the Parquet scanner: the same statistics as add() on the cells the generic reader
   * makes of it (non-finite numbers and invalid dates are nulls), without making the cells.
   */
  addPiece(p: ParquetPiece): void {
    const known = this.knownType;
    // only where the typed fast path is exactly what add() does with the cells; else add() the cells
    if (
      !known ||
      (p.kind === 'time' && known !== 'datetime') ||
      (p.kind === 'text-dict' && known !== 'string') ||
      (p.kind === 'boolean' && known !== 'boolean')
    ) {
      this.add(parquetPieceCells(p), p.nulls);
      return;
    }
    this.nulls += p.nulls;
    const numbers = this.numbers;
    switch (p.kind) {
      case 'number': {
        const values = p.values;
        for (let i = 0; i < p.count; i++) {
          const v = values[i]!;
          if (v - v === 0) numbers.add(v);
          else this.nulls++;
        }
        return;
      }
      case 'number-dict':
        this.nulls += numbers.addDictionary(p.dictionary, p.indices, p.count);
        return;
      case 'time': {
        const values = p.values;
        for (let i = 0; i < p.count; i++) {
          const v = values[i]!;
          if (Number.isNaN(v)) this.nulls++;
          else {
            if (v < this.msMin) this.msMin = v;
            if (v > this.msMax) this.msMax = v;
          }
        }
        return;
      }
      case 'text':
        this.add(p.values as string[]);
        return;
      case 'text-dict':
        forEachDistinct(p.indices, p.count, p.dictionary.length, (i, n) => this.categories.add(p.dictionary[i]!, n));
        return;
      case 'boolean':
        forEachBoolean(p.values, p.count, (b, n) => this.categories.add(String(b), n));
        return;
    }
  }

  /**
   * A dictionary page of text as counts or of time stamps as extremes (the scanner's dictionaryCounts / timeCounts):
   * the same statistics as addPiece() on that page's indices. Text counts and time extremes do not depend on the order
   * of values, and the distinct values come in order of first appearance, as forEachDistinct gives them.
   */
  addCounts(p: ParquetDictionaryCounts | ParquetTimeCounts): void {
    const known = this.knownType;
    this.nulls += p.nulls;
    if (p.kind === 'time-dict') {
      // the scanner declares its time columns datetime (readSchema): another type comes only from another file's schema
      if (known !== 'datetime') throw new ParquetScanUnsupported(`column ${this.name}: time stamps in a column declared ${known ?? 'untyped'}`);
      this.nulls += p.invalid;
      if (p.min < this.msMin) this.msMin = p.min;
      if (p.max > this.msMax) this.msMax = p.max;
      return;
    }
    const { order, counts, distinct } = p;
    if (p.kind === 'number-dict' && p.picked && known === 'number') {
      // a page this column asked for as counts (numberPositions)
      this.numbers.addCounted(p.dictionary, counts, order, distinct, p.picked, this.pendingPicks);
      return;
    }
    if (p.kind === 'text-dict' && known === 'string') {
      for (let d = 0; d < distinct; d++) this.categories.add(p.dictionary[order[d]!]!, counts[order[d]!]!);
      return;
    }
    if (p.kind === 'number-dict') throw new Error('ColumnAccumulator.addCounts: numbers come in order unless numberPositions asked for counts');
    // another declared type: add() the cells, distinct value by distinct value (add() on text does not depend on the
    // order of cells: type tallies, category counts in order of first appearance)
    for (let d = 0; d < distinct; d++) {
      const k = order[d]!;
      this.add(new Array<CellValue>(counts[k]!).fill(p.dictionary[k]!));
    }
  }

  /** This number column will hold exactly `n` values (see NumericAccumulator.expectValues); other columns ignore it. */
  expectValues(n: number): void {
    if (this.knownType === 'number') this.numbers.expectValues(n);
  }

  /** How many positions the last numberPositions() gave (its page's counts come next). */
  private pendingPicks = 0;

  /** ParquetScanSink.numberPositions for this column: the reservoir's positions in a page that may come as counts. */
  numberPositions(dictionary: Float64Array, count: number): { positions: Int32Array; count: number } | undefined {
    if (this.knownType !== 'number') return undefined;
    const wanted = this.numbers.reservoirPositions(dictionary, count);
    this.pendingPicks = wanted?.count ?? 0;
    return wanted;
  }

  private maybeDate(v: string): boolean {
    const c = v.charCodeAt(0);
    return v.length >= 10 && c >= 48 && c <= 57 && v.charCodeAt(4) === 45;
  }

  result(rows: number): ColumnProfile {
    const type = this.knownType ?? this.tally.type();
    const count = rows - this.nulls;
    const base = { name: this.name, type, count, nulls: this.nulls };
    const numericCount = this.numbers.count;
    if (type === 'number') {
      return { ...base, mismatched: count - numericCount, ...(numericCount > 0 ? { numeric: this.numbers.result() } : {}) };
    }
    if (this.msMin <= this.msMax) {
      const min = new Date(this.msMin).toISOString();
      const max = new Date(this.msMax).toISOString();
      if (this.dtMin === undefined || min < this.dtMin) this.dtMin = min;
      if (this.dtMax === undefined || max > this.dtMax) this.dtMax = max;
    }
    if (type === 'datetime') {
      return { ...base, mismatched: 0, ...(this.dtMin !== undefined ? { datetime: { min: this.dtMin, max: this.dtMax! } } : {}) };
    }
    if (type === 'null') return { ...base, mismatched: 0 };
    return { ...base, mismatched: type === 'string' ? 0 : numericCount, categorical: this.categories.result() };
  }
}

/** Builds a profile from batches as they stream by (one pass; memory bounded by the caps above). */
export class ProfileBuilder {
  private readonly columns = new Map<string, ColumnAccumulator>();
  private rows = 0;
  constructor(private readonly knownTypes: Record<string, ColumnType> = {}) {}

  add(batch: ColumnBatch): void {
    for (const [name, values] of Object.entries(batch.columns)) {
      let column = this.columns.get(name);
      if (!column) {
        column = new ColumnAccumulator(name, this.columns.size + 1, this.knownTypes[name]);
        this.columns.set(name, column);
        column.add([], this.rows); // a column first seen late was null before
      }
      column.add(values);
    }
    for (const [name, column] of this.columns) if (!(name in batch.columns)) column.add([], batch.rows);
    this.rows += batch.rows;
  }

  /** A typed piece of one column (Parquet scanner); call addRows() after each row group. */
  addPiece(name: string, piece: ParquetPiece): void {
    this.column(name).addPiece(piece);
  }

  /** A dictionary page of one column as counts (Parquet scanner: text, dates and time stamps). */
  addCounts(name: string, counts: ParquetDictionaryCounts | ParquetTimeCounts): void {
    this.column(name).addCounts(counts);
  }

  /** Positions of a page of numbers that may come as counts (Parquet scanner: ParquetScanSink.numberPositions). */
  numberPositions(name: string, dictionary: Float64Array, count: number): { positions: Int32Array; count: number } | undefined {
    return this.column(name).numberPositions(dictionary, count);
  }

  /** Column `name` will hold exactly `n` non-null numbers, announced before any of them (Parquet: the footer's statistics). */
  expectValues(name: string, n: number): void {
    this.column(name).expectValues(n);
  }

  /** `rows` more rows, whose pieces went to addPiece; columns not in `present` were null in them. */
  addRows(rows: number, present: ReadonlySet<string>): void {
    for (const [name, column] of this.columns) if (!present.has(name)) column.add([], rows);
    this.rows += rows;
  }

  /** Creates the columns in this order now (their sampling seeds follow the order). */
  declare(names: readonly string[]): void {
    for (const name of names) this.column(name);
  }

  private column(name: string): ColumnAccumulator {
    let column = this.columns.get(name);
    if (!column) {
      column = new ColumnAccumulator(name, this.columns.size + 1, this.knownTypes[name]);
      this.columns.set(name, column);
      column.add([], this.rows); // a column first seen late was null before
    }
    return column;
  }

  result(): DatasetProfile {
    return { format: PROFILE_FORMAT, rows: this.rows, columns: [...this.columns.values()].map((c) => c.result(this.rows)) };
  }
}

/** Profiles a dataset path (file, directory or glob) in one streaming pass. */
export async function profileDataset(path: string, options: Omit<ReadOptions, 'maxRows'> = {}): Promise<DatasetProfile> {
  const files = await listDatasetFiles(path, options.format);
  const isParquet = (options.format ?? detectFormat(files[0]!)) === 'parquet';
  // Parquet declares its types; text formats are typed from all values as they stream.
  const knownTypes = isParquet ? Object.fromEntries((await readSchema(path, options)).columns.map((c) => [c.name, c.type])) : {};
  if (isParquet) {
    const fast = await profileParquetColumns(files, knownTypes, options);
    if (fast) return fast;
  }
  const builder = new ProfileBuilder(knownTypes);
  for await (const batch of readBatches(path, options)) builder.add(batch);
  return builder.result();
}

/**
 * Parquet through the columnar scanner (typed arrays, one column chunk at a time); undefined when a
 * file uses something the scanner does not decode (the caller then reads it the generic way).
 */
async function profileParquetColumns(
  files: readonly string[],
  knownTypes: Record<string, ColumnType>,
  options: Omit<ReadOptions, 'maxRows'>,
): Promise<DatasetProfile | undefined> {
  const builder = new ProfileBuilder(knownTypes);
  try {
    for (const file of files) {
      let names: readonly string[] = [];
      let present: ReadonlySet<string> = new Set();
      await scanParquet(
        file,
        {
          begin: (columns) => {
            names = columns;
            present = new Set(columns);
            builder.declare(columns);
          },
          piece: (c, piece) => builder.addPiece(names[c]!, piece),
          // text and time stamps counted while their indices are decoded; numbers in order (running moments, reservoir)
          dictionaryCounts: (c, counts) => builder.addCounts(names[c]!, counts),
          timeCounts: (c, counts) => builder.addCounts(names[c]!, counts),
          numbersInOrder: true,
          numberPositions: (c, dictionary, count) => builder.numberPositions(names[c]!, dictionary, count),
          // one file: the footer's counts are the column's (the scan checks them chunk by chunk)
          ...(files.length === 1 ? { numberCount: (c: number, count: number) => builder.expectValues(names[c]!, count) } : {}),
          rowGroup: (rows) => builder.addRows(rows, present),
        },
        { ...(options.columns ? { columns: options.columns } : {}), ...(options.signal ? { signal: options.signal } : {}) },
      );
    }
  } catch (error) {
    if (error instanceof ParquetScanUnsupported) return undefined;
    throw error;
  }
  return builder.result();
}

/** A one-line summary of a column for trees and listings. */
export function describeColumn(c: ColumnProfile): string {
  const nulls = c.nulls > 0 ? ` · ${c.nulls} null` : '';
  const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : Math.abs(n) >= 1000 || Math.abs(n) < 0.01 ? n.toPrecision(3) : n.toFixed(2));
  if (c.numeric)
    return `${fmt(c.numeric.min)}…${fmt(c.numeric.max)} · mean ${fmt(c.numeric.mean)}${c.numeric.std === null ? '' : ` · std ${fmt(c.numeric.std)}`}${nulls}`;
  if (c.categorical) {
    const top = c.categorical.top
      .slice(0, 3)
      .map((t) => `${t.value} (${t.count})`)
      .join(', ');
    return `${c.categorical.distinct}${c.categorical.capped ? '+' : ''} distinct · ${top}${nulls}`;
  }
  if (c.datetime) return `${c.datetime.min.slice(0, 10)} → ${c.datetime.max.slice(0, 10)}${nulls}`;
  return `${c.count} values${nulls}`;
}
