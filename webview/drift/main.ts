import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { DriftColumnView, DriftHostMessage, DriftReportView, DriftViewState, DriftWebviewMessage } from '../../src/protocol/driftMessages';
import { formatNumber } from '../../src/shared/format';
import { applyChartTheme, chartCard, css, withAlpha } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';

// bars for the overlaid histograms, lines for drift and performance over time
Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

const api = pageApi<DriftWebviewMessage, DriftHostMessage, DriftViewState>();
const app = document.getElementById('app')!;
const view: DriftViewState = { ...api.getState() };
let report: DriftReportView | undefined;
const charts: Chart[] = [];

const METHOD: Record<string, string> = { ks: 'KS', psi: 'PSI', wasserstein: 'Wasserstein (normed)', jensenshannon: 'Jensen–Shannon', chisquare: 'chi-square' };

// extra rules for this page; constructable sheets are allowed by the panel's CSP (no inline styles)
const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.verdict { display: flex; gap: 12px; align-items: center; padding: 12px 0 4px; }
.verdict .big { font-size: 1.4em; font-weight: 600; }
.verdict.drift .big { color: var(--vscode-charts-red); }
.verdict.ok .big { color: var(--vscode-charts-green); }
tr.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
tr.row { cursor: pointer; }
.bar { display: inline-block; height: 8px; border-radius: 2px; vertical-align: middle; background: var(--vscode-charts-blue); }
.bar.drift { background: var(--vscode-charts-red); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

function render(): void {
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
  const r = report!;
  app.replaceChildren(verdict(r), featureTable(r), el('div', { class: 'grid2' }, histogramCard(r), overTimeCard(r) ?? ''));
  const perf = performanceCard(r);
  if (perf) app.append(perf);
}

function verdict(r: DriftReportView): HTMLElement {
  const drifted = r.columns.filter((c) => c.status === 'ok' && c.drifted).length;
  const compared = r.columns.filter((c) => c.status === 'ok').length;
  const retrain = el(
    'vscode-button',
    {
      id: 'retrain',
      disabled: !r.retrainAvailable || undefined,
      title: r.retrainAvailable ? 'Start the retrain flow for this model' : 'Retraining is not available in this build',
    },
    'Retrain',
  );
  retrain.addEventListener('click', () => api.post({ type: 'retrain' }));
  return el(
    'section',
    {},
    el(
      'div',
      { class: `verdict ${r.datasetDrift ? 'drift' : 'ok'}`, id: 'verdict' },
      el('span', { class: 'big' }, r.datasetDrift ? 'Dataset drift' : 'No dataset drift'),
      el('span', {}, `${drifted} of ${compared} columns drifted · ${r.margin}`),
      r.model ? retrain : '',
    ),
    el(
      'p',
      { class: 'muted' },
      `${r.model ? `${r.model} · ` : ''}reference ${r.referenceLabel} (${r.referenceRows.toLocaleString('en-US')} rows) vs current ${r.currentLabel} (${r.currentRows.toLocaleString('en-US')} rows) · report #${r.reportId}, ${new Date(r.createdAt).toLocaleString()}`,
    ),
  );
}

function featureTable(r: DriftReportView): HTMLElement {
  const maxScore = Math.max(1, ...r.columns.filter((c) => c.status === 'ok').map((c) => Math.min(c.score, 10)));
  const head = el('tr', {}, ...['column', 'type', 'method', 'statistic', 'p-value', 'threshold', 'score', 'drift'].map((h) => el('th', { scope: 'col' }, h)));
  const body = el('tbody');
  for (const c of r.columns) {
    const selected = c.column === view.selectedColumn;
    const row = el('tr', { class: `row${selected ? ' selected' : ''}`, tabindex: '0', 'data-column': c.column, 'aria-selected': String(selected) });
    if (c.status === 'skipped') {
      row.append(el('th', { scope: 'row' }, c.column), el('td', {}, c.type), el('td', { colspan: '6', class: 'muted' }, `skipped: ${c.reason ?? ''}`));
    } else {
      const bar = el('span', { class: `bar${c.drifted ? ' drift' : ''}` });
      bar.style.width = `${Math.round((Math.min(c.score, 10) / maxScore) * 80)}px`;
      row.append(
        el('th', { scope: 'row' }, c.column),
        el('td', {}, c.type),
        el('td', {}, METHOD[c.method ?? ''] ?? '—'),
        el('td', { class: 'num' }, formatNumber(c.statistic)),
        el('td', { class: 'num' }, c.pValue === null ? '—' : formatNumber(c.pValue)),
        el('td', { class: 'num' }, c.threshold === null ? '—' : `${c.pValue === null ? '≥' : 'p <'} ${c.threshold}`),
        el('td', {}, bar),
        el(
          'td',
          { class: c.drifted ? 'worse' : 'better' },
          c.drifted ? 'drift' : 'ok',
          c.unseenCategories?.length ? el('span', { class: 'muted' }, ` · new: ${c.unseenCategories.slice(0, 5).join(', ')}`) : '',
        ),
      );
    }
    const select = (): void => {
      view.selectedColumn = c.column;
      api.setState(view);
      render();
    };
    row.addEventListener('click', select);
    row.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') select();
    });
    body.append(row);
  }
  return el(
    'section',
    { class: 'section' },
    el('h2', {}, 'Columns, by drift score'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'plain', id: 'columns-table' }, el('thead', {}, head), body)),
  );
}

