import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { Pipeline } from '../../src/core/config/schema';
import { runSweep, SweepError, sweepTrials } from '../../src/core/experiments/sweeps';
import { launchRun } from '../../src/core/runs/launcher';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { SweepRepository } from '../../src/core/store/sweeps';
import { mloop, tempDir } from './fixtures';

const NODE = JSON.stringify(process.execPath);

/** A trial: logs start and end times, reports score = lr * depth, sleeps `ms`. */
const TRIAL_JS = `
const fs = require('node:fs');
const [lr, depth, ms] = process.argv.slice(2);
fs.appendFileSync('trials.log', 'start ' + Date.now() + ' ' + lr + ' ' + depth + '\\n');
console.log('::mloop metric name=score value=' + (Number(lr) * Number(depth)));
setTimeout(() => { fs.appendFileSync('trials.log', 'end ' + Date.now() + '\\n'); }, Number(ms));
`;

const CONFIG = (sweep: string, ms = 200): string => `version: 1
pipelines:
  train:
    command: [${NODE}, trial.js, "\${params.lr}", "\${params.depth}", "${ms}"]
    params: { lr: 0.1, depth: 4 }
    experiment: sweeps
    primary_metric: score
${sweep}`;

const pipelineOf = (text: string): Pipeline => {
  const loaded = loadConfig(text, 'mloop.yaml');
  assert.ok(loaded.config, JSON.stringify(loaded.problems));
  return loaded.config.pipelines.train!;
};

