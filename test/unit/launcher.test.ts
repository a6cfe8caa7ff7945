import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pipeline } from '../../src/core/config/schema';
import { launchRun, UntrustedCommandError, type LaunchOptions } from '../../src/core/runs/launcher';
import { reapOrphanedRuns } from '../../src/core/runs/reap';
import { displayCommand, ParamError, parseParamOverrides, resolveCommand, shellQuote } from '../../src/core/runs/resolveCommand';
import { ArtifactRepository } from '../../src/core/store/artifacts';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';
import { fullCounts } from '../support/fullCounts';
import { processAlive } from '../support/processes';

const NODE = process.execPath;

const pipeline = (command: Pipeline['command'], extra: Partial<Pipeline> = {}): Pipeline => ({
  command,
  params: {},
  inputs: [],
  outputs: [],
  env: {},
  ...extra,
});

/** A node one-liner as an args-array command: no shell involved. */
const nodeScript = (source: string, extra: Partial<Pipeline> = {}): Pipeline => pipeline([NODE, '-e', source], extra);

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return condition();
}

describe('runs: command resolution', () => {
  it('substitutes params into an args array per element, with no quoting', () => {
    const r = resolveCommand(pipeline(['python', 'train.py', '--lr=${params.lr}', '${params.name}'], { params: { lr: 0.1, name: 'a b' } }), { lr: '0.5' });
    assert.deepEqual(r, { kind: 'args', args: ['python', 'train.py', '--lr=0.5', 'a b'], params: { lr: '0.5', name: 'a b' } });
    assert.equal(displayCommand(r), "python train.py --lr=0.5 'a b'");
  });

  it('quotes each value as one word in a shell command, closing the surrounding quotes first', () => {
    const p = pipeline(`run \${params.v} "in \${params.v} dq" 'in \${params.v} sq'`, { params: { v: "it's" } });
    const r = resolveCommand(p);
    assert.equal(r.kind === 'shell' && r.command, `run 'it'\\''s' "in "'it'\\''s'" dq" 'in ''it'\\''s'' sq'`);
    assert.equal(shellQuote(''), "''");
  });

  it('validates overrides and names the param in every error', () => {
    const defaults = { n_estimators: 200, lr: 0.1, fast: true, name: 'x' };
    assert.deepEqual(parseParamOverrides(['n_estimators=10', 'lr=1e-3', 'fast=false', 'name=a=b'], defaults), {
      n_estimators: '10',
      lr: '1e-3',
      fast: 'false',
      name: 'a=b',
    });
    assert.throws(() => parseParamOverrides(['n_estimators=many'], defaults), {
      name: 'ParamError',
      message: 'param "n_estimators" expects a number (default 200), got "many"',
    });
    assert.throws(() => parseParamOverrides(['fast=yes'], defaults), /param "fast" expects true or false/);
    assert.throws(() => parseParamOverrides(['depth=3'], defaults), { message: 'unknown param "depth": the pipeline declares n_estimators, lr, fast, name' });
    assert.throws(() => parseParamOverrides(['lr'], defaults), /"lr" is not a param override: write name=value/);
    assert.throws(() => parseParamOverrides(['lr=1', 'lr=2'], defaults), /param "lr" is given twice/);
    assert.throws(() => parseParamOverrides(['toString=1'], defaults), /unknown param "toString"/);
    assert.throws(() => resolveCommand(pipeline('x ${params.nope}')), ParamError);
  });
});

