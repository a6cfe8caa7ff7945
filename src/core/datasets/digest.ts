import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { listDatasetFiles } from './files';
import { toReadError } from './readErrors';

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
}

export interface DigestOptions {
  readonly signal?: AbortSignal;
  /** Called with bytes hashed so far (for progress bars). */
  readonly onProgress?: (bytes: number, totalBytes: number) => void;
  /** Dataset format, to pick the files of a directory or glob. */
  readonly format?: string;
  /** Look for `<path>.dvc` / `dvc.lock` up to this folder (the project root) and reuse DVC's md5. */
  readonly dvcRoot?: string;
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
  const hash = createHash('sha256');
  let done = 0;
  const single = files.length === 1 && !(await statOrThrow(path).catch(() => undefined))?.isDirectory();
  const base = single ? dirname(files[0]!) : commonBase(path, files);
  for (const [i, file] of files.entries()) {
    if (!single) hash.update(`${relative(base, file).split(sep).join('/')}\0${sizes[i]}\0`);
    const stream = createReadStream(file, { highWaterMark: 4 << 20, ...(options.signal ? { signal: options.signal } : {}) });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        done += chunk.length;
        options.onProgress?.(done, sizeBytes);
      }
    } catch (error) {
      throw toReadError(error, file);
    }
  }
  return { digest: hash.digest('hex'), algorithm: 'sha256', sizeBytes, files };
}

async function statOrThrow(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    throw toReadError(error, path);
  }
}

function commonBase(path: string, files: string[]): string {
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
    doc = parseYaml(text);
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
