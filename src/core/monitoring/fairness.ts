import type { Bound, FairnessMetric, FairnessThresholds } from './configSchema';
import { FAIRNESS_METRICS, GROUP_METRICS } from './configSchema';
import { MonitoringInputError, ValueCodes, type LabelledPredictions } from './labels';
import type { CellValue } from '../datasets/readers';
import { boundBroken, classKeys, codedKeys, DEFAULT_MIN_ROWS, windowIndices, type MonitoringAlert } from './performance';
import { proportion, type Estimate } from './statistics';

/** One group of one sensitive column. Rates with nothing to divide are 0 with an interval [0, 1], as fairlearn counts them. */
export interface GroupMetrics {
  readonly group: string;
  readonly n: number;
  readonly selection_rate: Estimate;
  readonly true_positive_rate: Estimate;
  readonly false_positive_rate: Estimate;
  readonly accuracy: Estimate;
}

export interface ColumnFairness {
  readonly column: string;
  readonly groups: readonly GroupMetrics[];
  readonly demographic_parity_difference: number;
  /** null when every group's selection rate is 0. */
  readonly demographic_parity_ratio: number | null;
  readonly equalized_odds_difference: number;
}

export interface FairnessReport {
  readonly positive_class: string;
  readonly n: number;
  readonly min_rows: number;
  /** Over every labelled prediction. */
  readonly columns: readonly ColumnFairness[];
  /** Per window of the predictions log (one, 'all', without windows); alerts are judged here. */
  readonly windows: readonly WindowFairness[];
  readonly notes: readonly string[];
  readonly alerts: readonly MonitoringAlert[];
  /** The bounds it was judged against (`fairness:` of mloop.yaml), so a teammate reading the report sees them; absent: none set. */
  readonly thresholds?: FairnessThresholds;
}

export interface FairnessOptions {
  readonly positiveClass?: string | number;
  readonly thresholds?: FairnessThresholds;
  /** A window (and a group in it) with fewer labelled rows is not judged (default 30). */
  readonly minRows?: number;
}

/** The class counted as selected: positive_class, else 1 / true for binary 0/1 or true/false labels. */
export function positiveClass(
  joined: LabelledPredictions,
  configured?: string | number,
  keys?: { readonly truth: readonly string[]; readonly predicted: readonly string[] },
): string {
  if (configured !== undefined) return String(configured);
  // the classes of the labels, then of the predictions (the order of a Set over both lists one after the other)
  const classes = new Set(keys?.truth ?? classKeys(joined.truth));
  for (const c of keys?.predicted ?? classKeys(joined.predicted)) classes.add(c);
  if ([...classes].every((c) => c === '0' || c === '1')) return '1';
  if ([...classes].every((c) => c === 'false' || c === 'true')) return 'true';
  throw new MonitoringInputError(
    `groups: the labels are not 0/1 or true/false (classes: ${[...classes].sort().slice(0, 10).join(', ')}): set positive_class to the class counted as selected`,
  );
}

/** The fairness of one window: every group column's groups and disparities over the window's labelled predictions. */
export interface WindowFairness {
  /** YYYY-MM-DD, or 'all' without windows. */
  readonly start: string;
  readonly n: number;
  /** not_enough_data: fewer labelled rows than min_rows (no alert). */
  readonly status: 'ok' | 'not_enough_data';
  readonly columns: readonly ColumnFairness[];
}

/**
 * Per sensitive column (each on its own, not their intersections): selection rate, TPR, FPR and accuracy per group
 * with Wilson intervals, and the disparities fairlearn defines (between groups: max − min, min / max; equalized odds
 * = the larger of the TPR and FPR differences) — over every labelled prediction (`columns`) and per window
 * (`windows`). Thresholds are judged per window with at least `minRows` labelled rows: the disparities of a column,
 * and the per-group rates of each group with at least `minRows` rows there.
 */
