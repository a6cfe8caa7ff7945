import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/core/store/store';
import {
  type BackgroundCheckpoint,
  CheckpointAfterReplies,
  LOG_LIMIT_FRAMES,
  WAL_INDEX_CHECKPOINT_BYTES,
  WAL_INDEX_HEADER_BYTES,
  walIndexCopied,
  walIndexFrames,
} from '../../src/core/tracking/metricWriter';
import { tempDir } from './fixtures';

type Order = 'BE' | 'LE';
const other = (order: Order): Order => (order === 'LE' ? 'BE' : 'LE');

/** The first bytes of a wal-index header as a host of that byte order writes them (https://www.sqlite.org/walformat.html). */
function craftedHeader(order: Order, mxFrame: number): Buffer {
  const header = Buffer.alloc(48);
  const write = (value: number, at: number): number => (order === 'LE' ? header.writeUInt32LE(value, at) : header.writeUInt32BE(value, at));
  write(3007000, 0); // iVersion
  write(7, 8); // iChange
  header[12] = 1; // isInit
  write(mxFrame, 16);
  return header;
}

/** A -shm start with mxFrame in the header and nBackfill in the checkpoint information after its two 48-byte copies. */
function craftedShm(order: Order, mxFrame: number, nBackfill: number): Buffer {
  const shm = Buffer.alloc(136);
  craftedHeader(order, mxFrame).copy(shm, 0);
  craftedHeader(order, mxFrame).copy(shm, 48);
  if (order === 'LE') shm.writeUInt32LE(nBackfill, 96);
  else shm.writeUInt32BE(nBackfill, 96);
  return shm;
}

