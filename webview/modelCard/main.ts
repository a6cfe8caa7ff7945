import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { ModelCardHostMessage, ModelCardView, ModelCardWebviewMessage } from '../../src/protocol/modelCardMessages';
import { clip, layoutLineage, LINEAGE_BOX } from '../../src/shared/lineageLayout';
import { el, pageApi } from '../shared/vscodeApi';

const api = pageApi<ModelCardWebviewMessage, ModelCardHostMessage>();
const app = document.getElementById('app')!;

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.toolbar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; padding: 8px 0; }
.card { max-width: 64rem; }
.card table { border-collapse: collapse; margin: 4px 0 12px; }
.card th, .card td { border: 1px solid var(--vscode-panel-border, #444); padding: 2px 8px; text-align: left; vertical-align: top; }
.card th { background: var(--vscode-editorWidget-background); }
.card code { font-family: var(--vscode-editor-font-family); word-break: break-all; }
.lineage { overflow-x: auto; }
.lineage svg { color: var(--vscode-foreground); font-family: var(--vscode-font-family); }
.lineage rect { fill: var(--vscode-editorWidget-background); stroke: var(--vscode-panel-border, #888); }
.lineage .node-model rect { stroke: var(--vscode-charts-green, #3fb950); stroke-width: 2; }
.lineage text { fill: currentColor; }
.lineage text.detail { opacity: 0.75; }
.card h2 { border-bottom: 1px solid var(--vscode-panel-border, #444); margin-top: 24px; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

/** Text with `code` spans as nodes: the store's text is never parsed as HTML. */
function inline(text: string): (Node | string)[] {
  return text.split('`').map((part, i) => (i % 2 === 1 ? el('code', {}, part) : part));
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

type GraphBlock = Extract<ModelCardView['blocks'][number], { kind: 'graph' }>;

/** The lineage graph as SVG built node by node (text as text nodes, never markup), laid out like the HTML card. */
function lineageSvg(b: GraphBlock): Element {
  if (b.nodes.length === 0) return el('p', {}, b.none);
  const layout = layoutLineage(b.nodes, b.edges);
  const { width, height } = LINEAGE_BOX;
  const root = svgEl('svg', { id: 'lineage', role: 'img', 'aria-label': 'lineage graph', width: layout.width, height: layout.height, 'font-size': 11 });
  for (const e of layout.edges) {
    root.append(
      svgEl(
        'g',
        { class: 'edge' },
        svgEl('title', {}, e.relation),
        svgEl('line', { x1: e.x1, y1: e.y1, x2: e.x2, y2: e.y2, stroke: 'currentColor', 'stroke-opacity': 0.6 }),
        svgEl('polygon', { points: `${e.x2},${e.y2} ${e.x2 - 7},${e.y2 - 4} ${e.x2 - 7},${e.y2 + 4}`, fill: 'currentColor' }),
      ),
    );
  }
  for (const n of layout.nodes) {
    root.append(
      svgEl(
        'g',
        { class: `node node-${n.kind}`, 'data-id': n.id },
        svgEl('title', {}, `${n.kind}: ${n.label}${n.detail ? ` (${n.detail})` : ''}`),
        svgEl('rect', { x: n.x, y: n.y, width, height, rx: 4 }),
        svgEl('text', { x: n.x + 6, y: n.y + 16, 'font-weight': 600 }, clip(n.label)),
        svgEl('text', { x: n.x + 6, y: n.y + 32, class: 'detail' }, clip(`${n.kind}${n.detail ? ` · ${n.detail}` : ''}`, 34)),
      ),
    );
  }
  return el('div', { class: 'lineage' }, root as unknown as Node);
}

function render(view: ModelCardView): void {
  const select = el('vscode-single-select', { id: 'compare-with', 'aria-label': 'compare with version' }) as HTMLElement & { value: string };
  select.append(el('vscode-option', { value: '' }, 'the card alone'));
  for (const v of view.versions.filter((x) => x.version !== view.version)) {
    select.append(el('vscode-option', { value: String(v.version), selected: v.version === view.compareWith }, `changes since ${v.label}`));
  }
  select.value = view.compareWith === null ? '' : String(view.compareWith);
  select.addEventListener('change', () => api.post({ type: 'compare', version: select.value ? Number(select.value) : null }));
  const save = (format: 'md' | 'html' | 'json', label: string): HTMLElement => {
    const button = el('vscode-button', { secondary: true, id: `save-${format}`, title: `Save what is shown as ${label}` }, `Save as ${label}`);
    button.addEventListener('click', () => api.post({ type: 'save', format }));
    return button;
  };
  const card = el('article', { class: 'card', id: 'card' });
  for (const b of view.blocks) {
    if (b.kind === 'heading') card.append(el(`h${b.level}`, {}, ...inline(b.text)));
    else if (b.kind === 'text') card.append(el('p', {}, ...inline(b.text)));
    else if (b.kind === 'list') card.append(el('ul', {}, ...b.items.map((i) => el('li', {}, ...inline(i)))));
    else if (b.kind === 'graph') card.append(lineageSvg(b));
    else if (b.rows.length === 0) card.append(el('p', {}, b.none));
    else
      card.append(
        el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...b.headers.map((h) => el('th', {}, h)))),
          el('tbody', {}, ...b.rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, String(c ?? '—')))))),
        ),
      );
  }
  app.replaceChildren(el('div', { class: 'toolbar' }, select, save('md', 'Markdown'), save('html', 'HTML'), save('json', 'JSON')), card);
}

api.listen({
  card: (message) => render(message.view),
  problem: (message) => app.replaceChildren(el('p', { class: 'problem', id: 'problem' }, message.message)),
});
