import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { startGatewayServer, type GatewayServer } from '../../src/core/gateway/server';
import { tempDir } from './fixtures';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One exchange on a keep-alive agent, with the raw headers the client received. */
function post(port: number, path: string, body: string, agent: Agent): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** 1 MiB of JSON, larger than the answers the gateway holds whole (HELD_ANSWER, 256 KiB). */
const LARGE = Buffer.from(
  JSON.stringify({
    predictions: Array.from({ length: 1 << 20 }, (_, i) => 'abcdefghij'[i % 10])
      .join('')
      .match(/.{1,1000}/g),
  }),
);

// the speed work on the gateway's hot path (BENCHMARKS.md, "Traffic gateway vs nginx") must not change what it answers or logs
describe('gateway server: answers passed on as the version sent them, the serving log batched', function () {
  this.timeout(30_000);
  let upstream: Server;
  let gateway: GatewayServer;
  let dir: string;
  let cleanup: () => void;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });

  before(async () => {
    ({ dir, cleanup } = tempDir('mloop-gw-server-'));
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const echoed = JSON.stringify({ predictions: ['sun'], got: Buffer.concat(chunks).toString('utf8'), id: req.headers['x-request-id'] });
        // /large: 1 MiB of predictions with a length, more than the gateway holds (it streams them on); /large-chunked the same without one
        if (req.url === '/large' || req.url === '/large-chunked') {
          res.writeHead(
            200,
            req.url === '/large' ? { 'content-type': 'application/json', 'content-length': LARGE.length } : { 'content-type': 'application/json' },
          );
          for (let at = 0; at < LARGE.length; at += 64 << 10) res.write(LARGE.subarray(at, at + (64 << 10)));
          res.end();
          return;
        }
        // /chunked answers without a length, in two pieces
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(echoed.slice(0, 10));
          setTimeout(() => res.end(echoed.slice(10)), 5);
        } else res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(echoed) }).end(echoed);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    gateway = await startGatewayServer({
      target: 't',
      port: 0,
      token: 'x'.repeat(64),
      table: { strategy: 'single', routes: [{ model_name: 'm', version: 7, upstream_port: (upstream.address() as { port: number }).port, weight: 100 }] },
      servingLogPath: join(dir, 'serving.jsonl'),
      feedbackLogPath: join(dir, 'feedback.jsonl'),
    });
  });

  after(async () => {
    agent.destroy();
    await gateway?.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    cleanup();
  });

  it("a sized answer keeps the version's content-length (not re-chunked); a chunked one stays chunked, whole; the client's connection is kept 65 s", async () => {
    const sized = await post(gateway.port, '/predict', '{"rows":[{"a":1}]}', agent);
    assert.equal(sized.status, 200);
    // kept idle 65 s, as nginx keeps it: a client idle more than 4 s between calls does not reconnect (Node's agent
    // drops a free connection 1 s before this hint); the version's own hint (Node's timeout=5, its connection to the
    // gateway) is not passed on
    assert.equal(sized.headers.connection, 'keep-alive');
    assert.equal(sized.headers['keep-alive'], 'timeout=65');
    assert.equal(sized.headers['content-length'], String(Buffer.byteLength(sized.body)));
    assert.equal(sized.headers['transfer-encoding'], undefined);
    assert.equal(sized.headers['x-mloop-version'], '7');
    const parsed = JSON.parse(sized.body) as { got: string; id: string };
    assert.equal(parsed.got, '{"rows":[{"a":1}]}', 'the body reached the version');
    assert.equal(parsed.id, sized.headers['x-request-id'], 'the version got the request id the client got');

    // larger than what the gateway holds: streamed on, every byte in order, the length kept or the chunking kept
    const large = await post(gateway.port, '/large', '{}', agent);
    assert.equal(large.status, 200);
    assert.equal(large.headers['content-length'], String(LARGE.length));
    assert.equal(large.headers['x-mloop-version'], '7');
    assert.ok(large.body === LARGE.toString('utf8'), `the large answer arrived whole (${large.body.length} of ${LARGE.length} bytes)`);
    const largeChunked = await post(gateway.port, '/large-chunked', '{}', agent);
    assert.equal(largeChunked.headers['transfer-encoding'], 'chunked');
    assert.ok(largeChunked.body === LARGE.toString('utf8'), `the large chunked answer arrived whole (${largeChunked.body.length} of ${LARGE.length} bytes)`);

    const chunked = await post(gateway.port, '/chunked', '{"rows":[]}', agent);
    assert.equal(chunked.status, 200);
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.equal(chunked.headers['content-length'], undefined);
    assert.equal((JSON.parse(chunked.body) as { got: string }).got, '{"rows":[]}');
  });

  it('200 concurrent requests: one serving-log line each, in the documented field order, every id the client saw; close() writes the last ones', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(gateway.port, '/predict', `{"rows":[{"i":${i}}]}`, agent)));
    assert.ok(answers.every((a) => a.status === 200));
    // the log is written in batches (LOG_FLUSH_MS after the first line of one at the latest): poll for the lines
    const readLines = (): string[] => readFileSync(join(dir, 'serving.jsonl'), 'utf8').trim().split('\n');
    let lines = readLines();
    for (let i = 0; i < 100 && lines.length < 204; i++) {
      await new Promise((r) => setTimeout(r, 50));
      lines = readLines();
    }
    // 4 from the first test, 200 from this one
    assert.equal(lines.length, 204);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of parsed) {
      assert.deepEqual(Object.keys(line), ['ts', 'request_id', 'version', 'upstream_port', 'latency_ms', 'status']);
      assert.equal(line.version, 7);
      assert.equal(line.status, 200);
      assert.ok(typeof line.latency_ms === 'number' && line.latency_ms >= 0);
    }
    const logged = new Set(parsed.map((l) => l.request_id));
    for (const a of answers) assert.ok(logged.has(a.headers['x-request-id']), `${a.headers['x-request-id']} logged`);
    // a client-given id with a quote cannot break the JSON line: it is replaced by a fresh id
    const odd = await new Promise<string>((done, fail) => {
      const req = request({ host: '127.0.0.1', port: gateway.port, path: '/predict', method: 'POST', agent, headers: { 'x-request-id': 'a"b' } }, (res) => {
        res.resume();
        res.on('end', () => done(String(res.headers['x-request-id'])));
      });
      req.on('error', fail);
      req.end('{}');
    });
    assert.notEqual(odd, 'a"b');
    await gateway.close();
    const all = readFileSync(join(dir, 'serving.jsonl'), 'utf8').trim().split('\n');
    assert.equal(all.length, 205, 'the line of the last request is written by close()');
    assert.equal((JSON.parse(all.at(-1)!) as { request_id: string }).request_id, odd);
  });
});

