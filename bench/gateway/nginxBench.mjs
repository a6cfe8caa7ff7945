// The traffic gateway against nginx (the Debian package) as a reverse proxy, in front of the same trivial upstream,
// in the same run, interleaved (issue 18's speed goals):
//   (a) throughput: wrk, the same connections and threads for both, keep-alive; goal gateway >= 0.5x nginx
//   (b) added p99 at 1,000 requests/s: an open-loop client (a request every 1 ms on keep-alive sockets, latency
//       counted from the time the request was due, so a stall is not hidden), proxy p99 - direct p99; goal <= 1 ms
// Both proxies write one log line per request (the gateway its serving log, nginx an access log with the same
// fields), both keep idle connections to the upstream, both run as many processes: nginx worker_processes auto (one
// per core) and the gateway with as many workers (gateway_workers: auto); NGINX_WORKERS=1 compares one process each.
// A third contestant, gw1proc, is the gateway as one process (its default) in the same run.
// Needs: nginx and wrk on PATH (apt-get install -y nginx-light wrk; for the benchmark only), dist/gateway.js (build).
// Run: bash scripts/with-node.sh node bench/gateway/nginxBench.mjs            (ROUNDS=3 WRK_SECONDS=4 RATE_SECONDS=5)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WRK_SECONDS = Number(process.env.WRK_SECONDS ?? 4);
const RATE_SECONDS = Number(process.env.RATE_SECONDS ?? 5);
const RATE = Number(process.env.RATE ?? 1000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
// the same number of processes on both sides: nginx's worker_processes and the gateway's workers (gateway_workers)
const NGINX_WORKERS = process.env.NGINX_WORKERS ?? 'auto';
const WORKERS = Number(process.env.GATEWAY_WORKERS ?? (NGINX_WORKERS === 'auto' ? availableParallelism() : NGINX_WORKERS));
const root = new URL('../..', import.meta.url).pathname;
// the upstream child needs no folder of its own
const dir = process.env.BENCH_ROLE ? '' : mkdtempSync(join(tmpdir(), 'mloop-gw-bench-'));
const body = JSON.stringify({ rows: [{ precipitation: 0, temp_max: 12.2, temp_min: 5.6, wind: 4.7 }] });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (process.env.BENCH_ROLE === 'upstream') {
  // the trivial upstream: a fixed JSON answer, like serve.py's shape
  const answer = JSON.stringify({ predictions: ['sun'], version: 1 });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  await main();
}

/** CPU seconds (user + system, all threads) of every process in a process group: the proxy's own cost, steadier than req/s under load. */
function cpuSeconds(pgid) {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      // after "pid (comm) ": state ppid pgrp … utime(12) stime(13)
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / 100;
}

function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

async function waitListening(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((done) => {
      const req = request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
      });
      req.on('error', () => done(false));
      req.end(body);
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers on port ${port}`);
}

async function startUpstream() {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname], { env: { ...process.env, BENCH_ROLE: 'upstream' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  const port = await new Promise((done) => child.once('message', done));
  return { child, port };
}

async function startGateway(upstreamPort, script = process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'), name = 'bench', workers = WORKERS) {
  const port = await freePort();
  writeFileSync(join(dir, 'token'), 'bench-token\n', { mode: 0o600 });
  const args = {
    target: 'bench',
    port,
    token_path: join(dir, 'token'),
    serving_log: join(dir, name, 'serving.jsonl'),
    feedback_log: join(dir, name, 'feedback.jsonl'),
    table: { strategy: 'single', routes: [{ model_name: 'bench', version: 1, upstream_port: upstreamPort, weight: 100 }] },
  };
  if (workers > 1) args.workers = workers;
  const child = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  await waitListening(port);
  return { child, port, stop: () => process.kill(-child.pid, 'SIGTERM') };
}

async function startNginx(upstreamPort) {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  // the same work as the gateway: forward, keep upstream connections, one log line per request with the request id,
  // the upstream that answered, the latency and the status (buffered, as the gateway's stream is)
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes ${NGINX_WORKERS};
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
  access_log ${dir}/nginx-serving.jsonl serving buffer=64k flush=1s;
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
  return { child, port, stop: () => process.kill(-child.pid, 'SIGQUIT') };
}

function wrk(port) {
  const script = join(dir, 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const out = spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${WRK_SECONDS}s`, '--latency', '-s', script, `http://127.0.0.1:${port}/predict`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`wrk: ${out.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out.stdout)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out.stdout)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(out.stdout)?.[1];
  if (Number(errors) > 0 || socketErrors) throw new Error(`wrk saw failures on ${port}: ${errors} non-2xx, ${socketErrors ?? ''}`);
  return { rps, requests };
}

/** Open loop: a request due every 1000/RATE ms whatever the answers do; latency from the due time. */
async function openLoop(port, seconds) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies = [];
  let failed = 0;
  const total = Math.round(RATE * seconds);
  const interval = 1000 / RATE;
  const t0 = performance.now();
  let sent = 0;
  await new Promise((finish) => {
    let answered = 0;
    const one = (due) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failed++;
            latencies.push(performance.now() - due);
            if (++answered === total) finish();
          });
        },
      );
      req.on('error', () => {
        failed++;
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
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { p50: q(0.5), p99: q(0.99), failed, achieved: latencies.length / ((performance.now() - t0) / 1000) };
}

async function main() {
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const upstream = await startUpstream();
  const gateway = await startGateway(upstream.port);
  const nginx = await startNginx(upstream.port);
  const targets = { direct: upstream.port, gateway: gateway.port, nginx: nginx.port };
  const groups = { direct: upstream.child.pid, gateway: gateway.child.pid, nginx: nginx.child.pid };
  // COMPARE_GATEWAY=<an older dist/gateway.js>: that build as a fourth contestant (before/after a change)
  const older = process.env.COMPARE_GATEWAY ? await startGateway(upstream.port, process.env.COMPARE_GATEWAY, 'older') : undefined;
  if (older) {
    targets.older = older.port;
    groups.older = older.child.pid;
  }
  // the gateway as one process too (its default, gateway_workers unset): before/after of the workers in the same run
  const single = WORKERS > 1 && process.env.GATEWAY_SINGLE !== '0' ? await startGateway(upstream.port, undefined, 'single', 1) : undefined;
  if (single) {
    targets.gw1proc = single.port;
    groups.gw1proc = single.child.pid;
  }
  const rows = [];
  try {
    // warm-up of each path (JIT, connection pools)
    for (const port of Object.values(targets)) await openLoop(port, 1);
    for (let round = 1; round <= ROUNDS; round++) {
      // interleaved, the order rotating each round
      const names = Object.keys(targets);
      const order = [...names.slice((round - 1) % names.length), ...names.slice(0, (round - 1) % names.length)];
      for (const name of order) {
        const load = loadavg()[0];
        const cpu0 = cpuSeconds(groups[name]);
        // ONLY_RATE=1: the fixed-rate half alone (CPU per request and latency at RATE/s)
        const { rps, requests } = process.env.ONLY_RATE ? { rps: 0, requests: 1 } : wrk(targets[name]);
        const cpuUs = ((cpuSeconds(groups[name]) - cpu0) / requests) * 1e6;
        const cpu1 = cpuSeconds(groups[name]);
        const latency = await openLoop(targets[name], RATE_SECONDS);
        const cpuAtRateUs = ((cpuSeconds(groups[name]) - cpu1) / (RATE * RATE_SECONDS)) * 1e6;
        rows.push({ round, name, rps, cpuUs, cpuAtRateUs, ...latency, load });
        console.error(
          `round ${round} ${name.padEnd(7)} ${rps.toFixed(0).padStart(6)} req/s (wrk), ${cpuUs.toFixed(0)} µs CPU/request · at ${RATE}/s (${cpuAtRateUs.toFixed(0)} µs CPU/request): p50 ${latency.p50.toFixed(2)} ms p99 ${latency.p99.toFixed(2)} ms, ${latency.failed} failed · load ${load.toFixed(2)}`,
        );
      }
    }
  } finally {
    gateway.stop();
    older?.stop();
    single?.stop();
    nginx.stop();
    upstream.child.kill();
  }
  const of = (name, key) => rows.filter((r) => r.name === name).map((r) => r[key]);
  const perRound = (fn) => Array.from({ length: ROUNDS }, (_, i) => fn(rows.filter((r) => r.round === i + 1)));
  const by = (rs, name) => rs.find((r) => r.name === name);
  const ratio = perRound((rs) => by(rs, 'gateway').rps / by(rs, 'nginx').rps);
  const addedGateway = perRound((rs) => by(rs, 'gateway').p99 - by(rs, 'direct').p99);
  const addedNginx = perRound((rs) => by(rs, 'nginx').p99 - by(rs, 'direct').p99);
  const loads = rows.map((r) => r.load);
  const logged = readFileSync(join(dir, 'bench', 'serving.jsonl'), 'utf8').split('\n').length - 1;
  console.log(`node ${process.version}, ${nginxVersion}, ${wrkVersion}, ${cpus().length} cores (${cpus()[0].model})`);
  console.log(`processes: nginx worker_processes ${NGINX_WORKERS}, gateway workers ${WORKERS}${single ? ', gw1proc 1' : ''}`);
  console.log(`${ROUNDS} rounds; wrk -t1 -c${CONNECTIONS} ${WRK_SECONDS}s; open loop ${RATE}/s for ${RATE_SECONDS}s; load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`);
  for (const name of Object.keys(targets))
    console.log(
      `${name.padEnd(7)} throughput median ${median(of(name, 'rps')).toFixed(0)} req/s [${of(name, 'rps').map((x) => x.toFixed(0)).join(', ')}], CPU ${median(of(name, 'cpuUs')).toFixed(0)} µs/request [${of(name, 'cpuUs').map((x) => x.toFixed(0)).join(', ')}] · at ${RATE}/s CPU ${median(of(name, 'cpuAtRateUs')).toFixed(0)} µs/request [${of(name, 'cpuAtRateUs').map((x) => x.toFixed(0)).join(', ')}], at ${RATE}/s p50 ${median(of(name, 'p50')).toFixed(2)} ms, p99 ${median(of(name, 'p99')).toFixed(2)} ms [${of(name, 'p99').map((x) => x.toFixed(2)).join(', ')}], failed ${of(name, 'failed').reduce((a, b) => a + b, 0)}`,
    );
  const cpuRatio = perRound((rs) => by(rs, 'nginx').cpuUs / by(rs, 'gateway').cpuUs);
  console.log(`nginx / gateway CPU per request (the throughput ratio on cores of their own): median ${median(cpuRatio).toFixed(2)}x [${cpuRatio.map((x) => x.toFixed(2)).join(', ')}]`);
  console.log(`gateway / nginx throughput: median ${median(ratio).toFixed(2)}x [${ratio.map((x) => x.toFixed(2)).join(', ')}] (goal >= 0.5x)`);
  if (single) {
    const one = perRound((rs) => by(rs, 'gw1proc').rps / by(rs, 'nginx').rps);
    const gain = perRound((rs) => by(rs, 'gateway').rps / by(rs, 'gw1proc').rps);
    console.log(`gw1proc (the gateway as one process) / nginx throughput: median ${median(one).toFixed(2)}x [${one.map((x) => x.toFixed(2)).join(', ')}]`);
    console.log(`gateway (${WORKERS} processes) / gw1proc throughput: median ${median(gain).toFixed(2)}x [${gain.map((x) => x.toFixed(2)).join(', ')}]`);
  }
  console.log(`added p99 at ${RATE}/s: gateway ${median(addedGateway).toFixed(2)} ms [${addedGateway.map((x) => x.toFixed(2)).join(', ')}] (goal <= 1 ms), nginx ${median(addedNginx).toFixed(2)} ms [${addedNginx.map((x) => x.toFixed(2)).join(', ')}]`);
  console.log(`gateway serving log: ${logged} lines`);
  rmSync(dir, { recursive: true, force: true });
}
