import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { TeamLedger } from '../../src/core/backends/teamLedger';
import { decideTeamRequest, listTeamRequests } from '../../src/core/governance/teamApprovals';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository } from '../../src/core/store/models';
import { openStore } from '../../src/core/store/store';
import type { DeployCommandResult } from '../../src/vscode/deployments/taskOutcome';
import type { MlflowServerProcess } from '../unit/mlflowServer';
import { mlflowClientJson } from '../support/python';
import { mloopApi, workspaceRoot } from './support';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather');
const WEATHER = join(EXAMPLE, 'data', 'seattle-weather.csv');
const MODEL = 'team-weather-clf';
const TARGET = 'team-prod';
const BOB = 'Bob <bob@example.com>';
const ROW = { date: '2015-07-01', precipitation: 0.3, temp_max: 21, temp_min: 12, wind: 4.1 };

// a teammate trains with the real MLflow client and registers on the server; the version's gate verdict is a tag, as
// mloop's registry writes it; prints the run id and the model's own prediction for ROW (compared with the deployment's)
const TRAIN_AND_REGISTER = `
import json, sys, mlflow, pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.read_csv(sys.argv[1])
df["month"] = pd.to_datetime(df["date"]).dt.month
features = ["precipitation", "temp_max", "temp_min", "wind", "month"]
mlflow.set_experiment("team-deploy")
with mlflow.start_run(run_name="teammate-logistic") as run:
    m = LogisticRegression(max_iter=3000).fit(df[features], df["weather"])
    mlflow.log_param("max_iter", 3000)
    mlflow.log_metric("accuracy", float(m.score(df[features], df["weather"])))
    info = mlflow.sklearn.log_model(m, name="model", registered_model_name=sys.argv[2], serialization_format="pickle")
c = mlflow.MlflowClient()
v = c.search_model_versions(f"name='{sys.argv[2]}'")[0].version
c.set_registered_model_alias(sys.argv[2], "champion", v)
c.set_model_version_tag(sys.argv[2], v, "mloop.gate.passed", "true")
row = json.loads(sys.argv[3])
frame = pd.DataFrame([[row["precipitation"], row["temp_max"], row["temp_min"], row["wind"], int(row["date"][5:7])]], columns=features)
print(json.dumps({"runId": run.info.run_id, "version": int(v), "prediction": str(m.predict(frame)[0])}))
`;

