import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { DeploymentReplicaRepository, DeploymentRepository } from '../../src/core/store/deployments';
import { createStoreAtSchemaVersion, openStore } from '../../src/core/store/store';
import { latestSchemaVersion } from '../../src/core/store/migrations/list';
import { tempDir } from './fixtures';

const target = (lines: string): string => `version: 1\ntargets:\n  pool:\n    command: [serve]\n    port: 8000\n${lines}`;
const problemsOf = (text: string): string[] => loadConfig(text, 'mloop.yaml').problems.map((p) => `${p.line}:${p.column} ${p.message}`);

describe('mloop.yaml: replicas, max_unavailable and the rolling strategy', () => {
  it('defaults to one replica and max_unavailable 1; accepts replicas and rolling behind the gateway', () => {
    const plain = loadConfig(target(''), 'mloop.yaml');
    assert.deepEqual(plain.problems, []);
    assert.equal(plain.config!.targets!.pool!.replicas, 1);
    assert.equal(plain.config!.targets!.pool!.max_unavailable, 1);
    const rolling = loadConfig(target('    gateway: true\n    replicas: 3\n    max_unavailable: 2\n    strategy: rolling\n'), 'mloop.yaml');
    assert.deepEqual(rolling.problems, []);
    assert.deepEqual(
      [rolling.config!.targets!.pool!.replicas, rolling.config!.targets!.pool!.max_unavailable, rolling.config!.targets!.pool!.strategy],
      [3, 2, 'rolling'],
    );
  });

  it('a bad value is an error at its line and column', () => {
    assert.deepEqual(problemsOf(target('    gateway: true\n    replicas: 0\n')), ['7:15 targets.pool.replicas: Too small: expected number to be >=1']);
    assert.match(problemsOf(target('    gateway: true\n    replicas: 2.5\n'))[0]!, /^7:15 targets\.pool\.replicas: /);
    assert.match(problemsOf(target('    gateway: true\n    replicas: many\n'))[0]!, /^7:15 targets\.pool\.replicas: /);
    assert.deepEqual(problemsOf(target('    gateway: true\n    replicas: 2\n    max_unavailable: 3\n')), [
      '8:22 targets.pool.max_unavailable: max_unavailable (3) is more than replicas (2): at most all replicas are replaced at a time',
    ]);
  });

  it('replicas above 1 and the rolling strategy need the gateway, said at their line', () => {
    assert.deepEqual(problemsOf(target('    replicas: 3\n')), [
      '6:15 targets.pool.replicas: replicas above 1 need gateway: true (the gateway balances across them on the port)',
    ]);
    assert.deepEqual(problemsOf(target('    strategy: rolling\n')), [
      '6:15 targets.pool.strategy: strategy rolling needs gateway: true (each replica is replaced by a routing change)',
    ]);
  });
});

describe('store migration 019: deployment rebuilt for the rolling strategy, replicas table', () => {
  it('keeps every deployment, their links and the service checks pointing at them; then takes rolling and replica rows', () => {
    const { dir, cleanup } = tempDir('mloop-m019-');
    try {
      const path = join(dir, 'mloop.db');
      createStoreAtSchemaVersion(path, 18);
      const old = new Database(path);
      old.exec(`
INSERT INTO experiment (experiment_id, name, created_at, updated_at) VALUES (1, 'weather', 1, 1);
INSERT INTO run (run_id, experiment_id, name, status, start_time) VALUES ('0123456789abcdef0123456789abcdef', 1, 'r', 'FINISHED', 10);
INSERT INTO model (model_id, name, created_at, updated_at) VALUES (1, 'clf', 1, 1);
INSERT INTO model_version (model_version_id, model_id, version, source_run_id, created_at) VALUES (1, 1, 1, '0123456789abcdef0123456789abcdef', 3);
INSERT INTO deployment (deployment_id, model_version_id, target, strategy, traffic_percent, status, health_json, previous_deployment_id, created_at, updated_at)
  VALUES (1, 1, 'local', 'direct', 0, 'superseded', NULL, NULL, 5, 6), (2, 1, 'local', 'canary', 100, 'healthy', '{"reason":"x"}', 1, 7, 8);
INSERT INTO service_check (target, deployment_id, model_name, version, up, alert, detail, result_json, checked_at) VALUES ('local', 2, 'clf', 1, 1, 0, 'ok', '{}', 9);
`);
      old.close();
      const store = openStore({ path });
      try {
        assert.equal(store.schemaVersion, latestSchemaVersion);
        assert.deepEqual(store.db.prepare('SELECT deployment_id, strategy, status, health_json, previous_deployment_id FROM deployment ORDER BY 1').all(), [
          { deployment_id: 1, strategy: 'direct', status: 'superseded', health_json: null, previous_deployment_id: null },
          { deployment_id: 2, strategy: 'canary', status: 'healthy', health_json: '{"reason":"x"}', previous_deployment_id: 1 },
        ]);
        assert.equal(store.db.prepare('SELECT deployment_id FROM service_check').pluck().get(), 2, 'the rebuild did not null the service check');
        assert.deepEqual(store.db.pragma('foreign_key_check'), []);
        assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again after the migration');
        const rolling = new DeploymentRepository(store).create({ modelVersionId: 1, target: 'local', strategy: 'rolling' });
        assert.equal(rolling.previousDeploymentId, 2);
        const replicas = new DeploymentReplicaRepository(store);
        const r = replicas.add({ deploymentId: rolling.deploymentId, slot: 0, pid: 42, port: 4000, logPath: 'x.log' });
        replicas.setStatus(r.replicaId, 'serving');
        assert.deepEqual(
          replicas.liveOfTarget('local').map((x) => [x.slot, x.status]),
          [[0, 'serving']],
        );
        assert.throws(() => replicas.add({ deploymentId: 999, slot: 0, pid: 1, port: 1, logPath: 'y' }), /FOREIGN KEY/);
      } finally {
        store.close();
      }
    } finally {
      cleanup();
    }
  });
});
