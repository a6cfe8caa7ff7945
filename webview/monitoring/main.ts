import { CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { MonitoringHostMessage, MonitoringView, MonitoringViewState, MonitoringWebviewMessage } from '../../src/protocol/monitoringMessages';
import { formatNumber } from '../../src/shared/format';
import { applyChartTheme, chartCard, css, withAlpha } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';

// lines with filled bands: realised and estimated performance, drift share
Chart.register(CategoryScale, LinearScale, LineController, LineElement, PointElement, Filler, Tooltip, Legend);

const api = pageApi<MonitoringWebviewMessage, MonitoringHostMessage, MonitoringViewState>();
const app = document.getElementById('app')!;
const charts: Chart[] = [];

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 12px 0 4px; }
.header .big { font-size: 1.4em; font-weight: 600; }
.header.alert .big { color: var(--vscode-charts-red); }
.header.ok .big { color: var(--vscode-charts-green); }
.alerts li { color: var(--vscode-charts-red); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.window { white-space: nowrap; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

function render(v: MonitoringView): void {
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
  app.replaceChildren(header(v), el('div', { class: 'grid2' }, performanceCard(v), driftCard(v)), fairnessSection(v), detailsSection(v));
}

function header(v: MonitoringView): HTMLElement {
  const check = el('vscode-button', { id: 'check-now', secondary: true, title: 'Run the performance checks of this model again' }, 'Check Now');
  check.addEventListener('click', () => api.post({ type: 'checkNow' }));
  const retrain = el(
    'vscode-button',
    {
      id: 'retrain',
      disabled: !v.retrainAvailable || undefined,
      title: v.retrainAvailable ? 'Retrain this model from its lineage' : 'Retraining is not available in this build',
    },
    'Retrain',
  );
  retrain.addEventListener('click', () => api.post({ type: 'retrain' }));
  const alerted = v.alerts.length > 0;
  return el(
    'section',
    {},
    el(
      'div',
      { class: `header ${alerted ? 'alert' : 'ok'}`, id: 'verdict' },
      el('span', { class: 'big' }, alerted ? `${v.alerts.length} alert(s)` : 'No alerts'),
      el('span', {}, v.checkedAt ? `last checked ${new Date(v.checkedAt).toLocaleString()}` : ''),
      check,
      retrain,
    ),
    alerted ? el('ul', { class: 'alerts', id: 'alerts' }, ...v.alerts.map((a) => el('li', {}, `${a.check}: ${a.message}`))) : '',
  );
}

function performanceCard(v: MonitoringView): HTMLElement {
  const rows = v.windows.filter((w) => w.realised || w.estimated);
  const { root, canvas } = chartCard(
    `${v.metric === 'rmse' ? 'RMSE' : 'Accuracy'} per window`,
    'performance-chart',
    'Realised: windows whose labels arrived (95% interval). Estimated: CBPE from the logged probabilities, no labels needed (±3 sampling errors). Red points: an alert.',
  );
  if (rows.length === 0) {
    root.append(el('p', { class: 'note' }, 'No window with enough data yet.'));
    return root;
  }
  const green = css('--vscode-charts-green', '#89d185');
  const blue = css('--vscode-charts-blue', '#3794ff');
  const red = css('--vscode-charts-red', '#f14c4c');
  const series = (pick: (w: (typeof rows)[number]) => number | null | undefined) => rows.map((w) => pick(w) ?? null);
  const band = (label: string, lower: (number | null)[], upper: (number | null)[], colour: string) => [
    { label: `${label} lower`, data: lower, borderColor: 'transparent', pointRadius: 0, fill: false },
    { label: `${label} band`, data: upper, borderColor: 'transparent', backgroundColor: withAlpha(colour, 0.15), pointRadius: 0, fill: '-1' as const },
  ];
  const pointColour = (colour: string) => rows.map((w) => (w.alerts.length ? red : colour));
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: rows.map((w) => w.start),
        datasets: [
          ...band(
            'realised',
            series((w) => w.realised?.lower),
            series((w) => w.realised?.upper),
            green,
          ),
          {
            label: 'realised',
            data: series((w) => w.realised?.value),
            borderColor: green,
            backgroundColor: green,
            pointBackgroundColor: pointColour(green),
            pointRadius: 3,
            fill: false,
          },
          ...band(
            'estimated',
            series((w) => w.estimated?.lower),
            series((w) => w.estimated?.upper),
            blue,
          ),
          {
            label: 'estimated (CBPE)',
            data: series((w) => w.estimated?.value),
            borderColor: blue,
            borderDash: [5, 3],
            backgroundColor: blue,
            pointBackgroundColor: pointColour(blue),
            pointRadius: 3,
            fill: false,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: true,
        plugins: { legend: { labels: { filter: (item) => !/ (lower|band)$/.test(item.text) } } },
        ...(v.metric === 'rmse' ? {} : { scales: { y: { min: 0, max: 1 } } }),
      },
    }),
  );
  return root;
}

