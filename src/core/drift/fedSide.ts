import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { listDatasetFiles } from '../datasets/files';
import { detectFormat, readSchema, readTypedBatches, type DatasetSchema } from '../datasets/readers';
import type { WindowCodes } from '../monitoring/labels';
import type { TypedColumn } from '../datasets/typedCsv';
import { freeNow } from './freeNow';
import { adoptSpare, FEED_YOUNG_GENERATION_MB } from './spareWorkers';
import { ColumnCollector, CombineScratch, combineCollectors, dateColumnSample, releaseSample, tabledCollectors, type ColumnSample } from './columnSample';
import { collectSide, DriftInputError, type CollectOptions, type DriftSide, type WindowedSide } from './collect';
import type { compareSides, CompareSpec } from './compare';
import { columnDrift, driftReportOf, WassersteinTables, type ColumnDrift } from './report';

/**
 * The current side of a drift check fed from a read someone else does: `mloop monitor` reads the predictions log once
 * (src/core/monitoring/labels.ts) and hands each batch's drift columns here, instead of the drift check reading the
 * same file again. The cells end in the same collectors, per window, in the same order as `collectSide` would put
 * them, so the samples — and the report — are the same (test/unit/monitoring.sharedRead.test.ts).
 *
 * Each batch's columns travel as typed arrays: a column of numbers (and empty cells) as a Float64Array with NaN for
 * an empty cell (a collector counts both as missing), a column of text as dictionary codes, anything else as its
 * cells. With the worker bundle there (dist/driftWorker.js), the collecting and the sorting run in a worker thread
 * while the reading thread goes on; without it, here.
 */

/** One column of a fed batch (a prefix column is never fed: the drift sides leave the time column out). */
export type FedColumn = Exclude<TypedColumn, { readonly kind: 'prefixes' }>;

export interface FedBatch {
  readonly rows: number;
  /** Per row: its part (windows in first-seen order, rows without a time as one more part); all 0 without windows. */
  readonly parts: Int32Array;
  /** The starts of the parts first seen in this batch, in order (undefined: rows without a usable time). */
  readonly newParts: readonly (string | undefined)[];
  /** Per read column (in the order given at the start). */
  readonly columns: readonly FedColumn[];
}

/** The columns a drift side reads from a schema: all but the time column, only the wanted ones, date/time columns not at all. */
export function sideColumns(
  schema: DatasetSchema,
  columns: readonly string[] | undefined,
  timeColumn: string | undefined,
): { read: string[]; dates: string[] } {
  const wanted = columns ? new Set(columns) : undefined;
  const read: string[] = [];
  const dates: string[] = [];
  for (const c of schema.columns) {
    if (c.name === timeColumn) continue;
    if (wanted && !wanted.has(c.name)) continue;
    if (c.type === 'datetime') dates.push(c.name);
    else read.push(c.name);
  }
  return { read, dates };
}

/** Collects fed batches into per-part collectors (what collectSide does with the cells of its own read). */
export class FedSideCollector {
  private readonly parts: {
    start: string | undefined;
    rows: number;
    collectors: ColumnCollector[];
    settled: boolean;
    /** Per column: its drift compared ahead (compareAhead) and the form its sample was taken at; dropped when rows of the window come after. */
    ahead?: ({ drift: ColumnDrift | undefined; form: number } | undefined)[];
  }[] = [];
  /** Windows settled and not yet compared ahead (their indices in parts), and the next column of the first. */
  private readonly aheadQueue: number[] = [];
  private aheadColumn = 0;
  private rows = 0;
  /** The rows of the window settled last: a new window's numbers get room for as many at once (windows of a log are alike). */
  private windowRows = 0;

  constructor(
    private readonly read: readonly string[],
    private readonly windowed: boolean,
  ) {}

