// Grouping and CSV export while the Experiments Table still reads every run (issue 19, 100,000 runs × 64 columns):
// the SQL answers (searchRunTablePage with a grouping; runTableCsvFromSql, 2,000 runs a piece) against what the
// table did before, which waited for the whole table (loadRunTable) and then grouped / wrote the CSV in memory.
// Same process, interleaved SQL, whole, SQL, whole…; CPU and wall per answer; the CSV texts are compared.
//   MLOOP_BENCH_STORE=<dir holding .mloop/mloop.db at schema 24> MLOOP_BENCH_REPEAT=2 node out/bench/experiments/groupCsvBench.js
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRunTable, searchRunTable } from '../../src/core/experiments/runTable';
import { runTableCsvFromSql, searchRunTablePage } from '../../src/core/experiments/runTableSqlSearch';
import { arrangeColumns, groupRows, runTableCell, runTableColumns, runTableCsv } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { openStore } from '../../src/core/store/store';

const REPEAT = Number(process.env.MLOOP_BENCH_REPEAT ?? 2);
const layout = { grouping: 'experiment' as const, pinned: [], order: [], hidden: [], aggregates: {} };
const GROUPED = { filter: "metrics.m0 > 0.5 and params.p1 = 'v3'", orderBy: 'metrics.m1 DESC' };
const EXPORT = { filter: 'metrics.m0 > 0.5', orderBy: 'metrics.m1 DESC' };

const round = (n: number): number => Math.round(n * 10) / 10;
function measure<T>(f: () => T): { value: T; cpuMs: number; wallMs: number } {
  const before = process.cpuUsage();
  const t = performance.now();
  const value = f();
  const used = process.cpuUsage(before);
  return { value, cpuMs: round((used.user + used.system) / 1000), wallMs: round(performance.now() - t) };
}

function main(): void {
  const dir = resolve(process.env.MLOOP_BENCH_STORE ?? '/tmp/mloop-table-100k');
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  const options = { experimentIds: [new ExperimentRepository(store).ensure('bench').experimentId] };
  for (let round_ = 0; round_ <= REPEAT; round_++) {
    const load = round(loadavg()[0]!);
    // SQL: a grouped page (200 rows + cells), then the whole CSV of 49,998 matches
    const grouped = measure(() => {
      const page = searchRunTablePage(store.db, options, GROUPED, 0, 200, {}, 'experiment');
      const columns = runTableColumns(page.table);
      Array.from({ length: page.table.size }, (_, n) => columns.map((c) => runTableCell(page.table, n, c)));
      return page.table.runIds;
    });
    let firstPieceMs = 0;
    const t0 = performance.now();
    const csv = measure(() => {
      const pieces: string[] = [];
      for (const piece of runTableCsvFromSql(store.db, options, EXPORT, {}, 'experiment', (c) => arrangeColumns(c, layout).shown)) {
        if (pieces.length === 1) firstPieceMs = performance.now() - t0;
        pieces.push(piece);
      }
      return pieces.join('');
    });
    // before: the whole table read, then grouped and written in memory
    const whole = measure(() => loadRunTable(store.db, options));
    const table = whole.value;
    const groupedMemory = measure(() => Array.from(groupRows(table, searchRunTable(table, GROUPED), 'experiment').subarray(0, 200), (i) => table.runIds[i]!));
    const csvMemory = measure(() =>
      runTableCsv(table, groupRows(table, searchRunTable(table, EXPORT), 'experiment'), arrangeColumns(runTableColumns(table), layout).shown),
    );
    const same = csv.value === csvMemory.value && JSON.stringify(grouped.value) === JSON.stringify(groupedMemory.value);
    if (round_ === 0) continue; // warm-up
    console.log(
      JSON.stringify({
        load,
        sqlGroupedPage: { cpuMs: grouped.cpuMs, wallMs: grouped.wallMs },
        sqlCsv: { cpuMs: csv.cpuMs, wallMs: csv.wallMs, firstPieceMs: round(firstPieceMs), bytes: csv.value.length },
        wholeRead: { cpuMs: whole.cpuMs, wallMs: whole.wallMs },
        thenGroupedPage: { cpuMs: groupedMemory.cpuMs },
        thenCsv: { cpuMs: csvMemory.cpuMs },
        same,
      }),
    );
  }
  store.close();
}

main();
