import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MlflowBackend } from '../../src/core/backends/mlflowBackend';
import { executeTeamPromotion, MlflowRegistry, type RemoteRegistryContext } from '../../src/core/backends/remoteRegistry';
import { GOVERNANCE_EXPERIMENT, KIND_TAG, TeamLedger } from '../../src/core/backends/teamLedger';
import { LiveRolloutPublisher, readLiveRollout } from '../../src/core/backends/teamLiveRollout';
import { pollUntil } from '../harness/poll';
import { listTeamDeployments, listTeamDriftReports, listTeamMonitoringReports, syncWithTeam } from '../../src/core/backends/teamOperations';
import { ApprovalError, ApprovalRequiredError } from '../../src/core/governance/approvals';
import { decideTeamRequest, getTeamRequest, listTeamRequests, type TeamContext } from '../../src/core/governance/teamApprovals';
import { verifyTeamTrail, workspaceWriter } from '../../src/core/governance/teamTrail';
import { AuditRepository } from '../../src/core/store/audit';
import { DeploymentRepository } from '../../src/core/store/deployments';
import { ModelRepository } from '../../src/core/store/models';
import { MonitoringReportRepository } from '../../src/core/store/monitoringReports';
import { DriftReportRepository } from '../../src/core/store/driftReports';
import { computeDriftReport } from '../../src/core/drift/report';
import { openStore, type Store } from '../../src/core/store/store';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { feedbackLogPath } from '../../src/core/gateway/control';
import { publishedRollout, rolloutView } from '../../src/core/gateway/rolloutView';
import type { DeployContext } from '../../src/core/deploy/deploy';
import { teammateRolloutSchema } from '../../src/protocol/rolloutMessages';
import { mloop, tempDir } from './fixtures';
import { startMlflowServer, type MlflowServerProcess } from './mlflowServer';
import { sampleStats } from '../harness/sampleStats';

// Two mloop workspaces (two folders, two store files) against ONE real `mlflow server`: what one writes through the
// team ledger (audit chain, approval requests and decisions, deployments, monitoring reports) the other reads.

const ANN = 'Ann <ann@example.com>';
const BOB = 'Bob <bob@example.com>';
const CAROL = 'Carol <carol@example.com>';
const policy = { required: 1, reviewers: [], expiresAfterMs: 3_600_000 };

/** The chain's hash computed here from the documented encoding (sorted keys, no whitespace), not by mloop's code. */
function independentHash(e: Record<string, unknown>): string {
  const fields = ['action', 'actor', 'at', 'details_json', 'entity_id', 'entity_type', 'from_value', 'prev_hash', 'reason', 'to_value'];
  const object: Record<string, unknown> = {};
  for (const key of [...fields, 'format'].sort()) object[key] = key === 'format' ? 1 : e[key];
  return createHash('sha256').update(JSON.stringify(object)).digest('hex');
}

