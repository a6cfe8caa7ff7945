import type Database from 'better-sqlite3';
import { likeRegExp, parseRunSearch, withMetricAggregates, type LoadRunTableOptions, type MetricAggregate, type RunSearch } from './runTable';
import { readRunTablePage, readRunTableRows, runScope, type RunTablePage } from './runTableReader';
import { type RunGrouping, type RunTableColumn, runTableColumnsOfKeys, runTableCsv } from './runTableView';
import { type FilterClause, type OrderClause, RUN_ATTRIBUTES } from './searchSyntax';

// A search answered with SQL, for the Experiments Table while the whole table is still being read (the first seconds
// after it opens at 100,000 runs): one statement filters and orders the runs in scope and counts the matches
// (count(*) OVER ()), LIMIT/OFFSET gives the rows asked for, and those runs are read as the first screen is. The
// semantics are the in-memory search's (runTable.ts), clause for clause: a clause on a missing value is false (except
// IS NULL), LIKE is case-sensitive, a NaN metric satisfies only !=, the order puts numbers, then NaN, then missing
// values, ties go to start_time DESC then run_id. One difference: text keys compare as UTF-8 bytes here and as UTF-16
// code units in memory, which order alike except characters past U+FFFF against those in U+E000–U+FFFF.
//
// Speed at 100,000 runs rests on the indexes led by the key (migration 021: a metric's latest value, a param; 023: a
// metric's min and max, a tag): a filter on one reads the matching entries of each key, intersects them, and only
// then reads those runs; a sort by one walks that key's index in value order, a segment at a time (numbers, NaN,
// missing), and stops after the page; a second key orders a large group of equal first values by walking its own
// index (walkOrder), not by sorting the group. A store older than 023 opened read-only gets the same
// answers, slower (no index to walk).

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

/**
 * The runs a clause holds for, as a subquery over one key's index entries, where the clause needs the value to exist
 * (every metric, param and tag comparison but IS NULL); undefined for the rest, which stay predicates on each run.
 */
function keySubquery(clause: FilterClause, aggregates: Readonly<Record<string, MetricAggregate>>): Sql | undefined {
  if (clause.comparator === 'IS NULL') return undefined;
  if (clause.entity === 'metric') {
    const value = AGGREGATE_COLUMN[aggregates[clause.key] ?? 'last'];
    // a NaN value is NULL in metric_series: it differs from every number, and compares false otherwise
    const predicate = clause.comparator === '!=' ? `(${value} IS NULL OR ${value} != ?)` : `${value} ${clause.comparator} ?`;
    return { sql: `SELECT run_id FROM metric_series WHERE key = ? AND ${predicate}`, args: [clause.key, clause.value as number] };
  }
  if (clause.entity === 'param' || clause.entity === 'tag') {
    const predicate = textPredicate(column('value'), clause);
    return { sql: `SELECT run_id FROM ${clause.entity} WHERE key = ? AND ${predicate.sql}`, args: [clause.key, ...predicate.args] };
  }
  return undefined;
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
 * Whether an order's first key has an index to walk: a metric (its latest value: migration 021; its min or max:
 * migration 023), a param (021) or a tag (023).
 */
const walkable = (first: OrderClause): boolean => first.entity === 'metric' || first.entity === 'param' || first.entity === 'tag';

/**
 * How a two-key order walks its first key's groups (walkOrder). Tests set smaller values to walk every path on
 * a few hundred runs.
 */
export const runTableWalkTuning = {
  /** A group of equal first-key values this large is walked in its second key's index order, not sorted. */
  largeGroup: 4096,
  /** Groups visited one by one before the rest of the order is left to one statement (small groups: a sort each). */
  maxGroups: 16,
  /** Runs a filter's page may visit in its order (checking each) instead of reading and sorting every match. */
  defaultOrderVisits: 20_000,
  /**
   * Experiments searched one by one for a page grouped by experiment (each its own ungrouped search: an index walk
   * that stops after the page); with more, every match is sorted in one statement.
   */
  groupSearches: 16,
  /**
   * A filter a clause of which holds for fewer runs than this (counted off its key's index, up to this many) has its
   * matches sorted, not an order's index walked: the walk would visit nearly every run to find so few (a filter
   * matching nothing visited all 100,000).
   */
  sortFewMatches: 2000,
  /**
   * Runs of the ungrouped order a grouped page may walk to find its groups (their order: that of their first rows);
   * past it (a page deep in the table), every match is sorted in one statement instead.
   */
  groupWalk: 20_000,
  /** Groups a grouped page may search one by one (those on it and those before it); past it, one statement. */
  groupPageSearches: 100,
};

