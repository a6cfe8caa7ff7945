import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { CompareHostMessage, CompareRun, CompareViewState, MetricStats, CompareWebviewMessage } from '../../src/protocol/compareMessages';
import { environmentChanges, formatEnvironmentChange } from '../../src/shared/environmentFacts';
import { formatDelta, formatNumber } from '../../src/shared/format';
import { el, pageApi } from '../shared/vscodeApi';

type Stat = 'last' | 'min' | 'max';
interface Sort {
  column: string;
  descending: boolean;
}

const api = pageApi<CompareWebviewMessage, CompareHostMessage, CompareViewState>();
const app = document.getElementById('app')!;
const saved = api.getState();
const view: CompareViewState = {
  runIds: saved?.runIds ?? [],
  baselineRunId: saved?.baselineRunId,
  onlyDifferences: saved?.onlyDifferences ?? false,
  metricSort: saved?.metricSort,
};
let runs: CompareRun[] = [];
/** The host's baseline applies once; afterwards the user's choice in the dropdown wins across refreshes. */
let loaded = false;

const saveState = (): void => api.setState(view);
const baseline = (): CompareRun | undefined => runs.find((r) => r.runId === view.baselineRunId) ?? runs[0];

/** Metrics where smaller is better, by the names people give losses and errors. */
const LOWER_IS_BETTER = /loss|err|mse|mae|rmse|perplexity|latency|time|cost/i;

function render(): void {
  app.replaceChildren();
  if (runs.length === 0) {
    app.append(el('p', { class: 'muted' }, 'No runs to compare. Select runs in the Runs view and choose "Compare Runs".'));
    return;
  }
  app.append(toolbar(), paramsSection(), metricsSection(), environmentSection());
}

function toolbar(): HTMLElement {
  const select = el('vscode-single-select', { id: 'baseline', 'aria-label': 'baseline run' }) as HTMLElement & { value: string };
  const base = baseline();
  for (const run of runs)
    select.append(el('vscode-option', { value: run.runId, selected: run.runId === base?.runId }, `${run.name} · ${run.runId.slice(0, 8)}`));
  select.addEventListener('change', () => {
    view.baselineRunId = select.value;
    saveState();
    render();
  });
  const only = el('vscode-checkbox', { id: 'only-differences', checked: view.onlyDifferences }, 'only params that differ') as HTMLElement & {
    checked: boolean;
  };
  only.addEventListener('change', () => {
    view.onlyDifferences = only.checked;
    saveState();
    render();
  });
  const charts = el('vscode-button', { secondary: true, id: 'open-metrics' }, 'Open metrics charts');
  charts.addEventListener('click', () => api.post({ type: 'openMetrics', runIds: runs.map((r) => r.runId) }));
  return el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Compare options' }, el('label', {}, 'baseline', select), only, charts);
}

/** Params: one row per key, one column per run; a row whose values differ is highlighted. */
function paramsSection(): HTMLElement {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const base = baseline();
  const table = el('table', { class: 'plain', id: 'params-table' });
  const head = el('tr', {}, el('th', { scope: 'col' }, 'param'));
  for (const run of runs)
    head.append(el('th', { scope: 'col', class: run === base ? 'baseline' : undefined, title: run.runId }, run.name + (run === base ? ' (baseline)' : '')));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  let shown = 0;
  for (const key of keys) {
    const values = runs.map((r) => r.params[key]);
    const differs = new Set(values.map((v) => v ?? '\u0000missing')).size > 1;
    if (view.onlyDifferences && !differs) continue;
    shown++;
    const row = el('tr', { class: differs ? 'diff' : undefined, 'data-differs': String(differs) }, el('th', { scope: 'row' }, key));
    values.forEach((v, i) => {
      const changed = differs && runs[i] !== base && v !== base?.params[key];
      row.append(el('td', { class: changed ? 'changed' : undefined }, v ?? '—'));
    });
    if (differs) row.setAttribute('aria-label', `${key}: values differ between runs`);
    body.append(row);
  }
  table.append(body);
  const summary =
    keys.length === 0
      ? 'These runs logged no params.'
      : `${keys.length} params, ${keys.filter((k) => new Set(runs.map((r) => r.params[k] ?? '\u0000')).size > 1).length} differ (highlighted).`;
  return el(
    'section',
    { class: 'section' },
    el('h2', {}, 'Params'),
    el('p', { class: 'note' }, summary),
    shown ? el('div', { class: 'table-wrap' }, table) : '',
  );
}

