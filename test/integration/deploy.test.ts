import * as assert from 'node:assert/strict';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { DeployOutcome } from '../../src/core/deploy/deploy';
import type { ShadowReport } from '../../src/core/deploy/shadow';
import type { AbTargetReport } from '../../src/core/gateway/abRollout';
import { DeploymentRepository } from '../../src/core/store/deployments';
import type { DeployCommandResult } from '../../src/vscode/deployments/taskOutcome';
import { mloopUriHandler } from '../../src/vscode/runs/uriHandler';
import type { RetrainOutcome } from '../../src/core/retrain/retrain';
import { AuditRepository } from '../../src/core/store/audit';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { mloopApi, workspaceRoot } from './support';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free loopback port, asked of the kernel. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

function predict(
  url: string,
  rows: readonly object[] = [{ date: '2015-07-01', precipitation: 0, temp_max: 27, temp_min: 14, wind: 3 }],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { predictions: string[]; version: string } }> {
  return new Promise((done, fail) => {
    const body = JSON.stringify({ rows });
    const req = request(
      `${url}/predict`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
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

/** The closed loop from the palette: train, deploy to `local`, retrain, deploy the challenger, roll back. */
export function registerDeploySuite(): void {
  describe('retrain and deploy from the editor', function () {
    this.timeout(300_000);

    before(() => {
      for (const item of ['train.py', 'serve.py', 'simulate.py', 'data']) cpSync(join(EXAMPLE, item), join(workspaceRoot(), item), { recursive: true });
      // a free port instead of 8765: other test runs may share this machine
      // register: always: this suite's run must become a version whatever earlier suites registered (the default, if_better, compares)
      writeFileSync(
        join(workspaceRoot(), 'mloop.yaml'),
        readFileSync(join(EXAMPLE, 'mloop.yaml'), 'utf8')
          .replace(/^\s+port: 8765\n/m, '')
          .replaceAll('      path: model.pkl\n', '      path: model.pkl\n      register: always\n'),
      );
    });

    after(async () => {
      await vscode.commands.executeCommand('mloop.deployments.stop', { target: 'local' });
    });

    it('Deploy Version… puts the champion on the local target: health and smoke test pass, it answers, the tree shows it', async () => {
      const api = await mloopApi();
      const { runId, outcome } = await api.train('train', { n_estimators: '30' });
      assert.equal((await outcome).status, 'FINISHED');
      const store = await api.openStore();
      const models = new ModelRepository(store);
      let model = models.byName('weather-clf');
      for (let i = 0; i < 80 && !models.versions(model?.modelId ?? -1).some((v) => v.sourceRunId === runId); i++) {
        await new Promise((r) => setTimeout(r, 250));
        model = models.byName('weather-clf');
      }
      const version = models.versions(model!.modelId).find((v) => v.sourceRunId === runId);
      assert.ok(version, 'the run registered a version');
      assert.equal(await vscode.commands.executeCommand('mloop.models.promote', { modelName: 'weather-clf', version: version.version }), true);

      const deployed = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.deploy', {
        modelName: 'weather-clf',
        version: version.version,
        target: 'local',
      });
      assert.ok(deployed, 'mloop.deployments.deploy returned nothing (see the mloop log)');
      assert.equal(deployed.status, 'healthy', deployed.reason);
      assert.ok(
        deployed.checks.some((c) => /smoke test/.test(c.step) && c.ok),
        JSON.stringify(deployed.checks),
      );
      const url = deployed.deployment.health?.process?.url;
      assert.ok(url);
      const answer = await predict(url);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.version, String(version.version));
      assert.equal(answer.body.predictions.length, 1);

      await api.refresh();
      const targets = await api.treeSnapshot('mloop.deployments');
      const local = targets.find((t) => t.label === 'local');
      assert.ok(local, JSON.stringify(targets));
      assert.match(local.description ?? '', new RegExp(`weather-clf v${version.version} · blue/green · ✓ healthy · 100%`));
      assert.equal(local.contextValue, 'target.serving');
      assert.equal(local.children.length, 1);
    });

    it('Retrain Model… rebuilds the recipe, registers a challenger gated against the champion', async () => {
      // the code changed since the champion (else Retrain asks first and offers no challenger: a copy of the champion)
      appendFileSync(join(workspaceRoot(), 'train.py'), '\n# edited after the champion\n');
      const outcome = await vscode.commands.executeCommand<RetrainOutcome | undefined>('mloop.models.retrain', { modelName: 'weather-clf' });
      assert.ok(outcome, 'mloop.models.retrain returned nothing (see the mloop log)');
      const store = await (await mloopApi()).openStore();
      assert.equal(new RunRepository(store).params(outcome.runId).n_estimators, '30', "the champion run's params were reused");
      assert.equal(outcome.challenger, true);
      assert.deepEqual(outcome.version.aliases, ['challenger']);
      assert.equal(outcome.gate?.passed, true, 'the example gate (accuracy >= 0.7) ran and passed');
      const models = new ModelRepository(store);
      assert.equal(outcome.champion?.version, models.versionByAlias(models.byName('weather-clf')!.modelId, 'champion')?.version, 'compared with the champion');
      assert.match(outcome.summary, /^weather-clf v\d+ trained: accuracy 0\.\d+ \(champion v\d+: 0\.\d+\)/);
      const inputs = store.db.prepare('SELECT count(*) FROM run_input WHERE run_id = ?').pluck().get(outcome.runId);
      assert.equal(inputs, 1, 'lineage: the run is linked to its data version');
    });

    it('deploying the challenger replaces the champion; Roll Back brings the champion back, audited with the reason', async () => {
      const store = await (await mloopApi()).openStore();
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const challenger = models.versionByAlias(model.modelId, 'challenger')!;
      const champion = models.versionByAlias(model.modelId, 'champion')!;
      const deployed = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.deploy', {
        modelName: 'weather-clf',
        version: challenger.version,
        target: 'local',
      });
      assert.equal(deployed?.status, 'healthy', deployed?.reason);
      assert.equal((await predict(deployed.deployment.health!.process!.url!)).body.version, String(challenger.version));

      const rolled = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.rollback', {
        target: 'local',
        reason: 'integration test',
      });
      assert.equal(rolled?.status, 'healthy', rolled?.reason);
      assert.equal((await predict(rolled.deployment.health!.process!.url!)).body.version, String(champion.version));
      const entry = new AuditRepository(store).list().find((a) => a.action === 'deploy.rollback');
      assert.equal(entry?.reason, 'integration test');
      const health = await vscode.commands.executeCommand<{ ok: boolean; detail: string } | undefined>('mloop.deployments.checkHealth', { target: 'local' });
      assert.equal(health?.ok, true, health?.detail);

      const api = await mloopApi();
      await api.refresh();
      const local = (await api.treeSnapshot('mloop.deployments')).find((t) => t.label === 'local')!;
      assert.deepEqual(
        local.children.map((c) => c.contextValue),
        ['deployment.healthy', 'deployment.rolled_back', 'deployment.superseded'],
      );
    });

    it('Start A/B Test… on a gateway target: the challenger answers its sticky share, Stop restores the champion; an A/A test runs the champion in both arms', async () => {
      const store = await (await mloopApi()).openStore();
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const challenger = models.versionByAlias(model.modelId, 'challenger')!;
      const champion = models.versionByAlias(model.modelId, 'champion')!;
      const port = await freePort();
      const config = readFileSync(join(workspaceRoot(), 'mloop.yaml'), 'utf8');
      writeFileSync(
        join(workspaceRoot(), 'mloop.yaml'),
        config.replace(
          /^targets:\n/m,
          `targets:\n  gw:\n    command: [python, serve.py, --model, "\${model.path}", --port, "\${port}", --log-dir, logs-gw]\n    port: ${port}\n    gateway: true\n    strategy: blue_green\n    health: { url: "\${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60 }\n`,
        ),
      );
      try {
        // the config watcher re-reads mloop.yaml: gw shows in the Deployments view once it has
        const api = await mloopApi();
        for (let i = 0; i < 60 && !(await api.treeSnapshot('mloop.deployments')).some((t) => t.label === 'gw'); i++) await sleep(250);
        // nothing serves on gw yet: refused (the notification says to deploy the champion first), nothing started
        assert.equal(
          await vscode.commands.executeCommand('mloop.deployments.startAbTest', {
            target: 'gw',
            kind: 'ab',
            modelName: 'weather-clf',
            version: challenger.version,
          }),
          undefined,
        );
        assert.equal(new GatewayRepository(store).get('gw'), undefined);
        const deployed = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.deploy', {
          modelName: 'weather-clf',
          version: champion.version,
          target: 'gw',
        });
        assert.equal(deployed?.status, 'healthy', deployed?.reason);
        const gateway = `http://127.0.0.1:${port}`;
        const started = await vscode.commands.executeCommand<AbTargetReport | undefined>('mloop.deployments.startAbTest', {
          target: 'gw',
          kind: 'ab',
          modelName: 'weather-clf',
          version: challenger.version,
          split: 50,
        });
        assert.deepEqual(
          started?.arms.map((a) => [a.role, a.version, a.split]),
          [
            ['champion', champion.version, 50],
            ['challenger', challenger.version, 50],
          ],
        );
        // sticky: a key keeps its arm; 40 keys reach both arms
        const seen = new Map<string, string>();
        for (let i = 0; i < 40; i++) {
          const first = await predict(gateway, undefined, { 'x-mloop-key': `user-${i}` });
          const again = await predict(gateway, undefined, { 'x-mloop-key': `user-${i}` });
          assert.equal(first.status, 200);
          assert.equal(again.body.version, first.body.version, `user-${i} keeps its arm`);
          seen.set(`user-${i}`, first.body.version);
        }
        assert.deepEqual(new Set(seen.values()), new Set([String(champion.version), String(challenger.version)]));
        assert.ok(new AuditRepository(store).list().some((a) => a.action === 'ab.start' && a.entityId === 'gw'));
        // one rollout at a time: a second start is refused and the running test keeps its routes
        assert.equal(await vscode.commands.executeCommand('mloop.deployments.startAbTest', { target: 'gw', kind: 'aa' }), undefined);
        assert.deepEqual(
          new GatewayRepository(store).get('gw')?.routes.map((r) => r.version),
          [champion.version, challenger.version],
        );
        await vscode.commands.executeCommand('mloop.deployments.stopAbTest', { target: 'gw', reason: 'integration test' });
        for (let i = 0; i < 10; i++) assert.equal((await predict(gateway, undefined, { 'x-mloop-key': `user-${i}` })).body.version, String(champion.version));

        const aa = await vscode.commands.executeCommand<AbTargetReport | undefined>('mloop.deployments.startAbTest', { target: 'gw', kind: 'aa', split: 50 });
        assert.equal(aa?.aa, true);
        assert.deepEqual(
          aa?.arms.map((a) => a.version),
          [champion.version, champion.version],
        );
        assert.ok(new AuditRepository(store).list().some((a) => a.action === 'aa.start' && a.entityId === 'gw'));
        await vscode.commands.executeCommand('mloop.deployments.stopAbTest', { target: 'gw', reason: 'integration test' });
      } finally {
        await vscode.commands.executeCommand('mloop.deployments.stop', { target: 'gw' });
        writeFileSync(join(workspaceRoot(), 'mloop.yaml'), config);
      }
    });

    it('replicas: a rolling update from the palette command replaces 2 replicas one at a time; the Deployments view shows "2/2 healthy" and each replica', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const challenger = models.versionByAlias(model.modelId, 'challenger')!;
      const champion = models.versionByAlias(model.modelId, 'champion')!;
      const port = await freePort();
      const config = readFileSync(join(workspaceRoot(), 'mloop.yaml'), 'utf8');
      writeFileSync(
        join(workspaceRoot(), 'mloop.yaml'),
        config.replace(
          /^targets:\n/m,
          `targets:\n  pool:\n    command: [python, serve.py, --model, "\${model.path}", --port, "\${port}", --log-dir, logs-pool]\n    port: ${port}\n    gateway: true\n    replicas: 2\n    strategy: rolling\n    health: { url: "\${url}/health", json_field: status, json_equals: ok, timeout_seconds: 60 }\n`,
        ),
      );
      try {
        for (let i = 0; i < 60 && !(await api.treeSnapshot('mloop.deployments')).some((t) => t.label === 'pool'); i++) await sleep(250);
        const first = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.deploy', {
          modelName: 'weather-clf',
          version: champion.version,
          target: 'pool',
        });
        assert.equal(first?.status, 'healthy', first?.reason);
        const rolled = await vscode.commands.executeCommand<DeployOutcome | undefined>('mloop.deployments.deploy', {
          modelName: 'weather-clf',
          version: challenger.version,
          target: 'pool',
        });
        assert.equal(rolled?.status, 'healthy', rolled?.reason);
        assert.equal(rolled.deployment.strategy, 'rolling');
        assert.deepEqual(
          rolled.checks.filter((c) => c.step.endsWith('gateway routes')).map((c) => c.detail),
          [`v${champion.version} 50, v${challenger.version} 50`, `v${challenger.version} 100 (2 replicas)`, `v${challenger.version} 100 (2 replicas)`],
        );
        await api.refresh();
        const pool = (await api.treeSnapshot('mloop.deployments', 3)).find((t) => t.label === 'pool')!;
        assert.match(pool.description ?? '', /2\/2 healthy/);
        const current = pool.children[0]!;
        assert.deepEqual(
          (current.children ?? []).map((c) => [c.label, c.contextValue]),
          [
            ['replica 0', 'replica.serving'],
            ['replica 1', 'replica.serving'],
          ],
        );
        const answer = await predict(`http://127.0.0.1:${port}`);
        assert.equal(answer.body.version, String(challenger.version));
      } finally {
        await vscode.commands.executeCommand('mloop.deployments.stop', { target: 'pool' });
        writeFileSync(join(workspaceRoot(), 'mloop.yaml'), config);
      }
    });

    it('a deployment runs as a VS Code task: log lines in its terminal; terminating it cancels, rolls back, and the previous version keeps serving', async () => {
      const store = await (await mloopApi()).openStore();
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const challenger = models.versionByAlias(model.modelId, 'challenger')!;
      const before = new DeploymentRepository(store).current('local')!;
      const ended: vscode.TaskExecution[] = [];
      const listener = vscode.tasks.onDidEndTask((e) => ended.push(e.execution));
      const started: vscode.TaskExecution[] = [];
      const startListener = vscode.tasks.onDidStartTask((e) => started.push(e.execution));
      let running: Thenable<DeployCommandResult | undefined> | undefined;
      try {
        running = vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', {
          modelName: 'weather-clf',
          version: challenger.version,
          target: 'local',
        });
        let execution: vscode.TaskExecution | undefined;
        for (let i = 0; i < 400 && !execution; i++) {
          // the execution this deploy started (earlier deployment tasks may still be listed while their terminals close)
          execution = started.find((e) => e.task.definition.type === 'mloop-deploy' && e.task.definition.target === 'local');
          if (!execution) await sleep(50);
        }
        assert.ok(execution, 'a task execution with the mloop-deploy definition appears');
        assert.equal(execution.task.definition.action, 'deploy');
        assert.equal(execution.task.definition.version, challenger.version);
        assert.equal(execution.task.source, 'mloop');
        // let it get going (the new version is starting beside the old one), then terminate the task
        // (a loaded machine can take many seconds to get there: terminating earlier would test something else)
        for (let i = 0; i < 1200 && new DeploymentRepository(store).history('local')[0]?.status !== 'in_progress'; i++) await sleep(50);
        assert.equal(new DeploymentRepository(store).history('local')[0]?.status, 'in_progress', 'the deployment got under way before the task was terminated');
        execution.terminate();
        const result = await running;
        assert.ok(result, 'mloop.deployments.deploy returned nothing (see the mloop log)');
        assert.equal(result.status, 'rolled_back', result.reason);
        assert.match(result.reason ?? '', /cancelled by the user/);
        assert.ok(
          result.task.output.some((l) => l.startsWith(`deploying weather-clf v${challenger.version} to local`)),
          result.task.output.join('\n'),
        );
        assert.ok(
          result.task.output.some((l) => /cancelled \(the task was terminated\)/.test(l)),
          result.task.output.join('\n'),
        );
        const serving = new DeploymentRepository(store).current('local')!;
        assert.equal(serving.deploymentId, before.deploymentId, 'the previous deployment still serves');
        assert.equal((await predict(serving.health!.process!.url!)).body.version, String(before.version));
        const audit = new AuditRepository(store).list().find((a) => a.action === 'deploy.auto_rollback');
        assert.match(audit?.reason ?? '', /cancelled by the user/);
        const isThis = (e: vscode.TaskExecution): boolean =>
          e === execution ||
          (e.task.definition.type === 'mloop-deploy' && e.task.definition.action === 'deploy' && e.task.definition.version === challenger.version);
        for (let i = 0; i < 100 && !ended.some(isThis); i++) await sleep(50);
        assert.ok(ended.some(isThis), 'the task ended');
        assert.ok(!vscode.tasks.taskExecutions.includes(execution), 'and is no longer running');
      } finally {
        listener.dispose();
        startListener.dispose();
        await Promise.resolve(running).catch(() => undefined); // never leave the target locked for the next test
      }
    });

    it('shadow from the editor: the challenger gets mirrored traffic, answers stay with the champion; Shadow Report, tree row, Stop Shadow, Promote Shadow', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      const challenger = models.versionByAlias(model.modelId, 'challenger')!;
      const serving = new DeploymentRepository(store).current('local')!;
      const shadow = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', {
        modelName: 'weather-clf',
        version: challenger.version,
        target: 'local',
        strategy: 'shadow',
      });
      assert.equal(shadow?.status, 'shadowing', shadow?.reason);
      const rows = [3, 9, 15, 21].map((day) => ({
        date: `2015-08-${String(day).padStart(2, '0')}`,
        precipitation: day % 2 ? 0 : 5,
        temp_max: 20 + day / 3,
        temp_min: 10,
        wind: 2 + (day % 4),
      }));
      const answer = await predict(serving.health!.process!.url!, rows);
      assert.equal(answer.body.version, String(serving.version), 'answers come from the serving version');
      let report: ShadowReport | undefined;
      for (let i = 0; i < 100 && (report?.compared ?? 0) < rows.length; i++) {
        await sleep(100);
        report = await vscode.commands.executeCommand<ShadowReport | undefined>('mloop.deployments.shadowReport', { target: 'local' });
      }
      assert.equal(report?.compared, rows.length, JSON.stringify(report));
      await api.refresh();
      const local = (await api.treeSnapshot('mloop.deployments')).find((t) => t.label === 'local')!;
      assert.match(local.description ?? '', new RegExp(`shadow v${challenger.version}: \\d+\\.\\d% disagree`));
      assert.equal(local.children[0]?.contextValue, 'deployment.shadow');
      const stopped = await vscode.commands.executeCommand<{ report: ShadowReport } | undefined>('mloop.deployments.stopShadow', {
        target: 'local',
        reason: 'integration test',
      });
      assert.equal(stopped?.report.compared, rows.length);
      assert.equal(new DeploymentRepository(store).current('local')?.deploymentId, serving.deploymentId);

      // again, then Promote Shadow: its version is deployed for real, as a task, with the report in the reason
      const again = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.deploy', {
        modelName: 'weather-clf',
        version: challenger.version,
        target: 'local',
        strategy: 'shadow',
      });
      assert.equal(again?.status, 'shadowing', again?.reason);
      const promoted = await vscode.commands.executeCommand<DeployCommandResult | undefined>('mloop.deployments.promoteShadow', { target: 'local' });
      assert.equal(promoted?.status, 'healthy', promoted?.reason);
      assert.ok(
        promoted.task.output.some((l) => /promoting the shadow weather-clf v\d+ on local/.test(l)),
        promoted.task.output.join('\n'),
      );
      const now = new DeploymentRepository(store).current('local')!;
      assert.equal(now.version, challenger.version);
      assert.equal((await predict(now.health!.process!.url!)).body.version, String(challenger.version));
      assert.match(new AuditRepository(store).list().find((a) => a.action === 'deploy')?.reason ?? '', /^promoted from shadow/);
    });

    it('Reveal Lineage on a deployment opens the Lineage panel on the deployed model version', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const serving = new DeploymentRepository(store).current('local')!;
      const id = await vscode.commands.executeCommand<string | undefined>('mloop.deployments.revealLineage', { target: 'local' });
      assert.equal(id, `model:${serving.modelVersionId}`);
      let state = api.lineagePanelState();
      for (let i = 0; i < 100 && !(state && 'root' in state && state.root === id); i++) {
        await sleep(100);
        state = api.lineagePanelState();
      }
      assert.ok(state && JSON.stringify(state).includes(`"model:${serving.modelVersionId}"`), JSON.stringify(state)?.slice(0, 300));
    });

    it('services outlive the editor: the Deployments row says one was started by an earlier window, and "process gone" once it dies', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const serving = new DeploymentRepository(store).current('local')!;
      const pid = serving.health!.process!.pid!;
      const description = async (): Promise<string> => {
        await api.refresh();
        return (await api.treeSnapshot('mloop.deployments')).find((t) => t.label === 'local')?.description ?? '';
      };
      assert.doesNotMatch(await description(), /earlier window|process gone/, 'started by this window: no marker');
      // as if an earlier window had deployed it: the row predates this extension host
      store.db.prepare('UPDATE deployment SET created_at = ? WHERE deployment_id = ?').run(Math.floor(performance.timeOrigin) - 60_000, serving.deploymentId);
      assert.match(await description(), /running since an earlier window/);
      process.kill(pid, 'SIGKILL');
      let text = '';
      for (let i = 0; i < 50 && !/process gone/.test(text); i++) {
        await sleep(100);
        text = await description();
      }
      assert.match(text, /process gone/);
      assert.doesNotMatch(text, /earlier window/);
    });

    it('MLflow\'s "View run" link: the URI handler given <scheme>://mloop.mloop/run/<id> opens that run\'s Metrics panel', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const run = new RunRepository(store).list({ limit: 1 })[0]!;
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      // what VS Code hands the handler for the link (the browser workbench cannot route its own scheme back to itself)
      await mloopUriHandler.handleUri(vscode.Uri.parse(`${vscode.env.uriScheme}://mloop.mloop/run/${run.runId}`));
      let tabs: string[] = [];
      for (let i = 0; i < 60 && !tabs.includes('Metrics'); i++) {
        await sleep(250);
        tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
      }
      assert.ok(tabs.includes('Metrics'), `tabs: ${JSON.stringify(tabs)}`);
      let state = api.metricsPanelState();
      for (let i = 0; i < 40 && !state?.ready; i++) {
        await sleep(250);
        state = api.metricsPanelState();
      }
      assert.deepEqual(
        state?.runs.map((r) => r.runId),
        [run.runId],
      );
    });
  });
}
