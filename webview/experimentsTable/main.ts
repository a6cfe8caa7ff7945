import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import type {
  CellWindow,
  ColumnRange,
  ExperimentsTableHostMessage,
  ExperimentsTableViewState,
  ExperimentsTableWebviewMessage,
  QueryError,
  TableColumn,
  TableLayout,
  TableQuery,
  TableRow,
} from '../../src/protocol/experimentsTableMessages';
import { formatNumber } from '../../src/shared/format';
import { COLUMN_WIDTH_MAX, COLUMN_WIDTH_MIN, EXPERIMENTS_TABLE_PAGE_ROWS } from '../../src/shared/panels';
import { el, pageApi } from '../shared/vscodeApi';
import { LayoutRequests } from './layoutRequests';

type LoadMessage = Extract<ExperimentsTableHostMessage, { type: 'load' }>;
interface SortKey {
  readonly column: TableColumn;
  readonly descending: boolean;
}

const ROW_HEIGHT = 24;
/** Columns either side of those drawn whose cells are asked for too: a short horizontal scroll finds them here. */
const CELL_MARGIN = 6;
/** Before the columns are laid out: the cells of this many columns after the pinned ones. */
const FIRST_CELL_COLUMNS = 24;
const api = pageApi<ExperimentsTableWebviewMessage, ExperimentsTableHostMessage, ExperimentsTableViewState>();
const app = document.getElementById('app')!;

let version = -1;
let columns: readonly TableColumn[] = [];
let matched = 0;
let total = 0;
let scope = '';
let experimentId: number | undefined;
let query: TableQuery = api.getState()?.query ?? { filter: '', orderBy: '' };
let sort: SortKey[] = [];
let layout: TableLayout = { grouping: 'none', pinned: [], order: [], hidden: [], aggregates: {} };
const layoutRequests = new LayoutRequests();
/** The columns the user hid (listed in the chooser to show again). */
let hiddenColumns: readonly TableColumn[] = [];
/** Remote: the server has more runs than the `matched` read so far (a last placeholder row asks for them). */
let more = false;
let server: string | undefined;
/** The rows are the first pages of the default order while the host reads every run for sort and filter. */
let partial = false;
/** When the page last asked for a result (sort, filter, layout): the painted report says how long it took. */
let requestedAt: number | undefined;
/** When the page asked for the query being answered (ms since the epoch): the first stage of an answer's trace. */
let queryRequested: number | undefined;
/** The cell keyboard navigation is on (row index, column index), and the one Ctrl+C copies. */
let active: { row: number; column: number } | undefined;
/** Rows of the current result by index; pages the page asked for and is waiting on. */
const rows = new Map<number, TableRow>();
const pending = new Set<number>();
/** Selected run ids (ctrl/cmd-click toggles, shift-click extends from the anchor). */
const selected = new Set<string>();
let anchor: number | undefined;

const filterField = el('vscode-textfield', {
  id: 'filter',
  placeholder: "MLflow filter, e.g. metrics.accuracy > 0.8 and params.max_depth = '8' (Enter applies)",
  'aria-label': 'filter runs',
}) as HTMLElement & { value: string; invalid: boolean };
const errorLine = el('div', { id: 'filter-error', class: 'problem', role: 'alert', hidden: true });
const counts = el('span', { id: 'counts', class: 'muted' });
const plotButton = el('vscode-button', { id: 'plot', disabled: true, secondary: true }, 'Plot');
const compareButton = el('vscode-button', { id: 'compare', disabled: true, secondary: true }, 'Compare');
const reproduceButton = el(
  'vscode-button',
  {
    id: 'reproduce',
    disabled: true,
    secondary: true,
    title: 'Reproduce Run: the selected run again exactly (its commit, uncommitted changes, data and params)',
  },
  'Reproduce',
);
const csvButton = el('vscode-button', { id: 'export-csv', secondary: true }, 'Export CSV');
const registerButton = el(
  'vscode-button',
  { id: 'register', disabled: true, secondary: true, title: "Register the selected run's model as a new version (as Register Model from Run)" },
  'Register',
);
const deleteButton = el('vscode-button', { id: 'delete', disabled: true, secondary: true, title: 'Delete the selected runs (asks first; audited)' }, 'Delete');
const columnsButton = el(
  'vscode-button',
  { id: 'columns', secondary: true, title: 'Choose, order and pin columns; last, min or max per metric', 'aria-expanded': 'false' },
  'Columns…',
);
const chooser = el('div', { id: 'column-chooser', class: 'column-chooser', hidden: true, role: 'dialog', 'aria-label': 'columns' });
const chooserSearch = el('vscode-textfield', { id: 'column-search', placeholder: 'search columns', 'aria-label': 'search columns' }) as HTMLElement & {
  value: string;
};
const chooserList = el('div', { class: 'chooser-list', role: 'list' });
chooser.append(chooserSearch, chooserList);
const plotsButton = el(
  'vscode-button',
  { id: 'plots', secondary: true, title: 'Parallel coordinates, scatter and param importance of the selected runs (none selected: every run)' },
  'Plots',
);
const groupSelect = el('vscode-single-select', { id: 'group-by', 'aria-label': 'group rows by' }) as HTMLElement & { value: string };
for (const [value, label] of [
  ['none', 'no groups'],
  ['experiment', 'group by experiment'],
  ['sweep', 'group by sweep'],
  ['commit', 'group by commit'],
] as const)
  groupSelect.append(el('vscode-option', { value }, label));
const header = el('div', { class: 'grid-header', role: 'row' });
const body = el('div', { class: 'grid-body', role: 'rowgroup' });
const scroller = el('div', { class: 'grid-scroll', role: 'grid', 'aria-label': 'runs', tabindex: '0' }, header, body) as HTMLDivElement;

