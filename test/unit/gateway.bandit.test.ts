import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { httpExchange } from '../../src/core/deploy/health';
import { startGatewayServer } from '../../src/core/gateway/server';
import { tempDir } from './fixtures';
import { betaSample, probabilityBest, thompsonAllocation } from '../../src/core/gateway/bandit';
import { seededRandom } from '../../src/core/sampling/seededRandom';
import { pythonJsonSync } from '../support/python';

/**
 * Expected regret (sum over requests of best rate − the served arm's rate) of an allocation policy re-planned every
 * `batch` requests from the rewards seen so far, averaged over `runs` simulated experiments.
 */
function regret(policy: 'thompson' | 'split', rates: readonly number[], options: { horizon: number; batch: number; runs: number; seed: number }): number {
  const random = seededRandom(options.seed);
  const best = Math.max(...rates);
  let total = 0;
  for (let run = 0; run < options.runs; run++) {
    const arms = rates.map(() => ({ successes: 0, failures: 0 }));
    let shares = rates.map(() => 1 / rates.length);
    for (let t = 0; t < options.horizon; t++) {
      if (policy === 'thompson' && t % options.batch === 0 && t > 0) shares = thompsonAllocation(arms, { floor: 0.05, random, draws: 500 });
      let u = random();
      let k = 0;
      while (k < shares.length - 1 && u >= shares[k]!) u -= shares[k++]!;
      total += best - rates[k]!;
      if (random() < rates[k]!) arms[k]!.successes++;
      else arms[k]!.failures++;
    }
  }
  return total / options.runs;
}

