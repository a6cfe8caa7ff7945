import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const CLI = resolve(__dirname, '../../../dist/cli.js');

function mloop(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, MLOOP_STORE: '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli: mloop models and audit', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  const runIds: string[] = [];

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-cli-registry-'));
    writeFileSync(
      join(dir, 'mloop.yaml'),
      'version: 1\npipelines:\n  train:\n    command: [python, train.py]\n    model: { name: clf, path: model.pkl }\nmodels:\n  clf:\n    gate: ["accuracy >= 0.8"]\n',
    );
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const runs = new RunRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
    for (const accuracy of [0.9, 0.6]) {
      const run = runs.create({ experimentId, status: 'RUNNING', pipeline: 'train', startTime: Date.now() - 1000 });
      runs.logMetrics(run.runId, [{ key: 'accuracy', value: accuracy, step: 0, timestamp: Date.now() }]);
      writeFileSync(join(dir, 'model.pkl'), `weights ${accuracy}`);
      runs.finish(run.runId, { status: 'FINISHED' });
      // registered one at a time: each run's model file is the one it wrote
      const r = mloop(dir, 'models', 'register', run.runId.slice(0, 10));
      // registered either way; a version that fails its gate exits 4 (the CI gate)
      assert.equal(r.code, accuracy >= 0.8 ? 0 : 4, r.stderr);
      runIds.push(run.runId);
    }
    store.close();
  });
  after(() => cleanup());

  it("register takes the model and artifact from the run's pipeline and prints the gate verdict", () => {
    const r = mloop(dir, 'models', 'show', 'clf', '--json');
    assert.equal(r.code, 0, r.stderr);
    const shown = JSON.parse(r.stdout) as { versions: { version: number; gatePassed: boolean; sourceRunId: string; artifactPath: string }[] };
    assert.deepEqual(
      shown.versions.map((v) => [v.version, v.gatePassed, v.sourceRunId, v.artifactPath]),
      [
        [2, false, runIds[1], `runs:/${runIds[1]}/model.pkl`],
        [1, true, runIds[0], `runs:/${runIds[0]}/model.pkl`],
      ],
    );
  });

  it('promote refuses a failed gate (exit 1, the failing check named), accepts an override with a reason; rollback and alias work', () => {
    assert.equal(mloop(dir, 'models', 'promote', 'clf', '1').code, 0);
    const refused = mloop(dir, 'models', 'promote', 'clf', 'v2');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /clf v2 failed its gate: accuracy >= 0\.8 \(accuracy 0\.6 >= 0\.8\)/);
    const forced = mloop(dir, 'models', 'promote', 'clf', '2', '--override', 'customer demo');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /clf@champion: v1 → v2 \(gate failed, overridden\)/);
    const back = mloop(dir, 'models', 'rollback', 'clf', '--reason', 'demo over');
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /rolled back: v2 → v1/);
    assert.equal(mloop(dir, 'models', 'alias', 'clf', 'challenger', '2').code, 0);
    const bad = mloop(dir, 'models', 'alias', 'clf', 'latest', '2');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /reserved/);
    assert.equal(mloop(dir, 'models', 'alias', 'clf', 'challenger', '--remove').code, 0);
    const text = mloop(dir, 'models', 'show', 'clf').stdout;
    assert.match(text, /@champion history/);
  });

  it('audit --json lists every change with who, from → to and why, newest first', () => {
    const r = mloop(dir, 'audit', '--json');
    assert.equal(r.code, 0, r.stderr);
    const rows = (
      JSON.parse(r.stdout) as { action: string; entityId: string; fromValue: string | null; toValue: string | null; reason: string | null; actor: string }[]
    ).map((a) => [a.action, a.entityId, a.fromValue, a.toValue, a.reason]);
    assert.deepEqual(rows, [
      ['delete_alias', 'clf@challenger', 'v2', null, null],
      ['set_alias', 'clf@challenger', null, 'v2', null],
      ['rollback_alias', 'clf@champion', 'v2', 'v1', 'demo over'],
      ['promote', 'clf@champion', 'v1', 'v2', 'customer demo'],
      ['override_gate', 'clf/2', null, 'champion despite failed gate', 'customer demo'],
      ['gate', 'clf/2', 'failed', 'failed', null],
      ['promote', 'clf@champion', null, 'v1', null],
      ['gate', 'clf/1', 'passed', 'passed', null],
      ['register', 'clf/2', null, 'v2', null],
      ['register', 'clf/1', null, 'v1', null],
    ]);
  });
});
