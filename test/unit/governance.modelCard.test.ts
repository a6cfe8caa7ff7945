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
import { DriftReportRepository } from '../../src/core/store/driftReports';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { ServiceCheckRepository } from '../../src/core/store/serviceChecks';
import { writeFileSync } from 'node:fs';
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
    // monitoring: a drift report, a performance report that alerts, and a health check of the serving target
    const modelId = models.byName('weather-clf')!.modelId;
    new DriftReportRepository(store).add({
      modelId,
      referenceDatasetVersionId: version.datasetVersionId,
      currentUri: 'logs/*.csv',
      driftedShare: 0.25,
      datasetDrift: false,
      result: {},
      now: t0 + 310_000,
    });
    const reports = new MonitoringReportRepository(store);
    reports.add({ modelName: 'weather-clf', kind: 'performance', alert: false, summary: 'accuracy 0.85 (old)', result: {}, now: t0 + 320_000 });
    reports.add({ modelName: 'weather-clf', kind: 'performance', alert: true, summary: 'accuracy 0.61 < 0.7', result: {}, now: t0 + 330_000 });
    new ServiceCheckRepository(store).add({
      target: 'prod',
      deploymentId: 1,
      modelName: 'weather-clf',
      version: 1,
      up: true,
      alert: false,
      detail: 'p95 12 ms, 0% errors',
      result: {},
      checkedAt: t0 + 340_000,
    });
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'card:',
        '  weather-clf:',
        '    intended_use: Predict the weather type of a day in Seattle',
        '    limitations: [Seattle 2012-2015 only, "snow: few rows"]',
        `    out_of_scope: ${JSON.stringify(HOSTILE)}`,
        '    ethical_considerations: No personal data',
        '',
      ].join('\n'),
    );
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

  it('intended use from mloop.yaml, the monitoring summary and the lineage graph, in json, md (mermaid) and html (inline SVG), twice the same', () => {
    const r = mloop(dir, 'card', 'weather-clf@1', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const card = JSON.parse(r.stdout) as ModelCard;
    assert.deepEqual(card.intendedUse, {
      intendedUse: 'Predict the weather type of a day in Seattle',
      intendedUsers: [],
      limitations: ['Seattle 2012-2015 only', 'snow: few rows'],
      outOfScope: [HOSTILE],
      ethicalConsiderations: ['No personal data'],
    });
    // the newest report of each check (the older performance report is not shown), the health of the serving target
    assert.deepEqual(
      card.monitoring.checks.map((c) => [c.check, c.subject, c.at, c.alert, c.summary]),
      [
        ['drift', 'weather-clf', '2026-06-01T00:05:10.000Z', false, '25% of columns drifted (report #1)'],
        ['performance', 'weather-clf', '2026-06-01T00:05:30.000Z', true, 'accuracy 0.61 < 0.7'],
        ['health', 'prod', '2026-06-01T00:05:40.000Z', false, 'up: p95 12 ms, 0% errors'],
      ],
    );
    assert.deepEqual(card.monitoring.alerts, ['performance']);
    // the lineage, checked against the store's keys read here with SQL
    const store = openStore({ path: join(dir, '.mloop', 'mloop.db'), readonly: true });
    try {
      const v = store.db.prepare('SELECT model_version_id, source_run_id FROM model_version WHERE version = 1').get() as {
        model_version_id: number;
        source_run_id: string;
      };
      const inputs = store.db.prepare('SELECT dataset_version_id FROM run_input WHERE run_id = ?').pluck().all(v.source_run_id) as number[];
      const deployments = store.db.prepare('SELECT deployment_id FROM deployment WHERE model_version_id = ?').pluck().all(v.model_version_id) as number[];
      const expected = [
        ...inputs.map((d) => `dataset:${d} -input-> run:${v.source_run_id}`),
        `model:${v.model_version_id} -deployed-> deployment:${deployments[0]}`,
        `run:${v.source_run_id} -registered-> model:${v.model_version_id}`,
      ].sort();
      assert.deepEqual(card.lineage.edges.map((e) => `${e.from} -${e.relation}-> ${e.to}`).sort(), expected);
      assert.deepEqual(
        card.lineage.nodes.map((n) => [n.kind, n.depth]),
        [
          ['dataset', -2],
          ['run', -1],
          ['model', 0],
          ['deployment', 1],
        ],
      );
    } finally {
      store.close();
    }
    const md = mloop(dir, 'card', 'weather-clf@1');
    assert.equal(md.code, 0, md.stderr);
    assert.equal(mloop(dir, 'card', 'weather-clf@1').stdout, md.stdout, 'the same store and mloop.yaml give the same bytes');
    assert.match(
      md.stdout,
      /## Intended use and limits\n\nPredict the weather type of a day in Seattle\n\n### Limitations\n\n- Seattle 2012-2015 only\n- snow: few rows\n/,
    );
    assert.match(md.stdout, /Alerts: performance\./);
    assert.match(md.stdout, /^\| performance \| weather-clf \| 2026-06-01T00:05:30\.000Z \| alert \| accuracy 0\.61 < 0\.7 \|$/m);
    const mermaid = /```mermaid\nflowchart LR\n([\s\S]*?)\n```/.exec(md.stdout);
    assert.ok(mermaid, md.stdout);
    assert.match(mermaid[1]!, /^ {2}n0\["dataset: weather @bbbbbbbbbbbb<br\/>1,461 rows · data\/weather\.csv"\]$/m);
    assert.match(mermaid[1]!, /^ {2}n2 -->\|deployed\| n3$/m);
    assert.equal(mermaid[1]!.split('\n').filter((l) => l.includes('-->')).length, 3);
    const html = mloop(dir, 'card', 'weather-clf@1', '--format', 'html');
    assert.equal(mloop(dir, 'card', 'weather-clf@1', '--format', 'html').stdout, html.stdout);
    assert.match(html.stdout, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" role="img" aria-label="lineage graph"/);
    assert.equal((html.stdout.match(/<g class="node">/g) ?? []).length, 4);
    assert.equal((html.stdout.match(/<g class="edge">/g) ?? []).length, 3);
    assert.doesNotMatch(html.stdout, /<script|<img|href=|url\(/i, 'the hostile out_of_scope text stays text');
    assert.ok(html.stdout.includes('&lt;script&gt;alert(&quot;card&quot;)&lt;/script&gt;'));
  });

  it('compare shows what changed in monitoring and lineage; a broken card: section is refused at its line:col', () => {
    const r = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf/1', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as ModelCardComparison;
    assert.deepEqual(c.intendedUse, [], 'one model, one card: section');
    assert.deepEqual(c.monitoring, [{ name: 'health (prod)', before: 'ok: up: p95 12 ms, 0% errors', after: null }]);
    const runName = (ref: string): string => (JSON.parse(mloop(dir, 'card', ref, '--format', 'json').stdout) as ModelCard).training!.runName;
    assert.deepEqual(c.lineage, {
      added: ['dataset: weather @dddddddddddd', 'model: weather-clf v2', `run: ${runName('weather-clf/2')}`].sort(),
      removed: ['dataset: weather @bbbbbbbbbbbb', 'deployment: prod', 'model: weather-clf v1', `run: ${runName('weather-clf/1')}`].sort(),
    });
    const md = mloop(dir, 'card', 'weather-clf/2', '--compare', 'weather-clf/1');
    assert.match(
      md.stdout,
      /## Monitoring\n\n\| check \| v1 \(@champion\) \| v2 \|\n\|---\|---\|---\|\n\| health \(prod\) \| ok: up: p95 12 ms, 0% errors \| — \|/,
    );
    assert.match(md.stdout, /^- only v1 \(@champion\): deployment: prod$/m);
    const yaml = readFileSync(join(dir, 'mloop.yaml'), 'utf8');
    try {
      writeFileSync(join(dir, 'mloop.yaml'), yaml.replace('    ethical_considerations: No personal data', '    ethical_considerations: 42'));
      const broken = mloop(dir, 'card', 'weather-clf@1');
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /mloop\.yaml:7:29: error: card\.weather-clf\.ethical_considerations: expected a text or a list of texts/);
      assert.equal(broken.stdout, '', 'nothing half-written');
    } finally {
      writeFileSync(join(dir, 'mloop.yaml'), yaml);
    }
  });
});
