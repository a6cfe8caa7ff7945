import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TransferListItem, Worker } from 'node:worker_threads';
import type { ModelMonitoring } from '../../src/core/drift/monitoringSchema';
import { adoptSpare, ESTIMATE_YOUNG_GENERATION_MB, FEED_YOUNG_GENERATION_MB, startSpares } from '../../src/core/drift/spareWorkers';
import { computeEstimatedPerformance } from '../../src/core/monitoring/estimatedPerformance';
import { EstimateThread } from '../../src/core/monitoring/estimateThread';
import { MonitoringInputError, readPredictionLog } from '../../src/core/monitoring/labels';
import { monitorModel } from '../../src/core/monitoring/monitor';
import { DEFAULT_MIN_ROWS } from '../../src/core/monitoring/performance';
import { seededRandom as random } from '../../src/core/sampling/seededRandom';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

/**
 * `mloop monitor` estimates performance (CBPE) on a thread of its own: the reference is read and fitted there while
 * the main thread reads the predictions log, and the windows are estimated there while the main thread joins the
 * labels and measures performance and groups (src/core/monitoring/estimateThread.ts). The thread runs the worker
 * bundle the build makes (dist/driftWorker.js); the report must be the one of the serial path, byte for byte, and
 * bad input in the thread's part must name the file and row and leave no report behind.
 */
const WORKER = resolve(__dirname, '../../../dist/driftWorker.js');

function writeProject(dir: string): ModelMonitoring {
  const next = random(1818);
  const header = 'id,time,x,sex,predicted,proba_a,proba_b,proba_c';
  const row = (i: number, time: string, shift: number): string => {
    const raw = [next() + shift, next(), next()];
    const sum = raw[0]! + raw[1]! + raw[2]!;
    const p = raw.map((v) => Number((v / sum).toFixed(4)));
    p[2] = Number((1 - p[0]! - p[1]!).toFixed(4));
    const best = p.indexOf(Math.max(...p));
    return `${i},${time},${(next() * 4).toFixed(2)},${next() < 0.5 ? 'f' : 'm'},${'abc'[best]},${p.join(',')}`;
  };
  const rows: string[] = [];
  const labels = ['id,label'];
  for (let i = 0; i < 12_000; i++) {
    const month = 1 + Math.floor(next() * 5);
    rows.push(row(i, `2025-0${month}-1${Math.floor(next() * 9)}T08:00:00`, month * 0.1));
    if (next() < 0.6) labels.push(`${i},${'abc'[Math.floor(next() * 3)]}`);
  }
  writeFileSync(join(dir, 'log.csv'), [header, ...rows].join('\n'));
  writeFileSync(join(dir, 'labels.csv'), labels.join('\n'));
  const reference = [`${header},label`];
  for (let i = 0; i < 4000; i++) {
    const r = row(50_000 + i, '2024-12-01T00:00:00', 0);
    const predicted = r.split(',')[4]!;
    reference.push(`${r},${next() < 0.7 ? predicted : 'abc'[Math.floor(next() * 3)]}`);
  }
  writeFileSync(join(dir, 'reference.csv'), reference.join('\n'));
  return {
    reference: 'reference.csv',
    current: 'log.csv',
    time_column: 'time',
    window: 'monthly',
    labels: 'labels.csv',
    prediction: 'predicted',
    groups: ['sex'],
    positive_class: 'a',
    performance: { accuracy: { min: 0.5 } },
    estimated_performance: { reference: 'reference.csv', accuracy: { min: 0.9 } },
  } as ModelMonitoring;
}

/** The predictions log writeProject writes, as computeEstimatedPerformance reads it. */
const logSettings = (dir: string) =>
  ({
    predictions: join(dir, 'log.csv'),
    idColumn: 'id',
    predictionColumn: 'predicted',
    probabilityPrefix: 'proba_',
    timeColumn: 'time',
    window: 'monthly',
    baseDir: dir,
  }) as const;

