import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadRunTable, searchRunTable, withMetricAggregates, type MetricAggregate } from '../../src/core/experiments/runTable';
import { searchRunTablePage } from '../../src/core/experiments/runTableSqlSearch';
import { SearchSyntaxError } from '../../src/core/experiments/searchSyntax';
import { runTableCell, runTableColumns } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// The Experiments Table answers a sort or filter with SQL while it still reads every run (the first seconds at
// 100,000 runs). Each search here is checked against the in-memory search over the whole table (runTable.ts, itself
// checked against MLflow's search_runs): the same runs in the same order, page by page, the same count, the same
// cells — on runs with missing values, NaN and infinite metrics, tied start times, deleted runs, datasets, and
// metric columns shown as their min or max.

function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEARCHES: { filter?: string; orderBy?: string }[] = [
  { orderBy: 'metrics.acc DESC' },
  { orderBy: 'metrics.acc' },
  { orderBy: 'metrics.loss DESC' },
  { orderBy: 'params.lr, metrics.acc DESC' },
  { orderBy: 'params.depth DESC, attributes.run_name' },
  { orderBy: 'tags.team, attributes.start_time' },
  { orderBy: 'attributes.end_time DESC' },
  { orderBy: 'attributes.status, attributes.user_id DESC' },
  { orderBy: 'attributes.artifact_uri' },
  { filter: 'metrics.acc > 0.5' },
  { filter: 'metrics.acc != 0.25', orderBy: 'metrics.acc' },
  { filter: 'metrics.loss >= 0.3 and metrics.acc < 0.9', orderBy: 'metrics.loss DESC' },
  { filter: "params.lr = '3'", orderBy: 'metrics.acc DESC' },
  { filter: "params.depth != '4'" },
  { filter: "params.depth IN ('1', '2', '3')", orderBy: 'params.depth' },
  { filter: "params.depth NOT IN ('1', '2')" },
  { filter: 'params.depth IS NULL', orderBy: 'metrics.acc' },
  { filter: 'tags.team IS NOT NULL', orderBy: 'tags.team DESC' },
  { filter: "params.note LIKE 'a*%'" },
  { filter: "params.note LIKE '%[x]_'" },
  { filter: "params.note LIKE 'a_c%'" },
  { filter: "params.note ILIKE 'A%'" },
  { filter: "params.note ILIKE '%É%'" },
  { filter: "tags.team LIKE 't%' and params.lr IN ('1', '5')" },
  { filter: "attributes.status = 'FAILED'" },
  { filter: "attributes.run_name LIKE 'run-1%'", orderBy: 'attributes.run_name DESC' },
  { filter: "attributes.user_id = 'ann'" },
  { filter: "attributes.artifact_uri = 'x'" },
  { filter: 'attributes.start_time > 1000100', orderBy: 'metrics.acc DESC' },
  { filter: 'attributes.end_time <= 1000200' },
  { filter: "datasets.name = 'iris'" },
  { filter: "datasets.context = 'eval' and datasets.digest LIKE 'd1%'" },
  { filter: "datasets.name IN ('iris', 'wine')", orderBy: 'metrics.acc' },
  { filter: "attributes.run_id IN ('00000000000000000000000000000001')" },
];