describe("tracking: the metric writer reads SQLite's wal-index header in the host's byte order", () => {
  it('reads mxFrame in the order it is given, and refuses a header written in the other order', () => {
    for (const order of ['LE', 'BE'] as const) {
      // 0x0001_0203 reads as 0x0302_0100 in the wrong order: only iVersion tells the two apart
      const header = craftedHeader(order, 0x00010203);
      assert.equal(walIndexFrames(header, order), 0x00010203, order);
      assert.equal(walIndexFrames(header, other(order)), undefined, `${order} header read as ${other(order)}`);
    }
    assert.equal(walIndexFrames(Buffer.alloc(WAL_INDEX_HEADER_BYTES), endianness()), undefined, 'a header not yet written is no header');
  });

  it("checkpoints by a -shm header in the host's order unless told another order, and then falls back to SQLite's autocheckpoint", () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'crafted.db');
      const run = (order: Order | undefined, header: Buffer): string[] => {
        writeFileSync(`${path}-shm`, header);
        const calls: string[] = [];
        const checkpoints = new CheckpointAfterReplies(path, (sql) => calls.push(sql), order);
        checkpoints.afterReplies();
        checkpoints.afterReplies();
        checkpoints.close();
        return calls;
      };
      const host = endianness();
      const checkpointed = ['wal_autocheckpoint = 0', 'wal_checkpoint(PASSIVE)', 'wal_checkpoint(PASSIVE)'];
      const fellBack = ['wal_autocheckpoint = 0', 'wal_autocheckpoint = 1000'];
      assert.deepEqual(run(undefined, craftedHeader(host, 1000)), checkpointed, 'the default order is the host');
      assert.deepEqual(run(undefined, craftedHeader(host, 999)), ['wal_autocheckpoint = 0'], 'below 1,000 pages, no checkpoint');
      assert.deepEqual(run(undefined, craftedHeader(other(host), 1000)), fellBack, "a header not in the host's order");
      for (const order of ['LE', 'BE'] as const) {
        assert.deepEqual(run(order, craftedHeader(order, 1000)), checkpointed, order);
        assert.deepEqual(run(order, craftedHeader(other(order), 1000)), fellBack, `${other(order)} header read as ${order}`);
      }
    } finally {
      t.cleanup();
    }
  });

  it('hands checkpoints to the checkpoint thread by the frames not yet copied, and copies the rest itself at the log limit', () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'crafted.db');
      const host = endianness();
      const calls: string[] = [];
      let finish: ((ok: boolean) => void) | undefined;
      let refuse = false;
      const background: BackgroundCheckpoint = {
        start: (done) => {
          if (refuse) return false;
          calls.push('background');
          finish = done;
          return true;
        },
        close: () => calls.push('close'),
      };
      writeFileSync(`${path}-shm`, craftedShm(host, 10, 0));
      const checkpoints = new CheckpointAfterReplies(path, (sql) => calls.push(sql), host, background);
      const after = (frames: number, copied: number): string[] => {
        writeFileSync(`${path}-shm`, craftedShm(host, frames, copied));
        calls.length = 0;
        checkpoints.afterReplies();
        return [...calls];
      };
      assert.deepEqual(after(999, 0), [], 'below 1,000 frames not yet copied: nothing');
      assert.deepEqual(after(1000, 0), ['background'], '1,000 frames not copied: the thread copies');
      assert.deepEqual(after(2100, 0), [], 'nothing more while it copies');
      assert.deepEqual(after(LOG_LIMIT_FRAMES + 50, 0), [], 'nor at the limit while it copies: the writer waits for it');
      finish!(true);
      assert.deepEqual(after(1900, 1000), [], 'copied up to 1,000 of 1,900: 900 left, below the threshold');
      assert.deepEqual(after(2100, 1000), ['background'], '1,100 left: the thread again');
      finish!(true);
      assert.deepEqual(after(LOG_LIMIT_FRAMES, 3900), ['wal_checkpoint(PASSIVE)'], 'at the limit, the writer copies the rest itself');
      assert.deepEqual(after(1000, 0), ['background'], 'the log started over: 1,000 frames, the thread');
      finish!(false);
      assert.deepEqual(after(1000, 0), ['wal_checkpoint(PASSIVE)'], 'a checkpoint thread that failed: the writer checkpoints at 1,000 frames, as before');
      refuse = true;
      const fresh = new CheckpointAfterReplies(path, (sql) => calls.push(sql), host, background);
      calls.length = 0;
      writeFileSync(`${path}-shm`, craftedShm(host, 1000, 0));
      fresh.afterReplies();
      assert.deepEqual(calls, ['wal_checkpoint(PASSIVE)'], 'a thread that cannot start: the writer checkpoints');
      calls.length = 0;
      fresh.close();
      checkpoints.close();
      assert.equal(calls.length, 0, 'a background given up on is not closed twice');
      refuse = false;
      new CheckpointAfterReplies(path, (sql) => calls.push(sql), host, background).close();
      assert.deepEqual(calls, ['wal_autocheckpoint = 0', 'close'], 'a live checkpoint thread is stopped with the writer');
    } finally {
      t.cleanup();
    }
  });

  it("reads, from a real store's -shm in the host's order, the log length SQLite's own checkpoint reports", () => {
    const t = tempDir();
    const path = join(t.dir, 'mloop.db');
    const store = openStore({ path });
    try {
      const checkpoints = new CheckpointAfterReplies(path, (sql) => store.db.pragma(sql));
      assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0);
      store.db.exec('CREATE TABLE t (b BLOB NOT NULL)');
      const insert = store.db.prepare('INSERT INTO t (b) VALUES (zeroblob(3000))');
      for (let i = 0; i < 1200; i++) insert.run();
      const frames = walIndexFrames(readFileSync(`${path}-shm`).subarray(0, WAL_INDEX_HEADER_BYTES), endianness());
      assert.equal(walIndexFrames(readFileSync(`${path}-shm`).subarray(0, WAL_INDEX_HEADER_BYTES), other(endianness())), undefined);
      // PASSIVE copies what no reader holds and reports the log's length, mxFrame, counted by SQLite itself
      const [reported] = store.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      assert.ok(reported!.log >= 1200, `${reported!.log} frames`);
      assert.equal(frames, reported!.log);
      // and nBackfill, after the header's two copies: the frames that checkpoint copied into the store file
      const shm = readFileSync(`${path}-shm`).subarray(0, WAL_INDEX_CHECKPOINT_BYTES);
      assert.ok(reported!.checkpointed > 0, `${reported!.checkpointed} frames copied`);
      assert.equal(walIndexCopied(shm, endianness()), reported!.checkpointed);
      checkpoints.afterReplies();
      assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the real header was read: no fallback');
      checkpoints.close();
    } finally {
      store.close();
      t.cleanup();
    }
  });
});
