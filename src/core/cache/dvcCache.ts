import type * as Crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ContentStoreError, type RestoreOutcome } from './contentStore';
import { copyImmutableHashing } from './copyHash';

// node:crypto on first use: this module loads with every `mloop datasets checkout`, which mostly restores from
// mloop's own store (issue 16)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = (): typeof Crypto => require('node:crypto') as typeof Crypto;
const createHash: typeof Crypto.createHash = (...args) => nodeCrypto().createHash(...args);
const randomBytes = (size: number): Buffer => nodeCrypto().randomBytes(size);

/**
 * DVC's own cache, for versions recorded from a `.dvc` file or dvc.lock (their digest is DVC's md5): the
 * `.dvc/cache` of the nearest DVC repository at or above the project (or its `cache.dir` from `.dvc/config`),
 * in DVC 3's `files/md5/ab/cdef…` layout or DVC 2's `ab/cdef…`. A directory's md5 ends in `.dir` and names a
 * JSON list of its files' md5s.
 */
export async function dvcCacheDirs(projectRoot: string): Promise<string[]> {
  const repo = await dvcRepository(projectRoot);
  if (!repo) return [];
  const configured = repo.config.get('cache')?.get('dir');
  const cache = configured ? (isAbsolute(configured) ? configured : resolve(repo.dvcDir, configured)) : join(repo.dvcDir, 'cache');
  return [join(cache, 'files', 'md5'), cache];
}

/** DVC's INI config: section (`core`, `cache`, `remote "name"`) → key → value. */
export type DvcConfig = Map<string, Map<string, string>>;

/** The `.dvc` folder of the nearest DVC repository at or above the project, and its config (config.local over config). */
export async function dvcRepository(projectRoot: string): Promise<{ dvcDir: string; config: DvcConfig } | undefined> {
  for (let dir = resolve(projectRoot); ; dir = dirname(dir)) {
    const dvcDir = join(dir, '.dvc');
    if ((await stat(dvcDir).catch(() => undefined))?.isDirectory()) {
      const config = parseDvcConfig(await readFile(join(dvcDir, 'config'), 'utf8').catch(() => ''));
      const local = parseDvcConfig(await readFile(join(dvcDir, 'config.local'), 'utf8').catch(() => ''));
      for (const [section, values] of local) config.set(section, new Map([...(config.get(section) ?? []), ...values]));
      return { dvcDir, config };
    }
    if (dir === dirname(dir)) return undefined;
  }
}

export function parseDvcConfig(text: string): DvcConfig {
  const config: DvcConfig = new Map();
  let section: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    // DVC writes ['remote "storage"'] (configobj quoting); [remote "storage"] is read the same
    const header = /^\[\s*'?(.+?)'?\s*\]$/.exec(line);
    if (header) {
      const name = header[1]!.replace(/\s+/g, ' ');
      section = config.get(name) ?? new Map<string, string>();
      config.set(name, section);
      continue;
    }
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (m && section) section.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return config;
}

async function findObject(dirs: readonly string[], md5: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const path = join(dir, md5.slice(0, 2), md5.slice(2));
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
  }
  return undefined;
}

/** Whether DVC's cache holds every object of this md5 (a file, or a `.dir` list and its files). */
export async function dvcCacheHas(projectRoot: string, md5: string): Promise<boolean> {
  const dirs = await dvcCacheDirs(projectRoot);
  const object = await findObject(dirs, md5);
  if (!object || !md5.endsWith('.dir')) return object !== undefined;
  const entries = await dirEntries(object).catch(() => undefined);
  if (!entries) return false;
  for (const e of entries) if (!(await findObject(dirs, e.md5))) return false;
  return true;
}

async function dirEntries(object: string): Promise<{ md5: string; relpath: string }[]> {
  return parseDirListing(await readFile(object, 'utf8'));
}

/** A `.dir` object: a JSON list of `{md5, relpath}` (relative paths inside the folder, never `..`). */
export function parseDirListing(text: string): { md5: string; relpath: string }[] {
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error('not a list');
  return list.map((e: { md5?: unknown; relpath?: unknown }) => {
    if (typeof e.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(e.md5) || typeof e.relpath !== 'string' || e.relpath.split(/[\\/]/).includes('..'))
      throw new Error(`bad entry ${JSON.stringify(e)}`);
    return { md5: e.md5, relpath: e.relpath };
  });
}

/**
 * Restores a DVC-recorded version from DVC's cache: each object copied next to its destination, its md5
 * checked, and renamed into place only when every file matches. Undefined when DVC's cache lacks it.
 */
export async function restoreFromDvcCache(options: {
  projectRoot: string;
  md5: string;
  target: string;
  signal?: AbortSignal;
}): Promise<RestoreOutcome | undefined> {
  const dirs = await dvcCacheDirs(options.projectRoot);
  const top = await findObject(dirs, options.md5);
  if (!top) return undefined;
  const plan: { object: string; md5: string; dest: string }[] = [];
  if (options.md5.endsWith('.dir')) {
    let entries: { md5: string; relpath: string }[];
    try {
      entries = await dirEntries(top);
    } catch (error) {
      throw new ContentStoreError(`DVC's directory listing ${top} is damaged (${(error as Error).message}); nothing was restored`);
    }
    for (const e of entries) {
      const object = await findObject(dirs, e.md5);
      if (!object) return undefined;
      plan.push({ object, md5: e.md5, dest: join(options.target, ...e.relpath.split(/[\\/]/)) });
    }
  } else {
    const dest = (await stat(options.target).catch(() => undefined))?.isDirectory() ? join(options.target, basename(top)) : options.target;
    plan.push({ object: top, md5: options.md5, dest });
  }
  const temps: string[] = [];
  try {
    let bytes = 0;
    for (const p of plan) {
      options.signal?.throwIfAborted();
      await mkdir(dirname(p.dest), { recursive: true });
      const tmp = join(dirname(p.dest), `.${basename(p.dest)}.${randomBytes(6).toString('hex')}.mloop-restore`);
      temps.push(tmp);
      const md5 = createHash('md5');
      // DVC's cache objects are read-only: copied by the kernel while they are read and hashed, renamed only if they match
      bytes += await copyImmutableHashing(p.object, tmp, [md5], options.signal ? { signal: options.signal } : {});
      await chmod(tmp, 0o644);
      const got = md5.digest('hex');
      if (got !== p.md5) throw new ContentStoreError(`DVC cache object ${p.object} is corrupted: it hashes to md5 ${got}, not ${p.md5}. Nothing was restored.`);
    }
    for (const [i, tmp] of temps.entries()) await rename(tmp, plan[i]!.dest);
    temps.length = 0;
    return { files: plan.map((p) => p.dest), bytes, verified: 'hashed' };
  } finally {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
  }
}

export function md5Of(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('md5');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('error', fail)
      .on('end', () => done(hash.digest('hex')));
  });
}
