import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ContentStoreError } from './contentStore';
import { dvcCacheDirs, dvcRepository, md5Of, parseDirListing } from './dvcCache';
import { openRemote, RemoteError, type RemoteStorage } from './remoteStorage';

/** A DVC remote mloop can read: a folder or an S3(-compatible) bucket, as `.dvc/config` names it. */
export interface DvcRemote {
  readonly name: string;
  readonly storage: RemoteStorage;
}

/**
 * The DVC remote a version is fetched from: the `remote:` of its output in `<path>.dvc`, else `core.remote`
 * of `.dvc/config` (config.local over it), else the only remote defined. Undefined when none is configured.
 * A scheme mloop does not read (gs://, azure://, ssh://, http://…) is an error that says to use `dvc pull`.
 */
export async function dvcRemoteFor(projectRoot: string, versionPath: string, env: Readonly<NodeJS.ProcessEnv> = process.env): Promise<DvcRemote | undefined> {
  const repo = await dvcRepository(projectRoot);
  if (!repo) return undefined;
  const names = [...repo.config.keys()].flatMap((s) => /^remote "(.+)"$/.exec(s)?.[1] ?? []);
  const own = await outputRemote(isAbsolute(versionPath) ? versionPath : resolve(projectRoot, versionPath));
  const name = own ?? repo.config.get('core')?.get('remote') ?? (names.length === 1 ? names[0] : undefined);
  if (!name) return undefined;
  const section = repo.config.get(`remote "${name}"`);
  const url = section?.get('url');
  if (!section || !url) throw new ContentStoreError(`DVC remote "${name}" is named but not defined (no url) in ${join(repo.dvcDir, 'config')}`);
  return { name, storage: openDvcRemote(name, url, section, repo.dvcDir, env) };
}

/** `remote:` on the output of `<file>.dvc`, when the version's file has one. */
async function outputRemote(file: string): Promise<string | undefined> {
  const text = await readFile(`${file}.dvc`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const doc = parseYaml(text) as { outs?: { remote?: unknown }[] } | null;
    const remote = doc?.outs?.find((o) => typeof o?.remote === 'string')?.remote;
    return typeof remote === 'string' ? remote : undefined;
  } catch {
    return undefined; // a .dvc file mloop cannot read names no remote; the default applies
  }
}

