import type * as vscode from 'vscode';
import type { BackendService } from '../backend/backendService';
import type { TrackingService } from '../runs/trackingService';
import type { CommandContext } from './commandContext';
import type { ProjectConfig } from './projectConfig';
import { StoreTreeProvider, type TreeModel, type TreeNode } from './storeTree';
import type { PanelDeps } from './webviewHtml';
import type { WorkspaceStore } from './workspaceStore';

/** The views mloop contributes, in the order the side bar shows them. */
export const VIEW_IDS = ['mloop.datasets', 'mloop.runs', 'mloop.models', 'mloop.deployments', 'mloop.audit'] as const;
export type ViewId = (typeof VIEW_IDS)[number];

/**
 * What activate() builds once and hands to every feature's register function; a feature takes what it
 * needs from here and registers its own views, commands and panels.
 */
export interface ExtensionServices {
  readonly context: vscode.ExtensionContext;
  readonly log: vscode.LogOutputChannel;
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly commands: CommandContext;
  readonly tracking: TrackingService;
  readonly backends: BackendService;
  readonly panelDeps: PanelDeps;
  /** The tree of each registered view (lineage reveals rows in them; the test API snapshots them). */
  readonly views: Map<string, StoreTreeProvider<TreeNode>>;
  /** Re-reads the store into every view (after the user fixed a broken store, trust granted, Refresh). */
  refresh(): Promise<void>;
}

/** Creates a view's tree, keeps it in `services.views` and disposes it with the extension. */
export function addView<N extends TreeNode>(
  services: ExtensionServices,
  viewId: ViewId,
  model: TreeModel<N>,
  options?: ConstructorParameters<typeof StoreTreeProvider<N>>[3],
): StoreTreeProvider<N> {
  const tree = new StoreTreeProvider(viewId, services.workspaceStore, model, options);
  services.views.set(viewId, tree as unknown as StoreTreeProvider<TreeNode>);
  services.context.subscriptions.push(tree);
  return tree;
}
