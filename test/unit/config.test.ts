import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { configJsonSchema, configJsonSchemaText, CONFIG_SCHEMA_FILE } from '../../src/core/config/jsonSchema';
import { formatProblem, loadConfig, type Problem } from '../../src/core/config/loadConfig';
import { primaryMetricOf } from '../../src/core/config/schema';
import { MLOOP_YAML_TEMPLATE } from '../../src/core/project/template';

const ROOT = resolve(__dirname, '../../..');

/** Only what a test looks at: where, how bad, and the message. */
const at = (p: Problem): string => `${p.line}:${p.column}-${p.endLine}:${p.endColumn} ${p.severity}`;
const only = (problems: Problem[]): Problem => {
  assert.equal(problems.length, 1, `expected one problem, got:\n${problems.map(formatProblem).join('\n')}`);
  return problems[0]!;
};

const VALID = `version: 1
datasets:
  weather:
    path: data/seattle-weather.csv
    format: csv
    rules: { columns: { temp_max: { type: number } } }
pipelines:
  train:
    command: python train.py --n \${params.n_estimators}
    params:
      n_estimators: 200
      lr: 0.1
      fast: true
    inputs: [weather]
    outputs: [model.pkl]
    model: { name: weather-clf, path: model.pkl }
    env: { OMP_NUM_THREADS: 4 }
    experiment: weather
    primary_metric: { name: accuracy, goal: maximize }
  args:
    command: [python, train.py, "--lr=\${params.lr}"]
    params: { lr: 0.01 }
models:
  weather-clf:
    gate:
      - accuracy >= 0.7
    anything_else: kept for the registry feature
targets:
  local:
    command: python serve.py --model \${model_path}
monitoring:
  weather-clf:
    reference: weather
    current: logs/*.csv
`;

