// Where the gateway's CPU a request goes at the goal's rate, by owner (issue 18's added-p99 goal, branch gateway23): one
// gateway (GATEWAY_JS, default dist/gateway.js) in front of the trivial upstream, an open loop at RATE requests/s on
// keep-alive sockets for a warm-up and then SECONDS; the gateway runs under V8's sampling CPU profiler (`--cpu-prof`)
// and gcProbe.mjs. Prints, over the measured seconds only:
//   - CPU a request of the gateway by thread (main, V8's helper threads, libuv's pool) and of the upstream (a node:http
//     server answering itself: what one leg of a node:http proxy costs at this rate, without the profiler);
//   - scavenges and connections the gateway accepted per 10,000 requests;
//   - the main thread's busy samples by owner: the bundle's module comments say which package or source folder a
//     function comes from; socket writes are their own row (the syscall's time is the kernel's TCP send and, on
//     loopback, the receiving side's work too); "(program)" is V8 and Node outside JavaScript.
// The profiler adds its own cost (CPU a request rises by ~30 %), so the shares are the reading, not the absolute
// figures; cpuAB.mjs measures CPU a request without it.
// Run: bash scripts/with-node.sh node bench/gateway/cpuByOwner.mjs     (RATE=1000 SECONDS=20 WARMUP_SECONDS=4 RT=1)
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, openLoop, rerunUnderRealTime, startGateway, startUpstream, stopAll } from './common.mjs';

const RATE = Number(process.env.RATE ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 20);
const WARMUP_SECONDS = Number(process.env.WARMUP_SECONDS ?? 4);
const root = new URL('../..', import.meta.url).pathname;
const script = process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js');

rerunUnderRealTime(import.meta.url);

/** CPU seconds of each thread of `pid` by name (digits dropped: V8's workers are one row). */
function threadSeconds(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/\d+$/, '');
      out[name] = (out[name] ?? 0) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
    } catch {}
  }
  return out;
}

/** For each line of the bundle, the package or mloop source folder it came from (esbuild's `// path` comments). */
function bundleOwners(path) {
  const owners = [];
  let owner = 'bundle';
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const module = /^\/\/ (\S+\.[cm]?[jt]s)$/.exec(line)?.[1];
    if (module) owner = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module)?.[1] ?? /src\/(core\/[^/]+|[^/]+)/.exec(module)?.[1] ?? module;
    owners.push(owner);
  }
  return owners;
}

const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String']);

/** The busy main-thread samples of a .cpuprofile taken from `fromUs` (profile clock) on, by owner. */
function samplesByOwner(profile, fromUs, owners) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const owner = ({ functionName: name, url, lineNumber: line }) => {
    if (name === '(garbage collector)') return 'GC on the main thread';
    if (name === '(program)') return '(program): V8 and Node outside JavaScript';
    if (SOCKET_WRITES.has(name) && url === '') return 'socket writes (syscalls)';
    if (url.endsWith('gateway.js')) return owners[line] === 'core/gateway' ? "the gateway's own code (src/core/gateway)" : owners[line];
    if (url.startsWith('wasm')) return "undici's llhttp (WebAssembly)";
    if (/_http_|http_common/.test(url)) return 'node:http';
    if (url.startsWith('node:') || url.includes('internal/')) return 'Node: streams, net, events, ticks, timers, buffers';
    return url === '' ? `native: ${name}` : url;
  };
  const counts = new Map();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (t < fromUs) return;
    const frame = nodes.get(id).callFrame;
    if (frame.functionName === '(idle)') return;
    const key = owner(frame);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  return counts;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-owner-'));
  process.env.MLOOP_PROBE_DIR = dir;
  const stops = [];
  try {
    const upstream = await startUpstream();
    stops.push(upstream.stop);
    const profileDir = join(dir, 'profile');
    const gateway = await startGateway(dir, upstream.port, {
      script,
      nodeArgs: ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${profileDir}`, '--import', new URL('./gcProbe.mjs', import.meta.url).pathname],
    });
    stops.push(gateway.stop);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const loadBefore = loadavg()[0];
    await openLoop(gateway.port, WARMUP_SECONDS, { rate: RATE, agent });
    const threadsBefore = threadSeconds(gateway.child.pid);
    const [gatewayBefore, upstreamBefore] = [cpuSeconds(gateway.child.pid), cpuSeconds(upstream.child.pid)];
    const from = Date.now();
    const run = await openLoop(gateway.port, SECONDS, { rate: RATE, agent });
    const to = Date.now();
    const threadsAfter = threadSeconds(gateway.child.pid);
    const [gatewayAfter, upstreamAfter] = [cpuSeconds(gateway.child.pid), cpuSeconds(upstream.child.pid)];
    agent.destroy();
    const load = loadavg()[0];
    // SIGTERM: the gateway exits through process.exit, which writes the profile and gcProbe's record
    const stoppedAt = Date.now();
    for (const stop of stops) stop();
    await new Promise((done) => setTimeout(done, 2000));
    const n = run.latencies.length;
    const perRequest = (seconds) => ((seconds / n) * 1e6).toFixed(1);
    const probe = JSON.parse(readFileSync(join(dir, `${gateway.child.pid}.json`), 'utf8'));
    const inside = (at) => at >= from && at <= to;
    const scavenges = probe.gcs.filter(([at, , kind]) => kind === 'minor' && inside(at));
    const accepted = probe.accepted.filter(inside).length;
    console.log(
      `${n} requests at ${RATE}/s for ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up, ${run.failed} failed; ${process.env.MLOOP_BENCH_RT ? 'real-time priority (RT=1)' : 'normal priority'}; load average (1 min) ${loadBefore.toFixed(2)} → ${load.toFixed(2)}`,
    );
    console.log(
      `gateway (under the profiler, whose own thread is ProfEvntProc) CPU ${perRequest(gatewayAfter - gatewayBefore)} µs a request: ${Object.keys(threadsAfter)
        .map((name) => [name, threadsAfter[name] - (threadsBefore[name] ?? 0)])
        .filter(([, s]) => s > 0)
        .map(([name, s]) => `${name} ${perRequest(s)}`)
        .join(', ')}; the upstream ${perRequest(upstreamAfter - upstreamBefore)} µs a request`,
    );
    console.log(
      `gateway scavenges ${scavenges.length} (${((scavenges.length / n) * 1e4).toFixed(1)} per 10,000 requests), connections accepted ${accepted} (${((accepted / n) * 1e4).toFixed(1)} per 10,000)`,
    );
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8'));
    // the profile's clock is the process's own (µs): it ends at the exit, a few ms after the SIGTERM
    const fromUs = profile.endTime - (stoppedAt - from) * 1000;
    const counts = samplesByOwner(profile, fromUs, bundleOwners(script));
    const busy = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`the main thread's busy samples by owner (${busy} samples):`);
    for (const [owner, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`${((100 * count) / busy).toFixed(1).padStart(6)} %  ${owner}`);
  } finally {
    stopAll(stops, dir);
  }
}

await main();
