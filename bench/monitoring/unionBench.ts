/**
 * The drift worker's whole-column union of its per-window sorted integers (exact decimals, columnSample.ts): the
 * pairwise merge main used (copied here as it was) against the concatenation + radix sort this branch uses, on 1M
 * values in 12 monthly windows of a 5-decimal column like the 1M monitoring fixture's x0..x15. Same output checked.
 * Run: bash scripts/with-node.sh npx esbuild bench/monitoring/unionBench.ts --bundle --platform=node --outfile=out/bench/monitoring/unionBench.js
 * && bash scripts/with-node.sh node out/bench/monitoring/unionBench.js [repeats=7]
 */
import { sortInts } from '../../src/core/drift/sortNumbers';

function mergeTwoInts(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  const n = a.length;
  const m = b.length;
  while (i < n && j < m) {
    const x = a[i]!;
    const y = b[j]!;
    if (x <= y) {
      out[k++] = x;
      i++;
    } else {
      out[k++] = y;
      j++;
    }
  }
  if (i < n) out.set(a.subarray(i), k);
  else if (j < m) out.set(b.subarray(j), k);
  return out;
}

function mergeSortedInts(arrays: readonly Int32Array[]): Int32Array {
  let level = arrays;
  while (level.length > 1) {
    const next: Int32Array[] = [];
    for (let k = 0; k + 1 < level.length; k += 2) next.push(mergeTwoInts(level[k]!, level[k + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

function unionSortedInts(arrays: readonly Int32Array[]): Int32Array {
  const all = new Int32Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    all.set(a, at);
    at += a.length;
  }
  return sortInts(all);
}

const rows = 1_000_000;
const windows = 12;
let seed = 17;
const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
const parts = Array.from({ length: windows }, () => sortInts(Int32Array.from({ length: rows / windows }, () => Math.round((random() * 2 - 1) * 300_000))));
const repeats = Number(process.argv[2] ?? 7);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const times: Record<'merge' | 'radix', number[]> = { merge: [], radix: [] };
for (let r = 0; r < repeats; r++) {
  for (const [name, f] of [
    ['merge', mergeSortedInts],
    ['radix', unionSortedInts],
  ] as const) {
    const t0 = process.cpuUsage();
    const out = f(parts);
    const t = process.cpuUsage(t0);
    times[name].push((t.user + t.system) / 1000);
    if (name === 'radix' && Buffer.compare(Buffer.from(out.buffer), Buffer.from(mergeSortedInts(parts).buffer)) !== 0) throw new Error('different unions');
  }
}
console.log(
  `1M int32 in ${windows} sorted windows, CPU ms per column, median of ${repeats} (interleaved): merge ${median(times.merge).toFixed(1)} (${times.merge.map((t) => t.toFixed(0)).join(', ')}), radix ${median(times.radix).toFixed(1)} (${times.radix.map((t) => t.toFixed(0)).join(', ')}); identical output`,
);
