import * as vscode from 'vscode';
import type { DatasetDeclaration } from '../../core/config/schema';
import { DatasetReadError } from '../../core/datasets/readErrors';
import type { Snapshot } from '../../core/datasets/versions';
import type { Store } from '../../core/store/store';
import type { CommandContext } from '../base/commandContext';
import type { DatasetDiagnostics } from './diagnostics';

/** A dataset declared in mloop.yaml as it is now, or an error naming the datasets it does declare. */
export function declaredDataset(commands: CommandContext, name: string): { declaration: DatasetDeclaration; projectRoot: string } {
  const { config, projectRoot } = commands.requireProject();
  const declaration = config.datasets[name];
  if (!declaration) throw new Error(`mloop.yaml does not declare dataset "${name}" (datasets: ${Object.keys(config.datasets).join(', ') || 'none'})`);
  return { declaration, projectRoot };
}

export type SnapshotOrigin = 'snapshot' | 'watcher' | 'manual';

/**
 * Records the current content of a declared dataset (progress notification, cancellable) and runs `then`
 * on it inside the same progress; undefined when the user cancelled.
 */
export async function snapshotWithProgress(
  deps: { readonly commands: CommandContext; readonly diagnostics: DatasetDiagnostics },
  name: string,
  origin: SnapshotOrigin,
  then?: (store: Store, s: Snapshot, signal: AbortSignal) => Promise<void>,
): Promise<Snapshot | undefined> {
  const { commands, diagnostics } = deps;
  const { declaration, projectRoot } = declaredDataset(commands, name);
  const store = await commands.requireStore({ create: true, trusted: true });
  const { snapshotDataset } = await import('../../core/datasets/versions');
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `mloop: ${name}`, cancellable: true }, async (progress, token) => {
    const controller = new AbortController();
    const cancel = token.onCancellationRequested(() => controller.abort());
    try {
      const s = await snapshotDataset(store, {
        name,
        declaration,
        projectRoot,
        origin,
        signal: controller.signal,
        onProgress: (message) => progress.report({ message }),
      });
      commands.workspaceStore.fire();
      await then?.(store, s, controller.signal);
      diagnostics.readSucceeded(name);
      return s;
    } catch (error) {
      if (controller.signal.aborted) {
        commands.log.info(`${name}: cancelled`);
        return undefined;
      }
      if (error instanceof DatasetReadError) diagnostics.readError(name, error);
      throw error;
    } finally {
      cancel.dispose();
    }
  });
}

/** The notification after a version was recorded (by the command or a watcher proposal). */
export function announceSnapshot(name: string, s: Snapshot): void {
  void vscode.window.showInformationMessage(
    `mloop: ${name} ${s.created ? `new version ${s.version.digest.slice(0, 12)}` : 'is unchanged'} (${s.version.rowCount ?? '?'} rows).`,
  );
}