filterField.addEventListener('keydown', (event) => {
  if ((event as KeyboardEvent).key === 'Enter') requestQuery({ filter: filterField.value, orderBy: query.orderBy });
});
plotButton.addEventListener('click', () => selected.size && api.post({ type: 'plot', runIds: [...selected] }));
compareButton.addEventListener('click', () => selected.size > 1 && api.post({ type: 'compare', runIds: [...selected] }));
reproduceButton.addEventListener('click', () => selected.size === 1 && api.post({ type: 'reproduce', runId: [...selected][0]! }));
csvButton.addEventListener('click', () => api.post({ type: 'exportCsv' }));
registerButton.addEventListener('click', () => selected.size === 1 && api.post({ type: 'register', runId: [...selected][0]! }));
deleteButton.addEventListener('click', () => selected.size && api.post({ type: 'delete', runIds: [...selected] }));
columnsButton.addEventListener('click', () => {
  chooser.hidden = !chooser.hidden;
  columnsButton.setAttribute('aria-expanded', String(!chooser.hidden));
  if (!chooser.hidden) renderChooser();
});
chooserSearch.addEventListener('input', () => renderChooser());
plotsButton.addEventListener('click', () => api.post({ type: 'plots', runIds: [...selected] }));
groupSelect.addEventListener('change', () => {
  const base = layoutRequests.base(layout);
  if (groupSelect.value !== base.grouping) requestLayout({ layout: { ...base, grouping: groupSelect.value as TableLayout['grouping'] } });
});

function togglePin(column: TableColumn): void {
  const base = layoutRequests.base(layout);
  const pinned = base.pinned.includes(column.id) ? base.pinned.filter((id) => id !== column.id) : [...base.pinned, column.id];
  requestLayout({ layout: { ...base, pinned } });
}

/** Every column in display order, the hidden ones after the shown ones. */
const allColumns = (): TableColumn[] => [...columns, ...hiddenColumns];

/** Moves a column (not a pinned one) before `beforeId`, or by `delta` places; the new order is the whole unpinned list. */
function moveColumn(id: string, target: { delta: number } | { beforeId: string }): void {
  const base = layoutRequests.base(layout);
  const ids = allColumns()
    .map((c) => c.id)
    .filter((c) => !base.pinned.includes(c));
  const from = ids.indexOf(id);
  if (from < 0) return;
  ids.splice(from, 1);
  const to = 'delta' in target ? Math.max(0, Math.min(ids.length, from + target.delta)) : ids.indexOf(target.beforeId);
  if (to < 0) return;
  ids.splice(to, 0, id);
  requestLayout({ layout: { ...base, order: ids } });
}

function setHidden(column: TableColumn, hide: boolean): void {
  const base = layoutRequests.base(layout);
  const hidden = hide ? [...new Set([...base.hidden, column.id])] : base.hidden.filter((id) => id !== column.id);
  const pinned = hide ? base.pinned.filter((id) => id !== column.id) : base.pinned;
  requestLayout({ layout: { ...base, hidden, pinned } });
}

const AGGREGATES = ['last', 'min', 'max'] as const;
const aggregateOf = (column: TableColumn): (typeof AGGREGATES)[number] => column.aggregate ?? 'last';

function setAggregate(column: TableColumn, aggregate: (typeof AGGREGATES)[number]): void {
  const base = layoutRequests.base(layout);
  const aggregates = { ...base.aggregates };
  if (aggregate === 'last') delete aggregates[column.id];
  else aggregates[column.id] = aggregate;
  requestLayout({ layout: { ...base, aggregates } });
}

/** The chooser: every column matching the search, with show/hide, move left/right, pin, and last/min/max for metrics. */
function renderChooser(): void {
  const needle = chooserSearch.value.trim().toLowerCase();
  const list = allColumns().filter((c) => !needle || c.id.toLowerCase().includes(needle) || c.label.toLowerCase().includes(needle));
  chooserList.replaceChildren(
    ...list.map((column) => {
      const shown = columns.includes(column);
      const pinned = layout.pinned.includes(column.id);
      const box = el('input', { type: 'checkbox', 'aria-label': `show ${column.id}` }) as HTMLInputElement;
      box.checked = shown;
      box.addEventListener('change', () => setHidden(column, !box.checked));
      const left = el('button', { class: 'codicon codicon-arrow-left', title: 'move left', 'aria-label': `move ${column.id} left`, disabled: pinned });
      const right = el('button', { class: 'codicon codicon-arrow-right', title: 'move right', 'aria-label': `move ${column.id} right`, disabled: pinned });
      left.addEventListener('click', () => moveColumn(column.id, { delta: -1 }));
      right.addEventListener('click', () => moveColumn(column.id, { delta: 1 }));
      const pin = el('button', {
        class: `codicon codicon-${pinned ? 'pinned' : 'pin'}`,
        title: pinned ? 'unpin' : 'pin at the left',
        'aria-label': `${pinned ? 'unpin' : 'pin'} ${column.id}`,
        'aria-pressed': String(pinned),
      });
      pin.addEventListener('click', () => togglePin(column));
      const parts: HTMLElement[] = [box, el('span', { class: `label ${column.group}`, title: column.id }, column.id), left, right, pin];
      if (column.group === 'metric' && !server) {
        const select = el('select', { 'aria-label': `value of ${column.id}` }, ...AGGREGATES.map((a) => el('option', { value: a }, a))) as HTMLSelectElement;
        select.value = aggregateOf(column);
        select.addEventListener('change', () => setAggregate(column, select.value as (typeof AGGREGATES)[number]));
        parts.push(select);
      }
      return el('div', { class: 'chooser-row', role: 'listitem', 'data-column': column.id }, ...parts);
    }),
  );
}

/** The pinned columns come first in `columns` (the host orders them so): how many there are. */
let pinnedCount = 0;
/** Their summed width with the group column's: where the horizontally virtualised columns start. */
let pinnedWidth = 0;

/** Pinned columns stick at the left: each at the summed width of the pinned ones before it. */
function pinnedOffset(c: number): number | undefined {
  if (c >= pinnedCount) return undefined;
  let left = groupWidth();
  for (let k = 0; k < c; k++) left += widthOf(columns[k]!);
  return left;
}

