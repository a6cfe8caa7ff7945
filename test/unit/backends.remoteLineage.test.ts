import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BackendUnreachableError } from '../../src/core/backends/backend';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { remoteLineageGraph, resolveRemoteLineageRef } from '../../src/core/backends/remoteLineage';
import type { Pipeline } from '../../src/core/config/schema';
import { snapshotDataset } from '../../src/core/datasets/versions';
import { codeNodeId, lineageGraph, type LineageGraph } from '../../src/core/lineage/graph';
import { launchRun } from '../../src/core/runs/launcher';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';
import { freePort, startMlflowServer, type MlflowServerProcess } from './mlflowServer';
import { mlflowClientJson, PYTHON } from '../support/python';

// Lineage served from a REAL `mlflow server`: the real client trains scikit-learn models on
// seattle-weather, logs the data with mlflow.log_input and registers versions; the graph mloop draws from
// the server's REST answers is checked against what the client itself recorded.

const WEATHER = resolve(__dirname, '../../../node_modules/vega-datasets/data/seattle-weather.csv');
const COMMIT = '3f2a9c1d4b5e6f708192a3b4c5d6e7f809152634';

interface Fixture {
  full: { name: string; digest: string };
  recent: { name: string; digest: string };
  runs: { v1: string; v2: string; probe: string };
  source: string;
  experiments: Record<string, string>;
}

const FIXTURE_PY = `
import json, sys, mlflow, pandas as pd
from sklearn.linear_model import LogisticRegression
path, commit = sys.argv[1], sys.argv[2]
df = pd.read_csv(path)
recent = df[df["date"] >= "2015-01-01"]
full_ds = mlflow.data.from_pandas(df, source=path, name="seattle-weather", targets="weather")
recent_ds = mlflow.data.from_pandas(recent, source=path, name="seattle-weather-2015", targets="weather")
X = ["precipitation", "temp_max", "temp_min", "wind"]

def train(name, ds, frame, register):
    with mlflow.start_run(run_name=name) as run:
        mlflow.set_tag("mlflow.source.git.commit", commit)
        mlflow.log_input(ds, context="training")
        model = LogisticRegression(max_iter=300).fit(frame[X], frame["weather"])
        mlflow.log_metric("accuracy", model.score(frame[X], frame["weather"]))
        if register:
            mlflow.sklearn.log_model(model, name="model", registered_model_name="weather-clf")
        return run.info.run_id

mlflow.set_experiment("weather")
v1 = train("train-full", full_ds, df, True)
v2 = train("train-2015", recent_ds, recent, True)
mlflow.set_experiment("analysis")
with mlflow.start_run(run_name="probe") as run:
    mlflow.log_input(full_ds, context="evaluation")
    probe = run.info.run_id
client = mlflow.MlflowClient()
client.set_registered_model_alias("weather-clf", "champion", "2")
experiments = {e.name: e.experiment_id for e in client.search_experiments()}
print(json.dumps({"full": {"name": full_ds.name, "digest": full_ds.digest}, "recent": {"name": recent_ds.name, "digest": recent_ds.digest},
                  "runs": {"v1": v1, "v2": v2, "probe": probe}, "source": mlflow.get_run(v1).data.tags["mlflow.source.name"], "experiments": experiments}))
`;

const ids = (g: LineageGraph): string[] => g.nodes.map((n) => n.id).sort();
const edges = (g: LineageGraph): string[] => g.edges.map((e) => `${e.from} -${e.relation}-> ${e.to}`).sort();

