import { relative } from 'node:path';
import { listDatasetFiles } from '../datasets/files';
import { DatasetReadError } from '../datasets/readErrors';
import { readSchema, readTypedBatches, type CellValue, type DatasetFileFormat, type DatasetSchema } from '../datasets/readers';
import { cellAt, type TypedColumn } from '../datasets/typedCsv';
import { windowStart, type DriftWindow } from '../drift/collect';

/** Input the monitoring checks cannot use, with where: the file, the data row, the column. */
export class MonitoringInputError extends Error {
  override readonly name = 'MonitoringInputError';
}

/** Logged probabilities may be rounded when written: a row whose sum is further than this from 1 is refused. */
export const PROBABILITY_SUM_TOLERANCE = 1e-3;
/** Shown in a report: a few of the label ids that match no prediction. */
const SAMPLE_IDS = 5;
/** Integer labels below this are coded through an array instead of a Map lookup each. */
const SMALL_LABELS = 256;

export interface JoinOptions {
  /** The predictions log (file, folder or glob). */
  readonly predictions: string;
  readonly predictionsFormat?: DatasetFileFormat;
  /** The late labels (file, folder or glob): id, label[, time]. */
  readonly labels: string;
  readonly idColumn: string;
  readonly labelColumn: string;
  readonly predictionColumn: string;
  readonly probabilityPrefix: string;
  readonly timeColumn?: string;
  readonly window?: DriftWindow;
  readonly groups?: readonly string[];
  /** Paths in messages are shown relative to this folder. */
  readonly baseDir: string;
  readonly signal?: AbortSignal;
}

/** Predictions joined with the labels that arrived, in the order of the predictions log. */
export interface LabelledPredictions {
  /** Window start (YYYY-MM-DD) per joined row, or 'all' without a window. */
  readonly windowOf: string[];
  readonly truth: CellValue[];
  readonly predicted: CellValue[];
  /** Class → probability per joined row, from the `<prefix><class>` columns. */
  readonly proba: ReadonlyMap<string, number[]>;
  /** Group column → its value per joined row ('(missing)' for an empty cell). */
  readonly groups: ReadonlyMap<string, string[]>;
  readonly counts: {
    readonly predictions: number;
    readonly labels: number;
    readonly joined: number;
    /** Predictions whose label has not arrived (yet). */
    readonly unlabelled: number;
    /** Labels whose id was never predicted: counted and reported, not used. */
    readonly unmatchedLabels: number;
    /** Joined rows without a usable time, left out of the windows. */
    readonly withoutTime: number;
  };
  readonly unmatchedSample: string[];
  /** Every window of the predictions log, labelled or not (an unlabelled one is "not enough data"). */
  readonly windows: string[];
  /** Set when the labels file (or glob) does not exist yet: what to tell the user. */
  readonly labelsMissing?: string;
  /** The same rows as codes, when joinLabels made them (performance and groups read these; the arrays above are made only when read). */
  readonly coded?: CodedLabelled;
}

/**
 * Joined rows as typed columns: each column of cells as codes into its distinct values (a million labelled rows are
 * a few distinct classes, groups and windows), the probabilities as they were read. Row j here is row j of the arrays.
 */
export interface CodedLabelled {
  /** Per row, its window: an index into `windowNames`. */
  readonly windows: Int32Array;
  readonly windowNames: readonly string[];
  /** Per row, its label: an index into `truthValues` (distinct cells, as a Map tells them apart; a value may be no row's). */
  readonly truth: Int32Array;
  readonly truthValues: readonly CellValue[];
  /** Per row, its prediction: an index into `predictedValues` (distinct cells; a value may be no row's). */
  readonly predicted: Int32Array;
  readonly predictedValues: readonly CellValue[];
  /** The classes of the probability columns (the keys of `proba`, in its order) and each one's probabilities. */
  readonly probaClasses: readonly string[];
  readonly proba: readonly Float64Array[];
  /** The group columns (the keys of `groups`, in its order) and each one's values as codes (one string per distinct value). */
  readonly groupNames: readonly string[];
  readonly groups: readonly CodedColumn[];
}

/** Where a row is, for a message: "logs/p.csv data row 12". */
function at(file: string, baseDir: string, row: number): string {
  return `${relative(baseDir, file) || file} data row ${row + 1}`;
}

interface FileStart {
  readonly file: string;
  /** The row number (over all files) of its first row. */
  readonly first: number;
}

/** "logs/p.csv data row 12" for a row numbered over all files. */
function atRow(starts: readonly FileStart[], row: number, baseDir: string): string {
  const start = starts.findLast((s) => s.first <= row)!;
  return at(start.file, baseDir, row - start.first);
}

