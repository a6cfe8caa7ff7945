import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadRunTable, orderRows, searchRunTable, type RunTable } from '../../src/core/experiments/runTable';
import { loadRunTableInSteps, readRunTablePage, sortInSteps } from '../../src/core/experiments/runTableReader';
import { parseOrderByList } from '../../src/core/experiments/searchSyntax';
import { runTableCell, runTableColumns } from '../../src/core/experiments/runTableView';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// The table's fast reader (SQL returns each chunk of runs as JSON arrays), the first screen read with a LIMIT
// query, the stepwise read the editor runs in the background, and the typed sort. Each is checked against a
// plain reading written here: one SQL row per value, and MLflow's order rules as a comparator.

function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The runs in scope as plain objects, one SQL row per value (the reading the reader replaces). */
function plainRuns(
  store: Store,
  experimentId?: number,
): Map<string, { params: Record<string, string>; metrics: Record<string, number | null>; tags: Record<string, string> }> {
  const scope = experimentId === undefined ? "lifecycle_stage = 'active'" : `lifecycle_stage = 'active' AND experiment_id = ${experimentId}`;
  const runs = new Map<string, { params: Record<string, string>; metrics: Record<string, number | null>; tags: Record<string, string> }>();
  for (const id of store.db.prepare(`SELECT run_id FROM run WHERE ${scope}`).pluck().all() as string[]) runs.set(id, { params: {}, metrics: {}, tags: {} });
  for (const [id, key, value] of store.db.prepare('SELECT run_id, key, value FROM param').raw().all() as [string, string, string][])
    if (runs.has(id)) runs.get(id)!.params[key] = value;
  for (const [id, key, value] of store.db.prepare('SELECT run_id, key, value FROM tag').raw().all() as [string, string, string][])
    if (runs.has(id)) runs.get(id)!.tags[key] = value;
  for (const [id, key, value] of store.db.prepare('SELECT run_id, key, latest_value FROM metric_series').raw().all() as [string, string, number | null][])
    if (runs.has(id)) runs.get(id)!.metrics[key] = value;
  return runs;
}

