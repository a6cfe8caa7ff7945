import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { repro, ReproConfigError, type ReproResult } from '../../src/core/experiments/repro';
import { StagePathDigests } from '../../src/core/experiments/stageDigests';
import { loadProjectStages } from '../../src/core/experiments/stages';
import { downstreamOf, lineageGraph, upstreamOf } from '../../src/core/lineage/graph';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { mloop, tempDir } from './fixtures';

const NODE = JSON.stringify(process.execPath);

/** A stage script: appends its name to ran.log, then writes each out from its inputs (so a changed input changes the out). */
const STAGE_JS = `
const fs = require('node:fs');
const [name, outsText, ...ins] = process.argv.slice(2);
fs.appendFileSync('ran.log', name + '\\n');
if (process.env.FAIL_STAGE === name) process.exit(3);
const seen = ins.map((f) => f + '=' + (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '?')).join(';');
for (const out of outsText.split(',')) fs.writeFileSync(out, name + ':' + seen + '\\n');
`;

/** prepare (raw.txt, params prepare.scale) → prepared.txt → train (params train.lr) → model.txt → evaluate (+ test.txt) → metrics.txt. */
const PIPELINE = `version: 1
stages:
  prepare:
    command: [${NODE}, stage.js, prepare, prepared.txt, raw.txt, params.yaml]
    deps: [raw.txt, stage.js]
    params: [prepare.scale]
    outs: [prepared.txt]
  train:
    cmd: [${NODE}, stage.js, train, model.txt, prepared.txt, params.yaml]
    deps: [prepared.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    command: [${NODE}, stage.js, evaluate, metrics.txt, model.txt, test.txt]
    deps: [model.txt, test.txt]
    outs: [metrics.txt]
`;

