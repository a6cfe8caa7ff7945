import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadRunTable, searchRunTable, type RunTable } from '../../src/core/experiments/runTable';
import { paramImportance, runPlotData } from '../../src/core/experiments/runPlots';
import { groupRows, isBestTrial, runGroupKey } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { linePath, parallelLayout } from '../../src/shared/parallelCoordinates';
import { PYTHON, pythonJson } from '../support/python';
import { tempDir } from './fixtures';

// Plots across runs: param importance (Spearman ρ for numeric params, correlation ratio η for categorical ones)
// checked against scipy.stats.spearmanr and a pandas groupby computed from the same runs; the geometry of the
// parallel coordinates; and the table's groups (by sweep, experiment, commit) with the best trial marked.

/** A deterministic generator, so a failure can be reproduced. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) % 2 ** 32;
    return s / 2 ** 32;
  };
}

const REFERENCE = `
import json, sys
import numpy as np, pandas as pd
from scipy.stats import spearmanr
runs = pd.DataFrame(json.load(sys.stdin))
out = {}
for param, kind in [('lr', 'numeric'), ('max_depth', 'numeric'), ('optimizer', 'categorical'), ('seed', 'numeric')]:
    df = runs[[param, 'accuracy']].dropna()
    df = df[np.isfinite(df['accuracy'])]
    if kind == 'numeric':
        rho = spearmanr(df[param].astype(float), df['accuracy']).statistic
        out[param] = {'value': float(rho), 'runs': len(df)}
    else:
        grand = df['accuracy'].mean()
        groups = df.groupby(param)['accuracy']
        between = (groups.count() * (groups.mean() - grand) ** 2).sum()
        total = ((df['accuracy'] - grand) ** 2).sum()
        out[param] = {'value': float(np.sqrt(between / total)), 'runs': len(df)}
print(json.dumps(out))
`;

describe('experiments: plots across runs (param importance, parallel coordinates) and table groups', function () {
  this.timeout(60_000);
  let store: Store;
  let cleanup: () => void;
  let table: RunTable;
  let reference: Record<string, { value: number; runs: number }>;

  before(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    const experiments = new ExperimentRepository(store);
    const sweepExperiment = experiments.ensure('sweep').experimentId;
    const other = experiments.ensure('other').experimentId;
    const runs = new RunRepository(store);
    const random = lcg(19);
    const rows: Record<string, string | number | null>[] = [];
    for (let n = 0; n < 40; n++) {
      const lr = [0.001, 0.01, 0.1, 0.3][n % 4]!;
      const depth = 2 + Math.floor(random() * 8);
      const optimizer = ['adam', 'sgd', 'rmsprop'][Math.floor(random() * 3)]!;
      // accuracy rises with depth, depends on the optimizer, falls with lr; noise; ties in lr
      let accuracy: number | null = 0.5 + 0.03 * depth + (optimizer === 'adam' ? 0.05 : optimizer === 'sgd' ? -0.04 : 0) - 0.2 * lr + 0.05 * random();
      const params: Record<string, string> = { lr: String(lr), optimizer, seed: String(n) };
      if (n % 7 !== 3) params.max_depth = String(depth); // some runs lack the param
      const sweep = n < 30 ? `sweep${String(Math.floor(n / 10)).padStart(27, '0')}` : undefined;
      const run = runs.create({
        experimentId: n < 30 ? sweepExperiment : other,
        name: `run-${n}`,
        startTime: 1_700_000_000_000 + n * 1000,
        params,
        tags: { ...(sweep ? { 'mloop.sweep': sweep } : {}), ...(n === 5 || n === 17 ? { 'mloop.sweep.best': 'true' } : {}) },
      });
      if (n === 11) accuracy = Number.NaN; // a NaN metric is left out, as pandas' dropna + isfinite does
      if (n !== 13) runs.logMetrics(run.runId, [{ key: 'accuracy', value: accuracy!, step: 0, timestamp: 1 }]);
      else accuracy = null;
      rows.push({ lr, max_depth: params.max_depth === undefined ? null : depth, optimizer, seed: n, accuracy: Number.isNaN(accuracy) ? null : accuracy });
    }
    store.db.prepare("UPDATE run SET git_commit = 'a1b2c3d4e5', git_dirty = 1 WHERE name IN ('run-1', 'run-2')").run();
    table = loadRunTable(store.db);
    reference = await pythonJson({ args: ['-c', REFERENCE], input: JSON.stringify(rows) });
  });
  after(() => {
    store?.close();
    cleanup?.();
  });

  it(`Spearman ρ (numeric params) and η (categorical) equal scipy's and pandas' on the same runs (${PYTHON})`, () => {
    const importance = paramImportance(runPlotData(table, searchRunTable(table, {})), 'accuracy');
    assert.deepEqual(importance.map((i) => i.param).sort(), ['lr', 'max_depth', 'optimizer', 'seed']);
    for (const item of importance) {
      const want = reference[item.param]!;
      assert.equal(item.method, item.param === 'optimizer' ? 'eta' : 'spearman', item.param);
      assert.equal(item.runs, want.runs, `${item.param}: runs with both values`);
      assert.ok(Math.abs(item.value - want.value) < 1e-9, `${item.param}: ${item.value} vs reference ${want.value}`);
    }
    // strongest first, and the planted effects are found: depth up, optimizer matters
    assert.equal(importance[0]!.param, 'max_depth');
    assert.ok(importance.find((i) => i.param === 'max_depth')!.value > 0.7);
    const magnitudes = importance.map((i) => Math.abs(i.value));
    assert.deepEqual(
      magnitudes,
      [...magnitudes].sort((a, b) => b - a),
    );
  });

  it('axes: numeric params as numbers, others as sorted categories; NaN and missing metrics are null', () => {
    const data = runPlotData(table, searchRunTable(table, { orderBy: 'attributes.run_name' }));
    const optimizer = data.params.find((a) => a.key === 'optimizer')!;
    assert.equal(optimizer.kind, 'categorical');
    assert.deepEqual(optimizer.categories, ['adam', 'rmsprop', 'sgd']);
    assert.equal(data.params.find((a) => a.key === 'lr')!.kind, 'numeric');
    const accuracy = data.metrics.find((a) => a.key === 'accuracy')!;
    assert.equal(accuracy.values[data.names.indexOf('run-11')], null);
    assert.equal(accuracy.values[data.names.indexOf('run-13')], null);
    assert.equal(data.params.find((a) => a.key === 'max_depth')!.values[data.names.indexOf('run-3')], null);
  });

  it('parallel coordinates: axes evenly spaced, min at the bottom and max at the top, a missing value breaks the line', () => {
    const layout = parallelLayout(
      [
        { key: 'lr', kind: 'numeric', values: [0.1, 0.3, 0.2] },
        { key: 'opt', kind: 'categorical', values: [0, 1, null], categories: ['adam', 'sgd'] },
        { key: 'acc', kind: 'numeric', values: [0.5, 0.5, 0.9] },
      ],
      { width: 400, height: 300, margin: 40 },
    );
    assert.deepEqual(
      layout.axes.map((a) => a.x),
      [40, 200, 360],
    );
    assert.deepEqual(layout.lines[0]![0], { x: 40, y: 260 }); // lr min
    assert.deepEqual(layout.lines[1]![0], { x: 40, y: 40 }); // lr max
    assert.ok(Math.abs(layout.lines[2]![0]!.y - 150) < 1e-9); // lr halfway
    assert.deepEqual(layout.lines[1]![1], { x: 200, y: 40 }); // last category on top
    assert.equal(layout.lines[2]![1], null);
    assert.deepEqual(
      layout.axes[1]!.ticks.map((t) => t.label),
      ['adam', 'sgd'],
    );
    assert.equal(linePath(layout.lines[2]!), 'M40.0,150.0M360.0,40.0');
    assert.equal(linePath(layout.lines[0]!), 'M40.0,260.0L200.0,260.0L360.0,260.0');
  });

  it('groups: trials of a sweep together (groups in the order of their best row), runs in no sweep last; best trial marked; by commit and experiment', () => {
    const ordered = searchRunTable(table, { orderBy: 'metrics.accuracy DESC' });
    const grouped = groupRows(table, ordered, 'sweep');
    assert.equal(grouped.length, ordered.length);
    const keys = Array.from(grouped, (i) => runGroupKey(table, i, 'sweep'));
    // each group contiguous, ungrouped last, first group is the one holding the best row
    const seen: (string | null)[] = [];
    for (const k of keys) if (seen.at(-1) !== k) seen.push(k);
    assert.equal(new Set(seen).size, seen.length, `groups are contiguous: ${seen.join(' ')}`);
    assert.equal(seen.at(-1), null);
    assert.equal(seen[0], runGroupKey(table, ordered[0]!, 'sweep'));
    // inside a group, the search's order is kept
    const first = Array.from(grouped).filter((i) => runGroupKey(table, i, 'sweep') === seen[0]);
    assert.deepEqual(
      first,
      Array.from(ordered).filter((i) => runGroupKey(table, i, 'sweep') === seen[0]),
    );
    assert.deepEqual(
      Array.from(grouped)
        .filter((i) => isBestTrial(table, i))
        .map((i) => table.names[i])
        .sort(),
      ['run-17', 'run-5'],
    );
    assert.equal(runGroupKey(table, table.names.indexOf('run-1'), 'commit'), 'a1b2c3d4e5+');
    assert.equal(new Set(Array.from(groupRows(table, ordered, 'experiment'), (i) => table.experimentIds[i])).size, 2);
    assert.deepEqual(groupRows(table, ordered, 'none'), ordered);
  });
});
