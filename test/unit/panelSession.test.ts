import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineageWebviewMessageSchema, type LineageHostMessage, type LineageWebviewMessage } from '../../src/protocol/lineageMessages';
import { PANEL_KINDS, LINEAGE_MAX_DEPTH } from '../../src/shared/panels';
import { DisposableStore } from '../../src/vscode/base/disposableStore';
import { PanelSession, type PageDispatch } from '../../src/vscode/base/panelSession';

const NODE = 'run:' + 'a'.repeat(32);
const PROBLEM: LineageHostMessage = { type: 'problem', message: 'x' };

/** A session over the lineage protocol whose page and log are recorded. */
function harness(deliver: (m: LineageHostMessage) => PromiseLike<boolean> = async () => true) {
  const log = { warn: [] as string[], error: [] as string[] };
  const delivered: LineageHostMessage[] = [];
  const calls: string[] = [];
  const session = new PanelSession<LineageHostMessage, LineageWebviewMessage>({
    name: 'lineage panel',
    pageMessages: lineageWebviewMessageSchema,
    log: { warn: (m) => log.warn.push(m), error: (m) => log.error.push(m) },
    deliver: (m) => {
      delivered.push(m);
      return deliver(m);
    },
  });
  const page: PageDispatch<LineageWebviewMessage> = {
    load: () => {
      calls.push('load');
      return session.post(PROBLEM);
    },
    handlers: {
      focus: (m) => calls.push(`focus ${m.nodeId} ${m.depth}`),
      open: (m) => calls.push(`open ${m.nodeId}`),
    },
  };
  return { session, page, log, delivered, calls };
}

describe('panel session: the host side of a page conversation', () => {
  it('posts nothing before the page says ready, then loads once per ready', async () => {
    const { session, page, delivered, calls } = harness();
    assert.equal(await session.post(PROBLEM), false, 'a post before ready is not delivered');
    assert.deepEqual(delivered, []);
    await session.receive({ type: 'ready' }, page);
    assert.equal(session.ready, true);
    assert.deepEqual(calls, ['load']);
    assert.deepEqual(delivered, [PROBLEM]);
    assert.equal(await session.post(PROBLEM), true);
  });

  it('a page that was hidden (reset) is not posted to until it says ready again', async () => {
    const { session, page, delivered, calls } = harness();
    await session.receive({ type: 'ready' }, page);
    session.reset();
    assert.equal(await session.post(PROBLEM), false);
    assert.equal(delivered.length, 1);
    await session.receive({ type: 'ready' }, page);
    assert.deepEqual(calls, ['load', 'load']);
    assert.equal(delivered.length, 2);
  });

  it('routes each valid page message to its own handler, and page errors to the error log', async () => {
    const { session, page, log, calls } = harness();
    await session.receive({ type: 'focus', nodeId: NODE, depth: 4 }, page);
    await session.receive({ type: 'open', nodeId: NODE }, page);
    await session.receive({ type: 'error', message: 'TypeError: x is undefined' }, page);
    assert.deepEqual(calls, [`focus ${NODE} 4`, `open ${NODE}`]);
    assert.deepEqual(log.error, ['lineage panel page: TypeError: x is undefined']);
    assert.deepEqual(log.warn, []);
  });

  it('drops forged and malformed messages with one warning each, calling no handler', async () => {
    const { session, page, log, calls } = harness();
    const forged: unknown[] = [
      null,
      'ready',
      { type: 'READY' },
      { type: 'ready', extra: 1 },
      { type: 'focus', nodeId: NODE, depth: LINEAGE_MAX_DEPTH + 1 },
      { type: 'open', nodeId: '../../etc/passwd' },
      { type: 'exec', command: 'rm -rf /' },
    ];
    for (const raw of forged) await session.receive(raw, page);
    assert.deepEqual(calls, []);
    assert.equal(session.ready, false, 'a forged ready does not open the channel');
    assert.equal(log.warn.length, forged.length, log.warn.join('\n'));
    assert.ok(
      log.warn.every((w) => w.startsWith('lineage panel: dropped an invalid webview message')),
      log.warn.join('\n'),
    );
  });

  it('a delivery that throws is logged and reported as not delivered', async () => {
    const { session, page, log } = harness(async () => {
      throw new Error('webview is disposed');
    });
    await session.receive({ type: 'ready' }, page);
    assert.equal(await session.post(PROBLEM), false);
    assert.ok(
      log.warn.some((w) => /post failed: Error: webview is disposed/.test(w)),
      log.warn.join('\n'),
    );
  });
});

describe('disposable store: one registry instead of disposables[] loops', () => {
  it('releases everything once, newest first, and at once what is registered after', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.register({ dispose: () => order.push('a') });
    store.register({ dispose: () => order.push('b') });
    store.dispose();
    store.dispose();
    assert.deepEqual(order, ['b', 'a']);
    store.register({ dispose: () => order.push('late') });
    assert.deepEqual(order, ['b', 'a', 'late']);
    assert.equal(store.isDisposed, true);
  });

  it('one failing release does not keep the others', () => {
    const released: string[] = [];
    const store = new DisposableStore();
    store.register({ dispose: () => released.push('a') });
    store.register({
      dispose: () => {
        throw new Error('boom');
      },
    });
    store.register({ dispose: () => released.push('c') });
    assert.throws(() => store.dispose(), /boom/);
    assert.deepEqual(released, ['c', 'a']);
  });
});

describe('panel kinds: every revivable panel activates the extension when VS Code restores it', () => {
  it('package.json activationEvents lists onWebviewPanel:<viewType> for exactly the revivable panels', () => {
    const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { activationEvents: string[] };
    const listed = manifest.activationEvents.filter((e) => e.startsWith('onWebviewPanel:')).sort();
    const revivable = Object.values(PANEL_KINDS)
      .filter((k) => k.revivable)
      .map((k) => `onWebviewPanel:${k.viewType}`)
      .sort();
    assert.deepEqual(listed, revivable);
  });
});
