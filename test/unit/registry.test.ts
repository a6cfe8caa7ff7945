import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import type { Pipeline } from '../../src/core/config/schema';
import { promote, removeAlias, rollbackAlias, rollbackTarget, verifyArtifact, findVersion } from '../../src/core/registry/aliases';
import { gateSpecFor, registerPipelineModel } from '../../src/core/registry/autoRegister';
import { GateRefusedError, RegistryError } from '../../src/core/registry/errors';
import { EvaluationFileError, readEvaluationFile } from '../../src/core/registry/evaluationFile';
import { evaluateGate } from '../../src/core/registry/gate';
import { parseGate, parseGateRule } from '../../src/core/registry/gateRules';
import { registerFromRun, type RegistryContext, type StoredGate } from '../../src/core/registry/register';
import { launchRun } from '../../src/core/runs/launcher';
import { AuditRepository } from '../../src/core/store/audit';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository, type RunStatus } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { tempDir } from './fixtures';

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('registry: gate rules', () => {
  it('reads thresholds, champion comparisons and slice checks from text and from mappings', () => {
    assert.deepEqual(parseGate(['accuracy >= 0.8', 'log_loss<0.5', 'val/acc == 1']), [
      { kind: 'threshold', text: 'accuracy >= 0.8', metric: 'accuracy', op: '>=', value: 0.8 },
      { kind: 'threshold', text: 'log_loss<0.5', metric: 'log_loss', op: '<', value: 0.5 },
      { kind: 'threshold', text: 'val/acc == 1', metric: 'val/acc', op: '==', value: 1 },
    ]);
    assert.deepEqual(parseGate(['accuracy >= champion - 0.02', 'rmse <= champion + 1e-1', 'f1 >= champion']), [
      { kind: 'champion', text: 'accuracy >= champion - 0.02', metric: 'accuracy', goal: 'maximize', tolerance: 0.02 },
      { kind: 'champion', text: 'rmse <= champion + 1e-1', metric: 'rmse', goal: 'minimize', tolerance: 0.1 },
      { kind: 'champion', text: 'f1 >= champion', metric: 'f1', goal: 'maximize', tolerance: 0 },
    ]);
    assert.deepEqual(parseGate(['accuracy gap by season <= 0.15']), [
      { kind: 'slice', text: 'accuracy gap by season <= 0.15', metric: 'accuracy', column: 'season', maxGap: 0.15 },
    ]);
    assert.deepEqual(
      parseGate([
        { metric: 'accuracy', min: 0.7, max: 0.99 },
        { metric: 'rmse', max_drop_vs_champion: 0.5, goal: 'minimize' },
        { metric: 'accuracy', slice: 'year', max_gap: 0.2 },
      ]).map((r) => r.text),
      ['accuracy >= 0.7', 'accuracy <= 0.99', 'rmse <= champion + 0.5', 'accuracy gap by year <= 0.2'],
    );
  });

  it('refuses unreadable rules, and a champion tolerance with the loosening sign the wrong way', () => {
    for (const bad of ['accuracy', 'accuracy => 0.8', 'accuracy >= high', '>= 0.8', { metric: 'a' }, { metric: 'a', slice: 'b' }, 42]) {
      assert.ok('error' in parseGateRule(bad), `${JSON.stringify(bad)} is refused`);
    }
    const wrong = parseGateRule('accuracy >= champion + 0.02');
    assert.ok('error' in wrong && /accuracy >= champion - 0.02/.test(wrong.error));
  });

  it('mloop.yaml reports a bad gate rule at its line and column', () => {
    const text = 'version: 1\nmodels:\n  clf:\n    gate:\n      - accuracy >= 0.8\n      - accuracy is great\n';
    const { config, problems } = loadConfig(text, 'mloop.yaml');
    assert.equal(config, undefined);
    const problem = problems.find((p) => /cannot read the gate rule "accuracy is great"/.test(p.message));
    assert.ok(problem, JSON.stringify(problems));
    assert.deepEqual([problem.line, problem.column], [6, 9]);
  });
});

