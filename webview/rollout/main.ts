import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type {
  PublishedGatewayView,
  RolloutHostMessage,
  RolloutView,
  RolloutViewState,
  RolloutWebviewMessage,
  TeammateRolloutView,
} from '../../src/protocol/rolloutMessages';
import { formatMetric, formatNumber } from '../../src/shared/format';
import { applyChartTheme, chartCard, css, seriesColour, withAlpha } from '../shared/charts';
import { el, pageApi } from '../shared/vscodeApi';

// stacked bars: the share per version and bucket; lines: rate and latency
Chart.register(CategoryScale, LinearScale, BarController, BarElement, LineController, LineElement, PointElement, Tooltip, Legend);

const api = pageApi<RolloutWebviewMessage, RolloutHostMessage, RolloutViewState>();
const app = document.getElementById('app')!;
const charts: Chart[] = [];

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 12px 0 4px; }
.header .big { font-size: 1.4em; font-weight: 600; }
.split { display: flex; height: 22px; border-radius: 3px; overflow: hidden; margin: 6px 0 2px; max-width: 720px; }
.split > div { display: flex; align-items: center; justify-content: center; color: var(--vscode-editor-background); font-size: .85em; white-space: nowrap; overflow: hidden; }
.grid3 { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 16px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
/* the tables' columns apart: without it a pid ran into its role and a count into the next column's header */
th, td { padding: 2px 14px 2px 0; }
.pass { color: var(--vscode-charts-green); }
.fail { color: var(--vscode-charts-red); }
.decision { font-weight: 600; }
#teammate-deployments th, #teammate-deployments td { text-align: left; padding: 2px 12px 2px 0; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

/** One colour per version, the same in every chart and in the split bar. */
function colourOf(v: RolloutView, version: number | null): string {
  const versions = [...new Set([...v.split.map((s) => s.version), ...v.versions.map((s) => s.version)])].sort((a, b) => (a ?? -1) - (b ?? -1));
  return version === null ? css('--vscode-descriptionForeground', '#999') : seriesColour(Math.max(0, versions.indexOf(version)));
}
const label = (version: number | null): string => (version === null ? 'no version (503)' : `v${version}`);
const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
const ms = (x: number | null): string => (x === null ? '—' : `${formatMetric(x)} ms`);

function render(v: RolloutView): void {
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
  app.replaceChildren(
    header(v),
    el('div', { class: 'grid3' }, shareCard(v), rateCard(v), latencyCard(v)),
    versionsSection(v),
    replicasSection(v),
    gatewaySection(v),
    abSection(v),
    analysisSection(v),
    v.notes.length ? el('section', { class: 'section', id: 'notes' }, ...v.notes.map((n) => el('p', { class: 'note' }, n))) : '',
  );
}

function button(id: string, text: string, title: string, enabled: boolean, message: RolloutWebviewMessage, secondary = false): HTMLElement {
  const b = el('vscode-button', { id, title, disabled: !enabled || undefined, secondary: secondary || undefined }, text);
  b.addEventListener('click', () => enabled && api.post(message));
  return b;
}

function header(v: RolloutView): HTMLElement {
  const serving = v.serving ? `${v.serving.modelName} v${v.serving.version} · ${v.serving.status.replace('_', ' ')}` : 'nothing serving';
  const what = v.ab
    ? v.ab.aa
      ? 'A/A test'
      : v.ab.bandit
        ? 'bandit'
        : 'A/B test'
    : v.rolling
      ? `${v.rolling.strategy.replace('_', '/')} rollout`
      : v.strategy.replace('_', '/');
  const promoteTitle =
    v.actions.promote === 'winner'
      ? 'Promote Winner: the challenger becomes @champion and is deployed'
      : v.actions.promote === 'shadow'
        ? 'Promote Shadow'
        : 'Nothing to promote: no A/B test or shadow runs';
  const stopTitle =
    v.actions.stop === 'ab'
      ? 'Stop the A/B test: all traffic back to the serving version'
      : v.actions.stop === 'shadow'
        ? 'Stop the shadow'
        : 'Nothing to stop';
  const total = v.split.reduce((a, s) => a + s.percent, 0) || 1;
  return el(
    'section',
    {},
    el(
      'div',
      { class: 'header', id: 'summary' },
      el('span', { class: 'big' }, v.target),
      el('span', {}, `${serving} · ${what}${v.gateway ? ' · gateway' : ''}`),
      button('promote', 'Promote', promoteTitle, v.actions.promote !== null, { type: 'promote' }),
      button(
        'rollback',
        'Roll Back',
        v.actions.rollback ? 'Put back the version served before' : 'Nothing served before',
        v.actions.rollback,
        { type: 'rollback' },
        true,
      ),
      button('stop', 'Stop', stopTitle, v.actions.stop !== null, { type: 'stop' }, true),
    ),
    el(
      'div',
      {
        class: 'split',
        id: 'split',
        role: 'img',
        'aria-label': `split: ${v.split.map((s) => `v${s.version} ${s.percent.toFixed(1)}%${s.replicas ? ` (${s.replicas} replicas)` : ''}`).join(', ')}`,
      },
      ...v.split.map((s) => {
        const part = el(
          'div',
          { title: `${s.modelName} v${s.version}: ${s.percent.toFixed(1)}%${s.replicas ? ` over ${s.replicas} replicas` : ''}` },
          s.percent >= 8 ? `v${s.version} ${s.percent.toFixed(s.percent % 1 ? 1 : 0)}%` : '',
        );
        // the CSSOM, not a style attribute: the CSP allows no inline styles
        part.style.width = `${(100 * s.percent) / total}%`;
        part.style.background = colourOf(v, s.version);
        return part;
      }),
    ),
    el('p', { class: 'note' }, v.split.length ? 'The split in use now' : 'No route yet'),
  );
}

const timeLabels = (v: RolloutView): string[] => v.timeline.starts.map((t) => new Date(t).toLocaleTimeString());

function lineChart(
  canvas: HTMLCanvasElement,
  v: RolloutView,
  datasets: { version: number | null; data: (number | null)[] }[],
  y: Record<string, unknown>,
): void {
  charts.push(
    new Chart(canvas, {
      type: 'line',
      data: {
        labels: timeLabels(v),
        datasets: datasets.map((d) => ({
          label: label(d.version),
          data: d.data,
          borderColor: colourOf(v, d.version),
          backgroundColor: colourOf(v, d.version),
          // a bucket alone between empty ones still shows
          pointRadius: 2,
          spanGaps: false,
        })),
      },
      options: { animation: false, maintainAspectRatio: false, scales: { y } },
    }),
  );
}

function shareCard(v: RolloutView): HTMLElement {
  const { root, canvas } = chartCard(
    'Traffic share per version',
    'share-chart',
    'Share of the requests each version answered per 15 s (the split in use; a bandit moves it as rewards arrive).',
  );
  const totals = v.timeline.starts.map((_, i) => v.timeline.series.reduce((n, s) => n + s.requests[i]!, 0));
  charts.push(
    new Chart(canvas, {
      type: 'bar',
      data: {
        labels: timeLabels(v),
        datasets: v.timeline.series.map((s) => ({
          label: label(s.version),
          data: s.requests.map((r, i) => (totals[i] ? (100 * r) / totals[i]! : null)),
          backgroundColor: withAlpha(colourOf(v, s.version), 0.8),
          categoryPercentage: 1,
          barPercentage: 1,
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, min: 0, max: 100, title: { display: true, text: '%' } } },
      },
    }),
  );
  return root;
}

function rateCard(v: RolloutView): HTMLElement {
  const { root, canvas } = chartCard('Requests per second', 'rate-chart', 'Per version, from the serving log; errors (status ≥ 500) in the table below.');
  const seconds = v.timeline.bucketMs / 1000;
  lineChart(
    canvas,
    v,
    v.timeline.series.map((s) => ({ version: s.version, data: s.requests.map((r) => r / seconds) })),
    { min: 0 },
  );
  return root;
}

function latencyCard(v: RolloutView): HTMLElement {
  const { root, canvas } = chartCard('p95 latency (ms)', 'latency-chart', 'Per version and 15 s bucket (numpy.percentile, linear).');
  lineChart(
    canvas,
    v,
    v.timeline.series.map((s) => ({ version: s.version, data: s.p95Ms })),
    { min: 0 },
  );
  return root;
}

function versionsSection(v: RolloutView): HTMLElement {
  const minutes = Math.round((v.window.to - v.window.from) / 60_000);
  return el(
    'section',
    { class: 'section', id: 'versions' },
    el('h2', {}, `Versions over the last ${minutes} minutes`),
    v.versions.length === 0
      ? el('p', { class: 'note' }, v.servingLog ? `No request in ${v.servingLog} in this window.` : 'No serving log for this target.')
      : el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...['version', 'requests', 'req/s', 'errors', 'error rate', 'p50', 'p95', 'p99'].map((h) => el('th', {}, h)))),
          el(
            'tbody',
            {},
            ...v.versions.map((s) =>
              el(
                'tr',
                {},
                el('td', {}, label(s.version)),
                el('td', { class: 'num' }, String(s.requests)),
                el('td', { class: 'num' }, formatMetric(s.requestRate)),
                el('td', { class: 'num' }, String(s.errors)),
                el('td', { class: 'num' }, pct(s.errorRate)),
                el('td', { class: 'num' }, ms(s.p50Ms)),
                el('td', { class: 'num' }, ms(s.p95Ms)),
                el('td', { class: 'num' }, ms(s.p99Ms)),
              ),
            ),
          ),
        ),
  );
}

