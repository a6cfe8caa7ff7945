import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mloop, tempDir } from './fixtures';

/** The CI gate: `mloop train` and `mloop models register` exit 4 when the version they registered failed its gate. */
describe('cli: release-gate exit codes for CI (issue 21)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-ci-gate-'));
    writeFileSync(
      join(dir, 'train.js'),
      [
        'const [acc, fail] = process.argv.slice(2);',
        'require("node:fs").writeFileSync("model.pkl", "weights " + acc);',
        'console.log(`::mloop metric name=accuracy value=${acc}`);',
        'process.exit(fail === "yes" ? 3 : 0);',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'pipelines:',
        '  train:',
        `    command: [${JSON.stringify(process.execPath)}, train.js, "\${params.acc}", "\${params.fail}"]`,
        '    params: { acc: 0.9, fail: "no" }',
        '    model: { name: clf, path: model.pkl, register: always }',
        'models:',
        '  clf:',
        '    gate: ["accuracy >= 0.8"]',
        '',
      ].join('\n'),
    );
    assert.equal(mloop(dir, 'init').code, 0);
  });
  after(() => cleanup());

  it('train exits 0 when the registered version passes its gate', () => {
    const r = mloop(dir, 'train', 'train', '-p', 'acc=0.9');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /registered clf v1 · gate ✓/);
  });

  it('train exits 4 when the run finished but its version failed the gate (registered, and said so on stderr)', () => {
    const r = mloop(dir, 'train', 'train', '-p', 'acc=0.5');
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /registered clf v2 · gate ✗ \(✗ accuracy 0\.5 >= 0\.8\)/);
    assert.match(r.stderr, /clf v2 failed its release gate \(exit 4\)/);
    const json = mloop(dir, 'train', 'train', '-p', 'acc=0.4', '--json');
    assert.equal(json.code, 4);
    assert.deepEqual((JSON.parse(json.stdout) as { registered: unknown }).registered, { model: 'clf', version: 3, gatePassed: false });
  });

  it('train exits 1 (not 4) when the run itself failed', () => {
    const r = mloop(dir, 'train', 'train', '-p', 'acc=0.1', '-p', 'fail=yes');
    assert.equal(r.code, 1);
  });

  it('models register exits 4 for a failing version, 0 for a passing one or a model without a gate', () => {
    const failing = JSON.parse(mloop(dir, 'runs', 'list', '--json').stdout) as { runId: string; metrics?: Record<string, number> }[];
    const runs = failing.map((r) => r.runId);
    // newest first: the failed run, acc 0.4, acc 0.5, acc 0.9
    const [, low, , high] = runs;
    const refused = mloop(dir, 'models', 'register', low!, '--json');
    assert.equal(refused.code, 4, refused.stderr);
    assert.equal((JSON.parse(refused.stdout) as { gate: { passed: boolean } }).gate.passed, false);
    assert.match(refused.stderr, /clf v4 was registered but failed its release gate \(exit 4\)/);
    const passing = mloop(dir, 'models', 'register', high!);
    assert.equal(passing.code, 0, passing.stderr);
    const ungated = mloop(dir, 'models', 'register', low!, '--model', 'ungated', '--artifact', 'model.pkl');
    assert.equal(ungated.code, 0, ungated.stderr);
  });
});
