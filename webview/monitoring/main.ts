import { BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type {
  MonitoringHostMessage,
  MonitoringView,
  MonitoringViewState,
  MonitoringWebviewMessage,
  MonitoringWindowView,
  ReportRef,
} from '../../src/protocol/monitoringMessages';
import { formatNumber } from '../../src/shared/format';
import { applyChartTheme, chartCard, css, seriesColour, withAlpha } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';
import { driftDetailsSection } from './driftDetails';

// lines with filled bands over time; bars for the drift histograms
Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Filler, Tooltip, Legend);

const api = pageApi<MonitoringWebviewMessage, MonitoringHostMessage, MonitoringViewState>();
const app = document.getElementById('app')!;
const charts: Chart[] = [];
const state: MonitoringViewState = { model: null, ...api.getState() };
let current: MonitoringView | undefined;

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 12px 0 4px; }
.header .big { font-size: 1.4em; font-weight: 600; }
.header.alert .big { color: var(--vscode-charts-red); }
.header.ok .big { color: var(--vscode-charts-green); }
.alerts { list-style: none; padding: 0; }
.alerts li { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; padding: 3px 0; }
.alerts li .message { color: var(--vscode-charts-red); flex: 1 1 420px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.window { white-space: nowrap; }
tr.row { cursor: pointer; }
tr.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
tr.alerted td.window { color: var(--vscode-charts-red); }
.verdict { display: flex; gap: 12px; align-items: center; padding: 12px 0 4px; }
.verdict .big { font-size: 1.2em; font-weight: 600; }
.verdict.drift .big { color: var(--vscode-charts-red); }
.verdict.ok .big { color: var(--vscode-charts-green); }
.bar { display: inline-block; height: 8px; border-radius: 2px; vertical-align: middle; background: var(--vscode-charts-blue); }
.bar.drift { background: var(--vscode-charts-red); }
table.team-reports td, table.team-reports th { text-align: left; padding: 2px 8px 2px 0; }
table.team-reports tr.alert td:first-child { color: var(--vscode-charts-red); }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

function render(): void {
  const v = current!;
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
  app.replaceChildren(
    header(v),
    // teammates' reports right under this workspace's alerts: an alert of theirs is as urgent
    teamSection(v),
    el(
      'div',
      { class: 'grid2' },
      performanceCard(v),
      driftCard(v),
      ...(v.groupSeries.length ? [groupCard(v)] : []),
      ...(v.service ? [serviceCard(v)] : []),
      ...(v.importance ? [importanceCard(v.importance)] : []),
    ),
    windowsSection(v),
    detailsSection(v),
    v.driftDetails
      ? driftDetailsSection(v.driftDetails, {
          selectedColumn: state.selectedColumn,
          window: v.selectedWindow,
          charts,
          select: (column) => {
            state.selectedColumn = column;
            api.setState(state);
            render();
          },
        })
      : '',
    fairnessSection(v),
    notesSection(v),
  );
}

const select = (start: string | null): void => api.post({ type: 'selectWindow', start });
const openReport = (report: ReportRef): void => api.post({ type: 'openReport', report });

function button(id: string, label: string, attrs: Record<string, string | boolean | undefined>, onClick: () => void): HTMLElement {
  const b = el('vscode-button', { id, ...attrs }, label);
  b.addEventListener('click', onClick);
  return b;
}

function retrainButton(v: MonitoringView, id: string): HTMLElement {
  return button(
    id,
    'Retrain',
    {
      class: 'retrain',
      disabled: !v.retrainAvailable || !v.model || undefined,
      title: v.retrainAvailable ? 'Retrain this model from its lineage' : 'Retraining is not available in this build',
    },
    () => api.post({ type: 'retrain' }),
  );
}

function rollbackButton(v: MonitoringView, id: string): HTMLElement | string {
  if (!v.rollbackTarget) return '';
  return button(id, 'Roll Back', { class: 'rollback', secondary: true, title: `Roll ${v.rollbackTarget} back to the version that served before` }, () =>
    api.post({ type: 'rollback' }),
  );
}

function header(v: MonitoringView): HTMLElement {
  const alerted = v.alerts.length > 0;
  const failed = v.checkErrors ?? [];
  return el(
    'section',
    {},
    el(
      'div',
      { class: `header ${alerted || failed.length ? 'alert' : 'ok'}`, id: 'verdict' },
      el(
        'span',
        { class: 'big' },
        [alerted ? `${v.alerts.length} alert(s)` : failed.length ? '' : 'No alerts', failed.length ? `${failed.length} check(s) failed` : '']
          .filter(Boolean)
          .join(' · '),
      ),
      el('span', {}, `${v.model ?? 'two files compared'}${v.checkedAt ? ` · last checked ${new Date(v.checkedAt).toLocaleString()}` : ''}`),
      v.model
        ? button('check-now', 'Check Now', { secondary: true, title: 'Run every configured check of this model again' }, () => api.post({ type: 'checkNow' }))
        : '',
      // one Retrain and one Roll Back answer every alert (they act on the model and its target, not on one alert)
      v.model ? retrainButton(v, 'retrain') : '',
      alerted ? rollbackButton(v, 'rollback') : '',
    ),
    // a check that failed stored no report: what it said, in place of the charts it could not draw (and in the log)
    failed.length
      ? el(
          'ul',
          { class: 'alerts check-errors', id: 'check-errors' },
          ...failed.map((e) =>
            el(
              'li',
              {},
              el('span', { class: 'message' }, `${e.check.replace('_', ' ')} check failed at ${new Date(e.checkedAt).toLocaleTimeString()}: ${e.message}`),
            ),
          ),
        )
      : '',
    alerted
      ? el(
          'ul',
          { class: 'alerts', id: 'alerts' },
          ...v.alerts.map((a, i) =>
            el(
              'li',
              {},
              el('span', { class: 'message' }, `${a.check}: ${a.message}`),
              a.window ? button(`alert-window-${i}`, 'Show Window', { secondary: true }, () => select(a.window!)) : '',
              a.report ? button(`alert-report-${i}`, 'Open Report', { secondary: true, class: 'open-report' }, () => openReport(a.report!)) : '',
            ),
          ),
        )
      : '',
  );
}

const bandOf = (label: string, lower: (number | null)[], upper: (number | null)[], colour: string) => [
  { label: `${label} lower`, data: lower, borderColor: 'transparent', pointRadius: 0, fill: false },
  { label: `${label} band`, data: upper, borderColor: 'transparent', backgroundColor: withAlpha(colour, 0.15), pointRadius: 0, fill: '-1' as const },
];
const noBands = { labels: { filter: (item: { text: string }) => !/ (lower|band)$/.test(item.text) } };

function performanceCard(v: MonitoringView): HTMLElement {
  const rows = v.windows.filter((w) => w.realised || w.estimated);
  const { root, canvas } = chartCard(
    `${v.metric === 'rmse' ? 'RMSE' : 'Accuracy'} per window`,
    'performance-chart',
    'Realised: windows whose labels arrived (95% interval). Estimated: CBPE from the logged probabilities, no labels needed (±3 sampling errors). Red points: an alert. Click a window for its details.',
  );
  if (rows.length === 0) {
    const failed = (v.checkErrors ?? []).some((e) => e.check === 'performance' || e.check === 'estimated_performance');
    root.append(
      el(
        'p',
        { class: 'note' },
        failed ? 'The last check could not measure performance (the error above): no window to draw.' : 'No window with enough data yet.',
      ),
    );
    return root;
  }
  const green = css('--vscode-charts-green', '#89d185');
  const blue = css('--vscode-charts-blue', '#3794ff');
  const red = css('--vscode-charts-red', '#f14c4c');
  const series = (pick: (w: MonitoringWindowView) => number | null | undefined) => rows.map((w) => pick(w) ?? null);
  const pointColour = (colour: string) => rows.map((w) => (w.alerts.length ? red : colour));
  const radius = rows.map((w) => (w.start === v.selectedWindow ? 6 : w.alerts.length ? 5 : 3));
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: rows.map((w) => w.start),
        datasets: [
          ...bandOf(
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
            pointRadius: radius,
            fill: false,
          },
          ...bandOf(
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
            pointRadius: radius,
            fill: false,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: true,
        plugins: { legend: noBands },
        ...(v.metric === 'rmse' ? {} : { scales: { y: { min: 0, max: 1 } } }),
        onClick: (_e, elements) => {
          const w = elements[0] && rows[elements[0].index];
          if (w) select(w.start);
        },
      },
    }),
  );
  return root;
}

