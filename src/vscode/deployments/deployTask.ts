import * as vscode from 'vscode';

/** The task type of deployments (package.json `taskDefinitions`). */
export const DEPLOY_TASK_TYPE = 'mloop-deploy';

export interface DeployTaskDefinition extends vscode.TaskDefinition {
  readonly type: typeof DEPLOY_TASK_TYPE;
  readonly action: 'deploy' | 'rollback' | 'restart' | 'promoteShadow';
  readonly target: string;
  readonly model?: string;
  readonly version?: number;
  readonly strategy?: string;
}

/** What a deployment task gives back: the work's result and every line its terminal showed. */
export interface TaskRun<T> {
  readonly result: T;
  readonly output: readonly string[];
}

/**
 * Runs deployment work as a VS Code task: a terminal in the task panel shows its log lines, a
 * notification shows progress with Cancel, and terminating the task (Ctrl+C in its terminal, the
 * trash can, Tasks: Terminate Task) aborts the work, which then rolls back and finishes its audit
 * before the promise settles.
 */
export function runDeploymentTask<T>(input: {
  readonly definition: DeployTaskDefinition;
  readonly title: string;
  readonly work: (signal: AbortSignal, line: (message: string) => void) => Promise<T>;
  /** The last line and the task's exit code from the result. */
  readonly conclude: (result: T) => { readonly ok: boolean; readonly text: string };
  readonly log: vscode.LogOutputChannel;
  readonly onLine?: (message: string) => void;
}): Promise<TaskRun<T>> {
  return new Promise<TaskRun<T>>((resolve, reject) => {
    const controller = new AbortController();
    const writer = new vscode.EventEmitter<string>();
    const closer = new vscode.EventEmitter<number>();
    const output: string[] = [];
    let started = false;
    let finished = false;
    let terminalOpen = false;
    const write = (text: string, colour?: string): void => {
      if (terminalOpen) writer.fire(`${colour ? `\x1b[${colour}m` : ''}${text.replace(/\r?\n/g, '\r\n')}${colour ? '\x1b[0m' : ''}\r\n`);
    };
    const line = (message: string): void => {
      output.push(message);
      input.log.info(message);
      write(message, message.startsWith('✗') ? '31' : message.startsWith('✓') ? '32' : undefined);
      input.onLine?.(message);
    };
    const cancel = (why: string): void => {
      if (finished || controller.signal.aborted) return;
      line(`cancelled (${why}): stopping the deployment and putting the previous version back`);
      controller.abort();
    };
    const settle = (ok: boolean, text: string): void => {
      finished = true;
      line(text);
      write(ok ? '' : 'see the mloop log and the Audit view for the reason', '2');
      if (terminalOpen) closer.fire(ok ? 0 : 1);
    };

    const run = (): void => {
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: input.title, cancellable: true }, async (progress, token) => {
        const subscription = token.onCancellationRequested(() => cancel('Cancel in the notification'));
        try {
          const result = await input.work(controller.signal, (message) => {
            line(message);
            progress.report({ message: message.split('\n')[0] });
          });
          const { ok, text } = input.conclude(result);
          settle(ok, text);
          resolve({ result, output });
        } catch (error) {
          settle(false, `✗ ${(error as Error).message}`);
          reject(error instanceof Error ? error : new Error(String(error)));
        } finally {
          subscription.dispose();
        }
      });
    };

    const pty: vscode.Pseudoterminal = {
      onDidWrite: writer.event,
      onDidClose: closer.event,
      open: () => {
        terminalOpen = true;
        write(`[mloop] ${input.title}; Ctrl+C or terminating this task cancels it (the previous version keeps serving)`, '2');
        for (const earlier of output) write(earlier);
        if (started) {
          // a rerun of a finished deployment task: it ran once; a new one starts from Deploy Version…
          if (finished) {
            write('[mloop] this deployment already ran; start a new one with mloop: Deploy Version…', '2');
            closer.fire(0);
          }
          return;
        }
        started = true;
        run();
      },
      close: () => {
        terminalOpen = false;
        cancel('the task was terminated');
      },
      handleInput: (data) => {
        if (data === '\x03') cancel('Ctrl+C');
      },
    };
    const folder = vscode.workspace.workspaceFolders?.[0];
    const task = new vscode.Task(
      input.definition,
      folder ?? vscode.TaskScope.Workspace,
      input.title.replace(/^mloop: /, ''),
      'mloop',
      new vscode.CustomExecution(async () => pty),
    );
    task.detail = 'mloop deployment: health checks, smoke test, automatic rollback';
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true, focus: false };
    vscode.tasks.executeTask(task).then(undefined, (error: unknown) => {
      if (started) return;
      // no task system (it refused the task): run the work without a terminal, still with progress
      input.log.warn(`could not start the deployment as a task (${(error as Error).message}); running it directly`);
      started = true;
      run();
    });
  });
}

/** Tasks → Run Task lists no deployments (they start from Deploy Version…), but the type resolves. */
export function registerDeployTaskType(): vscode.Disposable {
  return vscode.tasks.registerTaskProvider(DEPLOY_TASK_TYPE, { provideTasks: () => [], resolveTask: () => undefined });
}
