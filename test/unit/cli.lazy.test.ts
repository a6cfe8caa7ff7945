import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { commandNameOf, LAZY_COMMAND_NAMES, subcommandOf } from '../../src/cli/program';
import { tempDir } from './fixtures';

const ROOT = resolve(__dirname, '../../..');
const CLI = join(ROOT, 'dist', 'cli.js');

/** Runs the built CLI with a module hook that prints every file of dist/cli/ Node loads (issue 16: lazy commands). */
function loadedChunks(args: readonly string[]): { code: number | null; stdout: string; stderr: string; chunks: string[]; builtins: string[] } {
  const hook = `import { registerHooks } from 'node:module';
registerHooks({ load(url, context, next) { if (url.includes('/dist/cli/')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); } });
process.on('exit', () => process.stderr.write('BUILTINS ' + process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)).join(' ') + '\\n'));`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' },
  });
  const chunks = [...r.stderr.matchAll(/^LOADED file:\/\/(.+)$/gm)].map((m) => decodeURIComponent(m[1]!));
  const builtins = (/^BUILTINS (.*)$/m.exec(r.stderr)?.[1] ?? '').split(' ');
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, chunks, builtins };
}

/** The command registrations a file defines (`function registerDriftCommand(` in esbuild's output). */
function registrations(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^function (register[A-Z]\w*?Commands?)\d*\(/gm)].map((m) => m[1]!);
}

