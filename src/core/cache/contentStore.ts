import type * as Crypto from 'node:crypto';
import { chmod, constants, copyFile, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { commonBase, STAT_MEMO_SETTLE_MS } from '../datasets/digest';
import { copyHashing, copyImmutableHashing } from './copyHash';
import { restoreFromDvcCache } from './dvcCache';
import { isGlob } from '../datasets/files';
import { DatasetCacheRepository, type VersionCacheState, type VersionFile, type VersionLayout } from '../store/datasetCache';
import { DatasetRepository, type Dataset, type DatasetVersion } from '../store/datasets';
import type { Store } from '../store/store';

// node:crypto is loaded on first use: a restore of a sealed object hashes nothing, and the module's load is ~3 ms of
// `mloop datasets checkout`'s CPU (issue 16)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = (): typeof Crypto => require('node:crypto') as typeof Crypto;
const createHash: typeof Crypto.createHash = (...args) => nodeCrypto().createHash(...args);
const randomBytes = (size: number): Buffer => nodeCrypto().randomBytes(size);
/**
 * The 12 hex digits of a restore's temporary name, without node:crypto: the name only has to differ from another
 * restore's (the copy is made with COPYFILE_EXCL, so a clash fails and overwrites nothing), not to be unguessable.
 */
const restoreSuffix = (): string =>
  Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, '0');

/** The project's content store: objects named by the SHA-256 of their bytes, plus a folder for writes in progress. */
export const cacheRootOf = (projectRoot: string): string => join(projectRoot, '.mloop', 'cache');

export const objectPath = (cacheRoot: string, digest: string): string => join(cacheRoot, 'objects', digest.slice(0, 2), digest.slice(2));

/**
 * An object's seal: the stat of the object (size, mtime, ctime, inode) taken once its bytes were known to hash to its
 * name (written by this store in the same pass that hashed them, or hashed in full by a restore). A restore whose object
 * still has exactly this stat copies it without reading it again, the trust `dvc checkout` gives its cache through its
 * state database (inode, mtime, size → md5). Any write to the object moves its ctime, which no user can set back, so a
 * changed object is hashed in full (and refused if it no longer hashes to its name). Seals live beside the objects,
 * never among them, so gc's walk of objects/ does not see them; a seal whose object is gone matches nothing.
 */
export const sealPath = (cacheRoot: string, digest: string): string => join(cacheRoot, 'sealed', digest.slice(0, 2), `${digest.slice(2)}.json`);

async function statKey(path: string): Promise<{ key: string; changedMs: number } | undefined> {
  const st = await stat(path, { bigint: true }).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  return { key: `${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}`, changedMs: Math.max(Number(st.ctimeNs / 1_000_000n), Number(st.mtimeNs / 1_000_000n)) };
}

