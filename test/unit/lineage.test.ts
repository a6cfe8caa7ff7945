import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { dataPathUsage, entryScriptUsage, profileLine } from '../../src/core/lineage/fileUsage';
import { codeNodeId, lineageGraph } from '../../src/core/lineage/graph';
import { resolveLineageRef } from '../../src/core/lineage/refs';
import { DatasetRepository } from '../../src/core/store/datasets';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const CLI = resolve(__dirname, '../../../dist/cli.js');
const COMMIT = 'a'.repeat(40);
const PROFILE = JSON.stringify({
  format: 1,
  rows: 1461,
  columns: [
    { name: 'date', type: 'datetime', nulls: 0 },
    { name: 'wind', type: 'number', nulls: 2 },
  ],
});

interface Fixture {
  store: Store;
  dir: string;
  runs: { r1: string; r2: string; r3: string };
  dv: { d1: number; d2: number };
  mv: { v1: number; v2: number; v3: number };
  deploymentId: number;
  driftId: number;
}

/** weather@d1 → r1 (train.py @A) → clf v1;  weather@d2 → r2 (train.py @A, dirty) → clf v2 @champion → deployment;  d2 → drift → r3 (retrain.py) → clf v3. */
function buildFixture(dir: string): Fixture {
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  const datasets = new DatasetRepository(store);
  const weather = datasets.upsert({ name: 'weather', uri: 'data/weather.csv', format: 'csv' });
  const d1 = datasets.addVersion({ datasetId: weather.datasetId, digest: '1'.repeat(64), path: 'data/weather.csv', rowCount: 1400, now: 1000 }).version
    .datasetVersionId;
  const d2 = datasets.addVersion({
    datasetId: weather.datasetId,
    digest: '2'.repeat(64),
    path: 'data/weather.csv',
    rowCount: 1461,
    profileJson: PROFILE,
    now: 2000,
  }).version.datasetVersionId;
  const runs = new RunRepository(store);
  const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
  const mk = (name: string, entryFile: string, gitCommit: string | undefined, gitDirty: boolean, accuracy: number, startTime: number): string => {
    const run = runs.create({ experimentId, name, status: 'RUNNING', pipeline: 'train', entryFile, gitCommit, gitDirty, startTime });
    runs.logMetrics(run.runId, [{ key: 'accuracy', value: accuracy, step: 0, timestamp: startTime + 1 }]);
    runs.finish(run.runId, { status: 'FINISHED', endTime: startTime + 2 });
    return run.runId;
  };
  const r1 = mk('first', 'train.py', COMMIT, false, 0.8, 1000);
  const r2 = mk('second', 'train.py', COMMIT, true, 0.91, 2000);
  const r3 = mk('retrain', 'retrain.py', undefined, false, 0.85, 3000);
  datasets.linkRunInput(r1, d1);
  datasets.linkRunInput(r2, d2);
  datasets.linkRunInput(r3, d2);
  const models = new ModelRepository(store);
  const v1 = models.registerVersion({ name: 'clf', sourceRunId: r1, actor: 'test', now: 1100 }).modelVersionId;
  const v2 = models.registerVersion({ name: 'clf', sourceRunId: r2, actor: 'test', now: 2100 }).modelVersionId;
  const v3 = models.registerVersion({ name: 'clf', sourceRunId: r3, actor: 'test', now: 3100 }).modelVersionId;
  models.setAlias({ modelId: models.byName('clf')!.modelId, alias: 'champion', version: 2, actor: 'test' });
  const deploymentId = new DeploymentRepository(store).create({
    modelVersionId: v2,
    target: 'local-serve',
    strategy: 'direct',
    trafficPercent: 100,
    status: 'healthy',
  }).deploymentId;
  const driftId = Number(
    store.db
      .prepare(
        "INSERT INTO drift_report (model_id, reference_dataset_version_id, current_uri, drifted_share, dataset_drift, result_json, retrain_run_id, created_at) VALUES (?, ?, 'data/new.csv', 0.5, 1, '{}', ?, 2500)",
      )
      .run(models.byName('clf')!.modelId, d2, r3).lastInsertRowid,
  );
  return { store, dir, runs: { r1, r2, r3 }, dv: { d1, d2 }, mv: { v1, v2, v3 }, deploymentId, driftId };
}

