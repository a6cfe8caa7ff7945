// What the gateway benches share (nginxBench.mjs, addedLatency.mjs, clientCost.mjs): the trivial upstream, the
// open-loop client, nginx configured as the peer reverse proxy, and the small helpers around them. One place, so the
// contestants of every bench get the same client, the same upstream and the same nginx.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { join } from 'node:path';

/** The prediction request every bench sends: one row, as a client of serve.py would. */
export const body = JSON.stringify({ rows: [{ precipitation: 0, temp_max: 12.2, temp_min: 5.6, wind: 4.7 }] });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
const upstreamScript = new URL('./trivialUpstream.mjs', import.meta.url).pathname;

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The p-quantile of a list (nearest rank on the sorted copy). */
export function quantile(xs, p) {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

export function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/** One POST /predict; true when it was answered 200. */
export function post(port, agent) {
  return new Promise((done) => {
    const req = request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
    });
    req.on('error', () => done(false));
    req.end(body);
  });
}

export async function waitListening(port) {
  for (let i = 0; i < 200; i++) {
    if (await post(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers on port ${port}`);
}

/** The number of the latest request sent with an `x-probe` header (openLoop's `probe`; unique within the client process). */
let probed = 0;

/**
 * Open loop for `seconds`: a request due every 1000/rate ms whatever the answers do, on keep-alive sockets (the
 * given agent, kept by the caller across calls, or one of its own), latency (ms) counted from the time the request
 * was due, so a stall of the client or the proxy is not hidden by sending later. `onAnswer`, when given, sees each
 * request as it ends, for a bench that joins requests with something else (tailProbe.mjs: the serving log by request
 * id): `{ due, sentAt, endedAt, response }` in performance.now() ms, `response` undefined when the request failed.
 * `probe` (phaseProbe.mjs): each request carries a unique `x-probe` header, by which the servers' phase hooks key their
 * times, and `onAnswer` also gets its `id` and `writtenAt` (when the request was handed to the kernel).
 */
export async function openLoop(port, seconds, { rate = 1000, agent, onAnswer, probe = false } = {}) {
  const own = agent ? undefined : new Agent({ keepAlive: true, maxSockets: 64 });
  const via = agent ?? own;
  const latencies = [];
  // the same requests' latency from the moment the client actually sent them: the client's own timer lateness (libuv
  // timers have 1 ms steps) taken out; the server side's stalls still count (the loop never waits for an answer)
  const fromSend = [];
  let failed = 0;
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const t0 = performance.now();
  let sent = 0;
  await new Promise((finish) => {
    let answered = 0;
    const one = (due) => {
      const sentAt = performance.now();
      const id = probe ? `p${++probed}` : undefined;
      let writtenAt;
      const req = request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent: via, headers: probe ? { ...headers, 'x-probe': id } : headers }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) failed++;
          const now = performance.now();
          latencies.push(now - due);
          fromSend.push(now - sentAt);
          onAnswer?.({ due, sentAt, endedAt: now, response: res, id, writtenAt });
          if (++answered === total) finish();
        });
      });
      // (probe: when the request was handed to the kernel, so the hop to the server is told apart from the client's own delay)
      if (probe) req.once('finish', () => (writtenAt = performance.now()));
      req.on('error', () => {
        failed++;
        onAnswer?.({ due, sentAt, endedAt: performance.now(), id });
        if (++answered === total) finish();
      });
      req.end(body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) one(t0 + sent++ * interval);
      // a timer, not a spin: the client must not take a core from the proxy (late sends count as latency anyway)
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
    };
    tick();
  });
  own?.destroy();
  return { latencies, fromSend, failed, seconds: (performance.now() - t0) / 1000 };
}

/** The trivial upstream (trivialUpstream.mjs) in its own process group; resolves with its port. */
export async function startUpstream({ nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, upstreamScript], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  const port = await new Promise((done) => child.once('message', done));
  return { child, port, stop: () => process.kill(-child.pid, 'SIGTERM') };
}

/** dist/gateway.js (or `script`) as control.ts starts it: one route, its serving log under `dir/name`. */
export async function startGateway(dir, upstreamPort, { script, name = 'gateway', workers = 1, nodeArgs = [] }) {
  const port = await freePort();
  writeFileSync(join(dir, 'token'), 'bench-token\n', { mode: 0o600 });
  const args = {
    target: 'bench',
    port,
    token_path: join(dir, 'token'),
    serving_log: join(dir, name, 'serving.jsonl'),
    feedback_log: join(dir, name, 'feedback.jsonl'),
    table: { strategy: 'single', routes: [{ model_name: 'bench', version: 1, upstream_port: upstreamPort, weight: 100 }] },
    ...(workers > 1 ? { workers } : {}),
  };
  const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  await waitListening(port);
  return { child, port, servingLog: args.serving_log, stop: () => process.kill(-child.pid, 'SIGTERM') };
}

/**
 * nginx (the Debian package) as the peer reverse proxy doing the gateway's work: forward, keep upstream connections
 * (keepalive 128 per worker, HTTP/1.1), one access-log line per request with the serving log's fields (ts, request
 * id, the upstream that answered, latency, status), buffered as the gateway batches its own (64 KiB; nginx flushes
 * each second, the gateway after 20 ms), and an X-Request-Id to the version and back to the client.
 */
export async function startNginx(dir, upstreamPort, workers) {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const accessLog = join(dir, 'nginx-serving.jsonl');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes ${workers};
user root root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  log_format serving escape=json '{"ts":"$msec","request_id":"$request_id","upstream":"$upstream_addr","latency_s":"$request_time","status":$status}';
  access_log ${accessLog} serving buffer=64k flush=1s;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream version { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://version;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $request_id;
      add_header X-Request-Id $request_id;
      proxy_buffering on;
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  await waitListening(port);
  const version = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  // SIGQUIT: a graceful stop (the access log's buffer is written)
  return { child, port, version, accessLog, stop: () => process.kill(-child.pid, 'SIGQUIT') };
}

/** The live processes of a process group (a proxy's master and workers). */
export function processesOf(pgid) {
  const pids = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      if (Number(fields[2]) === pgid) pids.push(Number(pid));
    } catch {}
  }
  return pids;
}

/**
 * CPU seconds (user + system, all threads) of every process in a process group: the proxy's own cost, steadier than
 * req/s under load. Each thread's time on a CPU in nanoseconds (/proc/<pid>/task/<tid>/schedstat) where the kernel
 * gives it: /proc/<pid>/stat counts in 10 ms ticks, ~1.5 % of a 2 s block at 3,000 requests/s, as large as the
 * changes cpuAB.mjs is asked to judge. (A thread that has ended is not counted there: the proxies' threads live as
 * long as their process.)
 */
export function cpuSeconds(pgid) {
  let ticks = 0;
  let nanoseconds = 0;
  let precise = true;
  for (const pid of processesOf(pgid)) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      // after "pid (comm) ": state ppid pgrp … utime(12) stime(13)
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
    if (!precise) continue;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      precise = false;
    }
  }
  return precise ? nanoseconds / 1e9 : ticks / 100;
}

/** Lines of a log file (0 when it is not there). */
export function linesOf(path) {
  try {
    return readFileSync(path, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

/** Waits until `check()` is true (polling), at most `ms`. */
export async function until(check, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return check();
}

/**
 * RT=1: runs the calling bench again under SCHED_RR (every process it starts inherits the policy) and exits with its
 * status; returns at once when RT is not asked for, or inside that second run. Round-robin, not FIFO: under FIFO a
 * process that never blocks (a Node event loop with immediates pending polls without sleeping) keeps its core from
 * the bench's other processes of the same priority for good; one run of cpuAB.mjs at 6,000/s and load 28 (2026-12-06
 * 14:16 UTC) stalled that way for 10 minutes, client and gateway each at 93 % of a core, the upstream starved, every
 * other process on the machine waiting. RR hands the core on every 100 ms; `watchdog` below ends a bench that stalls.
 */
export function rerunUnderRealTime(moduleUrl) {
  if (process.env.RT !== '1' || process.env.MLOOP_BENCH_RT) return;
  const run = spawnSync('chrt', ['-r', '20', process.execPath, ...process.execArgv, new URL(moduleUrl).pathname], {
    stdio: 'inherit',
    env: { ...process.env, MLOOP_BENCH_RT: '1' },
  });
  if (run.error) throw new Error(`RT=1 needs chrt and root: ${run.error.message}`);
  process.exit(run.status ?? 1);
}

/**
 * Ends the bench (its contestants stopped, exit 3) when no block has finished for `ms`: a bench at real-time priority
 * that stops making progress must not hold the shared machine's cores. Call `alive()` after every block.
 */
export function watchdog(stops, dir, ms = 60_000) {
  let last = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - last < ms) return;
    console.error(`no block finished for ${ms / 1000} s: the bench stops (its contestants are stopped)`);
    stopAll(stops, dir);
    process.exit(3);
  }, 1000);
  timer.unref();
  return { alive: () => (last = Date.now()), stop: () => clearInterval(timer) };
}

/** Stops every started contestant (ignoring ones already gone) and removes the bench's folder. */
export function stopAll(stops, dir) {
  for (const stop of stops) {
    try {
      stop();
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}
