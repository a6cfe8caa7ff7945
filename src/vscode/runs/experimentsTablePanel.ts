import * as vscode from 'vscode';
import { open, rename, rm } from 'node:fs/promises';
import { searchRunTable, withMetricAggregates, type LoadRunTableOptions, type RunTable } from '../../core/experiments/runTable';
import { RemoteRunSearch, runTableOfBackendRuns } from '../../core/experiments/remoteRunTable';
import { loadRunTableInSteps, storeChangesOf } from '../../core/experiments/runTableReader';
import { runTableCsvFromSql, searchRunTablePage } from '../../core/experiments/runTableSqlSearch';
import { openStore, type Store } from '../../core/store/store';
import {
  arrangeColumns,
  groupRows,
  isBestTrial,
  metricAggregates,
  runGroupKey,
  runTableCell,
  runTableColumns,
  runTableCsv,
  type RunTableColumn,
} from '../../core/experiments/runTableView';
import { SearchSyntaxError } from '../../core/experiments/searchSyntax';
import { ExperimentRepository } from '../../core/store/experiments';
import {
  experimentsTableViewStateSchema,
  experimentsTableWebviewMessageSchema,
  type ExperimentsTableHostMessage,
  type ExperimentsTableWebviewMessage,
  type CellWindow,
  type ColumnRange,
  type QueryError,
  tableLayoutSchema,
  type TableLayout,
  type TableQuery,
  type TableRow,
} from '../../protocol/experimentsTableMessages';
import { EXPERIMENTS_TABLE_PAGE_ROWS } from '../../shared/panels';
import { activePanel, definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost, type ProblemMessage } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';
import type { Backend } from '../../core/backends/backend';
import { executeCommand } from '../base/commands';
import { openComparePanel } from './comparePanel';
import { openMetricsPanel } from './metricsPanel';

/** Which runs the table holds (one experiment, or all) and the filter and order it opens with. */
export interface ExperimentsTableTarget {
  readonly experimentId?: number;
  readonly query: TableQuery;
  /** A column to scroll into view once (the next load message carries it). */
  readonly column?: string;
}

type HostMessage = ExperimentsTableHostMessage | ProblemMessage;

const EMPTY_QUERY: TableQuery = { filter: '', orderBy: '' };
/** A fresh table: the run name pinned at the left (a user may unpin it; their layout is then remembered instead). */
const DEFAULT_LAYOUT: TableLayout = { grouping: 'none', pinned: ['attributes.run_name'], order: [], hidden: [], aggregates: {} };
/** The longest a background read step waits for the page to paint an answer posted meanwhile. */
const PAINT_WAIT_MS = 500;
/**
 * The background read waits while the page is in use: until this long after its last query, page of rows, layout or
 * horizontal scroll. Its steps are short, but back to back they hold a core and fill the heap (a major GC of 0.1–0.2 s
 * under load), and a sort clicked meanwhile waited 0.2–0.4 s to reach the host.
 */
const PAGE_QUIET_MS = 300;
/** Columns after the pinned ones whose cells a page of rows carries before the page says which it draws (~10 fit a window). */
const FIRST_CELL_COLUMNS = 24;
/** The workspaceState key of the table's grouping and columns (order, hidden, pinned, min/max). */
const LAYOUT_KEY = 'mloop.experimentsTable.layout';

/** What the open table last sent, for the integration tests. */
export interface ExperimentsTableSnapshot {
  readonly ready: boolean;
  readonly version: number;
  readonly scope: string;
  readonly query: TableQuery;
  readonly total: number;
  readonly matched: number;
  readonly columns: readonly string[];
  /** Names of the rows sent in the last load, in order. */
  readonly firstNames: readonly string[];
  readonly error?: QueryError;
  /** Pages of rows the page asked for since the last load. */
  readonly pagesServed: number;
  readonly layout: TableLayout;
  /** Group labels of the rows sent in the last load, and which of them are a sweep's best trial. */
  readonly firstGroups: readonly (string | null)[];
  readonly firstBest: readonly boolean[];
  /** The run the plots last asked the table to select, and its row index. */
  readonly revealed?: { readonly runId: string; readonly index: number };
  /** The columns the user hid. */
  readonly hiddenColumns: readonly string[];
  /** Remote: the server, the runs read so far, whether it has more, and the runs/search requests made. */
  readonly server?: string;
  readonly more?: boolean;
  readonly requests?: number;
  /** Cells of the rows sent in the last load (for checking min/max columns against the store). */
  readonly firstCells: readonly (readonly (string | number | null)[])[];
  /** The rows shown are SQL pages (of the query in the box) while every run is read for sort and filter. */
  readonly partial: boolean;
  /** Whole-table reads started since the panel opened (a store change while reading asks for one more). */
  readonly reads: number;
  /** Steps of the whole-table read under way (or of the last one): the page's messages are answered between two. */
  readonly readSteps: number;
  /** The last result the page reported painted: its version, when (ms since the epoch, host clock), and for a
   * result the page asked for, the ms from its request to the painted rows (page clock). */
  readonly painted?: { readonly version: number; readonly at: number; readonly requestMs?: number; readonly partial: boolean };
  /** The stages of the last query answered (the load message's trace: ms since the epoch, host clock). */
  readonly trace?: { readonly received: number; readonly searched: number; readonly built: number };
  /** The columns the page last said are in its DOM (header ids left to right; cells of its first row drawn). */
  readonly columnsInView?: {
    readonly version: number;
    readonly header: readonly string[];
    readonly cells: number;
    readonly misaligned: number;
    /** Cells drawn in the rows in view whose value had not arrived. */
    readonly missing: number;
    /** The header cells' widths (px) and the first row's cells' text, in the header's order. */
    readonly widths: readonly number[];
    readonly texts: readonly string[];
  };
  /** The cells per row the last load or page of rows carried (the pinned ones and those in and near view). */
  readonly cellsPerRow?: number;
}