interface Walked {
  readonly runIds: string[];
  readonly matched?: number;
  /** What is left of the window's offset after the runs this walk skipped. */
  readonly offset: number;
}

/**
 * The page of an order led by a walkable key: the runs with a value in its key's index order (the other keys and the
 * ties sorted within each run of equal values, and SQLite stops after the page), then for a metric the runs whose
 * value is NaN, then the runs without one. A segment the page starts past is counted. `within` are conditions every
 * run of the page meets besides the scope and filters (a group of an outer walk).
 */
function walkOrder(
  db: Database.Database,
  order: readonly OrderClause[],
  aggregates: Readonly<Record<string, MetricAggregate>>,
  scope: { where: string; args: readonly (string | number)[] },
  window: { limit: number; offset: number },
  matches: Sql | undefined,
  filters: readonly Sql[],
  within: readonly Sql[] = [],
  byGroups = true,
): Walked {
  const [first, ...rest] = order as [OrderClause, ...OrderClause[]];
  const table = first.entity === 'metric' ? 'metric_series' : first.entity === 'tag' ? 'tag' : 'param';
  const valueColumn = first.entity === 'metric' ? AGGREGATE_COLUMN[aggregates[first.key] ?? 'last'] : 'value';
  const value = `o0.${valueColumn}`;
  const keys = rest.map((o, n) => orderSql(o, n + 1, aggregates));
  const joins = keys.map((k) => k.join.sql).join(' ');
  const joinArgs = keys.flatMap((k) => k.join.args);
  const tail = [...keys.map((k) => k.terms).filter(Boolean), 'r.start_time DESC', 'r.run_id'].join(', ');
  // under a filter, the matches (the runs in scope every clause holds for) are read once, materialized, and both
  // counted and looked up by each entry walked: one statement gives the page and the count
  const inMatches = (alias: string): Sql => (matches ? { sql: `AND ${alias}.run_id IN (SELECT run_id FROM x)`, args: [] } : column(''));
  const conditions: Sql = {
    sql: [
      // the matches are in scope and pass every filter already
      ...(matches ? [] : [...(scope.where ? [scope.where.replace(/^WHERE /, '')] : []), ...filters.map((f) => f.sql)]),
      ...within.map((w) => w.sql),
    ]
      .map((w) => `AND ${w}`)
      .join(' '),
    args: [...(matches ? [] : [...scope.args, ...filters.flatMap((f) => f.args)]), ...within.flatMap((w) => w.args)],
  };
  const present = (nan: boolean, bound: Sql = column('')): Sql => {
    const m = inMatches('o0');
    return {
      sql: `FROM ${table} o0 CROSS JOIN run r ON r.run_id = o0.run_id ${joins} WHERE o0.key = ? AND ${value} IS ${nan ? '' : 'NOT '}NULL ${m.sql} ${conditions.sql} ${bound.sql}
        ORDER BY ${nan ? '' : `${value} ${first.descending ? 'DESC' : 'ASC'}, `}${tail}`,
      args: [...joinArgs, first.key, ...m.args, ...conditions.args, ...bound.args],
    };
  };
  const m = inMatches('r');
  const missing: Sql = {
    sql: `FROM run r ${joins} WHERE NOT EXISTS (SELECT 1 FROM ${table} m WHERE m.run_id = r.run_id AND m.key = ?) ${m.sql} ${conditions.sql} ORDER BY ${tail}`,
    args: [...joinArgs, first.key, ...m.args, ...conditions.args],
  };
  const runIds: string[] = [];
  let matched: number | undefined;
  let { limit, offset } = window;
  const withMatches = matches ? `WITH x AS MATERIALIZED (${matches.sql})` : '';
  /** The page's part of one segment (the runs it skips counted off the offset). */
  const take = (segment: Sql): void => {
    if (limit === 0) return;
    const found = db
      .prepare(`${withMatches} SELECT r.run_id${matches ? ', (SELECT count(*) FROM x)' : ''} ${segment.sql} LIMIT ? OFFSET ?`)
      .raw()
      .all(...(matches?.args ?? []), ...segment.args, limit, offset) as [string, number?][];
    const rows = found.map(([runId]) => runId);
    if (found.length > 0 && matches) matched = found[0]![1];
    runIds.push(...rows);
    if (rows.length > 0) {
      limit -= rows.length;
      offset = 0;
    } else if (offset > 0) {
      // the page starts past this segment: skip its runs
      const counted = db
        .prepare(`${withMatches} SELECT count(*) ${segment.sql.replace(/\s+ORDER BY [^]*$/, '')}`)
        .pluck()
        .get(...(matches?.args ?? []), ...segment.args) as number;
      offset -= counted;
    }
  };
  if (byGroups && rest[0] && walkable(rest[0])) {
    // two keys: the first key's runs of equal value (a group) are ordered by the second key. A large group (a param
    // with few values: 50,000 runs of 100,000) is walked in the second key's index order, stopping after the page,
    // instead of sorting every run of the group; a small one is sorted. After a few groups the rest is one statement.
    const [pick, beyond, from] = first.descending ? ['max', '<', '<='] : ['min', '>', '>='];
    const nextValue = db.prepare(`SELECT ${pick}(${valueColumn}) FROM ${table} WHERE key = ? AND ${valueColumn} ${beyond} ?`).pluck();
    const groupSize = db.prepare(`SELECT count(*) FROM (SELECT 1 FROM ${table} WHERE key = ? AND ${valueColumn} = ? LIMIT ?)`).pluck();
    let group = db.prepare(`SELECT ${pick}(${valueColumn}) FROM ${table} WHERE key = ? AND ${valueColumn} IS NOT NULL`).pluck().get(first.key) as
      | string
      | number
      | null;
    for (let visited = 0; group !== null && limit > 0 && visited < runTableWalkTuning.maxGroups; visited++) {
      const equal = { sql: `AND ${value} = ?`, args: [group] };
      if ((groupSize.get(first.key, group, runTableWalkTuning.largeGroup) as number) >= runTableWalkTuning.largeGroup) {
        const member: Sql = {
          sql: `EXISTS (SELECT 1 FROM ${table} g WHERE g.run_id = r.run_id AND g.key = ? AND g.${valueColumn} = ?)`,
          args: [first.key, group],
        };
        const inner = walkOrder(db, rest, aggregates, scope, { limit, offset }, matches, filters, [...within, member], false);
        runIds.push(...inner.runIds);
        if (inner.matched !== undefined) matched = inner.matched;
        limit -= inner.runIds.length;
        offset = inner.offset;
      } else take(present(false, equal));
      group = nextValue.get(first.key, group) as string | number | null;
    }
    if (group !== null) take(present(false, { sql: `AND ${value} ${from} ?`, args: [group] }));
  } else take(present(false));
  if (first.entity === 'metric') take(present(true));
  take(missing);
  return { runIds, offset, ...(matched !== undefined ? { matched } : {}) };
}

