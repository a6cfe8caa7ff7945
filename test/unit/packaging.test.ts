import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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

describe('packaging: the launcher', () => {
  it('dist/extension.js, loaded in every window (onStartupFinished), is the launcher alone: no store, yaml or zod code in it', () => {
    const launcher = readFileSync(join(ROOT, 'dist', 'extension.js'), 'utf8');
    assert.match(launcher, /\bmloop\.js\b/, 'the launcher loads dist/mloop.js');
    for (const heavy of ['better-sqlite3', 'ZodError', 'YAMLParseError']) assert.ok(!launcher.includes(heavy), `dist/extension.js bundles ${heavy}`);
    assert.ok(launcher.length < 32_000, `dist/extension.js is ${launcher.length} bytes`);
  });
});

describe('packaging: the Python helper mloop ships', () => {
  it('travels as text inside the CLI and dist/mloop.js (esbuild loader .py → text), so the VSIX carries it with no file to list in .vscodeignore', () => {
    const helper = readFileSync(join(ROOT, 'src', 'core', 'evaluation', 'evaluator.py'), 'utf8');
    const marker = 'mloop-evaluator 1';
    assert.ok(helper.includes(marker), 'the helper names its version on its first line');
    // the CLI is dist/cli.js (a launcher) + dist/cli/*.mjs (its code, split per command group): the helper is in a chunk
    const cliChunks = readdirSync(join(ROOT, 'dist', 'cli'))
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => `dist/cli/${f}`);
    for (const [name, files] of [
      ['the CLI', cliChunks],
      // dist/extension.js is the extension's launcher; the extension itself is dist/mloop.js
      ['dist/mloop.js', ['dist/mloop.js']],
    ] as const) {
      const text = files.map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
      assert.ok(text.includes(marker), `${name} holds the helper`);
      assert.ok(text.includes('from sklearn.inspection import permutation_importance'), `${name} holds the whole helper, not a stub`);
    }
    const kept = readFileSync(join(ROOT, '.vscodeignore'), 'utf8');
    assert.match(kept, /^!dist\/cli\.js$/m);
    assert.match(kept, /^!dist\/cli\/\*\*$/m, 'the CLI launcher imports dist/cli/main.mjs and its chunks');
    assert.match(kept, /^!dist\/extension\.js$/m);
    assert.match(kept, /^!dist\/mloop\.js$/m);
  });
});