describe('sweeps: trials from grid, random and list, queued in the store', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-sweep-'));
    writeFileSync(join(dir, 'trial.js'), TRIAL_JS);
    mkdirSync(join(dir, '.mloop'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const launcher = (pipeline: Pipeline) => (overrides: Readonly<Record<string, string>>, tags: Readonly<Record<string, string>>) =>
    launchRun({ store, projectRoot: dir, pipelineName: 'train', pipeline, overrides, tags, trusted: true, captureEnvironment: false, stopGraceMs: 500 });

  it('expands a grid, a seeded random draw and a list; --grid replaces the configured sweep', () => {
    const grid = pipelineOf(CONFIG('    sweep:\n      grid: { lr: [0.1, 0.2], depth: [2, 4] }\n'));
    assert.deepEqual(sweepTrials('train', grid), [
      { lr: '0.1', depth: '2' },
      { lr: '0.1', depth: '4' },
      { lr: '0.2', depth: '2' },
      { lr: '0.2', depth: '4' },
    ]);
    assert.deepEqual(sweepTrials('train', grid, { grid: ['depth=8,16'] }), [{ depth: '8' }, { depth: '16' }]);
    assert.equal(sweepTrials('train', grid, { random: 3, seed: 1 }).length, 3);

    const random = pipelineOf(
      CONFIG('    sweep:\n      random: { trials: 5, seed: 7, params: { lr: { min: 0.001, max: 1, log: true }, depth: [2, 4, 8] } }\n'),
    );
    const drawn = sweepTrials('train', random);
    assert.equal(drawn.length, 5);
    assert.deepEqual(sweepTrials('train', random), drawn, 'the same seed draws the same trials');
    assert.notDeepEqual(sweepTrials('train', random, { seed: 8 }), drawn);
    for (const t of drawn) {
      assert.ok(Number(t.lr) >= 0.001 && Number(t.lr) <= 1, t.lr);
      assert.ok(['2', '4', '8'].includes(t.depth!), t.depth);
    }

    const list = pipelineOf(CONFIG('    sweep:\n      list: [{ lr: 0.5 }, { lr: 0.7, depth: 9 }]\n'));
    assert.deepEqual(sweepTrials('train', list), [{ lr: '0.5' }, { lr: '0.7', depth: '9' }]);
  });

  it('refuses a grid larger than max_trials with the count, and a param the pipeline does not declare', () => {
    const limited = pipelineOf(CONFIG('    sweep:\n      max_trials: 5\n      grid: { lr: [0.1, 0.2, 0.3], depth: [2, 4] }\n'));
    assert.throws(
      () => sweepTrials('train', limited),
      (e: Error) => e instanceof SweepError && /has 6 trials, more than max_trials 5/.test(e.message),
    );
    assert.throws(
      () => sweepTrials('train', limited, { grid: ['width=1,2'] }),
      (e: Error) => e instanceof SweepError && /unknown param "width": the pipeline declares lr, depth/.test(e.message),
    );
    assert.throws(() => sweepTrials('train', limited, { grid: ['depth=a,b'] }), /param "depth" expects a number/);
    // in mloop.yaml, at the key that names it
    const loaded = loadConfig(CONFIG('    sweep:\n      grid: { lr: [0.1], width: [1, 2] }\n'), 'mloop.yaml');
    assert.equal(loaded.config, undefined);
    assert.deepEqual(
      loaded.problems.map((p) => `${p.line}:${p.column}: ${p.message}`),
      ['9:26: the sweep of pipeline "train" varies undeclared param "width" (declared params: lr, depth)'],
    );
  });

  it('runs at most max_parallel trials at once, each a run tagged with the sweep, and marks the best one', async () => {
    const pipeline = pipelineOf(CONFIG('', 400));
    const trials = sweepTrials('train', pipeline, { grid: ['lr=1,2,3,4'] });
    const sweep = new SweepRepository(store).create('train', trials, 2);
    const ended = await runSweep({ store, sweepId: sweep.sweepId, launch: launcher(pipeline), primaryMetric: { name: 'score', goal: 'maximize' } });
    assert.equal(ended.status, 'FINISHED');
    const events = readFileSync(join(dir, 'trials.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => ({ kind: l.split(' ')[0]!, at: Number(l.split(' ')[1]) }))
      .sort((a, b) => a.at - b.at || (a.kind === 'end' ? -1 : 1));
    let live = 0;
    let most = 0;
    for (const e of events) {
      live += e.kind === 'start' ? 1 : -1;
      most = Math.max(most, live);
    }
    assert.equal(most, 2, 'two trials overlapped, never three');
    const runs = new RunRepository(store);
    const done = new SweepRepository(store).trials(sweep.sweepId);
    assert.deepEqual(
      done.map((t) => t.status),
      ['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED'],
    );
    for (const t of done) assert.equal(runs.tags(t.runId!)['mloop.sweep'], sweep.sweepId);
    const best = done.filter((t) => runs.tags(t.runId!)['mloop.sweep.best'] === 'true');
    assert.deepEqual(
      best.map((t) => t.params.lr),
      ['4'],
    );
  });

  it('cancel stops the running trial and starts no queued one', async () => {
    const pipeline = pipelineOf(CONFIG('', 20_000));
    const sweep = new SweepRepository(store).create('train', sweepTrials('train', pipeline, { grid: ['lr=1,2,3'] }), 1);
    const controller = new AbortController();
    const started = Date.now();
    const ended = await runSweep({
      store,
      sweepId: sweep.sweepId,
      launch: launcher(pipeline),
      signal: controller.signal,
      onTrial: (t) => t.status === 'RUNNING' && setTimeout(() => controller.abort(), 300),
    });
    assert.ok(Date.now() - started < 10_000, 'the 20 s trial was stopped');
    assert.equal(ended.status, 'CANCELLED');
    const trials = new SweepRepository(store).trials(sweep.sweepId);
    assert.deepEqual(
      trials.map((t) => [t.status, t.runId !== null]),
      [
        ['KILLED', true],
        ['CANCELLED', false],
        ['CANCELLED', false],
      ],
    );
    assert.equal(new RunRepository(store).get(trials[0]!.runId!)?.status, 'KILLED');
  });

  it('a queue survives a restart: the interrupted trial is marked KILLED and the queued ones run', async () => {
    const pipeline = pipelineOf(CONFIG('', 50));
    const path = store.path;
    const sweep = new SweepRepository(store).create('train', sweepTrials('train', pipeline, { grid: ['lr=1,2,3'] }), 1);
    new SweepRepository(store).claimNext(sweep.sweepId); // trial 1 was running when the editor went away
    store.close();
    store = openStore({ path });
    const ended = await runSweep({ store, sweepId: sweep.sweepId, launch: launcher(pipeline) });
    assert.equal(ended.status, 'FINISHED');
    assert.deepEqual(
      new SweepRepository(store).trials(sweep.sweepId).map((t) => t.status),
      ['KILLED', 'FINISHED', 'FINISHED'],
    );
    assert.equal(readFileSync(join(dir, 'trials.log'), 'utf8').match(/^start/gm)?.length, 2);
  });

  it('mloop sweep runs a grid from the command line, and refuses a bad one before queueing anything', () => {
    writeFileSync(join(dir, 'mloop.yaml'), CONFIG('    sweep:\n      max_trials: 3\n', 10));
    const ok = mloop(dir, 'sweep', 'train', '--grid', 'lr=1,2', '--parallel', '2', '--json');
    assert.equal(ok.code, 0, ok.stderr);
    const result = JSON.parse(ok.stdout) as { status: string; trials: { status: string; params: Record<string, string> }[] };
    assert.equal(result.status, 'FINISHED');
    assert.deepEqual(
      result.trials.map((t) => [t.params.lr, t.status]),
      [
        ['1', 'FINISHED'],
        ['2', 'FINISHED'],
      ],
    );
    const big = mloop(dir, 'sweep', 'train', '--grid', 'lr=1,2', '--grid', 'depth=1,2');
    assert.equal(big.code, 1);
    assert.match(big.stderr, /has 4 trials, more than max_trials 3/);
    const undeclared = mloop(dir, 'sweep', 'train', '--grid', 'width=1,2');
    assert.equal(undeclared.code, 1);
    assert.match(undeclared.stderr, /unknown param "width"/);
    assert.equal(readFileSync(join(dir, 'trials.log'), 'utf8').match(/^start/gm)?.length, 2, 'the refused sweeps started nothing');
    assert.ok(existsSync(join(dir, '.mloop', 'mloop.db')));
  });
});
