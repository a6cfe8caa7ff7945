// Content store benchmark (issue 20), side by side with DVC in the same run, interleaved run by run:
//  record  a 1 GB file into the cache: mloop (one pass: sha256 digest while copying to the cache's tmp; rename)
//          vs `dvc add` (md5, copy into .dvc/cache; cache.type reflink,copy = copy on ext4)
//  restore it after the file was deleted: `mloop datasets checkout` (the CLI, dist/cli.js) vs `dvc checkout`. Both trust their cache object by its
//          stat, re-hashing nothing: mloop by the object's seal (size, mtime, ctime, inode recorded when its bytes were
//          hashed), DVC by its state database (inode, mtime, size -> md5); both try a reflink, then copy (mloop: the
//          kernel's copy_file_range; DVC: 1 MiB read/write in Python). Also timed: mloop with `verify` (the
//          `--verify` flag: the object read and sha256-hashed while the kernel copies it), work DVC does not do
//  unchanged: record the same, unchanged file again (warm): mloop vs `dvc add`
// Every measurement is a whole process on both sides (node vs dvc's Python), timed by /usr/bin/time (wall, user+sys).
// Usage: see BENCHMARKS.md. MLOOP_BENCH_DVC=<dvc executable> (default: dvc on PATH), MLOOP_BENCH_RUNS (5),
// MLOOP_BENCH_BIG_BYTES (1 GiB).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cacheVersion } from '../../src/core/cache/contentStore';
import { digestDataset, STAT_MEMO_SETTLE_MS } from '../../src/core/datasets/digest';
import { DatasetRepository } from '../../src/core/store/datasets';
import { openStore } from '../../src/core/store/store';
import type { DatasetDeclaration } from '../../src/core/config/schema';
import { cachedObjectOfSize, snapshotDataset } from '../../src/core/datasets/versions';

const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 5);
const BIG_BYTES = Number(process.env.MLOOP_BENCH_BIG_BYTES ?? 1 << 30);
const DVC = process.env.MLOOP_BENCH_DVC ?? 'dvc';
const FILE = 'data.bin';
/** The mloop CLI (`scripts/build.mjs` makes it): restores are timed as `mloop datasets checkout`, as DVC's are as `dvc checkout`. */
const CLI = process.env.MLOOP_BENCH_CLI ?? join(__dirname, '..', 'dist', 'cli.js');

// ---- child: one mloop operation per process, on the project folder given ----

async function child(mode: string, project: string): Promise<void> {
  const store = openStore({ path: join(project, '.mloop', 'mloop.db') });
  const repo = new DatasetRepository(store);
  const path = join(project, FILE);
  const started = performance.now();
  if (mode === 'record') {
    // what `mloop datasets add` does for a file, without the profile (DVC does not profile): digest, row, cache
    // as snapshotDataset: the file is copied into the cache's tmp in the digest's own pass (no cached object of its size)
    const digest = await digestDataset(path, {
      statMemo: join(project, '.mloop', 'cache', 'stat'),
      stage: { folder: join(project, '.mloop', 'cache', 'tmp'), when: (size) => !cachedObjectOfSize(store, size) },
    });
    const dataset = repo.upsert({ name: 'big', uri: FILE });
    const { version } = repo.addVersion({ datasetId: dataset.datasetId, digest: digest.digest, path: FILE, sizeBytes: digest.sizeBytes });
    const cache = await cacheVersion({
      store,
      projectRoot: project,
      version,
      files: digest.files,
      layout: 'file',
      base: project,
      enabled: true,
      ...(digest.staged ? { staged: digest.staged } : {}),
    });
    if (digest.staged) rmSync(digest.staged.tmp, { force: true }); // renamed into the store, or not needed
    if (cache.status === 'failed') throw new Error(cache.reason);
    console.log(JSON.stringify({ inProcessMs: performance.now() - started, status: cache.status, bytesWritten: cache.bytesWritten, digest: digest.digest }));
  } else if (mode === 'snapshot') {
    // exactly what `mloop datasets add big` runs, for the unchanged case (the version exists: no profile, no copy)
    const snap = await snapshotDataset(store, { name: 'big', declaration: { path: FILE } as DatasetDeclaration, projectRoot: project });
    console.log(
      JSON.stringify({ inProcessMs: performance.now() - started, created: snap.created, status: snap.cache.status, bytesWritten: snap.cache.bytesWritten }),
    );
  }
  store.close();
}

