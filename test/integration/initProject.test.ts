import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { pollUntil } from '../harness/poll';
import { mloopApi, workspaceRoot } from './support';

/** "mloop: Initialize Project" on a folder without mloop.yaml. */
export function registerInitProjectSuite(): void {
  describe('mloop.project.init', () => {
    it('writes mloop.yaml into the workspace folder and opens it in an editor', async () => {
      await mloopApi();
      const config = join(workspaceRoot(), 'mloop.yaml');
      assert.equal(existsSync(config), false, 'mloop.yaml existed before the command ran; the runner must give a fresh workspace');
      await vscode.commands.executeCommand('mloop.project.init');
      await pollUntil(() => existsSync(config), { what: `${config} to be written`, timeoutMs: 10_000 });
      assert.ok(readFileSync(config, 'utf8').trim().length > 0, 'mloop.yaml is empty');
      const editor = await pollUntil(() => vscode.window.visibleTextEditors.find((e) => e.document.uri.fsPath === config), {
        what: 'an editor showing mloop.yaml',
        timeoutMs: 10_000,
      });
      assert.equal(editor.document.uri.fsPath, config);
    });
  });
}
