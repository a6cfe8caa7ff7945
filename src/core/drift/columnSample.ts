import { forEachBoolean, forEachDistinct, type ParquetDictionaryCounts, type ParquetPiece } from '../datasets/parquetScan';
import { EMPTY_DECIMAL } from '../datasets/typedCsv';
import { runEnd } from './distances';
import { intEnds, sortInts, sortNumbers } from './sortNumbers';
import { freeNow } from './freeNow';

/**
 * One column's values as the drift engine needs them, gathered from a stream of cells.
 *
 * Numbers are kept once, in a Float64Array (8 bytes a value) and sorted at the end: KS and Wasserstein
 * are exact on them and every binning is computed from them. Text is kept as counts per category.
 * Missing cells (null, '', NA, NaN, …) and infinities are counted and left out of every statistic.
 */
export type ColumnSample =
  | {
      readonly kind: 'numeric';
      readonly sorted: Float64Array;
      readonly missing: number;
      readonly infinite: number;
      /**
       * The same numbers as distinct values (ascending) and how often each occurs, when they came counted (Parquet
       * dictionaries): `sorted` is then expanded from them only when something reads it, and binning against fixed
       * edges (a stored profile's histogram) counts straight from these (countedBinCounts), with the same result.
       */
      readonly counted?: CountedNumbers;
      /**
       * The same numbers as integers m, ascending, each number m / 10^scale, when every one had that exact decimal form
       * (the collector's, see ColumnCollector): Wasserstein merges them as integers, and binning and the ends read them
       * without `sorted`, which is then made from them only when something reads it.
       */
      readonly scaled?: ScaledNumbers;
      /**
       * The same scaled integers counted by value, when a windowed check's whole column was counted from its windows
       * instead of merged (ColumnCollector.tabled): the count, ends, distinct values, bins and Wasserstein distance
       * are read from it; `scaled` and `sorted` are made from it only when something else reads them.
       */
      readonly table?: ScaledTable;
    }
  | { readonly kind: 'categorical'; readonly counts: ReadonlyMap<string, number>; readonly missing: number }
  /**
   * A reference known only as a histogram (e.g. from a stored dataset profile): PSI and Jensen–Shannon
   * use its edges as fixed bins; KS and Wasserstein need values and report the column skipped.
   */
  | { readonly kind: 'histogram'; readonly edges: readonly number[]; readonly counts: readonly number[]; readonly missing: number }
  | { readonly kind: 'unusable'; readonly reason: string; readonly missing: number; readonly datetime?: true };

/** Distinct numbers in ascending order, each with how often it occurs, and the total of those counts. */
export interface CountedNumbers {
  readonly values: Float64Array;
  readonly counts: Float64Array;
  readonly total: number;
}

/**
 * Ascending integers m and the power of ten they are scaled by: number i is values[i] / 10^scale, exactly, except that
 * the first `negativeZeros` zeros stand for −0 (where a sort of the doubles puts them).
 */
export interface ScaledNumbers {
  readonly values: Int32Array;
  readonly scale: number;
  readonly negativeZeros: number;
}

/** Scaled integers by value: counts[k] of them are min + k (each number (min + k) / 10^scale), total in all; −0s as in ScaledNumbers. */
export interface ScaledTable {
  readonly counts: Int32Array;
  readonly min: number;
  readonly scale: number;
  readonly negativeZeros: number;
  readonly total: number;
}

/** How to free a sample's arrays (releaseSample), for the samples whose arrays sit in closures. */
const releasers = new WeakMap<ColumnSample, (keep: CombineScratch | undefined) => void>();

/** A numeric sample held as a table of scaled integers: `scaled`, then `sorted`, made from it on first read, once. */
export function tabledSample(table: ScaledTable, missing: number, infinite: number): ColumnSample {
  let scaled: ScaledNumbers | undefined;
  let sorted: Float64Array | undefined;
  const scaledOf = (): ScaledNumbers => (scaled ??= { values: valuesOfTable(table), scale: table.scale, negativeZeros: table.negativeZeros });
  const sample: ColumnSample = {
    kind: 'numeric',
    get scaled(): ScaledNumbers {
      return scaledOf();
    },
    get sorted(): Float64Array {
      return (sorted ??= plainOf(scaledOf()));
    },
    missing,
    infinite,
    table,
  };
  releasers.set(sample, (keep) => {
    if (sorted) freeNow(sorted);
    if (scaled) freeNow(scaled.values);
    if (!keep?.holds(table.counts)) freeNow(table.counts);
  });
  return sample;
}

/** The ascending integers a table counts. */
function valuesOfTable(table: ScaledTable): Int32Array {
  const values = new Int32Array(table.total);
  const { counts, min } = table;
  let at = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k]!;
    if (c > 0) values.fill(min + k, at, at + c);
    at += c;
  }
  return values;
}

/**
 * A numeric sample held as scaled integers: `sorted` made from them on first read, once (a monitoring check's window
 * compared by Wasserstein never reads it: its integers are merged, its bins counted from them).
 */
export function scaledSample(scaled: ScaledNumbers, missing: number, infinite: number): ColumnSample {
  let sorted: Float64Array | undefined;
  const sample: ColumnSample = {
    kind: 'numeric',
    get sorted(): Float64Array {
      return (sorted ??= plainOf(scaled));
    },
    missing,
    infinite,
    scaled,
  };
  // its doubles only if they were made (reading `sorted` would make them)
  releasers.set(sample, (keep) => {
    if (sorted) freeNow(sorted);
    if (!keep?.holds(scaled.values)) freeNow(scaled.values);
  });
  return sample;
}

