import * as vscode from 'vscode';
import { decideRequest } from '../../core/governance/approvalDecision';
import { registryActor } from '../../core/registry/actor';
import { gateSpecFor } from '../../core/registry/autoRegister';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { getRequest, describeRequest } from '../../core/governance/approvals';
import { CommandCancelled, type CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { AuditNode } from './tree';

/** A request: its row in the Audit view, or its number (code, tests). */
export type RequestArgument = (AuditNode & { kind: 'request' }) | number;

/** Approve… / Reject… on a pending request: as the workspace's git identity, with a comment, like `mloop approve|reject`. */
export function registerAuditCommands(deps: { commands: CommandContext; refresh(): Promise<void> }): vscode.Disposable[] {
  const { commands } = deps;
  const decideAs = (decision: 'approve' | 'reject') => (given: RequestArgument, comment?: string) =>
    commands.guard(decision === 'approve' ? 'Approve Request' : 'Reject Request', async () => {
      const store = await commands.requireStore({ trusted: true });
      const { config, projectRoot } = commands.requireProject({ reread: false });
      const requestId = typeof given === 'number' ? given : given.requestId;
      const request = getRequest(store, requestId);
      if (!request) throw new Error(`no approval request #${requestId}`);
      const text =
        comment ??
        (await vscode.window.showInputBox({
          title: `${decision === 'approve' ? 'Approve' : 'Reject'} request #${requestId}: ${describeRequest(request)}`,
          prompt: 'Why? (required; audited with your git user.name and user.email)',
          ignoreFocusOut: true,
          validateInput: (v) => (v.trim() ? undefined : 'a comment is required'),
        }));
      if (text === undefined) throw new CommandCancelled();
      const outcome = await decideRequest(
        { store, artifactRoot: artifactRootOf(store.path), actor: registryActor(projectRoot) },
        { requestId, decision, comment: text, gate: gateSpecFor(config, request.modelName) },
      );
      await deps.refresh();
      const r = outcome.request;
      void vscode.window.showInformationMessage(
        `mloop: request #${r.requestId} ${r.status}${outcome.executed ? `: done — ${describeRequest(r)}` : r.status === 'pending' ? ' (your approval is recorded)' : ''}`,
      );
      return r.status;
    });
  return [registerCommand('mloop.audit.approveRequest', decideAs('approve')), registerCommand('mloop.audit.rejectRequest', decideAs('reject'))];
}
