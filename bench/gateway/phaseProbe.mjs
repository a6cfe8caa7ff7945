// Where each request's time goes at 1,000 requests/s, phase by phase, for the direct call, the gateway and nginx in the
// same interleaved cycles (issue 18's added p99; diagnosis, not the verdict: addedLatency.mjs decides). Every request
// carries a unique x-probe header; the gateway and the upstream load phaseHooks.mjs and gcProbe.mjs (node --import), so
// each request is followed through
//   late   its due time -> the client starts it (the client's timer),     client  -> handed to the kernel,
//   in     -> the next process has parsed its head (the gateway, or the upstream for direct and nginx: nginx's own time is
//             inside in and out),
//   gateway only: read (its body read), route (-> its head written to the version's socket), toUp (-> the upstream has
//             parsed it), back (the upstream's answer -> parsed by the gateway), answer (-> handed to the kernel),
//   up     the upstream's own time,   out   -> the client has the whole answer,
// all on one clock (epoch ms). For the slowest 1 % from the send (the goal's tail without the client's timer) it prints
// each phase's share of their excess over the median request, what they overlapped (the gateway's GC pauses, serving-log
// writes, new connections; the upstream's GC pauses) against the share of all requests that overlapped the same, and the
// CPU each process spent by thread kind (main thread, V8's GC/compiler workers, libuv's pool) per request.
// Run: bash scripts/with-node.sh node bench/gateway/phaseProbe.mjs   (CYCLES=6 BLOCK_SECONDS=2 RATE=1000 RT=1 NGINX=0
//      GATEWAY_JS=… another build; NODE_ARGS="…" node flags for the gateway; DUMP=file.json keeps every request)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, openLoop, processesOf, quantile, rerunUnderRealTime, startGateway, startNginx, startUpstream, stopAll, watchdog } from './common.mjs';

const CYCLES = Number(process.env.CYCLES ?? 6);
const BLOCK_SECONDS = Number(process.env.BLOCK_SECONDS ?? 2);
const RATE = Number(process.env.RATE ?? 1000);
const root = new URL('../..', import.meta.url).pathname;
rerunUnderRealTime(import.meta.url);

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/** CPU seconds of each thread kind of the given processes, from each thread's schedstat (ns on a CPU). */
function threadCpu(pids) {
  const kinds = {};
  for (const pid of pids) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {}
    for (const tid of tids) {
      try {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const kind = comm.startsWith('V8Worker') ? 'v8 workers' : comm.startsWith('libuv-worker') ? 'libuv pool' : tid === String(pid) ? 'main' : 'other threads';
        kinds[kind] = (kinds[kind] ?? 0) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      } catch {}
    }
  }
  return kinds;
}

