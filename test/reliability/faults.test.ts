import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store/store';
import { processAlive } from '../support/processes';
import {
  FULL,
  ackingTrainScript,
  postJson,
  queryStore,
  readAcks,
  recordFigure,
  scale,
  spawnCli,
  startServerChild,
  storedSteps,
  tempDir,
  waitFor,
} from './support';

// The training script logs two ways: `http <i>` in acks.txt once runs/log-batch answered 200 for
// batch i, and `line <i>` once `::mloop metric name=line value=i step=i` was flushed to stdout.
const TRAIN_PY = ackingTrainScript({ protocolLines: true, failure: 'stderr' });

const MLOOP_YAML = `version: 1
pipelines:
  train:
    command: [python3, train.py]
    experiment: faults
`;

function project(): { dir: string; cleanup: () => void } {
  const t = tempDir();
  writeFileSync(join(t.dir, 'mloop.yaml'), MLOOP_YAML);
  writeFileSync(join(t.dir, 'train.py'), TRAIN_PY);
  return t;
}

const dbOf = (dir: string): string => join(dir, '.mloop', 'mloop.db');
const runsIn = (dir: string): { run_id: string; status: string; pid: number | null }[] =>
  queryStore(
    dbOf(dir),
    (db) => db.prepare('SELECT run_id, status, pid FROM run ORDER BY start_time').all() as { run_id: string; status: string; pid: number | null }[],
  );

function integrity(dir: string): string {
  const store = openStore({ path: dbOf(dir) }); // opens as mloop does: migrations check, WAL recovery
  try {
    return store.db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    store.close();
  }
}

