import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { formatProblem, loadConfig } from '../../src/core/config/loadConfig';
import { parseProtocolLine, ProtocolLineSplitter, type ProtocolRecord } from '../../src/core/runs/lineProtocol';
import { MLOOP_YAML_TEMPLATE } from '../../src/core/project/template';
import { bearer, FULL, postJson, rawRequest, recordFigure, scale, startServerChild, storeDigest, tempDir, type Reply, type ServerChild } from './support';

// MLflow's error codes and the HTTP status each one travels with (mlflow/protos/databricks.proto).
const MLFLOW_ERRORS: Readonly<Record<string, number>> = {
  INVALID_PARAMETER_VALUE: 400,
  BAD_REQUEST: 400,
  INVALID_STATE: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
};

/** The MLflow REST surface a client may call (2.0 + preview/ajax spellings); the fuzzer aims at all of it. */
const ROUTES: readonly (readonly [string, string])[] = [
  ['POST', 'experiments/create'],
  ['GET', 'experiments/get'],
  ['GET', 'experiments/get-by-name'],
  ['GET', 'experiments/search'],
  ['POST', 'experiments/search'],
  ['POST', 'experiments/delete'],
  ['POST', 'experiments/restore'],
  ['POST', 'experiments/update'],
  ['POST', 'experiments/set-experiment-tag'],
  ['POST', 'experiments/delete-experiment-tag'],
  ['POST', 'runs/create'],
  ['GET', 'runs/get'],
  ['POST', 'runs/update'],
  ['POST', 'runs/delete'],
  ['POST', 'runs/restore'],
  ['POST', 'runs/log-metric'],
  ['POST', 'runs/log-parameter'],
  ['POST', 'runs/set-tag'],
  ['POST', 'runs/delete-tag'],
  ['POST', 'runs/log-batch'],
  ['POST', 'runs/log-inputs'],
  ['POST', 'runs/outputs'],
  ['POST', 'runs/log-model'],
  ['POST', 'runs/search'],
  ['GET', 'metrics/get-history'],
  ['GET', 'metrics/get-history-bulk-interval'],
  ['POST', 'registered-models/create'],
  ['GET', 'registered-models/get'],
  ['GET', 'registered-models/search'],
  ['PATCH', 'registered-models/update'],
  ['POST', 'registered-models/set-tag'],
  ['DELETE', 'registered-models/delete-tag'],
  ['POST', 'registered-models/get-latest-versions'],
  ['GET', 'registered-models/get-latest-versions'],
  ['POST', 'registered-models/alias'],
  ['GET', 'registered-models/alias'],
  ['DELETE', 'registered-models/alias'],
  ['POST', 'model-versions/create'],
  ['GET', 'model-versions/get'],
  ['GET', 'model-versions/search'],
  ['PATCH', 'model-versions/update'],
  ['POST', 'model-versions/set-tag'],
  ['DELETE', 'model-versions/delete-tag'],
  ['GET', 'model-versions/get-download-uri'],
  ['POST', 'logged-models'],
  ['POST', 'logged-models/search'],
  ['GET', 'logged-models/{id}'],
  ['PATCH', 'logged-models/{id}'],
  ['DELETE', 'logged-models/{id}'],
  ['PATCH', 'logged-models/{id}/tags'],
  ['DELETE', 'logged-models/{id}/tags/{key}'],
  ['POST', 'logged-models/{id}/params'],
];

const FIELDS = [
  'run_id',
  'run_uuid',
  'experiment_id',
  'experiment_ids',
  'name',
  'new_name',
  'experiment_name',
  'key',
  'value',
  'step',
  'timestamp',
  'metrics',
  'params',
  'tags',
  'status',
  'end_time',
  'start_time',
  'run_name',
  'user_id',
  'max_results',
  'page_token',
  'filter',
  'order_by',
  'run_view_type',
  'metric_key',
  'run_ids',
  'start_step',
  'end_step',
  'datasets',
  'model_json',
  'version',
  'alias',
  'source',
  'description',
  'model_id',
  'models',
  'artifact_location',
  'stages',
  'view_type',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
];

