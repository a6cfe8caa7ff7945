// The Experiments Table with 100,000 runs × 60 columns (20 params, 40 metrics): what the host does for a
// sort or a filter (parse with the one MLflow parser, filter and order every run held as columns, build the
// first page of 200 rows the page is sent), against the real MLflow client's search_runs for the same filter
// and order on a sqlite store holding the same runs (bench/experiments/mlflow_search.py; one page of 100 runs,
// what MLflow's UI asks for — MLflow orders in SQL and returns that page whole; mloop orders every match).
// Interleaved query by query (mloop, MLflow, mloop, …), one warm-up each, wall and CPU time, load average.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { loadRunTable, searchRunTable } from '../../src/core/experiments/runTable';
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
  const dir = mkdtempSync(join(tmpdir(), 'mloop-table-bench-'));
  try {
    return run(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
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