describe('cli: each command loads only its own code', function () {
  this.timeout(60_000);
  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));

  it('finds the command in argv past the global options and their values; none, help or an unknown name loads every command', () => {
    assert.equal(commandNameOf(['drift', '--reference', 'a.csv']), 'drift');
    assert.equal(commandNameOf(['-C', 'drift', 'status']), 'status', "-C's value is a folder, not the command");
    assert.equal(commandNameOf(['--dir', 'x', '--store', 'y.db', '--backend', 'mlflow', '--tracking-uri', 'http://h', 'runs', 'list']), 'runs');
    assert.equal(commandNameOf(['--dir=x', '-Cfolder', 'models', 'list']), 'models');
    assert.equal(commandNameOf(['validate']), 'validate');
    assert.equal(commandNameOf([]), undefined);
    assert.equal(commandNameOf(['--help']), undefined);
    assert.equal(commandNameOf(['help', 'drift']), undefined);
    assert.equal(commandNameOf(['drfit']), undefined, 'an unknown name: commander suggests from all commands');
  });

  it('every top-level command of `mloop --help` has its lazy group in program.ts', () => {
    const r = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const listed = (r.stdout.split(/^Commands:$/m)[1] ?? '')
      .split('\n')
      .filter((line) => /^ {2}\S/.test(line))
      .map((line) => line.trim().split(/\s+/)[0]!)
      .filter((name) => name !== 'help');
    assert.ok(listed.length >= 30, `the CLI lists its commands: ${listed.join(' ')}`);
    assert.deepEqual(
      listed.filter((name) => !LAZY_COMMAND_NAMES.has(name)),
      [],
      'commands registered outside COMMAND_GROUPS (src/cli/program.ts) load with every command',
    );
  });

  it('`mloop drift` loads the drift command and none of the other commands; `mloop --help` loads them all', () => {
    const all = loadedChunks(['--help']);
    assert.equal(all.code, 0);
    const everyRegistration = new Set(all.chunks.flatMap(registrations));
    for (const name of ['registerDriftCommand', 'registerDeployCommands', 'registerTrainCommand', 'registerMonitorCommand', 'registerAuditCommands'])
      assert.ok(everyRegistration.has(name), `--help loads ${name} (the hook sees the chunks: ${all.chunks.length})`);

    const drift = loadedChunks(['drift', '--help']);
    assert.equal(drift.code, 0);
    assert.match(drift.stdout, /^Usage: mloop drift \[options\]/);
    assert.deepEqual(drift.chunks.flatMap(registrations), ['registerDriftCommand'], `chunks loaded by mloop drift: ${drift.chunks.join(', ')}`);
    assert.ok(drift.chunks.length < all.chunks.length / 2, `drift loads ${drift.chunks.length} of ${all.chunks.length} chunks`);

    const deploy = loadedChunks(['deploy', '--help']);
    assert.equal(deploy.code, 0);
    assert.match(deploy.stdout, /^Usage: mloop deploy /);
    assert.ok(!deploy.chunks.flatMap(registrations).includes('registerDriftCommand'), 'mloop deploy does not load the drift command');
  });

  it('`mloop datasets checkout` loads the content store only: not the rest of the datasets group, not the remotes (node:http); `datasets --help` lists every subcommand', () => {
    assert.equal(subcommandOf(['datasets', 'checkout', 'a@b'], 'datasets'), 'checkout');
    assert.equal(subcommandOf(['-C', 'x', '--json', 'datasets', '--verbose', 'push'], 'datasets'), 'push');
    assert.equal(subcommandOf(['datasets', 'checkout', '--help'], 'datasets'), undefined, 'help asked: the whole group');
    assert.equal(subcommandOf(['runs', 'checkout'], 'datasets'), undefined);
    const { dir, cleanup } = tempDir('mloop-lazy-');
    try {
      // no store there: the command fails after it is registered and parsed, which is what is measured
      const checkout = loadedChunks(['-C', dir, 'datasets', 'checkout', 'train@abcdef']);
      assert.equal(checkout.code, 1);
      const registered = checkout.chunks.flatMap(registrations);
      assert.deepEqual(registered, ['registerCacheCommands'], `chunks loaded by datasets checkout: ${checkout.chunks.join(', ')}`);
      const code = checkout.chunks.map((f) => readFileSync(f, 'utf8')).join('\n');
      assert.doesNotMatch(code, /class RemoteError/, 'the remotes (remoteStorage.ts) are not loaded');
      assert.doesNotMatch(code, /from ["']node:http["']/, 'node:http is not loaded');

      const help = loadedChunks(['datasets', '--help']);
      assert.equal(help.code, 0);
      for (const sub of ['add', 'profile', 'checkout', 'push', 'pull'])
        assert.match(help.stdout, new RegExp(`^  ${sub}\\b`, 'm'), `datasets --help lists ${sub}`);
    } finally {
      cleanup();
    }
  });

  it('`mloop drift` against a stored profile loads the drift command, the store and the readers: not the registry, not node:crypto; commander builds no ES facade of node:process or node:util', function () {
    this.timeout(120_000);
    const { dir, cleanup } = tempDir('mloop-lazy-drift-');
    try {
      const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, '-C', dir, ...args], { encoding: 'utf8', cwd: dir });
      assert.equal(cli('init', dir).status, 0);
      mkdirSync(join(dir, 'data'), { recursive: true });
      const rows = (shift: number): string => `x,c\n${Array.from({ length: 200 }, (_, i) => `${(i % 37) + shift},${'abc'[i % 3]}`).join('\n')}\n`;
      writeFileSync(join(dir, 'data', 'ref.csv'), rows(0));
      const added = cli('datasets', 'add', 'ref', 'data/ref.csv');
      assert.equal(added.status, 0, added.stderr);
      rmSync(join(dir, 'data', 'ref.csv')); // the check compares against the stored profile, not the file
      writeFileSync(join(dir, 'cur.csv'), rows(3));
      const drift = loadedChunks(['-C', dir, 'drift', '--reference', 'ref', '--current', join(dir, 'cur.csv'), '--json', '--no-store']);
      assert.ok(drift.code === 0 || drift.code === 3, drift.stderr);
      assert.equal(JSON.parse(drift.stdout).reference.kind, 'dataset-profile');
      assert.deepEqual(drift.chunks.flatMap(registrations), ['registerDriftCommand'], `chunks loaded by drift: ${drift.chunks.join(', ')}`);
      const code = drift.chunks.map((f) => readFileSync(f, 'utf8')).join('\n');
      assert.match(code, /\bDatasetRepository = class\b/, 'the hook sees the store chunks');
      assert.doesNotMatch(code, /\bModelRepository = class\b/, 'the registry loads only for a reference found through --model');
      assert.ok(drift.builtins.includes('fs'), `the hook lists the built-in modules: ${drift.builtins.length}`);
      assert.ok(!drift.builtins.includes('crypto'), 'node:crypto is not loaded (nothing is hashed)');
      for (const file of readdirSync(join(ROOT, 'dist', 'cli')).filter((f) => f.endsWith('.mjs')))
        assert.doesNotMatch(
          readFileSync(join(ROOT, 'dist', 'cli', file), 'utf8'),
          /from "node:(process|util)"/,
          `${file}: an ES import of node:process or node:util (scripts/build.mjs)`,
        );
    } finally {
      cleanup();
    }
  });
});
