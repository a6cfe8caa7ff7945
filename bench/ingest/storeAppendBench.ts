// The store's share of ingest, without HTTP: the same appends written with the metric layout of schema 6 to 21 (the
// open 256-point block rewritten whole on every append; appendSchema6Points, a store at schema 21) and with the layout
// of schema 22 (appends inserted as tail rows, sealed into blocks when full; appendMetricPoints), interleaved run by
// run (schema 21, schema 22, schema 21, …), one warm-up each, each run in a fresh store in a temp dir, WAL and
// synchronous = NORMAL as the extension opens it. Per scenario: CPU time (user + system of this process over the
// appends and commits) and bytes written (/proc/self/io wchar: the write-ahead log and its checkpoints) per request,
// and the load average after each run. Every run's points are read back and counted. Then 50 more commits of the same
// shape with checkpoints off give the write-ahead-log frames (pages) one commit writes.
//
//   MLOOP_BENCH_RUNS (default 5), MLOOP_BENCH_ONLY=<text> (only the scenarios whose name contains it, e.g. "4 requests")
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import type Database from 'better-sqlite3';
import { appendMetricPoints, type MetricPointInput } from '../../src/core/store/metricPoints';
import { appendSchema6Points } from '../../src/core/store/migrations/006_metric_blocks';
import { createStoreAtSchemaVersion, openStore } from '../../src/core/store/store';

const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 5);
const RUN_ID = 'a'.repeat(32);

interface Scenario {
  readonly name: string;
  /** Requests, each a list of points; `perCommit` requests share a commit (as GroupCommit does: no savepoint unless a write throws). */
  readonly requests: MetricPointInput[][];
  readonly perCommit: number;
  /** The commit's requests appended as one list (each series once), as the tracking server's metric writer thread does. */
  readonly merged?: boolean;
}

function scenarios(): Scenario[] {
  const t0 = 1_700_000_000_000;
  // a training loop's log_metric calls: one point of each of 3 metrics per request, one request per commit
  const single = Array.from({ length: 20_000 }, (_, r) =>
    Array.from({ length: 3 }, (_, k) => ({ key: `m${k}`, step: r, timestamp: t0 + r, value: Math.sin(r + k) })),
  );
  // the ingest bench's bodies: 1,000 points of 10 metrics per request
  const batches = Array.from({ length: 500 }, (_, b) =>
    Array.from({ length: 1000 }, (_, j) => {
      const i = b * 1000 + j;
      return { key: `m${i % 10}`, value: Math.sin(i) * 100, timestamp: t0 + i, step: Math.floor(i / 10) };
    }),
  );
  return [
    { name: '1 point × 3 metrics a request, 1 request a commit (20,000 requests)', requests: single, perCommit: 1 },
    { name: 'ingest bench body (1,000 points, 10 metrics), 1 request a commit (500 requests)', requests: batches, perCommit: 1 },
    { name: 'ingest bench body, 4 requests a commit (group commit of 4 clients)', requests: batches, perCommit: 4 },
    {
      name: 'ingest bench body, 4 requests a commit, merged: each series appended once a commit (the metric writer thread)',
      requests: batches,
      perCommit: 4,
      merged: true,
    },
  ].filter((s) => !process.env.MLOOP_BENCH_ONLY || s.name.includes(process.env.MLOOP_BENCH_ONLY));
}

const written = (): number => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

interface Sample {
  cpuUsPerRequest: number;
  kbPerRequest: number;
  /** WAL frames (pages) one commit of `perCommit` requests writes. */
  framesPerCommit: number;
  load: number;
}