function predict(url: string): Promise<{ status: number; body: { predictions: string[]; version: string } }> {
  return new Promise((done, fail) => {
    const body = JSON.stringify({ rows: [ROW] });
    const req = request(
      `${url}/predict`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: JSON.parse(text) as { predictions: string[]; version: string } }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * The team server from the editor (issue 21): a version a teammate registered on the server is deployed from the Models
 * view's row through the blue/green path, its protected target's approval requested and decided on the server.
 * Registered inside the mlflow suite, which owns the server.
 */
export function registerTeamServerTests(server: () => MlflowServerProcess): void {
  describe('team server from the editor', function () {
    this.timeout(300_000);
    const config = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('mloop');
    const configPath = (): string => join(workspaceRoot(), 'mloop.yaml');
    let savedConfig: string | undefined;
    let backendBefore: string | undefined;
    let trained: { runId: string; version: number; prediction: string };

    before(async function () {
      this.timeout(300_000);
      backendBefore = config().inspect<string>('backend')?.workspaceValue;
      savedConfig = existsSync(configPath()) ? readFileSync(configPath(), 'utf8') : undefined;
      if (!existsSync(join(workspaceRoot(), 'serve.py'))) cpSync(join(EXAMPLE, 'serve.py'), join(workspaceRoot(), 'serve.py'));
      writeFileSync(
        configPath(),
        [
          'version: 1',
          'targets:',
          `  ${TARGET}:`,
          '    command: [python, serve.py, --model, "${model.path}/model.pkl", --port, "${port}", --log-dir, logs-team]',
          '    strategy: blue_green',
          '    protected: true',
          '    approvals: { required: 1, expires_after: 1h }',
          '    health: { url: "${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60 }',
          '',
        ].join('\n'),
      );
      trained = await mlflowClientJson(server().uri, TRAIN_AND_REGISTER, [WEATHER, MODEL, JSON.stringify(ROW)]);
      await config().update('mlflow.trackingUri', server().uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
    });

    after(async () => {
      await vscode.commands.executeCommand('mloop.deployments.stop', { target: TARGET });
      if (savedConfig === undefined) rmSync(configPath(), { force: true });
      else writeFileSync(configPath(), savedConfig);
      await config().update('backend', backendBefore, vscode.ConfigurationTarget.Workspace);
    });

    it("Deploy Version… on a server version row: copied from the server, the protected target's request made on the server; once a teammate approves, it deploys blue/green and answers as the client's model", async () => {
      const api = await mloopApi();
      await api.refresh();
      const models = await api.treeSnapshot('mloop.models');
      const row = models.find((m) => m.label === MODEL)?.children.find((v) => v.label === `v${trained.version}`);
      assert.ok(row, `Models view: ${JSON.stringify(models.map((m) => [m.label, m.children.map((c) => c.label)]))}`);
      assert.equal(row.contextValue, 'server.modelVersion.champion');
      // the row's node as the menu hands it to the command (right-click → Deploy Version…)
      const node = {
        kind: 'modelVersion',
        id: `remote-modelVersion:${MODEL}:${trained.version}`,
        modelName: MODEL,
        version: trained.version,
        aliases: ['champion'],
      };
      const first = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', node);
      assert.equal(first, undefined, 'a protected target: no deployment before approval');

      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const pending = (await listTeamRequests(ledger, { status: 'pending' })).filter(
        (r) => r.kind === 'deploy' && r.modelName === MODEL && r.subject === TARGET,
      );
      assert.equal(pending.length, 1, 'one request on the server');
      const request = pending[0]!;
      assert.equal(request.version, trained.version);

      const store = await api.openStore();
      const repo = new ModelRepository(store);
      const copy = repo.version(repo.byName(MODEL)!.modelId, trained.version);
      assert.equal(copy?.sourceRunId, trained.runId, 'the server version was copied with its source run');
      assert.equal(copy?.gatePassed, true, "the server's gate verdict holds here");
      assert.ok(copy.aliases.includes('champion'));
      const audit = new AuditRepository(store).list();
      assert.ok(audit.some((e) => e.action === 'model.pull' && e.entityId === `${MODEL}/${trained.version}`));
      assert.ok(audit.some((e) => e.action === 'approval.request' && e.entityId === request.requestId));

      // a teammate (another workspace, another identity) approves on the server
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-deploy-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      try {
        const decided = await decideTeamRequest(
          { ledger, store: other, actor: BOB },
          { requestId: request.requestId, decision: 'approve', comment: 'ship it' },
        );
        assert.equal(decided.request.status, 'approved');
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }

      const deployed = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', node);
      assert.ok(deployed, 'the approved deployment ran (see the mloop log)');
      assert.equal(deployed.status, 'healthy', deployed.reason);
      assert.equal(deployed.deployment.strategy, 'blue_green');
      const url = deployed.deployment.health?.process?.url;
      assert.ok(url);
      const answer = await predict(url);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.predictions, [trained.prediction], "the served model answers as the teammate's model in the client's Python");
      // the approval was used once, on the server, and audited here
      assert.ok(await ledger.claimed(`used/${request.requestId}`), 'the used/<id> claim is on the server');
      assert.ok(new AuditRepository(store).list().some((e) => e.action === 'approval.execute' && e.entityId === request.requestId));
      // a third deploy of the same version asks again: the approval deployed once
      const again = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', node);
      assert.equal(again, undefined);
      assert.equal((await listTeamRequests(ledger, { status: 'pending' })).filter((r) => r.modelName === MODEL && r.subject === TARGET).length, 1);
    });
  });
}