describe('lineage: graph from the store keys', () => {
  let f: Fixture;
  let cleanup: () => void;
  before(() => {
    const t = tempDir('mloop-lineage-');
    cleanup = t.cleanup;
    f = buildFixture(t.dir);
  });
  after(() => {
    f.store.close();
    cleanup();
  });

  it('a champion version traces upstream to its run, dataset version and code commit, downstream to its deployment', () => {
    const g = lineageGraph(f.store, `model:${f.mv.v2}`, { depth: 3 });
    const ids = new Set(g.nodes.map((n) => n.id));
    assert.deepEqual(
      [...ids].sort(),
      [`model:${f.mv.v2}`, `run:${f.runs.r2}`, `dataset:${f.dv.d2}`, codeNodeId(COMMIT, 'train.py'), `deployment:${f.deploymentId}`].sort(),
      'upstream only follows upstream edges: the sibling run r3 that also read d2 is not pulled in',
    );
    const edge = (from: string, to: string): string | undefined => g.edges.find((e) => e.from === from && e.to === to)?.relation;
    assert.equal(edge(`dataset:${f.dv.d2}`, `run:${f.runs.r2}`), 'input');
    assert.equal(edge(codeNodeId(COMMIT, 'train.py'), `run:${f.runs.r2}`), 'code');
    assert.equal(edge(`run:${f.runs.r2}`, `model:${f.mv.v2}`), 'registered');
    assert.equal(edge(`model:${f.mv.v2}`, `deployment:${f.deploymentId}`), 'deployed');
    const root = g.nodes.find((n) => n.id === g.root)!;
    assert.equal(root.label, 'clf v2');
    assert.match(root.detail, /@champion/);
    assert.equal(g.nodes.find((n) => n.kind === 'dataset')!.depth, -2);
    assert.equal(g.nodes.find((n) => n.kind === 'deployment')!.depth, 1);
    assert.match(g.nodes.find((n) => n.kind === 'run')!.detail, /dirty tree/);
  });

  it('a dataset version reaches the runs, drift report, retrain run and models made from it; depth limits the walk', () => {
    const one = lineageGraph(f.store, `dataset:${f.dv.d2}`, { depth: 1 });
    assert.deepEqual(one.nodes.map((n) => n.id).sort(), [`dataset:${f.dv.d2}`, `run:${f.runs.r2}`, `run:${f.runs.r3}`, `drift:${f.driftId}`].sort());
    const three = lineageGraph(f.store, `dataset:${f.dv.d2}`, { depth: 3 });
    const ids = three.nodes.map((n) => n.id);
    for (const id of [`model:${f.mv.v2}`, `model:${f.mv.v3}`, `deployment:${f.deploymentId}`]) assert.ok(ids.includes(id), id);
    assert.ok(!ids.includes(`model:${f.mv.v1}`), 'v1 came from the other dataset version');
    assert.ok(three.edges.some((e) => e.from === `drift:${f.driftId}` && e.to === `run:${f.runs.r3}` && e.relation === 'retrain'));
    const capped = lineageGraph(f.store, `dataset:${f.dv.d2}`, { depth: 3, maxNodes: 3 });
    assert.equal(capped.nodes.length, 3);
    assert.equal(capped.truncated, true);
    assert.throws(() => lineageGraph(f.store, 'run:' + 'f'.repeat(32)), /nothing in the store has the lineage id/);
  });

  it('a code node links every run of that script at that commit', () => {
    const g = lineageGraph(f.store, codeNodeId(COMMIT, 'train.py'), { depth: 1 });
    assert.deepEqual(
      g.nodes
        .filter((n) => n.kind === 'run')
        .map((n) => n.id)
        .sort(),
      [`run:${f.runs.r1}`, `run:${f.runs.r2}`].sort(),
    );
    assert.equal(g.nodes[0]!.label, `train.py @${COMMIT.slice(0, 8)}`);
  });

  it('resolves what users type: model@version, @alias, models:/ URIs, run prefixes, datasets and digests; explains what it cannot', () => {
    const ok = (text: string): string => {
      const r = resolveLineageRef(f.store, text);
      assert.ok('id' in r, `${text}: ${JSON.stringify(r)}`);
      return r.id;
    };
    assert.equal(ok('clf@champion'), `model:${f.mv.v2}`);
    assert.equal(ok('clf@3'), `model:${f.mv.v3}`);
    assert.equal(ok('clf@v1'), `model:${f.mv.v1}`);
    assert.equal(ok('clf/1'), `model:${f.mv.v1}`);
    assert.equal(ok('models:/clf@champion'), `model:${f.mv.v2}`);
    assert.equal(ok('models:/clf/3'), `model:${f.mv.v3}`);
    assert.equal(ok(f.runs.r1.slice(0, 12)), `run:${f.runs.r1}`);
    assert.equal(ok(`run:${f.runs.r2}`), `run:${f.runs.r2}`);
    assert.equal(ok('weather'), `dataset:${f.dv.d2}`, 'a dataset name means its newest version');
    assert.equal(ok('weather@1111'), `dataset:${f.dv.d1}`);
    assert.equal(ok(`deployment:${f.deploymentId}`), `deployment:${f.deploymentId}`);
    const problem = (text: string): string => {
      const r = resolveLineageRef(f.store, text);
      assert.ok('problem' in r, `${text} should be refused`);
      return r.problem;
    };
    assert.match(problem('clf@9'), /clf has no version 9/);
    assert.match(problem('clf@staging'), /clf has no alias "staging"/);
    assert.match(problem('clf'), /is a model: name a version/);
    assert.match(problem('nope@1'), /no model or dataset named "nope"/);
    assert.match(problem('weather@zz'), /not a digest prefix/);
    assert.match(problem('weather@3333'), /no version with digest 3333/);
    assert.match(problem('deployment:999'), /no deployment with id 999/);
    assert.match(problem('0123'), /no run with id 0123/);
    assert.match(problem(''), /give what to trace/);
  });
});

