import type { DatasetProfile } from '../datasets/profile';
import { listDatasetFiles } from '../datasets/files';
import { ParquetScanUnsupported, scanParquet } from '../datasets/parquetScan';
import { detectFormat, readBatches, readSchema, type DatasetFileFormat, type DatasetSchema } from '../datasets/readers';
import { ColumnCollector, combineCollectors, dateColumnSample, type ColumnSample } from './columnSample';
import { DriftInputError } from './driftInputError';

export { DriftInputError };

/** One side of a comparison: each column's sample and the number of rows read. */
export interface DriftSide {
  readonly samples: ReadonlyMap<string, ColumnSample>;
  readonly rows: number;
  readonly schema: DatasetSchema;
}

export interface CollectOptions {
  readonly format?: DatasetFileFormat;
  /** Only these columns (default: all). */
  readonly columns?: readonly string[];
  readonly signal?: AbortSignal;
  /** Rows read so far, after each batch. */
  readonly onProgress?: (rows: number) => void;
  /** A time column: its values split the rows into windows (see `window`); it is never compared itself. */
  readonly timeColumn?: string;
  readonly window?: DriftWindow;
}

export type DriftWindow = 'daily' | 'weekly' | 'monthly';

/** The current data split by time window, oldest first (only when a time column and window were given). */
export interface WindowedSide extends DriftSide {
  readonly windows: readonly { readonly start: string; readonly side: DriftSide }[];
  /** Rows whose time cell was missing or not a date: in the total, in no window. */
  readonly rowsWithoutTime: number;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}/;

/** Start of the window holding an ISO date/time (UTC), as YYYY-MM-DD; undefined when the cell is not a date. */
export function windowStart(value: unknown, window: DriftWindow): string | undefined {
  if (typeof value !== 'string' || !DATE_ONLY.test(value)) return undefined;
  const day = value.slice(0, 10);
  if (window === 'daily') return day;
  if (window === 'monthly') return `${day.slice(0, 7)}-01`;
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return undefined;
  const monday = new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * 86_400_000); // ISO weeks start on Monday
  return monday.toISOString().slice(0, 10);
}

/**
 * Streams a dataset (file, folder or glob) into per-column samples, one batch at a time: numbers go
 * into one growing Float64Array per column, text into counts, so the rows are never held as rows.
 * Date/time columns are not read (drift on time stamps is meaningless) and come back `unusable`.
 */
