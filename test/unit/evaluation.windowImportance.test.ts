import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WindowImportanceReport } from '../../src/core/evaluation/windowImportance';
import { latestWindowImportance } from '../../src/core/evaluation/windowImportance';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { openStore } from '../../src/core/store/store';
import { importanceTimelineSchema } from '../../src/protocol/monitoringMessages';
import { importanceTimeline } from '../../src/vscode/monitoring/monitoringView';
import { registerPickledVersion } from '../harness/weatherVersions';
import { pythonJson } from '../support/python';
import { WEATHER } from './datasetFixtures';
import { mloop, tempDir } from './fixtures';

const SEED = 3;
const REPEATS = 3;
const MIN_ROWS = 26;

/**
 * Trains two models on seattle-weather 2012–2013 (v1 a tree, v2 a forest), writes 2014 as a predictions log of v2 with
 * late labels (every 9th row still unlabelled), and computes the reference: scikit-learn's permutation_importance of
 * v2 on each month's labelled rows, with the same seed.
 */
const REFERENCE = `
import json, pickle, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.inspection import permutation_importance
data, out, seed, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
frame = pd.read_csv(data)
features = ["precipitation", "temp_max", "temp_min", "wind"]
train = frame[frame.date < "2014-01-01"]
v1 = DecisionTreeClassifier(max_depth=3, random_state=0).fit(train[features], train.weather)
v2 = RandomForestClassifier(n_estimators=10, random_state=0).fit(train[features], train.weather)
for name, m in (("v1.pkl", v1), ("v2.pkl", v2)):
    with open(f"{out}/{name}", "wb") as f:
        pickle.dump(m, f)
log = frame[(frame.date >= "2014-01-01") & (frame.date < "2015-01-01")].reset_index(drop=True)
# ids as the example's simulate.py writes them (<8 hex>-<row>), with a prefix that reads as a numeral: 8144173e-332 is
# no number (as a double it was 0, and 8144173e-5 was 81.44173)
log.insert(0, "id", [f"8144173e-{i}" for i in range(len(log))])
log["prediction"] = v2.predict(log[features])
log[["id", "date"] + features + ["prediction"]].to_csv(f"{out}/predictions.csv", index=False)
labelled = log[log.index % 9 != 8]
# the labels arrive in another order than the predictions
labelled[["id", "weather"]].rename(columns={"weather": "label"}).iloc[::-1].to_csv(f"{out}/labels.csv", index=False)
windows = []
for month, rows in labelled.groupby(labelled.date.str[:7], sort=True):
    r = permutation_importance(v2, rows[features], rows.weather, n_repeats=repeats, random_state=seed)
    windows.append({"window": month + "-01", "rows": len(rows), "score": v2.score(rows[features], rows.weather),
                    "mean": r.importances_mean.tolist(), "std": r.importances_std.tolist()})
print(json.dumps({"features": features, "windows": windows}))
`;

interface Reference {
  features: string[];
  windows: { window: string; rows: number; score: number; mean: number[]; std: number[] }[];
}

describe('evaluation: permutation importance of the deployed version across the labelled monitoring windows (issue 21)', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => void;
  let reference: Reference;

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-window-importance-'));
    reference = await pythonJson<Reference>({ args: ['-c', REFERENCE, WEATHER, dir, String(SEED), String(REPEATS)] });
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'monitoring:',
        '  weather-clf:',
        '    current: predictions.csv',
        '    labels: labels.csv',
        '    prediction: prediction',
        '    time_column: date',
        '    window: monthly',
        `    min_rows: ${MIN_ROWS}`,
        '',
      ].join('\n'),
    );
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    for (const file of ['v1.pkl', 'v2.pkl']) registerPickledVersion(store, join(dir, file));
    const models = new ModelRepository(store);
    // the champion is v1, but v2 is what the target serves (and what logged the predictions)
    const modelId = models.byName('weather-clf')!.modelId;
    models.setAlias({ modelId, alias: 'champion', version: 1, actor: 'tester' });
    new DeploymentRepository(store).create({
      modelVersionId: models.version(modelId, 2)!.modelVersionId,
      target: 'prod',
      strategy: 'direct',
      trafficPercent: 100,
      status: 'healthy',
    });
    store.close();
  });
  after(() => cleanup?.());

  it('equals sklearn.inspection.permutation_importance on each month’s labelled rows, same seed; months short of labels named; stored', () => {
    const r = mloop(dir, 'importance', 'weather-clf', '--seed', String(SEED), '--repeats', String(REPEATS), '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as WindowImportanceReport;
    assert.deepEqual([report.version, report.chosen, report.seed, report.nRepeats], [2, 'deployed', SEED, REPEATS]);
    assert.deepEqual(report.features, reference.features);
    assert.equal(reference.windows.length, 12);
    const kept = reference.windows.filter((w) => w.rows >= MIN_ROWS);
    assert.ok(kept.length >= 6 && kept.length < 12, `months with ${MIN_ROWS} labelled rows: ${kept.length}`);
    assert.deepEqual(
      report.skipped.map((w) => [w.window, w.rows]),
      reference.windows.filter((w) => w.rows < MIN_ROWS).map((w) => [w.window, w.rows]),
    );
    assert.deepEqual(
      report.windows.map((w) => [w.window, w.rows]),
      kept.map((w) => [w.window, w.rows]),
    );
    report.windows.forEach((w, i) => {
      const ref = kept[i]!;
      assert.ok(Math.abs(w.score! - ref.score) < 1e-12, `${w.window} score ${w.score} ≠ ${ref.score}`);
      w.mean.forEach((m, k) => assert.ok(Math.abs(m - ref.mean[k]!) < 1e-12, `${w.window} ${report.features[k]} mean ${m} ≠ ${ref.mean[k]}`));
      w.std.forEach((s, k) => assert.ok(Math.abs(s - ref.std[k]!) < 1e-12, `${w.window} ${report.features[k]} std ${s} ≠ ${ref.std[k]}`));
    });
    assert.ok(
      report.windows.some((w) => w.mean.some((m) => m > 0.01)),
      'some feature matters in some month',
    );
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      assert.deepEqual(latestWindowImportance(store, 'weather-clf')?.windows, report.windows);
      // the Monitoring panel's timeline: one line per feature over the windows, the most important feature first
      const timeline = importanceTimelineSchema.parse(importanceTimeline(store, 'weather-clf'));
      assert.deepEqual(
        timeline.windows.map((w) => w.start),
        kept.map((w) => w.window),
      );
      const peak = (k: number): number => Math.max(...kept.map((w) => w.mean[k]!));
      const order = reference.features.map((f, k) => ({ f, p: peak(k) })).sort((a, b) => b.p - a.p);
      assert.deepEqual(
        timeline.features.map((f) => f.feature),
        order.map((o) => o.f),
      );
      const first = reference.features.indexOf(order[0]!.f);
      timeline.features[0]!.mean.forEach((m, i) => assert.ok(Math.abs(m! - kept[i]!.mean[first]!) < 1e-12, `${order[0]!.f} in ${kept[i]!.window}`));
    } finally {
      store.close();
    }
  });

  it('a model without labels: is refused with what to add', () => {
    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\nmonitoring:\n  weather-clf:\n    current: predictions.csv\n');
    const refused = mloop(dir, 'importance', 'weather-clf');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /monitoring\.weather-clf has no labels:/);
  });
});
