// The main thread's own part of `mloop monitor --once` on a project made by make_data.py, without the drift and CBPE
// threads: the predictions log read (with the drift columns, as the fed check reads it, but not handed on), then the
// label join, performance and groups. Prints the process CPU (user + system) of each phase (join, performance and groups also apart), this
// thread's own CPU of each phase (`thread`: the process's also counts V8's background threads), the scavenges and mark-compacts
// of the young and old generations and their pause time (PerformanceObserver 'gc'), and the peak RSS. Build it in two checkouts and run the
// two bundles alternately, process by process, to compare them.
// usage: node --max-semi-space-size=2 out/bench/monitoring/mainThreadProbe.js <project>
import { resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { computeFairness } from '../../src/core/monitoring/fairness';
import { joinLabels, readPredictionLog, type LogFeed } from '../../src/core/monitoring/labels';
import { computePerformance } from '../../src/core/monitoring/performance';
import { benchProject } from './benchProject';

const project = resolve(process.argv[2] ?? '.');

async function main(): Promise<void> {
  const { monitoring, options, idColumn, labels } = benchProject(project);
  const gcs = { minor: 0, major: 0, minorMs: 0, majorMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === 1) {
        gcs.minor++;
        gcs.minorMs += e.duration;
      } else {
        gcs.major++;
        gcs.majorMs += e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  // the drift columns read as the fed check reads them, the batches dropped
  const feed: LogFeed = { read: (monitoring.columns ?? []).filter((c) => c !== monitoring.time_column), push: () => undefined };
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  // this thread's own CPU (the process's above also counts V8's background threads: GC marking and sweeping, compiles)
  const threadCpu = (): number => {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1e3;
  };
  const t0 = threadCpu();
  const c0 = cpu();
  const log = await readPredictionLog({ ...options, idColumn, feed });
  const c1 = cpu();
  const t1 = threadCpu();
  const joined = await joinLabels({ ...options, idColumn, labels, labelColumn: 'label' }, log);
  const cJoin = cpu();
  const tJoin = threadCpu();
  const performance = computePerformance(joined, {});
  const cPerformance = cpu();
  const tPerformance = threadCpu();
  const fairness = computeFairness(joined, {});
  const c2 = cpu();
  const t2 = threadCpu();
  await new Promise((r) => setTimeout(r, 50)); // the last gc entries
  console.log(
    JSON.stringify({
      readMs: Math.round(c1 - c0),
      joinPerformanceGroupsMs: Math.round(c2 - c1),
      threadMs: Math.round(t2 - t0),
      joinMs: Math.round(cJoin - c1),
      performanceMs: Math.round(cPerformance - cJoin),
      groupsMs: Math.round(c2 - cPerformance),
      thread: {
        readMs: Math.round(t1 - t0),
        joinMs: Math.round(tJoin - t1),
        performanceMs: Math.round(tPerformance - tJoin),
        groupsMs: Math.round(t2 - tPerformance),
      },
      scavenges: gcs.minor,
      otherGcs: gcs.major,
      gcPauseMs: { scavenges: Math.round(gcs.minorMs), others: Math.round(gcs.majorMs) },
      peakMb: Math.round(process.resourceUsage().maxRSS / 1024),
      check: [performance.overall.metrics.accuracy?.value, fairness.columns[0]?.demographic_parity_difference],
    }),
  );
}

void main();