/**
 * Whether a search's page is found faster by walking the runs in its order, each checked by the clauses, than from the
 * list of its matches: one clause, answered from its key's index (`filterCount` 0), an order led by a walkable key or
 * none in one experiment (newest first: that experiment's index), and the walk to the page's end expected to visit at
 * most `defaultOrderVisits` runs (matches spread evenly). Gives the matches' count before the scope (index entries).
 */
function broadMatches(
  db: Database.Database,
  options: LoadRunTableOptions,
  clauseCount: number,
  filterCount: number,
  order: readonly OrderClause[],
  matches: Sql | undefined,
  window: { limit: number; offset: number },
  total: number,
): { matches: number } | undefined {
  // one clause: its count is a range of its index; several are intersected, which the walk cannot save
  if (!matches || filterCount > 0 || clauseCount !== 1) return undefined;
  if (order[0] ? !walkable(order[0]) : options.experimentIds?.length !== 1) return undefined;
  const count = db
    .prepare(`SELECT count(*) FROM (${matches.sql})`)
    .pluck()
    .get(...matches.args) as number;
  return count > 0 && (window.offset + window.limit) * total <= count * runTableWalkTuning.defaultOrderVisits ? { matches: count } : undefined;
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
  grouping: RunGrouping = 'none',
): RunTableSearchPage {
  const { clauses, order } = parseRunSearch(search);
  if (clauses.length === 0 && order.length === 0 && grouping === 'none') {
    // the default order: a LIMIT query (no sort of every run)
    const page = readRunTablePage(db, options, offset, limit);
    return { ...page, matched: page.total };
  }
  const found = searchRunIds(db, options, search, offset, limit, aggregates, grouping);
  return { table: readRunTableRows(db, options, found.runIds), offset, total: found.total, matched: found.matched };
}

