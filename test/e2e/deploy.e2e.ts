import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { stopService } from '../../src/core/deploy/process';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { defaultStorePath, openStore } from '../../src/core/store/store';
import { chooseQuickPickRow, expandView, paintedPixels, runPaletteCommand, startFromPalette, treeRows, viewPane } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** Opens the palette on a command whose next step is another quick pick (so the widget stays open). */
/**
 * A notification the workbench shows: as a toast, or (once its toast has gone) in the notification
 * center, which is opened to look and closed again. Returns the notification's element.
 */
export async function findNotification(page: Page, text: string | RegExp): Promise<Locator> {
  const toast = page.locator('.notification-toast .notification-list-item', { hasText: text }).first();
  if (await toast.isVisible()) return toast;
  await runPaletteCommand(page, 'Notifications: Show Notifications');
  const listed = page.locator('.notifications-center .notification-list-item', { hasText: text }).first();
  await listed.waitFor({ state: 'visible', timeout: 15_000 });
  return listed;
}

export async function hideNotifications(page: Page): Promise<void> {
  if (await page.locator('.notifications-center.visible').isVisible()) await runPaletteCommand(page, 'Notifications: Hide Notifications');
}

export function readStore<T>(workspace: string, read: (store: ReturnType<typeof openStore>) => T): T | undefined {
  try {
    const store = openStore({ path: defaultStorePath(workspace), readonly: true });
    try {
      return read(store);
    } finally {
      store.close();
    }
  } catch {
    return undefined;
  }
}

/** Stops every process a deployment of the e2e workspace serves with (the runner calls it after the last step). */
export async function stopServedProcesses(workspace: string): Promise<void> {
  const pids =
    readStore(workspace, (s) => [
      ...new DeploymentRepository(s).list().map((d) => d.health?.process?.pid),
      ...(s.db.prepare("SELECT pid FROM deployment_replica WHERE status IN ('starting', 'serving')").pluck().all() as number[]),
      ...(s.db.prepare('SELECT pid FROM gateway_route WHERE pid IS NOT NULL UNION SELECT pid FROM gateway WHERE pid IS NOT NULL').pluck().all() as number[]),
    ]) ?? [];
  for (const pid of new Set(pids)) if (pid !== undefined && pid !== null) await stopService(pid, 2000);
}

