import * as vscode from 'vscode';
import { afterActivation } from '../base/afterActivation';
import type { TrackingTarget } from '../../core/backends/backend';
import type { TrackingEndpoint } from '../../core/runs/launcher';
import type { TrackingServer } from '../../core/tracking/server';
import type { WorkspaceStore } from '../base/workspaceStore';
import { requireTrusted } from '../base/commandContext';
import { artifactRootOf } from '../../core/store/artifactRoot';

/**
 * The MLflow-compatible endpoint on 127.0.0.1 that launched runs and the integrated terminals log
 * into. Started on first use; terminals get MLFLOW_TRACKING_URI/TOKEN through the extension's
 * environment variable collection, so `python train.py` typed by hand logs into mloop too.
 */
export class TrackingService implements vscode.Disposable {
  private server: Promise<TrackingServer> | undefined;
  private readonly subscription: vscode.Disposable;
  /** backend=mlflow: the team server hand-opened terminals log to instead (see useRemote). */
  private remote: (() => Promise<TrackingTarget | undefined>) | undefined;

  constructor(
    private readonly workspaceStore: WorkspaceStore,
    private readonly environment: vscode.GlobalEnvironmentVariableCollection,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.environment.persistent = false; // the port and token change every session
    this.environment.description = "mloop: MLflow clients in this terminal log into the project's mloop store";
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('mloop.storePath')) void this.stop();
    });
  }

  /** The running endpoint, started (and the store created) if needed. */
  async endpoint(): Promise<TrackingEndpoint> {
    requireTrusted();
    this.server ??= this.start();
    try {
      const server = await this.server;
      return { uri: server.uri, token: server.token };
    } catch (error) {
      this.server = undefined;
      throw error;
    }
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  private async start(): Promise<TrackingServer> {
    const store = await this.workspaceStore.get({ create: true });
    if (!store) throw new Error('mloop needs an open folder to hold its store');
    const { startTrackingServer } = await import('../../core/tracking/server');
    const server = await startTrackingServer({
      store,
      artifactRoot: artifactRootOf(store.path),
      log: (line) => this.log.debug(`tracking: ${line}`),
      uriScheme: vscode.env.uriScheme,
    });
    await this.applyEnvironment(server);
    this.log.info(`tracking endpoint listening on ${server.uri} (token in the terminal environment, not logged)`);
    return server;
  }

  /**
   * With mloop.backend = mlflow, terminals get the team server's MLFLOW_TRACKING_URI (and its token
   * from SecretStorage, when one is set) instead of the local endpoint; re-applied when the backend
   * settings or the token change. Only terminals opened afterwards see the change (VS Code marks the
   * older ones as stale and offers to relaunch them).
   */
  useRemote(target: () => Promise<TrackingTarget | undefined>, onDidChange: vscode.Event<void>): vscode.Disposable {
    this.remote = target;
    // which backend is configured is a settings read: after activation
    return vscode.Disposable.from(
      afterActivation(() => this.applyEnvironment()),
      onDidChange(() => void this.applyEnvironment()),
    );
  }

  private async applyEnvironment(local?: TrackingServer): Promise<void> {
    let remote: TrackingTarget | undefined;
    try {
      remote = await this.remote?.();
    } catch (error) {
      this.log.warn(`terminal environment: the MLflow backend is not usable (${(error as Error).message}); terminals keep the local endpoint`);
    }
    if (remote) {
      this.environment.replace('MLFLOW_TRACKING_URI', remote.uri);
      if (remote.token) this.environment.replace('MLFLOW_TRACKING_TOKEN', remote.token);
      else this.environment.delete('MLFLOW_TRACKING_TOKEN');
      this.environment.description = `mloop: MLflow clients in this terminal log to the team's tracking server ${remote.uri}`;
      return;
    }
    const server = local ?? (this.server ? await this.server.catch(() => undefined) : undefined);
    if (!server) {
      this.environment.clear();
      return;
    }
    this.environment.replace('MLFLOW_TRACKING_URI', server.uri);
    this.environment.replace('MLFLOW_TRACKING_TOKEN', server.token);
    this.environment.description = "mloop: MLflow clients in this terminal log into the project's mloop store";
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.environment.clear();
    if (this.remote) void this.applyEnvironment();
    if (server) await (await server.catch(() => undefined))?.close();
  }

  dispose(): void {
    this.subscription.dispose();
    void this.stop();
  }
}
