// The Experiments Table with 100,000 runs × 60 columns (20 params, 40 metrics): what the host does for a
// sort or a filter (parse with the one MLflow parser, filter and order every run held as columns, build the
// first page of 200 rows the page is sent), against the real MLflow client's search_runs for the same filter
// and order on a sqlite store holding the same runs (bench/experiments/mlflow_search.py; one page of 100 runs,
// what MLflow's UI asks for — MLflow orders in SQL and returns that page whole; mloop orders every match).
// Interleaved query by query (mloop, MLflow, mloop, …), one warm-up each, wall and CPU time, load average.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { loadRunTable, searchRunTable, withMetricAggregates } from '../../src/core/experiments/runTable';
import { readRunTablePage } from '../../src/core/experiments/runTableReader';
import { searchRunTablePage } from '../../src/core/experiments/runTableSqlSearch';
import { runTableCell, runTableColumns } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { openStore } from '../../src/core/store/store';

const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 100_000);
const REPEAT = Number(process.env.MLOOP_BENCH_REPEAT ?? 5);
/** MLflow's page: its UI asks for 100 runs at a time. */
const MLFLOW_PAGE = Number(process.env.MLOOP_BENCH_MLFLOW_PAGE ?? 100);
const PYTHON = process.env.MLOOP_TEST_PYTHON ?? 'python3';
const SCRIPT = resolve(__dirname, '../../../bench/experiments/mlflow_search.py');
const SEARCHES = [
  { name: 'sort by a metric', filter: '', orderBy: ['metrics.m3 DESC'] },
  { name: 'filter (metric and param) + sort', filter: "metrics.m0 > 0.5 and params.p1 = 'v3'", orderBy: ['metrics.m1 DESC'] },
  { name: 'filter: param LIKE, newest first', filter: "params.p3 LIKE 'v1%'", orderBy: [] as string[] },
  { name: 'sort by a param, then a metric', filter: '', orderBy: ['params.p4', 'metrics.m7 DESC'] },
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number): number => Math.round(n * 10) / 10;

