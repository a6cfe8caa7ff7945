import * as vscode from 'vscode';
import { rename, writeFile } from 'node:fs/promises';
import { loadRunTable, searchRunTable, type RunTable } from '../../core/experiments/runTable';
import { groupRows, isBestTrial, runGroupKey, runTableCell, runTableColumns, runTableCsv, type RunTableColumn } from '../../core/experiments/runTableView';
import { SearchSyntaxError } from '../../core/experiments/searchSyntax';
import { ExperimentRepository } from '../../core/store/experiments';
import {
  experimentsTableViewStateSchema,
  experimentsTableWebviewMessageSchema,
  type ExperimentsTableHostMessage,
  type ExperimentsTableWebviewMessage,
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
import { executeCommand } from '../base/commands';
import { openComparePanel } from './comparePanel';
import { openMetricsPanel } from './metricsPanel';

/** Which runs the table holds (one experiment, or all) and the filter and order it opens with. */
export interface ExperimentsTableTarget {
  readonly experimentId?: number;
  readonly query: TableQuery;
}

type HostMessage = ExperimentsTableHostMessage | ProblemMessage;

const EMPTY_QUERY: TableQuery = { filter: '', orderBy: '' };
const DEFAULT_LAYOUT: TableLayout = { grouping: 'none', pinned: [] };
/** The workspaceState key of the table's grouping and pinned columns. */
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
}

/**
 * One row per run of the store (or of one experiment) with every param, metric and tag. The runs are
 * held host-side as columns; a filter or a header click re-runs the search in memory and the page,
 * which virtualises its rows, asks for the rows it scrolls to a page at a time.
 */
export class ExperimentsTablePanel implements PanelContent<HostMessage, ExperimentsTableWebviewMessage, ExperimentsTableTarget> {
  private table: RunTable | undefined;
  private columns: RunTableColumn[] = [];
  private rows: Int32Array = new Int32Array();
  private version = 0;
  private scope = 'all experiments';
  private lastError: QueryError | undefined;
  private pagesServed = 0;
  private firstNames: string[] = [];
  private firstRows: TableRow[] = [];
  private layout: TableLayout;
  private experimentNames = new Map<number, string>();
  private revealed: { runId: string; index: number } | undefined;

  /** The open table, if any (tests read its state). */
  static get active(): ExperimentsTablePanel | undefined {
    return activePanel(experimentsTablePanel);
  }

  constructor(
    private readonly host: PanelHost<HostMessage>,
    private readonly deps: PanelDeps,
    private target: ExperimentsTableTarget,
  ) {
    const saved = tableLayoutSchema.safeParse(deps.workspaceState?.get(LAYOUT_KEY));
    this.layout = saved.success ? saved.data : DEFAULT_LAYOUT;
    // live rows: a changed store is read again while the table is in view
    host.register(
      deps.onDidChangeStore(() => {
        this.table = undefined;
        if (host.ready && host.visible) void host.reload();
      }),
    );
  }

  readonly handlers: PageHandlers<ExperimentsTableWebviewMessage> = {
    query: async (message) => {
      const error = this.search(message.query);
      if (error) {
        await this.host.post({ type: 'queryError', query: message.query, error });
        return;
      }
      this.target = { ...this.target, query: message.query };
      await this.host.post(this.loadMessage());
    },
    rows: async (message) => {
      if (message.version !== this.version || !this.table) return;
      this.pagesServed++;
      await this.host.post({ type: 'rows', version: this.version, offset: message.offset, rows: this.page(message.offset, message.count) });
    },
    plot: (message) => void openMetricsPanel(this.deps, message.runIds),
    compare: (message) => void openComparePanel(this.deps, message.runIds),
    reproduce: (message) => void executeCommand('mloop.runs.reproduce', message.runId),
    exportCsv: () => this.exportCsv(),
    layout: async (message) => {
      this.layout = message.layout;
      await this.deps.workspaceState?.update(LAYOUT_KEY, message.layout);
      this.search(this.target.query);
      await this.host.post(this.loadMessage());
    },
    plots: async (message) => {
      const { openRunPlots } = await import('./runPlotsPanel');
      const { experimentId } = this.target;
      openRunPlots(this.deps, { ...(experimentId !== undefined ? { experimentId } : {}), ...(message.runIds.length ? { runIds: message.runIds } : {}) });
    },
  };

