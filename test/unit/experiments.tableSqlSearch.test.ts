import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadRunTable, searchRunTable, withMetricAggregates, type MetricAggregate } from '../../src/core/experiments/runTable';
import { runTableCsvFromSql, runTableWalkTuning, searchRunTablePage } from '../../src/core/experiments/runTableSqlSearch';
import { SearchSyntaxError } from '../../src/core/experiments/searchSyntax';
import { arrangeColumns, groupRows, type RunGrouping, runTableCell, runTableColumns, runTableCsv } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { latestSchemaVersion } from '../../src/core/store/migrations/list';
import { createStoreAtSchemaVersion, openStore, type Store } from '../../src/core/store/store';
import { fingerprint, tempDir } from './fixtures';

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
  // tags and two keys: the tag index and a second key walked inside the first key's groups (migration 023)
  { filter: "tags.team = 't1'", orderBy: 'metrics.acc DESC' },
  { filter: "tags.team != 't1'" },
  { filter: "tags.team ILIKE 'T%'", orderBy: 'tags.team' },
  { filter: "tags.team IN ('t0', 't2') and metrics.acc > 0.3", orderBy: 'params.lr, metrics.acc' },
  { filter: 'metrics.acc > 0.4', orderBy: 'params.lr, metrics.acc DESC' },
  { orderBy: 'tags.team DESC, metrics.acc' },
  { orderBy: 'params.lr DESC, metrics.loss DESC, attributes.run_name' },
  { orderBy: 'metrics.loss, params.depth' },
  { orderBy: 'params.depth, tags.team DESC' },
  { orderBy: 'metrics.acc DESC, metrics.loss' },
  // a clause holding for no run (nothing matches: no intersection built), and for few runs (their matches sorted)
  { filter: "metrics.acc > 0.2 and params.lr = 'none'", orderBy: 'metrics.loss DESC' },
  { filter: 'metrics.acc > 2', orderBy: 'params.depth' },
  { filter: "metrics.loss < 0.5 and params.depth = '3'", orderBy: 'metrics.acc' },
];

const TWO_WALKABLE_KEYS = /^(metrics|params|tags)\.[^,]+,\s*(metrics|params|tags)\./;

/**
 * The walks' tunings: the defaults; every group walked by its second key and every filter's page walked in its order;
 * small groups sorted and no filter walked.
 */
const DEFAULT_TUNING = { ...runTableWalkTuning };
const TUNINGS: (typeof runTableWalkTuning)[] = [
  // the defaults, but a filter's page walked in its order however few runs a clause holds for (a few hundred here)
  { ...DEFAULT_TUNING, sortFewMatches: 0 },
  { largeGroup: 1, maxGroups: 3, defaultOrderVisits: 1e9, groupSearches: 16, sortFewMatches: 0, groupWalk: 20_000, groupPageSearches: 100 },
  { largeGroup: 40, maxGroups: 100, defaultOrderVisits: 0, groupSearches: 0, sortFewMatches: 60, groupWalk: 20_000, groupPageSearches: 100 },
  // the defaults as shipped: on these few runs every filtered page is sorted
  DEFAULT_TUNING,
];

