import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { loadRunTable, searchRunTable, type RunTable } from '../../src/core/experiments/runTable';
import { parseFilter, parseOrderByList, SearchSyntaxError } from '../../src/core/experiments/searchSyntax';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { openStore, type Store } from '../../src/core/store/store';
import { startTrackingServer, type TrackingServer } from '../../src/core/tracking/server';
import { mlflowEnv, pythonJson } from '../support/python';
import { tempDir } from './fixtures';

// The same 30 runs are logged by the real mlflow client into an MLflow sqlite store (the reference) and
// into mloop's tracking endpoint; every search below is answered by mlflow.search_runs on both, and by
// mloop's in-memory search over the store (what the Experiments Table and `mloop runs list` use).

const SCRIPT = resolve(__dirname, '../../../test/mlflow/search_runs.py');
const BASE_TIME = 1_700_000_000_000;

interface Search {
  readonly filter?: string;
  readonly order_by?: readonly string[];
  /** For refusals: the 1-based column mloop's error must name. */
  readonly column?: number;
}

const SEARCHES: readonly Search[] = [
  { filter: 'metrics.accuracy > 0.8' },
  { filter: "metrics.accuracy > 0.8 and params.max_depth = '8'" },
  { filter: "attributes.status = 'FINISHED'" },
  { filter: "attributes.status != 'FINISHED'" },
  { filter: "tags.team LIKE '%b%'" },
  { filter: "tags.team ILIKE '%b%'" },
  { filter: "params.model ILIKE 'FOREST%'" },
  { filter: "run_name = 'run-03'" },
  { filter: "attributes.run_name LIKE 'run-1_'" },
  { filter: "params.`batch size` = '32' and tags.`data.version` = 'v2'" },
  { filter: 'metrics.accuracy != 0.5' },
  { filter: 'params.opt IS NULL' },
  { filter: "attributes.run_id != 'x' and params.opt IS NOT NULL" },
  { filter: 'metrics.f1 <= 0.5 and metrics.loss < 1.2' },
  { filter: `attributes.start_time >= ${BASE_TIME + 10_000} and attributes.end_time < ${BASE_TIME + 25_000}` },
  { filter: '', order_by: ['metrics.accuracy DESC'] },
  { filter: '', order_by: ['metrics.accuracy ASC'] },
  { filter: '', order_by: ['params.max_depth DESC', 'metrics.loss'] },
  { filter: '', order_by: ['tags.team', 'attributes.run_name DESC'] },
  { filter: '', order_by: ['attributes.end_time DESC'] },
  { filter: "attributes.status = 'FINISHED'", order_by: ['metrics.f1 DESC'] },
  // refusals: MLflow refuses each; mloop refuses each and names the column
  { filter: 'metrics.accuracy > ', column: 20 },
  { filter: "metrics.accuracy = '0.8'", column: 20 },
  { filter: 'params.max_depth = 8', column: 20 },
  { filter: 'metrics.a > 1 or metrics.b > 1', column: 15 },
  { filter: "foo.bar = '1'", column: 1 },
  { filter: 'attributes.status = FINISHED', column: 21 },
  { filter: "params.max_depth > '8'", column: 1 },
  { filter: '', order_by: ['metrics.accuracy DOWN'], column: 18 },
];

interface Reference {
  readonly mlflow_version: string;
  readonly results: Record<'sqlite' | 'mloop', readonly { names?: string[]; error?: string }[]>;
}