/**
 * Frees a numeric sample's arrays now (freeNow), for a caller that made it, is done with it, and shares its arrays
 * with nothing but `keep` (a scratch its integers may lie in after combineCollectors): the drift feed's comparison makes every window's sample of a column (its integers and their doubles,
 * ~12 MB a column on 1M rows) and drops them column after column, which left the feed thread ~64 MB of dead buffers at
 * a time during the comparison, the moment of the 1M-row check's peak.
 */
export function releaseSample(sample: ColumnSample | undefined, keep?: CombineScratch): void {
  if (sample?.kind !== 'numeric') return;
  const release = releasers.get(sample);
  if (release) release(keep);
  else {
    // a plain sample's numbers (not a getter's: reading that would make them)
    const sorted = Object.getOwnPropertyDescriptor(sample, 'sorted')?.value as Float64Array | undefined;
    if (sorted && !keep?.holds(sorted)) freeNow(sorted);
  }
}

/** The integers of `scaled` at a finer scale (the same numbers), or undefined when one of them would not fit 32 bits. */
export function valuesAtScale(scaled: ScaledNumbers, scale: number): Int32Array | undefined {
  const factor = SCALES[scale - scaled.scale]!;
  const { values } = scaled;
  const n = values.length;
  if (n > 0 && Math.max(-values[0]!, values[n - 1]!) * factor > MAX_SCALED) return undefined;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = values[i]! * factor;
  return out;
}

/** The numbers of scaled integers as doubles: m / 10^scale, the very double the plain form holds. */
export function plainOf(scaled: ScaledNumbers): Float64Array<ArrayBuffer> {
  const { values } = scaled;
  const power = SCALES[scaled.scale]!;
  const numbers = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) numbers[i] = values[i]! / power;
  if (scaled.negativeZeros > 0) numbers.fill(-0, firstZero(values), firstZero(values) + scaled.negativeZeros);
  return numbers;
}

/** The first index of a 0 in ascending integers that hold one. */
function firstZero(values: Int32Array): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A date/time column: typed as one in the report, and skipped because a time stamp's distribution is not a feature's. */
export function dateColumnSample(missing: number): ColumnSample {
  return {
    kind: 'unusable',
    reason: 'a date/time column: drift is not computed on time stamps (set it as time_column to see drift per window)',
    missing,
    datetime: true,
  };
}

/** Cells that mean "no value" in text files (pandas' default NA markers, the common ones). */
const MISSING_TEXT = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '#n/a', '<na>', '-nan', 'nil']);
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity)$/i;

/** 10^0 … 10^9: the scales of the exact decimal form (a scaled value up to 2^31 − 1 in magnitude). */
export const SCALES = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const MAX_SCALED = 2147483647;

/**
 * Accumulates one column's cells; `finish()` decides the column's kind and sorts numbers.
 *
 * Numbers are first held in an exact decimal form, 4 bytes a value: an Int32Array of m where the value is m / 10^s
 * for one scale s of the collector (s ≤ 9). A value is held so only when m / 10^s gives back the very same double
 * (checked value by value, −0 never), so the numbers finish() lays out are bit for bit those the plain form would
 * hold, and their order is the same (m ↦ m / 10^s is monotone). Logged features are mostly such decimals ("0.71774",
 * "76", "1.239"): half the memory of a Float64Array, and a radix sort of two passes instead of four. The first value
 * that has no such form (more than 9 decimals, too large, −0) moves the collector to the plain Float64Array for good.
 */
export class ColumnCollector {
  private numbers = new Float64Array(0);
  /** The exact decimal form (see above) while every number had one; undefined once the numbers are plain. */
  private scaled: Int32Array | undefined = new Int32Array(1024);
  /** s: scaled[i] / 10^s is value i. */
  private scale = 0;
  /** The largest |scaled[i]|, to know whether a larger scale still fits. */
  private largest = 0;
  /** How many of the held zeros are −0 (held as 0, given back as the first zeros: where a sort puts them). */
  private negativeZeros = 0;
  private numberCount = 0;
  /** Numbers that came as dictionary counts (Parquet): value → count, while there are few distinct ones. */
  private valueCounts: Map<number, number> | undefined;
  private countedNumbers = 0;
  private readonly categories = new Map<string, number>();
  private textCount = 0;
  private firstText: string | undefined;
  private dates = 0;
  private missing = 0;
  private infinite = 0;
  /** The plain numbers are sorted already (combine() sorted them): finish() only trims them. */
  private sorted = false;
  /**
   * The sorted scaled integers while packed (pack()): `scaled` is then empty and every method that reads or adds
   * numbers unpacks them first, so the collector behaves as if it had never been packed.
   */
  private packed: PackedInts | undefined;

  get cells(): number {
    return this.numberCount + this.countedNumbers + this.textCount + this.dates + this.missing + this.infinite;
  }

  /** A cell from a typed source (JSON, Parquet). */
  add(value: unknown): void {
    if (value === null || value === undefined) this.missing++;
    else if (typeof value === 'number') this.addNumber(value);
    else if (typeof value === 'bigint') this.addNumber(Number(value));
    else if (typeof value === 'string') this.addText(value);
    else if (typeof value === 'boolean') this.addCategory(String(value));
    else if (value instanceof Date) this.dates++;
    else this.addCategory(JSON.stringify(value));
  }

