import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseQuickPickRow, paintedPixels, runPaletteCommand, startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** Painted pixels of a canvas in the Monitoring panel (the page is two nested iframes). */
function canvasPixels(ctx: E2eContext, id: string): Promise<number> {
  return paintedPixels(ctx.page().frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame').locator(`canvas#${id}`));
}

/** After Initialize Project: monitoring in mloop.yaml (no trained model needed: the reference is a file), "mloop: Check Drift…" from the palette, the Monitoring panel with the drift report and its charts. */
export function registerDriftSuite(ctx: E2eContext): void {
  describe('drift: check from the palette and read the report', () => {
    it('"mloop: Check Drift…" → weather-clf: the Monitoring panel shows the verdict, the columns by score, the histograms and a clicked window', async function () {
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

      await startFromPalette(page, 'mloop: Check Drift…');
      // the monitored model is offered (mloop.yaml was re-read after the append)
      await pollUntil(async () => (await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-clf' }).count()) > 0, {
        what: 'weather-clf in the Check Drift pick',
        timeoutMs: 20_000,
      });
      await ctx.screenshot('drift-check-pick');
      await chooseQuickPickRow(page, 'weather-clf');

      // the Monitoring panel of weather-clf opens on the report: drift share per window, the columns by score, the histograms
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const verdict = await pollUntil(async () => (await frame.locator('#drift-verdict').count()) > 0 && frame.locator('#drift-verdict').innerText(), {
        what: 'the drift verdict in the Monitoring panel',
        timeoutMs: 90_000,
        intervalMs: 500,
      });
      assert.match(verdict, /Dataset drift/);
      assert.match(verdict, /[345] of 5 columns drifted/);
      assert.match(await frame.locator('#verdict').innerText(), /alert[\s\S]*Retrain/, 'the header counts the drift alert and offers Retrain');
      assert.match(await page.locator('.statusbar-item', { hasText: 'drift:' }).first().innerText(), /drift: weather-clf/);
      const firstRow = await frame.locator('#columns-table tbody tr').first().getAttribute('data-column');
      assert.ok(['temp_max', 'temp_min', 'wind'].includes(firstRow ?? ''), `the top row is a shifted column, not ${firstRow}`);
      for (const id of ['histogram-chart', 'drift-chart']) {
        const painted = await pollUntil(
          async () => {
            const n = await canvasPixels(ctx, id).catch(() => 0);
            return n > 500 && n;
          },
          { what: `a painted ${id}`, timeoutMs: 30_000, intervalMs: 500 },
        );
        assert.ok(painted > 500);
      }
      await ctx.screenshot('drift-in-monitoring-panel');
      // a click on a window: its details, and each column's score in that window beside the report's
      await frame.locator('#windows tr[data-window="2015-07-01"]').click();
      await pollUntil(async () => (await frame.locator('#window-details').count()) > 0, { what: 'the details of July', timeoutMs: 10_000 });
      assert.match(await frame.locator('#columns-table thead').innerText(), /\bin 2015-07-01\b/);
      // each column's score there reads as its verdict in that window ("drift · > 1000×", "ok · 0.42×"), not as 1e+39
      const inWindow = await frame.locator('#columns-table tbody tr td:nth-child(8)').allInnerTexts();
      const windowVerdict = /^(drift|ok) · (> 1000|[\d.]+)×$/;
      assert.ok(inWindow.some((t) => windowVerdict.test(t)) && inWindow.every((t) => windowVerdict.test(t) || t === '—'), inWindow.join(' | '));
      // choosing another column redraws its histogram
      await frame.locator('#columns-table tbody tr[data-column="weather"]').click();
      await pollUntil(async () => /weather: reference vs current/.test(await frame.locator('#drift-details .chart-card h2').first().innerText()), {
        what: 'the weather histogram',
        timeoutMs: 10_000,
      });
      await ctx.screenshot('drift-window-details');
      // close the panel's tab only (mloop.yaml stays open for the next steps), so later steps find only their own webview
      const tab = page.locator('.tabs-container .tab', { hasText: 'Monitoring:' }).first();
      await tab.click({ button: 'middle' }); // a middle click closes a tab in VS Code
      await pollUntil(async () => (await page.locator('iframe.webview:visible').count()) === 0, { what: 'the Monitoring panel to close', timeoutMs: 15_000 });
    });

    it('"mloop: Check Model Performance…" then "mloop: Open Monitoring…": realised accuracy beside the CBPE estimate per window, and the alerts', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      // 2013 predictions with a logged probability per class (every 4th wrong), their late labels, 2012 as the CBPE reference
      const [, ...rows] = readFileSync(join(ctx.root, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv'), 'utf8')
        .trim()
        .split('\n');
      const classes = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
      const log = (year: string, withLabel: boolean): string =>
        `id,date,predicted,${classes.map((c) => `proba_${c}`).join(',')}${withLabel ? ',label' : ''}\n${rows
          .filter((r) => r.startsWith(year))
          .map((r, i) => {
            const [date, , , , , weather] = r.split(',');
            const predicted = i % 4 === 0 ? (weather === 'sun' ? 'rain' : 'sun') : weather!;
            return [`p${i}`, date, predicted, ...classes.map((c) => (c === predicted ? '0.8' : '0.05')), ...(withLabel ? [weather] : [])].join(',');
          })
          .join('\n')}\n`;
      const folder = join(ctx.workspace, 'monitoring');
      writeFileSync(join(folder, 'served.csv'), log('2013', false));
      writeFileSync(join(folder, 'served-reference.csv'), log('2012', true));
      writeFileSync(
        join(folder, 'served-labels.csv'),
        `id,label\n${rows
          .filter((r) => r.startsWith('2013-0'))
          .map((r, i) => `p${i},${r.split(',')[5]}`)
          .join('\n')}\n`,
      );
      // monitoring: is the last block of mloop.yaml (the step above appended it): one more model under it
      appendFileSync(
        join(ctx.workspace, 'mloop.yaml'),
        '  weather-served:\n    current: monitoring/served.csv\n    time_column: date\n    window: monthly\n    prediction: predicted\n    labels: monitoring/served-labels.csv\n    performance: { accuracy: { min: 0.8 } }\n    estimated_performance: { reference: monitoring/served-reference.csv, accuracy: { min: 0.7 } }\n',
      );
      await startFromPalette(page, 'mloop: Check Model Performance…');
      await pollUntil(async () => (await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-served' }).count()) > 0, {
        what: 'weather-served in the Check Model Performance pick',
        timeoutMs: 20_000,
      });
      await chooseQuickPickRow(page, 'weather-served');
      // the alert joins the drift badge in the status bar
      await pollUntil(async () => (await page.locator('.statusbar-item', { hasText: 'alert: weather-served' }).count()) > 0, {
        what: 'the alert of weather-served in the status bar',
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      await startFromPalette(page, 'mloop: Open Monitoring…');
      await pollUntil(async () => (await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'weather-served' }).count()) > 0, {
        what: 'weather-served in the Open Monitoring pick',
        timeoutMs: 20_000,
      });
      await chooseQuickPickRow(page, 'weather-served');
      const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const verdict = await pollUntil(async () => (await frame.locator('#verdict').count()) > 0 && frame.locator('#verdict').innerText(), {
        what: 'the Monitoring panel',
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      // nine labelled months below 0.8 (February has 28 rows, under min_rows) plus the months without labels: no realised value
      assert.match(verdict, /\d+ alert\(s\)/);
      assert.match(await frame.locator('#alerts').innerText(), /accuracy 0\.742 in window 2013-01-01/);
      const table = await frame.locator('#windows').innerText();
      assert.match(table, /2013-01-01/);
      assert.match(table, /2013-12-01/, 'December: estimated without labels');
      const painted = await pollUntil(
        async () => {
          const n = await canvasPixels(ctx, 'performance-chart').catch(() => 0);
          return n > 500 && n;
        },
        { what: 'a painted performance chart', timeoutMs: 30_000, intervalMs: 500 },
      );
      assert.ok(painted > 500);
      assert.match(await frame.locator('#no-drift').innerText(), /No drift check of this model yet/, 'weather-served was never checked for drift');
      await ctx.screenshot('monitoring-panel');
      await probeWebview(ctx, 'Monitoring', 'monitoring');
      // Retrain (one button in the header, for every alert) hands the model to the retrain flow (weather-served was never registered: it says so)
      await frame.locator('#retrain').click();
      await runPaletteCommand(page, 'Notifications: Show Notifications');
      await page
        .locator('.notifications-center .notification-list-item', { hasText: /retrain/i })
        .first()
        .waitFor({ state: 'visible', timeout: 30_000 });
      await ctx.screenshot('monitoring-retrain');
      await runPaletteCommand(page, 'Notifications: Hide Notifications');
      const tab = page.locator('.tabs-container .tab', { hasText: 'Monitoring:' }).first();
      await tab.click({ button: 'middle' });
      await pollUntil(async () => (await page.locator('iframe.webview:visible').count()) === 0, { what: 'the Monitoring panel to close', timeoutMs: 15_000 });
    });
  });
}
