// A/B of two gateway builds (or node flags) on CPU per request, paired and interleaved (issue 18's throughput goal):
// the same trivial upstream, gateway A and gateway B (one process each), an open loop at RATE requests/s to one, then
// the other, PAIRS times, the order reversing each pair; CPU per request of each gateway's process group from /proc.
// At a fixed rate below saturation, not under wrk: a saturating client on the 2 shared cores measures how much of a
// core the gateway got, and under the other helpers' load that spread (0.6–1.3× between pairs) hid any change. The
// CPU per request is what sets the throughput at saturation. RT=1 runs everything at real-time priority (chrt -r 20,
// root; it uses well under a core at the default rate: keep RATE there, since real-time processes that need both cores
// take them from everything else), as addedLatency.mjs does.
// Run: GATEWAY_B_JS=/path/to/other/gateway.js bash scripts/with-node.sh node bench/gateway/cpuAB.mjs
//      (or NODE_ARGS_B="--flag"; GATEWAY_JS for A, default dist/gateway.js; PAIRS=10 BLOCK_SECONDS=2 RATE=3000 RT=1
//      WARM_SECONDS=2: each side's warm-up before the pairs)
// PROBE=1 also loads gcProbe.mjs into both gateways and the upstream and prints, over the blocks only, each side's
// scavenges and the connections it accepted per 10,000 requests, and the upstream's CPU per request (a node:http
// server answering itself: the floor under a proxy built on one). GAP_SECONDS=s waits s after every block, so each
// side's keep-alive connections idle BLOCK_SECONDS + 2s between its blocks (addedLatency.mjs's three or four
// contestants leave them idle 4–6 s: GAP_SECONDS=1 or 2).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, median, openLoop, quantile, rerunUnderRealTime, startGateway, startUpstream, stopAll, watchdog } from './common.mjs';

const PAIRS = Number(process.env.PAIRS ?? 10);
const BLOCK_SECONDS = Number(process.env.BLOCK_SECONDS ?? 2);
const RATE = Number(process.env.RATE ?? 3000);
const BOOTSTRAP = 2000;
const PROBE = process.env.PROBE === '1';
const GAP_SECONDS = Number(process.env.GAP_SECONDS ?? 0);
// V8 keeps compiling the gateway's hot path for ~12 s after its start (gateway23): WARM_SECONDS=15 compares steady states
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 2);
const probeArgs = PROBE ? ['--import', new URL('./gcProbe.mjs', import.meta.url).pathname] : [];
const root = new URL('../..', import.meta.url).pathname;