const virtualizer = new Virtualizer<HTMLDivElement, HTMLDivElement>({
  count: 0,
  getScrollElement: () => scroller,
  estimateSize: () => ROW_HEIGHT,
  overscan: 12,
  scrollToFn: elementScroll,
  observeElementRect,
  observeElementOffset,
  onChange: () => renderRows(),
});

/**
 * The columns after the pinned ones are virtualised horizontally: only those in view (and a few either side) are in
 * the DOM, header and rows alike, after a spacer as wide as the columns scrolled past. Its indexes are
 * `columns[pinnedCount + i]`; the pinned columns (sticky at the left) are always rendered and are its padding.
 */
const columnVirtualizer = new Virtualizer<HTMLDivElement, HTMLDivElement>({
  horizontal: true,
  count: 0,
  getScrollElement: () => scroller,
  estimateSize: (i) => widthOf(columns[pinnedCount + i]!),
  overscan: 2,
  scrollToFn: elementScroll,
  observeElementRect,
  observeElementOffset,
  onChange: () => {
    if (windowKey() !== renderedWindow) renderRows();
  },
});

/**
 * The horizontal window the rows and the header were last rendered with (first and last column index): a scroll
 * that keeps it renders nothing more, one that moves it renders both (whichever virtualizer saw the scroll first).
 */
let renderedWindow = '';
let headerWindow = '';
const windowKey = (): string => {
  const items = columnVirtualizer.getVirtualItems();
  return `${items[0]?.index ?? -1}:${items.at(-1)?.index ?? -1}`;
};

/** The column indexes (into `columns`) rendered after the pinned ones, and the spacer's width before the first. */
function columnWindow(extra?: number): { readonly indexes: number[]; readonly spacer: number } {
  const items = columnVirtualizer.getVirtualItems();
  if (!items.length) return { indexes: [], spacer: 0 };
  let first = items[0]!.index;
  const last = items.at(-1)!.index;
  // a column being dragged stays in the header (the drag's source), however far it was scrolled from
  if (extra !== undefined && extra >= 0 && extra < first) first = extra;
  const indexes: number[] = [];
  for (let i = first; i <= Math.max(last, extra ?? -1); i++) indexes.push(pinnedCount + i);
  let width = 0;
  for (let c = pinnedCount; c < pinnedCount + first; c++) width += widthOf(columns[c]!);
  return { indexes, spacer: width };
}

const spacer = (width: number): HTMLElement => {
  const node = el('div', { class: 'grid-spacer', 'aria-hidden': 'true' });
  node.style.width = `${width}px`;
  return node;
};

function requestLayout(next: { layout: TableLayout }): void {
  requestedAt = performance.now();
  layoutRequests.asked(next.layout);
  api.post({ type: 'layout', ...next, columns: wantedColumns() });
}

function requestQuery(next: TableQuery): void {
  requestedAt = performance.now();
  queryRequested = Date.now();
  api.post({ type: 'query', query: next, columns: wantedColumns() });
}

/**
 * The columns whose cells the page wants from the host (indexes into `columns`, end excluded): those the horizontal
 * window draws and CELL_MARGIN either side; the pinned ones always come.
 */
function wantedColumns(): ColumnRange {
  const items = columnVirtualizer.getVirtualItems();
  if (!items.length) return { start: pinnedCount, end: pinnedCount + FIRST_CELL_COLUMNS };
  return { start: pinnedCount + Math.max(0, items[0]!.index - CELL_MARGIN), end: pinnedCount + items.at(-1)!.index + 1 + CELL_MARGIN };
}

/** A row as the host sent it (its cells those of `window`) with its cells at their columns' indexes; the others are holes. */
function placeCells(row: TableRow, window: CellWindow | undefined): TableRow {
  if (!window) return row;
  const cells = new Array<string | number | null>(columns.length);
  for (let k = 0; k < window.pinned; k++) cells[k] = row.cells[k] ?? null;
  for (let c = window.start, k = window.pinned; c < window.end; c++, k++) cells[c] = row.cells[k] ?? null;
  return { ...row, cells };
}

/** Whether the value of column `c` of this row has arrived (only the cells of columns near the view are sent). */
const hasCell = (row: TableRow, c: number): boolean => c in row.cells;

/** `metrics.`acc` DESC, params.`lr`` from the header clicks, read back by the host's parser. */
const orderText = (keys: readonly SortKey[]): string => keys.map((k) => `${k.column.orderKey}${k.descending ? ' DESC' : ''}`).join(', ');

function onHeaderClick(column: TableColumn, extend: boolean): void {
  if (!column.orderKey) return;
  const current = sort.find((k) => k.column.id === column.id);
  // ascending, then descending, then off; shift-click adds a secondary key
  const next: SortKey | undefined = !current
    ? { column, descending: column.group === 'metric' }
    : current.descending === (column.group === 'metric')
      ? { column, descending: !current.descending }
      : undefined;
  const others = extend ? sort.filter((k) => k.column.id !== column.id) : [];
  const keys = next ? [...others, next] : others;
  requestQuery({ filter: query.filter, orderBy: orderText(keys) });
}

/** The last query the host refused: its message stays while the box still holds that text (a live refresh would hide it). */
let refused: { readonly query: TableQuery; readonly error: QueryError } | undefined;

function showError(error: QueryError | undefined, text: string): void {
  filterField.invalid = Boolean(error && error.field === 'filter');
  if (!error) {
    errorLine.hidden = true;
    errorLine.replaceChildren();
    return;
  }
  errorLine.hidden = false;
  // the text with the refused column marked, so the place is visible without counting characters
  const at = Math.min(error.column - 1, text.length);
  errorLine.replaceChildren(
    el('div', {}, error.message),
    el('code', { class: 'error-text' }, text.slice(0, at), el('mark', {}, text.slice(at, at + 1) || ' '), text.slice(at + 1)),
  );
}