  /** A cell from a text source (CSV): numbers are recognised, NA markers are missing. */
  addText(text: string): void {
    const trimmed = text.trim();
    if (MISSING_TEXT.has(trimmed.toLowerCase())) this.missing++;
    else if (NUMBER_TEXT.test(trimmed)) this.addNumber(Number(trimmed.replace(/inf(inity)?$/i, 'Infinity')));
    else this.addCategory(text);
  }

  /**
   * A typed piece from the Parquet scanner: the same as add() on the cells the generic reader makes of it
   * (non-finite numbers are missing cells there), but dictionary-encoded numbers arrive as counts per
   * distinct value, so finish() lays them out sorted without sorting them one by one.
   */
  addPiece(p: ParquetPiece): void {
    this.missing += p.nulls;
    switch (p.kind) {
      case 'number': {
        const values = p.values;
        for (let i = 0; i < p.count; i++) {
          const v = values[i]!;
          if (v - v === 0) this.addNumber(v);
          else this.missing++;
        }
        return;
      }
      case 'number-dict': {
        const dictionary = p.dictionary;
        forEachDistinct(p.indices, p.count, dictionary.length, (i, n) => {
          const v = dictionary[i]!;
          if (v - v !== 0) this.missing += n;
          else this.addNumberCount(v, n);
        });
        return;
      }
      case 'time':
        for (let i = 0; i < p.count; i++) {
          const ms = p.values[i]!;
          this.add(Number.isNaN(ms) ? null : new Date(ms).toISOString());
        }
        return;
      case 'text':
        for (let i = 0; i < p.count; i++) this.addText(p.values[i]!);
        return;
      case 'text-dict': {
        const dictionary = p.dictionary;
        forEachDistinct(p.indices, p.count, dictionary.length, (i, n) => this.addTextCount(dictionary[i]!, n));
        return;
      }
      case 'boolean':
        forEachBoolean(p.values, p.count, (b, n) => this.addCategory(String(b), n));
        return;
    }
  }

  /** A dictionary page as counts (the scanner's dictionaryCounts): the same as addPiece() on that page's indices. */
  addDictionaryCounts(p: ParquetDictionaryCounts): void {
    this.missing += p.nulls;
    const { order, counts, distinct } = p;
    if (p.kind === 'number-dict') {
      const dictionary = p.dictionary;
      for (let d = 0; d < distinct; d++) {
        const i = order[d]!;
        const v = dictionary[i]!;
        if (v - v !== 0) this.missing += counts[i]!;
        else this.addNumberCount(v, counts[i]!);
      }
    } else {
      const dictionary = p.dictionary;
      for (let d = 0; d < distinct; d++) {
        const i = order[d]!;
        this.addTextCount(dictionary[i]!, counts[i]!);
      }
    }
  }

  /** `n` empty cells, as n calls of add(null). */
  addMissing(n: number): void {
    this.missing += n;
  }

  /** `n` cells of the same text, as n calls of addText. */
  addTextCount(text: string, n: number): void {
    const trimmed = text.trim();
    if (MISSING_TEXT.has(trimmed.toLowerCase())) this.missing += n;
    else if (NUMBER_TEXT.test(trimmed)) {
      const v = Number(trimmed.replace(/inf(inity)?$/i, 'Infinity'));
      for (let k = 0; k < n; k++) this.addNumber(v);
    } else this.addCategory(text, n);
  }

  private addNumberCount(value: number, n: number): void {
    if (value === 0 && 1 / value < 0) {
      for (let k = 0; k < n; k++) this.addNumber(value); // −0: a Map key would turn it into 0
      return;
    }
    const counts = (this.valueCounts ??= new Map());
    counts.set(value, (counts.get(value) ?? 0) + n);
    this.countedNumbers += n;
    if (counts.size > MAX_COUNTED_VALUES) this.spillCounts(); // many distinct values: plain values are smaller
  }

  /** Moves the counted numbers into the plain array (then sorted with the rest). */
  private spillCounts(): void {
    const counts = this.valueCounts;
    if (!counts) return;
    this.valueCounts = undefined;
    this.countedNumbers = 0;
    for (const [v, n] of counts) for (let k = 0; k < n; k++) this.addNumber(v);
  }

  /**
   * Room for `extra` more numbers, growing by a quarter at least: a caller that knows how many cells come next (a fed
   * batch, fedSide.ts) keeps the spare room near a quarter instead of up to a half with addNumber's doubling.
   */
  reserve(extra: number, freeDropped = false): void {
    this.unpack();
    const needed = this.numberCount + extra;
    const scaled = this.scaled;
    if (scaled) {
      if (needed <= scaled.length) return;
      const grown = new Int32Array(Math.max(needed, Math.ceil(scaled.length * 1.25)));
      grown.set(scaled.subarray(0, this.numberCount));
      this.scaled = grown;
      if (freeDropped) freeNow(scaled);
      return;
    }
    const numbers = this.numbers;
    if (needed <= numbers.length) return;
    const grown = new Float64Array(Math.max(needed, Math.ceil(numbers.length * 1.25)));
    grown.set(numbers.subarray(0, this.numberCount));
    this.numbers = grown;
    if (freeDropped) freeNow(numbers);
  }