/**
 * One row per run of the store (or of one experiment) with every param, metric and tag. The runs are
 * held host-side as columns; a filter or a header click re-runs the search in memory and the page,
 * which virtualises its rows, asks for the rows it scrolls to a page at a time.
 */
export class ExperimentsTablePanel implements PanelContent<HostMessage, ExperimentsTableWebviewMessage, ExperimentsTableTarget> {
  /** The runs as read from the store (latest metric values); undefined: read again on the next load. */
  private storeTable: RunTable | undefined;
  /** What is searched and shown: the store's table with min/max columns swapped in, or the server's runs read so far. */
  private table: RunTable | undefined;
  /**
   * Until the whole table is read, the rows are SQL pages of the query in the box (the first screen, and a sort or
   * filter asked meanwhile): the runs in scope and how many match.
   */
  private partial: { readonly total: number; readonly matched: number } | undefined;
  /** The whole table being read in steps on a connection of its own; a store change meanwhile reads once more after. */
  private reading: Promise<void> | undefined;
  private readAgain = false;
  /** Bumped when the panel is re-targeted to another experiment: a read of the old scope then keeps nothing. */
  private scopeGeneration = 0;
  private reads = 0;
  private painted: ExperimentsTableSnapshot['painted'];
  private columnsInView: ExperimentsTableSnapshot['columnsInView'];
  private readAggregates: ((table: RunTable, options: LoadRunTableOptions) => RunTable) | undefined;
  /** Set when mloop.backend = mlflow: the server's search, read a page at a time. */
  private remote: RemoteRunSearch | undefined;
  private server: string | undefined;
  private columns: RunTableColumn[] = [];
  private rows: Int32Array = new Int32Array();
  private version = 0;
  private scope = 'all experiments';
  private lastError: QueryError | undefined;
  private pagesServed = 0;
  /** Every cell of the rows the last load sent (the tests' snapshot reads them; built only then). */
  private firstRows: () => TableRow[] = () => [];
  private layout: TableLayout;
  private experimentNames = new Map<number, string>();
  private revealed: { runId: string; index: number } | undefined;

  /** The open table, if any (tests read its state). */
  static get active(): ExperimentsTablePanel | undefined {
    return activePanel(experimentsTablePanel);
  }

  /** Tests: while set, a whole-table read waits for it before it starts (what the page gets meanwhile is SQL's). */
  static holdWholeRead: Promise<void> | undefined;
  /** Tests: with `holdWholeRead`, the read starts and waits after this many steps instead (mid-way, its snapshot open). */
  static holdAfterSteps: number | undefined;
  /** Steps of the whole-table read under way (or of the last one). */
  private readSteps = 0;

  constructor(
    private readonly host: PanelHost<HostMessage>,
    private readonly deps: PanelDeps,
    private target: ExperimentsTableTarget,
  ) {
    const saved = tableLayoutSchema.safeParse(deps.workspaceState?.get(LAYOUT_KEY));
    this.layout = saved.success ? saved.data : DEFAULT_LAYOUT;
    // live rows: a changed store is read again while the table is in view
    host.register(deps.onDidChangeStore(() => void this.storeChanged()));
  }

  /** The store's write count as the editor's connection sees it when the last whole-table read started. */
  private readVersion: string | undefined;

  /**
   * Writes committed to the store since this connection last looked: by other connections (`data_version`) and by
   * its own (`total_changes()`, less the rows the table's SQL pages put in their temp tables). A read on another connection changes neither — but it touches the -wal file, and the
   * file watcher reports that as a change: the table's own read would start the next one, forever.
   */
  private static writeVersion(store: Store): string {
    return `${store.db.pragma('data_version', { simple: true }) as number}:${storeChangesOf(store.db)}`;
  }

  private async storeChanged(): Promise<void> {
    const { host } = this;
    if (!this.remote && this.readVersion !== undefined) {
      const store = await this.deps.store();
      if (store && ExperimentsTablePanel.writeVersion(store) === this.readVersion) return; // nothing written: a read's trace
    }
    // shown and read: the rows in view stay while the store is read again, then the new rows replace them
    if (!this.remote && (this.storeTable || this.reading) && host.ready && host.visible) {
      void this.readAndShow();
      return;
    }
    this.storeTable = undefined;
    this.table = undefined;
    if (host.ready && host.visible) void host.reload();
  }

