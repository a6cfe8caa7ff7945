import type Database from 'better-sqlite3';
import { likeRegExp, parseRunSearch, type LoadRunTableOptions, type MetricAggregate, type RunSearch } from './runTable';
import { readRunTablePage, readRunTableRows, runScope, type RunTablePage } from './runTableReader';
import { type FilterClause, type OrderClause, RUN_ATTRIBUTES } from './searchSyntax';

// A search answered with SQL, for the Experiments Table while the whole table is still being read (the first seconds
// after it opens at 100,000 runs): one statement filters and orders the runs in scope and counts the matches
// (count(*) OVER ()), LIMIT/OFFSET gives the rows asked for, and those runs are read as the first screen is. The
// semantics are the in-memory search's (runTable.ts), clause for clause: a clause on a missing value is false (except
// IS NULL), LIKE is case-sensitive, a NaN metric satisfies only !=, the order puts numbers, then NaN, then missing
// values, ties go to start_time DESC then run_id. One difference: text keys compare as UTF-8 bytes here and as UTF-16
// code units in memory, which order alike except characters past U+FFFF against those in U+E000–U+FFFF.

/** A page of a search: the rows asked for, the runs in scope (`total`) and how many match (`matched`). */
export interface RunTableSearchPage extends RunTablePage {
  readonly matched: number;
}

interface Sql {
  readonly sql: string;
  readonly args: readonly (string | number)[];
}

const AGGREGATE_COLUMN: Readonly<Record<MetricAggregate, string>> = { last: 'latest_value', min: 'min_value', max: 'max_value' };

/** The run table's column of a text attribute (null: a column runs do not have here, e.g. artifact_uri). */
const TEXT_ATTRIBUTES: Readonly<Record<string, string>> = { status: 'r.status', run_name: 'r.name', run_id: 'r.run_id', user_id: 'r.user' };

