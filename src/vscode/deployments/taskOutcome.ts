import * as vscode from 'vscode';
import type { DeployOutcome } from '../../core/deploy/deploy';
import type { CommandContext } from '../base/commandContext';
import { executeCommand } from '../base/commands';
import { DEPLOY_TASK_TYPE, runDeploymentTask, type DeployTaskDefinition } from './deployTask';

/** What the deploy, rollback and promote commands return (tests read it): the outcome and the task's terminal lines. */
export type DeployCommandResult = DeployOutcome & { readonly task: { readonly name: string; readonly output: readonly string[] } };

/** One line for a deployment outcome: where it serves, shadows, or why it rolled back or failed. */
export const describeOutcome = (o: DeployOutcome): string =>
  o.status === 'shadowing'
    ? `${o.deployment.modelName} v${o.deployment.version} runs as a shadow on ${o.deployment.target} (mirrored traffic, answers still from ${o.previous ? `v${o.previous.version}` : 'the serving version'}): ${o.shadow?.summary ?? ''}`
    : o.status === 'healthy'
      ? `${o.deployment.modelName} v${o.deployment.version} serves on ${o.deployment.target}${o.deployment.health?.process?.url ? ` at ${o.deployment.health.process.url}` : ''}`
      : `${o.deployment.modelName} v${o.deployment.version} on ${o.deployment.target} ${o.status === 'rolled_back' ? 'was rolled back' : 'failed'}: ${o.reason}`;

/** The outcome as a notification (shadow: with its next steps) and a log line. */
function announce(log: vscode.LogOutputChannel, o: DeployOutcome): void {
  const text = describeOutcome(o);
  if (o.status === 'shadowing') {
    log.info(text);
    const target = { target: o.deployment.target };
    void vscode.window.showInformationMessage(`mloop: ${text}`, 'Shadow Report', 'Promote Shadow', 'Stop Shadow').then((action) => {
      if (action === 'Shadow Report') void executeCommand('mloop.deployments.shadowReport', target);
      if (action === 'Promote Shadow') void executeCommand('mloop.deployments.promoteShadow', target);
      if (action === 'Stop Shadow') void executeCommand('mloop.deployments.stopShadow', target);
    });
  } else if (o.status === 'healthy') {
    log.info(text);
    void vscode.window.showInformationMessage(`mloop: ${text}`);
  } else {
    log.warn(text);
    void vscode.window.showWarningMessage(`mloop: ${text}`, 'Show Log').then((a) => a && log.show());
  }
}

/**
 * Deployment work (deploy, roll back, promote a shadow) as a VS Code task (terminal, progress, cancel =
 * abort and roll back); refreshes the views as it goes, then announces the outcome.
 */
export async function runTaskAndAnnounce(
  commands: CommandContext,
  definition: Pick<DeployTaskDefinition, 'action' | 'target' | 'model' | 'version' | 'strategy'>,
  title: string,
  work: (signal: AbortSignal, report: (message: string) => void) => Promise<DeployOutcome>,
): Promise<DeployCommandResult> {
  const { log, workspaceStore } = commands;
  const { result, output } = await runDeploymentTask({
    definition: { type: DEPLOY_TASK_TYPE, ...definition },
    title,
    work,
    conclude: (o) => ({
      ok: o.status === 'healthy' || o.status === 'shadowing',
      text: `${o.status === 'healthy' || o.status === 'shadowing' ? '✓' : '✗'} ${describeOutcome(o)}`,
    }),
    log,
    onLine: () => workspaceStore.fire(),
  });
  workspaceStore.fire();
  announce(log, result);
  return { ...result, task: { name: title.replace(/^mloop: /, ''), output } };
}
