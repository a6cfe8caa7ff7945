import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadRunTable, searchRunTable } from '../../src/core/experiments/runTable';
import { runTableCell, runTableColumns, runTableCsv } from '../../src/core/experiments/runTableView';
import { parseOrderBy } from '../../src/core/experiments/searchSyntax';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// What the Experiments Table shows of a store: its columns, their cells, and the CSV export.

describe('experiments: the table view of runs (columns, cells, CSV)', () => {
  let store: Store;
  let cleanup: () => void;

  before(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = openStore({ path: join(t.dir, 'mloop.db') });
    const experimentId = new ExperimentRepository(store).ensure('csv').experimentId;
    const runs = new RunRepository(store);
    const a = runs.create({
      experimentId,
      name: 'plain',
      startTime: Date.UTC(2026, 0, 2, 3, 4, 5),
      params: { 'batch size': '32' },
      tags: { note: 'ok', 'mlflow.user': 'x' },
    });
    runs.logMetrics(a.runId, [{ key: 'val acc', value: 0.5, step: 0, timestamp: 1 }]);
    runs.finish(a.runId, { status: 'FINISHED', endTime: Date.UTC(2026, 0, 2, 3, 5, 5) });
    const b = runs.create({ experimentId, name: 'needs, "quotes"\nand a newline', startTime: Date.UTC(2026, 0, 1), params: { 'batch size': '64' } });
    runs.logMetrics(b.runId, [{ key: 'val acc', value: Number.NaN, step: 0, timestamp: 1 }]);
  });
  after(() => {
    store.close();
    cleanup();
  });

  it('columns: status, name, start, duration, then params, metrics, tags (not mlflow.*); each order key parses back to its column', () => {
    const columns = runTableColumns(loadRunTable(store.db));
    assert.deepEqual(
      columns.map((c) => c.id),
      ['attributes.status', 'attributes.run_name', 'attributes.start_time', 'duration', 'params.batch size', 'metrics.val acc', 'tags.note'],
    );
    for (const c of columns.filter((c) => c.orderKey)) {
      const o = parseOrderBy(c.orderKey!);
      assert.equal(`${o.entity === 'attribute' ? 'attributes' : `${o.entity}s`}.${o.key}`, c.id);
    }
  });

  it('the CSV of the rows in view round-trips through a CSV reader: quoting, NaN, missing values, ISO times, durations', () => {
    const table = loadRunTable(store.db);
    const columns = runTableColumns(table);
    const rows = searchRunTable(table, { orderBy: 'attributes.run_name' });
    const records = parse(runTableCsv(table, rows, columns), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      records.map((r) => [r['attributes.run_name'], r['params.batch size'], r['metrics.val acc'], r['tags.note'], r['attributes.start_time'], r.duration]),
      [
        ['needs, "quotes"\nand a newline', '64', 'NaN', '', '2026-01-01T00:00:00.000Z', ''],
        ['plain', '32', '0.5', 'ok', '2026-01-02T03:04:05.000Z', '60000'],
      ],
    );
    assert.equal(records[0]!.run_id, table.runIds[rows[0]!]);
    assert.equal(runTableCell(table, rows[0]!, columns.find((c) => c.id === 'metrics.val acc')!), 'NaN');
  });
});
