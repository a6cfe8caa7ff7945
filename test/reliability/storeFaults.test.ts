import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store/store';
import { processAlive } from '../support/processes';
import { postJson, queryStore, recordFigure, spawnCli, startServerChild, storedSteps, tempDir, type ServerChild } from './support';

// The disk under the store fails: it fills up, it is read-only, a page of the file is damaged. mloop
// says which file and what to do, keeps serving what it can, stores nothing half-way, and carries
// on once the cause is gone. A full disk is real ENOSPC on a small tmpfs when this process may
// mount one (root, as in the dev container); elsewhere a file-size limit (RLIMIT_FSIZE via prlimit)
// makes the same writes fail with EFBIG. Read-only is a read-only bind mount as root, file modes otherwise.

const IS_ROOT = process.getuid?.() === 0;
/** MLOOP_RELIABILITY_NO_MOUNT=1 takes the unprivileged paths even as root (to check them here). */
const CAN_MOUNT = IS_ROOT && process.env.MLOOP_RELIABILITY_NO_MOUNT !== '1';
const dbOf = (dir: string): string => join(dir, '.mloop', 'mloop.db');

function run(command: string, args: readonly string[]): { ok: boolean; text: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return { ok: r.status === 0, text: `${r.stdout}${r.stderr}${r.error?.message ?? ''}` };
}

/** Every file under `dir` with its sha256, one per line: equal listings mean nothing was written. */
function filesDigest(dir: string): string {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map(String)
    .sort()
    .filter((name) => statSync(join(dir, name)).isFile())
    .map(
      (name) =>
        `${name} ${createHash('sha256')
          .update(readFileSync(join(dir, name)))
          .digest('hex')}`,
    )
    .join('\n');
}

interface SmallDisk {
  readonly dir: string;
  readonly kind: 'tmpfs ENOSPC' | 'RLIMIT_FSIZE';
  /** Wraps the server so the limit can be applied to it later (rlimit kind). */
  readonly prefix: readonly string[] | undefined;
  fill(serverPid: number): void;
  free(serverPid: number): void;
  cleanup(): void;
}

function smallDisk(): SmallDisk {
  const t = tempDir('mloop-full-');
  const filler = join(t.dir, 'filler.bin');
  if (CAN_MOUNT && run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', t.dir]).ok) {
    return {
      dir: t.dir,
      kind: 'tmpfs ENOSPC',
      prefix: undefined,
      fill() {
        const fd = openSync(filler, 'w');
        try {
          for (const size of [1 << 20, 1 << 12, 512]) {
            const chunk = Buffer.alloc(size, 0x5a);
            for (;;) {
              try {
                if (writeSync(fd, chunk) < size) break;
              } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
                break;
              }
            }
          }
        } finally {
          closeSync(fd);
        }
      },
      free: () => unlinkSync(filler),
      cleanup() {
        run('umount', ['-l', t.dir]);
        t.cleanup();
      },
    };
  }
  const sizes = (): number => Math.max(...readdirSync(join(t.dir, '.mloop')).map((f) => statSync(join(t.dir, '.mloop', f)).size));
  return {
    dir: t.dir,
    kind: 'RLIMIT_FSIZE',
    prefix: ['prlimit', '--fsize=unlimited:unlimited', '--'],
    fill: (pid) => assert.ok(run('prlimit', ['--pid', String(pid), `--fsize=${sizes()}:unlimited`]).ok, 'prlimit lowers the file size limit'),
    free: (pid) => assert.ok(run('prlimit', ['--pid', String(pid), '--fsize=unlimited:unlimited']).ok, 'prlimit lifts the file size limit'),
    cleanup: t.cleanup,
  };
}

/** A read-only view of `dir`: a read-only bind mount as root (permissions do not stop root), file modes otherwise. */
function readOnlyView(dir: string): { path: string; kind: string; cleanup: () => void } {
  if (IS_ROOT) {
    const view = `${dir}-ro`;
    mkdirSync(view);
    if (run('mount', ['--bind', dir, view]).ok && run('mount', ['-o', 'remount,bind,ro', view]).ok) {
      return { path: view, kind: 'read-only bind mount (EROFS)', cleanup: () => void run('umount', ['-l', view]) };
    }
    run('umount', ['-l', view]);
  }
  const paths = [dir, join(dir, '.mloop'), ...readdirSync(join(dir, '.mloop')).map((f) => join(dir, '.mloop', f))];
  for (const p of paths) chmodSync(p, statSync(p).isDirectory() ? 0o555 : 0o444);
  return { path: dir, kind: 'file modes a-w (EACCES)', cleanup: () => paths.forEach((p) => chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644)) };
}

const batchOf = (i: number, size: number): { key: string; value: number; step: number; timestamp: number }[] =>
  Array.from({ length: size }, (_, j) => ({ key: 'm', value: i * size + j, step: i * size + j, timestamp: 1_700_000_000_000 + i }));

