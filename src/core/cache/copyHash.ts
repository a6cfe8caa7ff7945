import type { Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, open, unlink } from 'node:fs/promises';

/** Bytes per read and buffers in flight when a copy is hashed on the way (4 × 4 MiB). */
const CHUNK_BYTES = 4 << 20;
const RING = 4;

export interface CopyHashOptions {
  readonly signal?: AbortSignal;
  /** Called with the bytes copied so far. */
  readonly onProgress?: (bytes: number) => void;
  /** For tests: bytes per read and buffers in the ring. */
  readonly chunkBytes?: number;
  readonly ring?: number;
}

/**
 * Copies `source` to a new file `dest` (which must not exist) and feeds every byte written into `hashes`, in order.
 *
 * Where the file system can clone (a reflink on Btrfs, XFS…), the clone is made and then read back through the
 * hashes: no data is written. Otherwise the bytes are read once, hashed, and the very buffers hashed are written,
 * so what lands in `dest` is exactly what was hashed, and `source` is read once instead of being copied and then
 * read back. Reads, the hashing (main thread) and writes overlap: a ring of buffers, each read into only after its
 * previous write finished. Returns the bytes copied. On any failure (a read or write error, the disk full, an
 * abort) `dest` is removed before the error is rethrown, so no partial file is left behind.
 */
export async function copyHashing(source: string, dest: string, hashes: readonly Hash[], options: CopyHashOptions = {}): Promise<number> {
  options.signal?.throwIfAborted();
  const made = { dest: false };
  const cloned = await copyFile(source, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST' || error.code === 'ENOENT') throw error; // not a file system that cannot clone
      return false;
    },
  );
  if (cloned) made.dest = true;
  try {
    return cloned ? await hashFileInto(dest, hashes, options) : await streamCopy(source, dest, hashes, options, made);
  } catch (error) {
    // only a file this call created is removed
    if (made.dest) await unlink(dest).catch(() => undefined);
    throw error;
  }
}

/**
 * Copies a file that does not change (a content-store object: read-only, renamed into place once) to a new file
 * `dest`, and hashes the source at the same time: the kernel copies (copy_file_range, or a clone) on one core while
 * the bytes are read and hashed on the other, so the copy costs about the time of the longer of the two instead of
 * their sum. The caller compares the hashes with the object's name before using `dest`: a source whose bytes do not
 * hash to its name is caught, and the copy of bytes that did not change is those bytes. Not for a file someone may be
 * writing (a dataset being recorded): there `copyHashing` hashes exactly the buffers it writes. On any failure `dest`
 * is removed, so no partial file is left behind.
 */
export async function copyImmutableHashing(source: string, dest: string, hashes: readonly Hash[], options: CopyHashOptions = {}): Promise<number> {
  options.signal?.throwIfAborted();
  const copy = copyFile(source, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  copy.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled rejection
  try {
    const [size] = await Promise.all([hashFileInto(source, hashes, options), copy]);
    return size;
  } catch (error) {
    // the copy may still be running when the hash failed (an abort): let it end, then remove what it made
    await copy.catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(dest).catch(() => undefined);
    throw error;
  }
}

async function streamCopy(source: string, dest: string, hashes: readonly Hash[], options: CopyHashOptions, made: { dest: boolean }): Promise<number> {
  const chunk = options.chunkBytes ?? CHUNK_BYTES;
  const ring = Array.from({ length: Math.max(2, options.ring ?? RING) }, () => Buffer.allocUnsafe(chunk));
  const input = await open(source, 'r');
  let output: Awaited<ReturnType<typeof open>> | undefined;
  const reads: Promise<number>[] = [];
  const writes: Promise<void>[] = ring.map(() => Promise.resolve());
  try {
    output = await open(dest, 'wx', 0o644);
    made.dest = true;
    const out = output;
    // read k goes into buffer k % ring, once that buffer's previous write has landed
    const issue = (k: number): void => {
      const slot = k % ring.length;
      const read = writes[slot]!.then(() => input.read(ring[slot]!, 0, chunk, k * chunk)).then((r) => r.bytesRead);
      read.catch(() => undefined); // awaited in turn below; a failure meanwhile is not an unhandled rejection
      reads[slot] = read;
    };
    for (let k = 0; k < ring.length - 1; k++) issue(k);
    let total = 0;
    for (let k = 0; ; k++) {
      const slot = k % ring.length;
      const bytesRead = await reads[slot]!;
      options.signal?.throwIfAborted();
      if (bytesRead === 0) break;
      // the buffer whose write was issued last round is read into next, once that write lands
      if (bytesRead === chunk) issue(k + ring.length - 1);
      const view = bytesRead === chunk ? ring[slot]! : ring[slot]!.subarray(0, bytesRead);
      for (const h of hashes) h.update(view);
      const write = writeAll(out, view, k * chunk);
      write.catch(() => undefined);
      writes[slot] = write;
      total += bytesRead;
      options.onProgress?.(total);
      if (bytesRead < chunk) break;
    }
    await Promise.all(writes);
    return total;
  } finally {
    // let reads and writes still in flight land before the handles close (their errors were thrown above)
    await Promise.allSettled([...reads, ...writes]);
    await output?.close().catch(() => undefined);
    await input.close();
  }
}

async function writeAll(handle: Awaited<ReturnType<typeof open>>, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, done, buffer.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`could not write at byte ${position + done}`);
    done += bytesWritten;
  }
}

/** Reads a file through the hashes (the clone case), in 4 MiB steps; returns its size. */
async function hashFileInto(path: string, hashes: readonly Hash[], options: CopyHashOptions): Promise<number> {
  const handle = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(options.chunkBytes ?? CHUNK_BYTES);
  let total = 0;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, total);
      if (bytesRead === 0) break;
      const view = buffer.subarray(0, bytesRead);
      for (const h of hashes) h.update(view);
      total += bytesRead;
      options.onProgress?.(total);
    }
    return total;
  } finally {
    await handle.close();
  }
}
