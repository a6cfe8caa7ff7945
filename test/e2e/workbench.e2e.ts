import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { defaultStorePath, openStore } from '../../src/core/store/store';
import {
  activityBarItem,
  editorTabs,
  expandView,
  openViewContainer,
  pollExpanded,
  runPaletteCommand,
  treeRows,
  viewHeaders,
  viewPane,
  waitForIconPainted,
  waitForWorkbench,
  welcomeButtons,
  welcomeText,
} from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';

const VIEW_NAMES = ['Datasets', 'Runs', 'Models', 'Deployments'];
/** The side bar's headers: the four main views, then the Audit trail (collapsed until opened). */
const HEADER_NAMES = [...VIEW_NAMES, 'Audit'];

/**
 * A user's first minutes with mloop, in order: the steps share one workbench, so the runner
 * bails at the first failure (later steps would only report its consequences).
 */
export function registerFirstRunSuite(ctx: E2eContext): void {
  describe('first run in an empty folder', () => {
    it('the workbench loads with the mloop icon in the activity bar', async () => {
      const page = ctx.page();
      await waitForWorkbench(page, 60_000);
      const icon = activityBarItem(page, 'mloop');
      await icon.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {
        throw new Error('no "mloop" item in the activity bar: the extension did not load (see code-server.log)');
      });
      await waitForIconPainted(icon);
      await ctx.screenshot('first-run-workbench-ready');
    });

    // before any mloop view or command is touched: so the only thing that can start mloop is the file appearing
    it('mloop.yaml written into the open folder by another program brings the project views and commands, no reload', async () => {
      const page = ctx.page();
      const config = join(ctx.workspace, 'mloop.yaml');
      // after VS Code's own look at the folder (workspaceContains: runs once, at startup): a file there sooner counts as
      // present when the folder opened
      await pollUntil(() => ctx.extensionHostLog().includes('Eager extensions activated'), {
        what: 'the extension host to finish its startup activations',
        timeoutMs: 60_000,
      });
      // as `git pull` or the mloop CLI in a terminal would: straight to disk, no mloop command involved
      writeFileSync(config, readFileSync(join(ctx.root, 'examples', 'weather', 'mloop.yaml')));
      // the palette lists "Open mloop.yaml" only once mloop has seen the file (when: mloop.hasConfig)
      await runPaletteCommand(page, 'mloop: Open mloop.yaml', 30_000);
      await pollUntil(async () => (await editorTabs(page)).includes('mloop.yaml'), { what: 'an editor tab "mloop.yaml"', timeoutMs: 15_000 });
      await openViewContainer(page, 'mloop');
      await expandView(page, 'Runs');
      const buttons = await pollUntil(
        async () => {
          const shown = await welcomeButtons(page, 'Runs');
          return shown.includes('Train…') && shown;
        },
        { what: 'the Runs welcome of a project (Train…)', timeoutMs: 15_000 },
      );
      assert.ok(!buttons.includes('Initialize Project'), `Runs welcome buttons: ${JSON.stringify(buttons)}`);
      await ctx.screenshot('first-run-config-appeared');
      // back to the empty folder the next steps start from
      await runPaletteCommand(page, 'View: Close All Editors');
      rmSync(config);
      await pollUntil(async () => (await welcomeButtons(page, 'Runs')).includes('Initialize Project'), {
        what: 'the Runs welcome to offer Initialize Project again once mloop.yaml is gone',
        timeoutMs: 15_000,
      });
    });

    it('the mloop icon opens the mloop side bar with its four views and the audit trail', async () => {
      const page = ctx.page();
      await openViewContainer(page, 'mloop');
      const headers = await pollUntil(
        async () => {
          const titles = await viewHeaders(page);
          return HEADER_NAMES.every((name) => titles.some((t) => t.toLowerCase() === name.toLowerCase())) && titles;
        },
        { what: `view headers ${HEADER_NAMES.join(', ')} in the mloop side bar`, timeoutMs: 15_000 },
      );
      assert.deepEqual(
        headers.map((h) => h.toLowerCase()),
        HEADER_NAMES.map((n) => n.toLowerCase()),
      );
      await ctx.screenshot('first-run-mloop-sidebar');
    });

    it('every view explains itself while empty and Runs offers Initialize Project', async () => {
      const page = ctx.page();
      const texts: Record<string, string> = {};
      for (const name of VIEW_NAMES) {
        await expandView(page, name);
        texts[name] = await pollUntil(async () => (await welcomeText(page, name)) || undefined, {
          what: `welcome text in the ${name} view`,
          timeoutMs: 15_000,
        });
      }
      assert.match(texts.Runs ?? '', /No runs yet/);
      assert.match(texts.Datasets ?? '', /No datasets yet/);
      assert.match(texts.Models ?? '', /No models yet/);
      assert.match(texts.Deployments ?? '', /No deployments yet/);
      const buttons = await welcomeButtons(page, 'Runs');
      assert.ok(buttons.includes('Initialize Project'), `Runs welcome buttons: ${JSON.stringify(buttons)}`);
      await ctx.screenshot('first-run-empty-views-welcome');
    });

    it('"mloop: Initialize Project" from the palette writes mloop.yaml and opens it', async () => {
      const page = ctx.page();
      const config = join(ctx.workspace, 'mloop.yaml');
      assert.equal(existsSync(config), false, 'the e2e workspace must start without mloop.yaml');
      await runPaletteCommand(page, 'mloop: Initialize Project');
      await pollUntil(() => existsSync(config), { what: `${config} on disk`, timeoutMs: 15_000 });
      assert.ok(readFileSync(config, 'utf8').length > 0, 'mloop.yaml is empty');
      await pollUntil(async () => (await editorTabs(page)).includes('mloop.yaml'), {
        what: 'an editor tab "mloop.yaml"',
        timeoutMs: 15_000,
      });
      // with a config the Runs welcome switches from "create mloop.yaml" to the pipelines text
      await pollUntil(async () => (await welcomeButtons(page, 'Runs')).includes('Open mloop.yaml'), {
        what: 'the Runs welcome to offer "Open mloop.yaml" once the project exists',
        timeoutMs: 15_000,
      });
      await ctx.screenshot('first-run-initialized-project');
    });

    it('a run recorded in the store appears in the Runs tree after "mloop: Refresh"', async () => {
      const page = ctx.page();
      const runName = `e2e-seeded-${Date.now().toString(36)}`;
      // written the way a training process's tracking client would: straight into the store file
      const store = openStore({ path: defaultStorePath(ctx.workspace) });
      try {
        const experiment = new ExperimentRepository(store).ensure('Default');
        const runs = new RunRepository(store);
        const run = runs.create({ experimentId: experiment.experimentId, name: runName, startTime: Date.now() - 65_000 });
        runs.finish(run.runId, { status: 'FINISHED', exitCode: 0 });
      } finally {
        store.close();
      }
      await runPaletteCommand(page, 'mloop: Refresh');
      await expandView(page, 'Runs');
      const experimentRow = viewPane(page, 'Runs').locator('[role="treeitem"]', { hasText: 'Default' }).first();
      await experimentRow.waitFor({ state: 'visible', timeout: 15_000 }).catch(async () => {
        throw new Error(`Runs tree has no "Default" experiment row; rows: ${JSON.stringify(await treeRows(page, 'Runs'))}`);
      });
      // Refresh re-reads the tree: a click landing while it re-renders is lost, so the row is opened until its run shows
      const rows = await pollExpanded(
        experimentRow,
        async () => {
          const current = await treeRows(page, 'Runs');
          return current.some((row) => row.includes(runName)) && current;
        },
        { what: `a Runs tree row for ${runName}`, timeoutMs: 15_000 },
      );
      const runRow = rows.find((row) => row.includes(runName)) ?? '';
      assert.match(runRow, /finished/i, `the run row should show its status: "${runRow}"`);
      await ctx.screenshot('first-run-run-in-tree');
    });

    it('an opened experiment row stays open while the Runs tree refreshes: a run added, its status changed, Refresh', async () => {
      const page = ctx.page();
      const experimentRow = viewPane(page, 'Runs').locator('[role="treeitem"]', { hasText: 'Default' }).first();
      const expanded = async (): Promise<string | null> => experimentRow.getAttribute('aria-expanded', { timeout: 2_000 }).catch(() => null);
      // the step before left it open; opened here with one click otherwise (nothing reopens it below)
      if ((await expanded()) !== 'true') await experimentRow.click();
      await pollUntil(async () => (await expanded()) === 'true', { what: 'the Default experiment row open', timeoutMs: 10_000 });
      const runName = `e2e-live-${Date.now().toString(36)}`;
      const write = (change: (runs: RunRepository, experimentId: number) => void): void => {
        const store = openStore({ path: defaultStorePath(ctx.workspace) });
        try {
          change(new RunRepository(store), new ExperimentRepository(store).ensure('Default').experimentId);
        } finally {
          store.close();
        }
      };
      /** Waits for the tree to show `shown` (the store change re-read), failing as soon as the row shows collapsed. */
      const refreshedOpen = async (shown: (rows: string[]) => boolean, what: string): Promise<string[]> => {
        const seen = await pollUntil(
          async () => {
            if ((await expanded()) === 'false') return { collapsed: true, rows: await treeRows(page, 'Runs') };
            const rows = await treeRows(page, 'Runs');
            return shown(rows) && { collapsed: false, rows };
          },
          { what, timeoutMs: 20_000, intervalMs: 100 },
        );
        assert.equal(seen.collapsed, false, `the Default row collapsed while the tree refreshed for ${what}; rows: ${JSON.stringify(seen.rows)}`);
        return seen.rows;
      };
      let runId = '';
      // a run starts (written as a training process's client writes it): the watcher refreshes the tree
      write((runs, experimentId) => (runId = runs.create({ experimentId, name: runName, status: 'RUNNING', startTime: Date.now() }).runId));
      await refreshedOpen((rows) => rows.some((r) => r.includes(runName) && /running/i.test(r)), `${runName} running under the open row`);
      // its status changes: the run's row and the experiment's description change, the experiment row's id does not
      write((runs) => runs.finish(runId, { status: 'FINISHED', exitCode: 0 }));
      const rows = await refreshedOpen((rows) => rows.some((r) => r.includes(runName) && /finished/i.test(r)), `${runName} finished under the open row`);
      await runPaletteCommand(page, 'mloop: Refresh');
      await new Promise((done) => setTimeout(done, 1_500)); // the re-read and its render
      assert.equal(await expanded(), 'true', 'the Default row stays open after mloop: Refresh');
      assert.ok(
        (await treeRows(page, 'Runs')).some((r) => r.includes(runName)),
        `the run row still shown: ${JSON.stringify(rows)}`,
      );
      await ctx.screenshot('first-run-row-stays-open');
    });
  });
}