function openDvcRemote(name: string, url: string, section: Map<string, string>, dvcDir: string, env: Readonly<NodeJS.ProcessEnv>): RemoteStorage {
  if (/^s3:\/\//i.test(url)) {
    // credentials as DVC reads them for this remote: its profile or keys (config.local), else the environment's
    const remoteEnv: NodeJS.ProcessEnv = { ...env };
    if (section.get('profile')) remoteEnv.AWS_PROFILE = section.get('profile');
    if (section.get('credentialpath')) remoteEnv.AWS_SHARED_CREDENTIALS_FILE = section.get('credentialpath');
    if (section.get('access_key_id') && section.get('secret_access_key')) {
      remoteEnv.AWS_ACCESS_KEY_ID = section.get('access_key_id');
      remoteEnv.AWS_SECRET_ACCESS_KEY = section.get('secret_access_key');
      if (section.get('session_token')) remoteEnv.AWS_SESSION_TOKEN = section.get('session_token');
      else delete remoteEnv.AWS_SESSION_TOKEN;
    }
    const endpoint = section.get('endpointurl');
    const region = section.get('region');
    return openRemote({ url, ...(endpoint ? { endpoint_url: endpoint } : {}), ...(region ? { region } : {}) }, dvcDir, remoteEnv);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^file:\/\//i.test(url))
    throw new ContentStoreError(`DVC remote "${name}" (${url}) is not a folder or S3: mloop does not read it; "dvc pull" fetches from it into DVC's cache`);
  // a relative folder is relative to the config file's folder (.dvc/), as DVC resolves it
  const folder = url.replace(/^file:\/\//i, '');
  return openRemote({ url: isAbsolute(folder) ? folder : resolve(dvcDir, folder) }, dvcDir, env);
}

/** Remote keys of one md5: DVC 3's `files/md5/ab/cdef…`, then DVC 2's `ab/cdef…`. */
const remoteKeys = (md5: string): string[] => [`files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`, `${md5.slice(0, 2)}/${md5.slice(2)}`];

/**
 * Fetches a DVC-recorded version from its DVC remote into DVC's local cache (what `dvc fetch` does), so the
 * restore from DVC's cache follows: the object (and for a directory its `.dir` listing and every file in it),
 * each downloaded to a temporary name in the cache, its md5 checked, then renamed into place. Objects already
 * in DVC's cache are not fetched again. Returns the remote read, or undefined when no DVC remote is configured.
 * An unreachable remote, an object the remote lacks, or one whose bytes do not hash to its md5 stops it with
 * an error naming the md5 and the file; no partial object is left.
 */
export async function fetchFromDvcRemote(options: {
  projectRoot: string;
  md5: string;
  /** The version's path (relative to the project): its `.dvc` file may name the remote; messages name it. */
  versionPath: string;
  env?: Readonly<NodeJS.ProcessEnv>;
  signal?: AbortSignal;
}): Promise<DvcRemote | undefined> {
  const remote = await dvcRemoteFor(options.projectRoot, options.versionPath, options.env);
  if (!remote) return undefined;
  const [cache] = await dvcCacheDirs(options.projectRoot);
  const fetchOne = async (md5: string, file: string): Promise<string> => {
    const target = join(cache!, md5.slice(0, 2), md5.slice(2));
    if ((await stat(target).catch(() => undefined))?.isFile()) return target;
    options.signal?.throwIfAborted();
    await mkdir(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `.${md5.slice(2)}.${randomBytes(6).toString('hex')}.mloop-fetch`);
    try {
      let key: string | undefined;
      for (const k of remoteKeys(md5)) {
        if (await remote.storage.getFile(k, tmp, undefined, options.signal)) {
          key = k;
          break;
        }
      }
      if (!key) {
        throw new ContentStoreError(
          `md5 ${md5} (${file}) is not on DVC remote "${remote.name}" (${remote.storage.location}): looked for ${remoteKeys(md5).join(' and ')}. Nothing was restored; "dvc push" it from a clone that has it.`,
        );
      }
      const got = await md5Of(tmp);
      if (got !== md5.replace(/\.dir$/, '')) {
        // a .dir listing's md5 is that of its bytes, with .dir appended
        throw new ContentStoreError(
          `DVC remote "${remote.name}" object ${key} (${file}) is corrupted: it hashes to md5 ${got}, not ${md5}. Nothing was restored.`,
        );
      }
      await chmod(tmp, 0o444); // DVC keeps cache objects read-only
      await rename(tmp, target);
      return target;
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      if (error instanceof RemoteError)
        throw new ContentStoreError(`could not fetch md5 ${md5} (${file}) from DVC remote "${remote.name}": ${error.message}. Nothing was restored.`);
      if (error instanceof ContentStoreError || (error as Error).name === 'AbortError') throw error;
      throw new ContentStoreError(
        `could not fetch md5 ${md5} (${file}) from DVC remote "${remote.name}" (${remote.storage.location}): ${(error as Error).message}. Nothing was restored.`,
      );
    }
  };
  if (!options.md5.endsWith('.dir')) {
    await fetchOne(options.md5, options.versionPath);
    return remote;
  }
  const listing = await fetchOne(options.md5, `the .dir listing of ${options.versionPath}`);
  let entries: { md5: string; relpath: string }[];
  try {
    entries = parseDirListing(await readFile(listing, 'utf8'));
  } catch (error) {
    throw new ContentStoreError(`DVC's directory listing ${listing} is damaged (${(error as Error).message}); nothing was restored`);
  }
  for (const e of entries) await fetchOne(e.md5, `${options.versionPath}/${e.relpath}`);
  return remote;
}
