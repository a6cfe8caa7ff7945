import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerRunsShowCommand } from '../../src/cli/runsShowCommand';
import { registerTrainCommand, type CommandContext } from '../../src/cli/trainCommand';
import { CliFailure } from '../../src/cli/cliIo';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

/** The two commands mounted on a program configured as src/cli/program.ts does, with captured output. */
async function mloop(cwd: string, ...argv: string[]): Promise<{ stdout: string; stderr: string; failure?: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, cwd };
  const child = (path: string, description: string): Command =>
    new Command(path.split(' ').pop()!)
      .description(description)
      .exitOverride()
      .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
  const context: CommandContext = { io, projectRoot: () => cwd, storePath: (root) => join(root, '.mloop', 'mloop.db'), child };
  const program = new Command('mloop').exitOverride();
  registerTrainCommand(program, context);
  const runs = child('runs', 'training runs');
  registerRunsShowCommand(runs, context);
  program.addCommand(runs);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { stdout, stderr };
  } catch (error) {
    if (error instanceof CliFailure) return { stdout, stderr, failure: error.message };
    throw error;
  }
}

const NODE = JSON.stringify(process.execPath);

describe('cli: mloop train and mloop runs show', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-train-'));
    writeFileSync(
      join(dir, 'train.js'),
      [
        'const [lr, fail] = process.argv.slice(2);',
        'console.log("training with lr " + lr);',
        'console.log(`::mloop metric name=loss value=${1 / Number(lr)} step=1`);',
        'console.log("::mloop tag name=who value=\\"unit test\\"");',
        'if (fail === "hang") setInterval(() => {}, 1000);',
        'else process.exit(fail === "yes" ? 4 : 0);',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'mloop.yaml'),
      `version: 1\npipelines:\n  train:\n    command: [${NODE}, train.js, "\${params.lr}", "\${params.fail}"]\n    params: { lr: 0.5, fail: "no" }\n    experiment: unit\n    unknown_key: 1\n`,
    );
  });
  afterEach(() => cleanup());

  it('train streams the output, prints the run id, records params and protocol metrics; runs show finds it by prefix', async () => {
    const r = await mloop(dir, 'train', 'train', '--param', 'lr=0.25');
    assert.equal(r.failure, undefined, r.stderr);
    assert.match(r.stderr, /mloop\.yaml:7:5: warning: unknown key "unknown_key"/, 'config warnings are shown with their position');
    assert.match(r.stdout, /training with lr 0\.25\n/);
    const runId = /run ([0-9a-f]{32}) started/.exec(r.stdout)![1]!;
    assert.match(r.stdout, new RegExp(`run ${runId} FINISHED \\(exit code 0\\)`));

    const shown = await mloop(dir, 'runs', 'show', runId.slice(0, 6));
    assert.equal(shown.failure, undefined, shown.stderr);
    assert.match(shown.stdout, /status\s+FINISHED \(exit code 0\)/);
    assert.match(shown.stdout, /^lr\s+0\.25$/m);
    assert.match(shown.stdout, /^loss\s+4\s+1$/m);
    assert.match(shown.stdout, /^who\s+unit test$/m);

    const json = JSON.parse((await mloop(dir, 'runs', 'show', runId, '--json')).stdout) as Record<string, unknown>;
    assert.equal(json.runId, runId);
    assert.equal(json.experiment, 'unit');
    assert.deepEqual(json.params, { lr: '0.25', fail: 'no' });
    assert.deepEqual((json.metrics as Record<string, { value: number }>).loss!.value, 4);
    assert.deepEqual(json.inputs, []);
  });

  it('a failing run makes train fail with the run id and exit code; --json keeps stdout parseable', async () => {
    const r = await mloop(dir, 'train', 'train', '--param', 'fail=yes', '--json');
    assert.match(r.failure ?? '', /run [0-9a-f]{32} FAILED \(exit code 4\)/);
    const outcome = JSON.parse(r.stdout) as { status: string; exitCode: number; runId: string };
    assert.equal(outcome.status, 'FAILED');
    assert.equal(outcome.exitCode, 4);
    assert.match(r.stderr, /training with lr 0\.5/, "the run's output went to stderr");
    assert.match(readFileSync(join(dir, '.mloop', 'logs', `${outcome.runId}.log`), 'utf8'), /training with lr 0\.5/);
  });

  it('Ctrl-C stops the run and marks it KILLED', async () => {
    const pending = mloop(dir, 'train', 'train', '--param', 'fail=hang');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const deadline = Date.now() + 10_000;
      while (!new RunRepository(store).list().some((run) => run.pid !== null) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
      process.emit('SIGINT');
      const r = await pending;
      assert.match(r.failure ?? '', /KILLED/);
      assert.equal(new RunRepository(store).list()[0]!.status, 'KILLED');
      assert.equal(process.listenerCount('SIGINT'), 0, 'the handler is removed after the run');
    } finally {
      store.close();
    }
  });

  it('bad input gives a clear failure: unknown pipeline, bad param, broken mloop.yaml, unknown run', async () => {
    assert.match((await mloop(dir, 'train', 'nope')).failure ?? '', /no pipeline "nope" in mloop\.yaml; pipelines: train/);
    assert.match((await mloop(dir, 'train', 'train', '-p', 'lr=fast')).failure ?? '', /param "lr" expects a number \(default 0\.5\), got "fast"/);
    assert.match((await mloop(dir, 'train', 'train', '-p', 'depth=3')).failure ?? '', /unknown param "depth"/);
    assert.match((await mloop(dir, 'runs', 'show', 'abc')).failure ?? '', /no store at .*mloop init/, 'a refused train created no store');
    openStore({ path: join(dir, '.mloop', 'mloop.db') }).close();
    assert.match((await mloop(dir, 'runs', 'show', 'abc')).failure ?? '', /no run with id abc/);
    assert.match((await mloop(dir, 'runs', 'show', 'xyz')).failure ?? '', /is not a run id/);
    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\npipelines:\n  train:\n    command: x ${params.y}\n');
    const broken = await mloop(dir, 'train', 'train');
    assert.match(broken.stderr, /mloop\.yaml:4:16: error: pipeline "train" uses undeclared param "y"/);
    assert.match(broken.failure ?? '', /has errors/);
  });
});
