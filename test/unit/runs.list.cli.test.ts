import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { CLI, mloop, tempDir } from './fixtures';

// `mloop runs list --filter/--order-by/--columns/--max` as a real child process on a real store.
// Run i has accuracy (50 + 5i)/100, max_depth '8' when i is odd, team 'x' when i % 3 == 0, started at i seconds.

describe('cli: mloop runs list with MLflow filter and order', function () {
  this.timeout(30_000);
  let dir: string;
  let cleanup: () => void;

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`);
    ({ dir, cleanup } = tempDir('mloop-runs-list-'));
    assert.equal(mloop(dir, 'init').code, 0);
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const experiments = new ExperimentRepository(store);
    const sweep = experiments.ensure('sweep').experimentId;
    const other = experiments.ensure('other').experimentId;
    const runs = new RunRepository(store);
    for (let i = 0; i < 10; i++) {
      const run = runs.create({
        experimentId: sweep,
        name: `trial-${i}`,
        startTime: 1_700_000_000_000 + i * 1000,
        params: { max_depth: i % 2 ? '8' : '4' },
        tags: i % 3 === 0 ? { team: 'x' } : {},
      });
      runs.logMetrics(run.runId, [{ key: 'accuracy', value: (50 + 5 * i) / 100, step: 0, timestamp: 1 }]);
    }
    const stray = runs.create({ experimentId: other, name: 'other-run', params: { max_depth: '8' } });
    runs.logMetrics(stray.runId, [{ key: 'accuracy', value: 0.99, step: 0, timestamp: 1 }]);
    store.close();
  });
  after(() => cleanup());

  const names = (...args: string[]): string[] => {
    const r = mloop(dir, 'runs', 'list', '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { name: string }[]).map((run) => run.name);
  };

  it('filters and orders like MLflow (the matching runs, best first), within one experiment', () => {
    assert.deepEqual(names('-e', 'sweep', '--filter', "metrics.accuracy > 0.7 and params.max_depth = '8'", '--order-by', 'metrics.accuracy DESC'), [
      'trial-9',
      'trial-7',
      'trial-5',
    ]);
    assert.deepEqual(names('--filter', "params.max_depth = '8'", '--order-by', 'metrics.accuracy DESC', '--max', '2'), ['other-run', 'trial-9']);
    assert.deepEqual(names('-e', 'sweep', '--order-by', 'tags.team DESC, metrics.accuracy ASC', '--max', '5'), [
      'trial-0',
      'trial-3',
      'trial-6',
      'trial-9',
      'trial-1',
    ]);
  });

  it('--columns picks what is shown, in the table and as JSON', () => {
    const text = mloop(dir, 'runs', 'list', '-e', 'sweep', '--filter', 'metrics.accuracy >= 0.9', '--columns', 'metrics.accuracy,params.max_depth');
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0]!, /run\s+name\s+experiment\s+status\s+started\s+metrics\.accuracy\s+params\.max_depth/);
    assert.ok(
      lines.some((l) => /trial-9 .* 0\.95 +8$/.test(l)),
      text.stdout,
    );
    assert.equal(lines.filter((l) => l.includes('trial-')).length, 2);
    const json = mloop(dir, 'runs', 'list', '--json', '-e', 'sweep', '--filter', 'metrics.accuracy >= 0.95', '--columns', 'metrics.accuracy,params.max_depth');
    assert.deepEqual(
      (JSON.parse(json.stdout) as { columns: unknown; params: unknown }[]).map((r) => [r.columns, r.params]),
      [[{ 'metrics.accuracy': 0.95, 'params.max_depth': '8' }, { max_depth: '8' }]],
    );
  });

  it('a filter syntax error exits 1 naming the column, with a caret under it; nothing is listed', () => {
    const filter = 'metrics.accuracy > 0.7 and params.max_depth = 8';
    const r = mloop(dir, 'runs', 'list', '--filter', filter);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /at column 47: expected a quoted string for params\.max_depth/);
    const lines = r.stderr.split('\n');
    const shown = lines.findIndex((l) => l.endsWith(filter));
    assert.ok(shown >= 0, r.stderr);
    assert.equal(lines[shown + 1]!.indexOf('^') - lines[shown]!.indexOf(filter), 46, 'the caret sits under the 8');
    const order = mloop(dir, 'runs', 'list', '--order-by', 'metrics.accuracy DESC, foo.bar');
    assert.equal(order.code, 1);
    assert.match(order.stderr, /Invalid order_by .* at column 24: expected metrics\., params\., tags\., attributes\. or datasets\., found "foo\."/);
  });
});
