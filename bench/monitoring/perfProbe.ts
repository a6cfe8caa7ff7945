// The main thread's performance check of `mloop monitor --once` after the join, once per process: the process's
// CPU (all threads: V8's compile threads too) and this thread's, of computePerformance alone. Bundle it from two
// checkouts (esbuild --bundle --platform=node) and run the two bundles alternately, a process a measurement.
// usage: node --max-semi-space-size=2 <bundle>.js <project>
import { resolve } from 'node:path';
import { joinLabels, readPredictionLog, type LogFeed } from '../../src/core/monitoring/labels';
import { computePerformance } from '../../src/core/monitoring/performance';
import { benchProject } from './benchProject';

async function main(): Promise<void> {
  const project = resolve(process.argv[2] ?? '.');
  const { monitoring, options, idColumn, labels } = benchProject(project);
  const feed: LogFeed = { read: (monitoring.columns ?? []).filter((c) => c !== monitoring.time_column), push: () => undefined };
  const log = await readPredictionLog({ ...options, idColumn, feed });
  const joined = await joinLabels({ ...options, idColumn, labels, labelColumn: 'label' }, log);
  await new Promise((r) => setTimeout(r, 300)); // the read's compile jobs done
  const p0 = process.cpuUsage();
  const t0 = process.threadCpuUsage();
  const w0 = performance.now();
  const report = computePerformance(joined, {});
  const w1 = performance.now();
  const t1 = process.threadCpuUsage(t0);
  await new Promise((r) => setTimeout(r, 300)); // its compile jobs counted too
  const p1 = process.cpuUsage(p0);
  console.log(
    JSON.stringify({
      wallMs: Math.round(w1 - w0),
      threadMs: Math.round((t1.user + t1.system) / 1e3),
      processMs: Math.round((p1.user + p1.system) / 1e3),
      auc: report.overall.metrics.roc_auc?.value,
    }),
  );
}
void main();
