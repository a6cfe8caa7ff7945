import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDriftCheck } from '../../src/core/drift/check';
import { checkOptionsFromMonitoring, driftHeadline, verdictMargin } from '../../src/core/drift/monitor';
import type { DriftReport } from '../../src/core/drift/report';
import { loadConfig } from '../../src/core/config/loadConfig';
import { tempDir } from './fixtures';
import { WEATHER } from './datasetFixtures';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather'); // from out/test/unit

/** Rows of the example data as serve.py logs them in logs/predictions.jsonl (ts, version, date, the inputs, prediction). */
function predictionLog(dir: string, keep: (date: string) => boolean): string {
  const [header, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const names = header!.split(',');
  const lines = rows
    .map((r) => Object.fromEntries(r.split(',').map((v, i) => [names[i], v])))
    .filter((r) => keep(r.date!))
    .map((r) =>
      JSON.stringify({
        ts: 1_700_000_000,
        version: 1,
        date: r.date,
        precipitation: Number(r.precipitation),
        temp_max: Number(r.temp_max),
        temp_min: Number(r.temp_min),
        wind: Number(r.wind),
        prediction: r.weather,
      }),
    );
  const path = join(dir, 'predictions.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function exampleMonitoring() {
  const { config, problems } = loadConfig(readFileSync(join(EXAMPLE, 'mloop.yaml'), 'utf8'), 'mloop.yaml');
  assert.deepEqual(problems, []);
  const entry = config?.monitoring?.['weather-clf'];
  assert.ok(entry, 'the example declares monitoring for weather-clf, so Check Drift works out of the box');
  return entry;
}

describe('drift: the first verdict a newcomer sees (issue 15, item 3)', () => {
  it("the example's defaults do not call a subset of the training data drift: each year 2012–2015 vs all four", async function () {
    this.timeout(30_000);
    const entry = exampleMonitoring();
    const { dir, cleanup } = tempDir();
    try {
      for (const year of ['2012', '2013', '2014', '2015']) {
        const current = predictionLog(dir, (d) => d.startsWith(year));
        const { report } = await runDriftCheck({ ...checkOptionsFromMonitoring('weather-clf', entry, dir), reference: WEATHER, current });
        assert.equal(report.compared_columns, 4, `${year}: the four model inputs are compared`);
        assert.equal(
          report.dataset_drift,
          false,
          `${year} is part of the training data, not drift: ${driftHeadline({ report, reference: { kind: 'file', path: WEATHER }, current: { path: current, digest: null }, windows: [] })}`,
        );
      }
    } finally {
      cleanup();
    }
  });

  it("the example's defaults still call a real shift drift: summer-only traffic against the whole years", async function () {
    this.timeout(30_000);
    const { dir, cleanup } = tempDir();
    try {
      const current = predictionLog(dir, (d) => ['06', '07', '08'].includes(d.slice(5, 7)));
      const { report } = await runDriftCheck({ ...checkOptionsFromMonitoring('weather-clf', exampleMonitoring(), dir), reference: WEATHER, current });
      assert.equal(report.dataset_drift, true);
      assert.ok(report.columns.find((c) => c.column === 'temp_max')?.drifted);
    } finally {
      cleanup();
    }
  });

  it('a date column is typed datetime in the report and skipped with a reason that says what to do', async function () {
    this.timeout(30_000);
    const { dir, cleanup } = tempDir();
    try {
      const current = predictionLog(dir, (d) => d.startsWith('2015'));
      const { report } = await runDriftCheck({ reference: WEATHER, current, baseDir: dir });
      const date = report.columns.find((c) => c.column === 'date');
      assert.equal(date?.type, 'datetime');
      assert.equal(date?.status, 'skipped');
      assert.match(date?.reason ?? '', /date\/time column.*time_column/);
      assert.equal(report.columns.find((c) => c.column === 'temp_max')?.type, 'numerical');
    } finally {
      cleanup();
    }
  });

  it('a borderline verdict says how close it is and which column decides it; a clear one only gives share vs threshold', () => {
    const column = (name: string, drifted: boolean, statistic: number) =>
      ({
        column: name,
        type: 'numerical',
        method: 'wasserstein',
        statistic,
        p_value: null,
        threshold: 0.1,
        drifted,
        status: 'ok',
        score: statistic / 0.1,
        reference_count: 1,
        current_count: 1,
        reference_missing: 0,
        current_missing: 0,
      }) as const;
    const report = (drifted: number, total: number): DriftReport => {
      const columns = Array.from({ length: total }, (_, i) => column(`c${i}`, i < drifted, i < drifted ? 0.2 - i * 0.05 : 0.05 + i * 0.01));
      return {
        dataset_drift: drifted / total >= 0.5,
        drift_share: drifted / total,
        drifted_columns: drifted,
        compared_columns: total,
        share_threshold: 0.5,
        reference_rows: 1,
        current_rows: 1,
        columns,
      };
    };
    // 2 of 4 at 0.5: one column fewer flips it; the weakest drifted column (c1, 0.15) decides
    assert.equal(verdictMargin(report(2, 4)), 'share 0.50 vs threshold 0.50 · borderline: without c1 (Wasserstein 0.150 vs 0.1) it would be no drift');
    // 1 of 4: one more would make it drift; the strongest calm column is named
    assert.equal(verdictMargin(report(1, 4)), 'share 0.25 vs threshold 0.50 · borderline: c3 (Wasserstein 0.080 vs 0.1) drifting too would make it drift');
    // 4 of 4 and 0 of 4 are clear
    assert.equal(verdictMargin(report(4, 4)), 'share 1.00 vs threshold 0.50');
    assert.equal(verdictMargin(report(0, 4)), 'share 0.00 vs threshold 0.50');
  });
});
