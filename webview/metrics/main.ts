import {
  Chart,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartDataset,
  type Point as ChartPoint,
} from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import type { RunInfo } from '../../src/protocol/common';
import type { MetricSeriesMessage, MetricsHostMessage, MetricsViewState, MetricsWebviewMessage } from '../../src/protocol/metricsMessages';
import { formatNumber } from '../../src/shared/format';
import { el, pageApi } from '../shared/vscodeApi';

// only what a line chart needs: the rest of chart.js stays out of the bundle
Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Tooltip);

type XAxis = MetricsViewState['xAxis'];
type HistoryPoint = MetricSeriesMessage['points'][number];
type XY = ChartPoint & { y: number | null };

const api = pageApi<MetricsWebviewMessage, MetricsHostMessage, MetricsViewState>();
const app = document.getElementById('app')!;

const saved = api.getState();
const view: MetricsViewState = {
  runIds: saved?.runIds ?? [],
  xAxis: saved?.xAxis ?? 'step',
  smoothing: saved?.smoothing ?? 0,
  logY: saved?.logY ?? false,
  hiddenRuns: saved?.hiddenRuns ?? [],
  showTable: saved?.showTable ?? false,
};
let runs: RunInfo[] = [];
let keys: string[] = [];
let maxPoints = 2000;
/** key → runId → points (downsampled by the host; appended to while a run is live). */
const data = new Map<string, Map<string, HistoryPoint[]>>();
const downsampled = new Map<string, number>(); // key → how many points the store really holds (sum over runs)
const charts = new Map<string, Chart<'line', XY[]>>();
let chartsRoot: HTMLElement | undefined;
let tableRoot: HTMLElement | undefined;
let legendRoot: HTMLElement | undefined;

const saveState = (): void => api.setState(view);

// ---------- theme ----------

const css = (name: string, fallback: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
const THEME_COLOURS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
  ['--vscode-terminal-ansiCyan', '#11a8cd'],
  ['--vscode-terminal-ansiMagenta', '#bc3fbc'],
  ['--vscode-terminal-ansiBrightBlue', '#3b8eea'],
  ['--vscode-terminal-ansiBrightGreen', '#23d18b'],
  ['--vscode-terminal-ansiBrightRed', '#f14c4c'],
  ['--vscode-terminal-ansiBrightYellow', '#f5f543'],
];
/** Beyond the theme's colours, runs are told apart by dash pattern too (50 runs stay distinguishable). */
const DASHES: number[][] = [[], [6, 3], [2, 2], [10, 3, 2, 3], [14, 4]];
const styleOf = (index: number): { colour: string; dash: number[] } => ({
  colour: css(...THEME_COLOURS[index % THEME_COLOURS.length]!),
  dash: DASHES[Math.floor(index / THEME_COLOURS.length) % DASHES.length]!,
});

function applyChartTheme(): void {
  Chart.defaults.color = css('--vscode-descriptionForeground', '#999');
  Chart.defaults.borderColor = css('--vscode-editorWidget-border', 'rgba(128,128,128,.3)');
  Chart.defaults.font.family = css('--vscode-font-family', 'sans-serif');
}

// ---------- numbers for the chart ----------

function xOf(p: HistoryPoint, run: RunInfo): number {
  if (view.xAxis === 'step') return p.step;
  if (view.xAxis === 'wall') return p.timestamp;
  return (p.timestamp - run.startTime) / 1000;
}

/** TensorBoard's debiased EMA: the first points are not dragged towards zero. NaN gaps stay gaps. */
function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let ema = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    ema = ema * weight + (1 - weight) * v;
    n++;
    return ema / (1 - weight ** n);
  });
}

function chartData(points: HistoryPoint[], run: RunInfo): XY[] {
  const ys = smooth(
    points.map((p) => p.value),
    view.smoothing,
  );
  return points.map((p, i) => {
    const y = ys[i] ?? null;
    return { x: xOf(p, run), y: view.logY && y !== null && y <= 0 ? null : y };
  });
}

