import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expandView, runContextMenuEntry, runPaletteCommand, treeRows, viewPane, webviewFrame } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import { defaultStorePath, openStore } from '../../src/core/store/store';
import type { E2eContext } from './context';
import { probeWebview } from './security.e2e';

/** Collapses a view pane so the ones below get the room (screenshots show the tree that matters). */
async function collapseView(page: Page, viewName: string): Promise<void> {
  const header = viewPane(page, viewName).locator('.pane-header').first();
  if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
}

/** Drags the side bar's edge so tree rows show their descriptions in full. */
async function widenSideBar(page: Page, width: number): Promise<void> {
  const box = await page.locator('.part.sidebar').boundingBox();
  if (!box || box.width >= width) return;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width + 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 8 });
  await page.mouse.up();
}

/** Expands a tree row found by its text, if collapsed. */
async function expandRow(page: Page, viewName: string, text: RegExp): Promise<void> {
  const row = viewPane(page, viewName).locator('[role="treeitem"]', { hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 }).catch(async () => {
    throw new Error(`no ${String(text)} row in ${viewName}: ${JSON.stringify(await treeRows(page, viewName))}`);
  });
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
}

/** Hides the bottom panel when it is open ("View: Hide Panel" is offered only while it is visible). */
async function hidePanel(page: Page): Promise<void> {
  if (await page.locator('.part.panel').first().isVisible()) await runPaletteCommand(page, 'View: Hide Panel');
}

/** Right-clicks a tree row and runs one entry of its context menu. */
async function contextMenu(page: Page, viewName: string, row: RegExp, entry: string): Promise<void> {
  await runContextMenuEntry(page, viewPane(page, viewName).locator('[role="treeitem"]', { hasText: row }).first(), entry);
}

