import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { ModelCardHostMessage, ModelCardView, ModelCardWebviewMessage } from '../../src/protocol/modelCardMessages';
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
.card h2 { border-bottom: 1px solid var(--vscode-panel-border, #444); margin-top: 24px; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

/** Text with `code` spans as nodes: the store's text is never parsed as HTML. */
function inline(text: string): (Node | string)[] {
  return text.split('`').map((part, i) => (i % 2 === 1 ? el('code', {}, part) : part));
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
