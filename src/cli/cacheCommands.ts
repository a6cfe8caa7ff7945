import { InvalidArgumentError, type Command } from 'commander';
import { relative, resolve } from 'node:path';
import { ContentStoreError, defaultRestoreTarget, resolveVersionRef, restoreVersion, verifiedText } from '../core/cache/contentStore';
import type { SyncReport } from '../core/cache/remoteSync';
import type { Store } from '../core/store/store';
import { CliFailure, withWritableStore } from './cliIo';
import type { CommandContext } from './trainCommand';

/**
 * A RemoteError (remoteStorage.ts) told by its name: a checkout reaches the remotes' code only when a DVC remote must
 * fill the cache, so remoteStorage.ts (node:http, which loads undici when imported as a module) is not loaded for it.
 */
const RemoteErrorByName = {
  [Symbol.hasInstance]: (error: unknown): boolean => error instanceof Error && error.name === 'RemoteError',
} as unknown as abstract new (
  ...args: never[]
) => Error;

/**
 * `mloop datasets checkout`, `datasets push|pull` and `mloop gc`: the content store of dataset versions. Each loads
 * the modules of its own work when it runs (a checkout: the content store only; issue 16).
 */
export function registerCacheCommands(datasets: Command, program: Command, context: CommandContext): void {
  const { io } = context;
  const out = (text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2));
  const withStore = <T>(fn: (store: Store, root: string) => Promise<T>): Promise<T> => withWritableStore(context, [ContentStoreError, RemoteErrorByName], fn);

  datasets.addCommand(
    context
      .child('datasets checkout', "write a recorded version's bytes back from the content store (.mloop/cache/), verified against its digest")
      .argument('<name@digest>', 'dataset name and a unique prefix of the version digest, e.g. weather@3fa2c1')
      .option('--to <path>', "where to write (default: the version's own path); a folder receives a single file under its own name")
      .option('--verify', 'hash the cached object in full even when it is unchanged since its bytes were last hashed (same size, times and inode)')
      .option('--json', 'print what was restored as JSON')
      .action((ref: string, options: { to?: string; verify?: boolean; json?: boolean }) =>
        withStore(async (store, root) => {
          const { dataset, version } = resolveVersionRef(store, ref);
          const target = options.to !== undefined ? resolve(io.cwd, options.to) : defaultRestoreTarget(store, root, version);
          const restored = await restoreVersion({ store, projectRoot: root, version, target, ...(options.verify ? { verify: true } : {}) });
          if (options.json)
            return json({ dataset: dataset.name, digest: version.digest, files: restored.files, bytes: restored.bytes, verified: restored.verified });
          out(
            `restored ${dataset.name} @ ${version.digest.slice(0, 12)}: ${restored.files.length === 1 ? relative(io.cwd, restored.files[0]!) || restored.files[0] : `${restored.files.length} files`} (${restored.bytes.toLocaleString('en-US')} bytes, ${verifiedText(restored.verified)})`,
          );
        }),
      ),
  );

  const sync = (verb: 'push' | 'pull') =>
    context
      .child(
        `datasets ${verb}`,
        verb === 'push'
          ? 'upload the cached versions (their objects the remote lacks, then their manifests) to the remote of mloop.yaml: a folder or s3://bucket/prefix'
          : 'download versions from the remote of mloop.yaml into the content store, each object verified against its digest (versions only the remote has are recorded)',
      )
      .argument('[name[@digest]]', 'a dataset, or one version by a unique digest prefix (default: every dataset)')
      .option('--json', 'print the report as JSON')
      .action((ref: string | undefined, options: { json?: boolean }) =>
        withStore(async (store, root) => {
          const [{ readConfig }, { CONFIG_FILE }, { openRemote }, { pullVersions, pushVersions }] = await Promise.all([
            import('./registryCommands'),
            import('../core/project/init'),
            import('../core/cache/remoteStorage'),
            import('../core/cache/remoteSync'),
          ]);
          const remoteConfig = readConfig(root)?.remote;
          if (!remoteConfig)
            throw new CliFailure(`no remote: in ${CONFIG_FILE} of ${root}; add e.g.\nremote:\n  url: s3://my-bucket/mloop-cache   # or a shared folder path`);
          const remote = openRemote(remoteConfig, root);
          const run = verb === 'push' ? pushVersions : pullVersions;
          const report = await run({ store, projectRoot: root, remote, ...(ref ? { ref } : {}), onProgress: (m) => void io.stderr.write(`mloop: ${m}\n`) });
          if (options.json) return json(report);
          out(describeSync(verb, report));
        }),
      );
  datasets.addCommand(sync('push'));
  datasets.addCommand(sync('pull'));

  program.addCommand(
    context
      .child('gc', 'remove dataset bytes from the content store that no kept version needs (never those a registered model or deployment was trained on)')
      .option('--keep-last <count>', 'keep the bytes of the newest N versions of each dataset; older ones are dropped unless pinned', parseKeep)
      .option('--dry-run', 'report what would be removed; change nothing')
      .option('--json', 'print the report as JSON')
      .action((options: { keepLast?: number; dryRun?: boolean; json?: boolean }) =>
        withStore(async (store, root) => {
          const { collectGarbage } = await import('../core/cache/gc');
          const report = await collectGarbage({
            store,
            projectRoot: root,
            ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
            dryRun: options.dryRun === true,
          });
          if (options.json) return json(report);
          const verb = report.dryRun ? 'would free' : 'freed';
          out(
            `${verb} ${report.freedBytes.toLocaleString('en-US')} bytes: ${report.removedObjects} object${report.removedObjects === 1 ? '' : 's'}` +
              `${report.removedTmpFiles ? `, ${report.removedTmpFiles} leftover temporary file${report.removedTmpFiles === 1 ? '' : 's'}` : ''}` +
              `${report.evictedVersions.length ? `; ${report.evictedVersions.length} version${report.evictedVersions.length === 1 ? '' : 's'} no longer restorable: ${report.evictedVersions.map((v) => `${v.dataset}@${v.digest.slice(0, 12)}`).join(', ')}` : ''}`,
          );
          if (report.pinnedVersions.length)
            out(`kept (a registered model was trained on them): ${report.pinnedVersions.map((v) => `${v.dataset}@${v.digest.slice(0, 12)}`).join(', ')}`);
        }),
      ),
  );
}

function describeSync(verb: 'push' | 'pull', r: SyncReport): string {
  const lines = [
    `${verb === 'push' ? 'pushed' : 'pulled'} ${r.versions.length} version${r.versions.length === 1 ? '' : 's'} ${verb === 'push' ? 'to' : 'from'} ${r.remote}: ${r.objects} object${r.objects === 1 ? '' : 's'} ${verb === 'push' ? 'sent' : 'fetched'} (${r.bytes.toLocaleString('en-US')} bytes), ${r.skipped} already there`,
  ];
  if (r.versions.length) lines.push(`  ${r.versions.join(' ')}`);
  for (const n of r.notTransferred) lines.push(`not ${verb === 'push' ? 'pushed' : 'pulled'}: ${n.version}: ${n.reason}`);
  return lines.join('\n');
}

function parseKeep(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}
