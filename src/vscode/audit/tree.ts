import * as vscode from 'vscode';
import { AuditRepository } from '../../core/store/audit';
import type { Store } from '../../core/store/store';
import { ago, type TreeModel, type TreeNode } from '../base/storeTree';

export type AuditNode = TreeNode & { readonly kind: 'audit'; readonly auditId: number };

/** How many entries the view shows; `mloop audit` lists them all. */
export const AUDIT_VIEW_LIMIT = 300;

const ICONS: Readonly<Record<string, string>> = {
  register: 'add',
  promote: 'star-full',
  override_gate: 'warning',
  gate: 'checklist',
  set_alias: 'tag',
  delete_alias: 'close',
  rollback_alias: 'discard',
};

/** Who changed what in the registry and deployments, newest first. */
export const auditTreeModel: TreeModel<AuditNode> = {
  roots(store: Store): AuditNode[] {
    return new AuditRepository(store).list({ limit: AUDIT_VIEW_LIMIT }).map((a) => ({
      kind: 'audit',
      id: `audit:${a.auditId}`,
      auditId: a.auditId,
      label: `${a.action.replace(/_/g, ' ')} ${a.entityId}`,
      description: [a.fromValue !== null || a.toValue !== null ? `${a.fromValue ?? '∅'} → ${a.toValue ?? '∅'}` : undefined, a.actor, ago(a.at)]
        .filter(Boolean)
        .join(' · '),
      tooltip: new vscode.MarkdownString(
        `**${a.action}** \`${a.entityId}\`\n\n${a.fromValue ?? '∅'} → ${a.toValue ?? '∅'}\n\nby ${a.actor} · ${new Date(a.at).toLocaleString()}${a.reason ? `\n\nwhy: ${a.reason}` : ''}`,
      ),
      icon: new vscode.ThemeIcon(ICONS[a.action] ?? 'history', a.action === 'override_gate' ? new vscode.ThemeColor('list.warningForeground') : undefined),
      contextValue: `audit.${a.action}`,
      collapsible: false,
    }));
  },
  children(): AuditNode[] {
    return [];
  },
};
