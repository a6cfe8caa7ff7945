import * as vscode from 'vscode';
import type { ProjectConfig } from '../base/projectConfig';
import type { RunController } from './runController';

export const TASK_TYPE = 'mloop';

interface MloopTaskDefinition extends vscode.TaskDefinition {
  readonly pipeline: string;
  readonly params?: Record<string, string | number | boolean>;
}

/** Every pipeline of mloop.yaml as a task (Terminal › Run Task), run as a recorded mloop run. */
export function registerTaskProvider(deps: { projectConfig: ProjectConfig; runController: RunController; log: vscode.LogOutputChannel }): vscode.Disposable {
  const toTask = (definition: MloopTaskDefinition, scope: vscode.WorkspaceFolder | vscode.TaskScope): vscode.Task => {
    const task = new vscode.Task(
      definition,
      scope,
      definition.pipeline,
      TASK_TYPE,
      new vscode.CustomExecution(async () => {
        const overrides = Object.fromEntries(Object.entries(definition.params ?? {}).map(([k, v]) => [k, String(v)]));
        return deps.runController.createTerminal({ pipelineName: definition.pipeline, overrides, asTask: true }).pty;
      }),
    );
    task.detail = 'mloop pipeline: a recorded run with params, metrics and code version';
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated };
    return task;
  };
  return vscode.tasks.registerTaskProvider(TASK_TYPE, {
    provideTasks: () => {
      if (!vscode.workspace.isTrusted) return [];
      const folder = vscode.workspace.workspaceFolders?.[0];
      const config = deps.projectConfig.current;
      if (!folder || !config) return [];
      return Object.keys(config.pipelines).map((pipeline) => toTask({ type: TASK_TYPE, pipeline }, folder));
    },
    resolveTask: (task) => {
      const definition = task.definition as MloopTaskDefinition;
      if (typeof definition.pipeline !== 'string') return undefined;
      return toTask(definition, task.scope ?? vscode.TaskScope.Workspace);
    },
  });
}
