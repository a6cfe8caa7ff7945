import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BackendUnreachableError, type Backend, type BackendMetricPoint } from '../../src/core/backends/backend';
import { EmbeddedBackend } from '../../src/core/backends/embeddedBackend';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { mirrorRuns, pollRuns, type HistoryCursors } from '../../src/core/backends/mirror';
import {
  GATE_PASSED_TAG,
  remotePromote,
  remoteRegisterFromRun,
  remoteRemoveAlias,
  remoteRollbackAlias,
  type RemoteRegistryContext,
} from '../../src/core/backends/remoteRegistry';
import { GateRefusedError, RegistryError } from '../../src/core/registry/errors';
import { parseGate } from '../../src/core/registry/gateRules';
import { AuditRepository } from '../../src/core/store/audit';
import { metricHistory, metricKeys } from '../../src/core/metrics/history';
import type { Pipeline } from '../../src/core/config/schema';
import { importMlflow } from '../../src/core/mlflow/importStore';
import { launchRun } from '../../src/core/runs/launcher';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';
import { freePort, startMlflowServer, type MlflowServerProcess } from './mlflowServer';
import { mlflowClientJson, mlflowEnv, PYTHON, pythonJson } from '../support/python';

// A REAL `mlflow server` (SQLite backend) on 127.0.0.1, filled by the real mlflow client; the backend
// under test reads and writes it over REST, and the client checks every write from its side.

const MAKE_STORE = resolve(__dirname, '../../../test/mlflow/make_store.py');

type Value = number | 'NaN' | 'Infinity' | '-Infinity';
interface ClientReport {
  counts: { runs: number; metricPoints: number };
  runs: Record<
    string,
    { name: string; status: string; experiment: string; lifecycle: string; params: Record<string, string>; latest: Record<string, Value>; points: number }
  >;
  models: Record<string, { aliases: Record<string, number>; versions: Record<string, string> }>;
  history_run: string;
  history: Record<string, [number, number, Value][]>;
}
const decode = (v: Value): number =>
  v === 'NaN' ? Number.NaN : v === 'Infinity' ? Number.POSITIVE_INFINITY : v === '-Infinity' ? Number.NEGATIVE_INFINITY : v;

function makeStore(uri: string): Promise<ClientReport> {
  return pythonJson<ClientReport>({ args: [MAKE_STORE, uri], env: mlflowEnv() });
}

async function allHistory(backend: Backend, runId: string, key: string, pageSize: number): Promise<{ points: BackendMetricPoint[]; pages: number }> {
  const points: BackendMetricPoint[] = [];
  let pageToken: string | undefined;
  let pages = 0;
  do {
    const page = await backend.metricHistory(runId, key, { maxResults: pageSize, ...(pageToken ? { pageToken } : {}) });
    points.push(...page.items);
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken);
  return { points, pages };
}

