import * as vscode from 'vscode';
import { DatasetRepository } from '../../core/store/datasets';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from './storeTree';

export type DatasetsNode =
  | (TreeNode & { readonly kind: 'dataset'; readonly datasetId: number })
  | (TreeNode & { readonly kind: 'datasetVersion'; readonly datasetVersionId: number });

/** Datasets, each with its content-addressed versions newest first. */
export const datasetsTreeModel: TreeModel<DatasetsNode> = {
  roots(store: Store): DatasetsNode[] {
    const repo = new DatasetRepository(store);
    return repo.list().map((d) => {
      const count = repo.versions(d.datasetId).length;
      return {
        kind: 'dataset',
        id: `dataset:${d.datasetId}`,
        datasetId: d.datasetId,
        label: d.name,
        description: `${d.uri} · ${count} version${count === 1 ? '' : 's'}`,
        tooltip: `${d.name}\n${d.uri}\nsource: ${d.source}`,
        icon: new vscode.ThemeIcon('database'),
        contextValue: `dataset.${d.source}`,
        collapsible: count > 0,
      };
    });
  },
  children(store: Store, node: DatasetsNode): DatasetsNode[] {
    if (node.kind !== 'dataset') return [];
    return new DatasetRepository(store).versions(node.datasetId).map((v) => ({
      kind: 'datasetVersion',
      id: `datasetVersion:${v.datasetVersionId}`,
      datasetVersionId: v.datasetVersionId,
      label: v.digest.slice(0, 12),
      description: [
        v.rowCount === null ? undefined : `${v.rowCount.toLocaleString()} rows`,
        ago(v.createdAt),
        `used by ${v.usedByRuns} run${v.usedByRuns === 1 ? '' : 's'}`,
      ]
        .filter(Boolean)
        .join(' · '),
      tooltip: `${v.digestAlgorithm}:${v.digest}\n${v.path}${v.sizeBytes === null ? '' : `\n${v.sizeBytes.toLocaleString()} bytes`}\norigin: ${v.origin}`,
      icon: new vscode.ThemeIcon('versions'),
      contextValue: 'datasetVersion',
      collapsible: false,
      parent: node,
    }));
  },
};
