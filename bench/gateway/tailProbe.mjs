// Where the gateway's added p99 at 1,000 requests/s comes from (issue 18): the same open loop as addedLatency.mjs
// (direct and the gateway in alternating blocks), with each request's absolute due time, send time and request id
// kept, then joined with
//   - the gateway's serving log (by request id): the time the gateway's own handler took (latency_ms),
//   - the gateway processes' garbage-collection pauses and event-loop delay (gcProbe.mjs, loaded with --import),
// and the slowest requests of each contestant grouped into episodes (slow requests less than GAP_MS apart): a few
// long stalls (GC, a descheduled process) look different from many slightly slow requests (a per-request cost).
// Diagnosis, not the verdict (addedLatency.mjs decides the goal). Needs dist/gateway.js.
// Run: bash scripts/with-node.sh node bench/gateway/tailProbe.mjs   (CYCLES=6 BLOCK_SECONDS=2 RATE=1000
//      GATEWAY_WORKERS=1 ELD=1 to sample event-loop delay too; GATEWAY_JS=… another build; NODE_ARGS="…" for the gateway;
//      RT=1 real-time priority for the client and every process, as addedLatency.mjs)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLoop, quantile, rerunUnderRealTime, startGateway, startUpstream, stopAll } from './common.mjs';

const CYCLES = Number(process.env.CYCLES ?? 6);
const BLOCK_SECONDS = Number(process.env.BLOCK_SECONDS ?? 2);
const RATE = Number(process.env.RATE ?? 1000);
const WORKERS = Number(process.env.GATEWAY_WORKERS ?? 1);
const GAP_MS = 5;
const root = new URL('../..', import.meta.url).pathname;
rerunUnderRealTime(import.meta.url);

/** common.mjs's open loop, keeping per request: due (epoch ms), send lateness, latency, the gateway's request id. */
async function probeLoop(port, seconds, agent) {
  const rows = [];
  const origin = performance.timeOrigin;
  const onAnswer = ({ due, sentAt, endedAt, response }) =>
    rows.push({
      due: origin + due,
      late: sentAt - due,
      latency: response ? endedAt - due : Number.NaN,
      id: response?.headers['x-request-id'],
      ok: response?.statusCode === 200,
    });
  await openLoop(port, seconds, { rate: RATE, agent, onAnswer });
  return rows;
}