const NASTY_STRINGS = [
  '',
  ' ',
  '.',
  '..',
  '../../../etc/passwd',
  '..%2f..%2f',
  '%2e%2e%2f',
  '\u0000',
  'a\u0000b',
  "'; DROP TABLE run; --",
  "' OR '1'='1",
  '" OR 1=1 --',
  '__proto__',
  'constructor',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e309',
  '-0',
  '9007199254740993',
  '-9223372036854775809',
  '0x10',
  '1_000',
  '\ud800',
  '\udfff',
  '😀',
  '\u202e',
  '\r\n',
  '$(touch PWNED)',
  '`touch PWNED`',
  'mlflow.runName',
  '/etc/passwd',
  'C:\\Windows',
  '\\\\server\\share',
  'metrics.loss < ',
  "tags.x = 'unterminated",
  'attributes.start_time DESC, ',
  'x'.repeat(300),
  'y'.repeat(9000),
  'FINISHED',
  'RUNNING',
  'DELETED_ONLY',
  'ALL',
  'true',
  'null',
  '{}',
  '[]',
  'mlflow-artifacts:/../../x',
  'file:///etc',
  'models:/m/1',
  'runs:/0/x',
];

interface Ids {
  readonly runId: string;
  readonly deletedRunId: string;
  readonly experimentId: string;
  readonly modelName: string;
  readonly loggedModelId: string;
}

/** Percent-encodes any string, lone surrogates included (they become U+FFFD, as in UTF-8 on the wire). */
const enc = (value: unknown): string => encodeURIComponent(Buffer.from(String(value), 'utf8').toString('utf8'));