// ---- parent ----

interface Timed {
  wallMs: number;
  cpuMs: number;
  load: number;
  out: string;
}

/** One process under /usr/bin/time: wall and user+system CPU (children included), then the 1-minute load. */
function timed(cmd: string, args: string[], cwd: string): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', '@@%e %U %S', cmd, ...args], { cwd, encoding: 'utf8', env: { ...process.env, DVC_NO_ANALYTICS: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const m = /@@([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr)!;
  return { wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, load: loadavg()[0]!, out: r.stdout };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (ms: number): string => (ms >= 100 ? Math.round(ms).toLocaleString('en-US') : ms.toFixed(1));

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'mloop-cache-bench-'));
  const big = join(base, 'big.bin');
  const fd = openSync(big, 'w');
  for (let done = 0; done < BIG_BYTES; done += 1 << 20) writeSync(fd, randomBytes(Math.min(1 << 20, BIG_BYTES - done)));
  closeSync(fd);
  const self = process.argv[1]!;
  const dvcVersion = execFileSync(DVC, ['--version'], { encoding: 'utf8' }).trim();
  console.log(
    `cache bench: ${(BIG_BYTES / 2 ** 30).toFixed(2)} GiB file, ${RUNS} runs + 1 warm-up, ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GB RAM, node ${process.version}, dvc ${dvcVersion}`,
  );
  const rows: Record<string, Timed[]> = {
    mloopRecord: [],
    dvcAdd: [],
    mloopRestore: [],
    dvcCheckout: [],
    mloopRestoreVerify: [],
    mloopUnchanged: [],
    dvcUnchanged: [],
  };
  const inProcess: Record<string, number[]> = { record: [], unchanged: [] };
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run scripts/build.mjs first (or set MLOOP_BENCH_CLI)`);
  /** `mloop datasets checkout <ref> --json` in the project, whole process; asserts which check the restore did. */
  const checkout = (ref: string, project: string, verified: 'sealed' | 'hashed', ...flags: string[]): Timed => {
    const t = timed(process.execPath, [CLI, 'datasets', 'checkout', ref, '--json', ...flags], project);
    const out = JSON.parse(t.out) as { verified: string; bytes: number };
    if (out.verified !== verified || out.bytes !== BIG_BYTES) throw new Error(`mloop datasets checkout ${flags.join(' ')}: ${t.out}`);
    return t;
  };
  for (let run = 0; run <= RUNS; run++) {
    const m = join(base, `m${run}`);
    const d = join(base, `d${run}`);
    mkdirSync(m);
    mkdirSync(d);
    // the same bytes, warm in the page cache, on both sides (a hard link: no copy before the clock starts)
    linkSync(big, join(m, FILE));
    linkSync(big, join(d, FILE));
    execFileSync(DVC, ['init', '--no-scm', '-q'], { cwd: d, env: { ...process.env, DVC_NO_ANALYTICS: '1' } });
    const sample: Record<string, Timed> = {};
    sample.mloopRecord = timed(process.execPath, [self, 'child', 'record', m], m);
    sample.dvcAdd = timed(DVC, ['add', '-q', FILE], d);
    unlinkSync(join(m, FILE));
    unlinkSync(join(d, FILE));
    const ref = `big@${(JSON.parse(sample.mloopRecord.out) as { digest: string }).digest}`;
    sample.mloopRestore = checkout(ref, m, 'sealed');
    sample.dvcCheckout = timed(DVC, ['checkout', '-q', `${FILE}.dvc`], d);
    unlinkSync(join(m, FILE));
    sample.mloopRestoreVerify = checkout(ref, m, 'hashed', '--verify');
    // unchanged: the restored file recorded once more to warm both sides' stat memory, then timed (mloop does not
    // remember a file changed within the last second: the pause lets the restored file settle first)
    await new Promise((r) => setTimeout(r, STAT_MEMO_SETTLE_MS + 100));
    timed(process.execPath, [self, 'child', 'record', m], m);
    timed(DVC, ['add', '-q', FILE], d);
    sample.mloopUnchanged = timed(process.execPath, [self, 'child', 'record', m], m);
    sample.dvcUnchanged = timed(DVC, ['add', '-q', FILE], d);
    const rec = JSON.parse(sample.mloopRecord.out) as { inProcessMs: number; bytesWritten: number };
    const unchanged = JSON.parse(sample.mloopUnchanged.out) as { inProcessMs: number; status: string; bytesWritten: number };
    if (rec.bytesWritten !== BIG_BYTES || unchanged.status !== 'already' || unchanged.bytesWritten !== 0) throw new Error('mloop did not do the work');
    if (run === RUNS) {
      // both restores hold the original bytes
      for (const dir of [m, d]) execFileSync('cmp', [big, join(dir, FILE)]);
      console.log('restored files compared byte for byte with the original: equal');
    }
    rmSync(m, { recursive: true, force: true });
    rmSync(d, { recursive: true, force: true });
    if (run === 0) continue; // warm-up
    for (const [k, v] of Object.entries(sample)) rows[k]!.push(v);
    inProcess.record!.push(rec.inProcessMs);
    inProcess.unchanged!.push(unchanged.inProcessMs);
    console.log(
      `run ${run}: ${Object.entries(sample)
        .map(([k, v]) => `${k} ${f(v.wallMs)}/${f(v.cpuMs)} ms (load ${v.load.toFixed(1)})`)
        .join(' · ')} · mloop in-process record/unchanged ${f(rec.inProcessMs)}/${f(unchanged.inProcessMs)} ms`,
    );
  }
  rmSync(base, { recursive: true, force: true });
  for (const [name, a, b] of [
    ['record', 'mloopRecord', 'dvcAdd'],
    ['restore', 'mloopRestore', 'dvcCheckout'],
    ['restoreVerify', 'mloopRestoreVerify', 'dvcCheckout'],
    ['unchanged', 'mloopUnchanged', 'dvcUnchanged'],
  ] as const) {
    const mw = median(rows[a]!.map((t) => t.wallMs));
    const mc = median(rows[a]!.map((t) => t.cpuMs));
    const dw = median(rows[b]!.map((t) => t.wallMs));
    const dc = median(rows[b]!.map((t) => t.cpuMs));
    console.log(
      `median ${name}: mloop ${f(mw)} / ${f(mc)} ms${inProcess[name] ? ` (in-process ${f(median(inProcess[name]!))} ms)` : ' (the CLI)'} · dvc ${f(dw)} / ${f(dc)} ms · ratio wall ${(dw / mw).toFixed(2)}× CPU ${(dc / mc).toFixed(2)}×`,
    );
  }
}

/** `cacheBench.js unchanged`: `mloop datasets add` of an unchanged 1 GB version, warm, 5 times (in-process and whole process). */
async function unchanged(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'mloop-cache-bench-'));
  const fd = openSync(join(base, FILE), 'w');
  for (let done = 0; done < BIG_BYTES; done += 1 << 20) writeSync(fd, randomBytes(Math.min(1 << 20, BIG_BYTES - done)));
  closeSync(fd);
  const self = process.argv[1]!;
  timed(process.execPath, [self, 'child', 'record', base], base);
  await new Promise((r) => setTimeout(r, STAT_MEMO_SETTLE_MS + 100));
  timed(process.execPath, [self, 'child', 'snapshot', base], base); // remembers the digest
  const samples: { wallMs: number; cpuMs: number; load: number; inProcessMs: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t = timed(process.execPath, [self, 'child', 'snapshot', base], base);
    const out = JSON.parse(t.out) as { inProcessMs: number; created: boolean; status: string; bytesWritten: number };
    if (out.created || out.status !== 'already' || out.bytesWritten !== 0) throw new Error(`not the unchanged path: ${t.out}`);
    samples.push({ ...t, inProcessMs: out.inProcessMs });
    console.log(
      `unchanged run ${run + 1}: snapshotDataset ${f(out.inProcessMs)} ms in-process · process ${f(t.wallMs)}/${f(t.cpuMs)} ms (load ${t.load.toFixed(1)})`,
    );
  }
  console.log(`median unchanged: ${f(median(samples.map((x) => x.inProcessMs)))} ms in-process, process ${f(median(samples.map((x) => x.wallMs)))} ms wall`);
  rmSync(base, { recursive: true, force: true });
}

if (process.argv[2] === 'unchanged') {
  unchanged().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else if (process.argv[2] === 'child') {
  child(process.argv[3]!, process.argv[4]!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
