import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { TeamLedger } from '../../src/core/backends/teamLedger';
import { decideTeamRequest, listTeamRequests, queuedRequestOf, queuedTeamRequests, sendQueuedRequests } from '../../src/core/governance/teamApprovals';
import { ApprovalRequiredError } from '../../src/core/governance/approvals';
import { syncWithTeam } from '../../src/core/backends/teamOperations';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { pollUntil } from '../harness/poll';
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
import hashlib, json, sys, mlflow, pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.read_csv(sys.argv[1])
# the dataset the run read, as mloop digests it (SHA-256 of the file; MLflow keeps 36 characters)
digest = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:36]
raw = df.copy()
df["month"] = pd.to_datetime(df["date"]).dt.month
features = ["precipitation", "temp_max", "temp_min", "wind", "month"]
mlflow.set_experiment("team-deploy")
with mlflow.start_run(run_name="teammate-logistic") as run:
    m = LogisticRegression(max_iter=3000).fit(df[features], df["weather"])
    mlflow.log_input(mlflow.data.from_pandas(raw, source=sys.argv[1], name="team-weather", digest=digest), context="training")
    mlflow.log_param("max_iter", 3000)
    mlflow.log_metric("accuracy", float(m.score(df[features], df["weather"])))
    info = mlflow.sklearn.log_model(m, name="model", registered_model_name=sys.argv[2], serialization_format="pickle")