function arbitraries(ids: Ids) {
  const knownIds = fc.constantFrom(ids.runId, ids.deletedRunId, ids.experimentId, '0', ids.modelName, ids.loggedModelId, '1', 'f'.repeat(32), '0'.repeat(32));
  const text = fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), knownIds);
  const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 53, -(2 ** 53), 2 ** 63, 1e308, -1e308, 2 ** 31, -1, 0, -0, 5e-324));
  const scalar = fc.oneof(text, number, fc.boolean(), fc.constant(null));
  const entry = fc.record(
    { key: fc.oneof(text, scalar), value: fc.oneof(text, scalar), step: fc.oneof(number, text), timestamp: fc.oneof(number, text) },
    { requiredKeys: [] },
  );
  const value = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar,
      scalar,
      fc.array(entry, { maxLength: 4 }),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 3 }),
    ),
  })).value;
  const body = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 10 })), value, { maxKeys: 6 });
  const routePath = (template: string) =>
    fc.tuple(fc.oneof(text, knownIds), text).map(([id, key]) => template.replace('{id}', enc(id)).replace('{key}', enc(key)));
  const prefix = fc.constantFrom('/api/2.0/mlflow/', '/api/2.0/preview/mlflow/', '/ajax-api/2.0/mlflow/');
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD');
  const query = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 6 })), fc.oneof(text, number.map(String)), { maxKeys: 4 }).map((q) =>
    Object.entries(q)
      .map(([k, v]) => `${enc(k)}=${enc(v)}`)
      .join('&'),
  );

  /** A known endpoint with a hostile JSON body (or, for GET, a hostile query string). */
  const apiCall = fc.tuple(fc.constantFrom(...ROUTES), prefix, body, query, fc.boolean()).chain(([[m, template], pre, b, q, wrongMethod]) =>
    routePath(template).map((path) => ({
      kind: 'api',
      method: wrongMethod ? (m === 'GET' ? 'POST' : 'GET') : m,
      path: `${pre}${path}${m === 'GET' || wrongMethod ? `?${q}` : ''}`,
      body: m === 'GET' ? undefined : JSON.stringify(b),
    })),
  );
  /** A known endpoint with a body that is not a JSON object. */
  const brokenBody = fc
    .tuple(
      fc.constantFrom(...ROUTES.filter(([m]) => m !== 'GET')),
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.constantFrom('{', '{"run_id":', '[1,2', 'null', '"x"', '42', 'true', '{"a":1}{"b":2}', '\ufeff{}', '{"__proto__":{"polluted":1}}', '['.repeat(5000)),
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      ),
    )
    .map(([[m, path], b]) => ({
      kind: 'body',
      method: m,
      path: `/api/2.0/mlflow/${path.replace('{id}', 'x').replace('{key}', 'k')}`,
      body: b as string | Buffer,
    }));
  /** Paths that are not endpoints: traversal, encodings, junk. */
  const segment = fc.oneof(
    fc.constantFrom('..', '.', '%2e%2e', '%2E%2E%2F', '%00', '%ff', '%', '%%', 'api', '2.0', 'mlflow', 'runs', '..%2f', '~', ''),
    fc.string({ maxLength: 12 }).map(enc),
  );
  const junkPath = fc
    .tuple(method, fc.array(segment, { minLength: 0, maxLength: 8 }), query, fc.option(fc.string({ maxLength: 50 }), { nil: undefined }))
    .map(([m, segs, q, b]) => ({ kind: 'path', method: m, path: `/${segs.join('/')}${q ? `?${q}` : ''}`, body: m === 'GET' || m === 'HEAD' ? undefined : b }));
  /** The artifact proxy with paths that try to leave the artifact root. */
  const artifactCall = fc
    .tuple(
      fc.constantFrom('PUT', 'GET', 'DELETE', 'POST'),
      fc.array(fc.oneof(segment, fc.constantFrom('0', ids.runId, 'artifacts', '..', '%2e%2e', '%2F', '%5c..%5c', '%00x', 'link')), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.constantFrom('/api/2.0/mlflow-artifacts/artifacts/', '/ajax-api/2.0/mlflow-artifacts/artifacts/', '/api/2.0/mlflow-artifacts/artifacts?path='),
    )
    .map(([m, segs, pre]) => ({ kind: 'artifact', method: m, path: `${pre}${segs.join('/')}`, body: m === 'PUT' ? 'payload' : undefined }));
  /** Any of the above without the right token. */
  const noAuth = fc
    .tuple(
      fc.oneof(apiCall, junkPath),
      fc.constantFrom('', 'Bearer', 'Bearer ', 'Bearer wrong', 'Basic abc', 'bearer TOKEN', 'Bearer TOKENx', 'Bearer  xTOKEN', 'TOKEN'),
    )
    .map(([r, auth]) => ({ ...r, kind: 'auth', auth }));
  return fc.oneof(
    { weight: 6, arbitrary: apiCall },
    { weight: 2, arbitrary: brokenBody },
    { weight: 1, arbitrary: junkPath },
    { weight: 1, arbitrary: artifactCall },
    { weight: 1, arbitrary: noAuth },
  ) as fc.Arbitrary<{ kind: string; method: string; path: string; body?: string | Buffer; auth?: string }>;
}

/** Every file under `dir` that is not below one of the allowed folders. */
function filesOutside(dir: string, allowed: readonly string[]): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map(String).filter((f) => !allowed.some((a) => f === a || f.startsWith(`${a}/`)));
}

