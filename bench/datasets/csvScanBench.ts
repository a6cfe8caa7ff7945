// The typed CSV reader alone (readTypedBatches: scan + number parse + column building), no consumer: how fast a
// predictions log is turned into typed columns. Two builds of this bench (e.g. main's and a branch's) are compared by
// running them as child processes interleaved A, B, A, B, …, each invocation a warm-up read whose output is digested
// (the two builds must give the same digest) and then `repeats` timed reads; wall and CPU (user + system of the
// process) per read, medians per invocation.
//
// usage:
//   node csvScanBench.js read <file> <all|cbpe|name,name,…> [repeats=5]      one invocation, prints one JSON line
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

async function readOnce(file: string, options: ReturnType<typeof optionsOf>, digest: boolean): Promise<{ rows: number; digest: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  for await (const batch of readTypedBatches(file, options)) {
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

const [mode, ...args] = process.argv.slice(2);
if (mode === 'read') void read(args[0]!, args[1] ?? 'all', Number(args[2] ?? 5));
else if (mode === 'compare') compare(args[0]!, args[1]!, args[2]!, args[3] ?? 'all', Number(args[4] ?? 5), Number(args[5] ?? 5));
else {
  console.error('usage: csvScanBench.js read <file> <columns> [repeats] | compare <benchA.js> <benchB.js> <file> <columns> [invocations] [repeats]');
  process.exitCode = 2;
}
