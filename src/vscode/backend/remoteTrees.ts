import * as vscode from 'vscode';
import type { Backend, BackendRun } from '../../core/backends/backend';
import { formatMetric } from '../../shared/format';
import { runStatusIcon } from '../base/statusIcon';
import { ago, duration, type TreeNode } from '../base/storeTree';

/** A view's content read from a Backend (a remote MLflow server): async, unlike the store's TreeModel. */
export interface RemoteTreeModel {
  roots(backend: Backend): Promise<TreeNode[]>;
  children(backend: Backend, node: TreeNode): Promise<TreeNode[]>;
}

export type RemoteRunsNode =
  | (TreeNode & { readonly kind: 'experiment'; readonly experimentId: string })
  | (TreeNode & { readonly kind: 'run'; readonly runId: string; readonly experimentId: string })
  | (TreeNode & { readonly kind: 'more'; readonly experimentId: string });

/** Runs per page from the server; "Show more" asks for the next page. */
export const REMOTE_RUNS_PAGE = 100;

/** Experiments of the MLflow server, each with its runs newest first, a server page at a time. */
export function createRemoteRunsModel(): RemoteTreeModel & { showMore(experimentId: string): void } {
  const pages = new Map<string, number>();
  return {
    showMore(experimentId: string): void {
      pages.set(experimentId, (pages.get(experimentId) ?? 1) + 1);
    },
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
          contextValue: 'remoteExperiment',
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
        tooltip.appendMarkdown(`**${run.name}** · ${run.status} · on ${backend.location}\n\nrun \`${run.runId}\`  \nstarted ${new Date(run.startTime).toLocaleString()}\n\n`);
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
          contextValue: `remoteRun.${run.status.toLowerCase()}`,
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
          command: { command: 'mloop.runs.showMoreRemote', title: 'Show more runs', arguments: [n.experimentId] },
        };
        rows.push(more);
      }
      return rows;
    },
  };
}

export type RemoteModelsNode =
  | (TreeNode & { readonly kind: 'model'; readonly modelName: string })
  | (TreeNode & { readonly kind: 'modelVersion'; readonly modelName: string; readonly version: number; readonly aliases: readonly string[] });

/** Registered models of the MLflow server with their versions (newest first) and aliases. */
export const remoteModelsModel: RemoteTreeModel = {
  async roots(backend: Backend): Promise<TreeNode[]> {
    const models = await backend.listModels();
    return models.map((m): RemoteModelsNode => {
      const aliases = Object.entries(m.aliases);
      const champion = m.aliases.champion;
      return {
        kind: 'model',
        id: `remote-model:${m.name}`,
        modelName: m.name,
        label: m.name,
        description: [champion !== undefined ? `champion v${champion}` : undefined, aliases.length ? `${aliases.length} alias${aliases.length === 1 ? '' : 'es'}` : undefined, m.updatedAt ? ago(m.updatedAt) : undefined]
          .filter(Boolean)
          .join(' · '),
        icon: new vscode.ThemeIcon('package'),
        contextValue: 'remoteModel',
        collapsible: true,
      };
    });
  },
  async children(backend: Backend, node: TreeNode): Promise<TreeNode[]> {
    const n = node as RemoteModelsNode;
    if (n.kind !== 'model') return [];
    const versions = await backend.modelVersions(n.modelName);
    return versions.map(
      (v): RemoteModelsNode => ({
        kind: 'modelVersion',
        id: `remote-modelVersion:${n.modelName}:${v.version}`,
        modelName: n.modelName,
        version: v.version,
        aliases: v.aliases,
        label: `v${v.version}`,
        description: [v.aliases.map((a) => `@${a}`).join(' '), v.runId ? `run ${v.runId.slice(0, 8)}` : undefined, v.createdAt ? ago(v.createdAt) : undefined].filter(Boolean).join(' · '),
        tooltip: `${n.modelName} v${v.version}${v.source ? `\nsource ${v.source}` : ''}${v.runId ? `\nrun ${v.runId}` : ''}`,
        icon: v.aliases.includes('champion') ? new vscode.ThemeIcon('star-full', new vscode.ThemeColor('charts.yellow')) : new vscode.ThemeIcon('symbol-class'),
        contextValue: v.aliases.length ? 'remoteModelVersion.aliased' : 'remoteModelVersion',
        collapsible: false,
        parent: node,
      }),
    );
  },
};