describe('reliability: fuzzing the tracking endpoint (mloop server as a child process)', function () {
  const runs = scale(1_500, 12_000);
  this.timeout(FULL ? 900_000 : 180_000);
  let server: ServerChild;
  let dir: string;
  let cleanup: () => void;
  let ids: Ids;

  before(async () => {
    ({ dir, cleanup } = tempDir());
    server = await startServerChild(dir);
    const ok = (r: Reply): Record<string, unknown> => {
      assert.equal(r.status, 200, r.text);
      return r.json!;
    };
    const runOf = (r: Reply): string => (ok(r).run as { info: { run_id: string } }).info.run_id;
    const experimentId = ok(await postJson(server, 'experiments/create', { name: 'fuzz' })).experiment_id as string;
    const runId = runOf(await postJson(server, 'runs/create', { experiment_id: experimentId, run_name: 'target' }));
    ok(
      await postJson(server, 'runs/log-batch', {
        run_id: runId,
        metrics: [{ key: 'loss', value: 0.5, timestamp: 1, step: 1 }],
        params: [{ key: 'lr', value: '0.1' }],
      }),
    );
    const deletedRunId = runOf(await postJson(server, 'runs/create', { experiment_id: '0', run_name: 'gone' }));
    ok(await postJson(server, 'runs/delete', { run_id: deletedRunId }));
    ok(await postJson(server, 'registered-models/create', { name: 'fuzz-model' }));
    const logged = ok(await postJson(server, 'logged-models', { experiment_id: experimentId, name: 'lm', source_run_id: runId }));
    const loggedModelId = (logged.model as { info: { model_id: string } }).info.model_id;
    ids = { runId, deletedRunId, experimentId, modelName: 'fuzz-model', loggedModelId };
  });
  after(async () => {
    await server?.stop();
    cleanup?.();
  });

  it(`${runs} generated hostile requests: 0 crashes, 0 5xx, every refusal an MLflow error code, rejected requests change nothing`, async () => {
    const dbPath = join(dir, '.mloop', 'mloop.db');
    const artifactRoot = join(dir, '.mloop', 'artifacts');
    const tally = new Map<string, number>();
    let accepted = 0;
    let rejected = 0;
    let digest = storeDigest(dbPath, artifactRoot);
    const t0 = Date.now();
    await fc.assert(
      fc.asyncProperty(arbitraries(ids), async (r) => {
        const headers: Record<string, string> =
          r.kind === 'auth' ? (r.auth ? { authorization: r.auth.replace('TOKEN', server.token) } : {}) : bearer(server.token);
        if (r.body !== undefined) headers['content-type'] = 'application/json';
        let reply: Reply;
        try {
          reply = await rawRequest(server.port, r.method, r.path, { body: r.body, headers, timeoutMs: 20_000 });
        } catch (error) {
          // node:http refuses some paths before sending (unescaped characters): not a server answer
          if (/unescaped characters|Invalid character/i.test((error as Error).message)) return;
          throw error;
        }
        assert.ok(reply.status >= 200 && reply.status < 500, `${r.method} ${r.path.slice(0, 200)} -> ${reply.status} ${reply.text.slice(0, 300)}`);
        const after = storeDigest(dbPath, artifactRoot);
        if (reply.status === 200) {
          accepted++;
          digest = after;
          return;
        }
        rejected++;
        if (r.method !== 'HEAD') {
          const code = reply.json?.error_code;
          assert.ok(
            typeof code === 'string' && code in MLFLOW_ERRORS,
            `no MLflow error code: ${r.method} ${r.path.slice(0, 200)} -> ${reply.status} ${reply.text.slice(0, 300)}`,
          );
          assert.equal(reply.status, MLFLOW_ERRORS[code], `${code} travels with HTTP ${MLFLOW_ERRORS[code]}`);
          assert.equal(typeof reply.json!.message, 'string');
          tally.set(code, (tally.get(code) ?? 0) + 1);
        } else tally.set(`HEAD ${reply.status}`, (tally.get(`HEAD ${reply.status}`) ?? 0) + 1);
        if (r.kind === 'auth') assert.equal(reply.status, 401, `${r.auth} must be refused`);
        assert.equal(
          after,
          digest,
          `a rejected request changed the store: ${r.method} ${r.path.slice(0, 200)} body ${String(r.body).slice(0, 300)} -> ${reply.text.slice(0, 300)}`,
        );
      }),
      { numRuns: runs, seed: Number(process.env.MLOOP_FUZZ_SEED ?? 20261122) },
    );
    const seconds = (Date.now() - t0) / 1000;
    // the server is still the same process, healthy, and never logged a 500
    assert.equal(server.child.exitCode, null, `server exited: ${server.stderr().slice(-2000)}`);
    assert.equal(server.child.signalCode, null);
    assert.doesNotMatch(server.stderr(), /-> 5\d\d/, 'no request reached an internal error');
    const health = await rawRequest(server.port, 'GET', `/api/2.0/mlflow/runs/get?run_id=${ids.runId}`, { headers: bearer(server.token) });
    assert.equal(health.status, 200);
    // nothing was written outside .mloop/{mloop.db*,artifacts}
    assert.deepEqual(
      filesOutside(dir, ['.mloop/artifacts']).filter((f) => !/^\.mloop(\/(\.gitignore|mloop\.db(-wal|-shm)?))?$/.test(f)),
      [],
      'files outside the artifact root',
    );
    assert.equal(existsSync(join(dir, 'PWNED')), false);
    assert.ok(rejected > runs / 2, `most generated requests are invalid (${rejected} of ${runs})`);
    recordFigure(
      'fuzz: tracking endpoint',
      `${runs} requests, ${rejected} rejected + ${accepted} accepted, 0 crashes, 0 5xx, 0 rejected requests changed the store`,
      {
        requests: runs,
        rejected,
        accepted,
        seconds,
        codes: Object.fromEntries([...tally].sort()),
      },
    );
  });
});