  /**
   * settle() then pack(), the arrays they leave behind freed at once (freeNow): for a fed part, whose arrays were all
   * made by this collector (reserve, addNumber) and are held by nothing else. A window's room, its trimmed copy and
   * its unpacked integers were ~1 MB a column a window left for the feed thread's next collection.
   */
  settleAndPack(): void {
    const [scaled, numbers] = [this.scaled, this.numbers];
    this.settle();
    this.pack();
    if (scaled && scaled !== this.scaled && scaled.buffer !== this.scaled?.buffer) freeNow(scaled);
    if (numbers !== this.numbers && numbers.buffer !== this.numbers.buffer) freeNow(numbers);
  }

  /**
   * Sorts the plain numbers now and drops the spare room (a part whose cells have all come: fedSide.ts sorts a window
   * once the log has moved past it, while the reading thread is still reading). More numbers after this only unset
   * `sorted`: finish() and combine() sort again then, so the sample is the same either way.
   */
  settle(): void {
    this.unpack();
    if (this.sorted || this.numberCount === 0) return;
    if (this.scaled) {
      const scaled = this.scaled.length === this.numberCount ? this.scaled : this.scaled.slice(0, this.numberCount);
      sortInts(scaled);
      this.scaled = scaled;
      this.sorted = true;
      return;
    }
    const numbers = this.numbers.length === this.numberCount ? this.numbers : this.numbers.slice(0, this.numberCount);
    sortNumbers(numbers);
    this.numbers = numbers;
    this.sorted = true;
  }

  /**
   * Holds settled (sorted) scaled integers as their packed gaps (packInts), about a byte a number instead of four
   * when they are dense (a window of a logged feature: ~83k values with five decimals span ~10^6, a gap of ~12): a
   * fed window is packed once the log has moved past it, so the drift thread holds a million-row column in ~1 MB
   * instead of 4 MB until the comparison unpacks it, one column at a time (fedSide.ts). Nothing else changes: any
   * later read or number unpacks them, the very same integers. No-op unless settled and scaled.
   */
  pack(): void {
    const scaled = this.scaled;
    if (this.packed || !scaled || !this.sorted || this.numberCount === 0) return;
    const packed = packInts(scaled.subarray(0, this.numberCount));
    if (packed.bytes.length >= this.numberCount * 4) return; // sparse: the gaps are no smaller
    this.packed = packed;
    this.scaled = new Int32Array(0);
  }

  private unpack(into?: CombineScratch): void {
    const packed = this.packed;
    if (!packed) return;
    this.packed = undefined;
    this.scaled = unpackInts(packed, this.numberCount, into?.take(this.numberCount));
  }

  /**
   * addNumber(values[i]) for i in [from, to), in that order — the same collector afterwards — with the common case (a
   * finite value that has its exact decimal form at the current scale) in one loop over locals: a fed column of a
   * million numbers arrives in runs of one window (fedSide.ts), and a call per value with its checks re-read from the
   * object was most of the drift thread's collecting. Anything else (missing, infinite, a larger scale, plain) goes
   * through addNumber, and the loop goes on with what it left.
   */
  addNumbers(values: Float64Array, from: number, to: number): void {
    this.unpack();
    let i = from;
    while (i < to) {
      const scaled = this.scaled;
      if (!scaled) {
        for (; i < to; i++) this.addNumber(values[i]!);
        return;
      }
      if (this.numberCount + (to - i) > scaled.length) {
        this.reserve(to - i);
        continue;
      }
      const power = SCALES[this.scale]!;
      let n = this.numberCount;
      let largest = this.largest;
      let negativeZeros = this.negativeZeros;
      const start = n;
      for (; i < to; i++) {
        const value = values[i]!;
        const m = Math.round(value * power);
        // NaN and ±Infinity fail one of these tests too (NaN !== NaN; |Infinity| > MAX_SCALED)
        if (!(m / power === value && m <= MAX_SCALED && m >= -MAX_SCALED)) break;
        if (m === 0 && 1 / value < 0) negativeZeros++;
        scaled[n++] = m;
        const size = m < 0 ? -m : m;
        if (size > largest) largest = size;
      }
      this.numberCount = n;
      this.largest = largest;
      this.negativeZeros = negativeZeros;
      if (n > start) this.sorted = false;
      if (i < to) this.addNumber(values[i++]!);
    }
  }

  /**
   * addNumber(values[i] / 10^scale) for i in [from, to), an EMPTY_DECIMAL as addNumber(NaN) — the same collector
   * afterwards — from a decimals column of the typed reader (typedCsv.ts): the integers are moved to the collector's
   * scale (× 10^k), or, while the collector's scale is below the column's, kept where they divide exactly (a number
   * held at the smallest scale that holds it, as addNumber finds it); any other goes through addNumber, which rescales
   * or makes the numbers plain, and the loop goes on with what it left.
   */
  addDecimals(values: Int32Array, scale: number, from: number, to: number): void {
    this.unpack();
    const power = SCALES[scale]!;
    let i = from;
    while (i < to) {
      const held = this.scaled;
      if (!held) {
        for (; i < to; i++) this.addNumber(values[i] === EMPTY_DECIMAL ? Number.NaN : values[i]! / power);
        return;
      }
      if (this.numberCount + (to - i) > held.length) {
        this.reserve(to - i);
        continue;
      }
      let n = this.numberCount;
      let largest = this.largest;
      let missing = this.missing;
      const start = n;
      if (this.scale >= scale) {
        const factor = SCALES[this.scale - scale]!;
        for (; i < to; i++) {
          const v = values[i]!;
          if (v === EMPTY_DECIMAL) {
            missing++;
            continue;
          }
          const m = v * factor;
          if (m > MAX_SCALED || m < -MAX_SCALED) break;
          held[n++] = m;
          const size = m < 0 ? -m : m;
          if (size > largest) largest = size;
        }
      } else {
        const divisor = SCALES[scale - this.scale]!;
        for (; i < to; i++) {
          const v = values[i]!;
          if (v === EMPTY_DECIMAL) {
            missing++;
            continue;
          }
          if (v % divisor !== 0) break;
          const m = v / divisor;
          held[n++] = m;
          const size = m < 0 ? -m : m;
          if (size > largest) largest = size;
        }
      }
      this.numberCount = n;
      this.largest = largest;
      this.missing = missing;
      if (n > start) this.sorted = false;
      if (i < to) this.addNumber(values[i++]! / power);
    }
  }

