import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DatasetCacheRepository, type VersionFile } from '../store/datasetCache';
import { DatasetRepository, type Dataset, type DatasetVersion } from '../store/datasets';
import type { Store } from '../store/store';
import { sha256File } from '../runs/codeVersion';
import { cacheRootOf, ContentStoreError, objectPath } from './contentStore';
import { RemoteError, type RemoteStorage } from './remoteStorage';

/** What a remote keeps next to the objects so another clone can pull a version it never recorded. */
const manifestSchema = z.object({
  format: z.literal(1),
  dataset: z.string().min(1),
  uri: z.string(),
  digest: z.string().min(1),
  digestAlgorithm: z.string().min(1),
  path: z.string().min(1),
  sizeBytes: z.number().nullable(),
  rowCount: z.number().nullable(),
  layout: z.enum(['file', 'files']),
  files: z.array(z.object({ relPath: z.string().min(1), objectDigest: z.string().regex(/^[0-9a-f]{64}$/), sizeBytes: z.number().int().min(0) })).min(1),
});
type Manifest = z.output<typeof manifestSchema>;

const objectKey = (digest: string): string => `objects/${digest.slice(0, 2)}/${digest.slice(2)}`;
const manifestKey = (dataset: string, digest: string): string => `versions/${dataset}/${digest}.json`;