describe('config: mloop.yaml loader', () => {
  it('loads a full file, with defaults filled in and loosely-checked sections kept', () => {
    const { config, problems } = loadConfig(VALID, 'mloop.yaml');
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.equal(config.pipelines.train!.params.n_estimators, 200);
    assert.deepEqual(config.pipelines.args!.command, ['python', 'train.py', '--lr=${params.lr}']);
    assert.deepEqual(config.pipelines.args!.inputs, []);
    assert.deepEqual(config.pipelines.args!.env, {});
    assert.equal(config.datasets.weather!.format, 'csv');
    assert.equal((config.models!['weather-clf'] as Record<string, unknown>).anything_else, 'kept for the registry feature');
    assert.equal(config.monitoring!['weather-clf']!.current, 'logs/*.csv');
    assert.deepEqual(primaryMetricOf(config.pipelines.train!), { name: 'accuracy', goal: 'maximize' });
    assert.deepEqual(primaryMetricOf({ ...config.pipelines.train!, primary_metric: 'loss' }), { name: 'loss', goal: 'maximize' });
  });

  it('the example project and the init template load without problems', () => {
    const example = loadConfig(readFileSync(resolve(ROOT, 'examples/weather/mloop.yaml'), 'utf8'), 'mloop.yaml');
    assert.deepEqual(example.problems.map(formatProblem), []);
    assert.ok(example.config?.pipelines['train-protocol'], 'the example declares the line-protocol pipeline');
    assert.deepEqual(loadConfig(MLOOP_YAML_TEMPLATE, 'mloop.yaml').problems.map(formatProblem), []);
  });

  it('a type error points at the offending value', () => {
    const text = 'version: 1\npipelines:\n  train:\n    command: python t.py\n    params:\n      lr: [1, 2]\n';
    const p = only(loadConfig(text, 'mloop.yaml').problems);
    assert.equal(at(p), '6:11-6:17 error');
    assert.deepEqual(p.path, ['pipelines', 'train', 'params', 'lr']);
    assert.match(p.message, /pipelines\.train\.params\.lr: expected a string, a number or true\/false/);
    assert.equal(p.file, 'mloop.yaml');
  });

  it('a command of the wrong type and a bad enum value are errors at their values', () => {
    const text = 'version: 1\ndatasets:\n  d:\n    path: x.csv\n    format: xlsx\npipelines:\n  train:\n    command: 42\n';
    const { config, problems } = loadConfig(text, 'f.yaml');
    assert.equal(config, undefined);
    assert.deepEqual(problems.map(at), ['5:13-5:17 error', '8:14-8:16 error']);
    assert.match(problems[1]!.message, /command is a string .* or a list of strings/);
  });

  it('a missing required key points at the key that should contain it', () => {
    const text = 'version: 1\ndatasets:\n  weather:\n    format: csv\n';
    const p = only(loadConfig(text, 'mloop.yaml').problems);
    assert.equal(at(p), '3:3-3:10 error');
    assert.equal(p.message, 'missing required key "path" in datasets.weather');
  });

  it('an unknown dataset in inputs is an error at that input', () => {
    const text = 'version: 1\ndatasets:\n  weather: { path: w.csv }\npipelines:\n  train:\n    command: python t.py\n    inputs: [weather, wether]\n';
    const p = only(loadConfig(text, 'mloop.yaml').problems);
    assert.equal(at(p), '7:23-7:29 error');
    assert.deepEqual(p.path, ['pipelines', 'train', 'inputs', 1]);
    assert.equal(p.message, 'pipeline "train" reads unknown dataset "wether" (declared datasets: weather)');
  });

  it('an undeclared param is an error at its column inside the command string', () => {
    const text = 'version: 1\npipelines:\n  train:\n    command: python t.py --a ${params.a} --b ${params.b}\n    params: { a: 1 }\n';
    const p = only(loadConfig(text, 'mloop.yaml').problems);
    assert.equal(at(p), `4:${text.split('\n')[3]!.indexOf('${params.b}') + 1}-4:${text.split('\n')[3]!.indexOf('${params.b}') + 12} error`);
    assert.equal(p.message, 'pipeline "train" uses undeclared param "b" (declared params: a)');
  });

  it('an undeclared param is found inside quoted, block and list commands too', () => {
    const text = [
      'version: 1',
      'pipelines:',
      '  quoted:',
      '    command: "python t.py \\"x\\" ${params.q}"',
      '  block:',
      '    command: >-',
      '      python t.py',
      '      --b ${params.z}',
      '  list:',
      '    command: [python, "--c=${params.c}"]',
      '',
    ].join('\n');
    const problems = loadConfig(text, 'mloop.yaml').problems;
    assert.deepEqual(problems.map(at), ['4:33-4:44 error', '8:11-8:22 error', '10:28-10:39 error']);
    assert.deepEqual(problems[2]!.path, ['pipelines', 'list', 'command', 1]);
  });

  it('unknown keys are warnings at the key, and the rest still loads', () => {
    const text = 'version: 1\npipelines:\n  train:\n    command: python t.py\n    comand: typo\nextra: 1\n';
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.ok(config, 'warnings do not block loading');
    assert.deepEqual(problems.map(at), ['5:5-5:11 warning', '6:1-6:6 warning']);
    assert.equal(problems[0]!.message, 'unknown key "comand" in pipelines.train; it is ignored');
    assert.equal((config.pipelines.train as Record<string, unknown>).comand, undefined);
  });

  it('a bad name is an error at the key', () => {
    const p = only(loadConfig('version: 1\ndatasets:\n  "bad name": { path: x }\n', 'mloop.yaml').problems);
    assert.equal(at(p), '3:3-3:13 error');
    assert.match(p.message, /invalid name "bad name"/);
  });

  it('a YAML syntax error is reported at its position and nothing else is checked', () => {
    const text = 'version: 1\npipelines:\n  train:\n    command: [python, t.py\n';
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.equal(config, undefined);
    assert.ok(problems.length >= 1);
    assert.ok(problems.every((p) => p.severity === 'error' && p.path.length === 0));
    assert.equal(problems[0]!.line, 5, problems.map(formatProblem).join('\n'));
  });

  it('card: intended use and limits per model; a wrong value, an unknown key and an empty text are errors at their line:col', () => {
    const good = loadConfig(
      'version: 1\ncard:\n  clf:\n    intended_use: Rank loan files for review\n    limitations: [Only 2020 data]\n    out_of_scope: Automated rejection\n',
      'mloop.yaml',
    );
    assert.deepEqual(good.problems, []);
    assert.deepEqual(good.config?.card?.clf, {
      intended_use: 'Rank loan files for review',
      limitations: ['Only 2020 data'],
      out_of_scope: 'Automated rejection',
    });
    const wrong = only(loadConfig('version: 1\ncard:\n  clf:\n    limitations: 5\n', 'mloop.yaml').problems);
    assert.equal(`${wrong.line}:${wrong.column} ${wrong.path.join('.')}`, '4:18 card.clf.limitations');
    assert.match(wrong.message, /expected a text or a list of texts/);
    const unknown = only(loadConfig('version: 1\ncard:\n  clf:\n    intended_use: x\n    risks: [y]\n', 'mloop.yaml').problems);
    assert.equal(unknown.line, 5, formatProblem(unknown));
    assert.match(unknown.message, /risks/);
    const empty = only(loadConfig('version: 1\ncard:\n  clf:\n    intended_use: "  "\n', 'mloop.yaml').problems);
    assert.equal(`${empty.line}:${empty.column}`, '4:19');
    assert.match(empty.message, /not an empty string/);
  });

  it('a duplicate key is an error at the second occurrence', () => {
    const text = 'version: 1\npipelines:\n  train:\n    command: a\n  train:\n    command: b\n';
    const p = only(loadConfig(text, 'mloop.yaml').problems);
    assert.equal(`${p.line}:${p.column} ${p.severity}`, '5:3 error');
    assert.match(p.message, /unique/);
  });

  it('canary analysis: thresholds are checked at their line, and analysis needs the gateway or a serving log and a route: command', () => {
    const target = (analysis: string, gateway = 'true', more = ''): string =>
      `version: 1\ntargets:\n  gw:\n    command: [serve]\n    port: 8000\n    gateway: ${gateway}\n${more}    analysis:\n${analysis}`;
    const ok = loadConfig(target('      max_error_rate_increase: 0.01\n      max_prediction_drift: 0.2\n'), 'mloop.yaml');
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.config!.targets!.gw!.analysis, { max_error_rate_increase: 0.01, max_prediction_drift: 0.2, min_requests: 20 });
    const ratio = only(loadConfig(target('      max_p95_ratio: 0.5\n'), 'mloop.yaml').problems);
    assert.equal(`${ratio.line}:${ratio.column} ${ratio.path.join('.')}`, '8:22 targets.gw.analysis.max_p95_ratio');
    const empty = only(loadConfig(target('      min_requests: 5\n'), 'mloop.yaml').problems);
    assert.equal(empty.line, 8);
    assert.match(empty.message, /at least one of max_error_rate_increase/);
    const noGateway = only(loadConfig(target('      max_p95_ratio: 2\n', 'false'), 'mloop.yaml').problems);
    assert.equal(
      `${noGateway.line} ${noGateway.message}`,
      '8 targets.gw.analysis: analysis needs a serving log to compare the arms on: gateway: true, or monitor.serving_log (written by the versions behind your route: command)',
    );
    const log = '    monitor: { serving_log: logs/serving.jsonl }\n';
    const noRoute = only(loadConfig(target('      max_p95_ratio: 2\n', 'false', log), 'mloop.yaml').problems);
    assert.equal(
      `${noRoute.line} ${noRoute.message}`,
      '9 targets.gw.analysis: analysis without the gateway needs route: (the command that splits the traffic at each canary step)',
    );
    assert.deepEqual(loadConfig(target('      max_p95_ratio: 2\n', 'false', `${log}    route: [split, "\${traffic}"]\n`), 'mloop.yaml').problems, []);
  });

  it('prediction tests: a wrong direction or an unknown field is an error at its line', () => {
    const text = [
      'version: 1',
      'models:',
      '  clf:',
      '    tests:',
      '      golden:',
      '        - { input: { x: 1 }, expect: sun }',
      '      directional:',
      '        - input: { x: 1 }',
      '          change: { x: 2 }',
      '          expect: up',
      '      invariance:',
      '        - { input: { x: 1 }, chnage: { x: 2 } }',
      '',
    ].join('\n');
    const problems = loadConfig(text, 'mloop.yaml').problems.map((p) => `${p.line} ${p.path.join('.')}`);
    assert.deepEqual(
      problems.sort(),
      ['10 models.clf.tests.directional.0.expect', '12 models.clf.tests.invariance.0.change', '12 models.clf.tests.invariance.0.chnage'].sort(),
    );
  });

  it('wrong version, an empty file and a non-mapping are errors at line 1', () => {
    assert.equal(at(only(loadConfig('version: 2\n', 'm').problems)), '1:10-1:11 error');
    assert.equal(only(loadConfig('', 'm').problems).message, 'mloop.yaml is empty: it starts with "version: 1"');
    assert.equal(only(loadConfig('# only a comment\n', 'm').problems).line, 1);
    assert.equal(at(only(loadConfig('just text', 'm').problems)), '1:1-1:10 error');
    assert.equal(only(loadConfig('datasets: {}\n', 'm').problems).message, 'missing required key "version"');
  });

  it('formats problems as file:line:col: severity: message', () => {
    const p = only(loadConfig('version: 2\n', 'mloop.yaml').problems);
    assert.equal(formatProblem(p), 'mloop.yaml:1:10: error: version: version must be 1');
  });

  it('never throws: random text', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const result = loadConfig(text, 'm');
        assertWellFormed(result);
      }),
      { numRuns: 1500 },
    );
  });

  it('never throws: random YAML trees, alone and grafted into a valid file', function () {
    this.timeout(60_000);
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }), tie('map'), fc.array(tie('node'), { maxLength: 3 })),
      map: fc.dictionary(
        fc.oneof(
          fc.constantFrom('version', 'datasets', 'pipelines', 'command', 'params', 'inputs', 'path', 'model', 'env', '__proto__', 'primary_metric', 'gate'),
          fc.string(),
        ),
        tie('node'),
        { maxKeys: 4 },
      ),
    })).node;
    const base = loadConfig(VALID, 'm').config!;
    fc.assert(
      fc.property(tree, fc.constantFrom('pipelines', 'datasets', 'models', 'root', 'train'), (value, where) => {
        assertWellFormed(loadConfig(stringify(value), 'm'));
        const doc = structuredClone(base) as unknown as Record<string, Record<string, unknown>>;
        if (where === 'root') assertWellFormed(loadConfig(stringify({ ...doc, ...(typeof value === 'object' && value ? value : { x: value }) }), 'm'));
        else if (where === 'train') assertWellFormed(loadConfig(stringify({ ...doc, pipelines: { train: value } }), 'm'));
        else assertWellFormed(loadConfig(stringify({ ...doc, [where]: value }), 'm'));
      }),
      { numRuns: 1500 },
    );
  });

  it('the checked-in JSON Schema is the one generated from the zod schema, with docs on every field', () => {
    const file = resolve(ROOT, CONFIG_SCHEMA_FILE);
    // MLOOP_UPDATE_SCHEMA=1 rewrites the file after a schema change
    if (process.env.MLOOP_UPDATE_SCHEMA === '1') {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, configJsonSchemaText());
    }
    assert.equal(readFileSync(file, 'utf8'), configJsonSchemaText(), `${CONFIG_SCHEMA_FILE} is stale: run the config test with MLOOP_UPDATE_SCHEMA=1`);
    const schema = configJsonSchema() as { properties: Record<string, { description?: string }> };
    const pipeline = (schema.properties.pipelines as { additionalProperties: { properties: Record<string, { description?: string }> } }).additionalProperties;
    for (const [key, value] of [...Object.entries(schema.properties), ...Object.entries(pipeline.properties)]) {
      assert.ok(value.description, `${key} has a description (hover docs)`);
    }
  });
});