describe('team on one MLflow server: two workspaces share governance and operations', function () {
  this.timeout(300_000); // the server starts slowly on a loaded 2-core machine
  let server: MlflowServerProcess;
  let root: string;
  let cleanup: () => void;
  let storeA: Store;
  let storeB: Store;
  let backendA: MlflowBackend;
  let backendB: MlflowBackend;
  let ledgerA: TeamLedger;
  let ledgerB: TeamLedger;

  const registryOf = (store: Store, backend: MlflowBackend, actor: string): RemoteRegistryContext => ({ backend, store, actor });
  const teamOf = (store: Store, ledger: TeamLedger, actor: string): TeamContext => ({ store, ledger, actor });

  before(async () => {
    ({ dir: root, cleanup } = tempDir('mloop-team-'));
    server = await startMlflowServer(root);
    for (const w of ['a', 'b']) mkdirSync(join(root, w, '.mloop'), { recursive: true });
    // workspace B's identity for its CLI: git's user in its folder
    for (const args of [
      ['init', '-q'],
      ['config', 'user.name', 'Bob'],
      ['config', 'user.email', 'bob@example.com'],
    ])
      execFileSync('git', args, { cwd: join(root, 'b') });
    storeA = openStore({ path: join(root, 'a', '.mloop', 'mloop.db') });
    storeB = openStore({ path: join(root, 'b', '.mloop', 'mloop.db') });
    backendA = new MlflowBackend({ trackingUri: server.uri });
    backendB = new MlflowBackend({ trackingUri: server.uri });
    ledgerA = new TeamLedger(backendA);
    ledgerB = new TeamLedger(backendB);
    // a model with two versions on the server, from a finished run
    const run = await backendA.createRun({ experimentName: 'weather', runName: 'rf' });
    await backendA.finishRun(run.runId, 'FINISHED', Date.now());
    for (let i = 0; i < 2; i++) await backendA.createModelVersion({ name: 'clf', source: `runs:/${run.runId}/model`, runId: run.runId });
  });

  after(async () => {
    storeA?.close();
    storeB?.close();
    await server?.stop();
    cleanup?.();
  });

  it('claims a name for exactly one of two concurrent writers, and both read the winner', async () => {
    const [x, y] = await Promise.all([ledgerA.claim('test/claim', { who: 'a' }), ledgerB.claim('test/claim', { who: 'b' })]);
    assert.equal([x, y].filter((c) => c.won).length, 1);
    assert.deepEqual(x.tags, y.tags);
    assert.deepEqual(await ledgerB.claimed('test/claim'), x.tags);
    // the claim is in MLflow's trash: the team's experiment list is not crowded by claims
    assert.ok(!(await backendB.listExperiments()).some((e) => e.name.startsWith(`${GOVERNANCE_EXPERIMENT}/`)));
  });

  it('an audit entry written in A is visible and verifiable in B, in one order every reader computes', async () => {
    new AuditRepository(storeA).record({ actor: ANN, action: 'promote', entityType: 'alias', entityId: 'clf@staging', toValue: 'v1', reason: 'from A' });
    new AuditRepository(storeB).record({ actor: BOB, action: 'set_alias', entityType: 'alias', entityId: 'clf@canary', toValue: 'v2' });
    const a = await syncWithTeam(storeA, ledgerA, { actor: ANN });
    await syncWithTeam(storeB, ledgerB, { actor: BOB });
    assert.equal(a.writer, workspaceWriter(storeA));
    assert.ok(a.auditEntries >= 1);
    // publishing again adds nothing
    assert.equal((await syncWithTeam(storeA, ledgerA, { actor: ANN })).auditEntries, 0);

    const inB = await verifyTeamTrail(ledgerB);
    assert.equal(inB.ok, true, JSON.stringify(inB.problem));
    assert.equal(inB.writers.length, 2);
    const fromA = inB.trail.find((e) => e.reason === 'from A');
    assert.ok(fromA, 'B sees the entry A wrote');
    assert.equal(fromA.writer, a.writer);
    const local = new AuditRepository(storeA).list().find((e) => e.reason === 'from A')!;
    assert.equal(fromA.audit_id, local.auditId);
    assert.equal(independentHash(fromA as unknown as Record<string, unknown>), fromA.hash, 'the hash on the server re-computes independently');
    // B published after seeing A's head: in the merged order B's entry comes after A's
    const order = inB.trail.map((e) => `${e.writer}#${e.audit_id}`);
    assert.ok(order.indexOf(`${a.writer}#${local.auditId}`) < order.indexOf(`${workspaceWriter(storeB)}#${new AuditRepository(storeB).list()[0]!.auditId}`));
    assert.deepEqual((await verifyTeamTrail(ledgerA)).trail, inB.trail, 'A and B compute the same order');
  });

  it('a promotion requested in A is approved in B (not by A: self-approval refused), and A sees it done', async () => {
    const registryA = new MlflowRegistry(registryOf(storeA, backendA, ANN));
    const refused = await registryA.promote({ modelName: 'clf', version: 1, alias: 'champion', gate: { rules: [], approvals: policy } }).then(
      () => assert.fail('promotion under a policy must wait for approval'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof ApprovalRequiredError, String(refused));
    const requestId = String(refused.request.requestId);
    assert.equal((await backendA.modelVersion('clf', 1))?.aliases.includes('champion'), false, 'nothing moved yet');

    await assert.rejects(
      decideTeamRequest(teamOf(storeA, ledgerA, ANN), { requestId, decision: 'approve', comment: 'mine' }),
      (e: Error) => e instanceof ApprovalError && /self-approval is refused/.test(e.message),
    );
    const pendingInB = await listTeamRequests(ledgerB, { status: 'pending' });
    assert.deepEqual(
      pendingInB.map((r) => [r.requestId, r.requestedBy, r.modelName, r.version]),
      [[requestId, ANN, 'clf', 1]],
    );
    // B approves from its terminal, as its git identity (the server here checks no users)
    const listed = mloop(join(root, 'b'), 'requests', '--backend', 'mlflow', '--tracking-uri', server.uri, '--status', 'pending');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${requestId}.*promoting clf v1 to @champion.*Ann`));
    const approved = mloop(
      join(root, 'b'),
      'approve',
      requestId.slice(0, 6),
      '--comment',
      'looks good',
      '--backend',
      'mlflow',
      '--tracking-uri',
      server.uri,
      '--json',
    );
    assert.equal(approved.code, 0, approved.stderr + approved.stdout);
    const outcome = JSON.parse(approved.stdout) as { decided: boolean; executed: boolean; request: { status: string; decidedBy: string } };
    assert.deepEqual([outcome.decided, outcome.executed, outcome.request.status, outcome.request.decidedBy], [true, true, 'approved', BOB]);
    assert.equal((await backendA.modelVersion('clf', 1))?.aliases.includes('champion'), true);
    const seenByA = await getTeamRequest(ledgerA, requestId);
    assert.deepEqual(
      [seenByA.status, seenByA.decidedBy, seenByA.decisions.map((d) => [d.reviewer, d.decision, d.comment])],
      ['approved', BOB, [[BOB, 'approve', 'looks good']]],
    );
    // the decision and the promotion are in B's chain on the server
    const trail = (await verifyTeamTrail(ledgerA)).trail;
    assert.ok(trail.some((e) => e.action === 'approval.approve' && e.entity_id === requestId && e.actor === BOB));
    assert.ok(trail.some((e) => e.action === 'promote' && e.entity_id === 'clf@champion' && (e.reason ?? '').includes(`approved by ${BOB}`)));
  });

  it('two reviewers approving the same request at once produce one decision, and both see it', async () => {
    const registryA = new MlflowRegistry(registryOf(storeA, backendA, ANN));
    const request = await registryA.promote({ modelName: 'clf', version: 2, alias: 'champion', gate: { rules: [], approvals: policy } }).then(
      () => assert.fail('expected a request'),
      (e: ApprovalRequiredError) => e.request,
    );
    const requestId = String(request.requestId);
    let executions = 0;
    // both reviewers pass every check before either claims: the server's refusal of the second claim is what decides
    let arrived = 0;
    let release!: () => void;
    const bothChecked = new Promise<void>((done) => (release = done));
    class BarrierLedger extends TeamLedger {
      override async claim(name: string, tags: Readonly<Record<string, string>>): Promise<{ won: boolean; tags: Record<string, string> }> {
        if (++arrived === 2) release();
        await bothChecked;
        return super.claim(name, tags);
      }
    }
    const approve = (store: Store, ledger: TeamLedger, backend: MlflowBackend, actor: string) =>
      decideTeamRequest(teamOf(store, new BarrierLedger(ledger.backend), actor), {
        requestId,
        decision: 'approve',
        comment: `approved by ${actor}`,
        execute: async (r) => {
          executions++;
          await executeTeamPromotion(registryOf(store, backend, actor), r);
        },
      });
    const results = await Promise.allSettled([approve(storeB, ledgerB, backendB, BOB), approve(storeA, ledgerA, backendA, CAROL)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.match(String(lost[0]!.reason), /already approved by (Bob|Carol)/);
    assert.equal(arrived, 2, 'both reached the claim');
    assert.equal(executions, 1, 'the promotion ran once');
    const [inA, inB] = await Promise.all([getTeamRequest(ledgerA, requestId), getTeamRequest(ledgerB, requestId)]);
    assert.deepEqual(inA, inB);
    assert.equal(inA.status, 'approved');
    assert.equal(inA.decisions.length, 1, 'one decision');
    assert.equal(inA.decidedBy, (won[0] as PromiseFulfilledResult<{ request: { decidedBy: string } }>).value.request.decidedBy);
    assert.equal((await backendB.modelVersion('clf', 2))?.aliases.includes('champion'), true);
  });

  it('a deployment recorded in A and a monitoring report and a drift check from A are listed in B', async () => {
    const version = new ModelRepository(storeA).registerVersion({ name: 'clf', actor: ANN });
    const deployments = new DeploymentRepository(storeA);
    const d = deployments.create({ modelVersionId: version.modelVersionId, target: 'staging', strategy: 'direct', status: 'in_progress', now: 1_000 });
    await syncWithTeam(storeA, ledgerA, { actor: ANN });
    deployments.update(d.deploymentId, { status: 'healthy', trafficPercent: 100, now: 2_000 });
    const result = { windows: [{ start: 0, accuracy: 0.91, n: 120 }] };
    new MonitoringReportRepository(storeA).add({ modelName: 'clf', kind: 'performance', alert: true, summary: 'accuracy 0.91 < 0.95', result, now: 3_000 });
    // a drift check as mloop stores it: temp shifted by 3 sd, wind unchanged (computeDriftReport on real samples)
    const sample = (values: number[]) => ({ kind: 'numeric' as const, sorted: Float64Array.from(values).sort(), missing: 0, infinite: 0 });
    const base = Array.from({ length: 200 }, (_, i) => Math.sin(i) * 5 + 10);
    const drift = computeDriftReport(
      {
        reference: new Map([
          ['temp', sample(base)],
          ['wind', sample(base.map((v) => v / 2))],
        ]),
        current: new Map([
          ['temp', sample(base.map((v) => v + 10))],
          ['wind', sample(base.map((v) => v / 2))],
        ]),
        referenceRows: 200,
        currentRows: 200,
      },
      { method: 'wasserstein', threshold: 0.25, driftShare: 0.5 },
    );
    const driftResult = { report: drift, model: 'clf' };
    const checked = new DriftReportRepository(storeA).add({
      modelId: new ModelRepository(storeA).byName('clf')!.modelId,
      currentUri: 'logs/predictions.jsonl',
      driftedShare: drift.drift_share,
      datasetDrift: drift.dataset_drift,
      result: driftResult,
      now: 4_000,
    });
    const synced = await syncWithTeam(storeA, ledgerA, { actor: ANN });
    assert.deepEqual([synced.deployments, synced.reports, synced.driftReports], [1, 1, 1]);
    assert.equal((await syncWithTeam(storeA, ledgerA, { actor: ANN })).driftReports, 0, 'a check is published once');
    const drifts = await listTeamDriftReports(ledgerB, { modelName: 'clf' });
    assert.deepEqual(
      drifts.map((d) => [d.writer, d.driftReportId, d.modelName, d.datasetDrift, d.driftedShare, d.result]),
      [[synced.writer, checked.driftReportId, 'clf', true, 0.5, JSON.parse(JSON.stringify(driftResult))]],
    );
    assert.match(drifts[0]!.summary, /^Drift in clf: 1 of 2 features \(temp: Wasserstein /);
    assert.deepEqual(await listTeamDriftReports(ledgerB, { modelName: 'other' }), []);
    // `mloop team reports` in B lists the drift check with the performance report, newest first
    const cli = mloop(join(root, 'b'), 'team', 'reports', '--model', 'clf', '--backend', 'mlflow', '--tracking-uri', server.uri, '--json');
    assert.equal(cli.code, 0, cli.stderr);
    const listedReports = JSON.parse(cli.stdout) as { kind: string; alert: boolean; writer: string; summary: string }[];
    assert.deepEqual(
      listedReports.map((r) => [r.kind, r.alert, r.writer]),
      [
        ['drift', true, synced.writer],
        ['performance', true, synced.writer],
      ],
    );

    const listed = await listTeamDeployments(ledgerB);
    assert.deepEqual(
      listed.map((x) => [x.writer, x.deploymentId, x.modelName, x.version, x.target, x.status, x.trafficPercent]),
      [[synced.writer, d.deploymentId, 'clf', version.version, 'staging', 'healthy', 100]],
      'the newest state of the deployment',
    );
    const reports = await listTeamMonitoringReports(ledgerB, { modelName: 'clf' });
    assert.deepEqual(
      reports.map((r) => [r.writer, r.kind, r.alert, r.summary, r.result]),
      [[synced.writer, 'performance', true, 'accuracy 0.91 < 0.95', result]],
    );
  });

  it("an A/B test's report is published with A's deployment: B reads the arms' rewards, lift and verdict A's mloop ab computes", async () => {
    const models = new ModelRepository(storeA);
    const champion = models.registerVersion({ name: 'clf', actor: ANN });
    const challenger = models.registerVersion({ name: 'clf', actor: ANN });
    const gateways = new GatewayRepository(storeA);
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    gateways.ensure('ab-web', 18_080, 1_000);
    gateways.setRoutes(
      'ab-web',
      'ab',
      [
        { modelName: 'clf', version: champion.version, upstreamPort: 18_081, weight: 50 },
        // the challenger's two replicas, started by mloop for the test: one whose process runs, one whose process is gone
        { modelName: 'clf', version: challenger.version, upstreamPort: 18_082, weight: 25, pid: process.pid, replica: 0 },
        { modelName: 'clf', version: challenger.version, upstreamPort: 18_083, weight: 25, pid: gone, replica: 1 },
      ],
      1_000,
    );
    // the rewards fed back through A's gateway: the champion's ~30 % successes, the challenger's ~55 %
    const rewards: [number[], number[]] = [[], []];
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const arm = i % 2;
      const reward = (i * 7919) % 100 < (arm === 0 ? 30 : 55) ? 1 : 0;
      rewards[arm]!.push(reward);
      const port = arm === 0 ? 18_081 : 18_082;
      const version = arm === 0 ? champion.version : challenger.version;
      lines.push(JSON.stringify({ ts: 2_000 + i, request_id: `r${i}`, model_name: 'clf', version, upstream_port: port, reward }));
    }
    lines.push(JSON.stringify({ ts: 2_500, request_id: 'nobody', unknown: true }));
    mkdirSync(join(root, 'a', '.mloop', 'gateway', 'ab-web'), { recursive: true });
    writeFileSync(feedbackLogPath(storeA, 'ab-web'), `${lines.join('\n')}\n`);
    new DeploymentRepository(storeA).create({
      modelVersionId: challenger.modelVersionId,
      target: 'ab-web',
      strategy: 'direct',
      trafficPercent: 50,
      status: 'healthy',
      now: 3_000,
    });
    const own = await publishedRollout(storeA, join(root, 'a'), 'ab-web');
    assert.ok(own.ab, 'the rollout A shows has the A/B report');
    await syncWithTeam(storeA, ledgerA, { actor: ANN, rollout: (target) => publishedRollout(storeA, join(root, 'a'), target) });
    const theirs = (await listTeamDeployments(ledgerB)).find((d) => d.target === 'ab-web');
    assert.ok(theirs?.rollout?.ab, `B reads A's A/B report with the deployment: ${JSON.stringify(theirs?.rollout && Object.keys(theirs.rollout))}`);
    const ab = theirs.rollout.ab;
    // the statistics, computed here from the rewards written: count, mean, sample standard deviation, lift
    const expected = rewards.map((xs) => sampleStats(xs));
    assert.deepEqual(
      ab.arms.map((a) => [a.role, a.version, a.split, a.n]),
      [
        ['champion', champion.version, 50, 200],
        ['challenger', challenger.version, 50, 200],
      ],
    );
    ab.arms.forEach((a, i) => {
      assert.ok(Math.abs(a.mean! - expected[i]!.mean) < 1e-12, `${a.role} mean ${a.mean} vs ${expected[i]!.mean}`);
      assert.ok(Math.abs(a.sd! - expected[i]!.sd) < 1e-12, `${a.role} sd ${a.sd} vs ${expected[i]!.sd}`);
    });
    assert.ok(Math.abs(ab.lift!.absolute - (expected[1]!.mean - expected[0]!.mean)) < 1e-12);
    assert.equal(ab.unknownFeedback, 1);
    assert.ok(expected[1]!.mean - expected[0]!.mean > 0.2, 'the challenger is clearly better in these rewards');
    // and the verdict, p-value and interval B sees are the ones A's panel and mloop ab show
    assert.deepEqual(ab, JSON.parse(JSON.stringify(own.ab)));
    // the processes behind A's gateway as A's Rollout panel lists them: arm, version, replica, port, weight and health
    // (judged in A when published: the process that runs is up, the one that is gone is down), without A's pids
    assert.deepEqual(
      theirs.rollout.replicas?.map((r) => [r.arm, r.version, r.replica, r.port, r.weight, r.health, r.detail, r.pid]),
      [
        ['champion', champion.version, null, 18_081, 50, 'unknown', null, null],
        ['challenger', challenger.version, 0, 18_082, 25, 'up', null, null],
        ['challenger', challenger.version, 1, 18_083, 25, 'down', `process ${gone} gone`, null],
      ],
    );
    const local = await rolloutView({ store: storeA, projectRoot: join(root, 'a'), config: { version: 1 } as DeployContext['config'] }, 'ab-web');
    assert.deepEqual(
      theirs.rollout.replicas,
      JSON.parse(JSON.stringify(local.replicas.map((r) => ({ ...r, pid: null })))),
      "every other column (in flight, requests, errors, p95) as A's panel shows it",
    );
    // the read-only page's message accepts it, and a rollout an older mloop published (no A/B report, no processes) too
    const message = { target: 'ab-web', writer: theirs.writer, publishedBy: theirs.publishedBy, server: server.uri, problem: null, deployments: [theirs] };
    assert.equal(teammateRolloutSchema.safeParse({ ...message, rollout: theirs.rollout }).success, true);
    const { ab: _ab, replicas: _replicas, ...older } = theirs.rollout;
    const parsed = teammateRolloutSchema.safeParse({ ...message, rollout: older });
    assert.equal(parsed.success, true, JSON.stringify(!parsed.success && parsed.error.issues));
  });

  it('mloop audit verify --backend mlflow in B verifies the team trail; an edited or deleted server record is named', async () => {
    const ok = mloop(join(root, 'b'), 'audit', 'verify', '--backend', 'mlflow', '--tracking-uri', server.uri, '--json');
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    const verdict = JSON.parse(ok.stdout) as { ok: boolean; writers: { writer: string }[] };
    assert.deepEqual([verdict.ok, verdict.writers.length], [true, 2]);

    // edit A's first entry on the server (a tag rewritten by hand)
    const experiment = (await backendA.experimentByName(GOVERNANCE_EXPERIMENT))!;
    const records = await backendA.searchAllRuns(experiment.experimentId, `tags.\`${KIND_TAG}\` = 'audit'`);
    const writerA = workspaceWriter(storeA)!;
    const first = records.find((r) => r.run.tags['mloop.record.writer'] === writerA && r.run.tags['mloop.record.part.00']?.includes('"audit_id":1,'))!;
    const original = first.run.tags['mloop.record.part.00']!;
    await backendA.logBatch(first.run.runId, { tags: { 'mloop.record.part.00': original.replace('"actor":"Ann', '"actor":"Eve') } });
    const edited = await verifyTeamTrail(ledgerB);
    assert.deepEqual([edited.ok, edited.problem?.writer, edited.problem?.auditId, edited.problem?.kind], [false, writerA, 1, 'edited']);
    const cli = mloop(join(root, 'b'), 'audit', 'verify', '--backend', 'mlflow', '--tracking-uri', server.uri);
    assert.equal(cli.code, 5, cli.stderr + cli.stdout);
    assert.match(cli.stdout, new RegExp(`writer ${writerA}.*entry #1`));
    await backendA.logBatch(first.run.runId, { tags: { 'mloop.record.part.00': original } });
    assert.equal((await verifyTeamTrail(ledgerB)).ok, true);

    // move A's second entry's run to MLflow's trash
    const second = records.find((r) => r.run.tags['mloop.record.writer'] === writerA && r.run.tags['mloop.record.part.00']?.includes('"audit_id":2,'))!;
    await fetch(`${server.uri}/api/2.0/mlflow/runs/delete`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ run_id: second.run.runId }),
    });
    const deleted = await verifyTeamTrail(ledgerB);
    assert.deepEqual([deleted.ok, deleted.problem?.writer, deleted.problem?.auditId, deleted.problem?.kind], [false, writerA, 2, 'deleted']);
  });

  it("a running rollout's live state: published on its own timer when it changes, the superseded snapshot trashed, nothing once it ended", async () => {
    const dir = join(root, 'c');
    mkdirSync(join(dir, '.mloop'), { recursive: true });
    writeFileSync(
      join(dir, 'mloop.yaml'),
      ['version: 1', 'targets:', '  prod:', '    command: [python, serve.py]', '    monitor: { serving_log: serving.jsonl }', ''].join('\n'),
    );
    const storeC = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    const log = join(dir, 'serving.jsonl');
    let written = 0;
    const traffic = (n: number): void => {
      const now = Date.now();
      const lines = Array.from({ length: n }, (_, i) =>
        JSON.stringify({ ts: now - n + i, version: (written + i) % 2 === 0 ? 1 : 2, latency_ms: 5, status: 200 }),
      );
      written += n;
      writeFileSync(log, `${lines.join('\n')}\n`, { flag: 'a' });
    };
    const published: number[] = [];
    let live: LiveRolloutPublisher | undefined;
    try {
      const models = new ModelRepository(storeC);
      const v1 = models.registerVersion({ name: 'live-clf', version: 1, actor: CAROL });
      const v2 = models.registerVersion({ name: 'live-clf', version: 2, actor: CAROL });
      const deployments = new DeploymentRepository(storeC);
      deployments.create({ modelVersionId: v1.modelVersionId, target: 'prod', strategy: 'direct', trafficPercent: 100, status: 'healthy' });
      const rolling = deployments.create({ modelVersionId: v2.modelVersionId, target: 'prod', strategy: 'canary', trafficPercent: 50, status: 'in_progress' });
      traffic(12);
      // its timer from now on: the canary runs, with 12 requests in its log
      live = new LiveRolloutPublisher({
        store: storeC,
        ledger: new TeamLedger(new MlflowBackend({ trackingUri: server.uri })),
        actor: async () => CAROL,
        rollout: (target) => publishedRollout(storeC, dir, target),
        intervalMs: 300,
        onPublished: (_target, r) => published.push(r.versions.reduce((a, v) => a + v.requests, 0)),
      });
      const requestsOnServer = async (): Promise<number | undefined> => {
        const writer = workspaceWriter(storeC);
        const r = writer ? await readLiveRollout(ledgerB, writer, 'prod') : undefined;
        return r?.rollout.versions.reduce((a, v) => a + v.requests, 0);
      };
      await pollUntil(async () => ((await requestsOnServer()) === 12 ? true : undefined), { what: '12 requests live on the server', timeoutMs: 60_000 });
      traffic(8);
      await pollUntil(async () => ((await requestsOnServer()) === 20 ? true : undefined), { what: '20 requests live on the server', timeoutMs: 60_000 });
      // the record is readable on the server a moment before the publisher's own write returns and reports it
      await pollUntil(async () => (published.includes(20) ? true : undefined), { what: 'the publisher to report its second record', timeoutMs: 30_000 });
      // several more ticks of its timer with nothing changed: none of them may publish again
      await new Promise((resolve) => setTimeout(resolve, 4 * 300));
      live.dispose(); // its timer stopped: the ticks below are this test's own
      // one record per change, however many ticks ran between them; the superseded one in MLflow's trash
      assert.deepEqual(published, [12, 20]);
      const writer = workspaceWriter(storeC)!;
      // (the trash move follows the write that superseded it)
      const records = await pollUntil(
        async () => {
          const read = await ledgerB.read('rollout.live', { key: `${writer}:prod` });
          return read.length === 2 && read[0]!.deleted ? read : undefined;
        },
        { what: 'the superseded snapshot in the trash', timeoutMs: 30_000 },
      );
      assert.deepEqual(
        records.map((r) => [r.deleted, r.intact]),
        [
          [true, true],
          [false, true],
        ],
      );
      const again = new LiveRolloutPublisher({
        store: storeC,
        ledger: new TeamLedger(new MlflowBackend({ trackingUri: server.uri })),
        actor: async () => CAROL,
        rollout: (target) => publishedRollout(storeC, dir, target),
        intervalMs: 0,
      });
      deployments.update(rolling.deploymentId, { status: 'healthy', trafficPercent: 100 });
      traffic(5);
      assert.deepEqual(await again.tick(), { outcome: 'idle' });
      assert.equal(await requestsOnServer(), 20, 'nothing live after the end');
    } finally {
      live?.dispose();
      storeC.close();
    }
  });
});
