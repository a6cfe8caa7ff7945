import * as vscode from 'vscode';
import type { Config } from '../../core/config/schema';
import type { Store } from '../../core/store/store';
import type { ProjectConfig } from './projectConfig';
import type { WorkspaceStore } from './workspaceStore';
import { executeCommand } from './commands';

/** The one text mloop shows wherever Restricted Mode stops it (views, commands, API calls). */
export const RESTRICTED_MODE_MESSAGE = 'Restricted Mode: mloop shows this folder read-only and runs nothing from it until you trust it.';

/** Thrown by `requireTrusted`; `reportError` turns it into a warning that offers Manage Workspace Trust. */
export class RestrictedModeError extends Error {
  override readonly name = 'RestrictedModeError';
  constructor() {
    super(RESTRICTED_MODE_MESSAGE);
  }
}

/** The user closed a prompt half-way: the command stops and `reportError` shows nothing. */
export class CommandCancelled extends Error {
  override readonly name = 'CommandCancelled';
  constructor() {
    super('cancelled');
  }
}

/** Throws RestrictedModeError in an untrusted workspace: call it before anything runs, writes or contacts a server. */
export function requireTrusted(): void {
  if (!vscode.workspace.isTrusted) throw new RestrictedModeError();
}

export interface CommandContextDeps {
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly log: vscode.LogOutputChannel;
}

export interface RequireStoreOptions {
  /** Create (and migrate) the store when the folder has none yet; without it a missing store is an error. */
  readonly create?: boolean;
  /** Also require a trusted workspace (anything that writes). */
  readonly trusted?: boolean;
}

export interface ReportErrorOptions {
  /** False when the caller already showed the problem (e.g. the run controller's "Start Anyway…"): log only. */
  readonly notify?: boolean;
}

/**
 * What every command needs before it acts (trust, the store, mloop.yaml) and its one error path: the output
 * channel plus a notification with Show Log, so an error never vanishes.
 */
export class CommandContext {
  readonly workspaceStore: WorkspaceStore;
  readonly projectConfig: ProjectConfig;
  readonly log: vscode.LogOutputChannel;

  constructor(deps: CommandContextDeps) {
    this.workspaceStore = deps.workspaceStore;
    this.projectConfig = deps.projectConfig;
    this.log = deps.log;
  }

  requireTrusted(): void {
    requireTrusted();
  }

  /** The open store, or an error that says what to do (open a folder, train or initialize first). */
  async requireStore(options: RequireStoreOptions = {}): Promise<Store> {
    if (options.trusted) requireTrusted();
    const store = await this.workspaceStore.get({ create: options.create ?? false });
    if (store) return store;
    if (options.create || !this.workspaceStore.folder) throw new Error('mloop needs an open folder to hold its store');
    throw new Error('there is no mloop store in this workspace yet: train a pipeline or run "mloop: Initialize Project" first');
  }

  /**
   * mloop.yaml and the project root, or an error pointing at Problems. By default re-read now (unsaved edits
   * included); `reread: false` takes the watcher's last good read when there is one (a re-read refreshes the views).
   */
  requireProject(options: { reread?: boolean } = {}): { config: Config; projectRoot: string } {
    const config = options.reread === false ? (this.projectConfig.current ?? this.projectConfig.reload()) : this.projectConfig.reload();
    const projectRoot = this.projectConfig.projectRoot;
    if (!config || !projectRoot) throw new Error('mloop.yaml is missing or has errors (see the Problems panel)');
    return { config, projectRoot };
  }

  /** Logs `what: message` and notifies (first line, Show Log); Restricted Mode warns with Manage Workspace Trust. */
  reportError(what: string, error: unknown, options: ReportErrorOptions = {}): undefined {
    if (error instanceof CommandCancelled) return undefined;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RestrictedModeError) {
      this.log.warn(`${what}: ${message}`);
      void vscode.window.showWarningMessage(message, 'Manage Workspace Trust').then((a) => a && executeCommand('workbench.trust.manage'));
      return undefined;
    }
    this.log.error(`${what}: ${message}`);
    if (options.notify === false) return undefined;
    void vscode.window.showErrorMessage(`mloop: ${what} failed: ${message.split('\n')[0]}`, 'Show Log').then((a) => a && this.log.show());
    return undefined;
  }

  /** Runs a command body; a throw goes to `reportError` and the command resolves to undefined. */
  async guard<T>(what: string, body: () => Promise<T> | T, options?: ReportErrorOptions): Promise<T | undefined> {
    try {
      return await body();
    } catch (error) {
      return this.reportError(what, error, options);
    }
  }
}
