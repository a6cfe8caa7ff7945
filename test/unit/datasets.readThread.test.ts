import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { readTypedBatchesInThread, type ThreadReadOptions, type TypedReadOptions } from '../../src/core/datasets/readThread';
import { readTypedBatches, type DatasetReadError } from '../../src/core/datasets/readers';
import type { TypedBatch } from '../../src/core/datasets/typedCsv';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

/**
 * The predictions log's scan on a thread of its own (src/core/datasets/readThread.ts) against the read on the calling
 * thread (readTypedBatches): generated files through every column kind, quoted fields across lines, CR LF, files cut
 * at odd sizes, several batch sizes — batch by batch the same rows, columns, kinds, values and file-wide prefix codes;
 * bad input with the same error (class, code, message, line); cancellation ends the thread; a thread that cannot
 * start leaves the read to this one. The thread runs the bundle the build makes (dist/scanWorker.js).
 */
const WORKER = resolve(__dirname, '../../../dist/scanWorker.js');
const CLI = resolve(__dirname, '../../../dist/cli.js');
/** Every file on the thread, whatever its size. */
const ALWAYS: ThreadReadOptions = { workerFile: WORKER, spareMinBytes: 0, newMinBytes: 0 };

/** A batch as plain data (typed arrays as arrays; a prefix column's dictionary as it was when the batch came). */
function plain(batch: TypedBatch): unknown {
  const columns: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(batch.columns)) {
    if (c.kind === 'numbers' || c.kind === 'decimals') columns[name] = { ...c, values: Array.from(c.values) };
    else if (c.kind === 'texts' || c.kind === 'prefixes') columns[name] = { kind: c.kind, codes: Array.from(c.codes), dictionary: [...c.dictionary] };
    else columns[name] = c;
  }
  return { rowOffset: batch.rowOffset, rows: batch.rows, columns };
}

async function batchesOf(read: AsyncIterable<TypedBatch>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const batch of read) out.push(plain(batch));
  return out;
}

async function errorOf(read: AsyncIterable<TypedBatch>): Promise<unknown> {
  try {
    for await (const _batch of read);
  } catch (error) {
    const e = error as DatasetReadError;
    return { class: e.constructor.name, name: e.name, code: e.code, message: e.message, line: e.line, byteOffset: e.byteOffset, file: e.file };
  }
  return 'no error';
}

/** A log of every column kind: ids (canonical integers and other ids), a time (prefixes), numbers, decimals, texts, mixed cells, quoted fields. */
function generatedLog(seed: number, rows: number, crlf: boolean): string {
  const next = seededRandom(seed);
  const eol = crlf ? '\r\n' : '\n';
  const lines = ['id,time,score,x,y,region,mixed,note,extra'];
  for (let i = 0; i < rows; i++) {
    const r = next();
    const id = r < 0.05 ? `id-${i}` : r < 0.08 ? `00${i}` : r < 0.1 ? '' : String(i * 7 - 300);
    const day = 1 + (Math.floor(i / 97) % 28);
    const time =
      next() < 0.03
        ? ''
        : next() < 0.02
          ? '2025-01'
          : `2025-${String(1 + (Math.floor(i / 700) % 12)).padStart(2, '0')}-${String(day).padStart(2, '0')}T0${i % 10}:00:00`;
    const score = next() < 0.02 ? '' : next().toFixed(6);
    const x = next() < 0.01 ? 'NA' : next() < 0.01 ? '1e-3' : (next() * 200 - 100).toFixed(3);
    const y = next() < 0.005 ? 'n/a text' : (next() * 10).toFixed(1);
    const region = ['north', 'south', 'é-est', '', '"quoted, region"'][Math.floor(next() * 5)]!;
    const mixed = next() < 0.5 ? String(Math.floor(next() * 9)) : next() < 0.5 ? 'true' : 'word';
    const note = next() < 0.1 ? `"a note${eol}over two lines, with ""quotes"""` : next() < 0.5 ? 'plain' : '';
    lines.push([id, time, score, x, y, region, mixed, note, String(i % 3)].join(','));
  }
  return lines.join(eol) + eol;
}

const COLUMN_OPTIONS: Omit<TypedReadOptions, 'batchRows'> = {
  columns: ['id', 'time', 'score', 'x', 'y', 'region', 'mixed', 'note'],
  prefixes: { time: 10 },
  decimals: ['x', 'y'],
  ids: ['id'],
};