// --------------------------------------------------------------------------------------------------

describe('reliability: fuzzing the mloop.yaml loader', function () {
  this.timeout(FULL ? 600_000 : 60_000);

  it('mutated mloop.yaml files: never throws, every problem at a line:col inside the file', () => {
    const runs = scale(2_000, 20_000);
    const seed = MLOOP_YAML_TEMPLATE;
    const edit = fc.oneof(
      fc.record({
        op: fc.constant('insert' as const),
        at: fc.nat(),
        text: fc.oneof(
          fc.constantFrom(
            ':',
            '- ',
            '  ',
            '\t',
            '"',
            "'",
            '{',
            '}',
            '[',
            ']',
            '&a',
            '*a',
            '!!binary',
            '#',
            '\n',
            '? ',
            '|',
            '>',
            '${params.x}',
            '%YAML 1.2\n---\n',
            '<<: *a',
            '\ufeff',
            '\u0000',
          ),
          fc.string({ maxLength: 6 }),
        ),
      }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ op: fc.constant('duplicateLine' as const), at: fc.nat() }),
    );
    let withErrors = 0;
    let problemsSeen = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
        let text = seed;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          if (e.op === 'insert') text = text.slice(0, at) + e.text + text.slice(at);
          else if (e.op === 'delete') text = text.slice(0, at) + text.slice(at + e.length);
          else {
            const lines = text.split('\n');
            const i = at % lines.length;
            lines.splice(i, 0, lines[i]!);
            text = lines.join('\n');
          }
        }
        const lineCount = text.split('\n').length;
        const result = loadConfig(text, 'mloop.yaml');
        assert.ok(Array.isArray(result.problems));
        for (const p of result.problems) {
          assert.ok(Number.isInteger(p.line) && p.line >= 1 && p.line <= lineCount + 1, `line ${p.line} of ${lineCount}: ${formatProblem(p)}`);
          assert.ok(Number.isInteger(p.column) && p.column >= 1, formatProblem(p));
          assert.ok(p.endLine > p.line || (p.endLine === p.line && p.endColumn >= p.column), `end before start: ${formatProblem(p)}`);
          assert.ok(p.message.length > 0 && !/mloop could not check this file/.test(p.message), `a checker crash surfaced: ${formatProblem(p)}`);
          assert.match(formatProblem(p), /^mloop\.yaml:\d+:\d+: (error|warning): \S/);
        }
        const errors = result.problems.filter((p) => p.severity === 'error');
        assert.equal(result.config === undefined, errors.length > 0, 'a config comes back exactly when there are no errors');
        if (errors.length) withErrors++;
        problemsSeen += result.problems.length;
      }),
      { numRuns: runs, seed: 20261122 },
    );
    recordFigure(
      'fuzz: mloop.yaml loader',
      `${runs} mutated files (${withErrors} with errors, ${problemsSeen} problems): 0 throws, 0 problems without line:col in range`,
      { runs, withErrors, problemsSeen },
    );
  });
});

