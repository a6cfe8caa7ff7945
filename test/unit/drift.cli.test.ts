import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotDataset } from '../../src/core/datasets/versions';
import { DriftReportRepository } from '../../src/core/store/driftReports';
import { DatasetRepository } from '../../src/core/store/datasets';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { WEATHER } from './datasetFixtures';
import { CLI, mloop, tempDir } from './fixtures';

/** seattle-weather split by year: 2012 (reference), 2015 as is, and 2015 warmer and windier. */
function weatherYears(dir: string): void {
  const [header, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const year = (y: string): string[] => rows.filter((r) => r.startsWith(y));
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'data', 'weather.csv'), `${[header, ...year('2012')].join('\n')}\n`);
  writeFileSync(join(dir, 'y2015.csv'), `${[header, ...year('2015')].join('\n')}\n`);
  const shifted = year('2015').map((r) => {
    const [date, precipitation, tempMax, tempMin, wind, weather] = r.split(',');
    return [date, precipitation, Number(tempMax) + 6, Number(tempMin) + 6, Number(wind) * 1.6, weather].join(',');
  });
  writeFileSync(join(dir, 'shifted.csv'), `${[header, ...shifted].join('\n')}\n`);
}

interface JsonReport {
  dataset_drift: boolean;
  drift_share: number;
  columns: {
    column: string;
    type: string;
    method: string | null;
    statistic: number | null;
    p_value: number | null;
    threshold: number | null;
    drifted: boolean;
    status: string;
    reason?: string;
  }[];
  report_id?: number;
  reference: { kind: string; dataset?: string };
}

describe('cli: mloop drift (child processes, a CI gate)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-driftcli-'));
    weatherYears(dir);
  });
  afterEach(() => cleanup());
  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));

  it('exit 0 without dataset drift, 3 with it; --json has the documented shape', () => {
    const same = mloop(dir, 'drift', '--reference', 'y2015.csv', '--current', 'y2015.csv', '--json');
    assert.equal(same.code, 0, same.stderr);
    const quiet = JSON.parse(same.stdout) as JsonReport;
    assert.equal(quiet.dataset_drift, false);
    assert.equal(quiet.drift_share, 0);
    const r = mloop(dir, 'drift', '--reference', 'data/weather.csv', '--current', 'shifted.csv', '--json');
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as JsonReport;
    assert.equal(report.dataset_drift, true);
    const byName = new Map(report.columns.map((c) => [c.column, c]));
    for (const name of ['temp_max', 'temp_min', 'wind']) {
      const c = byName.get(name)!;
      assert.deepEqual([c.type, c.method, c.status, c.drifted], ['numerical', 'ks', 'ok', true], name);
      assert.ok(c.p_value! < 1e-6 && c.statistic! > 0.2, `${name}: D ${c.statistic} p ${c.p_value}`);
    }
    assert.equal(byName.get('weather')!.method, 'chisquare');
    assert.equal(byName.get('date')!.status, 'skipped');
    assert.match(byName.get('date')!.reason!, /date\/time column/);
    for (const c of report.columns)
      assert.deepEqual(
        Object.keys(c).filter((k) => ['column', 'type', 'method', 'statistic', 'p_value', 'threshold', 'drifted', 'status'].includes(k)).length,
        8,
      );
  });

  it('--method, --threshold, --columns; the text report names the top column; usage errors exit 2, bad files 1', () => {
    const psi = JSON.parse(
      mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'shifted.csv', '--method', 'psi', '--columns', 'temp_max,wind', '--json').stdout,
    ) as JsonReport;
    assert.deepEqual(psi.columns.map((c) => [c.column, c.method, c.p_value]).sort(), [
      ['temp_max', 'psi', null],
      ['wind', 'psi', null],
    ]);
    const loose = mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'shifted.csv', '--method', 'wasserstein', '--threshold', '100');
    assert.equal(loose.code, 0, 'nothing reaches a threshold of 100');
    const text = mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'shifted.csv');
    assert.equal(text.code, 3);
    assert.match(text.stdout, /^Drift: 4 of 5 features \((temp_max|temp_min|wind): KS p = /);
    assert.equal(mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'shifted.csv', '--method', 'nope').code, 2);
    assert.equal(mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'shifted.csv', '--threshold', '-1').code, 2);
    const missing = mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'nowhere.csv');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nowhere\.csv/);
    writeFileSync(join(dir, 'broken.csv'), 'date,temp_max\n2015-01-01,3\n2015-01-02,4,5\n');
    const broken = mloop(dir, 'drift', '-r', 'data/weather.csv', '-c', 'broken.csv');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.csv.*(line|:)\s*3/);
    // the reference is read in a worker thread: its errors still name the file and line, exit 1
    const brokenReference = mloop(dir, 'drift', '-r', 'broken.csv', '-c', 'y2015.csv');
    assert.equal(brokenReference.code, 1);
    assert.match(brokenReference.stderr, /^mloop: .*broken\.csv:3/);
  });

  it('--model: the reference is the dataset version that trained the champion (lineage); the report is stored with it', async () => {
    writeFileSync(
      join(dir, 'mloop.yaml'),
      'version: 1\ndatasets:\n  weather:\n    path: data/weather.csv\nmonitoring:\n  weather-clf:\n    current: shifted.csv\n    thresholds: { ks: 0.01 }\n',
    );
    mkdirSync(join(dir, '.mloop'));
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const snap = await snapshotDataset(store, { name: 'weather', declaration: { path: 'data/weather.csv' }, projectRoot: dir });
      const experiment = new ExperimentRepository(store).ensure('weather');
      const run = new RunRepository(store).create({ experimentId: experiment.experimentId, name: 'train' });
      new DatasetRepository(store).linkRunInput(run.runId, snap.version.datasetVersionId);
      const models = new ModelRepository(store);
      const version = models.registerVersion({ name: 'weather-clf', sourceRunId: run.runId, actor: 'test' });
      models.setAlias({ modelId: version.modelId, alias: 'champion', version: version.version, actor: 'test' });
    } finally {
      store.close();
    }
    const r = mloop(dir, 'drift', '--model', 'weather-clf', '--json');
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as JsonReport;
    assert.deepEqual([report.reference.kind, report.reference.dataset], ['dataset-version', 'weather']);
    assert.equal(report.columns.find((c) => c.column === 'temp_max')!.threshold, 0.01, 'thresholds from mloop.yaml');
    // the reference file changes after training: the stored profile stands in (histogram distances only)
    writeFileSync(join(dir, 'data', 'weather.csv'), 'date,temp_max\n2020-01-01,1\n');
    const fromProfile = JSON.parse(mloop(dir, 'drift', '--model', 'weather-clf', '--json').stdout) as JsonReport;
    assert.equal(fromProfile.reference.kind, 'dataset-profile');
    assert.equal(fromProfile.columns.find((c) => c.column === 'temp_max')!.method, 'jensenshannon');
    assert.equal(fromProfile.columns.find((c) => c.column === 'weather')!.method, 'chisquare', 'category counts are in the profile');
    const reader = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      const stored = new DriftReportRepository(reader).list();
      assert.equal(stored.length, 2);
      assert.equal(stored[1]!.driftReportId, report.report_id);
      assert.equal(stored[1]!.modelName, 'weather-clf');
      assert.equal(stored[1]!.datasetDrift, true);
      assert.ok(stored[1]!.referenceDatasetVersionId !== null && stored[1]!.currentDigest?.length === 64);
      const body = JSON.parse(stored[1]!.resultJson) as { report: { columns: { histogram?: unknown }[] } };
      assert.ok(
        body.report.columns.some((c) => c.histogram),
        'histograms stored for the panel',
      );
    } finally {
      reader.close();
    }
    const byVersion = mloop(dir, 'drift', '-r', 'weather@v1', '-c', 'y2015.csv', '--json', '--no-store');
    assert.equal((JSON.parse(byVersion.stdout) as JsonReport).reference.kind, 'dataset-profile', byVersion.stderr);
    assert.equal(mloop(dir, 'drift', '-r', 'weather@v9', '-c', 'y2015.csv').code, 1);
  });
});

