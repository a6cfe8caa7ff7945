import * as vscode from 'vscode';
import { experimentRunRows, experimentsWithRuns, type RunListItem } from '../../core/store/runListing';
import { EnvironmentRepository } from '../../core/store/environments';
import { describeVerdict, ReproductionRepository } from '../../core/store/reproductions';
import { RunRepository, type RunStatus } from '../../core/store/runs';
import type { Store } from '../../core/store/store';
import type { Backend, BackendRun } from '../../core/backends/backend';
import { formatMetric } from '../../shared/format';
import { runStatusIcon } from '../base/statusIcon';
import { ago, duration, type RemoteTreeModel, type TreeModel, type TreeNode } from '../base/storeTree';

export type RunsNode =
  | (TreeNode & { readonly kind: 'experiment'; readonly experimentId: number })
  | (TreeNode & { readonly kind: 'run'; readonly runId: string; readonly status: RunStatus })
  | (TreeNode & { readonly kind: 'more'; readonly experimentId: number });

/** Rows per page: a click on "Show more" adds another page; 10,000 runs never load at once. */
export const RUNS_PAGE_SIZE = 200;

export interface RunsTreeOptions {
  /** The metric shown in a run's description: the pipeline's primary metric, if it declares one. */
  readonly primaryMetric: (pipeline: string | null) => string | undefined;
}

/** The Runs view's rows from the store and from an MLflow server; "Show more" (one command) pages either. */
export function createRunsTreeModels(options: RunsTreeOptions): {
  store: TreeModel<RunsNode>;
  server: RemoteTreeModel;
  showMore(experimentId: number | string): void;
} {
  // keyed by the experiment id as text: the store's ids are numbers, the server's text
  const pages = new Map<string, number>();
  return {
    store: createStoreRunsModel(options, pages),
    server: createServerRunsModel(pages),
    showMore(experimentId: number | string): void {
      pages.set(String(experimentId), (pages.get(String(experimentId)) ?? 1) + 1);
    },
  };
}

