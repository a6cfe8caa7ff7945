// The typed CSV reader alone (readTypedBatches: file read, scan, number parse, column building), no consumer: how
// fast a predictions log is turned into typed columns. Two ways to compare a build before a change (A) with this one (B):
//  - alternate: in one process, A's readers bundle (esbuild of its src/core/datasets/readers.ts, given as a path) and
//    this bundle's own reader read the file in turn, A B then B A, round after round — the two see the same machine
//    moments, which on a shared machine is what makes a difference of ~10 % visible; the outputs are digested once
//    each and must be the same;
//  - compare: two builds of this bench as child processes interleaved A, B, A, B, …, each invocation a warm-up read
//    (digested) and `repeats` timed reads.
// Wall and CPU (user + system of the process) per read.
//
// usage:
//   node csvScanBench.js alternate <readersA.js> <file> <all|monitor|cbpe|name,name,…> [rounds=7]
//   node csvScanBench.js read <file> <columns> [repeats=5]      one invocation, prints one JSON line
//   node csvScanBench.js compare <benchA.js> <benchB.js> <file> <columns> [invocations=5] [repeats=5]
// `cbpe` is the columns mloop's CBPE reads from the monitoring bench's log (bench/monitoring/make_data.py), `monitor`
// every column as `mloop monitor` reads them (both with the time column read for its day), `all` every column as cells.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { readTypedBatches } from '../../src/core/datasets/readers';
import type { TypedColumn } from '../../src/core/datasets/typedCsv';

const CBPE_COLUMNS = ['id', 'time', 'predicted', 'proba_0', 'proba_1'];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The read options of a column spec: `cbpe` and `monitor` read the time column for its day, as mloop's log read does. */
function optionsOf(spec: string): { columns?: string[]; prefixes?: Record<string, number> } {
  if (spec === 'all') return {};
  if (spec === 'monitor') return { prefixes: { time: 10 } };
  if (spec === 'cbpe') return { columns: CBPE_COLUMNS, prefixes: { time: 10 } };
  return { columns: spec.split(',') };
}

function digestColumn(hash: ReturnType<typeof createHash>, name: string, column: TypedColumn): void {
  hash.update(`${name}:${column.kind}:`);
  switch (column.kind) {
    case 'numbers':
      hash.update(new Uint8Array(column.values.buffer, column.values.byteOffset, column.values.byteLength));
      break;
    case 'texts':
    case 'prefixes':
      // the texts each row stands for (codes depend on the dictionary's order, which is also output)
      hash.update(new Uint8Array(column.codes.buffer, column.codes.byteOffset, column.codes.byteLength));
      hash.update(JSON.stringify(column.dictionary));
      break;
    case 'cells':
      hash.update(JSON.stringify(column.values.map((v) => (typeof v === 'number' && Object.is(v, -0) ? '-0' : v))));
      break;
    case 'absent':
      break;
  }
}

type Reader = typeof readTypedBatches;

async function readOnce(
  file: string,
  options: ReturnType<typeof optionsOf>,
  digest: boolean,
  reader: Reader = readTypedBatches,
): Promise<{ rows: number; digest: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  for await (const batch of reader(file, options)) {
    rows += batch.rows;
    if (digest) for (const [name, column] of Object.entries(batch.columns)) digestColumn(hash, name, column);
  }
  return { rows, digest: hash.digest('hex').slice(0, 16) };
}

async function read(file: string, spec: string, repeats: number): Promise<void> {
  const options = optionsOf(spec);
  const first = await readOnce(file, options, true);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await readOnce(file, options, false);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  process.stdout.write(`${JSON.stringify({ rows: first.rows, digest: first.digest, wall, cpu })}\n`);
}

