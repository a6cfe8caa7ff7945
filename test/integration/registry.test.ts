import * as assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import * as vscode from 'vscode';
import { httpExchange } from '../../src/core/deploy/health';
import { freePort } from '../../src/core/deploy/process';
import { versionArtifact } from '../../src/core/evaluation/target';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { requestApproval } from '../../src/core/governance/approvals';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository, type ModelVersion } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import type { LineageHostMessage } from '../../src/protocol/lineageMessages';
import { mloopApi, screenshotNow, showAsOnDisk, workspaceRoot } from './support';
import { explanationReference } from '../harness/explanationReference';
import { mlflowEnv, PYTHON, pythonJson } from '../support/python';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather');
const REGISTRY_CLIENT = resolve(__dirname, '../../../test/mlflow/registry_client.py');

async function poll<T>(what: string, probe: () => PromiseLike<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Trains the example pipeline and waits until the run ended and its model version was auto-registered. */
async function trainAndRegister(params: Record<string, string>): Promise<{ runId: string; version: ModelVersion }> {
  const runId = await poll('mloop.runs.train to accept pipeline "train" (the edited mloop.yaml loads)', () =>
    vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'train', params),
  );
  const store = await (await mloopApi()).openStore();
  const runs = new RunRepository(store);
  const run = await poll(
    `run ${runId} to end`,
    () => {
      const r = runs.get(runId);
      return r && r.status !== 'RUNNING' && r.status !== 'SCHEDULED' ? r : undefined;
    },
    180_000,
  );
  assert.equal(run.status, 'FINISHED', `exit ${run.exitCode}`);
  const version = await poll(`a weather-clf version from run ${runId}`, () => {
    const models = new ModelRepository(store);
    const model = models.byName('weather-clf');
    return model ? models.versions(model.modelId).find((v) => v.sourceRunId === runId) : undefined;
  });
  return { runId, version };
}

