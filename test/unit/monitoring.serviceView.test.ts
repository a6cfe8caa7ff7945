import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { ServiceCheckRepository } from '../../src/core/store/serviceChecks';
import { openStore, type Store } from '../../src/core/store/store';
import { monitoringView } from '../../src/vscode/monitoring/monitoringView';
import { tempDir } from './fixtures';

// The e2e screenshot after "Restart" showed the Monitoring panel still alerting "local: DOWN · the service (pid …) is
// not running" while the Deployments view and the status bar said healthy: the newest check was of the killed process.
describe("monitoring: the panel's service alert follows the deployment the target serves now", () => {
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  const t0 = Date.UTC(2026, 11, 7, 12);

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-service-view-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  });
  after(() => {
    store.close();
    cleanup();
  });

  const check = (deploymentId: number, up: boolean, at: number): void => {
    new ServiceCheckRepository(store).add({
      target: 'local',
      deploymentId,
      modelName: 'weather-clf',
      version: 1,
      up,
      alert: !up,
      detail: up ? 'UP · p95 12 ms · 0% errors' : `DOWN · the service (pid ${deploymentId}00) is not running`,
      result: {},
      checkedAt: at,
    });
  };
  const serviceAlerts = (now: number): string[] =>
    monitoringView(store, 'weather-clf', {}, { retrainAvailable: true, now })!
      .alerts.filter((a) => a.check === 'service')
      .map((a) => a.message);

  it('a DOWN check of the serving deployment alerts; after a restart (a new deployment) it stays in the chart but not in the alerts, until a check of the new one', () => {
    const models = new ModelRepository(store);
    const { modelVersionId } = models.registerVersion({ name: 'weather-clf', actor: 'tester', now: t0 });
    const deployments = new DeploymentRepository(store);
    const first = deployments.create({ modelVersionId, target: 'local', strategy: 'blue_green', trafficPercent: 100, status: 'healthy', now: t0 + 1_000 });
    check(first.deploymentId, true, t0 + 2_000);
    assert.deepEqual(serviceAlerts(t0 + 3_000), [], 'up: no alert');
    check(first.deploymentId, false, t0 + 4_000);
    assert.deepEqual(serviceAlerts(t0 + 5_000), [`local: DOWN · the service (pid ${first.deploymentId}00) is not running`]);

    // Restart serves the version again as a new deployment: the DOWN check was of the process that died
    const restarted = deployments.create({ modelVersionId, target: 'local', strategy: 'direct', trafficPercent: 100, status: 'healthy', now: t0 + 6_000 });
    const view = monitoringView(store, 'weather-clf', {}, { retrainAvailable: true, now: t0 + 7_000 })!;
    assert.deepEqual(
      view.alerts.filter((a) => a.check === 'service'),
      [],
    );
    assert.deepEqual(
      view.service!.checks.map((c) => c.up),
      [true, false],
      'the outage stays in the chart',
    );

    // the new deployment's own checks count again
    check(restarted.deploymentId, false, t0 + 8_000);
    assert.deepEqual(serviceAlerts(t0 + 9_000), [`local: DOWN · the service (pid ${restarted.deploymentId}00) is not running`]);
    check(restarted.deploymentId, true, t0 + 10_000);
    assert.deepEqual(serviceAlerts(t0 + 11_000), []);
  });
});
