// The Experiments Table's SQL answers during the first read (issue 19, 100,000 runs × 64 columns), for the searches
// store migration 023 is about: a metric column shown as its min, a tag, and a two-key order. One process per side:
// build this file against main's sources for "before" and against this branch's for "after", and run them
// interleaved on two copies of the same store (schema 22 and 23, the same rows and tags). Each search: one warm-up,
// then MLOOP_BENCH_REPEAT timed answers (page of 200 + its cells, as tableBench's SQL rows), median CPU and wall.
//   MLOOP_BENCH_STORE=<dir holding .mloop/mloop.db> node out/bench/experiments/keyWalkBench.js
// (bench/experiments/keyWalkCompare.sh does both sides on copies of tableBench's store.)
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { MetricAggregate } from '../../src/core/experiments/runTable';
import { searchRunTablePage } from '../../src/core/experiments/runTableSqlSearch';
import { type RunGrouping, runTableCell, runTableColumns } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { openStore } from '../../src/core/store/store';

const REPEAT = Number(process.env.MLOOP_BENCH_REPEAT ?? 5);
const SEARCHES: {
  name: string;
  filter?: string;
  orderBy?: string;
  aggregates?: Record<string, MetricAggregate>;
  grouping?: RunGrouping;
  /** The scope of every experiment (else the 100,000 runs' experiment alone). */
  everyExperiment?: boolean;
}[] = [
  { name: 'sort metrics.m3 DESC', orderBy: 'metrics.m3 DESC' },
  { name: 'sort metrics.m3 (min) DESC', orderBy: 'metrics.m3 DESC', aggregates: { m3: 'min' } },
  { name: 'filter metrics.m0 (min) > 0.25', filter: 'metrics.m0 > 0.25', aggregates: { m0: 'min' } },
  { name: 'sort metrics.m5 (max)', orderBy: 'metrics.m5', aggregates: { m5: 'max' } },
  { name: "filter tags.team = 't2'", filter: "tags.team = 't2'" },
  { name: 'sort tags.owner DESC', orderBy: 'tags.owner DESC' },
  { name: 'sort params.p4, metrics.m7 DESC', orderBy: 'params.p4, metrics.m7 DESC' },
  { name: 'sort tags.team, metrics.m3 (min)', orderBy: 'tags.team, metrics.m3', aggregates: { m3: 'min' } },
  { name: "filter metrics.m0 > 0.5 and params.p1 = 'v3', sort metrics.m1 DESC", filter: "metrics.m0 > 0.5 and params.p1 = 'v3'", orderBy: 'metrics.m1 DESC' },
  // paintedBench's filter while reading (after its sort by metrics.m5)
  { name: "filter metrics.m2 > 0.5 and params.p2 = 'v1', sort metrics.m5 DESC", filter: "metrics.m2 > 0.5 and params.p2 = 'v1'", orderBy: 'metrics.m5 DESC' },
  // grouped by experiment (one experiment in scope here: one group), as groupCsvBench's grouped page
  {
    name: "grouped by experiment: filter metrics.m0 > 0.5 and params.p1 = 'v3', sort metrics.m1 DESC",
    filter: "metrics.m0 > 0.5 and params.p1 = 'v3'",
    orderBy: 'metrics.m1 DESC',
    grouping: 'experiment',
  },
  { name: 'grouped by experiment: sort metrics.m3 DESC', orderBy: 'metrics.m3 DESC', grouping: 'experiment' },
  { name: 'grouped by experiment: filter tags.team = t2', filter: "tags.team = 't2'", grouping: 'experiment' },
  // grouped by sweep (2,000 sweeps of ~45 runs, 10% of runs in none) and by commit (500 commits, a third dirty, 5% of
  // runs without one), and by experiment over every experiment (41: the 100,000 runs' and 40 small ones)
  { name: 'grouped by sweep: sort metrics.m3 DESC', orderBy: 'metrics.m3 DESC', grouping: 'sweep' },
  {
    name: "grouped by sweep: filter metrics.m0 > 0.5 and params.p1 = 'v3', sort metrics.m1 DESC",
    filter: "metrics.m0 > 0.5 and params.p1 = 'v3'",
    orderBy: 'metrics.m1 DESC',
    grouping: 'sweep',
  },
  { name: 'grouped by commit: sort metrics.m3 DESC', orderBy: 'metrics.m3 DESC', grouping: 'commit' },
  { name: 'grouped by commit: filter tags.team = t2, newest first', filter: "tags.team = 't2'", grouping: 'commit' },
  { name: 'grouped by commit: sort params.p4, metrics.m7 DESC', orderBy: 'params.p4, metrics.m7 DESC', grouping: 'commit' },
  { name: 'grouped by experiment, 41 experiments: sort metrics.m3 DESC', orderBy: 'metrics.m3 DESC', grouping: 'experiment', everyExperiment: true },
  {
    name: "grouped by experiment, 41 experiments: filter metrics.m0 > 0.5 and params.p1 = 'v3', sort metrics.m1 DESC",
    filter: "metrics.m0 > 0.5 and params.p1 = 'v3'",
    orderBy: 'metrics.m1 DESC',
    grouping: 'experiment',
    everyExperiment: true,
  },
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number): number => Math.round(n * 10) / 10;

