import * as vscode from 'vscode';
import type { HistoryCursors } from '../../core/backends/mirror';
import type { Store } from '../../core/store/store';
import type { BackendService } from '../backend/backendService';
import type { PanelDeps } from '../base/webviewHtml';
import type { MetricsPanel } from './metricsPanel';

/** How often an open Metrics panel on a RUNNING server run asks the server for new points. */
export const REMOTE_POLL_MS = 3000;

/** A run a Metrics or Compare panel can show, for the pick when no row is selected. */
export interface ChartRun {
  readonly runId: string;
  readonly name: string;
  readonly status: string;
  readonly startTime: number;
}

/**
 * Where the Metrics and Compare panels read runs: the workspace store, or (mloop.backend = mlflow) a
 * session mirror of the server's runs. One `mloop.runs.openMetrics` / `compare` works on either row.
 */
export interface RunCharts {
  openMetrics(runIds: readonly string[]): Promise<void>;
  openCompare(runIds: readonly string[], baseline?: string): Promise<void>;
  /** The runs an experiment row stands for, newest first as the tree shows them. */
  experimentRuns(experimentId: string | number, limit: number): Promise<string[]>;
  /** Runs to pick from; undefined when there is nothing to pick (a message was shown). */
  pickable(): Promise<ChartRun[] | undefined>;
}

export function createRunCharts(deps: { backends: BackendService; panelDeps: PanelDeps }): RunCharts & vscode.Disposable {
  const server = new ServerRunMirror(deps.backends, deps.panelDeps);
  const onServer = (): boolean => deps.backends.kind === 'mlflow';
  return {
    async openMetrics(runIds) {
      if (onServer()) return server.open(runIds);
      const { openMetricsPanel } = await import('./metricsPanel');
      openMetricsPanel(deps.panelDeps, [...runIds]);
    },
    async openCompare(runIds, baseline) {
      if (onServer()) await server.load(runIds);
      const { openComparePanel } = await import('./comparePanel');
      openComparePanel(onServer() ? server.panelDeps : deps.panelDeps, [...runIds], baseline);
    },
    async experimentRuns(experimentId, limit) {
      if (onServer())
        return deps.backends.use(async (backend) => (await backend.searchRuns([String(experimentId)], { maxResults: limit })).items.map((r) => r.runId));
      const store = await deps.panelDeps.store();
      const { runPage } = await import('../../core/store/runListing');
      return store ? runPage(store, Number(experimentId), 0, limit).map((r) => r.runId) : [];
    },
    async pickable() {
      if (onServer()) {
        void vscode.window.showInformationMessage('mloop: pick one or more runs of the MLflow server in the Runs view, then Open Metrics.');
        return undefined;
      }
      const store = await deps.panelDeps.store();
      if (!store) {
        void vscode.window.showInformationMessage('mloop: no runs yet. Train a pipeline first.');
        return undefined;
      }
      const { RunRepository } = await import('../../core/store/runs');
      return new RunRepository(store).list({ limit: 500 });
    },
    dispose: () => server.dispose(),
  };
}

/**
 * The metric charts read a store. For runs on an MLflow server they read a session-only in-memory
 * mirror of the runs opened (every point, fetched page by page), so the page and the downsampling are
 * the same as for local runs. While a shown run is RUNNING and the panel is visible, the mirror polls
 * the server every few seconds for the points logged since (get-history from the last page held) and
 * the panel appends them; polling stops when the runs end or the panel closes.
 */
class ServerRunMirror implements vscode.Disposable {
  private mirror: Store | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly cursors: HistoryCursors = new Map();
  private shown: { panel: MetricsPanel; runIds: readonly string[] } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  readonly panelDeps: PanelDeps;

  constructor(
    private readonly backends: BackendService,
    workspace: PanelDeps,
  ) {
    this.panelDeps = { store: async () => this.mirror, onDidChangeStore: this.changed.event, log: workspace.log, extensionUri: workspace.extensionUri };
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
          return await this.backends.use((backend) =>
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
    this.panelDeps.log.info(`metrics: read ${copied.points} points of ${copied.runs} run(s) from the MLflow server`);
  }

  async open(runIds: readonly string[]): Promise<void> {
    await this.load(runIds);
    const { openMetricsPanel } = await import('./metricsPanel');
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
      const result = await this.backends.use((backend) => pollRuns(backend, mirror, live, this.cursors));
      if (result.points > 0 || result.runs.some((r) => r.status !== 'RUNNING' && r.status !== 'SCHEDULED')) this.changed.fire();
    } catch (error) {
      // unreachable for a moment: keep the points shown and try again at the next tick
      this.panelDeps.log.warn(`metrics: live update from the MLflow server failed: ${(error as Error).message}`);
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