  readonly handlers: PageHandlers<ExperimentsTableWebviewMessage> = {
    query: async (message) => {
      const received = Date.now();
      this.pageActive = received;
      if (message.columns) this.columnRange = message.columns;
      // while every run is still read, SQL answers (the first page and the count), not the wait for the whole table
      if (this.readingForSql()) {
        const store = await this.deps.store();
        if (store && this.readingForSql()) {
          const error = this.searchWithSql(store, message.query);
          // a refused query has no answer: no trace (it would ride on the next load)
          this.queryTrace = error ? undefined : { received, searched: Date.now() };
          if (error) {
            await this.host.post({ type: 'queryError', query: message.query, error });
            return;
          }
          this.target = { ...this.target, query: message.query };
          this.yieldToPaint();
          await this.host.post(this.loadMessage());
          return;
        }
      }
      await this.wholeTable();
      const error = this.remote ? await this.searchRemote(message.query) : this.search(message.query);
      this.queryTrace = error ? undefined : { received, searched: Date.now() };
      if (error) {
        await this.host.post({ type: 'queryError', query: message.query, error });
        return;
      }
      this.target = { ...this.target, query: message.query };
      await this.host.post(this.loadMessage());
    },
    rows: async (message) => {
      this.pageActive = Date.now();
      if (message.columns) this.columnRange = message.columns;
      if (message.version !== this.version || !this.table) return;
      this.pagesServed++;
      const window = this.cellWindow();
      if (this.partial) {
        const rows = await this.storePage(message.offset, message.count, window);
        await this.host.post({ type: 'rows', version: this.version, offset: message.offset, rows, ...(window ? { cellWindow: window } : {}) });
        return;
      }
      if (this.remote) {
        const remote = this.remote;
        await remote.ensure(message.offset + message.count);
        if (remote !== this.remote || message.version !== this.version) return; // a newer search replaced it meanwhile
        this.showRemoteRuns();
        await this.host.post({
          type: 'rows',
          version: this.version,
          offset: message.offset,
          rows: this.page(message.offset, message.count, window),
          ...(window ? { cellWindow: window } : {}),
          matched: this.rows.length,
          more: remote.more,
        });
        return;
      }
      await this.host.post({
        type: 'rows',
        version: this.version,
        offset: message.offset,
        rows: this.page(message.offset, message.count, window),
        ...(window ? { cellWindow: window } : {}),
      });
    },
    plot: (message) => void openMetricsPanel(this.deps, message.runIds),
    compare: (message) => void openComparePanel(this.deps, message.runIds),
    reproduce: (message) => void executeCommand('mloop.runs.reproduce', message.runId),
    exportCsv: () => this.exportCsv(),
    // the Models view's Register Model from Run: the same prompts, gate and audit, on the store or the server
    register: (message) => void executeCommand('mloop.models.registerFromRun', message.runId),
    // Delete Run on the selection: confirmed, through the backend, audited; a store change reloads the table itself
    delete: async (message) => {
      const deleted = await executeCommand('mloop.runs.delete', message.runIds);
      if (this.remote && deleted) {
        this.remote = undefined;
        await this.host.reload();
      }
    },
    copy: async (message) => {
      await vscode.env.clipboard.writeText(message.text);
      vscode.window.setStatusBarMessage(`mloop: copied ${message.text.length > 40 ? `${message.text.slice(0, 40)}…` : message.text}`, 3000);
    },
    layout: async (message) => {
      this.pageActive = Date.now();
      if (message.columns) this.columnRange = message.columns;
      // a column resized: the page has drawn it already; only remembered (the rows and the scroll stay)
      if (JSON.stringify({ ...message.layout, widths: undefined }) === JSON.stringify({ ...this.layout, widths: undefined })) {
        this.layout = message.layout;
        await this.deps.workspaceState?.update(LAYOUT_KEY, message.layout);
        return;
      }
      // while every run is still read, a layout (columns shown, their order, pins, min/max, grouping) applies to the
      // SQL page at once; the whole table takes it when read
      if (this.readingForSql()) {
        const store = await this.deps.store();
        if (store && this.readingForSql()) {
          this.layout = message.layout;
          // the page searched again: a min/max column filters and orders by the value it now shows
          const error = this.searchWithSql(store, this.target.query);
          if (error) this.searchWithSql(store, EMPTY_QUERY);
          this.yieldToPaint();
          const posted = this.host.post(this.loadMessage(error));
          // saved after the SQL page is built: the whole table, read while the editor saved, would have been replaced by it
          await this.deps.workspaceState?.update(LAYOUT_KEY, message.layout);
          await posted;
          return;
        }
      }
      await this.wholeTable();
      const aggregatesChanged = JSON.stringify(metricAggregates(message.layout)) !== JSON.stringify(metricAggregates(this.layout));
      this.layout = message.layout;
      await this.deps.workspaceState?.update(LAYOUT_KEY, message.layout);
      if (aggregatesChanged && !this.remote) this.applyAggregates();
      if (this.remote) this.showRemoteRuns();
      else this.search(this.target.query);
      await this.host.post(this.loadMessage());
    },
    painted: (message) => {
      this.paintWait?.done();
      this.startDeferredRead();
      this.painted = {
        version: message.version,
        at: Date.now(),
        partial: message.partial,
        ...(message.requestMs !== undefined ? { requestMs: message.requestMs } : {}),
      };
    },
    columnsInView: (message) => {
      this.pageActive = Date.now();
      this.columnsInView = {
        version: message.version,
        header: message.header,
        cells: message.cells,
        misaligned: message.misaligned,
        missing: message.missing ?? 0,
        widths: message.widths ?? [],
        texts: message.texts ?? [],
      };
    },
    plots: async (message) => {
      const { openRunPlots } = await import('./runPlotsPanel');
      const { experimentId } = this.target;
      openRunPlots(this.deps, { ...(experimentId !== undefined ? { experimentId } : {}), ...(message.runIds.length ? { runIds: message.runIds } : {}) });
    },
  };