describe('lineage: while coding (scripts and data paths)', () => {
  let f: Fixture;
  let cleanup: () => void;
  before(() => {
    const t = tempDir('mloop-lineage-file-');
    cleanup = t.cleanup;
    f = buildFixture(t.dir);
  });
  after(() => {
    f.store.close();
    cleanup();
  });

  it('an entry script knows its runs, the best value of the primary metric and the model versions it produced', () => {
    const usage = entryScriptUsage(f.store, f.dir, join(f.dir, 'train.py'), { name: 'accuracy', goal: 'maximize' });
    assert.equal(usage.runs, 2);
    assert.equal(usage.lastRun?.runId, f.runs.r2);
    assert.equal(usage.lastRun?.gitDirty, true);
    assert.deepEqual(usage.best, { metric: 'accuracy', value: 0.91, runId: f.runs.r2, runName: 'second' });
    assert.deepEqual(
      usage.models.map((m) => `v${m.version}${m.aliases.map((a) => `@${a}`).join('')}`),
      ['v2@champion', 'v1'],
    );
    const minimize = entryScriptUsage(f.store, f.dir, 'train.py', { name: 'accuracy', goal: 'minimize' });
    assert.equal(minimize.best?.value, 0.8);
    assert.equal(entryScriptUsage(f.store, f.dir, 'other.py').runs, 0);
  });

  it('a script recorded by its absolute path (mlflow.source.name) counts too', () => {
    const runs = new RunRepository(f.store);
    const experimentId = new ExperimentRepository(f.store).ensure('weather').experimentId;
    runs.create({ experimentId, name: 'abs', entryFile: join(f.dir, 'retrain.py'), startTime: 5000 });
    assert.equal(entryScriptUsage(f.store, f.dir, 'retrain.py').runs, 2);
  });

  it("a data path written in code finds its dataset from the project root or the file's folder, with versions, profile line and models", () => {
    mkdirSync(join(f.dir, 'src'), { recursive: true });
    for (const [written, bases] of [
      ['data/weather.csv', []],
      ['./data/weather.csv', []],
      ['../data/weather.csv', [join(f.dir, 'src')]],
      [join(f.dir, 'data/weather.csv'), []],
      [`file://${join(f.dir, 'data/weather.csv')}`, []],
    ] as [string, string[]][]) {
      const [usage] = dataPathUsage(f.store, f.dir, written, bases);
      assert.ok(usage, written);
      assert.equal(usage.name, 'weather');
      assert.equal(usage.versions, 2);
      assert.equal(usage.runs, 3);
      assert.equal(usage.latest?.datasetVersionId, f.dv.d2);
      assert.equal(usage.latest?.profileLine, '1,461 rows × 2 columns — date: datetime, wind: number (2 null)');
      assert.deepEqual(
        usage.models.map((m) => m.version),
        [3, 2, 1],
      );
    }
    assert.deepEqual(dataPathUsage(f.store, f.dir, 'data/other.csv'), []);
    assert.deepEqual(dataPathUsage(f.store, f.dir, '../data/weather.csv'), [], 'relative to the project root this points outside it');
    assert.equal(profileLine('{not json'), undefined);
  });
});

