import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectPath, cacheRootOf } from '../../src/core/cache/contentStore';
import { lineageGraph } from '../../src/core/lineage/graph';
import { checkReproducible, ReproduceError, reproduceRun } from '../../src/core/runs/reproduce';
import { DatasetCacheRepository } from '../../src/core/store/datasetCache';
import { EnvironmentRepository } from '../../src/core/store/environments';
import { runCli } from '../../src/cli/program';
import { ReproductionRepository } from '../../src/core/store/reproductions';
import { RunCodeRepository } from '../../src/core/store/runCode';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { CLI, fingerprint, tempDir } from './fixtures';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });

/** Least squares of y on x, computed here independently of the training script. */
function leastSquares(csv: string): { slope: number; intercept: number } {
  const rows = csv
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number) as [number, number]);
  const n = rows.length;
  const mx = rows.reduce((s, [x]) => s + x, 0) / n;
  const my = rows.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = rows.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = rows.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return { slope: sxy / sxx, intercept: my - (sxy / sxx) * mx };
}

const TRAIN_PY = `import sys
from offset import OFFSET  # a module outside the repository (on PYTHONPATH)
scale = float(sys.argv[1])
rows = [tuple(map(float, l.split(","))) for l in open("data/points.csv").read().strip().splitlines()[1:]]
n = len(rows)
mx = sum(x for x, _ in rows) / n
my = sum(y for _, y in rows) / n
sxy = sum((x - mx) * (y - my) for x, y in rows)
sxx = sum((x - mx) ** 2 for x, _ in rows)
slope = sxy / sxx
print(f"::mloop metric name=slope value={slope!r}", flush=True)
print(f"::mloop metric name=intercept value={(my - slope * mx)!r}", flush=True)
print(f"::mloop metric name=scaled value={(slope * scale + OFFSET)!r}", flush=True)
`;