const HEALTH: Record<RolloutView['replicas'][number]['health'], { text: string; cls: string }> = {
  up: { text: '✓ up', cls: 'pass' },
  starting: { text: '… starting', cls: '' },
  ejected: { text: '⚠ ejected', cls: 'fail' },
  down: { text: '✗ down', cls: 'fail' },
  unknown: { text: '? not started by mloop', cls: '' },
};

/** How long ago `since` was, for a process's "up" column: 45 s, 12 min, 3 h 5 min, 2 d 4 h. */
function upFor(since: number | null, now: number): string {
  if (since === null) return '—';
  const s = Math.max(0, Math.round((now - since) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function gatewaySection(v: RolloutView): HTMLElement | string {
  if (!v.gatewayProcesses.length) return '';
  return el(
    'section',
    { class: 'section', id: 'gateway-processes' },
    el('h2', {}, `Gateway processes (${v.gatewayProcesses.filter((p) => !p.leaving).length})`),
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['pid', 'role', 'in flight', 'requests', 'up for'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...v.gatewayProcesses.map((p) =>
          el(
            'tr',
            {},
            el('td', { class: 'num' }, String(p.pid)),
            el('td', {}, p.leaving ? `${p.role} · leaving` : p.role),
            el('td', { class: 'num' }, p.inflight === null ? '—' : String(p.inflight)),
            el('td', { class: 'num' }, String(p.requests)),
            el('td', { class: 'num', title: p.since === null ? '' : new Date(p.since).toISOString() }, upFor(p.since, v.window.to)),
          ),
        ),
      ),
    ),
    el(
      'p',
      { class: 'note' },
      "The processes serving the target's port (gateway_workers). A change of gateway_workers starts or retires workers while the gateway serves.",
    ),
  );
}

function replicasSection(v: RolloutView, teammate = false): HTMLElement | string {
  if (!v.replicas.length) return '';
  const minutes = Math.round((v.window.to - v.window.from) / 60_000);
  const testing = v.replicas.some((r) => r.arm !== null);
  return el(
    'section',
    { class: 'section', id: 'replicas' },
    el('h2', {}, `Processes behind the gateway (${v.replicas.length})`),
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...[...(testing ? ['arm'] : []), 'version', 'replica', 'port', 'health', 'in flight', 'weight', `requests (${minutes} min)`, 'errors', 'p95'].map(
            (h) => el('th', {}, h),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...v.replicas.map((r) => {
          const health = HEALTH[r.health];
          return el(
            'tr',
            {},
            ...(testing ? [el('td', {}, r.arm ?? '')] : []),
            el('td', {}, `${r.modelName} v${r.version}`),
            el('td', { class: 'num' }, r.replica === null ? '—' : String(r.replica)),
            el('td', { class: 'num' }, String(r.port)),
            el('td', { class: health.cls, title: r.detail ?? (r.pid === null ? '' : `pid ${r.pid}`) }, r.detail ? `${health.text} · ${r.detail}` : health.text),
            el('td', { class: 'num' }, r.inflight === null ? '—' : String(r.inflight)),
            el('td', { class: 'num' }, formatNumber(r.weight)),
            el('td', { class: 'num' }, String(r.requests)),
            el('td', { class: 'num' }, String(r.errors)),
            el('td', { class: 'num' }, ms(r.p95Ms)),
          );
        }),
      ),
    ),
    el(
      'p',
      { class: 'note' },
      teammate
        ? 'Health and in flight as their mloop saw them when they published: their processes run on their machine.'
        : 'In flight: the requests each process is answering now (the gateway sends a request to the replica of its arm with the fewest).',
    ),
  );
}

function abSection(v: RolloutView): HTMLElement | string {
  const ab = v.ab;
  if (!ab) return '';
  const name = ab.aa ? 'A/A test (the same version in both arms: any "ship" is a false positive)' : ab.bandit ? 'Bandit (Thompson sampling)' : 'A/B test';
  const decisionClass = ab.decision === 'ship' ? 'pass' : ab.decision === 'keep_champion' ? 'fail' : '';
  return el(
    'section',
    { class: 'section', id: 'ab' },
    el('h2', {}, name),
    el(
      'p',
      {},
      el('span', { class: `decision ${decisionClass}`, id: 'ab-decision' }, ab.decision.replace('_', ' ')),
      ` — ${ab.reason}. Always-valid p = ${formatMetric(ab.pValue)} (α ${ab.alpha}, mSPRT; look as often as you like).`,
    ),
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['arm', 'version', 'split', 'n', 'mean outcome', 'sd'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...ab.arms.map((a) =>
          el(
            'tr',
            {},
            el('td', {}, a.role),
            el('td', {}, `${a.modelName} v${a.version}`),
            el('td', { class: 'num' }, `${a.split.toFixed(1)}%`),
            el('td', { class: 'num' }, String(a.n)),
            el('td', { class: 'num' }, a.mean === null ? '—' : formatMetric(a.mean)),
            el('td', { class: 'num' }, a.sd === null ? '—' : formatMetric(a.sd)),
          ),
        ),
      ),
    ),
    el(
      'p',
      { class: 'note' },
      ab.lift
        ? `Lift ${formatMetric(ab.lift.absolute)}${ab.lift.relative === null ? '' : ` (${(100 * ab.lift.relative).toFixed(1)}%)`}, always-valid 95% interval ${ab.lift.interval[0] === null ? '−∞' : formatMetric(ab.lift.interval[0])} – ${ab.lift.interval[1] === null ? '∞' : formatMetric(ab.lift.interval[1])}.`
        : `No lift yet: at least ${ab.minSamplePerArm} outcomes per arm.`,
      ab.unknownFeedback ? ` ${ab.unknownFeedback} feedback(s) for unknown request ids (404).` : '',
    ),
  );
}