describe('lineage: traversal on generated graphs matches an independent walk', () => {
  it('every node within depth is found, nothing beyond it, and every edge joins two returned nodes', function () {
    this.timeout(120_000);
    const t = tempDir('mloop-lineage-gen-');
    try {
      let round = 0;
      fc.assert(
        fc.property(
          fc.record({
            datasets: fc.integer({ min: 1, max: 4 }),
            runs: fc.array(fc.record({ inputs: fc.uniqueArray(fc.nat(3), { maxLength: 3 }), models: fc.nat(2) }), { minLength: 1, maxLength: 8 }),
            depth: fc.integer({ min: 0, max: 4 }),
            rootPick: fc.nat(100),
          }),
          (spec) => {
            const store = openStore({ path: join(t.dir, `g${round++}.db`) });
            try {
              const up = new Map<string, string[]>();
              const down = new Map<string, string[]>();
              const link = (from: string, to: string): void => {
                up.set(to, [...(up.get(to) ?? []), from]);
                down.set(from, [...(down.get(from) ?? []), to]);
              };
              const datasets = new DatasetRepository(store);
              const ds = datasets.upsert({ name: 'd', uri: 'd.csv' });
              const dvs = Array.from(
                { length: spec.datasets },
                (_, i) => datasets.addVersion({ datasetId: ds.datasetId, digest: String(i).padStart(64, '0'), path: 'd.csv' }).version.datasetVersionId,
              );
              const runs = new RunRepository(store);
              const models = new ModelRepository(store);
              const experimentId = new ExperimentRepository(store).ensure('e').experimentId;
              const all = dvs.map((d) => `dataset:${d}`);
              spec.runs.forEach((r, i) => {
                const run = runs.create({ experimentId, startTime: i });
                all.push(`run:${run.runId}`);
                for (const input of r.inputs) {
                  if (input >= dvs.length) continue;
                  datasets.linkRunInput(run.runId, dvs[input]!);
                  link(`dataset:${dvs[input]}`, `run:${run.runId}`);
                }
                for (let m = 0; m < r.models; m++) {
                  const v = models.registerVersion({ name: `m${m}`, sourceRunId: run.runId, actor: 't' });
                  all.push(`model:${v.modelVersionId}`);
                  link(`run:${run.runId}`, `model:${v.modelVersionId}`);
                }
              });
              const root = all[spec.rootPick % all.length]!;
              const expected = new Set([root]);
              for (const adjacency of [up, down]) {
                let frontier = [root];
                for (let hop = 0; hop < spec.depth; hop++) {
                  frontier = frontier.flatMap((n) => adjacency.get(n) ?? []).filter((n) => !expected.has(n) && expected.add(n));
                }
              }
              const g = lineageGraph(store, root, { depth: spec.depth });
              const got = new Set(g.nodes.map((n) => n.id));
              assert.deepEqual([...got].sort(), [...expected].sort());
              for (const e of g.edges) assert.ok(got.has(e.from) && got.has(e.to), JSON.stringify(e));
            } finally {
              store.close();
            }
          },
        ),
        { numRuns: 60, seed: 5 },
      );
    } finally {
      t.cleanup();
    }
  });
});