/** Drift share per window of the shown drift report, else per stored check (a click opens that check's columns). */
function driftCard(v: MonitoringView): HTMLElement {
  const windows = v.windows.filter((w) => w.driftShare !== undefined);
  const perWindow = windows.length > 1;
  if (!perWindow && v.drift.length === 0)
    return el(
      'div',
      { class: 'chart-card', id: 'no-drift' },
      el('h2', {}, 'Drift share'),
      el('p', { class: 'note' }, 'No drift check of this model yet: "mloop: Check Drift…".'),
    );
  const { root, canvas } = chartCard(
    perWindow ? 'Drift share per window' : 'Drift share per check',
    'drift-chart',
    perWindow
      ? 'Share of drifted columns in each window of the drift report below; click a window for its details.'
      : 'Each point is a stored drift check; click one to show its columns.',
  );
  const red = css('--vscode-charts-red', '#f14c4c');
  const green = css('--vscode-charts-green', '#89d185');
  const points = perWindow
    ? windows.map((w) => ({ label: w.start, share: w.driftShare!, drift: w.alerts.some((a) => a.startsWith('dataset drift')), open: () => select(w.start) }))
    : v.drift.map((d) => ({
        label: new Date(d.createdAt).toLocaleString(),
        share: d.driftShare,
        drift: d.datasetDrift,
        open: () => openReport({ kind: 'drift', id: d.reportId }),
      }));
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: points.map((p) => p.label),
        datasets: [
          {
            label: 'share of drifted columns',
            data: points.map((p) => p.share),
            borderColor: red,
            backgroundColor: points.map((p) => (p.drift ? red : green)),
            pointRadius: 4,
          },
          ...(v.driftDetails
            ? [
                {
                  label: 'dataset drift at',
                  data: points.map(() => v.driftDetails!.shareThreshold),
                  borderColor: css('--vscode-descriptionForeground', '#999'),
                  borderDash: [4, 4],
                  pointRadius: 0,
                },
              ]
            : []),
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { min: 0, max: 1 } },
        onClick: (_e, elements) => {
          const p = elements[0] && points[elements[0].index];
          p?.open();
        },
      },
    }),
  );
  return root;
}

