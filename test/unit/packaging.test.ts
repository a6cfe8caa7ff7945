import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

describe('packaging: the VSIX carries every bundle the build writes', () => {
  it('each dist/*.js that scripts/build.mjs writes for Node is kept by .vscodeignore (a worker or a detached process missing from the VSIX fails only when installed)', () => {
    const build = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8');
    const bundles = [...build.matchAll(/outfile: '(dist\/[A-Za-z]+\.js)'/g)].map((m) => m[1]!);
    assert.ok(bundles.includes('dist/extension.js') && bundles.includes('dist/cli.js'), `the build's bundles were found: ${bundles.join(', ')}`);
    const kept = new Set(
      readFileSync(join(ROOT, '.vscodeignore'), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('!'))
        .map((line) => line.slice(1).trim()),
    );
    assert.deepEqual(
      bundles.filter((b) => !kept.has(b)),
      [],
      'bundles missing from .vscodeignore (add a !dist/<name>.js line)',
    );
  });
});
