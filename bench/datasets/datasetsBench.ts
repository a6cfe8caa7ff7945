// Datasets benchmarks (issue 4), each side by side with a peer measured in the same run:
//  1. Profile flights-3m.parquet (3M rows): mloop's profileDataset (columnar scanner; hyparquet reads the footer) vs pandas/pyarrow computing the same
//     statistics vs DuckDB's SUMMARIZE (when @duckdb/node-api is importable: MLOOP_BENCH_DUCKDB=<its node_modules>).
//     Also a plain full scan with each Parquet reader (mloop's columnar scanner, hyparquet via readBatches, DuckDB streamed chunks) — the
//     figures the reader choice in the README rests on. Each run is a fresh child process, so its peak RSS is its own.
//  2. Digest of a 1 GB file, warm (page cache): digestDataset (sha256, streamed) vs `sha256sum` vs `dvc add`
//     (pip dvc, cache.type hardlink so DVC hashes rather than copies).
//  3. Preview's first page (200 rows) of a small CSV, the same 1 GB CSV and the Parquet file: a big file opens as fast.
// Median of MLOOP_BENCH_RUNS (5) runs after one warm-up. Usage: see BENCHMARKS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  openSync,
  readSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { digestDataset, READ_BYTES } from '../../src/core/datasets/digest';
import { previewRows } from '../../src/core/datasets/preview';
import { scanParquet } from '../../src/core/datasets/parquetScan';
import { profileDataset } from '../../src/core/datasets/profile';
import { readBatches } from '../../src/core/datasets/readers';

const ROOT = resolve(__dirname, '..', '..', '..');
const DATA = join(ROOT, 'node_modules', 'vega-datasets', 'data');
const PARQUET = join(DATA, 'flights-3m.parquet');
const SMALL_CSV = join(DATA, 'seattle-weather.csv');
const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 5);
const BIG_BYTES = Number(process.env.MLOOP_BENCH_BIG_BYTES ?? 1 << 30);
const DUCKDB = process.env.MLOOP_BENCH_DUCKDB; // a node_modules folder holding @duckdb/node-api
/** This bench's bundle built from another commit (main's, say): its profile runs in the same interleave, as "before". */
const BASE = process.env.MLOOP_BENCH_BASE;
/** Sections to run: profile,digest,preview (all by default). */
const ONLY = new Set((process.env.MLOOP_BENCH_ONLY ?? 'profile,digest,preview').split(','));

interface Sample {
  ms: number;
  maxRssMB: number;
  /** user + system CPU time of the measuring process (the machine is shared: wall time varies with load). */
  cpuMs?: number;
  rows?: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]): string => `${Math.round(median(xs))} ms (runs ${xs.map((x) => Math.round(x)).join(', ')})`;

// ---- child modes: one measurement per process ----