export function computeFairness(joined: LabelledPredictions, options: FairnessOptions = {}): FairnessReport {
  const { truth, predicted, truthKeys, predictedKeys, keys } = classCodes(joined);
  const positive = positiveClass(joined, options.positiveClass, { truth: truthKeys, predicted: predictedKeys });
  const notes: string[] = [];
  if (!truthKeys.includes(positive) && !predictedKeys.includes(positive)) notes.push(`positive_class "${positive}" occurs in no label and no prediction`);
  const n = truth.codes.length;
  // per code of a row's label and of its prediction: its class key's index
  const positiveKey = keys.indexOf(positive);
  const truthKey = truth.keyIndex;
  const predictedKey = predicted.keyIndex;
  const groups = groupCodes(joined);
  const { codes: windowOf, names: windowNames } = windowIndices(joined);
  // every window's count of each group's rows by outcome, in one pass over the rows (counts: summed in any order, the same)
  const tallies = groups.map((g) => new Float64Array(windowNames.length * g.values.length * 8));
  const rowsIn = new Float64Array(windowNames.length);
  for (let i = 0; i < n; i++) {
    const t = truthKey[truth.codes[i]!]!;
    const p = predictedKey[predicted.codes[i]!]!;
    // 1 its label is the positive class, 2 its prediction is, 4 both are the same class
    const outcome = (t === positiveKey ? 1 : 0) | (p === positiveKey ? 2 : 0) | (t === p ? 4 : 0);
    const w = windowOf[i]!;
    rowsIn[w]!++;
    for (let k = 0; k < groups.length; k++) tallies[k]![(w * groups[k]!.values.length + groups[k]!.codes[i]!) * 8 + outcome]!++;
  }
  const tallyOf = (k: number, w: number): Float64Array => {
    const size = groups[k]!.values.length * 8;
    return tallies[k]!.subarray(w * size, (w + 1) * size);
  };
  const overall = groups.map((g, k) => {
    const sum = new Float64Array(g.values.length * 8);
    for (let w = 0; w < windowNames.length; w++) {
      const tally = tallyOf(k, w);
      for (let j = 0; j < sum.length; j++) sum[j]! += tally[j]!;
    }
    return sum;
  });
  const columns = columnsOver(groups, overall, notes);
  const minRows = options.minRows ?? DEFAULT_MIN_ROWS;
  const windowCode = new Map(windowNames.map((name, w) => [name, w]));
  const starts = [...new Set([...joined.windows, ...windowNames.filter((_, w) => rowsIn[w]! > 0)])].sort();
  const alerts: MonitoringAlert[] = [];
  const windows = starts.map((start): WindowFairness => {
    const w = windowCode.get(start);
    const rows = w === undefined ? 0 : rowsIn[w]!;
    const status = rows >= minRows ? 'ok' : 'not_enough_data';
    const windowColumns =
      rows === n
        ? columns
        : columnsOver(
            groups,
            groups.map((_, k) => (w === undefined ? new Float64Array(groups[k]!.values.length * 8) : tallyOf(k, w))),
            [],
          );
    if (status === 'ok') alerts.push(...fairnessAlerts(windowColumns, start, minRows, options.thresholds));
    return { start, n: rows, status, columns: windowColumns };
  });
  return {
    positive_class: positive,
    n,
    min_rows: minRows,
    columns,
    windows,
    notes,
    alerts,
    ...(options.thresholds && Object.keys(options.thresholds).length ? { thresholds: options.thresholds } : {}),
  };
}

/** A row's label or prediction: a code per row, and each code's index into the class keys. */
interface ClassColumn {
  readonly codes: Int32Array;
  readonly keyIndex: Int32Array;
}

/**
 * Each row's label and prediction as codes whose `keyIndex` is an index into `keys` (their class keys: a label and a
 * prediction of one class have the same index), and the distinct keys of each in order of first appearance. A coded
 * join's own codes (a few distinct cells), so no per-row array of indices is made.
 */
function classCodes(joined: LabelledPredictions): { truth: ClassColumn; predicted: ClassColumn; truthKeys: string[]; predictedKeys: string[]; keys: string[] } {
  const book = new ValueCodes<string>();
  const keyIndex = (key: string): number => book.code(key);
  const coded = joined.coded;
  const column = (codes: Int32Array, values: readonly CellValue[]): { column: ClassColumn; distinct: string[] } => {
    const { keys: distinct, keyOf } = codedKeys(codes, values);
    return { column: { codes, keyIndex: Int32Array.from(keyOf, keyIndex) }, distinct };
  };
  const uncoded = (cells: readonly CellValue[]): { column: ClassColumn; distinct: string[] } => {
    const strings = classKeys(cells);
    const indices = Int32Array.from(strings, keyIndex);
    return { column: { codes: indices, keyIndex: Int32Array.from(book.values, (_, k) => k) }, distinct: [...new Set(strings)] };
  };
  const truth = coded ? column(coded.truth, coded.truthValues) : uncoded(joined.truth);
  const predicted = coded ? column(coded.predicted, coded.predictedValues) : uncoded(joined.predicted);
  return { truth: truth.column, predicted: predicted.column, truthKeys: truth.distinct, predictedKeys: predicted.distinct, keys: book.values };
}

/** Each group column's values as codes (a coded join's own, else its strings numbered). */
function groupCodes(joined: LabelledPredictions): { column: string; codes: Int32Array; values: readonly string[] }[] {
  const coded = joined.coded;
  return (coded ? coded.groupNames : [...joined.groups.keys()]).map((column, k) => {
    if (coded) return { column, ...coded.groups[k]! };
    const book = new ValueCodes<string>();
    const codes = Int32Array.from(joined.groups.get(column)!, (v) => book.code(v));
    return { column, codes, values: book.values };
  });
}

