import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_FILE, DEFAULT_STORE, resolveStorePath } from '../core/project/projectFiles';
import type { MloopApi, MloopTestApi } from './api';
import { afterActivation } from './base/afterActivation';
import type * as mloopModule from './extension';
import { COMMAND_VISIBILITY } from './base/commandArgs';
import { mloopUriHandler } from './runs/uriHandler';

// The package's `main` (dist/extension.js). VS Code evaluates `workspaceContains:` only when a folder opens, so mloop
// also activates on `onStartupFinished` in every window: this small bundle loads there, and mloop itself
// (dist/mloop.js, built from ./extension.ts, ~0.2 s of CPU to load) only once the folder is an mloop project or the
// user asks for mloop. Meanwhile the views show their welcome (no tree provider is needed for that).

type Api = MloopApi | MloopTestApi;
type Mloop = typeof mloopModule;

export function activate(context: vscode.ExtensionContext): Api {
  const launcher = new Launcher(context);
  return launcher.isProject() ? launcher.start() : launcher.waitForProject();
}

export function deactivate(): void {
  // mloop's own disposables are in context.subscriptions
}

class Launcher {
  private api: Api | undefined;
  /** What stands in for mloop until it starts; disposed first thing when it does. */
  private readonly standIns: vscode.Disposable[] = [];
  private folderWatcher: vscode.Disposable | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {}

  /** The first folder (the one mloop works in) holds mloop.yaml or the store at its default place. */
  isProject(): boolean {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (folder?.uri.scheme !== 'file') return false;
    return existsSync(join(folder.uri.fsPath, CONFIG_FILE)) || existsSync(join(folder.uri.fsPath, ...DEFAULT_STORE));
  }

  /**
   * The folder's settings make it an mloop project without mloop.yaml in it: `mloop.backend` reads a team's MLflow
   * server, or `mloop.storePath` names a store that exists elsewhere.
   */
  private configuredForMloop(): boolean {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (folder?.uri.scheme !== 'file') return false;
    const settings = vscode.workspace.getConfiguration('mloop', folder.uri);
    if (settings.get<string>('backend') === 'mlflow') return true;
    const configured = settings.get<string>('storePath');
    return !!configured?.trim() && existsSync(resolveStorePath(folder.uri.fsPath, configured));
  }

  start(): Api {
    if (this.api) return this.api;
    for (const standIn of this.standIns.splice(0)) standIn.dispose();
    this.folderWatcher?.dispose();
    // a synchronous, deferred load of dist/mloop.js, its own bundle next to this one (a computed path: esbuild leaves it)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mloop = require(join(__dirname, 'mloop.js')) as Mloop;
    this.api = mloop.activate(this.context);
    return this.api;
  }

  /** Registers what starts mloop (the project's files appearing, a command, a link, a restored panel) and returns the API. */
  waitForProject(): Api {
    const startThen =
      (id: string) =>
      (...args: unknown[]): Thenable<unknown> => {
        this.start();
        return vscode.commands.executeCommand(id, ...args);
      };
    // every command, contributed or internal: a welcome button, a walkthrough link or another extension may run one
    for (const id of Object.keys(COMMAND_VISIBILITY)) this.standIns.push(vscode.commands.registerCommand(id, startThen(id)));
    this.standIns.push(
      vscode.window.registerUriHandler({
        handleUri: (uri) => {
          this.start();
          return mloopUriHandler.handleUri(uri);
        },
      }),
      // VS Code holds a restored panel until a serializer registers, and only mloop registers them
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        if (e.opened.some(isMloopPanel)) this.start();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.watchFolder()),
      // the first settings read can cost ms: off the activation path
      afterActivation(() => this.configuredForMloop() && this.start()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if ((e.affectsConfiguration('mloop.backend') || e.affectsConfiguration('mloop.storePath')) && this.configuredForMloop()) this.start();
      }),
    );
    this.context.subscriptions.push({
      dispose: () => {
        for (const standIn of this.standIns.splice(0)) standIn.dispose();
        this.folderWatcher?.dispose();
      },
    });
    this.watchFolder();
    if (this.api || vscode.window.tabGroups.all.some((group) => group.tabs.some(isMloopPanel))) return this.start();
    return startingApi(() => this.start());
  }

  /** Starts mloop when mloop.yaml or the store appears in the first folder (created, pulled, written by the CLI). */
  private watchFolder(): void {
    if (this.api) return;
    this.folderWatcher?.dispose();
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) return;
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(folder, `{${CONFIG_FILE},${DEFAULT_STORE.join('/')}}`),
      false,
      true,
      true,
    );
    watcher.onDidCreate(() => this.start());
    this.folderWatcher = watcher;
    // created between activate() and the watcher
    if (this.isProject()) this.start();
  }
}

function isMloopPanel(tab: vscode.Tab): boolean {
  return tab.input instanceof vscode.TabInputWebview && /(^|-)mloop\./.test(tab.input.viewType);
}

/**
 * The API before mloop has started: reading any member starts it (whoever asks for the API is using mloop).
 * `then` is left undefined: VS Code resolves a promise with the API, and that probe must not start mloop.
 */
function startingApi(start: () => Api): Api {
  return new Proxy({} as Api, {
    get: (_, key) => (key === 'then' ? undefined : Reflect.get(start(), key)),
    has: (_, key) => Reflect.has(start(), key),
    ownKeys: () => Reflect.ownKeys(start()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(start(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}
