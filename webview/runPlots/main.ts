import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { Chart, LinearScale, PointElement, ScatterController, Tooltip } from 'chart.js';
import type { PlotAxisMessage, RunPlotsHostMessage, RunPlotsViewState, RunPlotsWebviewMessage } from '../../src/protocol/runPlotsMessages';
import { formatNumber } from '../../src/shared/format';
import { linePath, parallelLayout } from '../../src/shared/parallelCoordinates';
import { applyChartTheme, chartCard, css } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';

Chart.register(ScatterController, PointElement, LinearScale, Tooltip);

type LoadMessage = Extract<RunPlotsHostMessage, { type: 'load' }>;
const api = pageApi<RunPlotsWebviewMessage, RunPlotsHostMessage, RunPlotsViewState>();
const app = document.getElementById('app')!;
const SVG = 'http://www.w3.org/2000/svg';

let data: LoadMessage | undefined;
let scatter: Chart<'scatter', { x: number; y: number; r: number }[]> | undefined;
/** The run last clicked, drawn on top in both plots. */
let focused: string | undefined;

const svg = (tag: string, attrs: Record<string, string | number>): SVGElement => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
};

/** `params.<key>` / `metrics.<key>` → its axis. */
function axisOf(id: string | undefined): PlotAxisMessage | undefined {
  if (!data || !id) return undefined;
  if (id.startsWith('params.')) return data.params.find((a) => a.key === id.slice(7));
  if (id.startsWith('metrics.')) return data.metrics.find((a) => a.key === id.slice(8));
  return undefined;
}

/** A colour from low (blue) to high (yellow) metric values; grey where the run has none. */
function colourOf(value: number | null, min: number, max: number): string {
  if (value === null) return 'rgba(128,128,128,0.35)';
  const t = max === min ? 0.5 : (value - min) / (max - min);
  return `hsl(${Math.round(230 - t * 180)}, 75%, 55%)`;
}

function choose(metric: string, x: string | undefined): void {
  api.setState({ ...(api.getState() ?? {}), metric, ...(x ? { x } : {}) });
  api.post({ type: 'choose', metric, ...(x ? { x } : {}) });
}

function reveal(runId: string): void {
  focused = runId;
  api.post({ type: 'revealRun', runId });
  render();
}

function toolbar(message: LoadMessage): HTMLElement {
  const metricSelect = el('vscode-single-select', { id: 'metric', 'aria-label': 'metric' }) as HTMLElement & { value: string };
  for (const m of message.metrics) metricSelect.append(el('vscode-option', { value: m.key, selected: m.key === message.metric }, m.key));
  metricSelect.addEventListener('change', () => choose(metricSelect.value, message.x));
  const xSelect = el('vscode-single-select', { id: 'scatter-x', 'aria-label': 'scatter x axis' }) as HTMLElement & { value: string };
  for (const a of message.params)
    xSelect.append(el('vscode-option', { value: `params.${a.key}`, selected: `params.${a.key}` === message.x }, `param ${a.key}`));
  for (const a of message.metrics)
    xSelect.append(el('vscode-option', { value: `metrics.${a.key}`, selected: `metrics.${a.key}` === message.x }, `metric ${a.key}`));
  xSelect.addEventListener('change', () => message.metric && choose(message.metric, xSelect.value));
  const shown = message.runIds.length < message.total ? `${message.runIds.length.toLocaleString()} most recent of ` : '';
  return el(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'Plot options' },
    el('label', {}, 'metric ', metricSelect),
    el('label', {}, 'scatter x ', xSelect),
    el('span', { id: 'plot-counts', class: 'muted' }, `${shown}${message.total.toLocaleString()} runs · ${message.scope}`),
  );
}

/** Params → the metric, one line per run, coloured by the metric; a click on a line reveals its run. */
function parallelSection(message: LoadMessage): HTMLElement {
  const metric = message.metrics.find((m) => m.key === message.metric);
  const axes = [...message.params, ...(metric ? [metric] : [])];
  // as wide as the panel (every axis in view, the metric's last), wider only when the axes would crowd
  const width = Math.max(360, app.clientWidth - 40, axes.length * 90);
  const height = 320;
  const layout = parallelLayout(axes, { width, height, margin: 40 });
  const root = svg('svg', { id: 'parallel', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'parallel coordinates' });
  const present = metric?.values.filter((v): v is number => v !== null) ?? [];
  const min = present.length ? Math.min(...present) : 0;
  const max = present.length ? Math.max(...present) : 0;
  const lines = svg('g', { class: 'pc-lines' });
  const order = layout.lines.map((_, r) => r).sort((a, b) => Number(message.runIds[a] === focused) - Number(message.runIds[b] === focused));
  for (const r of order) {
    const runId = message.runIds[r]!;
    const path = svg('path', {
      d: linePath(layout.lines[r]!),
      class: `pc-line${runId === focused ? ' focused' : ''}`,
      stroke: colourOf(metric?.values[r] ?? null, min, max),
      'data-run-id': runId,
    });
    const title = svg('title', {});
    title.textContent = `${message.names[r]} (${runId.slice(0, 8)})${metric && metric.values[r] !== null ? ` · ${metric.key} ${formatNumber(metric.values[r]!)}` : ''}`;
    path.append(title);
    path.addEventListener('click', () => reveal(runId));
    lines.append(path);
  }
  root.append(lines);
  for (const axis of layout.axes) {
    const g = svg('g', { class: `pc-axis${metric && axis.key === metric.key && axis === layout.axes.at(-1) ? ' metric' : ''}` });
    g.append(svg('line', { x1: axis.x, x2: axis.x, y1: 40, y2: height - 40 }));
    const name = svg('text', { x: axis.x, y: 24, 'text-anchor': 'middle', class: 'pc-name' });
    name.textContent = axis.key;
    g.append(name);
    for (const tick of axis.ticks) {
      const label = svg('text', { x: axis.x + 4, y: tick.y + 4, class: 'pc-tick' });
      label.textContent = tick.label;
      g.append(label);
    }
    root.append(g);
  }
  return el(
    'div',
    { class: 'chart-card wide' },
    el('h2', {}, `Parallel coordinates: params → ${metric?.key ?? '(no metric)'}`),
    el('div', { class: 'pc-box' }, root as unknown as HTMLElement),
    el('p', { class: 'note' }, 'One line per run, coloured by the metric (blue low, yellow high). Click a line to select its run.'),
  );
}

