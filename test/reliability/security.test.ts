import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bearer, rawRequest, recordFigure, ROOT, spawnCli, startServerChild, storeDigest, tempDir, waitFor } from './support';

// What the processes mloop starts expose: listening sockets (loopback only), the endpoint's answer
// to a caller without the token (401 everywhere, nothing changed, no CORS grant), artifact paths that
// try to leave .mloop/artifacts, the token never written to the store or the logs, and hostile
// parameter values reaching the training process as one argument each, through the real `mloop train`.

/** Every TCP socket `pid` listens on, as "address:port" (from /proc/<pid>/fd and /proc/net/tcp{,6}). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue; // 0A = LISTEN
      const [hex, port] = cols[1]!.split(':') as [string, string];
      found.push(`${table === 'tcp' ? ipv4(hex) : ipv6(hex)}:${parseInt(port, 16)}`);
    }
  }
  return found;
}
const ipv4 = (hex: string): string => [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
const ipv6 = (hex: string): string => (hex === '00000000000000000000000001000000' ? '::1' : hex === '0'.repeat(32) ? '::' : `[${hex}]`);

const ROUTES: readonly (readonly [string, string])[] = [
  ['POST', '/api/2.0/mlflow/experiments/create'],
  ['GET', '/api/2.0/mlflow/experiments/search'],
  ['POST', '/api/2.0/mlflow/runs/create'],
  ['POST', '/api/2.0/mlflow/runs/log-batch'],
  ['POST', '/api/2.0/mlflow/runs/update'],
  ['POST', '/api/2.0/mlflow/runs/delete'],
  ['GET', '/api/2.0/mlflow/metrics/get-history'],
  ['POST', '/api/2.0/mlflow/registered-models/create'],
  ['POST', '/api/2.0/mlflow/model-versions/create'],
  ['POST', '/api/2.0/mlflow/registered-models/alias'],
  ['POST', '/api/2.0/mlflow/logged-models'],
  ['GET', '/api/3.0/mlflow/server-info'],
  ['PUT', '/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt'],
  ['GET', '/api/2.0/mlflow-artifacts/artifacts?path=0'],
  ['GET', '/ajax-api/2.0/mlflow/experiments/search'],
  ['GET', '/no/such/route'],
];

describe('reliability: security of the processes mloop starts', function () {
  this.timeout(120_000);

  it('mloop server listens on 127.0.0.1 only; without the token every route answers 401 and changes nothing; no CORS grant', async () => {
    const { dir, cleanup } = tempDir();
    const server = await startServerChild(dir, ['--quiet']);
    try {
      const sockets = listeningSockets(server.child.pid!);
      assert.deepEqual(sockets, [`127.0.0.1:${server.port}`], 'the only listening socket is the loopback endpoint');
      const db = join(dir, '.mloop', 'mloop.db');
      const before = storeDigest(db, join(dir, '.mloop', 'artifacts'));
      const wrong = `${server.token.slice(0, -1)}${server.token.endsWith('0') ? '1' : '0'}`;
      const credentials: readonly (Record<string, string> | undefined)[] = [
        undefined,
        bearer(wrong),
        bearer(server.token.slice(0, 32)),
        { authorization: `bearer ${server.token}x` },
        { authorization: `Basic ${Buffer.from(`user:${server.token}`).toString('base64')}` },
        { authorization: server.token },
        { cookie: `token=${server.token}` },
      ];
      let refused = 0;
      for (const [method, path] of ROUTES) {
        for (const headers of credentials) {
          const body = method === 'GET' ? undefined : method === 'PUT' ? 'hello' : JSON.stringify({ experiment_id: '0', name: 'x', run_id: 'x', metrics: [] });
          for (const suffix of ['', `${path.includes('?') ? '&' : '?'}token=${server.token}`]) {
            const reply = await rawRequest(server.port, method, `${path}${suffix}`, {
              ...(body === undefined ? {} : { body }),
              headers: { 'content-type': 'application/json', origin: 'http://evil.example', ...headers },
            });
            assert.equal(reply.status, 401, `${method} ${path}${suffix} with ${JSON.stringify(headers)}: ${reply.text}`);
            assert.equal(reply.json?.error_code, 'UNAUTHENTICATED');
            refused++;
          }
        }
      }
      // a browser page (DNS rebinding, a malicious site) gets no CORS grant, even for a preflight
      const preflight = await rawRequest(server.port, 'OPTIONS', '/api/2.0/mlflow/runs/create', {
        headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      assert.equal(preflight.status, 401);
      const withToken = await rawRequest(server.port, 'GET', '/api/2.0/mlflow/experiments/search?max_results=1', {
        headers: { ...bearer(server.token), origin: 'http://evil.example' },
      });
      assert.equal(withToken.status, 200);
      assert.equal(storeDigest(db, join(dir, '.mloop', 'artifacts')), before, 'refused requests changed nothing');
      recordFigure(
        'security: loopback + token',
        `listening sockets: ${sockets.join(', ')} only; ${refused} requests without a valid token (${ROUTES.length} routes × ${credentials.length} credential forms × header/query) all 401 UNAUTHENTICATED, store unchanged`,
        { refused },
      );
    } finally {
      await server.stop();
      cleanup();
    }
  });

  it('artifact paths cannot leave .mloop/artifacts: every traversal form is refused and nothing is written outside', async () => {
    const { dir, cleanup } = tempDir();
    const server = await startServerChild(dir, ['--quiet']);
    try {
      // every place an escaped "x" could land: beside each ancestor of the project (the temp folder is shared
      // with other processes, so its listing is not compared), and the absolute targets the attacks name
      const targets: string[] = ['/etc/x', '/tmp/x', 'C:\\x'];
      for (let a = dirname(dir); ; a = dirname(a)) {
        targets.push(join(a, 'x'));
        if (dirname(a) === a) break;
      }
      const listOutside = (): string[] => targets.filter((t) => existsSync(t));
      const beforeOutside = listOutside();
      const beforeProject = readdirSync(dir, { recursive: true }).map(String).sort();
      const attacks = [
        '../x',
        '..%2fx',
        '..%2Fx',
        '%2e%2e/x',
        '%2e%2e%2fx',
        '0/../../x',
        '0/..%2f..%2fx',
        '0/%2e%2e/%2e%2e/x',
        '..%5cx',
        '..\\x',
        '%2fetc%2fx',
        '/etc/x',
        '%00x',
        'a%00/../../x',
        'C:%5cx',
        '0/./../../x',
        '0//..//..//x',
        `${'../'.repeat(20)}tmp/x`,
        '.%2e/x',
      ];
      let refused = 0;
      for (const attack of attacks) {
        for (const method of ['PUT', 'GET', 'DELETE']) {
          const reply = await rawRequest(server.port, method, `/api/2.0/mlflow-artifacts/artifacts/${attack}`, {
            ...(method === 'PUT' ? { body: 'PWNED' } : {}),
            headers: bearer(server.token),
          });
          assert.ok(reply.status >= 400 && reply.status < 500, `${method} ${attack}: ${reply.status} ${reply.text}`);
          refused++;
        }
        const listing = await rawRequest(server.port, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${attack}`, { headers: bearer(server.token) });
        assert.ok(listing.status >= 400 && listing.status < 500, `list ${attack}: ${listing.status} ${listing.text}`);
        refused++;
      }
      // decoded once only: a double-encoded "..%2f" is a literal file name inside the root, not a way out
      const literal = await rawRequest(server.port, 'PUT', '/api/2.0/mlflow-artifacts/artifacts/0/..%252fx', { body: 'ok', headers: bearer(server.token) });
      assert.equal(literal.status, 200, literal.text);
      assert.ok(existsSync(join(dir, '.mloop', 'artifacts', '0', '..%2fx')), 'stored under its literal name inside .mloop/artifacts');
      assert.deepEqual(listOutside(), beforeOutside, 'nothing created beside the project');
      const created = readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => !beforeProject.includes(f) && statSync(join(dir, f)).isFile());
      assert.deepEqual(
        created.filter((f) => !f.startsWith(join('.mloop', 'mloop.db'))),
        [join('.mloop', 'artifacts', '0', '..%2fx')],
        'no other file created in the project',
      );
      recordFigure(
        'security: artifact path traversal',
        `${refused} traversal requests (${attacks.length} encodings × PUT/GET/DELETE/list) refused with 4xx, 0 files written outside .mloop/artifacts`,
        { refused },
      );
    } finally {
      await server.stop();
      cleanup();
    }
  });

  it('mloop train: the endpoint it hosts is loopback only, hostile params reach the script as one argument each, and the token is never written to the store or logs', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const hostile = [
        `a; touch PWNED1`,
        `$(touch PWNED2)`,
        '`touch PWNED3`',
        `'"; touch PWNED4; echo "'`,
        'line1\nline2 && touch PWNED5',
        '|| touch PWNED6 #',
        '${HOME} %PATH% \\',
      ];
      writeFileSync(
        join(dir, 'probe.py'),
        String.raw`
import json, os, sys, time, urllib.request
uri, token, run_id = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_TRACKING_TOKEN"], os.environ["MLFLOW_RUN_ID"]
body = json.dumps({"run_id": run_id, "metrics": [{"key": "m", "value": 1, "step": 0, "timestamp": 0}], "params": [{"key": "p", "value": "v"}]}).encode()
req = urllib.request.Request(uri + "/api/2.0/mlflow/runs/log-batch", data=body, method="POST", headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
print("::mloop metric name=line value=1")
with open(sys.argv[-1], "w") as out:
    json.dump({"argv": sys.argv[1:-1], "token": token, "pid": os.getpid()}, out)
while not os.path.exists("stop"):
    time.sleep(0.05)
`,
      );
      const paramList = hostile.map((_, i) => `p${i}`);
      writeFileSync(
        join(dir, 'mloop.yaml'),
        `version: 1\npipelines:\n  list:\n    command: [python3, probe.py, ${paramList.map((p) => `"\${params.${p}}"`).join(', ')}, list.json]\n    params: { ${paramList.map((p) => `${p}: x`).join(', ')} }\n` +
          `  shell:\n    command: python3 probe.py ${paramList.map((p) => `\${params.${p}}`).join(' ')} shell.json\n    params: { ${paramList.map((p) => `${p}: x`).join(', ')} }\n`,
      );
      const results: Record<string, { argv: string[]; token: string }> = {};
      let sockets: string[] = [];
      for (const pipeline of ['list', 'shell']) {
        const train = spawnCli(['train', pipeline, ...hostile.flatMap((v, i) => ['--param', `p${i}=${v}`])], { cwd: dir });
        await waitFor(() => existsSync(join(dir, `${pipeline}.json`)) || train.child.exitCode !== null, 30_000, `${pipeline} probe to start`);
        assert.equal(train.child.exitCode, null, `mloop train ${pipeline} is running: ${train.stderr()}`);
        await new Promise((r) => setTimeout(r, 100)); // the json is written in one go, but let it close
        results[pipeline] = JSON.parse(readFileSync(join(dir, `${pipeline}.json`), 'utf8')) as { argv: string[]; token: string };
        sockets = listeningSockets(train.child.pid!);
        assert.equal(sockets.length, 1, `one listener: ${sockets.join(', ')}`);
        assert.match(sockets[0]!, /^127\.0\.0\.1:\d+$/);
        writeFileSync(join(dir, 'stop'), '');
        const exit = await train.exited;
        assert.equal(exit.code, 0, train.stderr());
        assert.ok(!`${train.stdout()}${train.stderr()}`.includes(results[pipeline].token), 'the token is not printed');
        unlinkSync(join(dir, 'stop'));
      }
      for (const pipeline of ['list', 'shell'])
        assert.deepEqual(results[pipeline]!.argv, hostile, `${pipeline} command: each value arrives as one argument, unchanged`);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith('PWNED')),
        [],
        'no injected command ran',
      );
      // the token: not in the store file, not in the run logs, not anywhere under .mloop
      const leaks: string[] = [];
      for (const name of readdirSync(join(dir, '.mloop'), { recursive: true }).map(String)) {
        const path = join(dir, '.mloop', name);
        if (!statSync(path).isFile()) continue;
        const bytes = readFileSync(path);
        for (const r of Object.values(results)) if (bytes.includes(r.token)) leaks.push(name);
      }
      assert.deepEqual(leaks, [], 'files under .mloop holding a tracking token');
      recordFigure(
        'security: mloop train',
        `endpoint ${sockets[0]} only (loopback); ${hostile.length} hostile param values × {args list, shell string} arrived unchanged as one argument each, 0 injected commands ran; token found in 0 files under .mloop and not printed`,
        {},
      );
    } finally {
      cleanup();
    }
  });
});

describe('reliability: every webview goes through the one hardened page', function () {
  // the e2e step 08 probes each page in the real workbench; this keeps a new webview from bypassing it
  it('each createWebviewPanel uses webviewOptions, each html is panelHtml, and every webview bundle is one the e2e probe covers', () => {
    const sources = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[]).map(String).filter((f) => f.endsWith('.ts'));
    const offenders: string[] = [];
    const entries = new Set<string>();
    for (const file of sources) {
      const text = readFileSync(join(ROOT, 'src', file), 'utf8');
      for (const m of text.matchAll(/createWebviewPanel\(([^;]*?)\);/gs))
        if (!m[1]!.includes('webviewOptions(')) offenders.push(`${file}: createWebviewPanel without webviewOptions()`);
      for (const m of text.matchAll(/\.html\s*=\s*([^;]*);/g))
        if (!m[1]!.startsWith('panelHtml(')) offenders.push(`${file}: webview html not from panelHtml()`);
      for (const api of ['registerWebviewViewProvider', 'registerCustomEditorProvider', 'createWebviewTextEditorInset']) {
        if (text.includes(api)) offenders.push(`${file}: ${api} is a webview the e2e CSP probe does not cover yet`);
      }
      // the one controller serves each declared panel's bundle through panelHtml (checked above)
      for (const m of text.matchAll(/definePanel(?:<[^(]*>)?\(\{\s*kind: '([A-Za-z]+)'/g)) entries.add(m[1]!);
    }
    assert.deepEqual(offenders, []);
    const bundles = readdirSync(join(ROOT, 'webview'))
      .filter((d) => existsSync(join(ROOT, 'webview', d, 'main.ts')))
      .sort();
    assert.deepEqual([...entries].sort(), bundles, 'every webview bundle is a panel declared with definePanel, served through panelHtml');
    // step 08 probes Compare and Metrics; each later step that opens another webview calls probeWebview(ctx, title, '<bundle>')
    const probe = readFileSync(join(ROOT, 'test', 'e2e', 'security.e2e.ts'), 'utf8');
    const covered = new Set<string>(probe.includes("['Compare Runs', 'Metrics']") ? ['compare', 'metrics'] : []);
    for (const file of readdirSync(join(ROOT, 'test', 'e2e')).filter((f) => f.endsWith('.ts'))) {
      for (const m of readFileSync(join(ROOT, 'test', 'e2e', file), 'utf8').matchAll(/probeWebview\(ctx, '[^']+', '([A-Za-z]+)'\)/g)) covered.add(m[1]!);
    }
    assert.deepEqual(
      bundles.filter((b) => !covered.has(b)),
      [],
      `webview bundles the e2e CSP probe does not cover (call probeWebview in the e2e step that opens them)`,
    );
  });
});
