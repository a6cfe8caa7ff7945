import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { type LedgerRecord, TeamLedger } from '../../src/core/backends/teamLedger';
import { listTeamDeployments, listTeamDriftReports, listTeamMonitoringReports } from '../../src/core/backends/teamOperations';
import { TeamPublisher } from '../../src/core/backends/teamPublisher';
import { verifyChain } from '../../src/core/governance/auditChain';
import { ApprovalError } from '../../src/core/governance/approvals';
import { decideTeamRequest, getTeamRequest, requestTeamApproval } from '../../src/core/governance/teamApprovals';
import { publishAuditTrail, teamSignatures, verifyTeamTrail, workspaceWriter } from '../../src/core/governance/teamTrail';
import { type AuditSigningConfig, SIGNING_NAMESPACE, signPendingEntries } from '../../src/core/governance/auditSigning';
import { AuditRepository } from '../../src/core/store/audit';
import { DriftReportRepository } from '../../src/core/store/driftReports';
import { ModelRepository } from '../../src/core/store/models';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { openStore } from '../../src/core/store/store';
import { RunRepository } from '../../src/core/store/runs';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { runArtifactDir } from '../../src/core/registry/modelArtifact';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { CLI, tempDir } from './fixtures';
import { AUTH_ADMIN, freePort, startMlflowServer, type MlflowServerProcess } from './mlflowServer';
import { mlflowEnv, PYTHON, pythonJson } from '../support/python';

// Two mloop workspaces against ONE real `mlflow server --app-name basic-auth` (two users created through MLflow's
// auth API): deploy requests of a protected target decided on the server as the server's users, versions registered
// by one workspace deployed and evaluated by the other, and what a workspace writes published as it happens.

const USERS = { ann: 'ann-password-1', bob: 'bob-password-2' } as const;
type User = keyof typeof USERS;
const WEATHER = join(__dirname, '../../../examples/weather/data/seattle-weather.csv');