rerunUnderRealTime(import.meta.url);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-cpuab-'));
  // gcProbe.mjs writes each probed process's pauses and accepts here when it exits
  if (PROBE) process.env.MLOOP_PROBE_DIR = dir;
  const stops = [];
  try {
    const upstream = await startUpstream({ nodeArgs: probeArgs });
    stops.push(upstream.stop);
    const a = await startGateway(dir, upstream.port, { script: process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'), name: 'A', nodeArgs: probeArgs });
    stops.push(a.stop);
    const b = await startGateway(dir, upstream.port, {
      script: process.env.GATEWAY_B_JS ?? process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'),
      name: 'B',
      nodeArgs: [...probeArgs, ...(process.env.NODE_ARGS_B ? process.env.NODE_ARGS_B.split(' ') : [])],
    });
    stops.push(b.stop);
    const sides = { A: a, B: b };
    const guard = watchdog(stops, dir);
    const agents = { A: new Agent({ keepAlive: true, maxSockets: 64 }), B: new Agent({ keepAlive: true, maxSockets: 64 }) };
    for (const s of ['A', 'B']) await openLoop(sides[s].port, WARM_SECONDS, { rate: RATE, agent: agents[s] }); // warm-up (JIT)
    const cpu = { A: [], B: [] };
    const loads = [];
    const failed = { A: 0, B: 0 };
    // each side's blocks (epoch ms) and requests, for the probe's counts; the upstream's CPU over all blocks
    const windows = { A: [], B: [] };
    const requests = { A: 0, B: 0 };
    let upstreamCpu = 0;
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const s of pair % 2 ? ['B', 'A'] : ['A', 'B']) {
        const pg = sides[s].child.pid;
        const before = cpuSeconds(pg);
        const upBefore = cpuSeconds(upstream.child.pid);
        const from = Date.now();
        const r = await openLoop(sides[s].port, BLOCK_SECONDS, { rate: RATE, agent: agents[s] });
        windows[s].push([from, Date.now()]);
        requests[s] += r.latencies.length;
        upstreamCpu += cpuSeconds(upstream.child.pid) - upBefore;
        failed[s] += r.failed;
        guard.alive();
        cpu[s].push(((cpuSeconds(pg) - before) / r.latencies.length) * 1e6);
        if (GAP_SECONDS > 0) await new Promise((done) => setTimeout(done, GAP_SECONDS * 1000));
      }
      loads.push(loadavg()[0]);
      console.error(`pair ${pair + 1}/${PAIRS}: A ${cpu.A.at(-1).toFixed(1)} µs, B ${cpu.B.at(-1).toFixed(1)} µs · load ${loads.at(-1).toFixed(2)}`);
    }
    guard.stop();
    for (const agent of Object.values(agents)) agent.destroy();
    const ratios = cpu.B.map((x, i) => x / cpu.A[i]);
    const boot = [];
    for (let i = 0; i < BOOTSTRAP; i++) boot.push(median(Array.from({ length: PAIRS }, () => ratios[Math.floor(Math.random() * PAIRS)])));
    console.log(
      `${PAIRS} pairs of ${BLOCK_SECONDS} s at ${RATE}/s, alternating; ${process.env.MLOOP_BENCH_RT ? 'real-time priority (RT=1)' : 'normal priority'}; load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}; failed requests A ${failed.A}, B ${failed.B}`,
    );
    console.log(`A ${process.env.GATEWAY_JS ?? 'dist/gateway.js'}: CPU ${median(cpu.A).toFixed(1)} µs/request [${cpu.A.map((x) => x.toFixed(1)).join(', ')}]`);
    console.log(
      `B ${process.env.GATEWAY_B_JS ?? process.env.GATEWAY_JS ?? 'dist/gateway.js'}${process.env.NODE_ARGS_B ? ` ${process.env.NODE_ARGS_B}` : ''}: CPU ${median(cpu.B).toFixed(1)} µs/request [${cpu.B.map((x) => x.toFixed(1)).join(', ')}]`,
    );
    console.log(
      `B / A per pair: median ${median(ratios).toFixed(3)} [${ratios.map((x) => x.toFixed(2)).join(', ')}], 95% interval of the median [${quantile(boot, 0.025).toFixed(3)}, ${quantile(boot, 0.975).toFixed(3)}] (pair bootstrap); B lower in ${ratios.filter((r) => r < 1).length} of ${PAIRS}`,
    );
    if (PROBE) {
      for (const stop of stops) stop();
      await new Promise((done) => setTimeout(done, 1500));
      printProbe({ dir, pids: { A: a.child.pid, B: b.child.pid, upstream: upstream.child.pid }, windows, requests });
      console.log(`upstream (node:http answering itself): CPU ${((upstreamCpu / (requests.A + requests.B)) * 1e6).toFixed(1)} µs/request over both sides' blocks`);
    }
  } finally {
    stopAll(stops, dir);
  }
}

/** Scavenges and accepted connections inside each side's blocks, per 10,000 of its requests (gcProbe.mjs's records). */
function printProbe({ dir, pids, windows, requests }) {
  const record = (pid) => {
    const file = readdirSync(dir).find((f) => f === `${pid}.json`);
    return file ? JSON.parse(readFileSync(join(dir, file), 'utf8')) : undefined;
  };
  const inside = (t, spans) => spans.some(([from, to]) => t >= from && t <= to);
  const up = record(pids.upstream);
  for (const s of ['A', 'B']) {
    const own = record(pids[s]);
    if (!own) {
      console.log(`${s}: no probe record (gcProbe.mjs did not write ${pids[s]}.json)`);
      continue;
    }
    const minor = own.gcs.filter(([t, , kind]) => kind === 'minor' && inside(t, windows[s]));
    const accepted = own.accepted.filter((t) => inside(t, windows[s])).length;
    const per = (n) => ((n / requests[s]) * 1e4).toFixed(1);
    console.log(
      `${s}: scavenges ${minor.length} in its blocks (${per(minor.length)} per 10,000 requests, median ${minor.length ? median(minor.map(([, ms]) => ms)).toFixed(3) : '–'} ms); connections accepted ${accepted} (${per(accepted)} per 10,000; ${own.accepted.length} in the whole run)${up ? `; the upstream accepted ${up.accepted.filter((t) => inside(t, windows[s])).length} in the same blocks` : ''}`,
    );
  }
}

await main();