describe('runs: exact rerun (real git worktrees, real Python, the cache)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let repo: string;
  let lib: string;
  let env: NodeJS.ProcessEnv;
  let originalId: string;
  let firstCsv: string;
  let store: Store;

  const worktrees = (): number =>
    git(repo, 'worktree', 'list', '--porcelain')
      .split('\n')
      .filter((l) => l.startsWith('worktree ')).length;
  // temporary folders of reruns made by this file's tests (one left by a process killed elsewhere earlier is not theirs)
  const earlier = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('mloop-rerun-')));
  const leftovers = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('mloop-rerun-') && !earlier.has(f));

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-reprotest-'));
    repo = join(dir, 'proj');
    lib = join(dir, 'lib');
    mkdirSync(join(repo, 'data'), { recursive: true });
    mkdirSync(lib);
    writeFileSync(join(lib, 'offset.py'), 'OFFSET = 0.0\n');
    env = { ...process.env, MLOOP_STORE: '', PYTHONPATH: lib, PYTHONDONTWRITEBYTECODE: '1' };
    git(repo, 'init', '-q');
    writeFileSync(
      join(repo, 'mloop.yaml'),
      'version: 1\ndatasets:\n  points:\n    path: data/points.csv\npipelines:\n  fit:\n    command: [python3, train.py, "${params.scale}"]\n    params:\n      scale: 2\n    inputs: [points]\n  probe:\n    command: [python3, probe.py]\n',
    );
    writeFileSync(
      join(repo, 'probe.py'),
      'try:\n    import six\n    v = six.__version__\nexcept ImportError:\n    v = None\nprint(f"::mloop metric name=six_1_17 value={int(v == \'1.17.0\')}", flush=True)\n',
    );
    writeFileSync(join(repo, 'train.py'), TRAIN_PY.replace('slope = sxy / sxx', 'slope = sxy / sxx + 1  # a bug the dirty tree fixes'));
    writeFileSync(join(repo, '.gitignore'), '.mloop/\ndata/\n__pycache__/\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'first');
    // the original run: uncommitted fix in train.py, data not in git, a param other than the default
    writeFileSync(join(repo, 'train.py'), TRAIN_PY);
    firstCsv = `x,y\n${Array.from({ length: 40 }, (_, i) => `${i / 3},${((i * 7919) % 101) / 9.7 + i * 0.37}`).join('\n')}\n`;
    writeFileSync(join(repo, 'data', 'points.csv'), firstCsv);
    const trained = spawnSync(process.execPath, [CLI, 'train', 'fit', '--param', 'scale=3', '--json'], { cwd: repo, env, encoding: 'utf8' });
    assert.equal(trained.status, 0, trained.stderr);
    originalId = (JSON.parse(trained.stdout) as { runId: string }).runId;
    // afterwards the user moves on: the fix is dropped, the data changes, another commit lands
    git(repo, 'checkout', '--', 'train.py');
    writeFileSync(join(repo, 'data', 'points.csv'), 'x,y\n0,5\n1,1\n2,8\n');
    writeFileSync(join(repo, 'notes.md'), 'later work\n');
    git(repo, 'add', 'notes.md');
    git(repo, 'commit', '-qm', 'later');
    writeFileSync(join(repo, 'train.py'), '# work in progress\n');
    store = openStore({ path: join(repo, '.mloop', 'mloop.db') });
  });
  after(() => {
    store?.close();
    cleanup();
  });

  it('reruns a dirty-tree run with its diff, data and params from the CLI (--json) and reproduces every metric; the work tree is untouched', () => {
    const runs = new RunRepository(store);
    const expected = leastSquares(firstCsv);
    const original = Object.fromEntries(runs.latestMetricPoints(originalId).map((m) => [m.key, m.value]));
    assert.ok(
      Math.abs(original.slope! - expected.slope) < 1e-12 && Math.abs(original.intercept! - expected.intercept) < 1e-12,
      'the original run fitted its data',
    );
    assert.equal(runs.get(originalId)!.gitDirty, true);
    const before = ['train.py', 'data/points.csv', 'mloop.yaml'].map((f) => fingerprint(join(repo, f)));
    const status = git(repo, 'status', '--porcelain');
    const head = git(repo, 'rev-parse', 'HEAD');

    // the repository's own hooks do not run for the temporary checkout
    writeFileSync(join(repo, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\ntouch "${join(dir, 'hook-ran')}"\n`, { mode: 0o755 });
    const r = spawnSync(process.execPath, [CLI, 'rerun', originalId.slice(0, 10), '--exact', '--json'], { cwd: repo, env, encoding: 'utf8' });
    assert.ok(!existsSync(join(dir, 'hook-ran')), 'post-checkout hook did not run');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      runId: string;
      verdict: string;
      reproduced: boolean;
      diffApplied: boolean;
      restored: { dataset: string; path: string }[];
      metrics: { key: string; original: number; rerun: number; within: boolean }[];
      differing: string[];
    };
    assert.equal(out.verdict, 'reproduced');
    assert.equal(out.reproduced, true);
    assert.equal(out.diffApplied, true);
    assert.deepEqual(
      out.restored.map((x) => [x.dataset, x.path]),
      [['points', 'data/points.csv']],
    );
    assert.deepEqual(
      out.metrics.map((m) => m.key),
      ['intercept', 'scaled', 'slope'],
    );
    assert.deepEqual(out.differing, []);
    assert.equal(out.metrics.find((m) => m.key === 'scaled')!.rerun, expected.slope * 3, "the rerun used the run's param (scale=3), not the default");
    assert.match(r.stderr, /checking out [0-9a-f]{12} into a temporary worktree[\s\S]*applying the run's uncommitted changes[\s\S]*restoring points@/);

    assert.deepEqual(
      ['train.py', 'data/points.csv', 'mloop.yaml'].map((f) => fingerprint(join(repo, f))),
      before,
      "the user's files are as they were",
    );
    assert.equal(git(repo, 'status', '--porcelain'), status);
    assert.equal(git(repo, 'rev-parse', 'HEAD'), head);
    assert.equal(worktrees(), 1, 'the temporary worktree is gone');
    assert.deepEqual(leftovers(), []);

    const rerun = runs.get(out.runId)!;
    assert.equal(rerun.gitCommit, runs.get(originalId)!.gitCommit, 'the rerun ran at the original commit');
    assert.equal(runs.params(out.runId).scale, '3');
    assert.deepEqual(
      new RunCodeRepository(store).forRun(out.runId)!.diff,
      new RunCodeRepository(store).forRun(originalId)!.diff,
      'with the same uncommitted diff',
    );
    const graph = lineageGraph(store, `run:${originalId}`, { depth: 1 });
    assert.ok(
      graph.edges.some((e) => e.relation === 'reproduces' && e.from === `run:${originalId}` && e.to === `run:${out.runId}`),
      'lineage has the edge',
    );
    for (const id of [originalId, out.runId]) {
      const shown = spawnSync(process.execPath, [CLI, 'runs', 'show', id.slice(0, 10)], { cwd: repo, env, encoding: 'utf8' });
      assert.match(shown.stdout, id === originalId ? /reproduced by\s+[0-9a-f]{8}: reproduced ✓/ : /reproduces\s+[0-9a-f]{8}: reproduced ✓/);
    }
  });

  it('says which metrics differ when code outside the commit (a module on PYTHONPATH) changed: exit 7; a looser --tolerance accepts it', async () => {
    writeFileSync(join(lib, 'offset.py'), 'OFFSET = 0.5\n');
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = lib;
    const rerun = async (...extra: string[]): Promise<{ code: number; stdout: string }> => {
      let stdout = '';
      const code = await runCli(['rerun', originalId, '--exact', ...extra], {
        stdout: { write: (t) => (stdout += String(t)) },
        stderr: { write: () => true },
        cwd: repo,
      });
      return { code, stdout };
    };
    try {
      const differs = await rerun();
      assert.equal(differs.code, 7, differs.stdout);
      assert.match(differs.stdout, /: differs ✗: scaled\n/);
      assert.match(differs.stdout, /\n {2}✗ scaled: [\d.]+ → [\d.]+ \(relative difference 1\.\d+e-1\)\n {2}✓ slope: /);
      const latest = new ReproductionRepository(store).reproductionsOf(originalId)[0]!;
      assert.equal(latest.verdict, 'differs');
      const scaled = latest.metrics.find((m) => m.key === 'scaled')!;
      assert.equal(scaled.rerun, (scaled.original as number) + 0.5, 'only the metric the change touched, by the change');
      assert.deepEqual(
        latest.metrics.filter((m) => !m.within).map((m) => m.key),
        ['scaled'],
      );
      const loose = await rerun('--tolerance', '0.5');
      assert.equal(loose.code, 0, loose.stdout);
      assert.match(loose.stdout, /reproduced ✓/);
    } finally {
      writeFileSync(join(lib, 'offset.py'), 'OFFSET = 0.0\n');
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
    assert.equal(worktrees(), 1);
  });

  it('--env recreate builds a venv with exactly the recorded packages from the package index, and the run reproduces in it', async function () {
    this.timeout(180_000);
    let stdout = '';
    const code = await runCli(['train', 'probe', '--json'], { stdout: { write: (t) => (stdout += String(t)) }, stderr: { write: () => true }, cwd: repo });
    assert.equal(code, 0);
    const probeId = (JSON.parse(stdout) as { runId: string }).runId;
    // the run's record says it ran with one package: what recreate must rebuild (the real list here is hundreds long)
    const environments = new EnvironmentRepository(store);
    const real = environments.forRun(probeId)!.document;
    environments.record(probeId, { ...real, python: { ...real.python!, packages: { six: '1.17.0' }, freeze: ['six==1.17.0'] } });
    const result = await reproduceRun({ store, projectRoot: repo, runId: probeId, trusted: true, env: 'recreate', baseEnv: env });
    assert.equal(result.reproduction.verdict, 'reproduced', JSON.stringify(result.reproduction));
    assert.deepEqual(result.reproduction.environment, [], 'no difference from the recorded environment');
    const rebuilt = environments.forRun(result.outcome.runId)!.document.python!;
    assert.deepEqual(rebuilt.packages, { six: '1.17.0' }, 'the rerun ran with exactly the recorded packages');
    assert.match(rebuilt.executable, /mloop-rerun-[^/]+\/venv\/bin\/python/);
    assert.deepEqual(leftovers(), [], 'the venv went with the temporary folder');
  });

  it('refuses with clear errors: a run from before capture, a commit gone, a diff that no longer applies, a corrupted cache object', async () => {
    const runs = new RunRepository(store);
    const original = runs.get(originalId)!;
    const old = runs.create({
      experimentId: original.experimentId,
      name: 'old',
      status: 'FINISHED',
      pipeline: 'fit',
      gitCommit: original.gitCommit!,
      gitDirty: true,
    });
    const check = await checkReproducible(store, repo, old.runId);
    assert.ok(
      check.blockers.some((b) => /started with uncommitted changes, but it is from before mloop kept them/.test(b)),
      check.blockers.join('\n'),
    );
    assert.ok(check.notes.some((n) => /before mloop captured environments: differences from today's Python cannot be reported/.test(n)));
    await assert.rejects(reproduceRun({ store, projectRoot: repo, runId: old.runId, trusted: true, env: 'recreate' }), /no package list to recreate/);

    const gone = runs.create({
      experimentId: original.experimentId,
      name: 'gone',
      status: 'FINISHED',
      pipeline: 'fit',
      gitCommit: 'ab'.repeat(20),
      gitDirty: false,
    });
    await assert.rejects(
      reproduceRun({ store, projectRoot: repo, runId: gone.runId, trusted: true }),
      /commit abababababab of run gone .* no longer exists in the repository/,
    );

    // a context line of the patch that the commit does not have (the stored diff was made against other code)
    const stale = runs.create({
      experimentId: original.experimentId,
      name: 'stale',
      status: 'FINISHED',
      pipeline: 'fit',
      gitCommit: original.gitCommit!,
      gitDirty: true,
    });
    const diff = new RunCodeRepository(store).forRun(originalId)!.diff!.toString('utf8').replace(' sxx = sum(', ' sxx = max(');
    new RunCodeRepository(store).record(stale.runId, {
      commit: original.gitCommit!,
      diff: Buffer.from(diff),
      diffBytes: diff.length,
      truncated: false,
      untracked: [],
    });
    await assert.rejects(reproduceRun({ store, projectRoot: repo, runId: stale.runId, trusted: true, baseEnv: env }), (e: Error) => {
      assert.ok(e instanceof ReproduceError);
      assert.match(e.message, /the uncommitted changes of run stale no longer apply on commit [0-9a-f]{12}/);
      return true;
    });
    assert.equal(worktrees(), 1, 'a failed rerun removes its worktree too');

    const versionId = store.db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ?').pluck().get(originalId) as number;
    const [file] = new DatasetCacheRepository(store).files(versionId);
    const object = objectPath(cacheRootOf(repo), file!.objectDigest);
    const bytes = readFileSync(object);
    chmodSync(object, 0o644);
    writeFileSync(object, Buffer.concat([bytes, Buffer.from('9,9\n')]));
    try {
      const r = spawnSync(process.execPath, [CLI, 'rerun', originalId, '--exact'], { cwd: repo, env, encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`cached object ${file!.objectDigest} is corrupted: .*${file!.objectDigest.slice(2)}`));
    } finally {
      writeFileSync(object, bytes);
    }
    assert.equal(worktrees(), 1);
    assert.deepEqual(leftovers(), []);
  });
});
