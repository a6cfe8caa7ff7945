import { binCounts, binEdges, countedBinCounts, DEFAULT_JS_BINNING, DEFAULT_PSI_BINNING, type Binning } from './binning';
import { countsOfSorted, distinctOfSample, SCALES, valuesAtScale, type ColumnSample, type ScaledNumbers, type ScaledTable } from './columnSample';
import {
  chiSquareContingency,
  jensenShannonDistance,
  populationStabilityIndex,
  populationStd,
  proportions,
  DENSE_WINDOW,
  ScaledReferenceTable,
  WassersteinReference,
  wasserstein1Against,
  wasserstein1Scaled,
} from './distances';
import { DriftInputError } from './driftInputError';
import { chiSquareSf } from './gamma';
import { ksTwoSample } from './ks';

export const DRIFT_METHODS = ['ks', 'psi', 'wasserstein', 'jensenshannon', 'chisquare'] as const;
/** What a drift check accepts as its method: one of DRIFT_METHODS, or `auto` (per column). */
export const DRIFT_METHOD_NAMES = ['auto', ...DRIFT_METHODS] as const;
export type DriftMethod = (typeof DRIFT_METHODS)[number];
export type DriftMethodChoice = 'auto' | DriftMethod;

/** Methods whose threshold is a p-value (drift when p < threshold); the others drift when statistic ≥ threshold. */
const P_VALUE_METHODS: ReadonlySet<DriftMethod> = new Set(['ks', 'chisquare']);

export const DEFAULT_THRESHOLDS: Readonly<Record<DriftMethod, number>> = {
  ks: 0.05,
  chisquare: 0.05,
  wasserstein: 0.1,
  jensenshannon: 0.1,
  psi: 0.1,
};

export interface DriftOptions {
  /** One method for every column, or 'auto' (the default) to choose per column. */
  readonly method?: DriftMethodChoice;
  /** Per-column method, overriding `method`. */
  readonly columnMethods?: Readonly<Record<string, DriftMethod>>;
  /** Per-method thresholds; unset ones keep DEFAULT_THRESHOLDS. */
  readonly thresholds?: Readonly<Partial<Record<DriftMethod, number>>>;
  /** One threshold for whichever method is chosen (the CLI's --threshold); wins over `thresholds`. */
  readonly threshold?: number;
  /** 'auto' uses tests (KS, chi-square) up to this many reference rows and distances above. Default 1000. */
  readonly smallReferenceRows?: number;
  /** Numbers with at most this many distinct values (both sides together) are categorical. Default 5. */
  readonly categoricalMaxDistinct?: number;
  /** The dataset drifts when the share of drifted columns is at least this. Default 0.5. */
  readonly driftShare?: number;
  readonly psiBinning?: Binning;
  readonly jsBinning?: Binning;
  /** Wasserstein is divided by max(reference std, this): a constant reference still gives a finite score. Default 0.001 (Evidently's). */
  readonly stdFloor?: number;
}

export interface ColumnHistogram {
  /** Bin edges for numbers, or category names. */
  readonly edges?: readonly number[];
  readonly categories?: readonly string[];
  readonly reference: readonly number[];
  readonly current: readonly number[];
}

export interface ColumnDrift {
  readonly column: string;
  /** datetime columns are always skipped: a time stamp's distribution moves by construction. */
  readonly type: 'numerical' | 'categorical' | 'datetime';
  readonly method: DriftMethod | null;
  readonly statistic: number | null;
  readonly p_value: number | null;
  readonly threshold: number | null;
  readonly drifted: boolean;
  readonly status: 'ok' | 'skipped';
  readonly reason?: string;
  /** ≥ 1 means drifted: statistic / threshold for distances, threshold / p for tests. Sorts the table. */
  readonly score: number;
  readonly reference_count: number;
  readonly current_count: number;
  readonly reference_missing: number;
  readonly current_missing: number;
  /** Categories present in the current data only. */
  readonly unseen_categories?: readonly string[];
  readonly histogram?: ColumnHistogram;
}

export interface DriftReport {
  readonly dataset_drift: boolean;
  readonly drift_share: number;
  readonly drifted_columns: number;
  /** Columns that were compared (status ok). */
  readonly compared_columns: number;
  readonly share_threshold: number;
  readonly reference_rows: number;
  readonly current_rows: number;
  readonly columns: readonly ColumnDrift[];
}

