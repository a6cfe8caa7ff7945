import * as vscode from 'vscode';
import { ModelRepository } from '../../core/store/models';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from './storeTree';

export type ModelsNode =
  | (TreeNode & { readonly kind: 'model'; readonly modelId: number })
  | (TreeNode & { readonly kind: 'modelVersion'; readonly modelId: number; readonly version: number });

/** Registered models, each with its versions newest first, aliases as badges. */
export const modelsTreeModel: TreeModel<ModelsNode> = {
  roots(store: Store): ModelsNode[] {
    const repo = new ModelRepository(store);
    return repo.list().map((m) => {
      const versions = repo.versions(m.modelId);
      const champion = versions.find((v) => v.aliases.includes('champion'));
      return {
        kind: 'model',
        id: `model:${m.modelId}`,
        modelId: m.modelId,
        label: m.name,
        description: [`${versions.length} version${versions.length === 1 ? '' : 's'}`, champion && `champion v${champion.version}`].filter(Boolean).join(' · '),
        icon: new vscode.ThemeIcon('package'),
        contextValue: 'model',
        collapsible: versions.length > 0,
      };
    });
  },
  children(store: Store, node: ModelsNode): ModelsNode[] {
    if (node.kind !== 'model') return [];
    return new ModelRepository(store).versions(node.modelId).map((v) => ({
      kind: 'modelVersion',
      id: `modelVersion:${v.modelVersionId}`,
      modelId: v.modelId,
      version: v.version,
      label: `v${v.version}`,
      description: [
        v.aliases.map((a) => `@${a}`).join(' '),
        v.gatePassed === null ? undefined : v.gatePassed ? 'gate ✓' : 'gate ✗',
        v.sourceRunId ? `run ${v.sourceRunId.slice(0, 8)}` : undefined,
        ago(v.createdAt),
      ]
        .filter(Boolean)
        .join(' · '),
      icon: new vscode.ThemeIcon(v.aliases.includes('champion') ? 'star-full' : 'symbol-class'),
      contextValue: v.aliases.includes('champion') ? 'modelVersion.champion' : 'modelVersion',
      collapsible: false,
      parent: node,
    }));
  },
};