/**
 * A page grouped by experiment, from one ungrouped search per experiment in scope (each narrowed to that experiment:
 * the walks and counts of an ungrouped search, stopping after the page), instead of ordering every match twice. The
 * groups come in the order of their first row: each experiment's first match is found (a page of one), and those
 * runs are ordered by the search's order. `undefined` when more experiments are in scope than
 * `runTableWalkTuning.groupSearches` (the caller's one statement then orders every match).
 */
function searchByExperiment(
  db: Database.Database,
  options: LoadRunTableOptions,
  search: RunSearch,
  window: { readonly limit: number; readonly offset: number },
  aggregates: Readonly<Record<string, MetricAggregate>>,
  total: number,
): { readonly runIds: string[]; readonly total: number; readonly matched: number } | undefined {
  const lifecycle = runScope({ lifecycle: options.lifecycle }, 'r.');
  const candidates = options.experimentIds
    ? [...new Set(options.experimentIds)]
    : (db
        .prepare(
          `SELECT e.experiment_id FROM experiment e WHERE EXISTS (SELECT 1 FROM run r WHERE r.experiment_id = e.experiment_id ${lifecycle.where.replace(/^WHERE /, 'AND ')})`,
        )
        .pluck()
        .all(...lifecycle.args) as number[]);
  if (candidates.length > runTableWalkTuning.groupSearches) return undefined;
  const one = (experimentId: number, offset: number, limit: number) =>
    searchRunIds(db, { ...options, experimentIds: [experimentId] }, search, offset, limit, aggregates, 'none');
  const groups: { experimentId: number; first: string; matched: number }[] = [];
  for (const experimentId of candidates) {
    // a single experiment's group is the whole page: searched once, for the page itself
    const found = candidates.length === 1 ? one(experimentId, window.offset, window.limit) : one(experimentId, 0, 1);
    if (candidates.length === 1) return { runIds: found.runIds, total, matched: found.matched };
    if (found.matched > 0) groups.push({ experimentId, first: found.runIds[0]!, matched: found.matched });
  }
  // the groups in the order of their first rows: those runs ordered by the search's order (ties as every search breaks them)
  const { order } = parseRunSearch(search);
  const keys = order.map((o, n) => orderSql(o, n, aggregates));
  const orderBy = [...keys.map((k) => k.terms).filter(Boolean), 'r.start_time DESC', 'r.run_id'];
  const firsts =
    groups.length < 2
      ? groups.map((g) => g.first)
      : (db
          .prepare(
            `SELECT r.run_id FROM json_each(?) j CROSS JOIN run r ON r.run_id = j.value ${keys.map((k) => k.join.sql).join(' ')} ORDER BY ${orderBy.join(', ')}`,
          )
          .pluck()
          .all(JSON.stringify(groups.map((g) => g.first)), ...keys.flatMap((k) => k.join.args)) as string[]);
  const byFirst = new Map(groups.map((g) => [g.first, g]));
  const runIds: string[] = [];
  let skip = window.offset;
  for (const group of firsts.map((first) => byFirst.get(first)!)) {
    if (runIds.length >= window.limit) break;
    if (skip >= group.matched) {
      skip -= group.matched;
      continue;
    }
    const take = Math.min(window.limit - runIds.length, group.matched - skip);
    runIds.push(...one(group.experimentId, skip, take).runIds);
    skip = 0;
  }
  return { runIds, total, matched: groups.reduce((sum, g) => sum + g.matched, 0) };
}

/**
 * The fewest runs a clause answered from its key's index holds for, each counted off the index up to
 * `runTableWalkTuning.sortFewMatches` (at least one: whether it holds for any); undefined with no such clause.
 */
function fewestMatches(db: Database.Database, indexed: readonly Sql[]): number | undefined {
  const limit = Math.max(1, runTableWalkTuning.sortFewMatches);
  let fewest: number | undefined;
  for (const q of indexed) {
    const n = db
      .prepare(`SELECT count(*) FROM (SELECT 1 FROM (${q.sql}) LIMIT ?)`)
      .pluck()
      .get(...q.args, limit) as number;
    fewest = fewest === undefined ? n : Math.min(fewest, n);
    if (fewest === 0) break;
  }
  return fewest;
}

