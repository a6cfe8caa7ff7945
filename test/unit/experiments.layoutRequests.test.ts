import assert from 'node:assert/strict';
import { tableLayoutSchema, type TableLayout } from '../../src/protocol/experimentsTableMessages';
import { LayoutRequests, sameLayout } from '../../webview/experimentsTable/layoutRequests';

/** What the host keeps of a layout the page posted: the message crosses as JSON and is parsed by the protocol's schema. */
const hostCopy = (layout: TableLayout): TableLayout => tableLayoutSchema.parse(JSON.parse(JSON.stringify(layout)));

describe('experiments table page: a layout change against loads the host built before it saw the change', () => {
  const before: TableLayout = hostCopy({ grouping: 'none', pinned: ['attributes.run_name'], order: [], hidden: [], aggregates: {} });

  it('keeps a width the user set when the whole table (built with the old layout) arrives after it, and the next change carries it', () => {
    const page = new LayoutRequests();
    assert.deepEqual(page.drawn(before), before, 'the first screen');
    // the user drags a column edge: drawn at once, posted to the host, which answers a width with nothing
    const widened: TableLayout = { ...before, widths: { 'metrics.accuracy': 300 } };
    page.asked(widened);
    // the whole table's load was posted before the width reached the host: it carries no width
    const whole = page.drawn(before);
    assert.deepEqual(whole.widths, { 'metrics.accuracy': 300 }, 'the width the user set stays');
    assert.deepEqual({ ...whole, widths: undefined }, { ...before, widths: undefined }, 'the rest is the load’s');
    // the user's next change starts from what is drawn: the host saves both
    const hidden: TableLayout = { ...whole, hidden: ['attributes.start_time'] };
    page.asked(hidden);
    const saved = hostCopy(hidden);
    assert.deepEqual(saved.widths, { 'metrics.accuracy': 300 });
    assert.deepEqual(page.drawn(saved), saved, 'the answer to the change');
    // answered: later loads are drawn as they come
    const later = hostCopy({ ...saved, widths: { 'metrics.accuracy': 120 } });
    assert.deepEqual(page.drawn(later), later);
  });

  it('draws a stale load’s columns (its rows follow them) and then the answer that carries the change', () => {
    const page = new LayoutRequests();
    page.drawn(before);
    const pinned: TableLayout = { ...before, pinned: ['attributes.run_name', 'metrics.loss'], aggregates: { 'metrics.loss': 'min' } };
    page.asked(pinned);
    assert.deepEqual(page.drawn(before), before, 'no width set: the stale load as it is');
    assert.deepEqual(page.drawn(hostCopy(pinned)), hostCopy(pinned));
    // two changes before the first answer: only the load carrying the last one is the answer
    const first: TableLayout = { ...before, widths: { 'params.seed': 90 } };
    const second: TableLayout = { ...first, widths: { 'params.seed': 90, 'metrics.loss': 200 } };
    page.asked(first);
    page.asked(second);
    assert.deepEqual(page.drawn(hostCopy(first)).widths, second.widths);
    assert.deepEqual(page.drawn(hostCopy(second)).widths, second.widths);
    assert.deepEqual(page.drawn(before), before, 'answered: nothing kept');
  });

  it('builds the next change on the one the host has not answered, not on a stale load’s columns', () => {
    const page = new LayoutRequests();
    page.drawn(before);
    // the user hides a column; before the host sees it, a load it built earlier (a live row) arrives and is drawn
    const hid: TableLayout = { ...before, hidden: ['params.seed'] };
    page.asked(hid);
    const stale = page.drawn(before);
    assert.deepEqual(stale.hidden, [], 'the stale load draws its own columns');
    // then the user sets a width: what the page posts still hides the column
    const widened: TableLayout = { ...stale, widths: { 'metrics.loss': 220 } };
    const sent = page.base(widened);
    assert.deepEqual(sent.hidden, ['params.seed'], 'the hide is not undone by the width');
    assert.deepEqual(sent.widths, { 'metrics.loss': 220 });
    page.asked(sent);
    // and a pin after another stale load keeps both
    const again = page.drawn(hostCopy(hid));
    const pinned = page.base(again);
    assert.deepEqual(pinned.hidden, ['params.seed']);
    assert.deepEqual(pinned.widths, { 'metrics.loss': 220 });
    // once a load carries the last change, the next change starts from what is drawn
    const answer = hostCopy(sent);
    assert.deepEqual(page.drawn(answer), answer);
    assert.deepEqual(page.base(answer), answer);
  });

  it('compares layouts by content, not by the order of their keys', () => {
    const a: TableLayout = { grouping: 'sweep', pinned: ['x'], order: ['y', 'z'], hidden: [], aggregates: { m: 'max', n: 'min' }, widths: { y: 80, z: 90 } };
    const b: TableLayout = { widths: { z: 90, y: 80 }, aggregates: { n: 'min', m: 'max' }, hidden: [], order: ['y', 'z'], pinned: ['x'], grouping: 'sweep' };
    assert.ok(sameLayout(a, b));
    assert.ok(!sameLayout(a, { ...b, order: ['z', 'y'] }), 'the column order counts');
    assert.ok(!sameLayout(a, { ...b, widths: { y: 80 } }));
    assert.ok(sameLayout({ ...a, widths: {} }, { ...a, widths: undefined }), 'no widths set and an empty set are the same');
  });
});