async function child(mode: string, file: string): Promise<void> {
  // profile-warm: the same profile after a first one in the same process (not timed), as a long-lived extension host
  // profiles its second dataset; the pandas side does the same (WARM=1), so both clocks leave out first-call costs
  if (mode === 'profile-warm') await profileDataset(file);
  // the global \`performance\` loads node:perf_hooks on first use (~1 ms of CPU): the clock's own cost, paid before it starts
  performance.now();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let rows = 0;
  if (mode === 'profile' || mode === 'profile-warm') {
    rows = (await profileDataset(file)).rows;
  } else if (mode === 'scan-columnar') {
    rows = (await scanParquet(file, { piece: () => undefined })).rows;
  } else if (mode === 'scan-hyparquet') {
    for await (const batch of readBatches(file)) rows += batch.rows;
  } else if (mode === 'scan-duckdb' || mode === 'summarize-duckdb') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const duck = require(join(DUCKDB!, '@duckdb', 'node-api')) as {
      DuckDBInstance: { create(path: string, options?: Record<string, string>): Promise<{ connect(): Promise<DuckConnection> }> };
    };
    type DuckConnection = {
      stream(sql: string): Promise<{ fetchChunk(): Promise<{ rowCount: number; getColumns(): unknown[][] }> }>;
      runAndReadAll(sql: string): Promise<{ getRowObjectsJson(): unknown[] }>;
    };
    const instance = await duck.DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    const source = `read_parquet('${file.replace(/'/g, "''")}')`;
    if (mode === 'scan-duckdb') {
      const result = await connection.stream(`SELECT * FROM ${source}`);
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk.rowCount === 0) break;
        chunk.getColumns(); // materialize JS values, as mloop's reader does
        rows += chunk.rowCount;
      }
    } else {
      const summary = await connection.runAndReadAll(`SUMMARIZE SELECT * FROM ${source}`);
      rows = Number((summary.getRowObjectsJson()[0] as { count: string | number }).count);
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu); // from the clock's start: loading the code is excluded, as the peer's imports are
  const usage = process.resourceUsage();
  const sample: Sample = { ms, maxRssMB: usage.maxRSS / 1024, cpuMs: (used.user + used.system) / 1000, rows };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function runChild(mode: string, file: string, bundle = __filename): Sample {
  const out = execFileSync(process.execPath, [bundle, 'child', mode, file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
}

// The peer: pandas + pyarrow computing what profileDataset computes (profile.ts): per column nulls; for numbers
// count, zeros, min, max, mean, sample std, 101 percentiles (linear) of a uniform 16,384-value sample above
// 100,000 values (exact below; extremes exact), counts over power-of-two-aligned equal-width bins (≤ 32); for
// text exact counts (distinct, top 10); for dates min/max. Imports run before the clock starts, as mloop's
// code is loaded before its clock starts; CPU is the delta over the same span on both sides. Text columns are read
// as categoricals (read_dictionary: pyarrow keeps their dictionary pages' codes, as mloop counts the codes), pandas'
// fast path for value counts; categories no row uses are dropped, so the counts equal those of plain strings.
// SAMPLED=0 computes exact percentiles instead (the pre-issue-16 peer's quantiles, with histograms).
const PANDAS_PROFILE = `
import json, math, resource, sys
import time
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd
sampled = sys.argv[2] == '1'
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
def profile():
  text = [f.name for f in pq.read_schema(sys.argv[1]) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
  df = pq.read_table(sys.argv[1], read_dictionary=text).to_pandas()
  probs = [i / 100 for i in range(101)]
  out = {}
  for c in df.columns:
      s = df[c]
      nulls = int(s.isna().sum())
      if s.dtype.kind in 'iuf':
          v = s.to_numpy(dtype='float64')
          v = v[np.isfinite(v)]
          lo, hi = v.min(), v.max()
          q = np.quantile(np.random.default_rng(0).choice(v, 16384, replace=False) if sampled and len(v) > 100000 else v, probs)
          q[0], q[-1] = lo, hi
          raw = (hi - lo) / 31 if hi > lo else (abs(lo) or 1)
          width = 2.0 ** math.ceil(math.log2(raw))
          idx = np.floor(v / width).astype(np.int64)
          counts = np.bincount(idx - idx.min())
          out[c] = [nulls, len(v), int((v == 0).sum()), lo, hi, v.mean(), v.std(ddof=1), q.tolist(), counts.tolist()]
      elif s.dtype.kind == 'M':
          out[c] = [nulls, str(s.min()), str(s.max())]
      else:
          vc = s.value_counts()
          vc = vc[vc > 0]
          out[c] = [nulls, len(vc), vc.head(10).to_dict()]
  return out, len(df)
if len(sys.argv) > 3 and sys.argv[3] == 'warm':
  profile()  # not timed: a first profile in the same process, as mloop's profile-warm child does
t, c0 = time.perf_counter(), cpu()
out, n = profile()
ms = (time.perf_counter() - t) * 1000
cpu_ms = (cpu() - c0) * 1000
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"ms": ms, "maxRssMB": u.ru_maxrss / 1024, "cpuMs": cpu_ms, "rows": n}))
`;

function pandasProfile(file: string, sampled: boolean, warm = false): Sample {
  const out = execFileSync('python3', ['-c', PANDAS_PROFILE, file, sampled ? '1' : '0', ...(warm ? ['warm'] : [])], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
}

/** One warm-up each, then the functions in turn, run by run, each run's load average kept. */
function interleave<T>(fns: readonly (() => T)[]): { samples: T[][]; loads: number[][] } {
  for (const fn of fns) fn();
  const samples: T[][] = fns.map(() => []);
  const loads: number[][] = fns.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, fn] of fns.entries()) {
      samples[k]!.push(fn());
      loads[k]!.push(loadavg()[0]!);
    }
    process.stderr.write(`  profile run ${i + 1}: done (load ${loadavg()[0]!.toFixed(1)})\n`);
  }
  return { samples, loads };
}