const PALETTE = [
  '--vscode-charts-blue',
  '--vscode-charts-orange',
  '--vscode-charts-purple',
  '--vscode-charts-green',
  '--vscode-charts-yellow',
  '--vscode-charts-red',
];

function groupCard(v: MonitoringView): HTMLElement {
  const { root, canvas } = chartCard(
    'Accuracy per group and window',
    'group-chart',
    'Each group of each sensitive column (groups:) on its own; a window with fewer labelled rows than min_rows has no point.',
  );
  const starts = [...new Set(v.groupSeries.flatMap((s) => s.points.map((p) => p.start)))].sort();
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: starts,
        datasets: v.groupSeries.map((s, i) => {
          const colour = css(PALETTE[i % PALETTE.length]!, '#3794ff');
          return {
            label: `${s.column} = ${s.group}`,
            data: starts.map((start) => s.points.find((p) => p.start === start)?.accuracy ?? null),
            borderColor: colour,
            backgroundColor: colour,
            borderDash: i >= PALETTE.length ? [4, 3] : [],
            pointRadius: 3,
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: false,
        scales: { y: { min: 0, max: 1 } },
        onClick: (_e, elements) => {
          const start = elements[0] && starts[elements[0].index];
          if (start) select(start);
        },
      },
    }),
  );
  return root;
}

