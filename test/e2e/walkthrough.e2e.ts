import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import type { Locator, Page } from 'playwright-core';
import { stopService } from '../../src/core/deploy/process';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { defaultStorePath, openStore, type Store } from '../../src/core/store/store';
import {
  activityBarItem,
  expandView,
  openViewContainer,
  runPaletteCommand,
  screenshot,
  treeRows,
  viewPane,
  waitForIconPainted,
  waitForWorkbench,
} from '../harness/browser';
import type { SuiteResult } from '../harness/hostConsole';
import { pollUntil } from '../harness/poll';
import { probeWebview } from './security.e2e';
import { createTempRun } from '../harness/tempWorkspace';
import { extensionHostLog, mloopLogTail, openWorkbench, type WorkbenchSession } from '../harness/workbench';

/** The steps of package.json `contributes.walkthroughs[getStarted]`, in order. */
const STEP_IDS = ['open', 'train', 'metrics', 'promote', 'deploy', 'drift', 'retrain', 'lineage'] as const;
type StepId = (typeof STEP_IDS)[number];
const WALKTHROUGH_TITLE = 'Get started with mloop';

interface WalkthroughContext {
  page(): Page;
  workspace: string;
  root: string;
  extensionHostLog(): string;
  runDir: string;
  screenshot(name: string): Promise<string>;
}

function readStore<T>(workspace: string, read: (store: Store) => T): T | undefined {
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

function step(page: Page, id: StepId): Locator {
  return page.locator(`.gettingStartedContainer button.getting-started-step[data-step-id$="#${id}"]`).first();
}

/** Brings the walkthrough editor to the front (a command may have opened a panel over it). */
async function showWalkthrough(page: Page): Promise<void> {
  if (
    await step(page, 'open')
      .isVisible()
      .catch(() => false)
  )
    return;
  const tab = page.locator('.part.editor .tabs-container .tab', { hasText: /Walkthrough|Welcome/ }).first();
  if (await tab.isVisible().catch(() => false)) await tab.click();
  else {
    await runPaletteCommand(page, 'Welcome: Open Walkthrough...').catch(() => undefined);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: WALKTHROUGH_TITLE }).first();
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await row.click();
  }
  await step(page, 'open').waitFor({ state: 'visible', timeout: 15_000 });
}

/** Expands a step and clicks its command button (the `[label](command:…)` line of its description). */
async function runStepButton(page: Page, id: StepId, label: string): Promise<void> {
  await showWalkthrough(page);
  const element = step(page, id);
  if ((await element.getAttribute('aria-expanded', { timeout: 5000 })) !== 'true') await element.click();
  await pollUntil(async () => (await element.getAttribute('aria-expanded', { timeout: 2000 })) === 'true', {
    what: `walkthrough step "${id}" to expand`,
    timeoutMs: 10_000,
  });
  const button = element.locator('.button-container .monaco-button, .button-container a, button.button-link', { hasText: label }).first();
  await button.waitFor({ state: 'visible', timeout: 10_000 });
  await button.click();
}

/** Waits until the walkthrough shows a step as done (its checkbox, `aria-checked`), going back to the walkthrough to look. */
async function expectStepDone(ctx: WalkthroughContext, id: StepId): Promise<void> {
  const page = ctx.page();
  // the command may open an editor over the walkthrough after it is shown (Initialize Project opens mloop.yaml once it is
  // written): each look brings it back, and no look waits on a step that left the page
  await pollUntil(
    async () => {
      await showWalkthrough(page);
      return (await step(page, id).getAttribute('aria-checked', { timeout: 2000 })) === 'true';
    },
    { what: `walkthrough step "${id}" to be checked as done`, timeoutMs: 30_000 },
  );
}

/** Picks the row of the open quick pick that contains `text` (Enter on it), waiting for it to be listed. */
async function pick(page: Page, text: string | RegExp, what: string, notText?: string): Promise<void> {
  const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: text });
  const row = (notText === undefined ? rows : rows.filter({ hasNotText: notText })).first();
  await row.waitFor({ state: 'visible', timeout: 60_000 }).catch(() => {
    throw new Error(`no "${String(text)}" in the quick pick (${what})`);
  });
  await row.click();
}

