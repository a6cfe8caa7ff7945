import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_PROTOCOL_LINE, parseProtocolLine, ProtocolLineSplitter, type ProtocolRecord } from '../../src/core/runs/lineProtocol';

const record = (line: string): ProtocolRecord => {
  const parsed = parseProtocolLine(line);
  assert.equal(parsed.kind, 'record', JSON.stringify(parsed));
  return (parsed as { record: ProtocolRecord }).record;
};
const invalid = (line: string): string => {
  const parsed = parseProtocolLine(line);
  assert.equal(parsed.kind, 'invalid', JSON.stringify(parsed));
  return (parsed as { reason: string }).reason;
};

describe('protocol: ::mloop line parser', () => {
  it('parses each record type', () => {
    assert.deepEqual(record('::mloop metric name=loss value=0.25 step=3'), { type: 'metric', name: 'loss', value: 0.25, step: 3 });
    assert.deepEqual(record('::mloop metric name=acc value=1e-3'), { type: 'metric', name: 'acc', value: 0.001, step: 0 });
    assert.deepEqual(record('::mloop metric name=t value=-2 step=-1 timestamp=1700000000000'), {
      type: 'metric',
      name: 't',
      value: -2,
      step: -1,
      timestamp: 1700000000000,
    });
    assert.deepEqual(record('::mloop param name=lr value=0.01'), { type: 'param', name: 'lr', value: '0.01' });
    assert.deepEqual(record('::mloop tag name=k value=v'), { type: 'tag', name: 'k', value: 'v' });
    assert.deepEqual(record('::mloop artifact path=model.pkl'), { type: 'artifact', path: 'model.pkl' });
    assert.deepEqual(record('::mloop model name=weather-clf path=out/model.pkl'), { type: 'model', name: 'weather-clf', path: 'out/model.pkl' });
  });

  it('accepts nan and infinities, field order does not matter, a trailing CR is dropped', () => {
    assert.ok(Number.isNaN((record('::mloop metric name=x value=nan') as { value: number }).value));
    assert.equal((record('::mloop metric value=-inf name=x') as { value: number }).value, -Infinity);
    assert.deepEqual(record('::mloop   tag   value=b   name=a\r'), { type: 'tag', name: 'a', value: 'b' });
  });

  it('quoted values keep spaces, = and unicode; \\" \\\\ \\n \\t are escapes, other backslashes stay', () => {
    assert.deepEqual(record('::mloop tag name=note value="a b = c"'), { type: 'tag', name: 'note', value: 'a b = c' });
    assert.deepEqual(record('::mloop param name=q value="say \\"hi\\" \\\\ end"'), { type: 'param', name: 'q', value: 'say "hi" \\ end' });
    assert.deepEqual(record('::mloop tag name=multi value="l1\\nl2\\tx"'), { type: 'tag', name: 'multi', value: 'l1\nl2\tx' });
    assert.deepEqual(record('::mloop artifact path="C:\\dir\\model.pkl"'), { type: 'artifact', path: 'C:\\dir\\model.pkl' });
    assert.deepEqual(record('::mloop metric name="Genauigkeit über 🌧" value=0.5'), { type: 'metric', name: 'Genauigkeit über 🌧', value: 0.5, step: 0 });
    assert.deepEqual(record('::mloop tag name=empty value=""'), { type: 'tag', name: 'empty', value: '' });
    assert.deepEqual(record('::mloop tag name=天気 value=晴れ'), { type: 'tag', name: '天気', value: '晴れ' });
  });

  it('other lines are output, including near misses of the prefix', () => {
    for (const line of ['epoch 1 loss 0.2', '', '::mloopmetric name=x value=1', ' ::mloop metric name=x value=1', '::MLOOP metric', '::mlo']) {
      assert.deepEqual(parseProtocolLine(line), { kind: 'output' }, line);
    }
  });

  it('bad lines are invalid with a reason that says what is wrong', () => {
    assert.match(invalid('::mloop'), /no record type/);
    assert.match(invalid('::mloop metrc name=x value=1'), /unknown record type "metrc" \(expected one of metric, param, tag, artifact, model\)/);
    assert.equal(invalid('::mloop metric name=loss'), 'metric: missing value=');
    assert.match(invalid('::mloop metric name=loss value=abc'), /metric: value: "abc" is not a number/);
    assert.match(invalid('::mloop metric name=loss value=0x10'), /not a number/);
    assert.match(invalid('::mloop metric name=loss value=1 step=1.5'), /step: "1.5" is not a whole number/);
    assert.match(invalid('::mloop metric name=loss value=1 epoch=2'), /unknown field epoch \(metric takes name, value, step, timestamp\)/);
    assert.match(invalid('::mloop metric name= value=1'), /name: must not be empty/);
    assert.match(invalid('::mloop tag name=a value="unterminated'), /no closing "/);
    assert.match(invalid('::mloop tag name=a value="x"y'), /space after the closing "/);
    assert.match(invalid('::mloop tag name=a value=x"y'), /contains "/);
    assert.match(invalid('::mloop tag name=a name=b value=c'), /name= is given twice/);
    assert.match(invalid('::mloop tag name=a junk value=c'), /expected key=value at "junk/);
    assert.match(invalid('::mloop param name=a'), /missing value=/);
    assert.match(invalid(`::mloop tag name=a value=${'x'.repeat(MAX_PROTOCOL_LINE)}`), /longer than/);
    assert.match(invalid('::mloop toString name=a'), /unknown record type "toString"/, 'no lookup through the prototype');
    assert.match(invalid('::mloop metric name=a value=constructor'), /not a number/);
  });

  it('never throws on any line', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom('', '::mloop ', '::mloop metric ', '::mloop tag name='), (tail, head) => {
        const parsed = parseProtocolLine(head + tail);
        assert.ok(['output', 'record', 'invalid'].includes(parsed.kind));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('protocol: splitting a stdout stream', () => {
  const collect = (chunks: string[]): { output: string; records: [ProtocolRecord, number][]; invalid: [string, number][] } => {
    const result = { output: '', records: [] as [ProtocolRecord, number][], invalid: [] as [string, number][] };
    const splitter = new ProtocolLineSplitter({
      onOutput: (t) => (result.output += t),
      onRecord: (r, n) => result.records.push([r, n]),
      onInvalid: (reason, n) => result.invalid.push([reason, n]),
    });
    for (const c of chunks) splitter.push(c);
    splitter.end();
    return result;
  };
  const STREAM = 'start\n::mloop metric name=a value=1 step=1\nprogress 10%\rprogress 100%\n::mloop bogus\n::mlo not ours\n:: also not\ntail without newline';

  it('takes protocol lines out, passes everything else through byte for byte, numbers lines from 1', () => {
    const r = collect([STREAM]);
    assert.equal(r.output, 'start\nprogress 10%\rprogress 100%\n::mlo not ours\n:: also not\ntail without newline');
    assert.deepEqual(r.records, [[{ type: 'metric', name: 'a', value: 1, step: 1 }, 2]]);
    assert.deepEqual(
      r.invalid.map(([, n]) => n),
      [4],
    );
  });

  it('gives the same result however the stream is chunked', () => {
    const whole = collect([STREAM]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...points].map((p, i) => STREAM.slice(p, points[i] ?? STREAM.length));
        assert.deepEqual(collect(chunks), whole);
      }),
      { numRuns: 500 },
    );
  });

  it('passes a partial ordinary line on at once (a progress bar is not held back)', () => {
    let output = '';
    const splitter = new ProtocolLineSplitter({ onOutput: (t) => (output += t), onRecord: () => undefined, onInvalid: () => undefined });
    splitter.push('loading');
    assert.equal(output, 'loading');
    splitter.push('\n::mloop metric name=x');
    assert.equal(output, 'loading\n', 'a protocol line waits for its newline');
  });

  it('refuses an endless protocol line without buffering it', () => {
    const r = collect(['::mloop tag name=a value=', 'x'.repeat(MAX_PROTOCOL_LINE), 'y'.repeat(1000), '\nafter\n']);
    assert.equal(r.invalid.length, 1);
    assert.match(r.invalid[0]![0], /longer than/);
    assert.equal(r.output, 'after\n');
  });

  it('handles a final protocol line without a newline', () => {
    assert.deepEqual(collect(['x\n::mloop param name=p value=1']).records, [[{ type: 'param', name: 'p', value: '1' }, 2]]);
  });
});
