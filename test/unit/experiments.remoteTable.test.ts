import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { EmbeddedBackend } from '../../src/core/backends/embeddedBackend';
import { RemoteRunSearch, runTableOfBackendRuns } from '../../src/core/experiments/remoteRunTable';
import { runTableCell, runTableColumns } from '../../src/core/experiments/runTableView';
import { SearchSyntaxError } from '../../src/core/experiments/searchSyntax';
import { deleteRuns } from '../../src/core/runs/deleteRuns';
import { verifyChain } from '../../src/core/governance/auditChain';
import { AuditRepository } from '../../src/core/store/audit';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { mlflowClientJson } from '../support/python';
import { tempDir } from './fixtures';
import { startMlflowServer, type MlflowServerProcess } from './mlflowServer';

// The Experiments Table against a REAL `mlflow server` (one per file): the server filters and orders through
// runs/search, the table reads its pages by token as it scrolls, and what it shows equals what the real mlflow
// client's search_runs returns on the same server. Deleting the selection goes through the backend and is audited.

const FILL = `
import json, mlflow, random
from mlflow.tracking import MlflowClient
client = MlflowClient()
rng = random.Random(19)
ids = {}
for name in ("table-a", "table-b"):
    exp = client.create_experiment(name)
    for n in range(13):
        run = client.create_run(exp, run_name=f"{name}-{n:02d}", start_time=1_700_000_000_000 + n * 1000 + (0 if name == "table-a" else 500))
        rid = run.info.run_id
        client.log_param(rid, "depth", str([2, 4, 8][n % 3]))
        client.log_param(rid, "lr", f"{rng.choice([0.1, 0.01, 0.001])}")
        for step in range(3):
            client.log_metric(rid, "acc", round(rng.random(), 4), step=step)
        if n % 4:
            client.log_metric(rid, "val loss", round(rng.random(), 4))
        client.set_tag(rid, "team", "vision" if n % 2 else "nlp")
        client.set_terminated(rid)
        ids[f"{name}-{n:02d}"] = rid
print(json.dumps(ids))
`;

const SEARCH = `
import json, sys
from mlflow.tracking import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient()
queries = json.loads(sys.argv[1])
exps = [e.experiment_id for e in client.search_experiments()]
out = {"results": [], "lifecycle": client.get_run(sys.argv[2]).info.lifecycle_stage}
for q in queries:
    runs = client.search_runs(exps, filter_string=q["filter"], order_by=q["orderBy"] or None, max_results=1000, run_view_type=ViewType.ACTIVE_ONLY)
    out["results"].append([[r.info.run_id, r.data.metrics.get("acc")] for r in runs])
print(json.dumps(out))
`;

/** What the table sends: the filter box, and the header's order keys (backtick-quoted, comma-separated). */
const QUERIES = [
  { filter: "metrics.acc > 0.3 and params.depth = '8'", orderBy: 'metrics.`acc` DESC' },
  { filter: "params.depth != '8' and params.lr = '0.01'", orderBy: 'params.`depth`, metrics.`val loss` DESC' },
  { filter: "tags.team LIKE 'vis%'", orderBy: 'attributes.run_name' },
  { filter: '', orderBy: '' },
  { filter: 'metrics.`val loss` < 0.5', orderBy: 'metrics.`val loss`' },
];