  /** The ids of the columns shown, in display order (Go to Column… and Set Column Width… offer them). */
  shownColumns(): { readonly id: string; readonly label: string }[] {
    return this.displayColumns().map((c) => ({ id: c.id, label: c.label }));
  }

  /** Scrolls the page to a column; the page asks for the cells it lacks there. */
  async showColumn(column: string): Promise<boolean> {
    return this.host.post({ type: 'showColumn', column });
  }

  /** Sets a column's width (px, or fit to what it shows) on the page, which saves it with the layout. */
  async setColumnWidth(column: string, width: number | 'fit'): Promise<boolean> {
    return this.host.post({ type: 'columnWidth', column, width });
  }

  /** Selects a run (clicked in the plots) and scrolls to it, when it is among the rows in view. */
  revealRun(runId: string): void {
    if (!this.table) return;
    const index = this.rows.findIndex((i) => this.table!.runIds[i] === runId);
    if (index < 0) return;
    this.revealed = { runId, index };
    void this.host.post({ type: 'reveal', runId, index });
  }

  /** The columns in display order (pinned first, then the user's order), without the hidden ones. */
  private displayColumns(): RunTableColumn[] {
    return arrangeColumns(this.columns, this.remote ? { ...this.layout, aggregates: {} } : this.layout).shown;
  }

  retarget(target: ExperimentsTableTarget): void {
    if (target.experimentId !== this.target.experimentId) {
      this.scopeGeneration++;
      this.storeTable = undefined;
      this.partial = undefined;
      this.table = undefined;
      this.remote = undefined;
    }
    this.target = target;
  }

  snapshot(): ExperimentsTableSnapshot {
    const firstRows = this.firstRows();
    const name = this.displayColumns().findIndex((c) => c.id === 'attributes.run_name');
    return {
      ready: this.host.ready,
      version: this.version,
      scope: this.scope,
      query: this.target.query,
      total: this.partial?.total ?? this.table?.size ?? 0,
      matched: this.partial?.matched ?? this.rows.length,
      columns: this.displayColumns().map((c) => c.id),
      firstNames: firstRows.map((r) => String(r.cells[name])),
      layout: this.layout,
      firstGroups: firstRows.map((r) => r.group ?? null),
      firstBest: firstRows.map((r) => r.best === true),
      ...(this.revealed ? { revealed: this.revealed } : {}),
      ...(this.lastError ? { error: this.lastError } : {}),
      pagesServed: this.pagesServed,
      hiddenColumns: arrangeColumns(this.columns, this.layout).hidden.map((c) => c.id),
      ...(this.remote ? { server: this.server, more: this.remote.more, requests: this.remote.requests } : {}),
      firstCells: firstRows.map((r) => r.cells),
      partial: this.partial !== undefined,
      reads: this.reads,
      readSteps: this.readSteps,
      ...(this.painted ? { painted: this.painted } : {}),
      ...(this.lastTrace ? { trace: this.lastTrace } : {}),
      ...(this.columnsInView ? { columnsInView: this.columnsInView } : {}),
      ...(this.cellsPerRow !== undefined ? { cellsPerRow: this.cellsPerRow } : {}),
    };
  }

