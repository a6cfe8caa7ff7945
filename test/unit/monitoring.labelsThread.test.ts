import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetReadError } from '../../src/core/datasets/readErrors';
import { joinLabels, MonitoringInputError, type JoinOptions, type LabelledPredictions } from '../../src/core/monitoring/labels';
import { LabelsThread } from '../../src/core/monitoring/labelsThread';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

/**
 * `mloop monitor` reads the labels files on a thread of their own while it reads the predictions log, and joins
 * their typed columns after (src/core/monitoring/labelsThread.ts): the join, its counts and every message must be
 * those of the labels read on the calling thread. The thread runs the worker bundle the build makes (dist/driftWorker.js).
 */
const WORKER = resolve(__dirname, '../../../dist/driftWorker.js');

/** The join, or its error, as compared between the two paths. */
async function outcome(
  run: Promise<LabelledPredictions>,
): Promise<{ joined: Record<string, unknown> } | { error: { name: string; message: string; input: boolean; read?: Record<string, unknown> } }> {
  try {
    const j = await run;
    return {
      joined: {
        counts: j.counts,
        unmatchedSample: j.unmatchedSample,
        windows: j.windows,
        labelsMissing: j.labelsMissing,
        truth: j.truth,
        windowOf: j.windowOf,
        predicted: j.predicted,
        truthValues: j.coded?.truthValues,
        codes: j.coded && [...j.coded.truth],
      },
    };
  } catch (error) {
    const e = error as Error;
    const read = e instanceof DatasetReadError ? { code: e.code, file: e.file, line: e.line, row: e.row, byteOffset: e.byteOffset } : undefined;
    return { error: { name: e.name, message: e.message, input: e instanceof MonitoringInputError, ...(read ? { read } : {}) } };
  }
}

/** The same join on this thread and through the labels thread: equal, and the thread's outcome returned. */
async function both(options: JoinOptions): Promise<Awaited<ReturnType<typeof outcome>>> {
  const here = await outcome(joinLabels(options));
  const thread = LabelsThread.start(options, WORKER);
  assert.ok(thread, `the worker bundle ${WORKER} (npm run build)`);
  const there = await outcome(joinLabels(options, undefined, thread.columns));
  assert.deepEqual(there, here);
  return there;
}

