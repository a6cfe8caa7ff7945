import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { EvaluationHostMessage, EvaluationView, EvaluationWebviewMessage, ExplanationView } from '../../src/protocol/evaluationMessages';
import { formatNumber } from '../../src/shared/format';
import { applyChartTheme, chartCard, css, seriesColour, withAlpha } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';

// curves (ROC, PR, calibration) as lines on linear axes; importance and the waterfall as horizontal bars
Chart.register(CategoryScale, LinearScale, LineController, ScatterController, LineElement, PointElement, BarController, BarElement, Tooltip, Legend);

const api = pageApi<EvaluationWebviewMessage, EvaluationHostMessage>();
const app = document.getElementById('app')!;
const charts: Chart[] = [];

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 12px 0 4px; }
.header .big { font-size: 1.3em; font-weight: 600; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
th, td { padding: 2px 10px 2px 0; }
th { text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.confusion td.num { min-width: 3em; }
.notes li { color: var(--vscode-descriptionForeground); }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

const colour = seriesColour;
const fmt = (x: number | null): string => (x === null ? '—' : formatNumber(x));

/** Horizontal bars, no animation, no legend; `label` writes a bar's tooltip. */
function horizontalBars(label: (index: number, x: number) => string) {
  return {
    indexAxis: 'y' as const,
    animation: false as const,
    maintainAspectRatio: false,
    plugins: {
      legend: { display: false },
      tooltip: { callbacks: { label: (c: { dataIndex: number; parsed: { x: number | null } }) => label(c.dataIndex, c.parsed.x ?? 0) } },
    },
  };
}

function reset(): void {
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
}

function table(headers: readonly string[], rows: readonly (readonly (string | { num: string })[])[], attrs: Record<string, string> = {}): HTMLElement {
  return el(
    'table',
    attrs,
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => (typeof c === 'string' ? el('td', {}, c) : el('td', { class: 'num' }, c.num)))))),
  );
}

function renderEvaluation(v: EvaluationView): void {
  reset();
  const again = el('vscode-button', { id: 'evaluate-again', secondary: true, title: 'Evaluate this version again on the same dataset' }, 'Evaluate Again');
  again.addEventListener('click', () => api.post({ type: 'evaluateAgain' }));
  const header = el(
    'section',
    {},
    el(
      'div',
      { class: 'header' },
      el('span', { class: 'big' }, `${v.model} v${v.version} on ${v.dataset}`),
      el('span', {}, `${v.rows} rows · label ${v.label} · ${v.modelClass} (${v.flavour}) · ${new Date(v.createdAt).toLocaleString()}`),
      again,
    ),
  );
  const metrics = el(
    'section',
    { id: 'metrics' },
    el('h2', {}, 'Metrics'),
    table(
      ['metric', 'value', '95% interval'],
      v.metrics.map((m) => [m.name, { num: fmt(m.value) }, { num: m.lower === null ? '—' : `${fmt(m.lower)} – ${fmt(m.upper)} (${m.interval})` }]),
    ),
  );
  const cards: HTMLElement[] = [importanceCard(v)];
  if (v.shap.features.length)
    cards.push(
      barCard(
        'SHAP importance',
        'shap-chart',
        v.shap.note,
        v.shap.features.map((f) => [f.feature, f.meanAbs]),
      ),
    );
  if (v.comparison) cards.push(comparisonCard(v));
  if (v.curves.length) cards.push(curveCard(v, 'roc'), curveCard(v, 'pr'), curveCard(v, 'calibration'));
  app.replaceChildren(
    header,
    metrics,
    v.confusion ? confusionSection(v.confusion) : '',
    el('div', { class: 'grid2' }, ...cards),
    v.shap.features.length ? '' : el('p', { class: 'note', id: 'shap-note' }, v.shap.note),
    groupsSection(v),
    v.notes.length ? el('ul', { class: 'notes' }, ...v.notes.map((n) => el('li', {}, n))) : '',
  );
  drawPending();
}

const pending: (() => void)[] = [];
function drawPending(): void {
  for (const draw of pending.splice(0)) draw();
}

