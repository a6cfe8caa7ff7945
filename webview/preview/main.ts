import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import type { PreviewHostMessage, PreviewWebviewMessage } from '../../src/protocol/previewMessages';
import { formatNumber } from '../../src/shared/format';
import { el, pageApi } from '../shared/vscodeApi';

const api = pageApi<PreviewWebviewMessage, PreviewHostMessage>();
const app = document.getElementById('app')!;

type Page = Extract<PreviewHostMessage, { type: 'page' }>;

function cell(value: Page['rows'][number][number]): string {
  if (value === null) return '∅';
  if (typeof value === 'number') return formatNumber(value);
  return String(value);
}

function render(page: Page): void {
  const first = page.offset + 1;
  const last = page.offset + page.rows.length;
  const total = page.totalRows === null ? '' : ` of ${page.totalRows.toLocaleString('en-US')}`;
  const prev = el('vscode-button', { secondary: true, id: 'prev', disabled: page.offset === 0 }, 'Previous');
  const next = el('vscode-button', { secondary: true, id: 'next', disabled: !page.hasMore }, 'Next');
  prev.addEventListener('click', () => api.post({ type: 'page', offset: Math.max(0, page.offset - page.rows.length) }));
  next.addEventListener('click', () => api.post({ type: 'page', offset: page.offset + page.rows.length }));
  const status = el(
    'span',
    { class: 'muted', id: 'range' },
    `rows ${first.toLocaleString('en-US')}–${last.toLocaleString('en-US')}${total} · read in ${page.readMs} ms`,
  );
  const toolbar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Preview pages' }, el('strong', {}, page.title), status, prev, next);

  const table = el('vscode-table', { zebra: true, 'bordered-columns': true, resizable: true, id: 'rows', 'aria-label': `${page.title} rows` });
  // a narrow row-number column; the data columns share the rest
  (table as HTMLElement & { columns: string[] }).columns = ['64px', ...page.columns.map(() => 'auto')];
  const header = el('vscode-table-header', { slot: 'header' });
  header.append(el('vscode-table-header-cell', {}, '#'));
  for (const c of page.columns)
    header.append(el('vscode-table-header-cell', { title: `${c.name}: ${c.type}` }, c.name, el('span', { class: 'muted type' }, ` ${c.type}`)));
  const body = el('vscode-table-body', { slot: 'body' });
  page.rows.forEach((row, i) => {
    const tr = el(
      'vscode-table-row',
      { title: 'Double-click: explain the prediction of a model version for this row' },
      el('vscode-table-cell', {}, String(page.offset + i + 1)),
    );
    for (const value of row) tr.append(el('vscode-table-cell', { class: value === null ? 'muted' : undefined }, cell(value)));
    tr.addEventListener('dblclick', () => api.post({ type: 'explainRow', row: Object.fromEntries(page.columns.map((c, j) => [c.name, row[j] ?? null])) }));
    body.append(tr);
  });
  table.append(header, body);
  app.replaceChildren(toolbar, table);
}

api.listen({ page: render });