  add(batch: FedBatch): void {
    for (const start of batch.newParts) this.parts.push({ start, rows: 0, collectors: this.read.map(() => new ColumnCollector()), settled: false });
    const { parts: partOf, rows } = batch;
    const parts = this.parts;
    const inBatch = new Int32Array(parts.length);
    const runs = partRuns(partOf, rows, inBatch);
    inBatch.forEach((n, k) => {
      const part = parts[k]!;
      part.rows += n;
      if (n > 0) part.ahead = undefined; // compared on rows it no longer has alone
    });
    for (let c = 0; c < this.read.length; c++) {
      const targets = parts.map((p) => p.collectors[c]!);
      const column = batch.columns[c]!;
      switch (column.kind) {
        case 'numbers':
        case 'decimals': {
          // room for a whole window at its first rows, instead of growing by a quarter batch after batch (a copy each time)
          inBatch.forEach(
            (n, k) => n > 0 && targets[k]!.reserve(parts[k]!.start === undefined ? n : Math.max(n, this.windowRows - (parts[k]!.rows - n)), true),
          );
          // NaN (EMPTY_DECIMAL) is an empty cell: addNumber counts it as missing, as add(null) does
          if (column.kind === 'numbers') for (let r = 0; r < runs.length; r += 3) targets[runs[r + 2]!]!.addNumbers(column.values, runs[r]!, runs[r + 1]!);
          else for (let r = 0; r < runs.length; r += 3) targets[runs[r + 2]!]!.addDecimals(column.values, column.scale, runs[r]!, runs[r + 1]!);
          break;
        }
        case 'texts': {
          // counts per (part, text) in first-seen order: each part's categories keep the order add() would give them
          const { codes, dictionary } = column;
          const width = dictionary.length + 1;
          const counts = new Int32Array(parts.length * width);
          const order = countTexts(partOf, codes, rows, width, counts);
          for (const key of order) {
            const code = (key % width) - 1;
            const target = targets[Math.floor(key / width)]!;
            if (code < 0) target.addMissing(counts[key]!);
            else target.addTextCount(dictionary[code]!, counts[key]!);
          }
          break;
        }
        case 'cells': {
          const values = column.values;
          for (let i = 0; i < rows; i++) targets[partOf[i]!]!.add(values[i]);
          break;
        }
        case 'absent':
          for (let i = 0; i < rows; i++) targets[partOf[i]!]!.add(null); // a JSONL key first seen later
          break;
      }
    }
    this.rows += rows;
    // a window this batch had no row of is over in a log written in time order: its numbers are sorted now, while
    // the reading thread reads on, instead of all at the end (rows of it that still come unset that, see settle())
    if (this.windowed)
      for (let k = 0; k < parts.length; k++) {
        const part = parts[k]!;
        if (inBatch[k] === 0 && !part.settled && part.rows > 0) {
          part.settled = true;
          if (part.start !== undefined) this.windowRows = part.rows;
          for (const collector of part.collectors) collector.settleAndPack();
          if (part.start !== undefined) this.aheadQueue.push(k);
        }
      }
  }

  finish(schema: DatasetSchema, dates: readonly string[]): WindowedSide {
    const samples = new Map<string, ColumnSample>();
    // the schema's order, as collectSide fills its map: date/time columns where they stand
    const read = new Map(this.read.map((name, c) => [name, c]));
    const parts = this.parts;
    const dateSet = new Set(dates);
    for (const { name } of schema.columns) {
      if (dateSet.has(name)) samples.set(name, dateColumnSample(0));
      const c = read.get(name);
      if (c === undefined) continue;
      if (!this.windowed) samples.set(name, parts.length > 0 ? parts[0]!.collectors[c]!.finish() : new ColumnCollector().finish());
      else samples.set(name, combineCollectors(parts.map((p) => p.collectors[c]!)));
    }
    const windows = this.windowed
      ? parts
          .filter((p): p is typeof p & { start: string } => p.start !== undefined)
          .sort((a, b) => (a.start < b.start ? -1 : 1))
          .map(({ start, rows: n, collectors: cs }) => ({
            start,
            side: { rows: n, schema, samples: new Map(this.read.map((name, c) => [name, cs[c]!.finish()])) },
          }))
      : [];
    const rowsWithoutTime = this.windowed ? parts.filter((p) => p.start === undefined).reduce((n, p) => n + p.rows, 0) : 0;
    return { samples, rows: this.rows, schema, windows, rowsWithoutTime };
  }

