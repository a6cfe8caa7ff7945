import assert from 'node:assert/strict';
import { parseWebviewMessage } from '../../src/protocol/common';
import { previewHostMessageSchema, previewWebviewMessageSchema } from '../../src/protocol/previewMessages';

describe('protocol: preview panel messages', () => {
  it('accepts the page handshake and page requests; drops forged or malformed ones with a warning', () => {
    const warnings: string[] = [];
    const parse = (raw: unknown): unknown => parseWebviewMessage(previewWebviewMessageSchema, raw, (m) => warnings.push(m));
    assert.deepEqual(parse({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parse({ type: 'page', offset: 400 }), { type: 'page', offset: 400 });
    assert.equal(parse({ type: 'page', offset: -1 }), undefined);
    assert.equal(parse({ type: 'page', offset: 1.5 }), undefined);
    assert.equal(parse({ type: 'page', offset: 0, path: '/etc/passwd' }), undefined, 'a page cannot name a file to read');
    assert.equal(parse({ type: 'runCommand' }), undefined);
    assert.equal(warnings.length, 4);
  });

  it('a page carries typed cells only', () => {
    const page = {
      type: 'page',
      title: 't',
      columns: [{ name: 'a', type: 'number' }],
      offset: 0,
      rows: [[1], [null], ['x'], [true]],
      hasMore: false,
      totalRows: 4,
      readMs: 3,
    };
    assert.equal(previewHostMessageSchema.safeParse(page).success, true);
    assert.equal(previewHostMessageSchema.safeParse({ ...page, rows: [[{}]] }).success, false);
  });
});