function barCard(title: string, id: string, note: string, rows: readonly (readonly [string, number])[], errors?: readonly number[]): HTMLElement {
  const { root, canvas } = chartCard(title, id, note);
  pending.push(() =>
    charts.push(
      new Chart(canvas, {
        type: 'bar',
        data: {
          labels: rows.map((r) => r[0]),
          datasets: [{ label: title, data: rows.map((r) => r[1]), backgroundColor: withAlpha(colour(0), 0.7) }],
        },
        options: horizontalBars((i, x) => `${formatNumber(x)}${errors ? ` ± ${formatNumber(errors[i] ?? 0)}` : ''}`),
      }),
    ),
  );
  return root;
}

function importanceCard(v: EvaluationView): HTMLElement {
  return barCard(
    'Permutation importance',
    'importance-chart',
    v.importanceNote,
    v.importance.map((r) => [r.feature, r.mean]),
    v.importance.map((r) => r.std),
  );
}

function comparisonCard(v: EvaluationView): HTMLElement {
  const c = v.comparison!;
  const { root, canvas } = chartCard(
    `Importance: champion v${c.baseVersion} vs v${v.version}`,
    'comparison-chart',
    'Permutation importance of the champion and of this version on the same data.',
  );
  pending.push(() =>
    charts.push(
      new Chart(canvas, {
        type: 'bar',
        data: {
          labels: c.rows.map((r) => r.feature),
          datasets: [
            { label: `champion v${c.baseVersion}`, data: c.rows.map((r) => r.base), backgroundColor: withAlpha(colour(1), 0.7) },
            { label: `v${v.version}`, data: c.rows.map((r) => r.other), backgroundColor: withAlpha(colour(0), 0.7) },
          ],
        },
        options: { indexAxis: 'y', animation: false, maintainAspectRatio: false },
      }),
    ),
  );
  return root;
}

function curveCard(v: EvaluationView, kind: 'roc' | 'pr' | 'calibration'): HTMLElement {
  const titles = {
    roc: ['ROC curves (one class vs the rest)', 'false positive rate', 'true positive rate'],
    pr: ['Precision–recall curves', 'recall', 'precision'],
    calibration: ['Calibration (10 bins)', 'mean predicted probability', 'fraction of positives'],
  } as const;
  const [title, x, y] = titles[kind];
  const { root, canvas } = chartCard(title, `${kind}-chart`, kind === 'calibration' ? 'A calibrated model follows the diagonal.' : undefined);
  const points = (c: EvaluationView['curves'][number]) =>
    kind === 'roc'
      ? c.roc.fpr.map((f, i) => ({ x: f, y: c.roc.tpr[i]! }))
      : kind === 'pr'
        ? c.pr.recall.map((r, i) => ({ x: r, y: c.pr.precision[i]! }))
        : c.calibration.mean_predicted.map((p, i) => ({ x: p, y: c.calibration.fraction_positive[i]! }));
  pending.push(() =>
    charts.push(
      new Chart(canvas, {
        type: 'scatter',
        data: {
          datasets: [
            ...v.curves.map((c, i) => ({
              label: c.class,
              data: points(c),
              showLine: true,
              borderColor: colour(i),
              backgroundColor: colour(i),
              pointRadius: kind === 'calibration' ? 2 : 0,
            })),
            ...(kind === 'pr'
              ? []
              : [
                  {
                    label: 'diagonal',
                    data: [
                      { x: 0, y: 0 },
                      { x: 1, y: 1 },
                    ],
                    showLine: true,
                    borderDash: [4, 4],
                    borderColor: css('--vscode-descriptionForeground', '#999'),
                    pointRadius: 0,
                  },
                ]),
          ],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: { x: { min: 0, max: 1, title: { display: true, text: x } }, y: { min: 0, max: 1, title: { display: true, text: y } } },
        },
      }),
    ),
  );
  return root;
}