describe("gateway server: the request's body, read before it is sent on", function () {
  this.timeout(30_000);

  it('a body sent in pieces reaches the version whole; one over 16 MiB is refused (413 in the serving log) and never reaches a version', async () => {
    const { dir, cleanup } = tempDir('mloop-gw-body-');
    const received: string[] = [];
    const upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const gateway = await startGatewayServer({
      target: 't',
      port: 0,
      token: 'x'.repeat(64),
      table: { strategy: 'single', routes: [{ model_name: 'm', version: 3, upstream_port: (upstream.address() as { port: number }).port, weight: 100 }] },
      servingLogPath: join(dir, 'serving.jsonl'),
      feedbackLogPath: join(dir, 'feedback.jsonl'),
    });
    /** A POST whose body goes in `pieces` writes (chunked), a few ms apart; resolves with the status, or the error's code. */
    const send = (pieces: Buffer[]): Promise<number | string> =>
      new Promise((done) => {
        const req = request(
          { host: '127.0.0.1', port: gateway.port, path: '/predict', method: 'POST', headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () => done(res.statusCode ?? 0));
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
        const next = (i: number): void => {
          if (i === pieces.length) return void req.end();
          req.write(pieces[i]);
          setTimeout(() => next(i + 1), 5);
        };
        next(0);
      });
    try {
      const parts = ['{"rows":[{"a":', '1},{"a":', '2}]}'];
      assert.equal(await send(parts.map((p) => Buffer.from(p))), 200);
      assert.deepEqual(received, [parts.join('')], 'the version got the three pieces as one body');

      // over MAX_BODY: the gateway stops reading and cuts the connection (the client may or may not read the 413)
      const outcome = await send([Buffer.alloc(8 << 20, 0x20), Buffer.alloc((8 << 20) + 1, 0x20)]);
      assert.ok(outcome === 413 || typeof outcome === 'string', `refused: ${outcome}`);
      assert.equal(received.length, 1, 'the oversized request reached no version');
      await gateway.close();
      const lines = readFileSync(join(dir, 'serving.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((l) => [l.version, l.status]),
        [
          [3, 200],
          [null, 413],
        ],
      );
      assert.deepEqual(Object.keys(lines[1]!), ['ts', 'request_id', 'version', 'latency_ms', 'status']);
    } finally {
      await gateway.close();
      await new Promise<void>((r) => upstream.close(() => r()));
      cleanup();
    }
  });
});

/**
 * 20 requests one after the other through a gateway that splits 50/50 between a version whose service dies as `die`
 * makes it (after its head) and a healthy one: the answers the client got, and how many requests the dying one took.
 */
async function throughDyingVersion(die: (res: ServerResponse) => void): Promise<{ answers: Answer[]; dyingAnswered: number }> {
  const { dir, cleanup } = tempDir('mloop-gw-dying-');
  let dyingAnswered = 0;
  const dying = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      dyingAnswered++;
      die(res);
    });
  });
  const healthy = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '23' }).end('{"predictions":["sun"]}'));
  });
  const servers = [dying, healthy];
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
  const portOf = (s: Server): number => (s.address() as { port: number }).port;
  const gateway = await startGatewayServer({
    target: 't',
    port: 0,
    token: 'x'.repeat(64),
    table: {
      strategy: 'blue_green',
      routes: [
        { model_name: 'm', version: 1, upstream_port: portOf(dying), weight: 50 },
        { model_name: 'm', version: 2, upstream_port: portOf(healthy), weight: 50 },
      ],
    },
    servingLogPath: join(dir, 'serving.jsonl'),
    feedbackLogPath: join(dir, 'feedback.jsonl'),
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await post(gateway.port, '/predict', '{"rows":[{}]}', agent));
    return { answers, dyingAnswered };
  } finally {
    agent.destroy();
    await gateway.close();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    cleanup();
  }
}

