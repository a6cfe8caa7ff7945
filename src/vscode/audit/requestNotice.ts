import * as vscode from 'vscode';
import type { ApprovalRequiredError } from '../../core/governance/approvals';

/**
 * A promotion or a deployment became an approval request instead of happening: say so, and offer the Requests
 * (Audit) view where a reviewer approves or rejects it.
 */
export async function announceApprovalRequest(error: ApprovalRequiredError, log: vscode.LogOutputChannel): Promise<void> {
  log.info(error.message);
  const text = error.message.replace(/; a reviewer runs .*$/, '');
  const action = await vscode.window.showInformationMessage(`mloop: ${text}. A reviewer approves it in the Audit view.`, 'Open Requests');
  if (action === 'Open Requests') await vscode.commands.executeCommand('mloop.audit.focus');
}