/** A group's key in SQL, as `runGroupKey` gives it (NULL: the run is in no group). */
const GROUP_KEY: Readonly<Record<Exclude<RunGrouping, 'none'>, string>> = {
  experiment: 'r.experiment_id',
  commit: "CASE WHEN r.git_commit IS NULL OR r.git_commit = '' THEN NULL ELSE r.git_commit || CASE WHEN r.git_dirty THEN '+' ELSE '' END END",
  sweep: "(SELECT t.value FROM tag t WHERE t.run_id = r.run_id AND t.key = 'mloop.sweep')",
};

/** A search narrowed to one group (searchByGroups): its runs from an index, or a condition on each run. */
interface GroupCondition {
  /** The group's run ids, read from an index. */
  readonly runs?: Sql;
  /** Fewer runs in the group than `runTableWalkTuning.sortFewMatches`: read them first, check each clause on them. */
  readonly few?: boolean;
  /** The group's condition on each run `r` (the runs in no group: no index lists them). */
  readonly predicate?: Sql;
}

/**
 * Per grouping: a run's group key and the arguments naming its group (both NULL: in no group), the group's runs
 * from an index (run_by_experiment_stage, tag_by_key_value, run_by_commit of migration 025), and the runs in no group.
 */
const GROUP_RUNS: Readonly<Record<Exclude<RunGrouping, 'none'>, { key: string; args: string; runs: string; none?: string }>> = {
  experiment: { key: GROUP_KEY.experiment, args: 'json_array(r.experiment_id)', runs: 'SELECT run_id FROM run WHERE experiment_id = ?' },
  sweep: {
    key: GROUP_KEY.sweep,
    args: `json_array(${GROUP_KEY.sweep})`,
    runs: "SELECT run_id FROM tag WHERE key = 'mloop.sweep' AND value = ?",
    none: "NOT EXISTS (SELECT 1 FROM tag t WHERE t.run_id = r.run_id AND t.key = 'mloop.sweep')",
  },
  commit: {
    key: GROUP_KEY.commit,
    args: 'json_array(r.git_commit, coalesce(r.git_dirty, 0))',
    runs: 'SELECT run_id FROM run WHERE git_commit = ? AND coalesce(git_dirty, 0) = ?',
    none: "(r.git_commit IS NULL OR r.git_commit = '')",
  },
};

/**
 * A grouped page from the groups on it alone: the search's order is walked (an ungrouped search, a growing window at
 * a time) until the groups met, in the order of their first rows, hold the page; each of those groups is then
 * searched alone (its runs from an index; a small group's runs read and sorted, a large one's order walked), its rows
 * taken or its matches counted off the offset. A page reaching the runs in no group (after the last group) searches
 * them last. Costs the ungrouped search plus the page's groups, not a sort of every match; `undefined` (one statement
 * sorts every match) when finding the page's groups would walk more than `runTableWalkTuning.groupWalk` runs or
 * search more than `groupPageSearches` groups (a page deep in the table).
 */
function searchByGroups(
  db: Database.Database,
  options: LoadRunTableOptions,
  search: RunSearch,
  window: { readonly limit: number; readonly offset: number },
  aggregates: Readonly<Record<string, MetricAggregate>>,
  grouping: Exclude<RunGrouping, 'none'>,
): { readonly runIds: string[]; readonly total: number; readonly matched: number } | undefined {
  const spec = GROUP_RUNS[grouping];
  const keysOf = db.prepare(`SELECT ${spec.key}, ${spec.args} FROM json_each(?) j CROSS JOIN run r ON r.run_id = j.value ORDER BY j.key`).raw();
  const fewCount = db.prepare(`SELECT count(*) FROM (${spec.runs} LIMIT ?)`).pluck();
  const seen = new Set<string | number>();
  const runIds: string[] = [];
  let { offset: skip, limit: need } = window;
  let walked = 0;
  let chunk = Math.max(64, window.limit);
  for (;;) {
    if (walked >= runTableWalkTuning.groupWalk) return undefined;
    const step = searchRunIds(db, options, search, walked, Math.min(chunk, Math.max(1, runTableWalkTuning.groupWalk - walked)), aggregates);
    if (need === 0) return { runIds, total: step.total, matched: step.matched };
    for (const [key, args] of keysOf.all(JSON.stringify(step.runIds)) as [string | number | null, string][]) {
      if (key === null || seen.has(key)) continue;
      if (seen.size >= runTableWalkTuning.groupPageSearches) return undefined;
      seen.add(key);
      // the next group in order: its part of the page, or its matches skipped
      const named = JSON.parse(args) as (string | number)[];
      const few = (fewCount.get(...named, runTableWalkTuning.sortFewMatches) as number) < runTableWalkTuning.sortFewMatches;
      const found =
        grouping === 'experiment' && !few
          ? // a large experiment: its scope (its index) narrows the search, as searchByExperiment's does
            searchRunIds(db, { ...options, experimentIds: [named[0] as number] }, search, skip, need, aggregates)
          : searchRunIds(db, options, search, skip, need, aggregates, 'none', { runs: { sql: spec.runs, args: named }, few });
      runIds.push(...found.runIds);
      need -= found.runIds.length;
      skip = Math.max(0, skip - found.matched);
      if (need === 0) return { runIds, total: step.total, matched: step.matched };
    }
    walked += step.runIds.length;
    if (step.runIds.length === 0 || walked >= step.matched) {
      // every group is met: the runs in no group come last
      if (spec.none) runIds.push(...searchRunIds(db, options, search, skip, need, aggregates, 'none', { predicate: column(spec.none) }).runIds);
      return { runIds, total: step.total, matched: step.matched };
    }
    chunk *= 2;
  }
}

