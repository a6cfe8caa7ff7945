import type * as Crypto from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { listDatasetFiles } from './files';
import { toReadError } from './readErrors';
import { copyHashing } from '../cache/copyHash';

// node:crypto is loaded on first use: it loads ~20 internal modules (x509, keygen, webcrypto…), ~10 ms of a `mloop drift`
// that imports this module and hashes nothing (issue 16)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = (): typeof Crypto => require('node:crypto') as typeof Crypto;
const createHash: typeof Crypto.createHash = (...args) => nodeCrypto().createHash(...args);
const randomBytes = (size: number): Buffer => nodeCrypto().randomBytes(size);

export type DigestAlgorithm = 'sha256' | 'md5-dvc';

export interface DatasetDigest {
  /** Hex digest (a DVC directory digest keeps DVC's `.dir` suffix). */
  readonly digest: string;
  readonly algorithm: DigestAlgorithm;
  /** Total bytes of the files covered. */
  readonly sizeBytes: number;
  /** The files covered, absolute, sorted. */
  readonly files: string[];
  /** Set when the digest was taken from DVC metadata instead of reading the data. */
  readonly dvcSource?: string;
  /**
   * With `stage`: the single file's bytes, copied while they were hashed, in a temporary file of the stage folder
   * (the content store's tmp). Its owner renames it into the store or removes it.
   */
  readonly staged?: { readonly tmp: string; readonly sizeBytes: number };
}

export interface DigestOptions {
  readonly signal?: AbortSignal;
  /** Called with bytes hashed so far (for progress bars). */
  readonly onProgress?: (bytes: number, totalBytes: number) => void;
  /** Dataset format, to pick the files of a directory or glob. */
  readonly format?: string;
  /** Look for `<path>.dvc` / `dvc.lock` up to this folder (the project root) and reuse DVC's md5. */
  readonly dvcRoot?: string;
  /** Bytes per read (default READ_BYTES) and buffers in the read ring (default 3); for benchmarks. */
  readonly readBytes?: number;
  readonly ringSize?: number;
  /**
   * A folder where the digest is remembered with each file's size, mtime, ctime and inode (nanoseconds): when
   * none of them changed, the digest is reused without reading the data (as git's index and DVC's state do).
   */
  readonly statMemo?: string;
  /**
   * A single file that has to be read is also copied into `folder` in the same pass (each buffer hashed, then
   * written), so caching it afterwards is a rename instead of a second read, hash and write. Only when `when`
   * (given the file's size) says so: e.g. not when a cached object of that size exists, which is likely the same
   * content. A copy that fails (a full disk) is dropped, and the file is hashed without it.
   */
  readonly stage?: { readonly folder: string; readonly when?: (sizeBytes: number) => boolean };
}

/**
 * Content digest of a dataset path, streamed. One file: sha256 of its bytes (identical to `sha256sum`).
 * Several files (a directory or a glob): sha256 over, for each file in sorted order, its path relative to
 * the common base, a NUL, its size, a NUL, then its bytes — so renaming or moving a file changes the digest.
 */
