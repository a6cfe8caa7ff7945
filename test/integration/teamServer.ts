import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { TeamLedger } from '../../src/core/backends/teamLedger';
import { decideTeamRequest, listTeamRequests, queuedRequestOf, queuedTeamRequests, sendQueuedRequests } from '../../src/core/governance/teamApprovals';
import { ApprovalRequiredError } from '../../src/core/governance/approvals';
import {
  projectAuditSigner,
  SIGNING_NAMESPACE,
  signAuditWritesOf,
  signPendingEntries,
  stopSigningAuditWritesOf,
  type AuditSigningConfig,
} from '../../src/core/governance/auditSigning';
import { publishAuditTrail, workspaceWriter } from '../../src/core/governance/teamTrail';
import { listTeamDeployments, listTeamMonitoringReports, syncWithTeam } from '../../src/core/backends/teamOperations';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { DriftReportRepository } from '../../src/core/store/driftReports';
import { pollUntil } from '../harness/poll';
import { sampleStats } from '../harness/sampleStats';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository } from '../../src/core/store/models';
import { openStore } from '../../src/core/store/store';
import type { DeployCommandResult } from '../../src/vscode/deployments/taskOutcome';
import type { PerformanceCheckOutcome } from '../../src/vscode/monitoring/performanceCommand';
import type { RetrainOutcome } from '../../src/core/retrain/retrain';
import { RunRepository } from '../../src/core/store/runs';
import { artifactLocation, runArtifactDir } from '../../src/core/registry/modelArtifact';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { analyseCanary } from '../../src/core/gateway/canaryAnalysis';
import { publishedRollout } from '../../src/core/gateway/rolloutView';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ensureGateway, feedbackLogPath, gatewayDir, gatewayStatus } from '../../src/core/gateway/control';
import { LiveRolloutPublisher } from '../../src/core/backends/teamLiveRollout';
import { isAlive } from '../../src/core/deploy/process';
import type { MlflowServerProcess } from '../unit/mlflowServer';
import { mlflowClientJson, pythonJson } from '../support/python';
import { monitorModel } from '../../src/core/monitoring/monitor';
import type { ModelMonitoring } from '../../src/core/drift/monitoringSchema';
import { mloopApi, mloopExtension, screenshotNow, workspaceRoot } from './support';

const REPO = join(__dirname, '..', '..', '..');
const EXAMPLE = join(REPO, 'examples', 'weather');
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

// the workspace's training pipeline of the same model (run by Retrain): the teammate's model on the data on disk now
const RETRAIN_SCRIPT = `
import pickle, sys, pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.read_csv("team-data/weather.csv")
df["month"] = pd.to_datetime(df["date"]).dt.month
features = ["precipitation", "temp_max", "temp_min", "wind", "month"]
m = LogisticRegression(max_iter=int(sys.argv[1])).fit(df[features], df["weather"])
pickle.dump(m, open("team-data/model.pkl", "wb"))
print(f"::mloop metric name=accuracy value={m.score(df[features], df['weather'])}", flush=True)
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

type MloopTestApi = Awaited<ReturnType<typeof mloopApi>>;

/**
 * A teammate's published deployment of the target: waits for its row (described with their name) in the Deployments
 * view, opens its Rollout panel as the row's menu does, and waits for the panel to show that writer's rollout.
 */
async function openTeammateRollout(
  api: MloopTestApi,
  options: { who: string; writer: string; modelName: string; version: number; timeoutMs: number },
): Promise<NonNullable<NonNullable<ReturnType<MloopTestApi['rolloutPanelState']>>['teammate']>> {
  const { who, writer, modelName, version, timeoutMs } = options;
  await pollUntil(
    async () => {
      await api.refresh();
      const prod = (await api.treeSnapshot('mloop.deployments')).find((t) => t.label === TARGET);
      return prod?.children.some((c) => c.contextValue === 'server.deployment.declared' && (c.description ?? '').includes(who)) ? true : undefined;
    },
    { what: `${who}'s deployment in the Deployments view`, timeoutMs },
  );
  await vscode.commands.executeCommand('mloop.deployments.openRollout', { kind: 'serverDeployment', target: TARGET, writer, modelName, version });
  return pollUntil(async () => (api.rolloutPanelState()?.teammate?.writer === writer ? api.rolloutPanelState()?.teammate : undefined), {
    what: `${who}'s rollout in the Rollout panel`,
    timeoutMs,
  });
}