async function allRunIds(backend: Backend, experimentIds: string[], pageSize: number): Promise<string[]> {
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await backend.searchRuns(experimentIds, { maxResults: pageSize, ...(pageToken ? { pageToken } : {}) });
    ids.push(...page.items.map((r) => r.runId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

describe('backends: MlflowBackend against a real mlflow server, EmbeddedBackend against the same data', function () {
  this.timeout(420_000); // a real server + the python client on a loaded 2-core machine
  let dir: string;
  let cleanup: () => void;
  let server: MlflowServerProcess;
  let backend: MlflowBackend;
  let report: ClientReport;
  let store: Store;
  let embedded: EmbeddedBackend;

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-backend-'));
    server = await startMlflowServer(dir);
    report = await makeStore(server.uri);
    backend = new MlflowBackend({ trackingUri: server.uri });
    store = openStore({ path: join(dir, 'mloop', '.mloop', 'mloop.db') });
    await importMlflow(store, { source: server.dbPath, actor: 'tester' });
    embedded = new EmbeddedBackend(store, 'tester');
  });
  after(async () => {
    store?.close();
    await server?.stop();
    cleanup?.();
  });

  it('lists experiments and pages through runs newest first; deleted runs stay out', async () => {
    const experiments = await backend.listExperiments();
    assert.deepEqual(
      experiments.map((e) => e.name),
      ['Default', 'weather-a', 'weather-b'],
    );
    const ids = experiments.map((e) => e.experimentId);
    const paged = await allRunIds(backend, ids, 2);
    const active = Object.entries(report.runs)
      .filter(([, r]) => r.lifecycle === 'active')
      .map(([id]) => id);
    assert.deepEqual([...paged].sort(), [...active].sort());
    const starts = await Promise.all(paged.map(async (id) => (await backend.getRun(id))!.startTime));
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
      'newest first',
    );
  });

  it('reads a run: params, tags and the latest metric values, as the client does (NaN and Infinity included)', async () => {
    for (const [runId, expected] of Object.entries(report.runs)) {
      const run = await backend.getRun(runId);
      assert.ok(run, runId);
      assert.equal(run.name, expected.name);
      assert.equal(run.status, expected.status);
      assert.deepEqual(run.params, expected.params);
      for (const [key, value] of Object.entries(expected.latest))
        assert.ok(Object.is(run.metrics[key], decode(value)), `${key}: ${run.metrics[key]} vs ${value}`);
    }
    assert.equal(await backend.getRun('0'.repeat(32)), undefined);
  });

  it('pages metric history in logging order, every point exact', async () => {
    for (const [key, expected] of Object.entries(report.history)) {
      const { points, pages } = await allHistory(backend, report.history_run, key, 100);
      assert.equal(points.length, expected.length);
      assert.equal(pages, Math.max(1, Math.ceil(expected.length / 100)));
      expected.forEach(([step, timestamp, value], i) => {
        assert.equal(points[i]!.step, step);
        assert.equal(points[i]!.timestamp, timestamp);
        // MLflow's SQL store keeps +Infinity as the largest float: the server and the client agree on it
        assert.ok(Object.is(points[i]!.value, decode(value)), `${key}[${i}] ${points[i]!.value} vs ${value}`);
      });
    }
  });

  it('the embedded backend answers the same questions identically for the imported copy of that server store', async () => {
    const names = async (b: Backend): Promise<string[]> => (await b.listExperiments()).map((e) => e.name);
    assert.deepEqual(await names(embedded), await names(backend));
    for (const e of await backend.listExperiments()) {
      const local = (await embedded.experimentByName(e.name))!;
      assert.deepEqual(await allRunIds(embedded, [local.experimentId], 2), await allRunIds(backend, [e.experimentId], 2), `runs of ${e.name}`);
    }
    const remote = await allHistory(backend, report.history_run, 'loss', 64);
    const local = await allHistory(embedded, report.history_run, 'loss', 64);
    assert.deepEqual(local, remote);
    const models = async (b: Backend) => (await b.listModels()).map((m) => ({ name: m.name, aliases: m.aliases }));
    assert.deepEqual(await models(embedded), await models(backend));
    const versions = async (b: Backend) =>
      (await b.modelVersions('weather-clf')).map((v) => ({ version: v.version, runId: v.runId, source: v.source, aliases: v.aliases, tags: v.tags }));
    assert.deepEqual(await versions(embedded), await versions(backend));
  });

  it('mirrors runs from the server into a store: the chart code downsamples them exactly as for a local run', async () => {
    const mirror = openStore({ path: join(dir, 'mirror', 'mirror.db') });
    try {
      const result = await mirrorRuns(backend, mirror, [report.history_run]);
      assert.equal(result.runs, 1);
      assert.equal(result.points, report.runs[report.history_run]!.points);
      assert.deepEqual(metricKeys(mirror, [report.history_run]), metricKeys(store, [report.history_run]));
      for (const key of metricKeys(store, [report.history_run])) {
        for (const maxPoints of [2000, 50]) {
          assert.deepEqual(
            metricHistory(mirror, { runId: report.history_run, key, maxPoints }),
            metricHistory(store, { runId: report.history_run, key, maxPoints }),
            `${key} at ${maxPoints}`,
          );
        }
      }
      assert.deepEqual(new RunRepository(mirror).params(report.history_run), report.runs[report.history_run]!.params);
      await mirrorRuns(backend, mirror, [report.history_run]);
      assert.equal(mirror.db.prepare('SELECT sum(count) FROM metric_series').pluck().get(), result.points, 'mirroring again replaces, never doubles');
    } finally {
      mirror.close();
    }
  });

  it('registry: aliases set by mloop are seen by the mlflow client and vice versa; a version registered by mloop is in MLflow', async () => {
    const models = await backend.listModels();
    assert.deepEqual(models.find((m) => m.name === 'weather-clf')?.aliases, report.models['weather-clf']!.aliases);
    await backend.setAlias('weather-clf', 'staging', 1);
    const seen = await mlflowClientJson<{ version: string }>(
      server.uri,
      `
import json, mlflow
v = mlflow.MlflowClient().get_model_version_by_alias("weather-clf", "staging")
mlflow.MlflowClient().set_registered_model_alias("weather-clf", "from-client", "3")
print(json.dumps({"version": v.version}))`,
    );
    assert.equal(seen.version, '1');
    const versions = await backend.modelVersions('weather-clf');
    assert.deepEqual(versions.find((v) => v.version === 3)?.aliases, ['challenger', 'from-client']);
    await backend.deleteAlias('weather-clf', 'staging');
    const runId = report.history_run;
    const created = await backend.createModelVersion({ name: 'from-mloop', source: `runs:/${runId}/model`, runId });
    assert.equal(created.version, 1);
    const listed = await mlflowClientJson<{ versions: [string, string][]; staging: boolean }>(
      server.uri,
      `
import json, mlflow
c = mlflow.MlflowClient()
vs = c.search_model_versions("name='from-mloop'")
print(json.dumps({"versions": [[v.version, v.run_id] for v in vs], "staging": "staging" in c.get_registered_model("weather-clf").aliases}))`,
    );
    assert.deepEqual(listed.versions, [['1', runId]]);
    assert.equal(listed.staging, false);
  });

  it('creates and finishes a run the client reads back (what training with backend=mlflow does)', async () => {
    const run = await backend.createRun({ experimentName: 'created-by-mloop', runName: 'r1', params: { lr: '0.5' }, tags: { 'mloop.pipeline': 'train' } });
    assert.equal(run.status, 'RUNNING');
    await backend.finishRun(run.runId, 'FAILED', Date.now());
    const seen = await mlflowClientJson<{ status: string; lr: string; pipeline: string; experiment: string; name: string }>(
      server.uri,
      `
import json, sys, mlflow
r = mlflow.MlflowClient().get_run(sys.argv[1])
e = mlflow.MlflowClient().get_experiment(r.info.experiment_id)
print(json.dumps({"status": r.info.status, "lr": r.data.params["lr"], "pipeline": r.data.tags["mloop.pipeline"], "experiment": e.name, "name": r.info.run_name}))`,
      [run.runId],
    );
    assert.deepEqual(seen, { status: 'FAILED', lr: '0.5', pipeline: 'train', experiment: 'created-by-mloop', name: 'r1' });
  });

  it('training launched by mloop with backend=mlflow logs straight to the server; the local row keeps the process record', async () => {
    const project = join(dir, 'project');
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, 'train.py'),
      `
import sys, mlflow
with mlflow.start_run():
    mlflow.log_param("seen_lr", sys.argv[1])
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("trained")
`,
    );
    const pipeline: Pipeline = {
      command: [PYTHON, 'train.py', '${params.lr}'],
      params: { lr: 0.25 },
      inputs: [],
      outputs: [],
      env: { MLFLOW_DISABLE_TELEMETRY: 'true', GIT_PYTHON_REFRESH: 'quiet' },
      experiment: 'remote-training',
    };
    const handle = await launchRun({
      store,
      projectRoot: project,
      pipelineName: 'train',
      pipeline,
      trusted: true,
      tracking: { uri: 'http://127.0.0.1:9/never-used', token: 'local-token' },
      remote: { backend, tracking: backend.tracking },
    });
    const outcome = await handle.done;
    assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
    assert.equal(outcome.error, undefined);
    const remote = (await backend.getRun(handle.runId))!;
    assert.equal(remote.status, 'FINISHED');
    assert.deepEqual(remote.params, { lr: '0.25', seen_lr: '0.25' });
    assert.equal(remote.tags['mloop.pipeline'], 'train');
    const experiment = (await backend.experimentByName('remote-training'))!;
    assert.equal(remote.experimentId, experiment.experimentId);
    assert.deepEqual(
      (await allHistory(backend, handle.runId, 'loss', 2)).points.map((p) => p.value),
      [1, 0.5, 1 / 3, 0.25, 0.2],
    );
    const local = new RunRepository(store).get(handle.runId)!;
    assert.equal(local.status, 'FINISHED');
    assert.equal(local.exitCode, 0);
    assert.deepEqual(new RunRepository(store).latestMetrics(handle.runId), {}, 'metrics went to the server, not the local store');
  });

  it('with backend=mlflow, line-protocol metrics, params and tags reach the server run too; protocol artifacts stay local and the output says so', async () => {
    const project = join(dir, 'protocol-project');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, 'model.bin'), 'weights');
    writeFileSync(
      join(project, 'train.js'),
      [
        'console.log("::mloop param name=lr value=0.01")',
        'console.log("::mloop tag name=stage value=remote")',
        'for (let s = 0; s < 1500; s++) console.log(`::mloop metric name=loss value=${1 / (s + 1)} step=${s}`)',
        'console.log("::mloop artifact path=model.bin")',
      ].join('\n'),
    );
    const pipeline: Pipeline = { command: [process.execPath, 'train.js'], params: {}, inputs: [], outputs: [], env: {}, experiment: 'remote-protocol' };
    let output = '';
    const handle = await launchRun({
      store,
      projectRoot: project,
      pipelineName: 'proto',
      pipeline,
      trusted: true,
      remote: { backend, tracking: backend.tracking },
      onOutput: (t) => (output += t),
    });
    const outcome = await handle.done;
    assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
    assert.equal(outcome.error, undefined);
    const seen = await mlflowClientJson<{ status: string; lr: string; stage: string; loss: [number, number][] }>(
      server.uri,
      `
import json, sys, mlflow
c = mlflow.MlflowClient()
r = c.get_run(sys.argv[1])
h = sorted(c.get_metric_history(sys.argv[1], "loss"), key=lambda m: m.step)
print(json.dumps({"status": r.info.status, "lr": r.data.params.get("lr"), "stage": r.data.tags.get("stage"), "loss": [[m.step, m.value] for m in h]}))`,
      [handle.runId],
    );
    assert.equal(seen.status, 'FINISHED');
    assert.equal(seen.lr, '0.01');
    assert.equal(seen.stage, 'remote');
    assert.equal(seen.loss.length, 1500, 'every point, across log-batch requests of 1000');
    assert.deepEqual(seen.loss[1499], [1499, 1 / 1500]);
    assert.match(output, /artifact files reported by protocol lines stay in the local store/);
    assert.equal(new RunRepository(store).metricHistory(handle.runId, 'loss').length, 1500, 'the local row keeps them too');
  });

  it('CLI: runs list / runs show / models list --backend mlflow read the real server (flags or MLOOP_BACKEND + MLFLOW_TRACKING_URI); errors are one line, exit 1', async () => {
    const CLI = resolve(__dirname, '../../../dist/cli.js');
    const cli = (args: string[], env: Record<string, string> = {}) => {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, MLOOP_STORE: '', MLOOP_BACKEND: '', MLFLOW_TRACKING_URI: '', ...env },
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const truth = await mlflowClientJson<{ runs: [string, string, string][]; models: Record<string, Record<string, string>> }>(
      server.uri,
      `
import json, mlflow
c = mlflow.MlflowClient()
exps = {e.experiment_id: e.name for e in c.search_experiments()}
runs = c.search_runs(list(exps), order_by=["attributes.start_time DESC"], max_results=1000)
print(json.dumps({"runs": [[r.info.run_id, exps[r.info.experiment_id], r.info.status] for r in runs],
  "models": {m.name: {a: str(v) for a, v in m.aliases.items()} for m in c.search_registered_models()}}))`,
    );
    const listed = cli(['runs', 'list', '--json', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(listed.code, 0, listed.stderr);
    const runs = JSON.parse(listed.stdout) as { runId: string; experiment: string; status: string }[];
    assert.deepEqual(runs.map((r) => [r.runId, r.experiment, r.status]).sort(), [...truth.runs].sort());
    const limited = cli(['runs', 'list', '--json', '-n', '2', '-e', 'weather-a'], { MLOOP_BACKEND: 'mlflow', MLFLOW_TRACKING_URI: server.uri });
    assert.equal(limited.code, 0, limited.stderr);
    assert.deepEqual(
      JSON.parse(limited.stdout).map((r: { experiment: string }) => r.experiment),
      ['weather-a', 'weather-a'],
    );
    const table = cli(['runs', 'list', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.match(table.stdout, /run-0 +weather-a +FINISHED/);
    const models = cli(['models', 'list', '--json', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(models.code, 0, models.stderr);
    const parsed = JSON.parse(models.stdout) as { name: string; aliases: Record<string, number>; versions: unknown[] }[];
    assert.deepEqual(
      Object.fromEntries(parsed.map((m) => [m.name, Object.fromEntries(Object.entries(m.aliases).map(([a, v]) => [a, String(v)]))])),
      truth.models,
    );
    const shown = cli(['runs', 'show', report.history_run, '--json', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(shown.code, 0, shown.stderr);
    const run = JSON.parse(shown.stdout) as { params: Record<string, string>; metrics: Record<string, number | string> };
    assert.deepEqual(run.params, report.runs[report.history_run]!.params);
    assert.equal(run.metrics.weird, -1e-300);
    const down = cli(['runs', 'list', '--backend', 'mlflow', '--tracking-uri', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^mloop: MLflow backend unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const noUri = cli(['models', 'list', '--backend', 'mlflow']);
    assert.equal(noUri.code, 1);
    assert.match(noUri.stderr, /--tracking-uri/);
    const wrong = cli(['runs', 'list', '--backend', 'postgres']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /--backend must be "embedded" or "mlflow"/);
  });

  it('remote registry: register from runs (gate on the server-side metrics), promote, override, roll back; the mlflow client sees each change; audit rows are local', async () => {
    const ctx: RemoteRegistryContext = { backend, store, actor: 'tester' };
    const byName = (name: string): string => Object.entries(report.runs).find(([, r]) => r.name === name)![0];
    const [run0, run1, run2] = [byName('run-0'), byName('run-1'), byName('run-2')];
    const gate = { rules: parseGate(['loss <= 1', 'acc >= champion - 0.01']) };
    const auditBefore = new AuditRepository(store).list().length;
    await assert.rejects(
      remoteRegisterFromRun(ctx, { runId: run1, modelName: 'remote-clf' }),
      (e: Error) => e instanceof RegistryError && /failed: register a model from a finished run/.test(e.message),
    );
    const v1 = await remoteRegisterFromRun(ctx, { runId: run0, modelName: 'remote-clf', gate });
    assert.equal(v1.version.version, 1);
    assert.equal(v1.gate?.passed, true, JSON.stringify(v1.gate));
    const v2 = await remoteRegisterFromRun(ctx, { runId: run2, modelName: 'remote-clf', gate });
    assert.equal(v2.gate?.passed, false, 'run-2 loss is 2.0033 > 1');
    // without rules, promotion reads the verdict stored on the version's tag
    assert.deepEqual(await remotePromote(ctx, { modelName: 'remote-clf', version: 1 }).then((r) => [r.previous, r.overridden]), [null, false]);
    await assert.rejects(remotePromote(ctx, { modelName: 'remote-clf', version: 2 }), GateRefusedError);
    await assert.rejects(
      remotePromote(ctx, { modelName: 'remote-clf', version: 2, gate }),
      (e: Error) => e instanceof GateRefusedError && /loss <= 1/.test(e.message),
    );
    const forced = await remotePromote(ctx, { modelName: 'remote-clf', version: 2, overrideReason: 'hotfix for the demo' });
    assert.deepEqual([forced.previous, forced.overridden], [1, true]);
    await remotePromote(ctx, { modelName: 'remote-clf', version: 1, alias: 'staging' });
    const seen = await mlflowClientJson<{ champion: string; staging: string; versions: [string, string, string | null][] }>(
      server.uri,
      `
import json, mlflow
c = mlflow.MlflowClient()
vs = sorted(c.search_model_versions("name='remote-clf'"), key=lambda v: int(v.version))
print(json.dumps({"champion": c.get_model_version_by_alias("remote-clf", "champion").version, "staging": c.get_model_version_by_alias("remote-clf", "staging").version,
  "versions": [[v.version, v.run_id, v.tags.get("${GATE_PASSED_TAG}")] for v in vs]}))`,
    );
    assert.deepEqual(seen, {
      champion: '2',
      staging: '1',
      versions: [
        ['1', run0, 'true'],
        ['2', run2, 'false'],
      ],
    });
    const back = await remoteRollbackAlias(ctx, { modelName: 'remote-clf', alias: 'champion', reason: 'v2 regressed' });
    assert.deepEqual(back, { from: 2, to: 1 });
    const after = await mlflowClientJson<{ champion: string }>(
      server.uri,
      `
import json, mlflow
print(json.dumps({"champion": mlflow.MlflowClient().get_model_version_by_alias("remote-clf", "champion").version}))`,
    );
    assert.equal(after.champion, '1');
    await assert.rejects(remoteRollbackAlias(ctx, { modelName: 'remote-clf', alias: 'champion' }), /no earlier version/);
    assert.equal(await remoteRemoveAlias(ctx, { modelName: 'remote-clf', alias: 'staging' }), 1);
    assert.deepEqual(
      (await backend.modelVersions('remote-clf')).map((v) => [v.version, v.aliases]),
      [
        [2, []],
        [1, ['champion']],
      ],
    );
    const rows = new AuditRepository(store)
      .list()
      .slice(0, new AuditRepository(store).list().length - auditBefore)
      .reverse();
    assert.deepEqual(
      rows.map((r) => [r.action, r.entityId, r.fromValue, r.toValue, r.reason]),
      [
        ['register', 'remote-clf/1', null, 'v1', null],
        ['register', 'remote-clf/2', null, 'v2', null],
        ['promote', 'remote-clf@champion', null, 'v1', null],
        ['override_gate', 'remote-clf/2', null, 'champion despite failed gate', 'hotfix for the demo'],
        ['promote', 'remote-clf@champion', 'v1', 'v2', 'hotfix for the demo'],
        ['set_alias', 'remote-clf@staging', null, 'v1', null],
        ['rollback_alias', 'remote-clf@champion', 'v2', 'v1', 'v2 regressed'],
        ['delete_alias', 'remote-clf@staging', 'v1', null, null],
      ],
    );
  });

  it('live charts: pollRuns appends only the points logged since the last pass, re-reading just the last page, until the run ends', async () => {
    const LOG = `
import sys, json, mlflow
from mlflow.entities import Metric
a, b = int(sys.argv[2]), int(sys.argv[3])
mlflow.MlflowClient().log_batch(sys.argv[1], metrics=[Metric("loss", 1.0 / (s + 1), 1_800_000_000_000 + s, s) for s in range(a, b)])
if len(sys.argv) > 4: mlflow.MlflowClient().set_terminated(sys.argv[1])
print(json.dumps({"ok": True}))`;
    const run = await backend.createRun({ experimentName: 'live-charts', runName: 'live-1' });
    await mlflowClientJson(server.uri, LOG, [run.runId, '0', '7']);
    const mirror = openStore({ path: ':memory:' });
    const calls: (string | undefined)[] = [];
    const counting = Object.assign(Object.create(backend) as MlflowBackend, {
      metricHistory: (runId: string, key: string, options?: { maxResults?: number; pageToken?: string }) => {
        calls.push(options?.pageToken);
        return backend.metricHistory(runId, key, options);
      },
    });
    try {
      const cursors: HistoryCursors = new Map();
      assert.equal((await mirrorRuns(counting, mirror, [run.runId], { cursors, pageSize: 3 })).points, 7);
      assert.equal(calls.length, 3, 'pages of 3: 3 + 3 + 1');
      await mlflowClientJson(server.uri, LOG, [run.runId, '7', '12']);
      calls.length = 0;
      const second = await pollRuns(counting, mirror, [run.runId], cursors, { pageSize: 3 });
      assert.deepEqual(second, { runs: [{ runId: run.runId, status: 'RUNNING' }], points: 5 });
      assert.equal(calls.length, 2, 'reads from the page holding point 7 (offset 6), then the next');
      assert.ok(calls[0], 'starts from a server page token, not from the first page');
      await mlflowClientJson(server.uri, LOG, [run.runId, '12', '13', 'finish']);
      const third = await pollRuns(counting, mirror, [run.runId], cursors, { pageSize: 3 });
      assert.deepEqual(third, { runs: [{ runId: run.runId, status: 'FINISHED' }], points: 1 });
      const held = new RunRepository(mirror).metricHistory(run.runId, 'loss');
      const truth = (await allHistory(backend, run.runId, 'loss', 1000)).points;
      assert.deepEqual(
        held.map((p) => [p.step, p.timestamp, p.value]),
        truth.map((p) => [p.step, p.timestamp, p.value]),
      );
      assert.equal(held.length, 13);
      assert.equal(new RunRepository(mirror).get(run.runId)?.status, 'FINISHED');
    } finally {
      mirror.close();
    }
  });

  it('a server that stops (or never ran) gives BackendUnreachableError naming the URI, not a crash', async () => {
    const nobody = new MlflowBackend({ trackingUri: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(
      nobody.listExperiments(),
      (e: Error) => e instanceof BackendUnreachableError && /connection refused/.test(e.message) && e.message.includes(nobody.location),
    );
    assert.ok((await backend.listExperiments()).length > 0, 'answers while the server runs');
    await server.stop();
    await assert.rejects(
      backend.listModels(),
      (e: Error) => e instanceof BackendUnreachableError && e.message.startsWith(`MLflow backend unreachable at ${server.uri}`),
    );
    await assert.rejects(backend.metricHistory(report.history_run, 'loss'), BackendUnreachableError);
  });

  it('refuses a tracking URI that is not an http(s) server, pointing at import for files', () => {
    assert.throws(() => new MlflowBackend({ trackingUri: 'sqlite:///mlflow.db' }), /mloop import mlflow/);
    assert.throws(() => new MlflowBackend({ trackingUri: 'not a url' }), /not a URL/);
  });
});
