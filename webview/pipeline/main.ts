import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { PipelineHostMessage, PipelineStageMessage, PipelineWebviewMessage } from '../../src/protocol/pipelineMessages';
import { el, pageApi } from '../shared/vscodeApi';
import { layoutPipeline, STAGE_H, STAGE_W } from './layout';

type Load = Extract<PipelineHostMessage, { type: 'load' }>;

const api = pageApi<PipelineWebviewMessage, PipelineHostMessage>();
const app = document.getElementById('app')!;
const SVG = 'http://www.w3.org/2000/svg';

const STATUS_TEXT: Record<PipelineStageMessage['status'], string> = {
  'never-run': 'never run',
  'up-to-date': 'up to date',
  changed: 'changed',
  failed: 'failed',
};
/** Bumped on each load: a layout that finishes after a newer load is dropped. */
let generation = 0;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const fit = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

async function render(load: Load): Promise<void> {
  const mine = ++generation;
  const layout = await layoutPipeline(
    load.stages.map((s) => s.name),
    load.edges,
  );
  if (mine !== generation) return;
  const runAll = el('vscode-button', { id: 'run-all', disabled: load.running }, load.running ? 'Running…' : 'Run Pipeline');
  runAll.addEventListener('click', () => api.post({ type: 'run' }));
  const refresh = el('vscode-button', { secondary: true, id: 'refresh' }, 'Refresh');
  refresh.addEventListener('click', () => api.post({ type: 'refresh' }));
  const counts = Object.entries(STATUS_TEXT)
    .map(([status, text]) => [text, load.stages.filter((s) => s.status === status).length] as const)
    .filter(([, n]) => n > 0)
    .map(([text, n]) => `${n} ${text}`)
    .join(' · ');
  const toolbar = el(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'Pipeline' },
    el('strong', {}, `Pipeline · ${load.files.join(' + ')}`),
    runAll,
    refresh,
    el('span', { class: 'muted', id: 'summary' }, `${load.stages.length} stages · ${counts} · click a stage to open it, ▶ runs it and what it reads from`),
  );

  const { position, width, height } = layout;
  const canvas = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'pipeline stages', id: 'graph' });
  const defs = svg('defs', {});
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'edge-head' }));
  defs.append(marker);
  canvas.append(defs);
  for (const e of load.edges) {
    const a = position.get(e.from);
    const b = position.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + STAGE_W;
    const y1 = a.y + STAGE_H / 2;
    const x2 = b.x;
    const y2 = b.y + STAGE_H / 2;
    const bend = Math.max(24, Math.abs(x2 - x1) / 2);
    const path = svg('path', {
      d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      class: 'edge',
      'marker-end': 'url(#arrow)',
      'data-from': e.from,
      'data-to': e.to,
    });
    const title = svg('title', {});
    title.textContent = e.label;
    path.append(title);
    canvas.append(path);
  }
  for (const stage of load.stages) {
    const p = position.get(stage.name);
    if (!p) continue;
    const group = svg('g', {
      class: `node stage stage-${stage.status}`,
      transform: `translate(${p.x} ${p.y})`,
      tabindex: 0,
      role: 'button',
      'data-stage': stage.name,
      'data-status': stage.status,
      'aria-label': `stage ${stage.name}: ${STATUS_TEXT[stage.status]} (${stage.reason})`,
    });
    group.append(svg('rect', { width: STAGE_W, height: STAGE_H, rx: 5 }));
    const name = svg('text', { x: 10, y: 19, class: 'node-label' });
    name.textContent = fit(stage.name, 22);
    const status = svg('text', { x: 10, y: 36, class: 'node-kind stage-status' });
    status.textContent = STATUS_TEXT[stage.status];
    const reason = svg('text', { x: 10, y: 51, class: 'node-detail' });
    reason.textContent = fit(stage.status === 'up-to-date' ? stage.command : stage.reason, 33);
    const run = svg('text', { x: STAGE_W - 22, y: 21, class: 'stage-run', role: 'button', 'aria-label': `run ${stage.name}` });
    run.textContent = '▶';
    const title = svg('title', {});
    title.textContent = `${stage.name} (${stage.where})\n${STATUS_TEXT[stage.status]}: ${stage.reason}\n$ ${stage.command}\ndeps: ${stage.deps.join(', ') || '—'}\nouts: ${stage.outs.join(', ') || '—'}`;
    group.append(title, name, status, reason, run);
    run.addEventListener('click', (event) => {
      event.stopPropagation();
      api.post({ type: 'run', stage: stage.name });
    });
    group.addEventListener('click', () => api.post({ type: 'open', stage: stage.name }));
    group.addEventListener('keydown', (event) => {
      const key = (event as KeyboardEvent).key;
      if (key === 'Enter') api.post({ type: 'open', stage: stage.name });
      if (key === 'r') api.post({ type: 'run', stage: stage.name });
    });
    canvas.append(group);
  }
  app.replaceChildren(toolbar, el('div', { class: 'graph-scroll' }, canvas));
}

api.listen({ load: (message) => void render(message) });
