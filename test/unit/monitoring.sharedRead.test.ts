import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { readSchema, type DatasetSchema } from '../../src/core/datasets/readers';
import { runDriftCheck, type DriftCheckOptions } from '../../src/core/drift/check';
import { collectSide } from '../../src/core/drift/collect';
import { DriftFeed, FedSideCollector, MAX_BATCHES_IN_FLIGHT, readReferenceSide, sideColumns } from '../../src/core/drift/fedSide';
import { driftHeadline } from '../../src/core/drift/monitor';
import type { ModelMonitoring } from '../../src/core/drift/monitoringSchema';
import { computeEstimatedPerformance } from '../../src/core/monitoring/estimatedPerformance';
import { computeFairness } from '../../src/core/monitoring/fairness';
import { joinLabels, readPredictionLog, windowAt } from '../../src/core/monitoring/labels';
import { monitorModel } from '../../src/core/monitoring/monitor';
import { computePerformance, DEFAULT_MIN_ROWS, detectTask } from '../../src/core/monitoring/performance';
import { seededRandom as random } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

/**
 * `mloop monitor` reads the predictions log once: the label join, CBPE and the groups read it, and each batch's drift
 * columns are fed to the drift check (src/core/drift/fedSide.ts) instead of the drift check reading the file again.
 * The report must be the one each check gives reading the log on its own — on a fixed log with more rows than one
 * batch (10,000), windows, rows without a time, numbers with ties and missing cells, text with NA markers, a column
 * of numbers and text, booleans, a date column, a column all empty.
 */
function writeProject(dir: string): { monitoring: ModelMonitoring } {
  const next = random(2026);
  const header = 'id,time,x,tied,color,mixed,flag,seen,empty,sex,predicted,proba_no,proba_yes';
  const rows: string[] = [];
  const labels: string[] = ['id,label'];
  const line = (i: number, month: number, time: string, shift: number): string => {
    const x = next() < 0.04 ? 'NA' : (next() * 10 - 5 + shift * month).toFixed(3);
    const tied = String(Math.floor(next() * 7));
    const color = next() < 0.02 ? 'NA' : ['red', 'green', 'blue', ' blue'][Math.floor(next() * 4)]!;
    const mixed = next() < 0.01 ? 'oops' : String(Math.floor(next() * 100));
    const flag = next() < 0.5 ? 'true' : 'false';
    const seen = `2024-0${1 + Math.floor(next() * 9)}-1${Math.floor(next() * 9)}`;
    const sex = next() < 0.03 ? '' : next() < 0.5 ? 'female' : 'male';
    const p = Math.min(0.999, Math.max(0.001, 1 / (1 + Math.exp(-(Number(tied) - 3 + next())))));
    const yes = Number(p.toFixed(4));
    return `${i},${time},${x},${tied},${color},${mixed},${flag},${seen},,${sex},${yes >= 0.5 ? 'yes' : 'no'},${(1 - yes).toFixed(4)},${yes.toFixed(4)}`;
  };
  for (let i = 0; i < 12_500; i++) {
    const month = 1 + Math.floor(next() * 4);
    // some rows have no usable time: they count overall and in no window
    const time = next() < 0.02 ? (next() < 0.5 ? '' : 'not a date') : `2025-0${month}-${String(1 + Math.floor(next() * 28)).padStart(2, '0')}T12:00:00`;
    rows.push(line(i, month, time, 0.4));
    if (next() < 0.7) labels.push(`${i},${next() < 0.75 ? (rows.at(-1)!.includes(',yes,') ? 'yes' : 'no') : next() < 0.5 ? 'yes' : 'no'}`);
  }
  writeFileSync(join(dir, 'log.csv'), [header, ...rows].join('\n'));
  writeFileSync(join(dir, 'labels.csv'), labels.join('\n'));
  const reference: string[] = [`${header},label`];
  for (let i = 0; i < 3000; i++) {
    const row = line(100_000 + i, 1, `2024-06-01T00:00:00`, 0);
    reference.push(`${row},${next() < 0.8 ? (row.includes(',yes,') ? 'yes' : 'no') : next() < 0.5 ? 'yes' : 'no'}`);
  }
  writeFileSync(join(dir, 'reference.csv'), reference.join('\n'));
  return {
    monitoring: {
      reference: 'reference.csv',
      current: 'log.csv',
      time_column: 'time',
      window: 'monthly',
      columns: ['x', 'tied', 'color', 'mixed', 'flag', 'seen', 'empty'],
      labels: 'labels.csv',
      prediction: 'predicted',
      groups: ['sex'],
      positive_class: 'yes',
      performance: { accuracy: { min: 0.7 } },
      estimated_performance: { reference: 'reference.csv' },
    } as ModelMonitoring,
  };
}

