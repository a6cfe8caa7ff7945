import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { AuditRepository } from '../../src/core/store/audit';
import { findSeries, pointsInLoggingOrder } from '../../src/core/store/metricPoints';
import { RunRepository } from '../../src/core/store/runs';
import { openStore, type Store } from '../../src/core/store/store';
import { startTrackingServer, type TrackingServer } from '../../src/core/tracking/server';
import { tempDir } from './fixtures';

interface Reply {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/** One raw HTTP request: node:http sends the path exactly as given (fetch would normalise "../"). */
function raw(server: TrackingServer, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // downloads are not JSON
          }
          done({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', fail);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const post = (server: TrackingServer, path: string, body: unknown): Promise<Reply> =>
  raw(server, 'POST', `/api/2.0/mlflow/${path}`, JSON.stringify(body), { 'content-type': 'application/json' });
const get = (server: TrackingServer, path: string, query: Record<string, string>): Promise<Reply> =>
  raw(server, 'GET', `/api/2.0/mlflow/${path}?${new URLSearchParams(query).toString()}`);

function assertMlflowError(reply: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  assert.equal(reply.body.error_code, code);
  assert.equal(typeof reply.body.message, 'string');
  if (message) assert.match(reply.body.message as string, message);
}

function expectOk(reply: Reply): void {
  assert.equal(reply.status, 200, reply.text.slice(0, 500));
}

/** Every file below `dir`, relative: what the "nothing written outside" checks compare. */
function tree(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).map(String).sort() : [];
}

describe('tracking: MLflow REST endpoint over the store (HTTP level)', function () {
  this.timeout(20_000);
  let store: Store;
  let server: TrackingServer;
  let dir: string;
  let artifactRoot: string;
  let cleanup: () => void;

  beforeEach(async () => {
    const t = tempDir();
    dir = t.dir;
    cleanup = t.cleanup;
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    artifactRoot = join(dir, '.mloop', 'artifacts');
    server = await startTrackingServer({ store, artifactRoot, maxBodyBytes: 2 * 1024 * 1024 });
  });
  afterEach(async () => {
    await server.close();
    store.close();
    cleanup();
  });

  const newRun = async (name = 'r'): Promise<string> => {
    const reply = await post(server, 'runs/create', { experiment_id: '0', run_name: name, start_time: 1000 });
    assert.equal(reply.status, 200, reply.text);
    return (reply.body.run as { info: { run_id: string } }).info.run_id;
  };
  const metricCount = (): number =>
    store.db
      .prepare('SELECT (SELECT coalesce(sum(length(points)) / 24, 0) FROM metric_block) + (SELECT coalesce(sum(length(points)) / 24, 0) FROM metric_tail)')
      .pluck()
      .get() as number;

  it('answers 401 UNAUTHENTICATED without a token or with a wrong one, and writes nothing', async () => {
    const before = store.db.prepare('SELECT count(*) FROM experiment').pluck().get();
    const none = await raw(server, 'POST', '/api/2.0/mlflow/experiments/create', JSON.stringify({ name: 'x' }), { authorization: '' });
    assertMlflowError(none, 401, 'UNAUTHENTICATED', /MLFLOW_TRACKING_TOKEN/);
    const wrong = await raw(server, 'POST', '/api/2.0/mlflow/experiments/create', JSON.stringify({ name: 'x' }), { authorization: `Bearer ${'0'.repeat(64)}` });
    assertMlflowError(wrong, 401, 'UNAUTHENTICATED');
    const basic = await raw(server, 'GET', '/api/2.0/mlflow/experiments/get?experiment_id=0', undefined, { authorization: `Basic ${server.token}` });
    assertMlflowError(basic, 401, 'UNAUTHENTICATED');
    const artifact = await raw(server, 'PUT', '/api/2.0/mlflow-artifacts/artifacts/0/x.txt', 'x', { authorization: '' });
    assertMlflowError(artifact, 401, 'UNAUTHENTICATED');
    assert.equal(store.db.prepare('SELECT count(*) FROM experiment').pluck().get(), before);
    assert.deepEqual(tree(artifactRoot), []);
  });

  it('the root URL (where MLflow\'s "View run" link points) answers without a token: a data-free page that forwards the run to the editor\'s URI handler', async () => {
    const page = await raw(server, 'GET', '/', undefined, { authorization: '' });
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>mloop<\/title>/);
    assert.match(page.text, /'vscode:\/\/mloop\.mloop\/' \+ \(m\[2\] \? 'run\/' \+ m\[2\] : 'experiment\/' \+ m\[1\]\)/);
    assert.ok(!page.text.includes(server.token), 'the page holds no token');
    const runs = new RunRepository(store).list({ limit: 5 });
    for (const run of runs) assert.ok(!page.text.includes(run.runId), 'the page holds no data');
    // only GET / is open: any other path or method still needs the token
    assertMlflowError(await raw(server, 'POST', '/', '{}', { authorization: '' }), 401, 'UNAUTHENTICATED');
    assertMlflowError(await raw(server, 'GET', '/api/2.0/mlflow/experiments/get?experiment_id=0', undefined, { authorization: '' }), 401, 'UNAUTHENTICATED');
  });

  it("the root page links to the editor's own URI scheme and refuses a scheme that could inject script", async () => {
    const insiders = await startTrackingServer({ store, artifactRoot, uriScheme: 'vscode-insiders' });
    const injected = await startTrackingServer({ store, artifactRoot, uriScheme: "x'+alert(1)+'" });
    try {
      assert.match((await raw(insiders, 'GET', '/', undefined, { authorization: '' })).text, /'vscode-insiders:\/\/mloop\.mloop\/'/);
      const text = (await raw(injected, 'GET', '/', undefined, { authorization: '' })).text;
      assert.ok(!text.includes('alert'), 'the scheme is not spliced into the script');
      assert.match(text, /'vscode:\/\/mloop\.mloop\/'/);
    } finally {
      await Promise.all([insiders.close(), injected.close()]);
    }
  });

  it('binds 127.0.0.1 only, on a random port, with a random 64-hex-character token', async () => {
    assert.equal(server.uri, `http://127.0.0.1:${server.port}`);
    assert.match(server.token, /^[0-9a-f]{64}$/);
    const other = await startTrackingServer({ store, artifactRoot });
    try {
      assert.notEqual(other.port, server.port);
      assert.notEqual(other.token, server.token);
    } finally {
      await other.close();
    }
    // Another loopback address reaches a 0.0.0.0 listener but not one bound to 127.0.0.1.
    const refused = await new Promise<string>((done) => {
      const socket = connect({ host: '127.0.0.2', port: server.port });
      socket.on('connect', () => {
        socket.destroy();
        done('connected');
      });
      socket.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
  });

  it('experiments: Default is id 0; create / get / get-by-name / search round-trip; duplicates are refused', async () => {
    const dflt = await get(server, 'experiments/get', { experiment_id: '0' });
    assert.equal((dflt.body.experiment as { name: string }).name, 'Default');
    const created = await post(server, 'experiments/create', { name: 'weather', tags: [{ key: 'team', value: 'ml' }] });
    const id = created.body.experiment_id as string;
    assert.match(id, /^\d+$/);
    const byName = await get(server, 'experiments/get-by-name', { experiment_name: 'weather' });
    assert.deepEqual(byName.body.experiment, (await get(server, 'experiments/get', { experiment_id: id })).body.experiment);
    const e = byName.body.experiment as Record<string, unknown>;
    assert.equal(e.artifact_location, `mlflow-artifacts:/${id}`);
    assert.deepEqual(e.tags, [{ key: 'team', value: 'ml' }]);
    assertMlflowError(await post(server, 'experiments/create', { name: 'weather' }), 400, 'RESOURCE_ALREADY_EXISTS');
    const found = await post(server, 'experiments/search', { filter: "name LIKE 'wea%' and tags.team = 'ml'", max_results: 10 });
    assert.deepEqual(
      (found.body.experiments as { name: string }[]).map((x) => x.name),
      ['weather'],
    );
    assertMlflowError(await get(server, 'experiments/get-by-name', { experiment_name: 'nope' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertMlflowError(await get(server, 'experiments/get', { experiment_id: '999' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  it('runs: create / log / get / update / search / delete-tag round-trip into the store', async () => {
    const runId = await newRun('first');
    expectOk(await post(server, 'runs/log-metric', { run_id: runId, key: 'loss', value: 0.5, timestamp: 10, step: 1 }));
    expectOk(await post(server, 'runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' }));
    expectOk(await post(server, 'runs/set-tag', { run_id: runId, key: 'team', value: 'ml' }));
    expectOk(await post(server, 'runs/set-tag', { run_id: runId, key: 'gone', value: 'x' }));
    expectOk(await post(server, 'runs/delete-tag', { run_id: runId, key: 'gone' }));
    assertMlflowError(await post(server, 'runs/delete-tag', { run_id: runId, key: 'gone' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const updated = await post(server, 'runs/update', { run_id: runId, status: 'FINISHED', end_time: 2000 });
    assert.equal((updated.body.run_info as { status: string }).status, 'FINISHED');
    const fetched = (await get(server, 'runs/get', { run_id: runId })).body.run as { info: Record<string, unknown>; data: Record<string, unknown> };
    assert.equal(fetched.info.status, 'FINISHED');
    assert.equal(fetched.info.end_time, 2000);
    assert.equal(fetched.info.experiment_id, '0');
    assert.deepEqual(fetched.data.metrics, [{ key: 'loss', value: 0.5, timestamp: 10, step: 1 }]);
    assert.deepEqual(fetched.data.params, [{ key: 'lr', value: '0.1' }]);
    assert.deepEqual(fetched.data.tags, [
      { key: 'mlflow.runName', value: 'first' },
      { key: 'team', value: 'ml' },
    ]);
    const runs = new RunRepository(store);
    assert.equal(runs.get(runId)!.status, 'FINISHED');
    assert.deepEqual(runs.params(runId), { lr: '0.1' });

    const second = await newRun('second');
    await post(server, 'runs/log-metric', { run_id: second, key: 'loss', value: 0.25, timestamp: 11, step: 1 });
    const search = async (body: Record<string, unknown>): Promise<string[]> => {
      const reply = await post(server, 'runs/search', { experiment_ids: ['0'], ...body });
      assert.equal(reply.status, 200, reply.text);
      return ((reply.body.runs ?? []) as { info: { run_name: string } }[]).map((r) => r.info.run_name);
    };
    assert.deepEqual(await search({ filter: 'metrics.loss < 0.3' }), ['second']);
    assert.deepEqual(await search({ filter: "params.lr = '0.1' and attributes.status = 'FINISHED'" }), ['first']);
    assert.deepEqual(await search({ filter: "tags.\"mlflow.runName\" IN ('first', 'second')", order_by: ['metrics.loss ASC'] }), ['second', 'first']);
    assert.deepEqual(await search({ filter: "attributes.run_name LIKE 'F%'" }), [], 'LIKE is case-sensitive');
    assert.deepEqual(await search({ filter: "attributes.run_name ILIKE 'F%'" }), ['first']);
    const page1 = await post(server, 'runs/search', { experiment_ids: ['0'], max_results: 1, order_by: ['attributes.run_name DESC'] });
    assert.equal((page1.body.runs as { info: { run_name: string } }[])[0]!.info.run_name, 'second');
    const page2 = await post(server, 'runs/search', {
      experiment_ids: ['0'],
      max_results: 1,
      order_by: ['attributes.run_name DESC'],
      page_token: page1.body.next_page_token,
    });
    assert.equal((page2.body.runs as { info: { run_name: string } }[])[0]!.info.run_name, 'first');
    assert.equal(page2.body.next_page_token, undefined);
    assertMlflowError(await post(server, 'runs/search', { filter: 'metrics.loss < ' }), 400, 'INVALID_PARAMETER_VALUE', /Invalid filter/);
    assertMlflowError(await post(server, 'runs/search', { filter: "metrics.loss = 'x'" }), 400, 'INVALID_PARAMETER_VALUE');
    assertMlflowError(await post(server, 'runs/search', { page_token: 'garbage!' }), 400, 'INVALID_PARAMETER_VALUE', /page token/);
  });

  it('metrics/get-history pages through every point in step order', async () => {
    const runId = await newRun();
    const metrics = Array.from({ length: 5 }, (_, i) => ({ key: 'acc', value: i / 10, timestamp: 100 + i, step: 4 - i }));
    expectOk(await post(server, 'runs/log-batch', { run_id: runId, metrics }));
    const seen: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const reply = await get(server, 'metrics/get-history', { run_id: runId, metric_key: 'acc', max_results: '2', ...(token ? { page_token: token } : {}) });
      seen.push(...(reply.body.metrics as { step: number }[]).map((m) => m.step));
      token = reply.body.next_page_token as string | undefined;
      pages++;
    } while (token);
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(pages, 3);
  });

  it('log-batch over MLflow limits is refused with 400 and writes nothing', async () => {
    const runId = await newRun();
    const metrics = (n: number) => Array.from({ length: n }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i }));
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    assertMlflowError(await post(server, 'runs/log-batch', { run_id: runId, metrics: metrics(1001) }), 400, 'INVALID_PARAMETER_VALUE', /at most 1000 metrics/);
    assertMlflowError(await post(server, 'runs/log-batch', { run_id: runId, params: pairs(101) }), 400, 'INVALID_PARAMETER_VALUE', /at most 100 params/);
    assertMlflowError(await post(server, 'runs/log-batch', { run_id: runId, tags: pairs(101) }), 400, 'INVALID_PARAMETER_VALUE', /at most 100 tags/);
    assertMlflowError(
      await post(server, 'runs/log-batch', { run_id: runId, metrics: metrics(1000), tags: pairs(1) }),
      400,
      'INVALID_PARAMETER_VALUE',
      /in total/,
    );
    assert.equal(metricCount(), 0);
    // All or nothing: a bad entry anywhere in the batch leaves none of it behind.
    assertMlflowError(
      await post(server, 'runs/log-batch', { run_id: runId, metrics: [...metrics(10), { key: 'bad', value: 'x', timestamp: 1 }], params: pairs(3) }),
      400,
      'INVALID_PARAMETER_VALUE',
    );
    await post(server, 'runs/log-parameter', { run_id: runId, key: 'fixed', value: 'a' });
    assertMlflowError(
      await post(server, 'runs/log-batch', {
        run_id: runId,
        metrics: metrics(10),
        params: [
          { key: 'new', value: '1' },
          { key: 'fixed', value: 'b' },
        ],
        tags: pairs(2),
      }),
      400,
      'INVALID_PARAMETER_VALUE',
      /Changing param values is not allowed/,
    );
    assert.equal(metricCount(), 0);
    assert.deepEqual(new RunRepository(store).params(runId), { fixed: 'a' });
    assert.deepEqual(Object.keys(new RunRepository(store).tags(runId)), ['mlflow.runName']);
    expectOk(await post(server, 'runs/log-batch', { run_id: runId, metrics: metrics(1000) }));
    assert.equal(metricCount(), 1000);
  });

  it('log-batch stores the same points and gives the same errors whether its body takes the hot path or is parsed as JSON', async () => {
    // A query string sends the same body through JSON.parse (the hot path reads bodies of requests without one).
    const send = (body: string, viaJson: boolean): Promise<Reply> =>
      raw(server, 'POST', `/api/2.0/mlflow/runs/log-batch${viaJson ? '?via=json' : ''}`, body, { 'content-type': 'application/json' });
    const [fast, slow] = [await newRun('fast'), await newRun('slow')];
    const deleted = await newRun('deleted');
    expectOk(await post(server, 'runs/delete', { run_id: deleted }));
    const runs = new RunRepository(store);
    const logged = (runId: string, key: string): number[] => Array.from(pointsInLoggingOrder(store.db, findSeries(store.db, runId, key)!, 0, 1e6));
    const metrics = Array.from({ length: 999 }, (_, i) => ({ key: `m${i % 7}`, value: Math.tan(i) * 1e3, timestamp: 1_700_000_000_000 + i, step: i >> 2 }));
    const bodies = (runId: string): string[] => [
      JSON.stringify({ run_id: runId, metrics }),
      JSON.stringify({ run_uuid: runId, metrics: metrics.slice(0, 40).map(({ key, value, step }) => ({ key, value, step })) }, null, 2),
    ];
    for (const [runId, viaJson] of [
      [fast, false],
      [slow, true],
    ] as const)
      for (const body of bodies(runId)) expectOk(await send(body, viaJson));
    for (let k = 0; k < 7; k++) {
      const [a, b] = [logged(fast, `m${k}`), logged(slow, `m${k}`)];
      assert.equal(a.length, b.length);
      // the second body has no timestamps (each path gives the time of its read); every other number is equal bit for bit
      const fromFirstBody = metrics.filter((m) => m.key === `m${k}`).length;
      a.forEach((v, i) => {
        const untimed = i % 3 === 1 && Math.floor(i / 3) >= fromFirstBody;
        assert.ok(Object.is(v, b[i]) || untimed, `m${k} number ${i}: ${v} != ${b[i]}`);
      });
    }
    assert.deepEqual(runs.latestMetrics(fast), runs.latestMetrics(slow));
    // refusals, each through both paths: the same status, code and message, and nothing stored
    const before = metricCount();
    for (const [body, status] of [
      [JSON.stringify({ run_id: 'f'.repeat(32), metrics: metrics.slice(0, 3) }), 404],
      [JSON.stringify({ run_id: deleted, metrics: metrics.slice(0, 3) }), 400],
      [JSON.stringify({ run_id: fast, metrics: [{ key: 'a//b', value: 1 }] }), 400],
      [JSON.stringify({ run_id: fast, metrics: [...metrics, { key: 'x', value: 1 }, { key: 'y', value: 2 }] }), 400],
      [JSON.stringify({ metrics: metrics.slice(0, 3) }), 400],
    ] as const) {
      const [a, b] = [await send(body, false), await send(body, true)];
      assert.equal(a.status, status, a.text);
      assert.deepEqual([a.status, a.body], [b.status, b.body]);
    }
    assert.equal(metricCount(), before);
  });

  it('a param keeps its first value: the same value again is fine, a different one is refused', async () => {
    const runId = await newRun();
    expectOk(await post(server, 'runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' }));
    expectOk(await post(server, 'runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' }));
    assertMlflowError(await post(server, 'runs/log-parameter', { run_id: runId, key: 'lr', value: '0.2' }), 400, 'INVALID_PARAMETER_VALUE', /lr/);
    assertMlflowError(
      await post(server, 'runs/log-batch', {
        run_id: runId,
        params: [
          { key: 'x', value: '1' },
          { key: 'x', value: '2' },
        ],
      }),
      400,
      'INVALID_PARAMETER_VALUE',
    );
    assert.deepEqual(new RunRepository(store).params(runId), { lr: '0.1' });
  });

  it('malformed JSON, wrong types, unknown runs and unknown endpoints get MLflow-shaped 400/404, never 500', async () => {
    const runId = await newRun();
    const send = (path: string, body: string): Promise<Reply> => raw(server, 'POST', `/api/2.0/mlflow/${path}`, body, { 'content-type': 'application/json' });
    assertMlflowError(await send('runs/log-metric', '{"run_id": '), 400, 'INVALID_PARAMETER_VALUE', /Malformed JSON/);
    assertMlflowError(await send('runs/log-metric', '[1,2]'), 400, 'INVALID_PARAMETER_VALUE', /JSON object/);
    assertMlflowError(await post(server, 'runs/log-metric', { run_id: runId, key: 'k', value: 'abc', timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /value/);
    assertMlflowError(
      await post(server, 'runs/log-metric', { run_id: runId, key: 'k', value: 1, timestamp: 1, step: 1.5 }),
      400,
      'INVALID_PARAMETER_VALUE',
      /step/,
    );
    assertMlflowError(await post(server, 'runs/log-metric', { run_id: runId, key: 5, value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /key/);
    assertMlflowError(
      await post(server, 'runs/log-metric', { run_id: runId, key: 'k', value: 1, timestamp: '99999999999999999999' }),
      400,
      'INVALID_PARAMETER_VALUE',
    );
    assertMlflowError(await post(server, 'runs/log-metric', { run_id: 'f'.repeat(32), key: 'k', value: 1, timestamp: 1 }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertMlflowError(await get(server, 'runs/get', { run_id: 'nope' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertMlflowError(await post(server, 'runs/update', { run_id: runId, status: 'DONE' }), 400, 'INVALID_PARAMETER_VALUE', /status/);
    assertMlflowError(await post(server, 'runs/create', { experiment_id: 'abc' }), 400, 'INVALID_PARAMETER_VALUE');
    assertMlflowError(await post(server, 'no/such/endpoint', {}), 404, 'ENDPOINT_NOT_FOUND');
    assertMlflowError(await raw(server, 'DELETE', '/api/2.0/mlflow/runs/create'), 404, 'ENDPOINT_NOT_FOUND', /not allowed/);
    // A small fuzz: every write endpoint with hostile bodies answers 200/400/404, never 500.
    const hostile: unknown[] = [
      null,
      1,
      'x',
      [],
      { run_id: null },
      { run_id: runId, key: null },
      { run_id: runId, metrics: 'x' },
      { run_id: runId, metrics: [null] },
      { run_id: [runId] },
      { name: {} },
      { experiment_id: -1 },
      { run_id: runId, params: [{ key: '', value: 'v' }] },
      { run_id: runId, tags: [{ key: '../x', value: 'v' }] },
    ];
    const endpoints = [
      'runs/log-metric',
      'runs/log-parameter',
      'runs/set-tag',
      'runs/log-batch',
      'runs/update',
      'runs/create',
      'runs/search',
      'runs/log-inputs',
      'experiments/create',
      'registered-models/create',
      'model-versions/create',
      'registered-models/alias',
      'logged-models',
    ];
    for (const endpoint of endpoints) {
      for (const body of hostile) {
        const reply = await send(endpoint, JSON.stringify(body));
        const what = `${endpoint} ${JSON.stringify(body)} -> ${reply.status} ${reply.text.slice(0, 200)}`;
        // Unknown fields are ignored as in MLflow, so a body may be valid; anything else is a 400/404 in MLflow's shape.
        assert.ok([200, 400, 404].includes(reply.status), what);
        if (reply.status !== 200) assert.equal(typeof reply.body.error_code, 'string', what);
      }
    }
  });

  it('unicode keys round-trip; names that resolve to other paths are refused', async () => {
    const runId = await newRun();
    expectOk(
      await post(server, 'runs/log-batch', {
        run_id: runId,
        metrics: [{ key: 'точность/val', value: 0.5, timestamp: 1 }],
        params: [{ key: '学习率', value: 'ü' }],
        tags: [{ key: 'équipe', value: '🚀' }],
      }),
    );
    const runs = new RunRepository(store);
    assert.deepEqual(runs.params(runId), { 学习率: 'ü' });
    assert.equal(runs.tags(runId)['équipe'], '🚀');
    assert.deepEqual(runs.latestMetrics(runId), { 'точность/val': 0.5 });
    for (const key of ['../x', 'a//b', '/abs', 'a/./b', 'semi;colon', '']) {
      assertMlflowError(await post(server, 'runs/log-metric', { run_id: runId, key, value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE');
    }
  });

  it('huge values: MLflow length limits on params and tags, extreme doubles kept, oversized bodies refused without harm', async () => {
    const runId = await newRun();
    assertMlflowError(await post(server, 'runs/log-parameter', { run_id: runId, key: 'p', value: 'x'.repeat(6001) }), 400, 'INVALID_PARAMETER_VALUE', /6000/);
    expectOk(await post(server, 'runs/log-parameter', { run_id: runId, key: 'p', value: 'x'.repeat(6000) }));
    assertMlflowError(await post(server, 'runs/set-tag', { run_id: runId, key: 't', value: 'x'.repeat(8001) }), 400, 'INVALID_PARAMETER_VALUE', /8000/);
    assertMlflowError(
      await post(server, 'runs/log-metric', { run_id: runId, key: 'k'.repeat(251), value: 1, timestamp: 1 }),
      400,
      'INVALID_PARAMETER_VALUE',
      /250/,
    );
    await post(server, 'runs/log-batch', {
      run_id: runId,
      metrics: [
        { key: 'big', value: 1.7976931348623157e308, timestamp: 1 },
        { key: 'tiny', value: 5e-324, timestamp: 1 },
      ],
    });
    assert.deepEqual(new RunRepository(store).latestMetrics(runId), { big: 1.7976931348623157e308, tiny: 5e-324 });
    const huge = JSON.stringify({ run_id: runId, key: 'p2', value: 'y'.repeat(3 * 1024 * 1024) });
    assertMlflowError(
      await raw(server, 'POST', '/api/2.0/mlflow/runs/log-parameter', huge),
      400,
      'INVALID_PARAMETER_VALUE',
      /larger than the 2097152-byte limit/,
    );
    assert.equal((await get(server, 'runs/get', { run_id: runId })).status, 200, 'the server still answers');
    assert.equal(new RunRepository(store).params(runId).p2, undefined);
  });

  it('NaN and ±Infinity are accepted as MLflow spells them and returned the same way', async () => {
    const runId = await newRun();
    const metrics = [
      { key: 'nan', value: 'NaN', timestamp: 1 },
      { key: 'pinf', value: 'Infinity', timestamp: 1 },
      { key: 'ninf', value: '-Infinity', timestamp: 1 },
    ];
    expectOk(await post(server, 'runs/log-batch', { run_id: runId, metrics }));
    const latest = new RunRepository(store).latestMetrics(runId);
    assert.ok(Number.isNaN(latest.nan));
    assert.equal(latest.pinf, Number.POSITIVE_INFINITY);
    assert.equal(latest.ninf, Number.NEGATIVE_INFINITY);
    const reply = await get(server, 'runs/get', { run_id: runId });
    const values = Object.fromEntries((reply.body.run as { data: { metrics: { key: string; value: unknown }[] } }).data.metrics.map((m) => [m.key, m.value]));
    assert.deepEqual(values, { nan: 'NaN', ninf: '-Infinity', pinf: 'Infinity' });
  });

  it('artifacts: upload, list and download through the proxy; traversal in any spelling is refused and nothing lands outside the root', async () => {
    const runId = await newRun();
    const base = `/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts`;
    expectOk(await raw(server, 'PUT', `${base}/dir/hello%20world.txt`, 'hi there'));
    const listed = await raw(server, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(`0/${runId}/artifacts/dir`)}`);
    assert.deepEqual(listed.body.files, [{ path: 'hello world.txt', is_dir: false, file_size: 8 }]);
    assert.equal((await raw(server, 'GET', `${base}/dir/hello%20world.txt`)).text, 'hi there');
    assertMlflowError(await raw(server, 'GET', `${base}/missing.txt`), 404, 'RESOURCE_DOES_NOT_EXIST');
    assert.deepEqual(store.db.prepare('SELECT path, size FROM artifact WHERE run_id = ?').all(runId), [{ path: 'dir/hello world.txt', size: 8 }]);

    const outside = join(dir, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(artifactRoot, 'escape'));
    const before = { project: tree(dir).filter((f) => !f.startsWith('.mloop/artifacts')), outside: tree(outside) };
    const attempts = [
      '/api/2.0/mlflow-artifacts/artifacts/../evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/0/../../evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/%2e%2e/evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/0/%2E%2E/%2e%2e/evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/..%2f..%2fevil.txt',
      '/api/2.0/mlflow-artifacts/artifacts//etc/evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/%2Fetc%2Fevil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/..%5c..%5cevil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/a/%00/evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/escape/evil.txt',
      '/api/2.0/mlflow-artifacts/artifacts/%zz',
    ];
    for (const path of attempts) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const reply = await raw(server, method, path, method === 'PUT' ? 'pwned' : undefined);
        assertMlflowError(reply, 400, 'INVALID_PARAMETER_VALUE');
      }
    }
    for (const path of ['..', '../..', '/etc', 'escape']) {
      assertMlflowError(await raw(server, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(path)}`), 400, 'INVALID_PARAMETER_VALUE');
    }
    assert.deepEqual({ project: tree(dir).filter((f) => !f.startsWith('.mloop/artifacts')), outside: tree(outside) }, before);
    assert.ok(!existsSync(join(dir, '.mloop', 'evil.txt')) && !existsSync(join(dir, 'evil.txt')));
  });

  it('logged models and the registry: create / finalize / register / search / latest / aliases, each registry change audited', async () => {
    const runId = await newRun();
    await post(server, 'runs/set-tag', { run_id: runId, key: 'mlflow.user', value: 'ana' });
    const created = await raw(
      server,
      'POST',
      '/api/2.0/mlflow/logged-models',
      JSON.stringify({ experiment_id: '0', name: 'clf', source_run_id: runId, params: [{ key: 'C', value: '1' }] }),
    );
    const info = (created.body.model as { info: Record<string, unknown> }).info;
    assert.equal(info.status, 'LOGGED_MODEL_PENDING');
    const modelId = info.model_id as string;
    assert.equal(info.artifact_uri, `mlflow-artifacts:/0/models/${modelId}/artifacts`);
    const finalized = await raw(
      server,
      'PATCH',
      `/api/2.0/mlflow/logged-models/${modelId}`,
      JSON.stringify({ model_id: modelId, status: 'LOGGED_MODEL_READY' }),
    );
    assert.equal((finalized.body.model as { info: { status: string } }).info.status, 'LOGGED_MODEL_READY');
    expectOk(await post(server, 'runs/outputs', { run_id: runId, models: [{ model_id: modelId, step: 0 }] }));
    const searched = await post(server, 'logged-models/search', { experiment_ids: ['0'], filter: "name = 'clf'" });
    assert.deepEqual(
      (searched.body.models as { info: { model_id: string } }[]).map((m) => m.info.model_id),
      [modelId],
    );
    assertMlflowError(await raw(server, 'GET', '/api/2.0/mlflow/logged-models/m-nope'), 404, 'RESOURCE_DOES_NOT_EXIST');

    expectOk(await post(server, 'registered-models/create', { name: 'clf' }));
    assertMlflowError(await post(server, 'registered-models/create', { name: 'clf' }), 400, 'RESOURCE_ALREADY_EXISTS');
    const version = await post(server, 'model-versions/create', { name: 'clf', source: `models:/${modelId}`, model_id: modelId });
    const mv = version.body.model_version as Record<string, unknown>;
    assert.deepEqual([mv.version, mv.run_id, mv.status, mv.model_id], ['1', runId, 'READY', modelId]);
    await post(server, 'model-versions/create', { name: 'clf', source: `models:/${modelId}`, model_id: modelId });
    const latest = await post(server, 'registered-models/get-latest-versions', { name: 'clf' });
    assert.deepEqual(
      (latest.body.model_versions as { version: string }[]).map((v) => v.version),
      ['2'],
    );
    expectOk(await post(server, 'registered-models/alias', { name: 'clf', alias: 'champion', version: '1' }));
    assertMlflowError(
      await post(server, 'registered-models/alias', { name: 'clf', alias: 'latest', version: '1' }),
      400,
      'INVALID_PARAMETER_VALUE',
      /reserved/,
    );
    assertMlflowError(await post(server, 'registered-models/alias', { name: 'clf', alias: 'x', version: '9' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const byAlias = await get(server, 'registered-models/alias', { name: 'clf', alias: 'champion' });
    assert.equal((byAlias.body.model_version as { version: string }).version, '1');
    const model = (await get(server, 'registered-models/get', { name: 'clf' })).body.registered_model as Record<string, unknown>;
    assert.deepEqual(model.aliases, [{ alias: 'champion', version: '1' }]);
    const search = await get(server, 'model-versions/search', { filter: `name = 'clf' and run_id = '${runId}'` });
    assert.deepEqual(
      (search.body.model_versions as { version: string }[]).map((v) => v.version),
      ['2', '1'],
    );
    const models = await get(server, 'registered-models/search', { filter: "name LIKE 'c%'" });
    assert.deepEqual(
      (models.body.registered_models as { name: string }[]).map((m) => m.name),
      ['clf'],
    );
    const deleted = await raw(server, 'DELETE', '/api/2.0/mlflow/registered-models/alias', JSON.stringify({ name: 'clf', alias: 'champion' }), {
      'content-type': 'application/json',
    });
    assert.equal(deleted.status, 200, deleted.text);
    assertMlflowError(await get(server, 'registered-models/alias', { name: 'clf', alias: 'champion' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const audit = new AuditRepository(store)
      .list()
      .reverse()
      .map((a) => [a.action, a.entityId, a.actor === 'ana' ? 'ana' : 'os']);
    assert.deepEqual(audit, [
      ['create_model', 'clf', 'os'],
      ['register', 'clf/1', 'ana'],
      ['register', 'clf/2', 'ana'],
      ['set_alias', 'clf@champion', 'ana'],
      ['delete_alias', 'clf@champion', 'ana'],
    ]);
    const history = store.db
      .prepare('SELECT from_model_version_id IS NULL AS fromNull, to_model_version_id IS NULL AS toNull FROM alias_history ORDER BY alias_history_id')
      .all();
    assert.deepEqual(history, [
      { fromNull: 1, toNull: 0 },
      { fromNull: 0, toNull: 1 },
    ]);
  });
});
