import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CellValue } from '../../src/core/datasets/readers';
import { computeFairness } from '../../src/core/monitoring/fairness';
import { joinLabels, readPredictionLog, windowAt, type JoinOptions, type LabelledPredictions } from '../../src/core/monitoring/labels';
import { computePerformance, detectTask } from '../../src/core/monitoring/performance';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { tempDir } from './fixtures';

interface Case {
  readonly name: string;
  /** The predicted cell of a row (as written in the CSV) and its label cell (as a JSON value; undefined: not labelled). */
  readonly row: (r: () => number) => { predicted: string; label: CellValue | undefined };
  readonly proba: boolean;
  readonly positiveClass?: string;
}

const CASES: Case[] = [
  {
    // labels 1 and "1" are distinct cells of one class; a few labels empty (not yet there)
    name: 'binary 0/1 with probabilities, labels as numbers and as text',
    row: (r) => {
      const predicted = r() < 0.45 ? '1' : '0';
      const u = r();
      const label = u < 0.15 ? undefined : u < 0.2 ? '' : u < 0.35 ? '1' : u < 0.6 ? 1 : 0;
      return { predicted, label };
    },
    proba: true,
  },
  {
    // a predicted class no label has, a label class never predicted, no probabilities
    name: 'three text classes, one never labelled and one never predicted, a positive class set',
    row: (r) => {
      const u = r();
      const predicted = u < 0.4 ? 'cat' : u < 0.8 ? 'dog' : 'fox';
      const v = r();
      const label = v < 0.1 ? undefined : v < 0.45 ? 'cat' : v < 0.85 ? 'dog' : 'bird';
      return { predicted, label };
    },
    proba: false,
    positiveClass: 'cat',
  },
  {
    // integer predictions below 256 are coded through an array, the others (and fractions, negatives) through a Map
    name: 'class numbers on both sides of the small-integer codes (0, 1, 7, 255, 256, 1000, -1, 2.5)',
    row: (r) => {
      const classes = ['0', '1', '7', '255', '256', '1000', '-1', '2.5'];
      const predicted = classes[Math.floor(r() * classes.length)]!;
      return { predicted, label: r() < 0.1 ? undefined : Number(classes[Math.floor(r() * classes.length)]) };
    },
    proba: false,
    positiveClass: '255',
  },
  {
    name: 'regression: numbers with many distinct labels',
    row: (r) => {
      const y = Math.round(r() * 1000) / 10;
      return { predicted: String(Math.round((y + r() * 10 - 5) * 10) / 10), label: r() < 0.1 ? undefined : y };
    },
    proba: false,
  },
];

/** The arrays of the join of the generated rows, computed here from the rows themselves (log order, labelled rows with a time). */
interface Expected {
  windowOf: string[];
  truth: CellValue[];
  predicted: CellValue[];
  sex: string[];
  island: string[];
  proba1: number[];
  /** Every row's prediction, labelled or not. */
  allPredicted: CellValue[];
}

