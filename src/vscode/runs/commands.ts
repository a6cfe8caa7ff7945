import * as vscode from 'vscode';
import { dirname } from 'node:path';
import { parseParamOverrides } from '../../core/runs/resolveCommand';
import { RunRepository } from '../../core/store/runs';
import type { RunArgument } from '../base/commandArgs';
import { requireTrusted, type CommandContext } from '../base/commandContext';
import { executeCommand, registerCommand } from '../base/commands';
import type { BackendService } from '../backend/backendService';
import type { RunController } from './runController';

const runIdOf = (arg: RunArgument): string | undefined => (typeof arg === 'string' ? arg : arg?.kind === 'run' ? arg.runId : undefined);

/** Train…, Stop Run, Re-run, Copy Run ID, Delete Run. */
export function registerRunCommands(deps: { commands: CommandContext; runController: RunController; backends: BackendService }): vscode.Disposable[] {
  const { commands, runController, backends } = deps;
  const { projectConfig, log } = commands;
  // the run controller already offers "Start Anyway…" with the report in the terminal
  const reportError = (what: string, error: unknown): undefined =>
    commands.reportError(what, error, { notify: !(error instanceof Error && error.name === 'DatasetGateError') });

  /** `mloop.runs.train` — (pipeline?, overrides?) from lenses and tests; without a pipeline it asks which one. */
  const train = async (pipelineName?: string, overrides?: Record<string, string> | string[], askParams?: boolean): Promise<string | undefined> => {
    try {
      requireTrusted();
      const config = projectConfig.reload();
      if (!config) {
        const action = await vscode.window.showErrorMessage('mloop: mloop.yaml is missing or has errors.', 'Open mloop.yaml', 'Show Problems');
        if (action === 'Open mloop.yaml') await executeCommand('mloop.project.openConfig');
        if (action === 'Show Problems') await executeCommand('workbench.actions.view.problems');
        return undefined;
      }
      const names = Object.keys(config.pipelines);
      if (names.length === 0) {
        void vscode.window.showInformationMessage('mloop: mloop.yaml declares no pipelines yet. Add one under `pipelines:`.');
        return undefined;
      }
      // a pipeline's name, from a lens or a caller; anything else (a tree item or a menu's context, say) asks which one
      let name = typeof pipelineName === 'string' ? pipelineName : undefined;
      if (pipelineName !== undefined && name === undefined) overrides = undefined; // the context's other arguments are no overrides either
      let params: Record<string, string> | undefined = Array.isArray(overrides) ? undefined : overrides;
      // Train… runs the defaults after one pick; Train with Params… is the one that asks
      const interactive = askParams === true;
      if (name === undefined) {
        const picked = await vscode.window.showQuickPick(
          names.map((n) => {
            const p = config.pipelines[n]!;
            return {
              label: n,
              description: Array.isArray(p.command) ? p.command.join(' ') : p.command,
              detail: Object.keys(p.params).length
                ? `params: ${Object.entries(p.params)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')}`
                : undefined,
            };
          }),
          // a walkthrough step that completes on this command re-renders and takes the focus: the pick stays open
          { title: 'mloop: Train', placeHolder: 'Which pipeline?', ignoreFocusOut: true },
        );
        if (!picked) return undefined;
        name = picked.label;
      }
      const pipeline = config.pipelines[name];
      if (!pipeline) throw new Error(`mloop.yaml has no pipeline "${name}"`);
      if (Array.isArray(overrides)) params = parseParamOverrides(overrides, pipeline.params);
      if (interactive && Object.keys(pipeline.params).length > 0) {
        const text = await vscode.window.showInputBox({
          ignoreFocusOut: true,
          title: `mloop: Train ${name}`,
          prompt: `Override params as key=value separated by spaces, or press Enter for the defaults (${Object.entries(pipeline.params)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`,
          placeHolder: Object.entries(pipeline.params)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
          validateInput: (value) => {
            try {
              parseParamOverrides(splitAssignments(value), pipeline.params);
              return undefined;
            } catch (error) {
              return (error as Error).message;
            }
          },
        });
        if (text === undefined) return undefined;
        params = parseParamOverrides(splitAssignments(text), pipeline.params);
      }
      const { runId } = await runController.train({ pipelineName: name, overrides: params });
      return runId;
    } catch (error) {
      return reportError('train', error);
    }
  };

  const stop = async (arg?: RunArgument): Promise<void> => {
    let runId = runIdOf(arg);
    if (!runId) {
      const active = runController.activeRunIds;
      if (active.length === 0) {
        void vscode.window.showInformationMessage('mloop: no run launched from this window is running.');
        return;
      }
      runId = active.length === 1 ? active[0] : await vscode.window.showQuickPick(active, { placeHolder: 'Stop which run?', ignoreFocusOut: true });
      if (!runId) return;
    }
    if (!runController.stop(runId))
      void vscode.window.showWarningMessage(`mloop: run ${runId.slice(0, 8)} was not started from this window, so it cannot be stopped here.`);
  };

  const rerun = async (arg?: RunArgument): Promise<string | undefined> => {
    const runId = runIdOf(arg);
    if (!runId) return undefined;
    try {
      const store = await commands.requireStore();
      const run = new RunRepository(store).get(runId);
      if (!run) throw new Error(`run ${runId} is not in the store`);
      if (!run.pipeline) throw new Error(`run ${run.name} was not launched from a pipeline in mloop.yaml, so mloop cannot re-run it`);
      const pipeline = projectConfig.reload()?.pipelines[run.pipeline];
      if (!pipeline) throw new Error(`pipeline "${run.pipeline}" is no longer in mloop.yaml`);
      const recorded = new RunRepository(store).params(runId);
      // the run's own param values, for the params the pipeline still declares
      const overrides = Object.fromEntries(Object.entries(recorded).filter(([k]) => k in pipeline.params));
      return await train(run.pipeline, overrides);
    } catch (error) {
      return reportError('re-run', error);
    }
  };

  const copyRunId = async (arg?: RunArgument): Promise<void> => {
    const runId = runIdOf(arg);
    if (runId) await vscode.env.clipboard.writeText(runId);
  };

  /** Delete Run (one run, or the Experiments Table's selection): confirmed, through the backend, audited. */
  const deleteRun = async (arg?: RunArgument | readonly string[]): Promise<number> => {
    const runIds = Array.isArray(arg) ? [...new Set(arg as readonly string[])] : [runIdOf(arg as RunArgument)].filter((id): id is string => Boolean(id));
    if (!runIds.length) return 0;
    try {
      const running = runIds.filter((id) => runController.isActive(id));
      if (running.length)
        throw new Error(`${running.length === 1 ? `run ${running[0]!.slice(0, 8)} is` : `${running.length} runs are`} still running; stop first`);
      const { openRunsBackend } = await import('../backend/dataPath');
      const { backend, store, where } = await openRunsBackend({ backends, context: commands });
      const named = runIds.length === 1 ? await backend.getRun(runIds[0]!) : undefined;
      if (runIds.length === 1 && !named) throw new Error(`no run ${runIds[0]}${where}`);
      const answer = await vscode.window.showWarningMessage(
        named ? `Delete run "${named.name}"${where}?` : `Delete ${runIds.length} runs${where}?`,
        {
          modal: true,
          detail:
            'They disappear from the views; their metrics and artifacts stay (MLflow semantics: the run is marked deleted). The Audit view records each delete.',
        },
        'Delete',
      );
      if (answer !== 'Delete') return 0;
      const { deleteRuns } = await import('../../core/runs/deleteRuns');
      const { registryActor } = await import('../../core/registry/actor');
      const actor = registryActor(projectConfig.projectRoot ?? dirname(dirname(store.path)));
      const deleted = await deleteRuns({ backend, store, runIds, actor }); // a server's backend reports through the service
      log.info(`${deleted} run(s) marked deleted${where}: ${runIds.join(', ')}`);
      commands.workspaceStore.fire();
      return deleted;
    } catch (error) {
      reportError('delete run', error);
      return 0;
    }
  };

  /** The patch of uncommitted changes the run started with, opened as a diff document (what `mloop runs diff` prints). */
  const showUncommittedChanges = async (arg?: RunArgument): Promise<string | undefined> => {
    const runId = runIdOf(arg);
    if (!runId) return void vscode.window.showInformationMessage('mloop: pick a run in the Runs view.');
    try {
      const store = await commands.requireStore();
      const run = new RunRepository(store).get(runId);
      if (!run) throw new Error(`no run ${runId}`);
      const { RunCodeRepository } = await import('../../core/store/runCode');
      const changes = new RunCodeRepository(store).forRun(runId);
      if (!changes) {
        void vscode.window.showInformationMessage(
          `mloop: run ${run.name} started ${run.gitCommit ? `at ${run.gitCommit.slice(0, 8)} with no uncommitted changes recorded` : 'outside a git repository'}.`,
        );
        return undefined;
      }
      const header = [
        `# run ${run.name} (${runId}) started at commit ${changes.commit}`,
        `# apply on a checkout of that commit: mloop runs diff ${runId.slice(0, 8)} | git apply`,
        ...(changes.untracked.length ? [`# untracked files (not in the patch): ${changes.untracked.join(', ')}`] : []),
      ].join('\n');
      const body = changes.diff
        ? changes.diff.toString('utf8')
        : `# the diff was ${changes.diffBytes.toLocaleString('en-US')} bytes or more, over the cap: it was not kept`;
      const doc = await vscode.workspace.openTextDocument({ content: `${header}\n${body}`, language: 'diff' });
      await vscode.window.showTextDocument(doc, { preview: true });
      return doc.getText();
    } catch (error) {
      return reportError('show uncommitted changes', error);
    }
  };

  /** `mloop.runs.rename` — (run, name?): a name that says what the run tried; the input box offers the current one. */
  const renameRun = async (arg?: RunArgument, newName?: string): Promise<string | undefined> => {
    const runId = runIdOf(arg);
    if (!runId) return void vscode.window.showInformationMessage('mloop: pick a run in the Runs view, then Rename Run.');
    try {
      const store = await commands.workspaceStore.get();
      const run = store && new RunRepository(store).get(runId);
      if (!store || !run) return undefined;
      const name = (
        newName ??
        (await vscode.window.showInputBox({
          ignoreFocusOut: true,
          title: `Rename run ${run.name}`,
          value: run.name,
          validateInput: (v) => (v.trim() && v.length <= 250 ? undefined : 'a name of 1 to 250 characters'),
        }))
      )?.trim();
      if (!name || name === run.name) return undefined;
      new RunRepository(store).rename(runId, name);
      commands.workspaceStore.fire();
      return name;
    } catch (error) {
      return reportError('rename run', error);
    }
  };

  return [
    registerCommand('mloop.runs.rename', renameRun),
    registerCommand('mloop.runs.train', train),
    registerCommand('mloop.runs.trainWithParams', (pipelineName?: string) => train(pipelineName, undefined, true)),
    registerCommand('mloop.runs.stop', stop),
    registerCommand('mloop.runs.rerun', rerun),
    registerCommand('mloop.runs.copyId', copyRunId),
    registerCommand('mloop.runs.showUncommittedChanges', showUncommittedChanges),
    registerCommand('mloop.runs.delete', deleteRun),
  ];
}

/** "a=1 b='two words'" → ['a=1', "b=two words"]: quotes group, nothing is evaluated. */
export function splitAssignments(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let quote: string | undefined;
  let started = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) out.push(current);
      current = '';
      started = false;
    } else {
      current += ch;
      started = true;
    }
  }
  if (started) out.push(current);
  return out;
}