c = mlflow.MlflowClient()
v = max(int(x.version) for x in c.search_model_versions(f"name='{sys.argv[2]}'"))
c.set_registered_model_alias(sys.argv[2], "champion", v)
c.set_model_version_tag(sys.argv[2], v, "mloop.gate.passed", "true")
row = json.loads(sys.argv[3])
frame = pd.DataFrame([[row["precipitation"], row["temp_max"], row["temp_min"], row["wind"], int(row["date"][5:7])]], columns=features)
print(json.dumps({"runId": run.info.run_id, "version": int(v), "prediction": str(m.predict(frame)[0]), "digest": digest}))
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
export function registerTeamServerTests(server: () => MlflowServerProcess, restartServer: () => Promise<void>): void {
  describe('team server from the editor', function () {
    this.timeout(300_000);
    const config = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('mloop');
    const configPath = (): string => join(workspaceRoot(), 'mloop.yaml');
    let savedConfig: string | undefined;
    let backendBefore: string | undefined;
    let trained: { runId: string; version: number; prediction: string; digest: string };
    let latest: typeof trained | undefined;
    const dataPath = (): string => join(workspaceRoot(), 'team-data', 'weather.csv');

    before(async function () {
      this.timeout(300_000);
      backendBefore = config().inspect<string>('backend')?.workspaceValue;
      savedConfig = existsSync(configPath()) ? readFileSync(configPath(), 'utf8') : undefined;
      if (!existsSync(join(workspaceRoot(), 'serve.py'))) cpSync(join(EXAMPLE, 'serve.py'), join(workspaceRoot(), 'serve.py'));
      mkdirSync(join(workspaceRoot(), 'team-data'), { recursive: true });
      cpSync(WEATHER, dataPath());
      // what the model sees now: the same days 10 °C warmer (precipitation and wind unchanged)
      const [header, ...lines] = readFileSync(WEATHER, 'utf8').trim().split('\n');
      const cols = header!.split(',');
      const warmer = lines.map((line) =>
        line
          .split(',')
          .map((v, i) => (cols[i] === 'temp_max' || cols[i] === 'temp_min' ? String(Number(v) + 10) : v))
          .join(','),
      );
      writeFileSync(join(workspaceRoot(), 'team-data', 'current.csv'), `${[header, ...warmer].join('\n')}\n`);
      writeFileSync(
        configPath(),
        [
          'version: 1',
          'datasets:',
          '  team-weather: { path: team-data/weather.csv }',
          'monitoring:',
          `  ${MODEL}:`,
          '    current: team-data/current.csv',
          '    columns: [precipitation, temp_max, temp_min, wind]',
          '    method: wasserstein',
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
      trained = await mlflowClientJson(server().uri, TRAIN_AND_REGISTER, [dataPath(), MODEL, JSON.stringify(ROW)]);
      await config().update('mlflow.trackingUri', server().uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
    });

    after(async () => {
      await vscode.commands.executeCommand('mloop.deployments.stop', { target: TARGET });
      rmSync(join(workspaceRoot(), 'team-data'), { recursive: true, force: true });
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

    it("Deployments view: a teammate's deployments, published to the server, show next to this workspace's own, marked as from the server", async () => {
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-rows-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      try {
        // Bob's workspace deployed the same version to a target of the same name and to one this workspace lacks
        const version = new ModelRepository(other).registerVersion({ name: MODEL, version: trained.version, actor: BOB });
        const deployments = new DeploymentRepository(other);
        deployments.create({ modelVersionId: version.modelVersionId, target: TARGET, strategy: 'canary', trafficPercent: 100, status: 'healthy' });
        deployments.create({ modelVersionId: version.modelVersionId, target: 'bob-staging', strategy: 'direct', trafficPercent: 100, status: 'failed' });
        const synced = await syncWithTeam(other, ledger, { actor: BOB });
        assert.equal(synced.deployments, 2);
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
      const seen = await pollUntil(
        async () => {
          await api.refresh();
          const tree = await api.treeSnapshot('mloop.deployments');
          const prod = tree.find((t) => t.label === TARGET);
          const staging = tree.find((t) => t.label === 'bob-staging');
          return prod?.children.some((c) => c.contextValue === 'server.deployment') && staging ? { prod, staging, tree } : undefined;
        },
        { what: "the teammate's deployments to appear in the Deployments view", timeoutMs: 60_000 },
      );
      const own = seen.prod.children.filter((c) => c.contextValue !== 'server.deployment');
      assert.ok(
        own.some((c) => c.label === `${MODEL} v${trained.version}` && /^blue\/green · healthy · 100%/.test(c.description ?? '')),
        `this workspace's own deployment stays: ${JSON.stringify(seen.prod.children)}`,
      );
      assert.match(
        seen.prod.description ?? '',
        new RegExp(`^${MODEL} v${trained.version} · blue/green · ✓ healthy · server: ${MODEL} v${trained.version} by Bob`),
      );
      const theirs = seen.prod.children.filter((c) => c.contextValue === 'server.deployment');
      assert.equal(theirs.length, 1, JSON.stringify(seen.prod.children));
      assert.equal(theirs[0]!.label, `${MODEL} v${trained.version}`);
      assert.match(theirs[0]!.description ?? '', /^server · canary · healthy · by Bob <bob@example\.com> · /);
      assert.equal(seen.staging.contextValue, 'server.target', 'a target only teammates have');
      assert.match(seen.staging.description ?? '', new RegExp(`^server · ${MODEL} v${trained.version} · failed · by Bob`));
      assert.equal(seen.staging.children[0]?.contextValue, 'server.deployment');
    });

    it("Check Drift on a server model row: the server's new champion is copied with its run's lineage, and drift is measured against the data that run logged", async () => {
      const api = await mloopApi();
      // a teammate trains again on the server and moves @champion to the new version
      const next = await mlflowClientJson<typeof trained>(server().uri, TRAIN_AND_REGISTER, [dataPath(), MODEL, JSON.stringify(ROW)]);
      latest = next;
      assert.equal(next.version, trained.version + 1);
      const outcome = await vscode.commands.executeCommand<{ reportId: number; datasetDrift: boolean; headline: string } | undefined>(
        'mloop.monitoring.checkDrift',
        { kind: 'model', id: `remote-model:${MODEL}`, modelName: MODEL },
      );
      assert.ok(outcome, 'Check Drift returned no report (see the mloop log)');
      const store = await api.openStore();
      const repo = new ModelRepository(store);
      const champion = repo.versionByAlias(repo.byName(MODEL)!.modelId, 'champion');
      assert.equal(champion?.version, next.version, "the server's champion is the store's");
      assert.equal(champion?.sourceRunId, next.runId);
      // the reference is the project's own file, matched to the digest the server run logged
      const sha = createHash('sha256').update(readFileSync(dataPath())).digest('hex');
      assert.equal(sha.slice(0, 36), next.digest);
      const reference = store.db
        .prepare(
          `SELECT v.digest, d.name FROM drift_report r JOIN dataset_version v ON v.dataset_version_id = r.reference_dataset_version_id
           JOIN dataset d USING (dataset_id) WHERE r.drift_report_id = ?`,
        )
        .get(outcome.reportId) as { digest: string; name: string } | undefined;
      assert.deepEqual(reference && { name: reference.name, digest: reference.digest.replace(/^sha256:/, '') }, { name: 'team-weather', digest: sha });
      const result = JSON.parse(store.db.prepare('SELECT result_json FROM drift_report WHERE drift_report_id = ?').pluck().get(outcome.reportId) as string) as {
        report: { dataset_drift: boolean; columns: { column: string; drifted: boolean; statistic: number }[] };
      };
      const column = (name: string): { drifted: boolean; statistic: number } => result.report.columns.find((c) => c.column === name)!;
      assert.equal(column('precipitation').statistic, 0, 'unchanged column: no distance');
      assert.equal(column('wind').statistic, 0);
      // a shift by 10 moves every quantile by 10: Wasserstein-1 = 10, over the reference's population standard deviation
      const [head, ...rows] = readFileSync(dataPath(), 'utf8').trim().split('\n');
      const at = head!.split(',').indexOf('temp_max');
      const values = rows.map((r) => Number(r.split(',')[at]));
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      assert.ok(Math.abs(column('temp_max').statistic - 10 / std) < 1e-9, `${column('temp_max').statistic} vs ${10 / std}`);
      assert.ok(column('temp_max').drifted && column('temp_min').drifted, JSON.stringify(result.report.columns));
      assert.equal(outcome.datasetDrift, true);
    });

    it('a deploy approval request made while the server is down waits in the store with a clear message, and reaches the server when it is back', async function () {
      this.timeout(420_000); // the server restarts (slow on a loaded machine), then the publisher's retry timer sends it
      const api = await mloopApi();
      const champion = latest ?? trained; // the drift test moves @champion to a second version (this test alone: the first)
      const uri = server().uri;
      await server().stop();
      const requestedBefore = Date.now();
      // the champion's copy is in the store: Deploy Version… works on it with the server down
      const result = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', {
        modelName: MODEL,
        version: champion.version,
        target: TARGET,
      });
      assert.equal(result, undefined, 'nothing deployed without an approval');
      const store = await api.openStore();
      const queued = queuedTeamRequests(store, uri);
      const mine = queued.filter((q) => q.description === `deploying ${MODEL} v${champion.version} to ${TARGET}` && q.requestedAt >= requestedBefore);
      assert.equal(mine.length, 1, JSON.stringify(queued));
      const requestId = mine[0]!.requestId;
      // the message the user saw (announced and logged): kept here, sent when the server answers
      const error = new ApprovalRequiredError(queuedRequestOf(store, requestId)!);
      assert.match(
        error.message,
        new RegExp(
          `request #${requestId} is kept in this workspace's store and sent to ${uri.replace(/\./g, '\\.')} as soon as it answers \\(MLflow backend unreachable`,
        ),
      );
      // the server comes back on the same address: the editor's publisher sends the request by itself (no command)
      await restartServer();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const onServer = await pollUntil(async () => (await listTeamRequests(ledger)).find((r) => r.requestId === requestId), {
        what: 'the queued request to reach the restarted server',
        timeoutMs: 180_000,
        intervalMs: 2_000,
      });
      assert.equal(onServer.status, 'pending');
      assert.equal(onServer.modelName, MODEL);
      assert.equal(onServer.version, champion.version);
      assert.equal(onServer.subject, TARGET);
      assert.equal(onServer.requestedAt, mine[0]!.requestedAt, 'sent with the time it was made');
      // sent once: a later publish writes nothing again
      assert.equal(await sendQueuedRequests(store, ledger), 0);
    });
  });
}
