import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join, resolve } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { GroupCommit } from '../../src/core/store/groupCommit';
import { findSeries, pointsInLoggingOrder } from '../../src/core/store/metricPoints';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import {
  LOG_LIMIT_FRAMES,
  MetricWriterThread,
  type PackedMetrics,
  WAL_INDEX_CHECKPOINT_BYTES,
  walIndexCopied,
  walIndexFrames,
} from '../../src/core/tracking/metricWriter';
import { startTrackingServer } from '../../src/core/tracking/server';
import { tempDir } from './fixtures';

describe('store: group commit of writes that arrive together', () => {
  let store: Store;
  let reader: Database.Database;
  let cleanup: () => void;
  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    store.db.exec('CREATE TABLE t (n INTEGER NOT NULL)');
    // a second connection sees only what is committed
    reader = new Database(join(t.dir, 'mloop.db'), { readonly: true });
  });
  afterEach(() => {
    reader.close();
    store.close();
    cleanup();
  });

  const committed = (): number[] => reader.prepare('SELECT n FROM t ORDER BY rowid').pluck().all() as number[];
  const insert = (n: number) => (): number => {
    store.db.prepare('INSERT INTO t (n) VALUES (?)').run(n);
    return n;
  };

  it('writes queued in one tick share one transaction, run in queue order, and settle only after the commit', async () => {
    const group = new GroupCommit(store);
    const seenInside: number[][] = [];
    const settled: number[][] = [];
    const writes = [1, 2, 3, 4].map((n) =>
      group
        .run(() => {
          insert(n)();
          // the earlier writes of the group are visible here but not yet to another connection
          seenInside.push(store.db.prepare('SELECT n FROM t ORDER BY rowid').pluck().all() as number[]);
          assert.deepEqual(committed(), []);
          return n * 10;
        })
        .then((value) => {
          settled.push(committed());
          return value;
        }),
    );
    assert.equal(group.pending, 4);
    assert.deepEqual(await Promise.all(writes), [10, 20, 30, 40]);
    assert.deepEqual(seenInside, [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
    for (const rows of settled) assert.deepEqual(rows, [1, 2, 3, 4]);
    assert.equal(group.pending, 0);
  });

  it('a write that throws is rolled back alone; the others of its group commit', async () => {
    const group = new GroupCommit(store);
    const results = await Promise.allSettled([
      group.run(insert(1)),
      group.run(() => {
        insert(2)();
        insert(3)();
        throw new Error('param conflict');
      }),
      group.run(insert(4)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(((results[1] as PromiseRejectedResult).reason as Error).message, /param conflict/);
    assert.deepEqual(committed(), [1, 4]);
  });

  it('a write alone in its commit that throws leaves nothing written', async () => {
    const group = new GroupCommit(store);
    await assert.rejects(
      group.run(() => {
        insert(7)();
        throw new Error('refused');
      }),
      /refused/,
    );
    assert.deepEqual(committed(), []);
    assert.equal(await group.run(insert(8)), 8);
    assert.deepEqual(committed(), [8]);
  });

  it('commits at most maxPerCommit writes at a time, the rest in following commits, in order', async () => {
    const group = new GroupCommit(store, 3);
    let transaction = 0;
    // count transactions: a write sees a fresh one when the previous group's rows are already committed
    const writes = Array.from({ length: 7 }, (_, i) =>
      group.run(() => {
        if (committed().length === i) transaction++;
        insert(i)();
      }),
    );
    await Promise.all(writes);
    assert.deepEqual(committed(), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(transaction, 3); // 3 + 3 + 1
  });
});

// The metric writer thread (dist/metricWriter.js, what the extension and the CLI run; built by scripts/build.mjs before
// the unit tests run): plain batches are written there on its own connection, the others on the server's thread.
const METRIC_WRITER = resolve(__dirname, '../../../dist/metricWriter.js');

for (const writer of ['the server thread', 'the metric writer thread'] as const)
  describe(`tracking: concurrent log-batch requests (group commit over HTTP), written on ${writer}`, function () {
    this.timeout(30_000);
    const metricWriterFile = writer === 'the server thread' ? null : METRIC_WRITER;
    before(() => assert.ok(metricWriterFile === null || existsSync(metricWriterFile), `${METRIC_WRITER} is built by scripts/build.mjs`));

    it('stores every acknowledged batch exactly once and none of a refused one, with concurrent requests in flight', async () => {
      const t = tempDir();
      const store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
      const server = await startTrackingServer({ store, artifactRoot: join(t.dir, '.mloop', 'artifacts'), metricWriterFile });
      try {
        assert.equal(server.metricWriterThread, metricWriterFile !== null);
        const runs = new RunRepository(store);
        const runId = runs.create({ experimentId: new ExperimentRepository(store).ensure('e').experimentId, params: { lr: '0.1' } }).runId;
        const batch = (b: number, params: { key: string; value: string }[] = []): string =>
          JSON.stringify({
            run_id: runId,
            metrics: Array.from({ length: 300 }, (_, i) => ({
              key: `k${i % 3}`,
              value: b * 1000 + i,
              timestamp: 1_700_000_000_000 + b * 1000 + i,
              step: b * 100 + Math.floor(i / 3),
            })),
            params,
          });
        const send = (body: string): Promise<Response> =>
          fetch(`${server.uri}/api/2.0/mlflow/runs/log-batch`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
            body,
          });
        // batch 5 passes validation but changes a logged param: refused while writing, after its metrics
        const bodies = Array.from({ length: 12 }, (_, b) => (b === 5 ? batch(b, [{ key: 'lr', value: '0.2' }]) : batch(b)));
        const replies = await Promise.all(bodies.map(send));
        const statuses = replies.map((r) => r.status);
        assert.deepEqual(
          statuses,
          bodies.map((_, b) => (b === 5 ? 400 : 200)),
        );
        const refused = (await replies[5]!.json()) as { error_code: string; message: string };
        assert.equal(refused.error_code, 'INVALID_PARAMETER_VALUE');
        assert.match(refused.message, /Changing param values is not allowed/);
        for (const key of ['k0', 'k1', 'k2']) {
          const history = runs.metricHistory(runId, key);
          const batches = new Set(history.map((p) => Math.floor(p.value / 1000)));
          assert.equal(history.length, 11 * 100, key);
          assert.deepEqual(
            [...batches].sort((a, b) => a - b),
            [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11],
          );
          // history order is (step, timestamp) whatever order the batches committed in
          for (let i = 1; i < history.length; i++) assert.ok(history[i]!.step >= history[i - 1]!.step);
          // logging order: each acknowledged batch's 100 points of this key, whole and in the order sent, batch after batch
          const logged = pointsInLoggingOrder(store.db, findSeries(store.db, runId, key)!, 0, 11 * 100);
          for (let chunk = 0; chunk < 11; chunk++) {
            const b = Math.floor(logged[chunk * 300 + 2]! / 1000);
            for (let j = 0; j < 100; j++) {
              const i = Number(key.slice(1)) + 3 * j;
              assert.deepEqual(
                Array.from(logged.subarray((chunk * 100 + j) * 3, (chunk * 100 + j + 1) * 3)),
                [b * 100 + Math.floor(i / 3), 1_700_000_000_000 + b * 1000 + i, b * 1000 + i],
                `${key}: logged point ${chunk * 100 + j}`,
              );
            }
          }
        }
        assert.deepEqual(runs.params(runId), { lr: '0.1' });
        assert.equal(server.metricWriterThread, metricWriterFile !== null, 'the writer thread is still running');
      } finally {
        await server.close();
        store.close();
        t.cleanup();
      }
    });

    it('a plain batch for an unknown or deleted run, or with a bad key, is refused with MLflow’s error and stores nothing; a run’s keys and missing steps/timestamps are stored as sent', async () => {
      const t = tempDir();
      const store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
      const server = await startTrackingServer({ store, artifactRoot: join(t.dir, '.mloop', 'artifacts'), metricWriterFile });
      try {
        const runs = new RunRepository(store);
        const experimentId = new ExperimentRepository(store).ensure('e').experimentId;
        const live = runs.create({ experimentId }).runId;
        const deleted = runs.create({ experimentId }).runId;
        runs.setLifecycleStage(deleted, 'deleted');
        const send = async (body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
          const r = await fetch(`${server.uri}/api/2.0/mlflow/runs/log-batch`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: r.status, json: (await r.json()) as Record<string, unknown> };
        };
        const metrics = [
          { key: 'b', value: 2.5, timestamp: 20, step: 4 },
          { key: 'a', value: -1, timestamp: 10 },
          { key: 'b', value: 1e308, step: 5 },
          { key: 'a', value: 0.125, timestamp: 11, step: 2 },
        ];
        const unknown = await send({ run_id: 'f'.repeat(32), metrics });
        assert.deepEqual([unknown.status, unknown.json.error_code], [404, 'RESOURCE_DOES_NOT_EXIST']);
        assert.match(String(unknown.json.message), /Run with id=f{32} not found/);
        const gone = await send({ run_id: deleted, metrics });
        assert.deepEqual([gone.status, gone.json.error_code], [400, 'INVALID_STATE']);
        const badKey = await send({ run_id: live, metrics: [...metrics, { key: '../x', value: 1, timestamp: 1, step: 0 }] });
        assert.deepEqual([badKey.status, badKey.json.error_code], [400, 'INVALID_PARAMETER_VALUE']);
        assert.deepEqual(runs.latestMetrics(deleted), {});
        assert.deepEqual(runs.latestMetrics(live), {});
        const before = Date.now();
        const ok = await send({ run_uuid: live, metrics });
        const after = Date.now();
        assert.deepEqual([ok.status, ok.json], [200, {}]);
        const a = runs.metricHistory(live, 'a');
        assert.deepEqual(
          a.map((p) => [p.step, p.timestamp, p.value]),
          [
            [0, 10, -1],
            [2, 11, 0.125],
          ],
        );
        const b = runs.metricHistory(live, 'b');
        assert.deepEqual(b[0], { key: 'b', step: 4, timestamp: 20, value: 2.5 });
        assert.deepEqual([b[1]!.step, b[1]!.value], [5, 1e308]);
        assert.ok(b[1]!.timestamp >= before && b[1]!.timestamp <= after, 'a point without a timestamp gets the time it was received');
      } finally {
        await server.close();
        store.close();
        t.cleanup();
      }
    });

    // the writer thread's checkpoints run on a thread of their own (metricWriter.ts); the server thread keeps SQLite's autocheckpoint
    if (metricWriterFile)
      it('checkpoints the write-ahead log while the writer commits, and starts it over at its limit: the log stays near 4,000 pages', async () => {
        const t = tempDir();
        const path = join(t.dir, '.mloop', 'mloop.db');
        const store = openStore({ path });
        const server = await startTrackingServer({ store, artifactRoot: join(t.dir, '.mloop', 'artifacts'), metricWriterFile });
        try {
          const runId = new RunRepository(store).create({ experimentId: new ExperimentRepository(store).ensure('e').experimentId }).runId;
          const copiedBeforeLimit: number[] = [];
          const logLengths: number[] = [];
          // 360 batches of 1,000 points, 4 in flight: 5,000–8,500 log pages in all (24 bytes a point, plus the pages a commit
          // rewrites: fewer when the writer commits more batches at once)
          let next = 0;
          const client = async (): Promise<void> => {
            for (let b = next++; b < 360; b = next++) {
              const metrics = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 10}`, value: b * 1000 + i, timestamp: b * 1000 + i, step: b * 1000 + i }));
              const r = await fetch(`${server.uri}/api/2.0/mlflow/runs/log-batch`, {
                method: 'POST',
                headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
                body: JSON.stringify({ run_id: runId, metrics }),
              });
              assert.equal(r.status, 200, await r.text());
              const shm = readFileSync(`${path}-shm`).subarray(0, WAL_INDEX_CHECKPOINT_BYTES);
              const frames = walIndexFrames(shm, endianness());
              if (frames !== undefined) logLengths.push(frames);
              if (frames !== undefined && frames < LOG_LIMIT_FRAMES) copiedBeforeLimit.push(walIndexCopied(shm, endianness()));
            }
          };
          await Promise.all([client(), client(), client(), client()]);
          const points = new RunRepository(store).metricHistory(runId, 'k3');
          assert.equal(points.length, 36_000);
          assert.ok(
            points.every((p, i) => p.step === Math.floor(i / 100) * 1000 + (i % 100) * 10 + 3 && p.value === p.step && p.timestamp === p.step),
            'every point as sent',
          );
          // frames copied while the log was below its limit: the checkpoint thread's (the writer copies only at the limit)
          assert.ok(Math.max(...copiedBeforeLimit) >= 1000, `copied before the limit: up to ${Math.max(...copiedBeforeLimit)} frames`);
          // the log file keeps its longest length: the limit, and the commits made while the last checkpoint thread's copy ran
          const frames = (statSync(`${path}-wal`).size - 32) / (24 + 4096);
          assert.ok(frames <= LOG_LIMIT_FRAMES + 1000, `the write-ahead log reached ${frames} pages`);
          assert.ok(
            logLengths.some((n, i) => i > 0 && n < logLengths[i - 1]! - 1000),
            `the log started over: ${logLengths.filter((_, i) => i % 20 === 0).join(', ')}`,
          );
        } finally {
          await server.close();
          store.close();
          t.cleanup();
        }
      });
  });

describe('tracking: a metric writer thread that stops', function () {
  this.timeout(30_000);

  it('is logged, and plain log-batch writes go on on the server thread, stored and acknowledged', async () => {
    const t = tempDir();
    const dead = join(t.dir, 'deadWriter.js');
    writeFileSync(dead, 'process.exit(3);\n');
    const store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
    const lines: string[] = [];
    const server = await startTrackingServer({ store, artifactRoot: join(t.dir, '.mloop', 'artifacts'), metricWriterFile: dead, log: (l) => lines.push(l) });
    try {
      // the thread exits on its own; wait for the server to notice (polled, generous deadline for a loaded machine)
      for (const deadline = Date.now() + 20_000; server.metricWriterThread; ) {
        assert.ok(Date.now() < deadline, 'the stopped writer thread was noticed');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(
        lines.some((l) => /metric writer thread: .*exit 3/.test(l)),
        lines.join('\n'),
      );
      const runs = new RunRepository(store);
      const runId = runs.create({ experimentId: new ExperimentRepository(store).ensure('e').experimentId }).runId;
      const r = await fetch(`${server.uri}/api/2.0/mlflow/runs/log-batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ run_id: runId, metrics: [1, 2, 3].map((i) => ({ key: 'loss', value: i / 4, timestamp: i, step: i })) }),
      });
      assert.equal(r.status, 200, await r.text());
      assert.deepEqual(
        runs.metricHistory(runId, 'loss').map((p) => p.value),
        [0.25, 0.5, 0.75],
      );
    } finally {
      await server.close();
      store.close();
      t.cleanup();
    }
  });
});