function histogramCard(r: DriftReportView): HTMLElement {
  const column: DriftColumnView | undefined = r.columns.find((c) => c.column === view.selectedColumn);
  const h = column?.histogram;
  const { root, canvas } = chartCard(
    column ? `${column.column}: reference vs current` : 'No column selected',
    'histogram-chart',
    h?.edges ? 'Share of rows per bin; the outer bins also hold values beyond the edges.' : 'Share of rows per category.',
  );
  if (!column || !h) return root;
  const short = (x: number): string => String(Number(x.toPrecision(3)));
  const labels = h.categories ?? h.reference.map((_, i) => `${short(h.edges![i]!)} – ${short(h.edges![i + 1]!)}`);
  charts.push(
    new Chart(canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: [
          {
            label: 'reference',
            data: h.reference,
            backgroundColor: withAlpha(css('--vscode-charts-blue', '#3794ff'), 0.55),
            barPercentage: 1,
            categoryPercentage: 0.95,
            grouped: false,
          },
          {
            label: 'current',
            data: h.current,
            backgroundColor: withAlpha(css('--vscode-charts-orange', '#d18616'), 0.55),
            barPercentage: 1,
            categoryPercentage: 0.95,
            grouped: false,
          },
        ],
      },
      options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'share of rows' } } } },
    }),
  );
  return root;
}

/** Drift share per window of this report, or per stored check of the model when there are no windows. */
function overTimeCard(r: DriftReportView): HTMLElement | undefined {
  const windows = r.windows.length > 0;
  const points = windows
    ? r.windows.map((w) => ({ label: w.start, share: w.driftShare, id: undefined as number | undefined }))
    : r.history.map((h) => ({ label: new Date(h.createdAt).toLocaleString(), share: h.driftShare, id: h.reportId as number | undefined }));
  // an ad-hoc check has no history: no chart rather than an empty one
  if (points.length === 0) return undefined;
  const { root, canvas } = chartCard(
    windows ? 'Drift share per window' : 'Drift share per check',
    'over-time-chart',
    windows ? undefined : 'Each point is a stored check of this model; click one to open it.',
  );
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      labels: points.map((p) => p.label),
      datasets: [
        {
          label: 'share of drifted columns',
          data: points.map((p) => p.share),
          borderColor: css('--vscode-charts-red', '#f14c4c'),
          backgroundColor: css('--vscode-charts-red', '#f14c4c'),
          pointRadius: 3,
        },
        {
          label: 'dataset drift at',
          data: points.map(() => r.shareThreshold),
          borderColor: css('--vscode-descriptionForeground', '#999'),
          borderDash: [4, 4],
          pointRadius: 0,
        },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { min: 0, max: 1 } },
      onClick: (_e, elements) => {
        const id = elements[0] && points[elements[0].index]?.id;
        if (id !== undefined && id !== r.reportId) api.post({ type: 'openReport', reportId: id });
      },
    },
  });
  charts.push(chart);
  return root;
}

function performanceCard(r: DriftReportView): HTMLElement | undefined {
  const rows = r.windows.filter((w) => w.performance);
  if (rows.length === 0) return undefined;
  const regression = rows.some((w) => w.performance!.rmse !== undefined);
  const { root, canvas } = chartCard(regression ? 'RMSE per window' : 'Accuracy and F1 per window', 'performance-chart', 'Only rows whose label has arrived.');
  const line = (label: string, values: (number | undefined)[], colour: string) => ({
    label,
    data: values.map((v) => v ?? null),
    borderColor: colour,
    backgroundColor: colour,
    pointRadius: 3,
  });
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: rows.map((w) => w.start),
        datasets: regression
          ? [
              line(
                'RMSE',
                rows.map((w) => w.performance!.rmse),
                css('--vscode-charts-purple', '#b180d7'),
              ),
            ]
          : [
              line(
                'accuracy',
                rows.map((w) => w.performance!.accuracy),
                css('--vscode-charts-green', '#89d185'),
              ),
              line(
                'F1 (macro)',
                rows.map((w) => w.performance!.f1Macro),
                css('--vscode-charts-blue', '#3794ff'),
              ),
            ],
      },
      options: { animation: false, maintainAspectRatio: false, ...(regression ? {} : { scales: { y: { min: 0, max: 1 } } }) },
    }),
  );
  return el('section', { class: 'section' }, root);
}

api.listen({
  load: (message) => {
    report = message.report;
    view.reportId = report.reportId;
    if (!report.columns.some((c) => c.column === view.selectedColumn)) view.selectedColumn = report.columns.find((c) => c.status === 'ok')?.column;
    api.setState(view);
    render();
  },
  problem: (message) => {
    report = undefined;
    app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message));
  },
});
