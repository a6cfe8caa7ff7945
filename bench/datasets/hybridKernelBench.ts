// The dictionary-index counting kernel alone (issue 16, row 4): every HybridCounter.count call of one flights-3m profile is
// recorded, then replayed through two kernels' bytes, each in fresh processes, alternated round by round (the order
// swapped every round). Each child counts the recorded pages three times: the first pass is a cold process's (Liftoff,
// then V8's tier-up), the third a warm one's. Both kernels must give the same distinct counts, order[], counts[] and
// picked indices on every page (a checksum a pass), or the bench fails.
// Usage: bundle it as bench/all.sh bundles datasetsBench (outfile out/bench/datasets/hybridKernelBench.js), then
//   node out/bench/datasets/hybridKernelBench.js <another commit's src/core/datasets/hybridKernelWasm.ts> [rounds: 21]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { HybridCounter } from '../../src/core/datasets/hybridKernel';
import { HYBRID_KERNEL_WASM } from '../../src/core/datasets/hybridKernelWasm';
import { profileDataset } from '../../src/core/datasets/profile';

const PARQUET = join(resolve(__dirname, '..', '..', '..'), 'node_modules', 'vega-datasets', 'data', 'flights-3m.parquet');
const PASSES = 3;

interface Pass {
  /** The kernel's calls only: wall and this thread's CPU. */
  kernelMs: number;
  kernelCpuMs: number;
  checksum: number;
}

declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
};

interface Kernel {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly countHybrid: (...args: number[]) => number;
}

/** Every count() of one profile: its page bytes, width, count, dictionary size and asked positions, in one file. */
async function record(file: string): Promise<void> {
  const parts: Buffer[] = [];
  const count = HybridCounter.prototype.count;
  HybridCounter.prototype.count = function (this: HybridCounter, bytes, pos, end, width, n, size, positions, pickCount = 0) {
    const head = Buffer.alloc(20);
    [end - pos, width, n, size, pickCount].forEach((v, i) => head.writeInt32LE(v, 4 * i));
    parts.push(head, Buffer.from(bytes.subarray(pos, end)), Buffer.from(Int32Array.from(positions?.subarray(0, pickCount) ?? []).buffer));
    return count.call(this, bytes, pos, end, width, n, size, positions, pickCount);
  };
  await profileDataset(PARQUET);
  HybridCounter.prototype.count = count;
  writeFileSync(file, Buffer.concat(parts));
}

