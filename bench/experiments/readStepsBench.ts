// How long the Experiments Table's background read holds the extension host's thread at a time (issue 19): a message
// from the table's page (a sort, a filter, a scroll) is handled only between two steps of that read, so the longest
// step bounds how late the answer starts. Runs the steps of `readRunTable` on the kept 100,000-run store (tableBench.ts
// writes it) and prints, per step size, the longest step, the 95th percentile and the whole read (wall and CPU).
// Usage (after scripts/build.mjs):
//   MLOOP_BENCH_STORE=/tmp/mloop-table-100k bash scripts/with-node.sh node out/bench/experiments/readStepsBench.js
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { readRunTable } from '../../src/core/experiments/runTableReader';
import { openStore } from '../../src/core/store/store';

const round = (n: number): number => Math.round(n * 10) / 10;

function main(): void {
  const dir = process.env.MLOOP_BENCH_STORE;
  const path = dir && join(resolve(dir), '.mloop', 'mloop.db');
  if (!path || !existsSync(path)) throw new Error('set MLOOP_BENCH_STORE to the folder tableBench.ts kept its store in');
  const sizes = (process.env.MLOOP_BENCH_STEP_RUNS ?? '4000,1000,500,250').split(',').map(Number);
  const repeat = Number(process.env.MLOOP_BENCH_REPEAT ?? 2);
  const store = openStore({ path, readonly: true });
  store.db.pragma('temp_store = MEMORY');
  for (let r = 0; r < repeat; r++)
    for (const stepRuns of sizes) {
      const steps: number[] = [];
      const stepCpu: number[] = [];
      const cpu = process.cpuUsage();
      const started = performance.now();
      const reader = readRunTable(store.db, {}, undefined, stepRuns);
      let size = 0;
      for (;;) {
        const t = performance.now();
        const c = process.cpuUsage();
        const step = reader.next();
        const u = process.cpuUsage(c);
        steps.push(performance.now() - t);
        stepCpu.push((u.user + u.system) / 1000);
        if (step.done) {
          size = step.value.size;
          break;
        }
      }
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const sorted = [...steps].sort((a, b) => a - b);
      const longest = steps.indexOf(sorted.at(-1)!);
      console.log(
        JSON.stringify({
          stepRuns,
          runs: size,
          steps: steps.length,
          longestStepMs: round(sorted.at(-1)!),
          longestStepCpuMs: round(Math.max(...stepCpu)),
          longestCpuStep: stepCpu.indexOf(Math.max(...stepCpu)),
          p95StepCpuMs: round([...stepCpu].sort((a, b) => a - b)[Math.floor(stepCpu.length * 0.95)]!),
          lastStepCpuMs: round(stepCpu.at(-1)!),
          longestStep: longest,
          // the five longest steps (index: ms): where a message from the page waits longest
          longestSteps: steps
            .map((ms, i) => [i, round(ms)] as const)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 5)
            .map(([i, ms]) => `${i}: ${ms}`),
          firstStepMs: round(steps[0]!),
          lastStepMs: round(steps.at(-1)!),
          p95StepMs: round(sorted[Math.floor(sorted.length * 0.95)]!),
          wholeReadWallMs: Math.round(wallMs),
          wholeReadCpuMs: Math.round((used.user + used.system) / 1000),
          load: round(loadavg()[0]!),
        }),
      );
    }
  store.close();
}

main();