/** Permutation importance of the deployed version per labelled window (mloop importance): one line per feature. */
function importanceCard(t: NonNullable<MonitoringView['importance']>): HTMLElement {
  const { root, canvas } = chartCard(
    `Feature importance per window (v${t.version})`,
    'importance-chart',
    `Permutation importance on each window's labelled rows: the drop of ${t.scoring} when a feature is shuffled (seed ${t.seed}). Run mloop importance to refresh.`,
  );
  const starts = t.windows.map((w) => w.start);
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: starts,
        datasets: t.features.map((f, i) => {
          const colour = css(PALETTE[i % PALETTE.length]!, '#3794ff');
          return {
            label: f.feature,
            data: f.mean,
            borderColor: colour,
            backgroundColor: colour,
            borderDash: i >= PALETTE.length ? [4, 3] : [],
            pointRadius: 3,
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: false,
        onClick: (_e, elements) => {
          const start = elements[0] && starts[elements[0].index];
          if (start) select(start);
        },
      },
    }),
  );
  return root;
}

function serviceCard(v: MonitoringView): HTMLElement {
  const s = v.service!;
  const { root, canvas } = chartCard(
    `Service on ${s.target}: latency and errors`,
    'service-chart',
    `Per stored service check, over its window of the serving log. Uptime (24 h): ${s.uptime === null ? '—' : `${(s.uptime * 100).toFixed(1)}%`}. Red points: down or an alert.`,
  );
  const red = css('--vscode-charts-red', '#f14c4c');
  const line = (label: string, data: (number | null)[], colour: string, axis: 'y' | 'y1', dash: number[] = []) => ({
    label,
    data,
    borderColor: colour,
    backgroundColor: colour,
    borderDash: dash,
    pointRadius: s.checks.map((c) => (c.alert || !c.up ? 4 : 2)),
    pointBackgroundColor: s.checks.map((c) => (c.alert || !c.up ? red : colour)),
    yAxisID: axis,
  });
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: s.checks.map((c) => new Date(c.checkedAt).toLocaleTimeString()),
        datasets: [
          line(
            'p50 ms',
            s.checks.map((c) => c.p50),
            css('--vscode-charts-green', '#89d185'),
            'y',
          ),
          line(
            'p95 ms',
            s.checks.map((c) => c.p95),
            css('--vscode-charts-blue', '#3794ff'),
            'y',
          ),
          line(
            'p99 ms',
            s.checks.map((c) => c.p99),
            css('--vscode-charts-purple', '#b180d7'),
            'y',
          ),
          line(
            'error rate',
            s.checks.map((c) => c.errorRate),
            css('--vscode-charts-orange', '#d18616'),
            'y1',
            [4, 3],
          ),
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: true,
        scales: {
          y: { beginAtZero: true, title: { display: true, text: 'ms' } },
          y1: { position: 'right', min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: 'error rate' } },
        },
      },
    }),
  );
  return root;
}

function windowsSection(v: MonitoringView): HTMLElement {
  const rows = v.windows.filter((w) => w.realised || w.estimated || w.alerts.length || w.driftShare !== undefined);
  const body = el('tbody');
  for (const w of rows) {
    const selected = w.start === v.selectedWindow;
    const row = el(
      'tr',
      {
        class: `row${selected ? ' selected' : ''}${w.alerts.length ? ' alerted' : ''}`,
        tabindex: '0',
        'data-window': w.start,
        'aria-selected': String(selected),
      },
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
      el('td', { class: 'num' }, w.driftShare === undefined ? '' : formatNumber(w.driftShare)),
      el('td', {}, w.alerts.join('; ')),
    );
    const choose = (): void => select(selected ? null : w.start);
    row.addEventListener('click', choose);
    row.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') choose();
    });
    body.append(row);
  }
  return el(
    'section',
    { class: 'section', id: 'windows' },
    el('h2', {}, 'Windows'),
    rows.length
      ? el(
          'table',
          {},
          el(
            'thead',
            {},
            el('tr', {}, ...['window', `realised ${v.metric}`, 'n', `estimated ${v.metric}`, 'band', 'drift share', 'alerts'].map((h) => el('th', {}, h))),
          ),
          body,
        )
      : el('p', { class: 'note' }, 'No window yet.'),
  );
}

