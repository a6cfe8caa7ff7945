import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { experimentRunRows, experimentsWithRuns, latestMetricValues, runPage } from '../../src/core/store/runListing';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

describe('store: run listings for the Runs tree', () => {
  let store: Store;
  let cleanup: () => void;
  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('pages an experiment newest first with no run skipped or repeated across pages', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    const ids = Array.from({ length: 450 }, (_, i) => runs.create({ experimentId: exp.experimentId, name: `r${i}`, startTime: 1000 + (i % 7) * 10 + i }).runId);
    const seen = [0, 200, 400].flatMap((offset) => runPage(store, exp.experimentId, offset, 200).map((r) => r.runId));
    assert.equal(seen.length, 450);
    assert.equal(new Set(seen).size, 450);
    assert.deepEqual(new Set(seen), new Set(ids));
    const starts = seen.map((id) => runs.get(id)!.startTime);
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
    );
  });

  it('counts runs and running runs per experiment, most recently active first, hiding empty experiments', () => {
    const experiments = new ExperimentRepository(store);
    const a = experiments.ensure('a');
    const b = experiments.ensure('b');
    experiments.ensure('empty');
    const runs = new RunRepository(store);
    runs.create({ experimentId: a.experimentId, startTime: 1 });
    runs.finish(runs.create({ experimentId: a.experimentId, startTime: 2 }).runId, { status: 'FINISHED' });
    runs.create({ experimentId: b.experimentId, startTime: 5 });
    assert.deepEqual(
      experimentsWithRuns(store).map((e) => [e.name, e.runs, e.running]),
      [
        ['b', 1, 1],
        ['a', 2, 1],
      ],
    );
  });

  it('reads the latest value of one metric for many runs, skipping runs without it', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const runs = new RunRepository(store);
    const r1 = runs.create({ experimentId: exp.experimentId }).runId;
    const r2 = runs.create({ experimentId: exp.experimentId }).runId;
    const r3 = runs.create({ experimentId: exp.experimentId }).runId;
    runs.logMetrics(r1, [
      { key: 'acc', value: 0.5, step: 0, timestamp: 1 },
      { key: 'acc', value: 0.8, step: 3, timestamp: 2 },
      { key: 'acc', value: 0.7, step: 1, timestamp: 3 },
    ]);
    runs.logMetrics(r2, [{ key: 'loss', value: 1, step: 0, timestamp: 1 }]);
    runs.logMetrics(r3, [{ key: 'acc', value: Number.NaN, step: 0, timestamp: 1 }]);
    const values = latestMetricValues(store, [r1, r2, r3], 'acc');
    assert.equal(values.get(r1), 0.8);
    assert.equal(values.has(r2), false);
    assert.ok(Number.isNaN(values.get(r3)!));
  });

  it('expands an experiment: the first page newest first, a "more" flag, and each run’s own primary metric', () => {
    const exp = new ExperimentRepository(store).ensure('e');
    const other = new ExperimentRepository(store).ensure('other');
    const runs = new RunRepository(store);
    const pipelines = ['train', 'evaluate', null] as const;
    const created = Array.from({ length: 250 }, (_, i) => {
      const runId = runs.create({ experimentId: exp.experimentId, pipeline: pipelines[i % 3] ?? undefined, startTime: 10_000 + i }).runId;
      // every run logs both keys; which one the row shows depends on its pipeline
      if (i % 5 !== 4) {
        runs.logMetrics(runId, [
          { key: 'loss', value: i, step: 0, timestamp: 1 },
          { key: 'loss', value: i / 2, step: 1, timestamp: 2 },
          { key: 'acc', value: -i, step: 0, timestamp: 1 },
        ]);
      }
      return { runId, i };
    });
    runs.create({ experimentId: other.experimentId, pipeline: 'train', startTime: 99_999 });
    const primary = (pipeline: string | null): string | undefined => (pipeline === 'train' ? 'loss' : pipeline === 'evaluate' ? 'acc' : undefined);

    const page = experimentRunRows(store, exp.experimentId, 200, primary);
    assert.equal(page.runs.length, 200);
    assert.equal(page.more, true);
    assert.deepEqual(
      page.runs.map((r) => r.runId),
      [...created]
        .reverse()
        .slice(0, 200)
        .map((c) => c.runId),
    );
    for (const { runId, i } of created.slice(50)) {
      const expected = i % 5 === 4 ? undefined : i % 3 === 0 ? { key: 'loss', value: i / 2 } : i % 3 === 1 ? { key: 'acc', value: -i } : undefined;
      assert.deepEqual(page.primaryValues.get(runId), expected, `run ${i}`);
    }
    const all = experimentRunRows(store, exp.experimentId, 250, primary);
    assert.equal(all.runs.length, 250);
    assert.equal(all.more, false);
    assert.equal(experimentRunRows(store, exp.experimentId, 200, () => undefined).primaryValues.size, 0);
  });
});

describe('project: pipeline locations in mloop.yaml', () => {
  it('finds each pipeline key at its 0-based line and column, even when another section is broken', async () => {
    const { pipelineLocations } = await import('../../src/core/project/pipelineLocations');
    const text = [
      'version: 1',
      'datasets: [oops',
      'pipelines:',
      '  train:',
      '    command: python train.py',
      '  "eval-2":',
      '    command: [python, eval.py]',
    ].join('\n');
    assert.deepEqual(pipelineLocations(text), [
      { name: 'train', line: 3, character: 2 },
      { name: 'eval-2', line: 5, character: 2 },
    ]);
    assert.deepEqual(pipelineLocations('not: [yaml'), []);
    assert.deepEqual(pipelineLocations(''), []);
  });
});