describe('monitoring: CBPE on a thread of its own gives the serial report', function () {
  this.timeout(120_000);
  before(() => assert.ok(existsSync(WORKER), `${WORKER} is missing: build first (node scripts/build.mjs)`));

  it('monitorModel with the thread and without it: the same result, byte for byte, with realised values beside', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const monitoring = writeProject(dir);
      const threaded = await monitorModel({ model: 'm', monitoring, baseDir: dir, estimateWorkerFile: WORKER });
      const serial = await monitorModel({ model: 'm', monitoring, baseDir: dir, inThread: false });
      assert.deepEqual(threaded.errors, []);
      assert.equal(JSON.stringify(threaded), JSON.stringify(serial));
      const estimated = threaded.estimated_performance!;
      assert.equal(estimated.windows.length, 5);
      assert.ok(estimated.windows.every((w) => w.status === 'ok' && w.realised?.accuracy !== undefined && w.realised_n! > 0));
      assert.ok(threaded.alerts.some((a) => a.metric === 'estimated accuracy'));
      // and the serial path is computeEstimatedPerformance reading the log on its own
      const alone = await computeEstimatedPerformance({
        log: logSettings(dir),
        reference: join(dir, 'reference.csv'),
        labelColumn: 'label',
        config: monitoring.estimated_performance!,
        minRows: DEFAULT_MIN_ROWS,
        realised: serial.performance!,
      });
      assert.equal(JSON.stringify(serial.estimated_performance), JSON.stringify(alone));
    } finally {
      cleanup();
    }
  });

  it('EstimateThread.estimate equals computeEstimatedPerformance on the same log (the thread really runs: it has a worker)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const monitoring = writeProject(dir);
      const read = { reference: join(dir, 'reference.csv'), predictionColumn: 'predicted', probabilityPrefix: 'proba_', labelColumn: 'label', baseDir: dir };
      const thread = EstimateThread.start(read, undefined, undefined, WORKER);
      assert.ok(thread, 'the thread starts when its bundle is there');
      const log = await readPredictionLog({
        predictions: join(dir, 'log.csv'),
        predictionColumn: 'predicted',
        probabilityPrefix: 'proba_',
        timeColumn: 'time',
        window: 'monthly',
        baseDir: dir,
      });
      const settings = { reference: read.reference, probabilityPrefix: 'proba_', config: monitoring.estimated_performance!, minRows: DEFAULT_MIN_ROWS };
      const here = await computeEstimatedPerformance({
        log: logSettings(dir),
        reference: read.reference,
        labelColumn: 'label',
        config: monitoring.estimated_performance!,
        minRows: DEFAULT_MIN_ROWS,
        read: log,
      });
      const rows = log.rows;
      const fromThread = await thread.estimate(log, settings);
      assert.equal(JSON.stringify(fromThread), JSON.stringify(here));
      // the log's probability and window columns moved to the thread, not copied: the caller's are empty now
      assert.ok(rows > 10_000);
      assert.deepEqual(
        log.proba.map((p) => p.length),
        [0, 0, 0],
      );
      assert.equal(log.windowOf.codes.length, 0);
      assert.equal(EstimateThread.start(read, undefined, undefined, join(dir, 'no-such-worker.js')), undefined);
    } finally {
      cleanup();
    }
  });

  it("the log given batch by batch as it is read (rowsFeed) gives computeEstimatedPerformance's report exactly: several batches, windows across them, rows without a time, a prediction of no class", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const next = random(2727);
      // probabilities of three classes (calibrated isotonically: each row's calibrated values are renormalised), in
      // five monthly windows whose rows are spread over every 10,000-row batch of the read
      const cell = (shift: number): string => {
        const raw = [next() + shift, next(), next() * next()];
        const sum = raw[0]! + raw[1]! + raw[2]!;
        return raw.map((v) => v / sum).join(',');
      };
      const header = 'id,time,predicted,proba_a,proba_b,proba_c';
      const rows: string[] = [];
      for (let i = 0; i < 47_311; i++) {
        const month = 1 + Math.floor(next() * 5);
        const time = next() < 0.01 ? '' : `2025-0${month}-0${1 + Math.floor(next() * 9)}T08:00:00`;
        const predicted = next() < 0.002 ? 'z' : 'abc'[Math.floor(next() * 3)]!;
        rows.push(`${i},${time},${predicted},${cell(month * 0.05)}`);
      }
      writeFileSync(join(dir, 'log.csv'), [header, ...rows].join('\n'));
      const reference = [`${header},label`];
      for (let i = 0; i < 3000; i++) {
        const p = cell(0);
        const best = 'abc'[[0, 1, 2].sort((x, y) => Number(p.split(',')[y]) - Number(p.split(',')[x]))[0]!]!;
        reference.push(`${i},2024-12-01T00:00:00,${best},${p},${next() < 0.6 ? best : 'abc'[Math.floor(next() * 3)]}`);
      }
      writeFileSync(join(dir, 'reference.csv'), reference.join('\n'));
      const config = { reference: 'reference.csv', calibration: 'isotonic' as const, accuracy: { min: 0.9 } };
      const read = { reference: join(dir, 'reference.csv'), predictionColumn: 'predicted', probabilityPrefix: 'proba_', labelColumn: 'label', baseDir: dir };
      const thread = EstimateThread.start(read, config.calibration, undefined, WORKER)!;
      assert.equal(await thread.fitted, true, 'fitted: the rows read from now on are summed there as they come');
      const given: number[] = [];
      const log = await readPredictionLog({
        ...logSettings(dir),
        rowsFeed: {
          push: (rowsRead, from, to) => {
            given.push(to - from);
            thread.rowsFeed.push(rowsRead, from, to);
          },
        },
      });
      assert.equal(log.rows, 47_311);
      assert.equal(given.length, 5, 'read in five batches, each given to the thread as it was read');
      assert.equal(
        given.reduce((a, b) => a + b),
        log.rows,
      );
      const settings = { reference: read.reference, probabilityPrefix: 'proba_', config, minRows: DEFAULT_MIN_ROWS };
      const streamed = await thread.estimate(log, settings);
      const here = await computeEstimatedPerformance({
        log: logSettings(dir),
        reference: read.reference,
        labelColumn: 'label',
        config,
        minRows: DEFAULT_MIN_ROWS,
      });
      assert.equal(JSON.stringify(streamed), JSON.stringify(here));
      assert.deepEqual(
        here.windows.map((w) => w.start),
        ['2025-01-01', '2025-02-01', '2025-03-01', '2025-04-01', '2025-05-01'],
      );
      assert.ok(here.windows.every((w) => w.status === 'ok' && w.n > 9000));
      assert.ok(here.calibration.every((c) => c.applied));
      assert.ok(here.notes.some((n) => /prediction\(s\) name a class without a probability column/.test(n)));
      // the log's probability and window columns are gone from this thread, as when they move
      assert.deepEqual(
        log.proba.map((p) => p.length),
        [0, 0, 0],
      );
    } finally {
      cleanup();
    }
  });

  it("a log given batch by batch whose probability columns are not the reference's: the serial path's error, word for word", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const monitoring = writeProject(dir);
      const rows = readFileSync(join(dir, 'log.csv'), 'utf8').split('\n');
      // proba_c renamed: the log's classes are a, b, d
      writeFileSync(join(dir, 'other.csv'), [rows[0]!.replace('proba_c', 'proba_d'), ...rows.slice(1)].join('\n'));
      const read = { reference: join(dir, 'reference.csv'), predictionColumn: 'predicted', probabilityPrefix: 'proba_', labelColumn: 'label', baseDir: dir };
      const settings = { reference: read.reference, probabilityPrefix: 'proba_', config: monitoring.estimated_performance!, minRows: DEFAULT_MIN_ROWS };
      const thread = EstimateThread.start(read, undefined, undefined, WORKER)!;
      assert.equal(await thread.fitted, true);
      const log = await readPredictionLog({ ...logSettings(dir), predictions: join(dir, 'other.csv'), rowsFeed: thread.rowsFeed });
      const serial = await computeEstimatedPerformance({
        log: { ...logSettings(dir), predictions: join(dir, 'other.csv') },
        reference: read.reference,
        labelColumn: 'label',
        config: monitoring.estimated_performance!,
        minRows: DEFAULT_MIN_ROWS,
      }).then(
        () => assert.fail('the serial path refuses the log'),
        (error: Error) => error,
      );
      assert.match(serial.message, /differ from the reference's \(a, b, c\)/);
      await assert.rejects(thread.estimate(log, settings), (error) => error instanceof MonitoringInputError && error.message === serial.message);
    } finally {
      cleanup();
    }
  });

  it("bad input in the thread's part (a reference row's probabilities, an empty label) names the file and row; no estimated report is stored", async () => {
    const { dir, cleanup } = tempDir();
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const monitoring = writeProject(dir);
      const lines = readFileSync(join(dir, 'reference.csv'), 'utf8').split('\n');
      // data row 17: probabilities summing to 1.5
      const cells = lines[17]!.split(',');
      cells[5] = '0.9000';
      cells[6] = '0.6000';
      cells[7] = '0.0000';
      lines[17] = cells.join(',');
      writeFileSync(join(dir, 'reference.csv'), lines.join('\n'));
      for (const inThread of [true, false]) {
        const result = await monitorModel({ model: 'm', monitoring, baseDir: dir, store, drift: false, inThread, estimateWorkerFile: WORKER });
        const error = result.errors.find((e) => e.check === 'estimated_performance');
        assert.ok(error, `an error of the estimated_performance check (${inThread ? 'thread' : 'serial'})`);
        assert.match(error.message, /reference\.csv/);
        assert.match(error.message, /row 17\b/);
        assert.equal(result.estimated_performance, undefined);
        assert.ok(result.performance, 'the other checks still report');
      }
      const kinds = new MonitoringReportRepository(store).list({ modelName: 'm' }).map((r) => r.kind);
      assert.deepEqual(kinds.sort(), ['fairness', 'fairness', 'performance', 'performance']);
      // an empty label on the reference's data row 9: the fitting's error, after the log's checks
      const fixed = readFileSync(join(dir, 'reference.csv'), 'utf8').split('\n');
      fixed[17] = lines[18]!;
      fixed[9] = fixed[9]!.replace(/,[abc]$/, ',');
      writeFileSync(join(dir, 'reference.csv'), fixed.join('\n'));
      const threaded = await monitorModel({ model: 'm', monitoring, baseDir: dir, drift: false, estimateWorkerFile: WORKER });
      const serial = await monitorModel({ model: 'm', monitoring, baseDir: dir, drift: false, inThread: false });
      assert.deepEqual(threaded.errors, serial.errors);
      assert.match(threaded.errors[0]!.message, /reference\.csv data row 9: empty label/);
    } finally {
      store.close();
      cleanup();
    }
  });

  it('cancelled: the thread stops and the estimate rejects with the reason', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const monitoring = writeProject(dir);
      const controller = new AbortController();
      const read = { reference: join(dir, 'reference.csv'), predictionColumn: 'predicted', probabilityPrefix: 'proba_', labelColumn: 'label', baseDir: dir };
      const thread = EstimateThread.start(read, undefined, controller.signal, WORKER)!;
      const log = await readPredictionLog({ predictions: join(dir, 'log.csv'), predictionColumn: 'predicted', probabilityPrefix: 'proba_', baseDir: dir });
      const reason = new Error('stopped by the test');
      controller.abort(reason);
      await assert.rejects(
        thread.estimate(log, { reference: read.reference, probabilityPrefix: 'proba_', config: monitoring.estimated_performance!, minRows: DEFAULT_MIN_ROWS }),
        (error) => error === reason,
      );
      assert.equal(EstimateThread.start(read, undefined, controller.signal, WORKER), undefined, 'not started once cancelled');
      assert.ok(!(reason instanceof MonitoringInputError));
    } finally {
      cleanup();
    }
  });
});