function formatX(value: number): string {
  if (view.xAxis === 'step') return formatNumber(value);
  if (view.xAxis === 'wall') return new Date(value).toLocaleTimeString();
  const s = Math.round(value);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const X_TITLES: Record<XAxis, string> = { step: 'step', wall: 'wall time', relative: 'time since run start' };

// ---------- page ----------

function render(): void {
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  app.replaceChildren();
  if (runs.length === 0) {
    app.append(el('p', { class: 'muted' }, 'No runs selected. Pick runs in the Runs view and choose "Open Metrics".'));
    return;
  }
  app.append(toolbar());
  legendRoot = el('div', { class: 'legend', role: 'group', 'aria-label': 'Runs: press to show or hide a run in every chart' });
  app.append(legendRoot);
  renderLegend();
  chartsRoot = el('div', { class: 'charts', hidden: view.showTable });
  tableRoot = el('div', { class: 'tables', hidden: !view.showTable });
  app.append(chartsRoot, tableRoot);
  if (keys.length === 0) chartsRoot.append(el('p', { class: 'muted' }, 'These runs have not logged any metric yet.'));
  for (const key of keys) placeMetric(key);
  if (view.showTable) renderTables();
}

/** A metric every run logged once (a final accuracy) is a value per run, not a line over steps. */
function loggedOnce(key: string): boolean {
  const byRun = data.get(key);
  return !!byRun && byRun.size > 0 && [...byRun.values()].every((p) => p.length <= 1);
}

/** A final value is compared across runs as bars; a history gets a line chart. A value that grows a history becomes a chart. */
function placeMetric(key: string): void {
  if (!chartsRoot) return;
  const bars = chartsRoot.querySelector(`[data-bars="${CSS.escape(key)}"]`);
  if (loggedOnce(key) && !charts.has(key)) {
    const card = barCard(key);
    if (bars) bars.replaceWith(card);
    else chartsRoot.prepend(card);
    return;
  }
  bars?.remove();
  addChart(key);
}

/** One row per run: its name, a bar from the axis origin and the value; equal values stay visible as equal rows. */
function barCard(key: string): HTMLElement {
  const byRun = data.get(key) ?? new Map<string, HistoryPoint[]>();
  const rows = runs
    .map((run, index) => ({ run, index, value: byRun.get(run.runId)?.[0]?.value }))
    .filter((r): r is { run: RunInfo; index: number; value: number } => typeof r.value === 'number' && !view.hiddenRuns.includes(r.run.runId));
  const values = rows.map((r) => r.value);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const span = high - low || 1;
  const best = values.length > 1 ? Math.max(...values) : undefined;
  const card = el('section', { class: 'chart-card bar-card', 'data-bars': key, role: 'table', 'aria-label': `${key}: one value per run` }, el('h2', {}, key));
  for (const { run, index, value } of rows) {
    const { colour } = styleOf(index);
    const bar = el('span', { class: 'bar-fill' });
    bar.style.background = colour;
    bar.style.marginLeft = `${((Math.min(0, value) - low) / span) * 100}%`;
    bar.style.width = `${Math.max((Math.abs(value) / span) * 100, 0.5)}%`;
    card.append(
      el(
        'div',
        { class: 'bar-row', role: 'row' },
        el('span', { class: 'bar-label', role: 'cell', title: run.name }, run.name),
        el('span', { class: 'bar-track', role: 'cell' }, bar),
        el('span', { class: `bar-value${value === best ? ' best' : ''}`, role: 'cell' }, formatNumber(value)),
      ),
    );
  }
  const runCount = rows.length;
  card.append(
    el(
      'p',
      { class: 'note', 'data-note': key },
      `${runCount} run${runCount === 1 ? '' : 's'} · logged once per run${values.length > 1 && new Set(values).size === 1 ? ' · all runs equal' : ''}`,
    ),
  );
  return card;
}

function toolbar(): HTMLElement {
  const xSelect = el('vscode-single-select', { 'aria-label': 'x axis', id: 'x-axis' }) as HTMLElement & { value: string };
  for (const [value, label] of Object.entries(X_TITLES)) xSelect.append(el('vscode-option', { value, selected: value === view.xAxis }, label));
  xSelect.addEventListener('change', () => {
    view.xAxis = xSelect.value as XAxis;
    saveState();
    redrawAll(true);
  });

  const smoothing = <HTMLInputElement>(
    el('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: String(view.smoothing), id: 'smoothing', 'aria-label': 'smoothing (EMA weight)' })
  );
  const smoothingValue = el('output', { for: 'smoothing' }, view.smoothing.toFixed(2));
  smoothing.addEventListener('input', () => {
    view.smoothing = Number(smoothing.value);
    smoothingValue.textContent = view.smoothing.toFixed(2);
    saveState();
    redrawAll(false);
  });

  const logY = el('vscode-checkbox', { checked: view.logY, id: 'log-y' }, 'log y') as HTMLElement & { checked: boolean };
  logY.addEventListener('change', () => {
    view.logY = logY.checked;
    saveState();
    redrawAll(true);
  });

  const tableButton = el(
    'vscode-button',
    { secondary: true, id: 'toggle-table', 'aria-pressed': String(view.showTable) },
    view.showTable ? 'Show charts' : 'Show data table',
  );
  tableButton.addEventListener('click', () => {
    view.showTable = !view.showTable;
    saveState();
    tableButton.textContent = view.showTable ? 'Show charts' : 'Show data table';
    tableButton.setAttribute('aria-pressed', String(view.showTable));
    chartsRoot!.hidden = view.showTable;
    tableRoot!.hidden = !view.showTable;
    if (view.showTable) renderTables();
    else redrawAll(false);
  });

  const compare = el('vscode-button', { secondary: true, id: 'compare', disabled: runs.length < 2 }, 'Compare runs');
  compare.addEventListener('click', () => api.post({ type: 'openCompare', runIds: runs.map((r) => r.runId) }));

  return el(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'Chart options' },
    el('label', {}, 'x axis', xSelect),
    el('label', {}, 'smoothing', smoothing, smoothingValue),
    logY,
    tableButton,
    compare,
  );
}

function renderLegend(): void {
  if (!legendRoot) return;
  legendRoot.replaceChildren();
  runs.forEach((run, index) => {
    const { colour, dash } = styleOf(index);
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('width', '22');
    svg.setAttribute('height', '6');
    svg.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    for (const [k, v] of Object.entries({ x1: '0', y1: '3', x2: '22', y2: '3', stroke: colour, 'stroke-width': '3', 'stroke-dasharray': dash.join(' ') }))
      line.setAttribute(k, v);
    svg.append(line);
    const shown = !view.hiddenRuns.includes(run.runId);
    const status = run.status === 'RUNNING' ? ' (running)' : run.status === 'FINISHED' ? '' : ` (${run.status.toLowerCase()})`;
    const button = el('button', { type: 'button', 'aria-pressed': String(shown), title: run.runId }, svg, `${run.name}${status}`);
    button.addEventListener('click', () => {
      const hidden = new Set(view.hiddenRuns);
      if (hidden.has(run.runId)) hidden.delete(run.runId);
      else hidden.add(run.runId);
      view.hiddenRuns = [...hidden];
      saveState();
      button.setAttribute('aria-pressed', String(!hidden.has(run.runId)));
      for (const chart of charts.values()) {
        for (const ds of chart.data.datasets) ds.hidden = hidden.has((ds as { runId?: string }).runId ?? '');
        chart.update('none');
      }
      if (view.showTable) renderTables();
    });
    legendRoot!.append(button);
  });
}

function datasetsFor(key: string): ChartDataset<'line', XY[]>[] {
  const byRun = data.get(key) ?? new Map<string, HistoryPoint[]>();
  const out: ChartDataset<'line', XY[]>[] = [];
  runs.forEach((run, index) => {
    const points = byRun.get(run.runId);
    if (!points?.length) return;
    const { colour, dash } = styleOf(index);
    out.push(
      Object.assign(
        {
          label: run.name,
          data: chartData(points, run),
          borderColor: colour,
          backgroundColor: colour,
          borderDash: dash,
          borderWidth: 1.5,
          pointRadius: points.length === 1 ? 3 : 0,
          pointHoverRadius: 3,
          spanGaps: false,
          hidden: view.hiddenRuns.includes(run.runId),
        },
        { runId: run.runId },
      ),
    );
  });
  return out;
}

function chartNote(key: string): string {
  const byRun = data.get(key);
  const shown = [...(byRun?.values() ?? [])].reduce((n, p) => n + p.length, 0);
  const total = downsampled.get(key) ?? shown;
  const parts = [`${byRun?.size ?? 0} run${byRun?.size === 1 ? '' : 's'}`];
  if (total > shown) parts.push(`${formatNumber(shown)} of ${formatNumber(total)} points (each bucket keeps its min and max)`);
  else parts.push(`${formatNumber(shown)} point${shown === 1 ? '' : 's'}`);
  if (view.logY) parts.push('values ≤ 0 are not drawn on a log scale');
  // identical series draw on top of each other: say which, so a hidden line is not taken for a missing one
  const bySeries = new Map<string, string[]>();
  for (const run of runs) {
    const points = byRun?.get(run.runId);
    if (!points?.length || view.hiddenRuns.includes(run.runId)) continue;
    const signature = points.map((p) => `${p.step}:${p.value}`).join(',');
    bySeries.set(signature, [...(bySeries.get(signature) ?? []), run.name]);
  }
  for (const names of bySeries.values()) if (names.length > 1) parts.push(`identical: ${names.join(' = ')} (drawn on top of each other)`);
  return parts.join(' · ');
}

function addChart(key: string): void {
  if (!chartsRoot || charts.has(key)) return;
  const canvas = <HTMLCanvasElement>el('canvas', { role: 'img', 'aria-label': `Line chart of ${key}; the data table view lists the same numbers` });
  const note = el('p', { class: 'note', 'data-note': key }, chartNote(key));
  const card = el('section', { class: 'chart-card', 'data-key': key }, el('h2', {}, key), el('div', { class: 'chart-box' }, canvas), note);
  chartsRoot.append(card);
  const chart = new Chart<'line', XY[]>(canvas, {
    type: 'line',
    data: { datasets: datasetsFor(key) },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: X_TITLES[view.xAxis] }, ticks: { callback: (v) => formatX(Number(v)), maxTicksLimit: 8 } },
        y: { type: view.logY ? 'logarithmic' : 'linear', ticks: { callback: (v) => formatNumber(Number(v)) } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? `${X_TITLES[view.xAxis]} ${formatX(items[0].parsed.x ?? 0)}` : ''),
            label: (item) => `${item.dataset.label ?? ''}: ${formatNumber(item.parsed.y)}`,
          },
        },
      },
    },
  });
  charts.set(key, chart);
}

