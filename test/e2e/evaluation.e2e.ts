import * as assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { paintedPixels, startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** After the registry step (weather-clf@champion exists): evaluate the champion, then explain one prediction. */
export function registerEvaluationSuite(ctx: E2eContext): void {
  describe('evaluate and explain a version', () => {
    it('"mloop: Evaluate Version…" → the champion → weather: the Evaluation panel draws metrics and importance; "Explain Prediction…" draws a waterfall', async function () {
      this.timeout(240_000);
      const page = ctx.page();
      // the example's mloop.yaml derives the model's month from the date with features.py (prepare: features:add_month)
      copyFileSync(join(ctx.root, 'examples', 'weather', 'features.py'), join(ctx.workspace, 'features.py'));
      const pick = async (text: string | RegExp): Promise<void> => {
        const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
        await row.waitFor({ state: 'visible', timeout: 20_000 });
        await row.click();
      };
      await startFromPalette(page, 'mloop: Evaluate Version…');
      await pick('weather-clf v1');
      await pick(/^weather\s*its file as it is now/);
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const painted = await pollUntil(async () => ((await paintedPixels(frame.locator('canvas#importance-chart'))) > 500 ? true : undefined), {
        what: 'the permutation importance chart of the Evaluation panel',
        timeoutMs: 150_000,
        intervalMs: 1000,
      });
      assert.ok(painted);
      assert.match(await frame.locator('#metrics').innerText(), /accuracy[\s\S]*wilson/);
      await ctx.screenshot('evaluation-panel');
      await probeWebview(ctx, 'Evaluation', 'evaluation');

      await startFromPalette(page, 'mloop: Explain Prediction…');
      await pick('weather-clf v1');
      const input = page.locator('.quick-input-widget input');
      await input.fill('{"date": "2012-06-01", "precipitation": 0, "temp_max": 22.2, "temp_min": 11.1, "wind": 3.1}');
      await page.waitForTimeout(300); // the box validates as you type
      await page.keyboard.press('Enter');
      await pollUntil(async () => ((await paintedPixels(frame.locator('canvas#waterfall-chart'))) > 500 ? true : undefined), {
        what: 'the waterfall of the explained prediction',
        timeoutMs: 90_000,
        intervalMs: 1000,
      });
      assert.match(await frame.locator('#contributions').innerText(), /precipitation/);
      await ctx.screenshot('evaluation-explanation');
      const tab = page.locator('.tabs-container .tab', { hasText: 'Explanation:' }).first();
      await tab.click({ button: 'middle' });

      // the model card of the evaluated champion: its evaluation (intervals, importance) is in it
      await startFromPalette(page, 'mloop: Open Model Card');
      await pick('weather-clf v1');
      const card = frame.locator('#card');
      await pollUntil(
        async () =>
          /Model card: weather-clf v1[\s\S]*Evaluation[\s\S]*Permutation importance/.test(await card.innerText().catch(() => '')) ? true : undefined,
        {
          what: 'the Model Card panel with the evaluation',
          timeoutMs: 20_000,
          intervalMs: 500,
        },
      );
      assert.match(await card.innerText(), /accuracy\s+[\d.]+\s+[\d.]+ – [\d.]+/);
      // the example's card: section, and the lineage drawn as SVG (dataset version → run → this version)
      assert.match(await card.innerText(), /Intended use and limits\s+Predict the day's weather type in Seattle[\s\S]*Out of scope/);
      assert.ok((await frame.locator('#lineage g.node').count()) >= 3, 'the lineage graph has the data, the run and the version');
      assert.equal(await frame.locator('#lineage g.node-model').count(), 1);
      await frame.locator('#lineage').scrollIntoViewIfNeeded();
      await ctx.screenshot('model-card-lineage');
      await card.locator('h1').scrollIntoViewIfNeeded();
      await ctx.screenshot('model-card-panel');
      await probeWebview(ctx, 'Model Card', 'modelCard');
      await page.locator('.tabs-container .tab', { hasText: 'Model Card:' }).first().click({ button: 'middle' });
    });
  });
}