export interface SyncOptions {
  readonly store: Store;
  readonly projectRoot: string;
  readonly remote: RemoteStorage;
  /** `name` or `name@digest-prefix`; absent: every dataset. */
  readonly ref?: string;
  readonly onProgress?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface SyncReport {
  readonly remote: string;
  /** Versions now on both sides (`name@digest`). */
  readonly versions: string[];
  /** Objects sent or fetched, and their bytes. */
  readonly objects: number;
  readonly bytes: number;
  /** Objects the other side had already. */
  readonly skipped: number;
  /** Versions left out, with why (not cached here, not on the remote). */
  readonly notTransferred: { version: string; reason: string }[];
}

const label = (dataset: string, digest: string): string => `${dataset}@${digest.slice(0, 12)}`;

/** The local versions a ref names (all of a dataset, one by digest prefix, or every version). */
function localVersions(store: Store, ref: string | undefined): { dataset: Dataset; version: DatasetVersion }[] {
  const repo = new DatasetRepository(store);
  const { name, prefix } = splitRef(ref);
  const datasets = name === undefined ? repo.list() : [repo.byName(name)].filter((d): d is Dataset => d !== undefined);
  return datasets.flatMap((dataset) =>
    repo
      .versions(dataset.datasetId)
      .filter((v) => prefix === undefined || v.digest.startsWith(prefix))
      .map((version) => ({ dataset, version })),
  );
}

function splitRef(ref: string | undefined): { name: string | undefined; prefix: string | undefined } {
  if (!ref) return { name: undefined, prefix: undefined };
  const at = ref.lastIndexOf('@');
  if (at === 0 || at === ref.length - 1)
    throw new ContentStoreError(`"${ref}" is not a dataset or version reference: write <dataset> or <dataset>@<digest prefix>`);
  return at < 0 ? { name: ref, prefix: undefined } : { name: ref.slice(0, at), prefix: ref.slice(at + 1).toLowerCase() };
}

/**
 * Uploads the cached versions a ref names: each object the remote lacks (checked by key), then the
 * version's manifest. The object's bytes are hashed as they are read; an object that no longer hashes to
 * its name is not sent (the error names it).
 */
export async function pushVersions(options: SyncOptions): Promise<SyncReport> {
  const { store, remote } = options;
  const progress = options.onProgress ?? ((): void => undefined);
  const cache = new DatasetCacheRepository(store);
  const root = cacheRootOf(options.projectRoot);
  const selected = localVersions(store, options.ref);
  if (options.ref && selected.length === 0)
    throw new ContentStoreError(`nothing in the store matches ${options.ref} ("mloop datasets list" shows the datasets)`);
  const notTransferred: SyncReport['notTransferred'] = [];
  const pushed: string[] = [];
  const ready: { dataset: Dataset; version: DatasetVersion; files: VersionFile[]; layout: 'file' | 'files' }[] = [];
  for (const { dataset, version } of selected) {
    const state = cache.state(version.datasetVersionId);
    if (state?.status !== 'cached') {
      notTransferred.push({ version: label(dataset.name, version.digest), reason: `not cached here (${state?.status ?? 'recorded before mloop kept bytes'})` });
      continue;
    }
    ready.push({ dataset, version, files: cache.files(version.datasetVersionId), layout: state.layout ?? 'file' });
  }
  const objects = new Map<string, number>();
  for (const r of ready) for (const f of r.files) objects.set(f.objectDigest, f.sizeBytes);
  let sent = 0;
  let bytes = 0;
  let skipped = 0;
  const total = [...objects.values()].reduce((s, n) => s + n, 0);
  let index = 0;
  for (const [digest, size] of objects) {
    options.signal?.throwIfAborted();
    index++;
    if (await remote.exists(objectKey(digest))) {
      skipped++;
      continue;
    }
    const file = objectPath(root, digest);
    const got = await sha256File(file).catch(() => undefined);
    if (got === undefined) throw new ContentStoreError(`cached object ${digest} is missing: ${file}`);
    if (got !== digest) throw new ContentStoreError(`cached object ${digest} is corrupted: ${file} now hashes to ${got}; it was not pushed`);
    progress(`uploading object ${index}/${objects.size} (${formatBytes(size)}; ${formatBytes(bytes)} of ${formatBytes(total)} sent)`);
    await remote.putFile(objectKey(digest), file, digest, (n) => (bytes += n), options.signal);
    sent++;
  }
  for (const r of ready) {
    const manifest: Manifest = {
      format: 1,
      dataset: r.dataset.name,
      uri: r.dataset.uri,
      digest: r.version.digest,
      digestAlgorithm: r.version.digestAlgorithm,
      path: r.version.path,
      sizeBytes: r.version.sizeBytes,
      rowCount: r.version.rowCount,
      layout: r.layout,
      files: r.files.map((f) => ({ relPath: f.relPath, objectDigest: f.objectDigest, sizeBytes: f.sizeBytes })),
    };
    await remote.putText(manifestKey(r.dataset.name, r.version.digest), `${JSON.stringify(manifest, null, 2)}\n`);
    pushed.push(label(r.dataset.name, r.version.digest));
  }
  return { remote: remote.location, versions: pushed, objects: sent, bytes, skipped, notTransferred };
}

/**
 * Downloads the versions a ref names from the remote: those the store knows whose bytes are not cached
 * here, and those only the remote has (recorded into the store from their manifest). Each object is
 * written to a temporary file in the cache, hashed, and renamed into place only when it hashes to its
 * name; a version becomes restorable once all its objects are here.
 */
export async function pullVersions(options: SyncOptions): Promise<SyncReport> {
  const { store, remote } = options;
  const progress = options.onProgress ?? ((): void => undefined);
  const cache = new DatasetCacheRepository(store);
  const datasets = new DatasetRepository(store);
  const root = cacheRootOf(options.projectRoot);
  const { name, prefix } = splitRef(options.ref);
  const notTransferred: SyncReport['notTransferred'] = [];
  // the remote's manifests, then the local versions it lacks
  const keys = await remote.list(name === undefined ? 'versions/' : `versions/${name}/${prefix ?? ''}`);
  const manifests: Manifest[] = [];
  for (const key of keys) {
    if (!key.endsWith('.json')) continue;
    const text = await remote.getText(key);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text ?? '');
    } catch {
      throw new RemoteError(`${remote.location}/${key} is not JSON: the remote's manifest is damaged`);
    }
    const result = manifestSchema.safeParse(parsed);
    if (!result.success)
      throw new RemoteError(`${remote.location}/${key}: ${result.error.issues.map((i) => `${i.path.join('.') || 'manifest'}: ${i.message}`).join('; ')}`);
    manifests.push(result.data);
  }
  const onRemote = new Set(manifests.map((m) => `${m.dataset}@${m.digest}`));
  for (const { dataset, version } of localVersions(store, options.ref)) {
    if (!onRemote.has(`${dataset.name}@${version.digest}`) && cache.state(version.datasetVersionId)?.status !== 'cached')
      notTransferred.push({ version: label(dataset.name, version.digest), reason: `not on ${remote.location}` });
  }
  if (options.ref && manifests.length === 0 && notTransferred.length === 0)
    throw new ContentStoreError(`${remote.location} has no version matching ${options.ref}`);
  if (prefix !== undefined && new Set(manifests.map((m) => m.digest)).size > 1)
    throw new ContentStoreError(
      `digest prefix ${prefix} is ambiguous on ${remote.location}: ${manifests.map((m) => m.digest.slice(0, 12)).join(', ')}; give more characters`,
    );

  let fetched = 0;
  let bytes = 0;
  let skipped = 0;
  const pulled: string[] = [];
  const tmpDir = join(root, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  for (const m of manifests) {
    const dataset = datasets.byName(m.dataset) ?? datasets.upsert({ name: m.dataset, uri: m.uri });
    const known = datasets.versionByDigest(dataset.datasetId, m.digest);
    const version =
      known ??
      datasets.addVersion({
        datasetId: dataset.datasetId,
        digest: m.digest,
        digestAlgorithm: m.digestAlgorithm,
        path: m.path,
        ...(m.sizeBytes !== null ? { sizeBytes: m.sizeBytes } : {}),
        ...(m.rowCount !== null ? { rowCount: m.rowCount } : {}),
        origin: 'imported',
      }).version;
    if (cache.state(version.datasetVersionId)?.status === 'cached' && (await allPresent(root, cache.files(version.datasetVersionId)))) {
      skipped += m.files.length;
      pulled.push(label(m.dataset, m.digest));
      continue;
    }
    const total = m.files.reduce((s, f) => s + f.sizeBytes, 0);
    for (const [i, f] of m.files.entries()) {
      options.signal?.throwIfAborted();
      const target = objectPath(root, f.objectDigest);
      if (await present(target)) {
        skipped++;
        continue;
      }
      progress(`downloading ${label(m.dataset, m.digest)}: object ${i + 1}/${m.files.length} (${formatBytes(f.sizeBytes)} of ${formatBytes(total)})`);
      const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.pull`);
      try {
        if (!(await remote.getFile(objectKey(f.objectDigest), tmp, (n) => (bytes += n), options.signal)))
          throw new RemoteError(
            `${remote.location} lacks object ${f.objectDigest} (${f.relPath} of ${label(m.dataset, m.digest)}): push it again from a clone that has it`,
          );
        const got = await sha256File(tmp);
        if (got !== f.objectDigest)
          throw new ContentStoreError(
            `object ${f.objectDigest} downloaded from ${remote.location} hashes to ${got}: the remote's copy is corrupted; nothing was stored for ${f.relPath} of ${label(m.dataset, m.digest)}`,
          );
        await mkdir(dirname(target), { recursive: true });
        await chmod(tmp, 0o444);
        await rename(tmp, target);
        fetched++;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
    }
    cache.setState(version.datasetVersionId, 'cached', { layout: m.layout, files: m.files, reason: `pulled from ${remote.location}` });
    pulled.push(label(m.dataset, m.digest));
  }
  return { remote: remote.location, versions: pulled, objects: fetched, bytes, skipped, notTransferred };
}

async function present(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function allPresent(root: string, files: readonly VersionFile[]): Promise<boolean> {
  for (const f of files) if (!(await present(objectPath(root, f.objectDigest)))) return false;
  return true;
}

function formatBytes(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MB`
        : `${(n / 1024 ** 3).toFixed(2)} GB`;
}
