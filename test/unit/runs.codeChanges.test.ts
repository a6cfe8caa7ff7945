import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureCodeChanges } from '../../src/core/runs/codeVersion';
import { launchRun } from '../../src/core/runs/launcher';
import { RunCodeRepository } from '../../src/core/store/runCode';
import { openStore } from '../../src/core/store/store';
import { CLI, mloop, tempDir } from './fixtures';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });

describe('runs: uncommitted code at run start (real git repositories)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-code-')));
  afterEach(() => cleanup());

  it('keeps the binary-safe diff against HEAD and lists untracked files; the patch rebuilds the dirty tree on a clean checkout', async () => {
    const repo = join(dir, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q');
    writeFileSync(join(repo, 'train.py'), 'print("v1")\n');
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256));
    writeFileSync(join(repo, 'weights.bin'), binary);
    writeFileSync(join(repo, '.gitignore'), 'out/\n.mloop/\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'first');
    const commit = git(repo, 'rev-parse', 'HEAD').trim();

    writeFileSync(join(repo, 'train.py'), 'print("v2, uncommitted")\n');
    const changedBinary = Buffer.from(binary);
    changedBinary[100] = 0;
    changedBinary[4000] = 255;
    writeFileSync(join(repo, 'weights.bin'), changedBinary);
    writeFileSync(join(repo, 'helper.py'), 'X = 1\n');
    git(repo, 'add', 'helper.py'); // staged, not committed: part of the diff against HEAD
    writeFileSync(join(repo, 'notes.txt'), 'scratch\n');
    mkdirSync(join(repo, 'out'));
    writeFileSync(join(repo, 'out', 'ignored.txt'), 'ignored\n');

    const store = openStore({ path: join(repo, '.mloop', 'mloop.db') });
    const handle = await launchRun({
      store,
      projectRoot: repo,
      pipelineName: 'p',
      pipeline: { command: [process.execPath, '-e', '1'], params: {}, inputs: [], outputs: [], env: {} },
      trusted: false,
      captureEnvironment: false,
    });
    await handle.done;
    const stored = new RunCodeRepository(store).forRun(handle.runId);
    store.close();
    assert.ok(stored, 'the dirty run has its changes stored');
    assert.equal(stored.commit, commit);
    assert.deepEqual(stored.untracked, ['notes.txt'], 'untracked files are listed; ignored ones are not');

    const patch = spawnSync(process.execPath, [CLI, 'runs', 'diff', handle.runId.slice(0, 10)], { cwd: repo, env: { ...process.env, MLOOP_STORE: '' } });
    assert.equal(patch.status, 0, patch.stderr.toString());
    assert.ok(patch.stdout.equals(stored.diff!), 'mloop runs diff prints the stored bytes unchanged');
    const clone = join(dir, 'clone');
    git(dir, 'clone', '-q', repo, clone);
    git(clone, 'checkout', '-q', commit);
    assert.equal(await captureCodeChanges(clone), undefined, 'a clean checkout has nothing to keep');
    writeFileSync(join(dir, 'run.patch'), patch.stdout);
    git(clone, 'apply', join(dir, 'run.patch'));
    for (const file of ['train.py', 'weights.bin', 'helper.py']) {
      assert.ok(readFileSync(join(clone, file)).equals(readFileSync(join(repo, file))), `${file} differs after applying the run's patch`);
    }

    const shown = mloop(repo, 'runs', 'show', handle.runId.slice(0, 10));
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /uncommitted\s+diff [\d.]+ (B|KB) kept \("mloop runs diff [0-9a-f]{8}"\) · 1 untracked: notes\.txt/);

    const capped = await captureCodeChanges(repo, { capBytes: 100 });
    assert.equal(capped?.truncated, true);
    assert.equal(capped?.diff, undefined, 'a diff over the cap is not kept in part');
    assert.ok(capped!.diffBytes > 100);
  });
});
