import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { importMlflow, type MlflowCounts, type MlflowImportProgress } from '../../src/core/mlflow/importStore';
import { type MlflowSourceError } from '../../src/core/mlflow/source';
import { AuditRepository } from '../../src/core/store/audit';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { fingerprint, tempDir } from './fixtures';
import { mlflowEnv, PYTHON, pythonJson } from '../support/python';

// Stores written by the REAL mlflow client: a SQLite store made in the test (python child process) and
// the committed mlruns/ folder made by the same client. The client's own read-back is the expected side.

const MAKE_STORE = resolve(__dirname, '../../../test/mlflow/make_store.py');
const FIXTURE = resolve(__dirname, '../../../test/fixtures/mlflow');
const CLI = resolve(__dirname, '../../../dist/cli.js');

type Value = number | 'NaN' | 'Infinity' | '-Infinity';
interface ClientReport {
  counts: MlflowCounts;
  runs: Record<
    string,
    { name: string; status: string; experiment: string; lifecycle: string; params: Record<string, string>; latest: Record<string, Value>; points: number }
  >;
  models: Record<string, { aliases: Record<string, number>; versions: Record<string, string> }>;
  history_run: string;
  history: Record<string, [number, number, Value][]>;
}

function makeStore(uri: string, ...extra: string[]): Promise<ClientReport> {
  return pythonJson<ClientReport>({ args: [MAKE_STORE, uri, ...extra], env: mlflowEnv({ fileStore: true }) });
}

const decode = (v: Value): number =>
  v === 'NaN' ? Number.NaN : v === 'Infinity' ? Number.POSITIVE_INFINITY : v === '-Infinity' ? Number.NEGATIVE_INFINITY : v;

/** Counts in the mloop store, the same way the client counted them (every run, deleted ones too). */
function storeCounts(store: Store): MlflowCounts {
  const one = (sql: string): number => store.db.prepare(sql).pluck().get() as number;
  return {
    experiments: one('SELECT count(*) FROM experiment'),
    runs: one('SELECT count(*) FROM run'),
    params: one('SELECT count(*) FROM param'),
    tags: one('SELECT count(*) FROM tag'),
    metricPoints: one('SELECT coalesce(sum(count), 0) FROM metric_series'),
    models: one('SELECT count(*) FROM model'),
    modelVersions: one('SELECT count(*) FROM model_version'),
    aliases: one('SELECT count(*) FROM alias'),
  };
}

/** Everything the client reported, checked against the mloop store run by run and point by point. */
function assertMatches(store: Store, report: ClientReport): void {
  assert.deepEqual(storeCounts(store), report.counts);
  const runs = new RunRepository(store);
  for (const [runId, expected] of Object.entries(report.runs)) {
    const run = runs.get(runId);
    assert.ok(run, `run ${runId} imported`);
    assert.equal(run.name, expected.name);
    assert.equal(run.status, expected.status);
    assert.equal(store.db.prepare('SELECT lifecycle_stage FROM run WHERE run_id = ?').pluck().get(runId), expected.lifecycle);
    assert.equal(store.db.prepare('SELECT name FROM experiment WHERE experiment_id = ?').pluck().get(run.experimentId), expected.experiment);
    assert.deepEqual(runs.params(runId), expected.params);
    const latest = runs.latestMetrics(runId);
    assert.deepEqual(Object.keys(latest).sort(), Object.keys(expected.latest).sort());
    for (const [key, value] of Object.entries(expected.latest)) assert.ok(Object.is(latest[key], decode(value)), `${runId} ${key}: ${latest[key]} vs ${value}`);
  }
  for (const [key, expected] of Object.entries(report.history)) {
    const got = runs.metricHistory(report.history_run, key).map((p) => [p.step, p.timestamp, p.value]);
    assert.equal(got.length, expected.length, `history of ${key}`);
    expected.forEach(([step, timestamp, value], i) => {
      assert.equal(got[i]![0], step);
      assert.equal(got[i]![1], timestamp);
      assert.ok(Object.is(got[i]![2], decode(value)), `${key}[${i}]: ${got[i]![2]} vs ${value}`);
    });
  }
  const models = new ModelRepository(store);
  for (const [name, expected] of Object.entries(report.models)) {
    const model = models.byName(name);
    assert.ok(model, `model ${name}`);
    const versions = models.versions(model.modelId);
    assert.deepEqual(Object.fromEntries(versions.map((v) => [String(v.version), v.sourceRunId])), expected.versions);
    assert.deepEqual(Object.fromEntries(versions.flatMap((v) => v.aliases.map((a) => [a, v.version]))), expected.aliases);
  }
}

