import type Database from 'better-sqlite3';
import type { LoadRunTableOptions, MetricColumn, RunInput, RunTable } from './runTable';

// Reading a store's runs into the table's columns fast: per-row reads through the driver cost ~1–2 µs each, and
// 100,000 runs × 60 columns are 6 million rows. So SQLite does the row work: a temp table numbers the runs in the
// table's order (start_time DESC, run_id), and each chunk of runs comes back as three JSON arrays per table
// (row index, key code, value), parsed in one call each and written into typed arrays. The reading is a
// generator of steps, so the editor can yield between them (and show progress) while the CLI runs it in one go.

/**
 * Runs per step: bounds the time between two steps, when the editor answers the table's page (a sort, a filter, a
 * scroll asked while every run is read). At 100,000 runs × 60 columns a step of 500 runs is ~5–11 ms of CPU (95th
 * percentile; 4,000 runs made ~0.1 s, and a message waited that long); the whole read costs the same CPU in 800 steps
 * (bench/experiments/readStepsBench.ts).
 */
const CHUNK_RUNS = 500;

/** Where the reading is: `done` of `total` runs' values read (after the run rows themselves). */
export interface RunTableProgress {
  readonly done: number;
  readonly total: number;
}

/** The first rows of the table in its default order (start_time DESC, run_id) and how many runs it holds. */
export interface RunTablePage {
  readonly table: RunTable;
  readonly offset: number;
  readonly total: number;
}

let readerCount = 0;

/** Rows the reads wrote into their temp tables, per connection: counted by `total_changes()` like real writes. */
const tempRowsWritten = new WeakMap<Database.Database, number>();

/**
 * The rows written on this connection (`total_changes()`) less those the table's reads wrote into their temp tables:
 * a count that changes only when the store is written, to tell a write from a read.
 */
export function storeChangesOf(db: Database.Database): number {
  return (db.prepare('SELECT total_changes()').pluck().get() as number) - (tempRowsWritten.get(db) ?? 0);
}

type RunRow = [string, number, string, string, number, number | null, string | null, string | null, number | null];

/**
 * The steps of reading the runs in scope (`window`: only those rows of the default order) into columns.
 * Reads in one transaction (a snapshot) unless the caller holds one; temp tables are dropped at the end,
 * also when the caller stops early (`return()`).
 */
