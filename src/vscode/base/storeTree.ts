import * as vscode from 'vscode';
import type { Store } from '../../core/store/store';
import type { TreeNodeSnapshot, TreeRowSnapshot } from '../api';
import type { WorkspaceStore } from './workspaceStore';
import type { BackendService } from '../backend/backendService';
import type { Backend } from '../../core/backends/backend';
import { RESTRICTED_MODE_MESSAGE } from './commandContext';

/** A row's plain data: the model holds these, `getTreeItem` turns them into TreeItems. */
export interface TreeNode {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string | vscode.MarkdownString;
  readonly icon?: vscode.ThemeIcon;
  readonly contextValue: string;
  readonly collapsible: boolean;
  readonly parent?: TreeNode;
  readonly command?: vscode.Command;
}

/** What one view shows: roots and children read from the store. */
export interface TreeModel<N extends TreeNode> {
  roots(store: Store): N[];
  children(store: Store, node: N): N[];
  /** The tooltip, computed only when the user hovers (keeps large trees instant). */
  tooltip?(store: Store, node: N): vscode.MarkdownString | string | undefined;
}

/** A view's content read from a Backend (an MLflow server): async, unlike the store's TreeModel. */
export interface RemoteTreeModel {
  roots(backend: Backend): Promise<TreeNode[]>;
  /** `store`: the workspace's store when it exists (rows of what is only here, next to the server's). */
  children(backend: Backend, node: TreeNode, store: Store | undefined): Promise<TreeNode[]>;
}

/**
 * A tree view over the store. Shows nothing (so the view's welcome text appears) until a store
 * exists, and puts any problem opening it in the view's message instead of a console.
 */
export class StoreTreeProvider<N extends TreeNode> implements vscode.TreeDataProvider<N>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<N | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<N>;
  private readonly subscription: vscode.Disposable;

  constructor(
    readonly viewId: string,
    private readonly workspaceStore: WorkspaceStore,
    private readonly model: TreeModel<N>,
    options: { canSelectMany?: boolean; remote?: { readonly service: BackendService; readonly model: RemoteTreeModel } } = {},
  ) {
    this.view = vscode.window.createTreeView(viewId, { treeDataProvider: this, showCollapseAll: true, canSelectMany: options.canSelectMany ?? false });
    this.remote = options.remote;
    this.subscription = vscode.Disposable.from(
      workspaceStore.onDidChange(() => this.refresh()),
      ...(this.remote ? [this.remote.service.onDidChange(() => this.refresh())] : []),
    );
    this.updateMessage();
  }

  private readonly remote: { readonly service: BackendService; readonly model: RemoteTreeModel } | undefined;

  /** With mloop.backend = mlflow this view reads the tracking server; a server that cannot be reached is said in the view. */
  private async remoteChildren(remote: { readonly service: BackendService; readonly model: RemoteTreeModel }, node?: N): Promise<N[]> {
    this.view.description = `MLflow ${remote.service.trackingUri}`;
    try {
      const store = node ? await this.workspaceStore.get().catch(() => undefined) : undefined;
      const nodes = await remote.service.use((backend) => (node ? remote.model.children(backend, node, store) : remote.model.roots(backend)));
      this.setMessage(undefined);
      return nodes as N[];
    } catch (error) {
      const e = error as Error;
      this.setMessage(
        e.name === 'BackendUnreachableError'
          ? `⚠ ${e.message}. mloop shows nothing from it until it answers: start the server or fix mloop.mlflow.trackingUri, then Refresh.`
          : `⚠ ${e.message}`,
      );
      return [];
    }
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: N): vscode.TreeItem {
    const item = new vscode.TreeItem(node.label, node.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.iconPath = node.icon;
    item.contextValue = node.contextValue;
    if (node.command) item.command = node.command;
    return item;
  }

  async resolveTreeItem(item: vscode.TreeItem, node: N): Promise<vscode.TreeItem> {
    if (item.tooltip || !this.model.tooltip || (this.remote && this.remote.service.kind === 'mlflow')) return item;
    const store = await this.workspaceStore.get().catch(() => undefined);
    if (store) item.tooltip = this.model.tooltip(store, node);
    return item;
  }

  getParent(node: N): N | undefined {
    return node.parent as N | undefined;
  }

  async getChildren(node?: N): Promise<N[]> {
    if (this.remote && this.remote.service.kind === 'mlflow') return this.remoteChildren(this.remote, node);
    if (this.remote) this.view.description = undefined;
    let store: Store | undefined;
    try {
      store = await this.workspaceStore.get();
    } catch {
      this.updateMessage();
      return [];
    }
    this.updateMessage();
    if (!store) return [];
    return node ? this.model.children(store, node) : this.model.roots(store);
  }

  /** The children of a node as currently shown (commands expand an experiment row into its runs). */
  async childrenOf(node: N): Promise<N[]> {
    return this.getChildren(node);
  }

  /** Selects the row with this id among the top two levels (the lineage panel's "reveal"); false when it is not shown. */
  async revealById(id: string, options: { focus: boolean } = { focus: true }): Promise<boolean> {
    // a store change can refresh the tree between finding the row and revealing it ("Cannot resolve tree item"):
    // the row is found again in the new tree and revealed, a few times at most
    for (let attempt = 1; ; attempt++) {
      const roots = await this.getChildren();
      let found = roots.find((n) => n.id === id);
      for (const root of roots) {
        if (found) break;
        if (root.collapsible) found = (await this.getChildren(root)).find((n) => n.id === id);
      }
      if (!found) return false;
      try {
        await this.view.reveal(found, { select: true, focus: options.focus, expand: true });
        return true;
      } catch (error) {
        if (attempt >= 5 || !/cannot resolve tree item/i.test((error as Error).message)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** The top `depth` levels (two unless asked) as the user reads them. */
  async snapshot(depth = 2): Promise<TreeNodeSnapshot[]> {
    const row = async (n: N, level: number): Promise<TreeRowSnapshot> => ({
      label: n.label,
      description: n.description,
      contextValue: n.contextValue,
      ...(level < depth && n.collapsible ? { children: await Promise.all((await this.getChildren(n)).map((c) => row(c, level + 1))) } : {}),
    });
    const roots = await this.getChildren();
    return Promise.all(
      roots.map(async (r) => ({
        ...(await row(r, 1)),
        children: r.collapsible && depth > 1 ? await Promise.all((await this.getChildren(r)).map((c) => row(c, 2))) : [],
      })),
    );
  }

  private shownMessage: string | undefined;

  private updateMessage(): void {
    const error = this.workspaceStore.error;
    const message = error ? `⚠ ${error.message}` : !vscode.workspace.isTrusted ? RESTRICTED_MODE_MESSAGE : undefined;
    this.setMessage(message);
  }

  /** Each assignment is a round trip to the workbench: only what changed is sent (a new view has no message). */
  private setMessage(message: string | undefined): void {
    if (message === this.shownMessage) return;
    this.shownMessage = message;
    this.view.message = message;
  }

  dispose(): void {
    this.subscription.dispose();
    this.view.dispose();
    this.changed.dispose();
  }
}

/** "3 min ago" style: trees show recency, tooltips show the exact time. */
export function ago(ms: number, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return new Date(ms).toLocaleDateString();
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