/**
 * The run ids of rows `offset`..`offset + limit` of a search (as `searchRunTablePage`), the runs in scope and the
 * matches. Grouped (`grouping`), the rows are `groupRows`' order: each group's rows together, the groups in the order
 * of their first row in the search's order, the runs in no group last.
 */
export function searchRunIds(
  db: Database.Database,
  options: LoadRunTableOptions,
  search: RunSearch,
  offset: number,
  limit: number,
  aggregates: Readonly<Record<string, MetricAggregate>> = {},
  grouping: RunGrouping = 'none',
  within?: GroupCondition,
): { readonly runIds: string[]; readonly total: number; readonly matched: number } {
  const { clauses, order } = parseRunSearch(search);
  if (clauses.some((c) => c.comparator === 'ILIKE')) registerIlike(db);
  const given = runScope(options, 'r.');
  // the runs in scope, and every run of the store (one statement: one snapshot)
  const [total, stored] = db
    .prepare(`SELECT count(*), ${given.where ? '(SELECT count(*) FROM run)' : 'NULL'} FROM run r ${given.where}`)
    .raw()
    .get(...given.args) as [number, number | null];
  // a scope holding every run (one experiment, nothing deleted: the usual store) is no condition: the matches are not
  // each looked up in the run table to check it (10,000 lookups: ~30 ms of a filter's 90)
  const scope = stored === total ? { where: '', args: [] } : given;
  const window = { limit: Math.max(0, Math.floor(limit)), offset: Math.max(0, Math.floor(offset)) };
  if (grouping === 'experiment') {
    const grouped = searchByExperiment(db, options, search, window, aggregates, total);
    if (grouped) return grouped;
  }
  if (grouping !== 'none') {
    const grouped = searchByGroups(db, options, search, window, aggregates, grouping);
    if (grouped) return grouped;
  }
  let runIds: string[];
  let matched: number;
  // the runs every clause on a metric or param holds for, from their keys' index entries; the other clauses are
  // predicates on each run. Narrowed to a small group, the group's runs are read first and every clause is checked on
  // them (intersecting with a clause's matches would read all of those).
  const drive = within?.runs !== undefined && within.few;
  const subqueries = clauses.map((c) => (drive ? undefined : keySubquery(c, aggregates)));
  const indexed = [...subqueries.filter((q): q is Sql => q !== undefined), ...(within?.runs ? [within.runs] : [])];
  const filters = [
    ...clauses.filter((_, i) => subqueries[i] === undefined).map((c) => clauseSql(c, aggregates)),
    ...(within?.predicate ? [within.predicate] : []),
  ];
  // whether anything narrows the runs in scope (without, every run in scope matches)
  const narrowed = clauses.length > 0 || within !== undefined;
  const matches: Sql | undefined = indexed.length ? { sql: indexed.map((q) => q.sql).join(' INTERSECT '), args: indexed.flatMap((q) => q.args) } : undefined;
  // a clause holding for no run: nothing matches (the intersection of the others is not built); one holding for few
  // runs: the matches are sorted, not an order's index walked (below)
  const fewest = fewestMatches(db, indexed);
  if (fewest === 0) return { runIds: [], total, matched: 0 };
  const from: Sql = matches ? { sql: `(${matches.sql}) x CROSS JOIN run r ON r.run_id = x.run_id`, args: matches.args } : column('run r');
  const where = [...(scope.where ? [scope.where.replace(/^WHERE /, '')] : []), ...filters.map((f) => f.sql)];
  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const whereArgs = [...scope.args, ...filters.flatMap((f) => f.args)];
  /** The matches counted alone (a window past the last match says no count; a walk that did not count them). */
  const countMatches = (): number =>
    db
      .prepare(`SELECT count(*) FROM ${from.sql} ${whereSql}`)
      .pluck()
      .get(...from.args, ...whereArgs) as number;
  // a one-clause filter matching many runs, answered from its key's index: the page is walked in its order with
  // each clause checked per run (stopping after the page), and the matches are counted off their keys' index entries
  // (those of runs out of scope taken away), not by reading each match's run
  const broad = within ? undefined : broadMatches(db, options, clauses.length, filters.length, order, matches, window, total);
  const predicates = broad ? clauses.map((c) => clauseSql(c, aggregates)) : [];
  const inScope = scope.where.replace(/^WHERE /, '');
  /** The runs out of scope the clauses hold for, each checked alone (a list of every match to look them up in costs more). */
  const outside = (): number =>
    inScope
      ? (db
          .prepare(`SELECT count(*) FROM run r WHERE NOT (${inScope}) AND ${predicates.map((p) => p.sql).join(' AND ')}`)
          .pluck()
          .get(...scope.args, ...predicates.flatMap((p) => p.args)) as number)
      : 0;
  if (grouping !== 'none') {
    // every match is ordered (its position), then ordered again by its group's first position: one statement
    const keys = order.map((o, n) => orderSql(o, n, aggregates));
    const orderBy = [...keys.map((k) => k.terms).filter(Boolean), 'r.start_time DESC', 'r.run_id'];
    const found = db
      .prepare(
        `SELECT run_id, count(*) OVER () FROM (
           SELECT run_id, g, pos, min(pos) OVER (PARTITION BY g) AS first FROM (
             SELECT r.run_id AS run_id, ${GROUP_KEY[grouping]} AS g, row_number() OVER (ORDER BY ${orderBy.join(', ')}) AS pos
             FROM ${from.sql} ${keys.map((k) => k.join.sql).join(' ')} ${whereSql}))
         ORDER BY g IS NULL, first, pos LIMIT ? OFFSET ?`,
      )
      .raw()
      .all(...from.args, ...keys.flatMap((k) => k.join.args), ...whereArgs, window.limit, window.offset) as [string, number][];
    runIds = found.map(([runId]) => runId);
    matched = found.length > 0 ? found[0]![1] : !narrowed ? total : countMatches();
  } else if (order[0] && walkable(order[0]) && broad) {
    runIds = walkOrder(db, order, aggregates, scope, window, undefined, predicates).runIds;
    matched = broad.matches - outside();
  } else if (order[0] && walkable(order[0]) && !(fewest !== undefined && fewest < runTableWalkTuning.sortFewMatches)) {
    // an order led by a metric's latest value or a param: walk that key's index, each entry checked against the matches
    // the matches given to the walk: the runs the indexed clauses hold for, in scope, passing the other clauses
    // (with no scope to check and no other clause, the matches themselves: no run is read to build them)
    const scoped: Sql | undefined =
      matches &&
      (whereSql
        ? {
            sql: `SELECT r.run_id FROM ${from.sql} ${whereSql}`,
            args: [...from.args, ...whereArgs],
          }
        : matches);
    const walked = walkOrder(db, order, aggregates, scope, window, scoped, scoped ? [] : filters);
    runIds = walked.runIds;
    matched = !narrowed ? total : (walked.matched ?? countMatches());
  } else if (broad) {
    // newest first in one experiment: its runs in that order (its index)
    runIds = db
      .prepare(
        `SELECT r.run_id FROM run r INDEXED BY run_by_experiment WHERE ${[given.where.replace(/^WHERE /, ''), ...predicates.map((p) => p.sql)].join(' AND ')} ORDER BY r.start_time DESC, r.run_id LIMIT ? OFFSET ?`,
      )
      .pluck()
      .all(...given.args, ...predicates.flatMap((p) => p.args), window.limit, window.offset) as string[];
    matched = broad.matches - outside();
  } else {
    const keys = order.map((o, n) => orderSql(o, n, aggregates));
    const orderBy = [...keys.map((k) => k.terms).filter(Boolean), 'r.start_time DESC', 'r.run_id'];
    // one pass: the matches are filtered and sorted once, and counted over the whole result before the LIMIT
    const found = db
      .prepare(
        `SELECT r.run_id, count(*) OVER () FROM ${from.sql} ${keys.map((k) => k.join.sql).join(' ')} ${whereSql} ORDER BY ${orderBy.join(', ')} LIMIT ? OFFSET ?`,
      )
      .raw()
      .all(...from.args, ...keys.flatMap((k) => k.join.args), ...whereArgs, window.limit, window.offset) as [string, number][];
    runIds = found.map(([runId]) => runId);
    // past the last match the window is empty and says no count: count the matches alone
    matched = found.length > 0 ? found[0]![1] : !narrowed ? total : countMatches();
  }
  return { runIds, total, matched };
}

