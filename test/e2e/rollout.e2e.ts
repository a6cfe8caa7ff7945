import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { isAlive } from '../../src/core/deploy/process';
import { feedbackLogPath, servingLogPath } from '../../src/core/gateway/control';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ModelRepository } from '../../src/core/store/models';
import { defaultStorePath } from '../../src/core/store/store';
import { chooseQuickPickRow, startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { readStore } from './deploy.e2e';

const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });

/** A quick pick row: filtered by typing its text (the first row is not always the one), then chosen. */
async function choose(page: Page, text: string): Promise<void> {
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: 20_000 });
  await chooseQuickPickRow(page, text);
}

/**
 * A palette command and its picks, started again when a pick closed before it was answered (a toast taking the
 * focus closes a quick pick; nothing has started then).
 */
async function paletteThrough(page: Page, title: string, picks: readonly string[]): Promise<void> {
  await pollUntil(
    async () => {
      try {
        await startFromPalette(page, title);
        for (const pick of picks) await choose(page, pick);
        return true;
      } catch {
        await page.keyboard.press('Escape');
        return false;
      }
    },
    { what: `${title} → ${picks.join(' → ')}`, timeoutMs: 120_000, intervalMs: 1000 },
  );
}

/** The workbench's modal dialog (showWarningMessage with modal: true) with this text; returns it once shown. */
async function modalDialog(page: Page, text: RegExp) {
  const dialog = page.locator('.monaco-dialog-box', { hasText: text });
  await dialog.waitFor({ state: 'visible', timeout: 30_000 });
  return dialog;
}

