import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { CLI, mloop, tempDir } from './fixtures';

const EXAMPLE = resolve(__dirname, '../../../examples/weather');
const git = (cwd: string, ...args: string[]): string => {
  const r = spawnSync('git', ['-c', 'user.name=CI Bot', '-c', 'user.email=ci@example.com', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

/**
 * `mloop init --ci github` and the script it writes, run by bash on a copy of examples/weather in a real git repository
 * with real Python and scikit-learn (the protocol pipeline: no mlflow import), as GitHub Actions would run it.
 */
describe('ci: mloop init --ci github and scripts/mloop-ci.sh run on the weather example (issue 21)', function () {
  this.timeout(240_000);
  let root: string;
  let project: string;
  let bin: string;
  let cleanup: () => void;

  /** Runs the generated script as the workflow does; the summary file starts empty. */
  const runScript = (...args: string[]): { code: number | null; stdout: string; stderr: string; summary: string } => {
    const summaryFile = join(root, 'summary.md');
    writeFileSync(summaryFile, '');
    const r = spawnSync('bash', ['scripts/mloop-ci.sh', ...args], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, MLOOP_STORE: '', PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, GITHUB_STEP_SUMMARY: summaryFile },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, summary: readFileSync(summaryFile, 'utf8') };
  };
  /** The metrics train_protocol.py printed itself (its last JSON line), independent of mloop's store. */
  const printedMetrics = (stdout: string): { accuracy: number; f1_macro: number } =>
    JSON.parse(
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{"accuracy"'))
        .pop()!,
    ) as { accuracy: number; f1_macro: number };
  const row = (summary: string, step: string): string => summary.split('\n').find((l) => l.startsWith(`| ${step} |`)) ?? '';

  before(() => {
    ({ dir: root, cleanup } = tempDir('mloop-ci-script-'));
    // the project in a subfolder of the repository: the workflow goes to the repository root, the script to the project
    project = join(root, 'repo', 'weather');
    cpSync(EXAMPLE, project, { recursive: true, filter: (src) => !/[\\/](\.mloop|logs|mlruns|__pycache__)$/.test(src) });
    const yaml = readFileSync(join(project, 'mloop.yaml'), 'utf8');
    // the protocol pipeline, small: the same model and data, ten trees, two folds
    writeFileSync(
      join(project, 'mloop.yaml'),
      yaml.replace(/n_estimators: 200\n(\s+)max_depth: 8\n\s+folds: 5/g, 'n_estimators: 10\n$1max_depth: 8\n$1folds: 2'),
    );
    git(join(root, 'repo'), 'init', '-q', '-b', 'main');
    git(join(root, 'repo'), 'add', '-A');
    git(join(root, 'repo'), 'commit', '-qm', 'weather');
    bin = join(root, 'bin');
    mkdirSync(bin);
    // `mloop` on PATH, as `npm install --global mloop` leaves it
    writeFileSync(join(bin, 'mloop'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
    chmodSync(join(bin, 'mloop'), 0o755);
  });
  after(() => cleanup());

  it('init --ci github writes the workflow at the repository root and the script in the project, and refuses to overwrite them', () => {
    const r = mloop(project, 'init', '--ci', 'github');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kept existing mloop\.yaml/);
    assert.match(r.stdout, /wrote \.\.\/\.github\/workflows\/mloop\.yml\nwrote scripts\/mloop-ci\.sh\n/);
    assert.match(r.stdout, /CI trains pipeline "train", gates weather-clf and checks data\/seattle-weather\.csv for drift/);
    const workflowPath = join(root, 'repo', '.github', 'workflows', 'mloop.yml');
    const workflow = readFileSync(workflowPath, 'utf8');
    assert.match(workflow, /working-directory: "weather"\n/);
    assert.match(workflow, /MLOOP_MODEL: "weather-clf"\n/);
    assert.match(workflow, /run: bash scripts\/mloop-ci\.sh "\$MLOOP_PIPELINE" "\$MLOOP_MODEL" "\$MLOOP_CURRENT"/);
    assert.match(workflow, /run: python -m pip install -r requirements\.txt/);
    // mloop is not on the public npm registry: no guessed package name, the CLI comes from MLOOP_PACKAGE
    assert.doesNotMatch(workflow, /npm install --global mloop/);
    assert.match(workflow, /MLOOP_PACKAGE: \$\{\{ vars\.MLOOP_PACKAGE \|\| '' \}\}\n/);
    assert.match(workflow, /npm install --global "\$MLOOP_PACKAGE"/);
    assert.match(r.stdout, /CI installs the mloop CLI from the repository variable MLOOP_PACKAGE/);
    assert.equal(statSync(join(project, 'scripts', 'mloop-ci.sh')).mode & 0o111, 0o111);

    writeFileSync(workflowPath, '# mine\n');
    const refused = mloop(project, 'init', '--ci', 'github', '--pipeline', 'train-protocol');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /mloop\.yml and .*mloop-ci\.sh already exist; nothing was written \(--force overwrites\)/);
    assert.equal(readFileSync(workflowPath, 'utf8'), '# mine\n');
    const mlooopYaml = readFileSync(join(project, 'mloop.yaml'), 'utf8');
    const forced = mloop(project, 'init', '--ci', 'github', '--pipeline', 'train-protocol', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(workflowPath, 'utf8'), /MLOOP_PIPELINE: "train-protocol"\n/);
    assert.equal(readFileSync(join(project, 'mloop.yaml'), 'utf8'), mlooopYaml, '--force with --ci never rewrites mloop.yaml');
    const withPackage = mloop(project, 'init', '--ci', 'github', '--pipeline', 'train-protocol', '--mloop-package', './mloop-0.1.0.tgz', '--force');
    assert.equal(withPackage.code, 0, withPackage.stderr);
    assert.match(readFileSync(workflowPath, 'utf8'), /MLOOP_PACKAGE: \$\{\{ vars\.MLOOP_PACKAGE \|\| '\.\/mloop-0\.1\.0\.tgz' \}\}\n/);
    // a spec that could end the expression's quoted string is refused, and nothing is written
    const hostile = mloop(project, 'init', '--ci', 'github', '--mloop-package', "x' }}\n  run: curl evil", '--force');
    assert.equal(hostile.code, 1);
    assert.match(hostile.stderr, /--mloop-package .*an npm install spec/);
    assert.match(readFileSync(workflowPath, 'utf8'), /'\.\/mloop-0\.1\.0\.tgz'/);
    const unknown = mloop(project, 'init', '--ci', 'github', '--pipeline', 'nope', '--force');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no pipeline "nope" in .*mloop\.yaml; pipelines: train, train-protocol/);
    git(join(root, 'repo'), 'add', '-A');
    git(join(root, 'repo'), 'commit', '-qm', 'mloop CI');
  });

  it('first run, no champion yet: validate, train, gate pass; drift and the diff are skipped, the card is the summary; exit 0', () => {
    assert.equal(runScript().code, 2, 'no arguments: usage, exit 2');
    const r = runScript('train-protocol', 'weather-clf', 'data/seattle-weather.csv');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(row(r.summary, 'validate'), /✅ \| 0 \|/);
    assert.match(row(r.summary, 'train'), /✅ \| 0 \| the run finished; weather-clf@latest registered/);
    assert.match(row(r.summary, 'release gate'), /✅ \| 0 \| the candidate passed its gate/);
    assert.match(row(r.summary, 'prediction tests'), /⏭️ \| — \| none configured/);
    assert.match(row(r.summary, 'drift'), /no champion yet/);
    assert.match(r.summary, /^# Model card: weather-clf v1$/m);
    const printed = printedMetrics(r.stdout);
    assert.match(r.summary, new RegExp(`^\\| accuracy \\| ${printed.accuracy} \\|$`, 'm'), 'the card shows the accuracy the script printed');
    assert.equal(mloop(project, 'models', 'promote', 'weather-clf', '1').code, 0);
  });

  it('a failing gate: exit 4, drift still checked against the champion, and the card diff shows what changed', () => {
    const yaml = readFileSync(join(project, 'mloop.yaml'), 'utf8');
    const before = git(join(root, 'repo'), 'rev-parse', 'HEAD');
    // a stricter gate and shallower trees, committed as a pull request would be
    writeFileSync(
      join(project, 'mloop.yaml'),
      yaml.replace('- accuracy >= 0.7', '- accuracy >= 0.99').replace(/(train-protocol:[\s\S]*?)max_depth: 8/, '$1max_depth: 3'),
    );
    git(join(root, 'repo'), 'commit', '-qam', 'stricter gate, shallower trees');
    const after = git(join(root, 'repo'), 'rev-parse', 'HEAD');
    const r = runScript('train-protocol', 'weather-clf', 'data/seattle-weather.csv');
    assert.equal(r.code, 4, `${r.stdout}\n${r.stderr}`);
    assert.match(row(r.summary, 'train'), /✅ \| 0 \|/);
    assert.match(row(r.summary, 'release gate'), /❌ \| 4 \| the candidate failed its gate/);
    assert.match(row(r.summary, 'drift'), /✅ \| 0 \| data\/seattle-weather\.csv has not drifted from the champion's training data/);
    assert.match(row(r.summary, 'model card diff'), /✅ \| 0 \|/);
    assert.match(r.summary, /^# Model card changes: weather-clf v1 \(@champion\) → v2$/m);
    assert.match(r.summary, /^- Release gate: passed → failed$/m);
    assert.match(r.summary, new RegExp(`^- Code: ${before} → ${after}$`, 'm'));
    assert.match(r.summary, /^\| max_depth \| 8 \| 3 \|$/m);
    assert.match(r.summary, /^\| accuracy >= 0\.99 \| — \| fail: accuracy [\d.]+ >= 0\.99 \|$/m);
    const printed = printedMetrics(r.stdout);
    const accuracy = new RegExp(`^\\| accuracy \\| ([\\d.]+) \\| ([\\d.]+) \\| ([-+\\d.]+) \\|$`, 'm').exec(r.summary);
    assert.ok(accuracy, r.summary);
    assert.equal(Number(accuracy[2]), Number(printed.accuracy.toFixed(4)), 'the candidate column is what train_protocol.py printed');
    rmSync(join(root, 'summary.md'));
  });
});
