import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import type { PerformanceCheckOutcome } from '../../src/vscode/monitoring/performanceCommand';
import { mloopApi, workspaceRoot } from './support';

const WEATHER = join(__dirname, '..', '..', '..', 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv');

/** seattle-weather 2013 as a predictions log (every `wrongEvery`-th prediction wrong) and all its labels. */
function writeLabelledLog(folder: string, wrongEvery: number): void {
  const [, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const year = rows.filter((r) => r.startsWith('2013')).map((r) => r.split(','));
  mkdirSync(folder, { recursive: true });
  writeFileSync(
    join(folder, 'predictions.csv'),
    `id,date,predicted\n${year.map((r, i) => [`p${i}`, r[0], i % wrongEvery === 0 ? (r[5] === 'sun' ? 'rain' : 'sun') : r[5]].join(',')).join('\n')}\n`,
  );
  writeFileSync(join(folder, 'labels.csv'), `id,label\n${year.map((r, i) => `p${i},${r[5]}`).join('\n')}\n`);
}

/** Check Model Performance… inside the real editor: the same code as mloop monitor, a notification, the status badge. */
export function registerMonitoringSuite(): void {
  describe('performance from late labels in the editor', function () {
    this.timeout(120_000);
    let originalConfig: string | undefined;
    const configPath = (): string => join(workspaceRoot(), 'mloop.yaml');

    before(async () => {
      originalConfig = existsSync(configPath()) ? readFileSync(configPath(), 'utf8') : undefined;
      const base = (originalConfig ?? 'version: 1\n').replace(/^monitoring:[\s\S]*?(?=^\S|(?![\s\S]))/m, '');
      writeFileSync(
        configPath(),
        `${base.trimEnd()}\nmonitoring:\n  weather-perf:\n    current: perf/predictions.csv\n    time_column: date\n    window: monthly\n    labels: perf/labels.csv\n    prediction: predicted\n    performance: { accuracy: { min: 0.8 } }\n`,
      );
      await (await mloopApi()).openStore();
    });

    after(() => {
      if (originalConfig !== undefined) writeFileSync(configPath(), originalConfig);
    });

    it('an accuracy below its threshold is an alert in the status badge; good predictions clear it; the reports are stored', async () => {
      const api = await mloopApi();
      writeLabelledLog(join(workspaceRoot(), 'perf'), 4); // 75% right: below 0.8 every month
      const bad = (await vscode.commands.executeCommand('mloop.monitoring.checkPerformance', { model: 'weather-perf' })) as PerformanceCheckOutcome;
      assert.deepEqual(bad.errors, []);
      // every month but February, whose 28 rows are fewer than min_rows (30): "not enough data", no alert
      assert.equal(bad.alerts.length, 11);
      assert.ok(!bad.alerts.some((a) => a.includes('2013-02-01')));
      assert.match(bad.alerts[0]!, /^accuracy 0\.742 in window 2013-01-01 \(n = 31\) is below 0\.8$/);
      assert.match(api.driftBadge() ?? '', /alert: weather-perf/);
      const stored = new MonitoringReportRepository(await api.openStore()).get(bad.performanceReportId!)!;
      assert.deepEqual([stored.modelName, stored.kind, stored.alert], ['weather-perf', 'performance', true]);

      writeLabelledLog(join(workspaceRoot(), 'perf'), 20); // 95% right
      const good = (await vscode.commands.executeCommand('mloop.monitoring.checkPerformance', 'weather-perf')) as PerformanceCheckOutcome;
      assert.deepEqual([good.alerts, good.errors], [[], []]);
      assert.match(good.summary, /^accuracy 0\.\d{3} in window 2013-12-01 \(n = 31\) · 365 of 365 predictions labelled · 0 alert\(s\)$/);
      assert.doesNotMatch(api.driftBadge() ?? '', /alert: weather-perf/);
      assert.ok((await vscode.commands.getCommands(true)).includes('mloop.monitoring.checkPerformance'));
    });
  });
}