/** The log writeProject writes, read once with its drift columns fed to `feed` (monthly windows when windowed). */
function readFedLog(dir: string, feed: DriftFeed, windowed: boolean): Promise<unknown> {
  return readPredictionLog({
    predictions: join(dir, 'log.csv'),
    idColumn: 'id',
    predictionColumn: 'predicted',
    probabilityPrefix: 'proba_',
    ...(windowed ? { timeColumn: 'time', window: 'monthly' as const } : {}),
    baseDir: dir,
    feed,
  });
}

describe('monitoring: one shared read of the predictions log gives the same report', function () {
  this.timeout(60_000);

  it('the drift check fed from the label join’s read equals the drift check reading the log itself (windows and whole; with and without windows)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeProject(dir);
      // configured columns, and every column (the reference's label column is not in the log: reported skipped)
      for (const [windowed, columns] of [
        [true, ['x', 'tied', 'color', 'mixed', 'flag', 'seen', 'empty', 'predicted']],
        [false, ['x', 'tied', 'color', 'mixed', 'flag', 'seen', 'empty', 'predicted']],
        [true, undefined],
      ] as const) {
        const check: DriftCheckOptions = {
          reference: 'reference.csv',
          current: 'log.csv',
          baseDir: dir,
          ...(columns ? { columns } : {}),
          timeColumn: 'time',
          ...(windowed ? { window: 'monthly' as const } : {}),
          predictionColumn: 'predicted',
          digestCurrent: false,
        };
        const alone = await runDriftCheck(check);
        const schema = await readSchema(join(dir, 'log.csv'));
        const { read, dates } = sideColumns(
          schema,
          check.columns?.filter((c) => c !== 'predicted'),
          'time',
        );
        assert.deepEqual(dates, ['seen']);
        if (!columns) assert.ok(alone.report.columns.some((c) => c.column === 'label' && c.status === 'skipped'));
        const feed = new DriftFeed(read, windowed, false);
        const fedCheck = runDriftCheck({ ...check, fedCurrent: feed });
        await readFedLog(dir, feed, windowed);
        feed.end(schema, dates);
        const fed = await fedCheck;
        assert.deepEqual(fed, alone);
        assert.equal(alone.windows.length, windowed ? 4 : 0);
        assert.ok(
          alone.report.columns.some((c) => c.column === 'mixed' && c.status !== 'ok'),
          'the mixed column is reported unusable',
        );
        assert.ok(alone.report.columns.some((c) => c.column === 'color' && c.status === 'ok'));
      }
    } finally {
      cleanup();
    }
  });

  it('the feed on its worker thread (the build’s bundle): at most MAX_BATCHES_IN_FLIGHT (8) batches posted and not collected — the read waits; the same comparison; the worker ends itself after its reply', async () => {
    // the backpressure: the 8th batch posted before the worker has collected any returns a promise, kept until it has
    const worker = resolve(__dirname, '../../../dist/driftWorker.js');
    const feed = new DriftFeed(['x'], false, true, worker);
    const waited: number[] = [];
    for (let b = 0; b < 3 * MAX_BATCHES_IN_FLIGHT; b++) {
      const pending = feed.push(
        [{ kind: 'numbers', values: Float64Array.from({ length: 5000 }, (_, i) => (i * 7919) % 1000) }],
        5000,
        { codes: new Int32Array(60_000), names: [] },
        b * 5000,
      );
      if (pending) {
        waited.push(b);
        await pending;
      }
    }
    feed.abandon();
    assert.equal(waited[0], MAX_BATCHES_IN_FLIGHT - 1, `the reads waited at batches ${waited.join(', ')}`);
    // a read through the worker: the comparison of the check reading the log itself, and the worker's own exit
    const { dir, cleanup } = tempDir();
    try {
      writeProject(dir);
      const check: DriftCheckOptions = {
        reference: 'reference.csv',
        current: 'log.csv',
        baseDir: dir,
        columns: ['x', 'tied', 'color', 'mixed', 'flag', 'seen', 'empty'],
        timeColumn: 'time',
        window: 'monthly',
        predictionColumn: 'predicted',
        digestCurrent: false,
      };
      const alone = await runDriftCheck(check);
      const schema = await readSchema(join(dir, 'log.csv'));
      const { read, dates } = sideColumns(schema, check.columns, 'time');
      const threaded = new DriftFeed(read, true, true, worker);
      const thread = (threaded as unknown as { worker: Worker | undefined }).worker;
      assert.ok(thread, 'the feed runs on a worker');
      // the reading thread's terminate() made a no-op: the worker must end on its own (ended here if it does not)
      const terminate = thread.terminate.bind(thread);
      thread.terminate = () => Promise.resolve(-1);
      after(() => terminate());
      const exited = new Promise<number | string>((done) => {
        thread.once('exit', done);
        setTimeout(() => done('the worker was still running 10 s after its reply'), 10_000).unref();
      });
      const fedCheck = runDriftCheck({ ...check, fedCurrent: threaded });
      await readFedLog(dir, threaded, true);
      threaded.end(schema, dates);
      assert.deepEqual(await fedCheck, alone);
      assert.equal(await exited, 0);
    } finally {
      cleanup();
    }
  });

  it('the fed check’s reference read through the typed reader equals collectSide’s, samples in the same order: one file, several batches, a glob of two files', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeProject(dir);
      const [header, ...rows] = readFileSync(join(dir, 'log.csv'), 'utf8').split('\n');
      mkdirSync(join(dir, 'parts'));
      writeFileSync(join(dir, 'parts', 'a.csv'), [header, ...rows.slice(0, 7000)].join('\n'));
      writeFileSync(join(dir, 'parts', 'b.csv'), [header, ...rows.slice(7000)].join('\n'));
      for (const [path, columns] of [
        ['reference.csv', undefined],
        ['log.csv', ['x', 'tied', 'color', 'mixed', 'flag', 'seen', 'empty', 'sex', 'proba_no']],
        ['parts/*.csv', undefined],
      ] as const) {
        const options = columns ? { columns } : {};
        const typed = await readReferenceSide(join(dir, path), options);
        const cells = await collectSide(join(dir, path), options);
        assert.ok(typed.rows > 0);
        assert.deepStrictEqual(typed, cells, path);
        // a report without configured columns lists them in the reference's order
        assert.deepEqual([...typed.samples.keys()], [...cells.samples.keys()], `${path}: order`);
      }
    } finally {
      cleanup();
    }
  });

  it('monitorModel (one read) reports what each check computes reading the log on its own', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { monitoring } = writeProject(dir);
      const result = await monitorModel({ model: 'm', monitoring, baseDir: dir });
      assert.deepEqual(result.errors, []);
      const logOptions = {
        predictions: join(dir, 'log.csv'),
        idColumn: 'id',
        predictionColumn: 'predicted',
        probabilityPrefix: 'proba_',
        timeColumn: 'time',
        window: 'monthly' as const,
        baseDir: dir,
      };
      const joined = await joinLabels({ ...logOptions, labels: join(dir, 'labels.csv'), labelColumn: 'label', groups: ['sex'] });
      const performance = computePerformance(joined, { task: detectTask(joined, undefined), thresholds: monitoring.performance! });
      assert.deepEqual(result.performance, performance);
      assert.deepEqual(result.fairness, computeFairness(joined, { positiveClass: 'yes' }));
      const estimated = await computeEstimatedPerformance({
        log: logOptions,
        reference: join(dir, 'reference.csv'),
        labelColumn: 'label',
        config: monitoring.estimated_performance!,
        minRows: DEFAULT_MIN_ROWS,
        realised: performance,
      });
      assert.deepEqual(result.estimated_performance, estimated);
      const drift = await runDriftCheck({
        reference: 'reference.csv',
        current: 'log.csv',
        baseDir: dir,
        columns: monitoring.columns!,
        timeColumn: 'time',
        window: 'monthly',
        predictionColumn: 'predicted',
        drift: {},
        digestCurrent: false,
      });
      assert.deepEqual(result.drift, { dataset_drift: drift.report.dataset_drift, drift_share: drift.report.drift_share, headline: driftHeadline(drift, 'm') });
      assert.ok(drift.report.compared_columns >= 4);
    } finally {
      cleanup();
    }
  });

  it('the log is read into typed columns (probabilities, window and group codes) equal to the log parsed in the test, over batches and files', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeProject(dir);
      // the same rows split over two files of a folder (the second file's rows are numbered after the first's)
      const [header, ...rows] = readFileSync(join(dir, 'log.csv'), 'utf8').split('\n');
      mkdirSync(join(dir, 'logs'));
      writeFileSync(join(dir, 'logs', 'a.csv'), [header, ...rows.slice(0, 10_500)].join('\n'));
      writeFileSync(join(dir, 'logs', 'b.csv'), [header, ...rows.slice(10_500)].join('\n'));
      const log = await readPredictionLog({
        predictions: join(dir, 'logs'),
        idColumn: 'id',
        predictionColumn: 'predicted',
        probabilityPrefix: 'proba_',
        timeColumn: 'time',
        window: 'monthly',
        groups: ['sex', 'tied'],
        baseDir: dir,
      });
      const names = header!.split(',');
      const col = (name: string): number => names.indexOf(name);
      assert.equal(log.rows, rows.length);
      assert.deepEqual(log.classes, ['no', 'yes']);
      assert.equal(log.windowOf.codes.length, rows.length);
      assert.deepEqual(
        log.proba.map((p) => p.length),
        [rows.length, rows.length],
      );
      const windowCount = new Map<string | undefined, number>();
      rows.forEach((line, row) => {
        const cells = line.split(',');
        // the window: the month of a time that has a date (none for an empty or unreadable time)
        const time = cells[col('time')]!;
        const expected = /^\d{4}-\d{2}-\d{2}/.test(time) ? `${time.slice(0, 7)}-01` : undefined;
        const window = windowAt(log.windowOf, row);
        assert.equal(window, expected, `row ${row} window`);
        windowCount.set(window, (windowCount.get(window) ?? 0) + 1);
        assert.equal(log.proba[0]![row], Number(cells[col('proba_no')]), `row ${row} proba_no`);
        assert.equal(log.proba[1]![row], Number(cells[col('proba_yes')]), `row ${row} proba_yes`);
        const sex = cells[col('sex')]!;
        assert.equal(log.groups[0]!.values[log.groups[0]!.codes[row]!], sex === '' ? '(missing)' : sex, `row ${row} sex`);
        assert.equal(log.groups[1]!.values[log.groups[1]!.codes[row]!], cells[col('tied')], `row ${row} tied`);
        assert.equal(log.predicted[row], cells[col('predicted')]);
        assert.equal(log.rowOf.get(Number(cells[col('id')])), row);
      });
      // one string per distinct group value and window, every window once
      assert.deepEqual([...log.groups[0]!.values].sort(), ['(missing)', 'female', 'male']);
      assert.equal(new Set(log.groups[1]!.values).size, log.groups[1]!.values.length);
      assert.deepEqual(log.windows, [...windowCount.keys()].filter((w) => w !== undefined).sort());
      assert.ok((windowCount.get(undefined) ?? 0) > 0, 'some rows have no usable time');
    } finally {
      cleanup();
    }
  });
});

