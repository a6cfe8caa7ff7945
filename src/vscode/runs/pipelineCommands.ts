import * as vscode from 'vscode';
import type { ReproResult } from '../../core/experiments/repro';
import type { CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import { PipelinePanel, type PipelinePanelDeps } from './pipelinePanel';
import { PipelineProblemsError, type PipelineRunner } from './pipelineRunner';

/** Run Pipeline (mloop repro in the editor) and Show Pipeline DAG. */
export function registerPipelineCommands(deps: { commands: CommandContext; runner: PipelineRunner; panelDeps: PipelinePanelDeps }): vscode.Disposable[] {
  const { commands, runner } = deps;
  return [
    registerCommand('mloop.runs.repro', async (stage?: string): Promise<ReproResult | undefined> => {
      try {
        const result = await runner.run(stage);
        const ran = result.stages.filter((s) => s.outcome === 'ran').length;
        const skipped = result.stages.filter((s) => s.outcome === 'skipped').length;
        const failed = result.stages.find((s) => s.outcome === 'failed');
        if (failed) {
          void vscode.window
            .showErrorMessage(`mloop: stage "${failed.stage}" ${failed.reason}; later stages were not run.`, 'Show Output', 'Show Pipeline DAG')
            .then((a) => (a === 'Show Output' ? runner.showOutput() : a && executeCommand('mloop.runs.showPipeline')));
        } else if (result.status === 'KILLED') void vscode.window.showWarningMessage('mloop: the pipeline was stopped; no later stage was started.');
        else
          void vscode.window
            .showInformationMessage(`mloop: pipeline up to date · ${ran} ran, ${skipped} skipped (unchanged)`, 'Show Pipeline DAG')
            .then((a) => a && executeCommand('mloop.runs.showPipeline'));
        return result;
      } catch (error) {
        if (error instanceof PipelineProblemsError) {
          commands.log.error(`Run Pipeline: ${error.message}`);
          const first = error.problems[0];
          void vscode.window
            .showErrorMessage(
              `mloop: Run Pipeline: ${first ? `${first.file}:${first.line}:${first.column}: ${first.message}` : error.message} (nothing was started)`,
              'Show Log',
            )
            .then((a) => a && commands.log.show());
          return undefined;
        }
        return commands.reportError('Run Pipeline', error);
      }
    }),
    registerCommand('mloop.runs.showPipeline', () => {
      try {
        PipelinePanel.show(deps.panelDeps);
      } catch (error) {
        commands.reportError('Show Pipeline DAG', error);
      }
    }),
  ];
}