/** Slow requests (latency > threshold) grouped into episodes: consecutive slow ones whose due times are < GAP_MS apart. */
function episodes(rows, threshold) {
  const slow = rows.filter((r) => r.latency > threshold).sort((a, b) => a.due - b.due);
  const out = [];
  for (const r of slow) {
    const last = out.at(-1);
    if (last && r.due - last.end < GAP_MS) {
      last.end = r.due;
      last.n++;
      last.max = Math.max(last.max, r.latency);
    } else out.push({ start: r.due, end: r.due, n: 1, max: r.latency });
  }
  return out;
}

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-tail-'));
  const probeDir = join(dir, 'probe');
  mkdirSync(probeDir);
  process.env.MLOOP_PROBE_DIR = probeDir;
  if (process.env.ELD === '1') process.env.MLOOP_PROBE_ELD = '1';
  const stops = [];
  try {
    const upstream = await startUpstream();
    stops.push(upstream.stop);
    const nodeArgs = ['--import', new URL('./gcProbe.mjs', import.meta.url).pathname, ...(process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [])];
    const gateway = await startGateway(dir, upstream.port, { script: process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'), name: 'gw', workers: WORKERS, nodeArgs });
    const targets = { direct: upstream.port, gateway: gateway.port };
    const names = Object.keys(targets);
    const agents = Object.fromEntries(names.map((n) => [n, new Agent({ keepAlive: true, maxSockets: 64 })]));
    for (const name of names) await openLoop(targets[name], 1, { rate: RATE, agent: agents[name] }); // warm-up (JIT, pools)
    const rows = { direct: [], gateway: [] };
    const loads = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const order = cycle % 2 ? [...names].reverse() : names;
      for (const name of order) rows[name].push(...(await probeLoop(targets[name], BLOCK_SECONDS, agents[name])));
      loads.push(loadavg()[0]);
    }
    for (const a of Object.values(agents)) a.destroy();
    gateway.stop();
    // the probe files are written when the gateway's processes exit
    const want = WORKERS;
    for (let i = 0; i < 100 && readdirSync(probeDir).length < want; i++) await new Promise((r) => setTimeout(r, 100));
    const probes = readdirSync(probeDir).map((f) => JSON.parse(readFileSync(join(probeDir, f), 'utf8')));
    const gcs = probes.flatMap((p) => p.gcs);
    const served = new Map();
    for (const line of readFileSync(gateway.servingLog, 'utf8').split('\n')) {
      if (!line) continue;
      const l = JSON.parse(line);
      served.set(l.request_id, l.latency_ms);
    }
    console.log(`${CYCLES} cycles of ${BLOCK_SECONDS} s blocks at ${RATE}/s; gateway ${WORKERS} process(es); load ${loads.map((l) => l.toFixed(2)).join(' ')}`);
    const p99 = {};
    for (const name of names) {
      const lat = rows[name].map((r) => r.latency);
      p99[name] = quantile(lat, 0.99);
      const late = rows[name].map((r) => r.late);
      // from the moment the client actually sent: the client's own timer lateness taken out (a diagnosis, not the goal's measure)
      const fromSend = rows[name].map((r) => r.latency - r.late);
      console.log(
        `${name.padEnd(7)} n ${lat.length} p50 ${fmt(quantile(lat, 0.5))} p90 ${fmt(quantile(lat, 0.9))} p99 ${fmt(p99[name])} p99.9 ${fmt(quantile(lat, 0.999))} ms; client send lateness p50 ${fmt(quantile(late, 0.5))} p99 ${fmt(quantile(late, 0.99))} ms; from the send p50 ${fmt(quantile(fromSend, 0.5))} p99 ${fmt(quantile(fromSend, 0.99))} ms`,
      );
    }
    console.log(`added p99 ${fmt(p99.gateway - p99.direct)} ms`);
    for (const name of names) {
      const eps = episodes(rows[name], p99.direct);
      const sizes = eps.map((e) => e.n).sort((a, b) => b - a);
      console.log(
        `${name}: ${eps.reduce((s, e) => s + e.n, 0)} requests above the direct p99 (${fmt(p99.direct)} ms) in ${eps.length} episodes; largest episodes ${sizes.slice(0, 8).join(', ')} requests; in episodes of >= 5: ${eps.filter((e) => e.n >= 5).reduce((s, e) => s + e.n, 0)}`,
      );
    }
    // the gateway's slow requests: its own handler time (serving log) and GC pauses overlapping them
    const slow = rows.gateway.filter((r) => r.latency > p99.direct);
    const handler = slow.map((r) => served.get(r.id)).filter((x) => x !== undefined);
    const all = rows.gateway.map((r) => served.get(r.id)).filter((x) => x !== undefined);
    console.log(
      `gateway handler time (serving log latency_ms): all p50 ${fmt(quantile(all, 0.5))} p99 ${fmt(quantile(all, 0.99))}; of the slow requests p50 ${fmt(quantile(handler, 0.5))} max ${fmt(Math.max(...handler))} ms (${handler.length} of ${slow.length} joined)`,
    );
    const overlaps = (r) => gcs.some(([s, d]) => s < r.due + r.latency && s + d > r.due);
    const during = (xs) => xs.filter(overlaps).length;
    const gcSum = (kind) => gcs.filter((g) => g[2] === kind);
    for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
      const g = gcSum(kind);
      if (g.length) console.log(`gateway GC ${kind}: ${g.length} pauses, median ${fmt(quantile(g.map((x) => x[1]), 0.5))} ms, max ${fmt(Math.max(...g.map((x) => x[1])))} ms`);
    }
    console.log(`slow gateway requests: client send lateness p50 ${fmt(quantile(slow.map((r) => r.late), 0.5))} ms (all gateway requests ${fmt(quantile(rows.gateway.map((r) => r.late), 0.5))} ms)`);
    console.log(`slow gateway requests overlapping a gateway GC pause: ${during(slow)} of ${slow.length}; of all gateway requests: ${during(rows.gateway)} of ${rows.gateway.length}`);
    const accepted = probes.flatMap((p) => p.accepted ?? []);
    const connected = probes.flatMap((p) => p.connected ?? []);
    const nearConnect = (r) => accepted.concat(connected).some((t) => t > r.due - 1 && t < r.due + r.latency);
    console.log(
      `gateway connections: ${accepted.length} accepted from the client, ${connected.length} opened to the version; slow gateway requests within one: ${slow.filter(nearConnect).length} of ${slow.length}`,
    );
    // the gateway's slowest 1 % from the send (the client's timer lateness out): the gateway's own tail, and what it met
    const fromSend = (r) => r.latency - r.late;
    const sendP99 = quantile(rows.gateway.map(fromSend), 0.99);
    const slowest = rows.gateway.filter((r) => fromSend(r) >= sendP99).sort((a, b) => a.due - b.due);
    const clusters = slowest.filter((r, i) => i === 0 || r.due - slowest[i - 1].due >= GAP_MS).length;
    const slowestHandler = slowest.map((r) => served.get(r.id)).filter((x) => x !== undefined);
    console.log(
      `gateway's slowest 1 % from the send (>= ${fmt(sendP99)} ms): ${slowest.length} requests in ${clusters} clusters; handler time p50 ${fmt(quantile(slowestHandler, 0.5))} ms; overlapping a GC pause ${slowest.filter(overlaps).length}; within a new connection ${slowest.filter(nearConnect).length}`,
    );
    if (process.env.DUMP) writeFileSync(process.env.DUMP, JSON.stringify({ rows, gcs, accepted, connected, served: [...served] }));
    for (const p of probes) if (p.loop) console.log(`event-loop delay pid ${p.pid}: p50 ${fmt(p.loop.p50)} p99 ${fmt(p.loop.p99)} p99.9 ${fmt(p.loop.p999)} max ${fmt(p.loop.max)} ms`);
  } finally {
    stopAll(stops, dir);
  }
}

await main();