function main(): Promise<void> {
  // MLOOP_BENCH_STORE=<dir>: the mloop store is kept in <dir> and reused by the next run (written once; an idle
  // re-run then takes minutes, not the ~5 minutes of writing 100,000 runs)
  const kept = process.env.MLOOP_BENCH_STORE;
  const dir = kept ? resolve(kept) : mkdtempSync(join(tmpdir(), 'mloop-table-bench-'));
  const cleanup = (): void => {
    if (!kept) rmSync(dir, { recursive: true, force: true });
  };
  try {
    // MLOOP_BENCH_PEER=none: the host side alone (the store written here with mlflow_search.py's values), e.g.
    // when MLflow's side is too slow on a loaded machine to finish
    if (process.env.MLOOP_BENCH_PEER === 'none') return hostOnly(dir).finally(cleanup);
    // MLOOP_BENCH_PEER=order: MLflow's plain metric order alone (its slowest search), interleaved with mloop's
    if (process.env.MLOOP_BENCH_PEER === 'order') return metricOrder(dir).finally(cleanup);
    return run(dir).finally(cleanup);
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** The same values as mlflow_search.py's param_value and metric_value, so both stores hold the same runs. */
const paramValue = (n: number, k: number): string => `v${(n * (k + 3) + k) % 10}`;
const metricValue = (n: number, k: number): number => ((n * 7919 + k * 104729) % 100_003) / 100_003;

async function hostOnly(dir: string): Promise<void> {
  let started = performance.now();
  const path = join(dir, '.mloop', 'mloop.db');
  const reuse = existsSync(path);
  const store = openStore({ path });
  const experimentId = new ExperimentRepository(store).ensure('bench').experimentId;
  const held = store.db.prepare('SELECT count(*) FROM run').pluck().get() as number;
  if (reuse && held !== RUNS) throw new Error(`${path} holds ${held} runs, not MLOOP_BENCH_RUNS=${RUNS}: remove it or set the count`);
  const runId = (n: number): string => n.toString(16).padStart(32, '0');
  const insertRun = store.db.prepare(`INSERT INTO run (run_id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, 'FINISHED', ?, ?)`);
  const insertParam = store.db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
  const insertSeries = store.db.prepare(
    'INSERT INTO metric_series (run_id, key, count, latest_step, latest_timestamp, latest_value, min_value, max_value) VALUES (?, ?, 3, 2, ?, ?, ?, ?)',
  );
  if (!reuse)
    store.transaction(() => {
      for (let n = 0; n < RUNS; n++) {
        const start = 1_700_000_000_000 + n * 1000;
        insertRun.run(runId(n), experimentId, `run-${String(n).padStart(6, '0')}`, start, start + 500);
        for (let k = 0; k < 20; k++) insertParam.run(runId(n), `p${k}`, paramValue(n, k));
        // a history's min and max around the latest value (what a min/max column reads)
        for (let k = 0; k < 40; k++) insertSeries.run(runId(n), `m${k}`, start, metricValue(n, k), metricValue(n, k) / 2, (1 + metricValue(n, k)) / 2);
      }
    });
  console.error(`mloop store with ${RUNS} runs ${reuse ? 'reused' : 'made'} in ${round((performance.now() - started) / 1000)} s`);
  started = performance.now();
  const loads: number[] = [];
  const timed = <T>(f: () => T): { value: T; wallMs: number; cpuMs: number } => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const value = f();
    const wallMs = performance.now() - t;
    const used = process.cpuUsage(cpu);
    return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
  };
  // the first screen: the first 200 runs in the default order with their cells, and the count (a LIMIT query)
  const readPageCells = (table: ReturnType<typeof readRunTablePage>['table']) => {
    const pageColumns = runTableColumns(table);
    return Array.from({ length: table.size }, (_, i) => pageColumns.map((c) => runTableCell(table, i, c)));
  };
  const firstPages = [0, 1, 2, 3, 4, 5].map(() => timed(() => readPageCells(readRunTablePage(store.db, { experimentIds: [experimentId] }, 0, 200).table)));
  const firstPage = firstPages.slice(1);
  console.error(`first page: ${round(median(firstPage.map((t) => t.wallMs)))} ms wall, ${round(median(firstPage.map((t) => t.cpuMs)))} ms CPU (median of 5)`);
  // before the whole table is read, the table answers a search with SQL (the first page of 200 and the count)
  const sqlAnswers = [];
  for (const s of SEARCHES) {
    const times = [0, 1, 2, 3].map(() =>
      timed(() => {
        const page = readPageCells(searchRunTablePage(store.db, { experimentIds: [experimentId] }, { filter: s.filter, orderBy: s.orderBy }, 0, 200).table);
        return page.length;
      }),
    );
    const kept = times.slice(1);
    const answer = {
      search: `${s.name} (SQL, before the whole table)`,
      wallMs: round(median(kept.map((t) => t.wallMs))),
      cpuMs: round(median(kept.map((t) => t.cpuMs))),
    };
    console.error(JSON.stringify(answer));
    sqlAnswers.push(answer);
  }
  const loadTimes = [0, 1, 2].map(() => timed(() => loadRunTable(store.db, { experimentIds: [experimentId] })));
  const table = loadTimes[2]!.value;
  console.error(`loadRunTable: ${loadTimes.map((t) => `${round(t.wallMs)} ms wall / ${round(t.cpuMs)} ms CPU`).join(', ')}`);
  const columns = runTableColumns(table);
  // the first page read with SQL is the first page of the table searched with no filter and no order
  const check = readRunTablePage(store.db, { experimentIds: [experimentId] }, 0, 200).table.runIds;
  const searched = searchRunTable(table, {});
  if (check.some((id, n) => table.runIds[searched[n]!] !== id)) throw new Error('the first page read with SQL differs from the searched table');
  const searches = [
    ...SEARCHES,
    { name: 'sort by a metric set to min (one SQL read of its min per run, then the sort)', filter: '', orderBy: ['metrics.m3 DESC'], min: 'm3' },
  ];
  const results = [];
  for (const s of searches) {
    const wall: number[] = [];
    const cpu: number[] = [];
    let matched = 0;
    for (let i = 0; i <= REPEAT; i++) {
      const r = timed(() => {
        const view = 'min' in s ? withMetricAggregates(store.db, table, { [s.min as string]: 'min' }, { experimentIds: [experimentId] }) : table;
        const rows = searchRunTable(view, { filter: s.filter, orderBy: s.orderBy });
        Array.from(rows.subarray(0, 200), (row) => columns.map((c) => runTableCell(view, row, c)));
        return rows.length;
      });
      matched = r.value;
      if (i === 0) continue; // warm-up
      wall.push(r.wallMs);
      cpu.push(r.cpuMs);
      loads.push(loadavg()[0]!);
    }
    const result = { search: s.name, matched, wallMs: round(median(wall)), maxWallMs: round(Math.max(...wall)), cpuMs: round(median(cpu)) };
    console.error(JSON.stringify(result));
    results.push(result);
  }
  store.close();
  console.log(
    JSON.stringify(
      {
        runs: RUNS,
        columns: columns.length,
        repeat: REPEAT,
        cpus: cpus().length,
        firstPage: { wallMs: round(median(firstPage.map((t) => t.wallMs))), cpuMs: round(median(firstPage.map((t) => t.cpuMs))) },
        loadRunTable: { wallMs: round(median(loadTimes.map((t) => t.wallMs))), cpuMs: round(median(loadTimes.map((t) => t.cpuMs))) },
        sqlAnswers,
        load: `${round(Math.min(...loads))}–${round(Math.max(...loads))}`,
        results,
      },
      null,
      2,
    ),
  );
}

/**
 * MLflow's plain metric order (`ORDER BY metrics.m3 DESC`, no filter, one page of 100) at the full size, interleaved
 * with mloop's answers to the same order: mloop (SQL answer during the first read, then the whole table), MLflow (one
 * call: at 100,000 runs it takes minutes of CPU), mloop again; `MLOOP_BENCH_MLFLOW_CALLS` MLflow calls (default 1).
 * Needs the kept mloop store (MLOOP_BENCH_STORE, as hostOnly writes it) and MLflow's store of the same runs
 * (MLOOP_BENCH_MLFLOW_DB, as `mlflow_search.py make` writes it; both hold the same values for the same run names).
 */
async function metricOrder(dir: string): Promise<void> {
  const mlflowDb = process.env.MLOOP_BENCH_MLFLOW_DB;
  const path = join(dir, '.mloop', 'mloop.db');
  if (!mlflowDb || !existsSync(mlflowDb) || !existsSync(path))
    throw new Error('set MLOOP_BENCH_STORE (the kept mloop store) and MLOOP_BENCH_MLFLOW_DB (mlflow_search.py make <db> 100000)');
  const calls = Number(process.env.MLOOP_BENCH_MLFLOW_CALLS ?? 1);
  const s = SEARCHES[0]!;
  const store = openStore({ path, readonly: true });
  const options = {};
  const timed = <T>(f: () => T): { value: T; wallMs: number; cpuMs: number } => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const value = f();
    const wallMs = performance.now() - t;
    const used = process.cpuUsage(cpu);
    return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
  };
  const table = loadRunTable(store.db, options);
  const columns = runTableColumns(table);
  const name = columns.findIndex((c) => c.id === 'attributes.run_name');
  const mloopRound = () => {
    const sql = timed(() => {
      const page = searchRunTablePage(store.db, options, { filter: s.filter, orderBy: s.orderBy }, 0, 200).table;
      const pageColumns = runTableColumns(page);
      return Array.from({ length: page.size }, (_, i) => pageColumns.map((c) => runTableCell(page, i, c)));
    });
    const whole = timed(() => {
      const rows = searchRunTable(table, { filter: s.filter, orderBy: s.orderBy });
      return Array.from(rows.subarray(0, 200), (i) => columns.map((c) => runTableCell(table, i, c)));
    });
    return { sql, whole, first: whole.value.slice(0, 5).map((cells) => String(cells[name])) };
  };
  mloopRound(); // warm-up
  const child = spawn(PYTHON, [SCRIPT, 'serve', mlflowDb], { stdio: ['pipe', 'pipe', 'inherit'] }) as ChildProcessWithoutNullStreams;
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> =>
    JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as Record<string, unknown>;
  const hello = await next();
  const rounds: Record<string, unknown>[] = [];
  const mloopLog = (label: string) => {
    for (let i = 0; i < 3; i++) {
      const m = mloopRound();
      const row = {
        side: 'mloop',
        label,
        sqlWallMs: round(m.sql.wallMs),
        sqlCpuMs: round(m.sql.cpuMs),
        wholeWallMs: round(m.whole.wallMs),
        wholeCpuMs: round(m.whole.cpuMs),
        first: m.first,
        load: round(loadavg()[0]!),
      };
      console.error(JSON.stringify(row));
      rounds.push(row);
    }
  };
  mloopLog('before');
  for (let i = 0; i < calls; i++) {
    console.error(
      `MLflow ${String(hello.mlflow)}: search_runs ORDER BY metrics.m3 DESC, 100 runs (minutes of CPU at 100,000 runs), load ${round(loadavg()[0]!)}`,
    );
    child.stdin.write(`${JSON.stringify({ filter: s.filter, order_by: s.orderBy, max_results: MLFLOW_PAGE })}\n`);
    const b = (await next()) as { wallMs: number; cpuMs: number; count: number; first: string[] };
    const row = { side: 'mlflow', wallMs: round(b.wallMs), cpuMs: round(b.cpuMs), count: b.count, first: b.first, load: round(loadavg()[0]!) };
    console.error(JSON.stringify(row));
    rounds.push(row);
    mloopLog(`after MLflow call ${i + 1}`);
  }
  child.stdin.end();
  store.close();
  const mloopRows = rounds.filter((r) => r.side === 'mloop') as {
    sqlCpuMs: number;
    wholeCpuMs: number;
    sqlWallMs: number;
    wholeWallMs: number;
    first: string[];
  }[];
  const mlflowRows = rounds.filter((r) => r.side === 'mlflow') as { cpuMs: number; wallMs: number; first: string[] }[];
  const same = mlflowRows.every((r) => JSON.stringify(r.first) === JSON.stringify(mloopRows[0]!.first));
  const med = (xs: number[]): number => round(median(xs));
  console.log(
    JSON.stringify(
      {
        runs: table.size,
        mlflow: hello.mlflow,
        sameFirstRuns: same,
        mloopSqlCpuMs: med(mloopRows.map((r) => r.sqlCpuMs)),
        mloopSqlWallMs: med(mloopRows.map((r) => r.sqlWallMs)),
        mloopWholeCpuMs: med(mloopRows.map((r) => r.wholeCpuMs)),
        mloopWholeWallMs: med(mloopRows.map((r) => r.wholeWallMs)),
        mlflowCpuMs: med(mlflowRows.map((r) => r.cpuMs)),
        mlflowWallMs: med(mlflowRows.map((r) => r.wallMs)),
        rounds,
      },
      null,
      2,
    ),
  );
  if (!same) throw new Error("MLflow's first runs differ from mloop's: the comparison is void");
}

