import * as vscode from 'vscode';
import { experimentRunRows, experimentsWithRuns, type RunListItem } from '../../core/store/runListing';
import { RunRepository, type RunStatus } from '../../core/store/runs';
import type { Store } from '../../core/store/store';
import { ago, duration, type TreeModel, type TreeNode } from '../base/storeTree';

export type RunsNode =
  | (TreeNode & { readonly kind: 'experiment'; readonly experimentId: number })
  | (TreeNode & { readonly kind: 'run'; readonly runId: string; readonly status: RunStatus })
  | (TreeNode & { readonly kind: 'more'; readonly experimentId: number });

/** Rows per page: a click on "Show more" adds another page; 10,000 runs never load at once. */
export const RUNS_PAGE_SIZE = 200;

const STATUS_ICON: Record<RunStatus, vscode.ThemeIcon> = {
  SCHEDULED: new vscode.ThemeIcon('clock'),
  RUNNING: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  FINISHED: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  FAILED: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  KILLED: new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground')),
};

export interface RunsTreeOptions {
  /** The metric shown in a run's description: the pipeline's primary metric, if it declares one. */
  readonly primaryMetric: (pipeline: string | null) => string | undefined;
}

/** Experiments (most recently active first), each with its runs newest first, paged. */
export function createRunsTreeModel(options: RunsTreeOptions): TreeModel<RunsNode> & { showMore(experimentId: number): void } {
  const pages = new Map<number, number>();
  return {
    showMore(experimentId: number): void {
      pages.set(experimentId, (pages.get(experimentId) ?? 1) + 1);
    },
    roots(store: Store): RunsNode[] {
      return experimentsWithRuns(store).map((e) => ({
        kind: 'experiment',
        id: `experiment:${e.experimentId}`,
        experimentId: e.experimentId,
        label: e.name,
        description: `${e.runs} run${e.runs === 1 ? '' : 's'}${e.running ? ` · ${e.running} running` : ''}`,
        icon: new vscode.ThemeIcon('beaker'),
        contextValue: 'experiment',
        collapsible: true,
      }));
    },
    children(store: Store, node: RunsNode): RunsNode[] {
      if (node.kind !== 'experiment') return [];
      const limit = RUNS_PAGE_SIZE * (pages.get(node.experimentId) ?? 1);
      const page = experimentRunRows(store, node.experimentId, limit, options.primaryMetric);
      const rows: RunsNode[] = page.runs.map((run) => {
        const metric = page.primaryValues.get(run.runId);
        return runNode(run, node, metric ? `${metric.key} ${formatMetric(metric.value)}` : undefined);
      });
      if (page.more) {
        rows.push({
          kind: 'more',
          id: `more:${node.experimentId}:${limit}`,
          experimentId: node.experimentId,
          label: `Show ${RUNS_PAGE_SIZE} more…`,
          icon: new vscode.ThemeIcon('ellipsis'),
          contextValue: 'more',
          collapsible: false,
          parent: node,
          command: { command: 'mloop.runs.showMore', title: 'Show more runs', arguments: [node.experimentId] },
        });
      }
      return rows;
    },
    tooltip(store: Store, node: RunsNode): vscode.MarkdownString | undefined {
      if (node.kind !== 'run') return undefined;
      const repo = new RunRepository(store);
      const run = repo.get(node.runId);
      if (!run) return undefined;
      const md = new vscode.MarkdownString(undefined, true);
      const elapsed = run.endTime ? duration(run.endTime - run.startTime) : undefined;
      md.appendMarkdown(`**${escape(run.name)}** · ${run.status}${run.pipeline ? ` · pipeline \`${escape(run.pipeline)}\`` : ''}\n\n`);
      md.appendMarkdown(`run \`${run.runId}\`  \nstarted ${new Date(run.startTime).toLocaleString()}${elapsed ? ` · took ${elapsed}` : ''}`);
      if (run.exitCode !== null) md.appendMarkdown(` · exit ${run.exitCode}`);
      md.appendMarkdown('\n\n');
      if (run.gitCommit) md.appendMarkdown(`code \`${run.gitCommit.slice(0, 10)}\`${run.gitDirty ? ' + uncommitted changes' : ''}\n\n`);
      const params = Object.entries(repo.params(run.runId));
      if (params.length) md.appendMarkdown(`**params** ${params.map(([k, v]) => `\`${k}=${v}\``).join(' ')}\n\n`);
      const metrics = Object.entries(repo.latestMetrics(run.runId));
      if (metrics.length) md.appendMarkdown(`**metrics** ${metrics.map(([k, v]) => `\`${k}=${formatMetric(v)}\``).join(' ')}`);
      return md;
    },
  };
}

function runNode(run: RunListItem, parent: RunsNode, metric: string | undefined): RunsNode {
  const elapsed = run.endTime ? duration(run.endTime - run.startTime) : undefined;
  return {
    kind: 'run',
    id: `run:${run.runId}`,
    runId: run.runId,
    status: run.status,
    label: run.name,
    // the primary metric first: a narrow view cuts the end of the description, and the metric is what tells runs apart
    description: [metric, run.status.toLowerCase(), elapsed, ago(run.startTime)].filter(Boolean).join(' · '),
    icon: STATUS_ICON[run.status],
    contextValue: `run.${run.status.toLowerCase()}`,
    collapsible: false,
    parent,
  };
}

const formatMetric = (v: number): string => (Number.isNaN(v) ? 'NaN' : Number.isInteger(v) ? String(v) : v.toPrecision(4));
const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