describe('stages: mloop repro over mloop.yaml and dvc.yaml', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;

  const ranLog = (): string[] => (existsSync(join(dir, 'ran.log')) ? readFileSync(join(dir, 'ran.log'), 'utf8').trim().split('\n') : []);
  const run = async (target?: string, env: Record<string, string> = {}): Promise<{ result: ReproResult; ran: string[] }> => {
    rmSync(join(dir, 'ran.log'), { force: true });
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const result = await repro({ store, project: loadProjectStages(dir), trusted: true, ...(target ? { target } : {}) });
      return { result, ran: ranLog() };
    } finally {
      for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
    }
  };
  const outcomes = (result: ReproResult): Record<string, string> => Object.fromEntries(result.stages.map((s) => [s.stage, s.outcome]));

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-stages-'));
    writeFileSync(join(dir, 'stage.js'), STAGE_JS);
    writeFileSync(join(dir, 'raw.txt'), 'raw v1\n');
    writeFileSync(join(dir, 'test.txt'), 'test v1\n');
    writeFileSync(join(dir, 'params.yaml'), 'prepare:\n  scale: 1\ntrain:\n  lr: 0.1\n');
    writeFileSync(join(dir, 'mloop.yaml'), PIPELINE);
    mkdirSync(join(dir, '.mloop'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('runs every stage in dependency order, then skips them all when nothing changed', async () => {
    const first = await run();
    assert.deepEqual(first.ran, ['prepare', 'train', 'evaluate']);
    assert.equal(first.result.status, 'FINISHED');
    assert.match(readFileSync(join(dir, 'metrics.txt'), 'utf8'), /^evaluate:model.txt=train:prepared.txt=prepare:raw.txt=raw v1\n/);
    // each stage run is a run in the store under the pipeline run
    const runs = new RunRepository(store);
    const stageRuns = first.result.stages.map((s) => s.runId!);
    for (const runId of stageRuns) {
      assert.equal(runs.get(runId)?.status, 'FINISHED');
      assert.equal(runs.tags(runId)['mlflow.parentRunId'], first.result.pipelineRunId);
    }
    assert.equal(runs.get(first.result.pipelineRunId!)?.status, 'FINISHED');

    const second = await run();
    assert.deepEqual(second.ran, []);
    assert.deepEqual(outcomes(second.result), { prepare: 'skipped', train: 'skipped', evaluate: 'skipped' });
    assert.equal(second.result.pipelineRunId, undefined, 'nothing ran, so no pipeline run was made');
  });

  it('lineage follows the data through stage outs: raw data → prepare → train → evaluate, to the runs that wrote the exact bytes', async () => {
    const first = await run();
    const runOf = (result: ReproResult, stage: string): string => result.stages.find((x) => x.stage === stage)!.runId!;
    const up = (runId: string): string[] =>
      upstreamOf(store, `run:${runId}`)
        .filter((n) => n.relation === 'stage out')
        .map((n) => n.id);
    const down = (runId: string): string[] =>
      downstreamOf(store, `run:${runId}`)
        .filter((n) => n.relation === 'stage out')
        .map((n) => n.id);
    const [prepare, train, evaluate] = ['prepare', 'train', 'evaluate'].map((stage) => runOf(first.result, stage));
    assert.deepEqual(up(evaluate!), [`run:${train}`]);
    assert.deepEqual(up(train!), [`run:${prepare}`]);
    assert.deepEqual(up(prepare!), [], 'raw.txt is no stage out');
    assert.deepEqual(down(prepare!), [`run:${train}`]);
    assert.deepEqual(down(train!), [`run:${evaluate}`]);
    // new raw data: the new runs link to each other, and the old prepare run no longer feeds anything current
    writeFileSync(join(dir, 'raw.txt'), 'raw v2\n');
    const second = await run();
    const [prepare2, train2, evaluate2] = ['prepare', 'train', 'evaluate'].map((stage) => runOf(second.result, stage));
    assert.deepEqual(up(evaluate2!), [`run:${train2}`]);
    assert.deepEqual(up(train2!), [`run:${prepare2}`]);
    assert.deepEqual(down(prepare2!), [`run:${train2}`]);
    assert.deepEqual(down(prepare!), [`run:${train}`], 'the old run still fed the old train run');
    assert.deepEqual(up(train!), [`run:${prepare}`]);
  });

  it('a dep naming a declared dataset pins its version to the stage run: Show Lineage on the model version walks back to the raw data', async () => {
    // raw data declared as a dataset, read by name; prepare → features → train, and a version registered from train
    writeFileSync(join(dir, 'raw.csv'), 'x,y\n1,0\n2,1\n3,0\n');
    writeFileSync(
      join(dir, 'mloop.yaml'),
      `version: 1
datasets:
  raw: { path: raw.csv }
stages:
  prepare:
    command: [${NODE}, stage.js, prepare, prepared.txt, raw.csv]
    deps: [raw, stage.js]
    outs: [prepared.txt]
  features:
    command: [${NODE}, stage.js, features, features.txt, prepared.txt]
    deps: [prepared.txt]
    outs: [features.txt]
  train:
    command: [${NODE}, stage.js, train, model.txt, features.txt]
    deps: [features.txt]
    outs: [model.txt]
`,
    );
    const { result } = await run();
    assert.deepEqual(
      result.stages.map((s) => s.outcome),
      ['ran', 'ran', 'ran'],
    );
    const [prepare, features, train] = result.stages.map((s) => s.runId!);
    const raw = store.db
      .prepare("SELECT v.dataset_version_id FROM dataset_version v JOIN dataset d USING (dataset_id) WHERE d.name = 'raw'")
      .pluck()
      .all() as number[];
    assert.equal(raw.length, 1, 'one version of raw, recorded when prepare ran');
    const inputsOf = (runId: string): number[] => store.db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ?').pluck().all(runId) as number[];
    assert.deepEqual(inputsOf(prepare!), raw, 'the prepare run read that version');
    assert.deepEqual(inputsOf(train!), [], 'train reads no dataset itself');
    const version = new ModelRepository(store).registerVersion({ name: 'stage-clf', sourceRunId: train!, actor: 'test' });
    // the default depth (3): the stage runs of one pipeline cost one hop, so the raw data is 2 hops up
    const graph = lineageGraph(store, `model:${version.modelVersionId}`);
    const edges = graph.edges
      .filter((e) => e.relation !== 'code')
      .map((e) => `${e.from} -${e.relation}-> ${e.to}`)
      .sort();
    assert.deepEqual(
      edges,
      [
        `dataset:${raw[0]} -input-> run:${prepare}`,
        `run:${features} -stage out-> run:${train}`,
        `run:${prepare} -stage out-> run:${features}`,
        `run:${train} -registered-> model:${version.modelVersionId}`,
      ].sort(),
    );
    assert.equal(graph.nodes.find((n) => n.kind === 'dataset')?.label.startsWith('raw @'), true);
    assert.equal(graph.truncated, false);
    // and from the raw data down to the model version, at the same default depth
    const down = lineageGraph(store, `dataset:${raw[0]}`);
    assert.ok(
      down.nodes.some((n) => n.id === `model:${version.modelVersionId}`),
      JSON.stringify(down.nodes.map((n) => n.id)),
    );
    // unchanged raw data: a rerun of prepare (its script changed) pins the same version again, no new one
    writeFileSync(join(dir, 'stage.js'), `${STAGE_JS}\n// changed\n`);
    const again = await run();
    assert.equal(again.result.stages[0]!.outcome, 'ran');
    assert.deepEqual(inputsOf(again.result.stages[0]!.runId!), raw);
  });

  it('reruns exactly the stage whose dep changed and the stages downstream of it', async () => {
    await run();
    writeFileSync(join(dir, 'test.txt'), 'test v2, longer\n');
    const evaluateOnly = await run();
    assert.deepEqual(evaluateOnly.ran, ['evaluate']);
    assert.deepEqual(outcomes(evaluateOnly.result), { prepare: 'skipped', train: 'skipped', evaluate: 'ran' });
    assert.equal(evaluateOnly.result.stages[2]!.reason, 'dep test.txt changed');

    writeFileSync(join(dir, 'raw.txt'), 'raw v2, longer\n');
    const all = await run();
    assert.deepEqual(all.ran, ['prepare', 'train', 'evaluate']);
  });

  it('reruns a stage whose out was deleted, and one whose param changed (with what follows)', async () => {
    await run();
    rmSync(join(dir, 'model.txt'));
    const rebuilt = await run();
    assert.deepEqual(rebuilt.ran, ['train'], 'model.txt comes back identical, so evaluate stays skipped');
    assert.equal(rebuilt.result.stages[1]!.reason, 'out model.txt is missing');

    writeFileSync(join(dir, 'params.yaml'), 'prepare:\n  scale: 1\ntrain:\n  lr: 0.25\n');
    const retrained = await run();
    assert.deepEqual(outcomes(retrained.result), { prepare: 'skipped', train: 'ran', evaluate: 'ran' });
    assert.equal(retrained.result.stages[1]!.reason, 'param train.lr changed');
  });

  it('runs only the named stage and what it reads from', async () => {
    const { ran, result } = await run('train');
    assert.deepEqual(ran, ['prepare', 'train']);
    assert.deepEqual(
      result.stages.map((s) => s.stage),
      ['prepare', 'train'],
    );
  });

  it('a failing stage stops the stages after it, and it reruns next time', async () => {
    const failed = await run(undefined, { FAIL_STAGE: 'train' });
    assert.equal(failed.result.status, 'FAILED');
    assert.deepEqual(outcomes(failed.result), { prepare: 'ran', train: 'failed', evaluate: 'not-run' });
    assert.deepEqual(failed.ran, ['prepare', 'train']);
    assert.equal(new RunRepository(store).get(failed.result.pipelineRunId!)?.status, 'FAILED');
    const again = await run();
    assert.deepEqual(again.ran, ['train', 'evaluate']);
  });

  it('the CLI says "skipped (unchanged)" the second time and exits 1 when a stage fails', () => {
    const first = mloop(dir, 'repro');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /\[3\/3\] evaluate: ran \(never run\)/);
    const second = mloop(dir, 'repro', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /\[1\/3\] prepare: skipped \(unchanged\)/);
    assert.deepEqual(
      (JSON.parse(second.stdout) as ReproResult).stages.map((s) => s.outcome),
      ['skipped', 'skipped', 'skipped'],
    );
    writeFileSync(join(dir, 'stage.js'), `${STAGE_JS}\nprocess.exit(process.argv[2] === 'prepare' ? 7 : 0);\n`);
    const failing = mloop(dir, 'repro');
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /prepare: FAILED \(failed \(exit code 7\)\)/);
    assert.match(failing.stdout, /train: not run/);
    assert.match(failing.stderr, /stage "prepare" failed \(exit code 7\); later stages were not run/);
  });

  it('--dry-run says what would run and why and starts nothing; an unknown stage is refused with the names', () => {
    assert.equal(mloop(dir, 'repro').code, 0);
    writeFileSync(join(dir, 'test.txt'), 'test v2, longer\n');
    rmSync(join(dir, 'ran.log'));
    const dry = mloop(dir, 'repro', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /prepare: skipped \(unchanged\)/);
    assert.match(dry.stdout, /evaluate: would run \(dep test.txt changed\)/);
    assert.deepEqual(ranLog(), [], 'a dry run starts nothing');
    const unknown = mloop(dir, 'repro', 'deploy');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no stage "deploy"; stages: prepare, train, evaluate/);
  });

  it('a stage with no deps and no params always runs, as in DVC', async () => {
    writeFileSync(join(dir, 'mloop.yaml'), `version: 1\nstages:\n  stamp:\n    command: [${NODE}, stage.js, stamp, stamp.txt]\n    outs: [stamp.txt]\n`);
    assert.deepEqual((await run()).ran, ['stamp']);
    const again = await run();
    assert.deepEqual(again.ran, ['stamp']);
    assert.equal(again.result.stages[0]!.reason, 'it has no deps: always runs');
  });

  it('a dep naming a dataset of mloop.yaml reads its path', async () => {
    writeFileSync(
      join(dir, 'mloop.yaml'),
      // a declared dataset is versioned when a stage reads it: its format is stated (a .txt says nothing)
      PIPELINE.replace('version: 1\n', 'version: 1\ndatasets:\n  raw: { path: raw.txt, format: csv }\n').replace(
        'deps: [raw.txt, stage.js]',
        'deps: [raw, stage.js]',
      ),
    );
    writeFileSync(join(dir, 'raw.txt'), 'raw\nv1\n');
    await run();
    assert.deepEqual((await run()).ran, []);
    writeFileSync(join(dir, 'raw.txt'), 'raw\nv2 longer\n');
    const again = await run();
    assert.deepEqual(again.ran, ['prepare', 'train', 'evaluate']);
    assert.equal(again.result.stages[0]!.reason, 'dep raw.txt changed');
  });

  describe('bad stages: an error at file:line:col and nothing started', () => {
    const problemsOf = async (): Promise<string[]> => {
      try {
        await repro({ store, project: loadProjectStages(dir), trusted: true });
      } catch (error) {
        assert.ok(error instanceof ReproConfigError, String(error));
        assert.deepEqual(ranLog(), [], 'no stage started');
        return error.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
      }
      assert.fail('repro should have refused');
    };

    it('names a cycle with the stages in order, at the dep of its first-declared stage', async () => {
      writeFileSync(join(dir, 'mloop.yaml'), PIPELINE.replace('deps: [raw.txt, stage.js]', 'deps: [raw.txt, metrics.txt]'));
      assert.deepEqual(await problemsOf(), [
        'mloop.yaml:5:21: stages form a cycle: prepare → train → evaluate → prepare (prepare reads "metrics.txt" from evaluate; evaluate reads "model.txt" from train; train reads "prepared.txt" from prepare)',
      ]);
      // the editor's loader reports the same problem as you type
      const loaded = loadConfig(readFileSync(join(dir, 'mloop.yaml'), 'utf8'), 'mloop.yaml');
      assert.equal(loaded.config, undefined);
      assert.match(loaded.problems[0]!.message, /stages form a cycle: prepare → train → evaluate → prepare/);
    });

    it("refuses a dep that does not exist and is no stage's out", async () => {
      writeFileSync(join(dir, 'mloop.yaml'), PIPELINE.replace('deps: [model.txt, test.txt]', 'deps: [model.txt, holdout.txt]'));
      assert.deepEqual(await problemsOf(), ['mloop.yaml:15:23: stage "evaluate" depends on "holdout.txt", which does not exist and is no stage\'s out']);
    });

    it('refuses two stages writing one out', async () => {
      writeFileSync(join(dir, 'mloop.yaml'), PIPELINE.replace('outs: [metrics.txt]', 'outs: [metrics.txt, model.txt]'));
      assert.deepEqual(await problemsOf(), [
        'mloop.yaml:16:25: out "model.txt" of stage "evaluate" is also an out of stage "train": two stages cannot write one out',
      ]);
    });

    it('refuses a param params.yaml does not define', async () => {
      writeFileSync(join(dir, 'params.yaml'), 'prepare:\n  scale: 1\n');
      assert.deepEqual(await problemsOf(), ['mloop.yaml:11:14: stage "train" reads param "train.lr", which params.yaml does not define']);
    });

    it('reads dvc.yaml stages into the same DAG, with errors pointing into dvc.yaml', async () => {
      writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\n');
      writeFileSync(
        join(dir, 'dvc.yaml'),
        `stages:\n  prepare:\n    cmd: ${process.execPath} stage.js prepare prepared.txt raw.txt\n    deps:\n      - raw.txt\n      - model.txt\n    outs:\n      - prepared.txt\n  train:\n    cmd: ${process.execPath} stage.js train model.txt prepared.txt\n    deps: [prepared.txt]\n    outs:\n      - model.txt:\n          cache: false\n`,
      );
      assert.deepEqual(await problemsOf(), [
        'dvc.yaml:6:9: stages form a cycle: prepare → train → prepare (prepare reads "model.txt" from train; train reads "prepared.txt" from prepare)',
      ]);
      writeFileSync(join(dir, 'dvc.yaml'), readFileSync(join(dir, 'dvc.yaml'), 'utf8').replace('      - model.txt\n    outs', '    outs'));
      const { ran } = await run();
      assert.deepEqual(ran, ['prepare', 'train']);
      assert.deepEqual((await run()).ran, []);
    });
  });

  it('hashes a file again only when its size, mtime or inode changed', async () => {
    const digests = new StagePathDigests(store);
    const first = await digests.digest(join(dir, 'raw.txt'));
    assert.equal(digests.hashedFiles, 1);
    assert.equal(await new StagePathDigests(store).digest(join(dir, 'raw.txt')), first);
    const again = new StagePathDigests(store);
    await again.digest(join(dir, 'raw.txt'));
    assert.equal(again.hashedFiles, 0, 'the recorded digest is reused while the stamp matches');
    utimesSync(join(dir, 'raw.txt'), new Date(), new Date(Date.now() + 5000));
    const touched = new StagePathDigests(store);
    assert.equal(await touched.digest(join(dir, 'raw.txt')), first);
    assert.equal(touched.hashedFiles, 1, 'a new mtime means the file is read again');
  });
});
