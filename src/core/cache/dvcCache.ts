import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ContentStoreError, type RestoreOutcome } from './contentStore';

/**
 * DVC's own cache, for versions recorded from a `.dvc` file or dvc.lock (their digest is DVC's md5): the
 * `.dvc/cache` of the nearest DVC repository at or above the project (or its `cache.dir` from `.dvc/config`),
 * in DVC 3's `files/md5/ab/cdef…` layout or DVC 2's `ab/cdef…`. A directory's md5 ends in `.dir` and names a
 * JSON list of its files' md5s.
 */
export async function dvcCacheDirs(projectRoot: string): Promise<string[]> {
  for (let dir = resolve(projectRoot); ; dir = dirname(dir)) {
    const dvc = join(dir, '.dvc');
    if ((await stat(dvc).catch(() => undefined))?.isDirectory()) {
      const configured = (await cacheDirSetting(join(dvc, 'config.local'))) ?? (await cacheDirSetting(join(dvc, 'config')));
      const cache = configured ? (isAbsolute(configured) ? configured : resolve(dvc, configured)) : join(dvc, 'cache');
      return [join(cache, 'files', 'md5'), cache];
    }
    if (dir === dirname(dir)) return [];
  }
}

async function cacheDirSetting(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) section = header[1]!.replace(/['"]/g, '');
    else if (section === 'cache') {
      const m = /^dir\s*=\s*(.+)$/.exec(line);
      if (m) return m[1]!.trim();
    }
  }
  return undefined;
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
  const list = JSON.parse(await readFile(object, 'utf8')) as unknown;
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
      await copyFile(p.object, tmp, constants.COPYFILE_FICLONE);
      await chmod(tmp, 0o644);
      const got = await md5Of(tmp);
      if (got !== p.md5) throw new ContentStoreError(`DVC cache object ${p.object} is corrupted: it hashes to md5 ${got}, not ${p.md5}. Nothing was restored.`);
      bytes += (await stat(tmp)).size;
    }
    for (const [i, tmp] of temps.entries()) await rename(tmp, plan[i]!.dest);
    temps.length = 0;
    return { files: plan.map((p) => p.dest), bytes };
  } finally {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
  }
}

function md5Of(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('md5');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('error', fail)
      .on('end', () => done(hash.digest('hex')));
  });
}