  /**
   * One column of a window the log has moved past compared with the reference now, while the read goes on (the feed
   * thread mostly waits for batches then), instead of after the read: columnDrift on the sample its finish() would
   * give, kept for compare(), which takes it where that window's column is still held at the same form — the same
   * numbers at the same scale (its Wasserstein merged as integers gives what the reference table gives, to the bit;
   * drift.compareAhead.test.ts) — and computes it again otherwise. False once no settled window is left to compare.
   */
  compareAhead(reference: DriftSide, spec: CompareSpec): boolean {
    const k = this.aheadQueue[0];
    if (k === undefined || reference.rows === 0) return false;
    const c = this.aheadColumn;
    if (++this.aheadColumn === this.read.length) {
      this.aheadQueue.shift();
      this.aheadColumn = 0;
    }
    const part = this.parts[k]!;
    const name = this.read[c]!;
    // the window columns compare() gives a drift to from this collector (see windowNames there)
    if (spec.excluded.includes(name) || (spec.columns && !spec.columns.includes(name))) return true;
    const collector = part.collectors[c]!;
    const sample = collector.peek();
    if (!sample) return true;
    let drift: ColumnDrift | undefined;
    try {
      drift = columnDrift(name, reference.samples.get(name), sample, reference.rows, spec.drift ?? {});
    } catch {
      drift = undefined; // compare() computes it again and throws in its own order
    }
    releaseSample(sample);
    (part.ahead ??= [])[c] = { drift, form: collector.form };
    return true;
  }

  /**
   * compareSides(reference, finish(schema, dates), spec), one column at a time: a column's whole and window samples
   * are made, compared and dropped before the next column's — the sorted numbers of one column are held at a time,
   * not those of every column (on 1M rows × 18 numeric columns, 288 MB of samples).
   */
  compare(reference: DriftSide, schema: DatasetSchema, dates: readonly string[], spec: CompareSpec): Comparison {
    if (reference.rows === 0) throw new DriftInputError(`the reference ${spec.referencePath} has no rows`);
    if (this.rows === 0) throw new DriftInputError(`the current data ${spec.currentName} has no rows`);
    const excluded = new Set(spec.excluded);
    const referenceNames = [...reference.samples.keys()].filter((name) => !excluded.has(name));
    const readIndex = new Map(this.read.map((name, c) => [name, c]));
    const dateSet = new Set(dates);
    // the current samples' names as finish() would key them: the schema's order (dates in the whole side only)
    const wholeKeys = schema.columns.map((c) => c.name).filter((name) => (dateSet.has(name) || readIndex.has(name)) && !excluded.has(name));
    const windowKeys = this.read.filter((name) => !excluded.has(name));
    const wholeNames = spec.columns ?? [...new Set([...referenceNames, ...wholeKeys])];
    const windowNames = spec.columns ?? [...new Set([...referenceNames, ...windowKeys])];
    const parts = this.windowed ? this.parts : [];
    const windowParts = parts.filter((p): p is typeof p & { start: string } => p.start !== undefined).sort((a, b) => (a.start < b.start ? -1 : 1));
    const options = spec.drift ?? {};
    const sample = (name: string): ColumnSample | undefined => (excluded.has(name) ? undefined : reference.samples.get(name));
    const whole = new Map<string, ColumnDrift>();
    const perWindow = windowParts.map(() => new Map<string, ColumnDrift>());
    // a column's windows unpacked and their merge: twice its rows, the same memory for every column
    const scratch = new CombineScratch();
    scratch.reserve(2 * this.rows);
    // a column's reference table for Wasserstein, made with its whole column, read by its windows
    const tables = new WassersteinTables();
    for (const name of new Set([...wholeNames, ...windowNames])) {
      const c = readIndex.get(name);
      const read = c !== undefined && !excluded.has(name);
      let current: ColumnSample | undefined;
      if (read) {
        // a column of scaled integers counted by value from its windows (no merge, no sort), else merged
        const columnParts = this.parts.map((p) => p.collectors[c]!);
        current = this.windowed
          ? (tabledCollectors(columnParts, scratch) ?? combineCollectors(columnParts, scratch))
          : (this.parts[0]?.collectors[c] ?? new ColumnCollector()).finish();
      } else if (dateSet.has(name) && !excluded.has(name)) current = dateColumnSample(0);
      if (wholeNames.includes(name)) whole.set(name, columnDrift(name, sample(name), current, reference.rows, options, tables));
      releaseSample(current, scratch); // the column's whole sample: its doubles and table are dead once compared
      current = undefined;
      if (!windowNames.includes(name)) continue;
      windowParts.forEach((part, w) => {
        const ahead = read ? part.ahead?.[c!] : undefined;
        if (ahead?.drift && ahead.form === part.collectors[c!]!.form) {
          perWindow[w]!.set(name, ahead.drift);
          return;
        }
        const cell = read ? part.collectors[c]!.finish() : undefined;
        perWindow[w]!.set(name, columnDrift(name, sample(name), cell, reference.rows, options, tables));
        // made by finish() above: its arrays are the collector's own, or the scratch's where combineCollectors unpacked them
        releaseSample(cell, scratch);
      });
      tables.forget();
      // finish() made the column's window numbers plain (8 bytes a value, was 4): dropped now, not held until every
      // column is compared (on 1M rows × 18 numeric columns, up to 144 MB by the last one)
      if (read) for (const part of this.parts) part.collectors[c] = new ColumnCollector();
    }
    const report = driftReportOf(
      wholeNames.map((name) => whole.get(name)!),
      reference.rows,
      this.rows,
      options,
    );
    const windows = windowParts.map((part, w) => {
      const r = driftReportOf(
        windowNames.map((name) => perWindow[w]!.get(name)!),
        reference.rows,
        part.rows,
        options,
      );
      return {
        start: part.start,
        rows: part.rows,
        dataset_drift: r.dataset_drift,
        drift_share: r.drift_share,
        scores: Object.fromEntries(r.columns.filter((col) => col.status === 'ok').map((col) => [col.column, col.score])),
      };
    });
    return { report, windows };
  }
}

