import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../support/processes';
import { FULL, peakRss, postJson, rawRequest, recordFigure, scale, spawnCli, startServerChild, tempDir, bearer } from './support';

// Hostile volumes against the real processes: a training script that prints without end, a single
// log-batch of 100 MB, a batch of a million params. The figure is each process's peak resident set
// (VmHWM, sampled from /proc while it works): bounded, whatever the volume.

const MB = 1024 * 1024;

/** Samples VmHWM of `pid` every 50 ms until stopped; returns the highest value seen. */
function rssSampler(pid: number): { stop: () => number } {
  let peak = peakRss(pid);
  const timer = setInterval(() => (peak = Math.max(peak, peakRss(pid))), 50);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, peakRss(pid));
      return peak;
    },
  };
}

describe('reliability: resource bounds', function () {
  this.timeout(FULL ? 900_000 : 180_000);

  const outputMb = scale(128, 1024);
  it(`a training process printing ${outputMb} MB: mloop train streams it with bounded memory, the log stops at its cap and says so`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      // 64 KB lines as fast as the pipe takes them
      writeFileSync(
        join(dir, 'flood.py'),
        `import sys\nline = b"x" * 65535 + b"\\n"\nout = sys.stdout.buffer\nfor _ in range(${outputMb * 16}):\n    out.write(line)\nout.flush()\nprint("::mloop metric name=done value=1", flush=True)\n`,
      );
      writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\npipelines:\n  flood:\n    command: [python3, flood.py]\n');
      const t0 = Date.now();
      const train = spawnCli(['train', 'flood'], { cwd: dir, quietStdout: true });
      const rss = rssSampler(train.child.pid!);
      const exit = await train.exited;
      const peak = rss.stop();
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(exit.code, 0, train.stderr());
      const logs = readdirSync(join(dir, '.mloop', 'logs'));
      assert.equal(logs.length, 1);
      const log = join(dir, '.mloop', 'logs', logs[0]!);
      const size = statSync(log).size;
      assert.ok(size >= 50 * MB && size <= 50 * MB + 1024, `log is ${size} bytes`);
      assert.match(readFileSync(log, 'utf8').slice(-300), /the log reached 50 MB; further output was not stored/);
      assert.ok(peak > 0 && peak < 300 * MB, `mloop train peaked at ${Math.round(peak / MB)} MB`);
      recordFigure(
        `bounds: ${outputMb} MB of output`,
        `mloop train peak RSS ${Math.round(peak / MB)} MB while ${outputMb} MB passed through in ${seconds.toFixed(1)} s (${Math.round(outputMb / seconds)} MB/s); log capped at 50 MB with a note; run FINISHED`,
        {
          outputMb,
          peakRssMb: Math.round(peak / MB),
          seconds,
        },
      );
    } finally {
      cleanup();
    }
  });

  it('a 100 MB log-batch and a million-param batch: refused with a message naming the limit, server memory bounded, nothing stored, the server carries on', async () => {
    const { dir, cleanup } = tempDir();
    const server = await startServerChild(dir, ['--quiet']);
    try {
      const created = await postJson(server, 'runs/create', { experiment_id: '0' });
      const runId = (created.json!.run as { info: { run_id: string } }).info.run_id;
      const rss = rssSampler(server.child.pid!);
      const baseline = peakRss(server.child.pid!);

      // 100 MB of metrics, declared up front: refused before it is read
      const point = `{"key":"m","value":1.5,"step":1,"timestamp":1},`;
      const body = Buffer.from(`{"run_id":"${runId}","metrics":[${point.repeat(Math.ceil((100 * MB) / point.length)).slice(0, -1)}]}`);
      const declared = await rawRequest(server.port, 'POST', '/api/2.0/mlflow/runs/log-batch', {
        body,
        headers: { ...bearer(server.token), 'content-type': 'application/json' },
      }).catch((error: Error) => ({ status: 0, text: error.message, json: undefined }));
      assert.ok(declared.status === 413 || declared.status === 400, `100 MB batch: ${declared.status} ${declared.text.slice(0, 300)}`);
      assert.match(String(declared.json?.message), /64 MB|67108864/, 'the message names the limit');

      // a million params in one batch (~30 MB, under the body limit): refused by the batch limit
      const params = Array.from({ length: 1_000_000 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
      const many = await postJson(server, 'runs/log-batch', { run_id: runId, params });
      assert.equal(many.status, 400, many.text.slice(0, 300));
      assert.equal(many.json?.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(String(many.json?.message), /100/, `names the per-batch limit: ${String(many.json?.message)}`);

      const peak = rss.stop();
      assert.ok(processAlive(server.child.pid!), 'the server is alive');
      const ok = await postJson(server, 'runs/log-batch', { run_id: runId, metrics: [{ key: 'm', value: 1, step: 0, timestamp: 0 }] });
      assert.equal(ok.status, 200, 'and takes the next batch');
      const run = await rawRequest(server.port, 'GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`, { headers: bearer(server.token) });
      const data = (run.json!.run as { data: { params?: unknown[]; metrics?: unknown[] } }).data;
      assert.equal((data.params ?? []).length, 0, 'no param of the refused batch stored');
      assert.equal((data.metrics ?? []).length, 1, 'only the accepted point stored');
      assert.ok(peak < 600 * MB, `server peaked at ${Math.round(peak / MB)} MB`);
      recordFigure(
        'bounds: huge requests',
        `100 MB log-batch refused ${declared.status} naming the 64 MB limit; 1,000,000-param batch refused 400 naming the 100-param limit; server peak RSS ${Math.round(peak / MB)} MB (baseline ${Math.round(baseline / MB)} MB), alive, nothing stored`,
        {
          peakRssMb: Math.round(peak / MB),
          baselineMb: Math.round(baseline / MB),
        },
      );
    } finally {
      await server.stop();
      cleanup();
    }
  });
});
