import * as vscode from 'vscode';
import { describeRequest, listRequests, type ApprovalRequest } from '../../core/governance/approvals';
import { verifyChain } from '../../core/governance/auditChain';
import { AuditRepository } from '../../core/store/audit';
import { entrySignatureState, entrySignatureStates, type EntrySignatureState } from '../../core/governance/entrySignatures';
import type { Store } from '../../core/store/store';
import type { Backend } from '../../core/backends/backend';
import type { MlflowBackend } from '../../core/backends/mlflowBackend';
import { ago, type RemoteTreeModel, type TreeModel, type TreeNode } from '../base/storeTree';

export type AuditNode = TreeNode &
  (
    | { readonly kind: 'audit'; readonly auditId: number }
    | { readonly kind: 'chain'; readonly ok: boolean }
    | { readonly kind: 'request'; readonly requestId: number; readonly modelName: string }
    | { readonly kind: 'teamRequest'; readonly requestId: string; readonly modelName: string }
  );

/** An open approval request: Approve… / Reject… on its row (contextValue approvalRequest.pending). */
export function requestNode(r: ApprovalRequest): AuditNode {
  const approvals = r.decisions.filter((d) => d.decision === 'approve').length;
  return {
    kind: 'request',
    requestId: r.requestId,
    modelName: r.modelName,
    id: `request:${r.requestId}`,
    label: `Request #${r.requestId}: ${describeRequest(r)}`,
    description: `${r.status} · ${approvals}/${r.required} · by ${r.requestedBy}`,
    tooltip: new vscode.MarkdownString(
      `**${describeRequest(r)}** — ${r.status}\n\nrequested by ${r.requestedBy} · ${new Date(r.requestedAt).toLocaleString()} · expires ${new Date(r.expiresAt).toLocaleString()}` +
        `\n\nreviewers: ${r.reviewers.length ? r.reviewers.join(', ') : 'anyone but the requester'}` +
        r.decisions.map((d) => `\n\n${d.decision === 'approve' ? '✓' : '✗'} ${d.reviewer}: ${d.comment}`).join(''),
    ),
    icon: new vscode.ThemeIcon('git-pull-request', new vscode.ThemeColor('list.warningForeground')),
    contextValue: `approvalRequest.${r.status}`,
    collapsible: false,
  };
}

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

/** The first row: whether the hash chain of the whole trail verifies, and where it breaks (as `mloop audit verify`). */
export function chainNode(store: Store): AuditNode {
  const verdict = verifyChain(store.db);
  const entries = `${verdict.entries} entr${verdict.entries === 1 ? 'y' : 'ies'}`;
  if (!verdict.problem) {
    return {
      kind: 'chain',
      ok: true,
      id: 'audit:chain',
      label: `Chain verified ✓ ${entries}`,
      tooltip: `Every entry's SHA-256 matches its content and links to the entry before it.\n\nhead ${verdict.head}`,
      icon: new vscode.ThemeIcon('verified', new vscode.ThemeColor('testing.iconPassed')),
      contextValue: 'audit.chain.ok',
      collapsible: false,
    };
  }
  const p = verdict.problem;
  return {
    kind: 'chain',
    ok: false,
    id: 'audit:chain',
    label: `Chain broken at entry #${p.auditId}`,
    description: `${p.kind} · ${entries}`,
    tooltip: `${p.message}\n\n${new Date(p.at).toLocaleString()} · run "mloop audit verify" for the same verdict`,
    icon: new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground')),
    contextValue: 'audit.chain.broken',
    collapsible: false,
  };
}

/** With `audit.sign_with` in mloop.yaml: how the view checks each entry's signature. */
export interface AuditViewSigning {
  readonly allowedSigners?: string;
  readonly namespace: string;
}

const SIGNATURE_TEXT: Record<EntrySignatureState['state'], string> = { signed: 'signed ✓', unsigned: 'unsigned', invalid: 'signature invalid ✗' };

/** "signed ✓ ann@example.com (SHA256:…)", "unsigned", "signature invalid ✗": the row's signature state. */
export function signatureText(s: EntrySignatureState): string {
  if (s.state === 'signed') return `${SIGNATURE_TEXT.signed} by ${s.principal ? `${s.principal} (${s.keyId.slice(0, 19)}…)` : `${s.keyId.slice(0, 19)}…`}`;
  return SIGNATURE_TEXT[s.state];
}

/** " · key `SHA256:…`" for a signed entry, ": <why>" for an invalid one. */
const signatureDetail = (s: EntrySignatureState): string => (s.state === 'signed' ? ` · key \`${s.keyId}\`` : s.state === 'invalid' ? `: ${s.why}` : '');