/** A column's width: the one the user set (dragged or Set Column Width…), else the default for its kind. */
function widthOf(column: TableColumn): number {
  return (
    layout.widths?.[column.id] ??
    (column.id === 'attributes.run_name' ? 200 : column.id === 'attributes.start_time' ? 170 : column.group === 'attribute' ? 100 : 130)
  );
}

/**
 * Tells the horizontal virtualizer the columns and their widths (after a load, or a column resized): where the
 * columns after the pinned ones start, and a new item key function so it measures each column again.
 */
function layoutColumns(first: boolean): void {
  pinnedCount = columns.filter((c) => layout.pinned.includes(c.id)).length;
  pinnedWidth = groupWidth();
  for (let c = 0; c < pinnedCount; c++) pinnedWidth += widthOf(columns[c]!);
  const shownColumns = columns;
  columnVirtualizer.setOptions({
    ...columnVirtualizer.options,
    count: columns.length - pinnedCount,
    // a new function for new columns: the virtualizer measures again (widths come from estimateSize)
    getItemKey: (i) => shownColumns[pinnedCount + i]?.id ?? i,
    paddingStart: pinnedWidth,
    // a column scrolled into view lands right of the pinned ones (they cover what is under them)
    scrollPaddingStart: pinnedWidth,
  });
  if (first) columnVirtualizer._didMount();
  columnVirtualizer.measure();
  columnVirtualizer._willUpdate();
}

/** Sets a column's width (clamped) and draws the table with it; `save` remembers it with the layout (per workspace). */
function setColumnWidth(id: string, width: number, save: boolean): void {
  const clamped = Math.round(Math.min(COLUMN_WIDTH_MAX, Math.max(COLUMN_WIDTH_MIN, width)));
  if (layout.widths?.[id] !== clamped) {
    layout = { ...layout, widths: { ...layout.widths, [id]: clamped } };
    layoutColumns(false);
    renderHeader();
    renderRows();
  }
  // widths only: the host remembers the layout and answers nothing (the rows and the scroll stay)
  if (save) {
    const sent = layoutRequests.base(layout);
    layoutRequests.asked(sent);
    api.post({ type: 'layout', layout: sent, columns: wantedColumns() });
  }
}

const measureContext = document.createElement('canvas').getContext('2d');

/** The width that shows a column's header and every cell of it the page holds, unclipped (double-click on its edge). */
function fitWidthOf(c: number): number {
  const column = columns[c]!;
  if (!measureContext) return widthOf(column);
  const style = getComputedStyle(body);
  measureContext.font = `600 ${style.fontSize} ${style.fontFamily}`;
  // the label, its sort arrow, the min/max switch and the pin, with the cell's padding
  let widest = measureContext.measureText(`${column.label} ↓2`).width + (column.group === 'metric' && !server ? 40 : 0) + 24 + 20;
  measureContext.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  for (const row of rows.values())
    if (hasCell(row, c)) {
      const text = formatCell(column, row.cells[c] ?? null);
      widest = Math.max(widest, measureContext.measureText(column.id === 'attributes.run_name' && row.best ? `★ ${text}` : text).width + 20);
    }
  return Math.ceil(widest);
}

/** A column being resized by its header's edge: the header is not dragged (reordered) meanwhile. */
let resizing = false;

/** The grip at a header's right edge: drag to resize, double-click to fit, arrows (focused) by 10 px. */
function resizeGrip(column: TableColumn): HTMLElement {
  const grip = el('div', {
    class: 'resize-grip',
    role: 'separator',
    'aria-orientation': 'vertical',
    'aria-label': `resize ${column.label} (drag, double-click to fit, or arrows)`,
    title: 'drag to resize · double-click to fit',
    tabindex: '0',
  });
  grip.addEventListener('pointerdown', (event) => {
    const e = event as PointerEvent;
    e.preventDefault();
    e.stopPropagation();
    resizing = true;
    grip.classList.add('dragging');
    const startX = e.clientX;
    const startWidth = widthOf(column);
    // on the document: the header is drawn again as the width changes, and this grip with it
    const move = (m: PointerEvent): void => setColumnWidth(column.id, startWidth + m.clientX - startX, false);
    const up = (u: PointerEvent): void => {
      document.removeEventListener('pointermove', move);
      document.removeEventListener('pointerup', up);
      resizing = false;
      setColumnWidth(column.id, startWidth + u.clientX - startX, true);
    };
    document.addEventListener('pointermove', move);
    document.addEventListener('pointerup', up);
  });
  grip.addEventListener('mousedown', (event) => event.stopPropagation());
  grip.addEventListener('click', (event) => event.stopPropagation());
  grip.addEventListener('dblclick', (event) => {
    event.stopPropagation();
    setColumnWidth(column.id, fitWidthOf(columns.indexOf(column)), true);
  });
  grip.addEventListener('keydown', (event) => {
    const key = (event as KeyboardEvent).key;
    if (key !== 'ArrowLeft' && key !== 'ArrowRight' && key !== 'Enter') return;
    event.preventDefault();
    event.stopPropagation();
    setColumnWidth(column.id, key === 'Enter' ? fitWidthOf(columns.indexOf(column)) : widthOf(column) + (key === 'ArrowLeft' ? -10 : 10), true);
  });
  return grip;
}

/** When grouped, a first column (always pinned) names each group on its first row. */
const groupWidth = (): number => (layout.grouping === 'none' ? 0 : 150);

function groupCell(text: string, head: boolean): HTMLElement {
  const cell = el('div', { class: `grid-cell group-cell pinned${head ? ' head' : ''}`, role: head ? 'columnheader' : 'rowheader', title: text }, text);
  cell.style.width = `${groupWidth()}px`;
  cell.style.left = '0px';
  return cell;
}

function stick(cell: HTMLElement, c: number): void {
  const left = pinnedOffset(c);
  if (left === undefined) return;
  cell.classList.add('pinned');
  cell.style.left = `${left}px`;
}

