import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import type { ProjectConfig } from '../../src/vscode/base/projectConfig';
import type { WorkspaceStore } from '../../src/vscode/base/workspaceStore';
import { DriftMonitor } from '../../src/vscode/monitoring/driftMonitor';
import type { PerformanceCheckOutcome } from '../../src/vscode/monitoring/performanceCommand';
import { mloopApi, workspaceRoot } from './support';

async function poll<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting for the Monitoring panel');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const WEATHER = join(__dirname, '..', '..', '..', 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv');

const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];

/**
 * seattle-weather 2013 as a predictions log (every `wrongEvery`-th prediction wrong, 0.75 logged for the predicted
 * class and 0.0625 for each other) and all its labels; 2012 the same way as the labelled CBPE reference.
 */
function writeLabelledLog(folder: string, wrongEvery: number): void {
  const [, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const log = (year: string, withLabel: boolean): string => {
    const days = rows.filter((r) => r.startsWith(year)).map((r) => r.split(','));
    const lines = days.map((r, i) => {
      const predicted = i % wrongEvery === 0 ? (r[5] === 'sun' ? 'rain' : 'sun') : r[5]!;
      return [`p${i}`, r[0], predicted, ...CLASSES.map((c) => (c === predicted ? '0.75' : '0.0625')), ...(withLabel ? [r[5]] : [])].join(',');
    });
    return `id,date,predicted,${CLASSES.map((c) => `proba_${c}`).join(',')}${withLabel ? ',label' : ''}\n${lines.join('\n')}\n`;
  };
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'predictions.csv'), log('2013', false));
  writeFileSync(join(folder, 'reference.csv'), log('2012', true));
  const year = rows.filter((r) => r.startsWith('2013')).map((r) => r.split(','));
  writeFileSync(join(folder, 'labels.csv'), `id,label\n${year.map((r, i) => `p${i},${r[5]}`).join('\n')}\n`);
}

/**
 * mloop.yaml's monitoring: replaced by one entry (its YAML lines) for the suite, after `prepare` (files the entry reads,
 * written before its watchers exist); the file as it was put back after.
 */
function withMonitoringEntry(entry: string, prepare?: () => void): void {
  let originalConfig: string | undefined;
  const configPath = (): string => join(workspaceRoot(), 'mloop.yaml');
  before(async () => {
    originalConfig = existsSync(configPath()) ? readFileSync(configPath(), 'utf8') : undefined;
    const base = (originalConfig ?? 'version: 1\n').replace(/^monitoring:[\s\S]*?(?=^\S|(?![\s\S]))/m, '');
    prepare?.();
    writeFileSync(configPath(), `${base.trimEnd()}\nmonitoring:\n${entry}`);
    await (await mloopApi()).openStore();
  });
  after(() => {
    if (originalConfig !== undefined) writeFileSync(configPath(), originalConfig);
  });
}

