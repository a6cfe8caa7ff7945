import * as vscode from 'vscode';
import type { WorkspaceStore } from '../base/workspaceStore';

/** Quiet time after the last write before importing: a training loop writes many times a second. */
const DEBOUNCE_MS = 400;
/** A store MLflow is still creating (its schema migrations) is retried this much later, a few times. */
const RETRY_MS = 1500;
const MAX_RETRIES = 8;

export interface MlflowStoreWatcherOptions {
  readonly workspaceStore: WorkspaceStore;
  readonly log: vscode.LogOutputChannel;
}

/**
 * Runs a notebook or script logs with MLflow's defaults (no tracking URI) land in `mlflow.db` (MLflow 3) or
 * `mlruns/` in the workspace. This watches both and imports new and changed runs into the mloop store
 * (the same idempotent import as `mloop import mlflow`), so they show in the Runs view within seconds.
 * Off with `mloop.mlflow.importWorkspaceRuns: false`; only in a trusted workspace that has an mloop store.
 */
export class MlflowStoreWatcher implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** Failed imports in a row, per store. */
  private readonly retries = new Map<string, number>();
  /** Imports done (runs written) since activation, for the integration tests. */
  readonly imports: { at: number; runsNew: number; runsUpdated: number }[] = [];

  constructor(private readonly options: MlflowStoreWatcherOptions) {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder || folder.uri.scheme !== 'file') return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '{mlflow.db,mlflow.db-wal,mlflow.db-journal,mlruns/**}'));
    const schedule = (): void => this.schedule(DEBOUNCE_MS);
    this.disposables.push(watcher, watcher.onDidCreate(schedule), watcher.onDidChange(schedule));
    // runs logged while the editor was closed
    this.schedule(0);
  }

  private enabled(): boolean {
    const folder = vscode.workspace.workspaceFolders?.[0];
    return vscode.workspace.isTrusted && vscode.workspace.getConfiguration('mloop', folder?.uri).get<boolean>('mlflow.importWorkspaceRuns', true);
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.importNow(), delay);
  }

  /** One import at a time; a change during one starts another after it. */
  private async importNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.importOnce().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.schedule(DEBOUNCE_MS);
      }
    });
    await this.running;
  }

  private async importOnce(): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder || !this.enabled()) return;
    const { workspaceMlflowStores, importMlflow } = await import('../../core/mlflow/importStore');
    const sources = workspaceMlflowStores(folder.uri.fsPath);
    if (sources.length === 0) return;
    const store = await this.options.workspaceStore.get().catch(() => undefined);
    if (!store) return;
    for (const source of sources) {
      try {
        const report = await importMlflow(store, { source, actor: 'mloop (workspace MLflow store)', auditOnlyChanges: true });
        this.retries.delete(source);
        const { runsNew, runsUpdated } = report.written;
        this.imports.push({ at: Date.now(), runsNew, runsUpdated });
        if (runsNew + runsUpdated > 0) {
          this.options.log.info(`imported ${runsNew} new and ${runsUpdated} updated run(s) from ${source}`);
          this.options.workspaceStore.fire();
        }
      } catch (error) {
        // an mlruns/ holding only artifacts (a sqlite store's default artifact root) is no store: nothing to import
        if ((error as { code?: string }).code === 'NOT_MLFLOW') continue;
        // MLflow creates mlflow.db and migrates its schema in several steps: an unknown or partial schema is retried
        this.options.log.info(`could not import runs from ${source} yet: ${(error as Error).message}`);
        const failed = (this.retries.get(source) ?? 0) + 1;
        this.retries.set(source, failed);
        if (failed <= MAX_RETRIES) this.schedule(RETRY_MS);
      }
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
