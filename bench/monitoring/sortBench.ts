// The radix sort of src/core/drift/sortNumbers.ts (monitor25e compared digit layouts with it) at the sizes its callers give it, thread CPU per case (ms, the median
// of the repeats after a first cold one, which is printed apart): ROC AUC's stableOrder of 12 windows of 66,694
// six-decimal scores and of the 800,325-score overall window (the bench's joined rows), and the drift thread's
// sortNumbers of 20k, 100k and 1M five-decimal normal values. Prints one JSON line; build it as the sort it imports.
// usage: node out/bench/monitoring/sortBench.js [repeats=7]
import { sortNumbers, stableOrder } from '../../src/core/drift/sortNumbers';
import { seededRandom } from '../../src/core/sampling/seededRandom';

const repeats = Number(process.argv[2] ?? 7);
const random = seededRandom(25);
const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const scores = Float64Array.from({ length: 800_325 }, () => Math.round(1e6 / (1 + Math.exp(-1.5 * normal()))) / 1e6);
const windows = Array.from({ length: 12 }, (_, w) => scores.subarray(w * 66_694, (w + 1) * 66_694));
const features = Float64Array.from({ length: 1_000_000 }, () => Math.round(normal() * 1e5) / 1e5);
const threadCpu = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1e3;
};
const cases: Record<string, () => void> = {
  auc12Windows: () => {
    for (const w of windows) stableOrder(w);
  },
  aucOverall: () => void stableOrder(scores),
  drift20k: () => void sortNumbers(features.slice(0, 20_000)),
  drift100k: () => void sortNumbers(features.slice(0, 100_000)),
  drift1M: () => void sortNumbers(features.slice()),
};
const out: Record<string, number> = {};
for (const [name, run] of Object.entries(cases)) {
  const times: number[] = [];
  for (let r = 0; r <= repeats; r++) {
    const t0 = threadCpu();
    run();
    times.push(threadCpu() - t0);
  }
  out[`${name}Cold`] = Math.round(times[0]!);
  const warm = times.slice(1).sort((a, b) => a - b);
  out[name] = Math.round(warm[warm.length >> 1]! * 10) / 10;
}
console.log(JSON.stringify(out));