/** Each group column's groups and disparities from its tally: per group code, its rows counted by outcome (tally[code * 8 + outcome]). */
function columnsOver(
  groupColumns: readonly { column: string; codes: Int32Array; values: readonly string[] }[],
  tallies: readonly Float64Array[],
  notes: string[],
): ColumnFairness[] {
  const columns: ColumnFairness[] = [];
  for (const [k, { column, values }] of groupColumns.entries()) {
    const tally = tallies[k]!;
    const groups = values
      .map((group, g) => ({ group, g }))
      .filter(({ g }) => tally.subarray(g * 8, g * 8 + 8).some((x) => x > 0))
      .sort(({ group: a }, { group: b }) => (a < b ? -1 : a > b ? 1 : 0))
      .map(({ group, g }): GroupMetrics => {
        const count = (test: (o: number) => boolean): number => {
          let sum = 0;
          for (let o = 0; o < 8; o++) if (test(o)) sum += tally[g * 8 + o]!;
          return sum;
        };
        const t = {
          n: count(() => true),
          selected: count((o) => (o & 2) !== 0),
          correct: count((o) => (o & 4) !== 0),
          positives: count((o) => (o & 1) !== 0),
          truePositives: count((o) => (o & 3) === 3),
          negatives: count((o) => (o & 1) === 0),
          falsePositives: count((o) => (o & 3) === 2),
        };
        if (t.positives === 0) notes.push(`${column} = ${group}: no positive label, its TPR counts as 0 (as fairlearn)`);
        if (t.negatives === 0) notes.push(`${column} = ${group}: no negative label, its FPR counts as 0 (as fairlearn)`);
        return {
          group,
          n: t.n,
          selection_rate: proportion(t.selected, t.n),
          true_positive_rate: zeroWhenEmpty(proportion(t.truePositives, t.positives)),
          false_positive_rate: zeroWhenEmpty(proportion(t.falsePositives, t.negatives)),
          accuracy: proportion(t.correct, t.n),
        };
      });
    if (groups.length === 0) continue;
    const spread = (pick: (g: GroupMetrics) => number): { min: number; max: number } => {
      const xs = groups.map(pick);
      return { min: Math.min(...xs), max: Math.max(...xs) };
    };
    const selection = spread((g) => g.selection_rate.value);
    const tpr = spread((g) => g.true_positive_rate.value);
    const fpr = spread((g) => g.false_positive_rate.value);
    columns.push({
      column,
      groups,
      demographic_parity_difference: selection.max - selection.min,
      demographic_parity_ratio: selection.max === 0 ? null : selection.min / selection.max,
      equalized_odds_difference: Math.max(tpr.max - tpr.min, fpr.max - fpr.min),
    });
  }
  return columns;
}

/** The disparities of each column, then the rates of each group large enough to judge, against their bounds. */
function fairnessAlerts(columns: readonly ColumnFairness[], start: string, minRows: number, thresholds: FairnessThresholds | undefined): MonitoringAlert[] {
  if (!thresholds) return [];
  const where = start === 'all' ? '' : ` in window ${start}`;
  const window = start === 'all' ? {} : { window: start };
  const alerts: MonitoringAlert[] = [];
  for (const c of columns) {
    for (const metric of FAIRNESS_METRICS) {
      const bound: Bound | undefined = thresholds[metric as FairnessMetric];
      const value = c[metric];
      if (!bound || value === null) continue;
      const broken = boundBroken(value, bound);
      if (broken)
        alerts.push({
          check: 'fairness',
          metric,
          ...window,
          column: c.column,
          value,
          message: `${metric} across ${c.column}${where} (${c.groups.map((g) => `${g.group}: selection ${g.selection_rate.value.toFixed(3)}, n ${g.n}`).join('; ')}) is ${value.toFixed(3)}, ${broken}`,
        });
    }
    for (const metric of GROUP_METRICS) {
      const bound: Bound | undefined = thresholds[metric];
      if (!bound) continue;
      for (const g of c.groups) {
        const e = g[metric];
        // a group too small to judge, or a rate with nothing to divide (TPR without positives)
        if (g.n < minRows || e.n === 0) continue;
        const broken = boundBroken(e.value, bound);
        if (broken)
          alerts.push({
            check: 'fairness',
            metric,
            ...window,
            column: c.column,
            group: g.group,
            value: e.value,
            message: `${metric} of ${c.column} = ${g.group}${where} is ${e.value.toFixed(3)} [${e.lower?.toFixed(3) ?? '—'}, ${e.upper?.toFixed(3) ?? '—'}] (n = ${e.n}), ${broken}`,
          });
      }
    }
  }
  return alerts;
}

function zeroWhenEmpty(e: Estimate): Estimate {
  return e.n === 0 ? { ...e, value: 0 } : e;
}