function main(): void {
  const dir = resolve(process.env.MLOOP_BENCH_STORE ?? '/tmp/mloop-table-100k');
  const opened = performance.now();
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  console.error(`store at schema ${store.schemaVersion} opened in ${round((performance.now() - opened) / 1000)} s (an upgrade included)`);
  const experimentId = new ExperimentRepository(store).ensure('bench').experimentId;
  // tableBench's store has no tags: two tag keys are added once, with plain SQL (the same rows on either side's copy)
  if (store.db.prepare("SELECT 1 FROM tag WHERE key = 'team' LIMIT 1").get() === undefined) {
    const added = performance.now();
    store.db.exec(`BEGIN;
      INSERT INTO tag (run_id, key, value) SELECT run_id, 'team', 't' || (abs(rowid * 7919) % 5) FROM run;
      INSERT INTO tag (run_id, key, value) SELECT run_id, 'owner', 'o' || (rowid % 50) FROM run WHERE rowid % 2 = 0;
      COMMIT`);
    console.error(`tags added in ${round((performance.now() - added) / 1000)} s`);
  }
  // sweeps, commits and 40 more experiments (each 50 copies of the first runs), once, with plain SQL, for the grouped
  // searches: the same rows on either side's copy
  if (store.db.prepare("SELECT 1 FROM tag WHERE key = 'mloop.sweep' LIMIT 1").get() === undefined) {
    const added = performance.now();
    store.db.exec(`BEGIN;
      INSERT INTO tag (run_id, key, value) SELECT run_id, 'mloop.sweep', 'sweep-' || (abs(rowid * 7919) % 2000) FROM run WHERE rowid % 10 != 0;
      UPDATE run SET git_commit = printf('%040x', abs(rowid * 104729) % 500), git_dirty = (rowid % 3 = 0) WHERE rowid % 20 != 0;
      COMMIT`);
    console.error(`sweeps and commits added in ${round((performance.now() - added) / 1000)} s`);
  }
  if (store.db.prepare("SELECT 1 FROM experiment WHERE name = 'small-0'").get() === undefined) {
    const added = performance.now();
    store.db.exec(`BEGIN;
      WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < 39)
        INSERT INTO experiment (name, created_at, updated_at) SELECT 'small-' || n, 1, 1 FROM k;
      CREATE TEMP TABLE copied AS SELECT r.run_id AS source, 'f' || substr(r.run_id, 2) AS run_id, e.experiment_id AS experiment_id
        FROM (SELECT run_id, rowid AS n FROM run ORDER BY rowid LIMIT 2000) r JOIN experiment e ON e.name = 'small-' || ((r.n - 1) % 40);
      INSERT INTO run (run_id, experiment_id, name, status, start_time, end_time, git_commit, git_dirty)
        SELECT c.run_id, c.experiment_id, r.name, r.status, r.start_time, r.end_time, r.git_commit, r.git_dirty FROM copied c JOIN run r ON r.run_id = c.source;
      INSERT INTO param (run_id, key, value) SELECT c.run_id, p.key, p.value FROM copied c JOIN param p ON p.run_id = c.source;
      INSERT INTO tag (run_id, key, value) SELECT c.run_id, t.key, t.value FROM copied c JOIN tag t ON t.run_id = c.source;
      INSERT INTO metric_series (run_id, key, count, latest_step, latest_timestamp, latest_value, min_value, max_value)
        SELECT c.run_id, m.key, m.count, m.latest_step, m.latest_timestamp, m.latest_value, m.min_value, m.max_value FROM copied c JOIN metric_series m ON m.run_id = c.source;
      DROP TABLE copied;
      COMMIT`);
    console.error(`40 experiments of 50 runs added in ${round((performance.now() - added) / 1000)} s`);
  }
  const options = { experimentIds: [experimentId] };
  const only = process.env.MLOOP_BENCH_ONLY;
  const results = [];
  for (const s of SEARCHES.filter((x) => !only || x.name.includes(only))) {
    const wall: number[] = [];
    const cpu: number[] = [];
    let first: string[] = [];
    let matched = 0;
    for (let i = 0; i <= REPEAT; i++) {
      const before = process.cpuUsage();
      const t = performance.now();
      const page = searchRunTablePage(
        store.db,
        s.everyExperiment ? {} : options,
        { filter: s.filter ?? '', orderBy: s.orderBy ?? '' },
        0,
        200,
        s.aggregates ?? {},
        s.grouping ?? 'none',
      );
      const columns = runTableColumns(page.table);
      Array.from({ length: page.table.size }, (_, n) => columns.map((c) => runTableCell(page.table, n, c)));
      const w = performance.now() - t;
      const used = process.cpuUsage(before);
      first = page.table.names.slice(0, 3);
      matched = page.matched;
      if (i === 0) continue; // warm-up
      wall.push(w);
      cpu.push((used.user + used.system) / 1000);
    }
    const result = { search: s.name, matched, first, cpuMs: round(median(cpu)), wallMs: round(median(wall)), cpu: cpu.map(round), load: round(loadavg()[0]!) };
    console.log(JSON.stringify(result));
    results.push(result);
  }
  store.close();
  console.error(`cpus ${cpus().length}, repeat ${REPEAT}`);
}

main();