describe('bandit: Thompson sampling (Beta–Bernoulli) with a floor per arm', function () {
  this.timeout(60_000);

  const random = seededRandom(3);
  const draws = Array.from({ length: 4000 }, () => betaSample(3, 7, random));
  const small = Array.from({ length: 4000 }, () => betaSample(0.5, 0.8, random));
  const posterior = [
    { successes: 12, failures: 88 },
    { successes: 18, failures: 82 },
  ];
  const estimate = probabilityBest(posterior, seededRandom(5), 20_000);
  let peer: { ks: number; ksSmall: number; pBest: number };

  before(() => {
    peer = pythonJsonSync({
      args: [
        '-c',
        `
import json, sys
from scipy import integrate, stats
t = json.load(sys.stdin)
a1, b1, a2, b2 = 13, 89, 19, 83
# P(arm 2 beats arm 1) = integral of pdf_2(x) * cdf_1(x)
p2 = integrate.quad(lambda x: stats.beta.pdf(x, a2, b2) * stats.beta.cdf(x, a1, b1), 0, 1, limit=200)[0]
print(json.dumps({"ks": stats.kstest(t["draws"], stats.beta(3, 7).cdf).pvalue, "ksSmall": stats.kstest(t["small"], stats.beta(0.5, 0.8).cdf).pvalue, "pBest": p2}))
`,
      ],
      input: JSON.stringify({ draws, small }),
    });
  });

  it('Beta draws follow the Beta distribution (Kolmogorov–Smirnov against scipy, shapes above and below 1)', () => {
    assert.ok(peer.ks > 0.001, `Beta(3, 7): KS p = ${peer.ks}`);
    assert.ok(peer.ksSmall > 0.001, `Beta(0.5, 0.8): KS p = ${peer.ksSmall}`);
  });

  it('the probability of being best matches scipy integration within 4 standard errors', () => {
    const se = Math.sqrt((peer.pBest * (1 - peer.pBest)) / 20_000);
    assert.ok(Math.abs(estimate[1]! - peer.pBest) < 4 * se, `${estimate[1]} vs scipy ${peer.pBest}`);
    assert.ok(Math.abs(estimate[0]! + estimate[1]! - 1) < 1e-12);
  });

  it('every arm keeps its floor, the shares sum to 1, a clearly worse arm gets only the floor', () => {
    const shares = thompsonAllocation(
      [
        { successes: 10, failures: 990 },
        { successes: 300, failures: 700 },
        { successes: 290, failures: 710 },
      ],
      { floor: 0.05, random: seededRandom(9) },
    );
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(shares.every((s) => s >= 0.05));
    assert.ok(Math.abs(shares[0]! - 0.05) < 1e-12);
    assert.throws(() => thompsonAllocation(posterior, { floor: 0.6, random }), /does not fit 2 arms/);
  });

  it('regret against a fixed 50/50 split in simulation: Thompson loses far less on a 10% vs 14% pair', () => {
    const options = { horizon: 5000, batch: 100, runs: 40, seed: 17 };
    const thompson = regret('thompson', [0.1, 0.14], options);
    const split = regret('split', [0.1, 0.14], options);
    console.log(
      `      regret over 5,000 requests (10% vs 14%, re-planned every 100, floor 5%): Thompson ${thompson.toFixed(1)}, 50/50 ${split.toFixed(1)} (${((100 * thompson) / split).toFixed(0)}%)`,
    );
    assert.ok(Math.abs(split - 100) < 15, `50/50 regret is about 5000 × 0.5 × 0.04 = 100 (got ${split})`);
    assert.ok(thompson < 0.6 * split, `Thompson ${thompson} vs 50/50 ${split}`);
  });

  it('the gateway moves the split toward the version with more reward as feedback arrives, each arm keeping its floor', async () => {
    const upstreams = await Promise.all(
      [1, 2].map(
        (version) =>
          new Promise<Server>((done) => {
            const server = createServer((req, res) => {
              req.resume();
              req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version })));
            });
            server.listen(0, '127.0.0.1', () => done(server));
          }),
      ),
    );
    const portOf = (s: Server): number => (s.address() as { port: number }).port;
    const { dir, cleanup } = tempDir('mloop-bandit-');
    const gateway = await startGatewayServer({
      target: 'b',
      port: 0,
      token: 'x'.repeat(64),
      table: {
        strategy: 'bandit',
        routes: upstreams.map((s, i) => ({ model_name: 'm', version: i + 1, upstream_port: portOf(s), weight: 50 })),
      },
      servingLogPath: join(dir, 'serving.jsonl'),
      feedbackLogPath: join(dir, 'feedback.jsonl'),
    });
    try {
      const late = new Map<number, number>();
      const outcome = seededRandom(31);
      for (let i = 0; i < 300; i++) {
        const r = await httpExchange(`http://127.0.0.1:${gateway.port}/predict`, { method: 'POST', body: '{}', headers: { 'x-request-id': `r${i}` } });
        const version = (JSON.parse(r.body) as { version: number }).version;
        if (i >= 200) late.set(version, (late.get(version) ?? 0) + 1);
        // version 2 converts 60 % of the time, version 1 20 %
        const reward = outcome() < (version === 2 ? 0.6 : 0.2) ? 1 : 0;
        assert.equal(
          (await httpExchange(`http://127.0.0.1:${gateway.port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: `r${i}`, reward }) })).status,
          200,
        );
      }
      const weights = gateway.status().table.routes.map((r) => r.weight);
      assert.ok(weights[1]! > 80 && weights[0]! >= 5 - 1e-9, `weights after 300 rewards: ${weights}`);
      assert.ok((late.get(2) ?? 0) > 70, `the last 100 requests went mostly to version 2: ${[...late]}`);
    } finally {
      await gateway.close();
      for (const s of upstreams) s.close();
      cleanup();
    }
  });

  it('on replicas the bandit learns per arm: the better arm gets the traffic, its share spread evenly over its replicas, the other arm keeping its floor', async () => {
    // two arms of two replicas each; an answer names its version and replica
    const upstreams = await Promise.all(
      [
        [1, 0],
        [1, 1],
        [2, 0],
        [2, 1],
      ].map(
        ([version, replica]) =>
          new Promise<Server>((done) => {
            const server = createServer((req, res) => {
              req.resume();
              req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version, replica })));
            });
            server.listen(0, '127.0.0.1', () => done(server));
          }),
      ),
    );
    const portOf = (s: Server): number => (s.address() as { port: number }).port;
    const { dir, cleanup } = tempDir('mloop-bandit-replicas-');
    const gateway = await startGatewayServer({
      target: 'b',
      port: 0,
      token: 'x'.repeat(64),
      table: {
        strategy: 'bandit',
        routes: upstreams.map((s, i) => ({
          model_name: 'm',
          version: i < 2 ? 1 : 2,
          upstream_port: portOf(s),
          weight: 25,
          replica: i % 2,
          arm: i < 2 ? 0 : 1,
        })),
      },
      servingLogPath: join(dir, 'serving.jsonl'),
      feedbackLogPath: join(dir, 'feedback.jsonl'),
    });
    try {
      const late = new Map<string, number>();
      const outcome = seededRandom(32);
      for (let i = 0; i < 300; i++) {
        const r = await httpExchange(`http://127.0.0.1:${gateway.port}/predict`, { method: 'POST', body: '{}', headers: { 'x-request-id': `q${i}` } });
        const { version, replica } = JSON.parse(r.body) as { version: number; replica: number };
        if (i >= 200) late.set(`${version}/${replica}`, (late.get(`${version}/${replica}`) ?? 0) + 1);
        const reward = outcome() < (version === 2 ? 0.6 : 0.2) ? 1 : 0;
        assert.equal(
          (await httpExchange(`http://127.0.0.1:${gateway.port}/feedback`, { method: 'POST', body: JSON.stringify({ request_id: `q${i}`, reward }) })).status,
          200,
        );
      }
      const weights = gateway.status().table.routes.map((r) => r.weight);
      // the replicas of an arm share its weight equally; the arms' weights sum to 100
      assert.equal(weights[0], weights[1]);
      assert.equal(weights[2], weights[3]);
      assert.ok(Math.abs(weights.reduce((a, b) => a + b, 0) - 100) < 0.05, `weights ${weights}`);
      assert.ok(weights[2]! + weights[3]! > 80 && weights[0]! + weights[1]! >= 5 - 0.02, `weights after 300 rewards: ${weights}`);
      const v2 = (late.get('2/0') ?? 0) + (late.get('2/1') ?? 0);
      assert.ok(v2 > 70, `the last 100 requests went mostly to version 2: ${[...late]}`);
      assert.ok((late.get('2/0') ?? 0) > 0.3 * v2 && (late.get('2/1') ?? 0) > 0.3 * v2, `both replicas of version 2 answered: ${[...late]}`);
    } finally {
      await gateway.close();
      for (const s of upstreams) s.close();
      cleanup();
    }
  });
});