/** What a predictions log is read for: its columns (no id column: rows are numbered), and the label column when it holds the truth. */
export type PredictionLogOptions = Omit<JoinOptions, 'labels' | 'idColumn' | 'labelColumn'> & {
  readonly idColumn?: string;
  readonly labelColumn?: string;
  /** Also hands each batch (read with these columns too) to the drift check's current side: one read for every check (src/core/drift/fedSide.ts). */
  readonly feed?: LogFeed;
  /** Schemas of files read already (monitor.ts reads the log's for the drift feed): not read again. */
  readonly schemas?: ReadonlyMap<string, DatasetSchema>;
  /** Also hands each batch's checked rows to CBPE's thread (estimateThread.ts), which works on them while the read goes on. */
  readonly rowsFeed?: LogRowsFeed;
};

/** A reader of the log's rows as they are checked and coded, batch by batch (the columns as readPredictionLog returns them). */
export interface LogRowsFeed {
  /** Rows `from` … `to` - 1 are read into these columns (each at least `to` long; a column is replaced as it grows). */
  push(read: LogRowsRead, from: number, to: number): void;
}

export interface LogRowsRead {
  readonly classes: readonly string[];
  readonly proba: readonly Float64Array[];
  readonly windows: WindowCodes;
  readonly predicted: { readonly codes: Int32Array; readonly values: readonly CellValue[] };
}

/**
 * A reader of the same batches: each batch's `read` columns (in that order, typed), with the window of every row read
 * so far (its code in `names`, -1: no usable time) and the batch's first row.
 */
export interface LogFeed {
  readonly read: readonly string[];
  /** A promise when the read should wait before its next batch (the feed's consumer is behind). */
  push(columns: readonly TypedColumn[], rows: number, windows: WindowCodes, firstRow: number): Promise<void> | undefined;
}

/** Windows of rows as codes: row i's window start is names[codes[i]] (a code below 0: no usable time). */
export interface WindowCodes {
  readonly codes: Int32Array;
  readonly names: readonly string[];
}

/** A column of text as codes into its values (one string per distinct value). */
export interface CodedColumn {
  readonly codes: Int32Array;
  readonly values: readonly string[];
}

/**
 * A predictions log column by column, in log order, with its probability classes and windows. Its columns are typed
 * arrays (the windows and groups as codes): on a million rows a JS array of numbers or strings costs 8 bytes a row
 * and its growth by push copies it again and again, where these cost 8 (probabilities) or 4 bytes (codes).
 */
export interface PredictionLog {
  /** Id (idKey) → row, when read with an id column. */
  readonly rowOf: { get(key: IdKey): number | undefined; readonly size: number };
  /** The prediction per row (made from predictedCodes the first time it is read). */
  readonly predicted: readonly CellValue[];
  /** The prediction per row as a code of its distinct cells (as a Map tells cells apart). */
  readonly predictedCodes: { readonly codes: Int32Array; readonly values: readonly CellValue[] };
  /** Window per row as a code of `windowOf.names` (-1: no usable time; the window 'all' without windows). */
  readonly windowOf: WindowCodes;
  /** Per class of `classes`, the logged probability of each row (length `rows`). */
  readonly proba: readonly Float64Array[];
  /** Per group column (as asked), its value per row as a code ('(missing)' for an empty cell). */
  readonly groups: readonly CodedColumn[];
  /** The label column's value per row, when read with one. */
  readonly labels?: readonly CellValue[];
  /** The classes of the `<prefix><class>` columns, in the file's order. */
  readonly classes: readonly string[];
  readonly windows: readonly string[];
  readonly rows: number;
}

