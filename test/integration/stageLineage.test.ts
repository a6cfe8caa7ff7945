import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ReproResult } from '../../src/core/experiments/repro';
import { lineageGraph, type LineageGraph } from '../../src/core/lineage/graph';
import { ModelRepository } from '../../src/core/store/models';
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
}