describe('runs: launcher (real child processes)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-launch-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const launch = (p: Pipeline, extra: Partial<LaunchOptions> = {}) =>
    launchRun({ store, projectRoot: dir, pipelineName: 'train', pipeline: p, trusted: false, ...extra });

  it('exit code 0 → FINISHED, non-zero → FAILED, with exit code, times, params and the command stored', async () => {
    const ok = await launch(nodeScript('console.log("hello")', { params: { lr: 0.1 }, experiment: 'weather' }));
    const row = new RunRepository(store).get(ok.runId)!;
    assert.equal(row.status, 'RUNNING', 'the run exists, RUNNING, before the process ends');
    assert.equal(typeof row.pid, 'number');
    const outcome = await ok.done;
    assert.equal(outcome.status, 'FINISHED');
    assert.equal(outcome.exitCode, 0);
    const finished = new RunRepository(store).get(ok.runId)!;
    assert.equal(finished.status, 'FINISHED');
    assert.equal(finished.exitCode, 0);
    assert.equal(finished.pid, null);
    assert.ok(finished.endTime! >= finished.startTime);
    assert.equal(finished.pipeline, 'train');
    assert.equal(new ExperimentRepository(store).get(finished.experimentId)!.name, 'weather');
    assert.deepEqual(new RunRepository(store).params(ok.runId), { lr: '0.1' });
    assert.match(readFileSync(outcome.logPath, 'utf8'), /hello\n/);
    assert.equal(outcome.logPath, join(dir, '.mloop', 'logs', `${ok.runId}.log`));

    const failed = await (await launch(nodeScript('process.exit(3)'))).done;
    assert.equal(failed.status, 'FAILED');
    assert.equal(new RunRepository(store).get(failed.runId)!.exitCode, 3);
  });

  it('a program that does not exist → FAILED with the reason in the output', async () => {
    let output = '';
    const outcome = await (await launch(pipeline(['/nonexistent/python3', 'x.py']), { onOutput: (t) => (output += t) })).done;
    assert.equal(outcome.status, 'FAILED');
    assert.match(outcome.error ?? '', /could not start \/nonexistent\/python3: .*ENOENT/);
    assert.match(output, /ENOENT/);
  });

  it('stop() kills the whole process tree, escalating to SIGKILL, and the run ends KILLED', async () => {
    // the script starts a grandchild that ignores SIGTERM, so only the SIGKILL after the grace period ends it
    const grandchild = 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)';
    const script = `const c = require("child_process").spawn(process.execPath, ["-e", ${JSON.stringify(grandchild)}], { stdio: "ignore" });
      console.log("grandchild " + c.pid); setInterval(() => {}, 1000);`;
    let output = '';
    const handle = await launch(nodeScript(script), { onOutput: (t) => (output += t), stopGraceMs: 500 });
    assert.ok(await waitFor(() => /grandchild \d+/.test(output), 10_000), output);
    const grandchildPid = Number(/grandchild (\d+)/.exec(output)![1]);
    assert.ok(processAlive(grandchildPid));
    handle.stop();
    const outcome = await handle.done;
    assert.equal(outcome.status, 'KILLED');
    assert.equal(new RunRepository(store).get(handle.runId)!.status, 'KILLED');
    assert.equal(processAlive(handle.pid!), false, 'the script is gone');
    assert.ok(await waitFor(() => !processAlive(grandchildPid), 2000), 'the grandchild is gone');
  });

  it('a process killed by a signal from elsewhere is KILLED', async () => {
    const outcome = await (await launch(nodeScript('process.kill(process.pid, "SIGKILL")'))).done;
    assert.equal(outcome.status, 'KILLED');
    assert.equal(outcome.signal, 'SIGKILL');
  });

  it('injects MLOOP_RUN_ID, the MLflow variables, the pipeline env and PYTHONUNBUFFERED', async () => {
    let output = '';
    const keys = [
      'MLOOP_RUN_ID',
      'MLFLOW_TRACKING_URI',
      'MLFLOW_TRACKING_TOKEN',
      'MLFLOW_RUN_ID',
      'MLFLOW_EXPERIMENT_ID',
      'PYTHONUNBUFFERED',
      'THREADS',
      'FROM_BASE',
    ];
    const handle = await launch(
      nodeScript(`console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(keys)}.map(k => [k, process.env[k]]))))`, {
        env: { THREADS: 4 },
        experiment: 'e1',
      }),
      {
        tracking: { uri: 'http://127.0.0.1:5999', token: 'secret-token' },
        baseEnv: { PATH: process.env.PATH, FROM_BASE: 'yes', MLFLOW_RUN_ID: 'stale' },
        onOutput: (t) => (output += t),
      },
    );
    await handle.done;
    const env = JSON.parse(output.trim().split('\n').pop()!) as Record<string, string>;
    const experimentId = new RunRepository(store).get(handle.runId)!.experimentId;
    assert.deepEqual(env, {
      MLOOP_RUN_ID: handle.runId,
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:5999',
      MLFLOW_TRACKING_TOKEN: 'secret-token',
      MLFLOW_RUN_ID: handle.runId,
      MLFLOW_EXPERIMENT_ID: String(experimentId),
      PYTHONUNBUFFERED: '1',
      THREADS: '4',
      FROM_BASE: 'yes',
    });
  });

  it('without a tracking endpoint no stale MLflow run id leaks into the run', async () => {
    let output = '';
    const handle = await launch(nodeScript('console.log(String(process.env.MLFLOW_RUN_ID) + " " + process.env.MLOOP_RUN_ID)'), {
      baseEnv: { ...process.env, MLFLOW_RUN_ID: 'stale' },
      onOutput: (t) => (output += t),
    });
    await handle.done;
    assert.match(output, new RegExp(`^undefined ${handle.runId}$`, 'm'));
  });

  describe('params cannot inject into the shell', () => {
    const hostile = [
      '; touch MARKER',
      '$(touch MARKER)',
      '`touch MARKER`',
      `' ; touch MARKER ; '`,
      `" ; touch MARKER ; "`,
      'a\ntouch MARKER\n',
      `\\'"$(touch MARKER)"\\`,
      '$HOME ${HOME} * ?',
      '',
    ];
    const argvPrinter = `${shellQuote(NODE)} -e 'console.log(JSON.stringify(process.argv.slice(1)))'`;

    for (const [where, template] of [
      ['unquoted', `${argvPrinter} \${params.v}`],
      ['inside double quotes', `${argvPrinter} "\${params.v}"`],
      ['inside single quotes', `${argvPrinter} '\${params.v}'`],
      ['glued to other text', `${argvPrinter} v=\${params.v}.txt`],
    ] as const) {
      it(`a string command, placeholder ${where}: each hostile value arrives verbatim as one argument`, async () => {
        for (const value of hostile) {
          let output = '';
          const handle = await launch(pipeline(template, { params: { v: 'default' } }), {
            trusted: true,
            overrides: { v: value },
            onOutput: (t) => (output += t),
          });
          const outcome = await handle.done;
          assert.equal(outcome.status, 'FINISHED', output);
          const expected = where === 'glued to other text' ? `v=${value}.txt` : value;
          assert.deepEqual(JSON.parse(output.trim().split('\n').pop()!), [expected], `value ${JSON.stringify(value)}`);
          assert.equal(existsSync(join(dir, 'MARKER')), false, `nothing else ran for ${JSON.stringify(value)}`);
        }
      });
    }

    it('an args-array command passes each hostile value as one argument, no shell at all', async () => {
      for (const value of hostile) {
        let output = '';
        const p = pipeline([NODE, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', '${params.v}', 'x${params.v}'], { params: { v: 'd' } });
        await (await launch(p, { overrides: { v: value }, onOutput: (t) => (output += t) })).done;
        assert.deepEqual(JSON.parse(output.trim().split('\n').pop()!), [value, `x${value}`]);
        assert.equal(existsSync(join(dir, 'MARKER')), false);
      }
    });
  });

  it('a string command in an untrusted workspace is refused before anything runs or is recorded', async () => {
    await assert.rejects(launch(pipeline('touch MARKER')), UntrustedCommandError);
    await assert.rejects(launch(pipeline('touch MARKER')), /runs only in a trusted workspace/);
    assert.equal(existsSync(join(dir, 'MARKER')), false);
    assert.equal(new RunRepository(store).list().length, 0);
  });

  it('an output flood keeps memory bounded and the log capped', async function () {
    this.timeout(120_000);
    // 64 MB in 64 KB lines (200 MB with MLOOP_TEST_FULL=1), written as fast as the pipe takes it: past the 50 MB
    // log cap either way, and more than the 40 MB of live memory a launcher that kept the output would exceed
    const lines = fullCounts() ? 3200 : 1024;
    const flood = `const b = Buffer.alloc(65536, 97); b[65535] = 10; let n = 0; const w = () => { while (n < ${lines}) { n++; if (!process.stdout.write(b)) return process.stdout.once("drain", w); } }; w();`;
    // Peak RSS depends on when V8 chooses to collect, so it is not a measure of what the launcher keeps.
    // Measure what is still reachable after a forced collection, sampled throughout the flood: a launcher
    // that held the output would retain ~200 MB here; a streaming one retains about its 1 MB tail.
    const gc = global.gc;
    assert.ok(gc, 'the unit suite runs with --expose-gc (scripts/test.sh)');
    const live = (): number => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = live();
    let peak = before;
    let received = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, live())), 100);
    const handle = await launch(nodeScript(flood), { onOutput: (t) => (received += t.length) });
    const outcome = await handle.done;
    clearInterval(sampler);
    peak = Math.max(peak, live());
    assert.equal(outcome.status, 'FINISHED');
    assert.equal(received, lines * 65536, 'every byte reached the output callback');
    assert.ok(peak - before < 40 * 1024 * 1024, `live memory grew by ${Math.round((peak - before) / 1048576)} MB`);
    const size = statSync(outcome.logPath).size;
    assert.ok(size <= 50 * 1024 * 1024 + 1024, `log is ${size} bytes`);
    assert.ok(size >= 50 * 1024 * 1024, 'the log holds output up to the cap');
    assert.equal(outcome.logTruncated, true);
    assert.match(readFileSync(outcome.logPath, 'utf8').slice(-300), /the log reached 50 MB; further output was not stored/);
    assert.ok(outcome.outputTail.length <= 1024 * 1024);
  });

  it('a consumer that is slow pauses the child instead of buffering its output', async () => {
    // the stream says "full" at every write and drains later: the child must wait, not the memory grow
    let buffered = 0;
    let maxBuffered = 0;
    const slow = {
      write(chunk: string): boolean {
        buffered += chunk.length;
        maxBuffered = Math.max(maxBuffered, buffered);
        return false;
      },
      once(_event: 'drain', listener: () => void): void {
        setTimeout(() => {
          buffered = 0;
          listener();
        }, 2);
      },
    };
    const flood =
      'const b = Buffer.alloc(65536, 97); b[65535] = 10; let n = 0; const w = () => { while (n < 300) { n++; if (!process.stdout.write(b)) return process.stdout.once("drain", w); } }; w();';
    const outcome = await (await launch(nodeScript(flood), { output: slow })).done;
    assert.equal(outcome.status, 'FINISHED');
    assert.ok(maxBuffered <= 4 * 65536 + 1024, `at most a few chunks were waiting (${maxBuffered})`);
  });

  it('protocol lines land in the store; bad lines become warnings naming the line; other output passes through', async () => {
    writeFileSync(join(dir, 'model.pkl'), 'weights');
    const script = [
      'console.log("starting")',
      'console.log("::mloop param name=lr value=0.01")',
      'for (let s = 1; s <= 3; s++) console.log(`::mloop metric name=loss value=${1 / s} step=${s}`)',
      'console.log("::mloop metric name=acc value=oops")',
      'console.log(\'::mloop tag name=note value="two words"\')',
      'console.log("::mloop artifact path=model.pkl")',
      'console.log("::mloop model name=weather-clf path=model.pkl")',
      'console.log("::mloop artifact path=missing.bin")',
      'console.log("::mloop param name=lr value=0.02")',
    ].join(';');
    let output = '';
    const handle = await launch(nodeScript(script, { params: { seed: 1 } }), { onOutput: (t) => (output += t) });
    await handle.done;
    const runs = new RunRepository(store);
    assert.deepEqual(runs.params(handle.runId), { lr: '0.01', seed: '1' });
    assert.deepEqual(runs.latestMetrics(handle.runId), { loss: 1 / 3 });
    assert.deepEqual(
      runs.metricHistory(handle.runId, 'loss').map((p) => [p.step, p.value]),
      [
        [1, 1],
        [2, 0.5],
        [3, 1 / 3],
      ],
    );
    assert.equal(runs.tags(handle.runId).note, 'two words');
    assert.equal(runs.tags(handle.runId)['mloop.model.weather-clf'], 'model.pkl');
    const artifacts = new ArtifactRepository(store).list(handle.runId);
    assert.deepEqual(
      artifacts.map((a) => [a.path, a.digest, a.size]),
      [['model.pkl', createHash('sha256').update('weights').digest('hex'), 7]],
    );
    const experimentId = runs.get(handle.runId)!.experimentId;
    assert.equal(readFileSync(join(dir, '.mloop', 'artifacts', String(experimentId), handle.runId, 'artifacts', 'model.pkl'), 'utf8'), 'weights');
    assert.match(output, /^starting$/m);
    assert.doesNotMatch(output, /::mloop param|::mloop metric name=loss/, 'valid protocol lines are consumed');
    assert.match(output, /\[mloop\] stdout line 6: ignored protocol line \(metric: value: "oops" is not a number.*\): ::mloop metric name=acc value=oops/);
    assert.match(output, /stdout line 10: artifact path missing\.bin is not a file/);
    assert.match(output, /stdout line 11: param lr is already "0\.01"/);
    assert.match(readFileSync(join(dir, '.mloop', 'logs', `${handle.runId}.log`), 'utf8'), /stdout line 6: ignored protocol line/);
  });

  it('records the git commit, the dirty flag and the entry script digest; none outside a repository', async () => {
    writeFileSync(join(dir, 'train.js'), 'console.log("train")\n');
    const noRepo = await launch(pipeline([NODE, 'train.js']));
    await noRepo.done;
    let run = new RunRepository(store).get(noRepo.runId)!;
    assert.equal(run.gitCommit, null);
    assert.equal(run.gitDirty, null);
    assert.equal(run.entryFile, 'train.js');
    assert.equal(run.entryDigest, createHash('sha256').update('console.log("train")\n').digest('hex'));

    const git = (...args: string[]): string => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
    git('init', '-q');
    writeFileSync(join(dir, '.gitignore'), '.mloop/\n');
    git('add', 'train.js', '.gitignore');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init');
    const clean = await launch(pipeline(`${shellQuote(NODE)} train.js`), { trusted: true });
    await clean.done;
    run = new RunRepository(store).get(clean.runId)!;
    assert.equal(run.gitCommit, git('rev-parse', 'HEAD'));
    assert.equal(run.gitDirty, false);
    assert.equal(run.entryFile, 'train.js');
    assert.equal(new RunRepository(store).tags(clean.runId)['mlflow.source.git.commit'], run.gitCommit);

    writeFileSync(join(dir, 'train.js'), 'console.log("changed")\n');
    const dirty = await launch(pipeline([NODE, 'train.js']));
    await dirty.done;
    assert.equal(new RunRepository(store).get(dirty.runId)!.gitDirty, true);
  });

  it('reaps RUNNING runs whose process is gone, and leaves live ones alone', async () => {
    const dead = spawn(NODE, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    const experimentId = new ExperimentRepository(store).ensure('e').experimentId;
    const runs = new RunRepository(store);
    const orphan = runs.create({ experimentId, status: 'RUNNING', pid: dead.pid! });
    const live = runs.create({ experimentId, status: 'RUNNING', pid: process.pid });
    assert.deepEqual(reapOrphanedRuns(store), [orphan.runId]);
    assert.equal(runs.get(orphan.runId)!.status, 'KILLED');
    assert.equal(runs.get(live.runId)!.status, 'RUNNING');
  });
});
