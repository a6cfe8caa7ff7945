import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { decideRequest } from '../../src/core/governance/approvalDecision';
import { ApprovalError, requestApproval } from '../../src/core/governance/approvals';
import { verifyChain } from '../../src/core/governance/auditChain';
import { ExperimentRepository } from '../../src/core/store/experiments';
import { ModelRepository } from '../../src/core/store/models';
import { RunRepository } from '../../src/core/store/runs';
import { openStore } from '../../src/core/store/store';
import { CLI, tempDir } from './fixtures';

type Who = 'ann' | 'bo' | 'cy' | 'dee';
const PEOPLE: Record<Who, [string, string]> = {
  ann: ['Ann Lee', 'ann@example.com'],
  bo: ['Bo Ström', 'bo@example.com'],
  cy: ['Cy Park', 'cy@example.com'],
  dee: ['Dee Roy', 'dee@example.com'],
};

/** The real git identity mechanism: config injected through git's own environment variables, nothing of the user's. */
function envAs(who: Who): NodeJS.ProcessEnv {
  const [name, email] = PEOPLE[who];
  return {
    ...process.env,
    MLOOP_STORE: '',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'user.name',
    GIT_CONFIG_VALUE_0: name,
    GIT_CONFIG_KEY_1: 'user.email',
    GIT_CONFIG_VALUE_1: email,
  };
}

const identity = (who: Who): string => `${PEOPLE[who][0]} <${PEOPLE[who][1]}>`;

