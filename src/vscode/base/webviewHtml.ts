import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Backend } from '../../core/backends/backend';
import type { Store } from '../../core/store/store';
import type { PanelKind } from '../../shared/panels';

/** What a panel needs from the extension: passed in, never looked up. */
export interface PanelDeps {
  /** The workspace store, or undefined when there is none yet (panels never create one). */
  readonly store: () => Promise<Store | undefined>;
  /** Fires (debounced) when the store changed on disk; live charts re-query only new points. */
  readonly onDidChangeStore: vscode.Event<void>;
  readonly log: vscode.LogOutputChannel;
  readonly extensionUri: vscode.Uri;
  /** Per-workspace memory of view choices (the table's grouping and pinned columns); absent in some tests. */
  readonly workspaceState?: vscode.Memento;
  /** The MLflow server runs are read from when mloop.backend = mlflow (undefined: the store); absent in some tests. */
  readonly runsServer?: () => Promise<Pick<Backend, 'searchRuns' | 'listExperiments' | 'location'> | undefined>;
}

/** The only folders a panel's page may load from. */
export function localResourceRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [
    vscode.Uri.joinPath(extensionUri, 'dist', 'webview'),
    vscode.Uri.joinPath(extensionUri, 'media'),
    vscode.Uri.joinPath(extensionUri, 'node_modules', '@vscode', 'codicons', 'dist'),
  ];
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  // retainContextWhenHidden stays false: a hidden panel costs no memory; the page restores itself from setState
  return { enableScripts: true, retainContextWhenHidden: false, localResourceRoots: localResourceRoots(extensionUri) };
}

/**
 * The page of a panel: the bundle `dist/webview/<entry>.js` under a CSP that allows nothing but that
 * nonce'd script, our own styles and fonts (codicons), and images from the extension or data: URIs.
 * Lit (vscode-elements) styles through adoptedStyleSheets, which this CSP permits.
 */
