// Loaded into a gateway process by tailProbe.mjs (node --import): records the process's garbage-collection pauses
// (start in epoch ms, duration, kind), its event-loop delay and the times it accepted or opened a connection, and writes them to $MLOOP_PROBE_DIR/<pid>.json when
// the process exits. Diagnosis only: the product never loads it.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.MLOOP_PROBE_DIR;
if (dir) {
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration, kinds[e.detail?.kind] ?? String(e.detail?.kind)]);
  }).observe({ entryTypes: ['gc'] });
  // new connections, either side (epoch ms): a request that waits for a connect or an accept is slow for that reason
  const accepted = [];
  const connected = [];
  subscribe('net.server.socket', () => accepted.push(performance.timeOrigin + performance.now()));
  subscribe('net.client.socket', () => connected.push(performance.timeOrigin + performance.now()));
  // resolution 1 ms is enough to see multi-ms stalls; only on when asked (it adds a timer of its own)
  const eld = process.env.MLOOP_PROBE_ELD === '1' ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  eld?.enable();
  process.on('exit', () => {
    const loop = eld
      ? { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, p999: eld.percentile(99.9) / 1e6, max: eld.max / 1e6, count: eld.count }
      : undefined;
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, gcs, loop, accepted, connected }));
  });
}