describe('monitoring: the labels read on a thread of their own join as on the calling thread', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-labelsthread-')));
  after(() => cleanup());

  const options = (labels: string, predictions = 'predictions.csv'): JoinOptions => ({
    predictions: join(dir, predictions),
    labels: join(dir, labels),
    idColumn: 'id',
    labelColumn: 'label',
    predictionColumn: 'predicted',
    probabilityPrefix: 'proba_',
    timeColumn: 'time',
    window: 'monthly',
    baseDir: dir,
  });

  /** 30,000 predictions (ids 1..30000; a few without a time), labelled in a shuffled order over two files (several batches each). */
  const write = (): { ids: number[]; labelled: Map<number, string> } => {
    const random = seededRandom(27);
    const ids = Array.from({ length: 30_000 }, (_, i) => i + 1);
    const log = ids.map((id) => `${id},${id % 97 === 0 ? '' : `2025-0${1 + (id % 6)}-15`},${id % 3 === 0 ? 'b' : 'a'},${(id % 10) / 10},${1 - (id % 10) / 10}`);
    writeFileSync(join(dir, 'predictions.csv'), `id,time,predicted,proba_a,proba_b\n${log.join('\n')}\n`);
    const shuffled = [...ids].sort(() => random() - 0.5);
    const labelled = new Map<number, string>();
    const rows = shuffled.map((id) => {
      const label = random() < 0.1 ? '' : random() < 0.5 ? 'a' : 'b';
      if (label) labelled.set(id, label);
      return `${id},${label}`;
    });
    rows.push('90001,a', '90002,b'); // ids never predicted
    writeFileSync(join(dir, 'labels-1.csv'), `id,label\n${rows.slice(0, 14_000).join('\n')}\n`);
    writeFileSync(join(dir, 'labels-2.csv'), `id,label\n${rows.slice(14_000).join('\n')}\n`);
    return { ids, labelled };
  };

  it('two labels files of several batches each: the truth of each row, the counts, the ids never predicted', async () => {
    const { ids, labelled } = write();
    const got = await both(options('labels-*.csv'));
    assert.ok('joined' in got);
    const withTime = ids.filter((id) => id % 97 !== 0 && labelled.has(id));
    assert.deepEqual(
      got.joined.truth,
      withTime.map((id) => labelled.get(id)),
    );
    assert.deepEqual(got.joined.counts, {
      predictions: 30_000,
      labels: 30_002,
      joined: labelled.size,
      unlabelled: 30_000 - labelled.size,
      unmatchedLabels: 2,
      withoutTime: labelled.size - withTime.length,
    });
    assert.deepEqual(got.joined.unmatchedSample, ['90001', '90002']);
  });

  it('an id labelled twice, in one file and across two: "first at" names the first file and row', async () => {
    write();
    writeFileSync(join(dir, 'labels-3.csv'), 'id,label\n5,a\n');
    const got = await both(options('labels-*.csv'));
    assert.ok('error' in got && got.error.input);
    assert.match(got.error.message, /^labels-3\.csv data row 1: id 5 is labelled twice \(first at labels-[12]\.csv data row \d+\)$/);
    writeFileSync(join(dir, 'twice.csv'), 'id,label\n7,a\n99999,b\n8,\n99999,a\n');
    assert.deepEqual(await both(options('twice.csv')), {
      error: { name: 'MonitoringInputError', input: true, message: 'twice.csv data row 4: id 99999 is labelled twice (first at twice.csv data row 2)' },
    });
  });

  it('an empty id in a later batch, and a repeated id before it: the first of them in file order', async () => {
    write();
    const rows = Array.from({ length: 25_000 }, (_, i) => `${i + 1},a`);
    rows[21_000] = ',b';
    writeFileSync(join(dir, 'empty.csv'), `id,label\n${rows.join('\n')}\n`);
    assert.deepEqual(await both(options('empty.csv')), {
      error: { name: 'MonitoringInputError', input: true, message: 'empty.csv data row 21001: empty id' },
    });
    rows[15_000] = '3,b';
    writeFileSync(join(dir, 'emptyAfterTwice.csv'), `id,label\n${rows.join('\n')}\n`);
    assert.deepEqual(await both(options('emptyAfterTwice.csv')), {
      error: {
        name: 'MonitoringInputError',
        input: true,
        message: 'emptyAfterTwice.csv data row 15001: id 3 is labelled twice (first at emptyAfterTwice.csv data row 3)',
      },
    });
  });

  it('text ids among numeric ones, fractional and large ids, 300 distinct labels and a class never predicted', async () => {
    const ids = ['x1', '12', 'x2', '2.5', '4294967296', '-3', 'y'];
    writeFileSync(join(dir, 'mixed.csv'), `id,time,predicted,proba_a,proba_b\n${ids.map((id) => `${id},2025-01-01,a,1,0`).join('\n')}\n`);
    const labels = ids.map((id, k) => `${id},c${k}`);
    // 300 distinct labels: codes past one byte; the ids never predicted
    for (let k = 0; k < 300; k++) labels.push(`${1000 + k},v${k}`);
    writeFileSync(join(dir, 'mixedLabels.csv'), `id,label\n${labels.join('\n')}\n`);
    const got = await both(options('mixedLabels.csv', 'mixed.csv'));
    assert.ok('joined' in got);
    assert.deepEqual(
      got.joined.truth,
      ids.map((_, k) => `c${k}`),
    );
    assert.equal((got.joined.truthValues as unknown[]).length, 307);
    assert.deepEqual(got.joined.unmatchedSample, ['1000', '1001', '1002', '1003', '1004']);
    writeFileSync(join(dir, 'mixedTwice.csv'), 'id,label\nx2,a\n12,b\nx2,b\n');
    assert.deepEqual(await both(options('mixedTwice.csv', 'mixed.csv')), {
      error: { name: 'MonitoringInputError', input: true, message: 'mixedTwice.csv data row 3: id x2 is labelled twice (first at mixedTwice.csv data row 1)' },
    });
  });

  it('no labels yet (no file, a glob matching none), a missing column in the second file, a file that does not read', async () => {
    write();
    for (const [labels, said] of [
      ['later/labels.csv', 'later/labels.csv does not exist'],
      ['none-*.csv', 'none-*.csv matches no files'],
    ] as const) {
      const got = await both(options(labels));
      assert.ok('joined' in got);
      assert.equal(got.joined.labelsMissing, `no labels yet: ${said}`);
      assert.equal((got.joined.counts as { joined: number }).joined, 0);
    }
    writeFileSync(join(dir, 'labels-3.csv'), 'id,truth\n1,a\n');
    const missing = await both(options('labels-*.csv'));
    assert.ok('error' in missing && missing.error.input);
    assert.match(missing.error.message, /^labels-3\.csv: no column "label" \(labels need id and label\); its columns: id, truth$/);
    // not UTF-8 in the second file's rows: the read's own message
    writeFileSync(join(dir, 'labels-3.csv'), Buffer.concat([Buffer.from('id,label\n90003,a\n90004,'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
    const unreadable = await both(options('labels-*.csv'));
    assert.ok('error' in unreadable && unreadable.error.name === 'DatasetReadError', JSON.stringify(unreadable));
    assert.match(unreadable.error.message, /labels-3\.csv: byte \d+ is not valid UTF-8/);
    assert.equal(unreadable.error.read?.code, 'NOT_UTF8');
    // a labels path that exists but cannot be listed: an error naming it
    const notListed = await both(options('predictions.csv/x'));
    assert.ok('error' in notListed && notListed.error.input);
    assert.match(notListed.error.message, /^labels .*predictions\.csv\/x/);
  });

  it('cancelled: the thread ends and the join rejects with the reason', async () => {
    write();
    const stop = new AbortController();
    const thread = LabelsThread.start({ ...options('labels-*.csv'), signal: stop.signal }, WORKER)!;
    const reason = new Error('cancelled by the test');
    stop.abort(reason);
    await assert.rejects(thread.columns, (e: unknown) => e === reason);
  });
});
