import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** Two shell stages in a dvc.yaml (no interpreter assumed), in their own folder of the workspace. */
const DVC_YAML = `stages:
  e2e-prepare:
    wdir: pipeline-e2e
    cmd: cat raw.txt raw.txt > prepared.txt && echo e2e-prepare >> ran.log
    deps: [raw.txt]
    outs: [prepared.txt]
  e2e-train:
    wdir: pipeline-e2e
    cmd: wc -c prepared.txt > model.txt && echo e2e-train >> ran.log
    deps: [prepared.txt]
    outs: [model.txt]
`;

/** "mloop: Run Pipeline" twice from the palette (the second run skips both stages), then "mloop: Show Pipeline DAG". */
export function registerPipelineE2eSuite(ctx: E2eContext): void {
  describe('pipeline stages: run twice, see the DAG', () => {
    it('"mloop: Run Pipeline" runs both stages, a second run skips them as unchanged, "mloop: Show Pipeline DAG" draws them up to date', async function () {
      this.timeout(180_000);
      const page = ctx.page();
      const folder = join(ctx.workspace, 'pipeline-e2e');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'raw.txt'), 'raw\n');
      writeFileSync(join(ctx.workspace, 'dvc.yaml'), DVC_YAML);
      const ran = (): string[] => (existsSync(join(folder, 'ran.log')) ? readFileSync(join(folder, 'ran.log'), 'utf8').trim().split('\n') : []);
      try {
        await startFromPalette(page, 'mloop: Run Pipeline');
        await pollUntil(() => (ran().length === 2 ? true : undefined), { what: 'both stages to run', timeoutMs: 60_000, intervalMs: 500 });
        assert.deepEqual(ran(), ['e2e-prepare', 'e2e-train']);
        assert.ok(existsSync(join(folder, 'model.txt')));

        await startFromPalette(page, 'mloop: Show Pipeline DAG');
        const frame = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
        const summary = await pollUntil(
          async () => {
            const text = (await frame.locator('#summary').count()) > 0 ? await frame.locator('#summary').innerText() : '';
            return /2 up to date/.test(text) ? text : undefined;
          },
          { what: 'both stages up to date in the DAG', timeoutMs: 60_000, intervalMs: 500 },
        );
        assert.match(summary, /^2 stages · 2 up to date/);
        assert.equal(await frame.locator('#graph .stage-status').count(), 2);

        // the second run, from the panel's own button: nothing changed, so nothing runs again
        await frame.locator('#run-all').click();
        await pollUntil(
          async () =>
            (await frame.locator('#run-all').innerText()) === 'Run Pipeline' && /2 up to date/.test(await frame.locator('#summary').innerText())
              ? true
              : undefined,
          {
            what: 'the second run to finish',
            timeoutMs: 60_000,
            intervalMs: 500,
          },
        );
        assert.deepEqual(ran(), ['e2e-prepare', 'e2e-train'], 'the second run skipped both stages');
        await ctx.screenshot('pipeline-dag');
        await probeWebview(ctx, 'Pipeline', 'pipeline');
        const tab = page.locator('.tabs-container .tab', { hasText: 'Pipeline' }).first();
        await tab.click({ button: 'middle' });
        // other panels of earlier steps stay open: wait for this tab only
        await pollUntil(async () => (await page.locator('.tabs-container .tab', { hasText: 'Pipeline' }).count()) === 0, {
          what: 'the Pipeline tab to close',
          timeoutMs: 15_000,
        });
      } finally {
        // later steps train from mloop.yaml alone
        rmSync(join(ctx.workspace, 'dvc.yaml'), { force: true });
      }
    });
  });
}