export async function digestDataset(path: string, options: DigestOptions = {}): Promise<DatasetDigest> {
  const files = await listDatasetFiles(path, options.format);
  const sizes = await Promise.all(files.map(async (f) => (await statOrThrow(f)).size));
  const sizeBytes = sizes.reduce((a, b) => a + b, 0);
  if (options.dvcRoot) {
    const dvc = await dvcDigest(path, options.dvcRoot, sizeBytes);
    if (dvc) return { digest: dvc.md5, algorithm: 'md5-dvc', sizeBytes, files, dvcSource: dvc.source };
  }
  const memo = options.statMemo ? await statMemoLookup(options.statMemo, path, files) : undefined;
  if (memo?.hit) return { digest: memo.hit, algorithm: 'sha256', sizeBytes, files };
  const hash = createHash('sha256');
  const progress = { done: 0, total: sizeBytes, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
  const single = files.length === 1 && !(await statOrThrow(path).catch(() => undefined))?.isDirectory();
  const base = single ? dirname(files[0]!) : commonBase(path, files);
  const staged = single && options.stage && (options.stage.when?.(sizeBytes) ?? true) ? await stageFile(files[0]!, sizeBytes, options) : undefined;
  const ring = makeRing(Math.min(Math.max(sizeBytes, 1), options.readBytes ?? READ_BYTES), options.ringSize ?? RING_SIZE);
  for (const [i, file] of staged ? [] : files.entries()) {
    if (!single) hash.update(`${relative(base, file).split(sep).join('/')}\0${sizes[i]}\0`);
    try {
      await hashFile(file, hash, ring, progress, options.signal);
    } catch (error) {
      throw toReadError(error, file);
    }
  }
  const digest = staged ? staged.digest : hash.digest('hex');
  // remembered only when no file changed while it was read (stats before and after agree), and none changed in the
  // last second: file times tick coarsely, so a same-size rewrite within one tick could leave the same stats
  const after = memo && options.statMemo ? await statMemoLookup(options.statMemo, path, files) : undefined;
  if (after && memo && after.key === memo.key && after.newestChangeMs < Date.now() - STAT_MEMO_SETTLE_MS)
    await statMemoWrite(options.statMemo!, path, memo.key, digest);
  return { digest, algorithm: 'sha256', sizeBytes, files, ...(staged ? { staged: { tmp: staged.tmp, sizeBytes: staged.sizeBytes } } : {}) };
}

/** Hashes one file while copying it into the stage folder; undefined when the copy failed (the caller hashes it alone). */
async function stageFile(file: string, totalBytes: number, options: DigestOptions): Promise<{ tmp: string; sizeBytes: number; digest: string } | undefined> {
  const folder = options.stage!.folder;
  const tmp = join(folder, `${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  try {
    await mkdir(folder, { recursive: true });
    const sizeBytes = await copyHashing(file, tmp, [hash], {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: (done: number) => options.onProgress!(done, totalBytes) } : {}),
    });
    return { tmp, sizeBytes, digest: hash.digest('hex') };
  } catch (error) {
    options.signal?.throwIfAborted();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw toReadError(error, file);
    return undefined; // the stage folder is full or unwritable: the file is hashed without a copy
  }
}

/** The stat key of a set of files (path, size, mtime, ctime, inode), and the digest remembered for it, if any. */
async function statMemoLookup(folder: string, path: string, files: readonly string[]): Promise<{ key: string; newestChangeMs: number; hit?: string }> {
  const parts: string[] = [];
  let newestChangeMs = 0;
  for (const f of files) {
    const st = await stat(f, { bigint: true }).catch(() => undefined);
    if (!st) return { key: `missing:${randomBytes(8).toString('hex')}`, newestChangeMs: Date.now() };
    parts.push(`${f}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}`);
    newestChangeMs = Math.max(newestChangeMs, Number(st.ctimeNs / 1_000_000n), Number(st.mtimeNs / 1_000_000n));
  }
  const key = parts.join('\n');
  const text = await readFile(statMemoFile(folder, path), 'utf8').catch(() => undefined);
  if (!text) return { key, newestChangeMs };
  try {
    const memo = JSON.parse(text) as { key?: unknown; digest?: unknown };
    const hit = memo.key === key && typeof memo.digest === 'string' && /^[0-9a-f]{64}$/.test(memo.digest) ? memo.digest : undefined;
    return { key, newestChangeMs, ...(hit ? { hit } : {}) };
  } catch {
    return { key, newestChangeMs };
  }
}

/** A file changed less than this long ago is not remembered (file times tick coarsely; see digestDataset). */
export const STAT_MEMO_SETTLE_MS = 1000;

const statMemoFile = (folder: string, path: string): string => join(folder, `${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 32)}.json`);

async function statMemoWrite(folder: string, path: string, key: string, digest: string): Promise<void> {
  try {
    await mkdir(folder, { recursive: true });
    const file = statMemoFile(folder, path);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.part`;
    await writeFile(tmp, JSON.stringify({ key, digest }));
    await rename(tmp, file);
  } catch {
    // a memo that cannot be written only costs the next digest a read
  }
}

/** Bytes per read: big enough that per-call overhead vanishes, small enough to stay in L2/L3 while hashed. */
export const READ_BYTES = 2 << 20;
/** Buffers in the ring: one being hashed while the others are being filled by reads in flight. */
const RING_SIZE = 3;

function makeRing(bytes: number, count: number): Buffer[] {
  return Array.from({ length: Math.max(2, count) }, () => Buffer.allocUnsafe(bytes));
}

interface Progress {
  done: number;
  readonly total: number;
  readonly onProgress?: (bytes: number, totalBytes: number) => void;
}

/**
 * Hashes one file with reads overlapped with hashing: while the main thread hashes one buffer, the next
 * RING_SIZE - 1 positional reads run on libuv's thread pool into the other buffers of the ring. No copies:
 * each buffer is hashed in place and reused once its bytes are consumed. Reads until EOF (the size from
 * stat is only the first guess), so a file that grows or shrinks meanwhile is still hashed as read.
 */
