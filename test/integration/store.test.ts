import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { mloopApi, workspaceRoot } from './support';
import type { TreeNodeSnapshot } from '../../src/vscode/api';

function treeText(nodes: readonly TreeNodeSnapshot[]): string[] {
  return nodes.flatMap((node) => [
    `${node.label} ${node.description ?? ''}`.trim(),
    ...node.children.map((child) => `${child.label} ${child.description ?? ''}`.trim()),
  ]);
}

/** The store behind the views: created on first use, and what it holds is what the trees show. */
export function registerStoreSuite(): void {
  describe('store', () => {
    it('activation leaves the store alone and openStore() creates .mloop/mloop.db at the current schema', async () => {
      const api = await mloopApi();
      const expected = join(workspaceRoot(), '.mloop', 'mloop.db');
      assert.equal(api.storePath(), expected);
      assert.equal(existsSync(expected), false, 'the store existed before first use (activation must stay lazy, or the workspace was not fresh)');
      const store = await api.openStore();
      assert.equal(existsSync(expected), true, `${expected} was not created`);
      assert.equal(readFileSync(expected).subarray(0, 15).toString('latin1'), 'SQLite format 3');
      assert.equal(store.schemaVersion, api.schemaVersion);
    });

    it('a run written to the store shows in the Runs tree after refresh', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const name = `integration-run-${Date.now().toString(36)}`;
      const experiment = new ExperimentRepository(store).ensure('Default');
      const run = new RunRepository(store).create({ experimentId: experiment.experimentId, name, status: 'FINISHED' });
      await api.refresh();
      const rows = treeText(await api.treeSnapshot('mloop.runs'));
      assert.ok(
        rows.some((row) => row.includes(name) || row.includes(run.runId.slice(0, 8))),
        `Runs tree does not show ${name}; it shows: ${JSON.stringify(rows)}`,
      );
    });

    it('the other views render from the same store without error', async () => {
      const api = await mloopApi();
      for (const viewId of api.viewIds) {
        const nodes = await api.treeSnapshot(viewId);
        assert.ok(Array.isArray(nodes), `${viewId} snapshot is not a list`);
      }
    });
  });
}