  addNumber(value: number): void {
    this.unpack();
    if (Number.isNaN(value)) {
      this.missing++;
      return;
    }
    if (!Number.isFinite(value)) {
      this.infinite++;
      return;
    }
    this.sorted = false;
    if (this.scaled) {
      const power = SCALES[this.scale]!;
      const m = Math.round(value * power);
      if (m / power === value && m <= MAX_SCALED && m >= -MAX_SCALED) {
        if (m === 0 && 1 / value < 0) this.negativeZeros++;
        if (this.numberCount === this.scaled.length) {
          const grown = new Int32Array(this.scaled.length * 2);
          grown.set(this.scaled);
          this.scaled = grown;
        }
        this.scaled[this.numberCount++] = m;
        const size = m < 0 ? -m : m;
        if (size > this.largest) this.largest = size;
        return;
      }
      if (this.rescaleFor(value)) {
        this.addNumber(value);
        return;
      }
      this.toPlain(Math.max(1024, Math.ceil(this.numberCount * 1.25)));
    }
    if (this.numberCount === this.numbers.length) {
      const grown = new Float64Array(this.numbers.length * 2);
      grown.set(this.numbers);
      this.numbers = grown;
    }
    this.numbers[this.numberCount++] = value;
  }

  /**
   * Moves the held numbers to a larger scale at which `value` has its exact decimal form, when one up to 10^9 exists
   * and the largest held number still fits at it; false: none (the caller goes plain).
   */
  private rescaleFor(value: number): boolean {
    if (value === 0) return false; // −0 (a +0 fits every scale)
    for (let s = this.scale + 1; s < SCALES.length; s++) {
      const power = SCALES[s]!;
      const m = Math.round(value * power);
      if (m > MAX_SCALED || m < -MAX_SCALED) return false; // larger scales only make it larger
      if (m / power !== value) continue;
      const factor = SCALES[s - this.scale]!;
      if (this.largest * factor > MAX_SCALED) return false;
      const scaled = this.scaled!;
      for (let i = 0; i < this.numberCount; i++) scaled[i]! *= factor;
      this.largest *= factor;
      this.scale = s;
      return true;
    }
    return false;
  }

  /** The held numbers as plain doubles from now on, with room for `room` of them (in their order; still sorted if they were). */
  private toPlain(room = this.numberCount): void {
    const scaled = this.scaled;
    if (!scaled) return;
    this.scaled = undefined;
    const n = this.numberCount;
    const numbers = new Float64Array(Math.max(n, room));
    const power = SCALES[this.scale]!;
    for (let i = 0; i < n; i++) numbers[i] = scaled[i]! / power;
    // the −0s as the first zeros: in sorted numbers where a sort puts them (before +0); unsorted ones are sorted later
    for (let i = 0, left = this.negativeZeros; left > 0 && i < n; i++)
      if (numbers[i] === 0) {
        numbers[i] = -0;
        left--;
      }
    this.negativeZeros = 0;
    this.numbers = numbers;
  }

  private addCategory(text: string, n = 1): void {
    this.textCount += n;
    this.firstText ??= text;
    this.categories.set(text, (this.categories.get(text) ?? 0) + n);
  }

  /**
   * What combine(parts) gives for a column of scaled integers, as a table of counts by value (tabledSample) laid in
   * `scratch`, when their span is below TABLE_SPAN times their count: the packed windows counted straight from their
   * gaps, nothing unpacked, merged or sorted. The parts are left as combine() leaves them for their own finish():
   * moved to the common scale (a window's Wasserstein distance is computed at the finer of its and the reference's
   * scales). Undefined when combine() would not give scaled integers, or the span is wider: combine() then.
   */
  static tabled(parts: readonly ColumnCollector[], scratch: CombineScratch): ColumnSample | undefined {
    let total = 0;
    let missing = 0;
    let infinite = 0;
    let negativeZeros = 0;
    let scale = 0;
    for (const part of parts) {
      if (part.textCount > 0 || part.dates > 0 || part.valueCounts || part.scaled === undefined) return undefined;
      total += part.numberCount;
      missing += part.missing;
      infinite += part.infinite;
      negativeZeros += part.negativeZeros;
      if (part.numberCount > 0 && part.scale > scale) scale = part.scale;
    }
    if (total === 0) return undefined;
    let min = Infinity;
    let max = -Infinity;
    for (const part of parts) {
      const n = part.numberCount;
      if (n === 0) continue;
      const factor = SCALES[scale - part.scale]!;
      if (part.largest * factor > MAX_SCALED) return undefined;
      const [first, last] = part.ends();
      if (first * factor < min) min = first * factor;
      if (last * factor > max) max = last * factor;
    }
    const span = max - min;
    if (span >= TABLE_SPAN * total) return undefined;
    scratch.reset();
    const counts = scratch.take(span + 1) ?? new Int32Array(span + 1);
    counts.fill(0);
    for (const part of parts) {
      if (part.numberCount === 0) continue;
      if (part.scale !== scale) part.rescale(scale);
      const packed = part.packed;
      if (packed) countPacked(packed, part.numberCount, counts, min);
      else {
        const values = part.scaled!;
        for (let i = 0; i < part.numberCount; i++) counts[values[i]! - min]!++;
      }
    }
    return tabledSample({ counts, min, scale, negativeZeros, total }, missing, infinite);
  }

