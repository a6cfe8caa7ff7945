import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { WEATHER } from './datasetFixtures';
import { pollUntil } from '../harness/poll';
import { CLI, mloop, tempDir } from './fixtures';

interface MonitorJson {
  alerts: number;
  errors: number;
  models: {
    model: string;
    drift?: { dataset_drift: boolean; report_id?: number };
    performance?: { task: string; report_id?: number; windows: { start: string; n: number; status: string; metrics: { accuracy?: { value: number } } }[] };
    fairness?: { columns: { column: string; groups: { group: string; n: number }[] }[] };
    alerts: { check: string; metric: string; window?: string; message: string }[];
    errors: { check: string; message: string }[];
  }[];
}

/** seattle-weather 2013 as a predictions log (every 4th prediction wrong) and its late labels, all but December. */
function project(dir: string, performance: string): void {
  const [, ...rows] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const year = rows.filter((r) => r.startsWith('2013')).map((r) => r.split(','));
  const features = (r: string[]): string => [r[0], r[2], r[3], r[4]].join(',');
  writeFileSync(join(dir, 'reference.csv'), `date,temp_max,temp_min,wind\n${year.map(features).join('\n')}\n`);
  writeFileSync(
    join(dir, 'predictions.csv'),
    `id,date,temp_max,temp_min,wind,region,predicted\n${year
      .map((r, i) => [`p${i}`, features(r), i % 2 ? 'north' : 'south', i % 4 === 0 ? (r[5] === 'sun' ? 'rain' : 'sun') : r[5]].join(','))
      .join('\n')}\n`,
  );
  writeFileSync(
    join(dir, 'labels.csv'),
    `id,label\n${year
      .map((r, i) => [`p${i}`, r[5]])
      .filter((_, i) => !year[i]![0]!.startsWith('2013-12'))
      .map((x) => x.join(','))
      .join('\n')}\nnever-predicted,sun\n`,
  );
  writeFileSync(
    join(dir, 'mloop.yaml'),
    [
      'version: 1',
      'monitoring:',
      '  weather-clf:',
      '    reference: reference.csv',
      '    current: predictions.csv',
      '    columns: [temp_max, temp_min, wind]',
      '    time_column: date',
      '    window: monthly',
      '    labels: labels.csv',
      '    prediction: predicted',
      '    groups: [region]',
      '    positive_class: sun',
      `    performance: ${performance}`,
      '',
    ].join('\n'),
  );
}