function write(dir: string, c: Case, seed: number): { options: JoinOptions; expected: Expected } {
  const r = seededRandom(seed);
  const rows = 3000;
  const lines = [c.proba ? 'id,time,predicted,proba_0,proba_1,sex,island' : 'id,time,predicted,sex,island'];
  const labels: string[] = [];
  const expected: Expected = { windowOf: [], truth: [], predicted: [], sex: [], island: [], proba1: [], allPredicted: [] };
  for (let i = 0; i < rows; i++) {
    const { predicted, label } = c.row(r);
    // a few rows without a usable time (left out of the windows), months in time order
    const month = 1 + Math.floor((i / rows) * 6);
    const time = r() < 0.03 ? '' : `2025-0${month}-1${Math.floor(r() * 9)}T10:00:00`;
    // a missing sex as an empty field or a quoted empty one: both are the one group "(missing)"
    const sex = r() < 0.05 ? (r() < 0.5 ? '' : '""') : r() < 0.5 ? 'female' : 'male';
    const island = ['Biscoe', 'Dream', 'Torgersen'][Math.floor(r() * 3)]!;
    const p1 = Math.round(r() * 1000) / 1000;
    lines.push(
      c.proba
        ? `${1000 + i},${time},${predicted},${Math.round((1 - p1) * 1000) / 1000},${p1},${sex},${island}`
        : `${1000 + i},${time},${predicted},${sex},${island}`,
    );
    expected.allPredicted.push(Number.isNaN(Number(predicted)) ? predicted : Number(predicted));
    if (label !== undefined) labels.push(JSON.stringify({ id: 1000 + i, label }));
    if (label !== undefined && label !== '' && time !== '') {
      expected.windowOf.push(`2025-0${month}-01`);
      expected.truth.push(label);
      expected.predicted.push(Number.isNaN(Number(predicted)) ? predicted : Number(predicted));
      expected.sex.push(sex === '' || sex === '""' ? '(missing)' : sex);
      expected.island.push(island);
      expected.proba1.push(p1);
    }
  }
  // labels whose id was never predicted
  labels.push(JSON.stringify({ id: 99_999, label: 1 }), JSON.stringify({ id: 99_998, label: 'cat' }));
  writeFileSync(join(dir, 'predictions.csv'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'labels.jsonl'), `${labels.join('\n')}\n`);
  return {
    options: {
      predictions: join(dir, 'predictions.csv'),
      labels: join(dir, 'labels.jsonl'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      timeColumn: 'time',
      window: 'monthly',
      groups: ['sex', 'island'],
      baseDir: dir,
    },
    expected,
  };
}

/** The join as plain arrays only (no codes): what computePerformance and computeFairness read when a join is built by hand. */
function plain(joined: LabelledPredictions): LabelledPredictions {
  return {
    windowOf: [...joined.windowOf],
    truth: [...joined.truth],
    predicted: [...joined.predicted],
    proba: new Map(joined.proba),
    groups: new Map(joined.groups),
    counts: joined.counts,
    unmatchedSample: joined.unmatchedSample,
    windows: joined.windows,
  };
}

describe('monitoring: the coded join (typed columns) gives the arrays and the reports of the plain join', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-codedjoin-')));
  after(() => cleanup());

  it('a JSONL log whose group cell is an empty text, null or an absent key: one group "(missing)", in the codes and the report', async () => {
    // cells that differ but read as the same group must share its code, or fairness reports the group twice
    const sexes = ['female', '', null, undefined, 'male', '', null, 'female', undefined, 'male', '', 'female'];
    writeFileSync(
      join(dir, 'predictions.jsonl'),
      `${sexes.map((sex, i) => JSON.stringify({ id: i, predicted: i % 2, ...(sex === undefined ? {} : { sex }) })).join('\n')}\n`,
    );
    writeFileSync(join(dir, 'labels.jsonl'), `${sexes.map((_, i) => JSON.stringify({ id: i, label: (i >> 1) % 2 })).join('\n')}\n`);
    const joined = await joinLabels({
      predictions: join(dir, 'predictions.jsonl'),
      labels: join(dir, 'labels.jsonl'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      groups: ['sex'],
      baseDir: dir,
    });
    const expected = sexes.map((sex) => (sex === undefined || sex === null || sex === '' ? '(missing)' : sex));
    assert.deepEqual(joined.groups.get('sex'), expected);
    assert.deepEqual([...joined.coded!.groups[0]!.values].sort(), ['(missing)', 'female', 'male']);
    const counted = new Map<string, number>();
    for (const group of expected) counted.set(group, (counted.get(group) ?? 0) + 1);
    const report = computeFairness(joined, { minRows: 1 });
    assert.deepEqual(
      report.columns[0]!.groups.map((g) => [g.group, g.n]),
      [...counted].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  });

  CASES.forEach((c, k) => {
    it(c.name, async () => {
      const { options, expected } = write(dir, c, 17 + k);
      const joined = await joinLabels(options);
      assert.ok(joined.coded, 'joinLabels gives the codes');
      // the arrays made from the codes are the join of the rows
      assert.deepEqual(joined.windowOf, expected.windowOf);
      assert.deepEqual(joined.truth, expected.truth);
      assert.deepEqual(joined.predicted, expected.predicted);
      assert.deepEqual(joined.groups.get('sex'), expected.sex);
      assert.deepEqual(joined.groups.get('island'), expected.island);
      if (c.proba) assert.deepEqual(joined.proba.get('1'), expected.proba1);
      assert.equal(joined.counts.unmatchedLabels, 2);
      // the log's predictions, read as codes, made back into cells
      const { labels: _labels, labelColumn: _labelColumn, ...logOptions } = options;
      assert.deepEqual((await readPredictionLog(logOptions)).predicted, expected.allPredicted);
      // the reports from the codes are those from the plain arrays
      const byHand = plain(joined);
      assert.equal(detectTask(joined), detectTask(byHand));
      assert.deepEqual(computePerformance(joined, { minRows: 20 }), computePerformance(byHand, { minRows: 20 }));
      if (detectTask(joined) === 'classification') {
        const fairness = { minRows: 20, ...(c.positiveClass ? { positiveClass: c.positiveClass } : {}) };
        const report = computeFairness(joined, fairness);
        assert.deepEqual(report, computeFairness(byHand, fairness));
        // the group counts over all rows, counted here
        const female = expected.sex.filter((s) => s === 'female').length;
        assert.equal(report.columns.find((col) => col.column === 'sex')!.groups.find((g) => g.group === 'female')!.n, female);
        assert.equal(
          report.windows.reduce((n, w) => n + w.n, 0),
          expected.truth.length,
        );
      }
    });
  });
});

describe('monitoring: the label join reads each kind of label column, and finds a repeated id wherever it is', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-labelkinds-')));
  after(() => cleanup());

  const options = (labels: string): JoinOptions => ({
    predictions: join(dir, 'predictions.csv'),
    labels: join(dir, labels),
    idColumn: 'id',
    labelColumn: 'label',
    predictionColumn: 'predicted',
    probabilityPrefix: 'proba_',
    baseDir: dir,
  });

  it('numeric labels (small integers, large ones, fractions, empty) and text labels: the truth of each predicted row, in log order', async () => {
    const random = seededRandom(5);
    const ids = Array.from({ length: 600 }, (_, i) => 1000 + 3 * i); // not a dense run of ids: the hashed index
    writeFileSync(join(dir, 'predictions.csv'), `id,predicted\n${ids.map((id) => `${id},${id % 2}`).join('\n')}\n`);
    const numeric = [0, 1, 255, 256, 1e6, 2.5, 7];
    const words = ['cat', 'dog', 'emu'];
    const numbers: string[] = [];
    const texts: string[] = [];
    const expectedNumbers = new Map<number, CellValue>();
    const expectedTexts = new Map<number, CellValue>();
    // the labels in another order than the log, some empty, two ids never predicted
    for (const id of [...ids].sort(() => random() - 0.5).concat([5, 7])) {
      const u = id < 1000 ? 1 : random(); // the ids never predicted have a label: counted as unmatched
      const n = u < 0.1 ? '' : String(numeric[Math.floor(random() * numeric.length)]);
      const t = u < 0.1 ? '' : words[Math.floor(random() * words.length)]!;
      numbers.push(`${id},${n}`);
      texts.push(`${id},${t}`);
      if (n !== '' && id >= 1000) expectedNumbers.set(id, Number(n));
      if (t !== '' && id >= 1000) expectedTexts.set(id, t);
    }
    writeFileSync(join(dir, 'numbers.csv'), `id,label\n${numbers.join('\n')}\n`);
    writeFileSync(join(dir, 'texts.csv'), `id,label\n${texts.join('\n')}\n`);
    for (const [file, expected] of [
      ['numbers.csv', expectedNumbers],
      ['texts.csv', expectedTexts],
    ] as const) {
      const joined = await joinLabels(options(file));
      assert.deepEqual(
        joined.truth,
        ids.filter((id) => expected.has(id)).map((id) => expected.get(id)),
        file,
      );
      assert.equal(joined.counts.joined, expected.size, file);
      assert.equal(joined.counts.labels, ids.length + 2, file);
      assert.equal(joined.counts.unmatchedLabels, 2, file);
    }
  });

  it('an id labelled twice names both rows: an id that was predicted, and one that never was', async () => {
    writeFileSync(join(dir, 'predictions.csv'), 'id,predicted\n10,1\n11,0\n12,1\n');
    writeFileSync(join(dir, 'twice.csv'), 'id,label\n11,1\n99,0\n10,1\n11,0\n');
    writeFileSync(join(dir, 'twiceUnmatched.csv'), 'id,label\n99,1\n11,1\n12,\n99,0\n');
    writeFileSync(join(dir, 'twiceEmpty.csv'), 'id,label\n12,\n10,1\n12,1\n');
    await assert.rejects(joinLabels(options('twice.csv')), { message: 'twice.csv data row 4: id 11 is labelled twice (first at twice.csv data row 1)' });
    await assert.rejects(joinLabels(options('twiceUnmatched.csv')), {
      message: 'twiceUnmatched.csv data row 4: id 99 is labelled twice (first at twiceUnmatched.csv data row 1)',
    });
    // a label row without its label still holds its id
    await assert.rejects(joinLabels(options('twiceEmpty.csv')), {
      message: 'twiceEmpty.csv data row 3: id 12 is labelled twice (first at twiceEmpty.csv data row 1)',
    });
  });
});

describe('monitoring: ids are joined by their text, whatever number they look like', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-idtexts-')));
  after(() => cleanup());

  it('ids such as simulate.py writes (8144173e-332 is no number to round to 0), leading zeros, 20 digits, -0: CSV and JSON lines logs, CSV labels', async () => {
    const random = seededRandom(11);
    // simulate.py's ids are <8 hex digits>-<row>: a prefix of seven digits and an e reads as a numeral, and those
    // past e-330 are all 0 as doubles (CI failed on "id 0 is labelled twice")
    const ids = [
      ...Array.from({ length: 400 }, (_, i) => `8144173e-${i}`),
      '007',
      '7',
      '70',
      '-7',
      '0',
      '-0',
      '1.50',
      '1.5',
      '1e3',
      '1000',
      '12345678901234567891',
      '12345678901234567892',
      '9007199254740993',
      '123456789012345',
      '+5',
      '5',
      '0x1f',
      '.5',
    ];
    const predicted = (i: number): string => (i % 3 === 0 ? 'rain' : 'sun');
    writeFileSync(
      join(dir, 'log.csv'),
      `id,predicted
${ids.map((id, i) => `${i % 5 === 0 ? `"${id}"` : id},${predicted(i)}`).join('\n')}\n`,
    );
    writeFileSync(join(dir, 'log.jsonl'), `${ids.map((id, i) => JSON.stringify({ id, predicted: predicted(i) })).join('\n')}\n`);
    // the truth, by the exact text of the id (the independent join); a tenth not labelled yet
    const truth = new Map<string, string>();
    for (const id of ids) if (random() > 0.1) truth.set(id, random() < 0.5 ? 'rain' : 'sun');
    const labelled = [...truth].sort(() => random() - 0.5);
    writeFileSync(join(dir, 'labels.csv'), `id,label\n${labelled.map(([id, label], k) => `${k % 4 === 0 ? `"${id}"` : id},${label}`).join('\n')}\n`);
    for (const predictions of ['log.csv', 'log.jsonl']) {
      const joined = await joinLabels({
        predictions: join(dir, predictions),
        labels: join(dir, 'labels.csv'),
        idColumn: 'id',
        labelColumn: 'label',
        predictionColumn: 'predicted',
        probabilityPrefix: 'proba_',
        baseDir: dir,
      });
      assert.deepEqual(
        joined.truth,
        ids.filter((id) => truth.has(id)).map((id) => truth.get(id)),
        `${predictions}: each predicted row gets the label of its own id`,
      );
      assert.deepEqual(
        joined.predicted,
        ids.flatMap((id, i) => (truth.has(id) ? [predicted(i)] : [])),
        predictions,
      );
      assert.equal(joined.counts.joined, truth.size, predictions);
      assert.equal(joined.counts.unmatchedLabels, 0, predictions);
    }
    // ids pandas wrote as floats (12.0) are other ids than 12: labels never predicted, counted and named
    writeFileSync(join(dir, 'floats.csv'), 'id,label\n70.0,sun\n7,rain\n1000.0,sun\n');
    const floats = await joinLabels({
      predictions: join(dir, 'log.csv'),
      labels: join(dir, 'floats.csv'),
      idColumn: 'id',
      labelColumn: 'label',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      baseDir: dir,
    });
    assert.deepEqual([floats.counts.joined, floats.counts.unmatchedLabels, floats.unmatchedSample], [1, 2, ['70.0', '1000.0']]);
  });
});

