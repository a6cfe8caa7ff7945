import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetReadError } from '../../src/core/datasets/readErrors';
import { snapshotDataset } from '../../src/core/datasets/versions';
import { openStore, type Store } from '../../src/core/store/store';
import { FLIGHTS, WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';

const counts = (store: Store): { datasets: unknown; versions: unknown } => ({
  datasets: store.db.prepare('SELECT count(*) FROM dataset').pluck().get(),
  versions: store.db.prepare('SELECT count(*) FROM dataset_version').pluck().get(),
});

describe('datasets: a version is written whole or not at all', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    store = openStore({ path: join(dir, 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const bad: [name: string, content: string | Buffer, where: RegExp][] = [
    ['ragged.csv', 'a,b\n1,2\n3,4,5\n', /ragged\.csv:3: .*more or fewer fields/],
    ['quote.csv', 'a,b\n1,"open\n2,3\n', /quote\.csv:\d+: unbalanced quote/],
    ['latin1.csv', Buffer.concat([Buffer.from('a,b\n1,caf'), Buffer.from([0xe9]), Buffer.from('\n')]), /latin1\.csv: byte 9 is not valid UTF-8/],
    ['empty.csv', '', /empty\.csv is empty \(0 bytes\)/],
    ['header.csv', '\ufeffa,b\n', /header\.csv has a header \(2 columns\) but no data rows/],
    ['fake.parquet', 'a,b\n1,2\n', /fake\.parquet is not a Parquet file/],
    ['cut.parquet', readFileSync(FLIGHTS).subarray(0, 1_000_000), /cut\.parquet is cut short/],
  ];
  for (const [name, content, where] of bad) {
    it(`${name}: the error names the file and where; no dataset or version is written`, async () => {
      writeFileSync(join(dir, name), content);
      const error = await snapshotDataset(store, { name: 'd', declaration: { path: name }, projectRoot: dir }).then(
        () => assert.fail('snapshotDataset accepted a bad file'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof DatasetReadError, String(error));
      assert.match(error.message, where);
      assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
    });
  }

  it('a BOM does not shift line numbers: a ragged row after a BOM header is named at its line', async () => {
    writeFileSync(join(dir, 'bom.csv'), '\ufeffa,b\n1,2\n3,4\n5\n');
    await assert.rejects(
      snapshotDataset(store, { name: 'd', declaration: { path: 'bom.csv' }, projectRoot: dir }),
      (e: unknown) => e instanceof DatasetReadError && e.code === 'RAGGED_ROW' && e.line === 4 && /bom\.csv:4/.test(e.message),
    );
    assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
  });

  it('a directory with one bad file names that file and line; no version of the directory is written', async () => {
    mkdirSync(join(dir, 'parts'));
    writeFileSync(join(dir, 'parts', 'a.csv'), 'a,b\n1,2\n');
    writeFileSync(join(dir, 'parts', 'b.csv'), 'a,b\n1,2\n3,"x\n');
    await assert.rejects(
      snapshotDataset(store, { name: 'd', declaration: { path: 'parts' }, projectRoot: dir }),
      (e: unknown) => e instanceof DatasetReadError && e.file.endsWith('b.csv') && /b\.csv:\d+: unbalanced quote/.test(e.message),
    );
    assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
  });

  it('a file without read permission is PERMISSION_DENIED naming it; nothing is written', async function () {
    writeFileSync(join(dir, 'locked.csv'), 'a,b\n1,2\n');
    chmodSync(join(dir, 'locked.csv'), 0o000);
    try {
      if (process.getuid?.() !== 0) {
        await assert.rejects(
          snapshotDataset(store, { name: 'd', declaration: { path: 'locked.csv' }, projectRoot: dir }),
          (e: unknown) => e instanceof DatasetReadError && e.code === 'PERMISSION_DENIED' && /locked\.csv cannot be read: permission denied/.test(e.message),
        );
        assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
        return;
      }
      // root reads anything: the same snapshot through the CLI in a child process running as "nobody"
      const project = join(dir, 'project');
      mkdirSync(project);
      chmodSync(dir, 0o755);
      chmodSync(project, 0o777);
      renameSync(join(dir, 'locked.csv'), join(project, 'locked.csv'));
      writeFileSync(join(project, 'mloop.yaml'), 'version: 1\ndatasets:\n  d:\n    path: locked.csv\n');
      const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');
      const r = spawnSync(process.execPath, [cli, 'datasets', 'add', 'd'], {
        cwd: project,
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
        env: { ...process.env, MLOOP_STORE: '', HOME: project },
      });
      assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /locked\.csv cannot be read: permission denied \(EACCES\)/);
      const written = join(project, '.mloop', 'mloop.db');
      if (existsSync(written)) {
        const other = openStore({ path: written });
        try {
          assert.deepEqual(counts(other), { datasets: 0, versions: 0 });
        } finally {
          other.close();
        }
      }
    } finally {
      for (const f of [join(dir, 'locked.csv'), join(dir, 'project', 'locked.csv')]) if (existsSync(f)) chmodSync(f, 0o600);
    }
  });

  it('a missing path names the path and writes nothing', async () => {
    await assert.rejects(snapshotDataset(store, { name: 'd', declaration: { path: 'data/nope.csv' }, projectRoot: dir }), /data\/nope\.csv does not exist/);
    assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
  });

  it('a cancelled snapshot writes nothing; the same content later is one version, recorded once', async () => {
    writeFileSync(join(dir, 'w.csv'), readFileSync(WEATHER));
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(snapshotDataset(store, { name: 'w', declaration: { path: 'w.csv' }, projectRoot: dir, signal: controller.signal }));
    assert.deepEqual(counts(store), { datasets: 0, versions: 0 });
    const first = await snapshotDataset(store, { name: 'w', declaration: { path: 'w.csv' }, projectRoot: dir });
    const again = await snapshotDataset(store, { name: 'w', declaration: { path: 'w.csv' }, projectRoot: dir });
    assert.equal(first.created, true);
    assert.equal(again.created, false);
    assert.equal(again.version.datasetVersionId, first.version.datasetVersionId);
    assert.equal(first.version.rowCount, 1461);
    assert.deepEqual(counts(store), { datasets: 1, versions: 1 });
  });
});