/** After the training step: the input it read is a dataset version in the tree, and Preview shows its rows. */
export function registerDatasetsSuite(ctx: E2eContext): void {
  describe('the dataset the run read', () => {
    it('Datasets tree: weather → the version the run read (rows, used by 1 run, ✓) → its columns with a profile line', async function () {
      this.timeout(60_000);
      const page = ctx.page();
      for (const view of ['Runs', 'Models', 'Deployments', 'Audit']) await collapseView(page, view);
      await hidePanel(page);
      await widenSideBar(page, 560);
      await expandView(page, 'Datasets');
      await expandRow(page, 'Datasets', /^weather/);
      const version = await pollUntil(async () => (await treeRows(page, 'Datasets')).find((r) => /1,461 rows/.test(r)), {
        what: 'a version row with 1,461 rows under weather',
        timeoutMs: 15_000,
      });
      // a row's text is label then description, with no separator in innerText
      assert.match(version, /^[0-9a-f]{12}\s*1,461 rows · .+ · used by 1 run · ✓$/);
      await expandRow(page, 'Datasets', /1,461 rows/);
      const rows = await pollUntil(
        async () => {
          const current = await treeRows(page, 'Datasets');
          return current.some((r) => /^temp_max\s*number · /.test(r)) && current;
        },
        { what: 'column rows under the version', timeoutMs: 15_000 },
      );
      const columns = [
        ['date', 'datetime'],
        ['precipitation', 'number'],
        ['temp_max', 'number'],
        ['temp_min', 'number'],
        ['wind', 'number'],
        ['weather', 'string'],
      ] as const;
      const listed = (column: string, type: string): boolean => rows.some((r) => new RegExp(`^${column}\\s*${type} · `).test(r));
      // a short pane shows only the first rows: scroll the tree to its end and read the rest too, once the scrolled
      // rows have rendered (a fixed pause read them too early under load)
      await viewPane(page, 'Datasets').locator('[role="tree"]').first().hover();
      await page.mouse.wheel(0, 2000);
      await pollUntil(
        async () => {
          rows.push(...(await treeRows(page, 'Datasets')));
          return columns.every(([column, type]) => listed(column, type));
        },
        { what: 'every column row after scrolling the Datasets tree', timeoutMs: 10_000, intervalMs: 250 },
      ).catch(() => undefined); // the assertions below name the missing column
      for (const [column, type] of columns) {
        assert.ok(listed(column, type), `no "${column} ${type}" row: ${JSON.stringify([...new Set(rows)])}`);
      }
      await page.mouse.move(900, 500);
      await ctx.screenshot('datasets-tree');
    });

    it('Preview on the version opens a table of its first 200 rows; Next pages on', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      const versionRow = viewPane(page, 'Datasets')
        .locator('[role="treeitem"]', { hasText: /1,461 rows/ })
        .first();
      await versionRow.hover();
      await versionRow.locator('.action-label[aria-label^="Preview Dataset"]').click();
      const frame = await webviewFrame(page, 'Preview');
      const range = frame.locator('#range');
      await pollUntil(async () => /^rows 1–200 of 1,461/.test(await range.innerText().catch(() => '')), {
        what: 'the preview to show rows 1–200 of 1,461',
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      const firstRow = (await frame.locator('vscode-table-body vscode-table-row').first().locator('vscode-table-cell').allInnerTexts()).map((t) => t.trim());
      assert.deepEqual(firstRow, ['1', '2012-01-01', '0', '12.8', '5', '4.7', 'drizzle']);
      assert.equal(await frame.locator('vscode-table-body vscode-table-row').count(), 200);
      await page.mouse.move(900, 500);
      await ctx.screenshot('datasets-preview');

      await frame.locator('#next').click();
      await pollUntil(async () => /^rows 201–400 of 1,461/.test(await range.innerText().catch(() => '')), {
        what: 'the next page (rows 201–400)',
        timeoutMs: 15_000,
        intervalMs: 300,
      });
      const row201 = await frame.locator('vscode-table-body vscode-table-row').first().locator('vscode-table-cell').first().innerText();
      assert.equal(row201.trim(), '201');
      await ctx.screenshot('datasets-preview-page-2');
      await probeWebview(ctx, 'Preview', 'preview');
    });

    it('Restore This Version brings a deleted dataset file back by its digest; Reproduce Run on the trained run ends "reproduced ✓"', async function () {
      this.timeout(300_000);
      const page = ctx.page();
      const file = join(ctx.workspace, 'data', 'seattle-weather.csv');
      const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
      await hidePanel(page);
      await widenSideBar(page, 560);
      await expandView(page, 'Datasets');
      await expandRow(page, 'Datasets', /^weather/);
      const version = await pollUntil(async () => (await treeRows(page, 'Datasets')).find((r) => /1,461 rows/.test(r)), {
        what: 'the 1,461-row version row',
        timeoutMs: 15_000,
      });
      assert.equal(version.slice(0, 12), digest.slice(0, 12), `the version row names the file's sha256: ${version}`);
      rmSync(file); // a missing file has nothing to record first: the restore alone brings it back
      await contextMenu(page, 'Datasets', /1,461 rows/, 'Restore This Version');
      await pollUntil(() => existsSync(file) && createHash('sha256').update(readFileSync(file)).digest('hex') === digest, {
        what: `data/seattle-weather.csv restored with sha256 ${digest.slice(0, 12)}`,
        timeoutMs: 30_000,
        intervalMs: 300,
      });
      await ctx.screenshot('datasets-restored-version');

      await collapseView(page, 'Datasets');
      await expandView(page, 'Runs');
      const trained = /accuracy 0\.\d+.*finished/;
      await pollUntil(async () => (await treeRows(page, 'Runs')).some((r) => trained.test(r)), { what: 'the trained run row in Runs', timeoutMs: 15_000 });
      await contextMenu(page, 'Runs', trained, 'Reproduce Run');
      // the rerun trains again in a temporary git worktree of the run's commit (5-fold CV of 200 trees)
      const verdict = await pollUntil(async () => (await treeRows(page, 'Runs')).find((r) => /reproduced ✓|differs ✗|rerun failed/.test(r)), {
        what: 'the rerun row with its verdict in Runs',
        timeoutMs: 240_000,
        intervalMs: 1_000,
      });
      await page.mouse.move(900, 500);
      await ctx.screenshot('runs-reproduced');
      assert.match(verdict, /reproduced ✓/);

      // the same from the Experiments Table: the trained run's row selected, its Reproduce button → a second exact rerun
      const store = openStore({ path: defaultStorePath(ctx.workspace), readonly: true });
      const original = (store.db.prepare('SELECT original_run_id AS id FROM run_reproduction').get() as { id: string }).id;
      store.close();
      await runPaletteCommand(page, 'mloop: Open Experiments Table');
      const table = page.frameLocator('iframe.webview:visible').frameLocator('iframe#active-frame');
      const row = table.locator(`.grid-row[data-run-id="${original}"]`);
      await row.waitFor({ state: 'visible', timeout: 30_000 });
      await row.click();
      const reproduce = table.locator('#reproduce');
      await pollUntil(async () => (await reproduce.evaluate((b) => (b as unknown as { disabled: boolean }).disabled)) === false, {
        what: 'Reproduce enabled for the one selected run',
        timeoutMs: 10_000,
        intervalMs: 200,
      });
      await reproduce.click();
      const reproduced = await pollUntil(
        async () => {
          const rows = (await treeRows(page, 'Runs')).filter((r) => /reproduced ✓|differs ✗|rerun failed/.test(r));
          return rows.length >= 2 && rows;
        },
        { what: 'a second rerun row with its verdict in Runs, started from the table', timeoutMs: 240_000, intervalMs: 1_000 },
      );
      await ctx.screenshot('experiments-table-reproduced');
      assert.ok(
        reproduced.every((r) => /reproduced ✓/.test(r)),
        `both reruns reproduce the trained run: ${JSON.stringify(reproduced)}`,
      );
      const reruns = openStore({ path: defaultStorePath(ctx.workspace), readonly: true });
      const originals = reruns.db.prepare('SELECT original_run_id AS id, verdict FROM run_reproduction').all() as { id: string; verdict: string }[];
      reruns.close();
      assert.deepEqual(
        originals.map((r) => [r.id, r.verdict]),
        [
          [original, 'reproduced'],
          [original, 'reproduced'],
        ],
        'the table reran the run it had selected',
      );
      await runPaletteCommand(page, 'View: Close Editor');
      await collapseView(page, 'Runs');
      await expandView(page, 'Datasets');
    });
  });
}