/** The bundle built from src/core/drift/driftWorkerMain.ts, next to dist/cli.js and dist/extension.js. */
const WORKER_FILE = 'driftWorker.js';

/** The reference of a fed comparison: a file the feed's thread reads, or a side read already (a stored profile). */
export type FedReference =
  | { readonly kind: 'read'; readonly path: string; readonly options: Pick<CollectOptions, 'format' | 'columns'> }
  | { readonly kind: 'side'; readonly side: DriftSide };

export type Comparison = ReturnType<typeof compareSides>;

/** The drift check's end of a fed side (DriftCheckOptions.fedCurrent). */
export interface FedCurrent {
  /** Compares the fed side with this reference once the feed ends; undefined: the feed was abandoned (read the current data yourself). */
  compare(reference: FedReference, spec: CompareSpec): Promise<Comparison | undefined>;
}

export type FeedWorkerData = { readonly mode: 'feed'; readonly read: readonly string[]; readonly windowed: boolean };
export type FeedMessage =
  | { readonly batch: FedBatch }
  | { readonly reference: FedReference; readonly spec: CompareSpec }
  | { readonly end: { readonly schema: DatasetSchema; readonly dates: readonly string[] } };
export type FeedReply = { readonly ok: true; readonly comparison: Comparison } | { readonly ok: false; readonly message: string; readonly name: string };
/** The worker has collected a batch (DriftFeed counts the batches posted and not yet collected). */
export interface FeedTaken {
  readonly taken: true;
}

/**
 * Batches posted to the feed worker and not yet collected, at most: the read waits for the worker beyond that. A read
 * faster than the collector (the record kernel's) otherwise piled its batches up in the worker's queue, ~1 MB each,
 * and the check's peak with them (4, 8 and 16 measured alike on the 1M-row log, peaks 256–285 MB; unbounded, 291 and
 * 293 MB in two of four runs).
 */
