import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { captureCodeChanges } from '../../src/core/runs/codeVersion';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunCodeRepository } from '../../src/core/store/runCode';
import { RunRepository } from '../../src/core/store/runs';
import { mloopApi } from './support';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' });

/** "Open Code at This Run" on a run that started with uncommitted changes, in the real workbench. */
export function registerCodeAtRunSuite(): void {
  describe('Open Code at This Run', function () {
    this.timeout(60_000);
    let repo: string;
    after(async () => {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      rmSync(repo, { recursive: true, force: true });
    });

    it('opens a diff of the entry script as the run ran it (commit + its stored uncommitted changes) against the work tree', async () => {
      repo = mkdtempSync(join(tmpdir(), 'mloop-code-at-run-'));
      git(repo, 'init', '-q');
      const script = join(repo, 'train.py');
      writeFileSync(script, 'alpha = 0.1\nprint(alpha)\n');
      git(repo, 'add', '.');
      git(repo, 'commit', '-qm', 'first');
      writeFileSync(script, 'alpha = 0.5  # the value the run used\nprint(alpha)\n');
      const changes = await captureCodeChanges(repo);
      assert.ok(changes?.diff);
      const store = await (await mloopApi()).openStore();
      const experimentId = new ExperimentRepository(store).ensure('code-at-run').experimentId;
      const run = new RunRepository(store).create({
        experimentId,
        name: 'dirty-run',
        status: 'FINISHED',
        gitCommit: changes.commit,
        gitDirty: true,
        entryFile: script,
      });
      new RunCodeRepository(store).record(run.runId, changes);
      writeFileSync(script, 'alpha = 0.9  # edited after the run\n');

      const content = await vscode.commands.executeCommand<string>('mloop.runs.openCodeAtCommit', run.runId);
      assert.equal(content, 'alpha = 0.5  # the value the run used\nprint(alpha)\n');
      const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
      assert.ok(tab?.input instanceof vscode.TabInputTextDiff, `a diff editor is open: ${tab?.label}`);
      assert.match(tab.label, new RegExp(`train\\.py as dirty-run ran it \\(${changes.commit.slice(0, 8)} \\+ its uncommitted changes\\)`));
      assert.equal((tab.input as vscode.TabInputTextDiff).modified.fsPath, script, 'the right side is the work tree file');
      const left = await vscode.workspace.openTextDocument((tab.input as vscode.TabInputTextDiff).original);
      assert.equal(left.getText(), content, 'the left side is the file as the run ran it');
    });
  });
}
