import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuditRepository } from '../../src/core/store/audit';
import { DatasetRepository } from '../../src/core/store/datasets';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { penguinsJsonl, WEATHER } from './datasetFixtures';
import { CLI, mloop, tempDir } from './fixtures';

const ROOT = resolve(__dirname, '../../..');

/** The weather example's mloop.yaml and data, plus a `check` pipeline that runs node instead of python. */
function weatherProject(dir: string): void {
  mkdirSync(join(dir, 'data'));
  copyFileSync(WEATHER, join(dir, 'data', 'seattle-weather.csv'));
  const yaml = readFileSync(join(ROOT, 'examples', 'weather', 'mloop.yaml'), 'utf8').replace(
    'pipelines:\n',
    `pipelines:\n  check:\n    command: [${JSON.stringify(process.execPath)}, -e, "console.log('read', process.env.MLOOP_RUN_ID)"]\n    inputs: [weather]\n`,
  );
  writeFileSync(join(dir, 'mloop.yaml'), yaml);
}

describe('cli: mloop datasets and mloop validate (child processes)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('mloop-dscli-')));
  afterEach(() => cleanup());
  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));

  it('datasets profile <path> works without mloop.yaml and stores nothing', () => {
    const file = penguinsJsonl(dir);
    const r = mloop(dir, 'datasets', 'profile', 'penguins.jsonl', '--json');
    assert.equal(r.code, 0, r.stderr);
    const { profile } = JSON.parse(r.stdout) as { profile: { rows: number; columns: { name: string; nulls: number }[] } };
    assert.equal(profile.rows, 344);
    assert.equal(profile.columns.find((c) => c.name === 'Sex')!.nulls, 10);
    assert.ok(!existsSync(join(dir, '.mloop')));
    const text = mloop(dir, 'datasets', 'profile', file);
    assert.match(text.stdout, /344 rows, 7 columns/);
    assert.match(text.stdout, /Body Mass \(g\)\s+number\s+2\s+2700…6300/);
  });

  it('the example validates; a bad edit makes a new version whose report names column, rule, count and rows (exit 1)', () => {
    weatherProject(dir);
    const ok = mloop(dir, 'validate', '--json');
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    const [first] = JSON.parse(ok.stdout) as { dataset: string; version: { created: boolean; rows: number }; report: { passed: boolean } }[];
    assert.deepEqual([first!.dataset, first!.version.created, first!.version.rows, first!.report.passed], ['weather', true, 1461, true]);
    const again = mloop(dir, 'datasets', 'add', 'weather', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { created: boolean }).created, false, 'same content, same version');

    appendFileSync(join(dir, 'data', 'seattle-weather.csv'), '2016-01-01,-1.0,10.0,5.0,3.0,hail\n');
    const bad = mloop(dir, 'validate', 'weather');
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /✗ weather @ [0-9a-f]{12}: 2 rules failed \(1,462 rows\)/);
    assert.match(bad.stdout, /precipitation · min: precipitation: 1 row with values below min 0\n\s+first rows: row 1462 = -1/);
    assert.match(
      bad.stdout,
      /weather · allowed: weather: 1 row with values outside allowed \[drizzle, fog, rain, snow, sun\]\n\s+first rows: row 1462 = "hail"/,
    );
    assert.match(bad.stderr, /validation failed: weather/);

    const versions = mloop(dir, 'datasets', 'versions', 'weather');
    assert.equal(versions.code, 0, versions.stderr);
    const lines = versions.stdout.trim().split('\n');
    assert.equal(lines.length, 3, versions.stdout);
    assert.match(lines[1]!, /^2\s+[0-9a-f]{12}\s+1462\s.*✗$/);
    assert.match(lines[2]!, /^1\s+[0-9a-f]{12}\s+1461\s.*✓$/);
    const list = JSON.parse(mloop(dir, 'datasets', 'list', '--json').stdout) as { name: string; versions: unknown[] }[];
    assert.deepEqual(
      list.map((d) => [d.name, d.versions.length]),
      [['weather', 2]],
    );
  });

  it('train: a failing input blocks the start (no run); an override with a reason starts it, audited, and pins the version', () => {
    weatherProject(dir);
    appendFileSync(join(dir, 'data', 'seattle-weather.csv'), '2016-01-01,0.0,10.0,5.0,3.0,hail\n');
    const blocked = mloop(dir, 'train', 'check');
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /pipeline "check" did not start: its input failed validation/);
    assert.match(blocked.stderr, /weather · allowed: .*\n\s+first rows: row 1462 = "hail"/);
    let store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    assert.equal(new RunRepository(store).list().length, 0, 'no run was created');
    store.close();

    const started = mloop(dir, 'train', 'check', '--override-validation', 'hail is real, rule to be updated', '--json');
    assert.equal(started.code, 0, started.stderr);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      const repo = new DatasetRepository(store);
      const [version] = repo.versions(repo.byName('weather')!.datasetId);
      assert.deepEqual(repo.runsUsing(version!.datasetVersionId), [runId]);
      assert.equal(version!.usedByRuns, 1);
      const override = new AuditRepository(store).list().find((a) => a.action === 'dataset.validation_override')!;
      assert.deepEqual(
        [override.entityId, override.reason, override.toValue],
        [String(version!.datasetVersionId), 'hail is real, rule to be updated', 'overridden'],
      );
    } finally {
      store.close();
    }
    // the same content again: no new version, the second run pins the same one
    const second = mloop(dir, 'train', 'check', '--override-validation', 'still hail', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /input weather @ [0-9a-f]{12} \(unchanged, 1462 rows\) ✗ \(overridden\)/);
  });

  it('datasets add <name> <path> declares the dataset in mloop.yaml (comments kept) and records a version', () => {
    weatherProject(dir);
    penguinsJsonl(join(dir, 'data'));
    const r = mloop(dir, 'datasets', 'add', 'penguins', 'data/penguins.jsonl');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /new version penguins @ [0-9a-f]{12} · 344 rows/);
    const yaml = readFileSync(join(dir, 'mloop.yaml'), 'utf8');
    assert.match(yaml, /penguins: \{ path: data\/penguins\.jsonl \}/);
    assert.match(yaml, /# mloop\.yaml for the Seattle weather example/);
    const v = mloop(dir, 'datasets', 'versions', 'penguins', '--json');
    assert.equal((JSON.parse(v.stdout) as { versions: { rowCount: number; origin: string }[] }).versions[0]!.origin, 'manual');
  });

  it('bad input: unknown dataset, missing path, unreadable data, missing argument (exit 2)', () => {
    weatherProject(dir);
    const unknown = mloop(dir, 'validate', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no dataset "nope" in mloop\.yaml; datasets: weather/);
    const missing = mloop(dir, 'datasets', 'profile', 'missing.csv');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /"missing\.csv" is neither a dataset declared in mloop\.yaml nor an existing path/);
    writeFileSync(join(dir, 'data', 'seattle-weather.csv'), 'date,precipitation\n2012-01-01,1,2\n');
    const ragged = mloop(dir, 'validate', 'weather');
    assert.equal(ragged.code, 1);
    assert.match(ragged.stderr, /seattle-weather\.csv:2: .*a row has more or fewer fields than the header/);
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    assert.equal(store.db.prepare('SELECT count(*) FROM dataset_version').pluck().get(), 0, 'nothing half-written');
    store.close();
    assert.equal(mloop(dir, 'datasets', 'versions').code, 2);
  });
});