describe('experiments: reading the table fast (first page, steps, typed sort)', function () {
  this.timeout(60_000);
  let store: Store;
  let cleanup: () => void;
  let path: string;
  let experimentA: number;

  before(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    path = join(t.dir, 'mloop.db');
    store = openStore({ path });
    const experiments = new ExperimentRepository(store);
    experimentA = experiments.ensure('a').experimentId;
    const experimentB = experiments.ensure('b').experimentId;
    const runs = new RunRepository(store);
    const next = random(7);
    // 12,000 runs: more than one chunk of the reader (10,000); start times with ties (run_id breaks them)
    store.transaction(() => {
      for (let r = 0; r < 12_000; r++) {
        const run = runs.create({
          experimentId: r % 3 === 0 ? experimentB : experimentA,
          name: `run-${r}`,
          startTime: 1_000_000 + Math.floor(r / 4),
          params: { lr: String(r % 7), ...(r % 5 === 0 ? {} : { depth: String(r % 11) }) },
          tags: r % 2 ? { team: `t${r % 3}` } : {},
        });
        const v = next();
        runs.logMetrics(run.runId, [
          { key: 'acc', value: r % 97 === 0 ? Number.NaN : Math.round(v * 1000) / 1000, step: 0, timestamp: 1 },
          ...(r % 4 ? [{ key: 'loss', value: r % 13 === 0 ? Number.POSITIVE_INFINITY : 1 - v, step: 0, timestamp: 1 }] : []),
        ]);
      }
    });
  });
  after(() => {
    store.close();
    cleanup();
  });

  it('reads every run with its params, tags and latest metrics, as a plain SQL reading does (all runs and one experiment)', () => {
    for (const experimentId of [undefined, experimentA]) {
      const table = loadRunTable(store.db, experimentId === undefined ? {} : { experimentIds: [experimentId] });
      const plain = plainRuns(store, experimentId);
      assert.equal(table.size, plain.size);
      let checked = 0;
      for (let i = 0; i < table.size; i++) {
        const want = plain.get(table.runIds[i]!)!;
        for (const [key, column] of table.params) assert.equal(column[i], want.params[key], `param ${key} of row ${i}`);
        for (const [key, column] of table.tags) assert.equal(column[i], want.tags[key], `tag ${key} of row ${i}`);
        for (const [key, column] of table.metrics) {
          const value = want.metrics[key];
          assert.equal(column.present[i], value === undefined ? 0 : 1, `metric ${key} present in row ${i}`);
          if (value !== undefined) assert.ok(Object.is(column.values[i], value ?? Number.NaN), `metric ${key} of row ${i}: ${column.values[i]} vs ${value}`);
        }
        checked++;
      }
      assert.equal(checked, plain.size);
      assert.deepEqual([...table.params.keys()].sort(), ['depth', 'lr']);
      // rows in MLflow's default order: start_time DESC, then run_id
      for (let i = 1; i < table.size; i++)
        assert.ok(
          table.startTimes[i - 1]! > table.startTimes[i]! || (table.startTimes[i - 1] === table.startTimes[i] && table.runIds[i - 1]! < table.runIds[i]!),
        );
    }
    assert.equal(store.db.prepare("SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'mloop_table_%'").pluck().get(), 0, 'temp tables dropped');
  });

  it('the first page read with SQL (LIMIT, OFFSET, count) is the first rows of the whole table searched with no filter or order, cell for cell', () => {
    const full = loadRunTable(store.db, { experimentIds: [experimentA] });
    const order = searchRunTable(full, {});
    const columns = runTableColumns(full);
    for (const offset of [0, 200, 7_800]) {
      const page = readRunTablePage(store.db, { experimentIds: [experimentA] }, offset, 200);
      assert.equal(page.total, full.size);
      assert.equal(page.table.size, 200);
      for (let n = 0; n < 200; n++) {
        const i = order[offset + n]!;
        assert.equal(page.table.runIds[n], full.runIds[i], `row ${offset + n}`);
        for (const c of columns) assert.deepEqual(runTableCell(page.table, n, c), runTableCell(full, i, c), `${c.id} of row ${offset + n}`);
      }
    }
    // past the end: the rest
    assert.equal(readRunTablePage(store.db, { experimentIds: [experimentA] }, full.size - 5, 200).table.size, 5);
  });

  it('a store change while the table is read in steps: the read keeps its snapshot; the next read has the change', async () => {
    const reader = openStore({ path, readonly: true });
    const runs = new RunRepository(store);
    const before = loadRunTable(store.db);
    let wrote: string | undefined;
    const changedRun = before.runIds[0]!;
    const table = await loadRunTableInSteps(
      reader.db,
      {},
      {
        onProgress: (progress) => {
          if (wrote || progress.done === 0) return; // after the first chunk of values
          wrote = runs.create({ experimentId: experimentA, name: 'written-meanwhile', startTime: 9_000_000, params: { lr: 'new' } }).runId;
          runs.logMetrics(changedRun, [{ key: 'acc', value: 42, step: 1, timestamp: 2 }]);
        },
      },
    );
    assert.ok(wrote, 'the write happened between steps');
    assert.equal(table!.size, before.size, 'the run written meanwhile is not in this read');
    assert.equal(table!.runIds.indexOf(wrote!), -1);
    assert.equal(table!.metrics.get('acc')!.values[table!.runIds.indexOf(changedRun)], before.metrics.get('acc')!.values[0]);
    const after = await loadRunTableInSteps(reader.db, {});
    assert.equal(after!.size, before.size + 1);
    assert.equal(after!.runIds[0], wrote, 'newest first');
    assert.equal(after!.metrics.get('acc')!.values[after!.runIds.indexOf(changedRun)], 42);
    // cancelled between steps: no table, temp tables gone, and the connection reads again
    let asked = 0;
    const cancelled = await loadRunTableInSteps(reader.db, {}, { isCancelled: () => ++asked >= 2 });
    assert.equal(cancelled, undefined);
    assert.equal(reader.db.prepare("SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'mloop_table_%'").pluck().get(), 0);
    assert.equal(reader.db.inTransaction, false);
    reader.close();
  });

  it('the background read leaves the event loop a turn after every step (a message posted meanwhile is handled before the next step), and no step reads more than its runs', async () => {
    const reader = openStore({ path, readonly: true });
    const stepRuns = 777; // not a divisor of the runs: chunk edges inside the experiments' runs
    // the page's messages reach the extension host as I/O: a MessageChannel's are delivered the same way (not as
    // microtasks), so a step that did not yield to the event loop would leave them waiting
    const channel = new MessageChannel();
    const handled: number[] = [];
    channel.port2.on('message', (step: number) => handled.push(step));
    const progress: { done: number; total: number }[] = [];
    const late: number[] = [];
    try {
      const table = await loadRunTableInSteps(
        reader.db,
        {},
        {
          stepRuns,
          onProgress: (p) => {
            // the message posted at the previous step must have been handled by now
            if (progress.length > 0 && !handled.includes(progress.length - 1)) late.push(progress.length - 1);
            channel.port1.postMessage(progress.length);
            progress.push({ ...p });
          },
        },
      );
      assert.deepEqual(late, [], 'messages posted at these steps waited past the next step');
      const whole = loadRunTable(store.db);
      assert.equal(table!.size, whole.size);
      assert.deepEqual(table!.runIds, whole.runIds, 'the same rows in the same order as one read with the default step');
      for (const [key, column] of whole.metrics) assert.deepEqual(table!.metrics.get(key), column, `metric ${key}`);
      for (const [key, column] of whole.params) assert.deepEqual(table!.params.get(key), column, `param ${key}`);
      for (const [key, column] of whole.tags) assert.deepEqual(table!.tags.get(key), column, `tag ${key}`);
      // every step moves by at most one step's runs: the runs read so far (total, while their rows are read), then
      // the runs whose values are read (done)
      const chunks = Math.ceil(whole.size / stepRuns);
      for (let n = 0; n < progress.length; n++) {
        const before = progress[n - 1] ?? { done: 0, total: 0 };
        assert.ok(progress[n]!.done - before.done <= stepRuns, `step ${n} read values of ${progress[n]!.done - before.done} runs`);
        if (progress[n]!.done === 0)
          assert.ok(progress[n]!.total - before.total <= stepRuns, `step ${n} read the rows of ${progress[n]!.total - before.total} runs`);
      }
      // the run rows, their numbering, and the values (metrics; params, tags and inputs) each take a step per chunk
      assert.ok(progress.length >= 4 * chunks, `${progress.length} steps for ${chunks} chunks`);
    } finally {
      channel.port1.close();
      reader.close();
    }
  });

  it('the stepwise sort of the read (merge sort in steps) orders as Array.prototype.sort does, stably, and yields within its budget', () => {
    const next = random(7);
    for (const n of [0, 1, 31, 32, 33, 500, 4097]) {
      // few distinct keys: many ties, so the stable order (by index) is checked too
      const keys = Array.from({ length: n }, () => Math.floor(next() * 20));
      const compare = (x: number, y: number): number => keys[y]! - keys[x]!;
      const expected = Array.from({ length: n }, (_, i) => i).sort((x, y) => compare(x, y) || x - y);
      const steps = sortInSteps(n, compare, 1000);
      let yields = 0;
      let result: Uint32Array;
      for (;;) {
        const step = steps.next();
        if (step.done) {
          result = step.value;
          break;
        }
        yields++;
      }
      assert.deepEqual([...result], expected, `n = ${n}`);
      // about n log n / 1000 pieces of work: more than one step once the sort is larger than its budget
      if (n > 2000) assert.ok(yields >= Math.floor((n * Math.log2(n / 32)) / 1000) - 1, `${yields} steps for ${n}`);
    }
  });

  it('the typed sort gives MLflow order: values, then NaN, then missing, either direction; ties by start_time DESC then run_id', () => {
    const table = loadRunTable(store.db);
    // an independent comparator over the plain values (the rules of MLflow's SQL store)
    const compareKey = (key: string, descending: boolean) => {
      const [entity, name] = key.split('.') as ['metrics' | 'params', string];
      return (a: number, b: number): number => {
        const value = (i: number): { rank: number; v: number | string } => {
          if (entity === 'metrics') {
            const c = table.metrics.get(name);
            if (!c?.present[i]) return { rank: 2, v: 0 };
            return Number.isNaN(c.values[i]) ? { rank: 1, v: 0 } : { rank: 0, v: c.values[i]! };
          }
          const t = table.params.get(name)?.[i];
          return t === undefined ? { rank: 2, v: 0 } : { rank: 0, v: t };
        };
        const x = value(a);
        const y = value(b);
        if (x.rank !== y.rank) return x.rank - y.rank;
        if (x.rank !== 0 || x.v === y.v) return 0;
        const c = x.v < y.v ? -1 : 1;
        return descending ? -c : c;
      };
    };
    const tie = (a: number, b: number): number =>
      table.startTimes[a] !== table.startTimes[b] ? table.startTimes[b]! - table.startTimes[a]! : table.runIds[a]! < table.runIds[b]! ? -1 : 1;
    const all = Int32Array.from({ length: table.size }, (_, i) => i);
    for (const order of [
      'metrics.acc DESC',
      'metrics.loss',
      'metrics.loss DESC',
      'params.depth DESC',
      'params.lr, metrics.acc DESC',
      'params.depth, metrics.loss DESC',
    ]) {
      const clauses = order.split(',').map((part) => part.trim().split(' ') as [string, string?]);
      const expected = Array.from(all).sort((a, b) => {
        for (const [key, direction] of clauses) {
          const c = compareKey(key, direction === 'DESC')(a, b);
          if (c) return c;
        }
        return tie(a, b);
      });
      assert.deepEqual(Array.from(orderRows(table, all, parseOrderByList(order))), expected, order);
    }
    // a table not in the default order (as a server's runs may come) still ties by start_time DESC, run_id
    const reversed: RunTable = reverseTable(table);
    const got = orderRows(
      reversed,
      Int32Array.from({ length: reversed.size }, (_, i) => i),
      parseOrderByList('params.lr'),
    );
    const want = orderRows(table, all, parseOrderByList('params.lr'));
    assert.deepEqual(
      Array.from(got, (i) => reversed.runIds[i]),
      Array.from(want, (i) => table.runIds[i]),
    );
  });
});

function reverseTable(table: RunTable): RunTable {
  const rev = <T>(xs: readonly T[]): T[] => [...xs].reverse();
  const revTyped = <T extends Float64Array | Uint8Array>(xs: T): T => xs.slice().reverse() as T;
  return {
    ...table,
    runIds: rev(table.runIds),
    experimentIds: rev(table.experimentIds),
    names: rev(table.names),
    statuses: rev(table.statuses),
    startTimes: rev(table.startTimes),
    endTimes: rev(table.endTimes),
    users: rev(table.users),
    commits: rev(table.commits),
    params: new Map([...table.params].map(([k, v]) => [k, rev(v)])),
    tags: new Map([...table.tags].map(([k, v]) => [k, rev(v)])),
    metrics: new Map([...table.metrics].map(([k, v]) => [k, { values: revTyped(v.values), present: revTyped(v.present) }])),
    inputs: rev(table.inputs),
  };
}
