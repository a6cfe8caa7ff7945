import * as vscode from 'vscode';
import type { RunHandle, RunOutcome } from '../../core/runs/launcher';

/**
 * A terminal that shows one run's output live. The run starts when the terminal opens (so a task
 * and a command behave the same); Ctrl+C stops it; closing the terminal stops it too.
 */
export class RunTerminal implements vscode.Pseudoterminal {
  private readonly writer = new vscode.EventEmitter<string>();
  private readonly closer = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writer.event;
  readonly onDidClose = this.closer.event;
  private handle: RunHandle | undefined;
  private finished = false;

  constructor(
    private readonly start: (write: (text: string) => void) => Promise<RunHandle>,
    private readonly onStarted: (handle: RunHandle) => void,
    private readonly onFinished: (outcome: RunOutcome | Error) => void,
    /** Tasks end by closing their terminal; a terminal the user opened stays so the output can be read. */
    private readonly closeWhenDone: boolean,
  ) {}

  open(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    const write = (text: string): void => this.writer.fire(text.replace(/\r?\n/g, '\r\n'));
    try {
      this.handle = await this.start(write);
      this.onStarted(this.handle);
      write(`\x1b[2m[mloop] run ${this.handle.runId} started (pid ${this.handle.pid ?? '?'}); Ctrl+C stops it\x1b[0m\n`);
      const outcome = await this.handle.done;
      this.finished = true;
      const colour = outcome.status === 'FINISHED' ? '32' : '31';
      write(
        `\n\x1b[${colour}m[mloop] run ${outcome.runId} ${outcome.status.toLowerCase()}${outcome.exitCode !== null ? ` (exit ${outcome.exitCode})` : ''}${outcome.signal ? ` (${outcome.signal})` : ''}\x1b[0m\n`,
      );
      if (outcome.error) write(`\x1b[31m[mloop] ${outcome.error}\x1b[0m\n`);
      this.onFinished(outcome);
      if (this.closeWhenDone) this.closer.fire(outcome.status === 'FINISHED' ? 0 : (outcome.exitCode ?? 1));
    } catch (error) {
      this.finished = true;
      write(`\x1b[31m[mloop] ${(error as Error).message}\x1b[0m\n`);
      this.onFinished(error as Error);
      if (this.closeWhenDone) this.closer.fire(1);
    }
  }

  handleInput(data: string): void {
    if (data === '\x03' && this.handle && !this.finished) {
      this.writer.fire('^C\r\n\x1b[2m[mloop] stopping…\x1b[0m\r\n');
      this.handle.stop();
    }
  }

  close(): void {
    if (this.handle && !this.finished) this.handle.stop();
  }
}
