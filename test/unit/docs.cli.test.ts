import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const SCRIPT = join(ROOT, 'scripts', 'cli-docs.mjs');

describe('docs: cli.md is generated from the CLI', function () {
  this.timeout(180_000); // the script starts `mloop … --help` once per command (about 40 processes)
  let fresh = '';
  before(() => {
    assert.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js is missing: run the build first');
    const r = spawnSync(process.execPath, [SCRIPT, '--stdout'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    fresh = r.stdout;
  });

  it("docs/cli.md equals what `npm run docs:cli` writes from the built CLI's --help today", () => {
    const committed = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    // a whole-page compare: any changed option, description or command makes the page stale
    assert.ok(committed === fresh, 'docs/cli.md is stale: run `npm run docs:cli` and commit docs/cli.md');
  });

  it('the page covers every top-level command the CLI lists, each with its own section', () => {
    const help = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' }).stdout;
    const commands = (help.split(/^Commands:$/m)[1] ?? '')
      .split('\n')
      .filter((line) => /^ {2}\S/.test(line))
      .map((line) => line.trim().split(/\s+/)[0]!)
      .filter((name) => name !== 'help');
    assert.ok(commands.length >= 15, `expected the CLI to list its commands, got ${JSON.stringify(commands)}`);
    const page = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    for (const name of commands) assert.ok(page.includes(`\n## mloop ${name}\n`), `docs/cli.md has no section for "mloop ${name}"`);
  });
});