/** MLflow's LIKE as GLOB (case-sensitive): % and _ become * and ?, and GLOB's own wildcards are matched literally. */
const likeToGlob = (pattern: string): string => pattern.replace(/[*?[%_]/g, (ch) => (ch === '%' ? '*' : ch === '_' ? '?' : `[${ch}]`));

/** ILIKE through the in-memory search's own pattern (SQLite's LIKE folds ASCII case only). */
const withIlike = new WeakSet<Database.Database>();
function registerIlike(db: Database.Database): void {
  if (withIlike.has(db)) return;
  const patterns = new Map<string, RegExp>();
  db.function('mloop_ilike', { deterministic: true }, (value: unknown, pattern: unknown) => {
    if (typeof value !== 'string') return null;
    let re = patterns.get(String(pattern));
    if (!re) patterns.set(String(pattern), (re = likeRegExp(String(pattern), true)));
    return re.test(value) ? 1 : 0;
  });
  withIlike.add(db);
}

/** A text comparison of `expr` (NULL where the run has no such value: false, except IS NULL). */
function textPredicate(expr: Sql, clause: FilterClause): Sql {
  const { comparator, value } = clause;
  const e = expr.sql;
  switch (comparator) {
    case 'IS NULL':
    case 'IS NOT NULL':
      return { sql: `${e} ${comparator}`, args: expr.args };
    case 'IN':
    case 'NOT IN': {
      const list = (value as readonly string[]).map(String);
      const marks = list.map(() => '?').join(', ');
      // NULL NOT IN () is true in SQLite: a missing value satisfies neither
      return comparator === 'IN'
        ? { sql: `${e} IN (${marks})`, args: [...expr.args, ...list] }
        : { sql: `(${e} NOT IN (${marks}) AND ${e} IS NOT NULL)`, args: [...expr.args, ...list, ...expr.args] };
    }
    case 'LIKE':
      return { sql: `${e} GLOB ?`, args: [...expr.args, likeToGlob(String(value))] };
    case 'ILIKE':
      return { sql: `mloop_ilike(${e}, ?)`, args: [...expr.args, String(value)] };
    case '=':
    case '!=':
      return { sql: `${e} ${comparator} ?`, args: [...expr.args, String(value)] };
    default:
      return { sql: '0', args: [] }; // checkRunFilter refuses the rest
  }
}

const column = (sql: string): Sql => ({ sql, args: [] });

function clauseSql(clause: FilterClause, aggregates: Readonly<Record<string, MetricAggregate>>): Sql {
  switch (clause.entity) {
    case 'metric': {
      const value = AGGREGATE_COLUMN[aggregates[clause.key] ?? 'last'];
      // a NaN value is NULL in metric_series: it differs from every number, and compares false otherwise
      if (clause.comparator === '!=')
        return {
          sql: `EXISTS (SELECT 1 FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ? AND (m.${value} IS NULL OR m.${value} != ?))`,
          args: [clause.key, clause.value as number],
        };
      return {
        sql: `(SELECT m.${value} FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ?) ${clause.comparator} ?`,
        args: [clause.key, clause.value as number],
      };
    }
    case 'param':
    case 'tag':
      return textPredicate({ sql: `(SELECT v.value FROM ${clause.entity} v WHERE v.run_id = r.run_id AND v.key = ?)`, args: [clause.key] }, clause);
    case 'attribute': {
      const name = RUN_ATTRIBUTES[clause.key]!.name;
      if (name === 'start_time' || name === 'end_time') return { sql: `r.${name} ${clause.comparator} ?`, args: [clause.value as number] };
      return textPredicate(column(TEXT_ATTRIBUTES[name] ?? 'NULL'), clause);
    }
    case 'dataset': {
      const field = clause.key === 'name' ? 'd.name' : clause.key === 'digest' ? 'dv.digest' : 'ri.context';
      const predicate = textPredicate(column(field), clause);
      return {
        sql: `EXISTS (SELECT 1 FROM run_input ri JOIN dataset_version dv ON dv.dataset_version_id = ri.dataset_version_id
          JOIN dataset d ON d.dataset_id = dv.dataset_id WHERE ri.run_id = r.run_id AND ${predicate.sql})`,
        args: predicate.args,
      };
    }
  }
}

/** One order key: the joins it needs and its ORDER BY terms (missing last, NaN after numbers, either direction). */
function orderSql(order: OrderClause, n: number, aggregates: Readonly<Record<string, MetricAggregate>>): { join: Sql; terms: string } {
  const direction = order.descending ? 'DESC' : 'ASC';
  const none = { sql: '', args: [] };
  switch (order.entity) {
    case 'metric': {
      const column = `o${n}.${AGGREGATE_COLUMN[aggregates[order.key] ?? 'last']}`;
      return {
        join: { sql: `LEFT JOIN metric_series o${n} ON o${n}.run_id = r.run_id AND o${n}.key = ?`, args: [order.key] },
        terms: `o${n}.run_id IS NULL, ${column} IS NULL, ${column} ${direction}`,
      };
    }
    case 'param':
    case 'tag':
      return {
        join: { sql: `LEFT JOIN ${order.entity} o${n} ON o${n}.run_id = r.run_id AND o${n}.key = ?`, args: [order.key] },
        terms: `o${n}.value IS NULL, o${n}.value ${direction}`,
      };
    default: {
      const name = RUN_ATTRIBUTES[order.key]!.name;
      const column = name === 'start_time' || name === 'end_time' ? `r.${name}` : TEXT_ATTRIBUTES[name];
      // artifact_uri: no run has one here, so every run ties on it
      return { join: none, terms: column ? `${column} IS NULL, ${column} ${direction}` : '' };
    }
  }
}

/**
 * The rows `offset`..`offset + limit` of a search over the runs in scope, answered with SQL (no whole-table read):
 * the same rows, in the same order, as `searchRunTable` on the whole table gives. `aggregates` names the metric
 * columns shown as their min or max (the filter and order use that value, as the table shows it). Throws
 * SearchSyntaxError (with its column) for a filter or order the parser refuses.
 */
export function searchRunTablePage(
  db: Database.Database,
  options: LoadRunTableOptions,
  search: RunSearch,
  offset: number,
  limit: number,
  aggregates: Readonly<Record<string, MetricAggregate>> = {},
): RunTableSearchPage {
  const { clauses, order } = parseRunSearch(search);
  if (clauses.length === 0 && order.length === 0) {
    // the default order: a LIMIT query (no sort of every run)
    const page = readRunTablePage(db, options, offset, limit);
    return { ...page, matched: page.total };
  }
  if (clauses.some((c) => c.comparator === 'ILIKE')) registerIlike(db);
  const scope = runScope(options, 'r.');
  const total = db
    .prepare(`SELECT count(*) FROM run r ${scope.where}`)
    .pluck()
    .get(...scope.args) as number;
  const filters = clauses.map((c) => clauseSql(c, aggregates));
  const keys = order.map((o, n) => orderSql(o, n, aggregates));
  const where = [...(scope.where ? [scope.where.replace(/^WHERE /, '')] : []), ...filters.map((f) => f.sql)];
  const orderBy = [...keys.map((k) => k.terms).filter(Boolean), 'r.start_time DESC', 'r.run_id'];
  // one pass: the matches are filtered and sorted once, and counted over the whole result before the LIMIT
  const sql = `SELECT r.run_id, count(*) OVER () FROM run r ${keys.map((k) => k.join.sql).join(' ')}
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy.join(', ')} LIMIT ? OFFSET ?`;
  const found = db
    .prepare(sql)
    .raw()
    .all(
      ...keys.flatMap((k) => k.join.args),
      ...scope.args,
      ...filters.flatMap((f) => f.args),
      Math.max(0, Math.floor(limit)),
      Math.max(0, Math.floor(offset)),
    ) as [string, number][];
  // past the last match the window is empty and says no count: count the matches alone
  const matched =
    found.length > 0
      ? found[0]![1]
      : filters.length === 0
        ? total
        : (db
            .prepare(`SELECT count(*) FROM run r WHERE ${where.join(' AND ')}`)
            .pluck()
            .get(...scope.args, ...filters.flatMap((f) => f.args)) as number);
  return {
    table: readRunTableRows(
      db,
      options,
      found.map(([runId]) => runId),
    ),
    offset,
    total,
    matched,
  };
}