/** The column being dragged: a refresh meanwhile (a live row, the store changing) waits, or it would take the drag's source away. */
let dragging: string | undefined;
let headerStale = false;

function renderHeader(): void {
  if (dragging !== undefined) {
    headerStale = true;
    return;
  }
  headerStale = false;
  headerCells.clear();
  headerGroup = layout.grouping === 'none' ? undefined : groupCell(layout.grouping, true);
  renderHeaderWindow();
}

/** Header cells built for the current columns (only those ever in view): a horizontal scroll re-attaches them. */
const headerCells = new Map<string, HTMLElement>();
let headerGroup: HTMLElement | undefined;

/** The header's pinned cells, a spacer, then the cells of the columns in the horizontal window. */
function renderHeaderWindow(): void {
  const width = columnVirtualizer.getTotalSize();
  header.style.width = `${width}px`;
  body.style.width = `${width}px`;
  headerWindow = windowKey();
  const draggedIndex = dragging === undefined ? -1 : columns.findIndex((c) => c.id === dragging) - pinnedCount;
  const { indexes, spacer: before } = columnWindow(draggedIndex >= 0 ? draggedIndex : undefined);
  const cell = (c: number): HTMLElement => {
    const column = columns[c]!;
    let node = headerCells.get(column.id);
    if (!node) headerCells.set(column.id, (node = headerCell(column, c)));
    return node;
  };
  const pinned: HTMLElement[] = [];
  for (let c = 0; c < pinnedCount; c++) pinned.push(cell(c));
  header.replaceChildren(...(headerGroup ? [headerGroup] : []), ...pinned, spacer(before), ...indexes.map(cell));
}

function headerCell(column: TableColumn, index: number): HTMLElement {
  const key = sort.find((k) => k.column.id === column.id);
  const position = sort.length > 1 && key ? `${sort.indexOf(key) + 1}` : '';
  const arrow = key ? (key.descending ? ' ↓' : ' ↑') : '';
  const cell = el(
    'div',
    {
      class: `grid-cell head ${column.group}`,
      role: 'columnheader',
      'aria-colindex': String(index + 1),
      'aria-sort': key ? (key.descending ? 'descending' : 'ascending') : 'none',
      title: `${column.id}${column.orderKey ? ' — click to sort, shift-click to add a key' : ''}`,
      'data-column': column.id,
    },
    el('button', { class: 'sort', disabled: !column.orderKey }, `${column.label}${arrow}${position}`),
    ...(column.group === 'metric' && !server
      ? [
          el(
            'button',
            {
              class: 'aggregate',
              title: 'the latest value, or the min or max over the history (click to switch)',
              'aria-label': `value of ${column.label}`,
            },
            aggregateOf(column),
          ),
        ]
      : []),
    el('button', {
      class: `pin codicon codicon-${layout.pinned.includes(column.id) ? 'pinned' : 'pin'}`,
      title: layout.pinned.includes(column.id) ? 'unpin this column' : 'pin this column at the left',
      'aria-label': `${layout.pinned.includes(column.id) ? 'unpin' : 'pin'} ${column.label}`,
      'aria-pressed': String(layout.pinned.includes(column.id)),
    }),
  );
  cell.style.width = `${widthOf(column)}px`;
  // right-click: Set Column Width… and Go to Column… (webview/context menus in package.json)
  cell.setAttribute('data-vscode-context', JSON.stringify({ webviewSection: 'columnHeader', column: column.id, preventDefaultContextMenuItems: true }));
  cell.append(resizeGrip(column));
  stick(cell, index);
  cell.querySelector('button.pin')!.addEventListener('click', () => togglePin(column));
  cell.querySelector('button.aggregate')?.addEventListener('click', () => {
    setAggregate(column, AGGREGATES[(AGGREGATES.indexOf(aggregateOf(column)) + 1) % AGGREGATES.length]!);
  });
  // drag a header onto another to put it before that one (pinned columns keep their place)
  if (!layout.pinned.includes(column.id)) {
    cell.draggable = true;
    cell.addEventListener('dragstart', (event) => {
      if (resizing) {
        event.preventDefault();
        return;
      }
      dragging = column.id;
      (event as DragEvent).dataTransfer?.setData('text/x-mloop-column', column.id);
    });
    cell.addEventListener('dragend', () => {
      dragging = undefined;
      if (headerStale) renderHeader();
    });
  }
  cell.addEventListener('dragover', (event) => {
    if (layout.pinned.includes(column.id)) return;
    event.preventDefault();
    cell.classList.add('drop-target');
  });
  cell.addEventListener('dragleave', () => cell.classList.remove('drop-target'));
  cell.addEventListener('drop', (event) => {
    cell.classList.remove('drop-target');
    const id = (event as DragEvent).dataTransfer?.getData('text/x-mloop-column') || dragging;
    dragging = undefined;
    if (id && id !== column.id) moveColumn(id, { beforeId: column.id });
    else if (headerStale) renderHeader();
  });
  cell.querySelector('button')!.addEventListener('click', (event) => onHeaderClick(column, (event as MouseEvent).shiftKey));
  return cell;
}

const formatDuration = (ms: number): string => {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
};

function formatCell(column: TableColumn, value: string | number | null): string {
  if (value === null) return '';
  if (column.id === 'attributes.start_time') return new Date(value as number).toLocaleString();
  if (column.id === 'duration') return formatDuration(value as number);
  return typeof value === 'number' ? formatNumber(value) : value;
}

function requestPage(index: number): void {
  const offset = Math.floor(index / EXPERIMENTS_TABLE_PAGE_ROWS) * EXPERIMENTS_TABLE_PAGE_ROWS;
  if (pending.has(offset)) return;
  pending.add(offset);
  api.post({ type: 'rows', version, offset, count: EXPERIMENTS_TABLE_PAGE_ROWS, columns: wantedColumns() });
}