const interval = (e: { value: number; lower: number | null; upper: number | null } | null): string =>
  e === null ? '—' : `${formatNumber(e.value)}${e.lower !== null && e.upper !== null ? ` [${formatNumber(e.lower)}, ${formatNumber(e.upper)}]` : ''}`;

function detailsSection(v: MonitoringView): HTMLElement | string {
  const d = v.details;
  if (!d) return '';
  const close = button('close-details', 'Close', { secondary: true }, () => select(null));
  return el(
    'section',
    { class: 'section', id: 'window-details' },
    el('h2', {}, `Window ${d.start}`, ' ', close),
    el('p', {}, `${d.n === null ? 'no labelled rows' : `n = ${d.n}`}${d.status && d.status !== 'ok' ? ` · ${d.status.replace(/_/g, ' ')}` : ''}`),
    d.alerts.length ? el('ul', { class: 'alerts' }, ...d.alerts.map((a) => el('li', {}, el('span', { class: 'message' }, a)))) : '',
    d.metrics.length
      ? el(
          'table',
          { id: 'window-metrics' },
          el('thead', {}, el('tr', {}, ...['metric', 'realised (95% interval)', 'estimated (±3 SE)'].map((h) => el('th', {}, h)))),
          el(
            'tbody',
            {},
            ...d.metrics.map((m) =>
              el('tr', {}, el('td', {}, m.metric), el('td', { class: 'num' }, interval(m.realised)), el('td', { class: 'num' }, interval(m.estimated))),
            ),
          ),
        )
      : '',
    ...groupTables(d.fairness, 'window-groups'),
  );
}

function groupTables(columns: MonitoringView['fairness'], id: string): HTMLElement[] {
  const cell = (x: number | null) => el('td', { class: 'num' }, x === null ? '—' : formatNumber(x));
  return columns.map((c) =>
    el(
      'div',
      { class: id },
      el(
        'p',
        {},
        `${c.column}: demographic parity difference ${formatNumber(c.parityDifference)}, ratio ${c.parityRatio === null ? '—' : formatNumber(c.parityRatio)}, equalized odds difference ${formatNumber(c.equalizedOddsDifference)}`,
      ),
      el(
        'table',
        {},
        el('thead', {}, el('tr', {}, ...['group', 'n', 'selection rate', 'accuracy (95%)', 'TPR (95%)', 'FPR'].map((h) => el('th', {}, h)))),
        el(
          'tbody',
          {},
          ...c.groups.map((g) =>
            el(
              'tr',
              {},
              el('td', {}, g.group),
              el('td', { class: 'num' }, String(g.n)),
              cell(g.selectionRate),
              el('td', { class: 'num' }, interval(g.accuracy)),
              el('td', { class: 'num' }, interval(g.tpr)),
              cell(g.fpr),
            ),
          ),
        ),
      ),
    ),
  );
}

function fairnessSection(v: MonitoringView): HTMLElement | string {
  if (v.fairness.length === 0) return '';
  return el(
    'section',
    { class: 'section', id: 'fairness' },
    el('h2', {}, 'Fairness per group (all labelled rows)'),
    groupCharts(v.fairness, 'fairness-chart'),
    ...groupTables(v.fairness, 'fairness-groups'),
  );
}

const GROUP_RATES = [
  ['selection rate', (g: MonitoringView['fairness'][number]['groups'][number]) => ({ value: g.selectionRate, lower: null, upper: null })],
  ['accuracy', (g: MonitoringView['fairness'][number]['groups'][number]) => g.accuracy],
  ['TPR', (g: MonitoringView['fairness'][number]['groups'][number]) => g.tpr],
  ['FPR', (g: MonitoringView['fairness'][number]['groups'][number]) => ({ value: g.fpr, lower: null, upper: null })],
] as const;

type Interval = readonly [number, number] | null;

