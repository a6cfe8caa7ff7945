// The main thread's work after the read of `mloop monitor --once` (the label join, performance, groups), each phase's
// thread CPU over repeats in one process: the first repeat as the CLI runs it (cold), the later ones warm. The log is
// read once, before any clock. Prints a digest of the reports (JSON) so that two builds can be checked to agree.
// usage: node --max-semi-space-size=2 out/bench/monitoring/afterReadBench.js <project> [repeats=5]
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { computeFairness } from '../../src/core/monitoring/fairness';
import { joinLabels, readPredictionLog } from '../../src/core/monitoring/labels';
import { computePerformance } from '../../src/core/monitoring/performance';
import { benchProject } from './benchProject';

const project = resolve(process.argv[2] ?? '.');
const repeats = Number(process.argv[3] ?? 5);

async function main(): Promise<void> {
  const { monitoring, options, idColumn, labels } = benchProject(project);
  const threadCpu = (): number => {
    const u = process.threadCpuUsage();
    return (u.user + u.system) / 1e3;
  };
  const log = await readPredictionLog({ ...options, idColumn });
  for (let r = 0; r < repeats; r++) {
    const t0 = threadCpu();
    const joined = await joinLabels({ ...options, idColumn, labels, labelColumn: monitoring.label ?? 'label' }, log);
    const t1 = threadCpu();
    const performance = computePerformance(joined, {});
    const t2 = threadCpu();
    const fairness = computeFairness(joined, {});
    const t3 = threadCpu();
    const digest = createHash('sha256')
      .update(JSON.stringify([performance, fairness]))
      .digest('hex')
      .slice(0, 16);
    console.log(JSON.stringify({ repeat: r, joinMs: Math.round(t1 - t0), performanceMs: Math.round(t2 - t1), groupsMs: Math.round(t3 - t2), digest }));
  }
}

void main();
