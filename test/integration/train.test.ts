import * as assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { RunRepository, type Run } from '../../src/core/store/runs';
import { pollUntil } from '../harness/poll';
import { mloopApi, showAsOnDisk, workspaceRoot } from './support';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather');

/** Polls the store until the run has left RUNNING (the launcher records the exit). */
async function waitForRunEnd(runId: string, timeoutMs = 180_000): Promise<Run> {
  const api = await mloopApi();
  const store = await api.openStore();
  const runs = new RunRepository(store);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = runs.get(runId);
    if (run && run.status !== 'RUNNING' && run.status !== 'SCHEDULED') return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run?.status ?? 'missing'} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Training from the editor: the example project, the palette command, the store, the Runs tree. */
export function registerTrainSuite(): void {
  describe('training from the editor', function () {
    this.timeout(240_000);

    before(async () => {
      // the example project, copied over whatever earlier suites wrote
      for (const item of ['mloop.yaml', 'train.py', 'train_protocol.py', 'data']) cpSync(join(EXAMPLE, item), join(workspaceRoot(), item), { recursive: true });
      // the runner opened a folder with no mloop.yaml yet, so workspaceContains did not activate mloop; as a window opened on this folder would
      await mloopApi();
    });

    it('mloop.yaml gets a "▶ Train" lens above each pipeline, wired to mloop.runs.train', async () => {
      const uri = vscode.Uri.file(join(workspaceRoot(), 'mloop.yaml'));
      const onDisk = (await showAsOnDisk(uri)).document.getText();
      const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
      const train = lenses.filter((l) => l.command?.title === '▶ Train');
      // each lens sits on the line that declares its pipeline (found independently in the file's text)
      const declared = (name: string): number => onDisk.split('\n').findIndex((l) => l === `  ${name}:`);
      assert.ok(declared('train') > 0 && declared('train-protocol') > declared('train'), 'the example declares both pipelines');
      assert.deepEqual(
        train.map((l) => [l.range.start.line, l.command?.command, l.command?.arguments?.[0]]),
        [
          [declared('train'), 'mloop.runs.train', 'train'],
          [declared('train-protocol'), 'mloop.runs.train', 'train-protocol'],
        ],
      );
    });

    it('mloop.yaml mistakes reach the Problems panel at their line and column', async () => {
      const uri = vscode.Uri.file(join(workspaceRoot(), 'mloop.yaml'));
      const original = (await vscode.workspace.openTextDocument(uri)).getText();
      const broken = original.replace('inputs: [weather]', 'inputs: [wether]');
      writeFileSync(uri.fsPath, broken);
      try {
        const line = broken.split('\n').findIndex((l) => l.includes('[wether]'));
        let diagnostics: vscode.Diagnostic[] = [];
        for (let i = 0; i < 40 && diagnostics.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 250));
          diagnostics = vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'mloop');
        }
        const problem = diagnostics.find((d) => /wether/.test(d.message));
        assert.ok(problem, `no diagnostic about "wether": ${JSON.stringify(diagnostics.map((d) => d.message))}`);
        assert.equal(problem.range.start.line, line);
        assert.equal(problem.range.start.character, broken.split('\n')[line]!.indexOf('wether'));
        assert.equal(problem.severity, vscode.DiagnosticSeverity.Error);
      } finally {
        writeFileSync(uri.fsPath, original);
      }
      for (let i = 0; i < 40 && vscode.languages.getDiagnostics(uri).some((d) => d.source === 'mloop' && d.severity === vscode.DiagnosticSeverity.Error); i++) {
        await new Promise((r) => setTimeout(r, 250));
      }
    });

    it('mloop.runs.train runs the example pipeline: the unchanged mlflow client logs params and metrics into the store', async () => {
      // the Runs view is open: the run that ends is revealed and selected there
      await vscode.commands.executeCommand('mloop.runs.focus');
      const runId = await vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'train', { n_estimators: '40' });
      assert.ok(runId, 'mloop.runs.train returned no run id (see the mloop log)');
      const run = await waitForRunEnd(runId);
      const revealed = await mloopApi();
      await pollUntil(() => revealed.viewSelection('mloop.runs').includes(`run:${runId}`), {
        what: 'the finished run selected in the open Runs view',
        timeoutMs: 20_000,
      });
      const store = await (await mloopApi()).openStore();
      const runs = new RunRepository(store);
      assert.equal(run.status, 'FINISHED', `exit ${run.exitCode}`);
      assert.equal(run.pipeline, 'train');
      assert.equal(runs.params(runId).n_estimators, '40', 'the override reached the run');
      const metrics = runs.latestMetrics(runId);
      assert.ok(metrics.accuracy !== undefined && metrics.accuracy > 0.5 && metrics.accuracy <= 1, `accuracy ${metrics.accuracy}`);
      assert.match(run.entryDigest ?? '', /^[0-9a-f]{64}$/, 'the entry script digest is recorded');
    });

    it('the finished run shows in the Runs tree under its experiment with the primary metric', async () => {
      const api = await mloopApi();
      await api.refresh();
      const experiments = await api.treeSnapshot('mloop.runs');
      const weather = experiments.find((e) => e.label === 'weather');
      assert.ok(weather, `no "weather" experiment in ${JSON.stringify(experiments.map((e) => e.label))}`);
      const row = weather.children.find((c) => /finished/.test(c.description ?? ''));
      assert.ok(row, `no finished run under weather: ${JSON.stringify(weather.children)}`);
      assert.match(row.description ?? '', /^accuracy 0\.\d+ · finished/, 'the primary metric comes first (a narrow view cuts the end)');
      assert.equal(row.contextValue, 'run.finished');
      // readable and editable: the pipeline's name, then Rename Run
      assert.match(row.label ?? '', /^train #\d+/);
      const runId = (await api.openStore()).db.prepare('SELECT run_id FROM run WHERE name = ?').pluck().get(row.label) as string;
      assert.equal(await vscode.commands.executeCommand('mloop.runs.rename', runId, 'deeper forest'), 'deeper forest');
      await api.refresh();
      const renamed = (await api.treeSnapshot('mloop.runs')).find((e) => e.label === 'weather')?.children.find((c) => c.label === 'deeper forest');
      assert.ok(renamed, 'the Runs view shows the new name');
    });

    it('the line-protocol pipeline logs metrics with no MLflow client involved', async () => {
      const runId = await vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'train-protocol', { n_estimators: '20', folds: '3' });
      assert.ok(runId);
      const run = await waitForRunEnd(runId);
      assert.equal(run.status, 'FINISHED');
      const runs = new RunRepository(await (await mloopApi()).openStore());
      assert.ok(runs.latestMetrics(runId).accuracy !== undefined, JSON.stringify(runs.latestMetrics(runId)));
    });

    it('a failing command ends FAILED with its exit code; Stop Run ends a running one KILLED', async () => {
      writeFileSync(
        join(workspaceRoot(), 'mloop.yaml'),
        [
          'version: 1',
          'pipelines:',
          '  fail:',
          '    command: [python3, -c, "import sys; sys.exit(3)"]',
          '  slow:',
          '    command: [python3, -c, "import time; print(\'sleeping\', flush=True); time.sleep(120)"]',
        ].join('\n'),
      );
      const failed = await vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'fail');
      assert.ok(failed);
      const failedRun = await waitForRunEnd(failed);
      assert.equal(failedRun.status, 'FAILED');
      assert.equal(failedRun.exitCode, 3);

      const slow = await vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'slow');
      assert.ok(slow);
      await new Promise((r) => setTimeout(r, 500));
      await vscode.commands.executeCommand('mloop.runs.stop', slow);
      const stopped = await waitForRunEnd(slow, 30_000);
      assert.equal(stopped.status, 'KILLED');
    });
  });
}
