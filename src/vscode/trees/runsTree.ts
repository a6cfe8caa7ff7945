import * as vscode from 'vscode';
import { ExperimentRepository } from '../../core/store/experiments';
import { RunRepository, type Run, type RunStatus } from '../../core/store/runs';
import type { Store } from '../../core/store/store';
import { ago, duration, type TreeModel, type TreeNode } from './storeTree';

export type RunsNode =
  | (TreeNode & { readonly kind: 'experiment'; readonly experimentId: number })
  | (TreeNode & { readonly kind: 'run'; readonly runId: string });

const STATUS_ICON: Record<RunStatus, vscode.ThemeIcon> = {
  SCHEDULED: new vscode.ThemeIcon('clock'),
  RUNNING: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  FINISHED: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  FAILED: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  KILLED: new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground')),
};

/** Experiments, each with its runs newest first. */
export const runsTreeModel: TreeModel<RunsNode> = {
  roots(store: Store): RunsNode[] {
    const runs = new RunRepository(store);
    return new ExperimentRepository(store)
      .list()
      .map((e) => ({ e, count: runs.list({ experimentId: e.experimentId }).length }))
      .filter(({ count }) => count > 0)
      .map(({ e, count }) => ({
        kind: 'experiment',
        id: `experiment:${e.experimentId}`,
        experimentId: e.experimentId,
        label: e.name,
        description: `${count} run${count === 1 ? '' : 's'}`,
        icon: new vscode.ThemeIcon('beaker'),
        contextValue: 'experiment',
        collapsible: true,
      }));
  },
  children(store: Store, node: RunsNode): RunsNode[] {
    if (node.kind !== 'experiment') return [];
    const repo = new RunRepository(store);
    return repo.list({ experimentId: node.experimentId }).map((run) => runNode(run, repo, node));
  },
};

function runNode(run: Run, repo: RunRepository, parent: RunsNode): RunsNode {
  const elapsed = run.endTime ? duration(run.endTime - run.startTime) : undefined;
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(`**${escape(run.name)}** · ${run.status}\n\n`);
  tooltip.appendMarkdown(`run \`${run.runId}\`  \nstarted ${new Date(run.startTime).toLocaleString()}${elapsed ? ` · took ${elapsed}` : ''}\n\n`);
  if (run.gitCommit) tooltip.appendMarkdown(`code \`${run.gitCommit.slice(0, 10)}\`${run.gitDirty ? ' (uncommitted changes)' : ''}\n\n`);
  const params = Object.entries(repo.params(run.runId));
  if (params.length) tooltip.appendMarkdown(`params: ${params.map(([k, v]) => `\`${escape(k)}=${escape(v)}\``).join(' ')}\n\n`);
  const metrics = Object.entries(repo.latestMetrics(run.runId));
  if (metrics.length) tooltip.appendMarkdown(`metrics: ${metrics.map(([k, v]) => `\`${escape(k)}=${formatMetric(v)}\``).join(' ')}`);
  return {
    kind: 'run',
    id: `run:${run.runId}`,
    runId: run.runId,
    label: run.name,
    description: [run.status.toLowerCase(), elapsed, ago(run.startTime)].filter(Boolean).join(' · '),
    tooltip,
    icon: STATUS_ICON[run.status],
    contextValue: `run.${run.status.toLowerCase()}`,
    collapsible: false,
    parent,
  };
}

const formatMetric = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