export interface DriftInput {
  readonly reference: ReadonlyMap<string, ColumnSample>;
  readonly current: ReadonlyMap<string, ColumnSample>;
  readonly referenceRows: number;
  readonly currentRows: number;
  /** Only these columns (default: every column of the reference, then current-only ones reported skipped). */
  readonly columns?: readonly string[];
}

/** Compares every column and decides dataset drift. Pure: the same input gives the same report. */
export function computeDriftReport(input: DriftInput, options: DriftOptions = {}): DriftReport {
  const names = input.columns ?? [...new Set([...input.reference.keys(), ...input.current.keys()])];
  const columns = names.map((name) => columnDrift(name, input.reference.get(name), input.current.get(name), input.referenceRows, options));
  return driftReportOf(columns, input.referenceRows, input.currentRows, options);
}

/** The report of columns compared one by one (columnDrift), in the order of their names: dataset drift decided, the table sorted. */
export function driftReportOf(columns: ColumnDrift[], referenceRows: number, currentRows: number, options: DriftOptions = {}): DriftReport {
  const compared = columns.filter((c) => c.status === 'ok');
  const drifted = compared.filter((c) => c.drifted).length;
  const share = compared.length === 0 ? 0 : drifted / compared.length;
  const shareThreshold = options.driftShare ?? 0.5;
  columns.sort((a, b) => (a.status === b.status ? b.score - a.score : a.status === 'ok' ? -1 : 1));
  return {
    dataset_drift: compared.length > 0 && share >= shareThreshold,
    drift_share: share,
    drifted_columns: drifted,
    compared_columns: compared.length,
    share_threshold: shareThreshold,
    reference_rows: referenceRows,
    current_rows: currentRows,
    columns,
  };
}

function skipped(column: string, type: ColumnDrift['type'], reason: string, reference?: ColumnSample, current?: ColumnSample): ColumnDrift {
  return {
    column,
    type,
    method: null,
    statistic: null,
    p_value: null,
    threshold: null,
    drifted: false,
    status: 'skipped',
    reason,
    score: 0,
    reference_count: reference ? valueCount(reference) : 0,
    current_count: current ? valueCount(current) : 0,
    reference_missing: reference?.missing ?? 0,
    current_missing: current?.missing ?? 0,
  };
}

function valueCount(sample: ColumnSample): number {
  switch (sample.kind) {
    case 'numeric':
      return sample.counted ? sample.counted.total : sample.table ? sample.table.total : sample.scaled ? sample.scaled.values.length : sample.sorted.length;
    case 'categorical':
      return sumOf(sample.counts.values());
    case 'histogram':
      return sumOf(sample.counts);
    case 'unusable':
      return 0;
  }
}

