import * as assert from 'node:assert/strict';
import { expandView, treeRows, viewPane, webviewFrame } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** After the training step: the auto-registered version in the Models tree, promotion, and its lineage drawn. */
export function registerRegistrySuite(ctx: E2eContext): void {
  describe('registry and lineage in the workbench', () => {
    it('the trained model is in Models with gate ✓; the inline "Promote to Champion" puts the @champion badge on it', async function () {
      this.timeout(150_000);
      const page = ctx.page();
      await expandView(page, 'Models');
      const model = viewPane(page, 'Models').locator('[role="treeitem"]', { hasText: 'weather-clf' }).first();
      await model.waitFor({ state: 'visible', timeout: 30_000 });
      if ((await model.getAttribute('aria-expanded')) !== 'true') await model.click();
      // the row's text is label + description with no separator between them: "v1gate ✓ · run …"
      const row = await pollUntil(async () => (await treeRows(page, 'Models')).find((r) => /^v\d+(?!\d).*gate ✓/.test(r)), {
        what: 'a version row with gate ✓ in the Models tree',
        // registration (artifact copy + digest + gate) follows the end of the run on a loaded machine
        timeoutMs: 60_000,
      });
      assert.match(row, /run [0-9a-f]{8}/);
      const version = viewPane(page, 'Models')
        .locator('[role="treeitem"]', { hasText: /gate ✓/ })
        .first();
      await version.hover();
      await version.locator('.action-label[aria-label^="Promote to Champion"]').click();
      const promoted = await pollUntil(async () => (await treeRows(page, 'Models')).find((r) => /^v\d+\s*@champion · gate ✓/.test(r)), {
        what: 'the @champion badge on the version',
        timeoutMs: 20_000,
      });
      assert.ok(promoted);
      await ctx.screenshot('registry-models-champion');
    });

    it('"mloop: Show Lineage" for weather-clf@champion draws dataset → run → model in the Lineage panel', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      const input = page.locator('.quick-input-widget input');
      // "mloop: Show Lineage for This File" matches too; the row text also carries the keybinding gear
      const entry = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'mloop: Show Lineage', hasNotText: 'This File' }).first();
      await pollUntil(
        async () => {
          if (!(await input.isVisible())) await page.keyboard.press('F1');
          await input.fill('>mloop: Show Lineage');
          return entry.isVisible();
        },
        { what: 'the palette entry "mloop: Show Lineage"', timeoutMs: 20_000, intervalMs: 500 },
      );
      await entry.click();
      await pollUntil(
        async () =>
          /model@version/.test(
            (await page
              .locator('.quick-input-widget')
              .innerText()
              .catch(() => '')) ?? '',
          ),
        {
          what: 'the Show Lineage input box',
          timeoutMs: 10_000,
        },
      );
      await input.fill('weather-clf@champion');
      await page.waitForTimeout(300); // the box validates as you type
      await page.keyboard.press('Enter');
      const frame = await webviewFrame(page, 'Lineage');
      const labels = await pollUntil(
        async () => {
          const texts = await frame
            .locator('g.node')
            .allTextContents()
            .catch(() => [] as string[]);
          return texts.some((t) => /^dataset/.test(t)) && texts.some((t) => /^run/.test(t)) && texts.some((t) => /^model/.test(t)) ? texts : undefined;
        },
        { what: 'dataset, run and model nodes in the Lineage panel', timeoutMs: 45_000, intervalMs: 500 },
      );
      assert.ok(
        labels.some((t) => /weather-clf v\d+/.test(t)),
        JSON.stringify(labels),
      );
      assert.ok(
        labels.some((t) => /weather @[0-9a-f]{12}/.test(t)),
        JSON.stringify(labels),
      );
      assert.ok((await frame.locator('path.edge').count()) >= 2, 'edges drawn');
      await ctx.screenshot('registry-lineage-panel');
      await probeWebview(ctx, 'Lineage', 'lineage');
    });
  });
}