describe('experiments: MLflow search syntax against the real mlflow.search_runs', function () {
  this.timeout(120_000);
  let store: Store;
  let server: TrackingServer;
  let cleanup: () => void;
  let reference: Reference;
  let table: RunTable;

  before(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
    server = await startTrackingServer({ store, artifactRoot: join(t.dir, '.mloop', 'artifacts') });
    reference = await pythonJson<Reference>({
      args: [SCRIPT],
      cwd: t.dir,
      env: mlflowEnv({ token: server.token }),
      input: JSON.stringify({
        uris: [
          { name: 'sqlite', uri: `sqlite:///${join(t.dir, 'mlflow.db')}` },
          { name: 'mloop', uri: server.uri },
        ],
        base_time: BASE_TIME,
        runs: 30,
        searches: SEARCHES,
      }),
    });
    const experiment = new ExperimentRepository(store).byName('search')!;
    table = loadRunTable(store.db, { experimentIds: [experiment.experimentId] });
    if (process.env.MLOOP_TEST_VERBOSE) console.log(JSON.stringify((reference as unknown as { seconds: unknown }).seconds));
  });

  after(async () => {
    await server?.close();
    store?.close();
    cleanup?.();
  });

  const inMemory = (s: Search): string[] => Array.from(searchRunTable(table, { filter: s.filter, orderBy: s.order_by ?? [] }), (i) => table.names[i]!);
  const label = (s: Search): string => `${s.filter || '(no filter)'}${s.order_by ? ` ORDER BY ${s.order_by.join(', ')}` : ''}`;

  it('the reference found runs for the searches (the comparison is not vacuous)', () => {
    assert.equal(table.size, 30);
    const found = reference.results.sqlite.filter((r) => r.names && r.names.length > 0 && r.names.length < 30);
    assert.ok(found.length >= 12, `most filters select some runs, not none or all: ${JSON.stringify(reference.results.sqlite)}`);
  });

  SEARCHES.forEach((search, n) => {
    if (search.column !== undefined) {
      it(`refuses ${label(search)} like MLflow, naming column ${search.column}`, () => {
        assert.ok(reference.results.sqlite[n]!.error, `MLflow accepted ${label(search)}`);
        assert.ok(reference.results.mloop[n]!.error, `mloop's endpoint accepted ${label(search)}`);
        assert.match(reference.results.mloop[n]!.error!, new RegExp(`at column ${search.column}\\b`));
        assert.throws(
          () => inMemory(search),
          (e: unknown) => e instanceof SearchSyntaxError && e.column === search.column,
        );
      });
      return;
    }
    it(`${label(search)}: the endpoint and the in-memory search give MLflow's runs in MLflow's order`, () => {
      const expected = reference.results.sqlite[n]!;
      assert.ok(expected.names, `MLflow refused it: ${expected.error}`);
      assert.deepEqual(reference.results.mloop[n], expected, 'through the tracking endpoint');
      assert.deepEqual(inMemory(search), expected.names, 'in memory');
    });
  });

  it('takes IN lists on params and tags too (beyond MLflow, which takes them for run_id only)', () => {
    const names = (filter: string): string[] => Array.from(searchRunTable(table, { filter }), (i) => table.names[i]!);
    assert.deepEqual(names("params.max_depth IN ('4', '16') and tags.team NOT IN ('a')"), names("params.max_depth != '8' and tags.team != 'a'"));
    assert.ok(names("params.max_depth IN ('4', '16') and tags.team NOT IN ('a')").length > 3);
  });

  it('parses into a typed AST with 1-based columns (values, quoting with backticks)', () => {
    assert.deepEqual(parseFilter('metrics.`val acc` >= 1e-3 AND tags."a.b" ILIKE \'x%\''), [
      { entity: 'metric', key: 'val acc', comparator: '>=', value: 0.001, column: 1, valueColumn: 22, quoted: false },
      { entity: 'tag', key: 'a.b', comparator: 'ILIKE', value: 'x%', column: 31, valueColumn: 48, quoted: true },
    ]);
    assert.deepEqual(
      parseOrderByList('metrics.accuracy DESC, params.lr').map((o) => [o.entity, o.key, o.descending, o.column]),
      [
        ['metric', 'accuracy', true, 1],
        ['param', 'lr', false, 24],
      ],
    );
  });
});