/** Draws each bar's 95% interval as a whisker over it (a dataset's `intervals`, one per bar). */
const whiskers = {
  id: 'whiskers',
  afterDatasetsDraw(chart: Chart): void {
    const y = chart.scales.y;
    if (!y) return;
    const ctx = chart.ctx;
    chart.data.datasets.forEach((d, i) => {
      const intervals = (d as { intervals?: readonly Interval[] }).intervals;
      const meta = chart.getDatasetMeta(i);
      if (!intervals || meta.hidden) return;
      meta.data.forEach((bar, j) => {
        const iv = intervals[j];
        if (!iv) return;
        const [top, bottom] = [y.getPixelForValue(iv[1]), y.getPixelForValue(iv[0])];
        ctx.save();
        ctx.strokeStyle = css('--vscode-foreground', '#ccc');
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(bar.x, top);
        ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - 3, top);
        ctx.lineTo(bar.x + 3, top);
        ctx.moveTo(bar.x - 3, bottom);
        ctx.lineTo(bar.x + 3, bottom);
        ctx.stroke();
        ctx.restore();
      });
    });
  },
};

/** One bar chart per sensitive column: each group's selection rate, accuracy, TPR and FPR, the 95% intervals as whiskers. */
function groupCharts(columns: MonitoringView['fairness'], id: string): HTMLElement {
  return el(
    'div',
    { class: 'grid2' },
    ...columns.map((c, k) => {
      const { root, canvas } = chartCard(
        `Rates per group of ${c.column}`,
        `${id}-${k}`,
        `Demographic parity difference ${formatNumber(c.parityDifference)}, equalized odds difference ${formatNumber(c.equalizedOddsDifference)}; whiskers: 95% intervals.`,
      );
      charts.push(
        new Chart(canvas, {
          type: 'bar',
          data: {
            labels: c.groups.map((g) => `${g.group} (n ${g.n})`),
            datasets: GROUP_RATES.map(([label, pick], i) => {
              const colour = seriesColour(i);
              return {
                label,
                data: c.groups.map((g) => pick(g)?.value ?? null),
                intervals: c.groups.map((g): Interval => {
                  const b = pick(g);
                  return b && b.lower !== null && b.upper !== null ? [b.lower, b.upper] : null;
                }),
                backgroundColor: withAlpha(colour, 0.7),
                borderColor: colour,
              };
            }),
          },
          options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 1 } } },
          plugins: [whiskers],
        }),
      );
      return root;
    }),
  );
}

/** Teammates' fairness, drawn as this workspace's own (charts and tables), each named as theirs; read-only. */
function teamFairnessSection(team: NonNullable<MonitoringView['team']>): HTMLElement[] {
  return (team.fairness ?? []).map((f, i) =>
    el(
      'div',
      { class: 'team-fairness', id: `team-fairness-${i}` },
      el(
        'h3',
        {},
        `Fairness per group by ${f.publishedBy} (workspace ${f.workspace.slice(0, 8)}), checked ${new Date(f.createdAt).toLocaleString()} · positive class ${f.positiveClass} · ${f.n} labelled rows`,
      ),
      el(
        'p',
        { class: 'note' },
        f.thresholds.length
          ? `Their thresholds: ${f.thresholds.map((t) => `${t.metric} ${[t.min !== null ? `≥ ${formatNumber(t.min)}` : '', t.max !== null ? `≤ ${formatNumber(t.max)}` : ''].filter(Boolean).join(' and ')}`).join('; ')}.`
          : 'They set no fairness thresholds.',
      ),
      f.alerts.length ? el('ul', { class: 'team-fairness-alerts' }, ...f.alerts.slice(0, 10).map((a) => el('li', {}, `⚠ ${a}`))) : '',
      groupCharts(f.columns, `team-fairness-chart-${i}`),
      ...groupTables(f.columns, 'team-fairness-groups'),
    ),
  );
}