function assertWellFormed(result: ReturnType<typeof loadConfig>): void {
  assert.ok(result.config !== undefined || result.problems.some((p) => p.severity === 'error'), 'either a config or an error');
  for (const p of result.problems) {
    assert.ok(p.line >= 1 && p.column >= 1 && p.endLine >= p.line, formatProblem(p));
    assert.doesNotMatch(p.message, /mloop could not check this file/, 'no check crashed');
  }
}

describe('config: monitoring section', () => {
  it('is per model; a bad schedule or window without time_column points at its line', () => {
    const text = 'version: 1\nmonitoring:\n  weather-clf:\n    current: logs/*.csv\n    schedule: often\n    window: weekly\n';
    const problems = loadConfig(text, 'mloop.yaml').problems;
    assert.deepEqual(
      problems.map((p) => [p.line, p.path.join('.')]).sort(),
      [
        [5, 'monitoring.weather-clf.schedule'],
        [6, 'monitoring.weather-clf.window'],
      ].sort(),
    );
    assert.match(problems.find((p) => p.line === 5)!.message, /30m, 6h or 1d/);
    const missing = loadConfig('version: 1\nmonitoring:\n  weather-clf:\n    schedule: 1h\n', 'mloop.yaml').problems;
    assert.match(missing[0]!.message, /current/);
  });
});
