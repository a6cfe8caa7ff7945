import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedRegistry } from '../../src/core/backends/embeddedRegistry';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import type { ModelRegistry } from '../../src/core/backends/registry';
import { MlflowRegistry } from '../../src/core/backends/remoteRegistry';
import { runArtifactDir } from '../../src/core/registry/modelArtifact';
import { GateRefusedError, RegistryError } from '../../src/core/registry/errors';
import { parseGate } from '../../src/core/registry/gateRules';
import { AuditRepository } from '../../src/core/store/audit';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';
import { startMlflowServer, type MlflowServerProcess } from './mlflowServer';

// ONE contract for the registry workflow the Models view's commands use, run against BOTH
// implementations: the embedded store and a real `mlflow server` started here. A feature written
// against ModelRegistry behaves the same in either mode; where they differ, the test says so.

interface Fixture {
  readonly registry: ModelRegistry;
  /** The local store that receives the audit rows (the project's store in both modes). */
  readonly store: Store;
  /** A run with these latest metrics, FINISHED unless asked. */
  seedRun(name: string, metrics: Record<string, number>, status?: 'FINISHED' | 'RUNNING'): Promise<string>;
}

const gate = { rules: parseGate(['loss <= 1']) };

function registryContract(name: string, open: () => Promise<Fixture & { close(): Promise<void> }>): void {
  describe(`backends: the ModelRegistry contract on ${name}`, function () {
    this.timeout(300_000); // the server starts slowly on a loaded 2-core machine
    let fx: Fixture & { close(): Promise<void> };
    let good: string;
    let weak: string;
    let running: string;

    before(async () => {
      fx = await open();
      good = await fx.seedRun('good', { loss: 0.4, acc: 0.9 });
      weak = await fx.seedRun('weak', { loss: 2, acc: 0.6 });
      running = await fx.seedRun('still-running', { loss: 0.1 }, 'RUNNING');
    });
    after(async () => fx?.close());

    it('reads a run by id; an unknown id is undefined', async () => {
      assert.equal((await fx.registry.run(good))?.name, 'good');
      assert.equal(await fx.registry.run('0'.repeat(32)), undefined);
    });

    it('registers versions from finished runs only, gating them on the run metrics', async () => {
      await assert.rejects(fx.registry.registerFromRun({ runId: running, modelName: 'clf', artifactPath: 'model' }), RegistryError);
      const v1 = await fx.registry.registerFromRun({ runId: good, modelName: 'clf', artifactPath: 'model', gate });
      const v2 = await fx.registry.registerFromRun({ runId: weak, modelName: 'clf', artifactPath: 'model', gate });
      assert.deepEqual([v1.version, v1.gate?.passed, v2.version, v2.gate?.passed], [1, true, 2, false]);
      assert.deepEqual(
        (await fx.registry.versions('clf')).map((v) => [v.modelName, v.version, v.runId, [...v.aliases], v.gatePassed]),
        [
          ['clf', 2, weak, [], false],
          ['clf', 1, good, [], true],
        ],
      );
      assert.deepEqual(await fx.registry.versions('no-such-model'), []);
    });

    it('promotes through the gate: a failed gate needs an override reason, which is audited', async () => {
      const first = await fx.registry.promote({ modelName: 'clf', version: 1, alias: 'champion' });
      assert.deepEqual([first.version, first.previous, first.overridden], [1, null, false]);
      await assert.rejects(fx.registry.promote({ modelName: 'clf', version: 2, alias: 'champion' }), GateRefusedError);
      await assert.rejects(
        fx.registry.promote({ modelName: 'clf', version: 2, alias: 'champion', gate }),
        (e: Error) => e instanceof GateRefusedError && /loss <= 1/.test(e.message),
      );
      const forced = await fx.registry.promote({ modelName: 'clf', version: 2, alias: 'champion', overrideReason: 'hotfix' });
      assert.deepEqual([forced.version, forced.previous, forced.overridden], [2, 1, true]);
      await fx.registry.promote({ modelName: 'clf', version: 1, alias: 'staging' });
      await assert.rejects(fx.registry.promote({ modelName: 'clf', version: 9, alias: 'staging' }), RegistryError);
      await assert.rejects(fx.registry.promote({ modelName: 'clf', version: 1, alias: 'latest' }), RegistryError);
      assert.deepEqual(
        (await fx.registry.versions()).map((v) => `${v.modelName} v${v.version} ${v.aliases.join(',')}`),
        ['clf v2 champion', 'clf v1 staging'],
      );
    });

    it('rolls an alias back to the version it left, once; removes an alias', async () => {
      assert.deepEqual(await fx.registry.rollbackTarget('clf', 'champion'), { current: 2, target: 1 });
      assert.deepEqual(await fx.registry.rollbackAlias({ modelName: 'clf', alias: 'champion', reason: 'v2 regressed' }), { from: 2, to: 1 });
      await assert.rejects(fx.registry.rollbackAlias({ modelName: 'clf', alias: 'champion' }), /no earlier version/);
      assert.equal((await fx.registry.rollbackTarget('clf', 'champion')).target, undefined);
      assert.equal(await fx.registry.removeAlias({ modelName: 'clf', alias: 'staging' }), 1);
      await assert.rejects(fx.registry.removeAlias({ modelName: 'clf', alias: 'staging' }), RegistryError);
      assert.deepEqual(
        (await fx.registry.versions('clf')).map((v) => [v.version, [...v.aliases]]),
        [
          [2, []],
          [1, ['champion']],
        ],
      );
    });

    it('every change has its audit row in the local store, in order', () => {
      const rows = new AuditRepository(fx.store)
        .list({ limit: 100 })
        .reverse()
        .filter((r) => r.entityId.startsWith('clf'))
        .map((r) => [r.action, r.entityId.replace(/^clf\/\d+$/, 'clf/version'), r.fromValue, r.toValue, r.reason]);
      assert.deepEqual(
        rows.filter((r) => r[0] !== 'set_gate'),
        [
          ['register', 'clf/version', null, 'v1', null],
          ['register', 'clf/version', null, 'v2', null],
          ['promote', 'clf@champion', null, 'v1', null],
          ['override_gate', 'clf/version', null, 'champion despite failed gate', 'hotfix'],
          ['promote', 'clf@champion', 'v1', 'v2', 'hotfix'],
          ['set_alias', 'clf@staging', null, 'v1', null],
          ['rollback_alias', 'clf@champion', 'v2', 'v1', 'v2 regressed'],
          ['delete_alias', 'clf@staging', 'v1', null, null],
        ],
      );
    });
  });
}

