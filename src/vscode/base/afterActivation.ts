import type * as vscode from 'vscode';

/**
 * Runs `work` on the next turn of the event loop, i.e. after activate() has returned. For first reads
 * that cost real time (parsing mloop.yaml, the first settings read, opening SQLite): activation only
 * registers; every view, status bar item and watcher fills itself in right after it. Disposing before
 * it ran cancels it.
 */
export function afterActivation(work: () => unknown): vscode.Disposable {
  const timer = setTimeout(() => void work(), 0);
  return { dispose: () => clearTimeout(timer) };
}

/**
 * Registers what `register` returns after activation (language providers: hovers, lenses, completion,
 * none of which is needed before the first editor asks); disposing disposes it, or cancels it.
 */
export function registerAfterActivation(register: () => vscode.Disposable): vscode.Disposable {
  let registered: vscode.Disposable | undefined;
  let disposed = false;
  const pending = afterActivation(() => {
    if (!disposed) registered = register();
  });
  return {
    dispose: () => {
      disposed = true;
      pending.dispose();
      registered?.dispose();
    },
  };
}