/** Environment: for every other run, what differs from the baseline's (Python, OS, CPU, packages, variables). */
function environmentSection(): HTMLElement {
  const base = baseline();
  const list = el('ul', { id: 'environment-changes' });
  for (const run of runs) {
    if (run === base) continue;
    const title = el('strong', { title: run.runId }, run.name);
    if (!run.environment || !base?.environment) {
      const missing = !run.environment ? run : base!;
      list.append(el('li', {}, title, `: no environment recorded for ${missing.name} (a run from before mloop captured environments)`));
      continue;
    }
    const changes = environmentChanges(base.environment, run.environment);
    if (changes.length === 0) {
      list.append(el('li', {}, title, ': same environment as the baseline'));
      continue;
    }
    const inner = el('ul');
    for (const change of changes) inner.append(el('li', { class: 'changed', 'data-fact': change.fact }, formatEnvironmentChange(change)));
    list.append(el('li', {}, title, `: ${changes.length} difference${changes.length === 1 ? '' : 's'} from the baseline`, inner));
  }
  return el(
    'section',
    { class: 'section' },
    el('h2', {}, 'Environment'),
    runs.length > 1
      ? list
      : el('p', { class: 'note' }, base?.environment ? 'Select another run to see what differs.' : 'No environment recorded for this run.'),
  );
}

/** Metrics: one row per run; for every key, last / min / max with the delta against the baseline. Sortable. */
function metricsSection(): HTMLElement {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  const base = baseline();
  const sort: Sort = view.metricSort ?? { column: 'name', descending: false };
  const columns: { id: string; label: string; key?: string; stat?: Stat }[] = [{ id: 'name', label: 'run' }];
  for (const key of keys) {
    // a metric logged once per run (a final accuracy) has one value: last = min = max, so one column
    const once = runs.every((r) => (r.metrics[key]?.count ?? 0) <= 1);
    for (const stat of once ? (['last'] as Stat[]) : (['last', 'min', 'max'] as Stat[]))
      columns.push({ id: `metric:${key}:${stat}`, label: once ? key : `${key} ${stat}`, key, stat });
  }

  const valueOf = (run: CompareRun, column: (typeof columns)[number]): number | string | null =>
    column.key && column.stat ? (run.metrics[column.key]?.[column.stat] ?? null) : run.name;
  const sorted = [...runs].sort((a, b) => {
    const column = columns.find((c) => c.id === sort.column) ?? columns[0]!;
    const va = valueOf(a, column);
    const vb = valueOf(b, column);
    // missing values sort last whichever the direction
    if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
    const order = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
    return sort.descending ? -order : order;
  });

  const table = el('table', { class: 'plain', id: 'metrics-table' });
  const head = el('tr');
  for (const column of columns) {
    const active = sort.column === column.id;
    const button = el('button', { type: 'button', class: 'sort', 'data-column': column.id }, column.label + (active ? (sort.descending ? ' ▼' : ' ▲') : ''));
    button.addEventListener('click', () => {
      view.metricSort = { column: column.id, descending: active ? !sort.descending : false };
      saveState();
      render();
      (document.querySelector(`button[data-column="${CSS.escape(column.id)}"]`) as HTMLElement | null)?.focus();
    });
    head.append(el('th', { scope: 'col', 'aria-sort': active ? (sort.descending ? 'descending' : 'ascending') : 'none' }, button));
  }
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const run of sorted) {
    const row = el(
      'tr',
      { class: run === base ? 'baseline' : undefined },
      el('th', { scope: 'row', title: run.runId }, run.name + (run === base ? ' (baseline)' : '')),
    );
    for (const column of columns.slice(1))
      row.append(metricCell(run.metrics[column.key!], base?.metrics[column.key!], column.stat!, column.key!, run === base));
    body.append(row);
  }
  table.append(body);
  const note = keys.length
    ? `Δ against the baseline; green is better assuming ${'lower is better for loss/error-like names, higher otherwise'}.`
    : 'These runs logged no metrics.';
  return el(
    'section',
    { class: 'section' },
    el('h2', {}, 'Metrics'),
    el('p', { class: 'note' }, note),
    keys.length ? el('div', { class: 'table-wrap' }, table) : '',
  );
}

function metricCell(stats: MetricStats | undefined, baseStats: MetricStats | undefined, stat: Stat, key: string, isBase: boolean): HTMLElement {
  const value = stats?.[stat];
  if (!stats) return el('td', { class: 'num muted' }, '—');
  const cell = el('td', { class: 'num', title: `${stats.count} points, last at step ${stats.lastStep}` }, formatNumber(value));
  const baseValue = baseStats?.[stat];
  if (!isBase && value !== null && value !== undefined && baseValue !== null && baseValue !== undefined) {
    const delta = value - baseValue;
    if (delta !== 0) {
      const better = LOWER_IS_BETTER.test(key) ? delta < 0 : delta > 0;
      const pct = baseValue !== 0 ? ` (${delta > 0 ? '+' : ''}${((delta / Math.abs(baseValue)) * 100).toFixed(1)}%)` : '';
      cell.append(el('span', { class: `delta ${better ? 'better' : 'worse'}` }, `${delta > 0 ? '+' : ''}${formatDelta(delta)}${pct}`));
    }
  }
  return cell;
}

api.listen({
  load: (message) => {
    runs = message.runs;
    view.runIds = runs.map((r) => r.runId);
    if (message.baselineRunId && !loaded) view.baselineRunId = message.baselineRunId;
    loaded = true;
    if (!runs.some((r) => r.runId === view.baselineRunId)) view.baselineRunId = runs[0]?.runId;
    saveState();
    render();
  },
});
