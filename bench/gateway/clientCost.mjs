// Where the gateway's CPU per request goes, by subtraction (issue 18's throughput goal): the same trivial upstream
// behind minimal proxies that each add one part of the gateway's work, one process each, under the same wrk load,
// run in alternation (PAIRS rounds, the order reversing each round), CPU per request from /proc of each process:
//   server   node:http server that reads the body and answers itself (no forwarding): Node's server side alone
//   undici   + forwarding with an undici Pool.dispatch handler, answer held and written with its head in one write
//            (what the gateway's Forward does, without routing, request ids or the serving log)
//   agent    the same forwarding with node:http's client and a keep-alive http.Agent (the alternative to undici)
//   gateway  dist/gateway.js, one process (routing, request ids, serving log)
//   nginx    nginx 1 worker, the peer (common.mjs's configuration: keep-alive upstream, access log)
// Run: bash scripts/with-node.sh node bench/gateway/clientCost.mjs      (PAIRS=6 WRK_SECONDS=2; ONLY=server,undici,…)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { body, cpuSeconds, median, startGateway, startNginx, startUpstream, waitListening } from './common.mjs';

const PAIRS = Number(process.env.PAIRS ?? 6);
const WRK_SECONDS = Number(process.env.WRK_SECONDS ?? 2);
const root = new URL('../..', import.meta.url).pathname;
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

function readBody(req) {
  return new Promise((done) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => done(chunks.length === 0 ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
  });
}

function endToEnd(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}

if (process.env.BENCH_ROLE) {
  const upstream = Number(process.env.UPSTREAM);
  let handle;
  if (process.env.BENCH_ROLE === 'server') {
    const answer = JSON.stringify({ predictions: ['sun'], version: 1 });
    handle = async (req, res) => {
      await readBody(req);
      res.writeHead(200, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(answer))]).end(answer);
    };
  } else if (process.env.BENCH_ROLE === 'undici') {
    const { Pool } = createRequire(join(root, 'package.json'))('undici');
    const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 128 });
    handle = async (req, res) => {
      const payload = await readBody(req);
      let status = 0;
      let head = [];
      const chunks = [];
      pool.dispatch(
        { path: req.url, method: req.method, headers: endToEnd(req.rawHeaders), body: payload },
        {
          onConnect() {},
          onHeaders(code, raw) {
            status = code;
            head = endToEnd(raw.map((b) => b.toString('latin1')));
            return true;
          },
          onData(chunk) {
            chunks.push(chunk);
            return true;
          },
          onComplete() {
            const answer = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            res.writeHead(status, [...head, 'content-length', String(answer.length)]).end(answer);
          },
          onError() {
            res.writeHead(502).end();
          },
        },
      );
    };
  } else if (process.env.BENCH_ROLE === 'agent') {
    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    handle = async (req, res) => {
      const payload = await readBody(req);
      // (a raw header list gets no Host of node's own)
      const headers = [...endToEnd(req.rawHeaders), 'host', `127.0.0.1:${upstream}`];
      const out = request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers, agent }, (answer) => {
        const chunks = [];
        answer.on('data', (c) => chunks.push(c));
        answer.on('end', () => {
          const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          res.writeHead(answer.statusCode, [...endToEnd(answer.rawHeaders), 'content-length', String(all.length)]).end(all);
        });
      });
      out.on('error', () => res.writeHead(502).end());
      out.end(payload);
    };
  }
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5000;
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

async function startRole(role, upstreamPort) {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname], {
    env: { ...process.env, BENCH_ROLE: role, UPSTREAM: String(upstreamPort) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const port = await new Promise((done) => child.once('message', done));
  await waitListening(port);
  return { child, port, stop: () => process.kill(-child.pid, 'SIGTERM') };
}

function wrk(dir, port, seconds) {
  const script = join(dir, 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const out = spawnSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/predict`], { encoding: 'utf8' });
  if (out.status !== 0 || /Non-2xx|Socket errors/.test(out.stdout)) throw new Error(`wrk on ${port}: ${out.stdout}${out.stderr}`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)[1]), requests: Number(/(\d+) requests in/.exec(out.stdout)[1]) };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-cost-'));
  const upstream = await startUpstream();
  const contestants = {};
  const wanted = (process.env.ONLY ?? 'server,undici,agent,gateway,nginx').split(',');
  try {
    for (const name of wanted) {
      if (name === 'gateway') contestants[name] = await startGateway(dir, upstream.port, { script: process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js') });
      else if (name === 'nginx') contestants[name] = await startNginx(dir, upstream.port, 1);
      else contestants[name] = await startRole(name, upstream.port);
    }
    const names = Object.keys(contestants);
    const results = Object.fromEntries(names.map((n) => [n, { rps: [], cpu: [] }]));
    for (const n of names) wrk(dir, contestants[n].port, 1); // warm-up
    const loads = [];
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const n of pair % 2 ? [...names].reverse() : names) {
        const pg = contestants[n].child.pid;
        const cpu0 = cpuSeconds(pg);
        const { rps, requests } = wrk(dir, contestants[n].port, WRK_SECONDS);
        results[n].rps.push(rps);
        results[n].cpu.push(((cpuSeconds(pg) - cpu0) / requests) * 1e6);
      }
      loads.push(loadavg()[0]);
      console.error(`round ${pair + 1}/${PAIRS}: ${names.map((n) => `${n} ${results[n].cpu.at(-1).toFixed(1)} µs`).join(', ')} · load ${loads.at(-1).toFixed(2)}`);
    }
    console.log(`node ${process.version}; ${PAIRS} rounds of wrk -t1 -c32 ${WRK_SECONDS}s each, alternating; load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`);
    const base = names.includes('gateway') ? 'gateway' : names[0];
    for (const n of names) {
      const ratio = results[n].cpu.map((c, i) => c / results[base].cpu[i]);
      console.log(
        `${n.padEnd(8)} CPU ${median(results[n].cpu).toFixed(1)} µs/request [${results[n].cpu.map((x) => x.toFixed(1)).join(', ')}], ${median(results[n].rps).toFixed(0)} req/s; / ${base} per round: median ${median(ratio).toFixed(2)}x [${ratio.map((x) => x.toFixed(2)).join(', ')}]`,
      );
    }
  } finally {
    for (const c of Object.values(contestants)) c.stop();
    upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
