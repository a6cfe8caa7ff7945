import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ReproResult } from '../../src/core/experiments/repro';
import { lineageGraph, type LineageGraph } from '../../src/core/lineage/graph';
import { ModelRepository } from '../../src/core/store/models';
import { SweepRepository } from '../../src/core/store/sweeps';
import type { LineageHostMessage } from '../../src/protocol/lineageMessages';
import { pollUntil } from '../harness/poll';
import { PYTHON } from '../support/python';
import { mloopApi, mloopExtension, workspaceRoot } from './support';

/** Stage scripts in test/fixtures/stageLineage: csv-module prepare and features, scikit-learn + the real mlflow client in train. */
const SCRIPTS = ['prepare.py', 'features.py', 'train.py'];

/** raw data (a declared dataset) → lin-prepare → lin-features → lin-train, which registers stage-clf through mloop's tracking endpoint. */
const CONFIG = `version: 1
datasets:
  stage-raw: { path: stagelin/raw.csv }
stages:
  lin-prepare:
    command: [${JSON.stringify(PYTHON)}, stagelin/prepare.py]
    deps: [stage-raw, stagelin/prepare.py]
    outs: [stagelin/prepared.csv]
  lin-features:
    command: [${JSON.stringify(PYTHON)}, stagelin/features.py]
    deps: [stagelin/prepared.csv, stagelin/features.py]
    outs: [stagelin/features.csv]
  lin-train:
    command: [${JSON.stringify(PYTHON)}, stagelin/train.py]
    deps: [stagelin/features.csv, stagelin/train.py]
    outs: [stagelin/model.pkl]
`;

/** The edges of a graph as `from -relation-> to`, without the code edges (every stage run has its script). */
const chain = (graph: Pick<LineageGraph, 'edges'>): string[] =>
  graph.edges
    .filter((e) => e.relation !== 'code')
    .map((e) => `${e.from} -${e.relation}-> ${e.to}`)
    .sort();

/**
 * The lineage through stages, for real: a pipeline of three Python stages reads the example's weather data,
 * the last trains a scikit-learn model and registers it with the mlflow client; Show Lineage on that version (the
 * core walk, the Lineage panel and `mloop lineage`) walks back through the stage outs to the raw data version.
 */
