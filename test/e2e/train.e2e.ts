import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { RunRepository } from '../../src/core/store/runs';
import { defaultStorePath, openStore } from '../../src/core/store/store';
import { chooseQuickPickRow, expandView, paintedPixels, pollExpanded, startFromPalette, treeRows, viewPane, webviewFrame } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';

/** Count of painted pixels in the first chart canvas of the Metrics webview (not of another panel shown beside it). */
async function chartPixels(ctx: E2eContext): Promise<number> {
  return paintedPixels((await webviewFrame(ctx.page(), 'Metrics', 2_000)).locator('canvas').first());
}

/** The loop the design card asks for: press a key, watch the run, open its chart. */
export function registerTrainSuite(ctx: E2eContext): void {
  describe('train from the palette and chart the run', () => {
    it('"mloop: Train…" → pick the pipeline → Enter for default params: the run finishes and shows in Runs with its accuracy', async function () {
      this.timeout(240_000);
      const page = ctx.page();
      const example = join(ctx.root, 'examples', 'weather');
      for (const item of ['mloop.yaml', 'train.py', 'train_protocol.py', 'data']) cpSync(join(example, item), join(ctx.workspace, item), { recursive: true });
      // a project under git, committed: its run records a commit, so a later step can reproduce it exactly
      for (const args of [
        ['init', '-q'],
        ['add', '-A'],
        ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.com', 'commit', '-qm', 'the weather example'],
      ]) {
        const git = spawnSync('git', args, { cwd: ctx.workspace, encoding: 'utf8' });
        assert.equal(git.status, 0, `git ${args.join(' ')}: ${git.stderr}`);
      }

      // the open mloop.yaml picks up the example and shows a ▶ Train lens above each pipeline
      await pollUntil(async () => (await page.locator('.part.editor .codelens-decoration', { hasText: '▶ Train' }).count()) >= 2, {
        what: 'two "▶ Train" CodeLenses in the mloop.yaml editor',
        timeoutMs: 20_000,
      });
      await ctx.screenshot('train-codelens');

      await startFromPalette(page, 'mloop: Train…');
      // the pipeline pick lists both pipelines of the example
      await pollUntil(async () => (await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'train-protocol' }).count()) > 0, {
        what: 'the pipeline quick pick with "train" and "train-protocol"',
        timeoutMs: 15_000,
      });
      await ctx.screenshot('train-pick-pipeline');
      // "train" is also the start of "train-protocol": Enter only on the row of the pipeline "train" itself
      await chooseQuickPickRow(page, 'train', /^train(?![\w-])/);
      // Train… runs the defaults after that one pick: no params box (Train with Params… asks)
      await pollUntil(async () => !(await page.locator('.quick-input-widget').isVisible()), {
        what: 'the quick input to close without asking for params',
        timeoutMs: 10_000,
      });
      await ctx.screenshot('train-started-with-defaults');

      // the run ends in the store, then the tree shows it (live refresh, no manual refresh)
      const storePath = defaultStorePath(ctx.workspace);
      const status = await pollUntil(
        () => {
          try {
            const store = openStore({ path: storePath, readonly: true });
            try {
              // the run of this pipeline (the store also holds the seeded run; inputs are snapshotted before the run row exists)
              const run = new RunRepository(store).list({ limit: 10 }).find((r) => r.pipeline === 'train');
              return run && run.status !== 'RUNNING' ? run.status : undefined;
            } finally {
              store.close();
            }
          } catch {
            return undefined;
          }
        },
        { what: 'the training run to end', timeoutMs: 180_000, intervalMs: 500 },
      );
      assert.equal(status, 'FINISHED');
      await expandView(page, 'Runs');
      const weather = viewPane(page, 'Runs').locator('[role="treeitem"]', { hasText: 'weather' }).first();
      await weather.waitFor({ state: 'visible', timeout: 15_000 });
      // the experiment row comes collapsed (the run made it), and a click landing while the tree re-renders is lost: reopen it until the run shows
      const row = await pollExpanded(weather, async () => (await treeRows(page, 'Runs')).find((r) => /finished/.test(r) && /accuracy 0\.\d+/.test(r)), {
        what: 'a finished run row with its accuracy in the Runs tree',
        intervalMs: 1_000,
        timeoutMs: 120_000, // 5-fold CV of 200 trees: ~8 s on an idle 2-core machine, much longer on a loaded one
      });
      assert.match(row, /accuracy 0\.\d+/);
      await ctx.screenshot('train-run-finished-in-tree');
    });

    it('Open Metrics on the run draws its chart (canvas pixels)', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      // the run this suite trained, by its accuracy: the first-run step's seeded run is finished too, with no metric to chart
      const weather = viewPane(page, 'Runs').locator('[role="treeitem"]', { hasText: 'weather' }).first();
      const runRow = viewPane(page, 'Runs')
        .locator('[role="treeitem"]', { hasText: /finished/ })
        .filter({ hasText: /accuracy 0\.\d+/ })
        .first();
      await pollExpanded(weather, () => runRow.isVisible(), { what: 'the trained run row in the Runs tree', timeoutMs: 30_000 });
      await runRow.hover();
      await runRow.locator('.action-label[aria-label^="Open Metrics"]').click();
      await page.locator('.part.editor .tabs-container .tab', { hasText: 'Metrics' }).first().waitFor({ state: 'visible', timeout: 20_000 });
      const painted = await pollUntil(
        async () => {
          const n = await chartPixels(ctx).catch(() => 0);
          return n > 500 && n;
        },
        { what: 'a painted chart canvas in the Metrics panel', timeoutMs: 45_000, intervalMs: 500 },
      );
      assert.ok(painted > 500, `only ${painted} painted pixels`);
      await ctx.screenshot('train-metrics-chart');
    });
  });
}