/** Records the object's current stat as its seal (see sealPath); a seal that cannot be written only costs a later restore a read. */
async function sealObject(cacheRoot: string, digest: string, key: string): Promise<void> {
  try {
    const file = sealPath(cacheRoot, digest);
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.part`;
    await writeFile(tmp, JSON.stringify({ key }));
    await rename(tmp, file);
  } catch {
    // see above
  }
}

/** Whether the object at `object` still has the stat its seal recorded, and the size the manifest says. */
async function sealHolds(cacheRoot: string, digest: string, object: string, sizeBytes: number): Promise<boolean> {
  const [now, text] = await Promise.all([statKey(object), readFile(sealPath(cacheRoot, digest), 'utf8').catch(() => undefined)]);
  if (!now || !text || !now.key.startsWith(`${sizeBytes}\0`)) return false;
  try {
    return (JSON.parse(text) as { key?: unknown }).key === now.key;
  } catch {
    return false;
  }
}

/** A restore or a cache write that cannot go on; the message names what to fix (the digest, the file). */
export class ContentStoreError extends Error {
  override readonly name = 'ContentStoreError';
}

/** What caching a version did. */
export interface CacheOutcome {
  readonly status: 'cached' | 'already' | 'disabled' | 'failed';
  /** Bytes written into the cache (0 when every object was there already). */
  readonly bytesWritten: number;
  readonly reason?: string;
}

export interface CacheVersionOptions {
  readonly store: Store;
  readonly projectRoot: string;
  readonly version: DatasetVersion;
  /** The files the version's digest covers, absolute, in digest order. */
  readonly files: readonly string[];
  readonly layout: VersionLayout;
  /** The folder `files` are named relative to (layout 'files'). */
  readonly base: string;
  /** `cache: false` on the dataset: nothing is copied, and restore says so. */
  readonly enabled: boolean;
  readonly signal?: AbortSignal;
  /**
   * Layout 'file': the file's bytes already copied into the cache's tmp folder while its digest was taken
   * (digestDataset's `stage`); it is renamed into place instead of copied again. The caller removes it if it is
   * still there afterwards (the object existed already, or caching stopped).
   */
  readonly staged?: { readonly tmp: string; readonly sizeBytes: number };
}

/**
 * Puts a recorded version's bytes into the content store. Each file is cloned (a reflink where the file
 * system allows, a copy otherwise) into the cache's tmp folder, hashed there, and renamed to its object
 * name only after the copies together hash to the version's digest (a file changed since it was hashed
 * is never stored under the old digest). The manifest is recorded 'pending' before objects appear, so a
 * concurrent gc keeps them. A failure (disk full…) leaves no partial object and marks the version 'failed'.
 */
export async function cacheVersion(options: CacheVersionOptions): Promise<CacheOutcome> {
  const { store, version } = options;
  const repo = new DatasetCacheRepository(store);
  if (!options.enabled) {
    repo.setState(version.datasetVersionId, 'disabled', { reason: 'cache: false in mloop.yaml' });
    return { status: 'disabled', bytesWritten: 0 };
  }
  if (repo.state(version.datasetVersionId)?.status === 'cached') return { status: 'already', bytesWritten: 0 };
  const root = cacheRootOf(options.projectRoot);
  const tmpDir = join(root, 'tmp');
  const staged: { tmp: string | undefined; file: VersionFile }[] = [];
  try {
    await mkdir(tmpDir, { recursive: true });
    const whole = createHash('sha256');
    let bytesWritten = 0;
    for (const file of options.files) {
      options.signal?.throwIfAborted();
      const relPath = options.layout === 'file' ? basename(file) : relative(options.base, file).split(sep).join('/');
      // one file already stored under the version's digest: identical content is stored once, nothing to copy
      if (options.layout === 'file' && version.digestAlgorithm === 'sha256' && (await exists(objectPath(root, version.digest)))) {
        const size = (await stat(objectPath(root, version.digest))).size;
        staged.push({ tmp: undefined, file: { relPath, objectDigest: version.digest, sizeBytes: size } });
        continue;
      }
      if (options.layout === 'file' && options.staged && version.digestAlgorithm === 'sha256') {
        // copied and hashed in the digest's own pass: the copy holds exactly the bytes the version's digest covers
        staged.push({ tmp: options.staged.tmp, file: { relPath, objectDigest: version.digest, sizeBytes: options.staged.sizeBytes } });
        bytesWritten += options.staged.sizeBytes;
        continue;
      }
      const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
      staged.push({ tmp, file: { relPath, objectDigest: '', sizeBytes: 0 } });
      const own = createHash('sha256');
      // a multi-file digest hashes each file's name and size before its bytes: the size is the one the digest read
      if (options.layout === 'files') whole.update(`${relPath}\0${(await stat(file)).size}\0`);
      // one pass: the bytes are hashed as they are written, so the object holds exactly what was hashed
      const size = await copyHashing(file, tmp, options.layout === 'files' ? [own, whole] : [own], options.signal ? { signal: options.signal } : {});
      staged[staged.length - 1] = { tmp, file: { relPath, objectDigest: own.digest('hex'), sizeBytes: size } };
      bytesWritten += size;
    }
    const single = options.layout === 'file' && staged[0]?.tmp === undefined;
    if (version.digestAlgorithm === 'sha256' && !single) {
      const got = options.layout === 'file' ? staged[0]!.file.objectDigest : whole.digest('hex');
      if (got !== version.digest) {
        throw new ContentStoreError(
          `${version.path} changed while it was being cached (it now hashes to ${got.slice(0, 12)}, not ${version.digest.slice(0, 12)}); record it again`,
        );
      }
    }
    const files = staged.map((s) => s.file);
    repo.setState(version.datasetVersionId, 'pending', { layout: options.layout, files });
    for (const s of staged) {
      if (!s.tmp) continue;
      const target = objectPath(root, s.file.objectDigest);
      if (await exists(target)) {
        await unlink(s.tmp);
        bytesWritten -= s.file.sizeBytes;
      } else {
        await mkdir(dirname(target), { recursive: true });
        await chmod(s.tmp, 0o444); // an object is never edited in place
        await rename(s.tmp, target);
        // its bytes are the ones hashed while they were written (copyHashing, or the digest's staged copy)
        const sealed = await statKey(target);
        if (sealed) await sealObject(root, s.file.objectDigest, sealed.key);
      }
      s.tmp = undefined;
    }
    repo.setState(version.datasetVersionId, 'cached', { layout: options.layout });
    return { status: 'cached', bytesWritten };
  } catch (error) {
    await Promise.all(staged.map((s) => (s.tmp ? unlink(s.tmp).catch(() => undefined) : undefined)));
    const reason = (error as Error).message;
    repo.setState(version.datasetVersionId, 'failed', { reason });
    return { status: 'failed', bytesWritten: 0, reason };
  }
}

/** `name@digest-prefix`, resolved against the store: one version, or an error that says what matched. */
export function resolveVersionRef(store: Store, ref: string): { dataset: Dataset; version: DatasetVersion } {
  const at = ref.lastIndexOf('@');
  if (at <= 0 || at === ref.length - 1)
    throw new ContentStoreError(`"${ref}" is not a version reference: write <dataset>@<digest prefix>, e.g. weather@3fa2c1`);
  const name = ref.slice(0, at);
  const prefix = ref.slice(at + 1).toLowerCase();
  const repo = new DatasetRepository(store);
  const dataset = repo.byName(name);
  if (!dataset) {
    const names = repo.list().map((d) => d.name);
    throw new ContentStoreError(`no dataset "${name}" in the store (datasets: ${names.join(', ') || 'none'})`);
  }
  const matches = repo.versions(dataset.datasetId).filter((v) => v.digest.toLowerCase().startsWith(prefix));
  if (matches.length === 0)
    throw new ContentStoreError(`dataset "${name}" has no version whose digest starts with ${prefix} ("mloop datasets versions ${name}" lists them)`);
  if (matches.length > 1) {
    throw new ContentStoreError(
      `digest prefix ${prefix} is ambiguous for "${name}": it matches ${matches.map((v) => v.digest.slice(0, 12)).join(', ')}; give more characters`,
    );
  }
  return { dataset, version: matches[0]! };
}

/** Why a version's bytes cannot be restored from the cache, or undefined when they can. */
export function notRestorableReason(state: VersionCacheState | undefined, version: DatasetVersion): string | undefined {
  const short = version.digest.slice(0, 12);
  if (!state && (version.origin === 'mlflow' || version.origin === 'imported'))
    return `the bytes of version ${short} are not cached: it was logged through MLflow (or imported), which records a digest, not the data. Restore ${version.path} from where it came from.`;
  if (!state)
    return `the bytes of version ${short} are not cached: it was recorded before mloop kept dataset bytes (.mloop/cache/). Restore ${version.path} from where it came from (git, DVC, a backup).`;
  switch (state.status) {
    case 'cached':
      return undefined;
    case 'disabled':
      return `the bytes of version ${short} are not cached: the dataset has cache: false in mloop.yaml. Restore ${version.path} from where it came from (its source system, DVC, a backup).`;
    case 'evicted':
      return `the bytes of version ${short} are not cached any more: mloop gc removed them. Restore ${version.path} from where it came from.`;
    case 'pending':
      return `the bytes of version ${short} are still being cached (or caching was interrupted); record the dataset again, then restore.`;
    case 'failed':
      return `the bytes of version ${short} are not cached: caching failed (${state.reason ?? 'unknown reason'}).`;
  }
}

/** Where a version restores to by default: its own path (a glob's files go back under the glob's fixed folder). */
export function defaultRestoreTarget(store: Store, projectRoot: string, version: DatasetVersion): string {
  const path = isAbsolute(version.path) ? version.path : resolve(projectRoot, version.path);
  return isGlob(path) && new DatasetCacheRepository(store).state(version.datasetVersionId)?.layout === 'files' ? commonBase(path, []) : path;
}

export interface RestoreOptions {
  readonly store: Store;
  readonly projectRoot: string;
  readonly version: DatasetVersion;
  /**
   * Where to write: the file (layout 'file'; an existing folder receives the file under its own name) or
   * the folder (layout 'files'). Default: the version's own path.
   */
  readonly target: string;
  readonly signal?: AbortSignal;
  /** Hash every object in full even when its seal holds (see sealPath): `mloop datasets checkout --verify`. */
  readonly verify?: boolean;
}

export interface RestoreOutcome {
  /** The files written, absolute. */
  readonly files: string[];
  readonly bytes: number;
  /**
   * 'hashed': every object was read and hashed while it was copied; 'sealed': the version's single object still had
   * the stat recorded when its bytes were last known to hash to its name, and was copied without a second read.
   */
  readonly verified: 'hashed' | 'sealed';
}

/** How a restore knew its bytes (RestoreOutcome.verified), as the line that reports it says it. */
export function verifiedText(verified: RestoreOutcome['verified']): string {
  return verified === 'hashed' ? 'digest verified' : 'object unchanged since its digest was verified';
}

/**
 * Writes a cached version back. A single-file version whose object's seal holds (sealPath) is copied by the kernel
 * without a second read, unless `verify`. Otherwise every object is copied to a temporary file next to its destination and
 * hashed there; only when each copy hashes to its object name and all of them to the version's digest are
 * they renamed into place. A missing or corrupted object stops the restore with an error naming the digest
 * and the object file, and leaves every destination as it was.
 */
export async function restoreVersion(options: RestoreOptions): Promise<RestoreOutcome> {
  const { store, version } = options;
  const repo = new DatasetCacheRepository(store);
  const state = repo.state(version.datasetVersionId);
  const why = notRestorableReason(state, version);
  if (why && version.digestAlgorithm === 'md5-dvc') {
    // a version recorded from a .dvc file or dvc.lock: DVC's own cache may still have it
    const fromDvcCache = (): Promise<RestoreOutcome | undefined> =>
      restoreFromDvcCache({
        projectRoot: options.projectRoot,
        md5: version.digest,
        target: options.target,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    const cached = await fromDvcCache();
    if (cached) return cached;
    // not in DVC's cache: its DVC remote (a folder or S3) fills it, verified, as `dvc fetch` would
    const { fetchFromDvcRemote } = await import('./dvcRemote');
    const remote = await fetchFromDvcRemote({
      projectRoot: options.projectRoot,
      md5: version.digest,
      versionPath: version.path,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const fetched = remote && (await fromDvcCache());
    if (fetched) return fetched;
    throw new ContentStoreError(
      `${why} DVC's cache (.dvc/cache) has no md5 ${version.digest} either, and no DVC remote is configured in .dvc/config: "dvc pull" may fetch it.`,
    );
  }
  if (why) throw new ContentStoreError(why);
  const files = repo.files(version.datasetVersionId);
  const layout = state!.layout ?? 'file';
  const root = cacheRootOf(options.projectRoot);
  let single = options.target;
  if (layout === 'file' && (await stat(options.target).catch(() => undefined))?.isDirectory()) single = join(options.target, files[0]!.relPath);
  const destinations = files.map((f) => (layout === 'file' ? single : join(options.target, ...f.relPath.split('/'))));
  const temps: string[] = [];
  try {
    const only = files.length === 1 && layout === 'file' && version.digestAlgorithm === 'sha256' ? files[0]! : undefined;
    if (only && only.objectDigest === version.digest && !options.verify) {
      const object = objectPath(root, only.objectDigest);
      if (await sealHolds(root, only.objectDigest, object, only.sizeBytes)) {
        options.signal?.throwIfAborted();
        const dest = destinations[0]!;
        await mkdir(dirname(dest), { recursive: true });
        await removeStaleRestores(dest);
        const tmp = join(dirname(dest), `.${basename(dest)}.${restoreSuffix()}.mloop-restore`);
        temps.push(tmp);
        // a clone where the file system allows, else the kernel's copy_file_range: no byte passes through this process
        await copyFile(object, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        await chmod(tmp, 0o644);
        const size = (await stat(tmp)).size;
        if (size !== only.sizeBytes)
          throw new ContentStoreError(`cached object ${only.objectDigest} changed while it was restored: ${object}; nothing was restored`);
        await rename(tmp, dest);
        temps.length = 0;
        return { files: destinations, bytes: size, verified: 'sealed' };
      }
    }
    const whole = createHash('sha256');
    let bytes = 0;
    const seals: { digest: string; key: string }[] = [];
    for (const [i, f] of files.entries()) {
      options.signal?.throwIfAborted();
      const object = objectPath(root, f.objectDigest);
      if (!(await exists(object))) {
        throw new ContentStoreError(`cached object ${f.objectDigest} (${f.relPath} of version ${version.digest.slice(0, 12)}) is missing: ${object}`);
      }
      const dest = destinations[i]!;
      await mkdir(dirname(dest), { recursive: true });
      await removeStaleRestores(dest);
      const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.mloop-restore`);
      temps.push(tmp);
      const own = createHash('sha256');
      const before = await statKey(object);
      if (layout === 'files') whole.update(`${f.relPath}\0${(await stat(object)).size}\0`);
      // the object (read-only, never edited in place) is copied by the kernel while it is read and hashed: nothing is
      // renamed into place unless it hashes to its name. One file's own digest is the version's, so only a folder's
      // files also feed the digest over all of them
      const size = await copyImmutableHashing(object, tmp, layout === 'files' ? [own, whole] : [own], options.signal ? { signal: options.signal } : {});
      await chmod(tmp, 0o644);
      const got = own.digest('hex');
      if (got !== f.objectDigest) {
        throw new ContentStoreError(
          `cached object ${f.objectDigest} is corrupted: ${object} now hashes to ${got}. Nothing was restored; remove the object and record ${version.path} again if you still have it.`,
        );
      }
      // hashed in full to its name and not changed meanwhile (nor within the last second, where file times tick
      // coarsely): sealed, so the next restore copies it without reading it
      const after = await statKey(object);
      if (before && after && before.key === after.key && after.changedMs < Date.now() - STAT_MEMO_SETTLE_MS)
        seals.push({ digest: f.objectDigest, key: after.key });
      bytes += size;
    }
    if (version.digestAlgorithm === 'sha256') {
      const got = layout === 'file' ? files[0]!.objectDigest : whole.digest('hex');
      if (got !== version.digest) {
        throw new ContentStoreError(`the cached files of version ${version.digest} hash to ${got} together; nothing was restored`);
      }
    }
    for (const [i, tmp] of temps.entries()) await rename(tmp, destinations[i]!);
    temps.length = 0;
    for (const s of seals) await sealObject(root, s.digest, s.key);
    return { files: destinations, bytes, verified: 'hashed' };
  } finally {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
  }
}

/** Temporary files of an earlier restore of `dest` killed (kill -9, power loss) before it renamed them; never a user's file. */
async function removeStaleRestores(dest: string): Promise<void> {
  const prefix = `.${basename(dest)}.`;
  const names = await readdir(dirname(dest)).catch(() => [] as string[]);
  const stale = names.filter((n) => n.startsWith(prefix) && /^[0-9a-f]{12}\.mloop-restore$/.test(n.slice(prefix.length)));
  await Promise.all(stale.map((n) => unlink(join(dirname(dest), n)).catch(() => undefined)));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