describe('monitoring: a predictions log of many batches, in two files', function () {
  this.timeout(60_000); // 290,004 rows written and read
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-logparts-')));
  after(() => cleanup());

  it('290,004 rows whose batches end short at each file: every row read where it belongs, and each batch handed on with its windows', async () => {
    // 150,001 + 140,003 rows: the log's columns grow many times and each file's last batch is short; each row's cells are
    // a function of its number, computed again below
    const sizes = [150_001, 140_003];
    const sexes = ['female', 'male', ''];
    const cells = (n: number) => {
      const p1 = (n % 1000) / 1000;
      return { month: 1 + Math.floor((n * 12) / 290_004), predicted: n % 3, p1, sex: sexes[n % 7 === 0 ? 2 : n % 2]!, island: `i${n % 5}` };
    };
    let n = 0;
    const files = sizes.map((size, f) => {
      const lines = ['id,time,predicted,proba_0,proba_1,sex,island,x'];
      for (let r = 0; r < size; r++, n++) {
        const c = cells(n);
        lines.push(
          `${n},2025-${String(c.month).padStart(2, '0')}-15T00:00:00,${c.predicted},${(1000 - (n % 1000)) / 1000},${c.p1},${c.sex},${c.island},${n % 11}`,
        );
      }
      const file = join(dir, `part${f}.csv`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      return file;
    });
    const handed: { rows: number; windows: (string | undefined)[] }[] = [];
    const log = await readPredictionLog({
      predictions: join(dir, 'part*.csv'),
      idColumn: 'id',
      predictionColumn: 'predicted',
      probabilityPrefix: 'proba_',
      timeColumn: 'time',
      window: 'monthly',
      groups: ['sex', 'island'],
      baseDir: dir,
      feed: {
        read: ['x'],
        push: (_columns, rows, windows, firstRow) => {
          handed.push({ rows, windows: Array.from({ length: rows }, (_, i) => windowAt(windows, firstRow + i)) });
          return undefined;
        },
      },
    });
    assert.equal(files.length, 2);
    const total = sizes[0]! + sizes[1]!;
    assert.equal(log.rows, total);
    const monthOf = (row: number) => `2025-${String(cells(row).month).padStart(2, '0')}-01`;
    const mismatch = (what: string, got: (row: number) => unknown, want: (row: number) => unknown): void => {
      for (let row = 0; row < total; row++) if (got(row) !== want(row)) assert.fail(`${what}: row ${row} is ${String(got(row))}, not ${String(want(row))}`);
    };
    mismatch('window', (row) => windowAt(log.windowOf, row), monthOf);
    mismatch(
      'proba_1',
      (row) => log.proba[1]![row],
      (row) => cells(row).p1,
    );
    mismatch(
      'predicted',
      (row) => log.predictedCodes.values[log.predictedCodes.codes[row]!],
      (row) => cells(row).predicted,
    );
    mismatch(
      'sex',
      (row) => log.groups[0]!.values[log.groups[0]!.codes[row]!],
      (row) => cells(row).sex || '(missing)',
    );
    mismatch(
      'island',
      (row) => log.groups[1]!.values[log.groups[1]!.codes[row]!],
      (row) => cells(row).island,
    );
    mismatch(
      'id',
      (row) => log.rowOf.get(row),
      (row) => row,
    );
    // the feed saw every row once, in order, with its window
    assert.equal(
      handed.reduce((s, b) => s + b.rows, 0),
      total,
    );
    const fed = handed.flatMap((b) => b.windows);
    mismatch('handed window', (row) => fed[row], monthOf);
  });
});