function confusionSection(c: NonNullable<EvaluationView['confusion']>): HTMLElement {
  const max = Math.max(1, ...c.matrix.flat());
  const accent = css('--vscode-charts-blue', '#3794ff');
  return el(
    'section',
    { id: 'confusion' },
    el('h2', {}, 'Confusion matrix (rows: truth, columns: predicted)'),
    el(
      'table',
      { class: 'confusion' },
      el('thead', {}, el('tr', {}, el('th', {}, ''), ...c.classes.map((k) => el('th', {}, k)))),
      el(
        'tbody',
        {},
        ...c.matrix.map((row, i) =>
          el(
            'tr',
            {},
            el('th', {}, c.classes[i]!),
            ...row.map((n) => {
              const cell = el('td', { class: 'num' }, String(n));
              cell.style.background = withAlpha(accent, (0.6 * n) / max);
              return cell;
            }),
          ),
        ),
      ),
    ),
  );
}

function groupsSection(v: EvaluationView): HTMLElement | string {
  if (!v.groups.length) return '';
  return el(
    'section',
    { id: 'groups' },
    el('h2', {}, 'Group metrics'),
    ...v.groups.map((g) =>
      el(
        'div',
        {},
        el(
          'p',
          {},
          `${g.column}: demographic parity difference ${formatNumber(g.parityDifference)}, equalized odds difference ${formatNumber(g.equalizedOddsDifference)}`,
        ),
        table(
          ['group', 'n', 'selection rate', 'accuracy'],
          g.groups.map((r) => [r.group, { num: String(r.n) }, { num: fmt(r.selectionRate) }, { num: fmt(r.accuracy) }]),
        ),
      ),
    ),
  );
}

/** A waterfall: each bar floats from the running total before the feature to the total after it. */
function renderExplanation(x: ExplanationView): void {
  reset();
  const steps: { label: string; from: number; to: number; kind: 'base' | 'up' | 'down' | 'total' }[] = [
    { label: 'base value', from: 0, to: x.baseValue, kind: 'base' },
  ];
  let running = x.baseValue;
  for (const c of x.contributions) {
    steps.push({ label: `${c.feature} = ${c.value}`, from: running, to: running + c.contribution, kind: c.contribution >= 0 ? 'up' : 'down' });
    running += c.contribution;
  }
  if (Math.abs(x.interaction) > 1e-9) {
    steps.push({
      label: x.method === 'shap' ? 'rounding in shap' : 'interaction (not additive)',
      from: running,
      to: running + x.interaction,
      kind: x.interaction >= 0 ? 'up' : 'down',
    });
    running += x.interaction;
  }
  steps.push({ label: 'output', from: 0, to: x.value, kind: 'total' });
  const fill = { base: colour(0), total: colour(0), up: css('--vscode-charts-green', '#89d185'), down: css('--vscode-charts-red', '#f14c4c') };
  const { root, canvas } = chartCard(`Contributions to the ${x.output}`, 'waterfall-chart', x.note);
  app.replaceChildren(
    el(
      'div',
      { class: 'header' },
      el('span', { class: 'big' }, `${x.model} v${x.version} predicts ${x.predicted}`),
      el('span', {}, `${x.method === 'shap' ? 'SHAP values' : 'occlusion (fallback)'} · ${x.output} = ${formatNumber(x.value)}`),
      ...(x.source ? [el('span', { id: 'explained-source', title: 'the logged prediction this explains' }, `logged: ${x.source}`)] : []),
    ),
    root,
    table(
      ['feature', 'value', 'contribution'],
      x.contributions.map((c) => [c.feature, c.value, { num: formatNumber(c.contribution) }]),
      { id: 'contributions' },
    ),
  );
  charts.push(
    new Chart(canvas, {
      type: 'bar',
      data: {
        labels: steps.map((s) => s.label),
        datasets: [
          {
            label: 'contribution',
            data: steps.map((s) => [s.from, s.to] as [number, number]),
            backgroundColor: steps.map((s) => withAlpha(fill[s.kind], 0.8)),
          },
        ],
      },
      options: horizontalBars((i) => formatNumber(steps[i]!.to - steps[i]!.from)),
    }),
  );
}

api.listen({
  evaluation: (message) => renderEvaluation(message.view),
  explanation: (message) => renderExplanation(message.view),
  problem: (message) => {
    reset();
    app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message));
  },
});