  async load(): Promise<HostMessage> {
    const server = await this.deps.runsServer?.();
    if (server) return this.loadRemote(server);
    this.remote = undefined;
    this.server = undefined;
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    const { experimentId } = this.target;
    if (!this.storeTable) {
      const experiments = new ExperimentRepository(store);
      const experiment = experimentId === undefined ? undefined : experiments.get(experimentId);
      this.experimentNames = new Map(experiments.list().map((e) => [e.experimentId, e.name]));
      this.scope = experiment ? `experiment ${experiment.name}` : 'all experiments';
      this.readAggregates = (table, options) => withMetricAggregates(store.db, table, metricAggregates(this.layout), options);
      this.host.title = experiment ? `Runs of ${experiment.name}` : 'Experiments Table';
      if (!this.reading) {
        // the first screen: the first page of the query with SQL (the default order: a LIMIT query and the count),
        // posted before the whole table is read for sort and filter; a saved query that no longer parses opens
        // unfiltered, with its error shown
        const error = this.searchWithSql(store, this.target.query);
        if (error) {
          this.searchWithSql(store, EMPTY_QUERY);
          this.lastError = error;
        }
        // every run is read once the page has painted the first screen (or after a second): both need the editor's thread
        clearTimeout(this.deferredRead);
        this.deferredRead = setTimeout(() => this.startDeferredRead(), 1000);
        return this.loadMessage(error);
      }
      if (this.reading) await this.reading;
      else await this.readWholeTable(store);
      if (!this.storeTable) return this.load(); // the scope changed while reading: read the new one
      return this.loadMessage(this.showWholeTable());
    }
    // a saved query that no longer parses opens unfiltered, with its error shown
    const error = this.search(this.target.query);
    if (error) {
      this.search(EMPTY_QUERY);
      this.lastError = error;
    }
    return this.loadMessage(error);
  }

  /** SQL answers the table's searches: the rows shown are SQL pages (grouped too) while the whole table is read. */
  private readingForSql(): boolean {
    return !this.remote && this.partial !== undefined;
  }

  /** The first page of a search with SQL, shown until the whole table is read; a syntax error keeps the rows shown. */
  private searchWithSql(store: Store, query: TableQuery): QueryError | undefined {
    let page: ReturnType<typeof searchRunTablePage>;
    try {
      page = searchRunTablePage(store.db, this.scopeOptions(), query, 0, EXPERIMENTS_TABLE_PAGE_ROWS, metricAggregates(this.layout), this.layout.grouping);
    } catch (error) {
      if (!(error instanceof SearchSyntaxError)) throw error;
      this.lastError = { field: error.message.startsWith('Invalid order_by') ? 'orderBy' : 'filter', message: error.message, column: error.column };
      return this.lastError;
    }
    this.partial = { total: page.total, matched: page.matched };
    this.table = this.readAggregates!(page.table, this.scopeOptions());
    this.columns = runTableColumns(page.table);
    this.rows = Int32Array.from({ length: page.table.size }, (_, i) => i);
    this.version++;
    this.pagesServed = 0;
    this.lastError = undefined;
    return undefined;
  }

  /**
   * An answer to the page posted while every run is read: the read's next step waits until the page reports it
   * painted (or PAINT_WAIT_MS passed), so the read does not take the CPU from the page drawing it on a busy machine.
   */
  private paintWait: { readonly promise: Promise<void>; readonly done: () => void } | undefined;