function analysisSection(v: RolloutView): HTMLElement | string {
  const a = v.analysis;
  if (!a) return '';
  return el(
    'section',
    { class: 'section', id: 'analysis' },
    el('h2', {}, `Canary analysis of v${a.version} (deployment ${a.deploymentId}, ${a.status.replace('_', ' ')})`),
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['step', 'verdict', 'stable', 'canary', 'comparisons'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...a.steps.map((s) =>
          el(
            'tr',
            {},
            el('td', {}, s.step),
            el('td', { class: s.passed ? 'pass' : 'fail' }, s.passed ? '✓ passed' : '✗ failed'),
            el('td', {}, `v${s.stable.version}: ${s.stable.requests} req, ${pct(s.stable.errorRate)} err, p95 ${ms(s.stable.p95Ms)}`),
            el('td', {}, `v${s.canary.version}: ${s.canary.requests} req, ${pct(s.canary.errorRate)} err, p95 ${ms(s.canary.p95Ms)}`),
            el('td', {}, ...s.comparisons.map((c) => el('div', { class: c.passed ? 'pass' : 'fail' }, `${c.passed ? '✓' : '✗'} ${c.detail}`))),
          ),
        ),
      ),
    ),
  );
}

/** A teammate's gateway as they published it: the machine, up or down, each process's start and routes version (no pid, no port). */
function teammateGatewaySection(g: PublishedGatewayView): HTMLElement {
  const agree = g.processes.every((p) => p.routes === g.routes);
  return el(
    'section',
    { class: 'section', id: 'teammate-gateway' },
    el('h2', {}, `Their gateway on ${g.host}: ${g.health === 'up' ? 'up' : `down${g.detail ? ` · ${g.detail}` : ''}`}`),
    g.processes.length
      ? el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...['role', 'started', 'requests', 'in flight', 'routes'].map((h) => el('th', {}, h)))),
          el(
            'tbody',
            {},
            ...g.processes.map((p) =>
              el(
                'tr',
                {},
                el('td', {}, p.leaving ? `${p.role} · leaving` : p.role),
                el('td', {}, p.since === null ? '—' : new Date(p.since).toLocaleString()),
                el('td', { class: 'num' }, String(p.requests)),
                el('td', { class: 'num' }, p.inflight === null ? '—' : String(p.inflight)),
                el('td', { class: p.routes === g.routes ? '' : 'fail' }, p.routes),
              ),
            ),
          ),
        )
      : '',
    el(
      'p',
      { class: 'note' },
      `As checked on ${new Date(g.checkedAt).toLocaleString()}. Routes ${g.routes} set ${new Date(g.routesUpdatedAt).toLocaleString()}${
        g.processes.length ? (agree ? ', served by every process.' : '; a process still serves other routes (a change not yet taken).') : '.'
      }`,
    ),
  );
}