  /** The smallest and largest held scaled integer (some are held). */
  private ends(): [number, number] {
    const n = this.numberCount;
    if (this.packed) return [this.packed.first, this.packed.last];
    const values = this.scaled!;
    return this.sorted ? [values[0]!, values[n - 1]!] : intEnds(values, n);
  }

  /** The held scaled integers moved to a finer scale at which they fit (as mergeScaled moves them). */
  private rescale(scale: number): void {
    this.unpack();
    const factor = SCALES[scale - this.scale]!;
    const scaled = this.scaled!;
    for (let i = 0; i < this.numberCount; i++) scaled[i]! *= factor;
    this.largest *= factor;
    this.scale = scale;
  }

  /** See combineCollectors. */
  static combine(parts: readonly ColumnCollector[], scratch?: CombineScratch): ColumnSample {
    const whole = new ColumnCollector();
    whole.scaled = undefined; // its numbers are the parts' merge, plain
    scratch?.reset();
    for (const part of parts) {
      part.unpack(scratch);
      part.spillCounts();
      if (part.scaled && !part.sorted) part.settle(); // sorted as integers
      whole.numberCount += part.numberCount;
      whole.textCount += part.textCount;
      whole.firstText ??= part.firstText;
      whole.dates += part.dates;
      whole.missing += part.missing;
      whole.infinite += part.infinite;
      for (const [text, n] of part.categories) whole.categories.set(text, (whole.categories.get(text) ?? 0) + n);
    }
    if (whole.textCount > 0 || whole.numberCount === 0) return whole.finish(); // no numbers to merge, or only a mixed-type message
    const merged = ColumnCollector.mergeScaled(parts, scratch);
    if (merged) return scaledSample(merged, whole.missing, whole.infinite);
    const sortedParts: Float64Array[] = [];
    for (const part of parts) {
      part.toPlain();
      const numbers = part.numbers.subarray(0, part.numberCount);
      if (!part.sorted) {
        sortNumbers(numbers);
        part.sorted = true;
      }
      sortedParts.push(numbers);
    }
    whole.numbers = mergeSorted(sortedParts);
    whole.sorted = true;
    return whole.finish();
  }

  /**
   * The parts' sorted numbers merged as integers at one scale (the largest of theirs; each part's moved to it, as
   * rescaleFor does): what one collector given all their numbers holds (its −0s the first zeros). Undefined when a
   * part is plain or does not fit the common scale.
   */
  private static mergeScaled(parts: readonly ColumnCollector[], scratch: CombineScratch | undefined): ScaledNumbers | undefined {
    const holding = parts.filter((p) => p.numberCount > 0);
    if (!holding.every((p) => p.scaled !== undefined && p.sorted)) return undefined;
    const scale = Math.max(...holding.map((p) => p.scale));
    if (!holding.every((p) => p.largest * SCALES[scale - p.scale]! <= MAX_SCALED)) return undefined;
    for (const part of holding) {
      const factor = SCALES[scale - part.scale]!;
      if (factor === 1) continue;
      const scaled = part.scaled!;
      for (let i = 0; i < part.numberCount; i++) scaled[i]! *= factor;
      part.largest *= factor;
      part.scale = scale;
    }
    const merged = unionSortedInts(
      holding.map((p) => p.scaled!.subarray(0, p.numberCount)),
      scratch?.take(holding.reduce((sum, p) => sum + p.numberCount, 0)),
    );
    return { values: merged, scale, negativeZeros: holding.reduce((sum, p) => sum + p.negativeZeros, 0) };
  }