function repeat<T>(what: string, fn: () => T): T[] {
  fn(); // warm-up: page cache, pyc, JIT of the parent
  const out: T[] = [];
  for (let i = 0; i < RUNS; i++) out.push(fn());
  process.stderr.write(`  ${what}: done\n`);
  return out;
}

async function alternateAsync(fns: (() => Promise<unknown>)[]): Promise<number[][]> {
  for (const fn of fns) await fn();
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, fn] of fns.entries()) {
      const t = performance.now();
      await fn();
      out[k]!.push(performance.now() - t);
    }
  }
  return out;
}

async function repeatAsync(fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** A CSV of about `bytes` bytes: the weather rows over and over, dates made unique. */
async function writeBigCsv(path: string, bytes: number): Promise<void> {
  const lines = readFileSync(SMALL_CSV, 'utf8').trim().split('\n');
  const header = lines[0]!;
  const body = lines.slice(1).map((l) => l.slice(l.indexOf(',')));
  const out = createWriteStream(path);
  out.write(`${header}\n`);
  let written = header.length + 1;
  for (let day = 0; written < bytes; ) {
    const parts: string[] = [];
    for (const rest of body) parts.push(`${new Date(Date.UTC(1900, 0, 1) + day++ * 3_600_000).toISOString()}${rest}`);
    const chunk = `${parts.join('\n')}\n`;
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function timeCommand(cmd: string, args: string[], cwd: string): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t;
}

async function main(): Promise<void> {
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GB RAM, Node ${process.version}; median of ${RUNS} runs after a warm-up`,
  );

  if (ONLY.has('profile')) await profileSection();
  if (ONLY.has('digest') || ONLY.has('preview')) await bigFileSections();
}

async function profileSection(): Promise<void> {
  const decoded = JSON.parse(
    execFileSync(
      'python3',
      ['-c', 'import json,sys,pyarrow.parquet as pq; t=pq.read_table(sys.argv[1]); print(json.dumps({"rows": t.num_rows, "nbytes": t.nbytes}))', PARQUET],
      { encoding: 'utf8' },
    ),
  ) as { rows: number; nbytes: number };
  console.log(
    `\n## Profile ${PARQUET.slice(ROOT.length + 1)} (${(statSync(PARQUET).size / 1e6).toFixed(1)} MB on disk, ${decoded.rows.toLocaleString('en-US')} rows, ${(decoded.nbytes / 1e6).toFixed(0)} MB decoded as Arrow)`,
  );
  const profiles = interleave([
    () => runChild('profile', PARQUET),
    () => pandasProfile(PARQUET, true),
    () => pandasProfile(PARQUET, false),
    () => runChild('profile-warm', PARQUET),
    () => pandasProfile(PARQUET, true, true),
    ...(BASE ? [() => runChild('profile', PARQUET, BASE)] : []),
  ]);
  const [mloopRuns, pandasRuns, pandasExactRuns, warmRuns, pandasWarmRuns, baseRuns] = profiles.samples as [
    Sample[],
    Sample[],
    Sample[],
    Sample[],
    Sample[],
    Sample[] | undefined,
  ];
  console.log('| run | mloop wall / CPU | pandas (same statistics) wall / CPU | ratio wall / CPU | load after mloop / pandas |\n|---|---|---|---|---|');
  mloopRuns.forEach((m, i) => {
    const p = pandasRuns[i]!;
    console.log(
      `| ${i + 1} | ${Math.round(m.ms)} / ${Math.round(m.cpuMs!)} ms | ${Math.round(p.ms)} / ${Math.round(p.cpuMs!)} ms | ${(p.ms / m.ms).toFixed(2)}× / ${(p.cpuMs! / m.cpuMs!).toFixed(2)}× | ${profiles.loads[0]![i]!.toFixed(1)} / ${profiles.loads[1]![i]!.toFixed(1)} |`,
    );
  });
  const ratio = (key: 'ms' | 'cpuMs', peer = pandasRuns): string => (median(peer.map((s) => s[key]!)) / median(mloopRuns.map((s) => s[key]!))).toFixed(2);
  console.log(`pandas / mloop, medians: ${ratio('ms')}× wall, ${ratio('cpuMs')}× CPU`);
  // the same pair warm: each side's second profile in its process (the first not timed), interleaved in the same runs
  console.log('| warm run | mloop wall / CPU | pandas (same statistics) wall / CPU | ratio wall / CPU | load after mloop / pandas |\n|---|---|---|---|---|');
  warmRuns.forEach((m, i) => {
    const p = pandasWarmRuns[i]!;
    console.log(
      `| warm ${i + 1} | ${Math.round(m.ms)} / ${Math.round(m.cpuMs!)} ms | ${Math.round(p.ms)} / ${Math.round(p.cpuMs!)} ms | ${(p.ms / m.ms).toFixed(2)}× / ${(p.cpuMs! / m.cpuMs!).toFixed(2)}× | ${profiles.loads[3]![i]!.toFixed(1)} / ${profiles.loads[4]![i]!.toFixed(1)} |`,
    );
  });
  const warmRatio = (key: 'ms' | 'cpuMs'): string => (median(pandasWarmRuns.map((s) => s[key]!)) / median(warmRuns.map((s) => s[key]!))).toFixed(2);
  console.log(`warm: pandas / mloop, medians: ${warmRatio('ms')}× wall, ${warmRatio('cpuMs')}× CPU`);
  if (baseRuns) {
    console.log(`before (${BASE}) wall / CPU per run: ${baseRuns.map((s) => `${Math.round(s.ms)} / ${Math.round(s.cpuMs!)}`).join(', ')} ms`);
    console.log(
      `before / mloop, medians: ${ratio('ms', baseRuns)}× wall, ${ratio('cpuMs', baseRuns)}× CPU; pandas / before: ${(median(pandasRuns.map((s) => s.ms)) / median(baseRuns.map((s) => s.ms))).toFixed(2)}× wall, ${(median(pandasRuns.map((s) => s.cpuMs!)) / median(baseRuns.map((s) => s.cpuMs!))).toFixed(2)}× CPU`,
    );
  }
  const table: [string, Sample[]][] = [
    ['mloop profileDataset (columnar scanner)', mloopRuns],
    ['peer: pandas + pyarrow, same statistics (16,384-value sample percentiles, histograms)', pandasRuns],
    ['pandas + pyarrow, exact percentiles, histograms', pandasExactRuns],
    ['warm: mloop profileDataset, the second in its process', warmRuns],
    ['warm: pandas + pyarrow, same statistics, the second in its process', pandasWarmRuns],
    ...(baseRuns ? ([['before: mloop profileDataset, MLOOP_BENCH_BASE', baseRuns]] as [string, Sample[]][]) : []),
    ['scan only: mloop columnar scanner (scanParquet)', repeat('columnar scan', () => runChild('scan-columnar', PARQUET))],
    ['scan only: hyparquet via readBatches', repeat('hyparquet scan', () => runChild('scan-hyparquet', PARQUET))],
  ];
  if (DUCKDB && existsSync(join(DUCKDB, '@duckdb', 'node-api'))) {
    table.push(['scan only: DuckDB (@duckdb/node-api, 1 thread), chunks → JS values', repeat('duckdb scan', () => runChild('scan-duckdb', PARQUET))]);
    table.push(['peer: DuckDB SUMMARIZE (1 thread)', repeat('duckdb summarize', () => runChild('summarize-duckdb', PARQUET))]);
  } else {
    console.log('(DuckDB not measured: set MLOOP_BENCH_DUCKDB to a node_modules folder with @duckdb/node-api)');
  }
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
  );
  console.log('| what | median time | median CPU time (user+sys) | median peak RSS |\n|---|---|---|---|');
  for (const [what, samples] of table) {
    console.log(
      `| ${what} | ${fmt(samples.map((s) => s.ms))} | ${Math.round(median(samples.map((s) => s.cpuMs ?? Number.NaN)))} ms | ${Math.round(median(samples.map((s) => s.maxRssMB)))} MB |`,
    );
  }
}