describe('gateway server: a version that dies after its head and before its body', function () {
  this.timeout(30_000);

  it('is passed over for another version when it dies in the middle of its body (the gateway holds small answers whole): 0 failed requests', async () => {
    // the head and half of a 100-byte body, then the connection is cut
    const { answers, dyingAnswered } = await throughDyingVersion((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100', connection: 'close' });
      res.write('{"predictions":["rain"],"pad":"'.padEnd(50, 'x'));
      setTimeout(() => res.socket?.destroy(), 5);
    });
    assert.ok(dyingAnswered > 0, 'some requests went to the dying version first');
    assert.deepEqual(
      answers.filter((a) => a.status !== 200 || a.body !== '{"predictions":["sun"]}').map((a) => `${a.status} ${a.body}`),
      [],
    );
    for (const a of answers) assert.equal(a.headers['x-mloop-version'], '2');
  });

  it('is passed over for another version while no byte reached the client (a content-length mismatch): 0 failed requests', async () => {
    // the head of a sized answer on a closing connection, then the connection ends: no byte of the body
    const { answers, dyingAnswered } = await throughDyingVersion((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100', connection: 'close' });
      res.flushHeaders();
      setTimeout(() => res.socket?.end(), 5);
    });
    assert.ok(dyingAnswered > 0, 'some requests went to the dying version first');
    assert.deepEqual(
      answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body}`),
      [],
    );
    for (const a of answers) assert.equal(a.headers['x-mloop-version'], '2');
  });
});
