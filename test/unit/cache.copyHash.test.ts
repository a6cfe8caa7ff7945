import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { copyHashing } from '../../src/core/cache/copyHash';
import { tempDir } from './fixtures';

const digestOf = (algorithm: string, bytes: Buffer): string => createHash(algorithm).update(bytes).digest('hex');

describe('copyHashing: one pass copies a file and hashes exactly the bytes written', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-copyhash-'));
  });
  afterEach(() => cleanup());

  it('the copy is byte-identical and every hash equals the hash of the source, for sizes around the chunk and ring boundaries', async () => {
    const chunk = 4096;
    const ring = 3;
    for (const size of [0, 1, chunk - 1, chunk, chunk + 1, chunk * ring, chunk * ring + 7, chunk * 10 + 123, 250_000]) {
      const bytes = randomBytes(size);
      const source = join(dir, `s${size}`);
      const dest = join(dir, `d${size}`);
      writeFileSync(source, bytes);
      const sha = createHash('sha256');
      const md5 = createHash('md5');
      const seen: number[] = [];
      const copied = await copyHashing(source, dest, [sha, md5], { chunkBytes: chunk, ring, onProgress: (n) => seen.push(n) });
      assert.equal(copied, size, `bytes copied for ${size}`);
      assert.ok(readFileSync(dest).equals(bytes), `copy of ${size} bytes equals the source`);
      assert.equal(sha.digest('hex'), digestOf('sha256', bytes), `sha256 of ${size} bytes`);
      assert.equal(md5.digest('hex'), digestOf('md5', bytes), `md5 of ${size} bytes`);
      assert.equal(seen.at(-1) ?? 0, size, 'the last progress report is the whole size');
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
        'progress only grows',
      );
    }
  });

  it('refuses to overwrite: an existing destination is an error and keeps its bytes', async () => {
    const source = join(dir, 'a');
    const dest = join(dir, 'b');
    writeFileSync(source, 'new bytes');
    writeFileSync(dest, 'the user file');
    await assert.rejects(copyHashing(source, dest, [createHash('sha256')]), /EEXIST/);
    assert.equal(readFileSync(dest, 'utf8'), 'the user file');
  });

  it('a missing source is an error naming it, and no destination is created', async () => {
    const dest = join(dir, 'out');
    await assert.rejects(copyHashing(join(dir, 'nope'), dest, [createHash('sha256')]), /ENOENT.*nope/);
    assert.equal(existsSync(dest), false);
  });

  it('a write that fails part way (a full disk) leaves no partial destination', async () => {
    const source = join(dir, 'big');
    const dest = join(dir, 'partial');
    writeFileSync(source, randomBytes(64 * 1024));
    const open = fsPromises.open;
    fsPromises.open = (async (...args: Parameters<typeof open>) => {
      const handle = await open(...args);
      if (String(args[1] ?? 'r').includes('w')) {
        const write = handle.write.bind(handle) as (b: Buffer, o: number, l: number, p: number) => Promise<unknown>;
        let calls = 0;
        (handle as { write: unknown }).write = async (b: Buffer, o: number, l: number, p: number) => {
          if (++calls > 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return write(b, o, l, p);
        };
      }
      return handle;
    }) as typeof fsPromises.open;
    try {
      await assert.rejects(copyHashing(source, dest, [createHash('sha256')], { chunkBytes: 8192, ring: 2 }), /ENOSPC/);
    } finally {
      fsPromises.open = open;
    }
    assert.equal(existsSync(dest), false, 'the partial copy was removed');
  });

  it('an abort stops the copy and removes the destination', async () => {
    const source = join(dir, 'big');
    const dest = join(dir, 'aborted');
    writeFileSync(source, randomBytes(256 * 1024));
    const controller = new AbortController();
    await assert.rejects(
      copyHashing(source, dest, [createHash('sha256')], {
        chunkBytes: 4096,
        ring: 2,
        signal: controller.signal,
        onProgress: (n) => {
          if (n >= 16 * 1024) controller.abort();
        },
      }),
      /abort/i,
    );
    assert.equal(existsSync(dest), false);
  });
});
