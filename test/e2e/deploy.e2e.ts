import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { stopService } from '../../src/core/deploy/process';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { defaultStorePath, openStore } from '../../src/core/store/store';
import { expandView, treeRows, viewPane } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';

/** Opens the palette on a command whose next step is another quick pick (so the widget stays open). */
async function startFromPalette(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await pollUntil(
    async () => {
      if (!(await input.isVisible())) await page.keyboard.press('F1');
      await input.fill(`>${title}`);
      return page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().isVisible();
    },
    { what: `the palette entry "${title}"`, timeoutMs: 20_000, intervalMs: 500 },
  );
  await page.keyboard.press('Enter');
}

function readStore<T>(workspace: string, read: (store: ReturnType<typeof openStore>) => T): T | undefined {
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

/** After training (step 06) and the webview checks (08): deploy from the palette, see it in the Deployments view and status bar, retrain. */
export function registerDeploySuite(ctx: E2eContext): void {
  suite('deploy and retrain from the palette', () => {
    suiteTeardown(async () => {
      const pids = readStore(ctx.workspace, (s) => new DeploymentRepository(s).list().map((d) => d.health?.process?.pid)) ?? [];
      for (const pid of pids) if (pid !== undefined) await stopService(pid, 2000);
    });

    test('09 "mloop: Deploy Version…" → pick the version: the local target serves it, healthy, in the Deployments view and the status bar', async function () {
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
          if (!(await versionRow.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false))) return false;
          if (attempt === 1) await ctx.screenshot('09a-deploy-pick-version');
          await page.keyboard.press('Enter');
          return pollUntil(() => readStore(ctx.workspace, (s) => new DeploymentRepository(s).list().length > 0), { what: 'a deployment row', timeoutMs: 10_000, intervalMs: 250 }).catch(() => false);
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
      await ctx.screenshot('09-deployed-local-healthy');
    });

    test('10 "mloop: Retrain Model…" (one model: no question asked): a challenger is registered with its gate', async function () {
      this.timeout(240_000);
      const page = ctx.page();
      await startFromPalette(page, 'mloop: Retrain Model…');
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
      await expandView(page, 'Models');
      const model = viewPane(page, 'Models').locator('[role="treeitem"]', { hasText: 'weather-clf' }).first();
      await model.waitFor({ state: 'visible', timeout: 15_000 });
      if ((await model.getAttribute('aria-expanded')) !== 'true') await model.click();
      await pollUntil(async () => (await treeRows(page, 'Models')).some((r) => /v2/.test(r) && /challenger/.test(r)), { what: 'v2 @challenger in the Models view', timeoutMs: 20_000 });
      await ctx.screenshot('10-retrained-challenger');
    });
  });
}