// --------------------------------------------------------------------------------------------------

describe('reliability: fuzzing the ::mloop line protocol', function () {
  this.timeout(FULL ? 600_000 : 60_000);

  /** What the splitter must produce for a stream, from the line parser alone. */
  function oracle(stream: string): { output: string; events: string[] } {
    const lines = stream.split('\n');
    let output = '';
    const events: string[] = [];
    lines.forEach((line, index) => {
      const last = index === lines.length - 1;
      if (last && line === '') return;
      const newline = last ? '' : '\n';
      const held = line.startsWith('::mloop ') || '::mloop '.startsWith(line);
      const parsed = held ? parseProtocolLine(line) : ({ kind: 'output' } as const);
      if (parsed.kind === 'output') output += line + newline;
      else if (parsed.kind === 'record') events.push(`${index + 1} record ${describe(parsed.record)}`);
      else events.push(`${index + 1} invalid`);
    });
    return { output, events };
  }
  const describe = (r: ProtocolRecord): string => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));

  it('hostile streams in random chunks: never throws, output byte for byte, each record once at its line number', () => {
    const runs = scale(3_000, 30_000);
    const piece = fc.oneof(
      fc.constantFrom(
        '::mloop metric name=loss value=0.5 step=1',
        '::mloop param name=lr value="a b"',
        '::mloop tag name=t value="x\\"y"',
        '::mloop',
        '::mloop ',
        '::mloop metric name=x value=nan',
        '::mloop metric name=x value=1e999',
        '::mloop artifact path=../../etc/passwd',
        '::mloop metric value=',
        '::mloo',
        '::m',
        '::mloop toString name=a',
        '::mloop tag name=a value="unterminated',
        `::mloop tag name=a value=${'x'.repeat(70_000)}`,
        '\r',
        '\u0000',
        '\ud83d',
        '😀',
        ':',
      ),
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    );
    let records = 0;
    let invalid = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(piece, fc.boolean()), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        (parts, cuts) => {
          const stream = parts.map(([p, nl]) => p + (nl ? '\n' : '')).join('');
          const expected = oracle(stream);
          let output = '';
          const events: string[] = [];
          const splitter = new ProtocolLineSplitter({
            onOutput: (t) => (output += t),
            onRecord: (r, line) => events.push(`${line} record ${describe(r)}`),
            onInvalid: (_reason, line) => events.push(`${line} invalid`),
          });
          let at = 0;
          for (let k = 0; at < stream.length; k++) {
            const size = cuts[k % cuts.length]!;
            splitter.push(stream.slice(at, at + size));
            at += size;
          }
          splitter.end();
          assert.equal(output, expected.output);
          assert.deepEqual(events, expected.events);
          records += events.filter((e) => e.includes(' record ')).length;
          invalid += events.filter((e) => e.endsWith(' invalid')).length;
        },
      ),
      { numRuns: runs, seed: 20261122 },
    );
    recordFigure(
      'fuzz: line protocol',
      `${runs} hostile streams in random chunks (${records} records, ${invalid} invalid lines): 0 throws, output and records equal to the line-by-line oracle`,
      { runs, records, invalid },
    );
  });
});