export const MAX_BATCHES_IN_FLIGHT = 8;

/**
 * Where the fed batches are collected and compared (a worker thread, or the reading thread without the worker
 * bundle): the reference is read as soon as it is known, while the batches come; the comparison runs once both the
 * reference and the end of the feed are there.
 */
export class FeedEngine {
  private readonly collector: FedSideCollector;
  private reference: Promise<DriftSide> | undefined;
  private spec: CompareSpec | undefined;
  private ended: { schema: DatasetSchema; dates: readonly string[] } | undefined;
  private started = false;
  /** The reference once read, for comparing settled windows ahead (scheduleAhead). */
  private referenceSide: DriftSide | undefined;
  private aheadScheduled = false;

  constructor(
    read: readonly string[],
    windowed: boolean,
    private readonly reply: (reply: FeedReply) => void,
    private readonly ownsBatches = false,
    /** Compare settled windows while the batches come (a thread of its own, idle between them), not all at the end. */
    private readonly ahead = false,
  ) {
    this.collector = new FedSideCollector(read, windowed);
  }

  message(message: FeedMessage): void {
    if ('batch' in message) {
      this.collector.add(message.batch);
      // the batch's arrays came to this thread by transfer (DriftFeed.send): nobody else holds them
      if (this.ownsBatches) release(message.batch);
      this.scheduleAhead();
    } else if ('reference' in message) {
      const ref = message.reference;
      this.spec = message.spec;
      this.reference = ref.kind === 'side' ? Promise.resolve(ref.side) : readReferenceSide(ref.path, ref.options);
      // awaited in compare(); never an unhandled rejection meanwhile
      this.reference.then(
        (side) => {
          this.referenceSide = side;
          this.scheduleAhead();
        },
        () => undefined,
      );
      this.compare();
    } else {
      this.ended = message.end;
      this.compare();
    }
  }

  /**
   * One window column compared ahead at a time (FedSideCollector.compareAhead), each in an immediate of its own: a
   * batch that arrives meanwhile waits for one column's comparison (~1–2 ms), not for every settled window's.
   */
  private scheduleAhead(): void {
    if (!this.ahead || this.aheadScheduled || this.started || !this.referenceSide) return;
    this.aheadScheduled = true;
    setImmediate(() => {
      this.aheadScheduled = false;
      if (!this.started && this.referenceSide && this.collector.compareAhead(this.referenceSide, this.spec!)) this.scheduleAhead();
    });
  }

  private compare(): void {
    if (this.started || !this.reference || !this.ended) return;
    this.started = true;
    const { schema, dates } = this.ended;
    this.reference
      .then(
        (reference) => this.reply({ ok: true, comparison: this.collector.compare(reference, schema, dates, this.spec!) }),
        (error: Error) => this.reply({ ok: false, message: error.message, name: error.name }),
      )
      .catch((error: Error) => this.reply({ ok: false, message: error.message, name: error.name }));
  }
}

/**
 * A reference side as collectSide reads it (the same samples), but a CSV or TSV one through the typed reader and the
 * fed collector: numbers from the bytes into the collectors, text as counts, instead of a cell per value made and
 * collected one by one (on the 1M fixture's reference, 100,000 rows × 20 columns, read while the log is). Other
 * formats: collectSide.
 */