  private yieldToPaint(): void {
    this.paintWait?.done();
    let done: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => (done = resolve));
    const timer = setTimeout(() => wait.done(), PAINT_WAIT_MS);
    const wait = {
      promise,
      done: () => {
        clearTimeout(timer);
        if (this.paintWait === wait) this.paintWait = undefined;
        done();
      },
    };
    this.paintWait = wait;
  }

  /** When the page last asked for something or scrolled (ms since the epoch): the read waits PAGE_QUIET_MS after. */
  private pageActive = 0;

  /** Resolves once the page has been quiet for PAGE_QUIET_MS (undefined: it is, go on). */
  private pageQuiet(): Promise<void> | undefined {
    const wait = this.pageActive + PAGE_QUIET_MS - Date.now();
    if (wait <= 0 || this.host.disposed) return undefined;
    return new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => this.pageQuiet());
  }

  /** The whole-table read the first screen put off until it was painted. */
  private deferredRead: ReturnType<typeof setTimeout> | undefined;

  private startDeferredRead(): void {
    if (this.deferredRead === undefined) return;
    clearTimeout(this.deferredRead);
    this.deferredRead = undefined;
    if (!this.host.disposed) void this.readAndShow();
  }

  /** Waits for the whole table when the rows shown are still SQL pages (layout and CSV need every run). */
  private async wholeTable(): Promise<void> {
    this.startDeferredRead();
    await this.deps.store(); // the read just started has said so by now (it awaited the store first)
    while (!this.remote && !this.storeTable && this.reading) await this.reading;
  }

  /**
   * Reads the whole table in steps on a read-only connection of its own (one snapshot, the editor stays
   * responsive); a store change meanwhile sets `readAgain`, and the table is read once more after this read.
   */
  private readWholeTable(store: Store): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reads++;
    this.readVersion = ExperimentsTablePanel.writeVersion(store);
    const scope = this.scopeGeneration;
    const reading = (async () => {
      const holdAfter = ExperimentsTablePanel.holdAfterSteps;
      if (holdAfter === undefined) await ExperimentsTablePanel.holdWholeRead;
      const hold = holdAfter === undefined ? undefined : ExperimentsTablePanel.holdWholeRead;
      const reader = openStore({ path: store.path, readonly: true });
      this.readSteps = 0;
      try {
        reader.db.pragma('temp_store = MEMORY');
        // small steps: the page's messages (sort, filter, scroll) are answered between two of them
        const table = await loadRunTableInSteps(reader.db, this.scopeOptions(), {
          isCancelled: () => this.host.disposed,
          betweenSteps: (steps) => {
            this.readSteps = steps;
            if (steps === holdAfter) return hold;
            return this.paintWait?.promise ?? this.pageQuiet();
          },
        });
        // a table of another scope (the panel was re-targeted meanwhile) is dropped
        if (table && scope === this.scopeGeneration) this.storeTable = table;
      } finally {
        reader.close();
      }
    })();
    this.reading = reading.finally(() => {
      this.reading = undefined;
      if (this.readAgain && !this.host.disposed) {
        this.readAgain = false;
        void this.readAndShow();
      }
    });
    return this.reading;
  }

  /** Reads the whole table (in the background) and posts it: the filter and order in the box apply to every run now. */
  private async readAndShow(): Promise<void> {
    try {
      const store = await this.deps.store();
      if (!store) return;
      const reading = this.reading;
      await this.readWholeTable(store);
      if (reading || !this.storeTable || this.remote) return; // a read already under way posts when it ends
      const error = this.showWholeTable();
      if (this.host.ready) await this.host.post(this.loadMessage(error));
    } catch (error) {
      this.deps.log.error(`experiments table: reading the runs failed: ${(error as Error).message}`);
      if (this.host.ready) await this.host.post({ type: 'problem', message: `Cannot read the mloop store: ${(error as Error).message}` });
    }
  }

  /** The whole table replaces the SQL pages: columns, min/max, and the query searched again. */
  private showWholeTable(): QueryError | undefined {
    this.partial = undefined;
    this.columns = runTableColumns(this.storeTable!);
    this.applyAggregates();
    const error = this.search(this.target.query);
    if (error) {
      this.search(EMPTY_QUERY);
      this.lastError = error;
    }
    return error;
  }

  /** Rows of the query read with SQL while the whole table is read (the page scrolled past the first screen). */
  private async storePage(offset: number, count: number, window: CellWindow | undefined): Promise<TableRow[]> {
    const store = await this.deps.store();
    if (!store || !this.readAggregates) return [];
    const page = searchRunTablePage(store.db, this.scopeOptions(), this.target.query, offset, count, metricAggregates(this.layout), this.layout.grouping);
    return this.rowsOf(
      this.readAggregates(page.table, this.scopeOptions()),
      Int32Array.from({ length: page.table.size }, (_, i) => i),
      0,
      page.table.size,
      window,
    );
  }

  private scopeOptions(): LoadRunTableOptions {
    const { experimentId } = this.target;
    return experimentId === undefined ? {} : { experimentIds: [experimentId] };
  }

  /** The metric columns set to min or max get those values, read with SQL from the store (one query per metric). */
  private applyAggregates(): void {
    if (this.storeTable && this.readAggregates) this.table = this.readAggregates(this.storeTable, this.scopeOptions());
  }

  /** mloop.backend = mlflow: the server searches; the first page is read now, the rest as the page scrolls. */
  private async loadRemote(server: NonNullable<Awaited<ReturnType<NonNullable<PanelDeps['runsServer']>>>>): Promise<HostMessage> {
    this.server = server.location;
    this.storeTable = undefined;
    const experiments = await server.listExperiments();
    this.experimentNames = new Map(experiments.map((e) => [Number(e.experimentId), e.name]));
    const { experimentId } = this.target;
    const experiment = experiments.find((e) => experimentId !== undefined && e.experimentId === String(experimentId));
    this.scope = `${experiment ? `experiment ${experiment.name}` : 'all experiments'} on ${server.location}`;
    this.host.title = experiment ? `Runs of ${experiment.name} (MLflow)` : 'Experiments Table (MLflow)';
    this.remoteExperimentIds = experimentId === undefined ? experiments.map((e) => e.experimentId) : [String(experimentId)];
    this.remoteBackend = server;
    this.remote = undefined;
    const error = await this.searchRemote(this.target.query);
    if (error) {
      await this.searchRemote(EMPTY_QUERY);
      this.lastError = error;
    }
    return this.loadMessage(error);
  }

  private remoteBackend: Pick<Backend, 'searchRuns'> | undefined;
  private remoteExperimentIds: readonly string[] = [];

  /** A new search on the server: the one parser checks it first (errors at their column), the server filters and orders. */
  private async searchRemote(query: TableQuery): Promise<QueryError | undefined> {
    let remote: RemoteRunSearch;
    try {
      remote = await RemoteRunSearch.open(this.remoteBackend!, this.remoteExperimentIds, query, { pageSize: EXPERIMENTS_TABLE_PAGE_ROWS });
    } catch (error) {
      if (error instanceof SearchSyntaxError) {
        this.lastError = { field: error.message.startsWith('Invalid order_by') ? 'orderBy' : 'filter', message: error.message, column: error.column };
        return this.lastError;
      }
      // the server refused it (a key MLflow rejects, a server-side limit): shown like a syntax error, at the start
      if (error instanceof Error && /\b400\b|INVALID_PARAMETER_VALUE/.test(error.message)) {
        this.lastError = { field: 'filter', message: `the MLflow server refused the search: ${error.message}`, column: 1 };
        return this.lastError;
      }
      throw error;
    }
    this.remote = remote;
    this.target = { ...this.target, query };
    this.lastError = undefined;
    this.table = runTableOfBackendRuns(remote.known);
    this.columns = runTableColumns(this.table); // the columns of the first page; later pages fill the same columns
    this.version++;
    this.pagesServed = 0;
    this.showRemoteRuns();
    return undefined;
  }

  /** The server's runs read so far, in its order (grouped among themselves when the table is grouped). */
  private showRemoteRuns(): void {
    if (!this.remote) return;
    if (this.table?.size !== this.remote.known.length) this.table = runTableOfBackendRuns(this.remote.known);
    this.rows = groupRows(
      this.table,
      Int32Array.from({ length: this.table.size }, (_, i) => i),
      this.layout.grouping,
    );
  }

  /** Runs the search; on a syntax error keeps the previous rows and returns the error. */
  private search(query: TableQuery): QueryError | undefined {
    if (!this.table) return undefined;
    let rows: Int32Array;
    try {
      rows = searchRunTable(this.table, { filter: query.filter, orderBy: query.orderBy });
    } catch (error) {
      if (!(error instanceof SearchSyntaxError)) throw error;
      this.lastError = { field: error.message.startsWith('Invalid order_by') ? 'orderBy' : 'filter', message: error.message, column: error.column };
      return this.lastError;
    }
    this.lastError = undefined;
    this.rows = groupRows(this.table, rows, this.layout.grouping);
    this.version++;
    this.pagesServed = 0;
    return undefined;
  }

  /** When the query being answered was received and its rows found (the load message's trace), once. */
  private queryTrace: { readonly received: number; readonly searched: number } | undefined;
  private lastTrace: ExperimentsTableSnapshot['trace'];

  private loadMessage(error?: QueryError): ExperimentsTableHostMessage {
    const trace = this.queryTrace;
    this.queryTrace = undefined;
    // a column to scroll to is sent once: a later load (a live row, a sort) leaves the scroll where the user put it
    const { column, ...target } = this.target;
    if (column !== undefined) {
      this.target = target;
      // the page opens at that column: the cells around it, until the page says which it draws
      const at = this.displayColumns().findIndex((c) => c.id === column);
      if (at >= 0) this.columnRange = { start: Math.max(0, at - FIRST_CELL_COLUMNS / 2), end: at + FIRST_CELL_COLUMNS / 2 };
    }
    const window = this.cellWindow();
    const rows = this.page(0, EXPERIMENTS_TABLE_PAGE_ROWS, window);
    // every cell of the first rows, read when the tests ask (snapshot), of the table and rows as they are now
    const { table, rows: order } = this;
    this.firstRows = () => (table ? this.rowsOf(table, order, 0, EXPERIMENTS_TABLE_PAGE_ROWS, undefined) : []);
    return {
      type: 'load',
      version: this.version,
      scope: this.scope,
      ...(this.target.experimentId !== undefined ? { experimentId: this.target.experimentId } : {}),
      columns: this.displayColumns(),
      hiddenColumns: arrangeColumns(this.columns, this.layout).hidden,
      ...(this.remote ? { server: this.server!, more: this.remote.more } : {}),
      layout: this.layout,
      // the first screen: SQL pages of the default order over every run in scope (the whole table is still read)
      total: this.partial?.total ?? this.table?.size ?? 0,
      matched: this.partial?.matched ?? this.rows.length,
      ...(this.partial ? { partial: true as const } : {}),
      // a refused query stays in the box, marked, over the unfiltered rows
      query: this.target.query,
      ...(error ? { error } : {}),
      offset: 0,
      rows,
      ...(window ? { cellWindow: window } : {}),
      ...(trace ? { trace: (this.lastTrace = { ...trace, built: Date.now() }) } : {}),
      ...(column !== undefined ? { column } : {}),
    };
  }

  /** The columns the page last said it draws, with those near them (indexes into the display columns). */
  private columnRange: ColumnRange | undefined;

  /**
   * The columns whose cells cross to the page: the pinned ones and the range the page draws (at first, the first
   * FIRST_CELL_COLUMNS after the pinned). Undefined when that is every column.
   */
  private cellWindow(): CellWindow | undefined {
    const columns = this.displayColumns();
    const pinned = columns.filter((c) => this.layout.pinned.includes(c.id)).length;
    const range = this.columnRange ?? { start: pinned, end: pinned + FIRST_CELL_COLUMNS };
    const start = Math.min(columns.length, Math.max(pinned, range.start));
    const end = Math.max(start, Math.min(columns.length, range.end));
    if (start === pinned && end === columns.length) return undefined;
    return { pinned, start, end };
  }

  private page(offset: number, count: number, window: CellWindow | undefined): TableRow[] {
    this.cellsPerRow = window ? window.pinned + window.end - window.start : this.displayColumns().length;
    return this.rowsOf(this.table!, this.rows, offset, count, window);
  }

  private cellsPerRow: number | undefined;

  private rowsOf(table: RunTable, rows: Int32Array, offset: number, count: number, window: CellWindow | undefined): TableRow[] {
    const all = this.displayColumns();
    const columns = window ? [...all.slice(0, window.pinned), ...all.slice(window.start, window.end)] : all;
    const { grouping } = this.layout;
    const out: TableRow[] = [];
    for (let n = offset; n < Math.min(rows.length, offset + count); n++) {
      const i = rows[n]!;
      const key = runGroupKey(table, i, grouping);
      const group =
        key === null
          ? undefined
          : grouping === 'experiment'
            ? (this.experimentNames.get(Number(key)) ?? key)
            : grouping === 'sweep'
              ? `sweep ${key.slice(0, 8)}`
              : key.slice(0, 10);
      out.push({
        runId: table.runIds[i]!,
        cells: columns.map((c) => runTableCell(table, i, c)),
        ...(group !== undefined ? { group } : {}),
        ...(isBestTrial(table, i) ? { best: true as const } : {}),
      });
    }
    return out;
  }

  /**
   * The rows in view (filtered, ordered, grouped) as CSV, given a piece at a time to `write`. While every run is still
   * read, they are read with SQL a chunk of runs at a time (runTableCsvFromSql), however many match: the same text as
   * from the whole table, without waiting for it. `isCancelled` is asked between pieces.
   */
  private async writeViewCsv(
    write: (piece: string) => Promise<void>,
    isCancelled: () => boolean = () => false,
  ): Promise<{ readonly rows: number; readonly fromSql: boolean } | undefined> {
    if (this.readingForSql()) {
      const store = await this.deps.store();
      if (store && this.readingForSql()) {
        const layout = this.layout;
        const pieces = runTableCsvFromSql(
          store.db,
          this.scopeOptions(),
          this.target.query,
          metricAggregates(layout),
          layout.grouping,
          (columns) => arrangeColumns(columns, layout).shown,
        );
        for (let piece = pieces.next(); ; piece = pieces.next()) {
          if (piece.done) return { rows: piece.value.rows, fromSql: true };
          await write(piece.value);
          if (isCancelled()) {
            pieces.return({ rows: 0 });
            return undefined;
          }
        }
      }
    }
    await this.wholeTable();
    if (!this.table) return undefined;
    await write(runTableCsv(this.table, this.rows, this.displayColumns()));
    return { rows: this.rows.length, fromSql: false };
  }

  /** The rows in view as CSV text (tests; the export writes the pieces to its file as they come). */
  async csvOfView(): Promise<{ readonly csv: string; readonly rows: number; readonly fromSql: boolean } | undefined> {
    const pieces: string[] = [];
    const view = await this.writeViewCsv(async (piece) => {
      pieces.push(piece);
    });
    return view && { ...view, csv: pieces.join('') };
  }

  /** The rows in view as CSV, written to a file the user picks a piece at a time (temp file, then rename); cancellable. */
  private async exportCsv(): Promise<void> {
    const uri = await vscode.window.showSaveDialog({ filters: { CSV: ['csv'] }, title: 'Export the runs in view as CSV', saveLabel: 'Export' });
    if (!uri) return;
    const temp = `${uri.fsPath}.${process.pid}.tmp`;
    const view = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'mloop: exporting the runs in view', cancellable: true },
      async (progress, token) => {
        const file = await open(temp, 'w');
        let written = 0;
        try {
          const done = await this.writeViewCsv(
            async (piece) => {
              await file.write(piece);
              written += piece.length;
              progress.report({ message: `${Math.round(written / 1024)} KB written` });
            },
            () => token.isCancellationRequested,
          );
          await file.close();
          if (!done) await rm(temp, { force: true });
          return done;
        } catch (error) {
          await file.close().catch(() => undefined);
          await rm(temp, { force: true });
          throw error;
        }
      },
    );
    if (!view) return;
    await rename(temp, uri.fsPath);
    void vscode.window.showInformationMessage(`mloop: exported ${view.rows} runs to ${uri.fsPath}`);
  }
}

export const experimentsTablePanel = definePanel<PanelDeps, ExperimentsTableTarget, HostMessage, ExperimentsTableWebviewMessage, ExperimentsTablePanel>({
  kind: 'experimentsTable',
  pageMessages: experimentsTableWebviewMessageSchema,
  problem: 'Cannot read the mloop store: ',
  revive: (state, deps: PanelDeps): ExperimentsTableTarget => {
    const parsed = experimentsTableViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('experiments table: saved state was unreadable; showing every run unfiltered');
    return parsed.success
      ? { ...(parsed.data.experimentId !== undefined ? { experimentId: parsed.data.experimentId } : {}), query: parsed.data.query }
      : { query: EMPTY_QUERY };
  },
  create: (host: PanelHost<HostMessage>, deps, target) => new ExperimentsTablePanel(host, deps, target),
});

/** Opens (or re-targets) the Experiments Table. */
export function openExperimentsTable(deps: PanelDeps, target: ExperimentsTableTarget = { query: EMPTY_QUERY }): ExperimentsTablePanel {
  return showPanel(experimentsTablePanel, deps, target);
}
