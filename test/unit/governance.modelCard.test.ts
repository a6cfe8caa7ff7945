import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requestApproval, decide } from '../../src/core/governance/approvals';
import type { ModelCard } from '../../src/core/governance/modelCard';
import type { ModelCardComparison } from '../../src/core/governance/modelCardCompare';
import { DatasetRepository } from '../../src/core/store/datasets';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { mloop, tempDir } from './fixtures';

const HOSTILE = '<script>alert("card")</script><img src=x onerror=alert(1)> & \'quoted\'';

describe('governance: mloop card, a deterministic model card from the store (issue 21)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-card-'));
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const t0 = Date.UTC(2026, 5, 1);
    const runs = new RunRepository(store);
    const trainRun = (at: number, commit: { gitCommit: string; gitDirty: boolean }, params: Record<string, string>) =>
      runs.create({
        experimentId: new ExperimentRepository(store).ensure('weather').experimentId,
        status: 'RUNNING',
        pipeline: 'train',
        command: 'python train.py',
        ...commit,
        startTime: at,
        params,
      });
    const run = trainRun(t0, { gitCommit: 'a'.repeat(40), gitDirty: false }, { n_estimators: '200', max_depth: '8' });
    runs.logMetrics(run.runId, [{ key: 'accuracy', value: 0.84, step: 0, timestamp: t0 }]);
    runs.finish(run.runId, { status: 'FINISHED', endTime: t0 + 60_000 });
    const datasets = new DatasetRepository(store);
    const dataset = datasets.upsert({ name: 'weather', uri: 'data/weather.csv', format: 'csv' });
    const { version } = datasets.addVersion({ datasetId: dataset.datasetId, digest: 'b'.repeat(64), path: 'data/weather.csv', rowCount: 1461 });
    datasets.linkRunInput(run.runId, version.datasetVersionId);
    const models = new ModelRepository(store);
    const registered = models.registerVersion({
      name: 'weather-clf',
      sourceRunId: run.runId,
      metrics: { accuracy: 0.84, f1: 0.8 },
      gate: {
        passed: true,
        result: { passed: true, checks: [{ rule: 'accuracy >= 0.8', passed: true, detail: 'accuracy 0.84 >= 0.8' }], championVersion: null },
      },
      actor: 'Ann Lee <ann@example.com>',
      now: t0 + 120_000,
    });
    const request = requestApproval(store, {
      kind: 'promote',
      modelName: 'weather-clf',
      version: registered.version,
      subject: 'champion',
      action: {},
      policy: { required: 1, reviewers: [], expiresAfterMs: 86_400_000 },
      requester: 'Ann Lee <ann@example.com>',
      now: t0 + 180_000,
    });
    decide(store, {
      requestId: request.requestId,
      reviewer: 'Bo Ström <bo@example.com>',
      decision: 'approve',
      comment: 'holdout checked',
      now: t0 + 240_000,
      execute: () =>
        models.setAlias({
          modelId: models.byName('weather-clf')!.modelId,
          alias: 'champion',
          version: registered.version,
          actor: 'Ann Lee',
          now: t0 + 240_000,
        }),
    });
    new DeploymentRepository(store).create({
      modelVersionId: registered.modelVersionId,
      target: 'prod',
      strategy: 'canary',
      trafficPercent: 100,
      status: 'healthy',
      now: t0 + 300_000,
    });
    // v2: another run with changed params (one of them hostile text), a lower accuracy and a failed gate
    const run2 = trainRun(t0 + 400_000, { gitCommit: 'c'.repeat(40), gitDirty: true }, { n_estimators: '200', max_depth: '4', note: HOSTILE });
    runs.finish(run2.runId, { status: 'FINISHED', endTime: t0 + 460_000 });
    const { version: v2data } = datasets.addVersion({ datasetId: dataset.datasetId, digest: 'd'.repeat(64), path: 'data/weather.csv', rowCount: 1500 });
    datasets.linkRunInput(run2.runId, v2data.datasetVersionId);
    models.registerVersion({
      name: 'weather-clf',
      sourceRunId: run2.runId,
      metrics: { accuracy: 0.79, f1: 0.8 },
      gate: {
        passed: false,
        result: { passed: false, checks: [{ rule: 'accuracy >= 0.8', passed: false, detail: 'accuracy 0.79 >= 0.8' }], championVersion: 1 },
      },
      actor: 'Ann Lee <ann@example.com>',
      now: t0 + 500_000,
    });
    store.close();
  });
  after(() => cleanup());

  it('json: params, metrics, training data, commit, gate, approvals, deployments and audit of the version', () => {
    const r = mloop(dir, 'card', 'weather-clf@1', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const card = JSON.parse(r.stdout) as ModelCard;
    assert.equal(card.uri, 'models:/weather-clf/1');
    assert.deepEqual(card.aliases, ['champion']);
    assert.deepEqual(card.training!.params, { max_depth: '8', n_estimators: '200' });
    assert.deepEqual(Object.keys(card.training!.params), ['max_depth', 'n_estimators']);
    assert.equal(card.training!.commit, 'a'.repeat(40));
    assert.deepEqual(card.training!.data, [{ dataset: 'weather', digest: 'b'.repeat(64), path: 'data/weather.csv', rows: 1461, context: 'training' }]);
    assert.deepEqual(card.metrics, { accuracy: 0.84, f1: 0.8 });
    assert.deepEqual(card.gate, { passed: true, checks: [{ rule: 'accuracy >= 0.8', passed: true, detail: 'accuracy 0.84 >= 0.8' }], championVersion: null });
    assert.deepEqual(
      card.approvals.map((a) => [a.change, a.status, a.requestedBy, a.decisions.map((d) => [d.reviewer, d.comment])]),
      [['promote to @champion', 'approved', 'Ann Lee <ann@example.com>', [['Bo Ström <bo@example.com>', 'holdout checked']]]],
    );
    assert.deepEqual(
      card.deployments.map((d) => [d.target, d.strategy, d.status, d.at]),
      [['prod', 'canary', 'healthy', '2026-06-01T00:05:00.000Z']],
    );
    assert.deepEqual(
      card.audit.map((a) => [a.action, a.entity]),
      [
        ['register', 'weather-clf/1'],
        ['set_alias', 'weather-clf@champion'],
      ],
    );
  });

  it('the same store gives the same bytes (md and json), by version, alias or champion', () => {
    const md = mloop(dir, 'card', 'weather-clf/1');
    assert.equal(md.code, 0, md.stderr);
    assert.equal(mloop(dir, 'card', 'weather-clf@champion').stdout, md.stdout);
    assert.equal(mloop(dir, 'card', 'weather-clf', '--out', 'card.md').code, 0);
    assert.equal(readFileSync(join(dir, 'card.md'), 'utf8'), md.stdout);
    assert.match(md.stdout, /^# Model card: weather-clf v1\n/);
    assert.match(md.stdout, /\| max_depth \| 8 \|/);
    assert.match(md.stdout, /\| weather \| b{64} \| data\/weather\.csv \| 1461 \| training \|/);
    assert.match(md.stdout, /Verdict: passed/);
    assert.match(md.stdout, /approve by Bo Ström <bo@example\.com>: holdout checked/);
    const json1 = mloop(dir, 'card', 'weather-clf@1', '--format', 'json').stdout;
    assert.equal(mloop(dir, 'card', 'weather-clf@1', '--format', 'json').stdout, json1);
    const unknown = mloop(dir, 'card', 'weather-clf@7');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /weather-clf has no version 7/);
  });

  it('html: one self-contained page, deterministic, every value escaped (a param holding <script> stays text)', () => {
    const r = mloop(dir, 'card', 'weather-clf@latest', '--format', 'html');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mloop(dir, 'card', 'weather-clf/2', '--format', 'html').stdout, r.stdout);
    const html = r.stdout;
    assert.match(html, /^<!DOCTYPE html>\n/);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    assert.doesNotMatch(html, /<script|<img|<link|<iframe|href=|@import|url\(/i, 'no script, no external resource');
    // what an independent escaper makes of the hostile value is in the page, in a table cell
    const escaped = HOSTILE.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    assert.ok(html.includes(`<tr><td>note</td><td>${escaped}</td></tr>`), html);
    assert.match(html, /<h1>Model card: weather-clf v2<\/h1>/);
    assert.match(html, /<p>Verdict: failed \(compared with champion v1\)<\/p>/);
  });

  it('compare: what changed from the champion to v2 (metrics, params, data, code, gate), as json and md, deterministic', () => {
    const r = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf@champion', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as ModelCardComparison;
    assert.deepEqual([c.base.version, c.other.version], [1, 2]);
    assert.deepEqual(c.metrics, [
      { name: 'accuracy', before: 0.84, after: 0.79, delta: 0.79 - 0.84 },
      { name: 'f1', before: 0.8, after: 0.8, delta: 0 },
    ]);
    assert.deepEqual(c.params, [
      { name: 'max_depth', before: '8', after: '4' },
      { name: 'note', before: null, after: HOSTILE },
    ]);
    assert.deepEqual(c.data, [{ name: 'weather (training)', before: 'b'.repeat(64), after: 'd'.repeat(64) }]);
    assert.deepEqual(c.code, { name: 'commit', before: 'a'.repeat(40), after: `${'c'.repeat(40)} (with uncommitted changes)` });
    assert.deepEqual(c.gate, {
      before: 'passed',
      after: 'failed',
      rules: [{ name: 'accuracy >= 0.8', before: 'pass: accuracy 0.84 >= 0.8', after: 'fail: accuracy 0.79 >= 0.8' }],
    });
    const md = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf@champion');
    assert.equal(md.code, 0, md.stderr);
    assert.equal(mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf/1').stdout, md.stdout);
    assert.match(md.stdout, /^# Model card changes: weather-clf v1 \(@champion\) → v2\n/);
    assert.match(md.stdout, /^- Release gate: passed → failed$/m);
    assert.match(md.stdout, /^\| accuracy \| 0\.84 \| 0\.79 \| -0\.05 \|$/m);
    assert.match(md.stdout, /^\| max_depth \| 8 \| 4 \|$/m);
    const html = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf@champion', '--format', 'html').stdout;
    assert.doesNotMatch(html, /<script/i);
    const missing = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf@staging');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /weather-clf has no alias @staging/);
  });
});