describe('cli: mloop monitor --once (child processes; exit 0 all good, 3 an alert, 1 an error)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`);
    ({ dir, cleanup } = tempDir('mloop-monitorcli-'));
    mkdirSync(join(dir, '.mloop'));
  });
  after(() => cleanup());
  const storedReports = () => {
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      return new MonitoringReportRepository(store).list({ modelName: 'weather-clf' });
    } finally {
      store.close();
    }
  };

  it('exit 0 when every check passes: drift, performance per window and fairness per group are reported and stored', () => {
    project(dir, '{ accuracy: { min: 0.6 } }');
    const r = mloop(dir, 'monitor', 'weather-clf', '--once', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as MonitorJson;
    assert.deepEqual([out.alerts, out.errors], [0, 0]);
    const m = out.models[0]!;
    assert.equal(m.drift?.dataset_drift, false);
    assert.equal(m.performance?.task, 'classification');
    assert.equal(m.performance?.windows.length, 12);
    const january = m.performance!.windows[0]!;
    assert.equal(january.n, 31);
    assert.ok(Math.abs(january.metrics.accuracy!.value - 23 / 31) < 1e-12, `every 4th of 31 wrong: ${january.metrics.accuracy!.value}`);
    assert.deepEqual([m.performance!.windows[11]!.start, m.performance!.windows[11]!.status], ['2013-12-01', 'not_enough_data']);
    assert.deepEqual(
      m.fairness?.columns[0]?.groups.map((g) => [g.group, g.n]),
      [
        ['north', 167],
        ['south', 167],
      ],
    );
    const reports = storedReports();
    assert.deepEqual(reports.map((x) => [x.kind, x.alert]).sort(), [
      ['fairness', false],
      ['performance', false],
    ]);
    assert.equal(reports.find((x) => x.kind === 'performance')!.monitoringReportId, m.performance!.report_id);
    const text = mloop(dir, 'monitor', '--once');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^weather-clf: ok\n {2}drift: No dataset drift in weather-clf/);
    assert.match(text.stdout, /note: 1 label\(s\) with an id never predicted \(e\.g\. never-predicted\)/);
  });

  it('exit 3 on an alert, naming the metric and the window; the report is stored as an alert', () => {
    project(dir, '{ accuracy: { min: 0.8 } }');
    const r = mloop(dir, 'monitor', '--once', '--json');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as MonitorJson;
    assert.ok(out.alerts > 0);
    const first = out.models[0]!.alerts[0]!;
    assert.deepEqual([first.check, first.metric, first.window], ['performance', 'accuracy', '2013-01-01']);
    assert.match(first.message, /^accuracy 0\.742 in window 2013-01-01 \(n = 31\) is below 0\.8$/);
    assert.equal(storedReports().find((x) => x.kind === 'performance')!.alert, true);
    assert.match(mloop(dir, 'monitor', '--once').stdout, /weather-clf: \d+ ALERT\(S\)[\s\S]*ALERT performance: accuracy 0\.742 in window 2013-01-01/);
  });

  it('exit 1 on bad input (a duplicate label id), naming the file and row; nothing is stored for that check', () => {
    project(dir, '{ accuracy: { min: 0.6 } }');
    const labels = readFileSync(join(dir, 'labels.csv'), 'utf8');
    writeFileSync(join(dir, 'labels.csv'), `${labels}p3,sun\n`);
    const before = storedReports().length;
    const r = mloop(dir, 'monitor', '--once');
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /ERROR performance: labels\.csv data row 336: id p3 is labelled twice \(first at labels\.csv data row 4\)/);
    assert.equal(storedReports().length, before, 'no half-written report');
    const missing = mloop(dir, 'monitor', 'nope', '--once');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no monitoring\.nope in mloop\.yaml and no target serves nope \(configured: weather-clf\)/);
    const noOnce = mloop(dir, 'monitor');
    assert.equal(noOnce.code, 1);
    assert.match(noOnce.stderr, /pass --once \(check once and exit\) or --every <interval>/);
    for (const [args, message] of [
      [['--every', '0m'], /--every 0m: give a number above 0 and a unit: 30s, 15m, 6h or 1d/],
      [['--every', '15 minutes'], /--every 15 minutes: give a number above 0 and a unit/],
      [['--once', '--every', '1m'], /pass --once or --every <interval>, not both/],
    ] as const) {
      const bad = mloop(dir, 'monitor', ...args);
      assert.equal(bad.code, 1, args.join(' '));
      assert.match(bad.stderr, message);
    }
  });

  it("max_drop compares each window with the champion's validation metric from its training run (a real store)", () => {
    project(dir, '{ max_drop: 0.05 }');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const experiment = new ExperimentRepository(store).ensure('weather');
      const runs = new RunRepository(store);
      const run = runs.create({ experimentId: experiment.experimentId, name: 'train' });
      runs.logMetrics(run.runId, [{ key: 'val_accuracy', value: 0.78, timestamp: 1, step: 0 }]);
      const models = new ModelRepository(store);
      const version = models.registerVersion({ name: 'weather-clf', sourceRunId: run.runId, actor: 'test' });
      models.setAlias({ modelId: version.modelId, alias: 'champion', version: version.version, actor: 'test' });
    } finally {
      store.close();
    }
    const r = mloop(dir, 'monitor', '--once', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const alerts = (JSON.parse(r.stdout) as MonitorJson).models[0]!.alerts;
    // 0.78 − 0.05: the months every 4th prediction wrong (0.742 … 0.750) are within the drop; none is worse
    assert.deepEqual(alerts, []);
    project(dir, '{ max_drop: 0.02 }');
    const strict = JSON.parse(mloop(dir, 'monitor', '--once', '--json').stdout) as MonitorJson;
    assert.ok(strict.models[0]!.alerts.length > 0);
    assert.match(
      strict.models[0]!.alerts[0]!.message,
      /^accuracy 0\.742 in window 2013-01-01 \(n = 31\) is 0\.038 worse than v1's val_accuracy 0\.780 \(max_drop 0\.02\)$/,
    );
    project(dir, '{ max_drop: 0.02, validation_metric: val_f1 }');
    const missing = mloop(dir, 'monitor', '--once');
    assert.equal(missing.code, 1);
    assert.match(
      missing.stdout,
      /ERROR performance: performance\.max_drop of weather-clf: run \w{8} that trained v1 logged no val_f1 \(it logged: val_accuracy\)/,
    );
  });

  it('an internal error (a damaged store) exits 1 as soon as it is printed: the drift thread, still reading, does not keep the process alive', async () => {
    const own = tempDir('mloop-monitorfail-');
    try {
      mkdirSync(join(own.dir, '.mloop'));
      mkdirSync(join(own.dir, 'reference'));
      project(own.dir, '{ accuracy: { min: 0.6 } }');
      // a drift reference that takes the drift thread a while: 40 links to one 50,000-row file (cheap to make)
      const rows = Array.from({ length: 50_000 }, (_, i) => `2013-${String(1 + (i % 12)).padStart(2, '0')}-01,${i % 37},${i % 23},${(i % 90) / 10}`);
      writeFileSync(join(own.dir, 'reference', 'base.csv'), `date,temp_max,temp_min,wind\n${rows.join('\n')}\n`);
      for (let k = 0; k < 40; k++) symlinkSync('base.csv', join(own.dir, 'reference', `r${k}.csv`));
      writeFileSync(
        join(own.dir, 'mloop.yaml'),
        readFileSync(join(own.dir, 'mloop.yaml'), 'utf8').replace('reference: reference.csv', 'reference: reference/r*.csv'),
      );
      const timed = async (): Promise<{ code: number | null; stderr: string; printed: number; exited: number }> => {
        const started = performance.now();
        const run = mloopAsync(own.dir, ['monitor', '--once', '--json']);
        let printed = Number.NaN;
        run.child.stderr!.once('data', () => (printed = performance.now() - started));
        const r = await run.done;
        return { code: r.code, stderr: r.stderr, printed, exited: performance.now() - started };
      };
      const healthy = await timed(); // the whole check, the drift thread's read of the reference included
      assert.ok(healthy.code === 0 || healthy.code === 3, healthy.stderr); // all good or a drift alert: no error
      // a real failure, not bad input: the page of the monitoring reports' table overwritten, so storing performance throws
      const path = join(own.dir, '.mloop', 'mloop.db');
      const store = openStore({ path });
      const { rootpage } = store.db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'monitoring_report'").get() as { rootpage: number };
      const pageSize = store.db.pragma('page_size', { simple: true }) as number;
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      store.close();
      const file = openSync(path, 'r+');
      writeSync(file, Buffer.alloc(pageSize, 0xff), 0, pageSize, (rootpage - 1) * pageSize);
      closeSync(file);
      const failed = await timed();
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /mloop store .* is damaged \(SQLITE_CORRUPT\)/);
      // before the fix the process stayed until the drift thread had read and compared (about what the healthy run
      // takes after the same moment); now it ends right after the message
      assert.ok(
        failed.exited - failed.printed < (healthy.exited - failed.printed) / 2,
        `exited ${Math.round(failed.exited - failed.printed)} ms after the error; the healthy check ran ${Math.round(healthy.exited)} ms in all`,
      );
    } finally {
      own.cleanup();
    }
  });
});