/** How long a sideways scroll rests before the cells it lacks are asked for (one request, not one per frame). */
const CELLS_DELAY_MS = 80;
let cellsTimer: ReturnType<typeof setTimeout> | undefined;
/** The last cells asked for (version, rows, columns): asked once, however often the rows are drawn meanwhile. */
let cellsAsked = '';

/**
 * Asks for the cells of the columns now in view (and near) of the rows drawn from `first` to `last`, which are here
 * without them (scrolled sideways to columns not sent): only those rows, once the scroll has rested.
 */
function requestCells(first: number, last: number): void {
  clearTimeout(cellsTimer);
  cellsTimer = setTimeout(() => {
    cellsTimer = undefined;
    const wanted = wantedColumns();
    const count = Math.min(1000, last - first + 1);
    const key = `${version}:${first}:${count}:${wanted.start}:${wanted.end}`;
    if (key === cellsAsked) return;
    cellsAsked = key;
    api.post({ type: 'rows', version, offset: first, count, columns: wanted });
  }, CELLS_DELAY_MS);
}

function renderRows(): void {
  const items = virtualizer.getVirtualItems();
  body.style.height = `${virtualizer.getTotalSize()}px`;
  const { indexes, spacer: before } = columnWindow();
  renderedWindow = windowKey();
  if (renderedWindow !== headerWindow) renderHeaderWindow();
  const shown: number[] = [];
  for (let c = 0; c < pinnedCount; c++) shown.push(c);
  shown.push(-1, ...indexes);
  const nodes: HTMLElement[] = [];
  let missing = 0;
  let lackingFirst = -1;
  let lackingLast = -1;
  for (const item of items) {
    const row = rows.get(item.index);
    if (!row) requestPage(item.index);
    const groupStart = row?.group !== undefined && rows.get(item.index - 1)?.group !== row.group;
    const node = el('div', {
      class: `grid-row${row && selected.has(row.runId) ? ' selected' : ''}${groupStart ? ' group-start' : ''}${row?.best ? ' best' : ''}`,
      role: 'row',
      'aria-rowindex': String(item.index + 1),
      'aria-selected': row ? String(selected.has(row.runId)) : undefined,
      'data-run-id': row?.runId,
    });
    node.style.transform = `translateY(${item.start}px)`;
    if (row) {
      if (layout.grouping !== 'none') node.append(groupCell(groupStart ? row.group! : '', false));
      // the pinned columns, a spacer for those scrolled past, the columns in the horizontal window
      for (const c of shown) {
        if (c < 0) {
          node.append(spacer(before));
          continue;
        }
        const column = columns[c]!;
        const value = row.cells[c] ?? null;
        // a column scrolled to whose cells are not here yet: blank until they come
        const arrived = hasCell(row, c);
        if (!arrived) {
          missing++;
          if (lackingFirst < 0) lackingFirst = item.index;
          lackingLast = item.index;
        }
        const cell = el(
          'div',
          {
            class: `grid-cell ${column.group}${column.numeric ? ' num' : ''}${column.id === 'attributes.status' ? ` status-${String(value).toLowerCase()}` : ''}${arrived ? '' : ' pending'}`,
            role: 'gridcell',
            'aria-colindex': String(c + 1),
          },
          column.id === 'attributes.run_name' && row.best ? `★ ${formatCell(column, value)}` : formatCell(column, value),
        );
        cell.style.width = `${widthOf(column)}px`;
        if (active && active.row === item.index && active.column === c) cell.classList.add('active');
        cell.addEventListener('click', () => (active = { row: item.index, column: c }));
        // right-click copies the cell (as it is shown)
        cell.addEventListener('contextmenu', (event) => {
          event.preventDefault();
          active = { row: item.index, column: c };
          copyActive();
        });
        if (column.id === 'attributes.run_name' && row.best) cell.title = 'best trial of its sweep';
        stick(cell, c);
        node.append(cell);
      }
      node.addEventListener('click', (event) => select(item.index, row.runId, event as MouseEvent));
    } else node.append(el('div', { class: 'grid-cell muted' }, '…'));
    nodes.push(node);
  }
  body.replaceChildren(...nodes);
  if (lackingFirst >= 0) requestCells(lackingFirst, lackingLast);
  reportColumns(missing);
}

/**
 * The header and row cells in the DOM, told to the host when the horizontal window moved (the integration tests read
 * it): the header's columns, the first row's cells, and how many of them do not start where their header does. Read
 * after the frame is drawn, so the layout it reads is the one already computed.
 */
let reportedColumns = '';
function reportColumns(missing: number): void {
  const key = `${version}/${renderedWindow}/${columns.length}/${pinnedCount}/${missing}/${JSON.stringify(layout.widths ?? {})}`;
  if (key === reportedColumns) return;
  reportedColumns = key;
  requestAnimationFrame(() =>
    setTimeout(() => {
      if (key !== reportedColumns) return;
      const row = body.querySelector('.grid-row[data-run-id]');
      // no row drawn yet (its page is on the way): the render after it arrives reports
      if (!row) {
        reportedColumns = '';
        return;
      }
      const heads = [...header.querySelectorAll<HTMLElement>('[data-column]')];
      const cells = [...row.querySelectorAll<HTMLElement>('[role="gridcell"]')];
      const misaligned = heads.filter((head, i) => !cells[i] || Math.abs(head.getBoundingClientRect().left - cells[i]!.getBoundingClientRect().left) > 0.5);
      api.post({
        type: 'columnsInView',
        version,
        header: heads.map((cell) => cell.getAttribute('data-column') ?? ''),
        cells: cells.length,
        misaligned: misaligned.length,
        missing,
        widths: heads.map((head) => Math.round(head.getBoundingClientRect().width * 10) / 10),
        texts: cells.map((cell) => cell.textContent ?? ''),
      });
    }, 0),
  );
}

