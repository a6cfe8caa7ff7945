import assert from 'node:assert/strict';
import { parseWebviewMessage } from '../../src/protocol/common';
import { compareHostMessageSchema, compareViewStateSchema, compareWebviewMessageSchema } from '../../src/protocol/compareMessages';
import { metricsHostMessageSchema, metricsViewStateSchema, metricsWebviewMessageSchema } from '../../src/protocol/metricsMessages';

const RUN = 'a'.repeat(32);

describe('protocol: webview messages', () => {
  it('accepts the messages the pages really send', () => {
    for (const m of [{ type: 'ready' }, { type: 'openCompare', runIds: [RUN, 'b'.repeat(32)] }, { type: 'error', message: 'boom' }]) {
      assert.ok(metricsWebviewMessageSchema.safeParse(m).success, JSON.stringify(m));
    }
    for (const m of [{ type: 'ready' }, { type: 'openMetrics', runIds: [RUN] }]) assert.ok(compareWebviewMessageSchema.safeParse(m).success);
  });

  it('rejects forged and malformed messages from a page', () => {
    const forged: unknown[] = [
      null,
      undefined,
      42,
      'ready',
      [],
      {},
      { type: 'READY' },
      { type: 'ready', extra: 'field' }, // strict: nothing smuggled along
      { type: 'openCompare' },
      { type: 'openCompare', runIds: [] },
      { type: 'openCompare', runIds: ['../../etc/passwd'] },
      { type: 'openCompare', runIds: ['A'.repeat(32)] },
      { type: 'openCompare', runIds: [RUN], command: 'rm -rf /' },
      { type: 'openCompare', runIds: Array.from({ length: 501 }, () => RUN) },
      { type: 'openMetrics', runIds: [RUN] }, // the Compare page's message sent to the Metrics panel
      { type: 'error', message: 'x'.repeat(4001) },
      { type: 'error', message: 7 },
      { type: '__proto__', runIds: [RUN] },
      JSON.parse('{"type":"ready","__proto__":{"polluted":true}}'),
    ];
    for (const m of forged) assert.equal(metricsWebviewMessageSchema.safeParse(m).success, false, JSON.stringify(m) ?? String(m));
    assert.equal(compareWebviewMessageSchema.safeParse({ type: 'openCompare', runIds: [RUN] }).success, false);
    assert.equal(compareWebviewMessageSchema.safeParse({ type: 'openMetrics', runIds: ['x'] }).success, false);
  });

  it('parseWebviewMessage drops an invalid message with one warning and never throws', () => {
    const warnings: string[] = [];
    assert.equal(
      parseWebviewMessage(metricsWebviewMessageSchema, { type: 'openCompare', runIds: 3 }, (w) => warnings.push(w)),
      undefined,
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /openCompare/);
    const circular: Record<string, unknown> = { type: 'ready' };
    circular.self = circular;
    assert.equal(
      parseWebviewMessage(metricsWebviewMessageSchema, circular, (w) => warnings.push(w)),
      undefined,
    );
    assert.deepEqual(
      parseWebviewMessage(metricsWebviewMessageSchema, { type: 'ready' }, (w) => warnings.push(w)),
      { type: 'ready' },
    );
    assert.equal(warnings.length, 2);
  });

  it('describes what the host posts, NaN gaps as null', () => {
    const series = { runId: RUN, key: 'loss', points: [{ step: 0, timestamp: 1, value: null }], total: 1, downsampled: false };
    assert.ok(metricsHostMessageSchema.safeParse({ type: 'load', runs: [], keys: ['loss'], series: [series], maxPoints: 2000 }).success);
    assert.equal(metricsHostMessageSchema.safeParse({ type: 'load', runs: [], keys: [], series: [{ ...series, total: -1 }], maxPoints: 2000 }).success, false);
    assert.ok(compareHostMessageSchema.safeParse({ type: 'problem', message: 'no store' }).success);
  });

  it('reads saved page state with defaults and refuses state that is not ours', () => {
    assert.deepEqual(metricsViewStateSchema.parse({ runIds: [RUN] }), {
      runIds: [RUN],
      xAxis: 'step',
      smoothing: 0,
      logY: false,
      hiddenRuns: [],
      showTable: false,
    });
    assert.equal(metricsViewStateSchema.safeParse({ runIds: [RUN], smoothing: 5 }).success, false);
    assert.equal(metricsViewStateSchema.safeParse(undefined).success, false);
    assert.equal(compareViewStateSchema.safeParse({ runIds: [RUN], baselineRunId: 'nope' }).success, false);
  });
});