  finish(): ColumnSample {
    this.unpack();
    if (this.valueCounts && this.numberCount > 0) this.spillCounts(); // both kinds: sort them together
    if (this.scaled) {
      if (this.numberCount > 0) this.settle();
      // a numeric column keeps its integers
      if (this.numberCount > 0 && this.textCount === 0 && !this.valueCounts) {
        const values = this.scaled.length === this.numberCount ? this.scaled : this.scaled.slice(0, this.numberCount);
        this.scaled = undefined;
        return scaledSample({ values, scale: this.scale, negativeZeros: this.negativeZeros }, this.missing, this.infinite);
      }
      this.toPlain();
    }
    const numberCount = this.numberCount + this.countedNumbers;
    if (this.dates > 0 && numberCount + this.textCount === 0) {
      return dateColumnSample(this.missing);
    }
    if (this.textCount > 0 && numberCount + this.infinite > 0) {
      return {
        kind: 'unusable',
        reason: `mixed types: ${numberCount + this.infinite} numbers and ${this.textCount} text values (e.g. ${JSON.stringify(this.firstText)})`,
        missing: this.missing,
      };
    }
    if (this.textCount > 0) return { kind: 'categorical', counts: this.categories, missing: this.missing };
    if (this.valueCounts) {
      const counted = countedFrom(this.valueCounts, this.countedNumbers);
      this.numbers = new Float64Array(0);
      this.valueCounts = undefined;
      let sorted: Float64Array | undefined;
      return {
        kind: 'numeric',
        // expanded on first read, once (most checks against a stored profile never read it)
        get sorted(): Float64Array {
          return (sorted ??= sortedFromCounted(counted));
        },
        missing: this.missing,
        infinite: this.infinite,
        counted,
      };
    }
    const sorted = this.sorted
      ? this.numbers.length === this.numberCount
        ? this.numbers
        : this.numbers.slice(0, this.numberCount)
      : sortNumbers(this.numbers.slice(0, this.numberCount));
    this.numbers = new Float64Array(0);
    this.valueCounts = undefined;
    return { kind: 'numeric', sorted, missing: this.missing, infinite: this.infinite };
  }
}

/**
 * What one collector given every cell of `parts` would finish with (parts in the order their cells came), without
 * holding or sorting those numbers twice: each part's numbers are sorted in place (its own finish() then only trims
 * them) and the whole column is their merge. How the drift check gets a column overall from its windows.
 */
export function combineCollectors(parts: readonly ColumnCollector[], scratch?: CombineScratch): ColumnSample {
  return ColumnCollector.combine(parts, scratch);
}

/**
 * A whole column counted by value (ColumnCollector.tabled) when its scaled integers span fewer than this many times
 * their count: the table is then no larger than the counting sort's that merging them used (sortInts' COUNTING_SPAN).
 */
const TABLE_SPAN = 2;

/** See ColumnCollector.tabled. */
export function tabledCollectors(parts: readonly ColumnCollector[], scratch: CombineScratch): ColumnSample | undefined {
  return ColumnCollector.tabled(parts, scratch);
}

/**
 * Memory that combineCollectors may lay the parts' unpacked integers and their merge in, for a caller that combines
 * column after column and drops each result (and the parts) before the next: the same arrays every column instead of
 * ~8 MB a million-row column made and left for V8 to collect (fedSide.ts's comparison; the RSS climbed through it).
 * What it hands out is valid until the next combine with it.
 */
export class CombineScratch {
  private buffer = new Int32Array(0);
  private used = 0;

  reset(): void {
    this.used = 0;
  }

  /** Whether `array` is a part of this scratch's memory (handed out by take()). */
  holds(array: ArrayBufferView): boolean {
    return array.buffer === this.buffer.buffer;
  }

  /** `n` integers of the buffer not handed out since reset(); undefined when they do not fit (the caller allocates). */
  take(n: number): Int32Array | undefined {
    if (this.used + n > this.buffer.length) return undefined;
    const out = this.buffer.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }

  /** Room for `n` integers from the next reset() on. */
  reserve(n: number): void {
    if (this.buffer.length < n) this.buffer = new Int32Array(n);
  }
}

