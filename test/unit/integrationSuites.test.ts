import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { INTEGRATION_SUITE_ORDER, integrationSuiteFiles } from '../harness/integrationSuites';
import { tempDir } from './fixtures';

// The integration runner (test/integration/index.ts) runs what integrationSuiteFiles finds next to it:
// no suite can be written and then forgotten in a hand-kept list.

const ROOT = resolve(__dirname, '../../..');

describe('integration suites are discovered, not listed by hand', () => {
  it("the runner's list of built suites is exactly the *.test.ts files in test/integration/, the known ones in their order first", () => {
    const sources = readdirSync(join(ROOT, 'test', 'integration')).filter((f) => f.endsWith('.test.ts'));
    const built = integrationSuiteFiles(join(ROOT, 'out', 'test', 'integration'));
    assert.deepEqual([...built].sort(), sources.map((f) => f.replace(/\.ts$/, '.js')).sort());
    assert.deepEqual(
      built.slice(0, INTEGRATION_SUITE_ORDER.length),
      INTEGRATION_SUITE_ORDER.map((n) => `${n}.test.js`),
    );
    assert.ok(!built.some((f) => f.startsWith('restricted')), 'the Restricted Mode suite runs in its own untrusted window');
  });

  it('a new suite file is picked up after the ordered ones, by name; helpers, source maps and subfolders are not', () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const name of [...INTEGRATION_SUITE_ORDER, 'zeta', 'alpha']) writeFileSync(join(dir, `${name}.test.js`), '');
      for (const other of ['index.js', 'support.js', 'alpha.test.js.map']) writeFileSync(join(dir, other), '');
      mkdirSync(join(dir, 'restricted.test.js')); // a folder with a suite's name is no suite
      mkdirSync(join(dir, 'restricted'));
      writeFileSync(join(dir, 'restricted', 'restricted.test.js'), '');
      assert.deepEqual(
        integrationSuiteFiles(dir),
        [...INTEGRATION_SUITE_ORDER, 'alpha', 'zeta'].map((n) => `${n}.test.js`),
      );
    } finally {
      cleanup();
    }
  });

  it('a suite named in the order but missing on disk is an error that names it, not a silently shorter run', () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const name of INTEGRATION_SUITE_ORDER.filter((n) => n !== 'store')) writeFileSync(join(dir, `${name}.test.js`), '');
      assert.throws(() => integrationSuiteFiles(dir), /names store, but .* has no store\.test\.js/);
    } finally {
      cleanup();
    }
  });
});
