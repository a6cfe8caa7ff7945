import { loadRunTable, searchRunTable } from '../core/experiments/runTable';
import {
  checkRunFilter,
  checkRunOrder,
  type OrderClause,
  parseFilter,
  parseOrderBy,
  parseOrderByList,
  SearchSyntaxError,
} from '../core/experiments/searchSyntax';
import { ExperimentRepository } from '../core/store/experiments';
import { RunRepository } from '../core/store/runs';
import type { Store } from '../core/store/store';
import { CliFailure } from './cliIo';
import { formatTable, formatTime } from './format';

/** The options of `mloop runs list`. */
export interface RunsListOptions {
  readonly json?: boolean;
  readonly limit?: number;
  readonly max?: number;
  readonly experiment?: string;
  readonly filter?: string;
  readonly orderBy?: string;
  readonly columns?: string;
}

/** One listed run, whichever backend it came from. */
export interface ListedRun {
  readonly runId: string;
  readonly name: string;
  readonly experiment: string;
  readonly status: string;
  readonly startTime: number;
  readonly endTime: number | null;
  readonly params: Readonly<Record<string, string>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly tags: Readonly<Record<string, string>>;
}

/** A filter or order error as the CLI prints it: the message, the text, and a caret under the column. */
export function searchFailure(error: unknown): never {
  if (error instanceof SearchSyntaxError) {
    throw new CliFailure(`${error.message}\n  ${error.text}\n  ${' '.repeat(Math.max(0, error.column - 1))}^`);
  }
  throw error;
}

/** Checks --filter, --order-by and --columns before anything is read or asked of a server. */
export function parseListOptions(options: RunsListOptions): { columns: OrderClause[]; orderBy: string[] } {
  try {
    checkRunFilter(options.filter ?? '', parseFilter(options.filter));
    const order = parseOrderByList(options.orderBy);
    checkRunOrder(options.orderBy ?? '', order);
    const columns = options.columns === undefined ? [] : parseColumns(options.columns);
    // without --columns, show what the filter and the order look at
    const implied = [...parseFilter(options.filter), ...order].filter((c) => c.entity !== 'attribute' && c.entity !== 'dataset');
    const chosen = options.columns === undefined ? implied.map((c) => ({ entity: c.entity, key: c.key, descending: false, column: 0 })) : columns;
    const unique = chosen.filter((c, i) => chosen.findIndex((d) => d.entity === c.entity && d.key === c.key) === i);
    return { columns: unique, orderBy: splitOrder(options.orderBy) };
  } catch (error) {
    return searchFailure(error);
  }
}

const splitOrder = (text: string | undefined): string[] => (text?.trim() ? text.split(',').map((s) => s.trim()) : []);

function parseColumns(text: string): OrderClause[] {
  let offset = 0;
  return text.split(',').map((part) => {
    try {
      const column = parseOrderBy(part);
      if (column.descending) throw new SearchSyntaxError(part, part.search(/\S+\s*$/) + 1, 'expected a column name without ASC/DESC', 'column');
      checkRunOrder(part, [column]);
      return { ...column, column: column.column + offset };
    } catch (error) {
      if (error instanceof SearchSyntaxError) throw new SearchSyntaxError(text, error.column + offset, error.expected, 'column');
      throw error;
    } finally {
      offset += part.length + 1;
    }
  });
}

/** `mloop runs list` on the store: MLflow filter and order evaluated over the runs held as columns. */
export function listStoreRuns(store: Store, options: RunsListOptions, out: (text: string) => void): void {
  const { columns, orderBy } = parseListOptions(options);
  const experimentRepo = new ExperimentRepository(store);
  const experiments = new Map(experimentRepo.list({ includeDeleted: true }).map((e) => [e.experimentId, e.name]));
  const only = options.experiment === undefined ? undefined : experimentRepo.byName(options.experiment);
  if (options.experiment !== undefined && !only) {
    throw new CliFailure(`no experiment "${options.experiment}" (experiments: ${[...experiments.values()].join(', ') || 'none'})`);
  }
  const table = loadRunTable(store.db, only ? { experimentIds: [only.experimentId] } : {});
  let rows: Int32Array;
  try {
    rows = searchRunTable(table, { filter: options.filter, orderBy });
  } catch (error) {
    return searchFailure(error);
  }
  const max = options.max ?? options.limit;
  const chosen = max === undefined ? rows : rows.subarray(0, max);
  const repo = new RunRepository(store);
  const listed = Array.from(chosen, (i) => {
    const run = repo.get(table.runIds[i]!)!;
    const metrics: Record<string, number> = {};
    for (const [key, column] of table.metrics) if (column.present[i]) metrics[key] = column.values[i]!;
    return { ...run, experiment: experiments.get(run.experimentId) ?? '', params: repo.params(run.runId), metrics, tags: repo.tags(run.runId) };
  });
  printRuns(listed, columns, options, out, 'no runs yet');
}

/** The value of a column (metrics.x, params.y, tags.z, attributes.status …) for one run. */
function cell(run: ListedRun, column: OrderClause): string | number | undefined {
  switch (column.entity) {
    case 'metric':
      return run.metrics[column.key];
    case 'param':
      return run.params[column.key];
    case 'tag':
      return run.tags[column.key];
    default: {
      const values: Record<string, string | number | null> = {
        status: run.status,
        run_name: run.name,
        'run name': run.name,
        run_id: run.runId,
        start_time: run.startTime,
        created: run.startTime,
        end_time: run.endTime,
      };
      return values[column.key] ?? undefined;
    }
  }
}

const columnName = (c: OrderClause): string => `${c.entity === 'attribute' ? 'attributes' : `${c.entity}s`}.${c.key}`;

/** Prints the runs as a table (the chosen columns after the usual ones) or as JSON. */
export function printRuns(
  runs: readonly ListedRun[],
  columns: readonly OrderClause[],
  options: RunsListOptions,
  out: (text: string) => void,
  empty: string,
): void {
  if (options.json) {
    const chosen = (entity: OrderClause['entity'], values: Readonly<Record<string, unknown>>): Record<string, unknown> =>
      options.columns === undefined
        ? { ...values }
        : Object.fromEntries(Object.entries(values).filter(([k]) => columns.some((c) => c.entity === entity && c.key === k)));
    const number = (n: unknown): unknown => (typeof n === 'number' && !Number.isFinite(n) ? String(n) : n);
    return out(
      JSON.stringify(
        runs.map((r) => ({
          ...r,
          params: chosen('param', r.params),
          tags: chosen('tag', r.tags),
          metrics: Object.fromEntries(Object.entries(chosen('metric', r.metrics)).map(([k, v]) => [k, number(v)])),
          ...(options.columns === undefined ? {} : { columns: Object.fromEntries(columns.map((c) => [columnName(c), number(cell(r, c)) ?? null])) }),
        })),
        null,
        2,
      ),
    );
  }
  if (runs.length === 0) return out(empty);
  const show = (v: string | number | undefined): string => (v === undefined ? '' : typeof v === 'number' ? String(Number(v.toPrecision(6))) : v);
  out(
    formatTable(
      ['run', 'name', 'experiment', 'status', 'started', ...columns.map(columnName)],
      runs.map((r) => [r.runId.slice(0, 8), r.name, r.experiment, r.status, formatTime(r.startTime), ...columns.map((c) => show(cell(r, c)))]),
    ),
  );
}
