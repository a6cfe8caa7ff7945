import * as vscode from 'vscode';
import { runPage } from '../../core/store/runListing';
import { RunRepository } from '../../core/store/runs';
import { openComparePanel } from './comparePanel';
import { openMetricsPanel } from './metricsPanel';
import type { PanelDeps } from '../base/webviewHtml';
import type { RunSelection } from '../base/commandArgs';
import { registerCommand } from '../base/commands';
import type { RunsNode } from './tree';

/** Run ids from a tree invocation (clicked row + multi-selection), ids passed by code, or a pick. */
async function selectedRunIds(deps: PanelDeps, clicked: RunSelection, selection: readonly RunsNode[] | undefined, title: string, min: number): Promise<string[] | undefined> {
  const clickedNode = clicked && typeof clicked !== 'string' && !isRunIdList(clicked) ? clicked : undefined;
  // VS Code passes the tree's whole selection too; it counts only when the clicked row is part of it
  // (an inline action on an unselected row means that row alone)
  const inSelection = clickedNode && selection?.some((n) => n.id === clickedNode.id);
  const nodes = clickedNode ? (inSelection ? selection! : [clickedNode]) : (selection ?? []);
  // an experiment row stands for its runs (newest first, as the tree shows them)
  const treeStore = nodes.some((n) => n.kind === 'experiment') ? await deps.store() : undefined;
  const fromTree = nodes.flatMap((n) =>
    n.kind === 'run' ? [n.runId] : n.kind === 'experiment' && treeStore ? runPage(treeStore, n.experimentId, 0, 50).map((r) => r.runId) : [],
  );
  if (typeof clicked === 'string') return [clicked, ...fromTree.filter((id) => id !== clicked)];
  if (isRunIdList(clicked)) return [...clicked];
  if (fromTree.length >= min) return fromTree;
  const store = await deps.store();
  if (!store) {
    void vscode.window.showInformationMessage('mloop: no runs yet. Train a pipeline first.');
    return undefined;
  }
  const runs = new RunRepository(store).list({ limit: 500 });
  const picked = await vscode.window.showQuickPick(
    runs.map((r) => ({ label: r.name, description: `${r.status.toLowerCase()} · ${new Date(r.startTime).toLocaleString()}`, detail: r.runId, runId: r.runId, picked: fromTree.includes(r.runId) })),
    { title, canPickMany: true, placeHolder: min > 1 ? `Pick at least ${min} runs` : 'Pick runs' },
  );
  if (!picked || picked.length < min) return undefined;
  return picked.map((p) => p.runId);
}

const isRunIdList = (value: RunSelection): value is readonly string[] => Array.isArray(value);

export function registerPanelCommands(deps: PanelDeps): vscode.Disposable[] {
  return [
    registerCommand('mloop.runs.openMetrics', async (clicked?: RunSelection, selection?: readonly RunsNode[]) => {
      const ids = await selectedRunIds(deps, clicked, selection, 'mloop: Open Metrics', 1);
      if (ids?.length) openMetricsPanel(deps, ids);
    }),
    registerCommand('mloop.runs.compare', async (clicked?: RunSelection, selection?: readonly RunsNode[]) => {
      const ids = await selectedRunIds(deps, clicked, selection, 'mloop: Compare Runs', 2);
      if (ids?.length) openComparePanel(deps, ids, ids[0]);
    }),
  ];
}
