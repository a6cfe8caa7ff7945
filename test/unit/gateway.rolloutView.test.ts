import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { analyseCanary, type ServingLine } from '../../src/core/gateway/canaryAnalysis';
import { feedbackLogPath, servingLogPath } from '../../src/core/gateway/control';
import { ROLLOUT_BUCKET_MS, ROLLOUT_WINDOW_MS, rolloutView } from '../../src/core/gateway/rolloutView';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { ModelRepository } from '../../src/core/store/models';
import { openStore, type Store } from '../../src/core/store/store';
import { rolloutViewSchema } from '../../src/protocol/rolloutMessages';
import { pythonJsonSync } from '../support/python';
import { deployProject, gatewayTargetLines, registerServiceModels } from './deployFixtures';
import { tempDir } from './fixtures';

/** numpy: per-version percentiles over the window, and per bucket request counts and p95. */
const PEER = `
import json, sys
import numpy as np
d = json.load(sys.stdin)
out = {"versions": {}, "buckets": {}}
for v, lat in d["latency"].items():
    out["versions"][v] = [float(np.percentile(lat, q)) for q in (50, 95, 99)]
for v, rows in d["buckets"].items():
    out["buckets"][v] = [[len(r), float(np.percentile(r, 95)) if r else None] for r in rows]
print(json.dumps(out))
`;

