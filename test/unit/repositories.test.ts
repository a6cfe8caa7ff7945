import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AuditRepository } from '../../src/core/store/audit';
import { DatasetRepository } from '../../src/core/store/datasets';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository, aliasProblem } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { storeCounts } from '../../src/core/store/status';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

describe('store: repositories', () => {
  let store: Store;
  let cleanup: () => void;
  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, '.mloop', 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('runs: stores params and tags with the run, lists newest first, finishes with status and exit code', () => {
    const exp = new ExperimentRepository(store).ensure('weather');
    assert.equal(new ExperimentRepository(store).ensure('weather').experimentId, exp.experimentId, 'ensure is idempotent');
    const runs = new RunRepository(store);
    const a = runs.create({ experimentId: exp.experimentId, name: 'a', startTime: 1000, params: { lr: '0.1' }, tags: { 'mlflow.user': 'ana' } });
    const b = runs.create({ experimentId: exp.experimentId, name: 'b', startTime: 2000 });
    assert.match(a.runId, /^[0-9a-f]{32}$/);
    assert.deepEqual(
      runs.list().map((r) => r.name),
      ['b', 'a'],
    );
    assert.deepEqual(runs.params(a.runId), { lr: '0.1' });
    assert.deepEqual(runs.tags(a.runId), { 'mlflow.user': 'ana' });
    runs.finish(b.runId, { status: 'FAILED', exitCode: 3, endTime: 2500 });
    const done = runs.get(b.runId)!;
    assert.equal(done.status, 'FAILED');
    assert.equal(done.exitCode, 3);
    assert.equal(done.endTime, 2500);
  });

  it('runs: a run whose tags cannot be stored leaves no run and no params behind (one transaction)', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    assert.throws(() => runs.create({ experimentId: exp.experimentId, params: { a: '1' }, tags: { x: null as unknown as string } }), /NOT NULL/);
    assert.equal(runs.list().length, 0);
    assert.equal(store.db.prepare('SELECT count(*) FROM param').pluck().get(), 0);
  });

  it('runs: latest metric is the value at the highest step, NaN kept as NaN', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    const run = runs.create({ experimentId: exp.experimentId });
    runs.logMetrics(run.runId, [
      { key: 'loss', value: 0.9, step: 0, timestamp: 10 },
      { key: 'loss', value: 0.2, step: 2, timestamp: 5 },
      { key: 'loss', value: 0.5, step: 1, timestamp: 30 },
      { key: 'val', value: Number.NaN, step: 0, timestamp: 1 },
    ]);
    const latest = runs.latestMetrics(run.runId);
    assert.equal(latest.loss, 0.2);
    assert.ok(Number.isNaN(latest.val));
  });

  it('runs: RUNNING runs whose process is gone are marked KILLED; live ones and client-logged ones are kept', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!; // a real pid that has exited
    const orphan = runs.create({ experimentId: exp.experimentId, pid: dead });
    const live = runs.create({ experimentId: exp.experimentId, pid: process.pid });
    const external = runs.create({ experimentId: exp.experimentId }); // logged by an MLflow client, no pid
    const isAlive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    assert.deepEqual(runs.reapOrphans(isAlive, 5000), [orphan.runId]);
    assert.equal(runs.get(orphan.runId)!.status, 'KILLED');
    assert.equal(runs.get(orphan.runId)!.endTime, 5000);
    assert.equal(runs.get(live.runId)!.status, 'RUNNING');
    assert.equal(runs.get(external.runId)!.status, 'RUNNING');
  });

  it('datasets: versions are content-addressed (same digest, same version) and count the runs that read them', () => {
    const repo = new DatasetRepository(store);
    const ds = repo.upsert({ name: 'weather', uri: 'data/weather.csv', format: 'csv' });
    const v1 = repo.addVersion({ datasetId: ds.datasetId, digest: 'aa', path: 'data/weather.csv', rowCount: 10, now: 1 });
    const again = repo.addVersion({ datasetId: ds.datasetId, digest: 'aa', path: 'data/weather.csv', rowCount: 10, now: 2 });
    const v2 = repo.addVersion({ datasetId: ds.datasetId, digest: 'bb', path: 'data/weather.csv', rowCount: 11, now: 3 });
    assert.equal(v1.created, true);
    assert.equal(again.created, false);
    assert.equal(again.version.datasetVersionId, v1.version.datasetVersionId);
    assert.equal(v2.created, true);
    const exp = new ExperimentRepository(store).ensure('e');
    const run = new RunRepository(store).create({ experimentId: exp.experimentId });
    repo.linkRunInput(run.runId, v1.version.datasetVersionId);
    repo.linkRunInput(run.runId, v1.version.datasetVersionId);
    assert.deepEqual(
      repo.versions(ds.datasetId).map((v) => [v.digest, v.usedByRuns]),
      [
        ['bb', 0],
        ['aa', 1],
      ],
    );
  });

  it('models: versions number 1, 2, … per model and each registration is audited', () => {
    const models = new ModelRepository(store);
    const v1 = models.registerVersion({ name: 'clf', actor: 'ana', now: 1 });
    const v2 = models.registerVersion({ name: 'clf', actor: 'ana', now: 2 });
    const other = models.registerVersion({ name: 'reg', actor: 'bo', now: 3 });
    assert.deepEqual([v1.version, v2.version, other.version], [1, 2, 1]);
    const audit = new AuditRepository(store).list();
    assert.deepEqual(
      audit.map((a) => [a.action, a.entityId, a.actor]),
      [
        ['register', 'reg/1', 'bo'],
        ['register', 'clf/2', 'ana'],
        ['register', 'clf/1', 'ana'],
      ],
    );
  });

  it('models: moving an alias records history and audit from→to with the reason', () => {
    const models = new ModelRepository(store);
    models.registerVersion({ name: 'clf', actor: 'ana', now: 1 });
    models.registerVersion({ name: 'clf', actor: 'ana', now: 2 });
    const modelId = models.byName('clf')!.modelId;
    models.setAlias({ modelId, alias: 'champion', version: 1, actor: 'ana', now: 10 });
    models.setAlias({ modelId, alias: 'champion', version: 2, actor: 'bo', reason: 'better accuracy', now: 20 });
    assert.deepEqual(
      models.versions(modelId).map((v) => [v.version, v.aliases]),
      [
        [2, ['champion']],
        [1, []],
      ],
    );
    const last = new AuditRepository(store).list({ limit: 1 })[0]!;
    assert.deepEqual(
      [last.action, last.entityId, last.fromValue, last.toValue, last.reason, last.actor],
      ['set_alias', 'clf@champion', 'v1', 'v2', 'better accuracy', 'bo'],
    );
    const history = store.db
      .prepare('SELECT from_model_version_id, to_model_version_id, audit_id IS NOT NULL AS audited FROM alias_history ORDER BY changed_at')
      .all();
    assert.equal(history.length, 2);
    assert.deepEqual(
      history.map((h) => (h as { audited: number }).audited),
      [1, 1],
    );
  });

  it('models: an alias change and its audit row commit together — if the audit fails, the alias does not move', () => {
    const models = new ModelRepository(store);
    models.registerVersion({ name: 'clf', actor: 'ana' });
    models.registerVersion({ name: 'clf', actor: 'ana' });
    const modelId = models.byName('clf')!.modelId;
    models.setAlias({ modelId, alias: 'champion', version: 1, actor: 'ana' });
    store.db.exec("CREATE TEMP TRIGGER audit_down BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END");
    assert.throws(() => models.setAlias({ modelId, alias: 'champion', version: 2, actor: 'ana' }), /audit unavailable/);
    assert.deepEqual(models.versions(modelId).find((v) => v.aliases.includes('champion'))?.version, 1);
  });

  it('models: alias names follow MLflow (word chars and dashes, ≤255, latest and v<n> reserved)', () => {
    assert.equal(aliasProblem('champion'), undefined);
    assert.equal(aliasProblem('blue-green_2'), undefined);
    for (const bad of ['', 'latest', 'v3', 'V12', 'has space', 'semi;colon', 'x'.repeat(256)])
      assert.ok(aliasProblem(bad), `"${bad.slice(0, 20)}" should be refused`);
    const models = new ModelRepository(store);
    models.registerVersion({ name: 'clf', actor: 'ana' });
    assert.throws(() => models.setAlias({ modelId: models.byName('clf')!.modelId, alias: 'latest', version: 1, actor: 'ana' }), /reserved/);
    assert.throws(() => models.setAlias({ modelId: models.byName('clf')!.modelId, alias: 'ok', version: 9, actor: 'ana' }), /no version 9/);
  });

  it('deployments: list joins the model name and version, and links the previous healthy deployment of a target', () => {
    const models = new ModelRepository(store);
    const v1 = models.registerVersion({ name: 'clf', actor: 'ana' });
    const v2 = models.registerVersion({ name: 'clf', actor: 'ana' });
    const deployments = new DeploymentRepository(store);
    const first = deployments.create({
      modelVersionId: v1.modelVersionId,
      target: 'staging',
      strategy: 'direct',
      trafficPercent: 100,
      status: 'healthy',
      now: 1,
    });
    const second = deployments.create({
      modelVersionId: v2.modelVersionId,
      target: 'staging',
      strategy: 'canary',
      trafficPercent: 10,
      status: 'in_progress',
      now: 2,
    });
    assert.equal(second.previousDeploymentId, first.deploymentId);
    assert.deepEqual(
      deployments.list().map((d) => `${d.modelName} v${d.version} ${d.target} ${d.strategy} ${d.trafficPercent}`),
      ['clf v2 staging canary 10', 'clf v1 staging direct 100'],
    );
    assert.throws(() => deployments.create({ modelVersionId: v2.modelVersionId, target: 'x', strategy: 'direct', trafficPercent: 150 }), /CHECK/);
  });

  it('status counts every aggregate', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    runs.create({ experimentId: exp.experimentId });
    runs.finish(runs.create({ experimentId: exp.experimentId }).runId, { status: 'FINISHED' });
    const ds = new DatasetRepository(store).upsert({ name: 'd', uri: 'd.csv' });
    new DatasetRepository(store).addVersion({ datasetId: ds.datasetId, digest: 'x', path: 'd.csv' });
    const v = new ModelRepository(store).registerVersion({ name: 'm', actor: 'a' });
    new DeploymentRepository(store).create({ modelVersionId: v.modelVersionId, target: 't', strategy: 'direct' });
    assert.deepEqual(storeCounts(store), {
      datasets: 1,
      datasetVersions: 1,
      experiments: 1,
      runs: 2,
      runningRuns: 1,
      models: 1,
      modelVersions: 1,
      deployments: 1,
    });
  });
});
