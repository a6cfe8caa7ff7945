import * as vscode from 'vscode';
import type { Problem } from '../../core/config/loadConfig';
import type { ReproResult } from '../../core/experiments/repro';
import { requireTrusted, type CommandContext } from '../base/commandContext';
import type { TrackingService } from './trackingService';

/** The project's stages could not be read or checked: each problem at file:line:col, nothing started. */
export class PipelineProblemsError extends Error {
  override readonly name = 'PipelineProblemsError';
  constructor(readonly problems: readonly Problem[]) {
    super(`${problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n')}\n(nothing was started)`);
  }
}

/**
 * "mloop: Run Pipeline": `mloop repro` in the editor, one at a time per window, with a cancellable progress
 * notification; the stages' output goes to the "mloop: Pipeline" output channel.
 */
export class PipelineRunner implements vscode.Disposable {
  private current: AbortController | undefined;
  private output: vscode.OutputChannel | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a pipeline starts or ends, and after each stage. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly deps: { readonly commands: CommandContext; readonly tracking: TrackingService }) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  /** Runs `stage` and what it reads from (every stage without one); resolves with what each stage did. */
  async run(stage?: string): Promise<ReproResult> {
    requireTrusted();
    if (this.current) throw new Error('a pipeline is already running in this window; cancel it from its notification first');
    const { commands } = this.deps;
    const root = commands.projectConfig.projectRoot;
    if (!root) throw new Error('mloop needs an open folder with mloop.yaml or dvc.yaml to run a pipeline');
    const [{ loadProjectStages }, { repro, ReproConfigError }] = await Promise.all([
      import('../../core/experiments/stages'),
      import('../../core/experiments/repro'),
    ]);
    const project = loadProjectStages(root);
    const errors = project.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0) throw new PipelineProblemsError(errors);
    const store = await commands.requireStore({ create: true, trusted: true });
    const tracking = await this.deps.tracking.endpoint();
    const output = (this.output ??= vscode.window.createOutputChannel('mloop: Pipeline'));
    const controller = (this.current = new AbortController());
    this.changed.fire();
    output.appendLine(`[mloop] repro ${stage ?? '(every stage)'} · ${new Date().toISOString()}`);
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `mloop: Run Pipeline${stage ? ` (${stage})` : ''}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          try {
            return await repro({
              store,
              project,
              ...(stage ? { target: stage } : {}),
              trusted: vscode.workspace.isTrusted,
              signal: controller.signal,
              tracking,
              onOutput: (_stage, text) => output.append(text),
              onStage: ({ stage: name, index, total, outcome }) => {
                const line = outcome
                  ? `${name}: ${outcome.outcome === 'skipped' ? 'skipped (unchanged)' : `${outcome.outcome} (${outcome.reason})`}`
                  : `${name}: running`;
                output.appendLine(`[mloop] [${index + 1}/${total}] ${line}`);
                if (outcome) progress.report({ increment: 100 / total, message: line });
                else progress.report({ message: line });
                this.changed.fire();
              },
            });
          } catch (error) {
            if (error instanceof ReproConfigError) throw new PipelineProblemsError(error.problems);
            throw error;
          }
        },
      );
    } finally {
      this.current = undefined;
      this.changed.fire();
    }
  }

  showOutput(): void {
    this.output?.show(true);
  }

  dispose(): void {
    this.current?.abort();
    this.output?.dispose();
    this.changed.dispose();
  }
}
