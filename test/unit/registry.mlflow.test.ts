import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { promote } from '../../src/core/registry/aliases';
import { pathDigest } from '../../src/core/registry/modelArtifact';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository } from '../../src/core/store/models';
import { openStore, type Store } from '../../src/core/store/store';
import { startTrackingServer, type TrackingServer } from '../../src/core/tracking/server';
import { tempDir } from './fixtures';
import { mlflowEnv, pythonJson } from '../support/python';

// The REAL mlflow client's register_model and set_registered_model_alias through the tracking endpoint.
const SCRIPT = resolve(__dirname, '../../../test/mlflow/registry_client.py');
const WEATHER = resolve(__dirname, '../../../node_modules/vega-datasets/data/seattle-weather.csv');

function client(server: TrackingServer, cwd: string, args: string[]): Promise<Record<string, unknown>> {
  return pythonJson({ args: [SCRIPT, ...args], cwd, env: mlflowEnv({ uri: server.uri, token: server.token }) });
}

describe('registry: the real mlflow client registers and aliases through the endpoint', function () {
  this.timeout(120_000);
  let store: Store;
  let server: TrackingServer;
  let dir: string;
  let cleanup: () => void;
  let report: Record<string, unknown>;

  before(async () => {
    ({ dir, cleanup } = tempDir());
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    server = await startTrackingServer({ store, artifactRoot: join(dir, '.mloop', 'artifacts') });
    report = await client(server, dir, ['register', WEATHER]);
  });
  after(async () => {
    await server?.close();
    store?.close();
    cleanup?.();
  });

  it("register_model creates a version pinned to the run, with the logged model's digest, signature and metrics", async () => {
    const models = new ModelRepository(store);
    const model = models.byName('weather-rm')!;
    const version = models.version(model.modelId, Number(report.version))!;
    assert.equal(version.sourceRunId, report.run_id);
    assert.equal(version.artifactPath, `models:/${String(report.model_id)}`);
    const folder = join(
      dir,
      '.mloop',
      'artifacts',
      String(store.db.prepare('SELECT experiment_id FROM run WHERE run_id = ?').pluck().get(report.run_id)),
      'models',
      String(report.model_id),
      'artifacts',
    );
    assert.equal(version.artifactDigest, await pathDigest(folder));
    const details = models.versionDetails(version.modelVersionId);
    const signature = details.signature as { inputs: { name: string; type: string }[] };
    assert.deepEqual(
      signature.inputs.map((i) => i.name),
      ['precipitation', 'temp_max', 'temp_min', 'wind'],
    );
    assert.ok(details.metrics.accuracy! > 0.5 && details.metrics.accuracy! <= 1);
  });

  it('set_registered_model_alias shows up as the alias, with history and an audit row', () => {
    assert.deepEqual(report.aliases, { challenger: report.version });
    assert.equal(report.by_alias, report.version);
    const models = new ModelRepository(store);
    const model = models.byName('weather-rm')!;
    assert.equal(models.versionByAlias(model.modelId, 'challenger')?.version, Number(report.version));
    assert.deepEqual(
      models.aliasHistory(model.modelId, 'challenger').map((h) => [h.fromVersion, h.toVersion, h.action]),
      [[null, Number(report.version), 'set_alias']],
    );
    assert.ok(new AuditRepository(store).list().some((a) => a.action === 'set_alias' && a.entityId === 'weather-rm@challenger'));
  });

  it('champion through the client is refused for a version that failed its gate, and allowed after an audited override', async () => {
    const models = new ModelRepository(store);
    const model = models.byName('weather-rm')!;
    const version = models.version(model.modelId, Number(report.version))!;
    models.setGateResult({
      modelVersionId: version.modelVersionId,
      passed: false,
      result: { passed: false, checks: [{ rule: 'accuracy >= 0.99', passed: false, detail: 'accuracy too low' }] },
      actor: 'test',
    });
    const refused = await client(server, dir, ['champion', 'weather-rm', String(report.version)]);
    assert.equal(refused.refused, true);
    assert.equal(refused.code, 'INVALID_PARAMETER_VALUE');
    assert.match(String(refused.message), /failed its release gate/);
    assert.equal(models.versionByAlias(model.modelId, 'champion'), undefined);
    await promote(
      { store, artifactRoot: join(dir, '.mloop', 'artifacts'), actor: 'ada' },
      { modelName: 'weather-rm', version: version.version, overrideReason: 'accepted for the pilot' },
    );
    assert.equal(models.versionByAlias(model.modelId, 'champion')?.version, version.version);
  });
});