describe('tracking: the metric writer thread when a shared write fails', function () {
  this.timeout(30_000);
  before(() => assert.ok(existsSync(METRIC_WRITER), `${METRIC_WRITER} is built by scripts/build.mjs`));

  it('retries each batch of the group alone: the good ones are committed and acknowledged, the bad one gets its own error', async () => {
    const t = tempDir();
    const store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
    // a storage failure confined to one series, raised by SQLite itself inside the group's append (after every
    // batch's run was found): the writer's connection shares the schema, so its insert of this series aborts
    store.db.exec("CREATE TRIGGER poison BEFORE INSERT ON metric_series WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned series'); END");
    const lines: string[] = [];
    const writer = MetricWriterThread.start(store.path, METRIC_WRITER, (l) => lines.push(l));
    assert.ok(writer, 'the writer thread started');
    try {
      const runs = new RunRepository(store);
      const experimentId = new ExperimentRepository(store).ensure('e').experimentId;
      const [r1, r2, r3] = [runs.create({ experimentId }).runId, runs.create({ experimentId }).runId, runs.create({ experimentId }).runId];
      /** A packed batch: n points per key, values b * 1000 + key index * 100 + i. */
      const pack = (b: number, keys: string[], n: number): PackedMetrics => {
        const starts = Uint32Array.from({ length: keys.length + 1 }, (_, k) => k * n);
        const triples = new Float64Array(keys.length * n * 3);
        keys.forEach((_, k) => {
          for (let i = 0; i < n; i++) triples.set([b * 10 + i, 1_700_000_000_000 + b * 1000 + i, b * 1000 + k * 100 + i], (k * n + i) * 3);
        });
        return { keys, starts, triples };
      };
      // written in one turn of the event loop: one message to the thread, one group, one shared transaction
      const outcomes = await Promise.allSettled([
        writer.write(r1, pack(0, ['loss', 'acc'], 40)),
        writer.write('f'.repeat(32), pack(1, ['loss'], 5)), // refused inside the group; does not fail the shared write
        writer.write(r2, pack(2, ['loss', 'poison'], 30)), // its append fails: the whole shared write is undone
        writer.write(r3, pack(3, ['loss'], 50)),
        writer.write(r1, pack(4, ['loss'], 20)), // a second batch of r1's series, after batch 0 in the same group
      ]);
      const status = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as Error).message));
      assert.equal(status[0], 'ok');
      assert.match(status[1]!, /Run with id=f{32} not found/);
      assert.equal((outcomes[1] as PromiseRejectedResult).reason.code, 'RESOURCE_DOES_NOT_EXIST');
      assert.match(status[2]!, /poisoned series/);
      assert.equal(status[3], 'ok');
      assert.equal(status[4], 'ok');
      // what is committed, read on a second connection: the good batches exactly once and in order, nothing of the bad one
      const reader = new Database(store.path, { readonly: true });
      try {
        const values = (runId: string, key: string): number[] => {
          const series = findSeries(reader, runId, key);
          return series ? Array.from(pointsInLoggingOrder(reader, series, 0, series.count)).filter((_, j) => j % 3 === 2) : [];
        };
        const expected = (b: number, k: number, n: number): number[] => Array.from({ length: n }, (_, i) => b * 1000 + k * 100 + i);
        assert.deepEqual(values(r1, 'loss'), [...expected(0, 0, 40), ...expected(4, 0, 20)]);
        assert.deepEqual(values(r1, 'acc'), expected(0, 1, 40));
        assert.deepEqual(values(r3, 'loss'), expected(3, 0, 50));
        assert.deepEqual(values(r2, 'loss'), [], 'nothing of the refused batch, not even its good series');
        assert.deepEqual(values(r2, 'poison'), []);
        const counted = reader.prepare('SELECT run_id, key, count FROM metric_series ORDER BY run_id, key').all() as {
          run_id: string;
          key: string;
          count: number;
        }[];
        assert.deepEqual(
          counted
            .filter((s) => s.count > 0)
            .map((s) => `${s.run_id === r1 ? 'r1' : s.run_id === r3 ? 'r3' : s.run_id}/${s.key}:${s.count}`)
            .sort(),
          ['r1/acc:40', 'r1/loss:60', 'r3/loss:50'],
        );
      } finally {
        reader.close();
      }
      // the thread goes on: a later good write of r2 is stored
      await writer.write(r2, pack(5, ['loss'], 3));
      assert.deepEqual(
        runs.metricHistory(r2, 'loss').map((p) => p.value),
        [5000, 5001, 5002],
      );
      assert.ok(writer.alive, lines.join('\n'));
    } finally {
      await writer.close();
      store.close();
      t.cleanup();
    }
  });
});