/** After training and the webview security checks: deploy from the palette, see it in the Deployments view and status bar, retrain. */
export function registerDeploySuite(ctx: E2eContext): void {
  describe('deploy and retrain from the palette', () => {
    // the services these steps start keep serving for the steps after them (the local target stays up, as a user's
    // would): stopServedProcesses ends them once the whole chain has run

    it('"mloop: Deploy Version…" → pick the version: the local target serves it, healthy, in the Deployments view and the status bar', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      // a free port rather than 8765: other runs may share this machine
      const config = join(ctx.workspace, 'mloop.yaml');
      writeFileSync(config, readFileSync(config, 'utf8').replace(/^\s+port: 8765\n/m, ''));
      for (const file of ['serve.py', 'simulate.py']) writeFileSync(join(ctx.workspace, file), readFileSync(join(ctx.root, 'examples', 'weather', file)));
      await new Promise((r) => setTimeout(r, 1500)); // the config watcher debounces

      // a quick pick closes when something else takes focus (a port-forwarding toast): try again until the deployment starts
      let attempt = 0;
      await pollUntil(
        async () => {
          attempt++;
          await startFromPalette(page, 'mloop: Deploy Version…');
          const versionRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-clf v1' }).first();
          if (
            !(await versionRow.waitFor({ state: 'visible', timeout: 15_000 }).then(
              () => true,
              () => false,
            ))
          )
            return false;
          if (attempt === 1) await ctx.screenshot('deploy-pick-version');
          // the pick lists every version, newest first: Enter only with v1 focused
          await chooseQuickPickRow(page, 'weather-clf v1', 'weather-clf v1', 10_000);
          return pollUntil(() => readStore(ctx.workspace, (s) => new DeploymentRepository(s).list().length > 0), {
            what: 'a deployment row',
            // under load the task takes a while to write its row: another palette round would race with it
            timeoutMs: 30_000,
            intervalMs: 250,
          }).catch(() => false);
        },
        { what: 'mloop: Deploy Version… to start a deployment', timeoutMs: 90_000, intervalMs: 1000 },
      );

      await expandView(page, 'Deployments');
      let seen: string[] = [];
      const row = await pollUntil(
        async () => {
          seen = await treeRows(page, 'Deployments');
          return seen.find((r) => /^local/.test(r) && /weather-clf v1 · blue\/green · ✓ healthy · 100%/.test(r));
        },
        { what: 'the local target serving weather-clf v1, healthy, in the Deployments view', timeoutMs: 150_000, intervalMs: 500 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; rows seen: ${JSON.stringify(seen)}`);
      });
      assert.match(row, /✓ healthy/);
      const status = page.locator('.part.statusbar', { hasText: 'local: weather-clf v1 ✓' });
      await status.first().waitFor({ state: 'visible', timeout: 15_000 });
      const serving = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'));
      assert.equal(serving?.status, 'healthy');
      await ctx.screenshot('deploy-local-healthy');
    });

    it('traffic: simulate.py sends 2015 to the served model; its prediction log drifts from the 2012 reference and mloop says so', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      // monitoring watches what the service logs, against 2012 (the drift journey wrote it): an earlier year than the traffic
      const config = join(ctx.workspace, 'mloop.yaml');
      const text = readFileSync(config, 'utf8');
      // the example's own monitoring (its last section) gives way to this step's 2012 reference and monthly windows
      assert.match(
        text,
        /^monitoring:\n(?:.*\n)*?\s+current: logs\/predictions\.jsonl/m,
        'the train journey put the example mloop.yaml back, with its monitoring',
      );
      assert.ok(existsSync(join(ctx.workspace, 'monitoring', 'reference.csv')));
      writeFileSync(
        config,
        `${text.slice(0, text.search(/^monitoring:/m)).trimEnd()}\n\nmonitoring:\n  weather-clf:\n    reference: monitoring/reference.csv\n    current: logs/predictions.jsonl\n    columns: [date, precipitation, temp_max, temp_min, wind]\n    time_column: date\n    window: monthly\n` +
          // the example's late labels and stations, judged per month (about 15 rows a station a month)
          '    labels: logs/labels.csv\n    prediction: prediction\n    groups: [station]\n    positive_class: rain\n    min_rows: 10\n    fairness:\n      accuracy: { min: 0.75 }\n',
      );
      await new Promise((r) => setTimeout(r, 3000)); // the config watcher debounces, then the monitor watches logs/
      const before = readStore(ctx.workspace, (s) => s.db.prepare('SELECT max(drift_report_id) FROM drift_report').pluck().get() as number | null) ?? 0;

      const url = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local')?.health?.process?.url);
      assert.ok(url, 'the deploy step left weather-clf serving on local');
      // what a user runs in a terminal: a year of traffic from two stations, the south one sending precipitation in
      // inches (a fault in one group); the true weather of each row follows as late labels
      const printed = execFileSync('python3', ['simulate.py', '--url', url, '--year', '2015', '--broken-station', 'south'], {
        cwd: ctx.workspace,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.match(printed, /sent 365 rows of 2015/);
      assert.match(printed, /delivered 365 labels to logs\/labels\.csv/);
      const logged = readFileSync(join(ctx.workspace, 'logs', 'predictions.jsonl'), 'utf8')
        .trim()
        .split('\n');
      assert.equal(logged.length, 365, 'one log line per prediction (the smoke test is not traffic)');

      // the log changed: the monitor checks it by itself and warns, offering the report and Retrain
      const report = await pollUntil(
        () =>
          readStore(
            ctx.workspace,
            (s) =>
              s.db
                .prepare(
                  'SELECT drift_report_id AS id, dataset_drift AS drift, current_uri AS uri FROM drift_report WHERE drift_report_id > ? ORDER BY drift_report_id DESC LIMIT 1',
                )
                .get(before ?? 0) as { id: number; drift: number; uri: string } | undefined,
          ),
        { what: 'a drift report on logs/predictions.jsonl', timeoutMs: 90_000, intervalMs: 1000 },
      );
      assert.match(report.uri, /predictions\.jsonl/);
      assert.equal(report.drift, 1, 'the 2015 traffic drifts from the 2012 reference (temperatures)');
      const notification = await findNotification(page, /Drift in weather-clf: [23] of 4 features/);
      assert.ok(await notification.locator('.monaco-button', { hasText: 'Retrain' }).isVisible(), 'the drift notification offers Retrain');
      await page.locator('.statusbar-item', { hasText: 'drift: weather-clf' }).first().waitFor({ state: 'visible', timeout: 15_000 });
      await ctx.screenshot('deploy-traffic-drift-notification');
      await hideNotifications(page);
    });

    it('"mloop: Open Rollout Panel" on local: the split, the requests the service logged (400s are not errors), the rate chart painted', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      const url = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local')?.health?.process?.url);
      assert.ok(url, 'the deploy step left weather-clf serving on local');
      // malformed requests: answered 400 and counted in logs/serving.jsonl, but no prediction is logged (the drift monitor stays quiet)
      for (let i = 0; i < 12; i++) await fetch(`${url}/predict`, { method: 'POST', body: '{"rows": [{}]}' });
      const logged = readFileSync(join(ctx.workspace, 'logs', 'serving.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { ts: number; status: number });
      const recent = logged.filter((l) => l.ts > Date.now() - 10 * 60_000);
      await startFromPalette(page, 'mloop: Open Rollout Panel');
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const summary = await pollUntil(async () => (await frame.locator('#summary').count()) > 0 && frame.locator('#summary').innerText(), {
        what: 'the Rollout panel',
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      assert.match(summary, /local/);
      assert.match(summary, /weather-clf v\d+ · healthy/);
      assert.match((await frame.locator('#split').getAttribute('aria-label')) ?? '', /v\d+ 100\.0%/);
      const row = await frame.locator('#versions tbody tr').first().innerText();
      const [, requests, , errors] = row.split('\t');
      assert.ok(Number(requests) >= recent.length, `the panel counts the ${recent.length} requests of the last 10 minutes in the serving log (${row})`);
      assert.equal(Number(errors), recent.filter((l) => l.status >= 500).length, 'a 400 is not a server error');
      const painted = await pollUntil(
        async () => {
          const n = await paintedPixels(frame.locator('canvas#rate-chart')).catch(() => 0);
          return n > 200 && n;
        },
        { what: 'a painted request-rate chart', timeoutMs: 30_000, intervalMs: 500 },
      );
      assert.ok(painted > 200);
      await ctx.screenshot('deploy-rollout-panel');
      await probeWebview(ctx, 'Rollout', 'rollout');
      const tab = page.locator('.tabs-container .tab', { hasText: 'Rollout:' });
      await tab.first().click({ button: 'middle' });
      await pollUntil(async () => (await tab.count()) === 0, { what: 'the Rollout panel to close', timeoutMs: 15_000 });
    });

    it('the served process is killed: within one check interval (15s) the Deployments view and the status bar turn red, the alert offers Restart, which serves it again', async function () {
      this.timeout(120_000);
      const page = ctx.page();
      const serving = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'));
      const pid = serving?.health?.process?.pid;
      assert.ok(pid, 'the deploy step left weather-clf serving on local');
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      await expandView(page, 'Deployments');
      let seen: string[] = [];
      await pollUntil(
        async () => {
          seen = await treeRows(page, 'Deployments');
          const shown = seen.some((r) => /^local/.test(r) && /weather-clf v1 · blue\/green · ✗ down/.test(r) && /process gone/.test(r));
          // the red row alone could come from any refresh (the view asks whether the pid lives): the scheduled check must have run
          const stored = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local')?.status) === 'unhealthy';
          return shown && stored;
        },
        { what: 'the local target shown down in the Deployments view, and stored unhealthy by the scheduled check', timeoutMs: 40_000, intervalMs: 500 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; rows seen: ${JSON.stringify(seen)}`);
      });
      const within = Date.now() - killedAt;
      assert.ok(within < 15_000 + 5_000, `red within one interval (15 s) plus the view's debounce: ${within} ms`);
      assert.equal(
        readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local')?.status),
        'unhealthy',
        'the scheduled check stored it',
      );
      await page.locator('.statusbar-item', { hasText: 'local: weather-clf v1 ✗ down' }).first().waitFor({ state: 'visible', timeout: 15_000 });
      const alert = await findNotification(page, /local: weather-clf v1 is down/);
      await ctx.screenshot('service-down-red');
      await alert.locator('.monaco-button', { hasText: 'Restart' }).click();
      await pollUntil(
        async () => {
          seen = await treeRows(page, 'Deployments');
          return seen.some((r) => /^local/.test(r) && /weather-clf v1 · direct · ✓ healthy/.test(r));
        },
        { what: 'the local target healthy again after Restart', timeoutMs: 90_000, intervalMs: 500 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; rows seen: ${JSON.stringify(seen)}`);
      });
      const restarted = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'));
      assert.notEqual(restarted?.health?.process?.pid, pid);
      await page.locator('.statusbar-item', { hasText: 'local: weather-clf v1 ✓' }).first().waitFor({ state: 'visible', timeout: 15_000 });
      await ctx.screenshot('service-restarted');
      await hideNotifications(page);
    });

    it('the Monitoring panel of weather-clf: late labels put the south station under its accuracy bound (north is fine); Retrain there registers a challenger with its gate and lineage to the new data version', async function () {
      this.timeout(240_000);
      const page = ctx.page();
      // the team answers drift with fresher data: the oldest year (2012) is retired, a new version of the dataset
      const dataFile = join(ctx.workspace, 'data', 'seattle-weather.csv');
      const [header, ...rows] = readFileSync(dataFile, 'utf8').trim().split('\n');
      writeFileSync(dataFile, `${[header, ...rows.filter((r) => !r.startsWith('2012'))].join('\n')}\n`);
      const championInput = readStore(
        ctx.workspace,
        (s) =>
          s.db
            .prepare(
              "SELECT ri.dataset_version_id FROM run_input ri JOIN model_version v ON v.source_run_id = ri.run_id JOIN alias a ON a.model_version_id = v.model_version_id WHERE a.alias = 'champion'",
            )
            .pluck()
            .get() as number | undefined,
      );
      assert.ok(championInput, 'the champion has a training data version');
      // the labels arrived after the traffic: the Monitoring panel shows the per-station alerts, south only
      await startFromPalette(page, 'mloop: Open Monitoring…');
      const pick = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-clf' });
      await pollUntil(async () => (await pick.count()) > 0, { what: 'weather-clf in the Open Monitoring pick', timeoutMs: 20_000 });
      await chooseQuickPickRow(page, 'weather-clf');
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const alerts = await pollUntil(
        async () => {
          const text = (await frame.locator('#alerts').count()) > 0 ? await frame.locator('#alerts').innerText() : '';
          return /station = south/.test(text) && text;
        },
        { what: 'a per-station accuracy alert in the Monitoring panel', timeoutMs: 60_000, intervalMs: 1000 },
      );
      assert.match(alerts, /accuracy of station = south in window 2015-\d\d-01 is 0\.\d+ \[/);
      assert.doesNotMatch(alerts, /station = north/, 'the fault is in one station: the other keeps its accuracy');
      assert.equal(await frame.locator('vscode-button.retrain').count(), 1, 'one Retrain for every alert');
      await ctx.screenshot('monitoring-station-alert');
      // one model: retrain starts with no question asked
      await frame.locator('#retrain').click();
      await page.locator('.tabs-container .tab', { hasText: 'Monitoring:' }).first().click({ button: 'middle' });
      const challenger = await pollUntil(
        () =>
          readStore(ctx.workspace, (s) => {
            const models = new ModelRepository(s);
            const model = models.byName('weather-clf');
            return model ? models.versionByAlias(model.modelId, 'challenger') : undefined;
          }),
        { what: 'a weather-clf version with the challenger alias', timeoutMs: 200_000, intervalMs: 1000 },
      );
      assert.equal(challenger.version, 2);
      assert.equal(challenger.gatePassed, true);
      const input = readStore(
        ctx.workspace,
        (s) =>
          s.db
            .prepare(
              'SELECT dv.dataset_version_id AS id, dv.row_count AS rows FROM run_input ri JOIN dataset_version dv USING (dataset_version_id) WHERE ri.run_id = ?',
            )
            .get(challenger.sourceRunId) as { id: number; rows: number } | undefined,
      );
      assert.ok(input, 'the retrain run is linked to its data version');
      assert.notEqual(input.id, championInput, "lineage goes to the new data version, not the champion's");
      assert.equal(input.rows, 1461 - 366, 'the new version is the data without 2012');
      // the outcome notification: metric against the champion and the gate
      const outcome = await pollUntil(
        () => findNotification(page, /weather-clf v2 trained: accuracy 0\.\d+ \(champion v1: 0\.\d+\) · gate passed · now challenger/).catch(() => undefined),
        {
          what: 'the retrain outcome notification',
          timeoutMs: 60_000,
          intervalMs: 2000,
        },
      );
      for (const action of ['Promote', 'Compare', 'Deploy'])
        assert.ok(await outcome.locator('.monaco-button', { hasText: action }).isVisible(), `the outcome offers ${action}`);
      await ctx.screenshot('retrain-outcome-notification');
      await hideNotifications(page);
      await expandView(page, 'Models');
      const model = viewPane(page, 'Models').locator('[role="treeitem"]', { hasText: 'weather-clf' }).first();
      await model.waitFor({ state: 'visible', timeout: 15_000 });
      if ((await model.getAttribute('aria-expanded')) !== 'true') await model.click();
      await pollUntil(async () => (await treeRows(page, 'Models')).some((r) => /v2/.test(r) && /challenger/.test(r)), {
        what: 'v2 @challenger in the Models view',
        timeoutMs: 20_000,
      });
      let models: string[] = [];
      await pollUntil(
        async () => {
          models = await treeRows(page, 'Models');
          return models.some((r) => /^weather-clf/.test(r) && /2 versions/.test(r));
        },
        { what: 'the model row counting 2 versions', timeoutMs: 20_000 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; rows seen: ${JSON.stringify(models)}`);
      });
      await ctx.screenshot('retrain-challenger');
    });
  });
}
