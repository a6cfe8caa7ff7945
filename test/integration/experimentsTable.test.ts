import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import type { ExperimentsTableSnapshot } from '../../src/vscode/runs/experimentsTablePanel';
import type { RunPlotsSnapshot } from '../../src/vscode/runs/runPlotsPanel';
import { mlflowEnv, PYTHON } from '../support/python';
import { mloopApi, screenshotNow, workspaceRoot } from './support';

// a notebook-style script: MLflow's defaults, a store in the workspace, nothing of mloop
const NOTEBOOK = `
import time, mlflow
mlflow.set_experiment("notebook")
for i in range(2):
    with mlflow.start_run(run_name=f"notebook-run-{i}"):
        mlflow.log_param("alpha", str(0.1 * (i + 1)))
        for step in range(3):
            mlflow.log_metric("rmse", 1.0 / (step + 1 + i), step=step)
print("done", time.time(), flush=True)
`;

/** Runs a script with the real mlflow client in the workspace; resolves when it exits 0, with the time it ended. */
function runPython(cwd: string, script: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, [script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done(Date.now()) : fail(new Error(`${script} exited ${code}:\n${stderr.slice(-3000)}`))));
  });
}

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
          // two sweeps of three trials; the best of each (by accuracy) tagged as a finished sweep tags it
          tags: { 'mloop.sweep': i < 3 ? 'sweep-aaaa' : 'sweep-bbbb', ...(i === 2 || i === 5 ? { 'mloop.sweep.best': 'true' } : {}) },
        });
        runs.logMetrics(run.runId, [{ key: 'accuracy', value: ((60 + 7 * i) % 100) / 100, step: 0, timestamp: 1 }]);
        // trial-0 once reached 0.99 (an older point at the same step): its max, not its latest value
        if (i === 0) runs.logMetrics(run.runId, [{ key: 'accuracy', value: 0.99, step: 0, timestamp: 0 }]);
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
      // a fresh table (no layout chosen in this workspace yet): the run name pinned at the left
      assert.deepEqual(state.layout.pinned, ['attributes.run_name']);
      assert.equal(state.columns[0], 'attributes.run_name');
    });

    it('sorts by several keys and filters with MLflow syntax (the same parser as the tracking endpoint)', async () => {
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'params.`max_depth` DESC, metrics.`accuracy`' });
      // the snapshot takes the new query at once and the rows once they are searched: wait for the rows themselves
      const twoKeys = ['trial-1', 'trial-3', 'trial-5', 'trial-0', 'trial-2', 'trial-4'];
      let state = await tableState(
        (s) => s.query.orderBy.startsWith('params.') && s.matched === 6 && JSON.stringify(s.firstNames) === JSON.stringify(twoKeys),
        `the two-key order ${twoKeys.join(', ')}`,
      );
      assert.deepEqual(state.firstNames, twoKeys);
      await vscode.commands.executeCommand('mloop.runs.openTable', {
        experimentId,
        filter: "metrics.accuracy > 0.7 and params.max_depth = '8'",
        orderBy: 'metrics.accuracy DESC',
      });
      state = await tableState((s) => s.matched === 2 && JSON.stringify(s.firstNames) === '["trial-5","trial-3"]', 'the filtered rows trial-5, trial-3');
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

    it('a sort and a filter asked while every run is still read are answered with SQL at once (not after the read), then the whole table keeps them', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const early = new ExperimentRepository(store).ensure('table-early').experimentId;
      const runs = new RunRepository(store);
      // run i: accuracy (37i mod 100) / 100, depth 'a' for i mod 3 = 0; the expected rows are computed from these
      const made = Array.from({ length: 12 }, (_, i) => {
        const run = runs.create({
          experimentId: early,
          name: `early-${i}`,
          status: 'FINISHED',
          startTime: 1_700_000_000_000 + i,
          params: { depth: i % 3 ? 'b' : 'a' },
        });
        const accuracy = ((37 * i) % 100) / 100;
        // early-3 (depth 'a', last 0.11) logged 0.99 first: shown as its max, it passes the filter and leads
        runs.logMetrics(run.runId, [
          ...(i === 3 ? [{ key: 'accuracy', value: 0.99, step: 0, timestamp: 1 }] : []),
          { key: 'accuracy', value: accuracy, step: 1, timestamp: 2 },
        ]);
        return { name: `early-${i}`, accuracy, depth: i % 3 ? 'b' : 'a' };
      });
      const byAccuracy = [...made].sort((a, b) => b.accuracy - a.accuracy).map((r) => r.name);
      const filtered = made.filter((r) => r.depth === 'a' && r.accuracy > 0.2).sort((a, b) => b.accuracy - a.accuracy);
      // a query's answer within 10 s, or the wait for the held read (which never ends while held) fails the test
      const handled = (message: { readonly type: string } & Record<string, unknown>): Promise<boolean> =>
        Promise.race([
          api.pageMessage('experimentsTable', message),
          new Promise<boolean>((_, fail) => setTimeout(() => fail(new Error(`${JSON.stringify(message)} waited for the whole-table read`)), 10_000)),
        ]);
      const answered = (query: { filter: string; orderBy: string }): Promise<boolean> => handled({ type: 'query', query });
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      const release = api.holdExperimentsTableRead();
      try {
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: early });
        // the first screen painted, the whole-table read started (and held)
        let state = await tableState((s) => s.ready && s.partial && s.matched === 12 && s.reads === 1, 'the first screen from SQL, the whole table held');
        const asked = Date.now();
        assert.ok(await answered({ filter: '', orderBy: 'metrics.accuracy DESC' }));
        state = api.experimentsTableState()!;
        // the answer's stages (paintedBench.ts prints them): received after it was asked, searched, then built
        const trace = state.trace;
        assert.ok(
          trace && asked <= trace.received && trace.received <= trace.searched && trace.searched <= trace.built && trace.built <= Date.now(),
          `the answer's trace ${JSON.stringify(trace)} (asked at ${asked})`,
        );
        assert.equal(state.partial, true, 'the sort was answered before the whole table was read');
        assert.equal(state.query.orderBy, 'metrics.accuracy DESC');
        assert.deepEqual(state.firstNames, byAccuracy);
        assert.ok(await answered({ filter: "params.depth = 'a' and metrics.accuracy > 0.2", orderBy: 'metrics.accuracy DESC' }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true, 'the filter was answered before the whole table was read');
        assert.equal(state.matched, filtered.length);
        assert.equal(state.total, 12);
        assert.deepEqual(
          state.firstNames,
          filtered.map((r) => r.name),
        );
        // a syntax error meanwhile: shown at its column, the rows stay
        assert.ok(await answered({ filter: 'params.depth = a', orderBy: '' }));
        assert.deepEqual(
          api.experimentsTableState()!.firstNames,
          filtered.map((r) => r.name),
        );
        // a layout change meanwhile (pin, order, hide, accuracy as its max) applies to the SQL page at once
        const layout = {
          grouping: 'none',
          pinned: ['metrics.accuracy'],
          order: ['params.depth'],
          hidden: ['attributes.start_time'],
          aggregates: { 'metrics.accuracy': 'max' },
        };
        assert.ok(await handled({ type: 'layout', layout }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true, 'the layout was applied before the whole table was read');
        assert.deepEqual(state.columns.slice(0, 2), ['metrics.accuracy', 'params.depth']);
        assert.ok(!state.columns.includes('attributes.start_time'), 'the hidden column is not shown');
        assert.equal(state.matched, filtered.length + 1, 'the filter tests the max');
        assert.equal(state.firstNames[0], 'early-3', 'the order is by the max');
        assert.equal(state.firstCells[0]![0], 0.99);
        assert.ok(await handled({ type: 'layout', layout: { grouping: 'none', pinned: [], order: [], hidden: [], aggregates: {} } }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true);
        assert.deepEqual(
          state.firstNames,
          filtered.map((r) => r.name),
        );
      } finally {
        release();
      }
      // the whole table read, the same query over every run: the same rows
      const whole = await tableState((s) => !s.partial && s.reads === 1 && s.query.filter.startsWith('params.depth'), 'the whole table after the read');
      assert.equal(whole.matched, filtered.length);
      assert.deepEqual(
        whole.firstNames,
        filtered.map((r) => r.name),
      );
      // the read touched the store's files (the watcher reports a change) but wrote nothing: no second read
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(api.experimentsTableState()!.reads, 1, 'a read of the table does not start another');
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    });

    it('a sort and a scroll asked in the middle of the whole-table read (held between two of its steps) are answered from SQL, and the read then completes', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const midway = new ExperimentRepository(store).ensure('table-midway').experimentId;
      const runs = new RunRepository(store);
      // 1,200 runs: more than two steps of the read (500 runs each); run i's loss is (53i mod 1200) / 1200
      const made = store.transaction(() =>
        Array.from({ length: 1200 }, (_, i) => {
          const run = runs.create({
            experimentId: midway,
            name: `mid-${i}`,
            status: 'FINISHED',
            startTime: 1_700_000_000_000 + i,
            params: { seed: String(i % 5) },
          });
          const loss = ((53 * i) % 1200) / 1200;
          runs.logMetrics(run.runId, [{ key: 'loss', value: loss, step: 0, timestamp: 1 }]);
          return { name: `mid-${i}`, loss, seed: String(i % 5) };
        }),
      );
      const byLoss = [...made].sort((a, b) => a.loss - b.loss).map((r) => r.name);
      const handled = (message: { readonly type: string } & Record<string, unknown>): Promise<boolean> =>
        Promise.race([
          api.pageMessage('experimentsTable', message),
          new Promise<boolean>((_, fail) => setTimeout(() => fail(new Error(`${JSON.stringify(message)} waited for the whole-table read`)), 10_000)),
        ]);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      let csvMidway = '';
      // the read stops after 12 steps: its rows read, sorted and numbered, the first chunk of metric values read
      const release = api.holdExperimentsTableRead(12);
      try {
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: midway });
        let state = await tableState((s) => s.ready && s.partial && s.readSteps === 12, 'the whole-table read held after 12 steps');
        assert.ok(await handled({ type: 'query', query: { filter: '', orderBy: 'metrics.loss' } }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true, 'answered while the read is held mid-way');
        assert.equal(state.readSteps, 12, 'the read did not move meanwhile');
        assert.equal(state.matched, 1200);
        assert.deepEqual(state.firstNames, byLoss.slice(0, state.firstNames.length));
        // a scroll: the rows past the first page, from SQL too
        const served = state.pagesServed;
        assert.ok(await handled({ type: 'rows', version: state.version, offset: 600, count: 100 }));
        assert.equal(api.experimentsTableState()!.pagesServed, served + 1, 'the page of rows was served while the read is held');
        assert.ok(await handled({ type: 'query', query: { filter: "params.seed = '3'", orderBy: 'metrics.loss DESC' } }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true);
        assert.equal(state.matched, made.filter((r) => r.seed === '3').length);
        assert.deepEqual(
          state.firstNames,
          made
            .filter((r) => r.seed === '3')
            .sort((a, b) => b.loss - a.loss)
            .map((r) => r.name)
            .slice(0, state.firstNames.length),
        );
        // the CSV export of the view meanwhile: read with SQL (240 matches), not after the whole read
        const early = await Promise.race([
          api.experimentsTableCsv(),
          new Promise<undefined>((_, fail) => setTimeout(() => fail(new Error('the CSV export waited for the whole-table read')), 10_000)),
        ]);
        assert.equal(early?.fromSql, true, 'exported while the read is held');
        assert.equal(early!.rows, 240);
        const lines = early!.csv.trimEnd().split(/\r?\n/);
        assert.equal(lines.length, 241, 'a header and a line per matching run');
        const name = lines[0]!.split(',').findIndex((h) => /name/i.test(h));
        assert.ok(name >= 0, `a run name column in ${lines[0]}`);
        assert.equal(lines[1]!.split(',')[name], state.firstNames[0]);
        csvMidway = early!.csv;
        // a grouping meanwhile is answered with SQL too (these runs are in no sweep: the same rows, in no group)
        const seedThree = state.firstNames;
        const grouped = { grouping: 'sweep', pinned: [], order: [], hidden: [], aggregates: {} };
        assert.ok(await handled({ type: 'layout', layout: grouped }));
        state = api.experimentsTableState()!;
        assert.equal(state.partial, true, 'grouped while the read is held');
        assert.equal(state.readSteps, 12);
        assert.equal(state.layout.grouping, 'sweep');
        assert.deepEqual(state.firstNames, seedThree);
        assert.ok(await handled({ type: 'layout', layout: { ...grouped, grouping: 'none' } }));
      } finally {
        release();
      }
      const whole = await tableState((s) => !s.partial && s.readSteps > 12, 'the whole table after the held read went on');
      assert.equal(whole.matched, 240);
      assert.equal(whole.firstNames[0], made.filter((r) => r.seed === '3').sort((a, b) => b.loss - a.loss)[0]!.name);
      const after = await api.experimentsTableCsv();
      assert.equal(after?.fromSql, false);
      assert.equal(after!.csv, csvMidway, 'the same CSV from SQL mid-read as from the whole table');
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    });

    it('a column width set while every run is still read stays drawn and saved when the whole table, built before the host saw the width, arrives after it; a column hidden as the read ends leaves the whole table shown', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const race = new ExperimentRepository(store).ensure('table-width-race').experimentId;
      const runs = new RunRepository(store);
      for (let i = 0; i < 3; i++) {
        const run = runs.create({ experimentId: race, name: `race-${i}`, status: 'FINISHED', startTime: 1_700_000_300_000 + i, params: { seed: String(i) } });
        runs.logMetrics(run.runId, [{ key: 'score', value: i / 4, step: 0, timestamp: 1 }]);
      }
      const scope = (s: ExperimentsTableSnapshot): boolean => s.scope === 'experiment table-width-race' && s.matched === 3;
      const drawn = (s: ExperimentsTableSnapshot): boolean => scope(s) && s.columnsInView?.version === s.version;
      const widthOf = (s: ExperimentsTableSnapshot, column: string): number | undefined => s.columnsInView?.widths[s.columnsInView.header.indexOf(column)];
      const [widened, next] = ['metrics.score', 'params.seed'];
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      // the steps a read of these runs takes: the next read is held after its last one, so it ends the moment it is let go
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: race, orderBy: '' });
      const first = await tableState((s) => drawn(s) && !s.partial, 'the whole table read once');
      const { readSteps: steps, layout: before } = first;
      assert.equal(widthOf(first, widened) === 300, false, 'the column starts at another width');
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      const release = api.holdExperimentsTableRead(steps);
      try {
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: race, orderBy: '' });
        await tableState((s) => drawn(s) && s.partial && s.readSteps === steps, 'the first screen drawn, the read held after its last step');
        // Set Column Width… reaches the page, which draws the width and posts it; the read is let go meanwhile, and its
        // answer (the layout from before) is posted while the page's width is still on its way to the host
        await vscode.commands.executeCommand('mloop.runs.tableSetColumnWidth', widened, 300);
      } finally {
        release();
      }
      await tableState((s) => drawn(s) && !s.partial && s.layout.widths?.[widened] === 300, 'the whole table drawn, the width saved by the host');
      await new Promise((r) => setTimeout(r, 500)); // a late redraw would show here
      let state = api.experimentsTableState()!;
      assert.equal(widthOf(state, widened), 300, `the page draws the width the user set (${JSON.stringify(state.columnsInView)})`);
      await screenshotNow('experiments-table-width-kept-after-whole-read');
      // the page's next change is built on what it draws: both widths are saved
      await vscode.commands.executeCommand('mloop.runs.tableSetColumnWidth', next, 150);
      state = await tableState((s) => drawn(s) && s.layout.widths?.[next] === 150 && widthOf(s, next) === 150, `${next} 150 px wide`);
      assert.deepEqual(state.layout.widths, { ...before.widths, [widened]: 300, [next]: 150 });
      assert.equal(widthOf(state, widened), 300);
      // a column hidden as the read ends: the host saves the layout (a wait on the editor) while the whole table is
      // posted; what it then answers is the whole table with the column hidden, not a SQL page left "reading" for good
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      const again = api.holdExperimentsTableRead(steps);
      let hidden: Promise<boolean>;
      try {
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: race, orderBy: '' });
        state = await tableState((s) => drawn(s) && s.partial && s.readSteps === steps, 'the first screen again, the read held after its last step');
        hidden = api.pageMessage('experimentsTable', { type: 'layout', layout: { ...state.layout, hidden: [...state.layout.hidden, next] } });
      } finally {
        again();
      }
      assert.ok(await hidden);
      await tableState((s) => drawn(s) && !s.columns.includes(next) && !s.partial, `the whole table without ${next}`);
      await new Promise((r) => setTimeout(r, 500));
      state = api.experimentsTableState()!;
      assert.equal(state.partial, false, 'the whole table stays (no SQL page after it)');
      assert.ok(!state.columns.includes(next) && state.layout.hidden.includes(next));
      const unhidden = { ...state.layout, hidden: state.layout.hidden.filter((id) => id !== next) };
      assert.ok(await api.pageMessage('experimentsTable', { type: 'layout', layout: unhidden }));
      assert.ok((await tableState((s) => drawn(s) && s.columns.includes(next), `${next} shown again`)).layout.widths?.[widened] === 300);
      assert.ok(await api.pageMessage('experimentsTable', { type: 'layout', layout: before }));
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      for (const run of runs.list({ experimentId: race })) runs.setLifecycleStage(run.runId, 'deleted');
    });

    it('runs a script logs with MLflow defaults (sqlite:///mlflow.db in the workspace, real mlflow client) appear in the Runs view within seconds, with the script as their source', async function () {
      this.timeout(120_000);
      const api = await mloopApi();
      const root = workspaceRoot();
      const script = join(root, 'notebook_runs.py');
      writeFileSync(script, NOTEBOOK);
      const env = mlflowEnv({ uri: 'sqlite:///mlflow.db' });
      try {
        const ended = await runPython(root, 'notebook_runs.py', env);
        const deadline = ended + 10_000;
        let names: string[] = [];
        while (Date.now() < deadline) {
          const tree = await api.treeSnapshot('mloop.runs', 2);
          names = tree.flatMap((n) => n.children.map((c) => c.label));
          if (names.includes('notebook-run-0') && names.includes('notebook-run-1')) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const seconds = (Date.now() - ended) / 1000;
        assert.ok(
          names.includes('notebook-run-0') && names.includes('notebook-run-1'),
          `both runs in the Runs view within 10 s of the script's end: ${JSON.stringify(names)}`,
        );
        const store = await api.openStore();
        const runs = new RunRepository(store).list().filter((r) => r.name.startsWith('notebook-run-'));
        assert.equal(runs.length, 2, 'imported once each');
        for (const run of runs) {
          assert.match(run.entryFile ?? '', /notebook_runs\.py$/, 'the script is the run source (mlflow.source.name)');
          assert.equal(new RunRepository(store).metricHistory(run.runId, 'rmse').length, 3);
        }
        if (process.env.MLOOP_TEST_VERBOSE) console.log(`notebook runs in the Runs view ${seconds.toFixed(1)} s after the script ended`);
      } finally {
        for (const f of ['mlflow.db', 'notebook_runs.py', 'mlruns', 'mlartifacts']) rmSync(join(root, f), { recursive: true, force: true });
      }
    });

    it('groups by sweep with the best trial marked; pins, hides, orders columns and shows a max; all remembered when the table opens again', async () => {
      const api = await mloopApi();
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'metrics.accuracy' });
      await tableState((s) => s.ready && s.query.orderBy === 'metrics.accuracy' && s.error === undefined, 'the table ordered by accuracy');
      const none = { grouping: 'none', pinned: [], order: [], hidden: [], aggregates: {} };
      try {
        assert.ok(await api.pageMessage('experimentsTable', { type: 'layout', layout: { grouping: 'sweep', pinned: ['metrics.accuracy'] } }));
        let state = await tableState((s) => s.layout.grouping === 'sweep', 'the grouped table');
        // ascending accuracy: sweep-aaaa holds the lowest (.60), so it comes first; late-trial is in no sweep: last
        assert.deepEqual(state.firstGroups, ['sweep sweep-aa', 'sweep sweep-aa', 'sweep sweep-aa', 'sweep sweep-bb', 'sweep sweep-bb', 'sweep sweep-bb', null]);
        assert.deepEqual(state.firstNames.slice(0, 6), ['trial-0', 'trial-1', 'trial-2', 'trial-3', 'trial-4', 'trial-5']);
        assert.deepEqual(state.firstBest, [false, false, true, false, false, true, false]);
        assert.equal(state.columns[0], 'metrics.accuracy', 'the pinned column comes first');
        // the column chooser's choices: accuracy as its max over the history, start time hidden, params before the name
        const layout = {
          grouping: 'sweep',
          pinned: ['metrics.accuracy'],
          order: ['params.max_depth', 'attributes.run_name'],
          hidden: ['attributes.start_time'],
          aggregates: { 'metrics.accuracy': 'max' },
        };
        assert.ok(await api.pageMessage('experimentsTable', { type: 'layout', layout }));
        state = await tableState((s) => s.hiddenColumns.length === 1, 'the table with a hidden column');
        assert.deepEqual(state.columns.slice(0, 5), ['metrics.accuracy', 'params.max_depth', 'attributes.run_name', 'attributes.status', 'duration']);
        assert.deepEqual(state.hiddenColumns, ['attributes.start_time']);
        // sorted by the max: trial-0 (0.99 once) moves to the end of its sweep
        assert.deepEqual(state.firstNames.slice(0, 6), ['trial-1', 'trial-2', 'trial-0', 'trial-3', 'trial-4', 'trial-5']);
        assert.equal(state.firstCells[2]![0], 0.99);
        await vscode.commands.executeCommand('workbench.action.closeAllEditors');
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'metrics.accuracy' });
        state = await tableState((s) => s.ready && s.matched === 7, 'the table opened again');
        assert.deepEqual(state.layout, layout, 'remembered for the workspace');
        assert.deepEqual(state.columns.slice(0, 3), ['metrics.accuracy', 'params.max_depth', 'attributes.run_name']);
        assert.equal(state.firstNames[2], 'trial-0');
      } finally {
        await api.pageMessage('experimentsTable', { type: 'layout', layout: none });
      }
    });

    it('with many columns only those in view are in the page (the pinned ones always), aligned with their headers; opened at a far column, the far ones come in', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const wide = new ExperimentRepository(store).ensure('table-wide').experimentId;
      const runs = new RunRepository(store);
      // 3 runs × 90 metrics: ~13,000 px of columns, several times any window's width
      const METRICS = 90;
      for (let i = 0; i < 3; i++) {
        const run = runs.create({ experimentId: wide, name: `wide-${i}`, status: 'FINISHED', startTime: 1_700_000_200_000 + i, params: {} });
        runs.logMetrics(
          run.runId,
          Array.from({ length: METRICS }, (_, k) => ({ key: `w${String(k).padStart(2, '0')}`, value: i + k / 100, step: 0, timestamp: 1 })),
        );
      }
      const none = { grouping: 'none', pinned: [], order: [], hidden: [], aggregates: {} };
      const drawn = (s: ExperimentsTableSnapshot): boolean => s.scope === 'experiment table-wide' && s.matched === 3 && s.columnsInView?.version === s.version;
      try {
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: wide, orderBy: '' });
        // the layout the earlier tests left (nothing pinned: the name unpinned) is remembered, not the default's pinned name
        let state = await tableState((s) => s.ready && drawn(s), 'the wide table drawn');
        assert.deepEqual(state.layout.pinned, [], 'the unpinned name stays unpinned');
        assert.equal(state.columns[0], 'attributes.status');
        const all = state.columns;
        assert.ok(all.length > METRICS, `a column per metric: ${all.length}`);
        let view = state.columnsInView!;
        // a window of the leftmost columns, in order, the first row holding a cell under each header
        assert.ok(view.header.length >= 3 && view.header.length < all.length / 3, `${view.header.length} of ${all.length} columns in the page`);
        assert.deepEqual(view.header, all.slice(0, view.header.length));
        assert.equal(view.cells, view.header.length, 'as many cells in a row as headers');
        assert.equal(view.misaligned, 0, 'each cell starts where its header does');
        const far = all.at(-1)!;
        assert.ok(!view.header.includes(far));
        // the name pinned, then the table opened at the last column: scrolled right, the far columns are drawn
        assert.ok(await api.pageMessage('experimentsTable', { type: 'layout', layout: { ...none, pinned: ['attributes.run_name'] } }));
        await tableState((s) => drawn(s) && s.columns[0] === 'attributes.run_name' && s.columnsInView!.header[0] === 'attributes.run_name', 'the name pinned');
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: wide, orderBy: '', column: far });
        state = await tableState((s) => drawn(s) && s.columnsInView!.header.includes(far), `the page scrolled to ${far}`);
        view = state.columnsInView!;
        assert.equal(view.header[0], 'attributes.run_name', 'the pinned column stays in the page');
        assert.ok(view.header.length < all.length / 3, `${view.header.length} of ${all.length} columns in the page`);
        assert.deepEqual(view.header.slice(1), state.columns.slice(state.columns.length - view.header.length + 1), 'the rightmost columns, in order');
        assert.equal(view.cells, view.header.length);
        assert.equal(view.misaligned, 0, 'each cell starts where its header does, scrolled right');
        // only the cells of the columns in and near view crossed to the page, yet none drawn is blank: the first row
        // (wide-2, the newest) shows 2 + k/100 under metrics.w<k>
        assert.ok(state.cellsPerRow! < all.length / 2, `${state.cellsPerRow} of ${all.length} cells per row sent`);
        const settled = (s: ExperimentsTableSnapshot, column: string): boolean =>
          drawn(s) && s.columnsInView!.header.includes(column) && s.columnsInView!.missing === 0;
        const textUnder = (s: ExperimentsTableSnapshot, column: string): string => s.columnsInView!.texts[s.columnsInView!.header.indexOf(column)]!;
        state = await tableState((s) => settled(s, far), `the cells under ${far} filled`);
        assert.equal(textUnder(state, far), '2.89');
        // Go to Column…: the page scrolls (no new load) to columns whose cells it was not sent, asks for them, draws them
        const middle = 'metrics.w45';
        const version = state.version;
        await vscode.commands.executeCommand('mloop.runs.tableGoToColumn', middle);
        state = await tableState((s) => settled(s, middle), `the page scrolled to ${middle} with its cells`);
        assert.equal(state.version, version, 'scrolled, not loaded again');
        assert.equal(textUnder(state, middle), '2.45');
        assert.equal(state.columnsInView!.misaligned, 0);
        // Set Column Width…: a resized column left of others in view; every cell still starts where its header does
        const resized = 'metrics.w46';
        await vscode.commands.executeCommand('mloop.runs.tableSetColumnWidth', resized, 300);
        const widthOf = (s: ExperimentsTableSnapshot, column: string): number | undefined => s.columnsInView?.widths[s.columnsInView.header.indexOf(column)];
        state = await tableState((s) => drawn(s) && widthOf(s, resized) === 300 && s.layout.widths?.[resized] === 300, `${resized} 300 px wide`);
        assert.ok(state.columnsInView!.header.indexOf(resized) < state.columnsInView!.header.length - 2, 'columns drawn right of the resized one');
        assert.equal(state.columnsInView!.misaligned, 0, 'each cell starts where its header does, a column resized');
        // fit to content: the pinned name column ("wide-2") needs far less than its default 200 px; the columns after it move
        await vscode.commands.executeCommand('mloop.runs.tableSetColumnWidth', 'attributes.run_name', 'fit');
        state = await tableState((s) => drawn(s) && (widthOf(s, 'attributes.run_name') ?? 200) < 200, 'the name column fitted');
        assert.ok(widthOf(state, 'attributes.run_name')! >= 40);
        assert.equal(state.columnsInView!.misaligned, 0, 'each cell starts where its header does, the pinned column fitted');
        // remembered for the workspace: the table opened again draws the width
        await vscode.commands.executeCommand('workbench.action.closeAllEditors');
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId: wide, orderBy: '', column: resized });
        state = await tableState((s) => drawn(s) && widthOf(s, resized) === 300, `${resized} 300 px wide in the table opened again`);
        assert.equal(state.layout.widths?.[resized], 300);
        assert.equal(state.columnsInView!.misaligned, 0);
        assert.equal(state.columnsInView!.missing, 0);
      } finally {
        await api.pageMessage('experimentsTable', { type: 'layout', layout: none });
        for (const run of runs.list({ experimentId: wide })) runs.setLifecycleStage(run.runId, 'deleted');
      }
    });

    it('plots across runs from the table selection and from an experiment; a clicked line or point selects its run in the table', async () => {
      const api = await mloopApi();
      await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, orderBy: 'metrics.accuracy DESC' });
      await tableState((s) => s.ready && s.matched === 7 && s.layout.grouping === 'none', 'the table');
      const store = await api.openStore();
      const byName = new Map(new RunRepository(store).list({ experimentId }).map((r) => [r.name, r.runId]));
      const poll = async (accept: (s: RunPlotsSnapshot) => boolean, what: string): Promise<RunPlotsSnapshot> => {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const s = api.runPlotsState();
          if (s && accept(s)) return s;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`timed out waiting for ${what}; the plots last had ${JSON.stringify(api.runPlotsState())}`);
      };
      assert.ok(await api.pageMessage('experimentsTable', { type: 'plots', runIds: [byName.get('trial-1'), byName.get('trial-4'), byName.get('trial-5')] }));
      let plots = await poll((s) => s.scope === '3 selected runs', 'plots of the 3 selected runs');
      assert.equal(plots.metric, 'accuracy');
      await vscode.commands.executeCommand('mloop.runs.openPlots', { experimentId });
      plots = await poll((s) => s.scope === 'experiment table-sweep', 'plots of the experiment');
      assert.equal(plots.runs, 7);
      // max_depth 4/8/16 against accuracy: Spearman over the 7 runs (the unit test checks the value against scipy)
      assert.deepEqual(
        plots.importance.map((i) => [i.param, i.method, i.runs]),
        [['max_depth', 'spearman', 7]],
      );
      const late = byName.get('late-trial')!;
      assert.ok(await api.pageMessage('runPlots', { type: 'revealRun', runId: late }));
      const state = await tableState((s) => s.revealed?.runId === late, 'the clicked run selected in the table');
      assert.equal(state.revealed?.index, 0, 'late-trial has the best accuracy: the first row');
    });
  });
}