describe('import: MLflow stores written by the real mlflow client', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let dbPath: string;
  let sqliteReport: ClientReport;

  before(async function () {
    const probe = spawnSync(PYTHON, ['-c', 'import mlflow; print(mlflow.__version__)'], { encoding: 'utf8' });
    if (probe.status !== 0)
      throw new Error(`the import suite needs ${PYTHON} with mlflow 3 (pip install -r .ci/requirements.txt): ${probe.stderr.trim().split('\n').pop()}`);
    ({ dir, cleanup } = tempDir('mloop-import-'));
    dbPath = join(dir, 'mlflow.db');
    sqliteReport = await makeStore(`sqlite:///${dbPath}`);
  });
  after(() => cleanup?.());

  const freshStore = (name: string): Store => openStore({ path: join(dir, name, '.mloop', 'mloop.db') });

  it('imports mlflow.db: every experiment, run, param, tag, metric point, version and alias matches what the client reads', async () => {
    const store = freshStore('sqlite-once');
    try {
      const phases = new Set<string>();
      const report = await importMlflow(store, { source: dbPath, actor: 'tester', onProgress: (p) => phases.add(p.phase) });
      assert.equal(report.source.kind, 'sqlite');
      assert.match(report.source.schema, /^[0-9a-f]{12}$/);
      assert.deepEqual(report.found, sqliteReport.counts);
      assert.equal(report.written.runsNew, sqliteReport.counts.runs);
      assert.deepEqual([...phases], ['experiments', 'runs', 'registry']);
      assertMatches(store, sqliteReport);
      const audit = new AuditRepository(store).list();
      assert.equal(audit[0]!.action, 'import.mlflow');
      assert.equal(audit[0]!.actor, 'tester');
    } finally {
      store.close();
    }
  });

  it('is idempotent: a second import writes nothing and the counts stay equal', async () => {
    const store = freshStore('sqlite-twice');
    try {
      await importMlflow(store, { source: `sqlite:///${dbPath}`, actor: 't' });
      const before = storeCounts(store);
      const again = await importMlflow(store, { source: `sqlite:///${dbPath}`, actor: 't' });
      assert.deepEqual(again.written, {
        experiments: 0,
        runsNew: 0,
        runsUpdated: 0,
        runsUnchanged: sqliteReport.counts.runs,
        models: 0,
        modelVersions: 0,
        aliases: 0,
      });
      assert.deepEqual(storeCounts(store), before);
      assertMatches(store, sqliteReport);
    } finally {
      store.close();
    }
  });

  it("leaves out mloop's team ledger (the mloop-governance experiments): the counts and the store are the experiments' alone", async () => {
    const withLedger = join(dir, 'with-ledger.db');
    copyFileSync(dbPath, withLedger);
    // the real client writes a ledger record and a claim, as mloop's team ledger does on a shared server
    await pythonJson<{ ok: boolean }>({
      args: [
        '-c',
        `import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
client = mlflow.MlflowClient()
ledger = client.create_experiment("mloop-governance")
client.create_run(ledger, tags={"mloop.team.kind": "audit"})
client.create_experiment("mloop-governance/outcome/abc")
print(json.dumps({"ok": True}))`,
        `sqlite:///${withLedger}`,
      ],
      env: mlflowEnv({ fileStore: true }),
    });
    const store = freshStore('with-ledger');
    try {
      const report = await importMlflow(store, { source: withLedger, actor: 'tester' });
      assert.deepEqual(report.found, sqliteReport.counts, 'the same counts as the store without the ledger');
      assert.equal(store.db.prepare("SELECT count(*) FROM experiment WHERE name LIKE 'mloop-governance%'").pluck().get(), 0);
      assert.ok(
        report.notImported.some((n) => /team records \(1 runs in mloop-governance\)/.test(n)),
        JSON.stringify(report.notImported),
      );
      assertMatches(store, sqliteReport);
    } finally {
      store.close();
    }
  });

  it('never writes to the MLflow database it reads', async () => {
    const store = freshStore('sqlite-readonly');
    const before = fingerprint(dbPath);
    try {
      await importMlflow(store, { source: dbPath, actor: 't' });
    } finally {
      store.close();
    }
    assert.deepEqual(fingerprint(dbPath), before);
  });

  it('picks up a run that grew since the last import (only that run is rewritten)', async () => {
    const copy = join(dir, 'grown.db');
    copyFileSync(dbPath, copy);
    const store = freshStore('sqlite-grown');
    try {
      await importMlflow(store, { source: copy, actor: 't' });
      const grown = await makeStore(`sqlite:///${copy}`, '--more', sqliteReport.history_run);
      const again = await importMlflow(store, { source: copy, actor: 't' });
      assert.equal(again.written.runsUpdated, 1);
      assert.equal(again.written.runsUnchanged, sqliteReport.counts.runs - 1);
      assert.equal(grown.counts.metricPoints, sqliteReport.counts.metricPoints + 3);
      assertMatches(store, grown);
    } finally {
      store.close();
    }
  });

  it('cancelling stops between runs: only whole runs are kept, and importing again completes the store', async () => {
    const store = freshStore('sqlite-cancel');
    try {
      const controller = new AbortController();
      const onProgress = (p: MlflowImportProgress): void => {
        if (p.phase === 'runs' && p.done === 2) controller.abort();
      };
      await assert.rejects(importMlflow(store, { source: dbPath, actor: 't', signal: controller.signal, onProgress }), { name: 'AbortError' });
      const partial = storeCounts(store);
      assert.equal(partial.runs, 2);
      assert.equal(partial.models, 0, 'the registry commits after the runs');
      for (const runId of store.db.prepare('SELECT run_id FROM run').pluck().all() as string[]) {
        const expected = sqliteReport.runs[runId]!;
        assert.equal(
          store.db.prepare('SELECT coalesce(sum(count), 0) FROM metric_series WHERE run_id = ?').pluck().get(runId),
          expected.points,
          'a kept run is complete',
        );
      }
      const resumed = await importMlflow(store, { source: dbPath, actor: 't' });
      assert.equal(resumed.written.runsUnchanged, 2);
      assertMatches(store, sqliteReport);
    } finally {
      store.close();
    }
  });

  it('imports the committed mlruns/ folder made by the real client (18-digit experiment ids, keys with "/", deleted runs)', async () => {
    const expected = JSON.parse(readFileSync(join(FIXTURE, 'mlruns.expected.json'), 'utf8')) as ClientReport;
    const store = freshStore('folder');
    try {
      const report = await importMlflow(store, { source: join(FIXTURE, 'mlruns'), actor: 't' });
      assert.equal(report.source.kind, 'folder');
      assert.deepEqual(report.found, expected.counts);
      assertMatches(store, expected);
      assert.equal(new RunRepository(store).params(expected.history_run)['nested/key'], 'v');
      const again = await importMlflow(store, { source: `file://${join(FIXTURE, 'mlruns')}`, actor: 't' });
      assert.equal(again.written.runsNew + again.written.runsUpdated, 0);
      assert.deepEqual(storeCounts(store), expected.counts);
    } finally {
      store.close();
    }
  });

  it('finds the store inside a project folder (mlflow.db or mlruns/)', async () => {
    const store = freshStore('by-folder');
    try {
      const report = await importMlflow(store, { source: '.', cwd: FIXTURE, actor: 't' });
      assert.equal(report.source.kind, 'folder');
    } finally {
      store.close();
    }
  });

  describe('bad input is refused with the file (and line) named, and nothing half-written', () => {
    it('a file that is not SQLite', async () => {
      const path = join(dir, 'notes.db');
      writeFileSync(path, 'hello, this is text\n');
      const store = freshStore('bad-text');
      try {
        await assert.rejects(
          importMlflow(store, { source: path, actor: 't' }),
          (e: MlflowSourceError) => e.code === 'NOT_MLFLOW' && e.message.includes(path) && /not a SQLite file/.test(e.message),
        );
        assert.equal(storeCounts(store).runs, 0);
      } finally {
        store.close();
      }
    });

    it('a SQLite database that is not MLflow (an mloop store is recognised as such)', async () => {
      const other = freshStore('other');
      other.close();
      const store = freshStore('bad-sqlite');
      try {
        await assert.rejects(
          importMlflow(store, { source: other.path, actor: 't' }),
          (e: MlflowSourceError) => e.code === 'NOT_MLFLOW' && /missing tables experiments, runs/.test(e.message) && /mloop store/.test(e.message),
        );
      } finally {
        store.close();
      }
    });

    it('an MLflow database from a newer MLflow (unknown schema revision) is refused before anything is written', async () => {
      const newer = join(dir, 'newer.db');
      copyFileSync(dbPath, newer);
      const db = new Database(newer);
      db.prepare('UPDATE alembic_version SET version_num = ?').run('ffff00001111');
      db.close();
      const store = freshStore('bad-newer');
      try {
        await assert.rejects(
          importMlflow(store, { source: newer, actor: 't' }),
          (e: MlflowSourceError) => e.code === 'SCHEMA_UNKNOWN' && e.message.includes('ffff00001111') && e.message.includes(newer),
        );
        assert.deepEqual(storeCounts(store), { experiments: 0, runs: 0, params: 0, tags: 0, metricPoints: 0, models: 0, modelVersions: 0, aliases: 0 });
      } finally {
        store.close();
      }
    });

    it('a truncated metric line names file:line, and that run is not imported at all', async () => {
      const copy = join(dir, 'truncated-mlruns');
      cpSync(join(FIXTURE, 'mlruns'), copy, { recursive: true });
      const expected = JSON.parse(readFileSync(join(FIXTURE, 'mlruns.expected.json'), 'utf8')) as ClientReport;
      const runId = expected.history_run;
      const experimentDir = readdirSync(copy).find((e) => existsSync(join(copy, e, runId)))!;
      const lossFile = join(copy, experimentDir, runId, 'metrics', 'loss');
      const lines = readFileSync(lossFile, 'utf8').split('\n').length - 1;
      truncateSync(lossFile, statSync(lossFile).size - 4); // cut the last line mid-number, as a crash mid-write would
      const store = freshStore('bad-truncated');
      try {
        await assert.rejects(importMlflow(store, { source: copy, actor: 't' }), (e: MlflowSourceError) => {
          assert.equal(e.code, 'BAD_FILE');
          assert.equal(e.line, lines);
          assert.ok(e.message.startsWith(`${lossFile}:${lines}: truncated metric line`), e.message);
          return true;
        });
        assert.equal(new RunRepository(store).get(runId), undefined, 'the damaged run was not half-written');
        assert.equal(store.db.prepare('SELECT count(*) FROM metric_series WHERE run_id = ?').pluck().get(runId), 0);
      } finally {
        store.close();
      }
    });

    it('a metric line with a value that is not a number names file:line', async () => {
      const copy = join(dir, 'garbled-mlruns');
      cpSync(join(FIXTURE, 'mlruns'), copy, { recursive: true });
      const expected = JSON.parse(readFileSync(join(FIXTURE, 'mlruns.expected.json'), 'utf8')) as ClientReport;
      const experimentDir = readdirSync(copy).find((e) => existsSync(join(copy, e, expected.history_run)))!;
      const accFile = join(copy, experimentDir, expected.history_run, 'metrics', 'acc');
      appendFileSync(accFile, '1795000000099 0.5x 50\n');
      const store = freshStore('bad-garbled');
      try {
        await assert.rejects(importMlflow(store, { source: copy, actor: 't' }), (e: Error) =>
          e.message.startsWith(`${accFile}:51: value "0.5x" is not a number`),
        );
      } finally {
        store.close();
      }
    });
  });

  describe('the CLI: mloop import mlflow', () => {
    before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run the build first`));
    const mloop = (cwd: string, ...args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, MLOOP_STORE: '' } });

    it('imports, reports counts as JSON (exit 0) and says "unchanged" the second time', () => {
      const project = join(dir, 'cli-project');
      mkdirSync(project);
      assert.equal(mloop(dir, 'init', project).status, 0);
      const first = mloop(project, 'import', 'mlflow', dbPath, '--json');
      assert.equal(first.status, 0, first.stderr);
      const report = JSON.parse(first.stdout) as { found: MlflowCounts; written: { runsNew: number } };
      assert.deepEqual(report.found, sqliteReport.counts);
      assert.equal(report.written.runsNew, sqliteReport.counts.runs);
      assert.match(first.stderr, /runs \d+\/\d+/, 'progress on stderr');
      const second = mloop(project, 'import', 'mlflow', `sqlite:///${dbPath}`);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`0 new, 0 updated, ${sqliteReport.counts.runs} unchanged`));
    });

    it('exits 1 with the file named for input that is not MLflow', () => {
      const project = join(dir, 'cli-bad');
      mkdirSync(project);
      assert.equal(mloop(dir, 'init', project).status, 0);
      const bad = join(project, 'README.txt');
      writeFileSync(bad, 'not a database');
      const r = mloop(project, 'import', 'mlflow', bad);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`mloop: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not an MLflow database`));
    });
  });
});
