import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/loadConfig';
import { httpExchange } from '../../src/core/deploy/health';
import { freePort } from '../../src/core/deploy/process';
import { ensureGateway, explainLogPath, gatewayDir, gatewayOptionsOf, servingLogPath, setRoutes, stopGateway } from '../../src/core/gateway/control';
import { artifactRootOf } from '../../src/core/store/artifactRoot';
import { GatewayRepository } from '../../src/core/store/gatewayRoutes';
import { openStore, type Store } from '../../src/core/store/store';
import { type ExplanationReference, explanationReference } from '../harness/explanationReference';
import { registerPickledVersion, registerWeatherVersions } from '../harness/weatherVersions';
import { PYTHON, pythonJson } from '../support/python';
import { WEATHER } from './datasetFixtures';
import { CLI, tempDir } from './fixtures';

/** A row of seattle-weather to explain (2012-01-02). */
const ROW = { precipitation: 10.9, temp_max: 10.6, temp_min: 2.8, wind: 4.5 };
/** Another row (a dry summer day), sent second in a request. */
const ROW2 = { precipitation: 0, temp_max: 27.8, temp_min: 14.4, wind: 2.1 };

/** A version's real service: the standard library's HTTP server predicting {"rows": [...]} with a pickled forest. */
const SERVE = `
import json, pickle, sys
import pandas as pd
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
model = pickle.load(open(sys.argv[1], "rb"))
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_POST(self):
        rows = json.loads(self.rfile.read(int(self.headers["content-length"])))["rows"]
        frame = pd.DataFrame(rows)[["precipitation", "temp_max", "temp_min", "wind"]]
        body = json.dumps({"predictions": [str(p) for p in model.predict(frame)]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
print("listening", flush=True)
server.serve_forever()
`;

/** Two forests on seattle-weather's four measurements (the project's prepare is the identity): v1 depth 6, v2 depth 3. */
const TRAIN = `
import pickle, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
frame = pd.read_csv(sys.argv[1])
for version, depth in ((1, 6), (2, 3)):
    model = RandomForestClassifier(n_estimators=20, max_depth=depth, random_state=0).fit(frame[FEATURES], frame["weather"])
    with open(f"{sys.argv[2]}/weather-v{version}.pkl", "wb") as f:
        pickle.dump(model, f)
print("{}")
`;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }),
      );
    });
    req.on('error', fail);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** The explainer interpreters a gateway process runs (Linux: its children whose command line is the helper's bootstrap). */
function explainerPids(gatewayPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(
        readFileSync(`/proc/${entry}/stat`, 'utf8')
          .replace(/^.*\) /, '')
          .split(' ')[1],
      );
      if (ppid === gatewayPid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('mloop-evaluator')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

/** `mloop explain <ref> --row ROW --json` in the project, as a user runs it. */
function cliExplain(dir: string, ref: string): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'explain', ref, '--row', JSON.stringify(ROW), '--python', PYTHON, '--json'], {
      cwd: dir,
      env: { ...process.env, MLOOP_STORE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? done(JSON.parse(stdout) as Record<string, unknown>) : fail(new Error(`mloop explain exited ${code}: ${stderr}`)),
    );
  });
}

/** `mloop <args>` in the project: its exit code and output. */
function cliRun(dir: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, MLOOP_STORE: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Polls `probe` until it gives a value (every 25 ms, up to 10 s unless told). */
async function until<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const close = (actual: unknown, expected: number, what: string, tolerance = 1e-9): void =>
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tolerance, `${what}: ${String(actual)} ≠ ${expected}`);