async function clickDialogButton(page: Page, text: RegExp, button: string): Promise<void> {
  const dialog = await modalDialog(page, text);
  await dialog.locator('.dialog-buttons .monaco-button', { hasText: button }).first().click();
  await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The reason input box that follows an "… Anyway…" button, by its title. */
async function reasonBox(page: Page, title: RegExp) {
  const widget = page.locator('.quick-input-widget', { hasText: title });
  await widget.waitFor({ state: 'visible', timeout: 15_000 });
  return widget;
}

const auditRows = (workspace: string, action: string): { reason: string; to_value: string; details_json: string }[] =>
  readStore(
    workspace,
    (s) =>
      s.db.prepare('SELECT reason, to_value, details_json FROM audit WHERE action = ? ORDER BY audit_id').all(action) as {
        reason: string;
        to_value: string;
        details_json: string;
      }[],
  ) ?? [];

/** Clients sending predictions through the gateway without pause; every answer counted. */
function startLoad(url: string, clients: number) {
  let running = true;
  const tally = { ok: 0, failed: [] as string[], versions: new Map<string, number>() };
  const body = JSON.stringify({ rows: [{ date: '2015-06-01', precipitation: 0, temp_max: 25, temp_min: 12, wind: 3 }] });
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(`${url}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        const text = await res.text();
        const version = res.headers.get('x-mloop-version') ?? 'none';
        if (res.status === 200 && /"predictions"/.test(text)) {
          tally.ok++;
          tally.versions.set(version, (tally.versions.get(version) ?? 0) + 1);
        } else tally.failed.push(`${res.status} ${text.slice(0, 120)}`);
      } catch (error) {
        tally.failed.push((error as Error).message);
      }
    }
  });
  return {
    tally,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

/**
 * After "deploy and retrain" (v1 @champion, v2 @challenger, both gated): a second and third target are added to
 * the workspace's mloop.yaml — `gateway` (gateway: true) and `archive` (serve: false) — so the local target and the
 * steps before keep their picks. Deploy Anyway… and Promote Anyway… are driven through the workbench's own dialogs.
 */
export function registerRolloutSuite(ctx: E2eContext): void {
  describe('rollout through the gateway: gate override, A/B test, promote and roll back under load', () => {
    let gatewayPort = 0;
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(ctx.root, 'dist', 'cli.js'), ...args], { cwd: ctx.workspace, encoding: 'utf8', timeout: 60_000 });
    after(() => {
      cli('undeploy', 'gateway');
    });

    it('Deploy Version… → a version whose gate failed → the modal: Cancel and an empty reason deploy nothing; Deploy Anyway… with a reason deploys it, audited', async function () {
      this.timeout(120_000);
      const page = ctx.page();
      gatewayPort = await freePort();
      const config = join(ctx.workspace, 'mloop.yaml');
      const text = readFileSync(config, 'utf8');
      assert.match(text, /^ {2}local:\n/m, 'the deploy steps left the example targets');
      // the service Restart brought back still serves: nothing between the steps stopped it (issue 18: the deploy
      // steps' clean-up used to stop it here, and the rest of the chain ran beside a red "local ✗ down")
      const local = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'));
      assert.ok(local?.health?.process?.pid && isAlive(local.health.process.pid), 'the restarted local service is still running');
      await page.locator('.statusbar-item', { hasText: 'local: weather-clf v1 ✓' }).first().waitFor({ state: 'visible', timeout: 20_000 });
      const targets = [
        '  # a traffic gateway in front of the versions (docs/deploy.md): switches and A/B tests are routing changes',
        '  gateway:',
        '    command: [python, serve.py, --model, "${model.path}", --port, "${port}", --log-dir, logs-gateway]',
        `    port: ${gatewayPort}`,
        '    gateway: true',
        '    strategy: blue_green',
        '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60 }',
        '  # a deploy that ships the artifact somewhere else (serve: false)',
        '  archive:',
        '    serve: false',
        '    command: [python, -c, "print(\'archived ${model.name} v${model.version}\')"]',
        '',
      ].join('\n');
      writeFileSync(config, text.replace(/^monitoring:/m, `${targets}\nmonitoring:`));
      // a version registered while the gate was stricter: v3, from the champion's run, gate failed
      const runId = readStore(
        ctx.workspace,
        (s) => s.db.prepare('SELECT source_run_id FROM model_version WHERE version = 1').pluck().get() as string | undefined,
      );
      assert.ok(runId, 'v1 has a source run');
      writeFileSync(config, readFileSync(config, 'utf8').replace('- accuracy >= 0.7', '- accuracy >= 0.99'));
      const registered = cli('models', 'register', runId);
      writeFileSync(config, readFileSync(config, 'utf8').replace('- accuracy >= 0.99', '- accuracy >= 0.7'));
      assert.equal(registered.status, 4, `registered with a failed gate: ${registered.stdout}${registered.stderr}`);
      const failed = readStore(ctx.workspace, (s) => {
        const models = new ModelRepository(s);
        return models.versions(models.byName('weather-clf')!.modelId).find((v) => v.gatePassed === false);
      });
      assert.ok(failed, 'a weather-clf version failed its gate');
      const label = `weather-clf v${failed.version}`;
      await new Promise((r) => setTimeout(r, 1500)); // the config watcher debounces

      const deployToArchive = () => paletteThrough(page, 'mloop: Deploy Version…', [label, 'archive']);
      const refusal = new RegExp(`${label} failed its release gate`);
      const nothingHappened = async (why: string) => {
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(
          readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('archive')),
          undefined,
          `${why}: nothing deployed to archive`,
        );
        assert.deepEqual(auditRows(ctx.workspace, 'deploy.override'), [], `${why}: no override audited`);
      };
      await deployToArchive();
      await modalDialog(page, refusal);
      await ctx.screenshot('deploy-anyway-dialog');
      await clickDialogButton(page, refusal, 'Cancel');
      await nothingHappened('Cancel');
      await deployToArchive();
      await clickDialogButton(page, refusal, 'Deploy Anyway…');
      await reasonBox(page, /without a passed gate/);
      await page.keyboard.press('Escape');
      await nothingHappened('Escape on the reason');

      await deployToArchive();
      await clickDialogButton(page, refusal, 'Deploy Anyway…');
      await reasonBox(page, /without a passed gate/);
      const reason = 'e2e: the archive keeps every version, gate or not';
      await page.locator('.quick-input-widget input').fill(reason);
      await ctx.screenshot('deploy-anyway-reason');
      await page.keyboard.press('Enter');
      const deployed = await pollUntil(() => readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('archive')), {
        what: `${label} deployed to archive`,
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      assert.equal(deployed.version, failed.version);
      const [override, ...more] = auditRows(ctx.workspace, 'deploy.override');
      assert.equal(more.length, 0, 'one override audited');
      assert.equal(override?.reason, reason);
      assert.equal(override?.to_value, 'archive');
    });

    // the A/B journey and the promotion under load pass in whole e2e runs (issue 18), but take about a minute each
    // even then (two serve.py starts and 300 requests with their feedback; a blue/green switch and a roll back): over
    // the CI budget, so they run with MLOOP_TEST_FULL=1
    (process.env.MLOOP_TEST_FULL === '1' ? it : it.skip)(
      'Deploy Version… v1 → gateway, Start A/B Test… → v2 at 50%, simulate.py --feedback: the Rollout panel shows both arms as the feedback log counts them',
      async function () {
        // two services to start, 300 requests with their feedback: minutes on a loaded machine (this step runs with MLOOP_TEST_FULL=1)
        this.timeout(360_000);
        const page = ctx.page();
        await paletteThrough(page, 'mloop: Deploy Version…', ['weather-clf v1', 'gateway']);
        const serving = await pollUntil(
          () => {
            const current = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('gateway'));
            return current?.status === 'healthy' && current;
          },
          { what: 'v1 healthy behind the gateway', timeoutMs: 90_000, intervalMs: 500 },
        );
        assert.equal(serving.version, 1);

        await paletteThrough(page, 'mloop: Start A/B Test…', ['A/B test', 'weather-clf v2']);
        const share = page.locator('.quick-input-widget', { hasText: /share of the traffic/ });
        await share.waitFor({ state: 'visible', timeout: 15_000 });
        // 50, as offered: Enter on the input itself (a key pressed while the box is still taking the focus can go elsewhere)
        await pollUntil(
          async () => {
            if (await share.isVisible()) await page.locator('.quick-input-widget input').press('Enter');
            return !(await share.isVisible());
          },
          { what: "the challenger's share accepted", timeoutMs: 15_000, intervalMs: 500 },
        );
        await pollUntil(() => readStore(ctx.workspace, (s) => new GatewayRepository(s).get('gateway')?.strategy === 'ab'), {
          what: 'the A/B test routed on the gateway',
          timeoutMs: 90_000,
          intervalMs: 500,
        });

        // what a user runs in a terminal: one row a request, each answer's outcome (right or wrong) sent as feedback
        const printed = execFileSync(
          'python3',
          ['simulate.py', '--url', `http://127.0.0.1:${gatewayPort}`, '--year', '2015', '--batch', '1', '--limit', '300', '--labels', '', '--feedback'],
          { cwd: ctx.workspace, encoding: 'utf8', timeout: 120_000 },
        );
        assert.match(printed, /sent 300 rows of 2015/);
        // the statistics the panel must show, computed here from the gateway's feedback log
        const feedback = readFileSync(feedbackLogPath({ path: defaultStorePath(ctx.workspace) }, 'gateway'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { version: number; reward: number });
        assert.equal(feedback.length, 300, 'one feedback per request');
        const arm = (version: number) => {
          const rewards = feedback.filter((f) => f.version === version).map((f) => f.reward);
          return { n: rewards.length, mean: rewards.reduce((a, b) => a + b, 0) / rewards.length };
        };
        const expected = { 1: arm(1), 2: arm(2) };
        assert.ok(expected[1].n > 50 && expected[2].n > 50, `both arms answered: ${JSON.stringify(expected)}`);

        await paletteThrough(page, 'mloop: Open Rollout Panel', ['gateway']);
        const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
        const rows = await pollUntil(
          async () => {
            if ((await frame.locator('#ab tbody tr').count()) < 2) return false;
            const texts = await frame.locator('#ab tbody tr').allInnerTexts();
            const total = texts.reduce((sum, t) => sum + Number(t.split('\t')[3]), 0);
            return total === 300 && texts;
          },
          { what: 'the A/B report with the 300 outcomes in the Rollout panel', timeoutMs: 45_000, intervalMs: 1000 },
        );
        for (const version of [1, 2] as const) {
          const row = rows.find((r) => r.split('\t')[1]?.trim() === `weather-clf v${version}`);
          assert.ok(row, `a row for v${version}: ${JSON.stringify(rows)}`);
          const cells = row.split('\t').map((c) => c.trim());
          assert.equal(Number(cells[3]), expected[version].n, `n of v${version}`);
          assert.ok(Math.abs(Number(cells[4]) - expected[version].mean) < 0.01, `mean outcome of v${version}: ${cells[4]} vs ${expected[version].mean}`);
        }
        assert.match(
          await frame
            .locator('#split')
            .getAttribute('aria-label')
            .then((a) => a ?? ''),
          /v1 50\.0%, v2 50\.0%/,
        );
        await ctx.screenshot('rollout-ab-report');
        // each arm's process behind the gateway: its port, up, its requests in flight and answered
        const routes = readStore(ctx.workspace, (s) => new GatewayRepository(s).get('gateway')?.routes) ?? [];
        // what the gateway's serving log says each port answered (the panel's window is the last 10 minutes: all of them)
        const answeredBy = new Map<number, number>();
        for (const line of readFileSync(servingLogPath({ path: defaultStorePath(ctx.workspace) }, 'gateway'), 'utf8')
          .trim()
          .split('\n')) {
          const port = (JSON.parse(line) as { upstream_port?: number }).upstream_port;
          if (port !== undefined) answeredBy.set(port, (answeredBy.get(port) ?? 0) + 1);
        }
        const replicas = frame.locator('#replicas tbody tr');
        await replicas.first().scrollIntoViewIfNeeded();
        const listed = await replicas.allInnerTexts();
        assert.equal(listed.length, routes.length, `one row per routed process: ${JSON.stringify(listed)}`);
        for (const route of routes) {
          const row = listed.find((r) => r.split('\t')[3]?.trim() === String(route.upstreamPort));
          assert.ok(row, `a row for port ${route.upstreamPort}: ${JSON.stringify(listed)}`);
          const cells = row.split('\t').map((c) => c.trim());
          assert.equal(cells[0], route.pid ? 'challenger' : 'champion');
          assert.equal(cells[1], `weather-clf v${route.version}`);
          assert.match(cells[4]!, /^✓ up/);
          assert.equal(Number(cells[7]), answeredBy.get(route.upstreamPort) ?? 0, `the requests port ${route.upstreamPort} answered`);
        }
        await ctx.screenshot('rollout-ab-replicas');
        // the gateway's own processes: its primary (the pid in the store) first, each with its requests and uptime
        const gatewayPid = readStore(ctx.workspace, (s) => new GatewayRepository(s).get('gateway')?.pid);
        const processes = frame.locator('#gateway-processes tbody tr');
        await processes.first().scrollIntoViewIfNeeded();
        const procRows = (await processes.allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()));
        assert.ok(procRows.length >= 1, 'at least the primary is listed');
        assert.deepEqual(procRows[0]!.slice(0, 2), [String(gatewayPid), 'primary']);
        // (the serving log may span earlier gateway processes; a process counts its own requests only)
        assert.ok(Number(procRows[0]![3]) > 0, `the primary took requests: ${JSON.stringify(procRows)}`);
        assert.ok(
          procRows.every((cells) => /^\d+ (s|min|h \d+ min|d \d+ h)$/.test(cells[4]!)),
          JSON.stringify(procRows),
        );
        await ctx.screenshot('rollout-gateway-processes');
      },
    );

    (process.env.MLOOP_TEST_FULL === '1' ? it : it.skip)(
      'Promote in the Rollout panel while clients send requests: Cancel and an empty reason change nothing; Promote Anyway… moves @champion to v2 (audited) by a blue/green switch; Roll Back puts v1 back; 0 failed requests',
      async function () {
        this.timeout(360_000);
        const page = ctx.page();
        const frame: FrameLocator = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
        const decision = await frame.locator('#ab-decision').innerText();
        assert.notEqual(decision, 'ship', '300 outcomes of two similar models do not say ship: the promotion needs an override');
        const champion = () =>
          readStore(ctx.workspace, (s) => {
            const models = new ModelRepository(s);
            return models.versionByAlias(models.byName('weather-clf')!.modelId, 'champion')?.version;
          });
        const promotionsBefore = auditRows(ctx.workspace, 'promote').length;
        const load = startLoad(`http://127.0.0.1:${gatewayPort}`, 4);
        try {
          const notShip = /says (continue|keep champion) .*not ship/;
          const unchanged = async (why: string) => {
            await new Promise((r) => setTimeout(r, 1000));
            assert.equal(champion(), 1, `${why}: @champion stays on v1`);
            assert.equal(
              readStore(ctx.workspace, (s) => new GatewayRepository(s).get('gateway')?.strategy),
              'ab',
              `${why}: the test still runs`,
            );
            assert.deepEqual(auditRows(ctx.workspace, 'ab.promote'), [], `${why}: nothing audited`);
          };
          await frame.locator('vscode-button#promote').click();
          await modalDialog(page, notShip);
          await ctx.screenshot('promote-anyway-dialog');
          await clickDialogButton(page, notShip, 'Cancel');
          await unchanged('Cancel');
          await frame.locator('vscode-button#promote').click();
          await clickDialogButton(page, notShip, 'Promote Anyway…');
          await reasonBox(page, /before the test decided/);
          await page.keyboard.press('Escape');
          await unchanged('Escape on the reason');

          await frame.locator('vscode-button#promote').click();
          await clickDialogButton(page, notShip, 'Promote Anyway…');
          await reasonBox(page, /before the test decided/);
          const reason = 'e2e: v2 trained on fresher data, promote before the test decides';
          await page.locator('.quick-input-widget input').fill(reason);
          await page.keyboard.press('Enter');
          await pollUntil(
            () => {
              const current = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('gateway'));
              return champion() === 2 && current?.version === 2 && current.status === 'healthy';
            },
            { what: '@champion on v2 and v2 serving behind the gateway', timeoutMs: 120_000, intervalMs: 500 },
          );
          const [promoted, ...more] = auditRows(ctx.workspace, 'ab.promote');
          assert.equal(more.length, 0);
          assert.equal(promoted?.reason, reason);
          assert.equal((JSON.parse(promoted!.details_json) as { override: string; decision: string }).override, reason);
          assert.equal((JSON.parse(promoted!.details_json) as { decision: string }).decision, decision.replace(' ', '_'));
          assert.equal(auditRows(ctx.workspace, 'promote').length, promotionsBefore + 1, 'the alias move is audited too');
          await pollUntil(async () => /v2 100\.0%/.test((await frame.locator('#split').getAttribute('aria-label')) ?? ''), {
            what: 'the panel showing v2 with all the traffic',
            timeoutMs: 30_000,
          });
          await ctx.screenshot('promote-winner-switched');

          // Roll Back from the same panel: a routing change back to v1, under the same load
          await frame.locator('vscode-button#rollback').click();
          await reasonBox(page, /Roll back gateway/);
          await page.locator('.quick-input-widget input').fill('e2e: back to v1 under load');
          await page.keyboard.press('Enter');
          await pollUntil(
            () => {
              const current = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('gateway'));
              return current?.version === 1 && current.status === 'healthy';
            },
            { what: 'v1 serving behind the gateway again', timeoutMs: 120_000, intervalMs: 500 },
          );
          await pollUntil(async () => /v1 100\.0%/.test((await frame.locator('#split').getAttribute('aria-label')) ?? ''), {
            what: 'the panel showing v1 with all the traffic',
            timeoutMs: 30_000,
          });
          await ctx.screenshot('rollback-under-load');
          const tab = page.locator('.tabs-container .tab', { hasText: 'Rollout:' });
          await tab.first().click({ button: 'middle' });
          await pollUntil(async () => (await tab.count()) === 0, { what: 'the Rollout panel to close', timeoutMs: 15_000 });
        } finally {
          const tally = await load.stop();
          assert.deepEqual(tally.failed.slice(0, 5), [], `${tally.failed.length} failed of ${tally.ok + tally.failed.length}`);
          assert.ok(tally.ok > 50, `traffic crossed the switch and the rollback (${tally.ok} answers)`);
          assert.deepEqual([...tally.versions.keys()].sort(), ['1', '2'], `every answer from v1 or v2, both seen: ${JSON.stringify([...tally.versions])}`);
        }
      },
    );
  });
}