registryContract('the embedded store', async () => {
  const { dir, cleanup } = tempDir('mloop-contract-');
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  const artifactRoot = join(dir, '.mloop', 'artifacts');
  const experiment = new ExperimentRepository(store).ensure('contract');
  const runs = new RunRepository(store);
  return {
    registry: new EmbeddedRegistry({ store, artifactRoot, actor: 'tester' }),
    store,
    async seedRun(name, metrics, status = 'FINISHED') {
      const run = runs.create({ experimentId: experiment.experimentId, name });
      runs.logMetrics(
        run.runId,
        Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: Date.now() })),
      );
      // what log_model leaves among the run's artifacts
      const model = join(runArtifactDir(artifactRoot, experiment.experimentId, run.runId), 'model');
      mkdirSync(model, { recursive: true });
      writeFileSync(join(model, 'model.pkl'), name);
      if (status === 'FINISHED') runs.finish(run.runId, { status, exitCode: 0 });
      return run.runId;
    },
    async close() {
      store.close();
      cleanup();
    },
  };
});

registryContract('a real mlflow server', async () => {
  const { dir, cleanup } = tempDir('mloop-contract-mlflow-');
  let server: MlflowServerProcess | undefined;
  const store = openStore({ path: join(dir, 'project', '.mloop', 'mloop.db') });
  try {
    server = await startMlflowServer(dir);
  } catch (error) {
    store.close();
    cleanup();
    throw error;
  }
  const backend = new MlflowBackend({ trackingUri: server.uri });
  return {
    registry: new MlflowRegistry({ backend, store, actor: 'tester' }),
    store,
    async seedRun(name, metrics, status = 'FINISHED') {
      const run = await backend.createRun({ experimentName: 'contract', runName: name });
      await backend.logBatch(run.runId, { metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: Date.now() })) });
      if (status === 'FINISHED') await backend.finishRun(run.runId, 'FINISHED', Date.now());
      return run.runId;
    },
    async close() {
      store.close();
      await server?.stop();
      cleanup();
    },
  };
});
