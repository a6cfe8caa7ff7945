import assert from 'node:assert/strict';
import { rollingPlan } from '../../src/core/deploy/rolling';
import { createHash } from 'node:crypto';
import { armsOf, pickUpstream, type WireRoute } from '../../src/core/gateway/routing';
import { seededRandom } from '../../src/core/sampling/seededRandom';

const replica = (version: number, port: number, weight: number, slot?: number): WireRoute => ({
  model_name: 'clf',
  version,
  upstream_port: port,
  weight,
  ...(slot !== undefined ? { replica: slot } : {}),
});

describe('gateway balancing across replicas', () => {
  it('groups the replicas of a version into one arm; a route without a replica number (an A/A arm) stays its own', () => {
    const arms = armsOf([replica(1, 1001, 20, 0), replica(1, 1002, 20, 1), replica(1, 1003, 60), replica(2, 1004, 0, 0)]);
    assert.deepEqual(
      arms.map((a) => [a.weight, a.members.map((m) => m.upstream_port)]),
      [
        [40, [1001, 1002]],
        [60, [1003]],
      ],
    );
  });

  it('least outstanding: the replica with the fewest requests in flight answers; ties take turns', () => {
    const routes = [replica(1, 1, 33, 0), replica(1, 2, 33, 1), replica(1, 3, 34, 2)];
    const busy = new Map([
      [1, 3],
      [2, 0],
      [3, 1],
    ]);
    for (let turn = 0; turn < 6; turn++) assert.equal(pickUpstream(routes, { inflight: (p) => busy.get(p)!, turn })?.upstream_port, 2);
    const counts = new Map<number, number>();
    for (let turn = 0; turn < 300; turn++) {
      const port = pickUpstream(routes, { inflight: () => 0, turn })!.upstream_port;
      counts.set(port, (counts.get(port) ?? 0) + 1);
    }
    assert.deepEqual([...counts.values()], [100, 100, 100]);
  });

  it("keeps each version's share of the split whatever the number of replicas (checked against the binomial)", () => {
    // v1 on 3 replicas (2/3 of the traffic), v2 on 1 replica (1/3)
    const routes = [replica(1, 1, 200 / 9, 0), replica(1, 2, 200 / 9, 1), replica(1, 3, 200 / 9, 2), replica(2, 4, 100 / 3, 0)];
    const random = seededRandom(7);
    const n = 30_000;
    let v2 = 0;
    const inflight = new Map<number, number>();
    for (let turn = 0; turn < n; turn++) {
      const pick = pickUpstream(routes, { inflight: (p) => inflight.get(p) ?? 0, turn, random })!;
      if (pick.version === 2) v2++;
      inflight.set(pick.upstream_port, (inflight.get(pick.upstream_port) ?? 0) + 1);
      if (turn % 7 === 0) inflight.clear();
    }
    const p = 1 / 3;
    const sd = Math.sqrt((n * p * (1 - p)) as number);
    assert.ok(Math.abs(v2 - n * p) < 4 * sd, `v2 answered ${v2} of ${n} (expected ${n * p} ± ${4 * sd})`);
  });

  it('a request key keeps its version (sticky A/B) whatever the replicas are doing', () => {
    const routes = [replica(1, 1, 25, 0), replica(1, 2, 25, 1), replica(2, 3, 25, 0), replica(2, 4, 25, 1)];
    for (let k = 0; k < 50; k++) {
      const first = pickUpstream(routes, { key: `user-${k}`, inflight: () => 0, turn: 0 })!.version;
      for (let turn = 1; turn < 5; turn++) assert.equal(pickUpstream(routes, { key: `user-${k}`, inflight: (p) => p * turn, turn })!.version, first);
    }
  });

  it('A/B arms on replicas: the same assignment as one process per arm (each key, and the split), the replicas of an arm balanced', () => {
    // champion on 2 replicas (70 %), challenger on 3 (30 %); as one process each: [70, 30]
    const arm = (version: number, port: number, weight: number, slot: number, which: number): WireRoute => ({
      ...replica(version, port, weight, slot),
      arm: which,
    });
    const routes = [arm(1, 1, 35, 0, 0), arm(1, 2, 35, 1, 0), arm(2, 3, 10, 0, 1), arm(2, 4, 10, 1, 1), arm(2, 5, 10, 2, 1)];
    const counts = new Map<number, number>();
    for (let k = 0; k < 3000; k++) {
      const key = `user-${k}`;
      // where the key falls, from its SHA-256 here: below 0.7 the champion's arm
      const position = Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 12), 16) / 2 ** 48;
      const pick = pickUpstream(routes, { key, inflight: () => 0, turn: k })!;
      assert.equal(pick.version, position < 0.7 ? 1 : 2, `${key} at ${position}`);
      counts.set(pick.upstream_port, (counts.get(pick.upstream_port) ?? 0) + 1);
    }
    const v1 = (counts.get(1) ?? 0) + (counts.get(2) ?? 0);
    const v2 = (counts.get(3) ?? 0) + (counts.get(4) ?? 0) + (counts.get(5) ?? 0);
    // idle replicas take turns: within an arm the counts differ by the round-robin's rounding only
    for (const [ports, total] of [
      [[1, 2], v1],
      [[3, 4, 5], v2],
    ] as const)
      for (const p of ports) assert.ok(Math.abs(counts.get(p)! - total / ports.length) < 0.1 * total, `replica port ${p}: ${counts.get(p)} of ${total}`);
  });

  it('an A/A test keeps two arms of one version (by arm, not by version)', () => {
    const routes = [
      { ...replica(1, 1, 25, 0), arm: 0 },
      { ...replica(1, 2, 25, 1), arm: 0 },
      { ...replica(1, 3, 25, 0), arm: 1 },
      { ...replica(1, 4, 25, 1), arm: 1 },
    ];
    assert.deepEqual(
      armsOf(routes).map((a) => [a.weight, a.members.map((m) => m.upstream_port)]),
      [
        [50, [1, 2]],
        [50, [3, 4]],
      ],
    );
  });

  it('an ejected replica leaves its arm its weight (keys keep their arm); an arm with every replica ejected gives its traffic to the other', () => {
    const routes = [
      { ...replica(1, 1, 25, 0), arm: 0 },
      { ...replica(1, 2, 25, 1), arm: 0 },
      { ...replica(2, 3, 25, 0), arm: 1 },
      { ...replica(2, 4, 25, 1), arm: 1 },
    ];
    for (let k = 0; k < 200; k++) {
      const key = `user-${k}`;
      const before = pickUpstream(routes, { key, inflight: () => 0, turn: 0 })!;
      const after = pickUpstream(routes, { key, inflight: () => 0, turn: 0, ejected: (p) => p === 1 || p === 3 })!;
      assert.equal(after.version, before.version, `${key} keeps its arm while one replica of each arm is out`);
      assert.ok(after.upstream_port === 2 || after.upstream_port === 4, 'the ejected replicas are passed over');
      const down = pickUpstream(routes, { key, inflight: () => 0, turn: k, ejected: (p) => p >= 3 })!;
      assert.equal(down.version, 1, 'the challenger is down: the champion answers');
    }
    // every replica ejected: tried anyway (better a retry than a 503)
    assert.ok(pickUpstream(routes, { inflight: () => 0, turn: 0, ejected: () => true }));
  });

  it('nothing to pick when no route takes traffic', () => {
    assert.equal(pickUpstream([replica(1, 1, 0, 0)], { inflight: () => 0, turn: 0 }), undefined);
  });
});

