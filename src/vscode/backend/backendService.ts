import * as vscode from 'vscode';
import type { BackendKind } from '../../core/backends/backend';
import type { MlflowBackend } from '../../core/backends/mlflowBackend';
import { requireTrusted } from '../base/commandContext';

/** The secret's key includes the URI: a workspace that points the setting elsewhere never receives a token set for another server. */
export const tokenKey = (trackingUri: string): string => `mloop.mlflow.token:${trackingUri.replace(/\/+$/, '')}`;

/**
 * Which backend the Runs and Models views and training use: `mloop.backend` (embedded | mlflow) and
 * `mloop.mlflow.trackingUri`, with the server's token in SecretStorage. Fires when any of them change.
 * Remembers the last "unreachable" problem so the views can say so instead of showing an empty tree.
 */
export class BackendService implements vscode.Disposable {
  private backend: Promise<MlflowBackend> | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.changed];
  /** The last error reaching the remote backend; cleared by the next success. */
  problem: Error | undefined;
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('mloop.backend') || e.affectsConfiguration('mloop.mlflow.trackingUri')) this.reset();
      }),
      secrets.onDidChange((e) => {
        if (e.key.startsWith('mloop.mlflow.token:')) this.reset();
      }),
    );
  }

  get kind(): BackendKind {
    const configured = vscode.workspace.getConfiguration('mloop').get<string>('backend');
    return configured === 'mlflow' ? 'mlflow' : 'embedded';
  }

  get trackingUri(): string {
    return (vscode.workspace.getConfiguration('mloop').get<string>('mlflow.trackingUri') ?? '').trim();
  }

  /** The remote backend when `mloop.backend` is mlflow; undefined for the embedded store. */
  async remote(): Promise<MlflowBackend | undefined> {
    if (this.kind !== 'mlflow') return undefined;
    requireTrusted(); // no server is contacted from a folder the user has not trusted
    this.backend ??= this.create();
    try {
      return await this.backend;
    } catch (error) {
      this.backend = undefined;
      throw error;
    }
  }

  /** Runs `fn` against the remote backend and records whether it was reachable. */
  async use<T>(fn: (backend: MlflowBackend) => Promise<T>): Promise<T> {
    const backend = await this.remote();
    if (!backend) throw new Error('mloop.backend is not "mlflow"');
    try {
      const result = await fn(backend);
      this.problem = undefined;
      return result;
    } catch (error) {
      this.problem = error as Error;
      this.log.warn(`MLflow backend: ${(error as Error).message}`);
      throw error;
    }
  }

  async setToken(token: string | undefined): Promise<void> {
    const uri = this.trackingUri;
    if (!uri) throw new Error('set mloop.mlflow.trackingUri first: the token is kept for that server only');
    if (token) await this.secrets.store(tokenKey(uri), token);
    else await this.secrets.delete(tokenKey(uri));
  }

  private async create(): Promise<MlflowBackend> {
    const uri = this.trackingUri;
    if (!uri)
      throw new Error('mloop.backend is "mlflow" but mloop.mlflow.trackingUri is empty: set it to your tracking server, e.g. http://mlflow.internal:5000');
    const token = await this.secrets.get(tokenKey(uri));
    const { MlflowBackend } = await import('../../core/backends/mlflowBackend');
    // a server with MLflow's basic-auth app: the user from the editor's environment, as the mlflow client reads it
    const username = process.env.MLFLOW_TRACKING_USERNAME;
    const backend = new MlflowBackend({
      trackingUri: uri,
      ...(token ? { token } : username ? { username, password: process.env.MLFLOW_TRACKING_PASSWORD ?? '' } : {}),
    });
    this.log.info(
      `backend: MLflow tracking server ${backend.location}${token ? ' (token from SecretStorage)' : username ? ` (as ${username}, from MLFLOW_TRACKING_USERNAME)` : ''}`,
    );
    return backend;
  }

  private reset(): void {
    this.backend = undefined;
    this.problem = undefined;
    this.changed.fire();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
