import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { LineageHostMessage, LineageNodeMessage, LineageViewState, LineageWebviewMessage } from '../../src/protocol/lineageMessages';
import { LINEAGE_MAX_DEPTH } from '../../src/shared/panels';
import { el, pageApi } from '../shared/vscodeApi';
import { layoutLineage, NODE_H, NODE_W } from './layout';

type Load = Extract<LineageHostMessage, { type: 'load' }>;

const api = pageApi<LineageWebviewMessage, LineageHostMessage, LineageViewState>();
const app = document.getElementById('app')!;
const SVG = 'http://www.w3.org/2000/svg';

const ICON: Record<LineageNodeMessage['kind'], string> = {
  dataset: 'database',
  code: 'file-code',
  drift: 'pulse',
  run: 'play-circle',
  model: 'package',
  deployment: 'rocket',
};
let graph: Load | undefined;
/** Bumped on each load: a layout that finishes after a newer load is dropped. */
let generation = 0;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Cuts a label to fit a node (SVG text does not wrap). */
const fit = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

async function render(): Promise<void> {
  const mine = ++generation;
  if (!graph) return app.replaceChildren();
  const g = graph;
  const layout = await layoutLineage(g.nodes, g.edges);
  if (mine !== generation) return;
  app.replaceChildren();
  api.setState({ root: g.root, depth: g.depth, origin: g.origin });

  const depth = el('input', {
    type: 'range',
    min: '0',
    max: String(LINEAGE_MAX_DEPTH),
    value: String(g.depth),
    id: 'depth',
    'aria-label': 'depth',
  }) as HTMLInputElement;
  const depthValue = el('span', { id: 'depth-value' }, String(g.depth));
  depth.addEventListener('input', () => (depthValue.textContent = depth.value));
  depth.addEventListener('change', () => api.post({ type: 'focus', nodeId: g.root, depth: Number(depth.value) }));
  const root = g.nodes.find((n) => n.id === g.root);
  const open = el('vscode-button', { secondary: true, id: 'open-root' }, 'Reveal');
  open.addEventListener('click', () => api.post({ type: 'open', nodeId: g.root }));
  app.append(
    el(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Lineage options' },
      el('strong', {}, root ? `${root.kind} ${root.label}` : g.root),
      el('label', {}, 'depth', depth, depthValue),
      open,
      el(
        'span',
        { class: 'muted' },
        `${g.source ? `${g.source} · ` : ''}${g.nodes.length} nodes · ${g.edges.length} edges${g.truncated ? ' · truncated: lower the depth' : ''} · click a node to centre on it, double-click to reveal it`,
      ),
    ),
  );

  const { position, width, height } = layout;
  const canvas = svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `lineage graph of ${root?.label ?? g.root}`,
    id: 'graph',
  });
  const defs = svg('defs', {});
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'edge-head' }));
  defs.append(marker);
  canvas.append(defs);

  for (const e of g.edges) {
    const a = position.get(e.from);
    const b = position.get(e.to);
    if (!a || !b) continue;
    // from the facing sides: an edge whose source sits to the right of its target is drawn right to left
    const rightward = a.x <= b.x;
    const x1 = rightward ? a.x + NODE_W : a.x;
    const y1 = a.y + NODE_H / 2;
    const x2 = rightward ? b.x : b.x + NODE_W;
    const y2 = b.y + NODE_H / 2;
    const bend = Math.max(30, Math.abs(x2 - x1) / 2) * (rightward ? 1 : -1);
    const path = svg('path', {
      d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      class: `edge edge-${e.relation}`,
      'marker-end': 'url(#arrow)',
      'data-from': e.from,
      'data-to': e.to,
    });
    const title = svg('title', {});
    title.textContent = e.relation;
    path.append(title);
    canvas.append(path);
  }

  for (const n of g.nodes) {
    const p = position.get(n.id)!;
    const group = svg('g', {
      class: `node node-${n.kind}${n.id === g.root ? ' root' : ''}`,
      transform: `translate(${p.x} ${p.y})`,
      tabindex: 0,
      role: 'button',
      'data-id': n.id,
      'aria-label': `${n.kind} ${n.label}: ${n.detail}`,
    });
    group.append(svg('rect', { width: NODE_W, height: NODE_H, rx: 5 }));
    const kind = svg('text', { x: 10, y: 18, class: 'node-kind' });
    kind.textContent = n.kind;
    // widths by eye for 11px uppercase and 12px bold text: SVG text neither wraps nor clips
    const labelX = 10 + Math.ceil(n.kind.length * 8) + 6;
    const label = svg('text', { x: labelX, y: 18, class: 'node-label' });
    label.textContent = fit(n.label, Math.floor((NODE_W - labelX - 8) / 7.8));
    const detail = svg('text', { x: 10, y: 37, class: 'node-detail' });
    detail.textContent = fit(n.detail, Math.floor((NODE_W - 20) / 6.2));
    const title = svg('title', {});
    title.textContent = `${n.kind} ${n.label}\n${n.detail}\n(${ICON[n.kind]})`;
    group.append(title, kind, label, detail);
    const focus = (): void => api.post({ type: 'focus', nodeId: n.id, depth: g.depth });
    const reveal = (): void => api.post({ type: 'open', nodeId: n.id });
    let clickTimer: number | undefined;
    group.addEventListener('click', () => {
      window.clearTimeout(clickTimer);
      clickTimer = window.setTimeout(focus, 250);
    });
    group.addEventListener('dblclick', () => {
      window.clearTimeout(clickTimer);
      reveal();
    });
    group.addEventListener('keydown', (event) => {
      const key = (event as KeyboardEvent).key;
      if (key === 'Enter') focus();
      if (key === 'o' || key === ' ') reveal();
    });
    canvas.append(group);
  }
  app.append(el('div', { class: 'graph-wrap' }, canvas as unknown as HTMLElement));
  fitToPanel();
}

/**
 * A graph wider than the panel shrinks to fit it, down to 60 % (smaller text stops being readable);
 * beyond that the panel scrolls. The viewBox keeps the drawing's proportions.
 */
function fitToPanel(): void {
  const canvas = document.getElementById('graph');
  const wrap = canvas?.parentElement;
  if (!canvas || !wrap) return;
  const natural = Number(canvas.getAttribute('width'));
  const height = Number(canvas.getAttribute('height'));
  const available = wrap.clientWidth - 2;
  const scale = available > 0 && natural > available ? Math.max(0.6, available / natural) : 1;
  canvas.style.width = `${Math.round(natural * scale)}px`;
  canvas.style.height = `${Math.round(height * scale)}px`;
}

window.addEventListener('resize', fitToPanel);

api.listen({
  load: (message) => {
    graph = message;
    void render();
  },
});
