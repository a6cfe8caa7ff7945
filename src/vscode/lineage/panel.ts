import { isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { lineageGraph, parseNodeId } from '../../core/lineage/graph';
import type { LineageGraph } from '../../core/lineage/graph';
import {
  lineageViewStateSchema,
  lineageWebviewMessageSchema,
  type LineageHostMessage,
  type LineageOrigin,
  type LineageWebviewMessage,
} from '../../protocol/lineageMessages';
import { LINEAGE_DEFAULT_DEPTH, LINEAGE_MAX_DEPTH } from '../../shared/panels';
import { activePanel, definePanel, NO_STORE, showPanel, type PanelContent, type PanelHost } from '../base/panelController';
import type { PageHandlers } from '../base/panelSession';
import type { PanelDeps } from '../base/webviewHtml';
import { openMetricsPanel } from '../runs/metricsPanel';

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

/** The node the panel is centred on, how deep it walks, and where the graph is read. */
export interface LineageTarget {
  readonly root: string;
  readonly depth: number;
  readonly origin: LineageOrigin;
}

/** The DAG around one node (dataset version → run → model version → deployment, code and drift too), depth adjustable. */
export class LineagePanel implements PanelContent<LineageHostMessage, LineageWebviewMessage, LineageTarget> {
  private target: LineageTarget;
  /** The last message posted: tests read what the page was given. */
  lastLoad: LineageHostMessage | undefined;
  /** The walk in flight: a newer focus or depth cancels it. */
  private loading: AbortController | undefined;

  static show(deps: LineagePanelDeps, root: string, depth = LINEAGE_DEFAULT_DEPTH, origin: LineageOrigin = 'store'): LineagePanel {
    return showPanel(lineagePanel, deps, { root, depth, origin });
  }

  static get active(): LineagePanel | undefined {
    return activePanel(lineagePanel);
  }

  constructor(
    private readonly host: PanelHost<LineageHostMessage>,
    private readonly deps: LineagePanelDeps,
    target: LineageTarget,
  ) {
    this.target = target;
    // a server graph is re-read when the backend changes, not on every local store write
    host.register(deps.onDidChangeStore(() => void (host.ready && this.target.origin === 'store' && host.reload())));
    if (deps.server) host.register(deps.server.onDidChange(() => void (host.ready && this.target.origin === 'server' && host.reload())));
  }

  readonly handlers: PageHandlers<LineageWebviewMessage> = {
    focus: (message) => {
      this.target = { ...this.target, root: message.nodeId, depth: message.depth };
      return this.host.reload();
    },
    open: (message) => (this.target.origin === 'server' ? openServerLineageNode(this.deps, message.nodeId) : openLineageNode(this.deps, message.nodeId)),
  };

  retarget(target: LineageTarget): void {
    this.target = target;
  }

  /** The graph around the root, or the problem reading it; undefined when a newer load took over. */
  async load(): Promise<LineageHostMessage | undefined> {
    this.loading?.abort();
    const loading = (this.loading = new AbortController());
    const { root, origin } = this.target;
    let message: LineageHostMessage;
    try {
      const depth = Math.min(this.target.depth, LINEAGE_MAX_DEPTH);
      let graph: LineageGraph | undefined;
      let source: string | undefined;
      if (origin === 'server') {
        const server = this.deps.server;
        const location = server?.location();
        if (!server || !location)
          throw new Error('this lineage was read from an MLflow server, but mloop.backend is no longer "mlflow": open it again from the Runs or Models view');
        graph = await withDelayedProgress(`mloop: reading lineage from ${location}`, loading, (signal) => server.graph(root, depth, signal));
        source = `MLflow server ${location}`;
      } else {
        const store = await this.deps.store();
        if (store) graph = lineageGraph(store, root, { depth });
      }
      if (loading.signal.aborted) return undefined; // a newer load owns the page
      if (!graph) {
        message = NO_STORE;
      } else {
        const rootNode = graph.nodes.find((n) => n.id === graph.root)!;
        this.host.title = `Lineage: ${rootNode.label}`;
        message = {
          type: 'load',
          root: graph.root,
          depth: this.target.depth,
          nodes: graph.nodes,
          edges: graph.edges,
          truncated: graph.truncated,
          origin,
          ...(source ? { source } : {}),
        };
      }
    } catch (error) {
      if (loading.signal.aborted) return undefined;
      const text = (error as Error).message;
      this.deps.log.error(`lineage panel: ${text}`);
      message = { type: 'problem', message: text };
    } finally {
      if (this.loading === loading) this.loading = undefined;
    }
    this.lastLoad = message;
    return message;
  }

  dispose(): void {
    this.loading?.abort();
  }
}

export const lineagePanel = definePanel({
  kind: 'lineage',
  pageMessages: lineageWebviewMessageSchema,
  revive: (state, deps: LineagePanelDeps): LineageTarget | undefined => {
    const parsed = lineageViewStateSchema.safeParse(state);
    if (!parsed.success) deps.log.warn('lineage panel: saved state was unreadable; closing it');
    return parsed.data;
  },
  create: (host: PanelHost<LineageHostMessage>, deps, target) => new LineagePanel(host, deps, target),
});

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