describe('experiments: a search answered with SQL while the table is read', function () {
  this.timeout(60_000);
  let store: Store;
  let cleanup: () => void;
  let experimentA: number;

  before(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    const experiments = new ExperimentRepository(store);
    experimentA = experiments.ensure('a').experimentId;
    const experimentB = experiments.ensure('b').experimentId;
    const runs = new RunRepository(store);
    const next = random(11);
    const notes = ['abc', 'a*c', 'aXc', 'Abc', 'é', 'É', 'x[x]y', 'a?c', 'q'];
    store.transaction(() => {
      const datasetIds = ['iris', 'wine', 'digits'].map(
        (name) => store.db.prepare("INSERT INTO dataset (name, uri, created_at) VALUES (?, 'data.csv', 1) RETURNING dataset_id").pluck().get(name) as number,
      );
      const versions = datasetIds.flatMap((id, d) =>
        [0, 1].map(
          (v) =>
            store.db
              .prepare('INSERT INTO dataset_version (dataset_id, digest, path, created_at) VALUES (?, ?, ?, 1) RETURNING dataset_version_id')
              .pluck()
              .get(id, `d${d}${v}${'0'.repeat(60)}`, `v${v}.csv`) as number,
        ),
      );
      for (let r = 0; r < 400; r++) {
        const run = runs.create({
          runId: r.toString(16).padStart(32, '0'),
          experimentId: r % 3 === 0 ? experimentB : experimentA,
          name: `run-${r}`,
          status: r % 7 === 0 ? 'FAILED' : 'FINISHED',
          // ties on start time (run_id breaks them)
          startTime: 1_000_000 + Math.floor(r / 3),
          ...(r % 4 ? { user: r % 2 ? 'ann' : 'bob' } : {}),
          params: {
            lr: String(r % 7),
            ...(r % 5 === 0 ? {} : { depth: String(r % 11) }),
            ...(r % 2 ? { note: notes[r % notes.length]! } : {}),
          },
          tags: r % 3 ? { team: `t${r % 4}` } : {},
        });
        if (r % 6) runs.finish(run.runId, { status: r % 7 === 0 ? 'FAILED' : 'FINISHED', endTime: 1_000_000 + ((r * 37) % 400) });
        const v = Math.round(next() * 20) / 20; // ties on values too
        runs.logMetrics(run.runId, [
          // a history: its min and max differ from the latest value
          ...(r % 2 ? [{ key: 'acc', value: next(), step: 0, timestamp: 1 }] : []),
          { key: 'acc', value: r % 41 === 0 ? Number.NaN : v, step: 1, timestamp: 2 },
          ...(r % 4 ? [{ key: 'loss', value: r % 13 === 0 ? Number.POSITIVE_INFINITY : 1 - v, step: 0, timestamp: 1 }] : []),
        ]);
        if (r % 5 === 1)
          store.db
            .prepare('INSERT INTO run_input (run_id, dataset_version_id, context) VALUES (?, ?, ?)')
            .run(run.runId, versions[r % 6], r % 2 ? 'eval' : 'training');
        if (r % 50 === 7) runs.setLifecycleStage(run.runId, 'deleted');
      }
    });
  });
  after(() => {
    store.close();
    cleanup();
  });

  it('each search gives the whole table’s rows in its order, page by page, with its count and cells (all runs, one experiment, min/max columns)', () => {
    const scopes = [{}, { experimentIds: [experimentA] }];
    const aggregateSets: Record<string, MetricAggregate>[] = [{}, { acc: 'min', loss: 'max' }];
    let compared = 0;
    for (const options of scopes) {
      const whole = loadRunTable(store.db, options);
      for (const aggregates of aggregateSets) {
        const table = withMetricAggregates(store.db, whole, aggregates, options);
        const columns = runTableColumns(table);
        for (const search of SEARCHES) {
          const rows = searchRunTable(table, search);
          const what = `${JSON.stringify(search)} ${JSON.stringify(options)} ${JSON.stringify(aggregates)}`;
          // the first page, one from the middle (past a page boundary), the last rows, and past the end
          for (const offset of [0, Math.floor(rows.length / 2), rows.length - 3, rows.length + 5]) {
            if (offset < 0) continue;
            const page = searchRunTablePage(store.db, options, search, offset, 60, aggregates);
            assert.equal(page.total, whole.size, `runs in scope: ${what}`);
            assert.equal(page.matched, rows.length, `matches: ${what}`);
            const want = Array.from(rows.subarray(offset, offset + 60), (i) => table.runIds[i]);
            assert.deepEqual(page.table.runIds, want, `rows from ${offset}: ${what}`);
            // the page's cells (min/max applied as the table applies them) are the whole table's
            const shown = withMetricAggregates(store.db, page.table, aggregates, options);
            for (let n = 0; n < Math.min(page.table.size, 3); n++)
              for (const c of columns)
                assert.deepEqual(runTableCell(shown, n, c), runTableCell(table, rows[offset + n]!, c), `${c.id} of row ${offset + n}: ${what}`);
            compared++;
          }
        }
      }
    }
    assert.ok(compared > 200, `${compared} pages compared`);
    // the searches are not vacuous: most match some runs and leave out others
    const whole = loadRunTable(store.db, {});
    const partial = SEARCHES.filter((s) => {
      const n = searchRunTable(whole, s).length;
      return n > 0 && n < whole.size;
    });
    assert.ok(partial.length >= 20, `${partial.length} searches match some runs but not all`);
  });

  it('a filter or order the parser refuses throws its error with the column, as the in-memory search does', () => {
    for (const search of [{ filter: 'params.lr = 3' }, { filter: 'metrics.acc > 0.5 and' }, { orderBy: 'datasets.name' }]) {
      const memory = (() => {
        try {
          searchRunTable(loadRunTable(store.db, {}), search);
        } catch (error) {
          return error as SearchSyntaxError;
        }
        return undefined;
      })();
      assert.ok(memory instanceof SearchSyntaxError);
      assert.throws(
        () => searchRunTablePage(store.db, {}, search, 0, 10),
        (error: unknown) => error instanceof SearchSyntaxError && error.column === memory.column && error.message === memory.message,
      );
    }
  });
});