/** Merges ascending arrays pairwise into one ascending array (the order Float64Array#sort gives, up to −0 beside 0). */
export function mergeSorted(arrays: readonly Float64Array[]): Float64Array<ArrayBuffer> {
  let level = arrays.filter((a) => a.length > 0);
  if (level.length === 0) return new Float64Array(0);
  while (level.length > 1) {
    const next: Float64Array[] = [];
    for (let k = 0; k + 1 < level.length; k += 2) next.push(mergeTwo(level[k]!, level[k + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  // one array merged with nothing is the caller's own: a copy; a merge's output is new already
  return arrays.filter((a) => a.length > 0).length === 1 ? level[0]!.slice() : (level[0] as Float64Array<ArrayBuffer>);
}

function mergeTwo(a: Float64Array, b: Float64Array): Float64Array<ArrayBuffer> {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  const n = a.length;
  const m = b.length;
  while (i < n && j < m) {
    const x = a[i]!;
    const y = b[j]!;
    if (x <= y) {
      out[k++] = x;
      i++;
    } else {
      out[k++] = y;
      j++;
    }
  }
  if (i < n) out.set(a.subarray(i), k);
  else if (j < m) out.set(b.subarray(j), k);
  return out;
}

/**
 * The ascending union of ascending integer arrays (one array alone: a copy): put end to end and radix-sorted, which
 * gives the very array a pairwise merge gives (integers have no order among equals to keep) at three passes over the
 * column instead of ⌈log2 parts⌉ branchy merge passes, and without a merged array per level left to the collector.
 */
function unionSortedInts(arrays: readonly Int32Array[], into?: Int32Array): Int32Array {
  if (arrays.length === 1) return arrays[0]!.slice();
  const all = into ?? new Int32Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    all.set(a, at);
    at += a.length;
  }
  return sortInts(all);
}

/** Ascending integers as the first one and the gaps between neighbours, each gap a LEB128 varint (7 bits a byte). */
interface PackedInts {
  readonly first: number;
  readonly last: number;
  readonly bytes: Uint8Array;
}

/** Packs ascending int32 values (at least one): their gaps are ≥ 0 and < 2^32, at most five bytes each. */
export function packInts(values: Int32Array): PackedInts {
  const n = values.length;
  let size = 0;
  for (let i = 1; i < n; i++) {
    const gap = values[i]! - values[i - 1]!;
    size += gap < 0x80 ? 1 : gap < 0x4000 ? 2 : gap < 0x200000 ? 3 : gap < 0x10000000 ? 4 : 5;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (let i = 1; i < n; i++) {
    let gap = values[i]! - values[i - 1]!; // up to 2^32 − 1: kept a double, split by division, not by 32-bit shifts
    while (gap >= 0x80) {
      bytes[at++] = (gap & 0x7f) | 0x80;
      gap = Math.floor(gap / 0x80);
    }
    bytes[at++] = gap;
  }
  return { first: values[0]!, last: values[n - 1]!, bytes };
}

/** Counts the `n` integers packInts packed into counts[value − min], without laying them out (a few thousand at a time). */
function countPacked(packed: PackedInts, n: number, counts: Int32Array, min: number): void {
  const reader = new PackedReader(packed, n);
  const chunk = new Int32Array(Math.min(n, 4096));
  for (let got = reader.read(chunk); got > 0; got = reader.read(chunk)) countChunk(chunk, got, counts, min);
}

/**
 * countPacked's count of a chunk. A function of its own: as countPacked's inner loop, V8 compiled it on the stack
 * (OSR) and threw that code away at the loop's exit, chunk after chunk (20–120 deopts a check).
 */
function countChunk(chunk: Int32Array, got: number, counts: Int32Array, min: number): void {
  for (let i = 0; i < got; i++) counts[chunk[i]! - min]!++;
}

/** The `n` integers packInts packed. */
export function unpackInts(packed: PackedInts, n: number, into?: Int32Array): Int32Array {
  const out = into ?? new Int32Array(n);
  new PackedReader(packed, n).read(out.length === n ? out : out.subarray(0, n));
  return out;
}

/** Packed integers decoded in order, as many at a time as the caller has room for. */
class PackedReader {
  private at = 0;
  private value: number;
  private done = 0;

  constructor(
    private readonly packed: PackedInts,
    private readonly n: number,
  ) {
    this.value = packed.first;
  }

  /** The next integers into `out` (up to its length); how many (0 once all are read). */
  read(out: Int32Array): number {
    const count = Math.min(out.length, this.n - this.done);
    const { bytes } = this.packed;
    let value = this.value;
    let at = this.at;
    let k = 0;
    if (this.done === 0 && count > 0) out[k++] = value;
    for (; k < count; k++) {
      let b = bytes[at++]!;
      let gap = b & 0x7f;
      let factor = 0x80;
      while (b >= 0x80) {
        b = bytes[at++]!;
        gap += (b & 0x7f) * factor;
        factor *= 0x80;
      }
      value += gap;
      out[k] = value;
    }
    this.value = value;
    this.at = at;
    this.done += count;
    return count;
  }
}

/** Distinct numbers kept as counts before they are spilled into a plain array. */
const MAX_COUNTED_VALUES = 1 << 16;

/** The distinct values of `counts` in ascending order with their counts. */
function countedFrom(counts: ReadonlyMap<number, number>, total: number): CountedNumbers {
  const values = Float64Array.from(counts.keys()).sort();
  const n = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) n[i] = counts.get(values[i]!)!;
  return { values, counts: n, total };
}

/** The ascending sample that has `counts[i]` of each `values[i]`. */
function sortedFromCounted(counted: CountedNumbers): Float64Array {
  const sorted = new Float64Array(counted.total);
  let at = 0;
  for (let i = 0; i < counted.values.length; i++) {
    const n = counted.counts[i]!;
    sorted.fill(counted.values[i]!, at, at + n);
    at += n;
  }
  return sorted;
}

/** Counts of each distinct value of an ascending sample, keyed by its text form. */
export function countsOfSorted(sorted: Float64Array): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < sorted.length; ) {
    const j = runEnd(sorted, i);
    counts.set(String(sorted[i]), j - i);
    i = j;
  }
  return counts;
}

/** distinctOfSorted of a numeric sample, from its scaled integers when it has them (the same doubles, `sorted` not made). */
export function distinctOfSample(sample: Extract<ColumnSample, { kind: 'numeric' }>, limit: number, into = new Set<number>()): Set<number> {
  const table = sample.table;
  if (table) {
    const { counts, min } = table;
    const power = SCALES[table.scale]!;
    for (let k = 0; k < counts.length && into.size <= limit; k++) if (counts[k]! > 0) into.add((min + k) / power);
    return into;
  }
  const scaled = sample.scaled;
  if (!scaled) return distinctOfSorted(sample.sorted, limit, into);
  const { values } = scaled;
  const power = SCALES[scaled.scale]!;
  for (let i = 0; i < values.length && into.size <= limit; ) {
    const m = values[i]!;
    into.add(m / power);
    let step = 1; // gallop past the run of m
    while (i + step < values.length && values[i + step] === m) step *= 2;
    let lo = i + (step >> 1); // values[lo] === m
    let hi = Math.min(values.length, i + step);
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (values[mid] === m) lo = mid;
      else hi = mid;
    }
    i = hi;
  }
  return into;
}

/** Distinct values of an ascending sample, stopping once more than `limit` were seen. */
export function distinctOfSorted(sorted: Float64Array, limit: number, into = new Set<number>()): Set<number> {
  for (let i = 0; i < sorted.length && into.size <= limit; i = runEnd(sorted, i)) into.add(sorted[i]!);
  return into;
}