async function hashFile(file: string, hash: Hash, ring: Buffer[], progress: Progress, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const handle = await open(file, 'r');
  const chunk = ring[0]!.length;
  const inFlight: Promise<number>[] = [];
  let position = 0;
  let slot = 0; // the ring buffer of the oldest read in flight
  let next = 0; // the ring buffer the next read fills
  const issue = (): void => {
    const buffer = ring[next]!;
    next = (next + 1) % ring.length;
    const at = position;
    position += chunk;
    const read = handle.read(buffer, 0, chunk, at).then((r) => r.bytesRead);
    read.catch(() => undefined); // awaited in turn below; a failure meanwhile is not an unhandled rejection
    inFlight.push(read);
  };
  try {
    for (let k = 0; k < ring.length - 1; k++) issue();
    for (;;) {
      const bytesRead = await inFlight.shift()!;
      signal?.throwIfAborted();
      if (bytesRead === 0) break;
      // the buffer just freed by the previous round goes back into flight before this one is hashed
      issue();
      hash.update(bytesRead === chunk ? ring[slot]! : ring[slot]!.subarray(0, bytesRead));
      progress.done += bytesRead;
      progress.onProgress?.(progress.done, progress.total);
      slot = (slot + 1) % ring.length;
      if (bytesRead < chunk) break;
    }
  } finally {
    // let reads still in flight land before the ring is reused or the handle closed
    await Promise.allSettled(inFlight);
    await handle.close();
  }
}

async function statOrThrow(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    throw toReadError(error, path);
  }
}

/** The folder a multi-file digest names its files relative to: the directory itself, or a glob's fixed prefix. */
export function commonBase(path: string, files: string[]): string {
  const glob = path.search(/[*?[\]{}]/);
  if (glob < 0) return resolve(path);
  const prefix = path.slice(0, glob);
  return resolve(prefix.endsWith('/') ? prefix : dirname(prefix + 'x')) || dirname(files[0]!);
}

/**
 * DVC's md5 for this path, from `<path>.dvc` or the nearest `dvc.lock` (searched from the path's folder up to
 * `root`), when its recorded size agrees with the file on disk (a stale .dvc file is not trusted).
 */
export async function dvcDigest(path: string, root: string, sizeBytes?: number): Promise<{ md5: string; source: string } | undefined> {
  const target = resolve(path);
  const fromDvcFile = await readDvcOuts(`${target}.dvc`);
  const hit = fromDvcFile?.find((o) => resolve(dirname(target), o.path) === target);
  if (hit && agrees(hit, sizeBytes)) return { md5: hit.md5, source: `${target}.dvc` };
  const top = resolve(root);
  for (let dir = dirname(target); ; dir = dirname(dir)) {
    const lock = join(dir, 'dvc.lock');
    const outs = await readDvcOuts(lock);
    const out = outs?.find((o) => resolve(dir, o.path) === target);
    if (out && agrees(out, sizeBytes)) return { md5: out.md5, source: lock };
    if (dir === top || dir === dirname(dir) || !dir.startsWith(top)) return undefined;
  }
}

const agrees = (out: DvcOut, sizeBytes?: number): boolean => out.size === undefined || sizeBytes === undefined || out.size === sizeBytes;

interface DvcOut {
  readonly path: string;
  readonly md5: string;
  readonly size?: number;
}

/** The `outs` (and dvc.lock stage `outs`/`deps`) with an md5, from a .dvc or dvc.lock file; undefined if absent. */
async function readDvcOuts(file: string): Promise<DvcOut[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let doc: unknown;
  try {
    doc = (await import('yaml')).parse(text); // loaded here: most digests read no .dvc file
  } catch {
    return undefined;
  }
  const outs: DvcOut[] = [];
  const collect = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const o of list as Record<string, unknown>[]) {
      if (o && typeof o.path === 'string' && typeof o.md5 === 'string') {
        outs.push({ path: o.path, md5: o.md5, ...(typeof o.size === 'number' ? { size: o.size } : {}) });
      }
    }
  };
  const d = doc as { outs?: unknown; stages?: Record<string, { outs?: unknown; deps?: unknown }> } | null;
  collect(d?.outs);
  for (const stage of Object.values(d?.stages ?? {})) {
    collect(stage?.outs);
    collect(stage?.deps);
  }
  return outs;
}
