import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { Store } from '../../core/store/store';
import { resolveStorePath } from '../../core/project/projectFiles';
import { CONFIG_FILE } from '../../core/project/init';
import { afterActivation } from './afterActivation';

/**
 * The store of the first workspace folder, opened on first use (activation stays light),
 * reopened when `mloop.storePath` changes, with one change event for the views to follow.
 */
export class WorkspaceStore implements vscode.Disposable {
  private store: Store | undefined;
  private openError: Error | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.changed];
  private debounce: NodeJS.Timeout | undefined;
  private storeWatcher: vscode.Disposable | undefined;
  /** The store's schema upgrade under way (callers meanwhile wait for the same one). */
  private upgrading: Promise<void> | undefined;

  /** Fires (debounced) when the store file, mloop.yaml or the setting changes. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('mloop.storePath')) {
          this.close();
          this.watchStore();
          this.fire();
        }
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.close();
        this.watchStore();
        this.fire();
      }),
    );
    const configWatcher = vscode.workspace.createFileSystemWatcher(`**/${CONFIG_FILE}`);
    configWatcher.onDidCreate(() => this.fire());
    configWatcher.onDidDelete(() => this.fire());
    this.disposables.push(configWatcher);
    // the store's path needs the settings (the first read of them costs ~15 ms): watched just after activation
    this.disposables.push(
      afterActivation(() => {
        if (!this.storeWatcher) this.watchStore();
      }),
    );
  }

  get folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.[0];
  }

  /** The store file path, or undefined when no folder is open. */
  path(): string | undefined {
    const folder = this.folder;
    if (!folder || folder.uri.scheme !== 'file') return undefined;
    const configured = vscode.workspace.getConfiguration('mloop', folder.uri).get<string>('storePath');
    return resolveStorePath(folder.uri.fsPath, configured);
  }

  hasConfig(): boolean {
    const folder = this.folder;
    return folder !== undefined && existsSync(join(folder.uri.fsPath, CONFIG_FILE));
  }

  /** The last error opening the store (shown in the views), if any. */
  get error(): Error | undefined {
    return this.openError;
  }

  /**
   * The open store, or undefined when there is no store file yet and `create` is false
   * (views never create a store just by being looked at).
   */
  async get(options: { create?: boolean } = {}): Promise<Store | undefined> {
    if (this.store) return this.store;
    const path = this.path();
    if (!path) return undefined;
    if (!options.create && !existsSync(path)) return undefined;
    const { openStore, pendingMigrations } = await import('../../core/store/store');
    try {
      const started = Date.now();
      // an older store is upgraded in a worker thread with a progress notification: a step can take seconds on a big
      // store (021 indexes every metric and param), and the views and commands keep answering meanwhile
      const pending = this.upgrading ? [] : pendingMigrations(path);
      if (pending.length > 0)
        this.upgrading = this.upgrade(
          path,
          pending.map((m) => `${m.version} ${m.name}`),
        );
      if (this.upgrading) await this.upgrading.finally(() => (this.upgrading = undefined));
      if (this.store) return this.store;
      this.store = openStore({ path });
      this.openError = undefined;
      // audit.sign_with of mloop.yaml, read at each audit write: entries are signed as they are written
      const { projectAuditSigner, signAuditWritesOf } = await import('../../core/governance/auditSigning');
      const root = this.folder!.uri.fsPath;
      signAuditWritesOf(path, () => projectAuditSigner(root));
      this.log.info(`opened store ${path} (schema ${this.store.schemaVersion}) in ${Date.now() - started} ms`);
      return this.store;
    } catch (error) {
      this.openError = error as Error;
      this.log.error(`cannot open store ${path}: ${(error as Error).message}`);
      throw error;
    }
  }

  private async upgrade(path: string, steps: readonly string[]): Promise<void> {
    const { upgradeStoreInWorker } = await import('../../core/store/storeUpgrade');
    const started = Date.now();
    this.log.info(`upgrading store ${path}: schema steps ${steps.join(', ')}`);
    // not cancellable: each step is one transaction, and the store cannot be used before it completes
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `mloop: upgrading the store (schema ${steps.join(', ')})…` },
      () => upgradeStoreInWorker(path),
    );
    this.log.info(`upgraded store ${path} in ${Date.now() - started} ms`);
  }

  /** Drops the connection; the next `get` reopens (after the file was replaced or the setting changed). */
  close(): void {
    this.store?.close();
    this.store = undefined;
    this.openError = undefined;
  }

  fire(): void {
    clearTimeout(this.debounce);
    // A training run commits many times a second; the views redraw at most a few times a second.
    this.debounce = setTimeout(() => this.changed.fire(), 250);
  }

  private watchStore(): void {
    this.storeWatcher?.dispose();
    const path = this.path();
    if (!path) return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dirname(path)), 'mloop.db*'));
    const onFile = (): void => {
      if (this.openError) this.close();
      this.fire();
    };
    watcher.onDidChange(onFile);
    watcher.onDidCreate(onFile);
    watcher.onDidDelete((uri) => {
      if (uri.fsPath === path) this.close();
      this.fire();
    });
    this.storeWatcher = watcher;
  }

  dispose(): void {
    clearTimeout(this.debounce);
    this.storeWatcher?.dispose();
    this.close();
    for (const d of this.disposables) d.dispose();
  }
}
