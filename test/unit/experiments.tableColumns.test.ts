import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadRunTable, searchRunTable, withMetricAggregates, type RunTable } from '../../src/core/experiments/runTable';
import { arrangeColumns, metricAggregates, runTableCell, runTableColumns, type ColumnLayout } from '../../src/core/experiments/runTableView';
import { tableLayoutSchema } from '../../src/protocol/experimentsTableMessages';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// The Experiments Table's columns: chosen, ordered, pinned, and a metric column showing the min or max of each
// run's history (read with SQL from the store), sorted and filtered by that value. The expected min and max are
// computed here from the points the test logged, not read back from the store.

/** A small seeded generator (mulberry32): the same histories every run of the test. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('experiments: table columns (choose, order, pin, min/max per metric)', () => {
  let store: Store;
  let cleanup: () => void;
  /** run name → the loss values it logged (NaN included), in logging order */
  const histories = new Map<string, number[]>();

  before(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    const experimentId = new ExperimentRepository(store).ensure('columns').experimentId;
    const runs = new RunRepository(store);
    const next = random(19);
    for (let r = 0; r < 40; r++) {
      const run = runs.create({ experimentId, name: `run-${String(r).padStart(2, '0')}`, startTime: 1_000 + r, params: { lr: String(r % 4) } });
      // 300 points: more than one 256-point block, so min/max span blocks; a NaN now and then
      const values = Array.from({ length: 300 }, (_, step) => (step % 97 === 13 ? Number.NaN : Math.round(next() * 1e6) / 1e6 + (r % 5)));
      histories.set(run.name, values);
      runs.logMetrics(
        run.runId,
        values.map((value, step) => ({ key: 'loss', value, step, timestamp: 10_000 + step })),
      );
      if (r % 10 !== 0) runs.logMetrics(run.runId, [{ key: 'acc', value: r / 40, step: 0, timestamp: 1 }]);
    }
  });
  after(() => {
    store.close();
    cleanup();
  });

  const finite = (values: number[]): number[] => values.filter((v) => !Number.isNaN(v));
  const nameOf = (table: RunTable, i: number): string => table.names[i]!;

  it('a metric column set to min or max holds the minimum or maximum of each run over its whole history (NaN points left out)', () => {
    const base = loadRunTable(store.db);
    for (const aggregate of ['min', 'max'] as const) {
      const table = withMetricAggregates(store.db, base, { loss: aggregate });
      const column = runTableColumns(table).find((c) => c.id === 'metrics.loss')!;
      for (let i = 0; i < table.size; i++) {
        const values = finite(histories.get(nameOf(table, i))!);
        const expected = aggregate === 'min' ? Math.min(...values) : Math.max(...values);
        assert.equal(runTableCell(table, i, column), expected, `${aggregate} of ${nameOf(table, i)}`);
      }
    }
    // the latest value stays what MLflow shows by default
    const i = 0;
    const values = histories.get(nameOf(base, i))!;
    assert.equal(base.metrics.get('loss')!.values[i], values[values.length - 1]);
  });

  it('sorting and filtering a min column use the min: same runs, same order as computed here', () => {
    const table = withMetricAggregates(store.db, loadRunTable(store.db), { loss: 'min' });
    const mins = [...histories].map(([name, values]) => ({ name, min: Math.min(...finite(values)) }));
    const threshold = [...mins].sort((a, b) => a.min - b.min)[15]!.min;
    const expected = mins
      .filter((m) => m.min < threshold)
      .sort((a, b) => b.min - a.min)
      .map((m) => m.name);
    const rows = searchRunTable(table, { filter: `metrics.loss < ${threshold}`, orderBy: 'metrics.loss DESC' });
    assert.deepEqual(
      Array.from(rows, (i) => nameOf(table, i)),
      expected,
    );
    assert.equal(expected.length, 15);
  });

  it('arranges columns: pinned first, then the saved order, hidden ones apart, labels name min/max; unknown ids are ignored', () => {
    const columns = runTableColumns(loadRunTable(store.db));
    const layout: ColumnLayout = {
      pinned: ['metrics.loss'],
      order: ['params.lr', 'gone.column', 'attributes.run_name'],
      hidden: ['duration', 'metrics.acc', 'no.such'],
      aggregates: { 'metrics.loss': 'max', 'metrics.acc': 'last' },
    };
    const { shown, hidden } = arrangeColumns(columns, layout);
    assert.deepEqual(
      shown.map((c) => c.id),
      ['metrics.loss', 'params.lr', 'attributes.run_name', 'attributes.status', 'attributes.start_time'],
    );
    assert.equal(shown[0]!.label, 'loss (max)');
    assert.equal(shown[0]!.aggregate, 'max');
    assert.deepEqual(
      hidden.map((c) => c.id),
      ['duration', 'metrics.acc'],
    );
    assert.deepEqual(metricAggregates(layout), { loss: 'max' });
    // every column is either shown or hidden, once
    assert.deepEqual([...shown, ...hidden].map((c) => c.id).sort(), columns.map((c) => c.id).sort());
  });

  it('a layout saved before columns could be ordered or hidden still reads (with none)', () => {
    const old = tableLayoutSchema.parse({ grouping: 'sweep', pinned: ['metrics.acc'] });
    assert.deepEqual(old, { grouping: 'sweep', pinned: ['metrics.acc'], order: [], hidden: [], aggregates: {} });
    assert.equal(tableLayoutSchema.safeParse({ grouping: 'none', pinned: [], aggregates: { 'metrics.acc': 'median' } }).success, false);
  });
});
