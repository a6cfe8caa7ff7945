import * as vscode from 'vscode';
import type { MlflowImportReport } from '../../core/mlflow/importStore';
import type { Store } from '../../core/store/store';
import type { BackendService } from './backendService';
import type { HistoryCursors } from '../../core/backends/mirror';
import type { MetricsPanel } from '../runs/metricsPanel';
import type { PanelDeps } from '../base/webviewHtml';
import type { WorkspaceStore } from '../base/workspaceStore';

interface Deps {
  readonly backends: BackendService;
  readonly workspaceStore: WorkspaceStore;
  readonly log: vscode.LogOutputChannel;
  readonly refresh: () => Promise<void>;
  readonly extensionUri: vscode.Uri;
}

type RemoteRunSelection = { readonly runId?: string } | undefined;

/** How often an open Metrics panel on a RUNNING server run asks the server for new points. */
export const REMOTE_POLL_MS = 3000;

/**
 * The metric charts read a store. For runs on an MLflow server they read a session-only in-memory
 * mirror of the runs opened (every point, fetched page by page), so the page and the downsampling are
 * the same as for local runs. While a shown run is RUNNING and the panel is visible, the mirror polls
 * the server every few seconds for the points logged since (get-history from the last page held) and
 * the panel appends them; polling stops when the runs end or the panel closes.
 */
class RemoteMetrics implements vscode.Disposable {
  private mirror: Store | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly cursors: HistoryCursors = new Map();
  private shown: { panel: MetricsPanel; runIds: readonly string[] } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  readonly panelDeps: PanelDeps;

  constructor(private readonly deps: Deps) {
    this.panelDeps = { store: async () => this.mirror, onDidChangeStore: this.changed.event, log: deps.log, extensionUri: deps.extensionUri };
  }

