import * as vscode from 'vscode';
import { primaryMetricOf } from '../../core/config/schema';
import type { Sweep } from '../../core/store/sweeps';
import type { CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';
import type { TrackingService } from './trackingService';

/** What code and tests pass to Run Sweep: the pipeline and, optionally, a grid or a random draw instead of its sweep. */
export interface SweepRequestArgument {
  readonly pipeline: string;
  /** Run the trials still queued in this sweep (after a restart) instead of queueing a new one. */
  readonly resume?: string;
  readonly grid?: readonly string[];
  readonly random?: number;
  readonly parallel?: number;
}

/**
 * "mloop: Run Sweep…": the trials of a pipeline's sweep queued in the store and run with a cancellable progress
 * notification (Cancel stops the running trials; no queued trial starts). Each trial is a run tagged mloop.sweep.
 */
export function registerSweepCommands(deps: { commands: CommandContext; tracking: TrackingService }): vscode.Disposable[] {
  const { commands } = deps;
  return [
    registerCommand('mloop.runs.sweep', async (given?: SweepRequestArgument): Promise<Sweep | undefined> => {
      try {
        commands.requireTrusted();
        const { config, projectRoot } = commands.requireProject();
        let pipelineName = given?.pipeline;
        let resume = given?.resume;
        const store = await commands.requireStore({ create: true, trusted: true });
        const { SweepRepository } = await import('../../core/store/sweeps');
        const repo = new SweepRepository(store);
        if (pipelineName === undefined) {
          const names = Object.keys(config.pipelines);
          // a queue survives a restart: its sweeps are offered first
          const unfinished = repo.unfinished().filter((s) => names.includes(s.pipeline));
          const picked = await vscode.window.showQuickPick(
            [
              ...unfinished.map((s) => ({
                label: `Resume ${s.pipeline}`,
                description: `sweep ${s.sweepId}: ${repo.trials(s.sweepId).filter((t) => t.status === 'QUEUED').length} trials still queued`,
                pipeline: s.pipeline,
                resume: s.sweepId,
              })),
              ...names.map((n) => ({
                label: n,
                description: config.pipelines[n]!.sweep ? 'has a sweep' : 'no sweep: you give a grid next',
                pipeline: n,
                resume: undefined,
              })),
            ],
            { title: 'mloop: Run Sweep', placeHolder: 'Sweep which pipeline?', ignoreFocusOut: true },
          );
          if (!picked) return undefined;
          pipelineName = picked.pipeline;
          resume = picked.resume;
        }
        const pipeline = config.pipelines[pipelineName];
        if (!pipeline) throw new Error(`mloop.yaml has no pipeline "${pipelineName}"`);
        const { sweepTrials, runSweep, SweepError } = await import('../../core/experiments/sweeps');
        let grid = given?.grid;
        if (!given && !pipeline.sweep && !resume) {
          const text = await vscode.window.showInputBox({
            ignoreFocusOut: true,
            title: `mloop: Run Sweep (${pipelineName})`,
            prompt: `A grid as name=a,b separated by spaces (params: ${Object.keys(pipeline.params).join(', ') || 'none'})`,
            validateInput: (value) => {
              try {
                sweepTrials(pipelineName!, pipeline, { grid: value.split(/\s+/).filter(Boolean) });
                return undefined;
              } catch (error) {
                return error instanceof SweepError ? error.message : String(error);
              }
            },
          });
          if (text === undefined) return undefined;
          grid = text.split(/\s+/).filter(Boolean);
        }
        const resumed = resume ? repo.get(resume) : undefined;
        if (resume && (!resumed || resumed.pipeline !== pipelineName)) throw new Error(`no sweep ${resume} of pipeline "${pipelineName}" in the store`);
        const sweep =
          resumed ??
          repo.create(
            pipelineName,
            sweepTrials(pipelineName, pipeline, { ...(grid ? { grid } : {}), ...(given?.random !== undefined ? { random: given.random } : {}) }),
            given?.parallel ?? pipeline.sweep?.max_parallel ?? 1,
          );
        const trials = repo.trials(sweep.sweepId);
        const tracking = await deps.tracking.endpoint();
        const { launchRun } = await import('../../core/runs/launcher');
        const metric = primaryMetricOf(pipeline);
        commands.log.info(`sweep ${sweep.sweepId} of ${pipelineName}: ${trials.length} trials, ${sweep.maxParallel} at a time`);
        const ended = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `mloop: sweep ${pipelineName} (${trials.length} trials)`, cancellable: true },
          async (progress, token) => {
            const controller = new AbortController();
            token.onCancellationRequested(() => controller.abort());
            let done = 0;
            return runSweep({
              store,
              sweepId: sweep.sweepId,
              signal: controller.signal,
              ...(metric ? { primaryMetric: metric } : {}),
              launch: (overrides, tags) =>
                launchRun({ store, projectRoot, pipelineName: pipelineName!, pipeline, overrides, tags, trusted: vscode.workspace.isTrusted, tracking }),
              onTrial: (trial) => {
                const params = Object.entries(trial.params)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ');
                commands.log.info(`sweep ${sweep.sweepId} trial ${trial.ordinal}: ${trial.status}${trial.runId ? ` (run ${trial.runId})` : ''} ${params}`);
                commands.workspaceStore.fire();
                if (trial.status === 'RUNNING') progress.report({ message: `trial ${trial.ordinal}: ${params}` });
                else progress.report({ increment: 100 / trials.length, message: `${++done}/${trials.length} done` });
              },
            });
          },
        );
        commands.workspaceStore.fire();
        const message = `mloop: sweep ${ended.sweepId} of ${pipelineName} ${ended.status.toLowerCase()}`;
        if (ended.status === 'FINISHED') void vscode.window.showInformationMessage(message);
        else void vscode.window.showWarningMessage(message);
        return ended;
      } catch (error) {
        return commands.reportError('Run Sweep', error);
      }
    }),
  ];
}