export async function readReferenceSide(path: string, options: Pick<CollectOptions, 'format' | 'columns'>): Promise<DriftSide> {
  const files = await listDatasetFiles(path, options.format);
  const format = options.format;
  if (files.length === 0 || !files.every((f) => ['csv', 'tsv'].includes(format ?? detectFormat(f) ?? ''))) return collectSide(path, options);
  const schema = await readSchema(path, format ? { format } : {});
  const { read, dates } = sideColumns(schema, options.columns, undefined);
  const collector = new FedSideCollector(read, false);
  const absent: FedColumn = { kind: 'absent' };
  let newParts: (string | undefined)[] = [undefined];
  for (const file of files)
    for await (const batch of readTypedBatches(file, { ...(format ? { format } : {}), columns: read, decimals: read })) {
      const columns = read.map((name): FedColumn => {
        const c = batch.columns[name] ?? absent;
        if (c.kind === 'prefixes') throw new Error('readReferenceSide: a prefix column');
        return c;
      });
      const fed: FedBatch = { rows: batch.rows, parts: new Int32Array(batch.rows), newParts, columns };
      collector.add(fed);
      release(fed);
      newParts = [];
    }
  // the samples in collectSide's order (the report's, without configured columns): date columns first, then the read ones
  const side = collector.finish(schema, dates);
  const samples = new Map([...dates, ...read].map((name) => [name, side.samples.get(name)!]));
  return { ...side, samples };
}

/**
 * The reading side's end of a fed drift side: `push` each batch of the shared read, then `end`, or `abandon` when
 * the shared read failed or is not needed any more (the drift check then reads the file itself, as before).
 */
export class DriftFeed implements FedCurrent {
  private readonly worker: Worker | undefined;
  private readonly local: FeedEngine | undefined;
  private readonly partOf = new Map<string | undefined, number>();
  private settle!: (comparison: Comparison | undefined) => void;
  private fail!: (error: unknown) => void;
  private settled = false;
  private readonly result: Promise<Comparison | undefined>;
  /** Batches posted and not yet collected by the worker; the read waiting for one to be (push's promise). */
  private inFlight = 0;
  private waiting: (() => void) | undefined;

  constructor(
    readonly read: readonly string[],
    private readonly windowed: boolean,
    inWorker = true,
    /** The worker bundle (tests: the build's dist/driftWorker.js). */
    file = join(__dirname, WORKER_FILE),
  ) {
    this.result = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    this.result.catch(() => undefined); // awaited by the drift check; never an unhandled rejection meanwhile
    const onReply = (reply: FeedReply): void => {
      if (reply.ok) this.done(reply.comparison);
      // bad input keeps its meaning across the thread (the CLI prints it as a user error)
      else
        this.done(
          undefined,
          reply.name === 'DatasetReadError' || reply.name === 'DriftInputError' ? new DriftInputError(reply.message) : new Error(reply.message),
        );
    };
    if (inWorker && existsSync(file)) {
      // its heap holds few objects (the numbers are in typed arrays): a small young generation keeps the peak down
      const workerData = { mode: 'feed', read, windowed } satisfies FeedWorkerData;
      // a spare started with the process (its start-up done while the CLI loaded), else a new one
      this.worker =
        adoptSpare('feed', file, FEED_YOUNG_GENERATION_MB, workerData) ??
        new Worker(file, { workerData, resourceLimits: { maxYoungGenerationSizeMb: FEED_YOUNG_GENERATION_MB } });
      this.worker.on('message', (message: FeedReply | FeedTaken) => {
        if ('taken' in message) this.taken();
        else onReply(message);
      });
      this.worker.once('error', (error) => this.done(undefined, error));
      this.worker.once('exit', (code) => this.done(undefined, new Error(`the drift worker stopped (exit ${code}) before comparing`)));
    } else this.local = new FeedEngine(read, windowed, onReply);
  }

  compare(reference: FedReference, spec: CompareSpec): Promise<Comparison | undefined> {
    this.send({ reference, spec });
    return this.result;
  }