function compare(benchA: string, benchB: string, file: string, spec: string, invocations: number, repeats: number): void {
  const sides = { A: benchA, B: benchB } as const;
  const medians: Record<'A' | 'B', { wall: number[]; cpu: number[]; digest: Set<string> }> = {
    A: { wall: [], cpu: [], digest: new Set() },
    B: { wall: [], cpu: [], digest: new Set() },
  };
  console.log(`file ${file}, columns ${spec}, ${invocations} invocations × ${repeats} reads, A = ${benchA}, B = ${benchB}`);
  for (let k = 1; k <= invocations; k++) {
    for (const side of ['A', 'B'] as const) {
      const load0 = loadavg()[0]!.toFixed(1);
      const child = spawnSync(process.execPath, [sides[side], 'read', file, spec, String(repeats)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (child.status !== 0) throw new Error(`${side} failed: ${child.stderr}`);
      const out = JSON.parse(child.stdout.trim().split('\n').pop()!) as { rows: number; digest: string; wall: number[]; cpu: number[] };
      const m = medians[side];
      m.wall.push(median(out.wall));
      m.cpu.push(median(out.cpu));
      m.digest.add(out.digest);
      console.log(
        `${side} ${k}: rows ${out.rows} digest ${out.digest} wall ${median(out.wall).toFixed(0)} ms CPU ${median(out.cpu).toFixed(0)} ms ` +
          `(reads: CPU ${out.cpu.map((x) => x.toFixed(0)).join(' ')}) load ${load0}..${loadavg()[0]!.toFixed(1)}`,
      );
    }
  }
  const a = medians.A;
  const b = medians.B;
  const same = a.digest.size === 1 && b.digest.size === 1 && [...a.digest][0] === [...b.digest][0];
  console.log(
    `median of invocations: A wall ${median(a.wall).toFixed(0)} / CPU ${median(a.cpu).toFixed(0)} ms; B wall ${median(b.wall).toFixed(0)} / CPU ${median(b.cpu).toFixed(0)} ms; ` +
      `A/B wall ${(median(a.wall) / median(b.wall)).toFixed(2)}× CPU ${(median(a.cpu) / median(b.cpu)).toFixed(2)}×; ` +
      `CPU pairs B faster ${a.cpu.filter((x, i) => b.cpu[i]! < x).length} of ${a.cpu.length}; outputs ${same ? 'identical' : 'DIFFER'}`,
  );
  if (!same) process.exitCode = 1;
}

async function alternate(readersA: string, file: string, spec: string, rounds: number): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const before = (require(readersA) as { readTypedBatches: Reader }).readTypedBatches;
  const options = optionsOf(spec);
  const sides = { A: before, B: readTypedBatches };
  const digests = { A: (await readOnce(file, options, true, before)).digest, B: (await readOnce(file, options, true)).digest };
  const times = { A: { wall: [] as number[], cpu: [] as number[] }, B: { wall: [] as number[], cpu: [] as number[] } };
  console.log(`file ${file}, columns ${spec}, ${rounds} rounds (A B, then B A), A = ${readersA}, B = this build; digests A ${digests.A} B ${digests.B}`);
  for (let r = 0; r < rounds; r++) {
    const load0 = loadavg()[0]!.toFixed(1);
    for (const side of r % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await readOnce(file, options, false, sides[side]);
      times[side].wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      times[side].cpu.push((c.user + c.system) / 1000);
    }
    const f = (side: 'A' | 'B'): string => `${side} ${times[side].wall[r]!.toFixed(0)} / ${times[side].cpu[r]!.toFixed(0)} ms`;
    console.log(`round ${r + 1}: ${f('A')}, ${f('B')} (wall / CPU) load ${load0}..${loadavg()[0]!.toFixed(1)}`);
  }
  const { A, B } = times;
  console.log(
    `medians: A ${median(A.wall).toFixed(0)} / ${median(A.cpu).toFixed(0)} ms, B ${median(B.wall).toFixed(0)} / ${median(B.cpu).toFixed(0)} ms (wall / CPU); ` +
      `A/B wall ${(median(A.wall) / median(B.wall)).toFixed(2)}× CPU ${(median(A.cpu) / median(B.cpu)).toFixed(2)}×; ` +
      `rounds with B's CPU lower ${A.cpu.filter((x, i) => B.cpu[i]! < x).length} of ${rounds}; outputs ${digests.A === digests.B ? 'identical' : 'DIFFER'}`,
  );
  if (digests.A !== digests.B) process.exitCode = 1;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'alternate') void alternate(args[0]!, args[1]!, args[2] ?? 'all', Number(args[3] ?? 7));
else if (mode === 'read') void read(args[0]!, args[1] ?? 'all', Number(args[2] ?? 5));
else if (mode === 'compare') compare(args[0]!, args[1]!, args[2]!, args[3] ?? 'all', Number(args[4] ?? 5), Number(args[5] ?? 5));
else {
  console.error(
    'usage: csvScanBench.js alternate <readersA.js> <file> <columns> [rounds] | read <file> <columns> [repeats] | compare <benchA.js> <benchB.js> <file> <columns> [invocations] [repeats]',
  );
  process.exitCode = 2;
}