describe('experiments: a search answered with SQL while the table is read', function () {
  // ~20 s of CPU on a shared 2-core machine: the wall time may triple under load
  this.timeout(300_000);
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
        // groups: sweeps (some runs in none) and commits (some dirty, some runs without one)
        if (r % 5 !== 2) store.db.prepare("INSERT INTO tag (run_id, key, value) VALUES (?, 'mloop.sweep', ?)").run(run.runId, `sweep-${r % 6}`);
        if (r % 9)
          store.db.prepare('UPDATE run SET git_commit = ?, git_dirty = ? WHERE run_id = ?').run(`c${r % 8}${'0'.repeat(39)}`, r % 3 === 1 ? 1 : 0, run.runId);
      }
    });
  });
  beforeEach(() => Object.assign(runTableWalkTuning, TUNINGS[0]));
  afterEach(() => Object.assign(runTableWalkTuning, DEFAULT_TUNING));
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
        // the other tunings once per search (CPU time): in one experiment (its newest-first walk) with min/max columns
        const retuned = options === scopes[1] && aggregates === aggregateSets[1];
        for (const [search, tuning] of SEARCHES.flatMap((search) =>
          // a two-key order, and a filter, also under the other tunings (the rest do not read them)
          (retuned && (TWO_WALKABLE_KEYS.test(search.orderBy ?? '') || search.filter) ? TUNINGS : TUNINGS.slice(0, 1)).map(
            (tuning) => [search, tuning] as const,
          ),
        )) {
          Object.assign(runTableWalkTuning, tuning);
          const rows = searchRunTable(table, search);
          const what = `${JSON.stringify(search)} ${JSON.stringify(options)} ${JSON.stringify(aggregates)} ${JSON.stringify(tuning)}`;
          // the first page, one from the middle (past a page boundary), the last rows, and past the end
          for (const offset of [0, Math.floor(rows.length / 2), rows.length - 3, rows.length + 5]) {
            if (offset < 0) continue;
            const page = searchRunTablePage(store.db, options, search, offset, 60, aggregates);
            assert.equal(page.total, whole.size, `runs in scope: ${what}`);
            assert.equal(page.matched, rows.length, `matches: ${what}`);
            const want = Array.from(rows.subarray(offset, offset + 60), (i) => table.runIds[i]);
            assert.deepEqual(page.table.runIds, want, `rows from ${offset}: ${what}`);
            compared++;
            // the page's cells (min/max applied as the table applies them) are the whole table's (read alike whatever the walk)
            if (tuning !== TUNINGS[0]) continue;
            const shown = withMetricAggregates(store.db, page.table, aggregates, options);
            for (let n = 0; n < Math.min(page.table.size, 3); n++)
              for (const c of columns)
                assert.deepEqual(runTableCell(shown, n, c), runTableCell(table, rows[offset + n]!, c), `${c.id} of row ${offset + n}: ${what}`);
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

  it('a grouped search (experiment, sweep, commit) gives groupRows’ order of the whole table’s search, page by page, with its count', () => {
    const groupings: RunGrouping[] = ['experiment', 'sweep', 'commit'];
    const searches = [{}, ...SEARCHES.filter((_, n) => n % 3 === 0)];
    let compared = 0;
    // the page's groups searched one by one (searchByGroups) under each tuning: every group large (the group's index
    // walked, or for an experiment its scope), every group small (its runs read and sorted), or mixed (groups under 60
    // runs small); the page's groups found in one walk or in several (growing windows of at least 64 runs); and every
    // match ordered in one statement (no walk allowed, or too many groups to search). By experiment, also one search
    // per experiment (searchByExperiment). The first tuning for every search and scope, the others for a third of the
    // searches over every experiment (CPU time).
    const tunings: Record<string, (typeof runTableWalkTuning)[]> = {
      experiment: [TUNINGS[0]!, TUNINGS[2]!, { ...DEFAULT_TUNING, groupSearches: 0 }, { ...DEFAULT_TUNING, groupSearches: 0, groupWalk: 0 }],
      sweep: [TUNINGS[2]!, TUNINGS[0]!, DEFAULT_TUNING, { ...DEFAULT_TUNING, groupWalk: 100 }, { ...DEFAULT_TUNING, groupPageSearches: 2 }],
      commit: [TUNINGS[2]!, TUNINGS[0]!, DEFAULT_TUNING, { ...DEFAULT_TUNING, groupWalk: 0 }],
    };
    // scopes of every experiment, one, and two named (with a deleted run among them)
    const experimentB = new ExperimentRepository(store).ensure('b').experimentId;
    const scopes: { experimentIds?: number[]; lifecycle?: 'all' }[] = [
      {},
      { experimentIds: [experimentA] },
      { experimentIds: [experimentB, experimentA], lifecycle: 'all' },
    ];
    for (const options of scopes) {
      const aggregates: Record<string, MetricAggregate> = options.experimentIds ? { acc: 'min' } : {};
      const table = withMetricAggregates(store.db, loadRunTable(store.db, options), aggregates, options);
      for (const grouping of groupings)
        for (const [search, tuning] of searches.flatMap((search, n) =>
          tunings[grouping]!.filter((_, t) => t === 0 || (options === scopes[0] && n % 3 === 0)).map((t) => [search, t] as const),
        )) {
          Object.assign(runTableWalkTuning, tuning);
          const rows = groupRows(table, searchRunTable(table, search), grouping);
          const what = `${grouping} ${JSON.stringify(search)} ${JSON.stringify(options)} ${JSON.stringify(tuning)}`;
          // the first page, one from the middle, the last rows (the runs in no group), past the end
          for (const offset of [0, Math.floor(rows.length / 2), Math.max(0, rows.length - 30), rows.length + 2]) {
            const page = searchRunTablePage(store.db, options, search, offset, 70, aggregates, grouping);
            assert.equal(page.total, table.size, `runs in scope: ${what}`);
            assert.equal(page.matched, rows.length, `matches: ${what}`);
            assert.deepEqual(
              page.table.runIds,
              Array.from(rows.subarray(offset, offset + 70), (i) => table.runIds[i]),
              `rows from ${offset}: ${what}`,
            );
            compared++;
          }
        }
    }
    assert.ok(compared >= 100, `${compared} pages compared`);
  });

  it('a CSV export read with SQL a chunk at a time is the whole table’s CSV of the view (grouped, min/max, columns hidden, pinned and moved)', () => {
    const layout = {
      grouping: 'sweep' as const,
      pinned: ['metrics.loss'],
      order: ['tags.team', 'params.lr'],
      hidden: ['params.note'],
      aggregates: { 'metrics.acc': 'max' as const },
    };
    const aggregates: Record<string, MetricAggregate> = { acc: 'max' };
    let exported = 0;
    for (const options of [{}, { experimentIds: [experimentA] }]) {
      const table = withMetricAggregates(store.db, loadRunTable(store.db, options), aggregates, options);
      const shown = arrangeColumns(runTableColumns(table), layout).shown;
      for (const [search, grouping] of [
        [{}, 'none'],
        [{ filter: 'metrics.acc > 0.3', orderBy: 'params.lr, metrics.acc DESC' }, 'sweep'],
        [{ orderBy: 'metrics.loss DESC' }, 'commit'],
        [{ filter: "params.note LIKE 'a%'" }, 'experiment'],
        [{ filter: "params.lr = 'none'" }, 'none'],
      ] as const) {
        const want = runTableCsv(table, groupRows(table, searchRunTable(table, search), grouping), shown);
        const pieces: string[] = [];
        const steps = runTableCsvFromSql(store.db, options, search, aggregates, grouping, (columns) => arrangeColumns(columns, layout).shown, 37);
        let step = steps.next();
        for (; !step.done; step = steps.next()) pieces.push(step.value);
        assert.equal(pieces.join(''), want, `${JSON.stringify(search)} ${grouping} ${JSON.stringify(options)}`);
        assert.equal(step.value.rows, want.split('\r\n').length - 2);
        exported += step.value.rows;
      }
    }
    assert.ok(exported > 400, `${exported} rows exported`);
  });

  it('a scope holding every run of the store (both experiments, deleted runs too) gives the whole table’s pages, counts and cells', () => {
    // such a scope is no condition in SQL (the matches are not looked up in the run table): the same answers as with it
    const experimentB = new ExperimentRepository(store).ensure('b').experimentId;
    const options = { experimentIds: [experimentA, experimentB], lifecycle: 'all' as const };
    const aggregates: Record<string, MetricAggregate> = { acc: 'max' };
    const table = withMetricAggregates(store.db, loadRunTable(store.db, options), aggregates, options);
    assert.equal(table.size, store.db.prepare('SELECT count(*) FROM run').pluck().get(), 'the scope holds every run');
    const columns = runTableColumns(table);
    for (const search of SEARCHES) {
      const rows = searchRunTable(table, search);
      for (const offset of [0, Math.floor(rows.length / 2)]) {
        const page = searchRunTablePage(store.db, options, search, offset, 60, aggregates);
        const what = `${JSON.stringify(search)} from ${offset}`;
        assert.equal(page.total, table.size, what);
        assert.equal(page.matched, rows.length, `matches: ${what}`);
        assert.deepEqual(
          page.table.runIds,
          Array.from(rows.subarray(offset, offset + 60), (i) => table.runIds[i]),
          `rows: ${what}`,
        );
        const shown = withMetricAggregates(store.db, page.table, aggregates, options);
        for (let n = 0; n < Math.min(page.table.size, 2); n++)
          for (const c of columns) assert.deepEqual(runTableCell(shown, n, c), runTableCell(table, rows[offset + n]!, c), `${c.id}: ${what}`);
      }
    }
  });

  it('a schema-22 store opened read-only gives the same pages (no 023 index to walk); upgraded, its min/max and tag searches walk the new indexes and the scope is counted from 024’s index', () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'old.db');
      createStoreAtSchemaVersion(path, 22);
      // written with plain SQL, as schema 22 would hold them: latest/min/max per series (NULL: NaN), params, some tags
      const db = new Database(path);
      db.exec("INSERT INTO experiment (name, created_at, updated_at) VALUES ('e', 1, 1)");
      const next = random(5);
      db.transaction(() => {
        for (let n = 0; n < 300; n++) {
          const id = n.toString(16).padStart(32, '0');
          db.prepare("INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES (?, 1, ?, 'FINISHED', ?)").run(id, `run-${n}`, 1000 + (n % 17));
          db.prepare('INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)').run(id, 'p', `v${n % 5}`);
          if (n % 3) db.prepare('INSERT INTO tag (run_id, key, value) VALUES (?, ?, ?)').run(id, 'team', `t${n % 4}`);
          const low = n % 29 === 0 ? null : Math.round(next() * 10) / 10;
          db.prepare('INSERT INTO metric_series (run_id, key, count, latest_value, min_value, max_value) VALUES (?, ?, 2, ?, ?, ?)').run(
            id,
            'm',
            next(),
            low,
            low === null ? null : low + next(),
          );
        }
      })();
      db.close();
      const searches = [
        { orderBy: 'metrics.m DESC' },
        { filter: 'metrics.m < 0.45', orderBy: 'tags.team DESC' },
        { filter: "tags.team = 't2'", orderBy: 'metrics.m' },
        { orderBy: 'params.p, metrics.m DESC' },
        { orderBy: 'tags.team, metrics.m' },
      ];
      const aggregates: Record<string, MetricAggregate> = { m: 'min' };
      const pages = (store: Store): (readonly string[])[] =>
        searches.flatMap((search) => [0, 150].map((offset) => searchRunTablePage(store.db, {}, search, offset, 40, aggregates).table.runIds));
      const before = fingerprint(path);
      const old = openStore({ path, readonly: true });
      let oldPages: (readonly string[])[];
      try {
        assert.equal(old.schemaVersion, 22);
        // the in-memory search over the whole table is the reference
        const table = withMetricAggregates(old.db, loadRunTable(old.db, {}), aggregates, {});
        const want = searches.flatMap((search) => {
          const rows = searchRunTable(table, search);
          return [0, 150].map((offset) => Array.from(rows.subarray(offset, offset + 40), (i) => table.runIds[i]!));
        });
        oldPages = pages(old);
        assert.deepEqual(oldPages, want);
      } finally {
        old.close();
      }
      assert.deepEqual(fingerprint(path), before, 'a read-only open wrote to the store');
      const upgraded = openStore({ path });
      try {
        assert.equal(upgraded.schemaVersion, latestSchemaVersion);
        assert.deepEqual(pages(upgraded), oldPages);
        const plan = (sql: string): string =>
          upgraded.db
            .prepare(`EXPLAIN QUERY PLAN ${sql}`)
            .all()
            .map((r) => (r as { detail: string }).detail)
            .join(' | ');
        assert.match(
          plan("SELECT run_id FROM metric_series WHERE key = 'm' AND min_value IS NOT NULL ORDER BY min_value LIMIT 10"),
          /metric_series_by_key_min/,
        );
        assert.match(plan("SELECT run_id FROM metric_series WHERE key = 'm' AND max_value > 0.5"), /metric_series_by_key_max/);
        assert.match(plan("SELECT run_id FROM tag WHERE key = 'team' AND value = 't1'"), /tag_by_key_value/);
        // migration 024: the runs in scope are counted from an index alone, not from each run's row
        assert.match(
          plan("SELECT count(*) FROM run r WHERE r.experiment_id IN (1) AND r.lifecycle_stage = 'active'"),
          /COVERING INDEX run_by_experiment_stage/,
        );
      } finally {
        upgraded.close();
      }
    } finally {
      t.cleanup();
    }
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