/** The CLI as an async child process: the test's own webhook server must keep answering while it runs. */
function mloopAsync(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, MLOOP_STORE: '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return { child, done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
}

/** A loopback webhook receiver that answers `status` and keeps every body and path. */
async function webhookReceiver(status: number): Promise<{ url: string; bodies: string[]; paths: string[]; close: () => void }> {
  const bodies: string[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      bodies.push(body);
      paths.push(req.url ?? '');
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hooks/T0K3N-s3cr3t`, bodies, paths, close: () => server.close() };
}

describe('cli: mloop monitor on_alert and --every (the editor closed)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir('mloop-onalert-'));
    mkdirSync(join(dir, '.mloop'));
  });
  after(() => cleanup());
  const withOnAlert = (onAlert: string): void => {
    project(dir, '{ accuracy: { min: 0.8 } }');
    writeFileSync(join(dir, 'mloop.yaml'), `${readFileSync(join(dir, 'mloop.yaml'), 'utf8')}    on_alert: ${onAlert}\n`);
  };

  it('an alert runs on_alert.command with the result on stdin and POSTs it to the webhook named by webhook_env; the URL is never printed', async () => {
    const hook = await webhookReceiver(200);
    try {
      withOnAlert('{ command: "cat > alert.json; echo $MLOOP_ALERT_MODEL $MLOOP_ALERT_COUNT > alert.env", webhook_env: MLOOP_TEST_HOOK }');
      const r = await mloopAsync(dir, ['monitor', '--once'], { MLOOP_TEST_HOOK: hook.url }).done;
      assert.equal(r.code, 3, r.stderr + r.stdout);
      const sent = JSON.parse(readFileSync(join(dir, 'alert.json'), 'utf8')) as {
        model: string;
        alerts: { metric: string; window: string }[];
        checked_at: string;
      };
      assert.equal(sent.model, 'weather-clf');
      assert.deepEqual([sent.alerts[0]!.metric, sent.alerts[0]!.window], ['accuracy', '2013-01-01']);
      assert.equal(readFileSync(join(dir, 'alert.env'), 'utf8').trim(), `weather-clf ${sent.alerts.length}`);
      assert.equal(hook.bodies.length, 1, 'one POST');
      assert.deepEqual(JSON.parse(hook.bodies[0]!), sent, 'the webhook gets the same JSON as the command');
      assert.equal(hook.paths[0], '/hooks/T0K3N-s3cr3t');
      assert.match(r.stdout, /on_alert: on_alert\.command ran \(exit 0\)/);
      assert.match(r.stdout, /on_alert: the webhook in \$MLOOP_TEST_HOOK answered 200/);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('T0K3N'), 'the webhook token is not printed');
    } finally {
      hook.close();
    }
  });

  it('a failed delivery is an error (exit 1) that says which and why: a webhook answering 500, an unset variable, a failing command', async () => {
    const hook = await webhookReceiver(500);
    try {
      withOnAlert(`{ webhook: "${hook.url}" }`);
      const r = await mloopAsync(dir, ['monitor', '--once']).done;
      assert.equal(r.code, 1, r.stderr + r.stdout);
      assert.match(r.stdout, /ERROR on_alert: the webhook at 127\.0\.0\.1:\d+ answered 500/);
      assert.ok(!r.stdout.includes('T0K3N'));
      withOnAlert('{ webhook_env: MLOOP_UNSET_HOOK, command: "echo broken >&2; exit 4" }');
      const unset = await mloopAsync(dir, ['monitor', '--once']).done;
      assert.equal(unset.code, 1);
      assert.match(unset.stdout, /ERROR on_alert: the environment variable MLOOP_UNSET_HOOK \(on_alert\.webhook_env\) is not set/);
      assert.match(unset.stdout, /ERROR on_alert: on_alert\.command exited 4: broken/);
    } finally {
      hook.close();
    }
  });

  it("--once runs in a child with glibc's malloc settings (a user's own value kept); the on_alert command gets the user's environment back", async function () {
    if (!existsSync('/proc/self/environ')) this.skip(); // the child's starting environment is read from /proc (Linux)
    // $PPID of the command's shell is the relaunched CLI: /proc shows the environment that process started with
    withOnAlert('{ command: "cat /proc/$PPID/environ > started.env; env > command.env" }');
    const malloc = (text: string, separator: string): string[] =>
      text
        .split(separator)
        .filter((v) => /^(MALLOC_|MLOOP_MALLOC_ENV=)/.test(v))
        .sort();
    const plain = await mloopAsync(dir, ['monitor', '--once']).done;
    assert.equal(plain.code, 3, plain.stderr + plain.stdout);
    assert.deepEqual(malloc(readFileSync(join(dir, 'started.env'), 'utf8'), '\0'), [
      'MALLOC_ARENA_MAX=2',
      'MALLOC_MMAP_THRESHOLD_=262144',
      'MLOOP_MALLOC_ENV=MALLOC_MMAP_THRESHOLD_,MALLOC_ARENA_MAX',
    ]);
    assert.deepEqual(malloc(readFileSync(join(dir, 'command.env'), 'utf8'), '\n'), []);
    const own = await mloopAsync(dir, ['monitor', '--once'], { MALLOC_ARENA_MAX: '4' }).done;
    assert.equal(own.code, 3, own.stderr + own.stdout);
    assert.deepEqual(malloc(readFileSync(join(dir, 'started.env'), 'utf8'), '\0'), [
      'MALLOC_ARENA_MAX=4',
      'MALLOC_MMAP_THRESHOLD_=262144',
      'MLOOP_MALLOC_ENV=MALLOC_MMAP_THRESHOLD_',
    ]);
    assert.deepEqual(malloc(readFileSync(join(dir, 'command.env'), 'utf8'), '\n'), ['MALLOC_ARENA_MAX=4']);
  });

  it('--every 1s checks again and again (one JSON line each, on_alert each time) until SIGTERM, then exits 0', async () => {
    const hook = await webhookReceiver(200);
    try {
      withOnAlert('{ webhook_env: MLOOP_TEST_HOOK }');
      const run = mloopAsync(dir, ['monitor', '--every', '1s', '--json'], { MLOOP_TEST_HOOK: hook.url });
      await pollUntil(() => (hook.bodies.length >= 2 ? true : undefined), { what: 'two checks', intervalMs: 100, timeoutMs: 40_000 });
      run.child.kill('SIGTERM');
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { checked_at: string; alerts: number });
      assert.ok(lines.length >= 2, `${lines.length} check(s)`);
      assert.ok(lines.every((l) => l.alerts > 0));
      assert.ok(lines[1]!.checked_at > lines[0]!.checked_at, 'a later check');
    } finally {
      hook.close();
    }
  });
});

describe('mloop.yaml: monitoring.<model> performance and fairness settings', () => {
  it('a misspelt bound, labels without prediction and an unknown metric point at their line', () => {
    const { config, problems } = loadConfig(
      [
        'version: 1',
        'monitoring:',
        '  m:',
        '    current: p.csv',
        '    labels: labels/*.csv',
        '    performance:',
        '      accuracy: { mni: 0.8 }',
        '      auc: { min: 0.7 }',
        '    fairness:',
        '      demographic_parity_ratio: {}',
        '',
      ].join('\n'),
      'mloop.yaml',
    );
    assert.equal(config, undefined);
    const lines = problems.map((p) => `${p.line}: ${p.message}`).join('\n');
    assert.match(lines, /^7: .*mni/m);
    assert.match(lines, /^8: .*auc/m);
    assert.match(lines, /^10: .*a bound needs min or max/m);
    assert.match(lines, /labels needs prediction/);
    const good = loadConfig(
      'version: 1\nmonitoring:\n  m:\n    current: p.csv\n    labels: l.csv\n    prediction: y\n    groups: [sex, island]\n    positive_class: 1\n    performance: { accuracy: { min: 0.8 }, max_drop: 0.05 }\n    fairness: { demographic_parity_difference: { max: 0.1 } }\n',
      'mloop.yaml',
    );
    assert.deepEqual(good.problems, []);
    assert.deepEqual(good.config?.monitoring?.m?.performance, { accuracy: { min: 0.8 }, max_drop: 0.05 });
  });
});
