import { clip, layoutLineage, LINEAGE_BOX, type LayoutEdge, type LayoutNode } from '../../shared/lineageLayout';
/**
 * A model card (or a comparison of two) as plain blocks, rendered to Markdown or to one self-contained HTML page.
 * Text may hold `code` spans; nothing else is markup, so every byte from the store is escaped on the way out.
 */
export type CardCell = string | number | boolean | null;
export type CardBlock =
  | { readonly kind: 'heading'; readonly level: 1 | 2 | 3; readonly text: string }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'table'; readonly headers: readonly string[]; readonly rows: readonly (readonly CardCell[])[]; readonly none: string }
  /** A lineage graph: a mermaid flowchart in Markdown, an inline SVG in HTML. */
  | { readonly kind: 'graph'; readonly nodes: readonly LayoutNode[]; readonly edges: readonly LayoutEdge[]; readonly none: string };

export const graph = (nodes: readonly LayoutNode[], edges: readonly LayoutEdge[], none = 'None.'): CardBlock => ({ kind: 'graph', nodes, edges, none });
export const heading = (level: 1 | 2 | 3, text: string): CardBlock => ({ kind: 'heading', level, text });
export const text = (value: string): CardBlock => ({ kind: 'text', text: value });
export const list = (items: readonly string[]): CardBlock => ({ kind: 'list', items });
export const table = (headers: readonly string[], rows: readonly (readonly CardCell[])[], none = 'None.'): CardBlock => ({
  kind: 'table',
  headers,
  rows,
  none,
});

const mdCell = (value: CardCell): string =>
  String(value ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');

export function blocksToMarkdown(blocks: readonly CardBlock[]): string {
  const parts = blocks.map((b): string => {
    switch (b.kind) {
      case 'heading':
        return `${'#'.repeat(b.level)} ${b.text}`;
      case 'text':
        return b.text;
      case 'list':
        return b.items.map((i) => `- ${i}`).join('\n');
      case 'graph':
        return b.nodes.length === 0 ? b.none : mermaid(b.nodes, b.edges);
      case 'table':
        return b.rows.length === 0
          ? b.none
          : [`| ${b.headers.join(' | ')} |`, `|${b.headers.map(() => '---').join('|')}|`, ...b.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`)].join('\n');
    }
  });
  return `${parts.join('\n\n')}\n`;
}

/** Mermaid's own entity codes: a label can hold any text without ending its quotes or becoming markup. */
const mermaidText = (value: string): string => value.replace(/[#"<>&]/g, (c) => `#${c.charCodeAt(0)};`);

function mermaid(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[]): string {
  const key = new Map(nodes.map((n, i) => [n.id, `n${i}`]));
  return [
    '```mermaid',
    'flowchart LR',
    ...nodes.map((n) => `  ${key.get(n.id)}["${mermaidText(`${n.kind}: ${n.label}`)}${n.detail ? `<br/>${mermaidText(n.detail)}` : ''}"]`),
    ...edges.flatMap((e) => {
      const a = key.get(e.from);
      const b = key.get(e.to);
      return a && b ? [`  ${a} -->|${mermaidText(e.relation)}| ${b}`] : [];
    }),
    '```',
  ].join('\n');
}

/** Fill colours per node kind (no external stylesheet: the page stays self-contained). */
const KIND_FILL: Record<string, string> = {
  dataset: '#ddf4ff',
  code: '#f6f8fa',
  run: '#fff8c5',
  model: '#dafbe1',
  deployment: '#fbefff',
  drift: '#ffebe9',
};

function svg(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[]): string {
  const layout = layoutLineage(nodes, edges);
  const { width, height } = LINEAGE_BOX;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lineage graph" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="system-ui,sans-serif" font-size="11">`,
  ];
  for (const e of layout.edges) {
    // the arrow head is a polygon: a marker would need url(#…), which the page's rules keep out
    parts.push(
      `<g class="edge"><title>${escapeHtml(e.relation)}</title><line x1="${e.x1}" y1="${e.y1}" x2="${e.x2}" y2="${e.y2}" stroke="#57606a"/><polygon points="${e.x2},${e.y2} ${e.x2 - 7},${e.y2 - 4} ${e.x2 - 7},${e.y2 + 4}" fill="#57606a"/></g>`,
    );
  }
  for (const n of layout.nodes) {
    parts.push(
      `<g class="node"><title>${escapeHtml(`${n.kind}: ${n.label}${n.detail ? ` (${n.detail})` : ''}`)}</title><rect x="${n.x}" y="${n.y}" width="${width}" height="${height}" rx="4" fill="${KIND_FILL[n.kind] ?? '#ffffff'}" stroke="#8c959f"/><text x="${n.x + 6}" y="${n.y + 16}" font-weight="600">${escapeHtml(clip(n.label))}</text><text x="${n.x + 6}" y="${n.y + 32}" fill="#57606a">${escapeHtml(clip(`${n.kind}${n.detail ? ` · ${n.detail}` : ''}`, 34))}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
/** Escapes, then turns `code` spans (the only markup cards write) into <code>. */
const inline = (value: string): string => escapeHtml(value).replace(/`([^`]*)`/g, '<code>$1</code>');

/** No script, no external resource: the page opens the same from a file, an e-mail or an archive. */
const STYLE = [
  'body{font:14px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}',
  'table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}',
  'th{background:#f6f8fa}code{font:12px ui-monospace,monospace;background:#f6f8fa;padding:0 .2rem;word-break:break-all}',
  'h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;margin-top:2rem}h3{font-size:1.05rem}',
].join('');

export function blocksToHtml(title: string, blocks: readonly CardBlock[]): string {
  const body = blocks.map((b): string => {
    switch (b.kind) {
      case 'heading':
        return `<h${b.level}>${inline(b.text)}</h${b.level}>`;
      case 'text':
        return `<p>${inline(b.text)}</p>`;
      case 'graph':
        return b.nodes.length === 0 ? `<p>${inline(b.none)}</p>` : svg(b.nodes, b.edges);
      case 'list':
        return `<ul>\n${b.items.map((i) => `<li>${inline(i)}</li>`).join('\n')}\n</ul>`;
      case 'table':
        return b.rows.length === 0
          ? `<p>${inline(b.none)}</p>`
          : [
              '<table>',
              `<thead><tr>${b.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
              '<tbody>',
              ...b.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c ?? '—'))}</td>`).join('')}</tr>`),
              '</tbody>',
              '</table>',
            ].join('\n');
    }
  });
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
