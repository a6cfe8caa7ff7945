import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { COMMAND_VISIBILITY } from '../../src/vscode/base/commandArgs';
import { manifest, mloopApi, mloopExtension } from './support';

/** Activation, the public API and everything the manifest promises the workbench. */
export function registerExtensionSuite(): void {
  describe('extension', () => {
    it('mloop.mloop is installed, activates and returns its API with the manifest version', async () => {
      const extension = mloopExtension();
      const api = await mloopApi();
      assert.equal(extension.isActive, true);
      assert.equal(api.version, manifest().version);
      assert.ok(Number.isInteger(api.schemaVersion) && api.schemaVersion >= 1, `schemaVersion ${api.schemaVersion}`);
      // a figure for the notes, not a pass/fail threshold (speed targets belong in bench/)
      console.log(`activate() took ${api.activationMs} ms`);
    });

    it('the four views (and the audit trail) are contributed in the mloop container and registered with the workbench', async () => {
      const api = await mloopApi();
      const contributed = (manifest().contributes.views.mloop ?? []).map((view) => view.id);
      assert.deepEqual(contributed, ['mloop.datasets', 'mloop.runs', 'mloop.models', 'mloop.deployments', 'mloop.audit']);
      assert.deepEqual([...api.viewIds], contributed);
      // the workbench creates "<view>.focus" for every view it registered from the manifest
      const commands = new Set(await vscode.commands.getCommands(true));
      const missing = contributed.filter((id) => !commands.has(`${id}.focus`));
      assert.deepEqual(missing, [], `views without a focus command: ${missing.join(', ')}`);
    });

    it('every contributed command is registered by activate() and sits in the mloop category', async () => {
      await mloopApi();
      const contributed = manifest().contributes.commands;
      assert.ok(contributed.length > 0, 'the manifest contributes no commands');
      const registered = new Set(await vscode.commands.getCommands(true));
      const unregistered = contributed.filter((c) => !registered.has(c.command)).map((c) => c.command);
      assert.deepEqual(unregistered, [], `contributed but never registered: ${unregistered.join(', ')}`);
      const uncategorised = contributed.filter((c) => c.category !== 'mloop').map((c) => c.command);
      assert.deepEqual(uncategorised, [], `commands outside the "mloop" category: ${uncategorised.join(', ')}`);
    });

    it('activate() registers every command of the typed command map, internal ones included', async () => {
      await mloopApi();
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = Object.keys(COMMAND_VISIBILITY).filter((id) => !registered.has(id));
      assert.deepEqual(missing, [], `typed but never registered: ${missing.join(', ')}`);
    });

    it('the test hooks come with ExtensionMode.Test (the harness sets extensionTestsPath), on top of the public API', async () => {
      const api = await mloopApi();
      for (const hook of ['treeSnapshot', 'lineagePanelState', 'metricsPanelState', 'viewMessage', 'datasetWatchEvents', 'driftBadge'] as const)
        assert.equal(typeof api[hook], 'function', hook);
    });
  });
}