/** Recomputes every chart's data from the stored points (after an x-axis, smoothing or scale change). */
function redrawAll(rebuildScales: boolean): void {
  for (const key of keys) if (!charts.has(key)) placeMetric(key);
  for (const [key, chart] of charts) {
    chart.data.datasets = datasetsFor(key);
    if (rebuildScales && chart.options.scales) {
      const x = chart.options.scales.x as { title: { text: string } };
      x.title.text = X_TITLES[view.xAxis];
      (chart.options.scales.y as { type: string }).type = view.logY ? 'logarithmic' : 'linear';
    }
    chart.update('none');
    const note = chartsRoot?.querySelector(`[data-note="${CSS.escape(key)}"]`);
    if (note) note.textContent = chartNote(key);
  }
  if (view.showTable) renderTables();
}

/** The accessible view: the same numbers the charts draw (before smoothing), one table per metric. */
const TABLE_ROWS = 500;
function renderTables(): void {
  if (!tableRoot) return;
  tableRoot.replaceChildren();
  const visible = runs.filter((r) => !view.hiddenRuns.includes(r.runId));
  for (const key of keys) {
    const rows: { run: RunInfo; p: HistoryPoint }[] = [];
    for (const run of visible) for (const p of data.get(key)?.get(run.runId) ?? []) rows.push({ run, p });
    const table = el('vscode-table', { zebra: true, 'bordered-rows': true, resizable: true, 'aria-label': `${key} values`, columns: undefined });
    const header = el('vscode-table-header', { slot: 'header' });
    for (const title of ['Run', 'Step', 'Time', 'Value']) header.append(el('vscode-table-header-cell', {}, title));
    const body = el('vscode-table-body', { slot: 'body' });
    for (const { run, p } of rows.slice(0, TABLE_ROWS)) {
      body.append(
        el(
          'vscode-table-row',
          {},
          el('vscode-table-cell', {}, run.name),
          el('vscode-table-cell', {}, String(p.step)),
          el('vscode-table-cell', {}, new Date(p.timestamp).toLocaleString()),
          el('vscode-table-cell', {}, formatNumber(p.value)),
        ),
      );
    }
    table.append(header, body);
    const more = rows.length > TABLE_ROWS ? ` Showing the first ${TABLE_ROWS} of ${formatNumber(rows.length)} rows.` : '';
    tableRoot.append(
      el(
        'section',
        { class: 'section', 'data-key': key },
        el('h2', {}, key),
        el('div', { class: 'table-wrap' }, table),
        el('p', { class: 'note' }, `${chartNote(key)}.${more}`),
      ),
    );
  }
}