describe('registry: gate evaluation', () => {
  const rules = parseGate(['accuracy >= 0.8', 'accuracy >= champion - 0.02', 'accuracy gap by season <= 0.1']);
  const slices = { season: { winter: { accuracy: 0.82 }, summer: { accuracy: 0.9 } } };

  it('passes when every rule holds and names what it compared', () => {
    const r = evaluateGate(rules, { metrics: { accuracy: 0.85 }, slices, champion: { version: 2, metrics: { accuracy: 0.86 } } }, 1);
    assert.equal(r.passed, true);
    assert.equal(r.championVersion, 2);
    assert.deepEqual(
      r.checks.map((c) => c.detail),
      [
        'accuracy 0.85 >= 0.8',
        'accuracy 0.85 vs champion v2 0.86 (at least 0.84)',
        'accuracy by season: summer 0.9 − winter 0.82 = gap 0.08 (max 0.1, 2 groups)',
      ],
    );
  });

  it('fails a threshold, a drop beyond the tolerance and a slice gap beyond the maximum, each on its own', () => {
    assert.deepEqual(
      evaluateGate(rules, { metrics: { accuracy: 0.79 }, slices, champion: { version: 1, metrics: { accuracy: 0.8 } } }).checks.map((c) => c.passed),
      [false, true, true],
    );
    assert.deepEqual(
      evaluateGate(rules, { metrics: { accuracy: 0.83 }, slices, champion: { version: 1, metrics: { accuracy: 0.86 } } }).checks.map((c) => c.passed),
      [true, false, true],
    );
    const wide = { season: { winter: { accuracy: 0.7 }, summer: { accuracy: 0.9 }, fall: { accuracy: 0.8 } } };
    const r = evaluateGate(rules, { metrics: { accuracy: 0.85 }, slices: wide });
    assert.deepEqual(
      r.checks.map((c) => c.passed),
      [true, true, false],
    );
    assert.match(r.checks[2]!.detail, /summer 0\.9 − winter 0\.7 = gap 0\.2 \(max 0\.1, 3 groups\)/);
    assert.equal(r.passed, false);
  });

  it('a minimize goal allows the champion value plus the tolerance', () => {
    const [rule] = parseGate(['rmse <= champion + 0.5']);
    assert.equal(evaluateGate([rule!], { metrics: { rmse: 3.4 }, slices: {}, champion: { version: 1, metrics: { rmse: 3 } } }).passed, true);
    assert.equal(evaluateGate([rule!], { metrics: { rmse: 3.6 }, slices: {}, champion: { version: 1, metrics: { rmse: 3 } } }).passed, false);
  });

  it('a metric the run did not report fails its rule; no champion yet passes the comparison', () => {
    const r = evaluateGate(rules, { metrics: {}, slices: {} });
    assert.deepEqual(
      r.checks.map((c) => [c.passed, c.detail]),
      [
        [false, 'accuracy was not reported by the run'],
        [false, 'accuracy was not reported by the run'],
        [false, 'needs accuracy for at least two values of season (found 0)'],
      ],
    );
    assert.equal(
      evaluateGate(parseGate(['f1 >= champion']), { metrics: { f1: 0.1 }, slices: {} }).checks[0]!.detail,
      'no champion yet: nothing to compare with',
    );
  });

  it('slices may come from run metrics named <metric>/<column>/<value>', () => {
    const r = evaluateGate(parseGate(['accuracy gap by year <= 0.05']), {
      metrics: { accuracy: 0.8, 'accuracy/year/2012': 0.81, 'accuracy/year/2013': 0.88 },
      slices: {},
    });
    assert.equal(r.passed, false);
    assert.match(r.checks[0]!.detail, /2013 0\.88 − 2012 0\.81/);
  });

  it('the evaluation file is validated with the field named, and a stale one is refused', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'evaluation.json');
      writeFileSync(path, JSON.stringify({ metrics: { accuracy: 0.9 }, slices: { season: { winter: { accuracy: 'high' } } } }));
      assert.throws(
        () => readEvaluationFile(path),
        (e: Error) => e instanceof EvaluationFileError && /field slices\.season\.winter\.accuracy/.test(e.message),
      );
      writeFileSync(path, '{"metrics": {"accuracy": 0.9},');
      assert.throws(() => readEvaluationFile(path), /is not valid JSON/);
      writeFileSync(path, JSON.stringify({ metrics: { accuracy: 0.9 } }));
      utimesSync(path, new Date(1_000_000), new Date(1_000_000));
      assert.throws(() => readEvaluationFile(path, { notBefore: Date.now() }), /last written before the run started/);
      assert.deepEqual(readEvaluationFile(path), { metrics: { accuracy: 0.9 }, slices: {} });
    } finally {
      cleanup();
    }
  });
});

