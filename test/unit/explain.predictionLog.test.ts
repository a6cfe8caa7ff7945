import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { freePort } from '../../src/core/deploy/process';
import { explainLoggedPrediction, findLoggedRequest, loggedPredictionAt } from '../../src/core/evaluation/predictionLog';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { ModelRepository } from '../../src/core/store/models';
import { openStore, type Store } from '../../src/core/store/store';
import { type ExplanationReference, explanationReference } from '../harness/explanationReference';
import { registerWeatherVersions } from '../harness/weatherVersions';
import { PYTHON, pythonJson } from '../support/python';
import { WEATHER } from './datasetFixtures';
import { mloop, tempDir } from './fixtures';

const EXAMPLE = resolve(__dirname, '../../../examples/weather');

/** Two forests on the example's five inputs (the month from the date, as features.py derives it): v1 depth 6, v2 depth 3. */
const TRAIN = `
import pickle, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
sys.path.insert(0, sys.argv[2])
from features import FEATURES, add_month
frame = add_month(pd.read_csv(sys.argv[1]))
for version, depth in ((1, 6), (2, 3)):
    model = RandomForestClassifier(n_estimators=20, max_depth=depth, random_state=0).fit(frame[FEATURES], frame["weather"])
    with open(f"{sys.argv[2]}/weather-v{version}.pkl", "wb") as f:
        pickle.dump(model, f)
print("{}")
`;

