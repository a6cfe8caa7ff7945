import type Database from 'better-sqlite3';
import { loadRunTable as readWholeRunTable, runScope } from './runTableReader';
import { checkRunFilter, checkRunOrder, type FilterClause, type OrderClause, parseFilter, parseOrderByList, RUN_ATTRIBUTES } from './searchSyntax';

// The runs of a store as columns in memory, searched with MLflow's filter and order semantics: the
// Experiments Table sorts and filters 100,000 runs host-side without a query per click, and
// `mloop runs list --filter` gives the same answers. Semantics follow MLflow's SQL store:
// a clause on a missing param/tag/metric is false (except IS NULL), LIKE is case-sensitive, a NaN metric
// only satisfies !=, ordering puts NaN metrics after numbers and missing values last either way,
// ties go to start_time DESC then run_id.

/** Latest value per run (NaN where the latest point was NaN); `present[i]` is 0 where run i has no such metric. */
export interface MetricColumn {
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

export interface RunInput {
  readonly name: string;
  readonly digest: string;
  readonly context: string;
}

export interface RunTable {
  readonly size: number;
  readonly runIds: readonly string[];
  readonly experimentIds: readonly number[];
  readonly names: readonly string[];
  readonly statuses: readonly string[];
  readonly startTimes: readonly number[];
  readonly endTimes: readonly (number | null)[];
  readonly users: readonly (string | null)[];
  /** The git commit the run started at, with `+` when the tree was dirty; null when not recorded. */
  readonly commits: readonly (string | null)[];
  readonly params: ReadonlyMap<string, readonly (string | undefined)[]>;
  readonly tags: ReadonlyMap<string, readonly (string | undefined)[]>;
  readonly metrics: ReadonlyMap<string, MetricColumn>;
  readonly inputs: readonly (readonly RunInput[] | undefined)[];
}

export interface LoadRunTableOptions {
  /** Only these experiments (default: all). */
  readonly experimentIds?: readonly number[];
  /** MLflow's run_view_type: active runs (default), deleted ones, or both. */
  readonly lifecycle?: 'active' | 'deleted' | 'all';
}

/** Reads the runs (with params, tags, latest metrics and dataset inputs) into columns (runTableReader.ts). */
export function loadRunTable(db: Database.Database, options: LoadRunTableOptions = {}): RunTable {
  return readWholeRunTable(db, options);
}

// --- min / max per metric ------------------------------------------------------------------------

/** Which value of a metric's history a table column holds: the latest point (MLflow's), or the minimum or maximum. */
export type MetricAggregate = 'last' | 'min' | 'max';

/** Min/max columns read for a table, by `<aggregate>:<key>`: a table is read again when the store changes, so this never goes stale. */
const aggregateCache = new WeakMap<RunTable, Map<string, MetricColumn>>();
/** Run id → row, per table (built once, for reads keyed by run id). */
const rowIndexCache = new WeakMap<RunTable, Map<string, number>>();

function rowIndex(table: RunTable): Map<string, number> {
  let index = rowIndexCache.get(table);
  if (!index) {
    index = new Map();
    for (let i = 0; i < table.size; i++) index.set(table.runIds[i]!, i);
    rowIndexCache.set(table, index);
  }
  return index;
}

/**
 * The table with the named metrics' columns holding their minimum or maximum over each run's history instead
 * of the latest value, read with SQL from the store's per-series min/max (kept as points are logged), one
 * query per metric whose answer is two JSON arrays; each column is read once per table and kept. Filters and
 * order keys on those metrics then use that value, as the table shows it.
 */
export function withMetricAggregates(
  db: Database.Database,
  table: RunTable,
  aggregates: Readonly<Record<string, MetricAggregate>>,
  options: LoadRunTableOptions = {},
): RunTable {
  const wanted = Object.entries(aggregates).filter(([key, aggregate]) => aggregate !== 'last' && table.metrics.has(key));
  if (!wanted.length) return table;
  let cache = aggregateCache.get(table);
  if (!cache) aggregateCache.set(table, (cache = new Map()));
  const metrics = new Map(table.metrics);
  for (const [key, aggregate] of wanted) {
    const cacheKey = `${aggregate}:${key}`;
    let column = cache.get(cacheKey);
    if (!column) {
      column = readAggregateColumn(db, table, key, aggregate === 'min' ? 'min_value' : 'max_value', options);
      cache.set(cacheKey, column);
    }
    metrics.set(key, column);
  }
  return { ...table, metrics };
}

function readAggregateColumn(
  db: Database.Database,
  table: RunTable,
  key: string,
  value: 'min_value' | 'max_value',
  options: LoadRunTableOptions,
): MetricColumn {
  const index = rowIndex(table);
  const column = { values: new Float64Array(table.size), present: new Uint8Array(table.size) };
  // a window of the table (the first screen) names its runs; the whole table reads the runs in scope
  const { where, args } = runScope(options);
  const [ids, values] = (
    table.size <= 1000
      ? db
          .prepare(
            `SELECT json_group_array(run_id), json_group_array(${value}) FROM metric_series WHERE key = ? AND run_id IN (SELECT value FROM json_each(?))`,
          )
          .raw()
          .get(key, JSON.stringify(table.runIds))
      : db
          .prepare(
            `SELECT json_group_array(run_id), json_group_array(${value}) FROM metric_series WHERE key = ? AND run_id IN (SELECT run_id FROM run ${where})`,
          )
          .raw()
          .get(key, ...args)
  ) as [string, string];
  const runIds = JSON.parse(ids) as string[];
  const numbers = JSON.parse(values) as (number | null)[];
  for (let j = 0; j < runIds.length; j++) {
    const i = index.get(runIds[j]!);
    if (i === undefined) continue; // a run written since the table was read
    column.values[i] = numbers[j] ?? Number.NaN; // NULL: every point was NaN
    column.present[i] = 1;
  }
  return column;
}

// --- filter -----------------------------------------------------------------------------------------

type RowTest = (row: number) => boolean;

/** MLflow's LIKE / ILIKE pattern as a regular expression (% any text, _ one character). */
export const likeRegExp = (pattern: string, caseInsensitive: boolean): RegExp =>
  new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\%_]/g, (ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : `\\${ch}`))}$`, caseInsensitive ? 'is' : 's');

function textTest(value: (row: number) => string | null | undefined, clause: FilterClause): RowTest {
  const { comparator } = clause;
  switch (comparator) {
    case 'IS NULL':
      return (i) => value(i) == null;
    case 'IS NOT NULL':
      return (i) => value(i) != null;
    case 'IN':
    case 'NOT IN': {
      const set = new Set(clause.value as readonly string[]);
      const want = comparator === 'IN';
      return (i) => {
        const v = value(i);
        return v != null && set.has(v) === want;
      };
    }
    case 'LIKE':
    case 'ILIKE': {
      const re = likeRegExp(String(clause.value), comparator === 'ILIKE');
      return (i) => {
        const v = value(i);
        return v != null && re.test(v);
      };
    }
    case '=':
    case '!=': {
      const target = String(clause.value);
      const want = comparator === '=';
      return (i) => {
        const v = value(i);
        return v != null && (v === target) === want;
      };
    }
    default:
      return () => false; // checkRunFilter refuses the rest
  }
}

const numericCompare: Readonly<Record<string, (a: number, b: number) => boolean>> = {
  '=': (a, b) => a === b,
  '!=': (a, b) => a !== b, // NaN !== x: a NaN metric satisfies only !=, as in MLflow
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/** The column of a text attribute (`status`, `run_name`, `run_id`, `user_id`), for filters and order keys alike. */
function textAttribute(table: RunTable, name: string): readonly (string | null)[] | undefined {
  if (name === 'status') return table.statuses;
  if (name === 'run_name') return table.names;
  if (name === 'run_id') return table.runIds;
  if (name === 'user_id') return table.users;
  return undefined;
}

function clauseTest(table: RunTable, clause: FilterClause): RowTest {
  switch (clause.entity) {
    case 'metric': {
      const column = table.metrics.get(clause.key);
      if (!column) return () => false;
      const compare = numericCompare[clause.comparator]!;
      const target = clause.value as number;
      return (i) => column.present[i] === 1 && compare(column.values[i]!, target);
    }
    case 'param':
    case 'tag': {
      const column = (clause.entity === 'param' ? table.params : table.tags).get(clause.key);
      return textTest((i) => column?.[i], clause);
    }
    case 'attribute': {
      const name = RUN_ATTRIBUTES[clause.key]!.name;
      if (name === 'start_time' || name === 'end_time') {
        const times = name === 'start_time' ? table.startTimes : table.endTimes;
        const compare = numericCompare[clause.comparator]!;
        const target = clause.value as number;
        return (i) => {
          const t = times[i];
          return t != null && compare(t, target);
        };
      }
      const column = textAttribute(table, name);
      return textTest((i) => column?.[i], clause);
    }
    case 'dataset': {
      const field = clause.key as keyof RunInput;
      const test = (v: string): boolean => textTest(() => v, clause)(0);
      return (i) => table.inputs[i]?.some((input) => test(input[field])) ?? false;
    }
  }
}

/** The rows (indices into the table) that satisfy every clause, in table order. */
export function filterRows(table: RunTable, clauses: readonly FilterClause[]): Int32Array {
  const tests = clauses.map((c) => clauseTest(table, c));
  const out = new Int32Array(table.size);
  let n = 0;
  for (let i = 0; i < table.size; i++) {
    let keep = true;
    for (const test of tests) {
      if (!test(i)) {
        keep = false;
        break;
      }
    }
    if (keep) out[n++] = i;
  }
  return out.slice(0, n);
}

// --- order ------------------------------------------------------------------------------------------

/**
 * Per row, typed: rank (0 a value, 1 NaN, 2 missing; compared first, so missing stays last either way) and a
 * number to compare, with the direction applied (text: its place among the column's distinct values).
 */
interface SortKey {
  readonly rank: Uint8Array;
  readonly numbers: Float64Array;
}

/** Each text column's values as their place in code-unit order (0 for a missing value), computed once per column. */
const textRankCache = new WeakMap<readonly (string | null | undefined)[], Uint32Array>();

function textRanks(texts: readonly (string | null | undefined)[], size: number): Uint32Array {
  let ranks = textRankCache.get(texts);
  if (ranks) return ranks;
  const distinct = new Map<string, number>();
  for (let i = 0; i < size; i++) {
    const t = texts[i];
    if (t != null) distinct.set(t, 0);
  }
  const sorted = [...distinct.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  sorted.forEach((t, n) => distinct.set(t, n));
  ranks = new Uint32Array(size);
  for (let i = 0; i < size; i++) {
    const t = texts[i];
    if (t != null) ranks[i] = distinct.get(t)!;
  }
  textRankCache.set(texts, ranks);
  return ranks;
}

function sortKey(table: RunTable, order: OrderClause): SortKey {
  const { size } = table;
  const rank = new Uint8Array(size);
  const numbers = new Float64Array(size);
  const sign = order.descending ? -1 : 1;
  const textKey = (texts: readonly (string | null | undefined)[] | undefined): SortKey => {
    if (!texts) return { rank: rank.fill(2), numbers };
    const ranks = textRanks(texts, size);
    for (let i = 0; i < size; i++) {
      if (texts[i] == null) rank[i] = 2;
      else numbers[i] = sign * ranks[i]!;
    }
    return { rank, numbers };
  };
  switch (order.entity) {
    case 'metric': {
      const column = table.metrics.get(order.key);
      if (!column) return { rank: rank.fill(2), numbers };
      const { present, values } = column;
      for (let i = 0; i < size; i++) {
        const v = values[i]!;
        if (!present[i]) rank[i] = 2;
        else if (v !== v)
          rank[i] = 1; // NaN
        else numbers[i] = sign * v;
      }
      return { rank, numbers };
    }
    case 'param':
      return textKey(table.params.get(order.key));
    case 'tag':
      return textKey(table.tags.get(order.key));
    default: {
      const name = RUN_ATTRIBUTES[order.key]!.name;
      if (name === 'start_time' || name === 'end_time') {
        const times = name === 'start_time' ? table.startTimes : table.endTimes;
        for (let i = 0; i < size; i++) {
          const t = times[i];
          if (t == null) rank[i] = 2;
          else numbers[i] = sign * t;
        }
        return { rank, numbers };
      }
      return textKey(textAttribute(table, name));
    }
  }
}

/** Each row's place in MLflow's tie order (start_time DESC, then run_id), computed once per table. */
const tieOrderCache = new WeakMap<RunTable, Int32Array>();

function tieOrder(table: RunTable): Int32Array {
  let place = tieOrderCache.get(table);
  if (place) return place;
  const { startTimes, runIds, size } = table;
  const before = (a: number, b: number): number =>
    startTimes[a] !== startTimes[b] ? startTimes[b]! - startTimes[a]! : runIds[a]! < runIds[b]! ? -1 : runIds[a]! > runIds[b]! ? 1 : 0;
  place = new Int32Array(size);
  // a table read from the store is already in this order (the reader's ORDER BY): its place is its row
  let inOrder = true;
  for (let i = 1; i < size && inOrder; i++) inOrder = before(i - 1, i) < 0;
  if (inOrder) for (let i = 0; i < size; i++) place[i] = i;
  else {
    const rows = Array.from({ length: size }, (_, i) => i).sort(before);
    rows.forEach((row, n) => (place![row] = n));
  }
  tieOrderCache.set(table, place);
  return place;
}

/**
 * Sorts rows by the order clauses, then start_time DESC and run_id, as MLflow does (when start_time is a key,
 * its ties go to run_id: the same as the tie order, as equal start times are in run_id order there).
 */
export function orderRows(table: RunTable, rows: Int32Array, order: readonly OrderClause[]): Int32Array {
  const tie = tieOrder(table);
  const sorted = Int32Array.from(rows);
  if (order.length === 0) return sorted.sort((a, b) => tie[a]! - tie[b]!);
  const keys = order.map((o) => sortKey(table, o));
  if (keys.length === 1) {
    const { rank, numbers } = keys[0]!;
    // a difference of two equal infinities is NaN, falsy: the next comparison decides
    return sorted.sort((a, b) => rank[a]! - rank[b]! || numbers[a]! - numbers[b]! || tie[a]! - tie[b]!);
  }
  return sorted.sort((a, b) => {
    for (const { rank, numbers } of keys) {
      const c = rank[a]! - rank[b]! || numbers[a]! - numbers[b]!;
      if (c) return c;
    }
    return tie[a]! - tie[b]!;
  });
}

export interface RunSearch {
  /** An MLflow filter string. */
  readonly filter?: string;
  /** Order keys, each like "metrics.accuracy DESC"; one string may hold several separated by commas. */
  readonly orderBy?: string | readonly string[];
}

/** Parses and checks a search (errors carry the column): its filter clauses and order keys. */
export function parseRunSearch(search: RunSearch): { clauses: FilterClause[]; order: OrderClause[] } {
  const clauses = parseFilter(search.filter);
  checkRunFilter(search.filter ?? '', clauses);
  const orderTexts = typeof search.orderBy === 'string' ? [search.orderBy] : (search.orderBy ?? []);
  const order = orderTexts.flatMap((text) => {
    const parsed = parseOrderByList(text);
    checkRunOrder(text, parsed);
    return parsed;
  });
  checkRunOrder(orderTexts.join(', '), order);
  return { clauses, order };
}

/** Parses, checks (errors carry the column) and applies a search: the matching rows in order. */
export function searchRunTable(table: RunTable, search: RunSearch): Int32Array {
  const { clauses, order } = parseRunSearch(search);
  return orderRows(table, filterRows(table, clauses), order);
}