describe('experiments: the table against a real MLflow server (runs/search pages, server-side filter and order)', function () {
  this.timeout(300_000); // a real mlflow server and two mlflow-client runs start slowly on a loaded 2-core machine
  let dir: string;
  let cleanup: () => void;
  let server: MlflowServerProcess;
  let backend: MlflowBackend;
  let audit: Store;
  let ids: Record<string, string>;
  let experimentIds: string[];
  let client: { results: [string, number | null][][]; lifecycle: string };
  const ours: [string, number | null][][] = [];
  const pageCounts: { requests: number; known: number }[] = [];

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-remote-table-'));
    server = await startMlflowServer(dir);
    ids = await mlflowClientJson<Record<string, string>>(server.uri, FILL);
    backend = new MlflowBackend({ trackingUri: server.uri });
    audit = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    // the table's Delete on one run, through the server's backend, audited in the local store
    await deleteRuns({ backend, store: audit, runIds: [ids['table-a-05']!], actor: 'tester' });
    experimentIds = (await backend.listExperiments()).map((e) => e.experimentId);
    for (const query of QUERIES) {
      // pages of 4: every search crosses several page tokens
      const search = await RemoteRunSearch.open(backend, experimentIds, query, { pageSize: 4 });
      pageCounts.push({ requests: search.requests, known: search.known.length });
      await search.ensure(Number.MAX_SAFE_INTEGER);
      const table = runTableOfBackendRuns(search.known);
      const acc = runTableColumns(table).find((c) => c.id === 'metrics.acc')!;
      ours.push(search.known.map((run, i) => [run.runId, runTableCell(table, i, acc) as number | null]));
    }
    client = await mlflowClientJson(server.uri, SEARCH, [
      JSON.stringify(QUERIES.map((q) => ({ filter: q.filter, orderBy: q.orderBy ? q.orderBy.split(',').map((k) => k.trim()) : [] }))),
      ids['table-a-05']!,
    ]);
  });
  after(async () => {
    audit?.close();
    await server?.stop();
    cleanup?.();
  });

  it('filter + order give the same runs in the same order, with the same latest values, as the mlflow client on the same server', () => {
    QUERIES.forEach((query, n) => {
      assert.ok(client.results[n]!.length > 0, `${query.filter} matches some runs`);
      assert.deepEqual(ours[n], client.results[n], `filter ${JSON.stringify(query.filter)} order ${JSON.stringify(query.orderBy)}`);
    });
    assert.equal(client.results[3]!.length, 25, 'all 26 runs but the deleted one');
  });

  it('the first screen reads one page of the server, not every run', () => {
    for (const p of pageCounts) {
      assert.equal(p.requests, 1);
      assert.ok(p.known <= 4);
    }
  });

  it('a filter the parser refuses is not sent, and its error names the column', async () => {
    const counting = { requests: 0, searchRuns: (...args: Parameters<MlflowBackend['searchRuns']>) => (counting.requests++, backend.searchRuns(...args)) };
    await assert.rejects(
      RemoteRunSearch.open(counting, experimentIds, { filter: 'metrics.acc >> 0.3', orderBy: '' }),
      (error: unknown) => error instanceof SearchSyntaxError && error.column === 14,
    );
    assert.equal(counting.requests, 0);
  });

  it('Delete marked the run deleted on the server (seen by the mlflow client) and wrote a chained audit row', () => {
    assert.equal(client.lifecycle, 'deleted');
    const rows = new AuditRepository(audit).list({ limit: 10 }).filter((e) => e.action === 'run.delete');
    assert.deepEqual(
      rows.map((e) => [e.entityId, e.fromValue, e.toValue, e.actor]),
      [[ids['table-a-05'], 'active', 'deleted', 'tester']],
    );
    assert.equal(verifyChain(audit.db).ok, true);
  });

  it('Delete on the workspace store: the runs and their audit rows commit together; an unknown run is refused before anything', async () => {
    const store = openStore({ path: join(dir, 'local', 'mloop.db') });
    try {
      const experimentId = new ExperimentRepository(store).ensure('local').experimentId;
      const runs = new RunRepository(store);
      const a = runs.create({ experimentId, name: 'a', startTime: 1 });
      const b = runs.create({ experimentId, name: 'b', startTime: 2 });
      const embedded = new EmbeddedBackend(store, 'tester');
      assert.equal(await deleteRuns({ backend: embedded, store, runIds: [a.runId, b.runId], actor: 'tester' }), 2);
      assert.deepEqual([runs.lifecycleStage(a.runId), runs.lifecycleStage(b.runId)], ['deleted', 'deleted']);
      await assert.rejects(deleteRuns({ backend: embedded, store, runIds: ['f'.repeat(32)], actor: 'tester' }), /no run f{32}/);
      const audited = new AuditRepository(store).list({ limit: 10 }).filter((e) => e.action === 'run.delete');
      assert.deepEqual(audited.map((e) => e.entityId).sort(), [a.runId, b.runId].sort());
      assert.equal(verifyChain(store.db).ok, true);
    } finally {
      store.close();
    }
  });
});
