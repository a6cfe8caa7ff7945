import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { MlflowImportReport } from '../../src/core/mlflow/importStore';
import { AuditRepository } from '../../src/core/store/audit';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { TeamLedger } from '../../src/core/backends/teamLedger';
import { getTeamRequest, requestTeamApproval } from '../../src/core/governance/teamApprovals';
import { verifyTeamTrail } from '../../src/core/governance/teamTrail';
import { pollUntil } from '../harness/poll';
import type { TreeNodeSnapshot } from '../../src/vscode/api';
import type { ExperimentsTableSnapshot } from '../../src/vscode/runs/experimentsTablePanel';
import { startMlflowServer, type MlflowServerProcess } from '../unit/mlflowServer';
import { mlflowClientJson, mlflowEnv, PYTHON } from '../support/python';
import { mloopApi, workspaceRoot } from './support';
import { registerTeamServerTests } from './teamServer';

const WEATHER = join(__dirname, '../../../node_modules/vega-datasets/data/seattle-weather.csv');

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

// a run that keeps logging: prints its id, then one loss point every 0.4 s, then ends
const LIVE_RUN = `
import sys, time, mlflow
mlflow.set_experiment("team-weather")
with mlflow.start_run(run_name="team-live") as run:
    print(run.info.run_id, flush=True)
    for step in range(int(sys.argv[1])):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(0.4)
print("done", flush=True)
`;

/** Starts LIVE_RUN against the server; resolves with its run id once it printed it, and its exit. */
function startLiveRun(uri: string, points: number): Promise<{ runId: string; exited: Promise<number | null> }> {
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, ['-c', LIVE_RUN, String(points)], {
      env: mlflowEnv({ uri }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      const line = stdout.split('\n')[0]!;
      if (stdout.includes('\n') && /^[0-9a-f]{32}$/.test(line.trim())) done({ runId: line.trim(), exited });
    });
    child.on('error', fail);
    void exited.then((code) =>
      /^[0-9a-f]{32}\n/.test(stdout) ? undefined : fail(new Error(`live run exited ${code} before printing its id:\n${stderr.slice(-2000)}`)),
    );
  });
}

// N runs in one experiment (the full run: 230, more than the table's page of 200), then what the real client's search_runs returns
const FILL_TABLE = `
import json, random, sys
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
c = MlflowClient()
exp = c.create_experiment("table-remote")
rng = random.Random(19)
for n in range(int(sys.argv[1])):
    run = c.create_run(exp, run_name=f"remote-{n:03d}", start_time=1_700_000_000_000 + n * 1000)
    c.log_batch(run.info.run_id, metrics=[Metric("acc", round(rng.random(), 4), 0, 0)], params=[Param("depth", str([2, 4, 8][n % 3]))], tags=[RunTag("team", "vision" if n % 2 else "nlp")])
    c.set_terminated(run.info.run_id)
def search(filter_string, order_by):
    names, token = [], None
    while True:
        page = c.search_runs([exp], filter_string=filter_string, order_by=order_by, max_results=100, page_token=token)
        names += [r.info.run_name for r in page]
        token = page.token
        if not token:
            return names
print(json.dumps({"experiment_id": exp, "wide": search("metrics.acc > 0.1", ["metrics.acc DESC"]), "narrow": search("params.depth = '8' and tags.team = 'vision'", ["attributes.run_name DESC"])}))
`;

const rows = (nodes: readonly TreeNodeSnapshot[]): string[] =>
  nodes.flatMap((n) => [`${n.label} ${n.description ?? ''}`.trim(), ...n.children.map((c) => `  ${c.label} ${c.description ?? ''}`.trim())]);