/** A store at `layout`'s schema opened with the pragmas openStore sets (store.ts); schema 21 is not upgraded. */
function openAt(path: string, layout: 21 | 22): Database.Database {
  if (layout === 22) {
    openStore({ path }).close();
  } else {
    createStoreAtSchemaVersion(path, 21);
  }
  const db = new BetterSqlite(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma(`mmap_size = ${256 * 1024 * 1024}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('temp_store = MEMORY');
  db.prepare("INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'bench', 0, 0)").run();
  db.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, 'bench', 'RUNNING', 0)").run(RUN_ID);
  return db;
}

function runOnce(layout: 21 | 22, scenario: Scenario): Sample {
  const dir = mkdtempSync(join(tmpdir(), 'mloop-bench-append-'));
  try {
    const db = openAt(join(dir, 'mloop.db'), layout);
    const append = layout === 22 ? appendMetricPoints : appendSchema6Points;
    const { requests, perCommit } = scenario;
    const bytes = written();
    const cpu = process.cpuUsage();
    for (let i = 0; i < requests.length; i += perCommit) {
      db.transaction(() => {
        if (scenario.merged) append(db, RUN_ID, requests.slice(i, i + perCommit).flat());
        else
          for (let k = i; k < Math.min(requests.length, i + perCommit); k++) {
            // GroupCommit: the group's writes in one transaction, no savepoint each (one only after a write threw)
            append(db, RUN_ID, requests[k]!);
          }
      }).immediate();
    }
    const used = process.cpuUsage(cpu);
    const kb = (written() - bytes) / 1024;
    const points = requests.reduce((n, r) => n + r.length, 0);
    const stored =
      layout === 22
        ? (db
            .prepare('SELECT (SELECT coalesce(sum(length(points)), 0) FROM metric_block) + (SELECT coalesce(sum(length(points)), 0) FROM metric_tail)')
            .pluck()
            .get() as number)
        : (db.prepare('SELECT coalesce(sum(length(points)), 0) FROM metric_block').pluck().get() as number);
    if (stored / 24 !== points) throw new Error(`schema ${layout}: ${stored / 24} points stored of ${points} appended`);
    // pages a commit writes: 50 more commits of the same shape (their points appended again) with checkpoints off, WAL frames counted
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('wal_autocheckpoint = 0');
    const commits = 50;
    for (let c = 0; c < commits; c++) {
      db.transaction(() => {
        const group = Array.from({ length: perCommit }, (_, k) => requests[(c * perCommit + k) % requests.length]!);
        if (scenario.merged) append(db, RUN_ID, group.flat());
        else for (const request of group) append(db, RUN_ID, request);
      }).immediate();
    }
    const framesPerCommit = statSync(join(dir, 'mloop.db-wal')).size / ((db.pragma('page_size', { simple: true }) as number) + 24) / commits;
    db.close();
    return { cpuUsPerRequest: (used.user + used.system) / requests.length, kbPerRequest: kb / requests.length, framesPerCommit, load: loadavg()[0]! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  process.stdout.write(`${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}, ${RUNS} interleaved runs after one warm-up each\n`);
  for (const scenario of scenarios()) {
    runOnce(21, scenario);
    runOnce(22, scenario);
    const old: Sample[] = [];
    const now: Sample[] = [];
    process.stdout.write(
      `\n${scenario.name}\n| run | schema 21 (open block rewritten): CPU µs / KB written per request / WAL frames per commit | schema 22 (tail rows): the same | load after 21 / 22 |\n|---|---|---|---|\n`,
    );
    for (let r = 0; r < RUNS; r++) {
      old.push(runOnce(21, scenario));
      now.push(runOnce(22, scenario));
      const [o, n] = [old.at(-1)!, now.at(-1)!];
      const row = (x: Sample): string => `${x.cpuUsPerRequest.toFixed(1)} / ${x.kbPerRequest.toFixed(1)} / ${x.framesPerCommit.toFixed(1)}`;
      process.stdout.write(`| ${r + 1} | ${row(o)} | ${row(n)} | ${o.load.toFixed(1)} / ${n.load.toFixed(1)} |\n`);
    }
    const [oc, nc] = [median(old.map((x) => x.cpuUsPerRequest)), median(now.map((x) => x.cpuUsPerRequest))];
    const [ok, nk] = [median(old.map((x) => x.kbPerRequest)), median(now.map((x) => x.kbPerRequest))];
    const [of, nf] = [median(old.map((x) => x.framesPerCommit)), median(now.map((x) => x.framesPerCommit))];
    process.stdout.write(
      `| **median** | **${oc.toFixed(1)} / ${ok.toFixed(1)} / ${of.toFixed(1)}** | **${nc.toFixed(1)} / ${nk.toFixed(1)} / ${nf.toFixed(1)}** | CPU ${(oc / nc).toFixed(2)}×, bytes ${(ok / nk).toFixed(2)}× |\n`,
    );
  }
}

main();
