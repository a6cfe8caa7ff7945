import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { Pipeline } from '../../src/core/config/schema';
import { launchRun } from '../../src/core/runs/launcher';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { tempDir } from './fixtures';

// issue 15, item 6: runs can be told apart by name, and renamed
describe('runs: readable names', function () {
  this.timeout(30_000);

  it('a run is named after its pipeline, its ordinal and the params that differ from the defaults; a rename reaches the mlflow.runName tag', async () => {
    const { dir, cleanup } = tempDir('mloop-names-');
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    try {
      const yaml = [
        'version: 1',
        'pipelines:',
        '  train:',
        `    command: [${JSON.stringify(process.execPath)}, -e, "0", "\${params.depth}", "\${params.trees}"]`,
        '    params: { depth: 8, trees: 200 }',
      ].join('\n');
      const { config, problems } = loadConfig(yaml, 'mloop.yaml');
      assert.ok(config, JSON.stringify(problems));
      const run = async (overrides: Record<string, string>): Promise<string> => {
        const outcome = await (
          await launchRun({
            store,
            projectRoot: dir,
            pipelineName: 'train',
            pipeline: config.pipelines.train as Pipeline,
            overrides,
            trusted: true,
            artifactRoot: join(dir, '.mloop', 'artifacts'),
          })
        ).done;
        return outcome.runId;
      };
      const runs = new RunRepository(store);
      const first = await run({});
      const second = await run({ depth: '4' });
      const third = await run({ depth: '8', trees: '50' });
      assert.deepEqual(
        [first, second, third].map((id) => runs.get(id)?.name),
        ['train #1', 'train #2 depth=4', 'train #3 trees=50'],
      );
      runs.rename(second, 'shallow trees');
      assert.equal(runs.get(second)?.name, 'shallow trees');
      assert.equal(store.db.prepare("SELECT value FROM tag WHERE run_id = ? AND key = 'mlflow.runName'").pluck().get(second), 'shallow trees');
    } finally {
      store.close();
      cleanup();
    }
  });
});