describe('governance: approvals of promotions, two identities against one store file (issue 21)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let storePath: string;

  const as = (who: Who, ...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: envAs(who) });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const champion = (): number | undefined => {
    const store = openStore({ path: storePath, readonly: true });
    try {
      const models = new ModelRepository(store);
      return models.versionByAlias(models.byName('clf')!.modelId, 'champion')?.version;
    } finally {
      store.close();
    }
  };

  before(() => {
    ({ dir, cleanup } = tempDir('mloop-approvals-'));
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'models:',
        '  clf:',
        '    gate: ["accuracy >= 0.8"]',
        '    approvals: { required: 1, reviewers: [bo@example.com, "Cy Park"], expires_after: 7d }',
        '',
      ].join('\n'),
    );
    storePath = join(dir, '.mloop', 'mloop.db');
    const store = openStore({ path: storePath });
    const models = new ModelRepository(store);
    for (const accuracy of [0.9, 0.85, 0.95, 0.6])
      models.registerVersion({ name: 'clf', metrics: { accuracy }, gate: { passed: accuracy >= 0.8, result: null }, actor: identity('ann') });
    store.close();
  });
  after(() => cleanup());

  it('promoting to champion creates a request (exit 6) instead of moving the alias', () => {
    const r = as('ann', 'models', 'promote', 'clf', '1', '--reason', 'best so far');
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stdout, /promoting clf v1 to @champion needs 1 approval from bo@example\.com, Cy Park: request #1 created/);
    assert.equal(champion(), undefined);
    const listed = JSON.parse(as('bo', 'requests', '--json').stdout) as { requestId: number; status: string; requestedBy: string }[];
    assert.deepEqual(
      listed.map((x) => [x.requestId, x.status, x.requestedBy]),
      [[1, 'pending', identity('ann')]],
    );
  });

  it('refuses self-approval, a non-reviewer and a decision without a comment; nothing changes', () => {
    const self = as('ann', 'approve', '1', '--comment', 'lgtm');
    assert.equal(self.code, 1);
    assert.match(self.stderr, /Ann Lee <ann@example\.com> requested request #1 .* self-approval is refused/);
    const outsider = as('dee', 'approve', '1', '--comment', 'lgtm');
    assert.equal(outsider.code, 1);
    assert.match(outsider.stderr, /Dee Roy <dee@example\.com> is not a reviewer of request #1 .*: reviewers are bo@example\.com, Cy Park/);
    assert.equal(as('bo', 'approve', '1').code, 2);
    assert.equal(champion(), undefined);
  });

  it('a reviewer approves with a comment: the alias moves in the same transaction, audited, and the chain verifies', () => {
    const r = as('bo', 'approve', '1', '--comment', 'metrics checked on the holdout');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /request #1 approved \(1\/1\): done — promoting clf v1 to @champion/);
    assert.equal(champion(), 1);
    const store = openStore({ path: storePath, readonly: true });
    const rows = store.db.prepare('SELECT actor, action, entity_id, reason FROM audit ORDER BY audit_id DESC LIMIT 4').all();
    assert.equal(verifyChain(store.db).ok, true);
    store.close();
    assert.deepEqual(rows, [
      { actor: identity('ann'), action: 'promote', entity_id: 'clf@champion', reason: `best so far · request #1 approved by ${identity('bo')}` },
      // the gate, re-evaluated with mloop.yaml's rules at the moment of the change
      { actor: identity('ann'), action: 'gate', entity_id: 'clf/1', reason: null },
      { actor: identity('bo'), action: 'approval.approve', entity_id: '1', reason: 'metrics checked on the holdout' },
      { actor: identity('ann'), action: 'approval.request', entity_id: '1', reason: null },
    ]);
    const again = as('cy', 'approve', '1', '--comment', 'me too');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /request #1 .* was already approved by Bo Ström <bo@example\.com>/);
  });

  it('two reviewers approving at once: one decision, the other is told it was already approved', async () => {
    assert.equal(as('ann', 'models', 'promote', 'clf', '2').code, 6);
    const approve = (who: Who): Promise<{ code: number | null; stderr: string }> =>
      new Promise((done) => {
        const child = spawn(process.execPath, [CLI, 'approve', '2', '--comment', `${who} approves`], { cwd: dir, env: envAs(who) });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => done({ code, stderr }));
      });
    const results = await Promise.all([approve('bo'), approve('cy')]);
    assert.deepEqual(results.map((x) => x.code).sort(), [0, 1], JSON.stringify(results));
    assert.match(results.find((x) => x.code === 1)!.stderr, /already approved by/);
    assert.equal(champion(), 2);
    const request = (JSON.parse(as('dee', 'requests', '--json').stdout) as { requestId: number; decisions: unknown[] }[]).find((x) => x.requestId === 2)!;
    assert.equal(request.decisions.length, 1);
  });

  it('two reviewers whose checks both passed before either wrote: the transaction lets one decide, refuses the other', async () => {
    // two connections to the file, both reading the pending request before either writes: the interleaving a race produces
    const first = openStore({ path: storePath });
    const second = openStore({ path: storePath });
    try {
      const request = requestApproval(first, {
        kind: 'promote',
        modelName: 'clf',
        version: 1,
        subject: 'champion',
        action: {},
        policy: { required: 1, reviewers: [], expiresAfterMs: 86_400_000 },
        requester: identity('ann'),
      });
      const results = await Promise.allSettled([
        decideRequest({ store: first, artifactRoot: dir, actor: identity('bo') }, { requestId: request.requestId, decision: 'approve', comment: 'yes' }),
        decideRequest({ store: second, artifactRoot: dir, actor: identity('cy') }, { requestId: request.requestId, decision: 'reject', comment: 'no' }),
      ]);
      // whichever committed first decided; the other was refused inside its transaction
      assert.deepEqual(results.map((x) => x.status).sort(), ['fulfilled', 'rejected']);
      const winner = results.findIndex((x) => x.status === 'fulfilled');
      const loser = results[1 - winner] as PromiseRejectedResult;
      assert.match(String(loser.reason), /was already (approved by Bo Ström|rejected by Cy Park)/);
      const decisions = first.db.prepare('SELECT reviewer FROM approval_decision WHERE approval_request_id = ?').pluck().all(request.requestId);
      assert.deepEqual(decisions, [identity(winner === 0 ? 'bo' : 'cy')]);
      assert.equal(champion(), winner === 0 ? 1 : 2);
    } finally {
      first.close();
      second.close();
    }
    // put v2 back as champion for the tests below
    assert.equal(as('ann', 'models', 'promote', 'clf', '2').code, 6);
    const last = (JSON.parse(as('bo', 'requests', '--json').stdout) as { requestId: number }[])[0]!.requestId;
    assert.equal(as('bo', 'approve', String(last), '--comment', 'restore').code, 0);
  });

  it('a rejection closes the request with its comment; later approvals are refused', () => {
    const requested = as('ann', 'models', 'promote', 'clf', '3');
    assert.equal(requested.code, 6);
    const id = /request #(\d+) created/.exec(requested.stdout)![1]!;
    const r = as('cy', 'reject', id, '--comment', 'not on a Friday');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(as('bo', 'approve', id, '--comment', 'ok').code, 1);
    assert.equal(champion(), 2);
    assert.match(as('bo', 'requests', '--status', 'rejected').stdout, new RegExp(`${id} +rejected +promoting clf v3 to @champion`));
  });

  it('an expired request cannot be approved, and is listed as expired', async () => {
    const store = openStore({ path: storePath });
    const eightDaysAgo = Date.now() - 8 * 86_400_000;
    const request = requestApproval(store, {
      kind: 'promote',
      modelName: 'clf',
      version: 3,
      subject: 'champion',
      action: {},
      policy: { required: 1, reviewers: [], expiresAfterMs: 7 * 86_400_000 },
      requester: identity('ann'),
      now: eightDaysAgo,
    });
    await assert.rejects(
      decideRequest({ store, artifactRoot: dir, actor: identity('bo') }, { requestId: request.requestId, decision: 'approve', comment: 'late' }),
      (e: unknown) => e instanceof ApprovalError && /expired on .*: ask for a new one/.test(e.message),
    );
    store.close();
    const refused = as('bo', 'approve', String(request.requestId), '--comment', 'late');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /expired/);
    const expired = JSON.parse(as('bo', 'requests', '--status', 'expired', '--json').stdout) as { requestId: number }[];
    assert.deepEqual(
      expired.map((x) => x.requestId),
      [request.requestId],
    );
  });

  it('a version that fails its gate is refused before any request is made', () => {
    const r = as('ann', 'models', 'promote', 'clf', '4');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /clf v4 failed its gate/);
  });

  it('mloop.yaml: a bad approvals policy is an error at its line and column', () => {
    const { problems } = loadConfig(
      'version: 1\nmodels:\n  clf:\n    approvals: { required: 0, expires_after: soon }\ntargets:\n  prod:\n    command: [serve]\n    protected: yes\n',
      'mloop.yaml',
    );
    const described = problems.map((p) => `${p.line}:${p.column} ${p.message}`);
    assert.ok(
      described.some((d) => /^4:\d+ .*(>=1|at least 1|too small)/i.test(d)),
      described.join('\n'),
    );
    assert.ok(
      described.some((d) => /^4:\d+ models\.clf\.approvals\.expires_after: expires_after is a duration such as 30m, 12h, 7d or 2w/.test(d)),
      described.join('\n'),
    );
    assert.ok(
      described.some((d) => /^8:\d+ targets\.prod\.protected: /.test(d)),
      described.join('\n'),
    );
  });

  it('a protected target: deploy creates a request (exit 6); once approved, the requester deploys with it, once', () => {
    const deployed = join(dir, 'deployed.txt');
    writeFileSync(join(dir, 'deploy.js'), `require('node:fs').appendFileSync(${JSON.stringify(deployed)}, process.argv[2] + '\\n');`);
    writeFileSync(
      join(dir, 'mloop.yaml'),
      [
        'version: 1',
        'models:',
        '  clf:',
        '    approvals: { reviewers: [bo@example.com] }',
        'targets:',
        '  prod:',
        `    command: [${JSON.stringify(process.execPath)}, deploy.js, "\${model.version}"]`,
        '    serve: false',
        '    protected: true',
        '  dev:',
        `    command: [${JSON.stringify(process.execPath)}, deploy.js, "dev \${model.version}"]`,
        '    serve: false',
        '',
      ].join('\n'),
    );
    // two versions with artifacts, as a run stores them
    const store0 = openStore({ path: storePath });
    const runs = new RunRepository(store0);
    const experimentId = new ExperimentRepository(store0).ensure('deploy').experimentId;
    const registered: { modelId: number; version: number }[] = [];
    for (const text of ['weights five', 'weights six']) {
      const run = runs.create({ experimentId, status: 'RUNNING' });
      runs.finish(run.runId, { status: 'FINISHED' });
      const folder = join(dir, '.mloop', 'artifacts', String(experimentId), run.runId, 'artifacts');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'model.pkl'), text);
      const v = new ModelRepository(store0).registerVersion({
        name: 'clf',
        sourceRunId: run.runId,
        artifactPath: `runs:/${run.runId}/model.pkl`,
        artifactDigest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
        actor: identity('ann'),
      });
      registered.push(v);
    }
    // a protected target takes only the champion (issue 18); v5 holds it, set here as an earlier approved promotion would
    new ModelRepository(store0).setAlias({ modelId: registered[0]!.modelId, alias: 'champion', version: registered[0]!.version, actor: identity('bo') });
    store0.close();
    assert.equal(registered[0]!.version, 5);
    const dev = as('ann', 'deploy', 'clf/5', '--target', 'dev');
    assert.equal(dev.code, 0, `an unprotected target deploys at once: ${dev.stderr}`);
    const asked = as('ann', 'deploy', 'clf/5', '--target', 'prod', '--reason', 'weekly release');
    assert.equal(asked.code, 6, asked.stderr);
    const id = /request #(\d+) created/.exec(asked.stdout)![1]!;
    assert.match(asked.stdout, new RegExp(`once approved: mloop deploy clf/5 --target prod --request ${id}`));
    assert.equal(readFileSync(deployed, 'utf8'), 'dev 5\n', 'nothing ran on prod');
    const early = as('ann', 'deploy', 'clf/5', '--target', 'prod', '--request', id);
    assert.equal(early.code, 1);
    assert.match(early.stderr, new RegExp(`request #${id} \\(deploying clf v5 to prod\\) is pending, not approved`));
    assert.equal(as('cy', 'approve', id, '--comment', 'ok').code, 1, 'the model policy names only Bo');
    const approved = as('bo', 'approve', id, '--comment', 'release notes read');
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`deploy it with: mloop deploy clf/5 --target prod --request ${id}`));
    const wrong = as('ann', 'deploy', 'clf/6', '--target', 'prod', '--request', id);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /is for deploying clf v5 to prod, not deploying clf v6 to prod|takes only clf@champion \(v5\), not clf v6/);
    const done = as('ann', 'deploy', 'clf/5', '--target', 'prod', '--request', id);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(readFileSync(deployed, 'utf8'), 'dev 5\n5\n');
    const twice = as('ann', 'deploy', 'clf/5', '--target', 'prod', '--request', id);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /was used by a deployment on .*: ask for a new approval/);
    const store = openStore({ path: storePath, readonly: true });
    const actions = store.db
      .prepare("SELECT action FROM audit WHERE action LIKE 'approval.%' OR action = 'deploy' ORDER BY audit_id DESC LIMIT 3")
      .pluck()
      .all();
    assert.equal(verifyChain(store.db).ok, true);
    store.close();
    assert.deepEqual(actions, ['deploy', 'approval.execute', 'approval.approve']);
  });
});