/** Reads a predictions log (file, folder or glob), checking ids, probabilities and the columns it needs. */
export async function readPredictionLog(options: PredictionLogOptions): Promise<PredictionLog> {
  const predictionFiles = await listDatasetFiles(options.predictions, options.predictionsFormat);
  const rowOf = new IdIndex();
  const predictedCodes = new TypedColumns('codes');
  const predictedBook = new ValueCodes<CellValue>();
  const predictedValues = predictedBook.values;
  const predictedCode = (cell: CellValue): number => predictedBook.code(cell);
  /** The code of a small non-negative integer prediction (class numbers), -1 until it is first seen: no Map lookup a row. */
  const smallPredicted = new Int32Array(SMALL_LABELS).fill(-1);
  const windowCodes = new TypedColumns('codes');
  const windowNames: string[] = [];
  const groupsOf = (options.groups ?? []).map(() => new GroupCodes());
  const labelsOf: CellValue[] | undefined = options.labelColumn ? [] : undefined;
  let probaOf: TypedColumns[] = [];
  /** The code of each window start (a row's start is computed from its time each time). */
  const windowIndex = new Map<string, number>();
  const startOfDay = new Map<string, number>();
  /** Id → its row among all predictions (files one after the other): the first place, for a duplicate's message. */
  const fileStarts: FileStart[] = [];
  let classes: string[] | undefined;
  let predictions = 0;
  /** The code of a window start (new ones numbered in first-seen order). */
  const windowCode = (start: string): number => {
    let code = windowIndex.get(start);
    if (code === undefined) {
      windowIndex.set(start, (code = windowNames.length));
      windowNames.push(start);
    }
    return code;
  };
  /** The window (its code, -1: none) of a day's YYYY-MM-DD. */
  const windowOfDay = (day: string): number => {
    let code = startOfDay.get(day);
    if (code === undefined) {
      const window = windowStart(day, options.window!);
      code = window === undefined ? -1 : windowCode(window);
      startOfDay.set(day, code);
    }
    return code;
  };
  for (const file of predictionFiles) {
    const schema = options.schemas?.get(file) ?? (await readSchema(file, { ...(options.predictionsFormat ? { format: options.predictionsFormat } : {}) }));
    const names = new Set(schema.columns.map((c) => c.name));
    const shown = relative(options.baseDir, file) || file;
    fileStarts.push({ file, first: predictions });
    for (const [what, column] of [
      ...(options.idColumn ? [['id_column', options.idColumn]] : []),
      ['prediction', options.predictionColumn],
      ...(options.labelColumn ? [['label', options.labelColumn]] : []),
      ...(options.timeColumn && options.window ? [['time_column', options.timeColumn]] : []),
      ...(options.groups ?? []).map((g) => ['groups', g]),
    ] as [string, string][])
      if (!names.has(column)) throw new MonitoringInputError(`${shown}: no column "${column}" (${what}); its columns: ${[...names].join(', ')}`);
    const fileClasses = schema.columns
      .map((c) => c.name)
      .filter((n) => n.startsWith(options.probabilityPrefix))
      .map((n) => n.slice(options.probabilityPrefix.length));
    if (classes === undefined) {
      classes = fileClasses;
      probaOf = classes.map(() => new TypedColumns('numbers'));
    } else if (fileClasses.join('\u0000') !== classes.join('\u0000'))
      throw new MonitoringInputError(
        `${shown}: probability columns ${fileClasses.join(', ') || '(none)'} differ from the first file's (${classes.join(', ')})`,
      );
    const probaColumns = classes.map((c) => `${options.probabilityPrefix}${c}`);
    const columns = [...(options.idColumn ? [options.idColumn] : []), options.predictionColumn, ...probaColumns, ...(options.groups ?? [])];
    if (options.labelColumn) columns.push(options.labelColumn);
    if (options.timeColumn && options.window) columns.push(options.timeColumn);
    // the columns only the drift check reads come as exact decimals where they can, the form its collector holds (typedCsv.ts)
    const decimals = options.feed ? options.feed.read.filter((c) => !columns.includes(c)) : [];
    columns.push(...decimals);
    const timeColumn = options.timeColumn && options.window ? options.timeColumn : undefined;
    // the time column is read for its day alone (a window depends on the first ten characters only), unless another check reads it whole
    const timeOnly = timeColumn !== undefined && columns.indexOf(timeColumn) === columns.lastIndexOf(timeColumn);
    for await (const batch of readTypedBatches(file, {
      ...(options.predictionsFormat ? { format: options.predictionsFormat } : {}),
      columns,
      decimals,
      ...(options.idColumn ? { ids: [options.idColumn] } : {}),
      ...(timeOnly ? { prefixes: { [timeColumn]: 10 } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      const absent: TypedColumn = { kind: 'absent' };
      const column = (name: string): TypedColumn => batch.columns[name] ?? absent;
      const ids = options.idColumn ? column(options.idColumn) : undefined;
      const idNumbers = ids?.kind === 'numbers' ? ids.values : undefined;
      const predicted = column(options.predictionColumn);
      const labels = options.labelColumn ? column(options.labelColumn) : undefined;
      const times = timeColumn ? column(timeColumn) : undefined;
      const probaCells = probaColumns.map(column);
      const probaNumbers = probaCells.map((c) => (c.kind === 'numbers' ? c.values : undefined));
      const groupCells = (options.groups ?? []).map(column);
      // the window of each distinct day of the batch, found once
      const dayWindows = times?.kind === 'prefixes' ? times.dictionary.map((day) => windowOfDay(day)) : undefined;
      const all = !times && batch.rows > 0 ? windowCode('all') : -1;
      const end = predictions + batch.rows;
      const proba = probaOf.map((p) => p.reserve(end).numbers);
      const windows = windowCodes.reserve(end).codes;
      const groupCodes = groupsOf.map((g) => g.codes.reserve(end).codes);
      const predictedOut = predictedCodes.reserve(end).codes;
      // the prediction's code: of each of the batch's distinct texts found once (index 0: an empty cell), of a number by its value
      const predictedTexts = predicted.kind === 'texts' ? Int32Array.from([null, ...predicted.dictionary], predictedCode) : undefined;
      const predictedNumbers = predicted.kind === 'numbers' ? predicted.values : undefined;
      // a group column of text: the code of each of the batch's distinct texts found once (index 0: an empty cell)
      const groupTexts = groupCells.map((c, k) => (c.kind === 'texts' ? Int32Array.from([null, ...c.dictionary], (v) => groupsOf[k]!.code(v)) : undefined));
      predictions = logRows({
        rows: batch.rows,
        first: predictions,
        where: (i) => at(file, options.baseDir, batch.rowOffset + i),
        fileStarts,
        options,
        ids,
        idNumbers,
        rowOf,
        probaColumns,
        probaCells,
        probaNumbers,
        proba,
        times,
        dayWindows,
        windowOfDay,
        all,
        windows,
        predicted,
        predictedTexts,
        predictedNumbers,
        predictedOut,
        predictedCode,
        smallPredicted,
        groupCells,
        groupTexts,
        groupCodes,
        groupsOf,
        labels,
        labelsOf,
      });
      const fed = options.feed?.push(options.feed.read.map(column), batch.rows, { codes: windowCodes.codes, names: windowNames }, predictions - batch.rows);
      options.rowsFeed?.push(
        { classes, proba, windows: { codes: windows, names: windowNames }, predicted: { codes: predictedOut, values: predictedValues } },
        predictions - batch.rows,
        predictions,
      );
      if (fed) await fed;
    }
  }
  const predictedOf = { codes: predictedCodes.take(predictions).codes, values: predictedValues };
  let predictedCells: CellValue[] | undefined;
  return {
    rowOf,
    get predicted() {
      return (predictedCells ??= Array.from(predictedOf.codes, (c) => predictedValues[c]!));
    },
    predictedCodes: predictedOf,
    windowOf: { codes: windowCodes.take(predictions).codes, names: windowNames },
    proba: probaOf.map((p) => p.take(predictions).numbers),
    groups: groupsOf.map((g) => ({ codes: g.codes.take(predictions).codes, values: g.values })),
    ...(labelsOf ? { labels: labelsOf } : {}),
    classes: classes ?? [],
    windows: [...windowNames].sort(),
    rows: predictions,
  };
}

/** One batch of a predictions log as readPredictionLog reads it: its columns, and where its rows go. */
interface LogBatchRows {
  readonly rows: number;
  /** The row (over all files) of the batch's first row. */
  readonly first: number;
  /** "logs/p.csv data row 12" for the batch's row i. */
  readonly where: (i: number) => string;
  readonly fileStarts: readonly FileStart[];
  readonly options: PredictionLogOptions;
  readonly ids: TypedColumn | undefined;
  readonly idNumbers: Float64Array | undefined;
  readonly rowOf: IdIndex;
  readonly probaColumns: readonly string[];
  readonly probaCells: readonly TypedColumn[];
  readonly probaNumbers: readonly (Float64Array | undefined)[];
  readonly proba: readonly Float64Array[];
  readonly times: TypedColumn | undefined;
  readonly dayWindows: readonly number[] | undefined;
  readonly windowOfDay: (day: string) => number;
  readonly all: number;
  readonly windows: Int32Array;
  readonly predicted: TypedColumn;
  readonly predictedTexts: Int32Array | undefined;
  readonly predictedNumbers: Float64Array | undefined;
  readonly predictedOut: Int32Array;
  readonly predictedCode: (cell: CellValue) => number;
  readonly smallPredicted: Int32Array;
  readonly groupCells: readonly TypedColumn[];
  readonly groupTexts: readonly (Int32Array | undefined)[];
  readonly groupCodes: readonly Int32Array[];
  readonly groupsOf: readonly GroupCodes[];
  readonly labels: TypedColumn | undefined;
  readonly labelsOf: CellValue[] | undefined;
}

/**
 * A batch's rows checked and coded into the log's columns; returns the rows read so far. A function of its own, called
 * a batch: inside readPredictionLog's read loop V8 compiled this loop on stack replacement and threw the code away at
 * each exit from it (a batch), to compile it again.
 */
function logRows(b: LogBatchRows): number {
  const { rows, where, options, ids, idNumbers, rowOf, probaColumns, probaCells, probaNumbers, proba, times, dayWindows, all, windows } = b;
  const { predicted, predictedTexts, predictedNumbers, predictedOut, predictedCode, smallPredicted, groupCells, groupTexts, groupCodes, groupsOf } = b;
  const { labels, labelsOf } = b;
  let predictions = b.first;
  for (let i = 0; i < rows; i++) {
    if (ids) {
      const key = idAt(ids, idNumbers, i);
      if (key === undefined) throw new MonitoringInputError(`${where(i)}: empty ${options.idColumn}`);
      const earlier = rowOf.get(key);
      if (earlier !== undefined)
        throw new MonitoringInputError(
          `${where(i)}: ${options.idColumn} ${key} appears twice in the predictions (first at ${atRow(b.fileStarts, earlier, options.baseDir)})`,
        );
      rowOf.set(key, predictions);
    }
    let sum = 0;
    for (let k = 0; k < probaCells.length; k++) {
      const numbers = probaNumbers[k];
      const p = numbers ? numbers[i]! : cellAt(probaCells[k]!, i);
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1)
        throw new MonitoringInputError(`${where(i)}: ${probaColumns[k]} is ${JSON.stringify(p === p ? p : null)}, not a probability in [0, 1]`);
      sum += p;
      proba[k]![predictions] = p;
    }
    if (probaCells.length > 0 && Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE)
      throw new MonitoringInputError(
        `${where(i)}: the class probabilities (${probaColumns.join(', ')}) sum to ${sum}, not 1 (tolerance ${PROBABILITY_SUM_TOLERANCE})`,
      );
    let window = all;
    if (times) {
      if (dayWindows) {
        const code = (times as { codes: Int32Array }).codes[i]!;
        window = code < 0 ? -1 : dayWindows[code]!;
      } else {
        // a window depends on the first ten characters only: one windowStart per distinct day (as collectSide)
        const time = cellAt(times, i);
        window = typeof time === 'string' && time.length >= 10 ? b.windowOfDay(time.slice(0, 10)) : -1;
      }
    }
    windows[predictions] = window;
    if (predictedTexts) predictedOut[predictions] = predictedTexts[(predicted as { codes: Int32Array }).codes[i]! + 1]!;
    else if (predictedNumbers) {
      const v = predictedNumbers[i]!;
      let code: number;
      if (v >= 0 && v < SMALL_LABELS && Number.isInteger(v)) {
        code = smallPredicted[v]!;
        if (code < 0) code = smallPredicted[v] = predictedCode(v); // −0 shares 0's slot, as it shares its Map key
      } else code = predictedCode(v === v ? v : null);
      predictedOut[predictions] = code;
    } else predictedOut[predictions] = predictedCode(cellAt(predicted, i));
    for (let k = 0; k < groupCells.length; k++) {
      const texts = groupTexts[k];
      groupCodes[k]![predictions] = texts ? texts[(groupCells[k] as { codes: Int32Array }).codes[i]! + 1]! : groupsOf[k]!.code(cellAt(groupCells[k]!, i));
    }
    if (labelsOf) labelsOf.push(cellAt(labels!, i));
    predictions++;
  }
  return predictions;
}

/** Reads the predictions log and the labels, joins them on the id column and checks what a metric would silently get wrong. */
export async function joinLabels(options: JoinOptions, read?: PredictionLog): Promise<LabelledPredictions> {
  // the label column names the truth in the labels files, not in the predictions log
  const { labelColumn: _inLabels, ...logOptions } = options;
  const log = read ?? (await readPredictionLog(logOptions));
  const { rowOf } = log;
  const classes = log.classes;
  const predictions = log.rows;
  // labels arrive after the predictions: no file yet is "no labels yet" (every window not enough data), not an error
  let labelsMissing: string | undefined;
  const labelFiles = await listDatasetFiles(options.labels).catch((error: unknown) => {
    if (error instanceof DatasetReadError && (error.code === 'NOT_FOUND' || error.code === 'NO_FILES')) {
      labelsMissing = `no labels yet: ${relative(options.baseDir, options.labels) || options.labels} ${error.code === 'NO_FILES' ? 'matches no files' : 'does not exist'}`;
      return [];
    }
    throw new MonitoringInputError(`labels ${options.labels}: ${error instanceof Error ? error.message : String(error)}`);
  });
  /** The label of each prediction row that has one, as a code of labelValues (-1: none). */
  const labelAt = new Int32Array(log.rows).fill(-1);
  /**
   * Per prediction row, 1 + the labels row that gave its id (0: none yet): a repeated id is found here, without an
   * index of every label's id; the ids no prediction has (few) are kept in `unmatchedSeen`.
   */
  const labelRowOf = new Int32Array(log.rows);
  const unmatchedSeen = new IdIndex();
  const labelBook = new ValueCodes<CellValue>();
  /** The code of a small non-negative integer label (0/1 classes, class numbers), -1 until it is first seen. */
  const smallLabels = new Int32Array(SMALL_LABELS).fill(-1);
  let joined = 0;
  const labelStarts: FileStart[] = [];
  let labels = 0;
  let unmatchedLabels = 0;
  const unmatchedSample: string[] = [];
  for (const file of labelFiles) {
    const schema = await readSchema(file);
    const names = schema.columns.map((c) => c.name);
    const shown = relative(options.baseDir, file) || file;
    labelStarts.push({ file, first: labels });
    for (const column of [options.idColumn, options.labelColumn])
      if (!names.includes(column))
        throw new MonitoringInputError(
          `${shown}: no column "${column}" (labels need ${options.idColumn} and ${options.labelColumn}); its columns: ${names.join(', ')}`,
        );
    for await (const batch of readTypedBatches(file, {
      columns: [options.idColumn, options.labelColumn],
      ids: [options.idColumn],
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      const ids = batch.columns[options.idColumn] ?? { kind: 'absent' };
      const idNumbers = ids.kind === 'numbers' ? ids.values : undefined;
      const values = batch.columns[options.labelColumn] ?? { kind: 'absent' };
      const labelNumbers = values.kind === 'numbers' ? values.values : undefined;
      // a text label's code: of each of the batch's distinct texts found once (index 0: an empty cell, no label)
      const labelTexts =
        values.kind === 'texts' ? Int32Array.from([null, ...values.dictionary], (v) => (v === null || v === '' ? -1 : labelBook.code(v))) : undefined;
      for (let i = 0; i < batch.rows; i++) {
        const key = idAt(ids, idNumbers, i);
        if (key === undefined) throw new MonitoringInputError(`${at(file, options.baseDir, batch.rowOffset + i)}: empty ${options.idColumn}`);
        const row = rowOf.get(key);
        const earlier = row === undefined ? unmatchedSeen.get(key) : labelRowOf[row]! - 1;
        if (earlier !== undefined && earlier >= 0)
          throw new MonitoringInputError(
            `${at(file, options.baseDir, batch.rowOffset + i)}: ${options.idColumn} ${key} is labelled twice (first at ${atRow(labelStarts, earlier, options.baseDir)})`,
          );
        if (row === undefined) unmatchedSeen.set(key, labels);
        else labelRowOf[row] = labels + 1;
        labels++;
        let code: number;
        if (labelNumbers) {
          const value = labelNumbers[i]!;
          if (value !== value) continue; // a label row without its label yet
          if (value >= 0 && value < SMALL_LABELS && Number.isInteger(value)) {
            code = smallLabels[value]!;
            if (code < 0) code = smallLabels[value] = labelBook.code(value); // −0 shares 0's slot, as it shares its Map key
          } else code = labelBook.code(value);
        } else if (labelTexts) {
          code = labelTexts[(values as { codes: Int32Array }).codes[i]! + 1]!;
          if (code < 0) continue;
        } else {
          const value = values.kind === 'absent' ? null : cellAt(values, i);
          if (value === null || value === '') continue;
          code = labelBook.code(value);
        }
        if (row === undefined) {
          unmatchedLabels++;
          if (unmatchedSample.length < SAMPLE_IDS) unmatchedSample.push(String(key));
          continue;
        }
        labelAt[row] = code;
        joined++;
      }
    }
  }
  const windowCodes = log.windowOf.codes;
  const windowNames = log.windowOf.names;
  // the joined rows counted first: each column is made at its size
  let kept = 0;
  let withoutTime = 0;
  for (let row = 0; row < log.rows; row++) {
    if (labelAt[row]! < 0) continue;
    if (windowCodes[row]! < 0) withoutTime++;
    else kept++;
  }
  const windows = new Int32Array(kept);
  const truth = new Int32Array(kept);
  const predicted = new Int32Array(kept);
  const groupNames = options.groups ?? [];
  const probaOut = classes.map(() => new Float64Array(kept));
  const groupCodes = log.groups.map((g) => g.codes);
  const groupsOut = groupNames.map(() => new Int32Array(kept));
  const logProba = log.proba;
  const logPredicted = log.predictedCodes.codes;
  let j = 0;
  for (let row = 0; row < log.rows; row++) {
    const label = labelAt[row]!;
    if (label < 0) continue;
    const window = windowCodes[row]!;
    if (window < 0) continue;
    windows[j] = window;
    truth[j] = label;
    predicted[j] = logPredicted[row]!;
    for (let k = 0; k < classes.length; k++) probaOut[k]![j] = logProba[k]![row]!;
    for (let k = 0; k < groupNames.length; k++) groupsOut[k]![j] = groupCodes[k]![row]!;
    j++;
  }
  const coded: CodedLabelled = {
    windows,
    windowNames,
    truth,
    truthValues: labelBook.values,
    predicted,
    predictedValues: log.predictedCodes.values,
    probaClasses: classes,
    proba: probaOut,
    groupNames,
    groups: log.groups.map((g, k) => ({ codes: groupsOut[k]!, values: g.values })),
  };
  return withArrays(coded, classes, groupNames, {
    counts: {
      predictions,
      labels,
      joined,
      unlabelled: predictions - joined,
      unmatchedLabels,
      withoutTime,
    },
    unmatchedSample,
    windows: [...log.windows],
    ...(labelsMissing ? { labelsMissing } : {}),
  });
}

/**
 * A coded join with its array fields, each made the first time it is read: the monitoring checks read the codes, and
 * a million-row join as JS arrays costs ~8 bytes a cell for each of its columns.
 */
function withArrays(
  coded: CodedLabelled,
  classes: readonly string[],
  groupNames: readonly string[],
  rest: Omit<LabelledPredictions, 'windowOf' | 'truth' | 'predicted' | 'proba' | 'groups' | 'coded'>,
): LabelledPredictions {
  const decoded = <T>(codes: Int32Array, values: readonly T[]): T[] => Array.from(codes, (c) => values[c]!);
  let windowOf: string[] | undefined;
  let truth: CellValue[] | undefined;
  let predicted: CellValue[] | undefined;
  let proba: Map<string, number[]> | undefined;
  let groups: Map<string, string[]> | undefined;
  return {
    ...rest,
    coded,
    get windowOf() {
      return (windowOf ??= decoded(coded.windows, coded.windowNames));
    },
    get truth() {
      return (truth ??= decoded(coded.truth, coded.truthValues));
    },
    get predicted() {
      return (predicted ??= decoded(coded.predicted, coded.predictedValues));
    },
    get proba() {
      return (proba ??= new Map(classes.map((c, k) => [c, Array.from(coded.proba[k]!)])));
    },
    get groups() {
      return (groups ??= new Map(groupNames.map((g, k) => [g, decoded(coded.groups[k]!.codes, coded.groups[k]!.values)])));
    },
  };
}

/**
 * Id → row: numeric ids (the usual case) in an open-addressing table of float64 keys — about 2.5× faster than a Map
 * over a million ids and without a heap entry per id — and text ids in a Map. Keys are idKey()s: a number is never
 * NaN, and −0 equals 0 as in a Map. While the numeric ids are integers that fill a range densely (sequence numbers:
 * at least one id per four slots), they are kept as a plain array indexed by id − the first id instead: no hashing,
 * and ids that come in order touch memory in order. The first id that breaks that moves them into the table.
 */
export class IdIndex {
  private keys = new Float64Array(0);
  private rows = new Int32Array(0);
  private numbers = 0;
  private readonly texts = new Map<string, number>();
  /** Row of id base + k at k (−1: none), while the ids are dense; undefined once they are in the table. */
  private dense: Int32Array | undefined = new Int32Array(1 << 16).fill(-1);
  private base = Number.NaN;

  get size(): number {
    return this.numbers + this.texts.size;
  }

  get(key: IdKey): number | undefined {
    if (typeof key === 'string') return this.texts.get(key);
    const dense = this.dense;
    if (dense) {
      const k = key - this.base;
      if (!(k >= 0 && k < dense.length && Number.isInteger(k))) return undefined; // every id is in `dense` meanwhile
      const row = dense[k]!;
      return row < 0 ? undefined : row;
    }
    const at = this.slot(key);
    return this.keys[at] === key ? this.rows[at] : undefined;
  }

  set(key: IdKey, row: number): void {
    if (typeof key === 'string') {
      this.texts.set(key, row);
      return;
    }
    if (this.dense) {
      if (Number.isNaN(this.base) && Number.isInteger(key)) this.base = key;
      const k = key - this.base;
      if (k >= 0 && Number.isInteger(k) && this.fits(k)) {
        const dense = this.dense;
        if (dense[k]! < 0) this.numbers++;
        dense[k] = row;
        return;
      }
      this.toTable();
    }
    let at = this.slot(key);
    if (this.keys[at] !== key) {
      if ((this.numbers + 1) * 2 > this.keys.length) {
        this.grow();
        at = this.slot(key);
      }
      this.keys[at] = key;
      this.numbers++;
    }
    this.rows[at] = row;
  }

  /** Whether offset k fits the dense array (grown as needed) without it having more than four slots an id. */
  private fits(k: number): boolean {
    const dense = this.dense!;
    if (k < dense.length) return true;
    let length = dense.length;
    while (length <= k) length *= 2;
    if (length > 4 * (this.numbers + 1) + (1 << 16)) return false;
    const grown = new Int32Array(length).fill(-1);
    grown.set(dense);
    this.dense = grown;
    return true;
  }

  /** The dense ids into the hash table, which keeps every numeric id from now on. */
  private toTable(): void {
    const dense = this.dense!;
    this.dense = undefined;
    let size = 1 << 16;
    while (this.numbers * 2 >= size) size *= 2;
    this.keys = new Float64Array(size).fill(Number.NaN);
    this.rows = new Int32Array(size);
    for (let k = 0; k < dense.length; k++) {
      const row = dense[k]!;
      if (row < 0) continue;
      const key = this.base + k;
      const at = this.slot(key);
      this.keys[at] = key;
      this.rows[at] = row;
    }
  }

  /** The slot holding key, or the empty slot where it would go (linear probing; the table is at most half full). */
  private slot(key: number): number {
    const mask = this.keys.length - 1;
    let at = (Math.imul((key | 0) ^ ((key / 4294967296) | 0), 0x9e3779b1) >>> 0) & mask;
    const keys = this.keys;
    for (;;) {
      const k = keys[at]!;
      if (k !== k || k === key) return at; // NaN marks an empty slot
      at = (at + 1) & mask;
    }
  }

  private grow(): void {
    const { keys, rows } = this;
    this.keys = new Float64Array(keys.length * 2).fill(Number.NaN);
    this.rows = new Int32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === k) {
        const at = this.slot(k);
        this.keys[at] = k;
        this.rows[at] = rows[i]!;
      }
    }
  }
}

/** An id as a map key: a number as itself, a numeral's text as its number (a CSV 12 and a JSON "12" are one id), else the text. */
export type IdKey = number | string;

/**
 * Row i's id as a key (a number read as one stays a number), undefined when it is empty (the caller's error says where).
 * No closure for the message: one capturing the loop's row would cost a context and a closure a row.
 */
function idAt(ids: TypedColumn, numbers: Float64Array | undefined, i: number): IdKey | undefined {
  if (numbers) {
    const id = numbers[i]!;
    return id === id ? id : undefined;
  }
  const id = ids.kind === 'absent' ? null : cellAt(ids, i);
  return id === null || id === '' ? undefined : idKey(id);
}
export function idKey(cell: CellValue): IdKey {
  if (typeof cell === 'number') return cell;
  const text = String(cell);
  const number = Number(text);
  return text !== '' && String(number) === text ? number : text;
}

function groupValue(cell: CellValue | undefined): string {
  return cell === null || cell === undefined || cell === '' ? '(missing)' : String(cell);
}

/** The window of a log's row: its start, or undefined without a usable time. */
export function windowAt(windows: WindowCodes, row: number): string | undefined {
  const code = windows.codes[row]!;
  return code < 0 ? undefined : windows.names[code];
}

/**
 * A column of numbers (Float64Array) or codes (Int32Array) filled row by row, grown by half at least when a batch
 * needs room (the batch's rows are written after reserve()); take() trims it to the rows read.
 */
class TypedColumns {
  numbers = new Float64Array(0);
  codes = new Int32Array(0);

  constructor(private readonly kind: 'numbers' | 'codes') {}

  reserve(rows: number): this {
    const { kind } = this;
    if (kind === 'numbers' && rows > this.numbers.length) {
      const grown = new Float64Array(Math.max(rows, Math.ceil(this.numbers.length * 1.5)));
      grown.set(this.numbers);
      this.numbers = grown;
    }
    if (kind === 'codes' && rows > this.codes.length) {
      const grown = new Int32Array(Math.max(rows, Math.ceil(this.codes.length * 1.5)));
      grown.set(this.codes);
      this.codes = grown;
    }
    return this;
  }

  take(rows: number): this {
    if (this.kind === 'numbers' && this.numbers.length !== rows) this.numbers = this.numbers.slice(0, rows);
    if (this.kind === 'codes' && this.codes.length !== rows) this.codes = this.codes.slice(0, rows);
    return this;
  }
}

/** Distinct values numbered in the order first seen (told apart as a Map tells its keys apart). */
export class ValueCodes<T> {
  readonly values: T[] = [];
  private readonly index = new Map<T, number>();

  code(value: T): number {
    let code = this.index.get(value);
    if (code === undefined) this.index.set(value, (code = this.values.push(value) - 1));
    return code;
  }
}

/** A group column's values as codes (one string per distinct value; cells that read as the same group share it). */
class GroupCodes {
  readonly codes = new TypedColumns('codes');
  private readonly book = new ValueCodes<string>();
  private readonly byCell = new Map<CellValue, number>();

  get values(): string[] {
    return this.book.values;
  }

  code(cell: CellValue | undefined): number {
    let code = this.byCell.get(cell ?? null);
    if (code === undefined) this.byCell.set(cell ?? null, (code = this.book.code(groupValue(cell))));
    return code;
  }
}