describe('backends: lineage served from a real MLflow server', function () {
  this.timeout(420_000);
  let dir: string;
  let cleanup: () => void;
  let server: MlflowServerProcess;
  let backend: MlflowBackend;
  let fx: Fixture;
  let store: Store;

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-remote-lineage-'));
    server = await startMlflowServer(dir);
    // run as a file, as a training script is: the client records its path as mlflow.source.name
    const script = join(dir, 'train_weather.py');
    writeFileSync(script, FIXTURE_PY);
    fx = await mlflowClientJson<Fixture>(server.uri, 'import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")', [
      script,
      WEATHER,
      COMMIT,
    ]);
    backend = new MlflowBackend({ trackingUri: server.uri });
    store = openStore({ path: join(dir, 'project', '.mloop', 'mloop.db') });
  });
  after(async () => {
    store?.close();
    await server?.stop();
    cleanup?.();
  });

  const dataset = (d: { name: string; digest: string }): string => `dataset:${d.name}@${d.digest}`;

  it('model version → source run → the data it logged and its code, as the client recorded them', async () => {
    const g = await remoteLineageGraph(backend, 'model:weather-clf/2', { depth: 3 });
    const code = codeNodeId(COMMIT, fx.source);
    assert.deepEqual(ids(g), [code, dataset(fx.recent), 'model:weather-clf/2', `run:${fx.runs.v2}`].sort());
    assert.deepEqual(
      edges(g),
      [`${code} -code-> run:${fx.runs.v2}`, `${dataset(fx.recent)} -input-> run:${fx.runs.v2}`, `run:${fx.runs.v2} -registered-> model:weather-clf/2`].sort(),
    );
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    assert.equal(byId.get('model:weather-clf/2')!.label, 'weather-clf v2');
    assert.match(byId.get('model:weather-clf/2')!.detail, /@champion/);
    assert.equal(byId.get(`run:${fx.runs.v2}`)!.label, 'train-2015');
    assert.equal(fx.source, join(dir, 'train_weather.py'), 'the client recorded the script path');
    assert.equal(byId.get(code)!.label, `train_weather.py @${COMMIT.slice(0, 8)}`);
    assert.equal(byId.get(code)!.detail, `${fx.source} · commit ${COMMIT.slice(0, 8)}`);
    assert.equal(byId.get(`run:${fx.runs.v2}`)!.depth, -1);
    const data = byId.get(dataset(fx.recent))!;
    assert.equal(data.depth, -2);
    // row count from the client's own profile of the frame; the source is the CSV the client read
    const rows = await mlflowClientJson<number>(
      server.uri,
      `import pandas as pd, sys, json; print(json.dumps(int((pd.read_csv(sys.argv[1])["date"] >= "2015-01-01").sum())))`,
      [WEATHER],
    );
    assert.match(data.detail, new RegExp(`^${rows.toLocaleString('en-US')} rows · `));
    assert.equal(data.location, WEATHER);
    assert.match(data.detail, /training$/);
    assert.equal(g.truncated, false);
  });

  it('a dataset → every run that read it, across experiments, newest first; a run → the versions registered from it', async () => {
    const g = await remoteLineageGraph(backend, dataset(fx.full), { depth: 2 });
    assert.deepEqual(ids(g), [dataset(fx.full), 'model:weather-clf/1', `run:${fx.runs.probe}`, `run:${fx.runs.v1}`].sort());
    assert.deepEqual(
      edges(g),
      [
        `${dataset(fx.full)} -input-> run:${fx.runs.probe}`,
        `${dataset(fx.full)} -input-> run:${fx.runs.v1}`,
        `run:${fx.runs.v1} -registered-> model:weather-clf/1`,
      ].sort(),
    );
    const runIds = g.nodes.filter((n) => n.kind === 'run').map((n) => n.id);
    assert.deepEqual(runIds, [`run:${fx.runs.probe}`, `run:${fx.runs.v1}`], 'newest first: the probe ran last');
    assert.notEqual(fx.experiments.weather, fx.experiments.analysis);
  });

  it('a script at a commit → the runs made from it; depth 0 is the node alone; maxNodes truncates', async () => {
    const code = codeNodeId(COMMIT, fx.source);
    const g = await remoteLineageGraph(backend, code, { depth: 1 });
    assert.deepEqual(ids(g), [code, `run:${fx.runs.v1}`, `run:${fx.runs.v2}`].sort(), 'the probe run has no commit tag: not from this code');
    assert.deepEqual(ids(await remoteLineageGraph(backend, `run:${fx.runs.v1}`, { depth: 0 })), [`run:${fx.runs.v1}`]);
    const small = await remoteLineageGraph(backend, dataset(fx.full), { depth: 3, maxNodes: 2 });
    assert.equal(small.nodes.length, 2);
    assert.equal(small.truncated, true);
  });

  it('resolves what a user types against the server; unknown things get a message naming the server', async () => {
    assert.deepEqual(await resolveRemoteLineageRef(backend, 'weather-clf@champion'), { id: 'model:weather-clf/2' });
    assert.deepEqual(await resolveRemoteLineageRef(backend, 'weather-clf@v1'), { id: 'model:weather-clf/1' });
    assert.deepEqual(await resolveRemoteLineageRef(backend, 'models:/weather-clf/1'), { id: 'model:weather-clf/1' });
    assert.deepEqual(await resolveRemoteLineageRef(backend, 'models:/weather-clf@champion'), { id: 'model:weather-clf/2' });
    assert.deepEqual(await resolveRemoteLineageRef(backend, fx.runs.probe.toUpperCase()), { id: `run:${fx.runs.probe}` });
    const problem = async (text: string): Promise<string> => {
      const r = await resolveRemoteLineageRef(backend, text);
      assert.ok('problem' in r, `${text} resolved to ${JSON.stringify(r)}`);
      return r.problem;
    };
    assert.match(await problem('weather-clf@v9'), new RegExp(`weather-clf has no version 9 on ${server.uri}`));
    assert.match(await problem('weather-clf@staging'), /has no alias "staging"/);
    assert.match(await problem('nope@1'), /no registered model "nope"/);
    assert.match(await problem('0'.repeat(32)), /no run 0{32}/);
    assert.match(await problem('   '), /give what to trace/);
    await assert.rejects(
      remoteLineageGraph(backend, 'model:weather-clf/9'),
      new RegExp(`nothing in the MLflow server ${server.uri} has the lineage id "model:weather-clf/9"`),
    );
    await assert.rejects(remoteLineageGraph(backend, 'deployment:1'), /nothing in the MLflow server/);
  });

  it('a cancelled walk stops with AbortError; a server that is not there gives BackendUnreachableError', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(remoteLineageGraph(backend, 'model:weather-clf/2', { signal: controller.signal }), (e: Error) => e.name === 'AbortError');
    const gone = new MlflowBackend({ trackingUri: `http://127.0.0.1:${await freePort()}`, timeoutMs: 3000 });
    await assert.rejects(
      remoteLineageGraph(gone, 'model:weather-clf/2'),
      (e: unknown) => e instanceof BackendUnreachableError && /connection refused/.test(e.message),
    );
  });

  it('CLI: mloop lineage --backend mlflow traces a server model version (text and JSON); errors are one line, exit 1', async () => {
    const CLI = resolve(__dirname, '../../../dist/cli.js');
    const cli = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, MLOOP_STORE: '', MLOOP_BACKEND: '', MLFLOW_TRACKING_URI: '' },
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const json = cli(['lineage', 'weather-clf@champion', '--json', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(json.code, 0, json.stderr);
    const graph = JSON.parse(json.stdout) as LineageGraph;
    assert.deepEqual(ids(graph), ids(await remoteLineageGraph(backend, 'model:weather-clf/2')));
    const text = cli(['lineage', fx.runs.v1, '--depth', '1', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^run +train-full/);
    assert.match(text.stdout, /← dataset +seattle-weather @[0-9a-f]+ +\(1,461 rows/);
    assert.match(text.stdout, /→ model +weather-clf v1 .*\[registered\]/);
    const missing = cli(['lineage', 'weather-clf@v9', '--backend', 'mlflow', '--tracking-uri', server.uri]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /weather-clf has no version 9 on http/);
    const down = cli(['lineage', 'weather-clf@1', '--backend', 'mlflow', '--tracking-uri', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /MLflow backend unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
  });

  it('training mloop launches with backend=mlflow records its dataset versions on the server: the client sees them, and lineage reads them back', async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'data'), { recursive: true });
    copyFileSync(WEATHER, join(project, 'data', 'weather.csv'));
    writeFileSync(join(project, 'train.py'), 'import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric("x", 1)\n');
    const snap = await snapshotDataset(store, { name: 'weather', declaration: { path: 'data/weather.csv' }, projectRoot: project });
    const pipeline: Pipeline = {
      command: [PYTHON, 'train.py'],
      params: {},
      inputs: ['weather'],
      outputs: [],
      env: { MLFLOW_DISABLE_TELEMETRY: 'true', GIT_PYTHON_REFRESH: 'quiet' },
      experiment: 'launched',
    };
    const handle = await launchRun({
      store,
      projectRoot: project,
      pipelineName: 'train',
      pipeline,
      trusted: true,
      inputVersionIds: [snap.version.datasetVersionId],
      remote: { backend, tracking: backend.tracking },
    });
    const outcome = await handle.done;
    assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
    const seen = await mlflowClientJson<{ name: string; digest: string; context: string; source: string; sha: string }[]>(
      server.uri,
      `import json, sys, hashlib, mlflow
run = mlflow.get_run(sys.argv[1])
sha = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
print(json.dumps([{"name": i.dataset.name, "digest": i.dataset.digest, "source": json.loads(i.dataset.source)["uri"], "context": [t.value for t in i.tags if t.key == "mlflow.data.context"][0], "sha": sha} for i in run.inputs.dataset_inputs]))`,
      [handle.runId, join(project, 'data', 'weather.csv')],
    );
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.name, 'weather');
    assert.equal(seen[0]!.digest, seen[0]!.sha.slice(0, 36), "the first 36 hex digits of the file's SHA-256 (MLflow's digest limit)");
    assert.equal(seen[0]!.source, join(project, 'data', 'weather.csv'));
    assert.equal(seen[0]!.context, 'training');
    const remote = await remoteLineageGraph(backend, `run:${handle.runId}`, { depth: 1 });
    assert.ok(
      remote.nodes.some((n) => n.id === `dataset:weather@${seen[0]!.digest}`),
      JSON.stringify(remote.nodes),
    );
    // the store's own graph for the same run has the same shape: one dataset input, one code node
    const local = lineageGraph(store, `run:${handle.runId}`, { depth: 1 });
    assert.deepEqual(local.nodes.map((n) => n.kind).sort(), remote.nodes.map((n) => n.kind).sort());
  });
});