/** The registry and lineage in the editor: Models tree, gate on promotion, audit, Lineage panel, hovers and lenses on the code. */
export function registerRegistrySuite(): void {
  describe('registry and lineage in the editor', function () {
    this.timeout(300_000);
    let good: { runId: string; version: ModelVersion };
    let weak: { runId: string; version: ModelVersion };

    before(async () => {
      for (const item of ['train.py', 'train_protocol.py', 'data']) cpSync(join(EXAMPLE, item), join(workspaceRoot(), item), { recursive: true });
      // the example with a champion comparison in its gate: a weaker model fails it
      // register: always, so the weaker run still becomes a version and its failed gate can be shown (the default, if_better, would skip it)
      const config = readFileSync(join(EXAMPLE, 'mloop.yaml'), 'utf8')
        .replace('      - accuracy >= 0.7', '      - accuracy >= 0.5\n      - accuracy >= champion - 0.01')
        .replaceAll('      path: model.pkl\n', '      path: model.pkl\n      register: always\n');
      assert.match(config, /accuracy >= champion - 0.01/);
      assert.match(config, /register: always/);
      writeFileSync(join(workspaceRoot(), 'mloop.yaml'), config);
      good = await trainAndRegister({ n_estimators: '60', max_depth: '8', folds: '3' });
      // the first version passes (no champion yet) and becomes champion
      const promoted = await vscode.commands.executeCommand<boolean | undefined>('mloop.models.promote', {
        modelName: 'weather-clf',
        version: good.version.version,
      });
      assert.equal(promoted, true, 'promoting a version that passed its gate');
      weak = await trainAndRegister({ n_estimators: '1', max_depth: '1', folds: '3' });
    });

    it('the Models tree shows each version with its alias badge, gate verdict and source run', async () => {
      const api = await mloopApi();
      await api.refresh();
      const models = await api.treeSnapshot('mloop.models');
      const model = models.find((m) => m.label === 'weather-clf');
      assert.ok(model, JSON.stringify(models));
      assert.match(model.description ?? '', new RegExp(`champion v${good.version.version}`));
      const row = (v: number) => model.children.find((c) => c.label === `v${v}`);
      assert.match(row(good.version.version)?.description ?? '', new RegExp(`@champion · gate ✓ · run ${good.runId.slice(0, 8)}`));
      assert.equal(row(good.version.version)?.contextValue, 'modelVersion.champion');
      assert.match(row(weak.version.version)?.description ?? '', new RegExp(`gate ✗ · run ${weak.runId.slice(0, 8)}`));
    });

    it('Explain This Prediction on a row of the predictions log serve.py wrote: the Explanation panel shows the version that answered it (not the champion) and its SHAP values', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const root = workspaceRoot();
      for (const file of ['serve.py', 'features.py']) cpSync(join(EXAMPLE, file), join(root, file));
      const models = new ModelRepository(store);
      const model = models.byName('weather-clf')!;
      assert.equal(models.versionByAlias(model.modelId, 'champion')?.version, good.version.version);
      const served = weak.version;
      const artifact = versionArtifact(store, artifactRootOf(store.path), model, served);
      // the example's service answers a request with the weaker version, as mloop starts it for a target
      const port = await freePort();
      const service = spawn(PYTHON, ['serve.py', '--model', artifact, '--port', String(port), '--log-dir', 'logs'], {
        cwd: root,
        env: { ...process.env, MLOOP_MODEL_VERSION: String(served.version) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        let output = '';
        service.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
        service.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
        await poll(`serve.py listening (${output})`, () => (output.includes('serving on') ? true : undefined));
        const answer = await httpExchange(`http://127.0.0.1:${port}/predict`, {
          method: 'POST',
          headers: { 'x-request-id': 'int-req' },
          body: JSON.stringify({
            rows: [
              { date: '2015-01-03', precipitation: 1.5, temp_max: 5.6, temp_min: 3.3, wind: 2.4 },
              { date: '2015-03-15', precipitation: 20.6, temp_max: 9.4, temp_min: 5, wind: 6.7 },
            ],
          }),
        });
        assert.equal(answer.status, 200, answer.body);
      } finally {
        service.kill('SIGKILL');
      }
      const log = join(root, 'logs', 'predictions.jsonl');
      const logged = readFileSync(log, 'utf8').trim().split('\n');
      const line = logged.findIndex((l) => (JSON.parse(l) as { id: string }).id === 'int-req-1') + 1;
      assert.ok(line > 0, 'the second row of the request is logged');
      // the log open in the editor, the cursor on that row, the command of its context menu
      const editor = await vscode.window.showTextDocument(vscode.Uri.file(log));
      editor.selection = new vscode.Selection(line - 1, 0, line - 1, 0);
      const explanation = await vscode.commands.executeCommand<{
        version: number;
        features: string[];
        contributions: number[];
        base_value: number;
        method: string;
      }>('mloop.models.explainLogRow');
      assert.ok(explanation, 'the command explained the row');
      const shown = await poll('the Explanation panel', () => {
        const m = api.evaluationPanelState();
        return m?.type === 'explanation' ? m.view : undefined;
      });
      assert.equal(shown.version, served.version, 'explained by the version that answered the request');
      assert.equal(shown.source, `request int-req, row 1 · logs/predictions.jsonl:${line}`);
      // shap's TreeExplainer computed here on the same row and version's artifact, against the helper's background draw
      const reference = (
        await explanationReference({
          trainingCsv: join(root, 'data', 'seattle-weather.csv'),
          featuresDir: root,
          rows: [{ pickle: artifact, row: JSON.parse(logged[line - 1]!) as Record<string, unknown> }],
        })
      )[0]!;
      const expected = reference.shap ?? reference.occlusion;
      assert.equal(explanation.method, reference.shap ? 'shap' : 'occlusion');
      const byFeature = new Map(shown.contributions.map((c) => [c.feature, c.contribution]));
      explanation.features.forEach((f, j) => {
        assert.ok(Math.abs(explanation.contributions[j]! - expected[j]!) <= 1e-9, `${f}: ${explanation.contributions[j]} ≠ ${expected[j]}`);
        assert.equal(byFeature.get(f), explanation.contributions[j], `the panel shows ${f}'s contribution`);
      });
      await screenshotNow('explain-log-row');
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    });

    it('promoting a version that failed its gate is refused without a reason, and nothing changes', async () => {
      const store = await (await mloopApi()).openStore();
      const audit = new AuditRepository(store);
      const before = audit.list({ limit: 1000 }).length;
      const result = await vscode.commands.executeCommand<boolean | undefined>('mloop.models.promote', {
        modelName: 'weather-clf',
        version: weak.version.version,
        overrideReason: '',
      });
      assert.notEqual(result, true);
      const models = new ModelRepository(store);
      assert.equal(models.versionByAlias(models.byName('weather-clf')!.modelId, 'champion')?.version, good.version.version, 'the champion did not move');
      assert.equal(audit.list({ limit: 1000 }).length, before, 'no audit row for a refused promotion');
    });

    it('an override with a reason promotes it and writes the audit row (who, from → to, why) that the Audit view shows', async () => {
      const reason = 'integration: accept the weaker model for a smoke test';
      const result = await vscode.commands.executeCommand<boolean | undefined>('mloop.models.promote', {
        modelName: 'weather-clf',
        version: weak.version.version,
        overrideReason: reason,
      });
      assert.equal(result, true);
      const store = await (await mloopApi()).openStore();
      const row = new AuditRepository(store).list({ limit: 5 }).find((a) => a.entityId === 'weather-clf@champion' && a.reason === reason);
      assert.ok(row, 'audit row with the reason');
      assert.equal(row.fromValue, `v${good.version.version}`);
      assert.equal(row.toValue, `v${weak.version.version}`);
      assert.ok(row.actor.length > 0);
      const api = await mloopApi();
      await api.refresh();
      const rows = (await api.treeSnapshot('mloop.audit')).flatMap((r) => [r, ...r.children]);
      assert.ok(
        rows.some(
          (r) =>
            `${r.label} ${r.description ?? ''}`.includes('weather-clf@champion') && `${r.label} ${r.description ?? ''}`.includes(`v${weak.version.version}`),
        ),
        JSON.stringify(rows.slice(0, 5)),
      );
      // the first row is the hash chain's verdict; an edit made with raw SQL turns it into "broken at #id", undone it verifies again
      const entries = new AuditRepository(store).list().length;
      assert.equal(rows[0]?.label, `Chain verified ✓ ${entries} entries`);
      store.db.prepare('UPDATE audit SET reason = ? WHERE audit_id = ?').run('edited behind mloop', row.auditId);
      await api.refresh();
      const broken = (await api.treeSnapshot('mloop.audit'))[0];
      assert.equal(broken?.label, `Chain broken at entry #${row.auditId}`);
      assert.match(broken?.description ?? '', /^edited · /);
      store.db.prepare('UPDATE audit SET reason = ? WHERE audit_id = ?').run(reason, row.auditId);
      await api.refresh();
      assert.equal((await api.treeSnapshot('mloop.audit'))[0]?.label, `Chain verified ✓ ${entries} entries`);
      // put the good one back for the lineage checks below (a rollback is audited too)
      assert.equal(
        await vscode.commands.executeCommand('mloop.models.rollbackAlias', { modelName: 'weather-clf', alias: 'champion', reason: 'integration: restore' }),
        true,
      );
    });

    it('an approval request from another identity shows in the Audit view; Approve… decides it as the workspace identity and makes the change', async () => {
      const store = await (await mloopApi()).openStore();
      const request = requestApproval(store, {
        kind: 'promote',
        modelName: 'weather-clf',
        version: weak.version.version,
        subject: 'challenger',
        action: { reason: 'integration: second identity asks' },
        policy: { required: 1, reviewers: [], expiresAfterMs: 3_600_000 },
        requester: 'Someone Else <someone.else@example.com>',
      });
      const api = await mloopApi();
      await api.refresh();
      const rows = await api.treeSnapshot('mloop.audit');
      const row = rows.find((r) => r.label === `Request #${request.requestId}: promoting weather-clf v${weak.version.version} to @challenger`);
      assert.ok(row, JSON.stringify(rows.slice(0, 4)));
      assert.equal(row.contextValue, 'approvalRequest.pending');
      const status = await vscode.commands.executeCommand('mloop.audit.approveRequest', request.requestId, 'integration: looks right');
      assert.equal(status, 'approved');
      const models = new ModelRepository(store);
      assert.equal(models.versionByAlias(models.byName('weather-clf')!.modelId, 'challenger')?.version, weak.version.version);
      await api.refresh();
      assert.ok(!(await api.treeSnapshot('mloop.audit')).some((r) => r.label.startsWith(`Request #${request.requestId}:`)), 'no longer pending');
      assert.equal((await api.treeSnapshot('mloop.audit'))[0]?.label.startsWith('Chain verified ✓'), true);
    });

    it('the Lineage panel draws dataset → run → model version, with the code commit of the run', async () => {
      const id = await vscode.commands.executeCommand<string | undefined>('mloop.lineage.show', 'weather-clf@champion');
      assert.equal(id, `model:${good.version.modelVersionId}`);
      const api = await mloopApi();
      const loaded = await poll('the lineage panel to load', () => {
        const state = api.lineagePanelState();
        return state?.type === 'load' && state.root === id ? state : undefined;
      });
      const graph = loaded as Extract<LineageHostMessage, { type: 'load' }>;
      const node = (kind: string) => graph.nodes.find((n) => n.kind === kind);
      assert.equal(node('model')?.label, `weather-clf v${good.version.version}`);
      assert.match(node('dataset')?.label ?? '', /^weather @[0-9a-f]{12}$/);
      assert.equal(node('run')?.id, `run:${good.runId}`);
      assert.ok(
        graph.edges.some((e) => e.from === node('dataset')!.id && e.to === `run:${good.runId}` && e.relation === 'input'),
        JSON.stringify(graph.edges),
      );
      assert.ok(graph.edges.some((e) => e.from === `run:${good.runId}` && e.to === id && e.relation === 'registered'));
      assert.match(node('code')?.label ?? '', /^train\.py/);
      // the panel's page is up: its webview tab is open
      const tab = vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && /lineage/.test(t.input.viewType));
      assert.ok(tab, 'a lineage webview tab');
    });

    it('hovering the data path in train.py shows its dataset, profile line and the models trained on it', async () => {
      const uri = vscode.Uri.file(join(workspaceRoot(), 'train.py'));
      const doc = await vscode.workspace.openTextDocument(uri);
      const line = doc
        .getText()
        .split('\n')
        .findIndex((l) => l.includes('"data/seattle-weather.csv"'));
      assert.ok(line >= 0);
      const character = doc.lineAt(line).text.indexOf('data/seattle-weather.csv') + 5;
      const hovers = (await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(line, character))) ?? [];
      const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      assert.match(text, /mloop dataset `weather`/);
      assert.match(text, /1,461 rows × 6 columns/);
      assert.match(text, new RegExp(`weather-clf v${weak.version.version}`));
      assert.match(text, new RegExp(`weather-clf v${good.version.version} \\(@champion\\)`));
    });

    it('train.py carries a lens: runs · best accuracy · champion version', async () => {
      const uri = vscode.Uri.file(join(workspaceRoot(), 'train.py'));
      await showAsOnDisk(uri);
      const lenses = await poll('the lineage lens on train.py', async () => {
        const all = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
        return all.some((l) => l.command?.command === 'mloop.lineage.showForFile') ? all : undefined;
      });
      const lens = lenses.find((l) => l.command?.command === 'mloop.lineage.showForFile')!;
      assert.match(lens.command!.title, new RegExp(`\\d+ runs · best accuracy 0\\.\\d+ · weather-clf v${good.version.version} \\(champion\\)`));
      const shown = await vscode.commands.executeCommand<string | undefined>('mloop.lineage.showForFile', uri);
      assert.match(shown ?? '', /^code:.*:train\.py$/);
    });

    it('mloop.yaml: the pipeline and the dataset carry lineage lenses, and the dataset key has the hover', async () => {
      const uri = vscode.Uri.file(join(workspaceRoot(), 'mloop.yaml'));
      const text = (await showAsOnDisk(uri)).document.getText();
      const lenses = await poll('lineage lenses in mloop.yaml', async () => {
        const all = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
        return all.filter((l) => l.command?.command === 'mloop.lineage.show').length >= 2 ? all : undefined;
      });
      const lineOf = (prefix: string): number => text.split('\n').findIndex((l) => l.startsWith(prefix));
      const pipeline = lenses.find((l) => l.command?.command === 'mloop.lineage.show' && l.range.start.line === lineOf('  train:'));
      assert.match(pipeline?.command?.title ?? '', /^\d+ runs · best accuracy 0\.\d+ · weather-clf v\d+ \(champion\)$/);
      assert.equal(pipeline?.command?.arguments?.[0], `model:${good.version.modelVersionId}`);
      const dataset = lenses.find((l) => l.command?.command === 'mloop.lineage.show' && l.range.start.line === lineOf('  weather:'));
      assert.match(dataset?.command?.title ?? '', /^\d+ versions? · read by \d+ runs? · weather-clf v\d+/);
      const hovers =
        (await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(lineOf('  weather:'), 4))) ?? [];
      assert.match(hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n'), /mloop dataset `weather`/);
    });

    it("the real mlflow client's register_model and set_registered_model_alias show up in the Models tree", async () => {
      const api = await mloopApi();
      const endpoint = await api.trackingEndpoint();
      const report = await pythonJson<Record<string, unknown>>({
        args: [REGISTRY_CLIENT, 'register', join(workspaceRoot(), 'data', 'seattle-weather.csv')],
        cwd: workspaceRoot(),
        env: mlflowEnv({ uri: endpoint.uri, token: endpoint.token }),
      });
      await api.refresh();
      const model = (await api.treeSnapshot('mloop.models')).find((m) => m.label === 'weather-rm');
      assert.ok(model, 'weather-rm in the Models tree');
      const row = model.children.find((c) => c.label === `v${String(report.version)}`);
      assert.match(row?.description ?? '', /@challenger/);
    });
  });
}