/** The commands the Deployments view's context menu offers on a row of this contextValue (package.json `when` clauses). */
function menuCommands(contextValue: string): string[] {
  const offered = (mloopExtension().packageJSON as { contributes: { menus: { 'view/item/context': { command: string; when?: string }[] } } }).contributes.menus[
    'view/item/context'
  ].filter(({ when = '' }) => {
    if (!when.includes('view == mloop.deployments')) return false;
    const equal = /viewItem == (\S+)/.exec(when);
    const match = /viewItem =~ \/(.+)\/$/.exec(when);
    return equal ? equal[1] === contextValue : match ? new RegExp(match[1]!).test(contextValue) : false;
  });
  return [...new Set(offered.map((m) => m.command))].sort();
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
      // out of monitoring, the model leaves the status badge (drift and alert alike) before the next suites read it
      const api = await mloopApi();
      await pollUntil(async () => !(api.driftBadge() ?? '').includes(MODEL), { what: `${MODEL} gone from the status badge`, timeoutMs: 90_000 });
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
          return prod?.children.some((c) => c.contextValue === 'server.deployment.declared') && staging ? { prod, staging, tree } : undefined;
        },
        { what: "the teammate's deployments to appear in the Deployments view", timeoutMs: 60_000 },
      );
      const own = seen.prod.children.filter((c) => !c.contextValue?.startsWith('server.'));
      assert.ok(
        own.some((c) => c.label === `${MODEL} v${trained.version}` && /^blue\/green · healthy · 100%/.test(c.description ?? '')),
        `this workspace's own deployment stays: ${JSON.stringify(seen.prod.children)}`,
      );
      assert.match(
        seen.prod.description ?? '',
        new RegExp(`^${MODEL} v${trained.version} · blue/green · ✓ healthy · server: ${MODEL} v${trained.version} by Bob`),
      );
      // under a target this workspace declares too: .declared (its menu adds Open Rollout Panel)
      const theirs = seen.prod.children.filter((c) => c.contextValue === 'server.deployment.declared');
      assert.equal(theirs.length, 1, JSON.stringify(seen.prod.children));
      assert.equal(theirs[0]!.label, `${MODEL} v${trained.version}`);
      assert.match(theirs[0]!.description ?? '', /^server · canary · healthy · by Bob <bob@example\.com> · /);
      assert.equal(seen.staging.contextValue, 'server.target', 'a target only teammates have');
      assert.match(seen.staging.description ?? '', new RegExp(`^server · ${MODEL} v${trained.version} · failed · by Bob`));
      assert.equal(seen.staging.children[0]?.contextValue, 'server.deployment');
      // their rows' menus (package.json): Open Monitoring on each, Open Rollout Panel only where this workspace has the target
      assert.deepEqual(menuCommands('server.deployment.declared'), ['mloop.deployments.openRollout', 'mloop.monitoring.openPanel']);
      assert.deepEqual(menuCommands('server.deployment'), ['mloop.monitoring.openPanel']);
      assert.deepEqual(menuCommands('server.target'), ['mloop.monitoring.openPanel']);
    });

    it("Rollout panel on a teammate's deployment row: their rollout of the same-named target, read-only; this workspace's own row opens its own", async () => {
      const api = await mloopApi();
      await api.refresh();
      const prod = (await api.treeSnapshot('mloop.deployments')).find((t) => t.label === TARGET);
      const row = prod?.children.find((c) => c.contextValue === 'server.deployment.declared');
      assert.ok(row, `a teammate's row under ${TARGET}: ${JSON.stringify(prod?.children)}`);
      const bobs = (await listTeamDeployments(new TeamLedger(new MlflowBackend({ trackingUri: server().uri })))).find(
        (d) => d.target === TARGET && d.publishedBy === BOB,
      )!;
      const { writer, deploymentId } = bobs;
      // the row's node as the Deployments view's menu hands it to Open Rollout Panel
      const node = {
        kind: 'serverDeployment',
        id: `server-deployment:${writer}:${deploymentId}`,
        target: TARGET,
        writer,
        modelName: MODEL,
        version: trained.version,
      };
      await vscode.commands.executeCommand('mloop.deployments.openRollout', node);
      const theirs = await pollUntil(async () => api.rolloutPanelState()?.teammate, { what: "the teammate's rollout in the Rollout panel", timeoutMs: 60_000 });
      assert.equal(theirs.target, TARGET);
      assert.equal(theirs.writer, writer);
      assert.equal(theirs.publishedBy, BOB);
      assert.deepEqual(
        theirs.deployments.map((d) => [d.modelName, d.version, d.strategy, d.trafficPercent, d.status]),
        [[MODEL, trained.version, 'canary', 100, 'healthy']],
        `Bob's deployment #${deploymentId} only, not this workspace's blue/green one`,
      );
      await screenshotNow('team-rollout-teammate');
      // read-only: a Roll Back sent as the page would send it does nothing to this workspace's deployment
      const store = await api.openStore();
      const before = new DeploymentRepository(store)
        .list()
        .filter((d) => d.target === TARGET)
        .map((d) => [d.deploymentId, d.status]);
      assert.equal(await api.pageMessage('rollout', { type: 'rollback' }), true);
      assert.deepEqual(
        new DeploymentRepository(store)
          .list()
          .filter((d) => d.target === TARGET)
          .map((d) => [d.deploymentId, d.status]),
        before,
      );
      // the workspace's own row: its own rollout again
      await vscode.commands.executeCommand('mloop.deployments.openRollout', { target: TARGET });
      const own = await pollUntil(async () => api.rolloutPanelState()?.own, { what: "this workspace's rollout in the Rollout panel", timeoutMs: 60_000 });
      assert.equal(own.serving?.strategy, 'blue_green');
      assert.equal(api.rolloutPanelState()?.teammate, undefined);
    });

    it("Rollout panel on a teammate's canary in progress: their split, traffic, latency and canary analysis as they published them with the deployment", async () => {
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-canary-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      const CAROL = 'Carol <carol@example.com>';
      // Carol's serving log over the last minutes: v(stable) and v(canary), latencies and errors drawn by the test
      const now = Date.now();
      const stable = trained.version;
      const canary = trained.version + 50;
      const lines: { ts: number; version: number; latency_ms: number; status: number }[] = [];
      for (let i = 0; i < 240; i++) {
        const version = i % 4 === 0 ? canary : stable;
        lines.push({
          ts: now - 300_000 + i * 1_000,
          version,
          latency_ms: version === canary ? 20 + (i % 7) * 3 : 10 + (i % 5) * 2,
          status: i % 31 === 0 ? 503 : 200,
        });
      }
      writeFileSync(join(otherDir, 'serving.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
      writeFileSync(
        join(otherDir, 'mloop.yaml'),
        ['version: 1', 'targets:', `  ${TARGET}:`, '    command: [python, serve.py]', '    monitor: { serving_log: serving.jsonl }', ''].join('\n'),
      );
      let writer: string;
      let analysis: ReturnType<typeof analyseCanary>;
      try {
        const models = new ModelRepository(other);
        const v1 = models.registerVersion({ name: MODEL, version: stable, actor: CAROL });
        const v2 = models.registerVersion({ name: MODEL, version: canary, actor: CAROL });
        const deployments = new DeploymentRepository(other);
        deployments.create({
          modelVersionId: v1.modelVersionId,
          target: TARGET,
          strategy: 'direct',
          trafficPercent: 100,
          status: 'healthy',
          now: now - 600_000,
        });
        const rolling = deployments.create({
          modelVersionId: v2.modelVersionId,
          target: TARGET,
          strategy: 'canary',
          trafficPercent: 25,
          status: 'in_progress',
        });
        // the canary analysis of its step, by mloop's own analysis over the same log
        analysis = analyseCanary(lines, { stableVersion: stable, canaryVersion: canary, step: '25%', from: now - 300_000, to: now }, {
          min_requests: 20,
          max_error_rate_increase: 0.05,
          max_p95_ratio: 3,
        } as Parameters<typeof analyseCanary>[2]);
        deployments.update(rolling.deploymentId, { health: { analysis: [analysis] } });
        const synced = await syncWithTeam(other, ledger, { actor: CAROL, rollout: (target) => publishedRollout(other, otherDir, target) });
        assert.equal(synced.deployments, 2);
        writer = workspaceWriter(other)!;
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
      const theirs = await openTeammateRollout(api, { who: 'Carol', writer, modelName: MODEL, version: canary, timeoutMs: 60_000 });
      const rollout = theirs.rollout!;
      assert.ok(rollout, 'their rollout was published with the deployment');
      assert.deepEqual(
        rollout.split.map((p) => [p.version, p.percent]),
        [
          [stable, 75],
          [canary, 25],
        ],
      );
      // per version: requests, errors and p95 computed here from the lines written (numpy's linear percentile)
      const p95 = (xs: number[]): number => {
        const sorted = [...xs].sort((a, b) => a - b);
        const at = 0.95 * (sorted.length - 1);
        const lo = Math.floor(at);
        return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (at - lo);
      };
      for (const version of [stable, canary]) {
        const mine = lines.filter((l) => l.version === version);
        const shown = rollout.versions.find((v) => v.version === version)!;
        assert.deepEqual([shown.requests, shown.errors], [mine.length, mine.filter((l) => l.status >= 500).length]);
        assert.ok(
          Math.abs(shown.p95Ms! - p95(mine.map((l) => l.latency_ms))) < 1e-9,
          `p95 of v${version}: ${shown.p95Ms} vs ${p95(mine.map((l) => l.latency_ms))}`,
        );
        const series = rollout.timeline.series.find((x) => x.version === version)!;
        assert.equal(
          series.requests.reduce((a, b) => a + b, 0),
          mine.length,
          'every request in a bucket of the traffic chart',
        );
      }
      assert.deepEqual(
        rollout.analysis?.steps.map((x) => [x.step, x.passed, x.summary]),
        [[analysis.step, analysis.passed, analysis.summary]],
      );
      await screenshotNow('team-rollout-teammate-canary');
    });

    it("Rollout panel on a teammate's A/B test: his arms' outcomes, lift and verdict and the processes behind his gateway, as he published them", async () => {
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-ab-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      const DAVE = 'Dave <dave@example.com>';
      const champion = trained.version + 60;
      const challenger = trained.version + 61;
      // a process that is gone: its pid, once it exited
      const gone = spawnSync(process.execPath, ['-e', '']).pid;
      // the rewards fed back through Dave's gateway: the champion's ~30 % successes, the challenger's ~60 %
      const rewards: [number[], number[]] = [[], []];
      let writer: string;
      let published: NonNullable<Awaited<ReturnType<typeof publishedRollout>>['ab']>;
      try {
        const models = new ModelRepository(other);
        models.registerVersion({ name: MODEL, version: champion, actor: DAVE });
        const v2 = models.registerVersion({ name: MODEL, version: challenger, actor: DAVE });
        const gateways = new GatewayRepository(other);
        // the test started two minutes ago; its rewards came in during the last minute
        const started = Date.now() - 120_000;
        gateways.ensure(TARGET, 18_180, started);
        gateways.setRoutes(
          TARGET,
          'ab',
          [
            { modelName: MODEL, version: champion, upstreamPort: 18_181, weight: 50 },
            // the challenger's two replicas, started by his mloop for the test: one runs, one's process is gone
            { modelName: MODEL, version: challenger, upstreamPort: 18_182, weight: 25, pid: process.pid, replica: 0 },
            { modelName: MODEL, version: challenger, upstreamPort: 18_183, weight: 25, pid: gone, replica: 1 },
          ],
          started,
        );
        const lines: string[] = [];
        for (let i = 0; i < 300; i++) {
          const arm = i % 2;
          const reward = (i * 7919) % 100 < (arm === 0 ? 30 : 60) ? 1 : 0;
          rewards[arm]!.push(reward);
          lines.push(
            JSON.stringify({
              ts: Date.now() - 60_000 + i,
              request_id: `ab${i}`,
              model_name: MODEL,
              version: arm === 0 ? champion : challenger,
              upstream_port: arm === 0 ? 18_181 : 18_182 + (i % 4 === 1 ? 0 : 1),
              reward,
            }),
          );
        }
        mkdirSync(dirname(feedbackLogPath(other, TARGET)), { recursive: true });
        writeFileSync(feedbackLogPath(other, TARGET), `${lines.join('\n')}\n`);
        new DeploymentRepository(other).create({
          modelVersionId: v2.modelVersionId,
          target: TARGET,
          strategy: 'direct',
          trafficPercent: 50,
          status: 'healthy',
        });
        published = (await publishedRollout(other, otherDir, TARGET)).ab!;
        assert.ok(published, "Dave's own Rollout panel has the A/B report");
        const synced = await syncWithTeam(other, ledger, { actor: DAVE, rollout: (target) => publishedRollout(other, otherDir, target) });
        assert.equal(synced.deployments, 1);
        writer = workspaceWriter(other)!;
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
      const theirs = await openTeammateRollout(api, { who: 'Dave', writer, modelName: MODEL, version: challenger, timeoutMs: 90_000 });
      assert.equal(theirs.publishedBy, DAVE);
      const ab = theirs.rollout?.ab;
      assert.ok(ab, `his A/B report in the panel: ${JSON.stringify(theirs.rollout && Object.keys(theirs.rollout))}`);
      // per arm: count, mean and sample standard deviation computed here from the rewards written; the lift from them
      const expected = rewards.map((xs) => sampleStats(xs));
      assert.deepEqual(
        ab.arms.map((a) => [a.role, a.version, a.split, a.n]),
        [
          ['champion', champion, 50, expected[0]!.n],
          ['challenger', challenger, 50, expected[1]!.n],
        ],
      );
      ab.arms.forEach((a, i) => {
        assert.ok(Math.abs(a.mean! - expected[i]!.mean) < 1e-12, `${a.role} mean ${a.mean} vs ${expected[i]!.mean}`);
        assert.ok(Math.abs(a.sd! - expected[i]!.sd) < 1e-12, `${a.role} sd ${a.sd} vs ${expected[i]!.sd}`);
      });
      assert.ok(Math.abs(ab.lift!.absolute - (expected[1]!.mean - expected[0]!.mean)) < 1e-12);
      // the verdict his own panel drew: a clear win of the challenger
      assert.equal(ab.decision, 'ship', ab.reason);
      assert.deepEqual(ab, JSON.parse(JSON.stringify(published)));
      // the processes behind his gateway: arm, version, replica, port, health as his panel judged them, no pid of his
      assert.deepEqual(
        theirs.rollout!.replicas?.map((r) => [r.arm, r.version, r.replica, r.port, r.health, r.detail, r.pid]),
        [
          ['champion', champion, null, 18_181, 'unknown', null, null],
          ['challenger', challenger, 0, 18_182, 'up', null, null],
          ['challenger', challenger, 1, 18_183, 'down', `process ${gone} gone`, null],
        ],
      );
      // the whole page in view: the terminal panel closed
      await vscode.commands.executeCommand('workbench.action.closePanel');
      await screenshotNow('team-rollout-teammate-ab');
    });

    it("Rollout panel on a teammate's canary while it runs: their live counts grow as their traffic flows and stop when it ends; their real gateway's host, health and routes", async function () {
      this.timeout(240_000);
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-live-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      const ERIN = 'Erin <erin@example.com>';
      const stable = trained.version + 70;
      const canary = trained.version + 71;
      const log = join(otherDir, 'serving.jsonl');
      writeFileSync(
        join(otherDir, 'mloop.yaml'),
        ['version: 1', 'targets:', `  ${TARGET}:`, '    command: [python, serve.py]', '    monitor: { serving_log: serving.jsonl }', ''].join('\n'),
      );
      // her traffic: lines of her serving log, a batch at a time (every 4th request to the canary)
      let written = 0;
      const traffic = (n: number): void => {
        const now = Date.now();
        const lines = Array.from({ length: n }, (_, i) => {
          const k = written + i;
          return JSON.stringify({ ts: now - n + i, version: k % 4 === 0 ? canary : stable, latency_ms: 10 + (k % 9), status: k % 23 === 0 ? 503 : 200 });
        });
        written += n;
        writeFileSync(log, `${lines.join('\n')}\n`, { flag: 'a' });
      };
      const rollout = (target: string) => publishedRollout(other, otherDir, target);
      const live = new LiveRolloutPublisher({ store: other, ledger, actor: async () => ERIN, rollout, intervalMs: 0 });
      const requestsSeen = (t: Awaited<ReturnType<typeof openTeammateRollout>>): number => (t.rollout?.versions ?? []).reduce((a, v) => a + v.requests, 0);
      const seen = (what: string, test: (t: Awaited<ReturnType<typeof openTeammateRollout>>) => boolean) =>
        pollUntil(
          async () => {
            const t = api.rolloutPanelState()?.teammate;
            if (t && t.writer === writer && test(t)) return t;
            // the page's Refresh, as its own 5 s timer would: the server is read again (at most every 2 s)
            await api.pageMessage('rollout', { type: 'refresh' });
            return undefined;
          },
          { what, timeoutMs: 90_000, intervalMs: 1_000 },
        );
      let writer = '';
      let gatewayPid = 0;
      let gatewayPort = 0;
      let token = '';
      try {
        const models = new ModelRepository(other);
        const v1 = models.registerVersion({ name: MODEL, version: stable, actor: ERIN });
        const v2 = models.registerVersion({ name: MODEL, version: canary, actor: ERIN });
        const deployments = new DeploymentRepository(other);
        deployments.create({
          modelVersionId: v1.modelVersionId,
          target: TARGET,
          strategy: 'direct',
          trafficPercent: 100,
          status: 'healthy',
          now: Date.now() - 60_000,
        });
        const rolling = deployments.create({
          modelVersionId: v2.modelVersionId,
          target: TARGET,
          strategy: 'canary',
          trafficPercent: 25,
          status: 'in_progress',
        });
        // her real gateway on the target, its canary routes from her store
        gatewayPort = await new Promise<number>((done) => {
          const probe = createServer().listen(0, '127.0.0.1', () => {
            const { port } = probe.address() as AddressInfo;
            probe.close(() => done(port));
          });
        });
        const gateways = new GatewayRepository(other);
        gateways.ensure(TARGET, gatewayPort);
        gateways.setRoutes(TARGET, 'canary', [
          { modelName: MODEL, version: stable, upstreamPort: gatewayPort + 1, weight: 75 },
          { modelName: MODEL, version: canary, upstreamPort: gatewayPort + 2, weight: 25 },
        ]);
        await ensureGateway(other, TARGET, gatewayPort);
        gatewayPid = gateways.get(TARGET)!.pid!;
        token = readFileSync(join(gatewayDir(other, TARGET), 'token'), 'utf8').trim();
        traffic(40);
        await syncWithTeam(other, ledger, { actor: ERIN, rollout });
        writer = workspaceWriter(other)!;

        // her row says her gateway is up, on her machine; her page too, with its process and the routes it serves
        const theirs = await openTeammateRollout(api, { who: 'Erin', writer, modelName: MODEL, version: canary, timeoutMs: 90_000 });
        const row = (await api.treeSnapshot('mloop.deployments'))
          .find((t) => t.label === TARGET)
          ?.children.find((c) => /^server · canary · in progress · by Erin /.test(c.description ?? ''));
        assert.ok((row?.description ?? '').endsWith(` · gateway up on ${hostname()}`), `her row: ${row?.description}`);
        const gateway = theirs.rollout?.gatewayState;
        assert.ok(gateway, `her gateway published: ${JSON.stringify(theirs.rollout && Object.keys(theirs.rollout))}`);
        assert.deepEqual([gateway.host, gateway.health, gateway.detail], [hostname(), 'up', null]);
        assert.deepEqual(
          gateway.processes.map((p) => [p.role, p.leaving, p.routes]),
          [['primary', false, gateway.routes]],
        );
        assert.match(gateway.routes, /^[0-9a-f]{12}$/);
        const status = (await gatewayStatus(other, TARGET))!;
        assert.equal(gateway.processes[0]!.since, status.processes?.[0]?.since ?? null);
        // no pid, no port, never the control token
        const sent = JSON.stringify(gateway);
        for (const secret of [token, String(gatewayPid), String(gatewayPort)]) assert.ok(!sent.includes(secret), `${secret} is not published`);
        assert.equal(requestsSeen(theirs), 40);
        assert.equal(theirs.live ?? false, false, 'the state change published first: no live snapshot yet');

        // while her canary runs, her live snapshots: the page, open, follows her traffic (the same numbers both sides)
        traffic(30);
        const first = await live.tick();
        assert.deepEqual(first, { outcome: 'done', published: [TARGET], unchanged: [], failed: [] });
        await seen('70 requests live on the page', (t) => t.live === true && requestsSeen(t) === 70);
        traffic(20);
        assert.deepEqual(await live.tick(), { outcome: 'done', published: [TARGET], unchanged: [], failed: [] });
        const grown = await seen('90 requests live on the page', (t) => t.live === true && requestsSeen(t) === 90);
        // per version as counted here from the lines written
        const lines = readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { version: number; status: number });
        assert.deepEqual(
          grown.rollout!.versions.map((v) => [v.version, v.requests, v.errors]),
          [stable, canary].map((version) => {
            const of = lines.filter((l) => l.version === version);
            return [version, of.length, of.filter((l) => l.status >= 500).length];
          }),
        );
        // nothing changed: nothing written; a server that does not answer: the tick reports it, the rollout is untouched
        assert.deepEqual(await live.tick(), { outcome: 'done', published: [], unchanged: [TARGET], failed: [] });
        const errors: string[] = [];
        const outage = new LiveRolloutPublisher({
          store: other,
          ledger: new TeamLedger(new MlflowBackend({ trackingUri: 'http://127.0.0.1:9' })),
          actor: async () => ERIN,
          rollout,
          intervalMs: 0,
          onError: (_t, e) => errors.push(e.message),
        });
        traffic(5);
        assert.deepEqual(await outage.tick(), { outcome: 'done', published: [], unchanged: [], failed: [TARGET] });
        assert.match(errors[0] ?? '', /unreachable/);
        assert.equal(deployments.get(rolling.deploymentId)!.status, 'in_progress');
        outage.dispose();
        await screenshotNow('team-rollout-teammate-live');

        // the canary ends (promoted), her gateway stops; the end is published with its state, and live snapshots stop
        process.kill(gatewayPid, 'SIGTERM');
        await pollUntil(async () => (isAlive(gatewayPid) ? undefined : true), { what: 'her gateway stopped', timeoutMs: 30_000 });
        deployments.update(rolling.deploymentId, { status: 'healthy', trafficPercent: 100 });
        await syncWithTeam(other, ledger, { actor: ERIN, rollout });
        traffic(25);
        assert.deepEqual(await live.tick(), { outcome: 'idle' });
        const ended = await seen(
          'the ended canary on the page',
          (t) => t.live !== true && t.deployments[0]?.status === 'healthy' && t.deployments[0].version === canary,
        );
        assert.equal(requestsSeen(ended), 95, 'the traffic up to its end, not the 25 requests after it');
        assert.deepEqual([ended.rollout?.gatewayState?.health, ended.rollout?.gatewayState?.detail], ['down', 'its process is gone']);
        const newest = await ledger.newest<{ rollout: { at: number } }>('rollout.live', `${writer}:${TARGET}`);
        assert.ok(newest && newest.payload.rollout.at < ended.rollout!.at, 'no live snapshot after the end');
      } finally {
        live.dispose();
        if (gatewayPid && isAlive(gatewayPid)) process.kill(gatewayPid, 'SIGTERM');
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
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

    it("Retrain on a server model row: the new version is trained here and registered on the server as the model's next version, with its run, data, gate and @challenger", async () => {
      const api = await mloopApi();
      const base = latest ?? trained; // the server's champion
      const suiteConfig = readFileSync(configPath(), 'utf8');
      const suiteData = readFileSync(dataPath(), 'utf8');
      writeFileSync(join(workspaceRoot(), 'team-data', 'train.py'), RETRAIN_SCRIPT);
      // new data arrived (the first 100 days dropped): the retrain is not a copy of the champion
      const [header, ...lines] = suiteData.trim().split('\n');
      writeFileSync(dataPath(), `${[header, ...lines.slice(100)].join('\n')}\n`);
      writeFileSync(
        configPath(),
        `${suiteConfig.trimEnd()}\npipelines:\n  team-train:\n    command: [python, team-data/train.py, "\${params.max_iter}"]\n    params: { max_iter: 1000 }\n    inputs: [team-weather]\n    outputs: [team-data/model.pkl]\n    model: { name: ${MODEL}, path: team-data/model.pkl }\nmodels:\n  ${MODEL}:\n    gate: ["accuracy >= 0.5"]\n`,
      );
      try {
        const outcome = await vscode.commands.executeCommand<RetrainOutcome | undefined>('mloop.models.retrain', {
          kind: 'model',
          id: `remote-model:${MODEL}`,
          modelName: MODEL,
        });
        assert.ok(outcome, 'Retrain returned nothing (see the mloop log)');
        assert.equal(outcome.recipe.base.version, base.version, "retrained from the server's champion");
        assert.equal(outcome.recipe.params.max_iter, '3000', "the champion's params, read from its server run");
        const backend = new MlflowBackend({ trackingUri: server().uri });
        const versions = await backend.modelVersions(MODEL);
        const onServer = versions.find((v) => v.tags['mloop.retrained_from'] === String(base.version));
        assert.ok(onServer, `a version retrained from v${base.version} on the server: ${JSON.stringify(versions.map((v) => [v.version, v.tags]))}`);
        assert.equal(onServer.version, Math.max(...versions.map((v) => v.version)), "the model's next version");
        assert.equal(outcome.version.version, onServer.version, 'the store names it by the server number');
        assert.deepEqual(onServer.aliases, ['challenger']);
        assert.equal(onServer.tags['mloop.gate.passed'], 'true');
        assert.match(onServer.tags['mloop.gate'] ?? '', /accuracy >= 0\.5/);
        // the server run: the recipe's params, the metric the run reported, the data it read (its digest), its pipeline
        const store = await api.openStore();
        const { run, inputs } = (await backend.runWithInputs(onServer.runId!))!;
        assert.equal(run.params.max_iter, '3000');
        assert.equal(run.tags['mloop.pipeline'], 'team-train');
        assert.equal(run.tags['mloop.local_run'], outcome.runId);
        const local = new RunRepository(store).latestMetrics(outcome.runId);
        assert.ok(local.accuracy! > 0.5 && local.accuracy! < 1);
        assert.equal(run.metrics.accuracy, local.accuracy);
        const sha = createHash('sha256').update(readFileSync(dataPath())).digest('hex');
        assert.deepEqual(
          inputs.map((i) => [i.name, i.digest]),
          [['team-weather', sha.slice(0, 36)]],
        );
        // the artifact on the server is the file the run wrote, byte for byte (read through the server's artifact proxy)
        const served = await fetch(`${server().uri}/get-artifact?path=${encodeURIComponent('model/model.pkl')}&run_uuid=${onServer.runId}`);
        assert.equal(served.status, 200);
        const bytes = Buffer.from(await served.arrayBuffer());
        assert.equal(
          createHash('sha256').update(bytes).digest('hex'),
          createHash('sha256')
            .update(readFileSync(join(workspaceRoot(), 'team-data', 'model.pkl')))
            .digest('hex'),
        );
        assert.ok(new AuditRepository(store).list().some((e) => e.action === 'model.publish' && e.entityId === `${MODEL}/${onServer.version}`));
        // the Models view lists it from the server with its alias
        const row = await pollUntil(
          async () => {
            await api.refresh();
            return (await api.treeSnapshot('mloop.models')).find((m) => m.label === MODEL)?.children.find((v) => v.label === `v${onServer.version}`);
          },
          { what: 'the retrained version in the Models view', timeoutMs: 60_000 },
        );
        assert.equal(row.contextValue, 'server.modelVersion.aliased');
        assert.match(row.description ?? '', new RegExp(`^@challenger · run ${onServer.runId!.slice(0, 8)}`));
      } finally {
        writeFileSync(configPath(), suiteConfig);
        writeFileSync(dataPath(), suiteData);
      }
    });

    it('Publish to Team Server on a version only this workspace holds: its row in the Models view, registered on the server as the next version; a repeat does nothing', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const models = new ModelRepository(store);
      // a version trained here and never sent (what a retrain that ended "not published" leaves): the retrained
      // version's pickle under a run of this workspace's own
      const sent = new AuditRepository(store).list().find((e) => e.action === 'model.publish' && e.entityId.startsWith(`${MODEL}/`))!;
      const model = models.byName(MODEL)!;
      const retrained = models.version(model.modelId, Number(sent.entityId.split('/')[1]))!;
      const pickle = artifactLocation(store, artifactRootOf(store.path), retrained.artifactPath)!;
      const runs = new RunRepository(store);
      const experimentId = runs.get(retrained.sourceRunId!)!.experimentId;
      const run = runs.create({ experimentId, name: 'trained-here', status: 'FINISHED' });
      mkdirSync(runArtifactDir(artifactRootOf(store.path), experimentId, run.runId), { recursive: true });
      cpSync(pickle, join(runArtifactDir(artifactRootOf(store.path), experimentId, run.runId), 'model.pkl'));
      const here = models.registerVersion({ name: MODEL, sourceRunId: run.runId, artifactPath: `runs:/${run.runId}/model.pkl`, actor: 'test' });
      const backend = new MlflowBackend({ trackingUri: server().uri });
      const before = (await backend.modelVersions(MODEL)).map((v) => v.version);
      await vscode.commands.executeCommand('mloop.models.focus');
      const row = await pollUntil(
        async () => {
          await api.refresh();
          return (await api.treeSnapshot('mloop.models')).find((m) => m.label === MODEL)?.children.find((v) => v.label === `v${here.version} (this workspace)`);
        },
        { what: "the version only this workspace holds in the Models view, under the server's model", timeoutMs: 60_000 },
      );
      assert.equal(row.contextValue, 'local.modelVersion.unpublished');
      assert.match(row.description ?? '', new RegExp(`^not on the server · run ${run.runId.slice(0, 8)}`));
      const menus = (mloopExtension().packageJSON as { contributes: { menus: { 'view/item/context': { command: string; when?: string }[] } } }).contributes
        .menus['view/item/context'];
      assert.ok(
        menus.some((m) => m.command === 'mloop.models.publishToServer' && m.when === 'view == mloop.models && viewItem == local.modelVersion.unpublished'),
        'Publish to Team Server on that row',
      );
      assert.equal(await api.revealTreeRow('mloop.models', `local-modelVersion:${MODEL}:${here.modelVersionId}`), true);
      await screenshotNow('team-models-publish-row');
      type Published = { outcome: 'published'; published: { serverVersion: number; serverRunId: string } } | { outcome: 'already'; source: string };
      const outcome = await vscode.commands.executeCommand<Published | undefined>('mloop.models.publishToServer', { modelName: MODEL, version: here.version });
      assert.ok(outcome?.outcome === 'published', `published: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.published.serverVersion, Math.max(...before) + 1, "the model's next version on the server");
      const onServer = (await backend.modelVersions(MODEL)).find((v) => v.version === outcome.published.serverVersion)!;
      assert.equal(onServer.runId, outcome.published.serverRunId);
      assert.equal((await backend.getRun(onServer.runId!))?.tags['mloop.local_run'], run.runId);
      const served = await fetch(`${server().uri}/get-artifact?path=${encodeURIComponent('model/model.pkl')}&run_uuid=${onServer.runId}`);
      assert.equal(served.status, 200);
      assert.ok(Buffer.from(await served.arrayBuffer()).equals(readFileSync(pickle)), 'the very pickle');
      // the row is now the server's version; a second publish sends nothing
      const shown = await pollUntil(
        async () => {
          await api.refresh();
          const children = (await api.treeSnapshot('mloop.models')).find((m) => m.label === MODEL)?.children ?? [];
          return children.some((v) => v.label === `v${onServer.version}`) && !children.some((v) => v.contextValue === 'local.modelVersion.unpublished')
            ? children
            : undefined;
        },
        { what: 'the published version shown as the server’s, no row left "this workspace" only', timeoutMs: 60_000 },
      );
      assert.ok(shown.length > 0);
      const now = models.versionById(here.modelVersionId)!;
      assert.equal(now.version, onServer.version, "this workspace's version took the server's number (it was free here)");
      const again = await vscode.commands.executeCommand<Published | undefined>('mloop.models.publishToServer', { modelName: MODEL, version: now.version });
      assert.deepEqual(again, { outcome: 'already', server: server().uri, source: `models:/${MODEL}/${onServer.version}`, how: 'sent', version: now });
      assert.equal((await backend.modelVersions(MODEL)).length, before.length + 1, 'nothing registered twice');
    });

    it("Check Model Performance on a server model row: the server's champion is copied first, accuracy per window from the late labels, and the report is published to the server", async () => {
      const api = await mloopApi();
      const champion = latest ?? trained;
      const suiteConfig = readFileSync(configPath(), 'utf8');
      // a predictions log of 2013 (every 5th prediction wrong) and its labels
      const [header, ...lines] = readFileSync(dataPath(), 'utf8').trim().split('\n');
      const cols = header!.split(',');
      const days = lines.map((l) => l.split(',')).filter((r) => r[0]!.startsWith('2013'));
      const label = (r: string[]): string => r[cols.indexOf('weather')]!;
      const predicted = days.map((r, i) => (i % 5 === 0 ? (label(r) === 'sun' ? 'rain' : 'sun') : label(r)));
      writeFileSync(
        join(workspaceRoot(), 'team-data', 'predictions.csv'),
        `id,date,predicted\n${days.map((r, i) => `p${i},${r[0]},${predicted[i]}`).join('\n')}\n`,
      );
      writeFileSync(join(workspaceRoot(), 'team-data', 'labels.csv'), `id,label\n${days.map((r, i) => `p${i},${label(r)}`).join('\n')}\n`);
      writeFileSync(
        configPath(),
        suiteConfig.replace(
          /^monitoring:\n(?:\s+.*\n)+?(?=targets:)/m,
          `monitoring:\n  ${MODEL}:\n    current: team-data/predictions.csv\n    time_column: date\n    window: monthly\n    labels: team-data/labels.csv\n    prediction: predicted\n    performance: { accuracy: { min: 0.8 } }\n`,
        ),
      );
      try {
        const checked = await vscode.commands.executeCommand<PerformanceCheckOutcome | undefined>('mloop.monitoring.checkPerformance', {
          kind: 'model',
          id: `remote-model:${MODEL}`,
          modelName: MODEL,
        });
        assert.ok(checked, 'Check Model Performance returned nothing (see the mloop log)');
        assert.deepEqual(checked.errors, []);
        const store = await api.openStore();
        const repo = new ModelRepository(store);
        assert.equal(repo.versionByAlias(repo.byName(MODEL)!.modelId, 'champion')?.version, champion.version, "the server's champion is the store's");
        // accuracy per month computed here: below 0.8 in a month of at least 30 rows (min_rows) is an alert
        const months = new Map<string, { n: number; right: number }>();
        days.forEach((r, i) => {
          const m = months.get(r[0]!.slice(0, 7)) ?? { n: 0, right: 0 };
          months.set(r[0]!.slice(0, 7), { n: m.n + 1, right: m.right + (predicted[i] === label(r) ? 1 : 0) });
        });
        const expectedAlerts = [...months].filter(([, m]) => m.n >= 30 && m.right / m.n < 0.8).map(([month]) => `${month}-01`);
        assert.ok(expectedAlerts.length > 0);
        assert.deepEqual(
          checked.alerts.map((a) => /in window (\S+)/.exec(a)?.[1]),
          expectedAlerts,
        );
        const december = months.get('2013-12')!;
        assert.match(
          checked.summary,
          new RegExp(`^accuracy ${(december.right / december.n).toFixed(3).replace('.', '\\.')} in window 2013-12-01 \\(n = ${december.n}\\)`),
        );
        // teammates see it: the editor's publisher puts the report on the server
        const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
        const published = await pollUntil(
          async () => (await listTeamMonitoringReports(ledger, { modelName: MODEL })).find((r) => r.monitoringReportId === checked.performanceReportId),
          { what: 'the performance report on the server', timeoutMs: 90_000, intervalMs: 2_000 },
        );
        assert.equal(published.kind, 'performance');
        assert.equal(published.alert, true);
        // Open Monitoring on a teammate's deployment row (the node as the Deployments view's menu hands it over): this
        // model's Monitoring panel, with the report just made
        const row = { kind: 'serverDeployment', id: 'server-deployment:x:1', target: 'bob-staging', writer: 'x', modelName: MODEL, version: champion.version };
        await vscode.commands.executeCommand('mloop.monitoring.openPanel', row);
        // the panel may already be open on this model from an earlier test: wait for it to show the new report's alerts
        const performanceAlerts = (): number | undefined => {
          const state = api.monitoringPanelState();
          return state?.model === MODEL ? state.alerts.filter((a) => a.check === 'performance').length : undefined;
        };
        await pollUntil(async () => performanceAlerts() === expectedAlerts.length, {
          what: `the Monitoring panel of ${MODEL} with ${expectedAlerts.length} performance alerts`,
          timeoutMs: 60_000,
        });
        assert.match(api.driftBadge() ?? '', new RegExp(`alert: ${MODEL}`));
      } finally {
        writeFileSync(configPath(), suiteConfig);
      }
      // its performance check taken out of monitoring, the model's performance alert leaves the status badge. The suite's
      // own monitoring entry (drift of team-data/current.csv) stays: whether the badge then shows the model's drift
      // depends on which drift check of it ran last (one the file watcher may start on predictions.csv, or Check Drift's
      // warmer data), so only the alert is asserted here; the suite's after() takes the model out of monitoring and
      // waits for it to leave the badge altogether (the drift and performance suites after this one read the badge)
      await pollUntil(async () => !(api.driftBadge() ?? '').includes(`alert: ${MODEL}`), {
        what: `${MODEL}'s performance alert gone from the status badge`,
        timeoutMs: 90_000,
      });
    });

    it('Monitoring panel with the server: the reports teammates published of the model are shown, marked with who published them and their workspace', async () => {
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-reports-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      const summary = `accuracy 0.612 in window 2014-03-01 (n = 31) · ${Date.now()}`;
      // what Bob's check found: a real performance report (this workspace's own of the test before, computed from the
      // predictions and the late labels), published from his workspace
      const ownPerformance = new MonitoringReportRepository(await api.openStore()).list({ modelName: MODEL }).find((r) => r.kind === 'performance')!;
      const bobsResult = JSON.parse(ownPerformance.resultJson) as {
        windows: { start: string; n: number; status: string; metrics: { accuracy?: { value: number; lower: number; upper: number } | null } }[];
      };
      // and Bob's drift check: a real one (this workspace's Check Drift of the test before: temperatures 10 °C warmer,
      // Wasserstein against the server run's data), stored in his workspace an hour later
      // (the newest of the drifted ones: later checks of the tests in between may have found none)
      const ownDrift = new DriftReportRepository(await api.openStore()).listForModel(MODEL).find((r) => r.datasetDrift)!;
      assert.ok(ownDrift, 'the Check Drift test before stored a drift report that found drift');
      const driftResult = JSON.parse(ownDrift.resultJson) as {
        report: { columns: { column: string; status: string; drifted: boolean }[]; drift_share: number; share_threshold: number; dataset_drift: boolean };
      };
      const bobsDriftAt = Date.now() + 3_600_000;
      try {
        const bobsModel = new ModelRepository(other).createModel({ name: MODEL, actor: BOB })!;
        new DriftReportRepository(other).add({
          modelId: bobsModel.modelId,
          currentUri: 'bob/current.csv',
          driftedShare: ownDrift.driftedShare,
          datasetDrift: ownDrift.datasetDrift,
          result: driftResult,
          now: bobsDriftAt,
        });
        new MonitoringReportRepository(other).add({ modelName: MODEL, kind: 'performance', alert: true, summary, result: bobsResult });
        new MonitoringReportRepository(other).add({ modelName: 'another-model', kind: 'performance', alert: false, summary: 'not this model', result: {} });
        await syncWithTeam(other, ledger, { actor: BOB });
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
      const store = await api.openStore();
      const own = workspaceWriter(store);
      const team = await pollUntil(
        async () => {
          await vscode.commands.executeCommand('mloop.monitoring.openPanel', MODEL);
          const state = api.monitoringPanelState();
          return state?.model === MODEL &&
            state.team?.reports.some((r) => r.summary === summary) &&
            state.team.reports.some((r) => r.kind === 'drift' && r.createdAt === bobsDriftAt)
            ? state.team
            : undefined;
        },
        { what: "Bob's performance and drift reports in the Monitoring panel", timeoutMs: 90_000, intervalMs: 2_000 },
      );
      assert.equal(team.server, server().uri);
      assert.equal(team.problem, null);
      const bob = team.reports.find((r) => r.summary === summary)!;
      assert.deepEqual([bob.kind, bob.alert, bob.publishedBy], ['performance', true, BOB]);
      assert.match(bob.workspace, /^[0-9a-f]{16}$/);
      assert.notEqual(bob.workspace, own);
      assert.ok(!team.reports.some((r) => r.summary === 'not this model'), 'only this model');
      // Bob's drift check: his, an alert since his data drifted, its headline from the columns his check compared
      const drift = team.reports.find((r) => r.kind === 'drift' && r.createdAt === bobsDriftAt)!;
      assert.deepEqual([drift.publishedBy, drift.workspace, drift.alert], [BOB, bob.workspace, true]);
      const compared = driftResult.report.columns.filter((c) => c.status === 'ok');
      const drifted = compared.filter((c) => c.drifted);
      assert.deepEqual(drifted.map((c) => c.column).sort(), ['temp_max', 'temp_min'], 'the temperatures moved, precipitation and wind did not');
      const share = (drifted.length / compared.length).toFixed(2);
      assert.match(
        drift.summary,
        new RegExp(`^Drift in ${MODEL}: ${drifted.length} of ${compared.length} features \\((temp_max|temp_min): .*\\) · share ${share} vs threshold `),
      );
      assert.equal(team.reports[0], drift, 'newest first: his drift check of an hour later heads the list');
      assert.ok(!team.series?.some((x) => x.workspace === bob.workspace && (x.kind as string) === 'drift'), 'a drift check is listed, not charted');
      // charted: Bob's accuracy per window with its interval, the windows his report computed
      const line = team.series?.find((x) => x.workspace === bob.workspace && x.kind === 'performance');
      assert.ok(line, `Bob's line in the chart: ${JSON.stringify(team.series?.map((x) => [x.workspace, x.kind]))}`);
      const expected = bobsResult.windows
        .filter((w) => w.status === 'ok' && w.metrics.accuracy)
        .map((w) => [w.start, w.metrics.accuracy!.value, w.metrics.accuracy!.lower, w.metrics.accuracy!.upper, w.n]);
      assert.ok(expected.length >= 3, `windows with an accuracy: ${expected.length}`);
      assert.deepEqual(
        line.points.map((p) => [p.start, p.value, p.lower, p.upper, p.n]),
        expected,
      );
      assert.equal(line.metric, 'accuracy');
      // the panel with Bob's drift check at the head of the teammates' list
      await screenshotNow('team-monitoring-reports');
      // this workspace's own reports are the panel's charts, not repeated as a teammate's
      const ownOnServer = (await listTeamMonitoringReports(ledger, { modelName: MODEL })).filter((r) => r.writer === own);
      assert.ok(!team.reports.some((r) => r.workspace === own), `own reports on the server: ${ownOnServer.length}`);
    });

    it("Monitoring panel with the server: a teammate's real fairness check (penguins, per sex and island) is drawn as their own, equal to fairlearn", async () => {
      const api = await mloopApi();
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server().uri }));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-fair-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      // Bob's predictions log and late labels: a real decision tree of the species on half of penguins (the reference
      // script writes them), and fairlearn's MetricFrame on the same predictions, with Wilson intervals from scipy
      const reference = await pythonJson<{
        n: number;
        columns: Record<string, { groups: Record<string, Record<string, number>> } & Record<string, number>>;
        wilson: Record<string, Record<string, Record<string, [number, number]>>>;
      }>({
        args: [
          '-c',
          `
import contextlib, io, json, runpy, sys
from scipy.stats import binomtest
buf = io.StringIO()
sys.argv = sys.argv[1:]
with contextlib.redirect_stdout(buf):
    runpy.run_path(sys.argv[0], run_name="__main__")
ref = json.loads(buf.getvalue())
ci = lambda rate, n: list(binomtest(round(rate * n), n).proportion_ci(0.95, "wilson")) if n else None
ref["wilson"] = {c: {g: {"accuracy": ci(m["accuracy"], m["n"])} for g, m in col["groups"].items()} for c, col in ref["columns"].items()}
print(json.dumps(ref))
`,
          join(REPO, 'test', 'monitoring', 'fairness_reference.py'),
          join(REPO, 'node_modules', 'vega-datasets', 'data', 'penguins.json'),
          otherDir,
        ],
      });
      const bound = 0.1;
      let writer: string;
      try {
        // his fairness check, by mloop's own monitor in his workspace (no drift: his log has no reference here)
        const checked = await monitorModel({
          model: MODEL,
          monitoring: {
            current: 'predictions.csv',
            prediction: 'predicted',
            labels: 'labels.csv',
            groups: ['sex', 'island'],
            positive_class: 'Adelie',
            fairness: { demographic_parity_difference: { max: bound } },
          } as unknown as ModelMonitoring,
          baseDir: otherDir,
          store: other,
          drift: false,
        });
        assert.ok(checked.fairness?.report_id, `his fairness report stored: ${JSON.stringify(checked.errors ?? [])}`);
        await syncWithTeam(other, ledger, { actor: BOB });
        writer = workspaceWriter(other)!;
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
      }
      const fairness = await pollUntil(
        async () => {
          await vscode.commands.executeCommand('mloop.monitoring.openPanel', MODEL);
          const state = api.monitoringPanelState();
          return state?.model === MODEL ? state.team?.fairness?.find((f) => f.workspace === writer) : undefined;
        },
        { what: "Bob's fairness check in the Monitoring panel", timeoutMs: 90_000, intervalMs: 2_000 },
      );
      assert.deepEqual([fairness.publishedBy, fairness.positiveClass, fairness.n], [BOB, 'Adelie', reference.n]);
      assert.deepEqual(
        fairness.columns.map((c) => c.column),
        ['sex', 'island'],
      );
      const near = (a: number | null | undefined, b: number, what: string): void =>
        assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= 1e-9, `${what}: ${a} vs ${b}`);
      for (const c of fairness.columns) {
        const want = reference.columns[c.column]!;
        assert.deepEqual(
          c.groups.map((g) => g.group),
          Object.keys(want.groups).sort(),
          c.column,
        );
        for (const g of c.groups) {
          const w = want.groups[g.group]!;
          const what = `${c.column} = ${g.group}`;
          assert.equal(g.n, w.n, `${what} n`);
          near(g.selectionRate, w.selection_rate!, `${what} selection rate`);
          near(g.accuracy?.value, w.accuracy!, `${what} accuracy`);
          near(g.accuracy?.lower, reference.wilson[c.column]![g.group]!.accuracy![0], `${what} accuracy lower (Wilson, scipy)`);
          near(g.accuracy?.upper, reference.wilson[c.column]![g.group]!.accuracy![1], `${what} accuracy upper (Wilson, scipy)`);
          // a group without positives has no TPR to show (fairlearn counts it 0)
          if (g.tpr) near(g.tpr.value, w.true_positive_rate!, `${what} TPR`);
          else assert.equal(w.true_positive_rate, 0, `${what} TPR`);
          if (g.fpr !== null) near(g.fpr, w.false_positive_rate!, `${what} FPR`);
        }
        near(c.parityDifference, want.demographic_parity_difference!, `${c.column} demographic parity difference`);
        near(c.equalizedOddsDifference, want.equalized_odds_difference!, `${c.column} equalized odds difference`);
      }
      // his threshold, and an alert for exactly the columns whose parity difference (fairlearn's) breaks it
      assert.deepEqual(fairness.thresholds, [{ metric: 'demographic_parity_difference', min: null, max: bound }]);
      const broken = Object.entries(reference.columns)
        .filter(([, c]) => c.demographic_parity_difference! > bound)
        .map(([column]) => column);
      assert.ok(broken.length > 0, 'penguins: some parity difference is above the bound');
      assert.deepEqual(fairness.alerts.map((a) => /^demographic_parity_difference across (\w+) /.exec(a)?.[1]).sort(), broken.sort());
      await screenshotNow('team-monitoring-fairness');
    });

    it("Audit view with the server: every workspace's entries with their signature state, checked against this project's allowed signers", async () => {
      const api = await mloopApi();
      const suiteConfig = readFileSync(configPath(), 'utf8');
      const keys = mkdtempSync(join(tmpdir(), 'mloop-int-team-sig-'));
      for (const who of ['ann', 'eve']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(keys, who)]);
      writeFileSync(join(keys, 'allowed_signers'), `ann@example.com ${readFileSync(join(keys, 'ann.pub'), 'utf8')}`);
      writeFileSync(
        configPath(),
        `${suiteConfig.trimEnd()}\naudit:\n  sign_with: ${join(keys, 'ann')}\n  signing:\n    allowed_signers: ${join(keys, 'allowed_signers')}\n`,
      );
      const store = await api.openStore();
      // the extension signs its own writes (audit.sign_with); this test's copy of the core writes through the same hook
      signAuditWritesOf(store.path, () => projectAuditSigner(workspaceRoot()));
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-sig-ws-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      try {
        new AuditRepository(store).record({ actor: 'tester', action: 'note', entityType: 'test', entityId: 'team-sig-ann' });
        // Bob's workspace: one entry signed with Eve's key (not an allowed signer here), one not signed at all
        const bobAudit = new AuditRepository(other);
        bobAudit.record({ actor: BOB, action: 'note', entityType: 'test', entityId: 'team-sig-eve' });
        assert.equal(signPendingEntries(other, { key: join(keys, 'eve'), namespace: SIGNING_NAMESPACE } as AuditSigningConfig), 1);
        bobAudit.record({ actor: BOB, action: 'note', entityType: 'test', entityId: 'team-sig-none' });
        await publishAuditTrail(other, new TeamLedger(new MlflowBackend({ trackingUri: server().uri })), { actor: BOB });
        const keyId = execFileSync('ssh-keygen', ['-l', '-f', join(keys, 'ann.pub')], { encoding: 'utf8' }).split(' ')[1]!;
        // the editor's publisher sends this workspace's entry and its signature by itself
        const rows = await pollUntil(
          async () => {
            await api.refresh();
            const view = await api.treeSnapshot('mloop.audit');
            const row = (id: string) => view.find((r) => r.label === `note ${id}`);
            const ann = row('team-sig-ann');
            return ann?.description?.includes('signed ✓') && row('team-sig-none')
              ? { ann, eve: row('team-sig-eve')!, none: row('team-sig-none')!, view }
              : undefined;
          },
          { what: "the team's entries with their signature states in the Audit view", timeoutMs: 90_000, intervalMs: 2_000 },
        );
        assert.match(rows.view[0]?.label ?? '', /^Team trail verified ✓/, 'the team view');
        assert.match(rows.ann.description ?? '', new RegExp(` · signed ✓ by ann@example\\.com \\(${keyId.slice(0, 19).replace(/[+/.]/g, '\\$&')}…\\)$`));
        assert.match(rows.eve.description ?? '', /^Bob <bob@example\.com> · .* · signature invalid ✗$/);
        assert.match(rows.none.description ?? '', / · unsigned$/);
      } finally {
        stopSigningAuditWritesOf(store.path);
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
        rmSync(keys, { recursive: true, force: true });
        writeFileSync(configPath(), suiteConfig);
      }
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
