import * as vscode from 'vscode';
import { decideRequest } from '../../core/governance/approvalDecision';
import { registryActor } from '../../core/registry/actor';
import { gateSpecFor } from '../../core/registry/autoRegister';
import { artifactRootOf } from '../../core/store/artifactRoot';
import { getRequest, describeRequest } from '../../core/governance/approvals';
import { CommandCancelled, type CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { AuditNode } from './tree';
import type { MlflowBackend } from '../../core/backends/mlflowBackend';
import type { BackendService } from '../backend/backendService';

/** A request: its row in the Audit view, or its number (code, tests). */
export type RequestArgument = (AuditNode & { kind: 'request' | 'teamRequest' }) | number;

/** Approve… / Reject… on a pending request: as the workspace's git identity, with a comment, like `mloop approve|reject`. */
export function registerAuditCommands(deps: { commands: CommandContext; refresh(): Promise<void>; backends: BackendService }): vscode.Disposable[] {
  const { commands } = deps;

  /** A team request on the MLflow server: decided there as the server's user (else the workspace's git identity). */
  const decideOnServer = async (decision: 'approve' | 'reject', node: AuditNode & { kind: 'teamRequest' }, comment?: string): Promise<string> => {
    const store = await commands.requireStore({ trusted: true, create: true });
    const { config, projectRoot } = commands.requireProject({ reread: false });
    const backend = (await deps.backends.remote()) as MlflowBackend | undefined;
    if (!backend) throw new Error('the MLflow backend is not configured (mloop.backend = mlflow)');
    const [{ TeamLedger }, team, { executeTeamPromotion }] = await Promise.all([
      import('../../core/backends/teamLedger'),
      import('../../core/governance/teamApprovals'),
      import('../../core/backends/remoteRegistry'),
    ]);
    const ledger = new TeamLedger(backend);
    const request = await team.getTeamRequest(ledger, node.requestId);
    const text =
      comment ??
      (await vscode.window.showInputBox({
        title: `${decision === 'approve' ? 'Approve' : 'Reject'} request ${request.requestId.slice(0, 8)}: ${describeRequest(request)}`,
        prompt: `Why? (required; audited on ${backend.location})`,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'a comment is required'),
      }));
    if (text === undefined) throw new CommandCancelled();
    const who = await team.teamIdentity(ledger, registryActor(projectRoot ?? process.cwd()));
    const registry = { backend, store, actor: who.actor, identityProven: who.proven };
    const outcome = await deps.backends.use(() =>
      team.decideTeamRequest(
        { ledger, store, actor: who.actor, identityProven: who.proven },
        {
          requestId: request.requestId,
          decision,
          comment: text,
          execute: async (r) => void (await executeTeamPromotion(registry, r, gateSpecFor(config, r.modelName))),
        },
      ),
    );
    await deps.refresh();
    const r = outcome.request;
    void vscode.window.showInformationMessage(
      `mloop: request ${r.requestId.slice(0, 8)} ${r.status}${outcome.executed ? `: done — ${describeRequest(r)}` : r.status === 'pending' ? ' (your approval is recorded)' : ''}`,
    );
    return r.status;
  };
  const decideAs = (decision: 'approve' | 'reject') => (given: RequestArgument, comment?: string) =>
    commands.guard(decision === 'approve' ? 'Approve Request' : 'Reject Request', async () => {
      const store = await commands.requireStore({ trusted: true });
      const { config, projectRoot } = commands.requireProject({ reread: false });
      if (typeof given === 'object' && given.kind === 'teamRequest') return decideOnServer(decision, given, comment);
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