export function* readRunTable(
  db: Database.Database,
  options: LoadRunTableOptions = {},
  window?: { readonly offset: number; readonly limit: number } | { readonly runIds: readonly string[] },
  stepRuns = CHUNK_RUNS,
): Generator<RunTableProgress, RunTable, void> {
  const { where, args } = runScope(options);
  const rowsTable = `temp.mloop_table_rows_${++readerCount}`;
  const keysTable = `temp.mloop_table_keys_${readerCount}`;
  const ownTransaction = !db.inTransaction;
  if (ownTransaction) db.exec('BEGIN');
  const changesBefore = db.prepare('SELECT total_changes()').pluck().get() as number;
  try {
    const columns = 'run_id, experiment_id, name, status, start_time, end_time, user, git_commit, git_dirty';
    let runs: RunRow[];
    if (window && 'runIds' in window) {
      // the runs a search found, in its order (those gone since are left out)
      const found = new Map<string, RunRow>();
      for (const row of db
        .prepare(`SELECT ${columns} FROM run WHERE run_id IN (SELECT value FROM json_each(?))`)
        .raw()
        .all(JSON.stringify(window.runIds)) as RunRow[])
        found.set(row[0], row);
      runs = window.runIds.flatMap((id) => {
        const row = found.get(id);
        return row ? [row] : [];
      });
      fillRows(db, rowsTable, runs, stepRuns);
    } else if (window) {
      const page = `LIMIT ${Math.max(0, Math.floor(window.limit))} OFFSET ${Math.max(0, Math.floor(window.offset))}`;
      runs = db
        .prepare(`SELECT ${columns} FROM run ${where} ORDER BY start_time DESC, run_id ${page}`)
        .raw()
        .all(...args) as RunRow[];
      fillRows(db, rowsTable, runs, stepRuns);
    } else {
      // every run, a step at a time (at 100,000 runs one statement that read or sorted them all held the editor's
      // thread for 0.2–2 s, and a message from the page waited for it): their rows in rowid order, a chunk per step,
      // then sorted here into the table's order (start_time DESC, run_id: run ids are compared as UTF-16 code units,
      // as the in-memory search does), then numbered in a temp table a chunk per step. NOT INDEXED: with an experiment
      // in scope SQLite would otherwise take run_by_experiment and sort every run of it again for each chunk
      const chunk = db
        .prepare(`SELECT rowid, ${columns} FROM run NOT INDEXED WHERE rowid > ? ${where.replace(/^WHERE /, 'AND ')} ORDER BY rowid LIMIT ?`)
        .raw();
      const read: RunRow[] = [];
      for (let after = Number.MIN_SAFE_INTEGER; ; ) {
        const rows = chunk.all(after, ...args, stepRuns) as [number, ...RunRow][];
        for (const [, ...row] of rows) read.push(row as RunRow);
        yield { done: 0, total: read.length };
        if (rows.length < stepRuns) break;
        after = rows.at(-1)![0];
      }
      const starts = Float64Array.from(read, (r) => r[4]);
      const ids = read.map((r) => r[0]);
      // sorted a step at a time: one sort of 100,000 runs was a step of 50–80 ms, and the page's sort waited for it
      const sorting = sortInSteps(read.length, (x, y) => starts[y]! - starts[x]! || (ids[x]! < ids[y]! ? -1 : ids[x]! > ids[y]! ? 1 : 0), stepRuns * 32);
      let order: Uint32Array;
      for (;;) {
        const step = sorting.next();
        if (step.done) {
          order = step.value;
          break;
        }
        yield { done: 0, total: read.length };
      }
      runs = Array.from(order, (i) => read[i]!);
      yield { done: 0, total: runs.length };
      db.exec(`CREATE TABLE ${rowsTable} (idx INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE)`);
      const insertRow = db.prepare(`INSERT INTO ${rowsTable} (idx, run_id) SELECT key + ?, value FROM json_each(?)`);
      for (let start = 0; start < runs.length; start += stepRuns) {
        insertRow.run(start, JSON.stringify(runs.slice(start, start + stepRuns).map((r) => r[0])));
        yield { done: 0, total: runs.length };
      }
    }
    const size = runs.length;
    const runIds = runs.map((r) => r[0]);
    const total = size;
    yield { done: 0, total };

    // key codes: every key of the table in a temp table, so a row carries a small integer instead of the key text
    db.exec(`CREATE TABLE ${keysTable} (source TEXT NOT NULL, key TEXT NOT NULL, code INTEGER NOT NULL, PRIMARY KEY (source, key)) WITHOUT ROWID`);
    const fillKeys = (source: 'metric_series' | 'param' | 'tag'): string[] => {
      // a window (the first screen) reads the keys of its runs; the whole table, every key (cheaper than a join)
      // the whole table's metric and param keys: one seek per key in the index led by the key (migration 021), not a
      // scan of every row (4,000,000 at 100,000 runs × 40 metrics: a step that held the editor's thread for ~0.4 s)
      const every =
        source === 'tag'
          ? `SELECT DISTINCT key FROM ${source}`
          : `WITH RECURSIVE k(key) AS (SELECT min(key) FROM ${source} UNION ALL SELECT (SELECT min(key) FROM ${source} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL)
             SELECT key FROM k WHERE key IS NOT NULL`;
      const keys = db
        .prepare(window ? `SELECT DISTINCT key FROM ${source} WHERE run_id IN (SELECT run_id FROM ${rowsTable})` : every)
        .pluck()
        .all() as string[];
      db.prepare(`INSERT INTO ${keysTable} (source, key, code) SELECT ?, value, key FROM json_each(?)`).run(source, JSON.stringify(keys));
      return keys;
    };
    // each a scan of its table when the whole table is read: a step of its own
    const metricKeys = fillKeys('metric_series');
    yield { done: 0, total };
    const paramKeys = fillKeys('param');
    yield { done: 0, total };
    const tagKeys = fillKeys('tag');
    yield { done: 0, total };

    const chunkSql = (source: string, value: string): Database.Statement =>
      db
        .prepare(
          // CROSS JOIN fixes the order: each run's rows are one range of the (run_id, key) index; left to the planner,
          // it seeks every (run, key) pair instead (ten times the CPU at 100,000 runs)
          `SELECT json_group_array(r.idx), json_group_array(k.code), json_group_array(s.${value}) FROM ${rowsTable} r
           CROSS JOIN ${source} s ON s.run_id = r.run_id CROSS JOIN ${keysTable} k ON k.source = '${source}' AND k.key = s.key
           WHERE r.idx >= ? AND r.idx < ?`,
        )
        .raw();
    const metricChunk = chunkSql('metric_series', 'latest_value');
    const paramChunk = chunkSql('param', 'value');
    const tagChunk = chunkSql('tag', 'value');

    const metricColumns: (MetricColumn | undefined)[] = new Array(metricKeys.length);
    const paramColumns: ((string | undefined)[] | undefined)[] = new Array(paramKeys.length);
    const tagColumns: ((string | undefined)[] | undefined)[] = new Array(tagKeys.length);
    const readText = (statement: Database.Statement, columns: ((string | undefined)[] | undefined)[], start: number): void => {
      const [idx, codes, values] = (statement.get(start, start + stepRuns) as [string, string, string]).map((json) => JSON.parse(json) as unknown[]) as [
        number[],
        number[],
        string[],
      ];
      for (let j = 0; j < idx.length; j++) {
        const code = codes[j]!;
        const column = (columns[code] ??= new Array<string | undefined>(size));
        column[idx[j]!] = values[j];
      }
    };
    const inputs = new Array<RunInput[] | undefined>(size);
    const inputChunk = db
      .prepare(
        `SELECT r.idx, d.name, dv.digest, ri.context FROM ${rowsTable} r JOIN run_input ri ON ri.run_id = r.run_id
         JOIN dataset_version dv ON dv.dataset_version_id = ri.dataset_version_id JOIN dataset d ON d.dataset_id = dv.dataset_id
         WHERE r.idx >= ? AND r.idx < ?`,
      )
      .raw();
    for (let start = 0; start < size; start += stepRuns) {
      const [idx, codes, values] = (metricChunk.get(start, start + stepRuns) as [string, string, string]).map((json) => JSON.parse(json) as unknown[]) as [
        number[],
        number[],
        (number | null)[],
      ];
      for (let j = 0; j < idx.length; j++) {
        const code = codes[j]!;
        const column = (metricColumns[code] ??= { values: new Float64Array(size), present: new Uint8Array(size) });
        const i = idx[j]!;
        column.values[i] = values[j] ?? Number.NaN; // metric_series keeps NULL where the latest point was NaN
        column.present[i] = 1;
      }
      yield { done: start, total };
      readText(paramChunk, paramColumns, start);
      readText(tagChunk, tagColumns, start);
      for (const [i, name, digest, context] of inputChunk.all(start, start + stepRuns) as [number, string, string, string][])
        (inputs[i] ??= []).push({ name, digest, context });
      yield { done: Math.min(size, start + stepRuns), total };
    }

    const byKey = <T>(keys: readonly string[], columns: readonly (T | undefined)[]): Map<string, T> => {
      const map = new Map<string, T>();
      keys.forEach((key, code) => {
        const column = columns[code];
        if (column) map.set(key, column); // a key only other runs have (outside the scope) makes no column
      });
      return map;
    };
    return {
      size,
      runIds,
      experimentIds: runs.map((r) => r[1]),
      names: runs.map((r) => r[2]),
      statuses: runs.map((r) => r[3]),
      startTimes: runs.map((r) => r[4]),
      endTimes: runs.map((r) => r[5]),
      users: runs.map((r) => r[6]),
      commits: runs.map((r) => (r[7] ? `${r[7]}${r[8] ? '+' : ''}` : null)),
      params: byKey(paramKeys, paramColumns),
      tags: byKey(tagKeys, tagColumns),
      metrics: byKey(metricKeys, metricColumns),
      inputs,
    };
  } finally {
    db.exec(`DROP TABLE IF EXISTS ${rowsTable}; DROP TABLE IF EXISTS ${keysTable}`);
    const written = (db.prepare('SELECT total_changes()').pluck().get() as number) - changesBefore;
    tempRowsWritten.set(db, (tempRowsWritten.get(db) ?? 0) + written);
    if (ownTransaction && db.inTransaction) db.exec('COMMIT');
  }
}