  /** Selects a run (clicked in the plots) and scrolls to it, when it is among the rows in view. */
  revealRun(runId: string): void {
    if (!this.table) return;
    const index = this.rows.findIndex((i) => this.table!.runIds[i] === runId);
    if (index < 0) return;
    this.revealed = { runId, index };
    void this.host.post({ type: 'reveal', runId, index });
  }

  /** The columns in display order: pinned ones first, in the order they were pinned. */
  private displayColumns(): RunTableColumn[] {
    const pinned = this.layout.pinned.flatMap((id) => this.columns.filter((c) => c.id === id));
    return [...pinned, ...this.columns.filter((c) => !this.layout.pinned.includes(c.id))];
  }

  retarget(target: ExperimentsTableTarget): void {
    if (target.experimentId !== this.target.experimentId) this.table = undefined;
    this.target = target;
  }

  snapshot(): ExperimentsTableSnapshot {
    return {
      ready: this.host.ready,
      version: this.version,
      scope: this.scope,
      query: this.target.query,
      total: this.table?.size ?? 0,
      matched: this.rows.length,
      columns: this.displayColumns().map((c) => c.id),
      firstNames: this.firstNames,
      layout: this.layout,
      firstGroups: this.firstRows.map((r) => r.group ?? null),
      firstBest: this.firstRows.map((r) => r.best === true),
      ...(this.revealed ? { revealed: this.revealed } : {}),
      ...(this.lastError ? { error: this.lastError } : {}),
      pagesServed: this.pagesServed,
    };
  }

  async load(): Promise<HostMessage> {
    const store = await this.deps.store();
    if (!store) return NO_STORE;
    if (!this.table) {
      const { experimentId } = this.target;
      const experiments = new ExperimentRepository(store);
      const experiment = experimentId === undefined ? undefined : experiments.get(experimentId);
      this.experimentNames = new Map(experiments.list().map((e) => [e.experimentId, e.name]));
      this.scope = experiment ? `experiment ${experiment.name}` : 'all experiments';
      this.table = loadRunTable(store.db, experimentId === undefined ? {} : { experimentIds: [experimentId] });
      this.columns = runTableColumns(this.table);
      this.host.title = experiment ? `Runs of ${experiment.name}` : 'Experiments Table';
    }
    // a saved query that no longer parses opens unfiltered, with its error shown
    const error = this.search(this.target.query);
    if (error) {
      this.search(EMPTY_QUERY);
      this.lastError = error;
    }
    return this.loadMessage(error);
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

  private loadMessage(error?: QueryError): ExperimentsTableHostMessage {
    const rows = this.page(0, EXPERIMENTS_TABLE_PAGE_ROWS);
    const name = this.displayColumns().findIndex((c) => c.id === 'attributes.run_name');
    this.firstNames = rows.map((r) => String(r.cells[name]));
    this.firstRows = rows;
    return {
      type: 'load',
      version: this.version,
      scope: this.scope,
      ...(this.target.experimentId !== undefined ? { experimentId: this.target.experimentId } : {}),
      columns: this.displayColumns(),
      layout: this.layout,
      total: this.table?.size ?? 0,
      matched: this.rows.length,
      // a refused query stays in the box, marked, over the unfiltered rows
      query: this.target.query,
      ...(error ? { error } : {}),
      offset: 0,
      rows,
    };
  }

  private page(offset: number, count: number): TableRow[] {
    const table = this.table!;
    const columns = this.displayColumns();
    const { grouping } = this.layout;
    const out: TableRow[] = [];
    for (let n = offset; n < Math.min(this.rows.length, offset + count); n++) {
      const i = this.rows[n]!;
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

  /** The rows in view (filtered and ordered) as CSV, written to a file the user picks (temp file, then rename). */
  private async exportCsv(): Promise<void> {
    if (!this.table) return;
    const uri = await vscode.window.showSaveDialog({ filters: { CSV: ['csv'] }, title: 'Export the runs in view as CSV', saveLabel: 'Export' });
    if (!uri) return;
    const temp = `${uri.fsPath}.${process.pid}.tmp`;
    await writeFile(temp, runTableCsv(this.table, this.rows, this.displayColumns()), 'utf8');
    await rename(temp, uri.fsPath);
    void vscode.window.showInformationMessage(`mloop: exported ${this.rows.length} runs to ${uri.fsPath}`);
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
