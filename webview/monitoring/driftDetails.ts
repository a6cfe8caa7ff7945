import { Chart } from 'chart.js';
import type { DriftColumnView, DriftDetailsView } from '../../src/protocol/monitoringMessages';
import { formatNumber } from '../../src/shared/format';
import { chartCard, css, withAlpha } from '../shared/charts';
import { el } from '../shared/vscodeApi';

const METHOD: Record<string, string> = { ks: 'KS', psi: 'PSI', wasserstein: 'Wasserstein (normed)', jensenshannon: 'Jensen–Shannon', chisquare: 'chi-square' };

export interface DriftDetailsOptions {
  readonly selectedColumn: string | undefined;
  /** The selected window: its per-column scores are shown beside the report's. */
  readonly window: string | null;
  /** Charts drawn here join the page's list (destroyed on the next render). */
  readonly charts: Chart[];
  readonly select: (column: string) => void;
}

/** One stored drift report (the Drift panel before it moved here): the verdict, the columns by score, overlaid histograms. */
export function driftDetailsSection(r: DriftDetailsView, options: DriftDetailsOptions): HTMLElement {
  return el(
    'section',
    { class: 'section', id: 'drift-details' },
    verdict(r),
    featureTable(r, options),
    el('div', { class: 'grid2' }, histogramCard(r, options)),
  );
}

function verdict(r: DriftDetailsView): HTMLElement {
  const drifted = r.columns.filter((c) => c.status === 'ok' && c.drifted).length;
  const compared = r.columns.filter((c) => c.status === 'ok').length;
  return el(
    'div',
    {},
    el('h2', {}, `Drift report #${r.reportId}`),
    el(
      'div',
      { class: `verdict ${r.datasetDrift ? 'drift' : 'ok'}`, id: 'drift-verdict' },
      el('span', { class: 'big' }, r.datasetDrift ? 'Dataset drift' : 'No dataset drift'),
      el('span', {}, `${drifted} of ${compared} columns drifted · ${r.margin}`),
    ),
    el(
      'p',
      { class: 'muted' },
      `reference ${r.referenceLabel} (${r.referenceRows.toLocaleString('en-US')} rows) vs current ${r.currentLabel} (${r.currentRows.toLocaleString('en-US')} rows) · ${new Date(r.createdAt).toLocaleString()}`,
    ),
  );
}

function featureTable(r: DriftDetailsView, options: DriftDetailsOptions): HTMLElement {
  const maxScore = Math.max(1, ...r.columns.filter((c) => c.status === 'ok').map((c) => Math.min(c.score, 10)));
  const windowed = options.window !== null && r.columns.some((c) => c.windowScore !== undefined);
  const heads = ['column', 'type', 'method', 'statistic', 'p-value', 'threshold', 'score', ...(windowed ? [`in ${options.window}`] : []), 'drift'];
  const head = el('tr', {}, ...heads.map((h) => el('th', { scope: 'col' }, h)));
  const body = el('tbody');
  for (const c of r.columns) {
    const selected = c.column === options.selectedColumn;
    const row = el('tr', { class: `row${selected ? ' selected' : ''}`, tabindex: '0', 'data-column': c.column, 'aria-selected': String(selected) });
    if (c.status === 'skipped') {
      row.append(
        el('th', { scope: 'row' }, c.column),
        el('td', {}, c.type),
        el('td', { colspan: String(heads.length - 2), class: 'muted' }, `skipped: ${c.reason ?? ''}`),
      );
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
        ...(windowed ? [windowScoreCell(c.windowScore)] : []),
        el(
          'td',
          { class: c.drifted ? 'worse' : 'better' },
          c.drifted ? 'drift' : 'ok',
          c.unseenCategories?.length ? el('span', { class: 'muted' }, ` · new: ${c.unseenCategories.slice(0, 5).join(', ')}`) : '',
        ),
      );
    }
    row.addEventListener('click', () => options.select(c.column));
    row.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') options.select(c.column);
    });
    body.append(row);
  }
  return el(
    'div',
    {},
    el('h3', {}, 'Columns, by drift score'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'plain', id: 'columns-table' }, el('thead', {}, head), body)),
  );
}

function histogramCard(r: DriftDetailsView, options: DriftDetailsOptions): HTMLElement {
  const column: DriftColumnView | undefined = r.columns.find((c) => c.column === options.selectedColumn);
  const h = column?.histogram;
  const { root, canvas } = chartCard(
    column ? `${column.column}: reference vs current` : 'No column selected',
    'histogram-chart',
    h?.edges
      ? 'Share of rows per bin (the whole current data of this report); the outer bins also hold values beyond the edges.'
      : 'Share of rows per category.',
  );
  if (!column || !h) return root;
  const short = (x: number): string => String(Number(x.toPrecision(3)));
  const labels = h.categories ?? h.reference.map((_, i) => `${short(h.edges![i]!)} – ${short(h.edges![i + 1]!)}`);
  const bars = (label: string, data: number[], colour: string) => ({
    label,
    data,
    backgroundColor: withAlpha(colour, 0.55),
    barPercentage: 1,
    categoryPercentage: 0.95,
    grouped: false,
  });
  options.charts.push(
    new Chart(canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: [
          bars('reference', h.reference, css('--vscode-charts-blue', '#3794ff')),
          bars('current', h.current, css('--vscode-charts-orange', '#d18616')),
        ],
      },
      options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'share of rows' } } } },
    }),
  );
  return root;
}

/**
 * A column's score in the selected window, as its verdict there: the score is the statistic over the threshold (the
 * threshold over the p-value for KS and chi-square), so 1 or more is drift; a vanishing p-value makes it huge, shown
 * as "> 1000×" rather than as its exponent.
 */
function windowScoreCell(score: number | undefined): HTMLElement {
  if (score === undefined) return el('td', { class: 'num' }, '—');
  const times = score > 1000 ? '> 1000×' : `${score < 10 ? score.toFixed(2) : score.toFixed(0)}×`;
  return el(
    'td',
    { class: `num ${score >= 1 ? 'worse' : 'better'}`, title: `score ${score} (1 or more: drift in this window)` },
    `${score >= 1 ? 'drift' : 'ok'} · ${times}`,
  );
}