/**
 * The indexes 0..n-1 ordered by `compare`, stably, by a bottom-up merge sort that yields after about `budget`
 * comparisons, so a caller can let other work run between its steps. Runs of 32 are insertion-sorted first.
 */
export function* sortInSteps(n: number, compare: (x: number, y: number) => number, budget = 16_000): Generator<void, Uint32Array, void> {
  let from = Uint32Array.from({ length: n }, (_, i) => i);
  let to = new Uint32Array(n);
  let work = 0;
  const RUN = 32;
  for (let start = 0; start < n; start += RUN) {
    const end = Math.min(n, start + RUN);
    for (let i = start + 1; i < end; i++) {
      const v = from[i]!;
      let j = i - 1;
      while (j >= start && compare(from[j]!, v) > 0) {
        from[j + 1] = from[j]!;
        j--;
        work++;
      }
      from[j + 1] = v;
      work++;
    }
    if (work >= budget) {
      work = 0;
      yield;
    }
  }
  for (let width = RUN; width < n; width *= 2) {
    for (let left = 0; left < n; left += 2 * width) {
      const mid = Math.min(n, left + width);
      const right = Math.min(n, left + 2 * width);
      let i = left;
      let j = mid;
      let k = left;
      while (i < mid && j < right) to[k++] = compare(from[i]!, from[j]!) <= 0 ? from[i++]! : from[j++]!;
      while (i < mid) to[k++] = from[i++]!;
      while (j < right) to[k++] = from[j++]!;
      work += right - left;
      if (work >= budget) {
        work = 0;
        yield;
      }
    }
    [from, to] = [to, from];
  }
  return from;
}

