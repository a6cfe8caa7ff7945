import * as vscode from 'vscode';
import type { Config, Pipeline } from '../../core/config/schema';
import type { Store } from '../../core/store/store';
import { executeCommand } from '../base/commands';

/**
 * The run-start gate in the editor: snapshots and validates the pipeline's inputs, writing progress and
 * any report into the run's terminal. Throws DatasetGateError (offer "Start Anyway…") when a rule fails
 * and no override reason was given. Returns the version ids to pin to the run.
 */
export async function snapshotRunInputs(
  store: Store,
  options: { config: Config; pipelineName: string; pipeline: Pipeline; projectRoot: string; override: string | undefined; write: (text: string) => void },
): Promise<number[]> {
  if (options.pipeline.inputs.length === 0) return [];
  const { gateRunInputs } = await import('../../core/datasets/versions');
  return gateRunInputs(store, {
    config: options.config,
    pipelineName: options.pipelineName,
    pipeline: options.pipeline,
    projectRoot: options.projectRoot,
    ...(options.override !== undefined ? { override: { reason: options.override } } : {}),
    onProgress: (text) => options.write(`\x1b[2m[mloop] ${text}\x1b[0m\n`),
  });
}

/** After a blocked start: offers to start anyway with a reason (audited), or to show the report. */
export async function offerValidationOverride(pipelineName: string, startAnyway: (reason: string) => unknown): Promise<void> {
  const action = await vscode.window.showErrorMessage(
    `mloop: ${pipelineName} did not start: an input dataset failed validation (the report is in the terminal).`,
    'Start Anyway…',
    'Show Datasets',
  );
  if (action === 'Show Datasets') await executeCommand('mloop.datasets.focus');
  if (action !== 'Start Anyway…') return;
  const reason = await vscode.window.showInputBox({
    title: `Start ${pipelineName} despite failed validation`,
    prompt: 'Why? The reason is recorded in the audit trail with the failing dataset versions.',
    validateInput: (v) => (v.trim() ? undefined : 'a reason is required'),
    ignoreFocusOut: true,
  });
  if (reason?.trim()) startAnyway(reason.trim());
}
