// What store migration 021's indexes (metric_series(key, latest_value, run_id), param(key, value, run_id)) cost writes:
// the same writes on two fresh stores, without and with the two indexes, interleaved, CPU and wall per repetition.
//   bulk     10,000 runs × (20 params + 40 series) inserted in one transaction (an import of a large store)
//   commits  1,000 commits, each updating one run's 10 latest metric values (a client committing per step)
// MLOOP_BENCH_STEP=023: migration 023's indexes instead (metric_series(key, min_value|max_value, run_id),
// tag(key, value, run_id)): "without" has 021's two, "with" adds 023's three; each run also gets 5 tags, the series
// random min/max, and each commit moves the min and max as an append does.
// Usage (scripts/build.mjs bundles it into out/bench/experiments/):
//   bash scripts/with-node.sh node out/bench/experiments/keyIndexCostBench.js      # MLOOP_BENCH_REPEAT (3)
// MLOOP_BENCH_STEP=023 also measures a third store, "after": the bulk written with 021's indexes only, then 023's three
// created in the same transaction (what an import into an empty store could do instead of updating them per row).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const REPEAT = Number(process.env.MLOOP_BENCH_REPEAT ?? 3);
const STEP_023 = process.env.MLOOP_BENCH_STEP === '023';
const INDEXES_021 =
  'CREATE INDEX metric_series_by_key_value ON metric_series(key, latest_value, run_id); CREATE INDEX param_by_key_value ON param(key, value, run_id);';
const INDEXES_023 =
  'CREATE INDEX metric_series_by_key_min ON metric_series(key, min_value, run_id); CREATE INDEX metric_series_by_key_max ON metric_series(key, max_value, run_id); CREATE INDEX tag_by_key_value ON tag(key, value, run_id);';
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runId = (n: number): string => ((n * 2654435761) % 4294967296).toString(16).padStart(32, '0');

function once(dir: string, indexed: boolean, after = false): { bulkCpuMs: number; bulkWallMs: number; commitsWallMs: number; mb: number } {
  const path = join(dir, `${after ? 'after' : indexed ? 'with' : 'without'}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // the two tables as migrations 001 and 006 make them
  db.exec(`CREATE TABLE param (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key));
    CREATE TABLE metric_series (series_id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,
      latest_value REAL, min_value REAL, max_value REAL, UNIQUE (run_id, key));`);
  db.exec('CREATE TABLE tag (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key));');
  if (STEP_023) db.exec(indexed && !after ? INDEXES_021 + INDEXES_023 : INDEXES_021);
  else if (indexed) db.exec(INDEXES_021);
  const param = db.prepare('INSERT INTO param VALUES (?, ?, ?)');
  const tag = db.prepare('INSERT INTO tag VALUES (?, ?, ?)');
  const series = db.prepare('INSERT INTO metric_series (run_id, key, count, latest_value, min_value, max_value) VALUES (?, ?, 1, ?, ?, ?)');
  const update = STEP_023
    ? db.prepare(
        'UPDATE metric_series SET latest_value = ?, min_value = min(min_value, ?), max_value = max(max_value, ?), count = count + 1 WHERE run_id = ? AND key = ?',
      )
    : db.prepare('UPDATE metric_series SET latest_value = ?, count = count + 1 WHERE run_id = ? AND key = ?');
  const cpu = process.cpuUsage();
  let started = performance.now();
  db.transaction(() => {
    for (let n = 0; n < 10_000; n++) {
      for (let k = 0; k < 20; k++) param.run(runId(n), `p${k}`, `v${(n + k) % 7}`);
      for (let k = 0; k < 40; k++) {
        const value = Math.random();
        // 021's run: min 0 and max 1 as before; 023's: a history around the value (random index positions)
        if (STEP_023) series.run(runId(n), `m${k}`, value, value * Math.random(), value + (1 - value) * Math.random());
        else series.run(runId(n), `m${k}`, value, 0, 1);
      }
      if (STEP_023) for (let k = 0; k < 5; k++) tag.run(runId(n), `t${k}`, `v${(n * (k + 3)) % 11}`);
    }
    if (after) db.exec(INDEXES_023);
  })();
  const bulkWallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  started = performance.now();
  for (let b = 0; b < 1000; b++)
    db.transaction(() => {
      // a value past the history's range moves the min or max (and their index entries) as an append does
      for (let k = 0; k < 10; k++) {
        const value = STEP_023 ? Math.random() * 3 - 1 : Math.random();
        if (STEP_023) update.run(value, value, value, runId(7), `m${k}`);
        else update.run(value, runId(7), `m${k}`);
      }
    })();
  const commitsWallMs = performance.now() - started;
  db.close();
  return { bulkCpuMs: (used.user + used.system) / 1000, bulkWallMs, commitsWallMs, mb: statSync(path).size / 1e6 };
}

const dir = mkdtempSync(join(tmpdir(), 'mloop-key-index-'));
try {
  const runs = { without: [] as ReturnType<typeof once>[], with: [] as ReturnType<typeof once>[], after: [] as ReturnType<typeof once>[] };
  for (let i = 0; i < REPEAT; i++)
    for (const [indexed, after] of [[false, false], [true, false], ...(STEP_023 ? [[true, true]] : [])] as [boolean, boolean][]) {
      const r = once(dir, indexed, after);
      (after ? runs.after : indexed ? runs.with : runs.without).push(r);
      console.error(
        `${after ? 'after  ' : indexed ? 'with   ' : 'without'} ${i + 1}: bulk ${r.bulkCpuMs.toFixed(0)} ms CPU / ${r.bulkWallMs.toFixed(0)} ms wall, 1,000 commits ${r.commitsWallMs.toFixed(0)} ms, ${r.mb.toFixed(1)} MB, load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
  const m = (side: ReturnType<typeof once>[], f: (r: ReturnType<typeof once>) => number): number => median(side.map(f));
  console.log(
    `median of ${REPEAT}: bulk CPU ${m(runs.without, (r) => r.bulkCpuMs).toFixed(0)} → ${m(runs.with, (r) => r.bulkCpuMs).toFixed(0)} ms (${(m(runs.with, (r) => r.bulkCpuMs) / m(runs.without, (r) => r.bulkCpuMs)).toFixed(1)}×); ` +
      `1,000 commits ${m(runs.without, (r) => r.commitsWallMs).toFixed(0)} → ${m(runs.with, (r) => r.commitsWallMs).toFixed(0)} ms wall; load ${loadavg()[0]!.toFixed(1)}`,
  );
  if (runs.after.length)
    console.log(
      `023's indexes created after the bulk (same transaction): bulk CPU ${m(runs.after, (r) => r.bulkCpuMs).toFixed(0)} ms (${(m(runs.after, (r) => r.bulkCpuMs) / m(runs.without, (r) => r.bulkCpuMs)).toFixed(1)}× without them, ${(m(runs.with, (r) => r.bulkCpuMs) / m(runs.after, (r) => r.bulkCpuMs)).toFixed(1)}× less than with them), ${m(runs.after, (r) => r.mb).toFixed(1)} MB against ${m(runs.with, (r) => r.mb).toFixed(1)} MB`,
    );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