function sumOf(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** One column compared (a sample missing on a side: the column is reported skipped). */
export function columnDrift(
  name: string,
  reference: ColumnSample | undefined,
  current: ColumnSample | undefined,
  referenceRows: number,
  options: DriftOptions,
  tables?: WassersteinTables,
): ColumnDrift {
  const guessType = (s: ColumnSample | undefined): ColumnDrift['type'] =>
    s?.kind === 'categorical' ? 'categorical' : s?.kind === 'unusable' && s.datetime ? 'datetime' : 'numerical';
  const type = [reference, current].some((s) => guessType(s) === 'datetime') ? 'datetime' : guessType(reference ?? current);
  if (!reference) return skipped(name, type, 'not in the reference data', reference, current);
  if (!current) return skipped(name, type, 'not in the current data', reference, current);
  if (reference.kind === 'unusable') return skipped(name, type, `reference: ${reference.reason}`, reference, current);
  if (current.kind === 'unusable') return skipped(name, type, `current: ${current.reason}`, reference, current);
  const refCount = valueCount(reference);
  const curCount = valueCount(current);
  if (refCount === 0) return skipped(name, type, 'the reference has no values in this column (all missing)', reference, current);
  if (curCount === 0) return skipped(name, type, 'the current data has no values in this column (all missing)', reference, current);
  const refIsText = reference.kind === 'categorical';
  const curIsText = current.kind === 'categorical';
  if (refIsText !== curIsText) {
    return skipped(
      name,
      type,
      `type differs: ${refIsText ? 'text' : 'numbers'} in the reference, ${curIsText ? 'text' : 'numbers'} in the current data`,
      reference,
      current,
    );
  }
  if (reference.kind === 'numeric') assertFiniteEnds(name, 'reference', reference);
  if (current.kind === 'numeric') assertFiniteEnds(name, 'current data', current);
  const limit = options.categoricalMaxDistinct ?? 5;
  if (reference.kind === 'categorical' && current.kind === 'categorical') {
    return categoricalDrift(name, 'categorical', reference.counts, current.counts, referenceRows, options, reference, current);
  }
  if (reference.kind === 'categorical' || current.kind !== 'numeric')
    return skipped(name, type, 'the current data must hold values, not a histogram', reference, current);
  if (reference.kind === 'numeric') {
    const distinct = distinctOfSample(current, limit, distinctOfSample(reference, limit));
    if (distinct.size <= limit && !options.columnMethods?.[name] && (options.method ?? 'auto') === 'auto') {
      return categoricalDrift(name, 'numerical', countsOfSorted(reference.sorted), countsOfSorted(current.sorted), referenceRows, options, reference, current);
    }
  }
  return numericDrift(name, reference, current, referenceRows, options, tables);
}

/**
 * A numeric sample is ascending and finite: the readers count NaN and the infinities as missing. A sort puts NaN last
 * and the infinities at the ends, so the two ends show a sample that is not; such a sample (a bug upstream) stops the
 * check with the column's name instead of a statistic that never ends or is made up from ∞ − ∞.
 */
function assertFiniteEnds(column: string, side: string, sample: Extract<ColumnSample, { kind: 'numeric' }>): void {
  // a counted sample's distinct values are ascending too (the same ends): reading `sorted` would expand it, ~10 ms and
  // 8 bytes a row of a check against a stored profile that never needs it (issue 16)
  if (sample.table || sample.scaled) return; // integers: finite
  const sorted = sample.counted ? sample.counted.values : sample.sorted;
  const n = sorted.length;
  if (n > 0 && !(Number.isFinite(sorted[0]) && Number.isFinite(sorted[n - 1])))
    throw new DriftInputError(
      `column "${column}": the ${side}'s values hold NaN or an infinity (${sorted[0]} … ${sorted[n - 1]}); drift statistics need finite numbers`,
    );
}

function thresholdFor(method: DriftMethod, options: DriftOptions): number {
  return options.threshold ?? options.thresholds?.[method] ?? DEFAULT_THRESHOLDS[method];
}

function verdict(method: DriftMethod, statistic: number, pValue: number | null, threshold: number): { drifted: boolean; score: number } {
  if (P_VALUE_METHODS.has(method)) {
    const p = pValue ?? 1;
    return { drifted: p < threshold, score: threshold / Math.max(p, Number.MIN_VALUE) };
  }
  return { drifted: statistic >= threshold, score: threshold > 0 ? statistic / threshold : statistic > 0 ? Infinity : 0 };
}

function numericDrift(
  name: string,
  reference: Extract<ColumnSample, { kind: 'numeric' | 'histogram' }>,
  current: Extract<ColumnSample, { kind: 'numeric' }>,
  referenceRows: number,
  options: DriftOptions,
  tables: WassersteinTables | undefined,
): ColumnDrift {
  // a histogram reference (a stored profile) only allows the binned distances
  const auto = reference.kind === 'histogram' ? 'jensenshannon' : referenceRows <= (options.smallReferenceRows ?? 1000) ? 'ks' : 'wasserstein';
  const method: DriftMethod = options.columnMethods?.[name] ?? (options.method && options.method !== 'auto' ? options.method : auto);
  const base = {
    column: name,
    type: 'numerical' as const,
    reference_count: valueCount(reference),
    current_count: valueCount(current),
    reference_missing: reference.missing,
    current_missing: current.missing,
  };
  if (method === 'chisquare') {
    return {
      ...categoricalDrift(
        name,
        'numerical',
        sampleCounts(reference),
        countsOfSorted(current.sorted),
        referenceRows,
        { ...options, columnMethods: { [name]: 'chisquare' } },
        reference,
        current,
      ),
    };
  }
  if (reference.kind === 'histogram' && (method === 'ks' || method === 'wasserstein')) {
    return skipped(name, 'numerical', `${method} needs the reference values; the reference is a histogram (use psi or jensenshannon)`, reference, current);
  }
  const threshold = thresholdFor(method, options);
  let statistic: number;
  let pValue: number | null = null;
  const jsEdges = reference.kind === 'histogram' ? [...reference.edges] : edgesOf(options.jsBinning ?? DEFAULT_JS_BINNING, reference, current);
  let edges = jsEdges;
  if (method === 'ks' && reference.kind === 'numeric') {
    const ks = namingColumn(name, () => ksTwoSample(reference.sorted, current.sorted));
    statistic = ks.statistic;
    pValue = ks.pValue;
  } else if (method === 'wasserstein' && reference.kind === 'numeric') {
    statistic = namingColumn(name, () => wassersteinOf(reference, current, tables)) / Math.max(referenceStd(reference), options.stdFloor ?? 0.001);
  } else if (method === 'psi') {
    edges = reference.kind === 'histogram' ? [...reference.edges] : edgesOf(options.psiBinning ?? DEFAULT_PSI_BINNING, reference, current);
    statistic = populationStabilityIndex(referenceBinCounts(reference, edges), sampleBinCounts(current, edges));
  } else {
    statistic = jensenShannonDistance(referenceBinCounts(reference, jsEdges), sampleBinCounts(current, jsEdges));
  }
  const histogram: ColumnHistogram = {
    edges,
    reference: proportions(referenceBinCounts(reference, edges)),
    current: proportions(sampleBinCounts(current, edges)),
  };
  return { ...base, method, statistic, p_value: pValue, threshold, status: 'ok', ...verdict(method, statistic, pValue, threshold), histogram };
}

/** A statistic's RangeError (a NaN inside a sample) as the check's error, with the column's name. */
function namingColumn<T>(column: string, statistic: () => T): T {
  try {
    return statistic();
  } catch (error) {
    if (error instanceof RangeError) throw new DriftInputError(`column "${column}": ${error.message}`);
    throw error;
  }
}

/**
 * binEdges of two numeric samples: of the current side it reads the ends alone, and of the reference too for
 * equal-width bins and given edges, so these are passed as ends (sampleEnds) and `sorted` is not made for them.
 */
function edgesOf(binning: Binning, reference: Extract<ColumnSample, { kind: 'numeric' }>, current: Extract<ColumnSample, { kind: 'numeric' }>): number[] {
  const endsOnly = binning.kind === 'width' || binning.kind === 'edges';
  return binEdges(binning, endsOnly ? sampleEnds(reference) : reference.sorted, sampleEnds(current));
}

/** A numeric sample's first and last value (what binEdges reads of a side), from the scaled integers or table when it has them. */
function sampleEnds(current: Extract<ColumnSample, { kind: 'numeric' }>): Float64Array {
  const table = current.table;
  if (table) {
    const power = SCALES[table.scale]!;
    const first = table.min === 0 && table.negativeZeros > 0 ? -0 : table.min / power;
    return Float64Array.of(first, (table.min + table.counts.length - 1) / power);
  }
  const scaled = current.scaled;
  if (!scaled) return current.sorted;
  const { values, negativeZeros } = scaled;
  const power = SCALES[scaled.scale]!;
  const first = values[0]! === 0 && negativeZeros > 0 ? -0 : values[0]! / power;
  return Float64Array.of(first, values[values.length - 1]! / power);
}

/**
 * Wasserstein-1 of two numeric samples: merged as integers, exactly, when both have scaled integers (at one scale: the
 * coarser side's moved to the finer one's when it fits) and the window is dense, where the merge walks every value
 * anyway; else against the prepared reference (a small window: its stretches summed from prefix sums).
 */
function wassersteinOf(
  reference: Extract<ColumnSample, { kind: 'numeric' }>,
  current: Extract<ColumnSample, { kind: 'numeric' }>,
  tables: WassersteinTables | undefined,
): number {
  const u = reference.scaled;
  if (u && tables) {
    const fast = tables.distance(u, current);
    if (fast !== undefined) return fast;
  }
  const v = current.scaled;
  if (u && v && u.values.length <= DENSE_WINDOW * v.values.length) {
    const scale = Math.max(u.scale, v.scale);
    const a = atScale(u, scale);
    const b = atScale(v, scale);
    const exact = a && b ? wasserstein1Scaled(a, b, SCALES[scale]!) : undefined;
    if (exact !== undefined) return exact;
  }
  return wasserstein1Against(preparedReference(reference.sorted), current.sorted);
}

/**
 * The reference tables of a windowed check's comparison (ScaledReferenceTable), one feature at a time: made when its
 * whole column, counted by value, is compared — over the span of that column and the reference, which holds every
 * window's — then read by each of its windows; forget() before the next feature (the table's memory is reused).
 * distance() gives what wassersteinOf's integer merge gives, to the bit, or undefined where it cannot.
 */
export class WassersteinTables {
  private reference: ScaledNumbers | undefined;
  private table: ScaledReferenceTable | undefined;
  private readonly buffers: { prefix?: Float64Array; below?: Int32Array } = {};

  distance(u: ScaledNumbers, current: Extract<ColumnSample, { kind: 'numeric' }>): number | undefined {
    const table = current.table;
    if (table) return this.whole(u, table);
    if (u !== this.reference || !this.table) return undefined;
    const v = current.scaled;
    const nv = v ? v.values.length : 0;
    // the merge's own conditions (wassersteinOf): a dense window, at the reference table's scale
    if (!v || nv === 0 || u.values.length > DENSE_WINDOW * nv || Math.max(u.scale, v.scale) !== this.scale) return undefined;
    if (!this.table.covers(v.values[0]!, v.values[nv - 1]!, nv)) return undefined;
    return this.table.window(v.values, SCALES[this.scale]!);
  }

  forget(): void {
    this.reference = undefined;
    this.table = undefined;
  }

  private scale = 0;

  private whole(u: ScaledNumbers, current: ScaledTable): number | undefined {
    this.forget();
    const nv = current.total;
    if (u.values.length > DENSE_WINDOW * nv || u.scale > current.scale) return undefined;
    const values = atScale(u, current.scale);
    if (!values || values.length === 0) return undefined;
    const last = current.min + current.counts.length - 1;
    const lo = Math.min(values[0]!, current.min);
    const hi = Math.max(values[values.length - 1]!, last);
    // a table no wider than about both sides' values (an outlier far away: the merge)
    if (hi - lo >= 2 * (values.length + nv)) return undefined;
    if (!(this.buffers.prefix && this.buffers.prefix.length > values.length)) this.buffers.prefix = new Float64Array(values.length + 1);
    if (!(this.buffers.below && this.buffers.below.length > hi - lo)) this.buffers.below = new Int32Array(hi - lo + 1);
    const table = ScaledReferenceTable.build(values, lo, hi, this.buffers);
    if (!table || !table.covers(current.min, last, nv)) return undefined;
    this.reference = u;
    this.table = table;
    this.scale = current.scale;
    return table.counted(current.counts, current.min, nv, SCALES[current.scale]!);
  }
}

/** A sample's integers at a finer scale, made once per sample and scale (a reference meets every window at one scale). */
const rescaledSamples = new WeakMap<ScaledNumbers, { scale: number; values: Int32Array | undefined }>();
function atScale(scaled: ScaledNumbers, scale: number): Int32Array | undefined {
  if (scaled.scale === scale) return scaled.values;
  const known = rescaledSamples.get(scaled);
  if (known?.scale === scale) return known.values;
  const values = valuesAtScale(scaled, scale);
  rescaledSamples.set(scaled, { scale, values });
  return values;
}

/** The reference prepared for Wasserstein distances, once per sample: a windowed check compares it with every window. */
const preparedReferences = new WeakMap<Float64Array, WassersteinReference>();
function preparedReference(sorted: Float64Array): WassersteinReference {
  let prepared = preparedReferences.get(sorted);
  if (prepared === undefined) preparedReferences.set(sorted, (prepared = new WassersteinReference(sorted)));
  return prepared;
}

/**
 * The reference's std, once per sample: a windowed check compares the same reference with every window. From its
 * scaled integers when it has them: `sorted` is then not made for it.
 */
const stdOfReference = new WeakMap<object, number>();
function referenceStd(reference: Extract<ColumnSample, { kind: 'numeric' }>): number {
  const scaled = reference.scaled;
  const key = scaled ?? reference.sorted;
  let std = stdOfReference.get(key);
  if (std === undefined) stdOfReference.set(key, (std = scaled ? populationStd(scaled.values, SCALES[scaled.scale]!) : populationStd(reference.sorted)));
  return std;
}

/** binCounts of a numeric sample, from its counted form when it has one (the same counts, without expanding it). */
function sampleBinCounts(sample: Extract<ColumnSample, { kind: 'numeric' }>, edges: readonly number[]): number[] {
  if (sample.table) return tableBinCounts(sample.table, edges);
  if (sample.counted) return countedBinCounts(sample.counted.values, sample.counted.counts, sample.counted.total, edges);
  if (sample.scaled) return binCounts(sample.scaled.values, edges, SCALES[sample.scaled.scale]!);
  return binCounts(sample.sorted, edges);
}

/**
 * binCounts of a table's integers: below each inner edge, the integers m with m / power < edge (the same test
 * binCounts' bisection makes on the laid-out integers), summed from the counts.
 */
function tableBinCounts(table: ScaledTable, edges: readonly number[]): number[] {
  const { counts, min, total } = table;
  const power = SCALES[table.scale]!;
  const bins = Math.max(1, edges.length - 1);
  const out = new Array<number>(bins).fill(0);
  let k = 0; // counts[0..k) summed into below
  let below = 0;
  let start = 0;
  for (let b = 0; b < bins - 1; b++) {
    const lo = firstNotBelow(min, power, edges[b + 1]!, k, counts.length);
    below += countsIn(counts, k, lo);
    k = Math.max(k, lo);
    const end = Math.max(start, below);
    out[b] = end - start;
    start = end;
  }
  out[bins - 1] = total - start;
  return out;
}

/**
 * The first offset in lo..hi whose integer (min + offset) / power is not below the edge (bisection: the test is
 * monotone). This and countsIn are functions of their own: as tableBinCounts' inner loops, V8 compiled them on the stack
 * (OSR) and threw that code away at each loop's exit, edge after edge.
 */
function firstNotBelow(min: number, power: number, edge: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((min + mid) / power < edge) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** counts[from..to) summed (0 when to ≤ from). */
function countsIn(counts: Int32Array, from: number, to: number): number {
  let sum = 0;
  for (let k = from; k < to; k++) sum += counts[k]!;
  return sum;
}

function referenceBinCounts(reference: Extract<ColumnSample, { kind: 'numeric' | 'histogram' }>, edges: readonly number[]): number[] {
  return reference.kind === 'histogram' ? [...reference.counts] : sampleBinCounts(reference, edges);
}

function sampleCounts(sample: Extract<ColumnSample, { kind: 'numeric' | 'histogram' }>): Map<string, number> {
  if (sample.kind === 'numeric') return countsOfSorted(sample.sorted);
  return new Map(sample.counts.map((c, i) => [`[${sample.edges[i]}, ${sample.edges[i + 1]})`, c]));
}

function categoricalDrift(
  name: string,
  type: ColumnDrift['type'],
  referenceCounts: ReadonlyMap<string, number>,
  currentCounts: ReadonlyMap<string, number>,
  referenceRows: number,
  options: DriftOptions,
  reference: ColumnSample,
  current: ColumnSample,
): ColumnDrift {
  const auto = referenceRows <= (options.smallReferenceRows ?? 1000) ? 'chisquare' : 'jensenshannon';
  const chosen = options.columnMethods?.[name] ?? (options.method && options.method !== 'auto' ? options.method : auto);
  if (chosen === 'ks' || chosen === 'wasserstein') {
    if (type === 'categorical')
      return skipped(name, type, `${chosen} needs numbers; this column holds text (use chisquare, psi or jensenshannon)`, reference, current);
  }
  const method: DriftMethod = chosen === 'ks' || chosen === 'wasserstein' ? auto : chosen;
  const categories = [...new Set([...referenceCounts.keys(), ...currentCounts.keys()])].sort(
    (a, b) => (referenceCounts.get(b) ?? 0) - (referenceCounts.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0),
  );
  const ref = categories.map((c) => referenceCounts.get(c) ?? 0);
  const cur = categories.map((c) => currentCounts.get(c) ?? 0);
  const threshold = thresholdFor(method, options);
  let statistic: number;
  let pValue: number | null = null;
  if (method === 'chisquare') {
    const chi = chiSquareContingency(ref, cur);
    statistic = chi.statistic;
    pValue = chi.dof === 0 ? 1 : chiSquareSf(chi.statistic, chi.dof);
  } else if (method === 'psi') {
    statistic = populationStabilityIndex(ref, cur);
  } else {
    statistic = jensenShannonDistance(ref, cur);
  }
  const unseen = categories.filter((c) => !referenceCounts.has(c));
  return {
    column: name,
    type,
    method,
    statistic,
    p_value: pValue,
    threshold,
    status: 'ok',
    ...verdict(method, statistic, pValue, threshold),
    reference_count: sumOf(ref),
    current_count: sumOf(cur),
    reference_missing: reference.missing,
    current_missing: current.missing,
    ...(unseen.length > 0 ? { unseen_categories: unseen } : {}),
    histogram: { categories, reference: proportions(ref), current: proportions(cur) },
  };
}
