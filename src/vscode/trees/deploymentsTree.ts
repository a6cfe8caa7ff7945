import * as vscode from 'vscode';
import { DeploymentRepository, type DeploymentStatus } from '../../core/store/deployments';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from './storeTree';

export type DeploymentsNode = TreeNode & { readonly kind: 'deployment'; readonly deploymentId: number };

const STATUS_ICON: Record<DeploymentStatus, vscode.ThemeIcon> = {
  pending: new vscode.ThemeIcon('clock'),
  in_progress: new vscode.ThemeIcon('sync~spin'),
  healthy: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  unhealthy: new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  rolled_back: new vscode.ThemeIcon('discard'),
  superseded: new vscode.ThemeIcon('archive'),
};

/** Deployments newest first: which model version serves where, how much traffic, how healthy. */
export const deploymentsTreeModel: TreeModel<DeploymentsNode> = {
  roots(store: Store): DeploymentsNode[] {
    return new DeploymentRepository(store).list().map((d) => ({
      kind: 'deployment',
      id: `deployment:${d.deploymentId}`,
      deploymentId: d.deploymentId,
      label: `${d.modelName} v${d.version} → ${d.target}`,
      description: [d.strategy.replace('_', '/'), `${d.trafficPercent}%`, d.status.replace('_', ' '), ago(d.updatedAt)].join(' · '),
      icon: STATUS_ICON[d.status],
      contextValue: `deployment.${d.status}`,
      collapsible: false,
    }));
  },
  children(): DeploymentsNode[] {
    return [];
  },
};
