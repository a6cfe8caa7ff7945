// VS Code's own activation figure for mloop, read from "Developer: Show Running Extensions" (code loading + the
// activate() call: the synchronous part the extension host spends on mloop), in fresh windows of code-server +
// Chromium, for one or more builds interleaved run by run (MLOOP_BENCH_ROOTS=/checkout/a,/checkout/b; default: this
// checkout). MLOOP_BENCH_FOLDER=weather opens a copy of examples/weather (mloop activates at startup); =empty opens a
// folder without mloop.yaml, where a build that does not activate there reads "not activated" after
// MLOOP_BENCH_SETTLE_MS. MLOOP_BENCH_RUNS (default 5) windows per build.
import { cpSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { activityBarItem, runPaletteCommand, screenshot, waitForWorkbench } from '../../test/harness/browser';
import { delay } from '../../test/harness/codeServer';
import { findRepoRoot } from '../../test/harness/paths';
import { createTempRun } from '../../test/harness/tempWorkspace';
import { openWorkbench } from '../../test/harness/workbench';

const RUNS = Number(process.env.MLOOP_BENCH_RUNS ?? 5);
const FOLDER = process.env.MLOOP_BENCH_FOLDER ?? 'weather';
const SETTLE_MS = Number(process.env.MLOOP_BENCH_SETTLE_MS ?? 20_000);
const ACTIVATION = /(Startup )?Activation: (\d+)ms/;

/** mloop's activation in ms as the workbench shows it, or undefined when it did not activate within SETTLE_MS. */
async function measureOnce(root: string, label: string, run: number): Promise<{ ms?: number; startup?: boolean }> {
  const temp = createTempRun('bench-running-ext');
  if (FOLDER === 'weather') cpSync(join(findRepoRoot(), 'examples', 'weather'), temp.workspace, { recursive: true });
  const session = await openWorkbench({
    root,
    workspace: temp.workspace,
    runDir: temp.runDir,
    resultsDir: join(findRepoRoot(), 'test-results', 'bench-running-ext'),
    consoleLogName: `console-${label}-${run}.log`,
  });
  try {
    const page = session.page;
    await waitForWorkbench(page, 120_000);
    // the icon shows once the extension host has read the manifest: the settling time counts from there
    await activityBarItem(page, 'mloop').waitFor({ state: 'visible', timeout: 120_000 });
    const deadline = Date.now() + SETTLE_MS;
    await runPaletteCommand(page, 'Developer: Show Running Extensions', 60_000);
    // the row of the extension under development shows its id; the list is virtual and sorted by time, slowest first
    const row = page.locator('.runtime-extensions-editor .extension').filter({ hasText: 'mloop.mloop' }).first();
    for (;;) {
      // the row may be out of view at either end
      if ((await row.count()) === 0) {
        await page
          .locator('.runtime-extensions-editor .monaco-list')
          .first()
          .focus()
          .catch(() => undefined);
        await page.keyboard.press(Date.now() % 2 ? 'End' : 'Home');
      }
      const text =
        (await row
          .locator('.activation-time')
          .textContent({ timeout: 1_000 })
          .catch(() => null)) ?? '';
      const match = ACTIVATION.exec(text);
      if (match) return { ms: Number(match[2]), startup: match[1] !== undefined };
      if (Date.now() > deadline) {
        await screenshot(page, join(findRepoRoot(), 'test-results', 'bench-running-ext'), `unactivated-${label}-${run}`);
        return {};
      }
      await delay(500);
    }
  } finally {
    await session.close();
    temp.dispose();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const roots = (process.env.MLOOP_BENCH_ROOTS ?? findRepoRoot()).split(',');
  const figures = new Map<string, number[]>(roots.map((r) => [r, []]));
  console.log(`folder: ${FOLDER}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  for (let run = 1; run <= RUNS; run++) {
    for (const [i, root] of roots.entries()) {
      const before = loadavg()[0]!.toFixed(1);
      const { ms, startup } = await measureOnce(root, `b${i}`, run);
      if (ms !== undefined) figures.get(root)!.push(ms);
      const shown = ms === undefined ? `not activated within ${SETTLE_MS / 1000} s` : `${ms} ms${startup ? ' (startup)' : ''}`;
      console.log(`run ${run}/${RUNS} ${root}: ${shown}, load ${before} → ${loadavg()[0]!.toFixed(1)}`);
    }
  }
  for (const [root, values] of figures)
    console.log(`${root}: ${values.length ? `median ${median(values)} ms over ${values.length} (${values.join(' · ')})` : 'never activated'}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
