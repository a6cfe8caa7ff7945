import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pipeline } from '../../src/core/config/schema';
import { environmentFacts, type RunEnvironment } from '../../src/core/runs/environment';
import { launchRun } from '../../src/core/runs/launcher';
import { EnvironmentRepository } from '../../src/core/store/environments';
import { openStore } from '../../src/core/store/store';
import { environmentChanges, formatEnvironmentChange } from '../../src/shared/environmentFacts';
import { mloop, tempDir } from './fixtures';
import { PYTHON } from '../support/python';

const PLANTED = 'planted-secret-9f3c2a7e';
const PLANTED_URL_PASSWORD = 'hunter2-planted';

const pythonPipeline = (env: Record<string, string>): Pipeline => ({
  command: [PYTHON, 'train.py'],
  params: {},
  inputs: [],
  outputs: [],
  env,
});

describe('runs: the environment a run started in (real python, real pip as the reference)', function () {
  this.timeout(90_000);
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempDir('mloop-env-')));
  after(() => cleanup());

  it('records interpreter, pip freeze, OS, CPU and allow-listed variables; never a secret; one row for identical environments', async () => {
    writeFileSync(join(dir, 'train.py'), 'print("trained")\n');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const baseEnv = { ...process.env, MY_SECRET_KEY: PLANTED, OMP_NUM_THREADS: '3', HOME_SECRET_PASSWORD: PLANTED };
    const env = { API_TOKEN: PLANTED, DATABASE_URL: `postgres://trainer:${PLANTED_URL_PASSWORD}@db.internal/x`, SEED_NOTE: 'kept' };
    const runIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const handle = await launchRun({ store, projectRoot: dir, pipelineName: 'train', pipeline: pythonPipeline(env), trusted: false, baseEnv });
      const outcome = await handle.done;
      assert.equal(outcome.status, 'FINISHED', outcome.outputTail);
      runIds.push(handle.runId);
    }
    const repo = new EnvironmentRepository(store);
    const stored = repo.forRun(runIds[0]!);
    assert.ok(stored, 'the first run has an environment');
    assert.equal(repo.forRun(runIds[1]!)?.digest, stored.digest, 'the same environment twice is one document');
    assert.equal(store.db.prepare('SELECT count(*) FROM environment').pluck().get(), 1);
    const doc = stored.document;

    // the independent reference: the interpreter itself, and the real pip's freeze
    const version = execFileSync(PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
    assert.equal(doc.python?.version, version);
    const pipFreeze = execFileSync(PYTHON, ['-m', 'pip', 'freeze', '--all', '--disable-pip-version-check'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    assert.deepEqual([...doc.python!.freeze].sort(), [...pipFreeze].sort());
    const sklearn = execFileSync(PYTHON, ['-c', 'import sklearn; print(sklearn.__version__)'], { encoding: 'utf8' }).trim();
    assert.equal(doc.python!.packages['scikit-learn'], sklearn);
    assert.equal(doc.cpu.count, (await import('node:os')).cpus().length);

    assert.equal(doc.env.OMP_NUM_THREADS, '3');
    assert.equal(doc.env.SEED_NOTE, 'kept', "the pipeline's own variables are recorded");
    assert.deepEqual([...doc.withheld].sort(), ['API_TOKEN', 'DATABASE_URL']);
    assert.equal(doc.env.MY_SECRET_KEY, undefined);
    store.close();
    const bytes = ['mloop.db', 'mloop.db-wal']
      .map((f) => join(dir, '.mloop', f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    assert.ok(!bytes.includes(PLANTED), 'a planted secret reached the store');
    assert.ok(!bytes.includes(PLANTED_URL_PASSWORD), 'a password inside a URL reached the store');

    const shown = mloop(dir, 'runs', 'show', runIds[0]!.slice(0, 8));
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`python\\s+${version.replace(/\./g, '\\.')} · `));
    assert.match(shown.stdout, new RegExp(`packages\\s+${pipFreeze.length}: .*scikit-learn==${sklearn.replace(/\./g, '\\.')}`));
    assert.match(shown.stdout, /withheld\s+API_TOKEN DATABASE_URL \(look like secrets: values not stored\)/);
    assert.ok(!shown.stdout.includes(PLANTED));
  });

  it('Compare lists what differs from the baseline: "scikit-learn 1.9.1 → 1.8.0", added and removed packages, Python, variables', () => {
    const doc = (python: string, packages: Record<string, string>, env: Record<string, string>): RunEnvironment => ({
      format: 1,
      python: { executable: '/usr/bin/python3', version: python, packages, freeze: [] },
      os: { platform: 'linux', type: 'Linux', release: '6.1.0', arch: 'x64' },
      cpu: { model: 'Xeon', count: 2 },
      env: { PATH: '/usr/bin', ...env },
      withheld: [],
    });
    const base = environmentFacts(doc('3.11.2', { 'scikit-learn': '1.9.1', numpy: '2.1.0', scipy: '1.14.0' }, { OMP_NUM_THREADS: '4' }));
    const other = environmentFacts(doc('3.12.1', { 'scikit-learn': '1.8.0', numpy: '2.1.0', pandas: '2.2.3' }, { OMP_NUM_THREADS: '8' }));
    assert.deepEqual(environmentChanges(base, other).map(formatEnvironmentChange), [
      'python 3.11.2 → 3.12.1',
      'pandas added 2.2.3',
      'scikit-learn 1.9.1 → 1.8.0',
      'scipy removed (was 1.14.0)',
      'env OMP_NUM_THREADS 4 → 8',
    ]);
    assert.deepEqual(environmentChanges(base, base), []);
  });

  it('a command that does not run Python (node, a shell line without python) is not described by some Python on PATH', async () => {
    const store = openStore({ path: join(dir, '.mloop', 'node.db') });
    const handle = await launchRun({
      store,
      projectRoot: dir,
      pipelineName: 'n',
      pipeline: { command: [process.execPath, '-e', '1'], params: {}, inputs: [], outputs: [], env: {} },
      trusted: false,
    });
    await handle.done;
    const doc = new EnvironmentRepository(store).forRun(handle.runId)?.document;
    assert.equal(doc?.python, undefined);
    assert.match(doc?.pythonProblem ?? '', /runs node, not Python/);
    const shell = await launchRun({
      store,
      projectRoot: dir,
      pipelineName: 's',
      pipeline: { command: 'echo hello', params: {}, inputs: [], outputs: [], env: {} },
      trusted: true,
      baseEnv: { PATH: process.env.PATH },
    });
    await shell.done;
    assert.match(new EnvironmentRepository(store).forRun(shell.runId)?.document.pythonProblem ?? '', /names no Python interpreter, script or tool/);
    store.close();
  });
});