/** The signature state as a plain-text tooltip line. */
const signatureLine = (s: EntrySignatureState): string => `${signatureText(s)}${signatureDetail(s).replace(/`/g, '')}`;

/**
 * Who changed what in the registry and deployments, newest first, after the chain's verification state and the open
 * requests. With signing on (`audit.sign_with`), each row also says whether its entry is signed, by which key, or
 * that its signature is invalid.
 */
export function createAuditTreeModel(options: { signing?: () => AuditViewSigning | undefined } = {}): TreeModel<AuditNode> {
  return {
    roots(store: Store): AuditNode[] {
      const entries = new AuditRepository(store).list({ limit: AUDIT_VIEW_LIMIT });
      if (entries.length === 0) return [];
      const pending = listRequests(store, { status: 'pending' }).map(requestNode);
      const signing = options.signing?.();
      const signatures = signing
        ? entrySignatureStates(
            store,
            entries.map((a) => a.auditId),
            signing,
          )
        : undefined;
      return [
        chainNode(store),
        ...pending,
        ...entries.map((a): AuditNode => {
          const node = auditEntryNode(a);
          const signature = signatures?.get(a.auditId);
          if (!signature) return node;
          return {
            ...node,
            description: `${node.description} · ${signatureText(signature)}`,
            tooltip: new vscode.MarkdownString(
              `${(node.tooltip as vscode.MarkdownString).value}\n\n**${signatureText(signature)}**${signatureDetail(signature)}`,
            ),
            ...(signature.state === 'invalid' ? { icon: new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground')) } : {}),
          };
        }),
      ];
    },
    children(): AuditNode[] {
      return [];
    },
  };
}

/** The view without signature states (no mloop.yaml, or signing off). */
export const auditTreeModel: TreeModel<AuditNode> = createAuditTreeModel();

function auditEntryNode(a: ReturnType<AuditRepository['list']>[number]): AuditNode {
  return {
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
  };
}

/**
 * With the MLflow backend: the team trail's verdict on the server, the team's pending requests (Approve… / Reject…
 * decide them on the server), then every workspace's entries in the one merged order, newest first. With signing on
 * (`audit.sign_with`), each row says whether the workspace that wrote it published a signature of it, checked here
 * against this project's allowed signers, as a local row is.
 */
export function createTeamAuditTreeModel(options: { signing?: () => AuditViewSigning | undefined } = {}): RemoteTreeModel {
  return {
    roots: (backend: Backend) => teamAuditRoots(backend, options.signing?.()),
    children: async (): Promise<TreeNode[]> => [],
  };
}

async function teamAuditRoots(backend: Backend, signing: AuditViewSigning | undefined): Promise<TreeNode[]> {
  if (backend.kind !== 'mlflow') return [];
  // loaded on first use: the team modules stay out of activation
  const [{ TeamLedger }, { listTeamRequests }, { verifyTeamTrail, teamSignatures }] = await Promise.all([
    import('../../core/backends/teamLedger'),
    import('../../core/governance/teamApprovals'),
    import('../../core/governance/teamTrail'),
  ]);
  const ledger = new TeamLedger(backend as MlflowBackend);
  const [verdict, pending, signatures] = await Promise.all([
    verifyTeamTrail(ledger),
    listTeamRequests(ledger, { status: 'pending' }),
    signing ? teamSignatures(ledger) : undefined,
  ]);
  const workspaces = `${verdict.writers.length} workspace${verdict.writers.length === 1 ? '' : 's'}`;
  const chain: AuditNode = verdict.problem
    ? {
        kind: 'chain',
        ok: false,
        id: 'audit:chain',
        label: `Team trail broken: workspace ${verdict.problem.writer} entry #${verdict.problem.auditId}`,
        description: `${verdict.problem.kind} · ${workspaces}`,
        tooltip: `${verdict.problem.message}\n\nrun "mloop audit verify --backend mlflow" for the same verdict`,
        icon: new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground')),
        contextValue: 'audit.chain.broken',
        collapsible: false,
      }
    : {
        kind: 'chain',
        ok: true,
        id: 'audit:chain',
        label: `Team trail verified ✓ ${verdict.entries} entr${verdict.entries === 1 ? 'y' : 'ies'}`,
        description: workspaces,
        tooltip: verdict.writers.map((w) => `${w.writer}: ${w.entries} entries by ${w.actors.join(', ')}`).join('\n'),
        icon: new vscode.ThemeIcon('verified', new vscode.ThemeColor('testing.iconPassed')),
        contextValue: 'audit.chain.ok',
        collapsible: false,
      };
  const requests = pending.map(
    (r): AuditNode => ({
      kind: 'teamRequest',
      requestId: r.requestId,
      modelName: r.modelName,
      id: `team-request:${r.requestId}`,
      label: `Request ${r.requestId.slice(0, 8)}: ${describeRequest(r)}`,
      description: `pending · by ${r.requestedBy}`,
      tooltip: `${describeRequest(r)}\n\nrequested by ${r.requestedBy}${r.identityProven ? ' (authenticated by the server)' : ''} · expires ${new Date(r.expiresAt).toLocaleString()}`,
      icon: new vscode.ThemeIcon('git-pull-request', new vscode.ThemeColor('list.warningForeground')),
      contextValue: 'approvalRequest.pending',
      collapsible: false,
    }),
  );
  const entries = [...verdict.trail]
    .reverse()
    .slice(0, AUDIT_VIEW_LIMIT)
    .map((a): AuditNode => {
      const signature = signing
        ? ((): EntrySignatureState => {
            const armored = a.hash ? signatures?.get(a.writer)?.get(a.hash) : undefined;
            return armored && a.hash ? entrySignatureState(a.hash, armored, signing) : { state: 'unsigned' };
          })()
        : undefined;
      const tooltip = `${a.action} ${a.entity_id}\n\n${a.from_value ?? '∅'} → ${a.to_value ?? '∅'}\n\nby ${a.actor} in workspace ${a.writer}${a.reason ? `\n\nwhy: ${a.reason}` : ''}`;
      return {
        kind: 'audit',
        auditId: a.audit_id,
        id: `team-audit:${a.writer}:${a.audit_id}`,
        label: `${a.action.replace(/_/g, ' ')} ${a.entity_id}`,
        description: [a.actor, ago(a.at), a.writer, ...(signature ? [signatureText(signature)] : [])].join(' · '),
        tooltip: signature ? `${tooltip}\n\n${signatureLine(signature)}` : tooltip,
        icon:
          signature?.state === 'invalid'
            ? new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'))
            : new vscode.ThemeIcon(ICONS[a.action] ?? 'history'),
        contextValue: `audit.${a.action}`,
        collapsible: false,
      };
    });
  return [chain, ...requests, ...entries];
}
