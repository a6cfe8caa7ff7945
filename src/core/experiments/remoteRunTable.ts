import type { Backend, BackendRun } from '../backends/backend';
import type { MetricColumn, RunTable } from './runTable';
import { checkRunFilter, checkRunOrder, parseFilter, parseOrderByList } from './searchSyntax';

// The Experiments Table against an MLflow tracking server: the server filters and orders (`runs/search` with
// the filter and order_by as typed), and its pages are read as the table scrolls, following next_page_token.
// Nothing downloads every run. The runs read so far are held as a RunTable in the server's order, so the
// table's columns, cells, groups and CSV are the same code as for the workspace store.

const GIT_COMMIT_TAG = 'mlflow.source.git.commit';

/** What the remote table needs of a backend (the MLflow backend, through the service that notes reachability). */
export type RunSearchBackend = Pick<Backend, 'searchRuns'>;

export interface RemoteRunQuery {
  readonly filter: string;
  /** MLflow order keys separated by commas, as the table's order box holds them. */
  readonly orderBy: string;
}

/** Splits an order text into MLflow's order_by list after the one parser accepted it (errors carry the column). */
export function checkedRemoteQuery(query: RemoteRunQuery): { filter: string; orderBy: string[] } {
  checkRunFilter(query.filter, parseFilter(query.filter));
  checkRunOrder(query.orderBy, parseOrderByList(query.orderBy));
  // the parser splits the keys at commas, and so does this (it accepted the text just now)
  const orderBy = query.orderBy.trim() ? query.orderBy.split(',').map((key) => key.trim()) : [];
  return { filter: query.filter.trim(), orderBy };
}

/** One search on the server, read a page at a time; `rows()` follows the page tokens only as far as asked. */
export class RemoteRunSearch {
  private readonly runs: BackendRun[] = [];
  private token: string | undefined;
  private finished = false;
  /** `runs/search` requests made (the tests check that a first screen reads one page, not every run). */
  requests = 0;
  private reading: Promise<void> | undefined;

  private constructor(
    private readonly backend: RunSearchBackend,
    private readonly experimentIds: readonly string[],
    private readonly query: { filter: string; orderBy: string[] },
    private readonly pageSize: number,
  ) {}

  /** Checks the query with the one parser (a SearchSyntaxError names the column), then reads the first page. */
  static async open(
    backend: RunSearchBackend,
    experimentIds: readonly string[],
    query: RemoteRunQuery,
    options: { pageSize?: number } = {},
  ): Promise<RemoteRunSearch> {
    const search = new RemoteRunSearch(backend, experimentIds, checkedRemoteQuery(query), options.pageSize ?? 200);
    await search.readPage();
    return search;
  }

  /** Runs read so far, in the server's order. */
  get known(): readonly BackendRun[] {
    return this.runs;
  }

  /** Whether the server has more runs than read so far. */
  get more(): boolean {
    return !this.finished;
  }

  /** Reads pages until `end` runs are known (or the server has no more). */
  async ensure(end: number): Promise<void> {
    while (this.runs.length < end && !this.finished) {
      this.reading ??= this.readPage().finally(() => (this.reading = undefined));
      await this.reading;
    }
  }

  private async readPage(): Promise<void> {
    if (this.finished || !this.experimentIds.length) {
      this.finished = true;
      return;
    }
    this.requests++;
    const page = await this.backend.searchRuns(this.experimentIds, {
      maxResults: this.pageSize,
      ...(this.query.filter ? { filter: this.query.filter } : {}),
      ...(this.query.orderBy.length ? { orderBy: this.query.orderBy } : {}),
      ...(this.token ? { pageToken: this.token } : {}),
    });
    this.runs.push(...page.items);
    this.token = page.nextPageToken;
    this.finished = !page.nextPageToken;
  }
}

/** Runs from a server as the table's columns (latest metric values; the commit from MLflow's git tag). */
export function runTableOfBackendRuns(runs: readonly BackendRun[]): RunTable {
  const size = runs.length;
  const text = (pick: (r: BackendRun) => Readonly<Record<string, string>>): Map<string, (string | undefined)[]> => {
    const columns = new Map<string, (string | undefined)[]>();
    runs.forEach((run, i) => {
      for (const [key, value] of Object.entries(pick(run))) {
        let column = columns.get(key);
        if (!column) columns.set(key, (column = new Array<string | undefined>(size)));
        column[i] = value;
      }
    });
    return columns;
  };
  const metrics = new Map<string, MetricColumn>();
  runs.forEach((run, i) => {
    for (const [key, value] of Object.entries(run.metrics)) {
      let column = metrics.get(key);
      if (!column) metrics.set(key, (column = { values: new Float64Array(size), present: new Uint8Array(size) }));
      column.values[i] = value;
      column.present[i] = 1;
    }
  });
  return {
    size,
    runIds: runs.map((r) => r.runId),
    experimentIds: runs.map((r) => Number(r.experimentId)),
    names: runs.map((r) => r.name),
    statuses: runs.map((r) => r.status),
    startTimes: runs.map((r) => r.startTime),
    endTimes: runs.map((r) => r.endTime),
    users: runs.map((r) => r.tags['mlflow.user'] ?? null),
    commits: runs.map((r) => r.tags[GIT_COMMIT_TAG] ?? null),
    params: text((r) => r.params),
    tags: text((r) => r.tags),
    metrics,
    inputs: new Array(size),
  };
}