  /** Copies these runs from the server into the session mirror, with progress and cancel. */
  async load(runIds: readonly string[]): Promise<void> {
    const [{ openStore }, { mirrorRuns }] = await Promise.all([import('../../core/store/store'), import('../../core/backends/mirror')]);
    this.mirror ??= openStore({ path: ':memory:' });
    const mirror = this.mirror;
    const copied = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'mloop: reading metric histories from the MLflow server', cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        const subscription = token.onCancellationRequested(() => controller.abort());
        try {
          return await this.deps.backends.use((backend) =>
            mirrorRuns(backend, mirror, runIds, {
              signal: controller.signal,
              cursors: this.cursors,
              onProgress: (done, total) => progress.report({ message: `${done}/${total} runs`, increment: 100 / Math.max(1, total) }),
            }),
          );
        } finally {
          subscription.dispose();
        }
      },
    );
    this.deps.log.info(`metrics: read ${copied.points} points of ${copied.runs} run(s) from the MLflow server`);
  }

  async open(runIds: readonly string[]): Promise<void> {
    await this.load(runIds);
    const { openMetricsPanel } = await import('../runs/metricsPanel');
    this.shown = { panel: openMetricsPanel(this.panelDeps, [...runIds]), runIds: [...runIds] };
    this.changed.fire();
    this.timer ??= setInterval(() => void this.poll(), REMOTE_POLL_MS);
  }

  /** One live pass: only while the panel is open and visible and one of its runs is still running on the server. */
  private async poll(): Promise<void> {
    if (this.polling || !this.mirror) return;
    const shown = this.shown;
    if (!shown || shown.panel.disposed) return this.stopPolling();
    if (!shown.panel.visible) return;
    const mirror = this.mirror;
    const live = shown.runIds.filter((id) => {
      const status = mirror.db.prepare('SELECT status FROM run WHERE run_id = ?').pluck().get(id) as string | undefined;
      return status === 'RUNNING' || status === 'SCHEDULED';
    });
    if (live.length === 0) return this.stopPolling();
    this.polling = true;
    try {
      const { pollRuns } = await import('../../core/backends/mirror');
      const result = await this.deps.backends.use((backend) => pollRuns(backend, mirror, live, this.cursors));
      if (result.points > 0 || result.runs.some((r) => r.status !== 'RUNNING' && r.status !== 'SCHEDULED')) this.changed.fire();
    } catch (error) {
      // unreachable for a moment: keep the points shown and try again at the next tick
      this.deps.log.warn(`metrics: live update from the MLflow server failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.stopPolling();
    this.mirror?.close();
    this.mirror = undefined;
    this.changed.dispose();
  }
}

/** Imports an MLflow store with a cancellable progress notification; the report goes to the log and a message. */
export async function importMlflowStore(deps: Deps, source: string): Promise<MlflowImportReport | undefined> {
  if (!vscode.workspace.isTrusted) throw new Error('mloop imports nothing in Restricted Mode: trust this folder first');
  const store = await deps.workspaceStore.get({ create: true });
  if (!store) throw new Error('open a folder first: the import goes into its mloop store');
  const [{ importMlflow }, { registryActor }] = await Promise.all([import('../../core/mlflow/importStore'), import('../../core/registry/actor')]);
  const folder = deps.workspaceStore.folder?.uri.fsPath;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `mloop: importing ${source}`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const subscription = token.onCancellationRequested(() => controller.abort());
      let lastPercent = 0;
      try {
        const report = await importMlflow(store, {
          source,
          ...(folder ? { cwd: folder } : {}),
          signal: controller.signal,
          actor: registryActor(folder ?? process.cwd()),
          onProgress: (p) => {
            // runs are the long part: they fill 5–95 % of the bar
            const percent = p.phase === 'experiments' ? 5 : p.phase === 'runs' ? 5 + Math.floor((p.done / Math.max(1, p.total)) * 90) : 100;
            progress.report({ message: `${p.phase} ${p.done}/${p.total}`, increment: Math.max(0, percent - lastPercent) });
            lastPercent = Math.max(lastPercent, percent);
          },
        });
        deps.log.info(`imported ${report.source.location}: ${JSON.stringify({ found: report.found, written: report.written })}`);
        for (const w of report.warnings) deps.log.warn(`import: ${w}`);
        for (const n of report.notImported) deps.log.info(`import: not imported: ${n}`);
        deps.workspaceStore.fire();
        return report;
      } catch (error) {
        if (controller.signal.aborted) {
          deps.workspaceStore.fire();
          void vscode.window.showWarningMessage('mloop: import cancelled. The runs imported so far are complete; import again to continue.');
          return undefined;
        }
        throw error;
      } finally {
        subscription.dispose();
      }
    },
  );
}

export function registerMlflowCommands(deps: Deps): vscode.Disposable[] {
  const remoteMetrics = new RemoteMetrics(deps);
  return [
    remoteMetrics,
    vscode.commands.registerCommand('mloop.runs.openServerMetrics', async (clicked?: RemoteRunSelection, selection?: readonly RemoteRunSelection[]) => {
      const nodes = selection?.length ? selection : clicked ? [clicked] : [];
      const runIds = nodes.flatMap((n) => (n?.runId ? [n.runId] : []));
      if (runIds.length === 0) {
        void vscode.window.showInformationMessage('mloop: pick one or more runs of the MLflow server in the Runs view, then Open Metrics.');
        return;
      }
      try {
        await remoteMetrics.open(runIds);
      } catch (error) {
        if ((error as Error).name === 'AbortError') return;
        void vscode.window.showErrorMessage(`mloop: ${(error as Error).message}`);
      }
    }),
    // Compare for runs of the server (Compare with Champion on a server-backed version): over the mirror
    vscode.commands.registerCommand('mloop.runs.compareServerRuns', async (runIds: readonly string[], baseline?: string) => {
      if (!Array.isArray(runIds) || runIds.length < 2 || !runIds.every((r) => typeof r === 'string')) throw new Error('mloop.runs.compareServerRuns needs two or more run ids');
      await remoteMetrics.load(runIds);
      const { openComparePanel } = await import('../runs/comparePanel');
      openComparePanel(remoteMetrics.panelDeps, [...runIds], baseline);
      return [...runIds];
    }),
    vscode.commands.registerCommand('mloop.project.importMlflow', async (source?: string) => {
      let chosen = source;
      if (!chosen) {
        const picked = await vscode.window.showOpenDialog({
          canSelectFiles: true,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: 'Import',
          title: 'mloop: Import an MLflow store (mlflow.db, or an mlruns folder)',
          defaultUri: deps.workspaceStore.folder?.uri,
        });
        chosen = picked?.[0]?.fsPath;
      }
      if (!chosen) return undefined;
      try {
        const report = await importMlflowStore(deps, chosen);
        if (report) {
          const w = report.written;
          const more = report.warnings.length ? ` ${report.warnings.length} warning(s) in the mloop log.` : '';
          void vscode.window.showInformationMessage(
            `mloop: imported ${report.found.runs} runs (${w.runsNew} new, ${w.runsUpdated} updated, ${w.runsUnchanged} unchanged), ${report.found.metricPoints} metric points, ${report.found.modelVersions} model versions.${more}`,
          );
        }
        return report;
      } catch (error) {
        deps.log.error(`import failed: ${(error as Error).message}`);
        void vscode.window.showErrorMessage(`mloop: ${(error as Error).message}`, 'Show Log').then((a) => a && deps.log.show());
        return undefined;
      }
    }),
    vscode.commands.registerCommand('mloop.backend.setToken', async () => {
      const uri = deps.backends.trackingUri;
      if (!uri) {
        void vscode.window.showErrorMessage('mloop: set mloop.mlflow.trackingUri first; the token is kept for that server only.', 'Open Settings').then((a) => a && vscode.commands.executeCommand('workbench.action.openSettings', 'mloop.mlflow'));
        return;
      }
      const token = await vscode.window.showInputBox({ title: `MLflow token for ${uri}`, prompt: 'Kept in VS Code SecretStorage, sent as a Bearer token. Leave empty to remove it.', password: true, ignoreFocusOut: true });
      if (token === undefined) return;
      await deps.backends.setToken(token || undefined);
      void vscode.window.showInformationMessage(token ? `mloop: token saved for ${uri}` : `mloop: token removed for ${uri}`);
      await deps.refresh();
    }),
  ];
}
