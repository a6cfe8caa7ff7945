import * as vscode from 'vscode';
import type { CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { RunCharts } from './runCharts';
import type { RunsNode } from './tree';

/** A Runs view row, store or server shape (server experiment ids are text). */
type RunRow = { readonly id?: string; readonly kind?: RunsNode['kind']; readonly runId?: string; readonly experimentId?: string | number };
type RunSelection = RunRow | string | undefined;

/** Run ids from a tree invocation (clicked row + multi-selection), ids passed by code, or a pick. */
async function selectedRunIds(
  charts: RunCharts,
  clicked: RunSelection | readonly string[],
  selection: readonly RunRow[] | undefined,
  title: string,
  min: number,
): Promise<string[] | undefined> {
  if (Array.isArray(clicked)) return [...(clicked as readonly string[])];
  const clickedNode = clicked && typeof clicked !== 'string' ? (clicked as RunRow) : undefined;
  // VS Code passes the tree's whole selection too; it counts only when the clicked row is part of it
  // (an inline action on an unselected row means that row alone)
  // a row passed by code ({ runId }) has no tree id: it is never "in" the selection
  const inSelection = clickedNode?.id !== undefined && selection?.some((n) => n.id === clickedNode.id);
  const nodes = clickedNode ? (inSelection ? selection! : [clickedNode]) : (selection ?? []);
  const fromTree: string[] = [];
  for (const n of nodes) {
    if (n.runId) fromTree.push(n.runId);
    // an experiment row stands for its runs (newest first, as the tree shows them)
    else if (n.kind === 'experiment' && n.experimentId !== undefined) fromTree.push(...(await charts.experimentRuns(n.experimentId, 50)));
  }
  if (typeof clicked === 'string') return [clicked, ...fromTree.filter((id) => id !== clicked)];
  if (fromTree.length >= min) return fromTree;
  const runs = await charts.pickable();
  if (!runs) return undefined;
  const picked = await vscode.window.showQuickPick(
    runs.map((r) => ({
      label: r.name,
      description: `${r.status.toLowerCase()} · ${new Date(r.startTime).toLocaleString()}`,
      detail: r.runId,
      runId: r.runId,
      picked: fromTree.includes(r.runId),
    })),
    // opened from a walkthrough step, which takes the focus as it completes: the pick stays open
    { title, canPickMany: true, placeHolder: min > 1 ? `Pick at least ${min} runs` : 'Pick runs', ignoreFocusOut: true },
  );
  if (!picked || picked.length < min) return undefined;
  return picked.map((p) => p.runId);
}

/** Open Metrics and Compare Runs on rows of the store or of the MLflow server (RunCharts reads either). */
export function registerPanelCommands(charts: RunCharts, commands: CommandContext): vscode.Disposable[] {
  /** Picks the runs (rows, ids or a pick) and shows them; an error goes to the log and a notification. */
  const showing =
    (title: string, min: number, show: (ids: string[], baseline: string | undefined) => Promise<void>) =>
    async (clicked?: RunSelection | readonly string[], selection?: readonly RunRow[] | string): Promise<string[] | undefined> => {
      try {
        const ids = await selectedRunIds(charts, clicked, Array.isArray(selection) ? selection : undefined, title, min);
        if (ids?.length) await show(ids, typeof selection === 'string' ? selection : undefined);
        return ids;
      } catch (error) {
        if ((error as Error).name === 'AbortError') return undefined;
        return commands.reportError(title.replace(/^mloop: /, ''), error);
      }
    };
  return [
    registerCommand(
      'mloop.runs.openMetrics',
      showing('mloop: Open Metrics', 1, (ids) => charts.openMetrics(ids)),
    ),
    // code may name the baseline: executeCommand('mloop.runs.compare', [champion, version], champion)
    registerCommand(
      'mloop.runs.compare',
      showing('mloop: Compare Runs', 2, (ids, baseline) => charts.openCompare(ids, baseline ?? ids[0])),
    ),
  ];
}