function driftCard(v: MonitoringView): HTMLElement {
  if (v.drift.length === 0)
    return el(
      'div',
      { class: 'chart-card', id: 'no-drift' },
      el('h2', {}, 'Drift share per check'),
      el('p', { class: 'note' }, 'No drift check of this model yet: "mloop: Check Drift…".'),
    );
  const { root, canvas } = chartCard('Drift share per check', 'drift-chart', 'Each point is a stored drift check; click one to open its report.');
  const red = css('--vscode-charts-red', '#f14c4c');
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: v.drift.map((d) => new Date(d.createdAt).toLocaleString()),
        datasets: [
          {
            label: 'share of drifted columns',
            data: v.drift.map((d) => d.driftShare),
            borderColor: red,
            backgroundColor: v.drift.map((d) => (d.datasetDrift ? red : css('--vscode-charts-green', '#89d185'))),
            pointRadius: 4,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { min: 0, max: 1 } },
        onClick: (_e, elements) => {
          const d = elements[0] && v.drift[elements[0].index];
          if (d) api.post({ type: 'openDriftReport', reportId: d.reportId });
        },
      },
    }),
  );
  return root;
}

function fairnessSection(v: MonitoringView): HTMLElement | string {
  if (v.fairness.length === 0) return '';
  const cell = (x: number | null) => el('td', { class: 'num' }, x === null ? '—' : formatNumber(x));
  return el(
    'section',
    { class: 'section', id: 'fairness' },
    el('h2', {}, 'Fairness per group'),
    ...v.fairness.map((c) =>
      el(
        'div',
        {},
        el(
          'p',
          {},
          `${c.column}: demographic parity difference ${formatNumber(c.parityDifference)}, ratio ${c.parityRatio === null ? '—' : formatNumber(c.parityRatio)}, equalized odds difference ${formatNumber(c.equalizedOddsDifference)}`,
        ),
        el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...['group', 'n', 'selection rate', 'accuracy', 'TPR', 'FPR'].map((h) => el('th', {}, h)))),
          el(
            'tbody',
            {},
            ...c.groups.map((g) =>
              el('tr', {}, el('td', {}, g.group), el('td', { class: 'num' }, String(g.n)), cell(g.selectionRate), cell(g.accuracy), cell(g.tpr), cell(g.fpr)),
            ),
          ),
        ),
      ),
    ),
  );
}

function detailsSection(v: MonitoringView): HTMLElement {
  const rows = v.windows.filter((w) => w.realised || w.estimated || w.alerts.length);
  return el(
    'section',
    { class: 'section', id: 'windows' },
    el('h2', {}, 'Windows'),
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['window', `realised ${v.metric}`, 'n', `estimated ${v.metric}`, 'band', 'alerts'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...rows.map((w) =>
          el(
            'tr',
            {},
            el('td', { class: 'window' }, w.start),
            el('td', { class: 'num' }, w.realised ? formatNumber(w.realised.value) : '—'),
            el('td', { class: 'num' }, w.realised ? String(w.realised.n) : ''),
            el('td', { class: 'num' }, w.estimated ? formatNumber(w.estimated.value) : '—'),
            el(
              'td',
              { class: 'num' },
              w.estimated && w.estimated.lower !== null && w.estimated.upper !== null
                ? `${formatNumber(w.estimated.lower)} – ${formatNumber(w.estimated.upper)}`
                : '',
            ),
            el('td', {}, w.alerts.join('; ')),
          ),
        ),
      ),
    ),
    v.calibration.length
      ? el(
          'p',
          { class: 'note' },
          `CBPE calibration on the reference: ${v.calibration
            .map(
              (c) =>
                `${c.class} ${c.applied ? 'calibrated' : 'as logged'} (held-out ECE ${c.eceBefore === null ? '—' : formatNumber(c.eceBefore)} → ${c.eceAfter === null ? '—' : formatNumber(c.eceAfter)})`,
            )
            .join(', ')}`,
        )
      : '',
    ...v.summaries.map((s) => el('p', { class: 'note' }, `${s.kind.replace('_', ' ')}: ${s.summary}`)),
  );
}

api.listen({
  load: (message) => {
    api.setState({ model: message.view.model });
    render(message.view);
  },
  problem: (message) => {
    app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message));
  },
});