async function bigFileSections(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-datasets-'));
  try {
    const big = join(dir, 'big.csv');
    await writeBigCsv(big, BIG_BYTES);
    const size = statSync(big).size;
    if (ONLY.has('digest')) await digestSection(big, size, dir);
    if (ONLY.has('preview')) await previewSection(big);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function digestSection(big: string, size: number, dir: string): Promise<void> {
  console.log(`\n## Digest of a ${(size / 2 ** 30).toFixed(2)} GiB CSV, warm (the file is in the page cache)`);
  console.log(
    `load average before (1, 5, 15 min): ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`,
  );
  // the previous implementation, for the record: a 4 MiB createReadStream, each chunk hashed as it arrives
  const stream = async (): Promise<string> => {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(big, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk);
    return hash.digest('hex');
  };
  // alternated run by run, so both see the same load
  const [ours, streamed] = await alternateAsync([() => digestDataset(big), stream]);
  const sha256sum = repeat('sha256sum', () => timeCommand('sha256sum', [big], dir));
  const dvcDir = join(dir, 'dvc');
  mkdirSync(dvcDir);
  execFileSync('dvc', ['init', '--no-scm', '-q'], { cwd: dvcDir });
  execFileSync('dvc', ['config', 'cache.type', 'hardlink'], { cwd: dvcDir });
  execFileSync('ln', [big, join(dvcDir, 'big.csv')]);
  const dvc = repeat('dvc add', () => {
    // a fresh add each time: no .dvc file, no cache entry, no hash state to reuse
    rmSync(join(dvcDir, 'big.csv.dvc'), { force: true });
    rmSync(join(dvcDir, '.dvc', 'cache'), { recursive: true, force: true });
    rmSync(join(dvcDir, '.dvc', 'tmp'), { recursive: true, force: true });
    if (!existsSync(join(dvcDir, 'big.csv'))) execFileSync('ln', [big, join(dvcDir, 'big.csv')]);
    return timeCommand('dvc', ['add', '-q', 'big.csv'], dvcDir);
  });
  console.log(
    `load average after the digest runs (1, 5, 15 min): ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`,
  );
  const gbps = (ms: number): string => `${(size / 1e9 / (ms / 1000)).toFixed(2)} GB/s`;
  console.log('| what | median time | throughput | ratio to mloop |\n|---|---|---|---|');
  for (const [what, xs] of [
    [`mloop digestDataset (sha256, ${READ_BYTES >> 20} MiB reads overlapped with hashing)`, ours],
    ['before: createReadStream 4 MiB, hash per chunk', streamed],
    ['peer: sha256sum', sha256sum],
    ['peer: dvc add (md5, cache.type hardlink)', dvc],
  ] as const) {
    console.log(`| ${what} | ${fmt(xs)} | ${gbps(median(xs))} | ${(median(xs) / median(ours)).toFixed(2)}× |`);
  }
}

async function previewSection(big: string): Promise<void> {
  console.log('\n## Preview: first page (200 rows), in process');
  console.log('| file | size | median time |\n|---|---|---|');
  // the first 20,000 lines of big.csv: the same columns in a file 1/1000 of the size
  const head = join(dirname(big), 'head.csv');
  const prefix = Buffer.alloc(2 << 20);
  const fd = openSync(big, 'r');
  readSync(fd, prefix, 0, prefix.length, 0);
  closeSync(fd);
  writeFileSync(head, `${prefix.toString('utf8').split('\n').slice(0, 20_000).join('\n')}\n`);
  for (const [name, file] of [
    ['seattle-weather.csv', SMALL_CSV],
    ['head.csv (first 20,000 lines of big.csv)', head],
    ['big.csv (above)', big],
    ['flights-3m.parquet', PARQUET],
  ] as const) {
    const xs = await repeatAsync(() => previewRows(file, { limit: 200 }));
    console.log(`| ${name} | ${(statSync(file).size / 1e6).toFixed(1)} MB | ${fmt(xs)} |`);
  }
}

if (process.argv[2] === 'child') {
  child(process.argv[3]!, process.argv[4]!).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
