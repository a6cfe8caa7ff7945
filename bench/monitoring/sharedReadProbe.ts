// The main thread's read of `mloop monitor --once` alone, repeated in one process: the predictions log read as the
// shared read reads it (the drift columns as decimals, the batches handed to a feed that drops them), then the label
// join. Prints this thread's CPU of each (process.threadCpuUsage) per repeat. Build it from two checkouts and run the
// two bundles alternately to compare them.
// usage: node --max-semi-space-size=2 <bundle>.js <project> [repeats=3]
import { resolve } from 'node:path';
import { joinLabels, readPredictionLog, type LogFeed } from '../../src/core/monitoring/labels';
import { benchProject } from './benchProject';

const project = resolve(process.argv[2] ?? '.');
const repeats = Number(process.argv[3] ?? 3);

async function main(): Promise<void> {
  const { monitoring, options, idColumn, labels } = benchProject(project);
  const feed: LogFeed = { read: (monitoring.columns ?? []).filter((c) => c !== monitoring.time_column), push: () => undefined };
  const threadCpu = (): number => {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1e3;
  };
  for (let r = 0; r < repeats; r++) {
    const t0 = threadCpu();
    const log = await readPredictionLog({ ...options, idColumn, feed });
    const t1 = threadCpu();
    const joined = await joinLabels({ ...options, idColumn, labels, labelColumn: 'label' }, log);
    const t2 = threadCpu();
    console.log(JSON.stringify({ readMs: Math.round(t1 - t0), joinMs: Math.round(t2 - t1), rows: log.rows, joined: joined.counts.joined }));
  }
}

void main();
