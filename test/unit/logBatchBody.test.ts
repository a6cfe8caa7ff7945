import assert from 'node:assert/strict';
import { packLogBatchBody } from '../../src/core/tracking/logBatchBody';

// The log-batch body reader (logBatchBody.ts) against JSON.parse: every body it takes must give exactly the points
// JSON.parse gives (bit for bit), and it must never take a body JSON.parse refuses or that the plain path would not.

/** A missing timestamp in the reference: the reader gives the time of the read. */
const NOW = Symbol('now');
type Points = (number | typeof NOW)[][][];

/** The reference, written here apart from the reader: JSON.parse, the plain path's checks, points grouped by key in order. */
function reference(body: string): { runId: string; keys: string[]; points: Points } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { run_id, run_uuid, metrics, params, tags, ...rest } = parsed as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !Array.isArray(metrics)) return undefined;
  for (const list of [params, tags]) if (list !== undefined && !(Array.isArray(list) && list.length === 0)) return undefined;
  if ((run_id !== undefined && typeof run_id !== 'string') || (run_uuid !== undefined && typeof run_uuid !== 'string')) return undefined;
  const runId = (run_id as string | undefined) || (run_uuid as string | undefined);
  if (!runId) return undefined;
  const keys: string[] = [];
  const points: Points = [];
  for (const m of metrics as unknown[]) {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    const { key, value, timestamp, step, ...others } = m as Record<string, unknown>;
    if (Object.keys(others).length > 0 || typeof key !== 'string' || typeof value !== 'number') return undefined;
    if (timestamp !== undefined && !Number.isSafeInteger(timestamp)) return undefined;
    if (step !== undefined && !Number.isSafeInteger(step)) return undefined;
    let k = keys.indexOf(key);
    if (k < 0) {
      k = keys.push(key) - 1;
      points.push([]);
    }
    points[k]!.push([(step as number | undefined) ?? 0, (timestamp as number | undefined) ?? NOW, value]);
  }
  return { runId, keys, points };
}

/** The reader's result in the reference's shape, or undefined. */
function read(body: string, maxMetrics = 1000): { runId: string; keys: string[]; points: number[][][] } | undefined {
  const packed = packLogBatchBody(Buffer.from(body, 'utf8'), maxMetrics);
  if (!packed) return undefined;
  const { keys, starts, triples } = packed.metrics;
  assert.equal(starts.length, keys.length + 1);
  assert.equal(starts[keys.length], triples.length / 3);
  const points = keys.map((_, k) => {
    const out: number[][] = [];
    for (let i = starts[k]!; i < starts[k + 1]!; i++) out.push([triples[i * 3]!, triples[i * 3 + 1]!, triples[i * 3 + 2]!]);
    return out;
  });
  return { runId: packed.runId, keys, points };
}

/** Bitwise equality of every number (so -0 differs from 0); a missing timestamp is the time of the read. */
function assertSame(body: string): void {
  const before = Date.now();
  const got = read(body);
  const after = Date.now();
  assert.ok(got, `the reader declined ${body.slice(0, 200)}`);
  const want = reference(body);
  assert.ok(want, `JSON.parse or the plain path refuses a body the reader took: ${body.slice(0, 200)}`);
  assert.equal(got.runId, want.runId);
  assert.deepEqual(got.keys, want.keys);
  assert.equal(got.points.length, want.points.length);
  got.points.forEach((list, k) => {
    assert.equal(list.length, want.points[k]!.length);
    list.forEach((p, i) => {
      const w = want.points[k]![i]!;
      for (let f = 0; f < 3; f++) {
        const expected = w[f]!;
        // messages built only on failure: this runs for a few hundred thousand numbers
        if (expected === NOW ? p[f]! >= before && p[f]! <= after : Object.is(p[f], expected)) continue;
        assert.fail(`${want.keys[k]} point ${i} field ${f}: read ${p[f]}, JSON.parse ${String(expected)} in ${body.slice(0, 200)}`);
      }
    });
  });
}