export function registerStageLineageSuite(): void {
  describe('lineage through pipeline stages (real Python, real mlflow client)', function () {
    this.timeout(300_000);
    const root = (): string => workspaceRoot();
    let configBefore: string | undefined;

    before(() => {
      const path = join(root(), 'mloop.yaml');
      configBefore = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      const folder = join(root(), 'stagelin');
      mkdirSync(folder, { recursive: true });
      const extension = mloopExtension().extensionPath;
      copyFileSync(join(extension, 'examples', 'weather', 'data', 'seattle-weather.csv'), join(folder, 'raw.csv'));
      for (const script of SCRIPTS) copyFileSync(join(extension, 'test', 'fixtures', 'stageLineage', script), join(folder, script));
      writeFileSync(path, CONFIG);
    });
    after(async () => {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      const path = join(root(), 'mloop.yaml');
      if (configBefore !== undefined) writeFileSync(path, configBefore);
      else rmSync(path, { force: true });
      rmSync(join(root(), 'stagelin'), { recursive: true, force: true });
    });

    it('Run Pipeline runs the three stages; Show Lineage on the registered version walks back through the stage outs to the raw data (core, Lineage panel, mloop lineage)', async () => {
      const result = await vscode.commands.executeCommand<ReproResult | undefined>('mloop.runs.repro');
      assert.ok(result, 'the command returned what it did');
      assert.deepEqual(
        result.stages.map((s) => [s.stage, s.outcome]),
        [
          ['lin-prepare', 'ran'],
          ['lin-features', 'ran'],
          ['lin-train', 'ran'],
        ],
        JSON.stringify(result.stages),
      );
      const [prepare, features, train] = result.stages.map((s) => `run:${s.runId!}`);
      const api = await mloopApi();
      const store = await api.openStore();
      const models = new ModelRepository(store);
      const model = models.byName('stage-clf');
      assert.ok(model, 'train.py registered stage-clf through the tracking endpoint');
      const [version] = models.versions(model.modelId);
      assert.equal(version?.sourceRunId, train!.slice(4), 'the version came from the train stage run');
      const raw = store.db
        .prepare("SELECT v.dataset_version_id FROM dataset_version v JOIN dataset d USING (dataset_id) WHERE d.name = 'stage-raw'")
        .pluck()
        .all() as number[];
      assert.equal(raw.length, 1, 'the raw data was versioned when lin-prepare ran');
      const modelNode = `model:${version!.modelVersionId}`;
      const expected = [
        `dataset:${raw[0]} -input-> ${prepare}`,
        `${prepare} -stage out-> ${features}`,
        `${features} -stage out-> ${train}`,
        `${train} -registered-> ${modelNode}`,
      ].sort();

      // the core walk, at the default depth
      assert.deepEqual(chain(lineageGraph(store, modelNode)), expected);

      // the Lineage panel, from the command the palette and the Models view use
      assert.equal(await vscode.commands.executeCommand('mloop.lineage.show', 'stage-clf@1'), modelNode);
      const panel = (await pollUntil(
        () => {
          const state = api.lineagePanelState();
          return state?.type === 'load' && state.root === modelNode ? state : undefined;
        },
        { what: 'the Lineage panel to load stage-clf v1', timeoutMs: 30_000 },
      )) as Extract<LineageHostMessage, { type: 'load' }>;
      assert.deepEqual(chain(panel), expected);
      assert.match(panel.nodes.find((n) => n.kind === 'dataset')?.label ?? '', /^stage-raw @[0-9a-f]{12}$/);

      // the CLI on the same store
      const cli = spawnSync(process.execPath, [join(mloopExtension().extensionPath, 'dist', 'cli.js'), 'lineage', 'stage-clf@1', '--json'], {
        cwd: root(),
        encoding: 'utf8',
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.deepEqual(chain(JSON.parse(cli.stdout) as LineageGraph), expected);

      // nothing changed: the second run skips every stage and the chain stays the one the runs recorded
      const again = await vscode.commands.executeCommand<ReproResult | undefined>('mloop.runs.repro');
      assert.deepEqual(
        again?.stages.map((s) => [s.stage, s.outcome]),
        [
          ['lin-prepare', 'skipped'],
          ['lin-features', 'skipped'],
          ['lin-train', 'skipped'],
        ],
      );
      assert.deepEqual(chain(lineageGraph(store, modelNode)), expected);
    });
  });

  describe('bad stages and sweeps in the editor: the problem at its line:col, nothing started', function () {
    this.timeout(60_000);
    const root = (): string => workspaceRoot();
    let configBefore: string | undefined;
    const path = (): string => join(root(), 'mloop.yaml');
    const ran = (): boolean => existsSync(join(root(), 'bad-ran.log'));
    /** Two sh stages that would log to bad-ran.log; `edit` breaks them. */
    const stages = (edit: (text: string) => string): string =>
      edit(`version: 1
pipelines:
  bad-sweep:
    command: [sh, -c, "echo x=$1 >> bad-ran.log", sh, "\${params.x}"]
    params: { x: 1 }
    sweep:
      max_trials: 2
      grid: { x: [1, 2, 3] }
stages:
  bad-a:
    command: [sh, -c, "echo a >> bad-ran.log; cp bad-in.txt bad-a.txt"]
    deps: [bad-in.txt]
    outs: [bad-a.txt]
  bad-b:
    command: [sh, -c, "echo b >> bad-ran.log; cp bad-a.txt bad-b.txt"]
    deps: [bad-a.txt]
    outs: [bad-b.txt]
`);
    const diagnostics = async (match: RegExp): Promise<string> =>
      pollUntil(
        () => {
          const found = vscode.languages
            .getDiagnostics(vscode.Uri.file(path()))
            .filter((d) => d.source === 'mloop' && match.test(d.message))
            .map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.message}`);
          return found[0];
        },
        { what: `a diagnostic matching ${match} on mloop.yaml`, timeoutMs: 20_000 },
      );

    before(() => {
      configBefore = existsSync(path()) ? readFileSync(path(), 'utf8') : undefined;
      writeFileSync(join(root(), 'bad-in.txt'), 'in\n');
    });
    after(() => {
      if (configBefore !== undefined) writeFileSync(path(), configBefore);
      else rmSync(path(), { force: true });
      for (const f of ['bad-in.txt', 'bad-a.txt', 'bad-b.txt', 'bad-ran.log']) rmSync(join(root(), f), { force: true });
    });

    it('a cycle and two stages writing one out are marked in mloop.yaml at their line:col, and Run Pipeline starts nothing', async () => {
      const runs = async (): Promise<number> => (await (await mloopApi()).openStore()).db.prepare('SELECT count(*) FROM run').pluck().get() as number;
      const before = await runs();
      writeFileSync(
        path(),
        stages((t) => t.replace('deps: [bad-in.txt]', 'deps: [bad-in.txt, bad-b.txt]')),
      );
      assert.match(await diagnostics(/cycle/), /^12:24: stages form a cycle: bad-a → bad-b → bad-a/);
      assert.equal(await vscode.commands.executeCommand('mloop.runs.repro'), undefined);
      writeFileSync(
        path(),
        stages((t) => t.replace('outs: [bad-b.txt]', 'outs: [bad-a.txt]')),
      );
      assert.match(await diagnostics(/two stages cannot write one out/), /^17:12: out "bad-a.txt" of stage "bad-b" is also an out of stage "bad-a"/);
      assert.equal(await vscode.commands.executeCommand('mloop.runs.repro'), undefined);
      // a dep that does not exist is found when the pipeline starts, before any stage runs
      writeFileSync(
        path(),
        stages((t) => t.replace('deps: [bad-in.txt]', 'deps: [bad-missing.txt]')),
      );
      await new Promise((done) => setTimeout(done, 1500)); // the config watcher debounces
      assert.equal(await vscode.commands.executeCommand('mloop.runs.repro'), undefined);
      assert.equal(ran(), false, 'no stage ran');
      assert.equal(await runs(), before, 'no run was made');
    });

    it('a sweep over more trials than max_trials and a grid param the pipeline does not declare are refused; no sweep is queued', async () => {
      writeFileSync(
        path(),
        stages((t) => t),
      );
      await new Promise((done) => setTimeout(done, 1500));
      const store = await (await mloopApi()).openStore();
      const queued = (): number => store.db.prepare("SELECT count(*) FROM sweep WHERE pipeline = 'bad-sweep'").pluck().get() as number;
      assert.equal(await vscode.commands.executeCommand('mloop.runs.sweep', { pipeline: 'bad-sweep' }), undefined, 'declared grid: 3 trials > max_trials 2');
      assert.equal(await vscode.commands.executeCommand('mloop.runs.sweep', { pipeline: 'bad-sweep', grid: ['y=1,2'] }), undefined, 'y is not declared');
      assert.equal(queued(), 0);
      assert.equal(new SweepRepository(store).unfinished().length, 0);
      assert.equal(ran(), false, 'no trial ran');
      // in mloop.yaml the undeclared param is marked at its key
      writeFileSync(
        path(),
        stages((t) => t.replace('grid: { x: [1, 2, 3] }', 'grid: { x: [1], y: [1, 2] }')),
      );
      assert.match(await diagnostics(/undeclared param "y"/), /^8:23: the sweep of pipeline "bad-sweep" varies undeclared param "y"/);
    });
  });
}
