import * as vscode from 'vscode';
import type { GateRefusedError } from '../../core/registry/errors';

/**
 * After a version failed its gate for `alias`: says which checks failed and offers an override that
 * asks for a reason (recorded in the audit log). Returns the reason as typed, or undefined when the
 * user declined or gave none. Shared by the local and the remote (MLflow) registry commands.
 */
export async function askGateOverrideReason(
  error: GateRefusedError,
  target: { readonly modelName: string; readonly version: number },
  alias: string,
): Promise<string | undefined> {
  const failed = error.gate.checks.filter((c) => !c.passed).map((c) => `✗ ${c.rule}: ${c.detail}`);
  const choice = await vscode.window.showWarningMessage(
    `${target.modelName} v${target.version} failed its gate and cannot become ${alias}.`,
    { modal: true, detail: `${failed.join('\n')}\n\nOverride only with a reason: it is recorded in the audit log.` },
    'Override with Reason…',
  );
  if (choice !== 'Override with Reason…') return undefined;
  const reason = await vscode.window.showInputBox({
    title: `Promote ${target.modelName} v${target.version} despite the failed gate`,
    prompt: 'Why? (recorded in the audit log)',
    validateInput: (v) => (v.trim() ? undefined : 'a reason is required to override the gate'),
    ignoreFocusOut: true,
  });
  return reason?.trim() ? reason : undefined;
}