export async function collectSide(path: string, options: CollectOptions = {}): Promise<WindowedSide> {
  const schema = await readSchema(path, { ...(options.format ? { format: options.format } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const wanted = options.columns ? new Set(options.columns) : undefined;
  const samples = new Map<string, ColumnSample>();
  const read: string[] = [];
  for (const c of schema.columns) {
    if (c.name === options.timeColumn) continue;
    if (wanted && !wanted.has(c.name)) continue;
    if (c.type === 'datetime') samples.set(c.name, dateColumnSample(0));
    else read.push(c.name);
  }
  if (options.timeColumn && !schema.columns.some((c) => c.name === options.timeColumn)) {
    throw new DriftInputError(`${path}: no time column "${options.timeColumn}" (columns: ${schema.columns.map((c) => c.name).join(', ')})`);
  }
  if (!(options.timeColumn && options.window)) {
    const fast = await collectParquetColumns(path, read, options);
    if (fast) {
      for (const [name, collector] of fast.collectors) samples.set(name, collector.finish());
      return { samples, rows: fast.rows, schema, windows: [], rowsWithoutTime: 0 };
    }
  }
  const windowed = options.timeColumn && options.window ? options.window : undefined;
  // with windows, each cell goes to its window's collector only (rows without a time to one more part): the whole
  // column is the merge of its parts, so no number is held or sorted twice
  const collectors = windowed ? undefined : new Map(read.map((name) => [name, new ColumnCollector()]));
  /** Per part (windows in first-seen order, and rows without a time): its start, rows, and one collector per read column. */
  const parts: { start: string | undefined; rows: number; collectors: ColumnCollector[] }[] = [];
  const partOf = new Map<string | undefined, number>();
  const startOfDay = new Map<string, string | undefined>();
  let rows = 0;
  let rowsWithoutTime = 0;
  const columnsToRead = options.timeColumn ? [...read, options.timeColumn] : read;
  let partIndex = new Int32Array(0);
  for await (const batch of readBatches(path, {
    ...(options.format ? { format: options.format } : {}),
    columns: columnsToRead,
    ...(options.signal ? { signal: options.signal } : {}),
  })) {
    if (windowed) {
      const times = batch.columns[options.timeColumn!] ?? [];
      if (partIndex.length < batch.rows) partIndex = new Int32Array(batch.rows);
      for (let i = 0; i < batch.rows; i++) {
        const time = times[i];
        let start: string | undefined;
        // a window depends on the first ten characters only: one windowStart per distinct day
        if (typeof time === 'string' && time.length >= 10) {
          const day = time.slice(0, 10);
          start = startOfDay.get(day);
          if (start === undefined && !startOfDay.has(day)) startOfDay.set(day, (start = windowStart(day, windowed)));
        }
        if (start === undefined) rowsWithoutTime++;
        let k = partOf.get(start);
        if (k === undefined) {
          partOf.set(start, (k = parts.length));
          parts.push({ start, rows: 0, collectors: read.map(() => new ColumnCollector()) });
        }
        parts[k]!.rows++;
        partIndex[i] = k;
      }
      for (let c = 0; c < read.length; c++) {
        const values = batch.columns[read[c]!];
        const targets = parts.map((p) => p.collectors[c]!);
        if (!values) {
          for (let i = 0; i < batch.rows; i++) targets[partIndex[i]!]!.add(null); // a JSONL key first seen later
          continue;
        }
        for (let i = 0; i < batch.rows; i++) targets[partIndex[i]!]!.add(values[i]);
      }
    } else {
      for (const name of read) {
        const values = batch.columns[name];
        const collector = collectors!.get(name)!;
        if (!values) {
          for (let i = 0; i < batch.rows; i++) collector.add(null); // a JSONL key first seen later
          continue;
        }
        for (let i = 0; i < values.length; i++) collector.add(values[i]);
      }
    }
    rows += batch.rows;
    options.onProgress?.(rows);
  }
  if (collectors) for (const [name, collector] of collectors) samples.set(name, collector.finish());
  else read.forEach((name, c) => samples.set(name, combineCollectors(parts.map((p) => p.collectors[c]!))));
  const windows = parts
    .filter((p): p is typeof p & { start: string } => p.start !== undefined)
    .sort((a, b) => (a.start < b.start ? -1 : 1))
    .map(({ start, rows: n, collectors: cs }) => ({ start, side: { rows: n, schema, samples: new Map(read.map((name, c) => [name, cs[c]!.finish()])) } }));
  return { samples, rows, schema, windows, rowsWithoutTime };
}

/**
 * Parquet through the columnar scanner: typed pieces go straight into the collectors (dictionary-encoded
 * numbers as counts). Undefined when the path is not all Parquet or a file uses something the scanner does
 * not decode: the caller then reads it the generic way, with fresh collectors.
 */
async function collectParquetColumns(
  path: string,
  read: readonly string[],
  options: CollectOptions,
): Promise<{ collectors: Map<string, ColumnCollector>; rows: number } | undefined> {
  const files = await listDatasetFiles(path, options.format);
  if (!files.every((file) => (options.format ?? detectFormat(file)) === 'parquet')) return undefined;
  const collectors = new Map(read.map((name) => [name, new ColumnCollector()]));
  let rows = 0;
  try {
    for (const file of files) {
      let targets: (ColumnCollector | undefined)[] = [];
      let missing: ColumnCollector[] = [];
      await scanParquet(
        file,
        {
          begin: (columns) => {
            targets = columns.map((name) => collectors.get(name));
            missing = [...collectors].filter(([name]) => !columns.includes(name)).map(([, c]) => c);
          },
          piece: (c, piece) => targets[c]?.addPiece(piece),
          dictionaryCounts: (c, counts) => targets[c]?.addDictionaryCounts(counts),
          rowGroup: (n) => {
            for (const collector of missing) for (let i = 0; i < n; i++) collector.add(null); // a column this file lacks
            rows += n;
            options.onProgress?.(rows);
          },
        },
        { columns: read, ...(options.signal ? { signal: options.signal } : {}) },
      );
    }
  } catch (error) {
    if (error instanceof ParquetScanUnsupported) return undefined;
    throw error;
  }
  return { collectors, rows };
}

/**
 * A reference known only by its stored profile (the file changed or is gone): numeric columns become
 * histograms (PSI and Jensen–Shannon on the profile's bins), text columns their category counts.
 */
export function sideFromProfile(profile: DatasetProfile, columns?: readonly string[]): DriftSide {
  const wanted = columns ? new Set(columns) : undefined;
  const samples = new Map<string, ColumnSample>();
  for (const c of profile.columns) {
    if (wanted && !wanted.has(c.name)) continue;
    if (c.type === 'datetime') samples.set(c.name, dateColumnSample(c.nulls));
    else if (c.numeric && c.type === 'number')
      samples.set(c.name, { kind: 'histogram', edges: c.numeric.histogram.edges, counts: c.numeric.histogram.counts, missing: c.nulls });
    else if (c.categorical && !c.categorical.capped)
      samples.set(c.name, { kind: 'categorical', counts: new Map(Object.entries(c.categorical.counts)), missing: c.nulls });
    else if (c.categorical)
      samples.set(c.name, {
        kind: 'unusable',
        reason: `the stored profile keeps only the top ${Object.keys(c.categorical.counts).length} categories of ${c.categorical.distinct}+`,
        missing: c.nulls,
      });
    else samples.set(c.name, { kind: 'unusable', reason: `the stored profile has no distribution for a ${c.type} column`, missing: c.nulls });
  }
  return { samples, rows: profile.rows, schema: { columns: profile.columns.map((c) => ({ name: c.name, type: c.type })) } };
}
