import { isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { lineageGraph, parseNodeId } from '../../core/lineage/graph';
import { parseWebviewMessage } from '../../protocol/common';
import { lineageViewStateSchema, lineageWebviewMessageSchema, LINEAGE_MAX_DEPTH, type LineageHostMessage } from '../../protocol/lineageMessages';
import { openMetricsPanel } from './metricsPanel';
import { panelHtml, webviewOptions, type PanelDeps } from './webviewHtml';

export const LINEAGE_VIEW_TYPE = 'mloop.lineage';

export interface LineagePanelDeps extends PanelDeps {
  /** Folder of mloop.yaml: relative data and script paths start here. */
  readonly projectRoot: () => string | undefined;
  /** Selects a row of an mloop view by its tree id; false when the row is not there. */
  readonly reveal: (viewId: string, treeNodeId: string) => Promise<boolean>;
}

/** The DAG around one node (dataset version → run → model version → deployment, code and drift too), depth adjustable. */
export class LineagePanel implements vscode.Disposable {
  private static current: LineagePanel | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  /** The last message posted: tests read what the page was given. */
  lastLoad: LineageHostMessage | undefined;

  static show(deps: LineagePanelDeps, root: string, depth = 3): LineagePanel {
    const existing = LineagePanel.current;
    if (existing) {
      existing.root = root;
      existing.depth = depth;
      existing.panel.reveal();
      if (existing.ready) void existing.load();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(LINEAGE_VIEW_TYPE, 'Lineage', vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new LineagePanel(panel, deps, root, depth);
  }

  static revive(panel: vscode.WebviewPanel, deps: LineagePanelDeps, state: unknown): LineagePanel | undefined {
    const parsed = lineageViewStateSchema.safeParse(state);
    if (!parsed.success) {
      deps.log.warn('lineage panel: saved state was unreadable; closing it');
      panel.dispose();
      return undefined;
    }
    LineagePanel.current?.dispose();
    panel.webview.options = webviewOptions(deps.extensionUri);
    return new LineagePanel(panel, deps, parsed.data.root, parsed.data.depth);
  }

  static get active(): LineagePanel | undefined {
    return LineagePanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: LineagePanelDeps,
    private root: string,
    private depth: number,
  ) {
    LineagePanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, 'lineage', 'Lineage');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      deps.onDidChangeStore(() => void (this.ready && this.load())),
    );
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(lineageWebviewMessageSchema, raw, (m) => this.deps.log.warn(`lineage panel: ${m}`));
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.load();
        return;
      case 'focus':
        this.root = message.nodeId;
        this.depth = message.depth;
        await this.load();
        return;
      case 'open':
        await openLineageNode(this.deps, message.nodeId);
        return;
      case 'error':
        this.deps.log.error(`lineage panel page: ${message.message}`);
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  private async load(): Promise<void> {
    let message: LineageHostMessage;
    try {
      const store = await this.deps.store();
      if (!store) {
        message = { type: 'problem', message: 'There is no mloop store in this workspace yet.' };
      } else {
        const graph = lineageGraph(store, this.root, { depth: Math.min(this.depth, LINEAGE_MAX_DEPTH) });
        const root = graph.nodes.find((n) => n.id === graph.root)!;
        this.panel.title = `Lineage: ${root.label}`;
        message = { type: 'load', root: graph.root, depth: this.depth, nodes: graph.nodes, edges: graph.edges, truncated: graph.truncated };
      }
    } catch (error) {
      this.deps.log.error(`lineage panel: ${(error as Error).message}`);
      message = { type: 'problem', message: (error as Error).message };
    }
    this.lastLoad = message;
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    if (LineagePanel.current === this) LineagePanel.current = undefined;
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** Reveals a node in its view, or opens what it stands for: a run's metrics, a script, a data file. */
export async function openLineageNode(deps: LineagePanelDeps, nodeId: string): Promise<void> {
  const parsed = parseNodeId(nodeId);
  if (!parsed) return;
  const store = await deps.store();
  if (!store) return;
  const root = deps.projectRoot() ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const openFile = async (path: string): Promise<void> => {
    const full = isAbsolute(path) || !root ? path : resolve(root, path);
    try {
      await vscode.window.showTextDocument(vscode.Uri.file(full), { preview: true, viewColumn: vscode.ViewColumn.Beside });
    } catch (error) {
      void vscode.window.showWarningMessage(`mloop: cannot open ${full}: ${(error as Error).message}`);
    }
  };
  switch (parsed.kind) {
    case 'run':
      openMetricsPanel(deps, [parsed.key]);
      await deps.reveal('mloop.runs', `run:${parsed.key}`);
      return;
    case 'model':
      await deps.reveal('mloop.models', `modelVersion:${parsed.key}`);
      return;
    case 'deployment':
      await deps.reveal('mloop.deployments', `deployment:${parsed.key}`);
      return;
    case 'dataset': {
      const revealed = await deps.reveal('mloop.datasets', `datasetVersion:${parsed.key}`);
      const path = store.db.prepare('SELECT path FROM dataset_version WHERE dataset_version_id = ?').pluck().get(Number(parsed.key)) as string | undefined;
      if (!revealed && path && !/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) await openFile(path);
      return;
    }
    case 'code': {
      const file = /^(?:nogit|[0-9a-f]{7,64}):(.+)$/.exec(parsed.key)?.[1];
      if (file) await openFile(file);
      return;
    }
    case 'drift':
      void vscode.window.showInformationMessage(`mloop: drift report ${parsed.key} — see "mloop drift show ${parsed.key}".`);
      return;
  }
}