describe('drift feed: a window is sorted once the log has moved past it (FedSideCollector)', () => {
  it('a log in time order with stragglers: every window and the whole column equal a plain sort of their rows', () => {
    const next = random(17);
    const starts = ['2025-01-01', '2025-02-01', '2025-03-01', '2025-04-01'];
    const collector = new FedSideCollector(['x', 'c'], true);
    const partOf = new Map<string, number>();
    const expected = new Map<string, number[]>(starts.map((s) => [s, []]));
    const all: number[] = [];
    const rowsPerBatch = 20_000; // above the radix sort's threshold: the sort settle() runs is the radix one
    // batches 0–1 window 1, 2–3 window 2 (+ a straggler of window 1 in batch 3), 4 window 3, 5 windows 3 and 4 with two of window 1
    const plan: string[][] = [[starts[0]!], [starts[0]!], [starts[1]!], [starts[1]!, starts[0]!], [starts[2]!], [starts[2]!, starts[3]!, starts[0]!]];
    for (const windows of plan) {
      const values = new Float64Array(rowsPerBatch);
      const parts = new Int32Array(rowsPerBatch);
      const newParts: string[] = [];
      for (let i = 0; i < rowsPerBatch; i++) {
        // most rows in the batch's first window, a few (1%) in the others it lists
        const start = windows.length > 1 && next() < 0.01 ? windows[1 + Math.floor(next() * (windows.length - 1))]! : windows[0]!;
        let k = partOf.get(start);
        if (k === undefined) {
          partOf.set(start, (k = partOf.size));
          newParts.push(start);
        }
        parts[i] = k;
        const v = next() < 0.01 ? Number.NaN : Math.round((next() * 8 - 4) * 1e5) / 1e5;
        values[i] = v;
        if (v === v) {
          expected.get(start)!.push(v);
          all.push(v);
        }
      }
      const codes = new Int32Array(rowsPerBatch).map(() => Math.floor(next() * 3));
      collector.add({
        rows: rowsPerBatch,
        parts,
        newParts,
        columns: [
          { kind: 'numbers', values },
          { kind: 'texts', codes, dictionary: ['a', 'b', 'c'] },
        ],
      });
    }
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'number' },
        { name: 'c', type: 'string' },
      ],
    };
    const side = collector.finish(schema, []);
    const sortedOf = (values: number[]): number[] => Array.from(Float64Array.from(values).sort());
    const whole = side.samples.get('x')!;
    assert.equal(whole.kind, 'numeric');
    assert.deepEqual(Array.from((whole as { sorted: Float64Array }).sorted), sortedOf(all));
    assert.deepEqual(
      side.windows.map((w) => w.start),
      starts,
    );
    for (const w of side.windows) {
      const sample = w.side.samples.get('x') as { kind: string; sorted: Float64Array; missing: number };
      assert.equal(sample.kind, 'numeric', w.start);
      assert.deepEqual(Array.from(sample.sorted), sortedOf(expected.get(w.start)!), `window ${w.start}`);
      assert.equal(w.side.samples.get('c')!.kind, 'categorical');
    }
  });
});