function select(index: number, runId: string, event: MouseEvent): void {
  if (event.shiftKey && anchor !== undefined) {
    for (let i = Math.min(anchor, index); i <= Math.max(anchor, index); i++) {
      const row = rows.get(i);
      if (row) selected.add(row.runId);
    }
  } else if (event.ctrlKey || event.metaKey) {
    if (!selected.delete(runId)) selected.add(runId);
    anchor = index;
  } else {
    selected.clear();
    selected.add(runId);
    anchor = index;
  }
  updateButtons();
  renderRows();
}

/** The active cell's text (as shown) to the clipboard, through the host. */
function copyActive(): void {
  if (!active) return;
  const row = rows.get(active.row);
  const column = columns[active.column];
  if (!row || !column || !hasCell(row, active.column)) return;
  api.post({ type: 'copy', text: formatCell(column, row.cells[active.column] ?? null) });
}

/** Arrows, Home/End, PageUp/PageDown move the active cell (shift extends the selection), Space selects, Ctrl+C copies, Ctrl+A selects all. */
scroller.addEventListener('keydown', (event) => {
  const key = (event as KeyboardEvent).key;
  const e = event as KeyboardEvent;
  if ((e.ctrlKey || e.metaKey) && key.toLowerCase() === 'c') {
    e.preventDefault();
    copyActive();
    return;
  }
  if ((e.ctrlKey || e.metaKey) && key.toLowerCase() === 'a') {
    e.preventDefault();
    for (const row of rows.values()) selected.add(row.runId);
    updateButtons();
    renderRows();
    return;
  }
  const count = virtualizer.options.count;
  if (!count) return;
  const current = active ?? { row: -1, column: 0 };
  const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_HEIGHT) - 1);
  const moves: Record<string, () => { row: number; column: number }> = {
    ArrowDown: () => ({ row: Math.min(count - 1, current.row + 1), column: current.column }),
    ArrowUp: () => ({ row: Math.max(0, current.row - 1), column: current.column }),
    ArrowRight: () => ({ row: Math.max(0, current.row), column: Math.min(columns.length - 1, current.column + 1) }),
    ArrowLeft: () => ({ row: Math.max(0, current.row), column: Math.max(0, current.column - 1) }),
    PageDown: () => ({ row: Math.min(count - 1, current.row + page), column: current.column }),
    PageUp: () => ({ row: Math.max(0, current.row - page), column: current.column }),
    Home: () => ({ row: e.ctrlKey ? 0 : Math.max(0, current.row), column: e.ctrlKey ? current.column : 0 }),
    End: () => ({ row: e.ctrlKey ? count - 1 : Math.max(0, current.row), column: e.ctrlKey ? current.column : columns.length - 1 }),
  };
  if (key === ' ' && active) {
    e.preventDefault();
    const row = rows.get(active.row);
    if (row && !selected.delete(row.runId)) selected.add(row.runId);
    updateButtons();
    renderRows();
    return;
  }
  const move = moves[key];
  if (!move) return;
  e.preventDefault();
  active = move();
  const row = rows.get(active.row);
  if (row && (key === 'ArrowDown' || key === 'ArrowUp' || key === 'PageDown' || key === 'PageUp' || e.ctrlKey)) {
    if (e.shiftKey && anchor !== undefined) {
      selected.clear();
      for (let i = Math.min(anchor, active.row); i <= Math.max(anchor, active.row); i++) {
        const r = rows.get(i);
        if (r) selected.add(r.runId);
      }
    } else {
      selected.clear();
      selected.add(row.runId);
      anchor = active.row;
    }
  }
  virtualizer.scrollToIndex(active.row, { align: 'auto' });
  // a column scrolled out of view comes back into it (past the pinned columns, which stay)
  if (active.column >= pinnedCount) columnVirtualizer.scrollToIndex(active.column - pinnedCount, { align: 'auto' });
  updateButtons();
  renderRows();
});

function updateButtons(): void {
  (plotButton as HTMLElement & { disabled: boolean }).disabled = selected.size === 0;
  (compareButton as HTMLElement & { disabled: boolean }).disabled = selected.size < 2;
  (reproduceButton as HTMLElement & { disabled: boolean }).disabled = selected.size !== 1 || server !== undefined;
  (registerButton as HTMLElement & { disabled: boolean }).disabled = selected.size !== 1;
  (deleteButton as HTMLElement & { disabled: boolean }).disabled = selected.size === 0;
  counts.textContent = server
    ? `${matched.toLocaleString()}${more ? '+' : ''} runs read · ${scope}${selected.size ? ` · ${selected.size} selected` : ''}`
    : `${matched.toLocaleString()} of ${total.toLocaleString()} runs · ${scope}${partial ? ' · reading every run for sort and filter…' : ''}${selected.size ? ` · ${selected.size} selected` : ''}`;
}

/** Reads the host's order text back into header keys (the host only sends keys its parser accepted). */
function sortFromOrder(text: string): SortKey[] {
  if (!text.trim()) return [];
  return text.split(',').flatMap((part) => {
    const trimmed = part.trim();
    const descending = /\sDESC$/i.test(trimmed);
    const key = trimmed.replace(/\s+(ASC|DESC)$/i, '');
    const column = columns.find((c) => c.orderKey === key || c.id === key);
    return column ? [{ column, descending }] : [];
  });
}