/** A project folder with a store and helpers to make finished runs that wrote a model file. */
function registryFixture(): {
  dir: string;
  store: Store;
  ctx: RegistryContext;
  run(status?: RunStatus, metrics?: Record<string, number>, options?: { writeModel?: string }): string;
  cleanup(): void;
} {
  const { dir, cleanup } = tempDir('mloop-registry-');
  const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
  const ctx: RegistryContext = { store, artifactRoot: join(dir, '.mloop', 'artifacts'), actor: 'ada' };
  const experimentId = new ExperimentRepository(store).ensure('weather').experimentId;
  const runs = new RunRepository(store);
  return {
    dir,
    store,
    ctx,
    run(status = 'FINISHED', metrics = {}, options = {}) {
      const run = runs.create({ experimentId, status: 'RUNNING', pipeline: 'train', startTime: Date.now() - 2000 });
      runs.logMetrics(
        run.runId,
        Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: Date.now() })),
      );
      writeFileSync(join(dir, 'model.pkl'), options.writeModel ?? `model of ${run.runId}`);
      runs.finish(run.runId, { status: status as 'FINISHED' });
      return run.runId;
    },
    cleanup: () => {
      store.close();
      cleanup();
    },
  };
}

describe('registry: register from a run (real SQLite file)', () => {
  let f: ReturnType<typeof registryFixture>;
  beforeEach(() => (f = registryFixture()));
  afterEach(() => f.cleanup());

  it('copies the model file into the run artifacts with its digest, snapshots metrics and stores the gate verdict, audited', async () => {
    const runId = f.run('FINISHED', { accuracy: 0.83, f1: 0.7 });
    const { version, gate } = await registerFromRun(f.ctx, {
      runId,
      modelName: 'clf',
      artifactPath: 'model.pkl',
      projectRoot: f.dir,
      gate: { rules: parseGate(['accuracy >= 0.8']) },
    });
    assert.equal(version.version, 1);
    assert.equal(version.sourceRunId, runId);
    assert.equal(version.artifactPath, `runs:/${runId}/model.pkl`);
    const copied = join(f.ctx.artifactRoot, '1', runId, 'artifacts', 'model.pkl');
    assert.equal(readFileSync(copied, 'utf8'), `model of ${runId}`);
    assert.equal(version.artifactDigest, `sha256:${sha256(join(f.dir, 'model.pkl'))}`);
    assert.equal(version.gatePassed, true);
    assert.equal(gate?.checks[0]?.detail, 'accuracy 0.83 >= 0.8');
    const details = new ModelRepository(f.store).versionDetails(version.modelVersionId);
    assert.deepEqual(details.metrics, { accuracy: 0.83, f1: 0.7 });
    assert.equal((details.gate as StoredGate).passed, true);
    assert.deepEqual(f.store.db.prepare('SELECT path, digest FROM artifact WHERE run_id = ?').all(runId), [
      { path: 'model.pkl', digest: version.artifactDigest },
    ]);
    const audit = new AuditRepository(f.store).list();
    assert.deepEqual(
      audit.map((a) => [a.action, a.entityId, a.actor, a.toValue]),
      [['register', 'clf/1', 'ada', 'v1']],
    );
  });

  it('refuses a failed run, a missing run, a missing file, a file older than the run and a file rewritten after it, writing nothing', async () => {
    const failed = f.run('FAILED');
    await assert.rejects(
      registerFromRun(f.ctx, { runId: failed, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }),
      /is FAILED: only a FINISHED run can be registered/,
    );
    await assert.rejects(registerFromRun(f.ctx, { runId: 'f'.repeat(32), modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }), /no run f{32}/);
    const ok = f.run();
    await assert.rejects(registerFromRun(f.ctx, { runId: ok, modelName: 'clf', artifactPath: 'nope.pkl', projectRoot: f.dir }), /produced no nope\.pkl/);
    await assert.rejects(registerFromRun(f.ctx, { runId: ok, modelName: 'clf', projectRoot: f.dir }), /logged no model with mlflow/);
    await assert.rejects(registerFromRun(f.ctx, { runId: ok, modelName: 'clf', artifactPath: '../x.pkl', projectRoot: f.dir }), RegistryError);
    utimesSync(join(f.dir, 'model.pkl'), new Date(1_000_000), new Date(1_000_000));
    await assert.rejects(
      registerFromRun(f.ctx, { runId: ok, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }),
      /last written before run .* started/,
    );
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(f.dir, 'model.pkl'), future, future);
    await assert.rejects(
      registerFromRun(f.ctx, { runId: ok, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }),
      /rewritten after run .* ended/,
    );
    assert.equal(f.store.db.prepare('SELECT count(*) FROM model_version').pluck().get(), 0);
    assert.equal(f.store.db.prepare('SELECT count(*) FROM audit').pluck().get(), 0);
  });

  it('refuses a run artifact whose bytes no longer match the recorded digest', async () => {
    const runId = f.run();
    await registerFromRun(f.ctx, { runId, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir });
    writeFileSync(join(f.ctx.artifactRoot, '1', runId, 'artifacts', 'model.pkl'), 'tampered');
    await assert.rejects(
      registerFromRun(f.ctx, { runId, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }),
      /changed after the run stored it \(digest/,
    );
    const { model, version } = findVersion(f.ctx, { modelName: 'clf', version: 1 });
    await assert.rejects(verifyArtifact(f.ctx, model, version), /changed since registration/);
    rmSync(join(f.ctx.artifactRoot, '1', runId, 'artifacts', 'model.pkl'));
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 1 }), /artifact runs:\/.*\/model\.pkl is missing/);
  });

  it('reads slices and metrics from the evaluation file the run wrote; a missing file fails the gate', async () => {
    const runId = f.run('FINISHED', { accuracy: 0.5 });
    writeFileSync(
      join(f.dir, 'evaluation.json'),
      JSON.stringify({ metrics: { accuracy: 0.86 }, slices: { season: { winter: { accuracy: 0.8 }, summer: { accuracy: 0.95 } } } }),
    );
    const gate = { rules: parseGate(['accuracy >= 0.8', 'accuracy gap by season <= 0.1']), evaluationFile: 'evaluation.json' };
    const first = await registerFromRun(f.ctx, { runId, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir, gate });
    assert.deepEqual(
      first.gate?.checks.map((c) => c.passed),
      [true, false],
    );
    assert.match(first.gate!.checks[1]!.detail, /gap 0\.15/);
    rmSync(join(f.dir, 'evaluation.json'));
    const second = f.run('FINISHED', { accuracy: 0.9 });
    const r = await registerFromRun(f.ctx, { runId: second, modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir, gate });
    assert.equal(r.version.gatePassed, false);
    assert.deepEqual(r.gate!.checks[0], { rule: 'evaluation file evaluation.json', passed: false, detail: 'the run wrote no evaluation file evaluation.json' });
  });
});