async function createRun(server: ServerChild): Promise<string> {
  const reply = await postJson(server, 'runs/create', { experiment_id: '0', run_name: 'faults' });
  assert.equal(reply.status, 200, reply.text);
  return (reply.json!.run as { info: { run_id: string } }).info.run_id;
}

describe('reliability: store faults (disk full, read-only, damaged file)', function () {
  this.timeout(120_000);

  it('disk full mid-ingest: writes refused with 503 naming the file, nothing half-stored, the server keeps serving and resumes once space is freed', async () => {
    const disk = smallDisk();
    let server: ServerChild | undefined;
    try {
      server = await startServerChild(disk.dir, [], disk.prefix);
      const runId = await createRun(server);
      const size = 1000;
      const acked: number[] = [];
      let i = 0;
      for (; i < 20; i++) {
        const reply = await postJson(server, 'runs/log-batch', { run_id: runId, metrics: batchOf(i, size) });
        assert.equal(reply.status, 200, reply.text);
        acked.push(i);
      }
      disk.fill(server.child.pid!);
      const refused: number[] = [];
      let firstRefusal: { status: number; code: unknown; message: string } | undefined;
      for (; i < 5000 && refused.length < 5; i++) {
        const reply = await postJson(server, 'runs/log-batch', { run_id: runId, metrics: batchOf(i, size) });
        if (reply.status === 200) acked.push(i);
        else {
          refused.push(i);
          firstRefusal ??= { status: reply.status, code: reply.json?.error_code, message: String(reply.json?.message) };
        }
      }
      assert.ok(firstRefusal, `no write was refused after ${i} batches on a full disk`);
      assert.equal(firstRefusal.status, 503, firstRefusal.message);
      assert.equal(firstRefusal.code, 'TEMPORARILY_UNAVAILABLE');
      assert.ok(firstRefusal.message.includes(dbOf(disk.dir)), `the message names the store: ${firstRefusal.message}`);
      assert.match(firstRefusal.message, disk.kind === 'tmpfs ENOSPC' ? /the disk holding it is full \(SQLITE_FULL\)/ : /\(SQLITE_(FULL|IOERR\w*)\)/);
      assert.match(firstRefusal.message, /Nothing of this request was stored; .*then retry\./);
      assert.ok(processAlive(server.child.pid!), 'the server survives a full disk');

      // reads still work, and a refused batch left no point behind
      const during = await storedSteps(server, runId, 'm');
      for (const b of refused) for (let j = 0; j < size; j++) assert.ok(!during.has(b * size + j), `refused batch ${b} stored step ${b * size + j}`);
      for (const b of acked) for (let j = 0; j < size; j++) assert.ok(during.has(b * size + j), `acknowledged batch ${b} lost step ${b * size + j}`);

      // space back: the same server takes the retried batches, no restart
      disk.free(server.child.pid!);
      for (const b of refused) {
        const reply = await postJson(server, 'runs/log-batch', { run_id: runId, metrics: batchOf(b, size) });
        assert.equal(reply.status, 200, `retry of batch ${b} after freeing space: ${reply.text}`);
        acked.push(b);
      }
      const after = await storedSteps(server, runId, 'm');
      assert.equal(after.size, acked.length * size, 'every acknowledged point once');
      await server.stop();
      const store = openStore({ path: dbOf(disk.dir) });
      try {
        assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        store.close();
      }
      recordFigure(
        'store faults: disk full',
        `${disk.kind}: ${refused.length} batches refused with 503 TEMPORARILY_UNAVAILABLE naming the store, 0 points of them stored, ${acked.length * size} acknowledged points kept, server alive, retries accepted after freeing space, integrity_check ok`,
        {
          mechanism: disk.kind,
          refused: refused.length,
          ackedPoints: acked.length * size,
        },
      );
    } finally {
      await server?.stop();
      disk.cleanup();
    }
  });

  it('read-only store: server and train refuse with a message naming the file, listings say to read a copy; nothing written, nothing run', async () => {
    const { dir, cleanup } = tempDir();
    let view: ReturnType<typeof readOnlyView> | undefined;
    try {
      const server = await startServerChild(dir, ['--quiet']);
      const runId = await createRun(server);
      assert.equal((await postJson(server, 'runs/log-batch', { run_id: runId, metrics: batchOf(0, 100) })).status, 200);
      await server.stop();
      const marker = join(tempDir('mloop-marker-').dir, 'RAN');
      writeFileSync(join(dir, 'mloop.yaml'), `version: 1\npipelines:\n  train:\n    command: [python3, -c, "open('${marker}', 'w').write('x')"]\n`);
      view = readOnlyView(dir);
      const before = filesDigest(view.path);

      // a WAL store is read through its -shm file, which SQLite cannot create in a read-only folder: said so, never "move it aside"
      const list = spawnCli(['runs', 'list', '--json'], { cwd: view.path });
      assert.equal((await list.exited).code, 1, list.stdout());
      assert.ok(list.stderr().includes(`Cannot read the mloop store ${dbOf(view.path)}: its folder ${join(view.path, '.mloop')} is read-only`), list.stderr());
      assert.match(list.stderr(), /copy the store to a writable folder and pass --store <copy>/);
      // …and a copy elsewhere lists the run, as the message says
      const copy = tempDir('mloop-copy-');
      writeFileSync(join(copy.dir, 'copy.db'), readFileSync(dbOf(view.path)));
      const listCopy = spawnCli(['--store', join(copy.dir, 'copy.db'), 'runs', 'list', '--json'], { cwd: view.path });
      assert.equal((await listCopy.exited).code, 0, listCopy.stderr());
      assert.ok(listCopy.stdout().includes(runId), 'the copy lists the run');
      copy.cleanup();

      const serve = spawnCli(['server', '--port', '0'], { cwd: view.path });
      const served = await serve.exited;
      assert.equal(served.code, 1, `mloop server on a read-only store exits 1 (${serve.stdout()}${serve.stderr()})`);
      assert.ok(serve.stderr().includes(dbOf(view.path)), `names the store: ${serve.stderr()}`);
      assert.match(serve.stderr(), /is read-only \((EROFS|EACCES): the file or its folder .* cannot be written\)\. mloop did not change it\./);
      assert.doesNotMatch(serve.stderr(), /internal error|\n\s+at /, 'no stack trace');

      const train = spawnCli(['train', 'train'], { cwd: view.path });
      const trained = await train.exited;
      assert.equal(trained.code, 1, `mloop train on a read-only store exits 1 (${train.stderr()})`);
      assert.ok(train.stderr().includes(dbOf(view.path)), `names the store: ${train.stderr()}`);
      assert.doesNotMatch(train.stderr(), /internal error|\n\s+at /, 'no stack trace');
      assert.equal(existsSync(marker), false, 'the training command did not run');
      assert.equal(filesDigest(view.path), before, 'not a byte written');
      recordFigure(
        'store faults: read-only store',
        `${view.kind}: runs list exit 1 saying the folder is read-only and to list a copy (a copy lists the run); server and train exit 1 naming the file, no stack trace, training not started, 0 bytes written`,
        { mechanism: view.kind },
      );
    } finally {
      view?.cleanup();
      cleanup();
    }
  });

  it('a damaged page: CLI and endpoint say the store is damaged and what to do, the server stays up, the file is left as it was', async () => {
    const { dir, cleanup } = tempDir();
    try {
      let server = await startServerChild(dir, ['--quiet']);
      const runId = await createRun(server);
      assert.equal((await postJson(server, 'runs/log-batch', { run_id: runId, metrics: batchOf(0, 100) })).status, 200);
      await server.stop();
      // overwrite the root page of the run table (the header stays valid: this is damage, not a foreign file)
      const root = queryStore(dbOf(dir), (db) => db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'run'").pluck().get() as number);
      const pageSize = queryStore(dbOf(dir), (db) => db.pragma('page_size', { simple: true }) as number);
      const fd = openSync(dbOf(dir), 'r+');
      writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (root - 1) * pageSize);
      closeSync(fd);
      const before = filesDigest(join(dir, '.mloop'))
        .split('\n')
        .find((l) => l.startsWith('mloop.db '));

      for (const args of [['runs', 'list'], ['status'], ['runs', 'show', runId]]) {
        const cli = spawnCli(args, { cwd: dir });
        assert.equal((await cli.exited).code, 1, `mloop ${args.join(' ')} exits 1`);
        assert.match(
          cli.stderr(),
          new RegExp(
            `the mloop store ${dbOf(dir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged \\(SQLITE_CORRUPT\\).*Restore it from a backup, or move it aside`,
          ),
          `mloop ${args.join(' ')}: ${cli.stderr()}`,
        );
        assert.doesNotMatch(cli.stderr(), /internal error|\n\s+at /, 'no stack trace');
      }

      server = await startServerChild(dir, ['--quiet']);
      try {
        const search = await postJson(server, 'runs/search', { experiment_ids: ['0'] });
        assert.equal(search.status, 500);
        assert.equal(search.json?.error_code, 'INTERNAL_ERROR');
        assert.match(String(search.json?.message), /is damaged \(SQLITE_CORRUPT\)/);
        assert.ok(processAlive(server.child.pid!), 'the server stays up');
        const info = await postJson(server, 'experiments/search', { max_results: 10 });
        assert.equal(info.status, 200, 'undamaged tables still answer');
      } finally {
        await server.stop();
      }
      assert.equal(
        filesDigest(join(dir, '.mloop'))
          .split('\n')
          .find((l) => l.startsWith('mloop.db ')),
        before,
        'the damaged file was not rewritten',
      );
      recordFigure(
        'store faults: damaged page',
        'runs list / status / runs show exit 1 with "store … is damaged (SQLITE_CORRUPT) … restore from a backup"; endpoint 500 INTERNAL_ERROR with the same, server up, other tables served; file unchanged',
        {},
      );
    } finally {
      cleanup();
    }
  });
});