describe('monitor --once: spare threads started before the check (src/core/drift/spareWorkers.ts)', function () {
  this.timeout(120_000);
  before(() => assert.ok(existsSync(WORKER), `${WORKER} is missing: build first (node scripts/build.mjs)`));
  const spares = (): Map<string, { worker: Worker }> => (globalThis as Record<symbol, Map<string, { worker: Worker }>>)[Symbol.for('mloop.spareWorkers')]!;

  it('the CBPE spare is handed its work and gives the serial result; none is left running after the check', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const monitoring = writeProject(dir);
      startSpares(WORKER, [
        { kind: 'estimate', youngMb: ESTIMATE_YOUNG_GENERATION_MB },
        { kind: 'feed', youngMb: FEED_YOUNG_GENERATION_MB },
      ]);
      const estimate = spares().get('estimate')!.worker;
      const exits = [...spares().values()].map(({ worker }) => new Promise((done) => worker.once('exit', done)));
      const posted: unknown[] = [];
      const post = estimate.postMessage.bind(estimate);
      estimate.postMessage = (message: unknown, transfer?: readonly TransferListItem[]) => {
        posted.push(message);
        post(message, transfer);
      };
      const withSpares = await monitorModel({ model: 'm', monitoring, baseDir: dir, estimateWorkerFile: WORKER });
      const serial = await monitorModel({ model: 'm', monitoring, baseDir: dir, inThread: false });
      assert.equal(JSON.stringify(withSpares), JSON.stringify(serial));
      assert.equal((posted[0] as { standby?: { mode?: string } }).standby?.mode, 'estimate', 'the spare was given the CBPE work');
      assert.equal(spares().size, 0, 'every spare taken or released');
      await Promise.all(exits); // and each one ended (the process would not wait for them, but they hold memory)
    } finally {
      cleanup();
    }
  });

  it('a spare of another bundle or other limits is not used, and ends', async () => {
    startSpares(WORKER, [{ kind: 'estimate', youngMb: ESTIMATE_YOUNG_GENERATION_MB }]);
    let exited = new Promise((done) => spares().get('estimate')!.worker.once('exit', done));
    assert.equal(adoptSpare('estimate', join(dirname(WORKER), 'elsewhere', 'driftWorker.js'), ESTIMATE_YOUNG_GENERATION_MB, {}), undefined);
    await exited;
    startSpares(WORKER, [{ kind: 'estimate', youngMb: ESTIMATE_YOUNG_GENERATION_MB }]);
    exited = new Promise((done) => spares().get('estimate')!.worker.once('exit', done));
    assert.equal(adoptSpare('estimate', WORKER, ESTIMATE_YOUNG_GENERATION_MB + 1, {}), undefined);
    await exited;
    assert.equal(spares().size, 0);
  });
});
