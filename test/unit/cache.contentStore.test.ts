import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program';
import { digestDataset, STAT_MEMO_SETTLE_MS } from '../../src/core/datasets/digest';
import { ContentStoreError, objectPath, restoreVersion, sealPath } from '../../src/core/cache/contentStore';
import { DatasetCacheRepository } from '../../src/core/store/datasetCache';
import { DatasetRepository } from '../../src/core/store/datasets';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { CLI, fingerprint, mloop, tempDir } from './fixtures';

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
const csv = (rows: number, seed: number): string =>
  `id,x,label\n${Array.from({ length: rows }, (_, i) => `${i},${((i * 7919 + seed) % 1000) / 10},${(i + seed) % 3}`).join('\n')}\n`;

function project(dir: string, datasets: string): void {
  writeFileSync(join(dir, 'mloop.yaml'), `version: 1\ndatasets:\n${datasets}`);
}

function add(dir: string, name: string): { digest: string; created: boolean; cache: string } {
  const r = mloop(dir, 'datasets', 'add', name, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { digest: string; created: boolean; cache: string };
}

function objectFiles(dir: string): string[] {
  const root = join(dir, '.mloop', 'cache', 'objects');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((p) => readdirSync(join(root, p)).map((rest) => p + rest));
}

describe('content store: dataset versions are cached, restored verified, and collected (CLI child processes)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-cache-')));
  afterEach(() => cleanup());
  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));

  it('a recorded file version is stored once under its SHA-256 and checkout brings the old bytes back by digest prefix', () => {
    mkdirSync(join(dir, 'data'));
    const file = join(dir, 'data', 'train.csv');
    const v1 = csv(2000, 1);
    writeFileSync(file, v1);
    writeFileSync(join(dir, 'copy.csv'), v1);
    project(dir, '  train: { path: data/train.csv }\n  same: { path: copy.csv }\n');
    const first = add(dir, 'train');
    assert.equal(first.digest, sha256(v1));
    assert.equal(first.cache, 'cached');
    assert.deepEqual(objectFiles(dir), [sha256(v1)]);
    assert.equal(readFileSync(objectPath(join(dir, '.mloop', 'cache'), sha256(v1)), 'utf8'), v1);
    assert.equal(add(dir, 'same').cache, 'cached');
    assert.equal(add(dir, 'train').cache, 'already', 'unchanged content: nothing copied again');
    assert.deepEqual(objectFiles(dir), [sha256(v1)], 'identical content in two datasets is one object');

    const v2 = csv(2500, 2);
    writeFileSync(file, v2);
    assert.equal(add(dir, 'train').digest, sha256(v2));
    const back = mloop(dir, 'datasets', 'checkout', `train@${first.digest.slice(0, 8)}`);
    assert.equal(back.code, 0, back.stderr);
    // the object is unchanged since it was stored (its seal holds): copied without a second read
    assert.match(back.stdout, /restored train @ [0-9a-f]{12}: data\/train\.csv \([\d,]+ bytes, object unchanged since its digest was verified\)/);
    assert.equal(sha256(readFileSync(file)), first.digest);
    const verified = mloop(dir, 'datasets', 'checkout', `train@${first.digest.slice(0, 8)}`, '--verify');
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /restored train @ [0-9a-f]{12}: data\/train\.csv \([\d,]+ bytes, digest verified\)/);
    assert.equal(sha256(readFileSync(file)), first.digest);
    assert.deepEqual(
      readdirSync(join(dir, 'data')).filter((f) => f.includes('mloop-restore')),
      [],
      'no temporary file left next to the target',
    );

    const elsewhere = mloop(dir, 'datasets', 'checkout', `train@${sha256(v2).slice(0, 10)}`, '--to', 'out/v2.csv', '--json');
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.equal(sha256(readFileSync(join(dir, 'out', 'v2.csv'))), sha256(v2));
    assert.equal(sha256(readFileSync(file)), first.digest, '--to leaves the dataset path alone');

    const ambiguous = mloop(dir, 'datasets', 'checkout', 'train@');
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /not a version reference/);
    const none = mloop(dir, 'datasets', 'checkout', 'train@ffffffffffff');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no version whose digest starts with ffffffffffff/);
  });

  it('a folder version restores every file, and together they hash to the version digest as recorded', () => {
    mkdirSync(join(dir, 'parts', 'more'), { recursive: true });
    writeFileSync(join(dir, 'parts', 'a.csv'), csv(300, 3));
    writeFileSync(join(dir, 'parts', 'more', 'b.csv'), csv(400, 4));
    project(dir, '  parts: { path: parts, format: csv }\n');
    const first = add(dir, 'parts');
    assert.equal(first.cache, 'cached');
    writeFileSync(join(dir, 'parts', 'more', 'b.csv'), csv(10, 5));
    add(dir, 'parts');
    const r = mloop(dir, 'datasets', 'checkout', `parts@${first.digest.slice(0, 12)}`, '--to', 'restored', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'restored', 'a.csv'), 'utf8'), csv(300, 3));
    assert.equal(readFileSync(join(dir, 'restored', 'more', 'b.csv'), 'utf8'), csv(400, 4));
    // the restored folder, recorded as a dataset of its own, has the first version's digest
    writeFileSync(join(dir, 'mloop.yaml'), `${readFileSync(join(dir, 'mloop.yaml'), 'utf8')}  restored: { path: restored, format: csv }\n`);
    assert.equal(add(dir, 'restored').digest, first.digest);
  });

  it('a corrupted or missing object stops the restore naming the digest and object file; the target is untouched', () => {
    const file = join(dir, 'd.csv');
    writeFileSync(file, csv(500, 6));
    project(dir, '  d: { path: d.csv }\n');
    const old = add(dir, 'd');
    writeFileSync(file, csv(600, 7));
    add(dir, 'd');
    const before = fingerprint(file);
    const object = objectPath(join(dir, '.mloop', 'cache'), old.digest);
    chmodSync(object, 0o644);
    writeFileSync(object, csv(500, 8));
    const corrupted = mloop(dir, 'datasets', 'checkout', `d@${old.digest.slice(0, 8)}`);
    assert.equal(corrupted.code, 1);
    assert.ok(corrupted.stderr.includes(`cached object ${old.digest} is corrupted: ${object}`), corrupted.stderr);
    assert.deepEqual(fingerprint(file), before);
    rmSync(object);
    const missing = mloop(dir, 'datasets', 'checkout', `d@${old.digest.slice(0, 8)}`);
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(`cached object ${old.digest}`) && missing.stderr.includes(`is missing: ${object}`), missing.stderr);
    assert.deepEqual(fingerprint(file), before);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('mloop-restore')),
      [],
    );
  });

  it('cache: false, a version from before caching and a failed cache write each say why the bytes are not there', () => {
    writeFileSync(join(dir, 'huge.csv'), csv(100, 9));
    writeFileSync(join(dir, 'old.csv'), csv(100, 10));
    project(dir, '  huge: { path: huge.csv, cache: false }\n  old: { path: old.csv }\n');
    const huge = add(dir, 'huge');
    assert.equal(huge.cache, 'disabled');
    assert.deepEqual(objectFiles(dir), []);
    const r = mloop(dir, 'datasets', 'checkout', `huge@${huge.digest.slice(0, 8)}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not cached: the dataset has cache: false in mloop.yaml/);

    // a version recorded the way mloop did before the content store: a row, no bytes
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const repo = new DatasetRepository(store);
    const dataset = repo.upsert({ name: 'old', uri: 'old.csv' });
    repo.addVersion({ datasetId: dataset.datasetId, digest: 'a'.repeat(64), path: 'old.csv' });
    store.close();
    const old = mloop(dir, 'datasets', 'checkout', `old@aaaa`);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /not cached: it was recorded before mloop kept dataset bytes/);

    // the cache cannot be written (its tmp folder is a file): the version is still recorded, marked failed
    rmSync(join(dir, '.mloop', 'cache'), { recursive: true, force: true });
    mkdirSync(join(dir, '.mloop', 'cache'), { recursive: true });
    writeFileSync(join(dir, '.mloop', 'cache', 'tmp'), 'not a folder');
    const failed = add(dir, 'old');
    assert.equal(failed.cache, 'failed');
    const f = mloop(dir, 'datasets', 'checkout', `old@${failed.digest.slice(0, 8)}`);
    assert.match(f.stderr, /not cached: caching failed \(.*tmp/);
  });

  it('gc --keep-last drops unpinned old versions only, keeps what a registered model was trained on, and reports what it frees', () => {
    const file = join(dir, 'w.csv');
    project(dir, '  w: { path: w.csv }\n');
    const digests: string[] = [];
    const sizes: number[] = [];
    for (const [i, rows] of [400, 500, 600, 700].entries()) {
      const text = csv(rows, 20 + i);
      writeFileSync(file, text);
      digests.push(add(dir, 'w').digest);
      sizes.push(Buffer.byteLength(text));
    }
    // v1 trained a registered model version: pinned
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const experiment = new ExperimentRepository(store).ensure('Default');
    const run = new RunRepository(store).create({ experimentId: experiment.experimentId, name: 'r', status: 'FINISHED' });
    const datasets = new DatasetRepository(store);
    const v1 = datasets.versionByDigest(datasets.byName('w')!.datasetId, digests[0]!)!;
    datasets.linkRunInput(run.runId, v1.datasetVersionId);
    new ModelRepository(store).registerVersion({ name: 'm', sourceRunId: run.runId, actor: 'test' });
    store.close();
    // an orphan object (e.g. left by a deleted dataset) goes even without --keep-last
    const orphan = objectPath(join(dir, '.mloop', 'cache'), sha256('orphan'));
    mkdirSync(join(orphan, '..'), { recursive: true });
    writeFileSync(orphan, 'orphan');

    const dry = mloop(dir, 'gc', '--keep-last', '2', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as {
      removedObjects: number;
      freedBytes: number;
      evictedVersions: { digest: string }[];
      pinnedVersions: { digest: string }[];
    };
    assert.equal(plan.removedObjects, 2);
    assert.equal(plan.freedBytes, sizes[1]! + 'orphan'.length);
    assert.deepEqual(
      plan.evictedVersions.map((v) => v.digest),
      [digests[1]],
    );
    assert.deepEqual(
      plan.pinnedVersions.map((v) => v.digest),
      [digests[0]],
    );
    assert.equal(objectFiles(dir).length, 5, '--dry-run removes nothing');

    const run2 = mloop(dir, 'gc', '--keep-last', '2');
    assert.equal(run2.code, 0, run2.stderr);
    assert.match(
      run2.stdout,
      new RegExp(`freed ${(sizes[1]! + 6).toLocaleString('en-US')} bytes: 2 objects; 1 version no longer restorable: w@${digests[1]!.slice(0, 12)}`),
    );
    assert.match(run2.stdout, new RegExp(`kept \\(a registered model was trained on them\\): w@${digests[0]!.slice(0, 12)}`));
    assert.deepEqual(objectFiles(dir).sort(), [digests[0], digests[2], digests[3]].sort());
    // each stored object was sealed; the removed ones' seals went with them
    assert.deepEqual(digests.filter((d) => existsSync(sealPath(join(dir, '.mloop', 'cache'), d))).sort(), [digests[0], digests[2], digests[3]].sort());
    const listed = JSON.parse(mloop(dir, 'datasets', 'versions', 'w', '--json').stdout) as { versions: { digest: string; cache: string }[] };
    assert.deepEqual(
      listed.versions.map((v) => [v.digest, v.cache]),
      [
        [digests[3], 'cached'],
        [digests[2], 'cached'],
        [digests[1], 'evicted'],
        [digests[0], 'cached'],
      ],
    );
    assert.match(mloop(dir, 'datasets', 'versions', 'w').stdout, new RegExp(`^2\\s+${digests[1]!.slice(0, 12)}\\s.*\\sno\\s*$`, 'm'));
    const gone = mloop(dir, 'datasets', 'checkout', `w@${digests[1]!.slice(0, 8)}`);
    assert.match(gone.stderr, /not cached any more: mloop gc removed them/);
    const pinned = mloop(dir, 'datasets', 'checkout', `w@${digests[0]!.slice(0, 8)}`);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.equal(sha256(readFileSync(file)), digests[0]);
    assert.equal(mloop(dir, 'gc', '--json').code, 0);
    assert.equal(objectFiles(dir).length, 3, 'without --keep-last every recorded version keeps its bytes');
    const check = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    assert.equal(new DatasetCacheRepository(check).versionsWithStatus('evicted').length, 1);
    check.close();
    assert.ok(statSync(join(dir, '.mloop', 'cache', 'objects')).isDirectory());
  });
  it('disk full during a cache write (a 1 MB tmpfs, else ENOSPC injected at the fs layer): no partial object, the version is recorded "not cached"', async function () {
    writeFileSync(join(dir, 'big.csv'), csv(150_000, 3)); // ~2.5 MB: more than the cache's file system holds
    project(dir, '  big: { path: big.csv }\n');
    const cacheDir = join(dir, '.mloop', 'cache');
    mkdirSync(cacheDir, { recursive: true });
    const mounted =
      process.env.MLOOP_TEST_NO_MOUNT !== '1' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', cacheDir], { encoding: 'utf8' }).status === 0;
    const open = fsPromises.open;
    if (!mounted) {
      // no tmpfs here (not root, or a container without mount rights): a file opened for writing in the cache takes
      // 1 MB, then its writes fail as a full disk's do
      console.log('      (no tmpfs could be mounted: ENOSPC is injected into writes under the cache instead)');
      fsPromises.open = (async (...args: Parameters<typeof open>) => {
        const handle = await open(...args);
        if (!String(args[0]).startsWith(cacheDir) || !String(args[1] ?? 'r').includes('w')) return handle;
        const write = handle.write.bind(handle) as (b: Buffer, o: number, l: number, p: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;
        let written = 0;
        (handle as { write: unknown }).write = async (buffer: Buffer, offset: number, length: number, position: number) => {
          if (written + length > 1 << 20) throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
          written += length;
          return write(buffer, offset, length, position);
        };
        return handle;
      }) as typeof fsPromises.open;
    }
    try {
      let stdout = '';
      const code = await runCli(['datasets', 'add', 'big', '--json'], {
        stdout: { write: (t) => (stdout += String(t)) },
        stderr: { write: () => true },
        cwd: dir,
      });
      assert.equal(code, 0, 'the version is recorded even though its bytes could not be cached');
      const added = JSON.parse(stdout) as { digest: string; created: boolean; cache: string };
      assert.deepEqual([added.created, added.cache], [true, 'failed']);
      assert.deepEqual(objectFiles(dir), [], 'no object');
      assert.deepEqual(readdirSync(join(cacheDir, 'tmp')), [], 'no partial copy left in the cache');
    } finally {
      fsPromises.open = open;
      if (mounted) spawnSync('umount', [cacheDir]);
    }
    const r = mloop(dir, 'datasets', 'checkout', `big@${sha256(readFileSync(join(dir, 'big.csv'))).slice(0, 8)}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not cached: caching failed \(.*(ENOSPC|no space left)/i);
  });

  it('kill -9 during a checkout leaves every file of the dataset as it was; the next checkout removes the temporary files and restores', async () => {
    const folder = join(dir, 'parts');
    mkdirSync(folder);
    const names = Array.from({ length: 150 }, (_, i) => `p${String(i).padStart(3, '0')}.csv`);
    const v1 = names.map((_, i) => csv(1500, i));
    const v2 = names.map((_, i) => csv(1500, i + 1000));
    names.forEach((n, i) => writeFileSync(join(folder, n), v1[i]!));
    project(dir, '  parts: { path: parts }\n');
    const old = add(dir, 'parts');
    names.forEach((n, i) => writeFileSync(join(folder, n), v2[i]!));
    const child = spawn(process.execPath, [CLI, 'datasets', 'checkout', `parts@${old.digest.slice(0, 10)}`], {
      cwd: dir,
      env: { ...process.env, MLOOP_STORE: '' },
      stdio: 'ignore',
    });
    const exited = new Promise((done) => child.on('exit', done));
    // killed as soon as the first restored copy exists next to its destination (before any rename)
    let temps = 0;
    while (child.exitCode === null && temps === 0) {
      temps = readdirSync(folder).filter((n) => n.endsWith('.mloop-restore')).length;
      if (!temps) await new Promise((r) => setTimeout(r, 2));
    }
    child.kill('SIGKILL');
    await exited;
    assert.ok(temps > 0, 'the checkout was killed while it wrote its temporary copies');
    names.forEach((n, i) => assert.equal(readFileSync(join(folder, n), 'utf8'), v2[i], `${n} is intact`));
    const again = mloop(dir, 'datasets', 'checkout', `parts@${old.digest.slice(0, 10)}`);
    assert.equal(again.code, 0, again.stderr);
    names.forEach((n, i) => assert.equal(readFileSync(join(folder, n), 'utf8'), v1[i], `${n} restored`));
    assert.deepEqual(readdirSync(folder).sort(), names, 'no temporary file left by the killed checkout');
  });

  it('recording an unchanged file reuses its digest without reading it; same size and mtime but new bytes are read again (ctime)', async () => {
    const file = join(dir, 'u.csv');
    writeFileSync(file, csv(2000, 1));
    const stamp = 1_700_000_000; // a whole second, so the mtime can be set back exactly after a rewrite
    utimesSync(file, stamp, stamp);
    const memo = join(dir, 'memo');
    let reads = 0;
    const onProgress = (): void => void reads++;
    const first = await digestDataset(file, { statMemo: memo, onProgress });
    assert.ok(reads > 0);
    assert.equal(first.digest, sha256(readFileSync(file)));
    assert.ok(!existsSync(memo), 'a file changed within the last second is not remembered (file times tick coarsely)');
    await new Promise((r) => setTimeout(r, STAT_MEMO_SETTLE_MS + 50));
    await digestDataset(file, { statMemo: memo, onProgress });
    reads = 0;
    assert.equal((await digestDataset(file, { statMemo: memo, onProgress })).digest, first.digest);
    assert.equal(reads, 0, 'the unchanged file was not read');
    const before = statSync(file, { bigint: true });
    writeFileSync(file, csv(2000, 2)); // the same size
    utimesSync(file, stamp, stamp); // and the old mtime, as a tool that preserves timestamps leaves it
    const after = statSync(file, { bigint: true });
    assert.deepEqual([after.size, after.mtimeNs, after.ino], [before.size, before.mtimeNs, before.ino], 'only the ctime tells the change');
    const changed = await digestDataset(file, { statMemo: memo, onProgress });
    assert.ok(reads > 0, 'read again: its ctime moved');
    assert.equal(changed.digest, sha256(csv(2000, 2)));
  });

  it('a sealed object is restored by a kernel copy without a second read; any write to it breaks the seal, and it is hashed and refused', async () => {
    const file = join(dir, 's.csv');
    const original = csv(3000, 3);
    writeFileSync(file, original);
    project(dir, '  s: { path: s.csv }\n');
    const recorded = add(dir, 's');
    const root = join(dir, '.mloop', 'cache');
    const object = objectPath(root, recorded.digest);
    assert.ok(existsSync(sealPath(root, recorded.digest)), 'the object was sealed as it was stored');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const version = new DatasetRepository(store).versions(new DatasetRepository(store).byName('s')!.datasetId)[0]!;
      const out = join(dir, 'out.csv');
      const sealed = await restoreVersion({ store, projectRoot: dir, version, target: out });
      assert.equal(sealed.verified, 'sealed');
      assert.equal(sha256(readFileSync(out)), sha256(original), 'the copy holds the recorded bytes');
      assert.equal(statSync(out).mode & 0o777, 0o644);
      const verified = await restoreVersion({ store, projectRoot: dir, version, target: out, verify: true });
      assert.equal(verified.verified, 'hashed', '--verify hashes even a sealed object');
      assert.equal(readFileSync(out, 'utf8'), original);
      // no seal: hashed in full, then sealed again once the object has been unchanged for a second (file times tick coarsely)
      rmSync(sealPath(root, recorded.digest));
      const stamp = 1_700_000_000; // a whole second, so the mtime can be set back exactly after a rewrite below
      utimesSync(object, stamp, stamp);
      const changedMs = Number(statSync(object, { bigint: true }).ctimeNs / 1_000_000n);
      await new Promise((r) => setTimeout(r, Math.max(0, changedMs + STAT_MEMO_SETTLE_MS + 50 - Date.now())));
      assert.equal((await restoreVersion({ store, projectRoot: dir, version, target: out })).verified, 'hashed');
      assert.ok(existsSync(sealPath(root, recorded.digest)), 'sealed after the full hash');
      assert.equal((await restoreVersion({ store, projectRoot: dir, version, target: out })).verified, 'sealed');
      // the same size and the old mtime put back, as a tool that preserves timestamps leaves it: only the ctime moved
      const before = statSync(object, { bigint: true });
      chmodSync(object, 0o644);
      writeFileSync(object, original.replace('0,', '9,'));
      chmodSync(object, 0o444);
      utimesSync(object, stamp, stamp);
      const after = statSync(object, { bigint: true });
      assert.deepEqual([after.size, after.mtimeNs, after.ino], [before.size, before.mtimeNs, before.ino]);
      const kept = fingerprint(out);
      await assert.rejects(
        restoreVersion({ store, projectRoot: dir, version, target: out }),
        (error: Error) => error instanceof ContentStoreError && error.message.includes(`cached object ${recorded.digest} is corrupted: ${object}`),
      );
      assert.deepEqual(fingerprint(out), kept, 'the target is untouched');
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.includes('mloop-restore')),
        [],
      );
    } finally {
      store.close();
    }
  });
});
