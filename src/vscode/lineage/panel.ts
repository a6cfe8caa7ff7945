import { isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { lineageGraph, parseNodeId } from '../../core/lineage/graph';
import { parseWebviewMessage } from '../../protocol/common';
import type { LineageGraph } from '../../core/lineage/graph';
import { lineageViewStateSchema, lineageWebviewMessageSchema, LINEAGE_MAX_DEPTH, type LineageHostMessage, type LineageOrigin } from '../../protocol/lineageMessages';
import { openMetricsPanel } from '../runs/metricsPanel';
import { panelHtml, webviewOptions, type PanelDeps } from '../base/webviewHtml';

export const LINEAGE_VIEW_TYPE = 'mloop.lineage';

export interface LineagePanelDeps extends PanelDeps {
  /** Folder of mloop.yaml: relative data and script paths start here. */
  readonly projectRoot: () => string | undefined;
  /** Selects a row of an mloop view by its tree id; false when the row is not there. */
  readonly reveal: (viewId: string, treeNodeId: string) => Promise<boolean>;
  /** The MLflow server's lineage (mloop.backend = mlflow); absent or undefined when there is no server backend. */
  readonly server?: ServerLineageDeps;
}

export interface ServerLineageDeps {
  /** The server's URI, for the panel's caption; undefined when mloop.backend is not mlflow. */
  location(): string | undefined;
  graph(root: string, depth: number, signal: AbortSignal): Promise<LineageGraph>;
  /** Fires when the backend settings or token change. */
  readonly onDidChange: vscode.Event<void>;
}

/** A server walk that takes longer than this shows a cancellable notification. */
const SERVER_PROGRESS_AFTER_MS = 400;

/** The DAG around one node (dataset version → run → model version → deployment, code and drift too), depth adjustable. */
export class LineagePanel implements vscode.Disposable {
  private static current: LineagePanel | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  /** The last message posted: tests read what the page was given. */
  lastLoad: LineageHostMessage | undefined;

  static show(deps: LineagePanelDeps, root: string, depth = 3, origin: LineageOrigin = 'store'): LineagePanel {
    const existing = LineagePanel.current;
    if (existing) {
      existing.root = root;
      existing.depth = depth;
      existing.origin = origin;
      existing.panel.reveal();
      if (existing.ready) void existing.load();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(LINEAGE_VIEW_TYPE, 'Lineage', vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
    return new LineagePanel(panel, deps, root, depth, origin);
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
    return new LineagePanel(panel, deps, parsed.data.root, parsed.data.depth, parsed.data.origin);
  }

  static get active(): LineagePanel | undefined {
    return LineagePanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly deps: LineagePanelDeps,
    private root: string,
    private depth: number,
    private origin: LineageOrigin,
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
      // a server graph is re-read when the backend changes, not on every local store write
      deps.onDidChangeStore(() => void (this.ready && this.origin === 'store' && this.load())),
    );
    if (deps.server) this.disposables.push(deps.server.onDidChange(() => void (this.ready && this.origin === 'server' && this.load())));
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
        await (this.origin === 'server' ? openServerLineageNode(this.deps, message.nodeId) : openLineageNode(this.deps, message.nodeId));
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

  /** The walk in flight: a newer focus or depth cancels it. */
  private loading: AbortController | undefined;

  private async load(): Promise<void> {
    this.loading?.abort();
    const loading = (this.loading = new AbortController());
    let message: LineageHostMessage;
    try {
      const depth = Math.min(this.depth, LINEAGE_MAX_DEPTH);
      let graph: LineageGraph | undefined;
      let source: string | undefined;
      if (this.origin === 'server') {
        const server = this.deps.server;
        const location = server?.location();
        if (!server || !location) throw new Error('this lineage was read from an MLflow server, but mloop.backend is no longer "mlflow": open it again from the Runs or Models view');
        graph = await withDelayedProgress(`mloop: reading lineage from ${location}`, loading, (signal) => server.graph(this.root, depth, signal));
        source = `MLflow server ${location}`;
      } else {
        const store = await this.deps.store();
        if (store) graph = lineageGraph(store, this.root, { depth });
      }
      if (loading.signal.aborted) return; // a newer load owns the page
      if (!graph) {
        message = { type: 'problem', message: 'There is no mloop store in this workspace yet.' };
      } else {
        const root = graph.nodes.find((n) => n.id === graph.root)!;
        this.panel.title = `Lineage: ${root.label}`;
        message = { type: 'load', root: graph.root, depth: this.depth, nodes: graph.nodes, edges: graph.edges, truncated: graph.truncated, origin: this.origin, ...(source ? { source } : {}) };
      }
    } catch (error) {
      if (loading.signal.aborted) return;
      const text = (error as Error).message;
      this.deps.log.error(`lineage panel: ${text}`);
      message = { type: 'problem', message: text };
    } finally {
      if (this.loading === loading) this.loading = undefined;
    }
    this.lastLoad = message;
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    this.loading?.abort();
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
  const openFile = (path: string): Promise<void> => openLocalFile(deps, path);
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

/** Runs `work`; when it outlasts SERVER_PROGRESS_AFTER_MS a notification shows it, whose Cancel aborts it. */
async function withDelayedProgress<T>(title: string, controller: AbortController, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const running = work(controller.signal);
  let settled = false;
  const timer = setTimeout(() => {
    if (settled) return;
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (_progress, token) => {
      const cancel = token.onCancellationRequested(() => controller.abort());
      await running.catch(() => undefined);
      cancel.dispose();
    });
  }, SERVER_PROGRESS_AFTER_MS);
  try {
    return await running;
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

/** A node of a server graph: a run's metrics from the server, a version's row, a script or data file when it is on this machine. */
export async function openServerLineageNode(deps: LineagePanelDeps, nodeId: string): Promise<void> {
  const parsed = parseNodeId(nodeId);
  if (!parsed) return;
  const { parseRemoteDatasetKey, parseRemoteModelKey } = await import('../../core/backends/remoteLineage');
  switch (parsed.kind) {
    case 'run':
      await vscode.commands.executeCommand('mloop.runs.openMetrics', { runId: parsed.key });
      await deps.reveal('mloop.runs', `remote-run:${parsed.key}`);
      return;
    case 'model': {
      const key = parseRemoteModelKey(parsed.key);
      if (key) await deps.reveal('mloop.models', `remote-modelVersion:${key.name}:${key.version}`);
      return;
    }
    case 'dataset': {
      const key = parseRemoteDatasetKey(parsed.key);
      const node = LineagePanel.active?.lastLoad?.type === 'load' ? LineagePanel.active.lastLoad.nodes.find((n) => n.id === nodeId) : undefined;
      const uri = node?.location?.replace(/^file:\/\//, '');
      if (uri && isAbsolute(uri)) await openLocalFile(deps, uri);
      else void vscode.window.showInformationMessage(`mloop: dataset ${key?.name ?? parsed.key} is not a file on this machine${uri ? ` (${uri})` : ''}.`);
      return;
    }
    case 'code': {
      const file = /^(?:nogit|[0-9a-f]{7,64}):(.+)$/.exec(parsed.key)?.[1];
      if (file) await openLocalFile(deps, file);
      return;
    }
    default:
      return;
  }
}

/** Opens a script or data file beside the panel; a relative path starts at the project root. */
async function openLocalFile(deps: LineagePanelDeps, path: string): Promise<void> {
  const root = deps.projectRoot() ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const full = isAbsolute(path) || !root ? path : resolve(root, path);
  try {
    await vscode.window.showTextDocument(vscode.Uri.file(full), { preview: true, viewColumn: vscode.ViewColumn.Beside });
  } catch (error) {
    void vscode.window.showWarningMessage(`mloop: cannot open ${full}: ${(error as Error).message}`);
  }
}
