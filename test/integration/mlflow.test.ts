import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { MlflowImportReport } from '../../src/core/mlflow/importStore';
import { RunRepository } from '../../src/core/store/runs';
import type { TreeNodeSnapshot } from '../../src/vscode/api';
import { python, startMlflowServer, type MlflowServerProcess } from '../unit/mlflowServer';
import { mloopApi } from './support';

const LOG_RUNS = `
import json, mlflow
from mlflow import MlflowClient
mlflow.set_experiment("team-weather")
with mlflow.start_run(run_name="team-run-1") as run:
    mlflow.log_param("n_estimators", "50")
    for step in range(20):
        mlflow.log_metric("accuracy", 0.5 + step / 100, step=step)
c = MlflowClient()
c.create_registered_model("team-clf")
v = c.create_model_version("team-clf", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
c.set_registered_model_alias("team-clf", "champion", v.version)
print(json.dumps({"run_id": run.info.run_id}))
`;

const rows = (nodes: readonly TreeNodeSnapshot[]): string[] => nodes.flatMap((n) => [`${n.label} ${n.description ?? ''}`.trim(), ...n.children.map((c) => `  ${c.label} ${c.description ?? ''}`.trim())]);

/** mloop.backend = mlflow against a real `mlflow server` started here; then importing that server's database. */
export function registerMlflowSuite(): void {
  suite('mlflow backend and import', function () {
    this.timeout(240_000);
    let server: MlflowServerProcess | undefined;
    let runId: string;
    const config = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('mloop');

    suiteSetup(async function () {
      this.timeout(240_000);
      server = await startMlflowServer(mkdtempSync(join(tmpdir(), 'mloop-int-mlflow-')));
      ({ run_id: runId } = await python<{ run_id: string }>(server.uri, LOG_RUNS));
    });

    suiteTeardown(async () => {
      await config().update('backend', undefined, vscode.ConfigurationTarget.Workspace);
      await config().update('mlflow.trackingUri', undefined, vscode.ConfigurationTarget.Workspace);
      await server?.stop();
    });

    test('with mloop.backend = mlflow the Runs and Models views show what the real client logged to the server', async () => {
      const api = await mloopApi();
      await config().update('mlflow.trackingUri', server!.uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
      await api.refresh();
      const runs = rows(await api.treeSnapshot('mloop.runs'));
      assert.ok(runs.some((r) => r.startsWith('team-weather')), `Runs view: ${JSON.stringify(runs)}`);
      assert.ok(runs.some((r) => r.startsWith('team-run-1 finished')), `Runs view: ${JSON.stringify(runs)}`);
      const models = rows(await api.treeSnapshot('mloop.models'));
      assert.ok(models.some((r) => r.startsWith('team-clf champion v1')), `Models view: ${JSON.stringify(models)}`);
      assert.ok(models.some((r) => r.startsWith('v1 @champion')), `Models view: ${JSON.stringify(models)}`);
      assert.equal(api.viewMessage('mloop.runs'), undefined);
      await vscode.commands.executeCommand('mloop.remote.openMetrics', { runId });
      // the tab model follows the panel asynchronously
      let tabs: string[] = [];
      for (let i = 0; i < 40 && !tabs.includes('Metrics'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
      }
      assert.ok(tabs.includes('Metrics'), `a Metrics panel opened for the server's run (tabs: ${JSON.stringify(tabs)})`);
    });

    test('Import MLflow Store copies the server database into the project store (the embedded views show it)', async () => {
      const api = await mloopApi();
      const report = (await vscode.commands.executeCommand('mloop.importMlflow', server!.dbPath)) as MlflowImportReport | undefined;
      assert.ok(report, 'the import command returned no report (see the mloop log)');
      assert.equal(report.found.runs, 1);
      assert.equal(report.found.metricPoints, 20);
      const store = await api.openStore();
      assert.equal(new RunRepository(store).metricHistory(runId, 'accuracy').length, 20);
      await config().update('backend', 'embedded', vscode.ConfigurationTarget.Workspace);
      await api.refresh();
      const runs = rows(await api.treeSnapshot('mloop.runs'));
      assert.ok(runs.some((r) => r.startsWith('team-run-1')), `embedded Runs view: ${JSON.stringify(runs)}`);
    });

    test('when the server stops, the views say "MLflow backend unreachable" instead of breaking', async () => {
      const api = await mloopApi();
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
      await server!.stop();
      await api.refresh();
      const runs = await api.treeSnapshot('mloop.runs');
      assert.deepEqual(runs, []);
      assert.match(api.viewMessage('mloop.runs') ?? '', /MLflow backend unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
      await api.treeSnapshot('mloop.models');
      assert.match(api.viewMessage('mloop.models') ?? '', /MLflow backend unreachable/);
    });
  });
}
