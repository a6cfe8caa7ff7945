// Ingest through runs/log-batch over HTTP: mloop's tracking server against a real `mlflow server`
// (sqlite backend), the same load generator and the same request bodies for both. Each server runs
// in its own process; the generator keeps CONCURRENCY requests of 1,000 metrics in flight over
// keep-alive connections. Median of RUNS runs per server, a fresh run each time, the servers interleaved
// run by run (mloop, MLflow, mloop, …) so both see the same load.
//
//   MLOOP_BENCH_POINTS (default 1,000,000)   points per run against mloop
//   MLOOP_BENCH_MLFLOW_POINTS (default 200,000) points per run against MLflow (it is far slower)
//   MLOOP_BENCH_RUNS (default 3), MLOOP_BENCH_CONCURRENCY (default 4), MLOOP_BENCH_SKIP_MLFLOW=1,
//   MLOOP_BENCH_MLFLOW_WORKERS (default: mlflow server's own), MLOOP_BENCH_WRITER=server (mloop's metric writes on
//   the server's thread instead of its writer thread, dist/metricWriter.js), MLOOP_BENCH_CPU_PROF=<dir> (the mloop
//   server runs with --cpu-prof: one .cpuprofile per thread, the server's and the writer's, written when it stops)
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStore } from '../../src/core/store/store';
import { startTrackingServer } from '../../src/core/tracking/server';

const POINTS = Number(process.env.MLOOP_BENCH_POINTS ?? 1_000_000);
const MLFLOW_POINTS = Number(process.env.MLOOP_BENCH_MLFLOW_POINTS ?? 200_000);
const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.MLOOP_BENCH_CONCURRENCY ?? 4);
const BATCH = 1000;

interface Target {
  readonly name: string;
  /** The server's process id: its CPU time (and its children's, for MLflow's workers) is read from /proc. */
  readonly pid: number;
  readonly uri: string;
  readonly token: string;
  /** Points stored for a run, read from the server's own database (checks nothing was dropped). */
  count(runId: string): number;
  stop(): Promise<void>;
}

/** Each server's address, parsed once (not in each request's clock). */
const addresses = new Map<string, URL>();

async function call(target: Target, agent: Agent, method: string, path: string, body?: Buffer): Promise<Record<string, unknown>> {
  let url = addresses.get(target.uri);
  if (!url) addresses.set(target.uri, (url = new URL(target.uri)));
  return new Promise((done, fail) => {
    const req = request(
      {
        hostname: url.hostname,
        port: url.port,
        path,
        method,
        agent,
        headers: {
          authorization: `Bearer ${target.token}`,
          'content-type': 'application/json',
          ...(body ? { 'content-length': body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) fail(new Error(`${target.name} ${method} ${path} -> ${res.statusCode} ${text.slice(0, 300)}`));
          else done(text ? (JSON.parse(text) as Record<string, unknown>) : {});
        });
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * Request bodies built before the clock starts, as the bytes sent: the generator measures the server, not
 * JSON.stringify, nor its own UTF-8 encoding and length of each 75 KB body (sessions up to 24 sent strings).
 */
function buildBodies(runId: string, points: number): Buffer[] {
  const bodies: Buffer[] = [];
  const t0 = 1_700_000_000_000;
  for (let start = 0; start < points; start += BATCH) {
    const metrics = [];
    for (let i = start; i < Math.min(points, start + BATCH); i++) {
      metrics.push({ key: `m${i % 10}`, value: Math.sin(i) * 100, timestamp: t0 + i, step: Math.floor(i / 10) });
    }
    bodies.push(Buffer.from(JSON.stringify({ run_id: runId, metrics })));
  }
  return bodies;
}

/** CPU seconds (user + system) used so far by `pid` and every live descendant, from /proc (Linux). */
function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended while we looked
    }
  }
  let ticks = 0;
  const queue = [pid];
  while (queue.length) {
    const current = queue.pop()!;
    ticks += stats.get(current)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === current) queue.push(child);
  }
  return ticks / 100; // USER_HZ
}

/**
 * Waits until each server's process tree is idle (under 3% of a core over a second, at most 60 s) before any clock
 * starts: MLflow's server answers /health while its workers are still starting (seconds of CPU), which ran on the
 * same two cores as mloop's first run and made it ~5× slower than the next ones.
 */
async function settle(targets: readonly Target[]): Promise<void> {
  const started = Date.now();
  for (;;) {
    const before = targets.map((t) => treeCpuSeconds(t.pid));
    await new Promise((r) => setTimeout(r, 1000));
    const used = targets.map((t, i) => treeCpuSeconds(t.pid) - before[i]!);
    if (used.every((u) => u < 0.03) || Date.now() - started > 60_000) {
      process.stdout.write(
        `servers idle after ${((Date.now() - started) / 1000).toFixed(1)} s (CPU in the last second: ${used.map((u) => u.toFixed(2)).join(', ')} s)\n`,
      );
      return;
    }
  }
}

/** CPU seconds of each thread of `pid` (/proc/<pid>/task), by thread id. */
function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / 100);
      } catch {
        // the thread ended while we looked
      }
    }
  } catch {
    // the process ended
  }
  return out;
}

