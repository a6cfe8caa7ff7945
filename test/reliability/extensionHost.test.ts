import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store/store';
import { metricHistory } from '../../src/core/metrics/history';
import { expandView, openViewContainer, runPaletteCommandUntil, screenshot, treeRows, viewPane, waitForWorkbench } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import { logTail } from '../harness/codeServer';
import { openWorkbench } from '../harness/workbench';
import type { WorkbenchSession } from '../harness/workbench';
import { processAlive } from '../support/processes';
import { FULL, ROOT, ackingTrainScript, queryStore, readAcks, recordFigure, scale, sleep, tempDir, waitFor } from './support';

// The training script that "mloop: Train…" starts from the real workbench. It logs 10-point batches
// to the tracking endpoint the extension host serves (MLFLOW_TRACKING_URI in its environment) and
// writes `http <i>` once batch i was answered 200: acknowledged, so it must survive a kill -9 of the
// extension host. It stops on the first failed request (the endpoint died with the host).
const TRAIN_PY = ackingTrainScript({ protocolLines: false, failure: 'ack' });

const MLOOP_YAML = `version: 1
pipelines:
  ingest:
    command: [python3, train.py]
    experiment: host-kill
`;

/** Processes of code-server's process group whose command line marks them as an extension host. */
function extensionHostPids(groupId: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== groupId || fields[0] === 'Z') continue; // fields: state, ppid, pgrp, …
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (/--type=extensionHost|extensionHostProcess/.test(cmdline)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

const dbOf = (dir: string): string => join(dir, '.mloop', 'mloop.db');

describe('reliability: kill -9 the VS Code extension host', function () {
  this.timeout(600_000);
  let session: WorkbenchSession | undefined;
  let temp: { dir: string; cleanup: () => void } | undefined;

  after(async () => {
    await session?.close();
    temp?.cleanup();
  });

  it('mid-ingest from a training run started in the real workbench: the store opens cleanly, no acknowledged point is lost, and the next extension host marks the run KILLED', async function () {
    const target = scale(150, 1500); // acknowledged batches of 10 points before the kill
    temp = tempDir('mloop-rel-exthost-');
    const workspace = join(temp.dir, 'project');
    const runDir = join(temp.dir, 'run');
    const resultsDir = join(ROOT, 'test-results', 'reliability');
    mkdirSync(workspace, { recursive: true });
    writeFileSync(join(workspace, 'mloop.yaml'), MLOOP_YAML);
    writeFileSync(join(workspace, 'train.py'), TRAIN_PY);

    session = await openWorkbench({ root: ROOT, workspace, runDir, resultsDir, consoleLogName: 'extension-host-kill.console.log' });
    const { page, server } = session;
    try {
      await waitForWorkbench(page, 60_000);
      // the palette, then "Which pipeline?" in the same quick input
      await runPaletteCommandUntil(page, 'mloop: Train…', '.quick-input-widget input[placeholder="Which pipeline?"]', {
        what: 'the "Which pipeline?" pick of mloop: Train…',
        timeoutMs: 90_000,
      });
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'ingest' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await page.keyboard.press('Enter');

      await waitFor(() => readAcks(workspace).http.length >= target, 240_000, `${target} acknowledged batches from the training run`);
      const hosts = extensionHostPids(server.pid);
      assert.equal(hosts.length, 1, `one extension host in code-server's process group, found ${hosts.join(', ') || 'none'}`);
      const hostPid = hosts[0]!;
      process.kill(hostPid, 'SIGKILL');
      const killedAt = Date.now();
      await waitFor(() => !processAlive(hostPid), 10_000, 'the extension host to die');

      // the training process loses its endpoint: it stops by itself (its next request fails)
      const trainPid = readAcks(workspace).pid;
      assert.ok(trainPid !== undefined, 'the training script wrote its pid');
      await waitFor(() => !processAlive(trainPid), 30_000, 'the orphaned training process to stop');
      const acks = readAcks(workspace);
      assert.ok(acks.http.length >= target);

      // while no editor holds it: the store opens as mloop opens it (WAL recovery, schema check) and is intact
      const store = openStore({ path: dbOf(workspace) });
      let lost = 0;
      let runId = '';
      let statusBeforeRestart = '';
      try {
        assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
        const runs = store.db.prepare('SELECT run_id, status FROM run').all() as { run_id: string; status: string }[];
        assert.equal(runs.length, 1, 'one run');
        runId = runs[0]!.run_id;
        statusBeforeRestart = runs[0]!.status;
        const series = metricHistory(store, { runId, key: 'http', maxPoints: 10_000_000 });
        assert.equal(series.downsampled, false);
        const stored = new Set(series.points.map((p) => p.step));
        for (const i of acks.http) for (let j = 0; j < 10; j++) if (!stored.has(i * 10 + j)) lost++;
        // a batch is all or nothing: every stored step belongs to a batch stored whole
        const batches = new Map<number, number>();
        for (const step of stored) batches.set(Math.floor(step / 10), (batches.get(Math.floor(step / 10)) ?? 0) + 1);
        assert.deepEqual(
          [...batches.entries()].filter(([, n]) => n !== 10),
          [],
          'no partial batch',
        );
        assert.ok(stored.size >= acks.http.length * 10);
      } finally {
        store.close();
      }
      assert.equal(lost, 0, `acknowledged points lost: ${lost}`);
      assert.equal(statusBeforeRestart, 'RUNNING', 'the killed host could not record an end: the run is left RUNNING until the next start');

      // a new extension host (what "Reload Window" or a restart gives): activation reaps the orphan
      await page.reload();
      await waitForWorkbench(page, 60_000);
      let reapedMs = 0;
      await waitFor(
        () => {
          const status = queryStore(dbOf(workspace), (db) => (db.prepare('SELECT status FROM run WHERE run_id = ?').get(runId) as { status: string }).status);
          if (status === 'KILLED') reapedMs = Date.now() - killedAt;
          return status === 'KILLED';
        },
        120_000,
        'the next extension host to mark the orphaned run KILLED',
      );
      const running = queryStore(dbOf(workspace), (db) => (db.prepare("SELECT count(*) AS n FROM run WHERE status = 'RUNNING'").get() as { n: number }).n);
      assert.equal(running, 0);
      assert.ok(extensionHostPids(server.pid).length >= 1, 'a new extension host runs');
      // what the user sees in the new window: the run, killed, in the Runs tree
      await openViewContainer(page, 'mloop', 60_000);
      await expandView(page, 'Runs');
      const experiment = viewPane(page, 'Runs').locator('[role="treeitem"]', { hasText: 'host-kill' }).first();
      await experiment.waitFor({ state: 'visible', timeout: 30_000 });
      const row = await pollUntil(
        async () => {
          if ((await experiment.getAttribute('aria-expanded').catch(() => null)) === 'false') {
            await experiment.click().catch(() => undefined);
            return undefined;
          }
          return (await treeRows(page, 'Runs')).find((r) => /killed/.test(r));
        },
        { what: 'the killed run in the Runs tree', intervalMs: 1_000, timeoutMs: 60_000 },
      );
      assert.match(row, /killed/);
      await sleep(500);
      await screenshot(page, resultsDir, 'extension-host-restarted');

      recordFigure(
        'faults: kill -9 the VS Code extension host mid-ingest',
        `${acks.http.length * 10} acknowledged points, 0 lost; integrity_check ok; 0 partial batches; run marked KILLED by the next extension host ${(reapedMs / 1000).toFixed(1)} s after the kill, 0 RUNNING left`,
        {
          acknowledgedPoints: acks.http.length * 10,
          lost,
          reapedMs,
          full: FULL,
        },
      );
    } catch (error) {
      await screenshot(page, resultsDir, 'extension-host-kill-failed').catch(() => undefined);
      throw new Error(`${(error as Error).message}\ncode-server log tail:\n${logTail(server.logFile, 30)}`);
    }
  });
});