describe('registry: promotion, aliases, rollback and audit', () => {
  let f: ReturnType<typeof registryFixture>;
  beforeEach(() => (f = registryFixture()));
  afterEach(() => f.cleanup());

  const gate = { rules: parseGate(['accuracy >= 0.8', 'accuracy >= champion - 0.02']) };
  async function versions(...accuracies: number[]): Promise<void> {
    for (const accuracy of accuracies) {
      await registerFromRun(f.ctx, { runId: f.run('FINISHED', { accuracy }), modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir, gate });
    }
  }
  const champion = (): number | undefined => {
    const models = new ModelRepository(f.store);
    return models.versionByAlias(models.byName('clf')!.modelId, 'champion')?.version;
  };

  it('refuses champion for a version that fails its gate, and leaves alias and audit untouched', async () => {
    await versions(0.7);
    const before = f.store.db.prepare('SELECT count(*) FROM audit').pluck().get();
    await assert.rejects(
      promote(f.ctx, { modelName: 'clf', version: 1, gate }),
      (e: Error) => e instanceof GateRefusedError && /failed its gate: accuracy >= 0.8 \(accuracy 0.7 >= 0.8\)/.test(e.message),
    );
    assert.equal(champion(), undefined);
    assert.equal(f.store.db.prepare('SELECT count(*) FROM audit').pluck().get(), before);
    // other aliases are not gated
    await promote(f.ctx, { modelName: 'clf', version: 1, alias: 'challenger' });
  });

  it('an override with a reason promotes and audits the override and the move together', async () => {
    await versions(0.7);
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 1, overrideReason: '   ' }), GateRefusedError);
    const r = await promote(f.ctx, { modelName: 'clf', version: 1, overrideReason: 'hotfix for the demo', gate });
    assert.equal(r.overridden, true);
    assert.equal(champion(), 1);
    const audit = new AuditRepository(f.store)
      .list()
      .slice(0, 3)
      .map((a) => [a.action, a.entityId, a.fromValue, a.toValue, a.reason]);
    assert.deepEqual(audit, [
      ['promote', 'clf@champion', null, 'v1', 'hotfix for the demo'],
      ['override_gate', 'clf/1', null, 'champion despite failed gate', 'hotfix for the demo'],
      ['gate', 'clf/1', 'failed', 'failed', null],
    ]);
  });

  it('re-evaluates "not worse than the champion" against the champion at promotion time', async () => {
    await versions(0.9, 0.87);
    await promote(f.ctx, { modelName: 'clf', version: 1, gate });
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 2, gate }), /accuracy 0.87 vs champion v1 0.9 \(at least 0.88\)/);
    await versions(0.89);
    const r = await promote(f.ctx, { modelName: 'clf', version: 3, gate });
    assert.equal(r.previous, 1);
    assert.equal(r.gate?.championVersion, 1);
    assert.equal(champion(), 3);
  });

  it('refuses a version of another model, an unknown version and invalid aliases', async () => {
    await versions(0.9);
    await registerFromRun(f.ctx, { runId: f.run(), modelName: 'other', artifactPath: 'model.pkl', projectRoot: f.dir });
    const otherRow = new ModelRepository(f.store).versions(new ModelRepository(f.store).byName('other')!.modelId)[0]!;
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 1, modelVersionId: otherRow.modelVersionId }), /v1 belongs to model "other", not "clf"/);
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 9 }), /has no version 9 \(latest is v1\)/);
    await assert.rejects(promote(f.ctx, { modelName: 'nope', version: 1 }), /no registered model "nope" \(models: clf, other\)/);
    for (const alias of ['latest', 'v2', 'has space', 'x'.repeat(256), ''])
      await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 1, alias }), RegistryError);
  });

  it('rollback walks back through the alias history, one version per rollback, then refuses', async () => {
    await versions(0.9, 0.91, 0.92);
    for (const v of [1, 2, 3]) await promote(f.ctx, { modelName: 'clf', version: v, gate });
    assert.deepEqual(await rollbackAlias(f.ctx, { modelName: 'clf', alias: 'champion', reason: 'v3 misbehaves' }), { from: 3, to: 2 });
    assert.deepEqual(await rollbackAlias(f.ctx, { modelName: 'clf', alias: 'champion' }), { from: 2, to: 1 });
    await assert.rejects(rollbackAlias(f.ctx, { modelName: 'clf', alias: 'champion' }), /has no earlier version to roll back to/);
    assert.equal(champion(), 1);
    const models = new ModelRepository(f.store);
    const history = models.aliasHistory(models.byName('clf')!.modelId, 'champion').map((h) => [h.action, h.fromVersion, h.toVersion, h.reason]);
    assert.deepEqual(history, [
      ['promote', null, 1, null],
      ['promote', 1, 2, null],
      ['promote', 2, 3, null],
      ['rollback_alias', 3, 2, 'v3 misbehaves'],
      ['rollback_alias', 2, 1, null],
    ]);
    // a removed alias rolls back to the version it pointed at
    await promote(f.ctx, { modelName: 'clf', version: 2, alias: 'staging' });
    assert.equal(removeAlias(f.ctx, { modelName: 'clf', alias: 'staging' }), 2);
    assert.deepEqual(rollbackTarget(f.ctx, 'clf', 'staging'), { current: null, target: 2 });
    assert.throws(() => removeAlias(f.ctx, { modelName: 'clf', alias: 'staging' }), /has no alias "staging"/);
  });

  it('a failure while writing the audit row leaves neither the alias move nor any audit row', async () => {
    await versions(0.9);
    const before = f.store.db.prepare('SELECT count(*) FROM audit').pluck().get();
    f.store.db.exec(`CREATE TEMP TRIGGER refuse_audit BEFORE INSERT ON audit WHEN NEW.action = 'promote' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`);
    await assert.rejects(promote(f.ctx, { modelName: 'clf', version: 1, gate }), /audit disk full/);
    assert.equal(champion(), undefined);
    assert.equal(f.store.db.prepare('SELECT count(*) FROM alias_history').pluck().get(), 0);
    assert.equal(f.store.db.prepare('SELECT count(*) FROM audit').pluck().get(), before, 'the gate row written earlier in the transaction is rolled back too');
    f.store.db.exec('DROP TRIGGER refuse_audit');
    f.store.db.exec(
      `CREATE TEMP TRIGGER refuse_register BEFORE INSERT ON audit WHEN NEW.action = 'register' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`,
    );
    await assert.rejects(registerFromRun(f.ctx, { runId: f.run(), modelName: 'clf', artifactPath: 'model.pkl', projectRoot: f.dir }), /audit disk full/);
    assert.equal(f.store.db.prepare('SELECT count(*) FROM model_version').pluck().get(), 1);
  });
});

