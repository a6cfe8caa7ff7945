import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { decideAutoRetrain } from '../../src/core/retrain/autoRetrain';
import { AuditRepository } from '../../src/core/store/audit';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const HOUR = 3_600_000;

describe('on_drift: retrain — the cooldown decision', () => {
  let cleanup: () => void;
  let store: Store;

  beforeEach(() => {
    const made = tempDir('mloop-autoretrain-');
    cleanup = made.cleanup;
    store = openStore({ path: join(made.dir, '.mloop', 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const autoRows = (): string[] =>
    new AuditRepository(store)
      .list()
      .filter((a) => a.action === 'retrain.auto')
      .map((a) => `${a.entityId}: ${a.reason}`);

  it('starts the first time and audits "auto-retrain after drift report N"; refuses within the cooldown; starts again after it', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const first = decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 7, cooldown: '6h', actor: 'mloop', now: t0 });
    assert.deepEqual(first, { start: true, reason: 'auto-retrain after drift report 7' });
    assert.deepEqual(autoRows(), ['weather-clf: auto-retrain after drift report 7']);

    const soon = decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 8, cooldown: '6h', actor: 'mloop', now: t0 + 5 * HOUR });
    assert.equal(soon.start, false);
    assert.ok(!soon.start && soon.lastAt === t0 && soon.nextAt === t0 + 6 * HOUR);
    assert.match(soon.reason, /ran 5\.0 h ago, within the cooldown of 6h: drift report 8/);
    assert.equal(autoRows().length, 1, 'a refusal starts nothing and writes no start row');

    const later = decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 9, cooldown: '6h', actor: 'mloop', now: t0 + 6 * HOUR });
    assert.equal(later.start, true);
    assert.equal(autoRows().length, 2);
  });

  it('a retrain started by hand counts too; other models have their own cooldown; the default is 6h', () => {
    const t0 = Date.UTC(2026, 0, 2);
    new AuditRepository(store).record({
      actor: 'ann',
      action: 'retrain',
      entityType: 'model',
      entityId: 'weather-clf',
      fromValue: 'v1',
      toValue: 'v2',
      at: t0,
    });
    assert.equal(decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 1, actor: 'mloop', now: t0 + 30 * 60_000 }).start, false);
    assert.equal(decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 1, actor: 'mloop', now: t0 + 6 * HOUR - 1 }).start, false);
    assert.equal(decideAutoRetrain(store, { modelName: 'penguins', driftReportId: 2, actor: 'mloop', now: t0 + 60_000 }).start, true);
    assert.equal(decideAutoRetrain(store, { modelName: 'weather-clf', driftReportId: 3, cooldown: '30m', actor: 'mloop', now: t0 + 30 * 60_000 }).start, true);
  });

  it('mloop.yaml: cooldown is a duration; a wrong one is named with its line', () => {
    const base = 'version: 1\nmonitoring:\n  weather-clf:\n    current: logs/*.jsonl\n    on_drift: retrain\n';
    const good = loadConfig(`${base}    cooldown: 12h\n`, 'mloop.yaml');
    assert.deepEqual(good.problems, []);
    assert.equal(good.config?.monitoring?.['weather-clf']?.cooldown, '12h');
    const bad = loadConfig(`${base}    cooldown: 12 hours\n`, 'mloop.yaml');
    const problem = bad.problems.find((p) => p.path.join('.') === 'monitoring.weather-clf.cooldown');
    assert.ok(problem, JSON.stringify(bad.problems));
    assert.equal(problem.line, 6);
    assert.match(problem.message, /30m, 6h or 1d/);
    assert.throws(() => decideAutoRetrain(store, { modelName: 'm', driftReportId: 1, cooldown: 'soon', actor: 'x' }), /monitoring\.m\.cooldown: "soon"/);
  });
});