describe('rolling plan', () => {
  it('3 replicas, one at a time: start one new, retire one old, three times', () => {
    assert.deepEqual(rollingPlan({ replicas: 3, old: 3, maxUnavailable: 1 }), [
      { start: [0], retire: [0] },
      { start: [1], retire: [1] },
      { start: [2], retire: [2] },
    ]);
    assert.deepEqual(rollingPlan({ replicas: 3, old: 3, maxUnavailable: 2 }), [
      { start: [0, 1], retire: [0, 1] },
      { start: [2], retire: [2] },
    ]);
  });

  it('for every size: each new replica starts once, each old one retires once, max_unavailable per step, capacity kept', () => {
    for (let replicas = 1; replicas <= 6; replicas++)
      for (let old = 0; old <= 6; old++)
        for (let maxUnavailable = 1; maxUnavailable <= replicas; maxUnavailable++) {
          const plan = rollingPlan({ replicas, old, maxUnavailable });
          const what = JSON.stringify({ replicas, old, maxUnavailable, plan });
          assert.deepEqual(
            plan.flatMap((s) => s.start),
            Array.from({ length: replicas }, (_, i) => i),
            what,
          );
          assert.deepEqual(
            plan.flatMap((s) => s.retire),
            Array.from({ length: old }, (_, i) => i),
            what,
          );
          let routed = old;
          for (const step of plan) {
            assert.ok(step.start.length <= maxUnavailable && step.retire.length <= maxUnavailable, what);
            assert.ok(step.start.length + step.retire.length > 0, what);
            routed += step.start.length - step.retire.length;
            assert.ok(routed >= Math.min(old, replicas), `capacity fell to ${routed}: ${what}`);
          }
          assert.equal(routed, replicas, what);
        }
  });
});
