import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { deployVersion, restartTarget, stopTarget, type DeployContext } from '../../src/core/deploy/deploy';
import { httpExchange } from '../../src/core/deploy/health';
import { isAlive } from '../../src/core/deploy/process';
import { checkService } from '../../src/core/monitoring/serviceHealth';
import { servingWindow } from '../../src/core/monitoring/servingLog';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { ServiceCheckRepository } from '../../src/core/store/serviceChecks';
import { openStore, type Store } from '../../src/core/store/store';
import { mloop, tempDir } from './fixtures';

const SERVICE = resolve(__dirname, '../../../test/deploy/service.py');

/** numpy's percentiles, error rate and counts per version over the same window: the independent reference. */
const NUMPY_STATS = `
import json, sys
import numpy as np
path, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for line in open(path, encoding="utf-8"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if isinstance(e, dict) and isinstance(e.get("ts"), (int, float)) and isinstance(e.get("latency_ms"), (int, float)) and isinstance(e.get("status"), int) and start <= e["ts"] <= end:
        rows.append(e)
def stats(rs):
    lat = np.array([r["latency_ms"] for r in rs], dtype=float)
    return {"requests": len(rs), "errors": sum(r["status"] >= 500 for r in rs),
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99))}
out = {"all": stats(rows)}
for v in sorted({r["version"] for r in rows}):
    out[str(v)] = stats([r for r in rows if r["version"] == v])
print(json.dumps(out))
`;

describe('service health: the serving log', function () {
  this.timeout(60_000);

  it('latency percentiles, error rate and request rate per version equal numpy on the same window, read backwards across chunks', () => {
    const { dir, cleanup } = tempDir('mloop-serving-');
    try {
      const path = join(dir, 'serving.jsonl');
      // ~3 MB: three 1 MB chunks, the window starting inside the first; a torn line and foreign lines in between
      const t0 = 1_764_000_000_000;
      let seed = 7;
      const random = (): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const lines: string[] = [];
      for (let i = 0; i < 40_000; i++) {
        const version = i < 25_000 ? 1 : 2;
        const latency = version === 1 ? 2 + random() * 8 : 5 + random() ** 3 * 400;
        const status = random() < (version === 1 ? 0.01 : 0.08) ? 503 : 200;
        lines.push(JSON.stringify({ ts: t0 + i * 50, request_id: `r${i}`, version, latency_ms: Number(latency.toFixed(3)), status }));
        if (i === 12_345) lines.push('{"ts": 17640', 'not json', '{"ts": "late", "latency_ms": 3, "status": 200}');
      }
      writeFileSync(path, `${lines.join('\n')}\n`);
      const from = t0 + 8_000 * 50;
      const to = t0 + 39_000 * 50;
      const w = servingWindow(path, from, to);
      const reference = JSON.parse(spawnSync('python3', ['-c', NUMPY_STATS, path, String(from), String(to)], { encoding: 'utf8' }).stdout) as Record<
        string,
        { requests: number; errors: number; p50: number; p95: number; p99: number }
      >;
      const same = (ours: (typeof w)['all'], theirs: (typeof reference)['all']): void => {
        assert.equal(ours.requests, theirs.requests);
        assert.equal(ours.errors, theirs.errors);
        assert.ok(Math.abs(ours.p50_ms! - theirs.p50) < 1e-9, `p50 ${ours.p50_ms} vs ${theirs.p50}`);
        assert.ok(Math.abs(ours.p95_ms! - theirs.p95) < 1e-9, `p95 ${ours.p95_ms} vs ${theirs.p95}`);
        assert.ok(Math.abs(ours.p99_ms! - theirs.p99) < 1e-9, `p99 ${ours.p99_ms} vs ${theirs.p99}`);
        assert.equal(ours.error_rate, theirs.errors / theirs.requests);
      };
      same(w.all, reference.all!);
      assert.deepEqual(
        w.versions.map((v) => v.version),
        [1, 2],
      );
      same(w.versions[0]!, reference['1']!);
      same(w.versions[1]!, reference['2']!);
      assert.equal(w.all.requests, 31_001);
      assert.ok(Math.abs(w.all.request_rate - 31_001 / ((to - from) / 1000)) < 1e-9);
      assert.equal(w.skipped, 3, 'the torn line, the foreign line and the bad ts are skipped and counted');
      // an empty window
      const empty = servingWindow(path, t0 + 10_000_000, t0 + 20_000_000);
      assert.equal(empty.all.requests, 0);
      assert.equal(empty.all.error_rate, null);
      assert.equal(empty.all.p95_ms, null);
    } finally {
      cleanup();
    }
  });
});