/** A seeded generator (xorshift), so a failure names a body that can be made again. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe('tracking: the log-batch body reader (the ingest hot path) against JSON.parse', () => {
  const runId = '0123456789abcdef0123456789abcdef';

  it('reads the bench’s bodies and the MLflow client’s (indented, run_id only) to the same points as JSON.parse', () => {
    const metrics = Array.from({ length: 1000 }, (_, i) => ({
      key: `m${i % 10}`,
      value: Math.sin(i) * 100,
      timestamp: 1_700_000_000_000 + i,
      step: Math.floor(i / 10),
    }));
    assertSame(JSON.stringify({ run_id: runId, metrics }));
    // mlflow's message_to_json: json.dumps(..., indent=2), int64 fields as numbers
    assertSame(JSON.stringify({ run_id: runId, metrics: metrics.slice(0, 50) }, null, 2));
    assertSame(JSON.stringify({ run_uuid: runId, metrics: metrics.slice(0, 5), params: [], tags: [] }));
    assertSame(JSON.stringify({ metrics: [{ value: 1, key: 'a' }], run_id: '', run_uuid: runId }));
    assertSame(` \r\n\t{ "run_id" : "${runId}" , "metrics" : [ ] } \n`);
    assertSame(`{"run_id":"${runId}","metrics":[{"key":"a/b c:d.e-f_g","value":-0},{"key":"a/b c:d.e-f_g","value":-0.0e0,"step":-0}]}`);
  });

  it('reads a body that arrived in chunks, split anywhere (inside a number, a key, a name), as the whole body', () => {
    const metrics = Array.from({ length: 300 }, (_, i) => ({ key: `m${i % 7}`, value: Math.cos(i) * 1e3, timestamp: 1_700_000_000_000 + i, step: i }));
    const body = Buffer.from(JSON.stringify({ run_id: runId, metrics }));
    const whole = packLogBatchBody(body, 1000);
    assert.ok(whole);
    const next = random(24);
    for (let i = 0; i < 200; i++) {
      // 1 to 4 cuts at seeded offsets, repeats allowed (an empty chunk)
      const cuts = Array.from({ length: 1 + Math.floor(next() * 4) }, () => Math.floor(next() * (body.length + 1))).sort((a, b) => a - b);
      const chunks = [0, ...cuts].map((from, k) => body.subarray(from, k < cuts.length ? cuts[k] : body.length));
      const got = packLogBatchBody(chunks, 1000);
      assert.ok(got, `declined when cut at ${cuts.join(', ')}`);
      assert.equal(got.runId, whole.runId);
      assert.deepEqual(got.metrics.keys, whole.metrics.keys);
      assert.deepEqual(got.metrics.starts, whole.metrics.starts);
      assert.ok(Buffer.from(got.metrics.triples.buffer).equals(Buffer.from(whole.metrics.triples.buffer)), `points differ when cut at ${cuts.join(', ')}`);
    }
  });

  it('reads or declines a body whose end falls on any of the last bytes of its scratch (4-byte reads of digits and names go past the end)', () => {
    // the scratch doubles from 128 KiB as bodies grow: bodies ending on each of its last bytes at each size it takes,
    // whole or cut inside the last metric (in a number, in a member name); leading whitespace sets the length
    const json = `{"run_id":"${runId}","params":[],"metrics":[{"key":"a","value":1.5,"timestamp":17,"step":12345678}]}`;
    const cuts = Array.from({ length: 30 }, (_, k) => json.length - k);
    for (const size of [2 ** 17, 2 ** 18]) {
      // the longest body last: it is the one that makes the scratch grow
      for (let short = 20; short >= 0; short--) {
        for (const cut of cuts) {
          const body = ' '.repeat(size - short - cut) + json.slice(0, cut);
          if (cut === json.length) assertSame(body);
          else assert.equal(read(body), undefined, `cut at ${cut} of ${json}`);
        }
      }
    }
  });

  it('converts every number exactly as JSON.parse does (a seeded sweep of shortest, fixed, exponent and long digit forms)', () => {
    const next = random(16);
    const texts: string[] = [];
    for (let i = 0; i < 12_000; i++) {
      const magnitude = 10 ** Math.floor(next() * 40 - 20);
      const x = (next() - 0.5) * magnitude;
      texts.push(String(x), x.toFixed(Math.floor(next() * 20)), x.toExponential(Math.floor(next() * 20)), x.toPrecision(1 + Math.floor(next() * 21)));
      // long and awkward digit strings: up to 25 digits, leading and trailing zeros, halfway cases around 2^53
      const digits = Array.from({ length: 1 + Math.floor(next() * 25) }, () => Math.floor(next() * 10)).join('');
      const point = Math.floor(next() * (digits.length + 1));
      const plain = (digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0') + (point < digits.length ? `.${digits.slice(point)}` : '');
      texts.push(plain, `-${plain}`, `${2 ** 53 + Math.floor(next() * 64) - 32}`, `${2 ** 53 + Math.floor(next() * 8)}.5`);
    }
    texts.push('0', '-0', '0.0', '5e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '1e309', '-1e400', '9007199254740993', '0.1', '1E+2');
    for (const t of texts) assert.equal(typeof JSON.parse(t), 'number', t);
    for (let at = 0; at < texts.length; at += 1000) {
      const metrics = texts.slice(at, at + 1000).map((t, i) => `{"key":"k${i % 7}","value":${t},"timestamp":${i},"step":${i}}`);
      assertSame(`{"run_id":"${runId}","metrics":[${metrics.join(',')}]}`);
    }
  });

  it('declines, for the JSON path to read or refuse, every body outside its subset: escapes, non-ASCII, other members, repeats, wrong types, over the limit, bad JSON', () => {
    const one = (metric: string, rest = ''): string => `{"run_id":"${runId}","metrics":[${metric}]${rest}}`;
    const declined = [
      one('{"key":"a\\u0062","value":1}'),
      one('{"key":"точность","value":1}'),
      one('{"key":"a","value":1,"model_id":"m"}'),
      one('{"key":"a","value":1,"dataset_name":"d"}'),
      one('{"key":"a","value":1,"run_id":"r"}'),
      one('{"key":"a","value":1,"other":1}'),
      one('{"key":"a","key":"b","value":1}'),
      one('{"key":"a","value":1,"value":2}'),
      one('{"key":"a","value":"NaN"}'),
      one('{"key":"a","value":"1"}'),
      one('{"key":"a","value":null}'),
      one('{"key":"a","value":true}'),
      one('{"key":"a","value":1,"step":1.5}'),
      one('{"key":"a","value":1,"step":"3"}'),
      one('{"key":"a","value":1,"timestamp":9007199254740993}'),
      one('{"key":"a","value":1,"timestamp":1e400}'),
      one('{"key":1,"value":1}'),
      one('{"value":1}'),
      one('{"key":"a"}'),
      one('{}'),
      one('[]'),
      one('{"key":"a","value":1}', ',"params":[{"key":"p","value":"v"}]'),
      one('{"key":"a","value":1}', ',"tags":[{"key":"t","value":"v"}]'),
      one('{"key":"a","value":1}', ',"params":null'),
      one('{"key":"a","value":1}', ',"params":[],"params":[]'),
      one('{"key":"a","value":1}', ',"extra":1'),
      one('{"key":"a","value":01}'),
      one('{"key":"a","value":1.}'),
      one('{"key":"a","value":.5}'),
      one('{"key":"a","value":-}'),
      one('{"key":"a","value":+1}'),
      one('{"key":"a","value":1e}'),
      one('{"key":"a","value":0x10}'),
      one('{"key":"a","value":1,}'),
      one('{"key":"a","value":1} ,'),
      one('{"key":"a","value":1}', '}'),
      one('{"key":"a","value":1}').slice(0, -1),
      `{"metrics":[{"key":"a","value":1}]}`,
      `{"run_id":"","metrics":[{"key":"a","value":1}]}`,
      `{"run_id":5,"metrics":[{"key":"a","value":1}]}`,
      `{"run_id":"${runId}","run_id":"${runId}","metrics":[]}`,
      `{"run_id":"${runId}"}`,
      `{"run_id":"${runId}","metrics":{}}`,
      `{"run_id":"${runId}","metrics":[],"metrics":[]}`,
      `{"run_id":"a\tb","metrics":[]}`,
      `[{"run_id":"${runId}","metrics":[]}]`,
      '',
      '{}',
    ];
    for (const body of declined) assert.equal(read(body), undefined, body);
    const metrics = (n: number): string => Array.from({ length: n }, (_, i) => `{"key":"k","value":${i}}`).join(',');
    assert.ok(read(`{"run_id":"${runId}","metrics":[${metrics(1000)}]}`, 1000));
    assert.equal(read(`{"run_id":"${runId}","metrics":[${metrics(1001)}]}`, 1000), undefined, 'over the limit: the JSON path refuses it with MLflow’s message');
  });

  it('never takes a body JSON.parse refuses, nor one it reads differently: thousands of seeded one-byte edits of a valid body', () => {
    const base = `{"run_id":"${runId}","metrics":[{"key":"a","value":-1.5e-3,"timestamp":17,"step":2},{"step":3,"key":"b","value":12345678901234567}],"params":[],"tags":[]}`;
    const alphabet = '{}[]":,.-+eE0123456789 \tabkvlustmpr\\\n';
    const next = random(22);
    let taken = 0;
    for (let i = 0; i < 20_000; i++) {
      const at = Math.floor(next() * (base.length + 1));
      const c = alphabet[Math.floor(next() * alphabet.length)]!;
      const kind = Math.floor(next() * 3);
      const body =
        kind === 0 ? base.slice(0, at) + c + base.slice(at) : kind === 1 ? base.slice(0, at) + base.slice(at + 1) : base.slice(0, at) + c + base.slice(at + 1);
      if (!read(body)) continue;
      taken++;
      assertSame(body);
    }
    // the edits that keep a valid plain batch (a digit changed, whitespace added) are read, not all declined
    assert.ok(taken > 1000, `only ${taken} edited bodies were read`);
  });
});
