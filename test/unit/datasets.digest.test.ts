import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestDataset, READ_BYTES } from '../../src/core/datasets/digest';
import { DatasetReadError } from '../../src/core/datasets/readErrors';
import { tempDir } from './fixtures';

/** sha256 of a file, or of a directory per digestDataset's documented rule, by Python's hashlib (independent). */
function pythonDigest(path: string): string {
  const script = `
import hashlib, os, sys
p = sys.argv[1]
h = hashlib.sha256()
if os.path.isdir(p):
    files = sorted(os.path.relpath(os.path.join(d, f), p).replace(os.sep, '/') for d, _, fs in os.walk(p) for f in fs)
    for rel in files:
        data = open(os.path.join(p, rel), 'rb').read()
        h.update(rel.encode() + b'\\0' + str(len(data)).encode() + b'\\0')
        h.update(data)
else:
    h.update(open(p, 'rb').read())
print(h.hexdigest())
`;
  const r = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('datasets: digest (reads overlapped with hashing)', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-digest-')));
  afterEach(() => cleanup());

  it('a file spanning many ring buffers (and a ragged last one) hashes like sha256sum and hashlib, whatever the read size', async () => {
    const file = join(dir, 'big.bin');
    const size = 3 * READ_BYTES + 12_345; // more reads than ring buffers, the last one partial
    writeFileSync(file, randomBytes(size));
    const expected = spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];
    assert.equal(pythonDigest(file), expected);
    const seen: number[] = [];
    const d = await digestDataset(file, { onProgress: (bytes, total) => (assert.equal(total, size), seen.push(bytes)) });
    assert.equal(d.digest, expected);
    assert.equal(d.sizeBytes, size);
    assert.ok(seen.length >= 4, `progress reported ${seen.length} times`);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      seen,
      'progress only grows',
    );
    assert.equal(seen.at(-1), size);
    for (const [readBytes, ringSize] of [
      [4096, 2],
      [65_536, 4],
      [1 << 20, 3],
      [8 << 20, 3],
      [size, 2],
    ] as const) {
      assert.equal((await digestDataset(file, { readBytes, ringSize })).digest, expected, `${readBytes} bytes × ${ringSize}`);
    }
    const exact = join(dir, 'exact.bin'); // a size that is a whole number of reads: the last read returns 0 bytes
    writeFileSync(exact, randomBytes(2 * 65_536));
    assert.equal((await digestDataset(exact, { readBytes: 65_536 })).digest, pythonDigest(exact));
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, '');
    assert.equal((await digestDataset(empty)).digest, pythonDigest(empty));
  });

  it('a directory hashes its sorted files with relative path and size, as documented (checked with hashlib)', async () => {
    const root = join(dir, 'parts');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'b.csv'), randomBytes(70_000));
    writeFileSync(join(root, 'a.csv'), 'x\n1\n');
    writeFileSync(join(root, 'sub', 'c.csv'), randomBytes(200_000));
    const d = await digestDataset(root, { readBytes: 65_536 });
    assert.equal(d.files.length, 3);
    assert.equal(d.digest, pythonDigest(root));
    assert.equal((await digestDataset(root)).digest, d.digest);
  });

  it('cancelling mid-file stops with ABORTED naming the file', async () => {
    const file = join(dir, 'big.bin');
    writeFileSync(file, randomBytes(1 << 20));
    const controller = new AbortController();
    let calls = 0;
    const error = await digestDataset(file, {
      readBytes: 65_536,
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 2) controller.abort();
      },
    }).then(
      () => assert.fail('a cancelled digest resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DatasetReadError && error.code === 'ABORTED', String(error));
    assert.equal(error.file, file);
    assert.equal(calls, 2, 'no further progress after the abort');
  });
});
