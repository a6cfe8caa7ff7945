import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuditRepository } from '../../src/core/store/audit';
import { ArtifactRepository } from '../../src/core/store/artifacts';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { startTrackingServer, type TrackingServer } from '../../src/core/tracking/server';
import { tempDir } from './fixtures';
import { mlflowEnv, PYTHON, pythonJson } from '../support/python';

// The REAL mlflow Python client (CI: pip install -r .ci/requirements.txt) against the endpoint.
// Missing python3 / mlflow / scikit-learn fails loudly: a compatibility suite that skips proves nothing.

const SCRIPT = resolve(__dirname, '../../../test/mlflow/roundtrip.py');

interface ClientReport {
  error?: string;
  mlflow_version: string;
  run_id: string;
  experiment_id: string;
  artifact_uri: string;
  model_id: string;
  model_uri: string;
  registered_version: string;
  expected_predictions: number[];
  loaded_predictions: number[];
  status: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: Record<string, number | string>;
  inputs: [string, string, string, string[]][];
  dataset_digest: string;
  loss_history: [number, number][];
  weird_history: [number, number | string][];
  batch_history: [number, number, number][];
  artifacts_root: [string, boolean][];
  artifacts_plots: [string, boolean, number | null][];
  downloaded_notes: string;
  search_filtered: string[];
  search_ordered_first: string;
  search_ordered_has_next_page: boolean;
  search_ordered_second: string;
  search_like: string[];
  alias_version: string;
  alias_run_id: string;
  alias_source: string;
  latest_versions: string[];
  registered_aliases: Record<string, string>;
}