describe('service health: checks, alerts, auto rollback, restart with a real service', function () {
  this.timeout(90_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let ctx: DeployContext;
  const pids = new Set<number>();

  const serving = (): { pid: number; url: string } => {
    const current = new DeploymentRepository(store).current('local');
    assert.ok(current?.health?.process?.url);
    pids.add(current.health.process.pid);
    return { pid: current.health.process.pid, url: current.health.process.url };
  };
  const send = async (url: string, n: number): Promise<number[]> => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await httpExchange(`${url}/predict`, { method: 'POST', body: '{"rows":[{"a":1}]}' })).status);
    return statuses;
  };

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-service-'));
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const runs = new RunRepository(store);
    const experimentId = new ExperimentRepository(store).ensure('serve').experimentId;
    const models = new ModelRepository(store);
    for (const file of [{ version: 1 }, { version: 2, error_every: 2 }]) {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const artifacts = join(dir, '.mloop', 'artifacts', String(experimentId), run.runId, 'artifacts');
      mkdirSync(artifacts, { recursive: true });
      const text = JSON.stringify(file);
      writeFileSync(join(artifacts, 'model.json'), text);
      models.registerVersion({
        name: 'clf',
        sourceRunId: run.runId,
        artifactPath: `runs:/${run.runId}/model.json`,
        artifactDigest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
        actor: 'test',
      });
    }
    const yaml = [
      'version: 1',
      'targets:',
      '  local:',
      `    command: [python3, ${JSON.stringify(SERVICE)}, serve, --model, "\${model.path}", --port, "\${port}", --serving-log, logs/serving.jsonl]`,
      '    health: { url: "${url}/health", timeout_seconds: 20, interval_ms: 100 }',
      '    monitor:',
      '      every: 10s',
      '      window: 5m',
      '      serving_log: logs/serving.jsonl',
      '      min_requests: 10',
      '      alert: { error_rate: 0.1 }',
      '      auto_rollback: { error_rate: 0.3 }',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'mloop.yaml'), yaml);
    mkdirSync(join(dir, 'logs'));
    const { config, problems } = loadConfig(yaml, 'mloop.yaml');
    assert.ok(config, JSON.stringify(problems));
    ctx = { store, artifactRoot: join(dir, '.mloop', 'artifacts'), actor: 'tester', projectRoot: dir, config, trusted: true };
  });

  after(async () => {
    try {
      await stopTarget(ctx, { target: 'local' });
    } catch {
      // best effort
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    store.close();
    cleanup();
  });

  it('a healthy version: up, its latency and traffic from the serving log, stored for uptime', async () => {
    const out = await deployVersion(ctx, { modelName: 'clf', version: 1, target: 'local', strategy: 'direct' });
    assert.equal(out.status, 'healthy');
    assert.deepEqual(new Set(await send(serving().url, 12)), new Set([200]));
    const r = (await checkService(ctx, 'local'))!;
    assert.equal(r.up, true);
    assert.deepEqual(r.alerts, []);
    assert.equal(r.serving?.all.requests, 12);
    assert.equal(r.serving?.version?.requests, 12);
    assert.equal(r.serving?.all.error_rate, 0);
    assert.ok(r.serving!.all.p95_ms! > 0);
    assert.deepEqual(r.uptime_24h, { ratio: 1, checks: 1 });
  });

  it('a version failing half its requests raises the alert and is rolled back automatically, audited with the comparison', async () => {
    const out = await deployVersion(ctx, { modelName: 'clf', version: 2, target: 'local', strategy: 'direct' });
    assert.equal(out.status, 'healthy', 'v2 passes its health check: only its traffic shows the failures');
    const statuses = await send(serving().url, 20);
    assert.equal(statuses.filter((s) => s === 500).length, 10);
    const r = (await checkService(ctx, 'local'))!;
    assert.equal(r.version, 2);
    assert.equal(r.serving?.version?.requests, 20);
    assert.equal(r.serving?.version?.error_rate, 0.5);
    assert.ok(
      r.alerts.some((a) => a.metric === 'error_rate'),
      JSON.stringify(r.alerts),
    );
    assert.equal(r.rolled_back?.now_serving, 'clf v1');
    assert.match(r.rolled_back!.reason, /auto rollback: clf v2 error rate 50\.0% > 30\.0% over the last 5m \(n = 20\)/);
    const current = new DeploymentRepository(store).current('local')!;
    assert.equal(current.version, 1);
    assert.equal(current.status, 'healthy');
    const audit = new AuditRepository(store).list({ limit: 20 }).find((a) => a.action === 'deploy.rollback');
    assert.match(audit?.reason ?? '', /auto rollback: clf v2 error rate 50\.0%/);
    assert.deepEqual(new Set(await send(serving().url, 3)), new Set([200]), 'v1 answers again');
  });

  it('a killed service is down at the next check (status unhealthy, audited), uptime falls; restart brings it back', async () => {
    const { pid } = serving();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    const r = (await checkService(ctx, 'local'))!;
    assert.equal(r.up, false);
    assert.match(r.detail, new RegExp(`the service \\(pid ${pid}\\) is not running`));
    assert.equal(r.alerts[0]?.metric, 'up');
    assert.equal(new DeploymentRepository(store).current('local')!.status, 'unhealthy');
    const checks = new ServiceCheckRepository(store).list('local');
    assert.equal(r.uptime_24h.checks, checks.length);
    assert.equal(r.uptime_24h.ratio, checks.filter((c) => c.up).length / checks.length);
    assert.ok(r.uptime_24h.ratio! < 1);
    assert.ok(
      new AuditRepository(store).list({ limit: 20 }).some((a) => a.action === 'deploy.health' && a.toValue === 'unhealthy'),
      'the status change is audited',
    );

    const restarted = await restartTarget(ctx, { target: 'local', reason: 'test restart' });
    assert.equal(restarted.status, 'healthy');
    const again = serving();
    assert.notEqual(again.pid, pid);
    assert.equal(new DeploymentRepository(store).current('local')!.version, 1);
    assert.ok(new AuditRepository(store).list({ limit: 5 }).some((a) => a.action === 'deploy.restart' && a.reason === 'test restart'));
    assert.equal((await checkService(ctx, 'local'))!.up, true);
  });

  it('mloop monitor --once and mloop health as child processes: exit 3 with the service down, the JSON names it', async () => {
    const { pid } = serving();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    const health = mloop(dir, 'health', 'local', '--json');
    assert.equal(health.code, 1, health.stderr);
    assert.equal((JSON.parse(health.stdout) as { up: boolean }).up, false);
    const monitor = mloop(dir, 'monitor', '--once', '--json');
    assert.equal(monitor.code, 3, monitor.stderr);
    const json = JSON.parse(monitor.stdout) as { alerts: number; services: { target: string; up: boolean; alerts: { metric: string }[] }[] };
    assert.equal(json.services[0]?.target, 'local');
    assert.equal(json.services[0]?.up, false);
    assert.equal(json.services[0]?.alerts[0]?.metric, 'up');
    assert.ok(json.alerts >= 1);
    const text = mloop(dir, 'monitor', '--once');
    assert.equal(text.code, 3);
    assert.match(text.stdout, /target local: DOWN/);
    // nothing half-written: every check of the three runs is a stored row with its JSON
    for (const c of new ServiceCheckRepository(store).list('local')) assert.doesNotThrow(() => JSON.parse(c.resultJson));
  });
});