/**
 * The columns the whole table has for the runs in scope (`runTableColumns` of the table the whole read gives),
 * read with SQL: each metric, param and tag key of the store (one seek each in the index led by the key), kept when
 * a run in scope has it.
 */
export function runTableScopeColumns(db: Database.Database, options: LoadRunTableOptions): RunTableColumn[] {
  const given = runScope(options, 'r.');
  const [total, stored] = db
    .prepare(`SELECT count(*), (SELECT count(*) FROM run) FROM run r ${given.where}`)
    .raw()
    .get(...given.args) as [number, number];
  const inScope = stored === total ? '' : given.where.replace(/^WHERE /, 'AND ');
  const keysOf = (table: 'metric_series' | 'param' | 'tag'): string[] => {
    const every = db
      .prepare(
        `WITH RECURSIVE k(key) AS (SELECT min(key) FROM ${table} UNION ALL SELECT (SELECT min(key) FROM ${table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL)
         SELECT key FROM k WHERE key IS NOT NULL`,
      )
      .pluck()
      .all() as string[];
    if (!inScope) return every;
    const held = db.prepare(`SELECT 1 FROM ${table} s CROSS JOIN run r ON r.run_id = s.run_id WHERE s.key = ? ${inScope} LIMIT 1`).pluck();
    return every.filter((key) => held.get(key, ...given.args) !== undefined);
  };
  const commit = db
    .prepare(`SELECT 1 FROM run r WHERE r.git_commit IS NOT NULL AND r.git_commit != '' ${given.where.replace(/^WHERE /, 'AND ')} LIMIT 1`)
    .pluck();
  return runTableColumnsOfKeys({
    commit: commit.get(...given.args) !== undefined,
    params: keysOf('param'),
    metrics: keysOf('metric_series'),
    tags: keysOf('tag'),
  });
}