/** Check Model Performance… inside the real editor: the same code as mloop monitor, a notification, the status badge. */
export function registerMonitoringSuite(): void {
  describe('performance from late labels in the editor', function () {
    this.timeout(120_000);
    withMonitoringEntry(
      '  weather-perf:\n    current: perf/predictions.csv\n    time_column: date\n    window: monthly\n    labels: perf/labels.csv\n    prediction: predicted\n    performance: { accuracy: { min: 0.8 } }\n    estimated_performance: { reference: perf/reference.csv, calibration: none, accuracy: { min: 0.7 } }\n',
    );

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

    it('Open Monitoring… shows realised accuracy with its interval beside the CBPE estimate per window, the alerts, and follows new checks', async () => {
      const api = await mloopApi();
      writeLabelledLog(join(workspaceRoot(), 'perf'), 4);
      const checked = (await vscode.commands.executeCommand('mloop.monitoring.checkPerformance', 'weather-perf')) as PerformanceCheckOutcome;
      assert.ok(checked.estimatedReportId !== undefined, 'an estimated performance report is stored');
      await vscode.commands.executeCommand('mloop.monitoring.openPanel', 'weather-perf');
      const view = await poll(() => {
        const v = api.monitoringPanelState();
        return v?.model === 'weather-perf' && v.windows.some((w) => w.estimated) ? v : undefined;
      });
      const january = view.windows.find((w) => w.start === '2013-01-01')!;
      // every 4th of 31 wrong: 23/31 realised; the logged 0.75 for the predicted class, uncalibrated, is the estimate
      assert.ok(Math.abs(january.realised!.value - 23 / 31) < 1e-12, `realised ${january.realised?.value}`);
      assert.ok(january.realised!.lower! < january.realised!.value && january.realised!.upper! > january.realised!.value);
      assert.ok(Math.abs(january.estimated!.value - 0.75) < 1e-12, `estimated ${january.estimated?.value}`);
      assert.deepEqual([january.estimated!.n, january.realised!.n], [31, 31]);
      assert.ok(january.alerts.some((a) => /^accuracy 0\.742 in window 2013-01-01/.test(a)));
      assert.equal(view.alerts.filter((a) => a.check === 'performance').length, 11);
      assert.equal(view.alerts.filter((a) => a.check === 'estimated performance').length, 0, 'the estimate 0.75 stays above its 0.7 bound');
      // a new check lands in the store: the open panel follows it
      writeLabelledLog(join(workspaceRoot(), 'perf'), 20);
      await vscode.commands.executeCommand('mloop.monitoring.checkPerformance', 'weather-perf');
      await poll(() => (api.monitoringPanelState()?.alerts.length === 0 ? true : undefined));
    });
  });

  describe('a scheduled check that fails, in the editor', function () {
    this.timeout(120_000);
    withMonitoringEntry(
      '  weather-late:\n    reference: late/reference.csv\n    current: late/predictions.csv\n    columns: [proba_sun, proba_rain]\n    time_column: date\n    window: monthly\n    labels: late/labels.csv\n    prediction: predicted\n    performance: { accuracy: { min: 0.8 } }\n',
      () => writeLabelledLog(join(workspaceRoot(), 'late'), 20),
    );

    // CI failed on this (1294 passed, 1 failed): late labels the join refused were said in the log alone, and the
    // Monitoring panel showed "No window with enough data yet"
    it('labels that cannot be joined (an id labelled twice): the panel says which check failed and where, until labels that can be joined arrive', async () => {
      const api = await mloopApi();
      const labels = join(workspaceRoot(), 'late', 'labels.csv');
      await vscode.commands.executeCommand('mloop.monitoring.openPanel', 'weather-late');
      // the labels change: the editor checks by itself (the file watcher); p0's label delivered twice
      const twice = `${readFileSync(labels, 'utf8')}p0,sun\n`;
      writeFileSync(labels, twice);
      let written = Date.now();
      const failed = await poll(() => {
        const v = api.monitoringPanelState();
        if (v?.model === 'weather-late' && v.checkErrors?.length) return v;
        // mloop.yaml's new monitoring entry is read after a debounce: the same labels written again once its watchers are there
        if (Date.now() - written > 5_000) {
          writeFileSync(labels, twice);
          written = Date.now();
        }
        return undefined;
      });
      assert.deepEqual(
        failed.checkErrors!.map((e) => [e.check, e.message]),
        [['performance', 'late/labels.csv data row 366: id p0 is labelled twice (first at late/labels.csv data row 1)']],
      );
      assert.equal(failed.windows.filter((w) => w.realised).length, 0, 'no performance report was stored to draw');
      // the labels put right: the next check joins them, and the failure leaves the panel
      writeLabelledLog(join(workspaceRoot(), 'late'), 20);
      assert.equal(failed.checkErrors!.length, 1);
      const fixed = await poll(() => {
        const v = api.monitoringPanelState();
        return v?.model === 'weather-late' && !v.checkErrors && v.windows.some((w) => w.realised) ? v : undefined;
      });
      assert.equal(fixed.windows.filter((w) => w.realised).length, 11, 'every month but February (28 rows, fewer than min_rows)');
    });
  });

  // CI once failed on this (917 passed, 1 failed): a check a late file event started ended after its model had left
  // mloop.yaml's monitoring and put it back on the badge for good. The rule: the badge shows the newest check's result.
  describe('the status badge when checks overlap', () => {
    it('an older check ending last, a check from before mloop.yaml changed, and one of a model no longer monitored leave the badge alone', () => {
      const changed = new vscode.EventEmitter<void>();
      const config: { current: { monitoring: Record<string, { current: string }> } } = { current: { monitoring: { m: { current: 'perf/none.csv' } } } };
      const projectConfig = { ...config, isLoaded: true, projectRoot: workspaceRoot(), onDidChange: changed.event };
      const setMonitoring = (monitoring: Record<string, { current: string }>): void => {
        projectConfig.current = { monitoring };
        changed.fire();
      };
      const log = vscode.window.createOutputChannel('mloop badge test', { log: true });
      const monitor = new DriftMonitor({
        workspaceStore: { get: async () => undefined, fire: () => undefined } as unknown as WorkspaceStore,
        projectConfig: projectConfig as unknown as ProjectConfig,
        log,
        openReport: () => undefined,
      });
      try {
        const older = monitor.beginCheck('m');
        const newer = monitor.beginCheck('m');
        assert.equal(newer(), true, 'the newest check shows its result');
        monitor.setMonitoringAlerts('m', ['accuracy 0.7 is below 0.8']);
        assert.match(monitor.badgeText() ?? '', /alert: m/);
        assert.equal(older(), false, 'a check started before the one shown ends last: its result is not shown');
        const beforeChange = monitor.beginCheck('m');
        setMonitoring({ m: { current: 'perf/other.csv' } });
        assert.equal(beforeChange(), false, "a check started under mloop.yaml's earlier monitoring: not shown");
        assert.equal(monitor.beginCheck('m')(), true, 'a check started after the change is');
        const outgoing = monitor.beginCheck('m');
        setMonitoring({});
        assert.equal(outgoing(), false);
        monitor.setMonitoringAlerts('m', ['late alert']);
        assert.equal(monitor.badgeText(), undefined, 'a model out of monitoring never comes back on the badge');
      } finally {
        monitor.dispose();
        log.dispose();
        changed.dispose();
      }
    });
  });
}
