/**
 * The drift worker's Wasserstein distances for one column of the 1M monitoring fixture (/tmp/mb1m, x0: 100,000
 * reference values, 1,000,000 current values): the merge walk (wasserstein1) against the prepared reference
 * (wasserstein1Against), for the fixture's 12 monthly windows plus the whole current sample, and for daily windows
 * (the same rows cut by day: ~2,740 values each), interleaved, repeated; CPU time of this thread. Results compared
 * (relative difference printed; monthly windows must match to the bit).
 * Run: bash scripts/with-node.sh npx esbuild bench/monitoring/wassersteinBench.ts --bundle --platform=node --outfile=out/bench/monitoring/wassersteinBench.js --log-level=warning
 * && bash scripts/with-node.sh node out/bench/monitoring/wassersteinBench.js [fixture=/tmp/mb1m] [column=x0] [repeats=7]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wasserstein1, wasserstein1Against, WassersteinReference } from '../../src/core/drift/distances';
import { sortNumbers } from '../../src/core/drift/sortNumbers';

const [fixture = '/tmp/mb1m', column = 'x0', repeatsText = '7'] = process.argv.slice(2);
const repeats = Number(repeatsText);

/** The column's numbers, keyed by the first `key` characters of the time column (all rows under '' when key is 0). */
function read(file: string, key: number): Map<string, number[]> {
  const [header, ...lines] = readFileSync(file, 'utf8').trimEnd().split('\n');
  const names = header!.split(',');
  const c = names.indexOf(column);
  const t = names.indexOf('time');
  const out = new Map<string, number[]>();
  for (const line of lines) {
    const cells = line.split(',');
    const k = key === 0 ? '' : cells[t]!.slice(0, key);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(Number(cells[c]));
  }
  return out;
}

const sorted = (values: readonly number[]): Float64Array => sortNumbers(Float64Array.from(values));
const reference = sorted(read(join(fixture, 'reference.csv'), 0).get('')!);
const byDay = read(join(fixture, 'logs/predictions.csv'), 10);
const byMonth = new Map<string, number[]>();
for (const [day, values] of byDay) {
  const month = day.slice(0, 7);
  byMonth.set(month, [...(byMonth.get(month) ?? []), ...values]);
}
const monthly = [...byMonth.values()].map(sorted);
monthly.push(sorted([...byMonth.values()].flat()));
const daily = [...byDay.values()].map(sorted);

function cpu(run: () => number[]): { ms: number; out: number[] } {
  const t0 = process.cpuUsage();
  const out = run();
  const t = process.cpuUsage(t0);
  return { ms: (t.user + t.system) / 1000, out };
}

console.log(
  `${column}: reference ${reference.length}, ${monthly.length - 1} monthly windows + whole (${monthly[monthly.length - 1]!.length}), ${daily.length} daily windows`,
);
const times = { mergeMonthly: [] as number[], preparedMonthly: [] as number[], mergeDaily: [] as number[], preparedDaily: [] as number[] };
let worst = 0;
for (let r = 0; r < repeats; r++) {
  const m1 = cpu(() => monthly.map((w) => wasserstein1(reference, w)));
  const p1 = cpu(() => {
    const prepared = new WassersteinReference(reference);
    return monthly.map((w) => wasserstein1Against(prepared, w));
  });
  const m2 = cpu(() => daily.map((w) => wasserstein1(reference, w)));
  const p2 = cpu(() => {
    const prepared = new WassersteinReference(reference);
    return daily.map((w) => wasserstein1Against(prepared, w));
  });
  if (m1.out.some((v, i) => v !== p1.out[i])) throw new Error('monthly windows: the prepared reference gave other bits than the merge walk');
  m2.out.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - p2.out[i]!) / Math.abs(v))));
  times.mergeMonthly.push(m1.ms);
  times.preparedMonthly.push(p1.ms);
  times.mergeDaily.push(m2.ms);
  times.preparedDaily.push(p2.ms);
  console.log(
    `repeat ${r + 1}: monthly+whole merge ${m1.ms.toFixed(1)} ms, prepared ${p1.ms.toFixed(1)} ms; daily merge ${m2.ms.toFixed(1)} ms, prepared ${p2.ms.toFixed(1)} ms`,
  );
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(
  `median: monthly+whole merge ${median(times.mergeMonthly).toFixed(1)} ms, prepared ${median(times.preparedMonthly).toFixed(1)} ms (same bits); ` +
    `daily merge ${median(times.mergeDaily).toFixed(1)} ms, prepared ${median(times.preparedDaily).toFixed(1)} ms ` +
    `(${(median(times.mergeDaily) / median(times.preparedDaily)).toFixed(1)}×; largest relative difference ${worst.toExponential(1)})`,
);