describe('cli: mloop lineage', function () {
  this.timeout(60_000);
  let f: Fixture;
  let cleanup: () => void;
  const mloop = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: f.dir, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  before(() => {
    const t = tempDir('mloop-lineage-cli-');
    cleanup = t.cleanup;
    f = buildFixture(t.dir);
    writeFileSync(join(t.dir, 'mloop.yaml'), 'version: 1\n');
    writeFileSync(join(t.dir, 'train.py'), 'print(1)\n');
    f.store.close();
  });
  after(() => cleanup());

  it('prints a model version with its run, dataset and code upstream and its deployment downstream', () => {
    const r = mloop('lineage', 'clf@champion');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^model\s+clf v2 {2}\(@champion\)/);
    assert.ok(
      lines.some((l) => /^ {2}← run\s+second .*\[registered\]$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /^ {4}← dataset\s+weather @222222222222 {2}\(1,461 rows · data\/weather.csv\) \[input\]$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /^ {4}← code\s+train.py @aaaaaaaa .*\[code\]$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /^ {2}→ deployment\s+local-serve {2}\(direct · healthy · 100%\) \[deployed\]$/.test(l)),
      r.stdout,
    );
  });

  it('--json gives nodes and edges; --depth 0 gives the node alone', () => {
    const r = mloop('lineage', f.runs.r2.slice(0, 8), '--json', '--depth', '1');
    assert.equal(r.code, 0, r.stderr);
    const g = JSON.parse(r.stdout) as { root: string; nodes: { id: string }[]; edges: unknown[] };
    assert.equal(g.root, `run:${f.runs.r2}`);
    assert.equal(g.nodes.length, 4, 'dataset, code and model around the run');
    const zero = JSON.parse(mloop('lineage', 'weather', '--json', '--depth', '0').stdout) as { nodes: unknown[] };
    assert.equal(zero.nodes.length, 1);
  });

  it('a file path tells which runs used it as their script and which models came from them', () => {
    const r = mloop('lineage', 'train.py');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /train.py is the entry script of 2 runs/);
    assert.match(r.stdout, /at commit aaaaaaaa \+ uncommitted changes/);
    assert.match(r.stdout, /models: clf v2 \(@champion\), clf v1/);
  });

  it('refuses what it cannot resolve (exit 1, the reason) and a bad --depth (exit 2)', () => {
    const r = mloop('lineage', 'clf@7');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /clf has no version 7/);
    const d = mloop('lineage', 'clf@1', '--depth', 'x');
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /--depth must be a whole number/);
  });
});

describe('lineage: panel messages are validated', () => {
  it('accepts ready, focus and open with node ids; drops forged ids, out-of-range depth and extra fields', async () => {
    const { lineageWebviewMessageSchema, lineageViewStateSchema } = await import('../../src/protocol/lineageMessages');
    const ok = (m: unknown): boolean => lineageWebviewMessageSchema.safeParse(m).success;
    assert.ok(ok({ type: 'ready' }));
    assert.ok(ok({ type: 'focus', nodeId: 'model:3', depth: 2 }));
    assert.ok(ok({ type: 'open', nodeId: `code:${COMMIT}:train.py` }));
    assert.ok(!ok({ type: 'open', nodeId: 'javascript:alert(1)' }));
    assert.ok(!ok({ type: 'focus', nodeId: 'run:x', depth: 11 }));
    assert.ok(!ok({ type: 'focus', nodeId: 'run:x', depth: 1.5 }));
    assert.ok(!ok({ type: 'ready', extra: true }));
    assert.ok(!ok({ type: 'open' }));
    assert.ok(!ok({ type: 'runCommand', command: 'rm -rf /' }));
    assert.equal(lineageViewStateSchema.parse({ root: 'dataset:1' }).depth, 3);
  });
});

describe('lineage: the string under the cursor', () => {
  it('finds the quoted literal around a column in Python, JS and notebook lines, escapes included', async () => {
    const { stringLiteralAt } = await import('../../src/core/lineage/literals');
    const line = 'frame = pd.read_csv("data/seattle-weather.csv", sep=\',\')';
    assert.deepEqual(stringLiteralAt(line, line.indexOf('seattle')), { text: 'data/seattle-weather.csv', start: 20, end: 46 });
    assert.equal(stringLiteralAt(line, 3), undefined, 'outside any string');
    assert.equal(stringLiteralAt(line, line.indexOf("','") + 1)?.text, ',');
    assert.equal(stringLiteralAt('open(`data/x.parquet`)', 8)?.text, 'data/x.parquet');
    assert.equal(stringLiteralAt('p = "a \\" b"', 7)?.text, 'a \\" b');
    assert.equal(stringLiteralAt('x = "unterminated', 6), undefined);
  });
});
