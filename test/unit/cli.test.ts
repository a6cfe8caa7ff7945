import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { CLI, fingerprint, mloop, tempDir } from './fixtures';

describe('cli: mloop', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-cli-')));
  afterEach(() => cleanup());

  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));

  it('init writes a commented, valid mloop.yaml, the store and .mloop/.gitignore', () => {
    const r = mloop(dir, 'init');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote mloop\.yaml/);
    const text = readFileSync(join(dir, 'mloop.yaml'), 'utf8');
    assert.ok(text.split('\n').filter((l) => l.trim().startsWith('#')).length >= 10, 'the template explains itself in comments');
    const config = parse(text) as { version: number; pipelines: Record<string, { command: string }> };
    assert.equal(config.version, 1);
    assert.ok(config.pipelines.train?.command.includes('${params.n_estimators}'));
    assert.ok(existsSync(join(dir, '.mloop', 'mloop.db')));
    assert.equal(
      readFileSync(join(dir, '.mloop', '.gitignore'), 'utf8')
        .trim()
        .split('\n')
        .pop(),
      '*',
    );
  });

  it('init keeps an existing mloop.yaml unless --force', () => {
    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1 # mine\n');
    const kept = mloop(dir, 'init');
    assert.equal(kept.code, 0);
    assert.match(kept.stdout, /kept existing mloop\.yaml/);
    assert.equal(readFileSync(join(dir, 'mloop.yaml'), 'utf8'), 'version: 1 # mine\n');
    assert.equal(mloop(dir, 'init', '--force').code, 0);
    assert.notEqual(readFileSync(join(dir, 'mloop.yaml'), 'utf8'), 'version: 1 # mine\n');
  });

  it('status counts what the store holds, as text and as JSON, from a subfolder of the project', () => {
    assert.equal(mloop(dir, 'init').code, 0);
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const exp = new ExperimentRepository(store).ensure('weather');
    new RunRepository(store).create({ experimentId: exp.experimentId, name: 'r1' });
    new RunRepository(store).create({ experimentId: exp.experimentId, name: 'r2' });
    new ModelRepository(store).registerVersion({ name: 'clf', actor: 'test' });
    store.close();
    const sub = join(dir, 'data');
    mkdirSync(sub);
    const json = mloop(sub, 'status', '--json');
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(s.project, dir);
    assert.equal(s.runs, 2);
    assert.equal(s.runningRuns, 2);
    assert.equal(s.models, 1);
    assert.equal(s.datasets, 0);
    const text = mloop(dir, 'status');
    assert.match(text.stdout, /runs\s+2 \(2 running\) in 1 experiments/);
  });

  it('every listing has --json that parses, with the stored rows', () => {
    assert.equal(mloop(dir, 'init').code, 0);
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const exp = new ExperimentRepository(store).ensure('weather');
    new RunRepository(store).create({ experimentId: exp.experimentId, name: 'only-run' });
    const models = new ModelRepository(store);
    models.registerVersion({ name: 'clf', actor: 'test' });
    models.setAlias({ modelId: models.byName('clf')!.modelId, alias: 'champion', version: 1, actor: 'test' });
    store.close();
    const list = (...args: string[]): unknown[] => {
      const r = mloop(dir, ...args, '--json');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as unknown[];
    };
    assert.deepEqual(
      (list('runs', 'list') as { name: string; experiment: string }[]).map((r) => [r.name, r.experiment]),
      [['only-run', 'weather']],
    );
    assert.deepEqual(
      (list('models', 'list') as { name: string; versions: { aliases: string[] }[] }[]).map((m) => [m.name, m.versions[0]!.aliases]),
      [['clf', ['champion']]],
    );
    assert.deepEqual(list('datasets', 'list'), []);
    assert.deepEqual(list('deployments', 'list'), []);
    assert.deepEqual(
      (list('audit') as { action: string }[]).map((a) => a.action),
      ['set_alias', 'register'],
    );
  });

  it('--help works on every command and exits 0', () => {
    for (const args of [[], ['init'], ['status'], ['runs'], ['runs', 'list'], ['datasets', 'list'], ['models', 'list'], ['deployments', 'list'], ['audit']]) {
      const r = mloop(dir, ...args, '--help');
      assert.equal(r.code, 0, `mloop ${args.join(' ')} --help: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`Usage: mloop${args.map((a) => ` ${a}`).join('')} `), `mloop ${args.join(' ')} --help printed: ${r.stdout.split('\n')[0]}`);
    }
  });

  it('usage errors exit 2 and say what was wrong', () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: mloop/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status', '--frob'], /unknown option '--frob'/],
      [['runs', 'list', '--limit', 'zero'], /expected a whole number/],
      [['runs'], /Usage: mloop runs/],
    ];
    for (const [args, message] of cases) {
      const r = mloop(dir, ...args);
      assert.equal(r.code, 2, `mloop ${args.join(' ')} exited ${r.code}`);
      assert.match(r.stderr, message);
    }
  });

  it('failures exit 1 with a message naming the folder or file, and listings never create a store', () => {
    const none = mloop(dir, 'status');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no mloop project at or above/);
    assert.ok(none.stderr.includes(dir));
    assert.equal(existsSync(join(dir, '.mloop')), false);

    writeFileSync(join(dir, 'mloop.yaml'), 'version: 1\n');
    const noStore = mloop(dir, 'runs', 'list');
    assert.equal(noStore.code, 1);
    assert.match(noStore.stderr, /no store at .*mloop\.db.*mloop init/);
    assert.equal(existsSync(join(dir, '.mloop', 'mloop.db')), false);
  });

  it('a corrupt store gives exit 1 and an error naming the file; the file is left as it was', () => {
    mkdirSync(join(dir, '.mloop'));
    const path = join(dir, '.mloop', 'mloop.db');
    writeFileSync(path, 'garbage'.repeat(100));
    const before = fingerprint(path);
    const r = mloop(dir, 'status');
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(path), r.stderr);
    assert.match(r.stderr, /not a SQLite database/);
    assert.deepEqual(fingerprint(path), before);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    assert.equal(mloop(dir, '--version').stdout.trim(), pkg.version);
  });
});