/** A teammate's rollout of a target of the same name, from the team's server: as they published it, read-only (no buttons). */
function renderTeammate(v: TeammateRolloutView): void {
  for (const c of charts.splice(0)) c.destroy();
  applyChartTheme();
  const [now] = v.deployments;
  const when = (at: number): string => new Date(at).toLocaleString();
  // their published rollout drawn by the same charts as this workspace's own; without one, their newest state's traffic
  const r = v.rollout;
  const view: RolloutView | undefined = r
    ? {
        target: v.target,
        gateway: false,
        strategy: r.strategy,
        serving: null,
        rolling: null,
        split: r.split,
        replicas: r.replicas ?? [],
        gatewayProcesses: [],
        window: r.window,
        servingLog: null,
        versions: r.versions,
        timeline: r.timeline,
        analysis: r.analysis,
        ab: r.ab ?? null,
        notes: [],
        actions: { promote: null, rollback: false, stop: null },
      }
    : undefined;
  const split = view ? view.split : [{ modelName: now!.modelName, version: now!.version, percent: now!.trafficPercent }];
  const total = split.reduce((a, p) => a + p.percent, 0) || 1;
  app.replaceChildren(
    el(
      'div',
      { class: 'header', id: 'teammate' },
      el('span', { class: 'big' }, `${v.target} · ${now!.modelName} v${now!.version} · ${now!.status.replace('_', ' ')}`),
      el('span', { class: 'note' }, `${v.publishedBy}'s workspace ${v.writer.slice(0, 8)}, from ${v.server ?? 'the team server'} · read-only`),
    ),
    v.problem ? el('p', { class: 'problem' }, `The server could not be read just now (${v.problem}): these are the last states read.`) : '',
    el(
      'div',
      { class: 'split', id: 'split', role: 'img', 'aria-label': `split: ${split.map((p) => `v${p.version} ${p.percent.toFixed(1)}%`).join(', ')}` },
      ...split.map((p, i) => {
        const part = el(
          'div',
          { title: `${p.modelName} v${p.version}: ${p.percent.toFixed(1)}%` },
          p.percent >= 8 ? `v${p.version} ${formatNumber(p.percent)}%` : '',
        );
        // the CSSOM, not a style attribute: the CSP allows no inline styles
        part.style.width = `${(100 * p.percent) / total}%`;
        part.style.background = view ? colourOf(view, p.version) : seriesColour(i);
        return part;
      }),
    ),
    el(
      'p',
      { class: 'note', id: 'teammate-published' },
      r
        ? v.live
          ? `Live: their split, traffic, latency${r.replicas?.length ? ', processes' : ''}${r.ab ? ' and A/B test' : ''} as their workspace published them on ${when(r.at)} while the rollout runs (every few seconds when it changes; their serving log's last ${Math.round((r.window.to - r.window.from) / 60_000)} minutes then). This page reads it again every 5 s.`
          : `Their split, traffic, latency${r.replicas?.length ? ', processes' : ''}${r.ab ? ' and A/B test' : ''} as they published them on ${when(r.at)} with their newest deployment state (their serving log's last ${Math.round((r.window.to - r.window.from) / 60_000)} minutes then).`
        : 'Their traffic, latency and canary analysis were not published (an older mloop): only their deployments’ states are.',
    ),
    r?.gatewayState ? teammateGatewaySection(r.gatewayState) : '',
    // during their A/B test its verdict and the arms' processes head the page; otherwise their traffic first, as here
    ...(view && view.ab
      ? [
          abSection(view),
          replicasSection(view, true),
          el('div', { class: 'grid3' }, shareCard(view), rateCard(view), latencyCard(view)),
          versionsSection(view),
          analysisSection(view),
        ]
      : view
        ? [
            el('div', { class: 'grid3' }, shareCard(view), rateCard(view), latencyCard(view)),
            replicasSection(view, true),
            versionsSection(view),
            analysisSection(view),
          ]
        : []),
    el(
      'section',
      { class: 'section' },
      el('h2', {}, `Their deployments to ${v.target}`),
      el(
        'table',
        { id: 'teammate-deployments' },
        el('thead', {}, el('tr', {}, ...['version', 'strategy', 'traffic', 'status', 'deployed', 'last state'].map((h) => el('th', {}, h)))),
        el(
          'tbody',
          {},
          ...v.deployments.map((d) =>
            el(
              'tr',
              {},
              el('td', {}, `${d.modelName} v${d.version}`),
              el('td', {}, d.strategy.replace('_', '/')),
              el('td', { class: 'num' }, `${formatNumber(d.trafficPercent)}%`),
              el(
                'td',
                { class: d.status === 'healthy' ? 'pass' : d.status === 'failed' || d.status === 'rolled_back' ? 'fail' : '' },
                d.status.replace('_', ' '),
              ),
              el('td', {}, when(d.createdAt)),
              el('td', {}, when(d.updatedAt)),
            ),
          ),
        ),
      ),
      el(
        'p',
        { class: 'note' },
        'Promote, Roll Back and Stop are theirs to run: their services run in their workspace. This workspace’s own rollout of the target opens from its own row.',
      ),
    ),
  );
}

api.listen({
  load: (message) => {
    api.setState({ target: message.view.target });
    render(message.view);
  },
  teammate: (message) => {
    api.setState({ target: message.view.target, writer: message.view.writer });
    renderTeammate(message.view);
  },
  problem: (message) => {
    app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message));
  },
});