/** The runs of a window in a temp table, numbered in their order (`idx`), a JSON array per statement. */
function fillRows(db: Database.Database, rowsTable: string, runs: readonly RunRow[], stepRuns: number): void {
  db.exec(`CREATE TABLE ${rowsTable} (idx INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE)`);
  const insertRow = db.prepare(`INSERT INTO ${rowsTable} (idx, run_id) SELECT key + ?, value FROM json_each(?)`);
  for (let start = 0; start < runs.length; start += stepRuns) insertRow.run(start, JSON.stringify(runs.slice(start, start + stepRuns).map((r) => r[0])));
}

/** The WHERE clause (and its arguments) of the runs a table holds; `alias` qualifies the run table's columns (e.g. `r.`). */
export function runScope(options: LoadRunTableOptions, alias = ''): { where: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (options.experimentIds) {
    where.push(`${alias}experiment_id IN (${options.experimentIds.map(() => '?').join(', ') || 'NULL'})`);
    args.push(...options.experimentIds);
  }
  const lifecycle = options.lifecycle ?? 'active';
  if (lifecycle !== 'all') {
    where.push(`${alias}lifecycle_stage = ?`);
    args.push(lifecycle);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

/** Reads the whole table in one go (the CLI, the tracking endpoint's search). */
export function loadRunTable(db: Database.Database, options: LoadRunTableOptions = {}): RunTable {
  const steps = readRunTable(db, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * One window of the table in its default order (the first screen before every run is read, and the rows the
 * page scrolls to meanwhile), with the number of runs in scope: a LIMIT query and the reads of those runs.
 */
export function readRunTablePage(db: Database.Database, options: LoadRunTableOptions, offset: number, limit: number): RunTablePage {
  const { where, args } = runScope(options);
  const total = db
    .prepare(`SELECT count(*) FROM run ${where}`)
    .pluck()
    .get(...args) as number;
  const steps = readRunTable(db, options, { offset, limit });
  for (;;) {
    const step = steps.next();
    if (step.done) return { table: step.value, offset, total };
  }
}

/** These runs (a search's page) as a table, in the order given, with their cells read as the first screen's are. */
export function readRunTableRows(db: Database.Database, options: LoadRunTableOptions, runIds: readonly string[]): RunTable {
  const steps = readRunTable(db, options, { runIds });
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Reads the whole table step by step, letting the event loop run between steps (the editor stays responsive
 * and can post the first screen first). `isCancelled` is asked between steps: a cancelled read ends (temp
 * tables dropped) and resolves undefined. Give it a connection of its own: the read holds a transaction open
 * across the steps, and writes on the same connection would join it.
 */
export async function loadRunTableInSteps(
  db: Database.Database,
  options: LoadRunTableOptions,
  control: {
    readonly isCancelled?: () => boolean;
    readonly onProgress?: (progress: RunTableProgress) => void;
    /** Runs per step (default 500). */
    readonly stepRuns?: number;
    /** Asked after each step with the steps done so far: a promise returned is awaited before the next (tests hold a read mid-way). */
    readonly betweenSteps?: (steps: number) => Promise<void> | undefined;
  } = {},
): Promise<RunTable | undefined> {
  const steps = readRunTable(db, options, undefined, control.stepRuns);
  for (let done = 1; ; done++) {
    const step = steps.next();
    if (step.done) return step.value;
    control.onProgress?.(step.value);
    // setImmediate, not a microtask: the event loop polls for I/O (the page's messages) before the next step
    await new Promise((resolve) => setImmediate(resolve));
    await control.betweenSteps?.(done);
    if (control.isCancelled?.()) {
      steps.return(undefined as unknown as RunTable);
      return undefined;
    }
  }
}