describe('tracking: the real mlflow client against the mloop endpoint', function () {
  this.timeout(90_000);
  let store: Store;
  let server: TrackingServer;
  let dir: string;
  let cleanup: () => void;
  let report: ClientReport;

  before(async function () {
    // two Python processes that import mlflow, sklearn and pandas (the probe, then the client script that does the
    // whole round-trip): 90 s ran out at load ~20 while the other unit worker ran, so the hook has its own budget
    this.timeout(240_000);
    const probe = spawnSync(PYTHON, ['-c', 'import mlflow, sklearn, pandas; print(mlflow.__version__)'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(
        `The MLflow compatibility suite needs ${PYTHON} with mlflow 3, scikit-learn and pandas ` +
          `(pip install -r .ci/requirements.txt). Probe failed: ${probe.error?.message ?? probe.stderr.trim().split('\n').pop()}`,
      );
    }
    assert.match(probe.stdout.trim(), /^3\./, `mlflow 3.x expected, found ${probe.stdout.trim()}`);
    const t = tempDir();
    dir = t.dir;
    cleanup = t.cleanup;
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    server = await startTrackingServer({ store, artifactRoot: join(dir, '.mloop', 'artifacts') });
    report = await pythonJson<ClientReport>({ args: [SCRIPT], cwd: dir, env: mlflowEnv({ uri: server.uri, token: server.token }) });
    if (report.error) throw new Error(`the mlflow client failed: ${report.error}`);
  });

  after(async () => {
    await server?.close();
    store?.close();
    cleanup?.();
  });

  it('start_run creates a run in the store that the client sees FINISHED, in its experiment, with the proxy artifact URI', () => {
    const run = new RunRepository(store).get(report.run_id)!;
    assert.ok(run, 'the run is in the store');
    assert.equal(run.name, 'compat-run');
    assert.equal(run.status, 'FINISHED');
    assert.equal(report.status, 'FINISHED');
    assert.equal(String(run.experimentId), report.experiment_id);
    assert.equal(report.artifact_uri, `mlflow-artifacts:/${report.experiment_id}/${report.run_id}/artifacts`);
    assert.equal(store.db.prepare('SELECT name FROM experiment WHERE experiment_id = ?').pluck().get(run.experimentId), 'weather-compat');
  });

  it('log_param / log_params / log_batch params round-trip exactly (unicode included)', () => {
    const expected = { alpha: '0.5', batch_param: 'b', max_iter: '200', solver: 'lbfgs', unicode_ключ: 'значение' };
    assert.deepEqual(new RunRepository(store).params(report.run_id), expected);
    assert.deepEqual(report.params, expected);
  });

  it('log_metric(s) with steps, NaN and Infinity, and log_batch points are stored once each with exact values', () => {
    const runs = new RunRepository(store);
    assert.deepEqual(
      runs.metricHistory(report.run_id, 'loss').map((p) => [p.step, p.value]),
      [
        [0, 0.9],
        [1, 0.5],
        [2, 0.25],
      ],
    );
    assert.deepEqual(report.loss_history, [
      [0, 0.9],
      [1, 0.5],
      [2, 0.25],
    ]);
    const weird = runs.metricHistory(report.run_id, 'weird');
    assert.equal(weird.length, 2);
    assert.ok(Number.isNaN(weird[0]!.value));
    assert.equal(weird[1]!.value, Number.POSITIVE_INFINITY);
    assert.deepEqual(report.weird_history, [
      [0, 'nan'],
      [1, 'inf'],
    ]);
    const batch = runs.metricHistory(report.run_id, 'batch_metric').map((p) => [p.step, p.timestamp, p.value]);
    const expectedBatch = [0, 1, 2, 3, 4].map((i) => [i, 1_700_000_000_000 + i, i / 4]);
    assert.deepEqual(batch, expectedBatch);
    assert.deepEqual(report.batch_history, expectedBatch);
    assert.deepEqual(report.metrics, { accuracy: 0.875, batch_metric: 1, f1: 0.8125, loss: 0.25, weird: 'inf' });
  });

  it('set_tags and log_batch tags are stored; the client sees the system tags it sent', () => {
    const tags = new RunRepository(store).tags(report.run_id);
    assert.equal(tags.team, 'forecast');
    assert.equal(tags.stage, 'dev');
    assert.equal(tags.batch_tag, 't');
    assert.equal(tags['mlflow.runName'], 'compat-run');
    assert.equal(tags['mlflow.user'], report.tags['mlflow.user']);
    assert.deepEqual(report.tags, tags);
  });

  it('log_input stores an mlflow dataset version and pins it to the run with its context', () => {
    const row = store.db
      .prepare(
        `SELECT d.name, d.source, v.digest, v.origin, i.context FROM run_input i
         JOIN dataset_version v USING (dataset_version_id) JOIN dataset d USING (dataset_id) WHERE i.run_id = ?`,
      )
      .get(report.run_id);
    assert.deepEqual(row, { name: 'seattle-weather', source: 'mlflow', digest: report.dataset_digest, origin: 'mlflow', context: 'training' });
    assert.deepEqual(report.inputs, [['seattle-weather', report.dataset_digest, 'local', ['training']]]);
  });

  it('log_artifact(s) land under the artifact root with digests in the store, list and download through the proxy', () => {
    const root = join(dir, '.mloop', 'artifacts', report.experiment_id, report.run_id, 'artifacts');
    assert.equal(readFileSync(join(root, 'notes.txt'), 'utf8'), 'hello artifacts\n');
    assert.equal(readFileSync(join(root, 'plots', 'nested', 'b.json'), 'utf8'), '{"b": 1}');
    const stored = new ArtifactRepository(store).list(report.run_id).map((a) => [a.path, a.size, a.digest?.slice(0, 7)]);
    assert.deepEqual(stored, [
      ['notes.txt', 16, 'sha256:'],
      ['plots/a.csv', 8, 'sha256:'],
      ['plots/nested/b.json', 8, 'sha256:'],
    ]);
    assert.deepEqual(report.artifacts_root, [
      ['notes.txt', false],
      ['plots', true],
    ]);
    assert.deepEqual(report.artifacts_plots, [
      ['plots/a.csv', false, 8],
      ['plots/nested', true, null],
    ]);
    assert.equal(report.downloaded_notes, 'hello artifacts\n');
  });

  it('mlflow.sklearn.log_model stores a READY logged model output by the run, with its files, and registers a version', () => {
    const logged = store.db.prepare('SELECT * FROM logged_model WHERE model_id = ?').get(report.model_id) as Record<string, unknown>;
    assert.equal(logged.status, 'READY');
    assert.equal(logged.source_run_id, report.run_id);
    assert.equal(logged.name, 'model');
    assert.deepEqual(store.db.prepare('SELECT model_id FROM run_output WHERE run_id = ?').pluck().all(report.run_id), [report.model_id]);
    const modelDir = join(dir, '.mloop', 'artifacts', report.experiment_id, 'models', report.model_id, 'artifacts');
    assert.ok(existsSync(join(modelDir, 'MLmodel')), 'MLmodel uploaded');
    assert.match(readFileSync(join(modelDir, 'MLmodel'), 'utf8'), /sklearn/);
    const models = new ModelRepository(store);
    const model = models.byName('weather-clf')!;
    const [version] = models.versions(model.modelId);
    assert.equal(String(version!.version), report.registered_version);
    assert.equal(version!.sourceRunId, report.run_id);
    assert.equal(version!.artifactPath, `models:/${report.model_id}`);
  });

  it('the registered model loads back through the proxy and predicts what the fitted model predicted', () => {
    assert.deepEqual(report.loaded_predictions, report.expected_predictions);
  });

  it('search_runs applies a metrics/params/tags/attributes filter, order_by and page tokens', () => {
    assert.deepEqual(report.search_filtered, [report.run_id]);
    assert.equal(report.search_ordered_first, 'other-run');
    assert.equal(report.search_ordered_has_next_page, true);
    assert.equal(report.search_ordered_second, 'compat-run');
    assert.deepEqual(report.search_like, ['compat-run']);
  });

  it('set_registered_model_alias + get_model_version_by_alias round-trip, audited with the run user', () => {
    assert.equal(report.alias_version, report.registered_version);
    assert.equal(report.alias_run_id, report.run_id);
    assert.equal(report.alias_source, `models:/${report.model_id}`);
    assert.deepEqual(report.registered_aliases, { champion: report.registered_version });
    assert.deepEqual(report.latest_versions, [report.registered_version]);
    const models = new ModelRepository(store);
    const model = models.byName('weather-clf')!;
    assert.equal(models.versionByAlias(model.modelId, 'champion')?.version, Number(report.registered_version));
    const audit = new AuditRepository(store).list().map((a) => [a.action, a.entityId, a.actor]);
    const user = report.tags['mlflow.user']!;
    assert.deepEqual(
      audit.filter(([action]) => action !== 'create_model'),
      [
        ['set_alias', 'weather-clf@champion', user],
        ['register', `weather-clf/${report.registered_version}`, user],
      ],
    );
  });
});