export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, entry: PanelKind, title: string): string {
  const nonce = randomBytes(18).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${entry}.js`));
  const codicons = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'node_modules', '@vscode', 'codicons', 'dist', 'codicon.css'));
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${codicons.toString()}" id="vscode-codicon-stylesheet">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${PAGE_CSS}</style>
</head>
<body>
<main id="app" aria-live="polite"><p class="muted">Loading…</p></main>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Shared look of both panels; colours only from the theme's variables. */
const PAGE_CSS = `
[hidden] { display: none !important; }
body { padding: 0 16px 24px; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
.muted { color: var(--vscode-descriptionForeground); }
.toolbar { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 12px 18px; align-items: center; padding: 10px 0; background: var(--vscode-editor-background); border-bottom: 1px solid var(--vscode-panel-border); }
.toolbar label { display: inline-flex; gap: 6px; align-items: center; }
.toolbar input[type=range] { width: 120px; accent-color: var(--vscode-focusBorder); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 8px 0; max-height: 140px; overflow: auto; }
.legend button { all: unset; cursor: pointer; display: inline-flex; gap: 6px; align-items: center; padding: 1px 4px; border-radius: 3px; }
.legend button:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
.legend button[aria-pressed=false] { opacity: .45; text-decoration: line-through; }
.swatch { width: 14px; height: 3px; border-radius: 2px; display: inline-block; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; padding-top: 8px; }
.chart-card { border: 1px solid var(--vscode-panel-border); border-radius: 4px; padding: 8px 10px; }
.bar-row { display: grid; grid-template-columns: minmax(6em, 30%) 1fr auto; gap: 8px; align-items: center; margin: 3px 0; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-track { height: 12px; background: var(--vscode-editorWidget-background); }
.bar-fill { display: block; height: 100%; }
.bar-value { font-variant-numeric: tabular-nums; }
.bar-value.best { font-weight: 600; }
.chart-card h2, .section h2 { font-size: 1.05em; font-weight: 600; margin: 0 0 6px; }
.chart-box { position: relative; height: 260px; }
.note { font-size: .9em; color: var(--vscode-descriptionForeground); margin: 4px 0 0; }
.section { margin-top: 18px; }
.table-wrap { overflow: auto; max-height: 420px; }
.diff { background: var(--vscode-diffEditor-insertedTextBackground, rgba(155,185,85,.2)); }
.better { color: var(--vscode-charts-green); }
.worse { color: var(--vscode-charts-red); }
.changed { font-weight: 600; }
.delta { font-size: .85em; margin-left: 4px; }
.baseline { font-weight: 600; }
th button.sort { all: unset; cursor: pointer; }
th button.sort:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
table.plain { border-collapse: collapse; width: 100%; }
table.plain th, table.plain td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border); white-space: nowrap; }
table.plain th { position: sticky; top: 0; background: var(--vscode-editor-background); }
table.plain td.num { text-align: right; font-variant-numeric: tabular-nums; }
.problem { color: var(--vscode-errorForeground); }
.graph-wrap { overflow: auto; padding-top: 10px; }
.node { cursor: pointer; }
.node rect { fill: var(--vscode-editorWidget-background); stroke: var(--vscode-panel-border); stroke-width: 1; }
.node:focus { outline: none; }
.node:focus rect, .node:hover rect { stroke: var(--vscode-focusBorder); stroke-width: 2; }
.node.root rect { stroke: var(--vscode-charts-yellow); stroke-width: 2.5; }
.node-kind { fill: var(--vscode-descriptionForeground); font-size: 11px; text-transform: uppercase; }
.node-label { fill: var(--vscode-foreground); font-weight: 600; font-size: 12px; }
.node-detail { fill: var(--vscode-descriptionForeground); font-size: 11px; }
.node-dataset .node-kind { fill: var(--vscode-charts-blue); }
.node-code .node-kind { fill: var(--vscode-charts-purple); }
.node-run .node-kind { fill: var(--vscode-charts-green); }
.node-model .node-kind { fill: var(--vscode-charts-yellow); }
.node-deployment .node-kind { fill: var(--vscode-charts-orange); }
.node-drift .node-kind { fill: var(--vscode-charts-red); }
.edge { fill: none; stroke: var(--vscode-descriptionForeground); stroke-width: 1.4; opacity: .8; }
.edge-head { fill: var(--vscode-descriptionForeground); }
.edge-code { stroke-dasharray: 4 3; }
.graph-scroll { overflow: auto; padding-top: 8px; }
.stage-up-to-date rect { stroke: var(--vscode-charts-green); stroke-width: 2; }
.stage-up-to-date .stage-status { fill: var(--vscode-charts-green); }
.stage-changed rect { stroke: var(--vscode-charts-yellow); stroke-width: 2; }
.stage-changed .stage-status { fill: var(--vscode-charts-yellow); }
.stage-failed rect { stroke: var(--vscode-charts-red); stroke-width: 2; }
.stage-failed .stage-status { fill: var(--vscode-charts-red); }
.stage-never-run rect { stroke-dasharray: 5 3; }
.stage-run { fill: var(--vscode-charts-green); font-size: 14px; cursor: pointer; }
.grid-scroll { position: relative; overflow: auto; height: calc(100vh - 110px); border: 1px solid var(--vscode-panel-border); }
.grid-scroll:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
.grid-header { position: sticky; top: 0; z-index: 1; display: flex; background: var(--vscode-editor-background); border-bottom: 1px solid var(--vscode-panel-border); font-weight: 600; }
.grid-body { position: relative; }
.grid-row { position: absolute; top: 0; left: 0; display: flex; height: 24px; align-items: center; cursor: default; }
.grid-row:hover { background: var(--vscode-list-hoverBackground); }
.grid-row.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
.grid-cell { flex: none; box-sizing: border-box; padding: 0 8px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.grid-spacer { flex: none; height: 1px; }
.grid-cell.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid-cell.head { padding: 4px 8px; }
.chart-card.wide { grid-column: 1 / -1; }
.pc-box { overflow-x: auto; }
.pc-line { fill: none; stroke-width: 1.2; opacity: 0.7; cursor: pointer; }
.pc-line:hover, .pc-line.focused { stroke-width: 3; opacity: 1; }
.pc-axis line { stroke: var(--vscode-foreground); stroke-width: 1; }
.pc-axis text { fill: var(--vscode-foreground); font-size: 11px; }
.pc-axis.metric .pc-name { fill: var(--vscode-charts-blue); font-weight: 600; }
.pc-tick { opacity: 0.8; }
.bar-cell { width: 35%; }
.bar-cell .bar { height: 10px; background: var(--vscode-charts-blue); }
.bar-cell .bar.negative { background: var(--vscode-charts-orange); }
button.link { background: none; border: none; padding: 0; color: var(--vscode-textLink-foreground); cursor: pointer; font: inherit; }
.grid-cell.pinned { position: sticky; z-index: 1; background: var(--vscode-editor-background); }
.grid-row.selected .grid-cell.pinned { background: var(--vscode-list-activeSelectionBackground); }
.grid-row.group-start { border-top: 1px solid var(--vscode-panel-border); }
.grid-cell.group-cell:not(.head) { font-weight: 600; }
.grid-row.best .grid-cell { color: var(--vscode-charts-green); }
.grid-cell.head { display: flex; align-items: center; gap: 2px; }
.grid-cell.head button.pin { opacity: 0.35; background: none; border: none; color: inherit; cursor: pointer; padding: 0 2px; }
.grid-cell.head:hover button.pin, .grid-cell.head button.pin[aria-pressed='true'] { opacity: 1; }
.grid-cell.head.metric { color: var(--vscode-charts-blue); }
.grid-cell.head.param { color: var(--vscode-charts-purple); }
.grid-cell.active { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
.grid-cell.head button.aggregate { background: none; border: 1px solid var(--vscode-panel-border); color: inherit; cursor: pointer; font-size: 0.8em; padding: 0 3px; border-radius: 2px; }
.grid-cell.head.drop-target { box-shadow: inset 2px 0 0 var(--vscode-focusBorder); }
.grid-cell.head { position: relative; }
.grid-cell.head.pinned { position: sticky; }
.grid-cell.head .resize-grip { position: absolute; top: 0; right: 0; width: 6px; height: 100%; cursor: col-resize; border-right: 2px solid var(--vscode-panel-border); box-sizing: border-box; touch-action: none; }
.grid-cell.head .resize-grip:hover, .grid-cell.head .resize-grip.dragging { border-right-color: var(--vscode-focusBorder); }
.grid-cell.pending { color: var(--vscode-disabledForeground); }
.column-chooser { border: 1px solid var(--vscode-panel-border); padding: 6px; margin: 4px 0; max-height: 40vh; overflow: auto; }
.column-chooser .chooser-row { display: flex; align-items: center; gap: 6px; padding: 1px 0; }
.column-chooser .chooser-row .label { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.column-chooser button { background: none; border: none; color: inherit; cursor: pointer; padding: 0 3px; }
.column-chooser button:disabled { opacity: 0.3; cursor: default; }
.status-failed, .status-killed { color: var(--vscode-errorForeground); }
.status-running { color: var(--vscode-charts-blue); }
#filter { flex: 1 1 420px; }
#filter-error { margin: 4px 0 8px; }
.error-text { white-space: pre; }
.error-text mark { background: var(--vscode-inputValidation-errorBackground, rgba(255,0,0,.3)); color: inherit; outline: 1px solid var(--vscode-inputValidation-errorBorder, red); }
`;
