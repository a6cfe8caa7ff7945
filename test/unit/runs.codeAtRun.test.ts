import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureCodeChanges, fileAsRunSawIt } from '../../src/core/runs/codeVersion';
import { tempDir } from './fixtures';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' });

describe('"Open Code at This Run": a file as the run saw it (its commit plus the stored uncommitted diff)', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-code-at-run-'));
    git(dir, 'init', '-q');
    writeFileSync(join(dir, 'train.py'), 'alpha = 0.1\nprint(alpha)\n');
    writeFileSync(join(dir, 'other.py'), 'x = 1\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'first');
  });
  afterEach(() => cleanup());

  it('gives the dirty content the run started with, not the commit and not the work tree edited since; the work tree and index are untouched', async () => {
    writeFileSync(join(dir, 'train.py'), 'alpha = 0.5  # tried at run time\nprint(alpha)\n');
    writeFileSync(join(dir, 'added.py'), 'new = True\n');
    git(dir, 'add', 'added.py');
    const changes = await captureCodeChanges(dir);
    assert.ok(changes?.diff, 'the run started dirty: a diff is stored');
    // after the run the user edits again
    writeFileSync(join(dir, 'train.py'), 'alpha = 0.9\n');
    const status = git(dir, 'status', '--porcelain');
    assert.equal(await fileAsRunSawIt(dir, changes.commit, 'train.py', changes.diff), 'alpha = 0.5  # tried at run time\nprint(alpha)\n');
    assert.equal(await fileAsRunSawIt(dir, changes.commit, 'added.py', changes.diff), 'new = True\n', 'a file the diff adds');
    assert.equal(await fileAsRunSawIt(dir, changes.commit, 'other.py', changes.diff), 'x = 1\n', 'a file the diff does not touch');
    assert.equal(await fileAsRunSawIt(dir, changes.commit, 'train.py', undefined), 'alpha = 0.1\nprint(alpha)\n', 'a clean run: the commit');
    assert.equal(readFileSync(join(dir, 'train.py'), 'utf8'), 'alpha = 0.9\n', 'the work tree is untouched');
    assert.equal(git(dir, 'status', '--porcelain'), status, 'the index is untouched');
  });

  it('names the commit that is gone, and a diff that no longer applies', async () => {
    writeFileSync(join(dir, 'train.py'), 'alpha = 0.5\nprint(alpha)\n');
    const changes = await captureCodeChanges(dir);
    assert.ok(changes?.diff);
    await assert.rejects(fileAsRunSawIt(dir, 'f'.repeat(40), 'train.py', changes.diff), /git show f{40}:train.py failed/);
    // a later commit whose train.py the diff was not made against
    writeFileSync(join(dir, 'train.py'), 'something else entirely\n');
    git(dir, 'commit', '-qam', 'second');
    const second = git(dir, 'rev-parse', 'HEAD').trim();
    await assert.rejects(fileAsRunSawIt(dir, second, 'train.py', changes.diff), /no longer apply to train\.py at/);
  });
});