/** The newcomer's loop, driven through the walkthrough's own links, in a workbench of its own. */
function registerWalkthroughSuite(ctx: WalkthroughContext): void {
  describe('the "Get started with mloop" walkthrough, step by step', () => {
    after(async () => {
      // deployments outlive the editor on purpose: stop what this journey started
      const pids = readStore(ctx.workspace, (s) => new DeploymentRepository(s).list().map((d) => d.health?.process?.pid)) ?? [];
      for (const pid of pids) if (pid !== undefined) await stopService(pid, 2000);
    });

    it('the Runs view of an empty folder links to the walkthrough, which opens with its eight steps not done', async function () {
      this.timeout(120_000);
      const page = ctx.page();
      await waitForWorkbench(page, 60_000);
      const icon = activityBarItem(page, 'mloop');
      await icon.waitFor({ state: 'visible', timeout: 30_000 });
      await waitForIconPainted(icon);
      await openViewContainer(page, 'mloop');
      await expandView(page, 'Runs');
      const link = viewPane(page, 'Runs').locator('.welcome-view-content a', { hasText: WALKTHROUGH_TITLE }).first();
      await link.waitFor({ state: 'visible', timeout: 15_000 });
      await ctx.screenshot('walkthrough-empty-views');
      await link.click();
      await step(page, 'open').waitFor({ state: 'visible', timeout: 20_000 });
      const ids = await page
        .locator('.gettingStartedContainer button.getting-started-step')
        .evaluateAll((elements) => elements.map((e) => e.getAttribute('data-step-id') ?? ''));
      assert.deepEqual(
        ids.map((id) => id.split('#').pop()),
        [...STEP_IDS],
      );
      for (const id of STEP_IDS) assert.equal(await step(page, id).getAttribute('aria-checked'), 'false', `step ${id} starts not done`);
      await ctx.screenshot('walkthrough-opened');
    });

    it('open: "Initialize Project" writes mloop.yaml and the step is done', async function () {
      this.timeout(60_000);
      const config = join(ctx.workspace, 'mloop.yaml');
      await runStepButton(ctx.page(), 'open', 'Initialize Project');
      await pollUntil(() => existsSync(config), { what: `${config} written by Initialize Project`, timeoutMs: 20_000 });
      await expectStepDone(ctx, 'open');
      // the rest of the journey uses the example (as `npm run demo` opens it), on a free port: other runs share this machine
      const example = join(ctx.root, 'examples', 'weather');
      for (const item of ['train.py', 'train_protocol.py', 'serve.py', 'simulate.py', 'data'])
        cpSync(join(example, item), join(ctx.workspace, item), { recursive: true });
      writeFileSync(config, readFileSync(join(example, 'mloop.yaml'), 'utf8').replace(/^\s+port: 8765\n/m, ''));
      await ctx.screenshot('walkthrough-step-open-done');
    });

    it('train: "Train…" → pipeline train → default params: the run finishes and the step is done', async function () {
      this.timeout(300_000);
      const page = ctx.page();
      await new Promise((done) => setTimeout(done, 1500)); // the config watcher debounces the example's mloop.yaml
      await runStepButton(page, 'train', 'Train…');
      await pick(page, /^train/, 'the pipeline pick', 'train-protocol');
      // the params box (when the command asks): Enter keeps the defaults
      const params = page.locator('.quick-input-widget', { hasText: /Override params/ });
      if (
        await params.waitFor({ state: 'visible', timeout: 10_000 }).then(
          () => true,
          () => false,
        )
      )
        await page.keyboard.press('Enter');
      const status = await pollUntil(
        () => readStore(ctx.workspace, (s) => new RunRepository(s).list({ limit: 10 }).find((r) => r.pipeline === 'train' && r.status !== 'RUNNING')?.status),
        { what: 'the training run to end', timeoutMs: 240_000, intervalMs: 1000 },
      );
      assert.equal(status, 'FINISHED');
      await expectStepDone(ctx, 'train');
      await ctx.screenshot('walkthrough-step-train-done');
    });

    it('metrics: "Open Metrics" → pick the run: the Metrics panel opens and the step is done', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      await runStepButton(page, 'metrics', 'Open Metrics');
      // a multi-select pick: check the run (its row's checkbox), then OK
      const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'finished' }).first();
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      const selected = page.locator('.quick-input-widget', { hasText: '1 Selected' });
      await pollUntil(
        async () => {
          if (await selected.isVisible()) return true;
          // a pick closes when something else takes focus (a port-forwarding toast): open it again from the step
          if (!(await row.isVisible())) {
            await runStepButton(page, 'metrics', 'Open Metrics');
            await row.waitFor({ state: 'visible', timeout: 10_000 });
          }
          const toggle = row.locator('.monaco-custom-toggle, input[type="checkbox"]').first();
          await ((await toggle.count()) > 0 ? toggle : row).click({ timeout: 3_000 }).catch(() => undefined);
          return selected.waitFor({ state: 'visible', timeout: 2_000 }).then(
            () => true,
            () => false,
          );
        },
        { what: 'the run checked in the Open Metrics pick ("1 Selected")', timeoutMs: 45_000, intervalMs: 500 },
      );
      await page.locator('.quick-input-widget .quick-input-action .monaco-button', { hasText: 'OK' }).first().click();
      await page.locator('.part.editor .tabs-container .tab', { hasText: 'Metrics' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator('iframe.webview').first().waitFor({ state: 'visible', timeout: 30_000 });
      await new Promise((done) => setTimeout(done, 3000)); // let the charts draw for the screenshot
      await ctx.screenshot('walkthrough-metrics-panel');
      await expectStepDone(ctx, 'metrics');
    });

    it('promote: "Promote to Champion" → v1: weather-clf@champion is v1 and the step is done', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      await runStepButton(page, 'promote', 'Promote to Champion');
      await pick(page, 'v1', 'the version pick');
      const champion = await pollUntil(
        () =>
          readStore(ctx.workspace, (s) => {
            const models = new ModelRepository(s);
            const model = models.byName('weather-clf');
            return model ? models.versionByAlias(model.modelId, 'champion') : undefined;
          }),
        { what: 'weather-clf@champion', timeoutMs: 30_000, intervalMs: 500 },
      );
      assert.equal(champion.version, 1);
      await expectStepDone(ctx, 'promote');
      await ctx.screenshot('walkthrough-step-promote-done');
    });

    it('deploy: "Deploy Version…" → v1: the local target serves it, healthy, and the step is done', async function () {
      this.timeout(240_000);
      const page = ctx.page();
      await runStepButton(page, 'deploy', 'Deploy Version…');
      await pick(page, 'weather-clf v1', 'the version pick');
      const serving = await pollUntil(() => readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'))?.status === 'healthy' || undefined, {
        what: 'the local target serving weather-clf v1, healthy',
        timeoutMs: 200_000,
        intervalMs: 1000,
      });
      assert.ok(serving);
      await expectStepDone(ctx, 'deploy');
      await ctx.screenshot('walkthrough-step-deploy-done');
    });

    it('drift: "Check Drift…" → weather-clf: a drift report is stored, the Monitoring panel opens on it and the step is done', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      // production data for the check: the example's 2015 days, against the 2012 days as the reference
      const [header, ...rows] = readFileSync(join(ctx.workspace, 'data', 'seattle-weather.csv'), 'utf8')
        .trim()
        .split('\n');
      mkdirSync(join(ctx.workspace, 'monitoring'), { recursive: true });
      writeFileSync(join(ctx.workspace, 'monitoring', 'reference.csv'), `${[header, ...rows.filter((r) => r.startsWith('2012'))].join('\n')}\n`);
      writeFileSync(join(ctx.workspace, 'monitoring', 'current.csv'), `${[header, ...rows.filter((r) => r.startsWith('2015'))].join('\n')}\n`);
      const config = join(ctx.workspace, 'mloop.yaml');
      // this check's own monitoring entry, in place of any the example declares (a top-level section ends at the next one)
      const withoutMonitoring = readFileSync(config, 'utf8').replace(/^monitoring:\n(?:[ \t#].*\n|\n)*/m, '');
      writeFileSync(
        config,
        `${withoutMonitoring.trimEnd()}\n\nmonitoring:\n  weather-clf:\n    reference: monitoring/reference.csv\n    current: monitoring/current.csv\n    columns: [precipitation, temp_max, temp_min, wind]\n`,
      );
      await new Promise((done) => setTimeout(done, 3000)); // the config watcher debounces
      await runStepButton(page, 'drift', 'Check Drift…');
      await pick(page, 'weather-clf', 'the model pick');
      const report = await pollUntil(
        () =>
          readStore(
            ctx.workspace,
            (s) => s.db.prepare('SELECT drift_report_id FROM drift_report ORDER BY drift_report_id DESC LIMIT 1').pluck().get() as number | undefined,
          ),
        {
          what: 'a stored drift report',
          timeoutMs: 120_000,
          intervalMs: 1000,
        },
      );
      assert.ok(report > 0);
      await page
        .locator('.part.editor .tabs-container .tab', { hasText: /Monitoring: weather-clf/ })
        .first()
        .waitFor({ state: 'visible', timeout: 30_000 });
      await new Promise((done) => setTimeout(done, 3000));
      await ctx.screenshot('walkthrough-drift-panel');
      await expectStepDone(ctx, 'drift');
    });

    it('retrain: "Retrain Model…" on newer data: a challenger v2 is registered and the step is done', async function () {
      this.timeout(300_000);
      const page = ctx.page();
      // the team answers drift with fresher data: the oldest year is retired, a new version of the dataset
      const dataFile = join(ctx.workspace, 'data', 'seattle-weather.csv');
      const [header, ...rows] = readFileSync(dataFile, 'utf8').trim().split('\n');
      writeFileSync(dataFile, `${[header, ...rows.filter((r) => !r.startsWith('2012'))].join('\n')}\n`);
      await runStepButton(page, 'retrain', 'Retrain Model…');
      const challenger = await pollUntil(
        () =>
          readStore(ctx.workspace, (s) => {
            const models = new ModelRepository(s);
            const model = models.byName('weather-clf');
            return model ? models.versionByAlias(model.modelId, 'challenger') : undefined;
          }),
        { what: 'weather-clf@challenger', timeoutMs: 260_000, intervalMs: 1000 },
      );
      assert.equal(challenger.version, 2);
      await expectStepDone(ctx, 'retrain');
      await ctx.screenshot('walkthrough-step-retrain-done');
    });

    it('lineage: "Show Lineage" → weather-clf@challenger: the Lineage panel opens and every step is done', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      await runStepButton(page, 'lineage', 'Show Lineage');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill('weather-clf@challenger');
      await page.keyboard.press('Enter');
      await page
        .locator('.part.editor .tabs-container .tab', { hasText: /Lineage/ })
        .first()
        .waitFor({ state: 'visible', timeout: 30_000 });
      await new Promise((done) => setTimeout(done, 3000)); // the graph lays out
      await ctx.screenshot('walkthrough-lineage-panel');
      await expectStepDone(ctx, 'lineage');
      for (const id of STEP_IDS) assert.equal(await step(page, id).getAttribute('aria-checked'), 'true', `step ${id} is done`);
      await ctx.screenshot('walkthrough-all-steps-done');
    });

    it('the loop closes: the retrained challenger is promoted ("Promote to Champion" → v2) and redeployed ("Deploy Version…" → v2), healthy', async function () {
      this.timeout(300_000);
      const page = ctx.page();
      await runStepButton(page, 'promote', 'Promote to Champion');
      await pick(page, 'v2', 'the version pick');
      const champion = await pollUntil(
        () =>
          readStore(ctx.workspace, (s) => {
            const models = new ModelRepository(s);
            const model = models.byName('weather-clf');
            const version = model ? models.versionByAlias(model.modelId, 'champion') : undefined;
            return version?.version === 2 ? version : undefined;
          }),
        { what: 'weather-clf@champion moved to v2', timeoutMs: 30_000, intervalMs: 500 },
      );
      assert.equal(champion.version, 2);
      await runStepButton(page, 'deploy', 'Deploy Version…');
      await pick(page, 'weather-clf v2', 'the version pick');
      // something serves already: mloop asks how (blue/green replaces v1, shadow runs beside it)
      await pick(page, 'Deploy (blue/green)', 'the strategy pick');
      await pollUntil(
        () => {
          const serving = readStore(ctx.workspace, (s) => new DeploymentRepository(s).current('local'));
          return serving?.status === 'healthy' && serving.version === 2 ? serving : undefined;
        },
        { what: 'the local target serving weather-clf v2, healthy', timeoutMs: 240_000, intervalMs: 1000 },
      );
      // what the user sees follows the store within a moment: the Deployments row and the status bar say v2
      let seen: string[] = [];
      await pollUntil(
        async () => {
          seen = await treeRows(page, 'Deployments');
          return seen.some((r) => /^local/.test(r) && /weather-clf v2 · blue\/green · ✓ healthy · 100%/.test(r));
        },
        { what: 'the Deployments view showing weather-clf v2 healthy on local', timeoutMs: 15_000, intervalMs: 250 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; rows seen: ${JSON.stringify(seen)}`);
      });
      await page.locator('.part.statusbar', { hasText: 'local: weather-clf v2 ✓' }).first().waitFor({ state: 'visible', timeout: 15_000 });
      await ctx.screenshot('walkthrough-redeployed-v2');
    });

    it('"mloop: Open Experiments Table": a row per run with its params and accuracy, in a page that passes the CSP probe', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      await runPaletteCommand(page, 'mloop: Open Experiments Table');
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const store = openStore({ path: defaultStorePath(ctx.workspace), readonly: true });
      const runs = new RunRepository(store).list().length;
      store.close();
      const rows = frame.locator('.grid-row[data-run-id]');
      await pollUntil(async () => (await rows.count()) === runs, { what: `${runs} run row(s) in the Experiments Table`, timeoutMs: 30_000, intervalMs: 250 });
      const header = await frame.locator('.grid-header').innerText();
      assert.match(header, /accuracy/, header);
      assert.match(header, /n_estimators|max_depth/, header);
      // the column chooser: search, hide a column (gone from the header), show it again
      await frame.locator('#columns').click();
      await frame.locator('#column-search').evaluate((node: { value: string; dispatchEvent(e: unknown): boolean }) => {
        node.value = 'accuracy';
        node.dispatchEvent(new Event('input'));
      });
      const choice = frame.locator('.chooser-row[data-column="metrics.accuracy"]');
      // narrowed to the columns naming accuracy (accuracy, cv_accuracy), not the params
      await pollUntil(async () => (await choice.count()) === 1 && (await frame.locator('.chooser-row[data-column^="params."]').count()) === 0, {
        what: 'the chooser narrowed to the accuracy columns',
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      await ctx.screenshot('experiments-table-columns');
      const box = choice.locator('input[type=checkbox]');
      await box.uncheck();
      const accuracyHeader = frame.locator('.grid-header [data-column="metrics.accuracy"]');
      await pollUntil(async () => (await accuracyHeader.count()) === 0, {
        what: 'accuracy hidden',
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      await choice.locator('input[type=checkbox]').check();
      await pollUntil(async () => (await accuracyHeader.count()) === 1, {
        what: 'accuracy shown again',
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      await frame.locator('#columns').click();
      // keyboard: the grid takes arrows (an active cell) and Ctrl+C copies that cell through the host
      await frame.locator('.grid-scroll').focus();
      await page.keyboard.press('ArrowRight');
      await pollUntil(async () => (await frame.locator('.grid-cell.active').count()) === 1, { what: 'an active cell', timeoutMs: 10_000, intervalMs: 100 });
      await page.keyboard.press('Control+c');
      await page.locator('.part.statusbar', { hasText: 'mloop: copied' }).first().waitFor({ state: 'visible', timeout: 10_000 });
      await ctx.screenshot('experiments-table');
      await probeWebview(ctx, 'Experiments Table', 'experimentsTable');
    });

    it("the table's Plots button: parallel coordinates, scatter and param importance beside the table, in a page that passes the CSP probe", async function () {
      this.timeout(90_000);
      const page = ctx.page();
      const table = page.frameLocator('iframe.webview:visible').first().frameLocator('iframe#active-frame');
      await table.locator('#plots').click();
      const plots = await pollUntil(
        async () => {
          for (const frame of page.frames())
            if (
              (await frame
                .evaluate("document.title === 'Plots across Runs' && document.querySelectorAll('#parallel path.pc-line').length > 0")
                .catch(() => false)) === true
            )
              return frame;
          return undefined;
        },
        { what: 'the plots page with one line per run', timeoutMs: 45_000, intervalMs: 250 },
      );
      // the scatter is a canvas: poll until chart.js has painted points on it
      await pollUntil(
        async () =>
          (await plots.evaluate(`(() => { const c = document.querySelector('canvas#scatter'); if (!c || !c.width) return false; c.scrollIntoView();
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n > 100; })()`)) ===
          true,
        { what: 'the scatter painted', timeoutMs: 20_000, intervalMs: 250 },
      );
      const text = await plots.evaluate<string>('document.body.innerText');
      assert.match(text, /Param importance for accuracy/, text.slice(0, 500));
      await ctx.screenshot('experiments-plots');
      // a click on a run's line selects that run in the table beside
      await plots.evaluate(`document.querySelector('#parallel path.pc-line').dispatchEvent(new MouseEvent('click', { bubbles: true }))`);
      await pollUntil(async () => (await table.locator('.grid-row.selected').count()) === 1, {
        what: 'the clicked run selected in the table',
        timeoutMs: 15_000,
        intervalMs: 250,
      });
      await probeWebview(ctx, 'Plots across Runs', 'runPlots');
    });
  });
}

/**
 * Runs the walkthrough journey in its own workbench (an empty folder, like a newcomer's), so it starts from
 * nothing whatever the other e2e steps left. Screenshots go to `<outDir>/walkthrough-*.png`.
 */
export async function runWalkthroughE2e(opts: { root: string; outDir: string }): Promise<SuiteResult> {
  const temp = createTempRun('e2e-walkthrough');
  let session: WorkbenchSession | undefined;
  const ctx: WalkthroughContext = {
    page: () => {
      if (session === undefined) throw new Error('the workbench is not open');
      return session.page;
    },
    workspace: temp.workspace,
    root: opts.root,
    extensionHostLog: () => extensionHostLog(temp.runDir),
    runDir: temp.runDir,
    screenshot: (name) => screenshot(ctx.page(), opts.outDir, name),
  };
  let result: SuiteResult = { passed: 0, failed: 1 };
  try {
    session = await openWorkbench({
      root: opts.root,
      workspace: temp.workspace,
      runDir: temp.runDir,
      resultsDir: opts.outDir,
      consoleLogName: 'walkthrough-console.log',
    });
    const mocha = new Mocha({ ui: 'bdd', bail: true, timeout: 90_000, reporter: 'spec', color: process.stdout.isTTY === true });
    mocha.suite.emit('pre-require', globalThis, 'test/e2e/walkthrough.e2e.ts', mocha);
    registerWalkthroughSuite(ctx);
    mocha.suite.afterEach(async function keepEvidenceOfFailure(this: Mocha.Context) {
      if (this.currentTest?.state === 'failed')
        await ctx.screenshot(`walkthrough-failed-${(this.currentTest.title.split(' ')[0] ?? 'step').replace(/\W/g, '')}`).catch(() => undefined);
    });
    result = await new Promise((done) => {
      const runner = mocha.run(() => done({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
    });
  } catch (error) {
    console.error(`e2e walkthrough: could not run: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await session?.close();
  }
  if (result.failed === 0 && result.passed > 0) temp.dispose();
  else {
    console.error(`e2e walkthrough: ${mloopLogTail(temp.runDir)}`);
    console.error(`e2e walkthrough: kept ${temp.base} for inspection`);
  }
  return result;
}