describe('reliability: faults (kill -9)', function () {
  this.timeout(FULL ? 600_000 : 120_000);
  const target = scale(60, 600); // acknowledged batches before the kill

  it('kill -9 of the training process mid-run: the run is KILLED within 5 s and every acknowledged point is kept', async () => {
    const { dir, cleanup } = project();
    try {
      const train = spawnCli(['train', 'train'], { cwd: dir });
      await waitFor(() => readAcks(dir).http.length >= target || train.child.exitCode !== null, 60_000, `${target} acknowledged batches`);
      const { pid } = readAcks(dir);
      assert.ok(pid && train.child.exitCode === null, `training is running (${train.stderr().slice(-500)})`);
      const [run] = runsIn(dir);
      assert.equal(run!.status, 'RUNNING');
      assert.equal(run!.pid, pid, 'the run records the training process id');
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      await waitFor(() => runsIn(dir)[0]!.status !== 'RUNNING', 10_000, 'the run to end');
      const latencyMs = Date.now() - killedAt;
      assert.equal(runsIn(dir)[0]!.status, 'KILLED');
      assert.ok(latencyMs < 5000, `KILLED after ${latencyMs} ms`);
      const exit = await train.exited;
      assert.equal(exit.code, 1, 'mloop train fails when its run was killed');
      assert.match(train.stdout() + train.stderr(), /KILLED/);

      const acks = readAcks(dir);
      assert.equal(integrity(dir), 'ok');
      const server = await startServerChild(dir);
      try {
        const http = await storedSteps(server, run!.run_id, 'http');
        const line = await storedSteps(server, run!.run_id, 'line');
        const lostHttp = acks.http.flatMap((i) => Array.from({ length: 10 }, (_, j) => i * 10 + j)).filter((s) => !http.has(s));
        const lostLine = acks.line.filter((s) => !line.has(s));
        assert.deepEqual(lostHttp, [], 'acknowledged HTTP points lost');
        assert.deepEqual(lostLine, [], 'acknowledged protocol lines lost');
        recordFigure(
          'faults: kill -9 training process',
          `KILLED after ${latencyMs} ms; ${acks.http.length * 10} acknowledged HTTP points + ${acks.line.length} protocol points, 0 lost`,
          {
            latencyMs,
            httpPoints: acks.http.length * 10,
            linePoints: acks.line.length,
            lost: 0,
          },
        );
      } finally {
        await server.stop();
      }
    } finally {
      cleanup();
    }
  });

  it('kill -9 of mloop server mid-ingest: the store opens cleanly and no acknowledged point is lost', async () => {
    const { dir, cleanup } = tempDir();
    try {
      let server = await startServerChild(dir, ['--quiet']);
      const created = await postJson(server, 'runs/create', { experiment_id: '0', run_name: 'ingest' });
      const runId = (created.json!.run as { info: { run_id: string } }).info.run_id;
      const batch = 500;
      const acked: number[] = [];
      const failed: number[] = [];
      let next = 0;
      let stop = false;
      // 4 concurrent clients, each with its own connection, posting 500-point batches until the server dies
      const client = async (): Promise<void> => {
        while (!stop) {
          const i = next++;
          const metrics = Array.from({ length: batch }, (_, j) => ({ key: 'm', value: i * batch + j, step: i * batch + j, timestamp: Date.now() }));
          try {
            const reply = await postJson(server, 'runs/log-batch', { run_id: runId, metrics });
            if (reply.status === 200) acked.push(i);
            else failed.push(i);
          } catch {
            failed.push(i);
            return;
          }
        }
      };
      const clients = [client(), client(), client(), client()];
      await waitFor(() => acked.length >= target, 60_000, `${target} acknowledged batches`);
      server.child.kill('SIGKILL');
      const killed = await server.exited;
      stop = true;
      await Promise.all(clients);
      assert.equal(killed.signal, 'SIGKILL');
      const walBytes = existsSync(`${dbOf(dir)}-wal`) ? readFileSync(`${dbOf(dir)}-wal`).length : 0;
      assert.equal(integrity(dir), 'ok');

      server = await startServerChild(dir, ['--quiet']);
      try {
        const steps = await storedSteps(server, runId, 'm');
        const lost = acked.flatMap((i) => Array.from({ length: batch }, (_, j) => i * batch + j)).filter((s) => !steps.has(s));
        assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged points lost`);
        // a batch is all or nothing: every stored step belongs to a batch that was stored whole
        const storedBatches = new Set([...steps].map((s) => Math.floor(s / batch)));
        for (const b of storedBatches) for (let j = 0; j < batch; j++) assert.ok(steps.has(b * batch + j), `batch ${b} stored in part`);
        const afterRestart = await postJson(server, 'runs/log-batch', { run_id: runId, metrics: [{ key: 'm', value: -1, step: -1, timestamp: 1 }] });
        assert.equal(afterRestart.status, 200, 'the restarted server takes writes');
        recordFigure(
          'faults: kill -9 mloop server mid-ingest',
          `${acked.length * batch} acknowledged points (${acked.length} batches of ${batch}, 4 clients), 0 lost; integrity_check ok; ${storedBatches.size - acked.length} unacknowledged batches stored whole, 0 partial`,
          {
            ackedPoints: acked.length * batch,
            inFlightAtKill: failed.length,
            walBytesAtKill: walBytes,
            lost: lost.length,
          },
        );
      } finally {
        await server.stop();
      }
    } finally {
      cleanup();
    }
  });

  it('kill -9 of mloop train (the process holding the store) mid-ingest: clean reopen, no acknowledged point lost, no RUNNING zombie after restart', async () => {
    const { dir, cleanup } = project();
    try {
      const first = spawnCli(['train', 'train'], { cwd: dir });
      await waitFor(() => readAcks(dir).http.length >= target || first.child.exitCode !== null, 60_000, `${target} acknowledged batches`);
      const trainingPid = readAcks(dir).pid!;
      first.child.kill('SIGKILL');
      await first.exited;
      // the training script's next write fails (its stdout and its endpoint are gone) and it exits
      await waitFor(() => !processAlive(trainingPid), 15_000, 'the orphaned training process to end');
      const [orphan] = runsIn(dir);
      assert.equal(orphan!.status, 'RUNNING', 'nobody was left to record the end');
      assert.equal(integrity(dir), 'ok');

      // restart: the next mloop train reaps the run its crashed predecessor left RUNNING
      writeFileSync(join(dir, 'train.py'), 'print("::mloop metric name=ok value=1")\n');
      const second = spawnCli(['train', 'train'], { cwd: dir });
      const exit = await second.exited;
      assert.equal(exit.code, 0, second.stderr());
      assert.match(second.stderr(), /marked 1 run\(s\) left RUNNING by a crashed session as KILLED/);
      const runs = runsIn(dir);
      assert.deepEqual(
        runs.map((r) => r.status),
        ['KILLED', 'FINISHED'],
      );
      assert.equal(runs.filter((r) => r.status === 'RUNNING').length, 0, 'no RUNNING zombie');

      const acks = readAcks(dir);
      const server = await startServerChild(dir);
      try {
        const http = await storedSteps(server, orphan!.run_id, 'http');
        const line = await storedSteps(server, orphan!.run_id, 'line');
        const lostHttp = acks.http.flatMap((i) => Array.from({ length: 10 }, (_, j) => i * 10 + j)).filter((s) => !http.has(s));
        assert.deepEqual(lostHttp, [], 'acknowledged HTTP points lost');
        // protocol lines in the pipe when the launcher died were never read: only HTTP 200 is an acknowledgement here
        recordFigure(
          'faults: kill -9 mloop train mid-ingest',
          `${acks.http.length * 10} acknowledged HTTP points, 0 lost; integrity_check ok; orphan run marked KILLED at the next start, 0 RUNNING left`,
          {
            httpPoints: acks.http.length * 10,
            protocolLinesStored: line.size,
            lost: 0,
          },
        );
      } finally {
        await server.stop();
      }
    } finally {
      cleanup();
    }
  });
});