describe('datasets: the scan on a thread of its own (readTypedBatchesInThread)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    assert.ok(existsSync(WORKER), `${WORKER} is missing: run the build first`);
    ({ dir, cleanup } = tempDir('mloop-readthread-'));
  });
  after(() => cleanup());

  it('gives the batches of the read on this thread: every column kind, quoted lines, CR LF, odd sizes, several batch sizes', async () => {
    let compared = 0;
    for (const [seed, crlf] of [
      [1, false],
      [2, true],
    ] as const) {
      const text = Buffer.from(generatedLog(seed, 9000, crlf));
      // whole, and cut at odd sizes (inside a record, a quoted field, a CR LF pair, a two-byte character)
      for (const cut of [text.length, 200_001, 333_333, 77_777, 4099]) {
        const file = join(dir, `log-${seed}-${cut}.csv`);
        writeFileSync(file, text.subarray(0, Math.min(cut, text.length)));
        for (const batchRows of [1000, 4096, 7, 20_000]) {
          const options = { ...COLUMN_OPTIONS, batchRows };
          const serial = await errorOf(readTypedBatches(file, options));
          if (serial !== 'no error') {
            // a cut inside a quoted field or a character: the same error either way
            assert.deepEqual(await errorOf(readTypedBatchesInThread(file, options, ALWAYS)), serial, `${file} ${batchRows}`);
            continue;
          }
          const expected = await batchesOf(readTypedBatches(file, options));
          let worker: Worker | undefined;
          const threaded = await batchesOf(readTypedBatchesInThread(file, options, { ...ALWAYS, onWorker: (w) => (worker = w) }));
          assert.ok(worker, 'read on a thread');
          assert.equal(threaded.length, expected.length);
          threaded.forEach((b, k) => assert.deepStrictEqual(b, expected[k], `${file} batchRows ${batchRows} batch ${k}`));
          compared += threaded.length;
        }
      }
    }
    assert.ok(compared > 200, `${compared} batches compared`);
  });

  it('frees each batch it gave once the next is asked for (release), after the caller read it', async () => {
    const file = join(dir, 'release.csv');
    writeFileSync(file, generatedLog(3, 3000, false));
    const kept: Float64Array[] = [];
    let rows = 0;
    for await (const batch of readTypedBatchesInThread(file, { ...COLUMN_OPTIONS, batchRows: 500 }, { ...ALWAYS, release: true })) {
      const score = batch.columns.score!;
      assert.equal(score.kind, 'numbers');
      assert.equal(score.values.length, batch.rows); // readable during its turn
      kept.push(score.values);
      rows += batch.rows;
    }
    assert.equal(rows, 3000);
    assert.ok(
      kept.slice(0, -1).every((values) => values.length === 0),
      'every batch but the last freed',
    );
  });

  it('fails as the read on this thread does: a bad quote at its line, invalid UTF-8, an empty file, a duplicate header', async () => {
    const cases: [string, Buffer][] = [
      ['quote.csv', Buffer.from(`${generatedLog(4, 5000, false)}1,2025-01-01,0.5,1,1,north,1,"unclosed,0\n2,2025-01-01,0.5,1,1,north,1,x,0\n`)],
      // a character after a closing quote at line 2502, in the middle of the file
      ['quote-mid.csv', Buffer.from(generatedLog(4, 5000, false).split('\n').toSpliced(2501, 0, '1,2025-01-01,0.5,1,1,"north"x,1,y,0').join('\n'))],
      ['utf8.csv', Buffer.concat([Buffer.from(generatedLog(5, 6000, false)), Buffer.from([0x31, 0x2c, 0xff, 0xfe, 0x0a])])],
      ['empty.csv', Buffer.alloc(0)],
      ['header.csv', Buffer.from('id,time,score,x,y,region,mixed,note,x\n1,2025-01-01,0.5,1,1,a,1,b,2\n')],
      ['noheader.csv', Buffer.from('id,,score\n1,2,3\n')],
    ];
    for (const [name, bytes] of cases) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const options = { ...COLUMN_OPTIONS, batchRows: 1000 };
      const serial = await errorOf(readTypedBatches(file, options));
      assert.notEqual(serial, 'no error', name);
      if (name.startsWith('quote')) assert.ok((serial as { line?: number }).line! > 100, `${name}: ${JSON.stringify(serial)}`);
      assert.equal((serial as { class: string }).class, 'DatasetReadError');
      let worker: Worker | undefined;
      assert.deepEqual(await errorOf(readTypedBatchesInThread(file, options, { ...ALWAYS, onWorker: (w) => (worker = w) })), serial, name);
      assert.ok(worker, `${name} read on a thread`);
    }
  });

  it('cancellation ends the thread with the read on this thread\u2019s error', async () => {
    const file = join(dir, 'cancel.csv');
    writeFileSync(file, generatedLog(6, 20_000, false));
    const stop = new AbortController();
    let worker: Worker | undefined;
    const read = readTypedBatchesInThread(file, { ...COLUMN_OPTIONS, batchRows: 1000, signal: stop.signal }, { ...ALWAYS, onWorker: (w) => (worker = w) });
    let batches = 0;
    const error = await errorOf(
      (async function* () {
        for await (const batch of read) {
          if (++batches === 2) stop.abort();
          yield batch;
        }
      })(),
    );
    assert.equal(batches, 2);
    assert.deepEqual(error, {
      class: 'DatasetReadError',
      name: 'DatasetReadError',
      code: 'ABORTED',
      message: `Reading ${file} was cancelled`,
      line: undefined,
      byteOffset: undefined,
      file,
    });
    assert.ok(worker);
    // the thread ends (terminated): its exit comes
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error('the scan thread did not end')), 5000);
      worker!.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      if (worker!.threadId === -1) done(); // ended already
    });
  });

  it('a thread that cannot start leaves the read to this thread: the same batches', async () => {
    const file = join(dir, 'fallback.csv');
    writeFileSync(file, generatedLog(7, 4000, true));
    const broken = join(dir, 'broken.js');
    writeFileSync(broken, "throw new Error('this bundle does not load');\n");
    const options = { ...COLUMN_OPTIONS, batchRows: 512 };
    let worker: Worker | undefined;
    const threaded = await batchesOf(readTypedBatchesInThread(file, options, { ...ALWAYS, workerFile: broken, onWorker: (w) => (worker = w) }));
    assert.ok(worker, 'a thread was started');
    assert.deepStrictEqual(threaded, await batchesOf(readTypedBatches(file, options)));
  });

  it('mloop monitor --once --json: the same output, byte for byte, with the log scanned on its thread and without', () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`);
    const project = join(dir, 'project');
    mkdirSync(project);
    const next = seededRandom(28);
    const header = 'id,time,x,z,region,predicted,proba_no,proba_yes';
    const row = (i: number, month: number, shift: number): string => {
      const p = Math.min(0.999, Math.max(0.001, next() * 0.8 + shift / 10));
      const day = String(1 + (i % 28)).padStart(2, '0');
      return `${i},2025-${String(month).padStart(2, '0')}-${day}T12:00:00,${(next() * 3 + shift).toFixed(3)},${(next() * 100).toFixed(2)},${next() < 0.5 ? 'north' : 'south'},${p > 0.5 ? 'yes' : 'no'},${(1 - p).toFixed(6)},${p.toFixed(6)}`;
    };
    // ~5 MB: over the size a spare thread takes the scan from (SPARE_THREAD_MIN_BYTES)
    const log = [header];
    const labels = ['id,label'];
    for (let i = 0; i < 80_000; i++) {
      const month = 1 + Math.floor(i / 6700);
      log.push(row(i, month, month / 12));
      if (i % 3 === 0) labels.push(`${i},${next() < 0.7 ? 'yes' : 'no'}`);
    }
    writeFileSync(join(project, 'log.csv'), `${log.join('\n')}\n`);
    writeFileSync(join(project, 'labels.csv'), `${labels.join('\n')}\n`);
    const reference = [`${header},label`];
    for (let i = 0; i < 3000; i++) reference.push(`${row(1_000_000 + i, 1, 0)},${next() < 0.6 ? 'yes' : 'no'}`);
    writeFileSync(join(project, 'reference.csv'), `${reference.join('\n')}\n`);
    writeFileSync(
      join(project, 'mloop.yaml'),
      [
        'version: 1',
        'project: read-thread',
        'monitoring:',
        '  clf:',
        '    reference: reference.csv',
        '    current: log.csv',
        '    columns: [x, z, region]',
        '    time_column: time',
        '    window: monthly',
        '    labels: labels.csv',
        '    prediction: predicted',
        '    positive_class: "yes"',
        '    groups: [region]',
        '    performance:',
        '      accuracy: { min: 0.5 }',
        '    estimated_performance:',
        '      reference: reference.csv',
        '',
      ].join('\n'),
    );
    const run = (env: NodeJS.ProcessEnv): { code: number | null; stdout: string } => {
      const r = spawnSync(process.execPath, [CLI, 'monitor', '--once', '--no-store', '--json'], {
        cwd: project,
        env: { ...process.env, MLOOP_STORE: '', ...env },
        encoding: 'utf8',
      });
      assert.ok(r.stdout.length > 100, r.stderr);
      return { code: r.status, stdout: r.stdout };
    };
    const threaded = run({});
    const serial = run({ MLOOP_NO_READ_THREAD: '1' });
    assert.equal(threaded.code, serial.code);
    assert.equal(threaded.stdout, serial.stdout);
    const out = JSON.parse(threaded.stdout) as { models: { performance?: { windows: unknown[] } }[] };
    assert.equal(out.models[0]?.performance?.windows.length, 12);
  });
});
