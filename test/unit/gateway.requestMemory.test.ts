import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WireRoute } from '../../src/core/gateway/routing';
import { batchedLog, RequestMemory } from '../../src/core/gateway/server';
import { tempDir } from './fixtures';

const route = (version: number, port: number, extra: Partial<WireRoute> = {}): WireRoute => ({
  model_name: 'clf',
  version,
  upstream_port: port,
  weight: 50,
  ...extra,
});

// the gateway's per-request bookkeeping made cheap (BENCHMARKS.md, "Traffic gateway vs nginx"): what feedback and
// monitoring read of it must not change
describe('gateway request memory: the route of each of the latest requests, for feedback', () => {
  it('gives unique ids of the documented form and finds the route of each, including a client-given id', () => {
    const memory = new RequestMemory(1024);
    const ids = Array.from({ length: 300 }, () => memory.next());
    assert.equal(new Set(ids).size, 300);
    for (const id of ids) assert.match(id, /^[0-9a-f]{12}-[0-9a-z]+$/);
    const routes = [route(1, 4001), route(2, 4002), route(2, 4003, { replica: 1 }), route(1, 4004, { arm: 1 })];
    // an independent record of who answered what, to compare with
    const expected = new Map<string, WireRoute>();
    ids.forEach((id, i) => {
      if (i % 7 === 3) return; // a request that failed: never remembered
      const r = routes[i % routes.length]!;
      memory.remember(id, r);
      expected.set(id, r);
    });
    for (const id of ids) {
      const got = memory.get(id);
      const want = expected.get(id);
      assert.deepEqual(
        got && [got.model_name, got.version, got.upstream_port, got.replica, got.arm],
        want && [want.model_name, want.version, want.upstream_port, want.replica, want.arm],
        id,
      );
    }
    memory.remember('client-chosen:42', routes[1]!);
    assert.equal(memory.get('client-chosen:42')?.upstream_port, 4002);
    assert.equal(memory.get('never-seen'), undefined);
    // an id of this form from another process (another prefix) or not issued yet is unknown here
    assert.equal(memory.get(`000000000000-${(5).toString(36)}`), undefined);
    assert.equal(memory.get(`${memory.prefix}zzzz`), undefined);
    // a route object of a new table (the bandit re-plans weights) is the same route for feedback
    memory.remember(ids[3]!, { ...routes[0]!, weight: 12.5 });
    assert.equal(memory.get(ids[3]!)?.upstream_port, 4001);
  });

  it('forgets a request once `size` newer ones were issued, and never answers with the route of an older request in the same slot', () => {
    const memory = new RequestMemory(4);
    const first = memory.next();
    memory.remember(first, route(1, 5001));
    for (let i = 0; i < 3; i++) memory.remember(memory.next(), route(2, 5002));
    assert.equal(memory.get(first)?.version, 1, 'still among the last 4');
    // the 5th id takes the first one's slot; it fails (not remembered): neither id finds a route
    const fifth = memory.next();
    assert.equal(memory.get(first), undefined, 'out of the window');
    assert.equal(memory.get(fifth), undefined, 'a failed request has no route, not the route of the request before it in its slot');
    memory.remember(fifth, route(3, 5003));
    assert.equal(memory.get(fifth)?.version, 3);
    // client-given ids are kept up to the same number
    for (let i = 0; i < 6; i++) memory.remember(`given-${i}`, route(4, 5004));
    assert.equal(memory.get('given-0'), undefined);
    assert.equal(memory.get('given-5')?.version, 4);
  });
});

describe('gateway serving log: written in batches of whole lines', () => {
  it('holds lines until maxBytes gathered, then writes them in one piece; flush() and close() write the rest; a timer writes a small batch', async () => {
    const { dir, cleanup } = tempDir('mloop-gw-batch-');
    try {
      const path = join(dir, 'logs', 'serving.jsonl');
      const log = batchedLog(path, { maxDelayMs: 60_000, maxBytes: 1000 });
      const line = (i: number): string => `${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`;
      const read = (): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');
      const count = (): number => read().split('\n').filter(Boolean).length;
      // the writes are asynchronous (in order): poll for what was handed over (at most 10 s)
      const landed = async (n: number, what: string): Promise<void> => {
        for (let k = 0; k < 400 && count() < n; k++) await new Promise((r) => setTimeout(r, 25));
        assert.equal(count(), n, what);
      };
      let bytes = 0;
      let i = 0;
      while (bytes + line(i).length < 1000) {
        bytes += line(i).length;
        log.write(line(i++));
      }
      assert.equal(read(), '', 'nothing written below maxBytes (and the timer is a minute away)');
      log.write(line(i++));
      await landed(i, 'the batch went out whole when it reached maxBytes');
      log.write(line(i++));
      log.flush();
      await landed(i, 'flush() wrote the line');
      log.write(line(i++));
      await log.close();
      const all = read().split('\n').filter(Boolean);
      assert.deepEqual(
        all.map((l) => (JSON.parse(l) as { i: number }).i),
        Array.from({ length: i }, (_, k) => k),
      );

      // a small batch goes out by the timer
      const timed = batchedLog(path, { maxDelayMs: 20, maxBytes: 1 << 20 });
      timed.write(line(i++));
      await landed(i, 'the timer wrote the line');

      // two writers on one file (two gateway processes): every line whole
      const a = batchedLog(path, { maxDelayMs: 5, maxBytes: 700 });
      const b = batchedLog(path, { maxDelayMs: 5, maxBytes: 900 });
      for (let k = 0; k < 500; k++) (k % 2 ? a : b).write(line(1000 + k));
      await Promise.all([a.close(), b.close(), timed.close()]);
      const lines = read().split('\n').filter(Boolean);
      assert.equal(lines.length, i + 500);
      const seen = new Set(lines.map((l) => (JSON.parse(l) as { i: number }).i));
      for (let k = 0; k < 500; k++) assert.ok(seen.has(1000 + k));
    } finally {
      cleanup();
    }
  });
});