interface IngestResult {
  pointsPerSecond: number;
  seconds: number;
  stored: number;
  /** Server CPU time per point, in microseconds (load-independent: what a dedicated core would need). */
  serverCpuUsPerPoint: number;
  /** CPU per point of the server's busiest thread (mloop: the HTTP thread or the metric writer; MLflow: not split). */
  busiestThreadCpuUsPerPoint: number;
  secondThreadCpuUsPerPoint: number;
  generatorCpuUsPerPoint: number;
  loadAverage: number;
}

async function ingestOnce(target: Target, points: number): Promise<IngestResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const run = (await call(target, agent, 'POST', '/api/2.0/mlflow/runs/create', Buffer.from(JSON.stringify({ experiment_id: '0', start_time: Date.now() }))))
      .run as {
      info: { run_id: string };
    };
    const runId = run.info.run_id;
    const bodies = buildBodies(runId, points);
    let next = 0;
    const loadAverage = loadavg()[0]!;
    const serverCpu = treeCpuSeconds(target.pid);
    const threadsBefore = threadCpuSeconds(target.pid);
    const generatorCpu = process.cpuUsage();
    const started = performance.now();
    const worker = async (): Promise<void> => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        await call(target, agent, 'POST', '/api/2.0/mlflow/runs/log-batch', body);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    const serverCpuUsPerPoint = ((treeCpuSeconds(target.pid) - serverCpu) * 1e6) / points;
    const perThread = [...threadCpuSeconds(target.pid)].map(([tid, cpu]) => cpu - (threadsBefore.get(tid) ?? 0)).sort((a, b) => b - a);
    const busiest = perThread[0] ?? 0;
    const second = perThread[1] ?? 0;
    const used = process.cpuUsage(generatorCpu);
    const stored = target.count(runId);
    if (stored !== points) throw new Error(`${target.name}: ${stored} points stored of ${points} acknowledged`);
    return {
      pointsPerSecond: points / seconds,
      seconds,
      stored,
      serverCpuUsPerPoint,
      busiestThreadCpuUsPerPoint: (busiest * 1e6) / points,
      secondThreadCpuUsPerPoint: (second * 1e6) / points,
      generatorCpuUsPerPoint: (used.user + used.system) / points,
      loadAverage,
    };
  } finally {
    agent.destroy();
  }
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((done, fail) => {
    let text = '';
    const timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}; output so far:\n${text.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      const match = pattern.exec(text);
      if (match) {
        clearTimeout(timer);
        done(match);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${what}: process exited with ${code}:\n${text.slice(-2000)}`)));
  });
}

const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });

/** mloop's server in a child process (this same bundle with "serve"), so generator and server do not share a core. */
async function startMloop(dir: string): Promise<Target> {
  const prof = process.env.MLOOP_BENCH_CPU_PROF;
  const child = spawn(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), __filename, 'serve', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const match = await waitForLine(child, /READY (\S+) (\S+)/, 'the mloop server', 15_000);
  const db = new Database(join(dir, '.mloop', 'mloop.db'), { readonly: true });
  return {
    name: 'mloop',
    pid: child.pid!,
    uri: match[1]!,
    token: match[2]!,
    // the points actually stored in the run's sealed blocks and tail rows (24 bytes each), not a counter
    count: (runId) =>
      db
        .prepare(
          `SELECT (SELECT coalesce(sum(length(b.points)) / 24, 0) FROM metric_block b JOIN metric_series s ON s.series_id = b.series_id WHERE s.run_id = ?)
                + (SELECT coalesce(sum(length(t.points)) / 24, 0) FROM metric_tail t JOIN metric_series s ON s.series_id = t.series_id WHERE s.run_id = ?)`,
        )
        .pluck()
        .get(runId, runId) as number,
    stop: async () => {
      db.close();
      await stopChild(child);
    },
  };
}

async function startMlflow(dir: string): Promise<Target> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(
    'mlflow',
    [
      'server',
      '--backend-store-uri',
      `sqlite:///${join(dir, 'mlflow.db')}`,
      '--artifacts-destination',
      join(dir, 'artifacts'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      // default: MLflow's own default (4 uvicorn workers); on an overloaded machine its supervisor
      // restarts workers that miss health checks mid-request, so MLOOP_BENCH_MLFLOW_WORKERS=1 avoids that
      ...(process.env.MLOOP_BENCH_MLFLOW_WORKERS ? ['--workers', process.env.MLOOP_BENCH_MLFLOW_WORKERS] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true' } },
  );
  // drain the server's output (a full pipe would stall its logging workers); keep the tail for errors
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString('utf8')).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  process.on('exit', () => {
    if (process.exitCode) process.stderr.write(`mlflow server output (tail):\n${output}\n`);
  });
  const uri = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${uri}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`mlflow server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('mlflow server did not become healthy in 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  const db = new Database(join(dir, 'mlflow.db'), { readonly: true });
  return {
    name: 'mlflow',
    pid: child.pid!,
    uri,
    token: 'unused',
    count: (runId) => db.prepare('SELECT count(*) FROM metrics WHERE run_uuid = ?').pluck().get(runId) as number,
    stop: async () => {
      db.close();
      await stopChild(child);
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Measured {
  medianPointsPerSecond: number;
  runs: number[];
  medianServerCpuUsPerPoint: number;
  serverCpuUsPerPoint: number[];
  medianBusiestThreadCpuUsPerPoint: number;
  generatorCpuUsPerPoint: number[];
  loadAverage: number[];
}

function report(target: Target, points: number, i: number, r: IngestResult): void {
  process.stderr.write(
    `${target.name} run ${i + 1}/${RUNS}: ${points} points in ${r.seconds.toFixed(2)} s = ${Math.round(r.pointsPerSecond)} points/s; ` +
      `server CPU ${r.serverCpuUsPerPoint.toFixed(2)} µs/point (busiest threads ${r.busiestThreadCpuUsPerPoint.toFixed(2)}, ${r.secondThreadCpuUsPerPoint.toFixed(2)}), generator ${r.generatorCpuUsPerPoint.toFixed(2)} µs/point, load ${r.loadAverage.toFixed(1)}\n`,
  );
}

function summarise(results: IngestResult[]): Measured {
  const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;
  return {
    medianPointsPerSecond: Math.round(median(results.map((r) => r.pointsPerSecond))),
    runs: results.map((r) => Math.round(r.pointsPerSecond)),
    medianServerCpuUsPerPoint: round(median(results.map((r) => r.serverCpuUsPerPoint)), 2),
    serverCpuUsPerPoint: results.map((r) => round(r.serverCpuUsPerPoint, 2)),
    medianBusiestThreadCpuUsPerPoint: round(median(results.map((r) => r.busiestThreadCpuUsPerPoint)), 2),
    generatorCpuUsPerPoint: results.map((r) => round(r.generatorCpuUsPerPoint, 2)),
    loadAverage: results.map((r) => round(r.loadAverage, 1)),
  };
}

/** RUNS runs of each target, interleaved run by run (mloop, MLflow, mloop, …) so both see the same load. */
async function measureInterleaved(targets: { target: Target; points: number }[]): Promise<Measured[]> {
  const results: IngestResult[][] = targets.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, { target, points }] of targets.entries()) {
      const r = await ingestOnce(target, points);
      results[k]!.push(r);
      report(target, points, i, r);
    }
  }
  return results.map(summarise);
}

async function serve(dir: string): Promise<void> {
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  // the metric writer thread as the extension and the CLI run it (dist/metricWriter.js, built by scripts/build.mjs);
  // MLOOP_BENCH_WRITER=server: every write on the server's thread, as before that thread existed
  const metricWriterFile = process.env.MLOOP_BENCH_WRITER === 'server' ? null : resolve(__dirname, '../../../dist/metricWriter.js');
  if (metricWriterFile && !existsSync(metricWriterFile)) throw new Error(`${metricWriterFile} is missing: run scripts/build.mjs first`);
  const server = await startTrackingServer({ store, artifactRoot: join(dir, '.mloop', 'artifacts'), metricWriterFile });
  process.stdout.write(`READY ${server.uri} ${server.token}\n`);
  process.once('SIGTERM', () => void server.close().then(() => (store.close(), process.exit(0))));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-ingest-'));
  const targets: Target[] = [];
  try {
    const mloop = await startMloop(join(dir, 'mloop'));
    targets.push(mloop);
    const plan = [{ target: mloop, points: POINTS }];
    if (!process.env.MLOOP_BENCH_SKIP_MLFLOW) {
      const mlflow = await startMlflow(join(dir, 'mlflow'));
      targets.push(mlflow);
      plan.push({ target: mlflow, points: MLFLOW_POINTS });
    }
    await settle(targets);
    const [mloopResult, mlflowResult] = (await measureInterleaved(plan)) as [Measured, Measured | undefined];
    const summary = {
      machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`,
      batch: BATCH,
      concurrency: CONCURRENCY,
      runs: RUNS,
      mloop: { points: POINTS, ...mloopResult },
      mlflow: mlflowResult && { points: MLFLOW_POINTS, ...mlflowResult },
      ratio: mlflowResult && Math.round((mloopResult.medianPointsPerSecond / mlflowResult.medianPointsPerSecond) * 10) / 10,
      cpuRatio: mlflowResult && Math.round((mlflowResult.medianServerCpuUsPerPoint / mloopResult.medianServerCpuUsPerPoint) * 10) / 10,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    for (const t of targets) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!);
else
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
