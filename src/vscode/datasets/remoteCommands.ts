import * as vscode from 'vscode';
import type { SyncReport } from '../../core/cache/remoteSync';
import { DatasetRepository } from '../../core/store/datasets';
import type { DatasetArgument } from '../base/commandArgs';
import type { CommandContext } from '../base/commandContext';
import { registerCommand } from '../base/commands';

/**
 * Push to Remote / Pull from Remote: a dataset row (all its versions), a version row (that version) or the
 * palette (every dataset) to or from the `remote:` of mloop.yaml, with a cancellable progress notification.
 */
export function registerRemoteCommands(commands: CommandContext): vscode.Disposable[] {
  const sync =
    (verb: 'push' | 'pull') =>
    async (arg?: DatasetArgument): Promise<SyncReport | undefined> => {
      try {
        commands.requireTrusted();
        const { config, projectRoot } = commands.requireProject();
        if (!config.remote) throw new Error('mloop.yaml has no remote: add "remote: { url: s3://bucket/prefix }" or a shared folder path');
        const store = await commands.requireStore({ create: verb === 'pull' });
        let ref: string | undefined;
        if (typeof arg === 'string') ref = arg;
        else if (arg?.kind === 'dataset') ref = arg.name;
        else if (arg?.kind === 'datasetVersion') ref = `${arg.name}@${new DatasetRepository(store).version(arg.datasetVersionId)?.digest ?? ''}`;
        const { openRemote } = await import('../../core/cache/remoteStorage');
        const { pullVersions, pushVersions } = await import('../../core/cache/remoteSync');
        const remote = openRemote(config.remote, projectRoot);
        const report = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: `mloop: ${verb === 'push' ? 'pushing' : 'pulling'} ${ref ?? 'every dataset'} ${verb === 'push' ? 'to' : 'from'} ${remote.location}`,
            cancellable: true,
          },
          async (progress, token) => {
            const controller = new AbortController();
            const cancel = token.onCancellationRequested(() => controller.abort());
            try {
              return await (verb === 'push' ? pushVersions : pullVersions)({
                store,
                projectRoot,
                remote,
                ...(ref ? { ref } : {}),
                onProgress: (message) => progress.report({ message }),
                signal: controller.signal,
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        commands.workspaceStore.fire();
        const summary = `${verb === 'push' ? 'pushed' : 'pulled'} ${report.versions.length} version${report.versions.length === 1 ? '' : 's'} ${verb === 'push' ? 'to' : 'from'} ${report.remote}: ${report.objects} object${report.objects === 1 ? '' : 's'} (${report.bytes.toLocaleString('en-US')} bytes), ${report.skipped} already there${report.notTransferred.length ? `; ${report.notTransferred.length} left out: ${report.notTransferred.map((n) => `${n.version} (${n.reason})`).join(', ')}` : ''}`;
        commands.log.info(summary);
        void vscode.window.showInformationMessage(`mloop: ${summary}`);
        return report;
      } catch (error) {
        return commands.reportError(verb === 'push' ? 'push datasets' : 'pull datasets', error);
      }
    };
  return [registerCommand('mloop.datasets.push', sync('push')), registerCommand('mloop.datasets.pull', sync('pull'))];
}
