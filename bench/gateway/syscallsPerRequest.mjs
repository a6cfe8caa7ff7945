// System calls and context switches a request, by thread and by call, of each proxy at a fixed rate (issue 18's added
// p99 at 1,000 requests/s): the gateway (and gatewayB: another build or node flags) and nginx in front of the same
// trivial upstream, the same open loop on keep-alive sockets, one contestant after the other (counts, not times: they
// do not need interleaving). At 1,000/s every request wakes the proxy from sleep, so what a request costs in calls and
// wake-ups there differs from wrk's saturation, where one epoll_pwait returns many requests (gateway18's strace).
// The calls are counted by `perf stat` on the syscall tracepoints of each thread of the contestant's group (counting in
// the kernel: `perf trace` or strace, which stop on each call, slowed the gateway enough to halve its epoll_pwait calls a
// request); context switches from each thread's /proc status (voluntary: it slept; involuntary: it was preempted).
// Without perf, only /proc/<pid>/io's read-type and write-type call counts are printed.
// Run: bash scripts/with-node.sh node bench/gateway/syscallsPerRequest.mjs
//      (RATE=1000 SECONDS=10 WARM_SECONDS=3 GATEWAY_JS=dist/gateway.js GATEWAY_B_JS=… NODE_ARGS_B="--flag" NGINX=0)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLoop, processesOf, startGateway, startNginx, startUpstream, stopAll } from './common.mjs';

const RATE = Number(process.env.RATE ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 10);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 3);
const root = new URL('../..', import.meta.url).pathname;
const havePerf = spawnSync('perf', ['--version']).status === 0;

/** Each thread of a process group: its name (comm) and context switches so far. */
function threadsOf(pgid) {
  const threads = new Map();
  for (const pid of processesOf(pgid)) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
        threads.set(tid, { name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?', voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') });
      } catch {}
    }
  }
  return threads;
}

/** Read-type and write-type calls of a process group so far (/proc/<pid>/io). */
function ioCallsOf(pgid) {
  let reads = 0;
  let writes = 0;
  for (const pid of processesOf(pgid)) {
    try {
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      reads += Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0);
      writes += Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0);
    } catch {}
  }
  return { reads, writes };
}

/** The kind of a thread, so the threads of one role add up (V8Worker, libuv-worker, nginx's workers, …). */
const roleOf = (name) => name.replace(/[-\d]+$/, '') || name;

/** The calls counted by name (Node's and nginx's request path and wake-ups); the rest are summed as "other". */
const CALLS = ['read', 'readv', 'recvfrom', 'recvmsg', 'write', 'writev', 'sendto', 'sendmsg', 'epoll_wait', 'epoll_pwait', 'futex', 'accept4', 'close', 'io_uring_enter', 'epoll_ctl', 'setsockopt', 'getsockopt', 'ioctl', 'pwrite64', 'clock_gettime', 'gettimeofday'];

/** `perf stat --per-thread -x,`'s counts: calls per (thread role, syscall), and "all" per role. */
function parseStat(text) {
  const calls = new Map();
  for (const line of text.split('\n')) {
    // thread-tid,count,unit,event,…
    const [thread, count, , event] = line.split(',');
    if (!event || !/^\d+$/.test(count ?? '')) continue;
    const role = roleOf(thread.replace(/-\d+$/, '').trim());
    const call = event === 'raw_syscalls:sys_enter' ? 'all' : event.replace('syscalls:sys_enter_', '');
    const key = `${role}\u0000${call}`;
    calls.set(key, (calls.get(key) ?? 0) + Number(count));
  }
  return calls;
}