function onLoad(message: LoadMessage): void {
  const arrived = Date.now();
  const first = version < 0;
  // the whole table replacing the first screen's pages (same query): the rows stay where the user scrolled
  const keepScroll = partial && !message.partial && message.query.filter === query.filter && message.query.orderBy === query.orderBy;
  // a refresh of the same query (the whole table after the first screen, a live row) keeps the active cell where it was
  const sameQuery = !first && message.query.filter === query.filter && message.query.orderBy === query.orderBy;
  const activeColumn = active ? columns[active.column]?.id : undefined;
  const activeRow = active?.row;
  partial = message.partial === true;
  version = message.version;
  columns = message.columns;
  hiddenColumns = message.hiddenColumns;
  server = message.server;
  more = message.more ?? false;
  const keptColumn = sameQuery && activeColumn !== undefined ? columns.findIndex((c) => c.id === activeColumn) : -1;
  active = keptColumn >= 0 && activeRow !== undefined && activeRow < message.matched ? { row: activeRow, column: keptColumn } : undefined;
  layout = layoutRequests.drawn(message.layout);
  groupSelect.value = layout.grouping;
  matched = message.matched;
  total = message.total;
  scope = message.scope;
  experimentId = message.experimentId;
  query = message.query;
  sort = sortFromOrder(query.orderBy);
  rows.clear();
  pending.clear();
  message.rows.forEach((row, i) => rows.set(message.offset + i, placeCells(row, message.cellWindow)));
  api.setState({ ...(experimentId !== undefined ? { experimentId } : {}), query });
  if (first) {
    app.replaceChildren(
      el(
        'div',
        { class: 'toolbar', role: 'toolbar', 'aria-label': 'Experiments table' },
        filterField,
        groupSelect,
        plotButton,
        plotsButton,
        compareButton,
        registerButton,
        deleteButton,
        reproduceButton,
        columnsButton,
        csvButton,
        counts,
      ),
      chooser,
      errorLine,
      scroller,
    );
  }
  if (filterField.value !== query.filter && document.activeElement !== filterField) filterField.value = query.filter;
  const stillRefused =
    !message.error &&
    refused !== undefined &&
    (refused.error.field === 'orderBy'
      ? refused.query.orderBy !== query.orderBy
      : filterField.value === refused.query.filter && refused.query.filter !== query.filter);
  if (stillRefused && refused) showError(refused.error, refused.error.field === 'orderBy' ? refused.query.orderBy : refused.query.filter);
  else {
    refused = undefined;
    showError(message.error, message.error?.field === 'orderBy' ? query.orderBy : query.filter);
  }
  // only the columns in view are in the DOM: the grid says how many there are (its cells carry aria-colindex)
  scroller.setAttribute('aria-colcount', String(columns.length));
  layoutColumns(first);
  renderHeader();
  updateButtons();
  if (!chooser.hidden) renderChooser();
  virtualizer.setOptions({ ...virtualizer.options, count: matched + (more ? 1 : 0) });
  if (first) virtualizer._didMount();
  virtualizer._willUpdate();
  if (!keepScroll) scroller.scrollTop = 0;
  renderRows();
  // opened at a column: scrolled to it (the horizontal virtualizer then renders the window there)
  const reveal = message.column === undefined ? -1 : columns.findIndex((c) => c.id === message.column);
  if (reveal >= pinnedCount) columnVirtualizer.scrollToIndex(reveal - pinnedCount, { align: 'start' });
  reportPainted(message.version);
  if (message.trace) traceAnswer(message.trace, arrived, message);
}

/**
 * An answer's stages (ms since the epoch; host and page share the machine's clock), kept on the page for
 * paintedBench.ts: asked, received by the host, its rows found, the message built, arrived here, rendered (the DOM
 * built), painted (the frame after it drawn).
 */
// paintedBench.ts waits for an answer's trace only from a page that keeps them
document.body.dataset.traces = 'answers';

function traceAnswer(host: NonNullable<LoadMessage['trace']>, arrived: number, message: LoadMessage): void {
  const trace: Record<string, number | undefined> = { requested: queryRequested, ...host, arrived, rendered: Date.now() };
  queryRequested = undefined;
  requestAnimationFrame(() =>
    setTimeout(() => {
      trace.painted = Date.now();
      // the answer's size as JSON (what crossed from the host), measured after it is drawn
      trace.bytes = JSON.stringify(message).length;
      document.body.dataset.trace = JSON.stringify(trace);
    }, 0),
  );
}

/** Tells the host when this result is on screen: after the next frame was drawn (a task queued from the frame callback). */
function reportPainted(shown: number): void {
  const since = requestedAt;
  requestedAt = undefined;
  const wasPartial = partial;
  requestAnimationFrame(() =>
    setTimeout(() => {
      const requestMs = since === undefined ? undefined : performance.now() - since;
      api.post({ type: 'painted', version: shown, partial: wasPartial, ...(requestMs !== undefined ? { requestMs } : {}) });
    }, 0),
  );
}

api.listen({
  load: onLoad,
  rows: (message) => {
    if (message.version !== version) return;
    pending.delete(message.offset);
    message.rows.forEach((row, i) => {
      const index = message.offset + i;
      const known = rows.get(index);
      const window = message.cellWindow;
      // cells of more columns for a row already here: added to those it has
      if (known && window && known.runId === row.runId) {
        for (let k = 0; k < window.pinned; k++) known.cells[k] = row.cells[k] ?? null;
        for (let c = window.start, k = window.pinned; c < window.end; c++, k++) known.cells[c] = row.cells[k] ?? null;
      } else rows.set(index, placeCells(row, window));
    });
    if (message.matched !== undefined) {
      // remote: the server's next page arrived; the placeholder row moves down while it has more
      matched = message.matched;
      more = message.more ?? false;
      virtualizer.setOptions({ ...virtualizer.options, count: matched + (more ? 1 : 0) });
      virtualizer._willUpdate();
      updateButtons();
    }
    renderRows();
  },
  reveal: (message) => {
    selected.clear();
    selected.add(message.runId);
    anchor = message.index;
    virtualizer.scrollToIndex(message.index, { align: 'center' });
    updateButtons();
    renderRows();
  },
  showColumn: (message) => {
    const index = columns.findIndex((c) => c.id === message.column);
    if (index >= pinnedCount) columnVirtualizer.scrollToIndex(index - pinnedCount, { align: 'start' });
  },
  columnWidth: (message) => {
    const index = columns.findIndex((c) => c.id === message.column);
    if (index < 0) return;
    setColumnWidth(message.column, message.width === 'fit' ? fitWidthOf(index) : message.width, true);
  },
  queryError: (message) => {
    refused = { query: message.query, error: message.error };
    showError(message.error, message.error.field === 'orderBy' ? message.query.orderBy : message.query.filter);
  },
});
