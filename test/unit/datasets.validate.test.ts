import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { datasetRulesSchema } from '../../src/core/datasets/rulesSchema';
import { compareSchemas, formatValidationReport, validateDataset } from '../../src/core/datasets/validate';
import { penguinsJsonl, WEATHER } from './datasetFixtures';
import { tempDir } from './fixtures';
import { pythonJsonSync } from '../support/python';

/** Row numbers (1-based) pandas finds for a boolean expression over a file. */
function pandasRows(file: string, reader: string, expression: string): number[] {
  const code = `import sys, json, pandas as pd\ndf = pd.${reader}(sys.argv[1]${reader === 'read_json' ? ', lines=True' : ''})\nprint(json.dumps([int(i) + 1 for i in df.index[${expression}]]))`;
  return pythonJsonSync<number[]>({ args: ['-c', code, file] });
}

describe('datasets: validation rules', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-ds-')));
  afterEach(() => cleanup());

  it('seattle-weather passes rules it meets', async () => {
    const rules = datasetRulesSchema.parse({
      rows: { min: 1000 },
      columns: {
        date: { type: 'datetime', nullable: false, unique: true },
        precipitation: { type: 'number', min: 0 },
        weather: { allowed: ['rain', 'sun', 'fog', 'drizzle', 'snow'] },
      },
    });
    const report = await validateDataset(WEATHER, rules);
    assert.deepEqual(report.failures, []);
    assert.equal(report.passed, true);
    assert.equal(report.rows, 1461);
    assert.match(formatValidationReport('weather', report), /✓ weather: 1,461 rows, all rules pass/);
  });

  it('a failing rule names the column, the rule, the count and the first rows (as pandas finds them)', async () => {
    const rules = datasetRulesSchema.parse({
      rows: { max: 1000 },
      columns: {
        precipitation: { max: 30 },
        weather: { allowed: ['rain', 'sun', 'fog', 'drizzle'], unique: true },
        wind: { type: 'string' },
        missing: { nullable: false },
      },
    });
    const report = await validateDataset(WEATHER, rules);
    assert.equal(report.passed, false);
    const byRule = new Map(report.failures.map((f) => [`${f.column ?? ''}.${f.rule}`, f]));
    const high = byRule.get('precipitation.max')!;
    const expected = pandasRows(WEATHER, 'read_csv', 'df.precipitation > 30');
    assert.equal(high.offendingRows, expected.length);
    assert.deepEqual(
      high.examples.map((e) => e.row),
      expected.slice(0, 5),
    );
    const snow = byRule.get('weather.allowed')!;
    assert.equal(snow.offendingRows, pandasRows(WEATHER, 'read_csv', "df.weather == 'snow'").length);
    assert.ok(snow.examples.every((e) => e.value === 'snow'));
    assert.equal(byRule.get('weather.unique')!.offendingRows, 1461 - 5, 'every repeat of the 5 categories');
    assert.ok(!byRule.has('wind.type'), 'any value is text');
    assert.match(byRule.get('missing.column')!.message, /column "missing" has rules but is not in the data/);
    assert.match(byRule.get('.rows.max')!.message, /1461 rows, more than rows.max 1000/);
    const text = formatValidationReport('weather', report);
    assert.match(text, /precipitation · max: precipitation: \d+ rows with values above max 30/);
    assert.match(text, new RegExp(`first rows: row ${expected[0]} = `));
  });

  it('penguins: nulls in a nullable: false column, type and allowed rules', async () => {
    const file = penguinsJsonl(dir);
    const rules = datasetRulesSchema.parse({
      columns: { Sex: { nullable: false, allowed: ['MALE', 'FEMALE'] }, 'Body Mass (g)': { type: 'number', min: 3000 } },
    });
    const report = await validateDataset(file, rules);
    const nulls = report.failures.find((f) => f.column === 'Sex' && f.rule === 'nullable')!;
    assert.equal(nulls.offendingRows, 10);
    assert.deepEqual(
      nulls.examples.map((e) => e.row),
      pandasRows(file, 'read_json', 'df.Sex.isna()').slice(0, 5),
    );
    const dot = report.failures.find((f) => f.column === 'Sex' && f.rule === 'allowed')!;
    assert.deepEqual([dot.offendingRows, dot.examples[0]!.value], [1, '.']);
    const light = report.failures.find((f) => f.column === 'Body Mass (g)' && f.rule === 'min')!;
    assert.equal(light.offendingRows, pandasRows(file, 'read_json', "df['Body Mass (g)'] < 3000").length);
  });

  it('type: text in a number column is counted; schema must match the previous version', async () => {
    const file = join(dir, 'x.csv');
    writeFileSync(file, 'id,v\n1,2\n2,oops\n3,4\n');
    const report = await validateDataset(file, datasetRulesSchema.parse({ schema: 'match_previous', columns: { v: { type: 'number' } } }), {
      previousSchema: {
        columns: [
          { name: 'id', type: 'number' },
          { name: 'v', type: 'number' },
          { name: 'w', type: 'string' },
        ],
      },
    });
    const type = report.failures.find((f) => f.rule === 'type')!;
    assert.deepEqual([type.offendingRows, type.examples], [1, [{ row: 2, value: 'oops' }]]);
    const schema = report.failures.filter((f) => f.rule === 'schema').map((f) => f.message);
    assert.deepEqual(schema, [
      'schema differs from the previous version: column "v" changed type number → string',
      'schema differs from the previous version: column "w" (string) removed',
    ]);
    assert.deepEqual(compareSchemas({ columns: [{ name: 'a', type: 'number' }] }, { columns: [{ name: 'a', type: 'number' }] }), []);
  });

  it('rules in mloop.yaml are checked: unknown keys and wrong shapes are refused', () => {
    assert.equal(datasetRulesSchema.safeParse({ columns: { a: { nulable: false } } }).success, false);
    assert.equal(datasetRulesSchema.safeParse({ schema: 'same' }).success, false);
    assert.equal(datasetRulesSchema.safeParse({ rows: { min: -1 } }).success, false);
  });
});