describe('gateway /explain: a deployed version explains a row with the numbers of mloop explain, warm, routed like a prediction', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let port: number;
  let reference: Record<string, ExplanationReference>;
  let cli: Record<string, Record<string, unknown>>;
  const upstreams: Server[] = [];
  const services: ChildProcess[] = [];
  const upstreamPorts: number[] = [];
  const config = (explain: string): ReturnType<typeof loadConfig>['config'] => {
    const text = [
      'version: 1',
      'datasets:',
      '  weather: { path: weather.csv }',
      'models:',
      '  weather-clf: { prepare: "slowprep:prepare" }',
      'targets:',
      '  web:',
      '    command: [python3, serve.py, "${port}"]',
      `    port: ${port}`,
      '    gateway: true',
      ...(explain ? [`    explain: ${explain}`] : []),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'mloop.yaml'), text);
    const { config: parsed, problems } = loadConfig(text, 'mloop.yaml');
    assert.ok(parsed, JSON.stringify(problems));
    return parsed;
  };
  const optionsOf = (explain: string) => {
    const parsed = config(explain)!;
    return gatewayOptionsOf({ artifactRoot: artifactRootOf(store.path), projectRoot: dir, config: parsed }, parsed.targets!.web!);
  };

  before(async function () {
    ({ dir, cleanup } = tempDir('mloop-gw-explain-'));
    copyFileSync(WEATHER, join(dir, 'weather.csv'));
    // the project's prepare: the identity, slow for a row that asks for it (a row stuck in the explainer)
    writeFileSync(
      join(dir, 'slowprep.py'),
      'import os, time\n\ndef prepare(frame):\n    if "sleep_seconds" in frame.columns:\n        open(os.path.join(os.path.dirname(__file__), "busy"), "w").close()\n        time.sleep(float(frame["sleep_seconds"].iloc[0]))\n    return frame\n',
    );
    await pythonJson({ args: ['-c', TRAIN, join(dir, 'weather.csv'), dir] });
    store = openStore({ path: join(dir, '.mloop', 'mloop.db') });
    registerWeatherVersions(store, dir);
    // the versions' services: answer /predict with their version (the gateway's routing is what is under test here)
    for (const version of [1, 2]) {
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ predictions: ['sun'], version })));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      upstreams.push(server);
      upstreamPorts.push((server.address() as { port: number }).port);
    }
    port = await freePort();
    config('');
    // `mloop explain` of each version and the independent reference values of ROW, side by side (each its own interpreter)
    const [one, two, references] = await Promise.all([
      cliExplain(dir, 'weather-clf/1'),
      cliExplain(dir, 'weather-clf/2'),
      explanationReference({ trainingCsv: join(dir, 'weather.csv'), rows: [1, 2].map((v) => ({ pickle: join(dir, `weather-v${v}.pkl`), row: ROW })) }),
    ]);
    reference = { '1': references[0]!, '2': references[1]! };
    cli = { '1': one!, '2': two! };
  });

  after(async () => {
    if (store) {
      await stopGateway(store, 'web').catch(() => undefined);
      store.close();
    }
    await Promise.all(upstreams.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const service of services) service.kill('SIGKILL');
    cleanup?.();
  });

  it('is refused (404, saying how to turn it on) on a target that does not set explain:, and the row never reaches a version', async () => {
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [
        { modelName: 'weather-clf', version: 1, upstreamPort: upstreamPorts[0]!, weight: 50 },
        { modelName: 'weather-clf', version: 2, upstreamPort: upstreamPorts[1]!, weight: 50 },
      ],
      ...optionsOf(''),
    });
    const refused = await post(port, '/explain', { row: ROW });
    assert.equal(refused.status, 404);
    assert.match(String(refused.body.error), /not enabled on target "web": set explain: true/);
    assert.equal(readFileSync(servingLogPath(store, 'web'), 'utf8').trim(), '', 'nothing was proxied or logged as a prediction');
  });

  it('once explain: is set, each sticky key is explained by the version its predictions come from, with the numbers of mloop explain and of shap', async () => {
    // turned on without a routing change: the running gateway gets the explainers (as the editor's health checks do)
    const { restarted } = await ensureGateway(store, 'web', port, optionsOf('{ timeout_seconds: 1.5 }'));
    assert.equal(restarted, false);
    const byVersion = new Map<number, string>();
    for (let i = 0; byVersion.size < 2 && i < 64; i++) {
      const key = `customer-${i}`;
      const predicted = await post(port, '/predict', { rows: [ROW] }, { 'x-mloop-key': key });
      const version = Number(predicted.headers['x-mloop-version']);
      if (!byVersion.has(version)) byVersion.set(version, key);
    }
    assert.deepEqual([...byVersion.keys()].sort(), [1, 2], 'the split sends keys to both versions');
    // both versions at once, and each key twice: the same answer (a warm explainer per version)
    const answers = await Promise.all(
      [...byVersion].flatMap(([version, key]) =>
        [0, 1].map(async () => ({ version, answer: await post(port, '/explain', { row: ROW }, { 'x-mloop-key': key }) })),
      ),
    );
    for (const { version, answer } of answers) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.version, version, 'explained by the version that answers this key');
      assert.equal(answer.headers['x-mloop-version'], String(version));
      const mine = cli[String(version)]!;
      for (const field of ['predicted', 'method', 'features', 'contributions', 'base_value', 'value', 'interaction', 'output', 'note'])
        assert.deepEqual(answer.body[field], mine[field], `v${version} ${field}: the gateway's equals mloop explain's`);
      const expected = reference[String(version)]!;
      assert.equal(answer.body.predicted, expected.predicted);
      close(answer.body.value, expected.probability, `v${version}: the explained output is the predicted class's probability`);
      if (expected.shap) {
        assert.equal(answer.body.method, 'shap');
        expected.shap.forEach((v, j) => close((answer.body.contributions as number[])[j], v, `v${version} SHAP of ${(answer.body.features as string[])[j]}`));
        close(answer.body.base_value, expected.base!, `v${version} SHAP base value`);
      } else {
        // no shap in this Python (as in CI): the documented fallback, checked against its definition
        assert.equal(answer.body.method, 'occlusion');
        expected.occlusion.forEach((v, j) =>
          close((answer.body.contributions as number[])[j], v, `v${version} occlusion of ${(answer.body.features as string[])[j]}`, 1e-12),
        );
        close(answer.body.base_value, expected.occlusion_base, `v${version} occlusion base value`, 1e-12);
      }
    }
    assert.notDeepEqual(answers[0]!.answer.body.contributions, answers[2]!.answer.body.contributions, 'two models, two explanations');
    const gatewayPid = new GatewayRepository(store).get('web')!.pid!;
    if (process.platform === 'linux') assert.equal(explainerPids(gatewayPid).length, 2, 'one interpreter per version, kept for the next requests');
    // explain requests have their own log; the serving log monitoring reads holds the predictions only
    // (the log is written in batches, up to 20 ms after the answer)
    const explained = await until(() => {
      const lines = existsSync(explainLogPath(store, 'web')) ? readFileSync(explainLogPath(store, 'web'), 'utf8').trim().split('\n') : [];
      const ok = lines
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.kind === 'explain' && l.status === 200);
      return ok.length >= 4 ? ok : undefined;
    });
    assert.equal(explained.length, 4);
    assert.deepEqual(explained.map((l) => l.version).sort(), [1, 1, 2, 2]);
    assert.ok(
      readFileSync(servingLogPath(store, 'web'), 'utf8')
        .trim()
        .split('\n')
        .every((l) => !l.includes('"explain"')),
    );
    assert.ok(existsSync(join(gatewayDir(store, 'web'), 'explain')), 'the training data snapshot is kept beside the gateway');
  });

  it('answers a bad body 400 naming the field, a row missing features 422 naming them, a stuck row 504, and keeps explaining after it', async () => {
    const key = { 'x-mloop-key': 'customer-0' };
    const bad = await post(port, '/explain', { rows: [ROW] }, key);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /^rows?: .*send \{"row"/);
    const missing = await post(port, '/explain', { row: { precipitation: 1, wind: 2 } }, key);
    assert.equal(missing.status, 422);
    assert.match(String(missing.body.error), /lacks the model's feature\(s\) temp_max, temp_min/);
    const gatewayPid = new GatewayRepository(store).get('web')!.pid!;
    const before = process.platform === 'linux' ? explainerPids(gatewayPid) : [];
    const stuck = await post(port, '/explain', { row: { ...ROW, sleep_seconds: 30 } }, key);
    assert.equal(stuck.status, 504);
    assert.match(String(stuck.body.error), /took longer than 1.5 s \(explain.timeout_seconds\)/);
    const again = await post(port, '/explain', { row: ROW }, key);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body.contributions, cli[String(again.body.version)]!.contributions);
    if (process.platform === 'linux') {
      const after = explainerPids(gatewayPid);
      assert.equal(after.length, 2);
      assert.notDeepEqual(after, before, 'the stuck interpreter was replaced');
    }
  });

  /** Starts the real service of a version on a free port (resolves once it listens). */
  const serve = async (version: number): Promise<number> => {
    const servicePort = await freePort();
    const child = spawn(PYTHON, ['-c', SERVE, join(dir, `weather-v${version}.pkl`), String(servicePort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    services.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    await new Promise<void>((done, fail) => {
      child.stdout!.once('data', () => done());
      child.once('close', (code) => fail(new Error(`the service of v${version} ended (${code}): ${stderr}`)));
    });
    return servicePort;
  };

  it('explains the row an earlier request sent, by the version that answered it (POST /explain {request_id, index}); an unknown id is 404 naming it', async () => {
    const servicePorts = [await serve(1), await serve(2)];
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [
        { modelName: 'weather-clf', version: 1, upstreamPort: servicePorts[0]!, weight: 50 },
        { modelName: 'weather-clf', version: 2, upstreamPort: servicePorts[1]!, weight: 50 },
      ],
      ...optionsOf('{ timeout_seconds: 1.5 }'),
    });
    // requests of two rows, under keys, until each version answered one
    const answered = new Map<number, { id: string; predictions: string[] }>();
    for (let i = 0; answered.size < 2 && i < 64; i++) {
      const predicted = await post(port, '/predict', { rows: [ROW, ROW2] }, { 'x-mloop-key': `customer-${i}` });
      assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
      const version = Number(predicted.headers['x-mloop-version']);
      if (!answered.has(version)) answered.set(version, { id: String(predicted.headers['x-request-id']), predictions: predicted.body.predictions as string[] });
    }
    assert.deepEqual([...answered.keys()].sort(), [1, 2]);
    for (const [version, { id, predictions }] of answered) {
      // no key: a fresh draw could pick the other version; the request id alone decides
      const first = await post(port, '/explain', { request_id: id });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.version, version, 'explained by the version that answered the request');
      assert.equal(first.body.explained_request, id);
      assert.equal(first.body.index, 0);
      assert.deepEqual(first.body.row, ROW, 'the row that request sent');
      assert.equal(first.body.predicted, predictions[0], 'the prediction the client got');
      assert.deepEqual(first.body.contributions, cli[String(version)]!.contributions, 'the numbers of mloop explain for that row and version');
      const second = await post(port, '/explain', { request_id: id, index: 1 });
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.version, version);
      assert.deepEqual(second.body.row, ROW2);
      assert.equal(second.body.predicted, predictions[1], 'the prediction the client got for its second row');
      const beyond = await post(port, '/explain', { request_id: id, index: 2 });
      assert.equal(beyond.status, 400);
      assert.match(String(beyond.body.error), /^index: request .* sent 2 row\(s\): give 0 to 1/);
    }
    // the same from the command line: mloop explain <target> --request <id> --index 1
    const [version, { id }] = [...answered][0]!;
    const viaCli = await cliRun(dir, ['explain', 'web', '--request', id, '--index', '1', '--json']);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    const printed = JSON.parse(viaCli.stdout) as Record<string, unknown>;
    const direct = await post(port, '/explain', { request_id: id, index: 1 });
    assert.equal(printed.explained_request, id);
    assert.equal(printed.index, 1);
    assert.deepEqual(printed.source, { kind: 'gateway' }, 'the gateway still keeps the body: it explained it');
    assert.equal(printed.version, version);
    for (const field of ['predicted', 'method', 'features', 'contributions', 'base_value', 'value', 'row'])
      assert.deepEqual(printed[field], direct.body[field], `mloop explain --request: ${field} is the gateway's`);
    const missing = await cliRun(dir, ['explain', 'web', '--request', 'no-such-request']);
    assert.notEqual(missing.code, 0);
    // not kept by the gateway, and no predictions log to fall back on: both named
    assert.match(
      missing.stderr,
      /the gateway of target "web" does not keep it \(no request no-such-request is kept on this gateway[^\n]*; and request no-such-request is not in the predictions logs: no monitoring/,
    );
    const unknown = await post(port, '/explain', { request_id: 'no-such-request' });
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /no request no-such-request is kept on this gateway: it keeps the rows of its latest 1000 answered requests/);
    const both = await post(port, '/explain', { request_id: answered.get(1)!.id, row: ROW });
    assert.equal(both.status, 400);
    assert.match(String(both.body.error), /give exactly one of row or request_id/);
    // v1 leaves the routes: its earlier request is refused (409), not explained by another version
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [{ modelName: 'weather-clf', version: 2, upstreamPort: servicePorts[1]!, weight: 100 }],
      ...optionsOf('{ timeout_seconds: 1.5 }'),
    });
    const gone = await post(port, '/explain', { request_id: answered.get(1)!.id });
    assert.equal(gone.status, 409);
    assert.match(String(gone.body.error), /weather-clf v1 answered request .* but is no longer routed on target "web"/);
  });

  it('answers 409 for a routed version it cannot explain (no recorded training data), naming why, and the row reaches no explainer', async () => {
    // v3: registered from a run with no dataset input
    registerPickledVersion(store, join(dir, 'weather-v1.pkl'));
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [{ modelName: 'weather-clf', version: 3, upstreamPort: upstreamPorts[0]!, weight: 100 }],
      ...optionsOf('{ timeout_seconds: 1.5 }'),
    });
    const refused = await post(port, '/explain', { row: ROW });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.version, 3);
    assert.match(String(refused.body.error), /^weather-clf v3 cannot be explained: it has no recorded training data to explain against/);
    const gatewayPid = new GatewayRepository(store).get('web')!.pid!;
    // the explainers of v1 and v2 end once their versions left the routes; none is started for v3
    if (process.platform === 'linux') await until(() => (explainerPids(gatewayPid).length === 0 ? true : undefined), 30_000);
  });

  it("answers 503 when a version's explainer holds max_pending rows, and 503 to the rows waiting when their version leaves the routes", async () => {
    const busy = join(dir, 'busy');
    rmSync(busy, { force: true });
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [{ modelName: 'weather-clf', version: 1, upstreamPort: upstreamPorts[0]!, weight: 100 }],
      ...optionsOf('{ timeout_seconds: 60, max_pending: 1 }'),
    });
    // a row stuck in the explainer (prepare sleeps): the one request v1's explainer may hold
    const stuck = post(port, '/explain', { row: { ...ROW, sleep_seconds: 60 } });
    await until(() => (existsSync(busy) ? true : undefined), 60_000);
    const full = await post(port, '/explain', { row: ROW });
    assert.equal(full.status, 503);
    assert.equal(full.body.version, 1);
    assert.match(String(full.body.error), /^the explainer of weather-clf v1 has 1 requests waiting: try again later/);
    // v1 leaves the routes while its row is being explained: that row is answered 503 at once (not after 60 s)
    await setRoutes(store, 'web', port, {
      strategy: 'ab',
      routes: [{ modelName: 'weather-clf', version: 2, upstreamPort: upstreamPorts[1]!, weight: 100 }],
      ...optionsOf('{ timeout_seconds: 60, max_pending: 1 }'),
    });
    const left = await stuck;
    assert.equal(left.status, 503);
    assert.match(String(left.body.error), /^weather-clf v1 is no longer routed on this gateway/);
    const logged = await until(() => {
      const lines = readFileSync(explainLogPath(store, 'web'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const unavailable = lines.filter((l) => l.status === 503 && l.version === 1);
      return unavailable.length >= 2 ? unavailable : undefined;
    });
    assert.equal(logged.length, 2, 'both 503 answers are in the explain log');
  });
  it("keeps each routed version's explainer when a health check runs between a routing change's store write and its PUT (no 503 'no explainer yet'); after a restart --request reads the predictions log", async () => {
    const options = optionsOf('{ timeout_seconds: 30 }');
    const both = [
      { modelName: 'weather-clf', version: 1, upstreamPort: upstreamPorts[0]!, weight: 50 },
      { modelName: 'weather-clf', version: 2, upstreamPort: upstreamPorts[1]!, weight: 50 },
    ];
    await setRoutes(store, 'web', port, { strategy: 'ab', routes: both, ...options });
    let keyOfV1: string | undefined;
    for (let i = 0; !keyOfV1 && i < 64; i++) {
      const predicted = await post(port, '/predict', { rows: [ROW] }, { 'x-mloop-key': `switch-${i}` });
      if (predicted.headers['x-mloop-version'] === '1') keyOfV1 = `switch-${i}`;
    }
    assert.ok(keyOfV1, 'a key the split sends to v1');
    // a switch to v2 alone, as setRoutes makes it: the store first (here another process's deploy) …
    store.transaction(() => new GatewayRepository(store).setRoutes('web', 'ab', [{ ...both[1]!, weight: 100 }]));
    // … and the editor's health check before that deploy's PUT reaches the gateway: it must not pair the running
    // routes (v1 and v2) with the explainers of the store's (v2 only), which left v1 routed with no explainer (503)
    const { restarted } = await ensureGateway(store, 'web', port, options);
    assert.equal(restarted, false);
    const meanwhile = await post(port, '/explain', { row: ROW }, { 'x-mloop-key': keyOfV1 });
    assert.equal(meanwhile.status, 200, JSON.stringify(meanwhile.body));
    assert.equal(meanwhile.body.version, 1, 'still routed to v1, and explained by it');
    assert.deepEqual(meanwhile.body.contributions, cli['1']!.contributions);
    // the deploy's PUT: now v2 answers that key
    await setRoutes(store, 'web', port, { strategy: 'ab', routes: [{ ...both[1]!, weight: 100 }], ...options });
    const routedTo = async (): Promise<unknown> => (await post(port, '/predict', { rows: [ROW] }, { 'x-mloop-key': keyOfV1 })).headers['x-mloop-version'];
    assert.equal(await routedTo(), '2');
    // such a table, routes without their explainers, is refused by the control API: the gateway keeps the one it has
    const token = readFileSync(join(gatewayDir(store, 'web'), 'token'), 'utf8').trim();
    const status = JSON.parse((await httpExchange(`http://127.0.0.1:${port}/_mloop/status`, { headers: { authorization: `Bearer ${token}` } })).body) as {
      table: { routes: { version: number }[]; explain: { versions: unknown[] } };
    };
    const mixed = { ...status.table, routes: [...status.table.routes, { ...status.table.routes[0]!, version: 1, upstream_port: upstreamPorts[0]! }] };
    const refused = await httpExchange(`http://127.0.0.1:${port}/_mloop/routes`, {
      method: 'PUT',
      body: JSON.stringify(mixed),
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(refused.status, 400, refused.body);
    assert.match(refused.body, /explain\.versions: weather-clf v1 is routed but has no entry: every routed version needs one/);
    assert.equal(await routedTo(), '2', 'the table in force is unchanged');
    const table = JSON.parse((await httpExchange(`http://127.0.0.1:${port}/_mloop/status`, { headers: { authorization: `Bearer ${token}` } })).body) as {
      table: { routes: unknown[] };
    };
    assert.equal(table.table.routes.length, 1);

    // the gateway restarts (kill -9, then the next mloop command starts it with the routes from the store): it forgot
    // the request, and mloop explain --request reads its row from the predictions log, by the version the log names
    const answered = await post(port, '/predict', { rows: [ROW] }, { 'x-request-id': 'before-restart', 'x-mloop-key': keyOfV1 });
    assert.equal(answered.status, 200);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    // the line a service writes for it (serve.py's fields); v1 answered it before a switch to v2
    writeFileSync(
      join(dir, 'logs', 'predictions.jsonl'),
      `${JSON.stringify({ ts: Date.now() / 1000, version: '1', ...ROW, id: 'before-restart-0', request_id: 'before-restart', prediction: cli['1']!.predicted })}\n`,
    );
    writeFileSync(
      join(dir, 'mloop.yaml'),
      `${readFileSync(join(dir, 'mloop.yaml'), 'utf8')}monitoring:\n  weather-clf:\n    current: logs/predictions.jsonl\n`,
    );
    process.kill(new GatewayRepository(store).get('web')!.pid!, 'SIGKILL');
    assert.equal((await ensureGateway(store, 'web', port, options)).restarted, true);
    const fromLog = await cliRun(dir, ['explain', 'web', '--request', 'before-restart', '--json']);
    assert.equal(fromLog.code, 0, fromLog.stderr);
    const printed = JSON.parse(fromLog.stdout) as Record<string, unknown>;
    assert.deepEqual(printed.source, { kind: 'predictions_log', file: join(dir, 'logs', 'predictions.jsonl'), line: 1 });
    assert.equal(printed.version, 1, 'the version that answered, from the log (the gateway routes v2 now)');
    for (const field of ['predicted', 'features', 'contributions', 'base_value', 'value'])
      assert.deepEqual(printed[field], cli['1']![field], `${field}: as mloop explain weather-clf/1 --row`);
  });
});
