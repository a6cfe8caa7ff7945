import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { mloopApi, mloopExtension, workspaceRoot } from '../support';
import { RESTRICTED_MARKERS } from './fixture';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const markersLeft = (): string[] => RESTRICTED_MARKERS.filter((m) => existsSync(join(workspaceRoot(), m)));

/**
 * A cloned repository with a hostile mloop.yaml, opened in the real VS Code with workspace trust on
 * and the folder not trusted (Restricted Mode): mloop activates (it declares limited support), shows
 * the store read-only and why, and runs nothing: no training by API, command or task, no endpoint.
 */
export function registerRestrictedSuite(): void {
  describe('Restricted Mode (an untrusted folder with an mloop.yaml)', () => {
    it('the folder is untrusted and mloop activated on its own (limited support)', async () => {
      assert.equal(vscode.workspace.isTrusted, false, 'the runner must open this folder untrusted');
      const deadline = Date.now() + 15_000;
      while (!mloopExtension().isActive && Date.now() < deadline) await sleep(100);
      assert.equal(mloopExtension().isActive, true, 'activated by workspaceContains:mloop.yaml in Restricted Mode');
    });

    it('every view says it is in Restricted Mode and why', async () => {
      const api = await mloopApi();
      for (const viewId of api.viewIds) {
        assert.match(api.viewMessage(viewId) ?? '', /Restricted Mode: mloop shows this folder read-only and runs nothing from it until you trust it/, viewId);
      }
    });

    it('training through the API is refused before anything starts, for a shell command and for an argument list', async () => {
      const api = await mloopApi();
      for (const pipeline of ['shell', 'list']) await assert.rejects(api.train(pipeline), /Restricted Mode/, pipeline);
      await assert.rejects(api.trackingEndpoint(), /Restricted Mode/, 'no tracking endpoint is served');
    });

    it('the Train, Run Pipeline and Run Sweep commands and the mloop task provider run nothing', async () => {
      await mloopApi();
      const before = vscode.window.terminals.length;
      // the commands answer with a warning that waits for the user: fire them, do not await
      void vscode.commands.executeCommand('mloop.runs.train', 'shell');
      void vscode.commands.executeCommand('mloop.runs.train', 'list');
      void vscode.commands.executeCommand('mloop.runs.trainWithParams', 'list');
      // nor do the pipeline's stages or a sweep
      void vscode.commands.executeCommand('mloop.runs.repro');
      void vscode.commands.executeCommand('mloop.runs.repro', 'stage-list');
      void vscode.commands.executeCommand('mloop.runs.sweep', { pipeline: 'list' });
      // VS Code itself holds task fetching back in Restricted Mode (it asks for trust first); if it asks mloop, mloop offers none
      const tasks = await Promise.race([vscode.tasks.fetchTasks({ type: 'mloop' }), sleep(4000).then(() => 'held back by the workbench' as const)]);
      if (tasks !== 'held back by the workbench')
        assert.deepEqual(
          tasks.map((t) => t.name),
          [],
          'no mloop tasks are offered',
        );
      assert.equal(vscode.window.terminals.length, before, 'no terminal was opened');
      assert.deepEqual(markersLeft(), [], 'no pipeline ran');
    });

    it('after everything above, no pipeline left a trace and no run was recorded', async () => {
      const api = await mloopApi();
      assert.deepEqual(markersLeft(), []);
      const path = api.storePath();
      if (path && existsSync(path)) {
        const runs = await api.treeSnapshot('mloop.runs');
        assert.deepEqual(
          runs.flatMap((experiment) => experiment.children.map((c) => c.label)),
          [],
          'no run recorded',
        );
      }
    });
  });
}