async function run(dir: string): Promise<void> {
  const mlflowDb = join(dir, 'mlflow.db');
  let started = performance.now();
  const made = spawnSync(PYTHON, [SCRIPT, 'make', mlflowDb, String(RUNS)], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mlflow_search.py make failed: ${made.stderr.slice(-2000)}`);
  console.error(`MLflow store with ${RUNS} runs made in ${round((performance.now() - started) / 1000)} s`);

  // the same runs in an mloop store, written with SQL in one transaction: run rows, params, and each
  // metric's latest value as its metric_series row (what the table reads; no point history)
  started = performance.now();
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  const experimentId = new ExperimentRepository(store).ensure('bench').experimentId;
  const source = new Database(mlflowDb, { readonly: true });
  const copy = (select: string, insert: string): void => {
    const statement = store.db.prepare(insert);
    for (const row of source.prepare(select).raw().iterate() as Iterable<unknown[]>) statement.run(...row);
  };
  store.transaction(() => {
    copy(
      'SELECT run_uuid, name, start_time, end_time FROM runs',
      `INSERT INTO run (run_id, experiment_id, name, status, start_time, end_time) VALUES (?, ${experimentId}, ?, 'FINISHED', ?, ?)`,
    );
    copy('SELECT run_uuid, key, value FROM params', 'INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)');
    copy(
      'SELECT run_uuid, key, timestamp, value, value, value FROM latest_metrics',
      'INSERT INTO metric_series (run_id, key, count, latest_step, latest_timestamp, latest_value, min_value, max_value) VALUES (?, ?, 1, 0, ?, ?, ?, ?)',
    );
  });
  source.close();
  console.error(`mloop store with the same runs made in ${round((performance.now() - started) / 1000)} s`);

  const loadWall: number[] = [];
  let table = loadRunTable(store.db);
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    table = loadRunTable(store.db, { experimentIds: [experimentId] });
    loadWall.push(performance.now() - t);
  }
  if (table.size !== RUNS || table.params.size !== 20 || table.metrics.size !== 40)
    throw new Error(`the table holds ${table.size} runs, ${table.params.size} params, ${table.metrics.size} metrics`);
  const columns = runTableColumns(table);

  const child = spawn(PYTHON, [SCRIPT, 'serve', mlflowDb], { stdio: ['pipe', 'pipe', 'inherit'] }) as ChildProcessWithoutNullStreams;
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> =>
    JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as Record<string, unknown>;
  const hello = await next();
  console.error(`loadRunTable: ${round(median(loadWall))} ms (median of 3); MLflow ${String(hello.mlflow)} ready`);
  const mlflowSearch = async (s: (typeof SEARCHES)[number]) => {
    child.stdin.write(`${JSON.stringify({ filter: s.filter, order_by: s.orderBy, max_results: MLFLOW_PAGE })}\n`);
    return (await next()) as { wallMs: number; cpuMs: number; count: number; first: string[] };
  };
  const mloopSearch = (s: (typeof SEARCHES)[number]) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const rows = searchRunTable(table, { filter: s.filter, orderBy: s.orderBy });
    const page = Array.from(rows.subarray(0, 200), (i) => columns.map((c) => runTableCell(table, i, c)));
    const wallMs = performance.now() - t;
    const used = process.cpuUsage(cpu);
    return { wallMs, cpuMs: (used.user + used.system) / 1000, count: rows.length, first: page.slice(0, 5).map((cells) => String(cells[1])) };
  };

  const results = [];
  for (const s of SEARCHES) {
    const warmMloop = mloopSearch(s);
    const warmMlflow = await mlflowSearch(s);
    // the same first runs on both sides, or the comparison is void
    if (JSON.stringify(warmMloop.first) !== JSON.stringify(warmMlflow.first))
      throw new Error(`${s.name}: mloop's first runs ${JSON.stringify(warmMloop.first)} differ from MLflow's ${JSON.stringify(warmMlflow.first)}`);
    const m = { wall: [] as number[], cpu: [] as number[] };
    const f = { wall: [] as number[], cpu: [] as number[] };
    const loads: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const a = mloopSearch(s);
      m.wall.push(a.wallMs);
      m.cpu.push(a.cpuMs);
      const b = await mlflowSearch(s);
      f.wall.push(b.wallMs);
      f.cpu.push(b.cpuMs);
      loads.push(loadavg()[0]!);
    }
    const result = {
      search: s.name,
      filter: s.filter,
      orderBy: s.orderBy,
      matched: warmMloop.count,
      mloopWallMs: round(median(m.wall)),
      mloopMaxWallMs: round(Math.max(...m.wall)),
      mloopCpuMs: round(median(m.cpu)),
      mlflowWallMs: round(median(f.wall)),
      mlflowCpuMs: round(median(f.cpu)),
      wallRatio: round(median(f.wall) / median(m.wall)),
      cpuRatio: round(median(f.cpu) / median(m.cpu)),
      load: `${round(Math.min(...loads))}–${round(Math.max(...loads))}`,
    };
    // each search as it completes: a long MLflow side still leaves the finished rows
    console.error(JSON.stringify(result));
    results.push(result);
  }
  child.stdin.end();
  store.close();
  console.log(
    JSON.stringify(
      { runs: RUNS, columns: columns.length, repeat: REPEAT, mlflow: hello.mlflow, cpus: cpus().length, loadRunTableMs: round(median(loadWall)), results },
      null,
      2,
    ),
  );
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
