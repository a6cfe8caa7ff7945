import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './fixtures';

const ROOT = resolve(__dirname, '../../..');
const CLI = join(ROOT, 'dist', 'cli.js');

/** Every file under a folder, with its size and modification time. */
function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const s = statSync(path);
        files.set(path, `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return files;
}

/**
 * dist/cli.js turns on Node's compile cache before it loads the CLI (src/cli/launcher.ts; issue 16: a second run of
 * `mloop drift` does not compile the CLI's modules again). Real runs of the built CLI on two small CSV files.
 */
describe('cli: the compile cache of dist/cli.js', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-compile-cache-'));
    writeFileSync(join(dir, 'reference.csv'), 'amount,city\n1,Oslo\n2,Rome\n3,Oslo\n4,Rome\n5,Oslo\n6,Oslo\n');
    writeFileSync(join(dir, 'current.csv'), 'amount,city\n2,Oslo\n9,Rome\n3,Rome\n8,Rome\n5,Oslo\n7,Rome\n');
  });
  afterEach(() => cleanup());

  function drift(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const base = { ...process.env };
    delete base.NODE_DISABLE_COMPILE_CACHE;
    delete base.NODE_COMPILE_CACHE; // that variable alone turns Node's cache on: the test must see the launcher's call
    const r = spawnSync(process.execPath, [CLI, 'drift', '--reference', 'reference.csv', '--current', 'current.csv', '--json', '--no-store'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...base, MLOOP_STORE: '', NO_COLOR: '1', ...env },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  // the launcher calls module.enableCompileCache() without a folder: Node puts the cache in os.tmpdir()/node-compile-cache
  it('the first run writes the cache into the temp folder, the second reads it back and prints the same report', () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const cache = join(tmp, 'node-compile-cache');
    const first = drift({ TMPDIR: tmp });
    assert.equal(first.status, 0, first.stderr);
    const report = JSON.parse(first.stdout) as { columns: { column: string; method: string }[] };
    assert.deepEqual(report.columns.map((c) => `${c.column}:${c.method}`).sort(), ['amount:ks', 'city:chisquare']);
    const written = filesUnder(cache);
    // one entry per module compiled: the CLI's main.mjs and the drift command's chunks (more than a handful)
    assert.ok(written.size >= 5, `expected the CLI's modules in ${cache}, found ${written.size} files`);

    const second = drift({ TMPDIR: tmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, first.stdout, 'the same report with the cache warm');
    // Node's own trace of the cache: the CLI's entry module came from the cache and V8 took it
    assert.match(second.stderr, /V8 code cache for ESM file:\/\/\S*\/dist\/cli\/main\.mjs was accepted/);
    assert.doesNotMatch(second.stderr, /dist\/cli\/\S+ was rejected/);
    assert.deepEqual(filesUnder(cache), written, 'a warm run rewrites nothing');
  });

  it('NODE_DISABLE_COMPILE_CACHE=1 writes no cache; a cache path that cannot be a folder is skipped silently', () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const reference = drift({ NODE_DISABLE_COMPILE_CACHE: '1', TMPDIR: tmp });
    assert.equal(reference.status, 0, reference.stderr);
    assert.deepEqual(readdirSync(tmp), [], 'the cache is off');

    writeFileSync(join(tmp, 'node-compile-cache'), 'not a folder');
    const blocked = drift({ TMPDIR: tmp });
    assert.equal(blocked.status, 0, blocked.stderr);
    assert.equal(blocked.stdout, reference.stdout, 'the same report without a usable cache');
    assert.equal(blocked.stderr, '', 'nothing printed about the cache');
  });
});