/** Experiments (most recently active first), each with its runs newest first, paged. */
function createStoreRunsModel(options: RunsTreeOptions, pages: Map<string, number>): TreeModel<RunsNode> {
  return {
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
      const limit = RUNS_PAGE_SIZE * (pages.get(String(node.experimentId)) ?? 1);
      const page = experimentRunRows(store, node.experimentId, limit, options.primaryMetric);
      const verdicts = reproductionVerdicts(store, page.runs);
      const rows: RunsNode[] = page.runs.map((run) => {
        const metric = page.primaryValues.get(run.runId);
        return runNode(run, node, metric ? `${metric.key} ${formatMetric(metric.value)}` : undefined, verdicts.get(run.runId));
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
      // the notebook or script that logged it (mlflow.source.name for runs imported from MLflow)
      if (run.entryFile) md.appendMarkdown(`source \`${escape(run.entryFile)}\`\n\n`);
      const env = new EnvironmentRepository(store).forRun(run.runId)?.document;
      if (env) {
        const packages = env.python ? Object.keys(env.python.packages).length : 0;
        md.appendMarkdown(
          `environment ${env.python ? `Python ${escape(env.python.version)} · ${packages} packages` : 'no Python found'} · ${escape(env.os.type)} ${escape(env.os.release)} · ${env.cpu.count} CPUs\n\n`,
        );
      }
      const reproductions = new ReproductionRepository(store);
      const reproduces = reproductions.ofRun(run.runId);
      if (reproduces) md.appendMarkdown(`reproduces run \`${reproduces.originalRunId.slice(0, 8)}\`: ${escape(describeVerdict(reproduces))}\n\n`);
      for (const r of reproductions.reproductionsOf(run.runId).slice(0, 5))
        md.appendMarkdown(`reproduced by run \`${r.runId.slice(0, 8)}\`: ${escape(describeVerdict(r))}\n\n`);
      const params = Object.entries(repo.params(run.runId));
      if (params.length) md.appendMarkdown(`**params** ${params.map(([k, v]) => `\`${k}=${v}\``).join(' ')}\n\n`);
      const metrics = Object.entries(repo.latestMetrics(run.runId));
      if (metrics.length) md.appendMarkdown(`**metrics** ${metrics.map(([k, v]) => `\`${k}=${formatMetric(v)}\``).join(' ')}`);
      return md;
    },
  };
}

/** "reproduced ✓" / "differs ✗" for the runs of a page that are exact reruns (one query per page). */
function reproductionVerdicts(store: Store, runs: readonly RunListItem[]): Map<string, string> {
  if (runs.length === 0) return new Map();
  const rows = store.db
    .prepare('SELECT run_id, verdict FROM run_reproduction WHERE run_id IN (SELECT value FROM json_each(?))')
    .all(JSON.stringify(runs.map((r) => r.runId))) as { run_id: string; verdict: string }[];
  return new Map(rows.map((r) => [r.run_id, r.verdict === 'reproduced' ? 'reproduced ✓' : r.verdict === 'differs' ? 'differs ✗' : 'rerun failed ✗']));
}

function runNode(run: RunListItem, parent: RunsNode, metric: string | undefined, verdict?: string): RunsNode {
  const elapsed = run.endTime ? duration(run.endTime - run.startTime) : undefined;
  return {
    kind: 'run',
    id: `run:${run.runId}`,
    runId: run.runId,
    status: run.status,
    label: run.name,
    // the primary metric first: a narrow view cuts the end of the description, and the metric is what tells runs apart
    description: [metric, verdict, run.status.toLowerCase(), elapsed, ago(run.startTime)].filter(Boolean).join(' · '),
    icon: runStatusIcon(run.status),
    contextValue: `run.${run.status.toLowerCase()}`,
    collapsible: false,
    parent,
  };
}

const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');

export type RemoteRunsNode =
  | (TreeNode & { readonly kind: 'experiment'; readonly experimentId: string })
  | (TreeNode & { readonly kind: 'run'; readonly runId: string; readonly experimentId: string })
  | (TreeNode & { readonly kind: 'more'; readonly experimentId: string });

/** Runs per page from the server; "Show more" asks for the next page. */
export const REMOTE_RUNS_PAGE = 100;

/** Experiments of the MLflow server, each with its runs newest first, a server page at a time ("Show more" pages shared with the store's model). */
function createServerRunsModel(pages: Map<string, number>): RemoteTreeModel {
  return {
    async roots(backend: Backend): Promise<TreeNode[]> {
      const experiments = await backend.listExperiments();
      return experiments.map(
        (e): RemoteRunsNode => ({
          kind: 'experiment',
          id: `remote-experiment:${e.experimentId}`,
          experimentId: e.experimentId,
          label: e.name,
          description: `MLflow experiment ${e.experimentId}`,
          icon: new vscode.ThemeIcon('beaker'),
          contextValue: 'server.experiment',
          collapsible: true,
        }),
      );
    },
    async children(backend: Backend, node: TreeNode): Promise<TreeNode[]> {
      const n = node as RemoteRunsNode;
      if (n.kind !== 'experiment') return [];
      const wanted = pages.get(n.experimentId) ?? 1;
      const runs: BackendRun[] = [];
      let pageToken: string | undefined;
      for (let page = 0; page < wanted; page++) {
        const result = await backend.searchRuns([n.experimentId], { maxResults: REMOTE_RUNS_PAGE, ...(pageToken ? { pageToken } : {}) });
        runs.push(...result.items);
        pageToken = result.nextPageToken;
        if (!pageToken) break;
      }
      const rows: TreeNode[] = runs.map((run): RemoteRunsNode => {
        const elapsed = run.endTime ? duration(run.endTime - run.startTime) : undefined;
        const metrics = Object.entries(run.metrics);
        const tooltip = new vscode.MarkdownString(undefined, true);
        tooltip.appendMarkdown(
          `**${run.name}** · ${run.status} · on ${backend.location}\n\nrun \`${run.runId}\`  \nstarted ${new Date(run.startTime).toLocaleString()}\n\n`,
        );
        const params = Object.entries(run.params);
        if (params.length) tooltip.appendMarkdown(`**params** ${params.map(([k, v]) => `\`${k}=${v}\``).join(' ')}\n\n`);
        if (metrics.length) tooltip.appendMarkdown(`**metrics** ${metrics.map(([k, v]) => `\`${k}=${formatMetric(v)}\``).join(' ')}`);
        return {
          kind: 'run',
          id: `remote-run:${run.runId}`,
          runId: run.runId,
          experimentId: n.experimentId,
          label: run.name,
          description: [run.status.toLowerCase(), elapsed, ago(run.startTime)].filter(Boolean).join(' · '),
          tooltip,
          icon: runStatusIcon(run.status),
          contextValue: `server.run.${run.status.toLowerCase()}`,
          collapsible: false,
          parent: node,
        };
      });
      if (pageToken) {
        const more: RemoteRunsNode = {
          kind: 'more',
          id: `remote-more:${n.experimentId}:${runs.length}`,
          experimentId: n.experimentId,
          label: `Show ${REMOTE_RUNS_PAGE} more…`,
          icon: new vscode.ThemeIcon('ellipsis'),
          contextValue: 'more',
          collapsible: false,
          parent: node,
          command: { command: 'mloop.runs.showMore', title: 'Show more runs', arguments: [n.experimentId] },
        };
        rows.push(more);
      }
      return rows;
    },
  };
}