/** One child: the recorded pages counted PASSES times by the kernel whose base64 bytes are in `kernelFile`. */
function replay(kernelFile: string, pagesFile: string): void {
  const data = readFileSync(pagesFile);
  const calls: { bytes: Uint8Array; width: number; count: number; size: number; positions: Int32Array }[] = [];
  for (let at = 0; at < data.length; ) {
    const [length, width, count, size, picks] = [0, 1, 2, 3, 4].map((i) => data.readInt32LE(at + 4 * i)) as [number, number, number, number, number];
    at += 20;
    const bytes = data.subarray(at, at + length);
    at += length;
    calls.push({ bytes, width, count, size, positions: new Int32Array(data.buffer.slice(data.byteOffset + at, data.byteOffset + at + 4 * picks)) });
    at += 4 * picks;
  }
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(readFileSync(kernelFile, 'utf8'), 'base64'))).exports as Kernel;
  // the product's layout (HybridCounter), with room for flights-3m's largest page, dictionary (2^15) and picks
  const table = 1 << 16;
  const picksCap = 1 << 15;
  const positionsAt = table * 8;
  const pickedAt = positionsAt + picksCap * 4;
  const pageAt = pickedAt + picksCap * 4;
  const needed = pageAt + Math.max(...calls.map((c) => c.bytes.length)) + 4;
  kernel.memory.grow(Math.ceil((needed - kernel.memory.buffer.byteLength) / 65536));
  const memory = kernel.memory.buffer;
  const counts = new Int32Array(memory, 0, table);
  const order = new Int32Array(memory, table * 4, table);
  const picked = new Int32Array(memory, pickedAt, picksCap);
  const passes: Pass[] = [];
  for (let p = 0; p < PASSES; p++) {
    const pass: Pass = { kernelMs: 0, kernelCpuMs: 0, checksum: 0 };
    for (const c of calls) {
      new Uint8Array(memory, pageAt, c.bytes.length).set(c.bytes);
      new Int32Array(memory, positionsAt, c.positions.length).set(c.positions);
      const cpu = process.threadCpuUsage();
      const started = performance.now();
      const distinct = kernel.countHybrid(
        pageAt,
        pageAt + c.bytes.length,
        c.width,
        c.count,
        0,
        c.size,
        table * 4,
        0,
        positionsAt,
        c.positions.length,
        pickedAt,
      );
      pass.kernelMs += performance.now() - started;
      const used = process.threadCpuUsage(cpu);
      pass.kernelCpuMs += (used.user + used.system) / 1000;
      if (distinct < 0) throw new Error(`the kernel failed (${distinct}) on a recorded page`);
      let h = distinct;
      for (let d = 0; d < distinct; d++) h = (Math.imul(h, 31) + order[d]! * 7 + counts[order[d]!]!) | 0;
      for (let j = 0; j < c.positions.length; j++) h = (Math.imul(h, 31) + picked[j]!) | 0;
      pass.checksum = (Math.imul(pass.checksum, 7) + h) | 0;
      counts.fill(0);
    }
    passes.push(pass);
  }
  const total = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ passes, processCpuMs: (total.user + total.system) / 1000 })}\n`);
}

async function main(baseFile: string, rounds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-kernel-bench-'));
  try {
    const pages = join(dir, 'pages.bin');
    const kernels = { base: join(dir, 'base.b64'), current: join(dir, 'current.b64') };
    const base = /'([A-Za-z0-9+/=]+)'/.exec(readFileSync(baseFile, 'utf8'))?.[1];
    if (!base) throw new Error(`${baseFile}: no base64 kernel bytes in it`);
    writeFileSync(kernels.base, base);
    writeFileSync(kernels.current, HYBRID_KERNEL_WASM);
    await record(pages);
    type Run = { passes: Pass[]; processCpuMs: number };
    const runs: Record<'base' | 'current', Run[]> = { base: [], current: [] };
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? (['base', 'current'] as const) : (['current', 'base'] as const)) {
        const child = spawnSync(process.execPath, [__filename, 'replay', kernels[name], pages], { encoding: 'utf8' });
        if (child.status !== 0) throw new Error(`replay ${name}: ${child.stderr}`);
        runs[name].push(JSON.parse(child.stdout) as Run);
      }
      loads.push(loadavg()[0]!);
    }
    const sums = new Set([...runs.base, ...runs.current].flatMap((run) => run.passes.map((p) => p.checksum)));
    if (sums.size !== 1) throw new Error('the kernels counted the pages differently');
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const lower = (f: (run: Run) => number): number => runs.current.filter((run, i) => f(run) < f(runs.base[i]!)).length;
    const figures: [string, (run: Run) => number][] = [
      ['cold kernel CPU', (run) => run.passes[0]!.kernelCpuMs],
      ['cold kernel wall', (run) => run.passes[0]!.kernelMs],
      ['warm kernel CPU', (run) => run.passes[PASSES - 1]!.kernelCpuMs],
      ['process CPU', (run) => run.processCpuMs],
    ];
    console.log(`${rounds} rounds, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; the same counts on every page`);
    for (const [what, f] of figures)
      console.log(
        `${what}: base ${median(runs.base.map(f)).toFixed(2)} ms, current ${median(runs.current.map(f)).toFixed(2)} ms (lower in ${lower(f)}/${rounds})`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'replay') replay(process.argv[3]!, process.argv[4]!);
else if (process.argv[2])
  main(process.argv[2], Number(process.argv[3] ?? 21)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
else throw new Error('usage: hybridKernelBench.js <another commit’s hybridKernelWasm.ts> [rounds]');
