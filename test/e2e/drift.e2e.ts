import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paintedPixels, startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** Painted pixels of a canvas in the Drift panel (the page is two nested iframes). */
function canvasPixels(ctx: E2eContext, id: string): Promise<number> {
  return paintedPixels(ctx.page().frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame').locator(`canvas#${id}`));
}

/** After Initialize Project: monitoring in mloop.yaml (no trained model needed: the reference is a file), "mloop: Check Drift…" from the palette, the Drift panel with its charts. */
export function registerDriftSuite(ctx: E2eContext): void {
  describe('drift: check from the palette and read the report', () => {
    it('"mloop: Check Drift…" → weather-clf: the Drift panel shows the verdict, the columns by score and the histograms', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      // 2012 as the reference, 2015 warmer and windier as the prediction log
      const [header, ...rows] = readFileSync(join(ctx.root, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv'), 'utf8')
        .trim()
        .split('\n');
      const folder = join(ctx.workspace, 'monitoring');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'reference.csv'), `${[header, ...rows.filter((r) => r.startsWith('2012'))].join('\n')}\n`);
      const shifted = rows
        .filter((r) => r.startsWith('2015'))
        .map((r) => {
          const [date, precipitation, tempMax, tempMin, wind, weather] = r.split(',');
          return [date, precipitation, Number(tempMax) + 5, Number(tempMin) + 4, Number(wind) * 1.5, weather].join(',');
        });
      writeFileSync(join(folder, 'predictions.csv'), `${[header, ...shifted].join('\n')}\n`);
      appendFileSync(
        join(ctx.workspace, 'mloop.yaml'),
        '\nmonitoring:\n  weather-clf:\n    reference: monitoring/reference.csv\n    current: monitoring/predictions.csv\n    time_column: date\n    window: monthly\n',
      );

      const input = page.locator('.quick-input-widget input');
      await startFromPalette(page, 'mloop: Check Drift…');
      // the monitored model is offered (mloop.yaml was re-read after the append)
      await pollUntil(async () => (await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-clf' }).count()) > 0, {
        what: 'weather-clf in the Check Drift pick',
        timeoutMs: 20_000,
      });
      await ctx.screenshot('drift-check-pick');
      await input.fill('weather-clf');
      await page.keyboard.press('Enter');

      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const verdict = await pollUntil(async () => (await frame.locator('#verdict').count()) > 0 && frame.locator('#verdict').innerText(), {
        what: 'the verdict in the Drift panel',
        timeoutMs: 90_000,
        intervalMs: 500,
      });
      assert.match(verdict, /Dataset drift/);
      assert.match(verdict, /[345] of 5 columns drifted/);
      assert.match(verdict, /Retrain/, 'a monitored model offers Retrain');
      assert.match(await page.locator('.statusbar-item', { hasText: 'drift:' }).first().innerText(), /drift: weather-clf/);
      const firstRow = await frame.locator('#columns-table tbody tr').first().getAttribute('data-column');
      assert.ok(['temp_max', 'temp_min', 'wind'].includes(firstRow ?? ''), `the top row is a shifted column, not ${firstRow}`);
      for (const id of ['histogram-chart', 'over-time-chart']) {
        const painted = await pollUntil(
          async () => {
            const n = await canvasPixels(ctx, id).catch(() => 0);
            return n > 500 && n;
          },
          { what: `a painted ${id}`, timeoutMs: 30_000, intervalMs: 500 },
        );
        assert.ok(painted > 500);
      }
      await ctx.screenshot('drift-panel');
      // choosing another column redraws its histogram
      await frame.locator('#columns-table tbody tr[data-column="weather"]').click();
      await pollUntil(async () => /weather: reference vs current/.test(await frame.locator('.chart-card h2').first().innerText()), {
        what: 'the weather histogram',
        timeoutMs: 10_000,
      });
      await ctx.screenshot('drift-panel-categorical');
      await probeWebview(ctx, 'Drift Report', 'drift');
      // close the panel's tab only (mloop.yaml stays open for the next steps), so later steps find only their own webview
      const tab = page.locator('.tabs-container .tab', { hasText: 'Drift:' }).first();
      await tab.click({ button: 'middle' }); // a middle click closes a tab in VS Code
      await pollUntil(async () => (await page.locator('iframe.webview:visible').count()) === 0, { what: 'the Drift panel to close', timeoutMs: 15_000 });
    });
  });
}