describe('Rollout panel view: split, per-version traffic, latency and errors, canary analysis and the A/B report of one target', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;

  before(() => {
    tmp = tempDir();
    store = openStore({ path: join(tmp.dir, '.mloop', 'mloop.db') });
  });
  after(() => {
    store.close();
    tmp.cleanup();
  });

  it('reads the serving log as numpy does (p50/p95/p99 per version, requests and p95 per 15 s bucket), shows the live split, the stored canary analysis and the A/B arms from the feedback', async () => {
    const artifactRoot = join(tmp.dir, '.mloop', 'artifacts');
    registerServiceModels(store, artifactRoot, 'clf', [{ version: 1 }, { version: 2 }]);
    const ctx = deployProject(
      tmp.dir,
      store,
      artifactRoot,
      ['version: 1', 'targets:', ...gatewayTargetLines('web', 18_765, ['    strategy: canary'])].join('\n'),
    );
    const models = new ModelRepository(store);
    const mv = (v: number) => models.version(models.byName('clf')!.modelId, v)!.modelVersionId;
    const deployments = new DeploymentRepository(store);
    const now = Date.now();
    const first = deployments.create({
      modelVersionId: mv(1),
      target: 'web',
      strategy: 'blue_green',
      trafficPercent: 100,
      status: 'healthy',
      now: now - 3_600_000,
    });

    // 10 minutes of traffic: v1 throughout, v2 from the middle, some 503s without a version, a few v2 errors, torn lines
    const random = seededRandom(9);
    const lines: ServingLine[] = [];
    for (let ts = now - ROLLOUT_WINDOW_MS + 500; ts < now; ts += 250 + Math.floor(random() * 200)) {
      const late = ts > now - ROLLOUT_WINDOW_MS / 2;
      const version = random() < 0.02 ? null : late && random() < 0.3 ? 2 : 1;
      lines.push({
        ts,
        version,
        latency_ms: version === 2 ? 4 + 6 * random() : 1 + 3 * random(),
        status: version === null ? 503 : version === 2 && random() < 0.05 ? 500 : 200,
      });
    }
    const old = { ts: now - ROLLOUT_WINDOW_MS - 60_000, version: 1, latency_ms: 999, status: 200 }; // outside the window
    const log = servingLogPath(store, 'web');
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, [old, ...lines].map((l) => JSON.stringify(l)).join('\n') + '\n{"ts": 1, "torn\n');

    // v2 rolls out as a canary with one analysed step (stored as deploy.ts stores it)
    const canary = deployments.create({ modelVersionId: mv(2), target: 'web', strategy: 'canary', trafficPercent: 30, status: 'in_progress' });
    const step = analyseCanary(
      lines,
      { stableVersion: 1, canaryVersion: 2, step: 'traffic 30%', from: now - ROLLOUT_WINDOW_MS, to: now },
      { max_error_rate_increase: 0.01, min_requests: 20 },
    );
    deployments.update(canary.deploymentId, { health: { analysis: [step] } });
    store.transaction(() => {
      new GatewayRepository(store).ensure('web', 18_765);
      new GatewayRepository(store).setRoutes('web', 'canary', [
        { modelName: 'clf', version: 1, upstreamPort: 40_001, weight: 70 },
        { modelName: 'clf', version: 2, upstreamPort: 40_002, weight: 30 },
      ]);
    });

    const view = rolloutViewSchema.parse(await rolloutView(ctx, 'web', now));
    assert.deepEqual(
      view.split.map((s) => [s.version, s.percent]),
      [
        [1, 70],
        [2, 30],
      ],
    );
    assert.equal(view.strategy, 'canary');
    assert.deepEqual(view.serving && [view.serving.version, view.serving.status], [1, 'healthy']);
    assert.deepEqual(view.rolling && [view.rolling.version, view.rolling.trafficPercent], [2, 30]);
    assert.ok(
      view.notes.some((n) => /1 line\(s\) .* skipped/.test(n)),
      view.notes.join(' | '),
    );
    assert.ok(
      view.notes.some((n) => /gateway does not answer/.test(n)),
      'no gateway process runs: the split is the stored one, and the panel says so',
    );

    const byVersion = (v: number | null) => lines.filter((l) => l.version === v);
    const peer = pythonJsonSync<{ versions: Record<string, number[]>; buckets: Record<string, [number, number | null][]> }>({
      args: ['-c', PEER],
      input: JSON.stringify({
        latency: Object.fromEntries([1, 2, null].map((v) => [String(v), byVersion(v).map((l) => l.latency_ms)])),
        buckets: Object.fromEntries(
          [1, 2].map((v) => [
            String(v),
            view.timeline.starts.map((start) =>
              byVersion(v)
                .filter((l) => l.ts >= start && l.ts < start + ROLLOUT_BUCKET_MS)
                .map((l) => l.latency_ms),
            ),
          ]),
        ),
      }),
    });
    assert.deepEqual(
      view.versions.map((s) => s.version),
      [null, 1, 2],
    );
    for (const s of view.versions) {
      const mine = byVersion(s.version);
      assert.equal(s.requests, mine.length);
      assert.equal(s.errors, mine.filter((l) => l.status >= 500).length);
      assert.ok(Math.abs(s.requestRate - mine.length / (ROLLOUT_WINDOW_MS / 1000)) < 1e-9);
      const [p50, p95, p99] = peer.versions[String(s.version)]!;
      assert.ok(Math.abs(s.p50Ms! - p50!) < 1e-9 && Math.abs(s.p95Ms! - p95!) < 1e-9 && Math.abs(s.p99Ms! - p99!) < 1e-9, `v${s.version} percentiles`);
    }
    assert.equal(view.timeline.starts.length, ROLLOUT_WINDOW_MS / ROLLOUT_BUCKET_MS);
    for (const v of [1, 2]) {
      const series = view.timeline.series.find((s) => s.version === v)!;
      peer.buckets[String(v)]!.forEach(([n, p95], i) => {
        assert.equal(series.requests[i], n, `v${v} bucket ${i} requests`);
        if (p95 === null) assert.equal(series.p95Ms[i], null);
        else assert.ok(Math.abs(series.p95Ms[i]! - p95) < 1e-9, `v${v} bucket ${i} p95`);
      });
    }
    assert.ok(view.analysis, 'the canary analysis of the rolling deployment');
    assert.equal(view.analysis.steps[0]!.step, 'traffic 30%');
    assert.equal(view.analysis.steps[0]!.passed, step.passed);
    assert.equal(view.analysis.steps[0]!.canary.requests, byVersion(2).length);
    assert.deepEqual(view.actions, { promote: null, rollback: true, stop: null });
    assert.equal(view.ab, null);

    // an A/B test: arms from the feedback log since the routes changed, an unknown id counted
    store.transaction(() =>
      new GatewayRepository(store).setRoutes('web', 'ab', [
        { modelName: 'clf', version: 1, upstreamPort: 40_001, weight: 50 },
        { modelName: 'clf', version: 2, upstreamPort: 40_002, weight: 50, pid: null },
      ]),
    );
    deployments.update(canary.deploymentId, { status: 'rolled_back' });
    const rewards = { 1: [1, 0, 0, 1, 0], 2: [1, 1, 0, 1, 1, 1] };
    const at = Date.now() + 5;
    writeFileSync(
      feedbackLogPath(store, 'web'),
      [
        ...Object.entries(rewards).flatMap(([v, rs]) =>
          rs.map((reward, i) => JSON.stringify({ ts: at + i, request_id: `r${v}-${i}`, version: Number(v), reward })),
        ),
        JSON.stringify({ ts: at, request_id: 'nope', unknown: true }),
      ].join('\n') + '\n',
    );
    const ab = rolloutViewSchema.parse(await rolloutView(ctx, 'web', at + 100));
    assert.ok(ab.ab);
    assert.equal(ab.ab.aa, false);
    assert.deepEqual(
      ab.ab.arms.map((a) => [a.role, a.version, a.n, a.mean]),
      [
        ['champion', 1, 5, 2 / 5],
        ['challenger', 2, 6, 5 / 6],
      ],
    );
    assert.equal(ab.ab.decision, 'continue', 'fewer outcomes than the minimum sample: nothing decided');
    assert.equal(ab.ab.unknownFeedback, 1);
    assert.deepEqual(ab.actions, { promote: 'winner', rollback: true, stop: 'ab' });
    assert.equal(first.deploymentId > 0, true);
  });
});
