import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import type { ExperimentsTableSnapshot } from '../../src/vscode/runs/experimentsTablePanel';
import { mloopApi } from './support';

/** Polls the open table until `accept` holds (its page is a real webview: it must say ready first). */
async function tableState(accept: (s: ExperimentsTableSnapshot) => boolean, what: string, timeoutMs = 30_000): Promise<ExperimentsTableSnapshot> {
  const api = await mloopApi();
  const deadline = Date.now() + timeoutMs;
  let last: ExperimentsTableSnapshot | undefined;
  while (Date.now() < deadline) {
    last = api.experimentsTableState();
    if (last && accept(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; the table last had ${JSON.stringify(last)}`);
}

/** The Experiments Table on an experiment's runs: opened from a row, sorted, filtered (errors at their column), live. */
export function registerExperimentsTableSuite(): void {
  describe('experiments table', function () {
    this.timeout(60_000);
    let experimentId: number;

    before(async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      experimentId = new ExperimentRepository(store).ensure('table-sweep').experimentId;
      const runs = new RunRepository(store);
      // trial i: accuracy (60 + 7i) % 100 / 100, max_depth 8 for odd i
      for (let i = 0; i < 6; i++) {
        const run = runs.create({
          experimentId,
          name: `trial-${i}`,
          status: 'FINISHED',
          startTime: 1_700_000_000_000 + i * 1000,
          params: { max_depth: i % 2 ? '8' : '4' },
        });
        runs.logMetrics(run.runId, [{ key: 'accuracy', value: ((60 + 7 * i) % 100) / 100, step: 0, timestamp: 1 }]);
      }
    });

    after(() => vscode.commands.executeCommand('workbench.action.closeAllEditors'));

    it('opens on an experiment row, ordered by a metric, with a column per param and metric', async () => {
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'metrics.accuracy DESC' });
      const state = await tableState((s) => s.ready && s.matched === 6, 'the page to load 6 runs');
      // accuracies: .60 .67 .74 .81 .88 .95 → best first
      assert.deepEqual(state.firstNames, ['trial-5', 'trial-4', 'trial-3', 'trial-2', 'trial-1', 'trial-0']);
      assert.equal(state.scope, 'experiment table-sweep');
      assert.ok(state.columns.includes('params.max_depth') && state.columns.includes('metrics.accuracy'), JSON.stringify(state.columns));
    });

    it('sorts by several keys and filters with MLflow syntax (the same parser as the tracking endpoint)', async () => {
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'params.`max_depth` DESC, metrics.`accuracy`' });
      let state = await tableState((s) => s.query.orderBy.startsWith('params.') && s.matched === 6, 'the two-key order');
      assert.deepEqual(state.firstNames, ['trial-1', 'trial-3', 'trial-5', 'trial-0', 'trial-2', 'trial-4']);
      await vscode.commands.executeCommand('mloop.runs.openTable', {
        experimentId,
        filter: "metrics.accuracy > 0.7 and params.max_depth = '8'",
        orderBy: 'metrics.accuracy DESC',
      });
      state = await tableState((s) => s.matched === 2, 'the filtered rows');
      assert.deepEqual(state.firstNames, ['trial-5', 'trial-3']);
      assert.equal(state.total, 6);
    });

    it('a filter syntax error is shown with its column and the table stays usable', async () => {
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, filter: 'params.max_depth = 8' });
      const state = await tableState((s) => s.error !== undefined, 'the filter error');
      assert.equal(state.error?.field, 'filter');
      assert.equal(state.error?.column, 20);
      assert.match(state.error!.message, /expected a quoted string for params\.max_depth/);
      assert.equal(state.matched, 6, 'the unfiltered runs stay in view');
      assert.equal(state.query.filter, 'params.max_depth = 8', 'the refused filter stays in the box');
    });

    it('a run logged while the table is open appears in it (live rows)', async () => {
      const api = await mloopApi();
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'metrics.accuracy DESC' });
      await tableState((s) => s.matched === 6 && s.error === undefined, 'the table before the new run');
      const store = await api.openStore();
      const runs = new RunRepository(store);
      const run = runs.create({ experimentId, name: 'late-trial', status: 'RUNNING', params: { max_depth: '16' } });
      runs.logMetrics(run.runId, [{ key: 'accuracy', value: 0.99, step: 0, timestamp: 1 }]);
      const state = await tableState((s) => s.matched === 7, 'the new run in the table');
      assert.equal(state.firstNames[0], 'late-trial');
    });
  });
}
