import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../runs/codeVersion';
import { FileDigestRepository, type FileStamp } from '../store/fileDigests';
import type { Store } from '../store/store';

/** The digest of a path that is not there. */
export const MISSING = 'missing';

/**
 * Digests of the files and folders stages read and write. A file is hashed (sha256) only when its size, mtime
 * (ns) or inode differ from the stamp its recorded digest was taken at; a folder's digest covers its files'
 * relative paths and digests, in order.
 */
export class StagePathDigests {
  private readonly repo: FileDigestRepository;
  /** Files actually read during this instance's life (the rest came from the store). */
  hashedFiles = 0;

  constructor(
    store: Store,
    private readonly signal?: AbortSignal,
  ) {
    this.repo = new FileDigestRepository(store);
  }

  async digest(absolutePath: string): Promise<string> {
    const stats = await stat(absolutePath, { bigint: true }).catch(() => undefined);
    if (!stats) return MISSING;
    if (!stats.isDirectory()) return this.fileDigest(absolutePath, stats);
    const hash = createHash('sha256');
    for (const rel of await listFiles(absolutePath)) {
      const file = join(absolutePath, rel);
      const fileStats = await stat(file, { bigint: true }).catch(() => undefined);
      if (!fileStats) continue;
      hash.update(`${rel}\0${await this.fileDigest(file, fileStats)}\n`);
    }
    return `${hash.digest('hex')}.dir`;
  }

  private async fileDigest(path: string, stats: BigIntStats): Promise<string> {
    this.signal?.throwIfAborted();
    const stamp: FileStamp = { size: Number(stats.size), mtimeNs: String(stats.mtimeNs), inode: String(stats.ino) };
    const known = this.repo.lookup(path, stamp);
    if (known) return known;
    const digest = await sha256File(path);
    this.hashedFiles++;
    this.repo.record(path, stamp, digest);
    return digest;
  }
}

/** Every file under a folder, `/`-separated relative paths, sorted. */
async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(folder.length + 1)
        .split('\\')
        .join('/'),
    )
    .sort();
}