/** Any param or metric (x) against the metric (y); a click on a point reveals its run. Drawn once its canvas is in the page. */
function scatterSection(message: LoadMessage): { root: HTMLElement; draw: () => void } {
  const card = chartCard(`Scatter: ${message.x ?? '—'} vs metrics.${message.metric ?? '—'}`, 'scatter');
  return { root: card.root, draw: () => drawScatter(message, card.canvas) };
}

function drawScatter(message: LoadMessage, canvas: HTMLCanvasElement): void {
  const x = axisOf(message.x);
  const y = message.metrics.find((m) => m.key === message.metric);
  scatter?.destroy();
  scatter = undefined;
  if (!x || !y) return;
  const points: { x: number; y: number; r: number; run: number }[] = [];
  // (x, y, run) per run having both values; r is its radius
  x.values.forEach((v, r) => {
    const w = y.values[r];
    if (v !== null && w !== null && w !== undefined) points.push({ x: v, y: w, r: message.runIds[r] === focused ? 6 : 3, run: r });
  });
  applyChartTheme();
  const colour = css('--vscode-charts-blue', '#3794ff');
  scatter = new Chart(canvas, {
    type: 'scatter',
    // one radius per point (the clicked run larger): a scriptable option is also asked at dataset level, with no point
    data: { datasets: [{ data: points, backgroundColor: colour, pointRadius: points.map((p) => p.r), pointHoverRadius: points.map((p) => p.r + 2) }] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      onClick: (_event, elements) => {
        const hit = elements[0];
        if (hit) reveal(message.runIds[points[hit.index]!.run]!);
      },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: message.x ?? '' },
          ...(x.kind === 'categorical'
            ? { ticks: { stepSize: 1, callback: (v: string | number) => x.categories?.[Number(v)] ?? '' }, min: -0.5, max: (x.categories?.length ?? 1) - 0.5 }
            : {}),
        },
        y: { type: 'linear', title: { display: true, text: y.key } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const p = points[item.dataIndex]!;
              const xText = x.kind === 'categorical' ? (x.categories?.[p.x] ?? '') : formatNumber(p.x);
              return `${message.names[p.run]}: ${xText}, ${formatNumber(p.y)}`;
            },
          },
        },
      },
    },
  });
}

/** Each param's correlation with the metric, strongest first; a click on a param plots it in the scatter. */
function importanceSection(message: LoadMessage): HTMLElement {
  const rows = message.importance.map((item) => {
    const label = item.method === 'spearman' ? 'Spearman ρ' : 'correlation ratio η';
    const bar = el('div', { class: `bar${item.value < 0 ? ' negative' : ''}` });
    bar.style.width = `${Math.round(Math.abs(item.value) * 100)}%`;
    const name = el('button', { class: 'link', title: `plot ${item.param} in the scatter` }, item.param);
    name.addEventListener('click', () => message.metric && choose(message.metric, `params.${item.param}`));
    return el(
      'tr',
      { 'data-param': item.param },
      el('td', {}, name),
      el('td', { class: 'num' }, formatNumber(item.value)),
      el('td', {}, label),
      el('td', { class: 'num' }, String(item.runs)),
      el('td', { class: 'bar-cell' }, bar),
    );
  });
  return el(
    'div',
    { class: 'chart-card' },
    el('h2', {}, `Param importance for ${message.metric ?? '—'}`),
    rows.length
      ? el(
          'table',
          { class: 'plain', id: 'importance' },
          el('thead', {}, el('tr', {}, ...['param', 'value', 'measure', 'runs', ''].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, ...rows),
        )
      : el('p', { class: 'muted' }, 'No param varies over 3 or more runs that have this metric.'),
    el(
      'p',
      { class: 'note' },
      'Numeric params: Spearman rank correlation ρ (−1…1, sign = direction). Categorical params: correlation ratio η (0…1, how much of the metric’s variance the value explains). Correlation, not causation.',
    ),
  );
}

function render(): void {
  if (!data) return;
  if (data.runIds.length === 0) {
    app.replaceChildren(el('p', { class: 'muted' }, `No runs to plot in ${data.scope}.`));
    return;
  }
  app.replaceChildren(toolbar(data));
  app.append(parallelSection(data));
  const scatterCard = scatterSection(data);
  app.append(el('div', { class: 'charts' }, scatterCard.root, importanceSection(data)));
  scatterCard.draw();
}

api.listen({
  load: (message) => {
    data = message;
    api.setState({
      ...(message.experimentId !== undefined ? { experimentId: message.experimentId } : {}),
      ...(message.selection ? { runIds: [...message.selection] } : {}),
      ...(message.metric ? { metric: message.metric } : {}),
      ...(message.x ? { x: message.x } : {}),
    });
    render();
  },
});