/** Runs per chunk of a CSV export read with SQL (their rows read as a page's are). */
const CSV_CHUNK_RUNS = 2000;

/**
 * The CSV of a search's rows in view (grouped as the table is), read with SQL a chunk of runs at a time, without the
 * whole table: the header, then one piece per chunk. `columnsShown` picks and orders the scope's columns (the table's
 * layout). The runs are listed once, first; a run deleted before its chunk is read is left out. Text identical to
 * `runTableCsv` over the whole table's search (test/unit/experiments.tableSqlSearch.test.ts).
 */
export function* runTableCsvFromSql(
  db: Database.Database,
  options: LoadRunTableOptions,
  search: RunSearch,
  aggregates: Readonly<Record<string, MetricAggregate>>,
  grouping: RunGrouping,
  columnsShown: (columns: RunTableColumn[]) => RunTableColumn[],
  chunkRuns = CSV_CHUNK_RUNS,
): Generator<string, { readonly rows: number }, void> {
  const columns = columnsShown(runTableScopeColumns(db, options));
  const { runIds } = searchRunIds(db, options, search, 0, Number.MAX_SAFE_INTEGER, aggregates, grouping);
  let header = true;
  let rows = 0;
  for (let start = 0; start < runIds.length || header; start += chunkRuns) {
    const table = withMetricAggregates(db, readRunTableRows(db, options, runIds.slice(start, start + chunkRuns)), aggregates, options);
    yield runTableCsv(
      table,
      Int32Array.from({ length: table.size }, (_, i) => i),
      columns,
      header,
    );
    header = false;
    rows += table.size;
  }
  return { rows };
}
