import * as vscode from 'vscode';
import type { DatasetVersion } from '../../core/store/datasets';
import { DatasetRepository } from '../../core/store/datasets';
import type { DatasetArgument } from '../base/commandArgs';
import { CommandCancelled, type CommandContext } from '../base/commandContext';
import type { DatasetDiagnostics } from './diagnostics';
import { snapshotWithProgress } from './snapshot';

/** What Restore This Version wrote, returned to callers (tests) as well as shown. */
export interface RestoredVersion {
  readonly dataset: string;
  readonly digest: string;
  readonly files: readonly string[];
  readonly bytes: number;
  /** The content the restore replaced, recorded (and cached) first so it can be restored in turn. */
  readonly replaced?: string;
}

/**
 * Restore This Version: the version's bytes come back from the content store into the dataset's path,
 * verified against its digest. The content there now is recorded as a version first (a no-op when it
 * already is one), so nothing the restore overwrites is lost.
 */
export async function restoreDatasetVersion(
  deps: { readonly commands: CommandContext; readonly diagnostics: DatasetDiagnostics },
  arg: DatasetArgument,
): Promise<RestoredVersion | undefined> {
  const { commands } = deps;
  commands.requireTrusted();
  const store = await commands.requireStore();
  const repo = new DatasetRepository(store);
  const picked = await pickVersion(repo, arg);
  if (!picked) return undefined;
  const { name, version } = picked;
  const { projectRoot, config } = commands.requireProject();
  const content = await import('../../core/cache/contentStore');
  const { DatasetCacheRepository } = await import('../../core/store/datasetCache');
  const why = content.notRestorableReason(new DatasetCacheRepository(store).state(version.datasetVersionId), version);
  if (why && version.digestAlgorithm !== 'md5-dvc') throw new Error(why); // a DVC version may come from DVC's cache
  let replaced: string | undefined;
  if (config.datasets[name]) {
    try {
      replaced = (await snapshotWithProgress(deps, name, 'manual'))?.version.digest;
    } catch (error) {
      const message = (error as Error).message;
      // a missing file has nothing to lose; anything else unreadable is the user's call
      if (!/does not exist|no such file|NOT_FOUND|matches no files/i.test(message)) {
        const go = await vscode.window.showWarningMessage(
          `mloop: the current content of ${name} could not be recorded first (${message.split('\n')[0]}). Restore ${version.digest.slice(0, 12)} over it anyway?`,
          { modal: true },
          'Restore',
        );
        if (go !== 'Restore') throw new CommandCancelled();
      }
    }
  }
  const target = content.defaultRestoreTarget(store, projectRoot, version);
  const restored = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `mloop: restoring ${name} @ ${version.digest.slice(0, 12)}`, cancellable: true },
    async (_progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      try {
        return await content.restoreVersion({ store, projectRoot, version, target, signal: controller.signal });
      } finally {
        cancel.dispose();
      }
    },
  );
  commands.workspaceStore.fire();
  const result: RestoredVersion = { dataset: name, digest: version.digest, files: restored.files, bytes: restored.bytes, ...(replaced ? { replaced } : {}) };
  commands.log.info(
    `restored ${name} @ ${version.digest} to ${target} (${restored.bytes} bytes, ${content.verifiedText(restored.verified)})${replaced && replaced !== version.digest ? `; the content it replaced is version ${replaced}` : ''}`,
  );
  void vscode.window.showInformationMessage(
    `mloop: restored ${name} @ ${version.digest.slice(0, 12)} (${restored.bytes.toLocaleString('en-US')} bytes, ${content.verifiedText(restored.verified)}).${replaced && replaced !== version.digest ? ` The content it replaced is version ${replaced.slice(0, 12)}.` : ''}`,
  );
  return result;
}

/** The version a row stands for, or one picked from a dataset's cached versions. */
async function pickVersion(repo: DatasetRepository, arg: DatasetArgument): Promise<{ name: string; version: DatasetVersion } | undefined> {
  if (arg && typeof arg !== 'string' && arg.kind !== 'dataset') {
    const version = repo.version(arg.datasetVersionId);
    if (!version) throw new Error(`dataset version ${arg.datasetVersionId} is not in the store any more`);
    return { name: arg.name, version };
  }
  const names = typeof arg === 'string' ? [arg] : arg ? [arg.name] : repo.list().map((d) => d.name);
  if (names.length === 0) throw new Error('the store has no dataset versions yet: record one first');
  const name = names.length === 1 ? names[0] : await vscode.window.showQuickPick(names, { title: 'Restore a version of which dataset?', ignoreFocusOut: true });
  if (!name) return undefined;
  const dataset = repo.byName(name);
  if (!dataset) throw new Error(`no dataset "${name}" in the store`);
  const versions = repo.versions(dataset.datasetId);
  const item = await vscode.window.showQuickPick(
    versions.map((v) => ({
      label: v.digest.slice(0, 12),
      description: `${v.rowCount?.toLocaleString('en-US') ?? '?'} rows · ${new Date(v.createdAt).toLocaleString()}`,
      version: v,
    })),
    { title: `Restore which version of ${name}?`, ignoreFocusOut: true },
  );
  return item && { name, version: item.version };
}
