// Which proxy library the gateway uses: the same trivial upstream behind each candidate, the same keep-alive
// load (CONCURRENCY clients, DURATION_MS each), requests/s and latency percentiles. Run:
//   node bench/gateway/proxyChoice.mjs [node_modules dir holding http-proxy-3 and undici]
// Each proxy runs in its own process (as the gateway does); the load generator in this one.
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const DURATION_MS = Number(process.env.DURATION_MS ?? 3000);
const modules = process.argv[2] ?? new URL('../../node_modules', import.meta.url).pathname;
const role = process.env.BENCH_ROLE;

if (role) {
  const require = createRequire(`${modules}/`);
  const http = await import('node:http');
  const upstream = Number(process.env.UPSTREAM);
  let server;
  if (role === 'upstream') {
    const body = JSON.stringify({ predictions: ['sun'], version: 1 });
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body));
    });
  } else if (role === 'http-proxy-3') {
    const { createProxyServer } = require('http-proxy-3');
    const proxy = createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent: new http.Agent({ keepAlive: true, maxSockets: 256 }) });
    server = http.createServer((req, res) => proxy.web(req, res, {}, () => res.writeHead(502).end()));
  } else if (role === 'undici') {
    const { Pool } = require('undici');
    const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 256 });
    server = http.createServer((req, res) => {
      const headers = { ...req.headers };
      delete headers.connection;
      delete headers['keep-alive'];
      pool.stream({ path: req.url, method: req.method, headers, body: req }, ({ statusCode, headers: h }) => {
        res.writeHead(statusCode, h);
        return res;
      }).catch(() => res.headersSent ? res.destroy() : res.writeHead(502).end());
    });
  } else if (role === 'node-http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    server = http.createServer((req, res) => {
      const out = http.request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers, agent }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.writeHead(502).end());
      req.pipe(out);
    });
  }
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  const start = (name, env = {}) =>
    new Promise((done) => {
      const child = fork(new URL(import.meta.url).pathname, [modules], { env: { ...process.env, BENCH_ROLE: name, ...env } });
      child.once('message', (port) => done({ child, port }));
    });
  const load = async (port) => {
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const body = JSON.stringify({ rows: [{ a: 1 }] });
    const latencies = [];
    let failed = 0;
    const until = Date.now() + DURATION_MS;
    const one = () =>
      new Promise((done) => {
        const t0 = process.hrtime.bigint();
        const req = request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failed++;
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            done();
          });
        });
        req.on('error', () => (failed++, done()));
        req.end(body);
      });
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (Date.now() < until) await one(); }));
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
    return { rps: Math.round(latencies.length / (DURATION_MS / 1000)), p50: q(0.5), p99: q(0.99), failed };
  };
  const upstream = await start('upstream');
  const rows = [];
  for (const name of ['direct', 'node-http', 'http-proxy-3', 'undici', 'node-http', 'http-proxy-3', 'undici']) {
    const proxy = name === 'direct' ? undefined : await start(name, { UPSTREAM: String(upstream.port) });
    await load(proxy?.port ?? upstream.port); // warm-up
    rows.push({ name, ...(await load(proxy?.port ?? upstream.port)) });
    proxy?.child.kill();
  }
  upstream.child.kill();
  console.log(`concurrency ${CONCURRENCY}, ${DURATION_MS} ms per run, node ${process.version}`);
  console.table(rows);
}
