import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { copyHashing, copyImmutableHashing } from '../../src/core/cache/copyHash';
import { digestDataset } from '../../src/core/datasets/digest';
import { mloop, tempDir } from './fixtures';

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

describe('digestDataset with stage: the file read for its digest is copied into the cache in the same pass', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-stage-'));
  });
  afterEach(() => cleanup());

  it('returns the sha256 of the file and a staged copy holding exactly its bytes; `when` false stages nothing', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(dir, 'data.bin');
    writeFileSync(file, bytes);
    const folder = join(dir, 'cache', 'tmp');
    const sizes: number[] = [];
    const staged = await digestDataset(file, { stage: { folder, when: (size) => (sizes.push(size), true) } });
    assert.equal(staged.digest, digestOf('sha256', bytes));
    assert.deepEqual(sizes, [bytes.length], '`when` is asked with the file size');
    assert.ok(staged.staged, 'a staged copy');
    assert.equal(staged.staged.sizeBytes, bytes.length);
    assert.ok(readFileSync(staged.staged.tmp).equals(bytes), 'the staged copy holds the bytes');
    assert.equal(dirname(staged.staged.tmp), folder);
    const plain = await digestDataset(file, { stage: { folder: join(dir, 'other'), when: () => false } });
    assert.equal(plain.digest, staged.digest);
    assert.equal(plain.staged, undefined);
    assert.equal(existsSync(join(dir, 'other')), false, 'nothing staged, no folder made');
  });

  it('a stage folder that cannot be written (a file in its place) still gives the right digest, without a copy', async () => {
    const bytes = randomBytes(100_000);
    const file = join(dir, 'data.bin');
    writeFileSync(file, bytes);
    writeFileSync(join(dir, 'blocked'), 'not a folder');
    const result = await digestDataset(file, { stage: { folder: join(dir, 'blocked', 'tmp') } });
    assert.equal(result.digest, digestOf('sha256', bytes));
    assert.equal(result.staged, undefined);
  });

  it('a missing file is the usual read error naming it, not a staging failure', async () => {
    await assert.rejects(digestDataset(join(dir, 'gone.csv'), { stage: { folder: join(dir, 'tmp') } }), /gone\.csv/);
  });

  it('datasets add: a new file is stored under its sha256 with nothing left in the cache tmp; the same bytes again (touched) leave no copy either', async () => {
    const bytes = Buffer.from(`a,b\n${Array.from({ length: 5000 }, (_, i) => `${i},${i % 7}`).join('\n')}\n`);
    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\ndatasets:\n  d: { path: d.csv }\n');
    writeFileSync(join(dir, 'd.csv'), bytes);
    const first = mloop(dir, 'datasets', 'add', 'd', '--json');
    assert.equal(first.code, 0, first.stderr);
    const sha = digestOf('sha256', bytes);
    const object = join(dir, '.mloop', 'cache', 'objects', sha.slice(0, 2), sha.slice(2));
    assert.ok(readFileSync(object).equals(bytes), 'the object holds the bytes');
    assert.deepEqual(readdirSync(join(dir, '.mloop', 'cache', 'tmp')), [], 'no staged copy left');
    // same bytes, new inode: read again, the object exists, nothing is staged or left
    writeFileSync(join(dir, 'd2.csv'), bytes);
    renameSync(join(dir, 'd2.csv'), join(dir, 'd.csv'));
    const again = mloop(dir, 'datasets', 'add', 'd', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { created: boolean }).created, false);
    assert.deepEqual(readdirSync(join(dir, '.mloop', 'cache', 'tmp')), []);
  });
});

describe('copyImmutableHashing: a kernel copy of a read-only object while the object is hashed', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-immutable-'));
  });
  afterEach(() => cleanup());

  it('the copy is byte-identical and the hash is the hash of the source, empty and multi-chunk files alike', async () => {
    for (const size of [0, 1, 4096, 1_000_003]) {
      const bytes = randomBytes(size);
      const source = join(dir, `s${size}`);
      writeFileSync(source, bytes);
      const sha = createHash('sha256');
      const copied = await copyImmutableHashing(source, join(dir, `d${size}`), [sha], { chunkBytes: 65536 });
      assert.equal(copied, size);
      assert.ok(readFileSync(join(dir, `d${size}`)).equals(bytes));
      assert.equal(sha.digest('hex'), digestOf('sha256', bytes));
    }
  });

  it('an existing destination is refused and keeps its bytes; a missing source leaves no destination', async () => {
    writeFileSync(join(dir, 'a'), 'object');
    writeFileSync(join(dir, 'b'), 'the user file');
    await assert.rejects(copyImmutableHashing(join(dir, 'a'), join(dir, 'b'), [createHash('sha256')]), /EEXIST/);
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'the user file');
    await assert.rejects(copyImmutableHashing(join(dir, 'nope'), join(dir, 'c'), [createHash('sha256')]), /ENOENT/);
    assert.equal(existsSync(join(dir, 'c')), false);
  });

  it('an abort while hashing removes the copy', async () => {
    writeFileSync(join(dir, 'big'), randomBytes(512 * 1024));
    const controller = new AbortController();
    await assert.rejects(
      copyImmutableHashing(join(dir, 'big'), join(dir, 'out'), [createHash('sha256')], {
        chunkBytes: 4096,
        signal: controller.signal,
        onProgress: (n) => {
          if (n >= 8192) controller.abort();
        },
      }),
      /abort/i,
    );
    assert.equal(existsSync(join(dir, 'out')), false);
  });
});