/** Reports teammates published to the team's MLflow server, each marked with who published it and from which workspace. */
function teamSection(v: MonitoringView): HTMLElement | string {
  const team = v.team;
  if (!team) return '';
  const when = (at: number): string => new Date(at).toLocaleString();
  return el(
    'section',
    { class: 'section', id: 'team-reports' },
    el('h2', {}, `From teammates on ${team.server} (${team.reports.length})`),
    team.problem ? el('p', { class: 'problem' }, `The team's reports could not be read: ${team.problem}`) : '',
    team.reports.length === 0 && !team.problem ? el('p', { class: 'note' }, 'No other workspace has published a report of this model.') : '',
    // the list first (their alerts, newest first, drift checks among them), then their metric per window
    team.reports.length
      ? el(
          'table',
          { class: 'team-reports' },
          el('thead', {}, el('tr', {}, ...['', 'check', 'summary', 'by', 'workspace', 'checked'].map((h) => el('th', {}, h)))),
          el(
            'tbody',
            {},
            ...team.reports.map((r) =>
              el(
                'tr',
                { class: r.alert ? 'alert' : '' },
                el('td', {}, r.alert ? '⚠' : '✓'),
                el('td', {}, r.kind.replace('_', ' ')),
                el('td', {}, r.summary),
                el('td', {}, r.publishedBy),
                el('td', { title: `writer ${r.workspace}` }, r.workspace.slice(0, 8)),
                el('td', {}, when(r.createdAt)),
              ),
            ),
          ),
        )
      : '',
    // their fairness checks drawn as this workspace's own, then their accuracy per window
    ...teamFairnessSection(team),
    teamChart(team),
  );
}

/** Teammates' metric per window (their newest realised and estimated reports), one line per workspace and check, with the 95% band. */
function teamChart(team: NonNullable<MonitoringView['team']>): HTMLElement | string {
  const series = team.series ?? [];
  if (series.length === 0) return '';
  const starts = [...new Set(series.flatMap((s) => s.points.map((p) => p.start)))].sort();
  const metric = series[0]!.metric;
  const { root, canvas } = chartCard(
    `Teammates' ${metric} per window`,
    'team-chart',
    `Each line: one teammate's workspace and check, from the newest report of that check they published (the band: its 95% interval). ${series
      .map((s) => `${s.publishedBy} (${s.workspace.slice(0, 8)}) ${s.kind.replace('_', ' ')} of ${new Date(s.createdAt).toLocaleString()}`)
      .join('; ')}.`,
  );
  const datasets = series.flatMap((s, i) => {
    const at = new Map(s.points.map((p) => [p.start, p]));
    const colour = seriesColour(i + 2);
    const name = `${s.publishedBy.replace(/ <.*>$/, '')} · ${s.workspace.slice(0, 8)} · ${s.kind === 'performance' ? 'realised' : 'estimated'}`;
    return [
      {
        label: `${name} (95% upper)`,
        data: starts.map((x) => at.get(x)?.upper ?? null),
        borderColor: 'transparent',
        backgroundColor: 'transparent',
        pointRadius: 0,
      },
      {
        label: `${name} (95% lower)`,
        data: starts.map((x) => at.get(x)?.lower ?? null),
        borderColor: 'transparent',
        backgroundColor: withAlpha(colour, 0.15),
        pointRadius: 0,
        fill: '-1',
      },
      {
        label: name,
        data: starts.map((x) => at.get(x)?.value ?? null),
        borderColor: colour,
        backgroundColor: colour,
        borderDash: s.kind === 'performance' ? [] : [6, 4],
        pointRadius: 2,
      },
    ];
  });
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: { labels: starts, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: true,
        plugins: { legend: { labels: { filter: (item) => !/\(95% (upper|lower)\)$/.test(item.text) } } },
        scales: { y: { title: { display: true, text: metric } } },
      },
    }),
  );
  return el('div', { class: 'grid2' }, root);
}

function notesSection(v: MonitoringView): HTMLElement {
  return el(
    'section',
    { class: 'section' },
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
    current = message.view;
    state.model = current.model;
    state.window = current.selectedWindow;
    if (current.driftDetails) state.driftReportId = current.driftDetails.reportId;
    const columns = current.driftDetails?.columns ?? [];
    if (!columns.some((c) => c.column === state.selectedColumn)) {
      const ok = columns.filter((c) => c.status === 'ok');
      // the column that drifted most in the selected window, else in the whole report
      const top = [...ok].sort((a, b) => (b.windowScore ?? -1) - (a.windowScore ?? -1))[0];
      state.selectedColumn = (current.selectedWindow && top?.windowScore !== undefined ? top : ok[0])?.column;
    }
    api.setState(state);
    render();
  },
  problem: (message) => {
    current = undefined;
    app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message));
  },
});