/** mloop.backend = mlflow against a real `mlflow server` started here; then importing that server's database. */
export function registerMlflowSuite(): void {
  describe('mlflow backend and import', function () {
    this.timeout(240_000);
    let server: MlflowServerProcess | undefined;
    let runId: string;
    const config = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('mloop');

    before(async function () {
      this.timeout(240_000);
      server = await startMlflowServer(mkdtempSync(join(tmpdir(), 'mloop-int-mlflow-')));
      ({ run_id: runId } = await mlflowClientJson<{ run_id: string }>(server.uri, LOG_RUNS));
    });

    after(async () => {
      await config().update('backend', undefined, vscode.ConfigurationTarget.Workspace);
      await config().update('mlflow.trackingUri', undefined, vscode.ConfigurationTarget.Workspace);
      await server?.stop();
    });

    it('with mloop.backend = mlflow the Runs and Models views show what the real client logged to the server', async () => {
      const api = await mloopApi();
      await config().update('mlflow.trackingUri', server!.uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
      await api.refresh();
      const runs = rows(await api.treeSnapshot('mloop.runs'));
      assert.ok(
        runs.some((r) => r.startsWith('team-weather')),
        `Runs view: ${JSON.stringify(runs)}`,
      );
      assert.ok(
        runs.some((r) => r.startsWith('team-run-1 finished')),
        `Runs view: ${JSON.stringify(runs)}`,
      );
      const models = rows(await api.treeSnapshot('mloop.models'));
      assert.ok(
        models.some((r) => r.startsWith('team-clf champion v1')),
        `Models view: ${JSON.stringify(models)}`,
      );
      assert.ok(
        models.some((r) => r.startsWith('v1 @champion')),
        `Models view: ${JSON.stringify(models)}`,
      );
      assert.equal(api.viewMessage('mloop.runs'), undefined);
      await vscode.commands.executeCommand('mloop.runs.openMetrics', { runId });
      // the tab model follows the panel asynchronously
      let tabs: string[] = [];
      for (let i = 0; i < 40 && !tabs.includes('Metrics'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
      }
      assert.ok(tabs.includes('Metrics'), `a Metrics panel opened for the server's run (tabs: ${JSON.stringify(tabs)})`);
    });

    it('registry commands on server-backed rows: alias set in mloop is seen by the MLflow client and vice versa; a version registered by mloop is in MLflow', async () => {
      const api = await mloopApi();
      assert.equal(config().get('backend'), 'mlflow');
      // Set Alias from the Models view: the row's node carries modelName / version / aliases
      const row = { kind: 'modelVersion', modelName: 'team-clf', version: 1, aliases: ['champion'], alias: 'staging' };
      assert.equal(await vscode.commands.executeCommand('mloop.models.setAlias', row), true);
      const seen = await mlflowClientJson<{ staging: string }>(
        server!.uri,
        `
import json, mlflow
print(json.dumps({"staging": mlflow.MlflowClient().get_model_version_by_alias("team-clf", "staging").version}))`,
      );
      assert.equal(seen.staging, '1');
      // and the other way: an alias set by the python client shows in the Models view after a refresh
      await mlflowClientJson(
        server!.uri,
        `
import json, mlflow
mlflow.MlflowClient().set_registered_model_alias("team-clf", "from-client", "1")
print(json.dumps({}))`,
      );
      await api.refresh();
      const models = rows(await api.treeSnapshot('mloop.models'));
      assert.ok(
        models.some((r) => r.startsWith('v1 @champion @from-client @staging')),
        `Models view: ${JSON.stringify(models)}`,
      );
      // Register Model from a server run row, then Promote, Compare with Champion and Roll Back on it
      const second = await mlflowClientJson<{ run_id: string }>(
        server!.uri,
        `
import json, mlflow
mlflow.set_experiment("team-weather")
with mlflow.start_run(run_name="team-run-2") as run:
    mlflow.log_metric("accuracy", 0.77)
print(json.dumps({"run_id": run.info.run_id}))`,
      );
      const registered = await vscode.commands.executeCommand<{ modelName: string; version: number }>(
        'mloop.models.registerFromRun',
        { kind: 'run', runId: second.run_id },
        'team-clf',
      );
      assert.deepEqual(registered, { modelName: 'team-clf', version: 2 });
      const listed = await mlflowClientJson<{ versions: [string, string, string][] }>(
        server!.uri,
        `
import json, mlflow
vs = sorted(mlflow.MlflowClient().search_model_versions("name='team-clf'"), key=lambda v: int(v.version))
print(json.dumps({"versions": [[v.version, v.run_id, v.source] for v in vs]}))`,
      );
      assert.deepEqual(
        listed.versions.map((v) => v.slice(0, 2)),
        [
          ['1', runId],
          ['2', second.run_id],
        ],
      );
      assert.equal(listed.versions[1]![2], `runs:/${second.run_id}/model`);
      const compared = await vscode.commands.executeCommand<string[]>('mloop.models.compareWithChampion', { modelName: 'team-clf', version: 2 });
      assert.deepEqual(compared, [runId, second.run_id]);
      assert.equal(await vscode.commands.executeCommand('mloop.models.promote', { modelName: 'team-clf', version: 2 }), true);
      const promoted = await mlflowClientJson<{ champion: string }>(
        server!.uri,
        `
import json, mlflow
print(json.dumps({"champion": mlflow.MlflowClient().get_model_version_by_alias("team-clf", "champion").version}))`,
      );
      assert.equal(promoted.champion, '2');
      assert.equal(
        await vscode.commands.executeCommand('mloop.models.rollbackAlias', { modelName: 'team-clf', alias: 'champion', reason: 'integration: back to v1' }),
        true,
      );
      const rolled = await mlflowClientJson<{ champion: string }>(
        server!.uri,
        `
import json, mlflow
print(json.dumps({"champion": mlflow.MlflowClient().get_model_version_by_alias("team-clf", "champion").version}))`,
      );
      assert.equal(rolled.champion, '1');
      // every change is audited in the local store, naming the server
      const audit = new AuditRepository(await api.openStore())
        .list({ limit: 10 })
        .map((a) => `${a.action} ${a.entityId} ${a.fromValue ?? '∅'}→${a.toValue ?? '∅'}`);
      for (const expected of [
        'set_alias team-clf@staging ∅→v1',
        'register team-clf/2 ∅→v2',
        'promote team-clf@champion v1→v2',
        'rollback_alias team-clf@champion v2→v1',
      ]) {
        assert.ok(audit.includes(expected), `audit ${JSON.stringify(audit)} lacks ${expected}`);
      }
    });

    it('Show Lineage on server rows: model version → run → the dataset the client logged with log_input, read from the server', async () => {
      const api = await mloopApi();
      assert.equal(config().get('backend'), 'mlflow');
      // the real client records what team-run-1 read (log_inputs on the finished run, as a late mlflow.log_input)
      const logged = await mlflowClientJson<{ name: string; digest: string; rows: number }>(
        server!.uri,
        `
import json, sys, mlflow, pandas as pd
from mlflow.entities import DatasetInput, InputTag
df = pd.read_csv(sys.argv[2])
ds = mlflow.data.from_pandas(df, source=sys.argv[2], name="seattle-weather", targets="weather")
mlflow.MlflowClient().log_inputs(sys.argv[1], [DatasetInput(ds._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])])
print(json.dumps({"name": ds.name, "digest": ds.digest, "rows": len(df)}))`,
        [runId, WEATHER],
      );
      const datasetNode = `dataset:${logged.name}@${logged.digest}`;
      // the Models view's version row (remote shape) → the panel centred on team-clf v1, read from the server
      const root = await vscode.commands.executeCommand('mloop.lineage.show', {
        kind: 'modelVersion',
        id: 'remote-modelVersion:team-clf:1',
        modelName: 'team-clf',
        version: 1,
      });
      assert.equal(root, 'model:team-clf/1');
      const state = await pollUntil(
        () => {
          const s = api.lineagePanelState();
          return s?.type === 'load' && s.root === 'model:team-clf/1' ? s : undefined;
        },
        { what: 'the Lineage panel to load team-clf v1 from the server', timeoutMs: 60_000 },
      );
      assert.equal(state.origin, 'server');
      assert.equal(state.source, `MLflow server ${server!.uri}`);
      const ids = state.nodes.map((n) => n.id);
      for (const id of ['model:team-clf/1', `run:${runId}`, datasetNode]) assert.ok(ids.includes(id), `${id} in ${JSON.stringify(ids)}`);
      const edges = state.edges.map((e) => `${e.from} -${e.relation}-> ${e.to}`);
      assert.ok(edges.includes(`run:${runId} -registered-> model:team-clf/1`), JSON.stringify(edges));
      assert.ok(edges.includes(`${datasetNode} -input-> run:${runId}`), JSON.stringify(edges));
      assert.match(state.nodes.find((n) => n.id === datasetNode)!.detail, new RegExp(`^${logged.rows.toLocaleString('en-US')} rows`));
      // from the Runs view's server row: downstream, the versions registered from the run
      assert.equal(await vscode.commands.executeCommand('mloop.lineage.show', { kind: 'run', id: `remote-run:${runId}`, runId }), `run:${runId}`);
      const fromRun = await pollUntil(
        () => {
          const s = api.lineagePanelState();
          return s?.type === 'load' && s.root === `run:${runId}` ? s : undefined;
        },
        { what: 'the Lineage panel to re-centre on team-run-1', timeoutMs: 60_000 },
      );
      assert.deepEqual(
        fromRun.nodes.filter((n) => n.kind === 'model').map((n) => n.id),
        ['model:team-clf/1'],
      );
      // typed into the palette's box: an alias on the server
      assert.equal(await vscode.commands.executeCommand('mloop.lineage.show', 'team-clf@staging'), 'model:team-clf/1');
    });

    it('a terminal opened by hand gets the team server in MLFLOW_TRACKING_URI (environmentVariableCollection)', async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'mloop-int-term-')), 'env.txt');
      const terminal = vscode.window.createTerminal({
        name: 'mloop env check',
        shellPath: '/bin/sh',
        shellArgs: ['-c', `printf '%s' "$MLFLOW_TRACKING_URI" > '${out}'`],
      });
      try {
        const uri = await pollUntil(() => (existsSync(out) ? readFileSync(out, 'utf8') : undefined), {
          what: 'the terminal to write its environment',
          timeoutMs: 30_000,
        });
        assert.equal(uri, server!.uri);
      } finally {
        terminal.dispose();
      }
    });

    it('training launched by mloop (its run terminal) logs to the team server: the mlflow client and protocol lines both land on the server run', async () => {
      const api = await mloopApi();
      const root = workspaceRoot();
      const configPath = join(root, 'mloop.yaml');
      const original = existsSync(configPath) ? readFileSync(configPath, 'utf8') : undefined;
      writeFileSync(
        join(root, 'remote_check.py'),
        [
          'import os, mlflow',
          'with mlflow.start_run():',
          '    mlflow.log_metric("from_client", 1.5)',
          'print("::mloop metric name=from_protocol value=2.5 step=0", flush=True)',
          'print("tracking", os.environ["MLFLOW_TRACKING_URI"], flush=True)',
        ].join('\n'),
      );
      writeFileSync(
        configPath,
        `version: 1\npipelines:\n  remote-check:\n    command: [${PYTHON}, remote_check.py]\n    experiment: team-remote\n    env: { MLFLOW_DISABLE_TELEMETRY: "true", GIT_PYTHON_REFRESH: quiet }\n`,
      );
      try {
        const started = await pollUntil(
          async () => {
            try {
              return await api.train('remote-check');
            } catch (error) {
              if (/remote-check|mloop\.yaml/.test((error as Error).message)) return undefined; // mloop.yaml not re-read yet
              throw error;
            }
          },
          { what: 'mloop to read the new mloop.yaml and start remote-check', timeoutMs: 30_000 },
        );
        const outcome = await started.outcome;
        assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
        assert.match(outcome.outputTail, new RegExp(`tracking ${server!.uri.replace(/[.]/g, '\\.')}`));
        const seen = await mlflowClientJson<{ status: string; experiment: string; metrics: Record<string, number> }>(
          server!.uri,
          `
import json, sys, mlflow
c = mlflow.MlflowClient()
r = c.get_run(sys.argv[1])
print(json.dumps({"status": r.info.status, "experiment": c.get_experiment(r.info.experiment_id).name, "metrics": r.data.metrics}))`,
          [started.runId],
        );
        assert.deepEqual(seen, { status: 'FINISHED', experiment: 'team-remote', metrics: { from_client: 1.5, from_protocol: 2.5 } });
      } finally {
        if (original === undefined) rmSync(configPath, { force: true });
        else writeFileSync(configPath, original);
        rmSync(join(root, 'remote_check.py'), { force: true });
      }
    });

    it('the Metrics panel on a RUNNING server run polls the server and its series grows until the run ends', async () => {
      const api = await mloopApi();
      const total = 50; // 0.4 s apart: ~20 s of logging, so the panel opens mid-run even on a loaded machine
      const live = await startLiveRun(server!.uri, total);
      // wait for a first point, so the run has a metric key to chart
      await pollUntil(
        async () =>
          (
            await mlflowClientJson<{ n: number }>(
              server!.uri,
              `
import json, sys, mlflow
print(json.dumps({"n": len(mlflow.MlflowClient().get_metric_history(sys.argv[1], "loss"))}))`,
              [live.runId],
            )
          ).n > 0,
        { what: 'the first logged point', timeoutMs: 60_000 },
      );
      await vscode.commands.executeCommand('mloop.runs.openMetrics', { runId: live.runId });
      const key = `${live.runId}/loss`;
      const first = await pollUntil(
        () => {
          const state = api.metricsPanelState();
          return state?.ready && (state.points[key] ?? 0) > 0 ? state.points[key] : undefined;
        },
        { what: 'the Metrics panel page to load the live run', timeoutMs: 60_000 },
      );
      assert.ok(first < total, `the panel opened while the run was still logging (${first} of ${total})`);
      const grown = await pollUntil(
        () => {
          const n = api.metricsPanelState()?.points[key] ?? 0;
          return n > first ? n : undefined;
        },
        { what: `the live series to grow past ${first} points`, timeoutMs: 30_000 },
      );
      assert.ok(grown > first);
      assert.equal(await live.exited, 0);
      const final = await pollUntil(
        () => {
          const state = api.metricsPanelState();
          return state?.runs.find((r) => r.runId === live.runId)?.status === 'FINISHED' && state.points[key] === total ? state : undefined;
        },
        { what: `all ${total} points and the FINISHED status in the panel`, timeoutMs: 30_000 },
      );
      assert.equal(final.points[key], total);
    });

    it('Import MLflow Store copies the server database into the project store (the embedded views show it)', async () => {
      const api = await mloopApi();
      const report = (await vscode.commands.executeCommand('mloop.project.importMlflow', server!.dbPath)) as MlflowImportReport | undefined;
      assert.ok(report, 'the import command returned no report (see the mloop log)');
      // team-run-1 (20 points), team-run-2 (1), the remote-check training run (2) and team-live (50) from the tests above
      assert.equal(report.found.runs, 4);
      assert.equal(report.found.metricPoints, 20 + 1 + 2 + 50);
      const store = await api.openStore();
      assert.equal(new RunRepository(store).metricHistory(runId, 'accuracy').length, 20);
      await config().update('backend', 'embedded', vscode.ConfigurationTarget.Workspace);
      await api.refresh();
      const runs = rows(await api.treeSnapshot('mloop.runs'));
      assert.ok(
        runs.some((r) => r.startsWith('team-run-1')),
        `embedded Runs view: ${JSON.stringify(runs)}`,
      );
    });

    // after the import above: these two put more runs on the server (40 logged by the client; the team's records)
    it("the Experiments Table on the server: filter and order run server-side (runs/search pages) and the rows equal the real client's search_runs", async () => {
      const api = await mloopApi();
      await config().update('mlflow.trackingUri', server!.uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
      // CI logs 40 runs (one page); MLOOP_TEST_FULL=1 logs 230, so the table also reads a second page as it scrolls
      const full = process.env.MLOOP_TEST_FULL === '1';
      const client = await mlflowClientJson<{ experiment_id: string; wide: string[]; narrow: string[] }>(server!.uri, FILL_TABLE, [full ? '230' : '40']);
      const experimentId = Number(client.experiment_id);
      const table = async (accept: (s: ExperimentsTableSnapshot) => boolean, what: string): Promise<ExperimentsTableSnapshot> =>
        pollUntil(
          () => {
            const s = api.experimentsTableState();
            return s && accept(s) ? s : undefined;
          },
          { what, timeoutMs: 60_000 },
        );
      try {
        // the first screen is one runs/search request; with more matches than a page, the rest is read as the page scrolls
        await vscode.commands.executeCommand('mloop.runs.openTable', { experimentId, filter: 'metrics.acc > 0.1', orderBy: 'metrics.acc DESC' });
        let state = await table((s) => s.ready && s.server !== undefined && s.query.filter === 'metrics.acc > 0.1' && s.matched > 0, 'the remote table');
        assert.ok(
          client.wide.length > (full ? 200 : 20) && client.wide.length < (full ? 230 : 40),
          `the filter keeps most runs, not all: ${client.wide.length}`,
        );
        assert.equal(state.server, server!.uri);
        assert.equal(state.scope, `experiment table-remote on ${server!.uri}`);
        assert.equal(state.requests, 1, 'one runs/search request for the first screen');
        assert.equal(state.more, full);
        assert.equal(state.matched, Math.min(200, client.wide.length), 'the rows the server matched, and no more: the filter ran on the server');
        assert.deepEqual(state.firstNames, client.wide.slice(0, 200), "the server's order: the client's");
        if (full) {
          // the page scrolls past the loaded rows: it asks for them and the host reads the next page of the server
          assert.ok(await api.pageMessage('experimentsTable', { type: 'rows', version: state.version, offset: 200, count: 200 }));
          state = await table((s) => s.more === false, 'the next page read from the server');
          assert.equal(state.requests, 2);
          assert.equal(state.matched, client.wide.length, 'every run the server matched');
        }
        // a narrower filter and another order, from the page's filter box: again the server's answer
        assert.ok(
          await api.pageMessage('experimentsTable', {
            type: 'query',
            query: { filter: "params.depth = '8' and tags.team = 'vision'", orderBy: 'attributes.run_name DESC' },
          }),
        );
        state = await table((s) => s.query.orderBy === 'attributes.run_name DESC' && s.requests === 1, 'the narrow search');
        assert.deepEqual(state.firstNames, client.narrow);
        assert.equal(state.matched, client.narrow.length);
        assert.equal(state.more, false);
        // a filter the parser refuses is shown at its column, before any request reaches the server
        assert.ok(await api.pageMessage('experimentsTable', { type: 'query', query: { filter: 'params.depth = 8', orderBy: '' } }));
        state = await table((s) => s.error !== undefined, 'the filter error');
        assert.equal(state.error?.column, 16);
        assert.deepEqual(state.firstNames, client.narrow, 'the rows in view stay');
      } finally {
        await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      }
    });

    it('team rows: the Audit view shows the request and entries another workspace put on the server; this workspace publishes as it writes, and approves from the view', async () => {
      const api = await mloopApi();
      const backendBefore = config().inspect<string>('backend')?.workspaceValue;
      await config().update('mlflow.trackingUri', server!.uri, vscode.ConfigurationTarget.Workspace);
      await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
      // a second workspace (its own store file) writes through the team ledger, as Bob
      const otherDir = mkdtempSync(join(tmpdir(), 'mloop-int-team-'));
      const other = openStore({ path: join(otherDir, 'mloop.db') });
      const ledger = new TeamLedger(new MlflowBackend({ trackingUri: server!.uri }));
      const BOB = 'Bob <bob@example.com>';
      // Approve… needs a project (run alone, no earlier test wrote its mloop.yaml)
      const configPath = join(workspaceRoot(), 'mloop.yaml');
      const wroteConfig = !existsSync(configPath);
      if (wroteConfig) writeFileSync(configPath, 'version: 1\n');
      try {
        new AuditRepository(other).record({ actor: BOB, action: 'note', entityType: 'team', entityId: 'from-bob', reason: 'written in B' });
        const request = await requestTeamApproval(
          { ledger, store: other, actor: BOB },
          { kind: 'deploy', modelName: 'team-clf', version: 1, subject: 'prod', action: {}, policy: { required: 1, reviewers: [], expiresAfterMs: 3_600_000 } },
        );
        // this workspace writes an entry: published with no sync (the store's change event)
        new AuditRepository(await api.openStore()).record({
          actor: 'tester',
          action: 'note',
          entityType: 'team',
          entityId: 'from-editor',
          reason: 'written in VS Code',
        });
        await pollUntil(async () => ((await verifyTeamTrail(ledger)).trail.some((e) => e.entity_id === 'from-editor') ? true : undefined), {
          what: "this workspace's new audit entry to be published to the server",
          timeoutMs: 180_000, // its whole chain goes up first, one record per entry
        });
        await api.refresh();
        const audit = rows(await api.treeSnapshot('mloop.audit'));
        assert.match(audit[0] ?? '', /^Team trail verified ✓ \d+ entries 2 workspaces/, JSON.stringify(audit));
        assert.ok(
          audit.some((r) => r.startsWith(`Request ${request.requestId.slice(0, 8)}: deploying team-clf v1 to prod pending · by ${BOB}`)),
          `Audit view: ${JSON.stringify(audit)}`,
        );
        assert.ok(
          audit.some((r) => r.startsWith('note from-bob Bob <bob@example.com>')),
          `Audit view: ${JSON.stringify(audit)}`,
        );
        assert.ok(
          audit.some((r) => r.startsWith('note from-editor tester')),
          `Audit view: ${JSON.stringify(audit)}`,
        );
        // Approve Request… on the server row, as this workspace's identity (not Bob)
        const status = await vscode.commands.executeCommand(
          'mloop.audit.approveRequest',
          { kind: 'teamRequest', requestId: request.requestId, modelName: 'team-clf' },
          'integration: approved from the view',
        );
        assert.equal(status, 'approved');
        const decided = await getTeamRequest(ledger, request.requestId);
        assert.equal(decided.status, 'approved');
        assert.notEqual(decided.decidedBy, BOB);
        assert.ok(!rows(await api.treeSnapshot('mloop.audit')).some((r) => r.startsWith(`Request ${request.requestId.slice(0, 8)}`)), 'no longer pending');
      } finally {
        other.close();
        rmSync(otherDir, { recursive: true, force: true });
        if (wroteConfig) rmSync(configPath, { force: true });
        await config().update('backend', backendBefore, vscode.ConfigurationTarget.Workspace);
      }
    });

    registerTeamServerTests(
      () => server!,
      async () => {
        // the same address and database: the server a workspace knew comes back
        server = await startMlflowServer(dirname(server!.dbPath), { port: Number(new URL(server!.uri).port), dbPath: server!.dbPath });
      },
    );

    // a suite of its own, after the team server's: mocha runs a suite's own tests before its child suites, so as a
    // plain test this stopped the server before the team server tests that need it ran
    describe('the server stopped', () => {
      it('when the server stops, the views say "MLflow backend unreachable" instead of breaking', async () => {
        const api = await mloopApi();
        await config().update('backend', 'mlflow', vscode.ConfigurationTarget.Workspace);
        await server!.stop();
        await api.refresh();
        const runs = await api.treeSnapshot('mloop.runs');
        assert.deepEqual(runs, []);
        assert.match(api.viewMessage('mloop.runs') ?? '', /MLflow backend unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
        await api.treeSnapshot('mloop.models');
        assert.match(api.viewMessage('mloop.models') ?? '', /MLflow backend unreachable/);
        // the Lineage panel says so too, instead of a stale or empty graph
        await vscode.commands.executeCommand('mloop.lineage.show', { kind: 'run', id: `remote-run:${runId}`, runId }, 2);
        const problem = await pollUntil(
          () => {
            const s = api.lineagePanelState();
            return s?.type === 'problem' && /unreachable/.test(s.message) ? s : undefined;
          },
          { what: 'the Lineage panel to report the stopped server', timeoutMs: 60_000 },
        );
        assert.match(problem.message, /MLflow backend unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
      });
    });
  });
}