describe('store: a drift report of a model not registered yet', () => {
  it('is named by the model its check stored, in get, list and listForModel; the registry name wins once registered', () => {
    const { dir, cleanup } = tempDir('mloop-driftname-');
    const store = openStore({ path: join(dir, 'mloop.db') });
    try {
      const repo = new DriftReportRepository(store);
      const result = { model: 'later-clf', report: { columns: [] } };
      const added = repo.add({ currentUri: 'current.csv', driftedShare: 0.5, datasetDrift: true, result });
      assert.equal(added.modelId, null);
      assert.equal(added.modelName, 'later-clf', 'add returns the name from the stored result');
      assert.equal(repo.get(added.driftReportId)!.modelName, 'later-clf');
      assert.equal(repo.list()[0]!.modelName, 'later-clf');
      assert.equal(repo.listForModel('later-clf')[0]!.driftReportId, added.driftReportId);
      const noName = repo.add({ currentUri: 'current.csv', driftedShare: 0, datasetDrift: false, result: { report: {} } });
      assert.equal(noName.modelName, null, 'a report with no model stays unnamed');
      const experiment = new ExperimentRepository(store).ensure('e');
      const run = new RunRepository(store).create({ experimentId: experiment.experimentId, name: 'train' });
      const version = new ModelRepository(store).registerVersion({ name: 'registered-clf', sourceRunId: run.runId, actor: 'test' });
      const linked = repo.add({ modelId: version.modelId, currentUri: 'c.csv', driftedShare: 0, datasetDrift: false, result });
      assert.equal(linked.modelName, 'registered-clf', 'the registry row names a registered model');
    } finally {
      store.close();
      cleanup();
    }
  });
});