// ---------- messages ----------

function setSeries(series: MetricSeriesMessage[], append: boolean): Set<string> {
  const touched = new Set<string>();
  for (const s of series) {
    let byRun = data.get(s.key);
    if (!byRun) data.set(s.key, (byRun = new Map()));
    const existing = append ? (byRun.get(s.runId) ?? []) : [];
    byRun.set(s.runId, existing.concat(s.points));
    // load clears the totals first; an append adds only the points logged since
    downsampled.set(s.key, (downsampled.get(s.key) ?? 0) + s.total);
    touched.add(s.key);
  }
  return touched;
}

applyChartTheme();
// VS Code swaps the body's theme class when the colour theme changes: recolour everything
new MutationObserver(() => {
  applyChartTheme();
  renderLegend();
  redrawAll(false);
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

api.listen({
  load: (message) => {
    runs = message.runs;
    keys = message.keys;
    maxPoints = message.maxPoints;
    data.clear();
    downsampled.clear();
    setSeries(message.series, false);
    view.runIds = runs.map((r) => r.runId);
    view.hiddenRuns = view.hiddenRuns.filter((id) => view.runIds.includes(id));
    saveState();
    document.body.dataset.maxPoints = String(maxPoints);
    render();
  },
  append: (message) => {
    const statusChanged = message.runs.some((r, i) => runs[i]?.status !== r.status);
    runs = message.runs;
    const touched = setSeries(message.series, true);
    for (const key of message.keys) {
      if (!keys.includes(key)) {
        keys.push(key);
        placeMetric(key);
      }
    }
    for (const key of touched) {
      const chart = charts.get(key);
      if (!chart) {
        placeMetric(key);
        continue;
      }
      chart.data.datasets = datasetsFor(key);
      chart.update('none');
      const note = chartsRoot?.querySelector(`[data-note="${CSS.escape(key)}"]`);
      if (note) note.textContent = chartNote(key);
    }
    if (statusChanged) renderLegend();
    if (view.showTable && touched.size) renderTables();
  },
});