async function measure(name, port, pgid, dir) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  await openLoop(port, WARM_SECONDS, { rate: RATE, agent });
  const out = join(dir, `${pgid}.perf`);
  const pids = processesOf(pgid);
  // counting in the kernel (perf stat on tracepoints), not tracing each call: the gateway is not slowed by it
  const events = ['raw_syscalls:sys_enter', ...CALLS.map((c) => `syscalls:sys_enter_${c}`)].flatMap((e) => ['-e', e]);
  const tracer = havePerf ? spawn('perf', ['stat', '--per-thread', '-x,', ...events, '-o', out, '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'inherit'] }) : undefined;
  // perf attaches to every thread before the block starts
  await new Promise((done) => setTimeout(done, 1000));
  const threads0 = threadsOf(pgid);
  const io0 = ioCallsOf(pgid);
  const load0 = loadavg()[0];
  const run = await openLoop(port, SECONDS, { rate: RATE, agent });
  const threads1 = threadsOf(pgid);
  const io1 = ioCallsOf(pgid);
  // (perf may have ended already, e.g. refused to attach: then there is no exit to wait for)
  if (tracer && tracer.exitCode === null && tracer.signalCode === null) {
    const ended = new Promise((done) => tracer.once('exit', done));
    tracer.kill('SIGINT');
    await ended;
  }
  agent.destroy();
  const n = run.latencies.length;
  const per = (x) => (x / n).toFixed(3);
  console.log(`\n${name}: ${n} requests at ${RATE}/s, failed ${run.failed}, load ${load0.toFixed(2)}–${loadavg()[0].toFixed(2)}`);
  console.log(`  read-type calls ${per(io1.reads - io0.reads)} a request, write-type ${per(io1.writes - io0.writes)} (/proc/<pid>/io)`);
  const switches = new Map();
  for (const [tid, after] of threads1) {
    const before = threads0.get(tid) ?? { voluntary: 0, involuntary: 0 };
    const role = roleOf(after.name);
    const s = switches.get(role) ?? { voluntary: 0, involuntary: 0 };
    s.voluntary += after.voluntary - before.voluntary;
    s.involuntary += after.involuntary - before.involuntary;
    switches.set(role, s);
  }
  if (tracer) {
    const calls = parseStat(readFileSync(out, 'utf8'));
    const byRole = new Map();
    for (const [key, count] of calls) {
      const [role, call] = key.split('\u0000');
      if (!byRole.has(role)) byRole.set(role, { all: 0, list: [] });
      if (call === 'all') byRole.get(role).all += count;
      else if (count > 0) byRole.get(role).list.push([call, count]);
    }
    // (the count covers the block plus ~1 s before it: counts a request include that second's timers, a few per cent)
    for (const [role, { all: total, list }] of [...byRole].sort((a, b) => b[1].all - a[1].all)) {
      if (total === 0) continue;
      const other = total - list.reduce((s, [, c]) => s + c, 0);
      if (other > 0) list.push(['other', other]);
      const sw = switches.get(role) ?? { voluntary: 0, involuntary: 0 };
      console.log(
        `  ${role}: ${per(total)} calls a request (${list
          .sort((a, b) => b[1] - a[1])
          .map(([call, count]) => `${call} ${per(count)}`)
          .join(', ')}); context switches ${per(sw.voluntary)} voluntary + ${per(sw.involuntary)} involuntary`,
      );
    }
  } else {
    for (const [role, sw] of switches) console.log(`  ${role}: context switches ${per(sw.voluntary)} voluntary + ${per(sw.involuntary)} involuntary a request`);
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-gw-syscalls-'));
  const stops = [];
  try {
    if (!havePerf) console.log('perf not found: calls by thread left out (apt-get install -y linux-perf)');
    const upstream = await startUpstream();
    stops.push(upstream.stop);
    const contestants = [];
    const gateway = await startGateway(dir, upstream.port, { script: process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'), name: 'gw' });
    stops.push(gateway.stop);
    contestants.push(['gateway', gateway.port, gateway.child.pid]);
    if (process.env.GATEWAY_B_JS || process.env.NODE_ARGS_B) {
      const b = await startGateway(dir, upstream.port, {
        script: process.env.GATEWAY_B_JS ?? process.env.GATEWAY_JS ?? join(root, 'dist', 'gateway.js'),
        name: 'gwB',
        nodeArgs: process.env.NODE_ARGS_B ? process.env.NODE_ARGS_B.split(' ') : [],
      });
      stops.push(b.stop);
      contestants.push([`gatewayB${process.env.NODE_ARGS_B ? ` ${process.env.NODE_ARGS_B}` : ''}`, b.port, b.child.pid]);
    }
    if (process.env.NGINX !== '0') {
      // one worker: the gateway's one process against one event loop of nginx's
      const nginx = await startNginx(dir, upstream.port, 1);
      stops.push(nginx.stop);
      contestants.push([`nginx (1 worker; ${nginx.version})`, nginx.port, nginx.child.pid]);
    }
    contestants.push(['upstream (node:http answering itself, called directly)', upstream.port, upstream.child.pid]);
    for (const [name, port, pgid] of contestants) await measure(name, port, pgid, dir);
  } finally {
    stopAll(stops, dir);
  }
}

await main();