/** The example's serve.py for one version, started as mloop starts it for a target (MLOOP_MODEL_VERSION). */
async function startServe(dir: string, version: number, port: number): Promise<ChildProcess> {
  const child = spawn(PYTHON, ['serve.py', '--model', `weather-v${version}.pkl`, '--port', String(port), '--log-dir', 'logs'], {
    cwd: dir,
    env: { ...process.env, MLOOP_MODEL_VERSION: String(version) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve.py v${version} did not start: ${output}`)), 60_000);
    const seen = (c: Buffer): void => {
      output += c.toString('utf8');
      if (output.includes('serving on')) {
        clearTimeout(timer);
        done();
      }
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.once('exit', (code) => fail(new Error(`serve.py v${version} exited ${code}: ${output}`)));
  });
  return child;
}

function predict(port: number, requestId: string, rows: readonly Record<string, unknown>[]): Promise<{ predictions: string[] }> {
  return new Promise((done, fail) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/predict', method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': requestId } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { predictions: string[] }));
      },
    );
    req.on('error', fail);
    req.end(JSON.stringify({ rows }));
  });
}

const close = (actual: unknown, expected: number, what: string, tolerance = 1e-9): void =>
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tolerance, `${what}: ${String(actual)} ≠ ${expected}`);

describe('explain a predictions-log row: by the version that answered it, from the log the example serve.py writes', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let logLines: Record<string, unknown>[];
  let reference: ExplanationReference[];
  const config = (): ReturnType<typeof loadConfig>['config'] => loadConfig(readFileSync(join(dir, 'mloop.yaml'), 'utf8'), 'mloop.yaml').config;

  before(async function () {
    this.timeout(180_000);
    ({ dir, cleanup } = tempDir('mloop-explain-log-'));
    copyFileSync(WEATHER, join(dir, 'weather.csv'));
    for (const file of ['serve.py', 'features.py']) copyFileSync(join(EXAMPLE, file), join(dir, file));
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'datasets:',
        '  weather: { path: weather.csv }',
        'models:',
        '  weather-clf: { prepare: "features:add_month" }',
        'monitoring:',
        '  weather-clf:',
        '    current: logs/predictions.jsonl',
        '',
      ].join('\n'),
    );
    await pythonJson({ args: ['-c', TRAIN, join(dir, 'weather.csv'), dir] });
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    registerWeatherVersions(store, dir);
    const models = new ModelRepository(store);
    // the champion is v1: a row v2 answered must still be explained by v2
    models.setAlias({ modelId: models.byName('weather-clf')!.modelId, alias: 'champion', version: 1, actor: 'tester' });
    // real traffic through the example's service, one process per version, both appending to logs/predictions.jsonl
    const [p1, p2] = [await freePort(), await freePort()];
    const services = await Promise.all([startServe(dir, 1, p1), startServe(dir, 2, p2)]);
    try {
      // no ids: serve.py makes them <request id>-<index>; with ids (as simulate.py sends): only request_id links them
      await predict(p1, 'req-a', [
        { date: '2015-01-03', precipitation: 1.5, temp_max: 5.6, temp_min: 3.3, wind: 2.4 },
        { date: '2015-07-14', precipitation: 0, temp_max: 27.8, temp_min: 14.4, wind: 2.1 },
      ]);
      await predict(p2, 'req-b', [
        { id: 'day-1', station: 'north', date: '2015-03-15', precipitation: 20.6, temp_max: 9.4, temp_min: 5, wind: 6.7 },
        { id: 'day-2', station: 'south', date: '2015-11-17', precipitation: 15.2, temp_max: 11.1, temp_min: 5.6, wind: 7.3 },
      ]);
    } finally {
      for (const s of services) s.kill('SIGKILL');
    }
    logLines = readFileSync(join(dir, 'logs', 'predictions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      logLines.map((l) => [l.request_id, l.version, l.id]),
      [
        ['req-a', '1', 'req-a-0'],
        ['req-a', '1', 'req-a-1'],
        ['req-b', '2', 'day-1'],
        ['req-b', '2', 'day-2'],
      ],
      'serve.py logs each row with its request id and the version that answered it',
    );
    reference = await explanationReference({
      trainingCsv: join(dir, 'weather.csv'),
      featuresDir: dir,
      rows: logLines.map((row) => ({ pickle: join(dir, `weather-v${String(row.version)}.pkl`), row })),
    });
  });

  after(() => {
    store?.close();
    cleanup?.();
  });

  it('mloop explain weather-clf --request req-b --index 1: read from the predictions log, explained by v2 (not the champion v1), the numbers of shap', () => {
    const r = mloop(dir, 'explain', 'weather-clf', '--request', 'req-b', '--index', '1', '--json');
    assert.equal(r.code, 0, r.stderr);
    const x = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(x.source, { kind: 'predictions_log', file: join(dir, 'logs', 'predictions.jsonl'), line: 4 });
    assert.equal(x.explained_request, 'req-b');
    assert.equal(x.index, 1);
    assert.equal(x.version, 2, 'the version of the log row');
    const logged = logLines[3]!;
    const expected = reference[3]!;
    assert.equal(x.predicted, logged.prediction, 'the prediction the client got');
    assert.equal(x.predicted, expected.predicted);
    assert.deepEqual(x.features, ['precipitation', 'temp_max', 'temp_min', 'wind', 'month']);
    if (expected.shap) {
      assert.equal(x.method, 'shap');
      expected.shap.forEach((v, j) => close((x.contributions as number[])[j], v, `SHAP of ${(x.features as string[])[j]}`));
      close(x.base_value, expected.base!, 'SHAP base value');
    } else {
      assert.equal(x.method, 'occlusion');
      expected.occlusion.forEach((v, j) => close((x.contributions as number[])[j], v, `occlusion of ${(x.features as string[])[j]}`, 1e-12));
    }
  });

  it('finds a row by its line (JSON lines and CSV) or by request id and index, with its version and place in the request', async () => {
    const root = dir;
    const at = await loggedPredictionAt({ projectRoot: root, config: config(), file: join(dir, 'logs', 'predictions.jsonl'), line: 2 });
    assert.deepEqual([at.model, at.version, at.requestId, at.index, at.row.temp_max], ['weather-clf', 1, 'req-a', 1, 27.8]);
    // req-b's rows carry the client's ids: their index is their order among the request's lines
    const b1 = await loggedPredictionAt({ projectRoot: root, config: config(), file: join(dir, 'logs', 'predictions.jsonl'), line: 4 });
    assert.deepEqual([b1.version, b1.requestId, b1.index], [2, 'req-b', 1]);
    for (const [id, index, line] of [
      ['req-a', 0, 1],
      ['req-a', 1, 2],
      ['req-b', 0, 3],
      ['req-b', 1, 4],
    ] as const) {
      const found = await findLoggedRequest({ projectRoot: root, config: config(), requestId: id, index });
      assert.equal(found?.line, line, `${id} row ${index}`);
    }
    assert.equal(await findLoggedRequest({ projectRoot: root, config: config(), requestId: 'req-b', index: 2 }), undefined);
    // the same log as CSV (a monitoring log may be either): the same row, typed as the readers type CSV cells
    const columns = ['ts', 'version', 'date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'id', 'request_id', 'prediction'];
    writeFileSync(
      join(dir, 'logs', 'predictions.csv'),
      `${columns.join(',')}\n${logLines.map((l) => columns.map((c) => String(l[c] ?? '')).join(',')).join('\n')}\n`,
    );
    writeFileSync(join(dir, 'mloop.yaml'), readFileSync(join(dir, 'mloop.yaml'), 'utf8').replace('logs/predictions.jsonl', 'logs/predictions.*'));
    try {
      const csv = await loggedPredictionAt({ projectRoot: root, config: config(), file: join(dir, 'logs', 'predictions.csv'), line: 5 });
      assert.deepEqual([csv.model, csv.version, csv.requestId, csv.index], ['weather-clf', 2, 'req-b', 1]);
      for (const f of ['precipitation', 'temp_max', 'temp_min', 'wind', 'date']) assert.equal(csv.row[f], logLines[3]![f], f);
    } finally {
      writeFileSync(join(dir, 'mloop.yaml'), readFileSync(join(dir, 'mloop.yaml'), 'utf8').replace('logs/predictions.*', 'logs/predictions.jsonl'));
    }
  });

  it('a row with no version, a version gone, a row missing a feature, an unknown request: the message names the file, line and field', async () => {
    const file = join(dir, 'logs', 'predictions.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const { version: _v, ...noVersion } = logLines[0]!;
    const { wind: _w, ...noWind } = logLines[0]!;
    const edited = [...lines, JSON.stringify(noVersion), JSON.stringify({ ...logLines[0]!, version: '9' }), JSON.stringify(noWind)];
    const options = { projectRoot: dir, config: config(), file, lines: edited };
    await assert.rejects(loggedPredictionAt({ ...options, line: 5 }), /^EvaluationError: logs\/predictions\.jsonl:5: the row has no "version" field/);
    const gone = await loggedPredictionAt({ ...options, line: 6 });
    const explainOptions = { store, artifactRoot: artifactRootOf(store.path), projectRoot: dir, config: config(), python: PYTHON };
    await assert.rejects(
      explainLoggedPrediction(explainOptions, gone),
      /^EvaluationError: logs\/predictions\.jsonl:6: weather-clf v9 \(field "version"\) is not in the registry any more/,
    );
    await assert.rejects(
      explainLoggedPrediction(explainOptions, await loggedPredictionAt({ ...options, line: 7 })),
      /^EvaluationError: logs\/predictions\.jsonl:7: the row lacks the model's feature\(s\) wind/,
    );
    await assert.rejects(loggedPredictionAt({ ...options, line: 9 }), /logs\/predictions\.jsonl:9: the file has 7 line\(s\)/);
    const unknown = mloop(dir, 'explain', 'weather-clf', '--request', 'no-such-request');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /Request no-such-request is not in the predictions logs \(weather-clf: logs\/predictions\.jsonl\)/);
  });
});
