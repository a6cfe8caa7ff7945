import * as vscode from 'vscode';
import type { ApprovalRequiredError } from '../../core/governance/approvals';

/**
 * A promotion or a deployment became an approval request instead of happening: say so, and offer the Requests
 * (Audit) view where a reviewer approves or rejects it.
 */
export async function announceApprovalRequest(error: ApprovalRequiredError, log: vscode.LogOutputChannel): Promise<void> {
  log.info(error.message);
  const text = error.message.replace(/; (once it is on the server, )?a reviewer runs .*$/, '');
  const queued = 'queued' in error.request && error.request.queued;
  // made while the team server is unreachable: a warning, it is not on the server yet
  const action = queued
    ? await vscode.window.showWarningMessage(`mloop: ${text}. A reviewer approves it in the Audit view once it is sent.`, 'Open Requests')
    : await vscode.window.showInformationMessage(`mloop: ${text}. A reviewer approves it in the Audit view.`, 'Open Requests');
  if (action === 'Open Requests') await vscode.commands.executeCommand('mloop.audit.focus');
}