describe('registry: automatic registration when a pipeline run finishes (real child process)', function () {
  this.timeout(30_000);
  let f: ReturnType<typeof registryFixture>;
  beforeEach(() => (f = registryFixture()));
  afterEach(() => f.cleanup());

  it('a FINISHED run of a pipeline with model: registers a gated version; a failed run registers nothing', async () => {
    const script = [
      "const fs = require('fs');",
      "fs.writeFileSync('model.pkl', 'weights ' + process.env.MLOOP_RUN_ID);",
      "fs.writeFileSync('eval.json', JSON.stringify({ slices: { season: { winter: { accuracy: 0.8 }, summer: { accuracy: 0.84 } } } }));",
      "console.log('::mloop metric name=accuracy value=' + process.argv[1]);",
      'process.exit(Number(process.argv[2]));',
    ].join('\n');
    mkdirSync(f.dir, { recursive: true });
    const yaml = [
      'version: 1',
      'pipelines:',
      '  train:',
      `    command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}, "\${params.acc}", "\${params.exit}"]`,
      '    params: { acc: 0.9, exit: 0 }',
      '    model: { name: clf, path: model.pkl }',
      'models:',
      '  clf:',
      '    evaluation: eval.json',
      '    gate: ["accuracy >= 0.85", "accuracy gap by season <= 0.05"]',
    ].join('\n');
    const { config, problems } = loadConfig(yaml, 'mloop.yaml');
    assert.ok(config, JSON.stringify(problems));
    assert.equal(gateSpecFor(config, 'clf')?.rules.length, 2);
    const train = async (overrides: Record<string, string>): Promise<{ runId: string; status: string }> => {
      const handle = await launchRun({
        store: f.store,
        projectRoot: f.dir,
        pipelineName: 'train',
        pipeline: config.pipelines.train as Pipeline,
        overrides,
        trusted: true,
        artifactRoot: f.ctx.artifactRoot,
      });
      const outcome = await handle.done;
      return { runId: outcome.runId, status: outcome.status };
    };
    const ok = await train({});
    const registered = await registerPipelineModel(f.ctx, { config, pipelineName: 'train', ...ok, projectRoot: f.dir });
    // no primary_metric: if_better (the default) has nothing to compare, so every finished run registers
    assert.ok(registered && 'version' in registered, 'registered');
    assert.equal(registered?.version.version, 1);
    assert.equal(registered?.version.gatePassed, true);
    const experimentId = new RunRepository(f.store).get(ok.runId)!.experimentId;
    assert.equal(readFileSync(join(f.ctx.artifactRoot, String(experimentId), ok.runId, 'artifacts', 'model.pkl'), 'utf8'), `weights ${ok.runId}`);
    const low = await train({ acc: '0.6' });
    const gated = await registerPipelineModel(f.ctx, { config, pipelineName: 'train', ...low, projectRoot: f.dir });
    assert.ok(gated && 'version' in gated, 'registered');
    assert.equal(gated?.version.gatePassed, false);
    assert.deepEqual(
      gated?.gate?.checks.map((c) => c.passed),
      [false, true],
    );
    const failed = await train({ exit: '3' });
    assert.equal(failed.status, 'FAILED');
    assert.equal(await registerPipelineModel(f.ctx, { config, pipelineName: 'train', ...failed, projectRoot: f.dir }), undefined);
    assert.deepEqual(
      new ModelRepository(f.store).versions(1).map((v) => [v.version, v.sourceRunId, v.gatePassed]),
      [
        [2, low.runId, false],
        [1, ok.runId, true],
      ],
    );
  });

  it('register: if_better (default) registers the first run and then only improvements; manual never; always every run; a retrain overrides', async () => {
    const script = [
      "require('fs').writeFileSync('model.pkl', 'weights ' + process.env.MLOOP_RUN_ID);",
      "console.log('::mloop metric name=accuracy value=' + process.argv[1]);",
    ].join('\n');
    mkdirSync(f.dir, { recursive: true });
    const yaml = (register?: string): string =>
      [
        'version: 1',
        'pipelines:',
        '  train:',
        `    command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}, "\${params.acc}"]`,
        '    params: { acc: 0.8 }',
        `    model: { name: clf, path: model.pkl${register ? `, register: ${register}` : ''} }`,
        '    primary_metric: accuracy',
      ].join('\n');
    const configOf = (register?: string) => {
      const { config, problems } = loadConfig(yaml(register), 'mloop.yaml');
      assert.ok(config, JSON.stringify(problems));
      return config;
    };
    assert.equal(configOf().pipelines.train!.model!.register, 'if_better', 'if_better is the default');
    const run = async (acc: string, register?: string, policy?: 'always') => {
      const config = configOf(register);
      const outcome = await (
        await launchRun({
          store: f.store,
          projectRoot: f.dir,
          pipelineName: 'train',
          pipeline: config.pipelines.train as Pipeline,
          overrides: { acc },
          trusted: true,
          artifactRoot: f.ctx.artifactRoot,
        })
      ).done;
      return registerPipelineModel(f.ctx, {
        config,
        pipelineName: 'train',
        runId: outcome.runId,
        status: outcome.status,
        projectRoot: f.dir,
        ...(policy ? { policy } : {}),
      });
    };
    const versionOf = (r: Awaited<ReturnType<typeof run>>): number | string | undefined => (r && 'version' in r ? r.version.version : r?.skipped);
    assert.equal(versionOf(await run('0.8')), 1, 'the first run registers');
    assert.equal(versionOf(await run('0.8')), "accuracy 0.8 does not beat v1's 0.8 (register: if_better)", 'an equal run is not an improvement');
    assert.equal(versionOf(await run('0.7')), "accuracy 0.7 does not beat v1's 0.8 (register: if_better)");
    assert.equal(versionOf(await run('0.85')), 2, 'a better run registers');
    assert.equal(versionOf(await run('0.9', 'manual')), 'register: manual in mloop.yaml');
    assert.equal(versionOf(await run('0.5', 'always')), 3);
    assert.equal(versionOf(await run('0.5', 'if_better', 'always')), 4, 'a retrain passes policy always');
  });

  it('an unknown register: value is an error at its line:col naming the choices', () => {
    const { config, problems } = loadConfig(
      ['version: 1', 'pipelines:', '  train:', '    command: python train.py', '    model: { name: clf, path: model.pkl, register: sometimes }'].join('\n'),
      'mloop.yaml',
    );
    assert.equal(config, undefined);
    assert.equal(problems.length, 1);
    assert.equal(`${problems[0]!.line}:${problems[0]!.column}`, '5:52');
    assert.match(problems[0]!.message, /register is one of always, if_better, manual/);
  });
});