  /**
   * A batch of the shared read: its `read` columns in that order, typed, and the window (code) of each row read so far.
   * A promise when MAX_BATCHES_IN_FLIGHT are posted and not collected: the read goes on once the worker has one more.
   */
  push(typed: readonly TypedColumn[], rows: number, windows: WindowCodes, firstRow: number): Promise<void> | undefined {
    if (this.settled) return undefined;
    const parts = new Int32Array(rows);
    const newParts: (string | undefined)[] = [];
    if (this.windowed) {
      // rows of one window come in runs: the previous row's part unless the window differs
      const codes = windows.codes;
      let last = -2;
      let lastPart = -1;
      for (let i = 0; i < rows; i++) {
        const code = codes[firstRow + i]!;
        if (code === last) {
          parts[i] = lastPart;
          continue;
        }
        const start = code < 0 ? undefined : windows.names[code];
        let k = this.partOf.get(start);
        if (k === undefined) {
          this.partOf.set(start, (k = this.partOf.size));
          newParts.push(start);
        }
        parts[i] = k;
        last = code;
        lastPart = k;
      }
    } else if (this.partOf.size === 0) {
      this.partOf.set(undefined, 0);
      newParts.push(undefined);
    }
    const columns = typed.map((c): FedColumn => {
      if (c.kind !== 'prefixes') return c;
      throw new Error('a prefix column cannot feed a drift side');
    });
    this.send({ batch: { rows, parts, newParts, columns } });
    if (!this.worker || ++this.inFlight < MAX_BATCHES_IN_FLIGHT) return undefined;
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The worker collected a batch: a read waiting for that goes on. */
  private taken(): void {
    this.inFlight--;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  /** The read is complete: the side is finished (collected, sorted) and compared once the reference is read. */
  end(schema: DatasetSchema, dates: readonly string[]): void {
    this.send({ end: { schema, dates } });
  }

  /** The shared read stopped before its end, or the drift check is over: the worker stops; a compare() not answered yet gives undefined. */
  abandon(): void {
    this.done(undefined);
  }

  private send(message: FeedMessage): void {
    if (this.settled) return;
    if (this.local) this.local.message(message);
    else this.worker!.postMessage(message, 'batch' in message ? transferables(message.batch) : []);
  }

  private done(comparison: Comparison | undefined, error?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    void this.worker?.terminate();
    this.waiting?.(); // a read waiting for the worker goes on (its next push is dropped)
    this.waiting = undefined;
    if (error !== undefined) this.fail(error);
    else this.settle(comparison);
  }
}

/**
 * A batch's rows of one part come in runs (a log in time order): found once for every numeric column, as (start, end,
 * part) triples, and each part's rows counted into inBatch. A function of its own: with its hot loops inside add(), V8
 * compiled one on the stack (OSR) and threw that code away at the column loop around it, batch after batch (~40 deopts
 * and recompiles a 1M-row read).
 */
/** counts[part · width + code + 1] of a texts column's rows, the keys in first-seen order (a loop of its own, as partRuns). */
function countTexts(partOf: Int32Array, codes: Int32Array, rows: number, width: number, counts: Int32Array): number[] {
  const order: number[] = [];
  for (let i = 0; i < rows; i++) {
    const key = partOf[i]! * width + codes[i]! + 1;
    if (counts[key]!++ === 0) order.push(key);
  }
  return order;
}

function partRuns(partOf: Int32Array, rows: number, inBatch: Int32Array): number[] {
  const runs: number[] = [];
  for (let i = 0; i < rows; ) {
    const k = partOf[i]!;
    let end = i + 1;
    while (end < rows && partOf[end] === k) end++;
    runs.push(i, end, k);
    inBatch[k]! += end - i;
    i = end;
  }
  return runs;
}

/**
 * Frees a collected batch's arrays now (detached: their memory goes back at once) instead of at this thread's next
 * garbage collection: the feed thread makes few objects, so it collected seldom, and the batches that came meanwhile
 * (~1–2 MB each) were held dead until the external memory they added up to forced one — up to ~80 MB on the 1M
 * fixture, at the run's peak. Only a batch nobody else holds: one transferred to this thread, or one its own read made.
 */
function release(batch: FedBatch): void {
  for (const buffer of transferables(batch)) freeNow(buffer);
}

function transferables(batch: FedBatch): ArrayBuffer[] {
  const out: ArrayBuffer[] = [batch.parts.buffer as ArrayBuffer];
  for (const c of batch.columns) {
    if (c.kind === 'numbers' || c.kind === 'decimals') out.push(c.values.buffer as ArrayBuffer);
    else if (c.kind === 'texts') out.push(c.codes.buffer as ArrayBuffer);
  }
  return out;
}
