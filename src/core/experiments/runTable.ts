import type Database from 'better-sqlite3';
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

/** Reads the runs (with params, tags, latest metrics and dataset inputs) into columns: four queries in all. */
/** The WHERE clause (and its arguments) of the runs a table holds. */
function runScope(options: LoadRunTableOptions): { where: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (options.experimentIds) {
    where.push(`experiment_id IN (${options.experimentIds.map(() => '?').join(', ') || 'NULL'})`);
    args.push(...options.experimentIds);
  }
  const lifecycle = options.lifecycle ?? 'active';
  if (lifecycle !== 'all') {
    where.push('lifecycle_stage = ?');
    args.push(lifecycle);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

export function loadRunTable(db: Database.Database, options: LoadRunTableOptions = {}): RunTable {
  const { where: runWhere, args } = runScope(options);
  const runs = db
    .prepare(
      `SELECT run_id, experiment_id, name, status, start_time, end_time, user, git_commit, git_dirty FROM run ${runWhere} ORDER BY start_time DESC, run_id`,
    )
    .raw()
    .all(...args) as [string, number, string, string, number, number | null, string | null, string | null, number | null][];
  const size = runs.length;
  const index = new Map<string, number>();
  runs.forEach((r, i) => index.set(r[0], i));
  const inRuns = `run_id IN (SELECT run_id FROM run ${runWhere})`;

  const textColumns = (table: 'param' | 'tag'): Map<string, (string | undefined)[]> => {
    const columns = new Map<string, (string | undefined)[]>();
    for (const [runId, key, value] of db
      .prepare(`SELECT run_id, key, value FROM ${table} WHERE ${inRuns}`)
      .raw()
      .iterate(...args) as Iterable<[string, string, string]>) {
      let column = columns.get(key);
      if (!column) columns.set(key, (column = new Array<string | undefined>(size)));
      column[index.get(runId)!] = value;
    }
    return columns;
  };
  const metrics = new Map<string, MetricColumn>();
  for (const [runId, key, value] of db
    .prepare(`SELECT run_id, key, latest_value FROM metric_series WHERE ${inRuns}`)
    .raw()
    .iterate(...args) as Iterable<[string, string, number | null]>) {
    let column = metrics.get(key);
    if (!column) metrics.set(key, (column = { values: new Float64Array(size), present: new Uint8Array(size) }));
    const i = index.get(runId)!;
    column.values[i] = value ?? Number.NaN; // metric_series keeps NULL where the latest point was NaN
    column.present[i] = 1;
  }
  const inputs = new Array<RunInput[] | undefined>(size);
  const inputSql = `SELECT ri.run_id, d.name, dv.digest, ri.context FROM run_input ri
    JOIN dataset_version dv ON dv.dataset_version_id = ri.dataset_version_id JOIN dataset d ON d.dataset_id = dv.dataset_id WHERE ri.${inRuns}`;
  for (const [runId, name, digest, context] of db
    .prepare(inputSql)
    .raw()
    .iterate(...args) as Iterable<[string, string, string, string]>) {
    const i = index.get(runId)!;
    (inputs[i] ??= []).push({ name, digest, context });
  }
  return {
    size,
    runIds: runs.map((r) => r[0]),
    experimentIds: runs.map((r) => r[1]),
    names: runs.map((r) => r[2]),
    statuses: runs.map((r) => r[3]),
    startTimes: runs.map((r) => r[4]),
    endTimes: runs.map((r) => r[5]),
    users: runs.map((r) => r[6]),
    commits: runs.map((r) => (r[7] ? `${r[7]}${r[8] ? '+' : ''}` : null)),
    params: textColumns('param'),
    tags: textColumns('tag'),
    metrics,
    inputs,
  };
}

// --- min / max per metric ------------------------------------------------------------------------

/** Which value of a metric's history a table column holds: the latest point (MLflow's), or the minimum or maximum. */
export type MetricAggregate = 'last' | 'min' | 'max';

/**
 * The table with the named metrics' columns holding their minimum or maximum over each run's history instead
 * of the latest value, read with SQL from the store's per-series min/max (kept as points are logged), one
 * query per metric. Filters and order keys on those metrics then use that value, as the table shows it.
 */
export function withMetricAggregates(
  db: Database.Database,
  table: RunTable,
  aggregates: Readonly<Record<string, MetricAggregate>>,
  options: LoadRunTableOptions = {},
): RunTable {
  const wanted = Object.entries(aggregates).filter(([key, aggregate]) => aggregate !== 'last' && table.metrics.has(key));
  if (!wanted.length) return table;
  const index = new Map<string, number>();
  table.runIds.forEach((id, i) => index.set(id, i));
  const { where, args } = runScope(options);
  const metrics = new Map(table.metrics);
  for (const [key, aggregate] of wanted) {
    const column = { values: new Float64Array(table.size), present: new Uint8Array(table.size) };
    const sql = `SELECT run_id, ${aggregate === 'min' ? 'min_value' : 'max_value'} FROM metric_series
      WHERE run_id IN (SELECT run_id FROM run ${where}) AND key = ?`;
    for (const [runId, value] of db
      .prepare(sql)
      .raw()
      .iterate(...args, key) as Iterable<[string, number | null]>) {
      const i = index.get(runId);
      if (i === undefined) continue; // a run written since the table was read
      column.values[i] = value ?? Number.NaN; // NULL: every point was NaN
      column.present[i] = 1;
    }
    metrics.set(key, column);
  }
  return { ...table, metrics };
}

// --- filter -----------------------------------------------------------------------------------------

type RowTest = (row: number) => boolean;

const likeRegExp = (pattern: string, caseInsensitive: boolean): RegExp =>
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

/** Per row: rank (0 a value, 1 NaN, 2 missing) and the value; compared rank first, so missing stays last either way. */
interface SortKey {
  readonly rank: Uint8Array;
  readonly numbers?: Float64Array;
  readonly texts?: readonly (string | null | undefined)[];
  readonly descending: boolean;
}

function sortKey(table: RunTable, order: OrderClause): SortKey {
  const rank = new Uint8Array(table.size);
  const { descending } = order;
  const textKey = (texts: readonly (string | null | undefined)[] | undefined): SortKey => {
    for (let i = 0; i < table.size; i++) if (texts?.[i] == null) rank[i] = 2;
    return { rank, texts: texts ?? [], descending };
  };
  switch (order.entity) {
    case 'metric': {
      const column = table.metrics.get(order.key);
      const numbers = new Float64Array(table.size);
      for (let i = 0; i < table.size; i++) {
        if (!column?.present[i]) rank[i] = 2;
        else if (Number.isNaN(column.values[i])) rank[i] = 1;
        else numbers[i] = column.values[i]!;
      }
      return { rank, numbers, descending };
    }
    case 'param':
      return textKey(table.params.get(order.key));
    case 'tag':
      return textKey(table.tags.get(order.key));
    default: {
      const name = RUN_ATTRIBUTES[order.key]!.name;
      if (name === 'start_time' || name === 'end_time') {
        const times = name === 'start_time' ? table.startTimes : table.endTimes;
        const numbers = new Float64Array(table.size);
        for (let i = 0; i < table.size; i++) {
          const t = times[i];
          if (t == null) rank[i] = 2;
          else numbers[i] = t;
        }
        return { rank, numbers, descending };
      }
      return textKey(textAttribute(table, name));
    }
  }
}

/** Sorts rows by the order clauses, then start_time DESC and run_id, as MLflow does. */
export function orderRows(table: RunTable, rows: Int32Array, order: readonly OrderClause[]): Int32Array {
  const keys = order.map((o) => sortKey(table, o));
  const byStart = order.some((o) => o.entity === 'attribute' && RUN_ATTRIBUTES[o.key]?.name === 'start_time');
  const { startTimes, runIds } = table;
  const sorted = Array.from(rows);
  sorted.sort((a, b) => {
    for (const key of keys) {
      const ra = key.rank[a]!;
      const rb = key.rank[b]!;
      if (ra !== rb) return ra - rb;
      if (ra !== 0) continue;
      let c = 0;
      if (key.numbers) c = key.numbers[a]! - key.numbers[b]!;
      else {
        const ta = key.texts![a]!;
        const tb = key.texts![b]!;
        c = ta < tb ? -1 : ta > tb ? 1 : 0;
      }
      if (c !== 0) return key.descending ? -c : c;
    }
    if (!byStart && startTimes[a] !== startTimes[b]) return startTimes[b]! - startTimes[a]!;
    return runIds[a]! < runIds[b]! ? -1 : runIds[a]! > runIds[b]! ? 1 : 0;
  });
  return Int32Array.from(sorted);
}

export interface RunSearch {
  /** An MLflow filter string. */
  readonly filter?: string;
  /** Order keys, each like "metrics.accuracy DESC"; one string may hold several separated by commas. */
  readonly orderBy?: string | readonly string[];
}

/** Parses, checks (errors carry the column) and applies a search: the matching rows in order. */
export function searchRunTable(table: RunTable, search: RunSearch): Int32Array {
  const clauses = parseFilter(search.filter);
  checkRunFilter(search.filter ?? '', clauses);
  const orderTexts = typeof search.orderBy === 'string' ? [search.orderBy] : (search.orderBy ?? []);
  const order = orderTexts.flatMap((text) => {
    const parsed = parseOrderByList(text);
    checkRunOrder(text, parsed);
    return parsed;
  });
  checkRunOrder(orderTexts.join(', '), order);
  return orderRows(table, filterRows(table, clauses), order);
}