describe('team on one MLflow server with users: protected deploys, server models, automatic publishing', function () {
  this.timeout(300_000); // the server starts slowly on a loaded 2-core machine
  let server: MlflowServerProcess;
  let root: string;
  let cleanup: () => void;
  const ws = (w: 'a' | 'b'): string => join(root, w);
  const backendAs = (user: User, uri = server.uri): MlflowBackend => new MlflowBackend({ trackingUri: uri, username: user, password: USERS[user] });

  /** The CLI in a workspace as a server user; git there says someone else (the server's identity must win). */
  // spawned, not spawnSync: a blocked event loop leaves the test's own pooled connections to be closed under it
  const as = (user: User, w: 'a' | 'b', ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => asWith({}, user, w, ...args);
  /** `as`, with more environment or another server address (`uri`). */
  const asWith = (
    extra: { env?: NodeJS.ProcessEnv; uri?: string },
    user: User,
    w: 'a' | 'b',
    ...args: string[]
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((done) => {
      const child = spawn(process.execPath, [CLI, ...args, '--backend', 'mlflow', '--tracking-uri', extra.uri ?? server.uri], {
        cwd: ws(w),
        env: {
          ...process.env,
          ...extra.env,
          MLOOP_STORE: '',
          MLFLOW_TRACKING_USERNAME: user,
          MLFLOW_TRACKING_PASSWORD: USERS[user],
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_COUNT: '2',
          GIT_CONFIG_KEY_0: 'user.name',
          GIT_CONFIG_VALUE_0: 'Mallory',
          GIT_CONFIG_KEY_1: 'user.email',
          GIT_CONFIG_VALUE_1: 'mallory@example.com',
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('close', (code) => done({ code, stdout, stderr }));
    });

  before(async () => {
    ({ dir: root, cleanup } = tempDir('mloop-team-auth-'));
    server = await startMlflowServer(root, { auth: true });
    // the users, created through MLflow's auth API by its admin
    for (const [username, password] of Object.entries(USERS)) {
      const r = await fetch(`${server.uri}/api/2.0/mlflow/users/create`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Basic ${Buffer.from(`${AUTH_ADMIN.username}:${AUTH_ADMIN.password}`).toString('base64')}`,
        },
        body: JSON.stringify({ username, password }),
      });
      assert.equal(r.status, 200, `users/create ${username}: ${await r.text()}`);
    }
    const deployScript = [
      "const fs = require('node:fs');",
      // what the target received: the version and whether the downloaded MLflow model is there
      "fs.appendFileSync('deployed.txt', `${process.argv[2]} ${fs.existsSync(require('node:path').join(process.argv[3], 'MLmodel'))}\\n`);",
    ].join('\n');
    for (const w of ['a', 'b'] as const) {
      mkdirSync(ws(w));
      const r = spawnSync(process.execPath, [CLI, 'init', ws(w)], { encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
      assert.equal(r.status, 0, r.stderr);
      writeFileSync(
        join(ws(w), 'mloop.yaml'),
        [
          'version: 1',
          'datasets:',
          '  weather: { path: weather.csv }',
          'models:',
          '  weather-clf:',
          '    label: weather',
          'targets:',
          '  prod:',
          `    command: [${JSON.stringify(process.execPath)}, deploy.js, "\${model.version}", "\${model.path}"]`,
          '    serve: false',
          '    protected: true',
          '    approvals: { required: 1, expires_after: 1h }',
          '',
        ].join('\n'),
      );
      writeFileSync(join(ws(w), 'deploy.js'), deployScript);
    }
    // B's data: the measurements and the label (the model reads the four numeric columns)
    const rows = readFileSync(WEATHER, 'utf8').trim().split('\n');
    const header = rows[0]!.split(',');
    const keep = ['precipitation', 'temp_max', 'temp_min', 'wind', 'weather'].map((c) => header.indexOf(c));
    writeFileSync(join(ws('b'), 'weather.csv'), `${rows.map((line) => keep.map((i) => line.split(',')[i]).join(',')).join('\n')}\n`);
    copyFileSync(join(ws('b'), 'weather.csv'), join(ws('a'), 'weather.csv'));
  });

  after(async () => {
    await server?.stop();
    cleanup?.();
  });

  it('the server identifies its users (users/current), whatever git says', async () => {
    assert.equal(await backendAs('ann').authenticatedUser(), 'ann');
    assert.equal(await backendAs('bob').authenticatedUser(), 'bob');
    await assert.rejects(new MlflowBackend({ trackingUri: server.uri, username: 'bob', password: 'wrong' }).authenticatedUser(), /401|authenticat/i);
  });

  let runId: string;
  it('a version registered on the server by A is evaluated by B: downloaded by the MLflow client, mirrored with its lineage', async function () {
    this.timeout(600_000); // training, a download and an evaluation in three Python processes
    // A (ann) trains with the real MLflow client and registers on the server; @champion set there
    const trained = await pythonJson<{ runId: string; accuracy: number }>({
      args: [
        '-c',
        [
          'import sys, json, mlflow, pandas as pd',
          'from sklearn.linear_model import LogisticRegression',
          'df = pd.read_csv(sys.argv[1]); X = df[["precipitation", "temp_max", "temp_min", "wind"]]; y = df["weather"]',
          'mlflow.set_experiment("weather")',
          'with mlflow.start_run(run_name="logistic") as run:',
          '    m = LogisticRegression(max_iter=2000).fit(X, y)',
          '    mlflow.log_param("max_iter", 2000); mlflow.log_metric("accuracy", float(m.score(X, y)))',
          '    mlflow.sklearn.log_model(m, name="model", registered_model_name="weather-clf", pip_requirements=["scikit-learn"])',
          'c = mlflow.MlflowClient(); c.set_registered_model_alias("weather-clf", "champion", 1)',
          'print(json.dumps({"runId": run.info.run_id, "accuracy": float(m.score(X, y))}))',
        ].join('\n'),
        join(ws('a'), 'weather.csv'),
      ],
      env: { ...mlflowEnv({ uri: server.uri }), MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: USERS.ann },
    });
    runId = trained.runId;
    const evaluated = await as('bob', 'b', 'evaluate', 'weather-clf/1', '--dataset', 'weather', '--no-shap', '--repeats', '1', '--json');
    assert.equal(evaluated.code, 0, evaluated.stderr + evaluated.stdout);
    assert.match(evaluated.stderr, new RegExp(`copied models:/weather-clf/1 from ${server.uri}`));
    const evaluation = JSON.parse(evaluated.stdout) as { metrics: Record<string, { value: number }> };
    // the model scored on the same rows by scikit-learn in the test's own Python: the same accuracy
    assert.ok(Math.abs(evaluation.metrics.accuracy!.value - trained.accuracy) < 1e-12, `${evaluation.metrics.accuracy!.value} ≠ ${trained.accuracy}`);

    const store = openStore({ path: join(ws('b'), '.mloop', 'mloop.db'), readonly: true });
    try {
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const v1 = models.version(model.modelId, 1)!;
      assert.equal(v1.sourceRunId, runId, 'the source run keeps its server id');
      assert.equal(models.versionByAlias(model.modelId, 'champion')?.version, 1, "the server's alias holds here");
      const tags = Object.fromEntries(
        (store.db.prepare('SELECT key, value FROM tag WHERE run_id = ?').all(runId) as { key: string; value: string }[]).map((t) => [t.key, t.value]),
      );
      assert.equal(tags['mloop.server'], server.uri);
      assert.equal(tags['mloop.server.source'], 'models:/weather-clf/1');
      const pulled = new AuditRepository(store).list().find((e) => e.action === 'model.pull');
      assert.equal(pulled?.actor, 'bob', 'pulled as the server user, not git’s Mallory');
    } finally {
      store.close();
    }
    const lineage = spawnSync(process.execPath, [CLI, 'lineage', 'weather-clf/1', '--json'], {
      cwd: ws('b'),
      encoding: 'utf8',
      env: { ...process.env, MLOOP_STORE: '' },
    });
    assert.equal(lineage.status, 0, lineage.stderr);
    assert.match(lineage.stdout, new RegExp(runId), 'the local lineage walks to the mirrored server run');
  });

  it('`mloop monitor --once` and `mloop drift --model` with --backend mlflow in A check the server’s champion: copied into the store first, the reports stored with it', async function () {
    this.timeout(300_000);
    const config = readFileSync(join(ws('a'), 'mloop.yaml'), 'utf8');
    writeFileSync(join(ws('a'), 'mloop.yaml'), `${config}monitoring:\n  weather-clf:\n    reference: weather.csv\n    current: weather.csv\n`);
    try {
      const monitored = await as('ann', 'a', 'monitor', 'weather-clf', '--once', '--json');
      assert.equal(monitored.code, 0, monitored.stderr + monitored.stdout);
      assert.match(monitored.stderr, new RegExp(`copied models:/weather-clf/1 from ${server.uri}`), 'the champion is copied before the checks');
      const result = JSON.parse(monitored.stdout) as { models: { model: string; drift?: { dataset_drift: boolean } }[]; errors: number };
      assert.equal(result.errors, 0);
      assert.deepEqual(
        result.models.map((m) => [m.model, m.drift?.dataset_drift]),
        [['weather-clf', false]],
      );
      // the copy is held now: drift --model names the same version without downloading it again
      const drifted = await as('ann', 'a', 'drift', '--model', 'weather-clf', '--reference', 'weather.csv', '--current', 'weather.csv', '--json');
      assert.equal(drifted.code, 0, drifted.stderr + drifted.stdout);
      assert.doesNotMatch(drifted.stderr, /copied models:/);
      assert.equal((JSON.parse(drifted.stdout) as { dataset_drift: boolean }).dataset_drift, false);
      const store = openStore({ path: join(ws('a'), '.mloop', 'mloop.db'), readonly: true });
      try {
        const models = new ModelRepository(store);
        assert.equal(models.versionByAlias(models.byName('weather-clf')!.modelId, 'champion')?.version, 1, "the server's champion is A's");
        const reports = new DriftReportRepository(store).list({ limit: 50 }).filter((r) => r.modelName === 'weather-clf');
        assert.equal(reports.length, 2, 'the monitor’s and the drift check’s reports, stored with the model');
        // and published by the command itself (teammates see them)
        const onServer = await listTeamDriftReports(new TeamLedger(backendAs('ann')), { modelName: 'weather-clf' });
        assert.deepEqual(
          reports.map((r) => r.driftReportId).filter((id) => onServer.some((o) => o.driftReportId === id)),
          reports.map((r) => r.driftReportId),
        );
      } finally {
        store.close();
      }
    } finally {
      writeFileSync(join(ws('a'), 'mloop.yaml'), config);
    }
  });

  let requestId: string;
  it('a deploy to a protected target from B creates the request on the server as B’s server user; B cannot approve it', async () => {
    const asked = await as('bob', 'b', 'deploy', 'weather-clf@champion', '--target', 'prod', '--reason', 'release');
    assert.equal(asked.code, 6, asked.stderr + asked.stdout);
    requestId = /request #([0-9a-f]{16}) created/.exec(asked.stdout)![1]!;
    assert.ok(!existsSync(join(ws('b'), 'deployed.txt')), 'nothing deployed yet');
    const self = await as('bob', 'b', 'approve', requestId, '--comment', 'mine');
    assert.equal(self.code, 1, self.stdout);
    assert.match(self.stderr, /bob requested .* self-approval is refused/);
    const early = await as('bob', 'b', 'deploy', 'weather-clf@champion', '--target', 'prod', '--request', requestId);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /is pending, not approved/);
  });

  it('A approves as its server user; B’s deploy then proceeds, once; the decision names the server users', async () => {
    const approved = await as('ann', 'a', 'approve', requestId.slice(0, 8), '--comment', 'looks fine', '--json');
    assert.equal(approved.code, 0, approved.stderr + approved.stdout);
    const request = await getTeamRequest(new TeamLedger(backendAs('bob')), requestId);
    assert.deepEqual(
      [request.kind, request.subject, request.requestedBy, request.identityProven, request.status, request.decidedBy],
      ['deploy', 'prod', 'bob', true, 'approved', 'ann'],
    );
    const done = await as('bob', 'b', 'deploy', 'weather-clf@champion', '--target', 'prod', '--request', requestId);
    assert.equal(done.code, 0, done.stderr + done.stdout);
    assert.equal(readFileSync(join(ws('b'), 'deployed.txt'), 'utf8'), '1 true\n', 'the target got v1 and the downloaded MLflow model folder');
    const twice = await as('bob', 'b', 'deploy', 'weather-clf@champion', '--target', 'prod', '--request', requestId);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /was used by a deployment by bob on .*ask for a new approval/);
    // published as it happened (no "team sync"): A reads B's deployment and B's audit entries of it
    const ledger = new TeamLedger(backendAs('ann'));
    const deployments = await listTeamDeployments(ledger);
    assert.deepEqual(
      deployments.map((d) => [d.modelName, d.version, d.target, d.status, d.publishedBy]),
      [['weather-clf', 1, 'prod', 'healthy', 'bob']],
    );
    const trail = await verifyTeamTrail(ledger);
    assert.equal(trail.ok, true, JSON.stringify(trail.problem));
    const storeB = openStore({ path: join(ws('b'), '.mloop', 'mloop.db'), readonly: true });
    const writerB = workspaceWriter(storeB);
    const localB = new AuditRepository(storeB).list().length;
    assert.equal(verifyChain(storeB.db).ok, true);
    storeB.close();
    const fromB = trail.trail.filter((e) => e.writer === writerB);
    assert.equal(fromB.length, localB, "every entry of B's chain is on the server");
    assert.ok(fromB.some((e) => e.action === 'approval.execute' && e.entity_id === requestId && e.actor === 'bob'));
    assert.ok(fromB.some((e) => e.action === 'deploy' && e.actor === 'bob'));
  });

  it('an expired request cannot be approved', async () => {
    const storeA = openStore({ path: join(ws('a'), '.mloop', 'mloop.db') });
    const storeB = openStore({ path: join(ws('b'), '.mloop', 'mloop.db') });
    try {
      const old = await requestTeamApproval(
        { ledger: new TeamLedger(backendAs('bob')), store: storeB, actor: 'bob', identityProven: true },
        {
          kind: 'deploy',
          modelName: 'weather-clf',
          version: 1,
          subject: 'prod',
          action: {},
          policy: { required: 1, reviewers: [], expiresAfterMs: 3_600_000 },
          now: Date.now() - 2 * 3_600_000,
        },
      );
      await assert.rejects(
        decideTeamRequest(
          { ledger: new TeamLedger(backendAs('ann')), store: storeA, actor: 'ann' },
          { requestId: old.requestId, decision: 'approve', comment: 'late' },
        ),
        (e: Error) => e instanceof ApprovalError && /expired on/.test(e.message),
      );
      assert.equal((await getTeamRequest(new TeamLedger(backendAs('ann')), old.requestId)).status, 'expired');
    } finally {
      storeA.close();
      storeB.close();
    }
  });

  it('publishing queues while the server is unreachable and publishes later, once (nothing lost, nothing twice)', async () => {
    // a relay in front of the server: closed first, then forwarding
    const port = await freePort();
    const relayUri = `http://127.0.0.1:${port}`;
    const target = new URL(server.uri);
    const relay: Server = createServer((req, res) => {
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    const store = openStore({ path: join(ws('a'), '.mloop', 'mloop.db') });
    const states: boolean[] = [];
    const publisher = new TeamPublisher({
      store,
      ledger: new TeamLedger(backendAs('ann', relayUri)),
      actor: async () => 'ann',
      retryMs: 200,
      maxRetryMs: 400,
      debounceMs: 10,
      onState: (s) => states.push(s.pending),
    });
    try {
      new MonitoringReportRepository(store).add({ modelName: 'weather-clf', kind: 'performance', alert: false, summary: 'accuracy 0.8', result: { n: 10 } });
      new AuditRepository(store).record({ actor: 'ann', action: 'note', entityType: 'team', entityId: 'offline', reason: 'written offline' });
      const offline = await publisher.flush();
      assert.equal(offline.pending, true);
      assert.match(offline.lastError ?? '', /unreachable at .*connection refused|ECONNREFUSED/i);
      await new Promise<void>((done) => relay.listen(port, '127.0.0.1', done));
      // no call from here: the retry timer publishes once the server answers
      const deadline = Date.now() + 60_000;
      while (publisher.state.pending || publisher.state.lastError) {
        if (Date.now() > deadline) assert.fail(`still pending: ${publisher.state.lastError}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(publisher.state.failures === 0 && (publisher.state.last?.reports ?? 0) >= 1, JSON.stringify(publisher.state));
      const ledger = new TeamLedger(backendAs('bob'));
      const writerA = workspaceWriter(store);
      const reports = await listTeamMonitoringReports(ledger, { modelName: 'weather-clf' });
      assert.deepEqual(
        reports.filter((r) => r.writer === writerA).map((r) => r.summary),
        ['accuracy 0.8'],
      );
      const trail = await verifyTeamTrail(ledger);
      assert.ok(trail.trail.some((e) => e.writer === writerA && e.reason === 'written offline'));
      // again: nothing new is written (idempotent by content)
      const again = await publisher.flush();
      assert.deepEqual([again.last?.auditEntries, again.last?.reports, again.last?.deployments], [0, 0, 0]);
      const records = await new TeamLedger(backendAs('bob')).read('monitoring', { writer: writerA! });
      assert.equal(records.length, 1, 'one record per report');
    } finally {
      publisher.dispose();
      store.close();
      await new Promise<void>((done) => relay.close(() => done()));
    }
  });

  it('`mloop retrain --backend mlflow` in B registers the next version on the server as an MLflow model that A loads with mlflow.pyfunc', async function () {
    this.timeout(600_000); // a training run and two MLflow client processes
    // B's pipeline of the model: the champion's params (max_iter from its server run) on the data on disk now
    writeFileSync(
      join(ws('b'), 'train.py'),
      [
        'import pickle, sys, pandas as pd',
        'from sklearn.linear_model import LogisticRegression',
        'df = pd.read_csv("weather.csv").iloc[50:]',
        'X = df[["precipitation", "temp_max", "temp_min", "wind"]]',
        'm = LogisticRegression(max_iter=int(sys.argv[1])).fit(X, df["weather"])',
        'pickle.dump(m, open("model.pkl", "wb"))',
        'print(f"::mloop metric name=accuracy value={m.score(X, df[\'weather\'])}", flush=True)',
      ].join('\n'),
    );
    const config = readFileSync(join(ws('b'), 'mloop.yaml'), 'utf8');
    writeFileSync(
      join(ws('b'), 'mloop.yaml'),
      `${config.trimEnd().replace('    label: weather', '    label: weather\n    gate: ["accuracy >= 0.5"]')}\npipelines:\n  train:\n    command: [${JSON.stringify(PYTHON)}, train.py, "\${params.max_iter}"]\n    params: { max_iter: 100 }\n    inputs: [weather]\n    outputs: [model.pkl]\n    model: { name: weather-clf, path: model.pkl }\n`,
    );
    const retrained = await as('bob', 'b', 'retrain', 'weather-clf', '--json');
    assert.equal(retrained.code, 0, retrained.stderr + retrained.stdout);
    const outcome = JSON.parse(retrained.stdout) as {
      version: number;
      server: { uri: string; version: number; runId: string } | null;
      recipe: { params: Record<string, string> };
    };
    assert.equal(outcome.recipe.params.max_iter, '2000', "the server champion's params");
    assert.deepEqual(
      [outcome.server?.uri, outcome.server?.version, outcome.version],
      [server.uri, 2, 2],
      'the next version on the server, the same number here',
    );
    // progress on stderr, the JSON alone on stdout
    assert.match(retrained.stderr, /uploading weather-clf v\d+ to .* as an MLflow model/);
    assert.match(retrained.stderr, new RegExp(`registered on ${server.uri.replace(/\./g, '\\.')} as v2`));
    const onServer = (await backendAs('ann').modelVersions('weather-clf')).find((v) => v.version === 2)!;
    assert.deepEqual(onServer.aliases, ['challenger']);
    assert.equal(onServer.tags['mloop.retrained_from'], '1');
    assert.equal(onServer.runId, outcome.server!.runId);

    // A, a teammate with nothing of B's: loads models:/weather-clf/2 through MLflow's own pyfunc and sklearn loaders; its
    // predictions equal those of the pickle B's pipeline wrote, loaded here with pickle (no MLflow)
    const loaded = await pythonJson<{ pyfunc: string[]; sklearn: string[]; own: string[]; flavours: string[] }>({
      args: [
        '-c',
        [
          'import sys, json, pickle, mlflow.pyfunc, pandas as pd',
          'df = pd.read_csv(sys.argv[1]); X = df[["precipitation", "temp_max", "temp_min", "wind"]]',
          'model = mlflow.pyfunc.load_model("models:/weather-clf/2")',
          'own = pickle.load(open(sys.argv[2], "rb"))',
          'print(json.dumps({"pyfunc": [str(p) for p in model.predict(X)], "sklearn": [str(p) for p in model.get_raw_model().predict(X)], "own": [str(p) for p in own.predict(X)], "flavours": sorted(model.metadata.flavors)}))',
        ].join('\n'),
        join(ws('a'), 'weather.csv'),
        join(ws('b'), 'model.pkl'),
      ],
      cwd: ws('a'),
      env: { ...mlflowEnv({ uri: server.uri }), MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: USERS.ann },
    });
    // the pickle on the server (through its artifact proxy) is the very file the pipeline wrote
    const served = await fetch(`${server.uri}/get-artifact?path=${encodeURIComponent('model/model.pkl')}&run_uuid=${onServer.runId}`, {
      headers: { Authorization: `Basic ${Buffer.from(`ann:${USERS.ann}`).toString('base64')}` },
    });
    assert.equal(served.status, 200);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(readFileSync(join(ws('b'), 'model.pkl'))), 'the same bytes');
    assert.deepEqual(loaded.flavours, ['python_function', 'sklearn']);
    assert.equal(loaded.own.length, 1461);
    assert.deepEqual(loaded.pyfunc, loaded.own);
    assert.deepEqual(loaded.sklearn, loaded.own);
    const store = openStore({ path: join(ws('b'), '.mloop', 'mloop.db'), readonly: true });
    try {
      const publish = new AuditRepository(store).list().find((e) => e.action === 'model.publish');
      assert.deepEqual([publish?.actor, publish?.entityId], ['bob', 'weather-clf/2'], 'published as the server user');
    } finally {
      store.close();
    }
  });

  it('`mloop card` with --backend mlflow in A describes the server’s v2 (B’s retrain): copied first, with its mirrored run', async () => {
    const carded = await as('ann', 'a', 'card', 'weather-clf/2', '--format', 'json');
    assert.equal(carded.code, 0, carded.stderr + carded.stdout);
    assert.match(carded.stderr, new RegExp(`copied models:/weather-clf/2 from ${server.uri}`));
    const card = JSON.parse(carded.stdout) as { model: string; version: number; training: { runId: string } };
    const onServer = (await backendAs('ann').modelVersions('weather-clf')).find((v) => v.version === 2)!;
    assert.deepEqual([card.model, card.version, card.training.runId], ['weather-clf', 2, onServer.runId]);
  });

  it('`mloop retrain --backend mlflow` whose artifact is not a model MLflow can load: exit 8, the reason named, no run left on the server', async function () {
    this.timeout(300_000);
    const config = readFileSync(join(ws('b'), 'mloop.yaml'), 'utf8');
    const train = readFileSync(join(ws('b'), 'train.py'), 'utf8');
    // the pipeline writes an ONNX file (no Python library needed to write these bytes): nothing mloop wraps into an MLflow model
    writeFileSync(join(ws('b'), 'mloop.yaml'), config.replaceAll('model.pkl', 'model.onnx'));
    writeFileSync(
      join(ws('b'), 'train.py'),
      'open("model.onnx", "wb").write(b"\\x08\\x07onnx")\nprint("::mloop metric name=accuracy value=0.75", flush=True)\n',
    );
    const published = async (): Promise<{ status: string; tags: Readonly<Record<string, string>> }[]> =>
      (await backendAs('ann').searchRunsWhere('', 1000)).filter((r) => r.tags['mloop.local_run']);
    assert.equal((await published()).length, 1, 'the run of v2');
    try {
      const refused = await as('bob', 'b', 'retrain', 'weather-clf');
      assert.equal(refused.code, 8, refused.stderr + refused.stdout);
      assert.match(
        refused.stderr,
        /retrained in this workspace but not registered on .*: model\.onnx: a model file of type \.onnx cannot be uploaded as an MLflow model; mloop uploads a scikit-learn estimator/,
      );
      assert.deepEqual((await backendAs('ann').modelVersions('weather-clf')).map((v) => v.version).sort(), [1, 2], 'no version registered');
      // bob may not delete runs of ann's experiment (MLflow's auth: MANAGE only): the half-made run ends FAILED, with why
      const runs = await published();
      assert.deepEqual(runs.map((r) => [r.status, /cannot be uploaded as an MLflow model/.test(r.tags['mloop.publish_failed'] ?? '')]).sort(), [
        ['FAILED', true],
        ['FINISHED', false],
      ]);
    } finally {
      writeFileSync(join(ws('b'), 'mloop.yaml'), config);
      writeFileSync(join(ws('b'), 'train.py'), train);
    }
  });

  it('`mloop publish` registers later a version whose retrain ended with exit 8; a repeat does nothing; a server down: exit 8, nothing written', async function () {
    this.timeout(600_000); // a training run and two MLflow client processes
    const serverVersions = async (): Promise<number[]> => (await backendAs('ann').modelVersions('weather-clf')).map((v) => v.version).sort();
    const publishedRuns = async (): Promise<number> => (await backendAs('ann').searchRunsWhere('', 1000)).filter((r) => r.tags['mloop.local_run']).length;
    const storeOf = (): ReturnType<typeof openStore> => openStore({ path: join(ws('b'), '.mloop', 'mloop.db'), readonly: true });
    const publishes = (): string[] => {
      const store = storeOf();
      try {
        return new AuditRepository(store)
          .list()
          .filter((e) => e.action === 'model.publish')
          .map((e) => `${e.entityId} ${e.fromValue}`);
      } finally {
        store.close();
      }
    };
    // v3 of B is the ONNX retrain of the test before: still nothing MLflow can load, said so, nothing registered
    const onnx = await as('bob', 'b', 'publish', 'weather-clf/3');
    assert.equal(onnx.code, 8, onnx.stderr + onnx.stdout);
    assert.match(onnx.stderr, /weather-clf v3 was not published to .*: model\.onnx: a model file of type \.onnx cannot be uploaded as an MLflow model/);
    assert.deepEqual(await serverVersions(), [1, 2]);

    // a retrain whose upload fails (the project's Python is gone: VIRTUAL_ENV names a folder that is not there): exit 8, v4 here only
    const failed = await asWith({ env: { VIRTUAL_ENV: join(root, 'gone-venv') } }, 'bob', 'b', 'retrain', 'weather-clf', '--json');
    assert.equal(failed.code, 8, failed.stderr + failed.stdout);
    assert.match(failed.stderr, /retrained in this workspace but not registered on .*: no Python at ".*gone-venv/);
    const local = (JSON.parse(failed.stdout) as { version: number }).version;
    assert.equal(local, 4);
    assert.deepEqual(await serverVersions(), [1, 2], 'not on the server');
    const runsBefore = await publishedRuns();
    const publishedBefore = publishes();

    // the server unreachable (nothing listens there): exit 8 with the reason, nothing written
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await asWith({ uri: closed }, 'bob', 'b', 'publish', 'weather-clf/4');
    assert.equal(down.code, 8, down.stderr + down.stdout);
    assert.match(down.stderr, new RegExp(`weather-clf v4 was not published to ${closed.replace(/\./g, '\\.')}: .*(unreachable|refused)`, 'i'));
    assert.deepEqual(publishes(), publishedBefore, 'no publish audited');

    // published now: the next number on the server, the version it was retrained from, the very bytes of the pickle
    const sent = await as('bob', 'b', 'publish', 'weather-clf/4', '--json');
    assert.equal(sent.code, 0, sent.stderr + sent.stdout);
    const outcome = JSON.parse(sent.stdout) as {
      outcome: string;
      version: number;
      server: { uri: string; version: number; runId: string };
      retrainedFrom: number;
    };
    assert.deepEqual(
      [outcome.outcome, outcome.server.uri, outcome.server.version, outcome.retrainedFrom, outcome.version],
      ['published', server.uri, 3, 1, 4],
      "server v3; here it stays v4 (this store's v3 is the ONNX version)",
    );
    assert.deepEqual(await serverVersions(), [1, 2, 3]);
    const v3 = (await backendAs('ann').modelVersions('weather-clf')).find((v) => v.version === 3)!;
    assert.equal(v3.runId, outcome.server.runId);
    assert.deepEqual([v3.tags['mloop.retrained_from'], v3.tags['mloop.gate.passed']], ['1', 'true']);
    const store = storeOf();
    const challengerHere = new ModelRepository(store).version(new ModelRepository(store).byName('weather-clf')!.modelId, 4)!.aliases.includes('challenger');
    store.close();
    assert.equal(v3.aliases.includes('challenger'), challengerHere, '@challenger moves on the server when it is on this version here');
    const served = await fetch(`${server.uri}/get-artifact?path=${encodeURIComponent('model/model.pkl')}&run_uuid=${v3.runId}`, {
      headers: { Authorization: `Basic ${Buffer.from(`ann:${USERS.ann}`).toString('base64')}` },
    });
    assert.equal(served.status, 200);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(readFileSync(join(ws('b'), 'model.pkl'))), "the pipeline's own pickle");
    assert.deepEqual(publishes(), [`weather-clf/3 v4`, ...publishedBefore], 'audited once, as the server user');
    assert.equal(await publishedRuns(), runsBefore + 1);

    // again: nothing to do, and said so; a copy of a server version likewise
    const again = await as('bob', 'b', 'publish', 'weather-clf/4');
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /weather-clf v4 is already on .* as models:\/weather-clf\/3: nothing to publish/);
    const copy = await as('bob', 'b', 'publish', 'weather-clf/1');
    assert.equal(copy.code, 0, copy.stderr);
    assert.match(copy.stdout, /weather-clf v1 is already on .* as models:\/weather-clf\/1 \(this workspace's copy of it\)/);
    assert.deepEqual(await serverVersions(), [1, 2, 3]);
    assert.equal(await publishedRuns(), runsBefore + 1, 'no run made twice');
    assert.deepEqual(publishes(), [`weather-clf/3 v4`, ...publishedBefore]);
    const missing = await as('bob', 'b', 'publish', 'weather-clf/9');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /weather-clf has no v9 in this workspace's store \(versions: v4, v3, v2, v1\)/);
  });

  // a third MLflow client process (~8 s): in the full run only (MLOOP_TEST_FULL=1), the CI budget being what it is
  (process.env.MLOOP_TEST_FULL === '1' ? it : it.skip)(
    '`mloop publish` of a version trained here saved with skops: wrapped by MLflow with the skops serialization, no retrained_from',
    async function () {
      this.timeout(300_000);
      // B trains a model here and saves it with skops (what the project's example does for its MLflow model)
      const file = join(root, 'tree.skops');
      await pythonJson({
        args: [
          '-c',
          [
            'import sys, json, pandas as pd, skops.io as sio',
            'from sklearn.tree import DecisionTreeClassifier',
            'df = pd.read_csv(sys.argv[1])',
            'm = DecisionTreeClassifier(max_depth=3, random_state=0).fit(df[["precipitation", "temp_max", "temp_min", "wind"]], df["weather"])',
            'sio.dump(m, sys.argv[2]); print("{}")',
          ].join('\n'),
          join(ws('b'), 'weather.csv'),
          file,
        ],
      });
      const store = openStore({ path: join(ws('b'), '.mloop', 'mloop.db') });
      let local: number;
      try {
        const runs = new RunRepository(store);
        const experimentId = new ExperimentRepository(store).ensure('trees').experimentId;
        const run = runs.create({ experimentId, name: 'tree-here', status: 'FINISHED' });
        const dir = runArtifactDir(artifactRootOf(store.path), experimentId, run.runId);
        mkdirSync(dir, { recursive: true });
        copyFileSync(file, join(dir, 'tree.skops'));
        local = new ModelRepository(store).registerVersion({
          name: 'weather-clf',
          sourceRunId: run.runId,
          artifactPath: `runs:/${run.runId}/tree.skops`,
          actor: 'bob',
        }).version;
      } finally {
        store.close();
      }
      const sent = await as('bob', 'b', 'publish', `weather-clf/${local}`, '--json');
      assert.equal(sent.code, 0, sent.stderr + sent.stdout);
      const outcome = JSON.parse(sent.stdout) as { server: { version: number; runId: string }; retrainedFrom: number | null };
      assert.equal(outcome.retrainedFrom, null, 'trained here, not retrained from a server version');
      const v = (await backendAs('ann').modelVersions('weather-clf')).find((x) => x.version === outcome.server.version)!;
      assert.equal(v.tags['mloop.retrained_from'], undefined);
      const mlmodel = await fetch(`${server.uri}/get-artifact?path=${encodeURIComponent('model/MLmodel')}&run_uuid=${outcome.server.runId}`, {
        headers: { Authorization: `Basic ${Buffer.from(`ann:${USERS.ann}`).toString('base64')}` },
      });
      assert.equal(mlmodel.status, 200);
      const text = await mlmodel.text();
      assert.match(text, /serialization_format: skops/);
      assert.match(text, /python_function:/);
      assert.equal((await backendAs('ann').getRun(outcome.server.runId))?.tags['mloop.local_run']?.length, 32);
    },
  );

  it('signatures are published incrementally: a publish with no new signature reads none back from the server', async () => {
    const keys = join(root, 'keys');
    mkdirSync(keys, { recursive: true });
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ann', '-f', join(keys, 'ann')]);
    const reads: string[] = [];
    class CountingLedger extends TeamLedger {
      override read<T = unknown>(kind: Parameters<TeamLedger['read']>[0], where?: Parameters<TeamLedger['read']>[1]): Promise<LedgerRecord<T>[]> {
        reads.push(kind);
        return super.read<T>(kind, where);
      }
    }
    const ledger = new CountingLedger(backendAs('ann'));
    const store = openStore({ path: join(ws('a'), '.mloop', 'mloop.db') });
    const signing = { key: join(keys, 'ann'), namespace: SIGNING_NAMESPACE } as AuditSigningConfig;
    try {
      const audit = new AuditRepository(store);
      audit.record({ actor: 'ann', action: 'note', entityType: 'team', entityId: 'signed-1' });
      const signedFirst = signPendingEntries(store, signing);
      assert.ok(signedFirst >= 1);
      const { writer } = await publishAuditTrail(store, ledger, { actor: 'ann' });
      assert.equal(reads.filter((k) => k === 'audit.signature').length, 1, 'the first publish reads what the server holds');
      assert.equal((await teamSignatures(ledger)).get(writer)?.size, signedFirst);
      reads.length = 0;
      await publishAuditTrail(store, ledger, { actor: 'ann' });
      assert.deepEqual(
        reads.filter((k) => k === 'audit.signature'),
        [],
        'nothing signed since: no read of the signatures',
      );
      audit.record({ actor: 'ann', action: 'note', entityType: 'team', entityId: 'signed-2' });
      assert.equal(signPendingEntries(store, signing), 1);
      reads.length = 0;
      await publishAuditTrail(store, ledger, { actor: 'ann' });
      const onServer = (await teamSignatures(ledger)).get(writer)!;
      assert.equal(onServer.size, signedFirst + 1, 'the new signature is published, the others not again');
      const newest = store.db.prepare('SELECT hash FROM audit ORDER BY audit_id DESC LIMIT 1').pluck().get() as string;
      assert.ok(onServer.has(newest));
      const records = await new TeamLedger(backendAs('bob')).read('audit.signature', { writer });
      assert.equal(records.length, signedFirst + 1, 'one record per signature');
    } finally {
      store.close();
    }
  });
});