/** Per request of `name`, its phases (ms), or undefined when a process's times are missing. */
function phasesOf(name, row, upstream, gateway) {
  const u = upstream.served.get(row.id);
  if (!u || row.writtenAt === undefined) return undefined;
  const base = { late: row.sentAt - row.due, client: row.writtenAt - row.sentAt };
  if (name !== 'gateway') return { ...base, in: u.s - row.writtenAt, up: u.f - u.s, out: row.end - u.f };
  const g = gateway.served.get(row.id);
  const x = gateway.forwarded.get(row.id);
  if (!g || !x || x.w === undefined || x.h === undefined || g.e === undefined || g.f === undefined) return undefined;
  return { ...base, in: g.s - row.writtenAt, read: g.e - g.s, route: x.w - g.e, toUp: u.s - x.w, up: u.f - u.s, back: x.h - u.f, answer: g.f - x.h, out: row.end - g.f };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-phase-'));
  const stops = [];
  try {
    const probeDir = join(dir, 'probe');
    const phaseDir = join(dir, 'phase');
    mkdirSync(probeDir);
    mkdirSync(phaseDir);
    process.env.MLOOP_PROBE_DIR = probeDir;
    process.env.MLOOP_PHASE_DIR = phaseDir;
    const hooks = ['--import', new URL('./gcProbe.mjs', import.meta.url).pathname, '--import', new URL('./phaseHooks.mjs', import.meta.url).pathname];
    const upstream = await startUpstream({ nodeArgs: hooks });
    stops.push(upstream.stop);
    const gateway = await startGateway(dir, upstream.port, {
      script: process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'),
      name: 'gw',
      nodeArgs: [...hooks, ...(process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [])],
    });
    stops.push(gateway.stop);
    const targets = { direct: upstream.port, gateway: gateway.port };
    let nginx;
    if (process.env.NGINX !== '0') {
      nginx = await startNginx(dir, upstream.port, 1);
      stops.push(nginx.stop);
      targets.nginx = nginx.port;
    }
    const names = Object.keys(targets);
    const agents = Object.fromEntries(names.map((n) => [n, new Agent({ keepAlive: true, maxSockets: 64 })]));
    for (const name of names) await openLoop(targets[name], 1, { rate: RATE, agent: agents[name] }); // warm-up (JIT, pools)
    const processes = { client: [process.pid], upstream: [upstream.child.pid], gateway: processesOf(gateway.child.pid), ...(nginx ? { nginx: processesOf(nginx.child.pid) } : {}) };
    const cpuBefore = Object.fromEntries(Object.entries(processes).map(([k, pids]) => [k, threadCpu(pids)]));
    const origin = performance.timeOrigin;
    const rows = Object.fromEntries(names.map((n) => [n, []]));
    const loads = [];
    const guard = watchdog(stops, dir);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const order = [...names.slice(cycle % names.length), ...names.slice(0, cycle % names.length)];
      for (const name of order) {
        const onAnswer = ({ due, sentAt, endedAt, response, id, writtenAt }) => {
          if (response) rows[name].push({ id, due: origin + due, sentAt: origin + sentAt, writtenAt: writtenAt === undefined ? undefined : origin + writtenAt, end: origin + endedAt });
        };
        await openLoop(targets[name], BLOCK_SECONDS, { rate: RATE, agent: agents[name], onAnswer, probe: true });
        guard.alive();
      }
      loads.push(loadavg()[0]);
    }
    guard.stop();
    const cpuAfter = Object.fromEntries(Object.entries(processes).map(([k, pids]) => [k, threadCpu(pids)]));
    for (const a of Object.values(agents)) a.destroy();
    // the hooks write their files when the processes exit
    for (const stop of stops.splice(0)) stop();
    for (let i = 0; i < 100 && (readdirSync(phaseDir).length < 2 || readdirSync(probeDir).length < 2); i++) await new Promise((r) => setTimeout(r, 100));
    const read = (folder, pid) => JSON.parse(readFileSync(join(folder, `${pid}.json`), 'utf8'));
    const side = (pid) => {
      const phases = read(phaseDir, pid);
      const probe = read(probeDir, pid);
      return { ...probe, writes: phases.writes, served: new Map(phases.served.map((r) => [r.p, r])), forwarded: new Map(phases.forwarded.map((r) => [r.p, r])) };
    };
    const up = side(upstream.child.pid);
    const gw = side(gateway.child.pid);

    console.log(`${CYCLES} cycles of ${BLOCK_SECONDS} s blocks at ${RATE}/s, ${process.env.MLOOP_BENCH_RT ? 'real-time priority (RT=1)' : 'normal priority'}; load ${loads.map((l) => l.toFixed(1)).join(' ')}`);
    const overlaps = (intervals, a, b) => intervals.some(([s, d]) => s < b && s + d > a);
    const writeSpans = gw.writes.map(([s, e]) => [s, Math.max(e, s) - s]);
    // a connection accepted or opened within 1 ms before a request or during it
    const accepted = (gw.accepted ?? []).map((t) => [t - 1, 1]);
    const connected = (gw.connected ?? []).map((t) => [t - 1, 1]);
    for (const name of names) {
      const all = rows[name].map((r) => ({ r, p: phasesOf(name, r, up, gw) })).filter((x) => x.p);
      const total = (x) => x.r.end - x.r.sentAt;
      const p99 = quantile(all.map(total), 0.99);
      const slow = all.filter((x) => total(x) >= p99);
      const keys = Object.keys(all[0].p);
      const excessTotal = slow.reduce((s, x) => s + total(x), 0) - slow.length * median(all.map(total));
      console.log(
        `\n${name}: ${all.length} requests joined of ${rows[name].length}; from the send p50 ${fmt(quantile(all.map(total), 0.5))} p99 ${fmt(p99)} ms; from due p99 ${fmt(quantile(all.map((x) => x.r.end - x.r.due), 0.99))} ms`,
      );
      console.log(`  phase     all p50   all p99 | slowest 1 %: p50   share of their excess over the median`);
      for (const k of keys) {
        const v = all.map((x) => x.p[k]);
        const m = median(v);
        const excess = slow.reduce((s, x) => s + x.p[k] - m, 0);
        const share = k === 'late' ? '(before the send)' : `${((100 * excess) / excessTotal).toFixed(0)} %`;
        console.log(`  ${k.padEnd(8)} ${fmt(m).padStart(7)}   ${fmt(quantile(v, 0.99)).padStart(7)} | ${fmt(median(slow.map((x) => x.p[k]))).padStart(7)}   ${share}`);
      }
      const count = (set, test, shift = 0) => set.filter((x) => test(x.r.sentAt + shift, x.r.end + shift)).length;
      // a placebo: the same slow windows moved 37 ms later (same lengths, same block, other events): a slow request is
      // slow because of what it overlaps only when it overlaps it more often than its moved window does
      const said = (set, test) => `${count(set, test)} of ${set.length} (moved 37 ms: ${count(set, test, 37)}; all requests ${((100 * count(all, test)) / all.length).toFixed(2)} %)`;
      const upGc = (a, b) => overlaps(up.gcs, a, b);
      const parts = [`upstream GC pause ${said(slow, upGc)}`];
      if (name === 'gateway') {
        const tests = { 'gateway GC pause': (a, b) => overlaps(gw.gcs, a, b), 'serving-log write': (a, b) => overlaps(writeSpans, a, b),
          'connection accepted from the client': (a, b) => overlaps(accepted, a, b),
          'connection opened to the version': (a, b) => overlaps(connected, a, b),
        };
        for (const [label, test] of Object.entries(tests)) parts.unshift(`${label} ${said(slow, test)}`);
      }
      console.log(`  the slowest 1 % overlapping:\n    ${parts.join('\n    ')}`);
    }
    const minor = gw.gcs.filter((g) => g[2] === 'minor').map((g) => g[1]);
    console.log(`\ngateway: ${minor.length} scavenges (median ${fmt(median(minor))} ms, max ${fmt(Math.max(...minor))} ms), ${gw.writes.length} serving-log writes, ${(gw.accepted ?? []).length} connections accepted, ${(gw.connected ?? []).length} opened`);
    const served = { client: names.length * CYCLES * BLOCK_SECONDS * RATE, upstream: names.length * CYCLES * BLOCK_SECONDS * RATE, gateway: CYCLES * BLOCK_SECONDS * RATE, nginx: CYCLES * BLOCK_SECONDS * RATE };
    for (const [k, after] of Object.entries(cpuAfter)) {
      const kinds = Object.entries(after).map(([kind, s]) => [kind, ((s - (cpuBefore[k][kind] ?? 0)) * 1e6) / served[k]]);
      console.log(`CPU per request, ${k} (${served[k]} requests): ${kinds.map(([kind, us]) => `${kind} ${us.toFixed(1)} µs`).join(', ')}`);
    }
    if (process.env.DUMP) writeFileSync(process.env.DUMP, JSON.stringify({ rows, up: { ...up, served: [...up.served.values()] }, gw: { ...gw, served: [...gw.served.values()], forwarded: [...gw.forwarded.values()] } }));
  } finally {
    stopAll(stops, dir);
  }
}

await main();
