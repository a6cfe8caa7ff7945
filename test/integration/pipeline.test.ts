import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ReproResult } from '../../src/core/experiments/repro';
import type { Sweep } from '../../src/core/store/sweeps';
import { SweepRepository } from '../../src/core/store/sweeps';
import { RunRepository } from '../../src/core/store/runs';
import { pollUntil } from '../harness/poll';
import { mloopApi, workspaceRoot } from './support';

/** Two stages in a dvc.yaml (shell commands, so no interpreter is assumed), working in their own folder. */
const DVC_YAML = `stages:
  it-prepare:
    wdir: pipeline-it
    cmd: cat raw.txt raw.txt > prepared.txt && echo it-prepare >> ran.log
    deps: [raw.txt]
    outs: [prepared.txt]
  it-train:
    wdir: pipeline-it
    cmd: wc -c prepared.txt > model.txt && echo it-train >> ran.log
    deps: [prepared.txt]
    outs: [model.txt]
`;

/** mloop: Run Pipeline and mloop: Show Pipeline DAG on a two-stage dvc.yaml in the workspace. */
export function registerPipelineSuite(): void {
  describe('pipeline stages from the editor', function () {
    this.timeout(120_000);
    const folder = (): string => join(workspaceRoot(), 'pipeline-it');
    let configBefore: string | undefined;
    const ranLog = (): string[] => readFileSync(join(folder(), 'ran.log'), 'utf8').trim().split('\n');

    before(() => {
      mkdirSync(folder(), { recursive: true });
      writeFileSync(join(folder(), 'raw.txt'), 'raw\n');
      rmSync(join(folder(), 'ran.log'), { force: true });
      writeFileSync(join(workspaceRoot(), 'dvc.yaml'), DVC_YAML);
    });
    after(async () => {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      if (configBefore !== undefined) writeFileSync(join(workspaceRoot(), 'mloop.yaml'), configBefore);
      if (configBefore === '') rmSync(join(workspaceRoot(), 'mloop.yaml'));
      rmSync(join(workspaceRoot(), 'dvc.yaml'), { force: true });
      rmSync(folder(), { recursive: true, force: true });
    });

    it('Run Pipeline runs both stages, then skips both as unchanged; each stage run hangs under the pipeline run', async () => {
      const first = await vscode.commands.executeCommand<ReproResult | undefined>('mloop.runs.repro');
      assert.ok(first, 'the command returned what it did');
      assert.deepEqual(
        first.stages.map((s) => [s.stage, s.outcome]),
        [
          ['it-prepare', 'ran'],
          ['it-train', 'ran'],
        ],
      );
      assert.deepEqual(ranLog(), ['it-prepare', 'it-train']);
      const store = await (await mloopApi()).openStore();
      const runs = new RunRepository(store);
      for (const stage of first.stages) assert.equal(runs.tags(stage.runId!)['mlflow.parentRunId'], first.pipelineRunId);

      const second = await vscode.commands.executeCommand<ReproResult | undefined>('mloop.runs.repro');
      assert.deepEqual(
        second?.stages.map((s) => [s.stage, s.outcome, s.reason]),
        [
          ['it-prepare', 'skipped', 'unchanged'],
          ['it-train', 'skipped', 'unchanged'],
        ],
      );
      assert.deepEqual(ranLog(), ['it-prepare', 'it-train'], 'nothing ran the second time');
    });

    it('Show Pipeline DAG draws both stages with their status and the edge between them', async () => {
      await vscode.commands.executeCommand('mloop.runs.showPipeline');
      const api = await mloopApi();
      const loaded = await pollUntil(
        () => {
          const state = api.pipelinePanelState();
          return state?.type === 'load' && state.stages.some((s) => s.name === 'it-train') ? state : undefined;
        },
        { what: 'the Pipeline panel to load both stages' },
      );
      const ours = loaded.stages.filter((s) => s.name.startsWith('it-'));
      assert.deepEqual(
        ours.map((s) => [s.name, s.status]),
        [
          ['it-prepare', 'up-to-date'],
          ['it-train', 'up-to-date'],
        ],
      );
      assert.deepEqual(
        loaded.edges.filter((e) => e.to === 'it-train'),
        [{ from: 'it-prepare', to: 'it-train', label: 'prepared.txt' }],
      );

      // a changed dep turns its stage "changed" once the panel reloads
      writeFileSync(join(folder(), 'raw.txt'), 'raw, changed\n');
      await vscode.commands.executeCommand('mloop.runs.showPipeline');
      const changed = await pollUntil(
        () => {
          const state = api.pipelinePanelState();
          const prepare = state?.type === 'load' ? state.stages.find((s) => s.name === 'it-prepare') : undefined;
          return prepare?.status === 'changed' ? prepare : undefined;
        },
        { what: 'it-prepare to show as changed' },
      );
      assert.equal(changed.reason, 'dep pipeline-it/raw.txt changed');
    });

    it('Run Sweep queues a grid of trials and runs each as a run tagged with the sweep', async () => {
      const path = join(workspaceRoot(), 'mloop.yaml');
      // the example's mloop.yaml when earlier suites left it (none when this suite runs alone)
      configBefore = existsSync(path) ? readFileSync(path, 'utf8') : '';
      const base = /^pipelines:\n/m.test(configBefore) ? configBefore : `version: 1\npipelines:\n`;
      // a tiny pipeline that reports its param as a metric, without Python
      const pipeline =
        '  it-sweep:\n    command: [sh, -c, "echo ::mloop metric name=score value=$1", sh, "${params.x}"]\n    params: { x: 1 }\n    primary_metric: score\n';
      writeFileSync(path, base.replace(/^pipelines:\n/m, `pipelines:\n${pipeline}`));
      const sweep = await vscode.commands.executeCommand<Sweep | undefined>('mloop.runs.sweep', { pipeline: 'it-sweep', grid: ['x=1,3,2'], parallel: 2 });
      assert.ok(sweep, 'the command returned the sweep');
      assert.equal(sweep.status, 'FINISHED');
      const store = await (await mloopApi()).openStore();
      const trials = new SweepRepository(store).trials(sweep.sweepId);
      assert.deepEqual(
        trials.map((t) => [t.params.x, t.status]),
        [
          ['1', 'FINISHED'],
          ['3', 'FINISHED'],
          ['2', 'FINISHED'],
        ],
      );
      const runs = new RunRepository(store);
      for (const t of trials) assert.equal(runs.tags(t.runId!)['mloop.sweep'], sweep.sweepId);
      assert.deepEqual(
        trials.filter((t) => runs.tags(t.runId!)['mloop.sweep.best'] === 'true').map((t) => t.params.x),
        ['3'],
      );
    });
  });
}
